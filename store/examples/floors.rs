//! What ingest cannot go below: the CPU each record costs in the parts the
//! store is built from, measured alone on the same synthetic listings in
//! one run, against the store's own cost per record (issue 16's ingest
//! ratio). Lower bounds on purpose: sled writes two keys a record (the
//! store three) and nothing is compressed (the store's zstd takes ≈ 6 µs);
//! tantivy indexes with its default tokenizer (the store folds and stems
//! French) into one disk index committed once (the store also keeps the
//! RAM index of what is not checkpointed yet).
//!
//! With `C` cores and `v` the CPU of one `verify_strict`, ingest can reach
//! at best the ratio `min(C, C·v / (v + rest))` where `rest` is the CPU the
//! other parts take per record: every core busy, nothing waiting.
//!
//! MUTUA_FLOORS_RECORDS=50000 cargo run --release -p mutua-store --features synth --example floors
//! Ends with one `FLOORS {json}` line.

use std::time::Instant;

use mutua_protocol::codec::{decode_envelope, verify};
use mutua_protocol::fixtures::FIXTURE_NOW;
use mutua_protocol::{Payload, SignedRecord};
use mutua_store::synth::{self, Rng};
use mutua_store::Store;
use tantivy::schema::{Schema, FAST, INDEXED, STORED, STRING, TEXT};
use tantivy::{doc, Index};

const MEMBERS: u64 = 2000;
const BATCH: usize = 500;

/// The process's CPU time so far (every thread, exited ones included), in
/// seconds: `utime + stime` of `/proc/self/stat`.
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which may hold spaces: state is the
    // 3rd field, utime the 14th, stime the 15th.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on every Linux this runs on (sysconf needs libc).
    ticks / 100.0
}

/// Runs `f`, returning its wall and process CPU time in seconds.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (cpu, wall) = (process_cpu_s(), Instant::now());
    f();
    (wall.elapsed().as_secs_f64(), process_cpu_s() - cpu)
}

fn listings(records: u64) -> Vec<SignedRecord> {
    let authors: Vec<_> = (0..MEMBERS).map(|i| synth::key("member", i)).collect();
    let mut rng = Rng::new(42);
    (0..records)
        .map(|id| {
            let author = &authors[(id % MEMBERS) as usize];
            synth::sealed_listing(author, id, 1, FIXTURE_NOW, &mut rng)
        })
        .collect()
}

fn verify_all(records: &[SignedRecord]) {
    for r in records {
        let (signer, payload, signature) = decode_envelope(r.bytes()).expect("envelope");
        verify(&signer, payload, &signature).expect("signature");
    }
}

