//! Reconciliation between two real sled stores (`mutua_node::sync::
//! reconcile_local`): fingerprints from the store's buckets, every message
//! encoded and decoded as on the wire, every record verified and applied.
//!
//! Two replicas of n listings (`MUTUA_SYNC_BENCH_N`, default 100,000); for
//! each d, replica A gets d records that B lacks and B (the initiator) syncs
//! from A. *Clustered*: newer versions of d slots consecutive in sync-key
//! order. *Scattered*: d new slots, spread over the key space as an outage
//! leaves them. Each case starts from the replicas the previous one left
//! (equal), so n grows by the scattered additions. Differences of n or more
//! are skipped.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mutua_node::sync::{reconcile_local, StoreSource};
use mutua_protocol::sync::{SyncKey, SyncRange, SyncSource};
use mutua_protocol::SignedRecord;
use mutua_store::synth::{self, Rng};
use mutua_store::Store;

const DIFFERENCES: [usize; 6] = [0, 1, 10, 100, 1_000, 10_000];
const MEMBERS: u64 = 100;
const BATCH: usize = 1_000;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn apply(store: &Store, records: &[SignedRecord]) {
    for chunk in records.chunks(BATCH) {
        store.apply_batch(chunk.to_vec(), now()).expect("apply");
    }
}

fn main() {
    let n = synth::env_u64("MUTUA_SYNC_BENCH_N", 100_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let open = |name: &str| Store::open(synth::store_config(dir.path().join(name))).expect("store");
    let (a, b) = (open("a"), open("b"));
    let mut rng = Rng::new(5);
    let started = Instant::now();
    let certificates = synth::member_certificates(0..MEMBERS, now());
    let author = |id: u64| synth::key("member", id % MEMBERS);
    let base: Vec<_> = (0..n)
        .map(|id| synth::sealed_listing(&author(id), id, 1, now(), &mut rng))
        .collect();
    for store in [&a, &b] {
        apply(store, &certificates);
        apply(store, &base);
    }
    eprintln!(
        "built two replicas of {n} records in {:.0?}",
        started.elapsed()
    );
    // Slot ids in sync-key order, for clustered updates.
    let mut by_key: Vec<(SyncKey, u64)> = base
        .iter()
        .enumerate()
        .map(|(id, r)| {
            let slot = mutua_protocol::SlotKey::of(r);
            (SyncKey::of_slot(&slot), id as u64)
        })
        .collect();
    by_key.sort_unstable();
    let mut versions = vec![1u64; n as usize];
    let mut next_id = n;

    println!("| layout | d | bytes b→a | bytes a→b | total bytes | round trips | time (ms) | differing records' bytes | total ÷ differing | overhead per difference |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for clustered in [true, false] {
        for d in DIFFERENCES.into_iter().filter(|d| (*d as u64) < n) {
            let records: Vec<SignedRecord> = if clustered {
                let start = rng.below(n - d as u64) as usize;
                by_key[start..start + d]
                    .iter()
                    .map(|(_, id)| {
                        versions[*id as usize] += 1;
                        let v = versions[*id as usize];
                        synth::sealed_listing(&author(*id), *id, v, now(), &mut rng)
                    })
                    .collect()
            } else {
                (0..d)
                    .map(|_| {
                        next_id += 1;
                        synth::sealed_listing(&author(next_id), next_id, 1, now(), &mut rng)
                    })
                    .collect()
            };
            let differing: u64 = records.iter().map(|r| r.bytes().len() as u64).sum();
            apply(&a, &records);
            let timer = Instant::now();
            let report = reconcile_local(&b, &a, now()).expect("reconcile");
            let ms = timer.elapsed().as_secs_f64() * 1e3;
            assert_eq!(a.digest().unwrap(), b.digest().unwrap(), "converged");
            assert_eq!(report.received, d as u64);
            // B's outdated versions of the clustered slots stay home.
            assert_eq!(report.pushed, 0);
            let total = report.request_bytes + report.response_bytes;
            let (ratio, overhead) = if d == 0 {
                ("–".to_owned(), "–".to_owned())
            } else {
                (
                    format!("{:.3}", total as f64 / differing as f64),
                    format!("{} B", (total as i64 - differing as i64) / d as i64),
                )
            };
            println!(
                "| {} | {d} | {} | {} | {total} | {} | {ms:.1} | {differing} | {ratio} | {overhead} |",
                if clustered { "clustered" } else { "scattered" },
                report.request_bytes,
                report.response_bytes,
                report.rounds,
            );
        }
    }
    let count = StoreSource(&a)
        .fingerprint(&SyncRange::ROOT)
        .expect("fingerprint")
        .count;
    eprintln!(
        "{count} items per replica at the end, {:.0?} in all",
        started.elapsed()
    );
}
