//! Cost of reconciling two replicas of 100k records that differ by d records:
//! bytes on the wire, round trips and time, against the targets of issue 5.
//!
//! cargo run --release -p mutua-protocol --example sync_bench --features fixtures
//!
//! MUTUA_SYNC_BENCH_N=1000000 runs it on a million records (about 3 GB of RAM).
//!
//! Records are synthetic envelopes of 1–4 KB (mean about 1.5 KB): the state
//! machine never opens records, only their sizes matter. The differing
//! records are split between the two sides (even ones only on the initiator,
//! odd ones only on the responder), so records move both ways. Keys are
//! hashes, so a node that was offline misses records *scattered* over the
//! key space; *clustered* (the differing records consecutive in key order) is
//! the other extreme. *Versions*: both sides hold every slot, and d
//! consecutive slots have a newer version on one side (even ones on the
//! initiator, odd ones on the responder): only the newer versions need to
//! move. Both sides run in this process; time is the sum of both sides'
//! work, encoding and decoding included, applying excluded.
//!
//! MUTUA_SYNC_BENCH_LONE=200 then measures 200 lone differences (d = 1 at as
//! many random places of the key space, the record on the initiator's side
//! one time, the responder's the next): the table's d = 1 rows are one draw,
//! and the overhead of a lone difference depends on where it falls.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mutua_protocol::model::{FixedBytes, RecordHash};
use mutua_protocol::sync::memory::MemorySource;
use mutua_protocol::sync::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};

const DIFFERENCES: [usize; 6] = [0, 1, 10, 100, 1_000, 10_000];

#[derive(Clone)]
struct Item {
    key: SyncKey,
    digest: RecordHash,
    version: u64,
    record: Arc<[u8]>,
}

/// A listing-class item of the given version whose record is 1–4 KB,
/// skewed towards 1 KB.
fn item(index: u32, version: u64, rng: &mut StdRng) -> Item {
    let u: f64 = rng.gen();
    let size = 1024 + (3072.0 * u.powi(5)) as usize;
    let mut record = vec![0u8; size];
    rng.fill(&mut record[..]);
    let mut slot = vec![0x00];
    slot.extend_from_slice(&index.to_be_bytes());
    Item {
        key: SyncKey::of_slot_bytes(&slot),
        digest: FixedBytes(Sha256::digest(&record).into()),
        version,
        record: record.into(),
    }
}

fn put(side: &mut MemorySource, item: &Item) {
    let rank = SlotRank {
        version: item.version,
        withdrawal: false,
    };
    side.insert(item.key, item.digest, rank, item.record.clone());
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Clustered,
    Scattered,
    Versions,
}

struct Measure {
    bytes_out: usize,
    bytes_in: usize,
    rounds: u32,
    time: Duration,
}

/// Runs one session from `a` to `b`, applying nothing until it ends.
fn session(a: &MemorySource, b: &MemorySource) -> (Measure, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let started = Instant::now();
    let (mut session, mut request) =
        InitiatorSession::start(SessionLimits::default(), a).expect("in-memory source");
    let mut measure = Measure {
        bytes_out: 0,
        bytes_in: 0,
        rounds: 0,
        time: Duration::ZERO,
    };
    let (mut fetched, mut pushed) = (Vec::new(), Vec::new());
    loop {
        let bytes = encode_request(&request);
        let request_in = decode_request(&bytes).expect("own request");
        let response = respond(&request_in, b).expect("in-memory source");
        let response_bytes = encode_response(&response);
        let response_in = decode_response(&response_bytes).expect("own response");
        assert!(bytes.len().max(response_bytes.len()) <= MAX_MESSAGE_BYTES);
        measure.bytes_out += bytes.len();
        measure.bytes_in += response_bytes.len();
        measure.rounds += 1;
        pushed.extend(request_in.push.into_iter().map(|r| r.into_vec()));
        fetched.extend(response_in.records.iter().map(|r| r.to_vec()));
        match session
            .handle_response(&response_in, a)
            .expect("in-memory source")
        {
            Step::Send(next) => request = next,
            Step::Done(_) => break,
        }
    }
    measure.time = started.elapsed();
    (measure, fetched, pushed)
}