/// Two keys a record (the envelope under its slot, cut to the 22 % of its
/// size the store's dictionary compression leaves, BENCHMARKS.md "Why a
/// dictionary"; a 48-byte sync entry), a batch and a flush every `BATCH`,
/// as the store's batches are written.
fn sled_alone(dir: &std::path::Path, records: &[SignedRecord]) {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(16 << 20)
        .open()
        .expect("sled");
    let tree = db.open_tree("floor").expect("tree");
    for chunk in records.chunks(BATCH) {
        let mut batch = sled::Batch::default();
        for r in chunk {
            let hash = r.hash();
            let slot = [&b"r\x00"[..], r.signer().as_bytes(), &hash.0[..16]].concat();
            batch.insert(slot, &r.bytes()[..r.bytes().len() * 22 / 100]);
            let sync = [&b"s"[..], &hash.0[..], &[0u8; 8][..]].concat();
            batch.insert(sync, &[7u8; 48][..]);
        }
        tree.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
}

/// The listing's text, area code and five fast fields in one disk index,
/// one indexing thread, committed once.
fn tantivy_alone(dir: &std::path::Path, records: &[SignedRecord]) {
    let mut schema = Schema::builder();
    let slot = schema.add_bytes_field("slot", INDEXED | STORED);
    let text = schema.add_text_field("text", TEXT);
    let tags = schema.add_text_field("tags", STRING);
    let commune = schema.add_text_field("commune", STRING);
    let numbers: Vec<_> = ["kind", "side", "published_at", "expires_at", "tiebreak"]
        .into_iter()
        .map(|name| schema.add_u64_field(name, INDEXED | FAST))
        .collect();
    let index = Index::create_in_dir(dir, schema.build()).expect("index");
    let mut writer = index
        .writer_with_num_threads(1, 15_000_000)
        .expect("writer");
    for r in records {
        let (Payload::Offer(l) | Payload::Need(l)) = r.payload() else {
            unreachable!("listings only")
        };
        let mut d = doc!(
            slot => r.hash().0.to_vec(),
            text => l.title.as_str(),
            text => l.description.as_str(),
            commune => l.location.insee.as_str(),
        );
        for tag in &l.tags {
            d.add_text(text, tag);
            d.add_text(tags, tag);
        }
        for (field, value) in numbers
            .iter()
            .zip([1, 0, l.published_at, l.expires_at, l.version])
        {
            d.add_u64(*field, value);
        }
        writer.add_document(d).expect("add");
    }
    writer.commit().expect("commit");
    writer.wait_merging_threads().expect("merges");
}

/// The store's own ingest, as the benchmark runs it: batches opened on every
/// core, applied in order, the search index checkpointed at the end.
fn store_ingest(dir: &std::path::Path, records: &[SignedRecord]) {
    let store = Store::open(synth::store_config(dir)).expect("open");
    store
        .apply_batch(
            synth::member_certificates(0..MEMBERS, FIXTURE_NOW),
            FIXTURE_NOW,
        )
        .expect("certificates");
    for chunk in records.chunks(BATCH) {
        let envelopes: Vec<_> = chunk.iter().map(|r| r.bytes()).collect();
        let opened: Vec<_> = mutua_store::verify::open_all(&envelopes)
            .into_iter()
            .map(|o| o.expect("valid"))
            .collect();
        store.apply_batch(opened, FIXTURE_NOW).expect("apply");
    }
    store.checkpoint_search().expect("checkpoint");
}

fn main() {
    let records = synth::env_u64("MUTUA_FLOORS_RECORDS", 50_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let all = listings(records);
    let scratch = tempfile::tempdir().expect("tempdir");
    let per_record_us = |s: f64| s * 1e6 / records as f64;
    let (verify_wall, verify_cpu) = timed(|| verify_all(&all));
    let (sled_wall, sled_cpu) = timed(|| sled_alone(&scratch.path().join("sled"), &all));
    let tantivy_dir = scratch.path().join("tantivy");
    std::fs::create_dir(&tantivy_dir).expect("tantivy dir");
    let (tantivy_wall, tantivy_cpu) = timed(|| tantivy_alone(&tantivy_dir, &all));
    let (store_wall, store_cpu) = timed(|| store_ingest(&scratch.path().join("store"), &all));
    let v = per_record_us(verify_cpu);
    let rest_floor = per_record_us(sled_cpu + tantivy_cpu);
    let rest_store = per_record_us(store_cpu) - v;
    let bound = |rest: f64| (cores * v / (v + rest)).min(cores);
    println!("{records} listings, {cores} cores; CPU per record (wall per record):");
    for (name, wall, cpu) in [
        ("verify_strict, one thread", verify_wall, verify_cpu),
        ("sled alone, 2 keys, flush per batch", sled_wall, sled_cpu),
        (
            "tantivy alone, default tokenizer",
            tantivy_wall,
            tantivy_cpu,
        ),
        (
            "the store: open on every core + apply + checkpoint",
            store_wall,
            store_cpu,
        ),
    ] {
        println!(
            "  {name:50} {:6.1} µs ({:6.1} µs)",
            per_record_us(cpu),
            per_record_us(wall)
        );
    }
    println!(
        "best ingest ratio on {cores} cores: with the floors {:.2}, with the store's cost {:.2}; measured {:.3}",
        bound(rest_floor),
        bound(rest_store),
        verify_wall / store_wall
    );
    println!(
        "FLOORS {{\"records\":{records},\"cores\":{cores},\"verify_us\":{v:.1},\"sled_us\":{:.1},\"tantivy_us\":{:.1},\"store_us\":{:.1},\"bound_floors\":{:.2},\"bound_store\":{:.2},\"ingest_ratio\":{:.3}}}",
        per_record_us(sled_cpu),
        per_record_us(tantivy_cpu),
        per_record_us(store_cpu),
        bound(rest_floor),
        bound(rest_store),
        verify_wall / store_wall
    );
}
