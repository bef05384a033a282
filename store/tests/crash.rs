//! Crash safety with a real child process: `mutua-store-crashtest` ingests
//! and prints each acknowledged record; we SIGKILL it at a random moment,
//! reopen the store, run `check`, and verify every acknowledged record is
//! there (or superseded by a later version the child wrote) and that a
//! query finds every live listing sled holds, acknowledged ones included.
//!
//! Every other cycle the child writes one record per call and never
//! checkpoints the search index: what it acknowledged is then searchable
//! only through the index's RAM part when it is killed, and must be found
//! after reopen (journal replay).
//!
//! 50 cycles by default; `MUTUA_CRASH_CYCLES=1000` for the long run.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use mutua_protocol::{Rank, SlotKey};
use mutua_store::{Query, Store, SyncKey, SyncRange};
use rand::Rng;

/// A fresh store every this many cycles keeps `check` (which verifies every
/// signature, ~10 ms each in a debug build) fast however many cycles run.
const CYCLES_PER_STORE: u64 = 3;

struct Ack {
    sync_key: SyncKey,
    hash: String,
    version: u64,
}

fn parse(line: &str) -> Ack {
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 4, "bad ack line {line:?}");
    let key = mutua_protocol::unhex(parts[1]).expect("hex");
    Ack {
        sync_key: SyncKey(key.try_into().expect("32 bytes")),
        hash: parts[2].to_owned(),
        version: parts[3].parse().expect("version"),
    }
}

/// Runs the child until killed; returns the complete lines it printed.
/// Kills it `after_first_ack` once it acknowledged something, or (`None`) at
/// a moment that may fall while it opens the store.
fn run_and_kill(
    dir: &std::path::Path,
    cycle: u64,
    after_first_ack: Option<Duration>,
) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutua-store-crashtest"))
        .arg(dir)
        .arg(cycle.to_string())
        .args((cycle % 2 == 1).then_some("single"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the crash-test helper");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // Only complete lines count: a line cut by the kill was never
        // acknowledged.
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.ends_with('\n') && tx.send(std::mem::take(&mut line)).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    if let Some(delay) = after_first_ack {
        // Let it get past opening the store, then kill mid-ingest.
        lines.extend(rx.recv_timeout(Duration::from_secs(30)));
        std::thread::sleep(delay);
    } else {
        std::thread::sleep(Duration::from_millis(cycle % 150));
    }
    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap the helper");
    reader.join().expect("reader thread");
    lines.extend(rx.try_iter());
    lines
}

/// Every listing the store serves, paged.
fn all_listings(store: &Store) -> BTreeSet<SlotKey> {
    let mut q = Query {
        limit: 500,
        ..Query::default()
    };
    let mut out = BTreeSet::new();
    loop {
        let page = store.query(&q, mutua_store::synth::NOW).expect("query");
        out.extend(page.hits.iter().map(|h| h.slot));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => return out,
        }
    }
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let cycles = mutua_store::synth::env_u64("MUTUA_CRASH_CYCLES", 50);
    let root = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::thread_rng();
    let mut total_acks = 0usize;
    let mut acked_in: HashMap<u64, HashMap<SyncKey, Ack>> = HashMap::new();
    for cycle in 0..cycles {
        let generation = cycle / CYCLES_PER_STORE;
        let dir = root.path().join(format!("store-{generation}"));
        let delay = (!rng.gen_bool(0.2)).then(|| Duration::from_millis(rng.gen_range(0..150)));
        let started = std::time::Instant::now();
        let lines = run_and_kill(&dir, cycle, delay);
        let killed = started.elapsed();
        let acked = acked_in.entry(generation).or_default();
        for line in &lines {
            let ack = parse(line);
            acked.insert(ack.sync_key, ack);
        }
        total_acks += lines.len();
        if !dir.exists() {
            continue; // killed before sled created anything
        }
        let store = Store::open(mutua_store::synth::store_config(&dir))
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopen after SIGKILL: {e}"));
        let report = store.check().expect("check runs");
        assert!(
            report.is_ok(),
            "cycle {cycle}: check found {:#?}",
            report.problems
        );
        let stored_hashes: HashMap<SyncKey, String> = store
            .sync_items(&SyncRange::all(), usize::MAX)
            .expect("sync items")
            .into_iter()
            .map(|(k, h)| (k, h.to_hex()))
            .collect();
        for ack in acked.values() {
            if stored_hashes.get(&ack.sync_key) == Some(&ack.hash) {
                continue;
            }
            let stored = store
                .get_by_sync_key(&ack.sync_key)
                .expect("read")
                .unwrap_or_else(|| {
                    panic!("cycle {cycle}: acknowledged record {} is lost", ack.hash)
                });
            let rank = Rank::of(&stored);
            assert!(
                stored.hash().to_hex() == ack.hash || rank.version > ack.version,
                "cycle {cycle}: acknowledged {} v{} replaced by an older {:?}",
                ack.hash,
                ack.version,
                rank
            );
        }
        // The search index caught up at open (journal replay): a query
        // finds every live listing sled holds, acknowledged ones included.
        let live: BTreeSet<SlotKey> = store
            .export()
            .map(|r| r.expect("stored record"))
            .filter(|r| {
                r.payload()
                    .listing()
                    .is_some_and(|l| l.expires_at > mutua_store::synth::NOW)
            })
            .map(|r| SlotKey::of(&r))
            .collect();
        assert!(!acked.is_empty() || live.is_empty());
        assert_eq!(
            all_listings(&store),
            live,
            "cycle {cycle}: the search index differs from sled"
        );
        if std::env::var_os("MUTUA_CRASH_VERBOSE").is_some() {
            eprintln!(
                "cycle {cycle}: {} acks, killed after {killed:?}, verified after {:?}",
                lines.len(),
                started.elapsed()
            );
        }
        if cycle % CYCLES_PER_STORE == CYCLES_PER_STORE - 1 {
            acked_in.remove(&generation);
            std::fs::remove_dir_all(&dir).expect("remove the finished store");
        }
    }
    eprintln!("crash test: {cycles} SIGKILL cycles, {total_acks} acknowledged records verified");
    assert!(total_acks > 0, "the helper never acknowledged anything");
}