/// Applies received records as the merge would: the higher version wins.
fn apply(side: &mut MemorySource, records: Vec<Vec<u8>>, by_record: &HashMap<RecordHash, Item>) {
    for record in records {
        let item = &by_record[&FixedBytes(Sha256::digest(&record).into())];
        let current = side
            .get(&item.key)
            .map(|(digest, _)| by_record[digest].version);
        if current.is_none_or(|version| version < item.version) {
            put(side, item);
        }
    }
}

/// The environment variable `name` as a number, or `default`.
fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_usize("MUTUA_SYNC_BENCH_N", 100_000);
    let max_d = *DIFFERENCES.iter().max().expect("non-empty");
    let mut rng = StdRng::seed_from_u64(5);
    let universe: Vec<Item> = (0..(n + max_d) as u32)
        .map(|i| item(i, 1, &mut rng))
        .collect();
    // The newer version of each slot, for the versions layout (from a
    // generator of its own, so the other layouts draw what they always did).
    let mut newer_rng = StdRng::seed_from_u64(6);
    let newer: Vec<Item> = (0..(n + max_d) as u32)
        .map(|i| item(i, 2, &mut newer_rng))
        .collect();
    let by_record: HashMap<RecordHash, Item> = universe
        .iter()
        .chain(&newer)
        .map(|i| (i.digest, i.clone()))
        .collect();
    let mean = universe.iter().map(|i| i.record.len()).sum::<usize>() / universe.len();
    println!("{n} records per replica, records of 1–4 KB (mean {mean} B), d split evenly between the two sides\n");
    println!(
        "| layout | d | bytes a→b | bytes b→a | total bytes | round trips | time (ms) | differing records' bytes | total ÷ differing | overhead per difference | target | met |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for layout in [Layout::Clustered, Layout::Scattered, Layout::Versions] {
        for d in DIFFERENCES {
            // n + d items (with their newer versions) with uniformly spread
            // keys, in key order.
            let mut pool: Vec<(&Item, &Item)> = universe[..n + d].iter().zip(&newer).collect();
            pool.sort_by_key(|(item, _)| item.key);
            let differing: HashSet<usize> = match layout {
                Layout::Clustered | Layout::Versions => {
                    let start = rng.gen_range(0..=n);
                    (start..start + d).collect()
                }
                Layout::Scattered => {
                    let mut set = HashSet::new();
                    while set.len() < d {
                        set.insert(rng.gen_range(0..n + d));
                    }
                    set
                }
            };
            let (mut a, mut b) = (MemorySource::new(), MemorySource::new());
            let mut differing_bytes = 0;
            let mut ordered: Vec<usize> = differing.iter().copied().collect();
            ordered.sort_unstable();
            let only_a: HashSet<usize> = ordered.iter().step_by(2).copied().collect();
            for (index, (item, newer)) in pool.iter().enumerate() {
                let (on_a, on_b) = match (differing.contains(&index), layout) {
                    (false, _) => (Some(*item), Some(*item)),
                    (true, Layout::Versions) if only_a.contains(&index) => {
                        (Some(*newer), Some(*item))
                    }
                    (true, Layout::Versions) => (Some(*item), Some(*newer)),
                    (true, _) if only_a.contains(&index) => (Some(*item), None),
                    (true, _) => (None, Some(*item)),
                };
                if differing.contains(&index) {
                    let moved = if layout == Layout::Versions {
                        newer
                    } else {
                        item
                    };
                    differing_bytes += moved.record.len();
                }
                on_a.into_iter().for_each(|item| put(&mut a, item));
                on_b.into_iter().for_each(|item| put(&mut b, item));
            }
            // Build both sides' prefix sums outside the measurement, as a
            // store keeps its fingerprints up to date.
            a.fingerprint(&SyncRange::ROOT).expect("in-memory");
            b.fingerprint(&SyncRange::ROOT).expect("in-memory");

            let (measure, fetched, pushed) = session(&a, &b);
            apply(&mut a, fetched, &by_record);
            apply(&mut b, pushed, &by_record);
            assert_eq!(
                a.fingerprint(&SyncRange::ROOT).expect("in-memory"),
                b.fingerprint(&SyncRange::ROOT).expect("in-memory"),
                "the replicas converge"
            );

            let total = measure.bytes_out + measure.bytes_in;
            let (target, met) = match (d, layout) {
                (0, _) => (
                    "≤ 1 KB, 1 round trip".to_string(),
                    total <= 1024 && measure.rounds == 1,
                ),
                (_, Layout::Clustered | Layout::Versions) => (
                    "≤ 1.05 × differing + 4 KB".to_string(),
                    total as f64 <= 1.05 * differing_bytes as f64 + 4096.0,
                ),
                (_, Layout::Scattered) => (
                    "≤ differing + 1 KB × d".to_string(),
                    total <= differing_bytes + 1024 * d,
                ),
            };
            let ratio = if differing_bytes == 0 {
                "–".to_string()
            } else {
                format!("{:.3}", total as f64 / differing_bytes as f64)
            };
            let overhead = if d == 0 {
                "–".to_string()
            } else {
                format!("{} B", (total as i64 - differing_bytes as i64) / d as i64)
            };
            println!(
                "| {} | {d} | {} | {} | {total} | {} | {:.1} | {differing_bytes} | {ratio} | {overhead} | {target} | {} |",
                match layout {
                    Layout::Clustered => "clustered",
                    Layout::Scattered => "scattered",
                    Layout::Versions => "versions",
                },
                measure.bytes_out,
                measure.bytes_in,
                measure.rounds,
                measure.time.as_secs_f64() * 1e3,
                if met { "yes" } else { "NO" },
            );
        }
    }
    let trials = env_usize("MUTUA_SYNC_BENCH_LONE", 0).min(max_d);
    if trials > 0 {
        lone_differences(&universe[..n], &universe[n..n + trials]);
    }
}

