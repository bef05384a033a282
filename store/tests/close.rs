//! `Store::close` has sled write its snapshot: sled 0.34 writes one only when
//! it opens, and its next open replays (decompressing) every log message
//! after the last one, so without it a restart replays the whole run.

mod common;

use common::{federation, offer, NOW};
use mutua_store::{Query, Store};

/// The log position of sled's newest snapshot file (`snap.<hex lsn>`), if
/// any (sled writes none when it creates a store, only when it reopens one).
fn snapshot_lsn(store_dir: &std::path::Path) -> Option<u64> {
    std::fs::read_dir(store_dir)
        .expect("store directory")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
}

/// A new store with a few listings applied (log messages after the
/// snapshot of its open), its path, and that snapshot's position.
fn written() -> (common::Fed, std::path::PathBuf, Option<u64>) {
    let fed = federation();
    let path = fed.store.path().to_owned();
    let at_open = snapshot_lsn(&path);
    write_some(&fed);
    (fed, path, at_open)
}

/// Applies a few listings: log messages after the snapshot of the open.
fn write_some(fed: &common::Fed) {
    for id in 0..20 {
        let record = offer(&fed.commune, id, 1, |_| {});
        assert!(fed
            .store
            .apply(record, NOW)
            .expect("apply")
            .outcome
            .is_stored());
    }
}

#[test]
fn close_writes_the_snapshot_so_the_next_open_replays_nothing_of_the_run() {
    let (fed, path, at_open) = written();
    let config = fed.config();
    fed.store.close().expect("close");
    let at_close = snapshot_lsn(&path);
    assert!(
        at_close > at_open,
        "close left the snapshot of the open ({at_open:?}), not one covering the run"
    );
    let store = Store::open(config).expect("reopen");
    assert_eq!(store.stats().expect("stats").offers, 20);
    let found = store.query(&Query::default(), NOW).expect("query").hits;
    assert!(
        !found.is_empty(),
        "the listings are searchable after the reopen"
    );
}

#[test]
fn dropping_the_store_leaves_the_snapshot_of_its_open() {
    // What `close` is for: sled itself never snapshots while it runs.
    let (fed, path, at_open) = written();
    let common::Fed {
        dir: _dir, store, ..
    } = fed;
    drop(store);
    assert_eq!(snapshot_lsn(&path), at_open);
}

#[test]
fn close_with_another_handle_alive_leaves_the_store_usable() {
    let fed = federation();
    let other = fed.store.clone();
    fed.store.close().expect("close");
    let record = offer(&fed.commune, 1, 1, |_| {});
    assert!(other.apply(record, NOW).expect("apply").outcome.is_stored());
    assert_eq!(
        other
            .query(&Query::default(), NOW)
            .expect("query")
            .hits
            .len(),
        1
    );
}

#[test]
fn close_waits_for_a_handle_still_held_by_a_finishing_task() {
    // A stopping node's last blocking task may hold a handle for a moment.
    let (fed, path, at_open) = written();
    let other = fed.store.clone();
    let finishing = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(other);
    });
    fed.store.close().expect("close");
    finishing.join().expect("the task");
    assert!(
        snapshot_lsn(&path) > at_open,
        "close gave up before the other handle was dropped"
    );
}

#[test]
fn a_snapshot_left_half_written_by_a_kill_does_not_stop_the_next_open() {
    // A kill while sled writes `snap.<lsn>.generating` (a power cut during
    // a start or a stop) leaves that file, which sled 0.34 reads as the
    // newest snapshot: its checksum fails and sled refused to open the
    // store ("Read corrupted data"). The crash test met it at random.
    let (fed, path, _) = written();
    let config = fed.config();
    fed.store.close().expect("close");
    let newest = snapshot_lsn(&path).expect("the close's snapshot");
    let half_written = path.join(format!("snap.{:016X}.generating", newest + 1));
    std::fs::write(&half_written, [7u8; 40]).expect("a half-written snapshot");
    let store = Store::open(config).expect("the store opens");
    assert_eq!(store.stats().expect("stats").offers, 20);
    assert!(!half_written.exists(), "the unfinished snapshot is gone");
    assert_eq!(
        store
            .query(&Query::default(), NOW)
            .expect("query")
            .hits
            .len(),
        20
    );
}