/// The overhead (total bytes minus the record's) of one differing record at
/// each place `extra` draws, on the initiator's side for even trials and the
/// responder's for odd ones.
fn lone_differences(shared: &[Item], extra: &[Item]) {
    let mut base = MemorySource::new();
    shared.iter().for_each(|item| put(&mut base, item));
    base.fingerprint(&SyncRange::ROOT).expect("in-memory");
    let mut overheads: Vec<i64> = Vec::with_capacity(extra.len());
    let mut rounds = Vec::with_capacity(extra.len());
    for (trial, item) in extra.iter().enumerate() {
        let mut side = base.clone();
        put(&mut side, item);
        side.fingerprint(&SyncRange::ROOT).expect("in-memory");
        let (measure, ..) = if trial % 2 == 0 {
            session(&side, &base)
        } else {
            session(&base, &side)
        };
        let total = measure.bytes_out + measure.bytes_in;
        overheads.push(total as i64 - item.record.len() as i64);
        rounds.push(measure.rounds);
    }
    overheads.sort_unstable();
    let at = |q: usize| overheads[(overheads.len() - 1) * q / 100];
    let mean = overheads.iter().sum::<i64>() as f64 / overheads.len() as f64;
    println!(
        "\n{} lone differences over {} shared records: overhead per difference mean {mean:.0} B, \
         min {} B, p50 {} B, p90 {} B, max {} B; {} over 1 KB; {}–{} round trips",
        overheads.len(),
        shared.len(),
        at(0),
        at(50),
        at(90),
        at(100),
        overheads.iter().filter(|o| **o > 1024).count(),
        rounds.iter().min().expect("trials"),
        rounds.iter().max().expect("trials"),
    );
}
