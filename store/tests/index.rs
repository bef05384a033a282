//! The search index's life beside sled: rebuilt at open when missing,
//! damaged or behind what the journal reaches; replaying the sled batches it
//! missed; moved by compaction; compared with sled both ways by `check`
//! and repaired by `reindex`; consistent after an interrupted sweep.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{copy_dir, federation, offer, Fed, NOW};
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::SignedRecord;
use mutua_store::{Query, Store};

fn titles(store: &Store, text: Option<&str>) -> BTreeSet<String> {
    let q = Query {
        text: text.map(str::to_owned),
        ..Query::default()
    };
    store
        .query(&q, NOW)
        .expect("query")
        .hits
        .iter()
        .filter_map(|h| h.payload.listing().map(|l| l.title.clone()))
        .collect()
}

fn set(titles: &[&str]) -> BTreeSet<String> {
    titles.iter().map(|t| t.to_string()).collect()
}

fn apply_all(store: &Store, records: Vec<SignedRecord>) {
    for a in store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored(), "{a:?}");
    }
}

const TITLES: [&str; 4] = [
    "Broyeur de végétaux",
    "Nacelle élévatrice",
    "Prêt de matériel de fête",
    "Tondeuse autoportée",
];

fn catalogue() -> Fed {
    let fed = federation();
    let records = (0..4u8)
        .map(|i| {
            offer(&fed.commune, i, 1, |l| {
                l.title = TITLES[usize::from(i)].into()
            })
        })
        .collect();
    apply_all(&fed.store, records);
    fed
}

fn search_dir(store_dir: &Path) -> std::path::PathBuf {
    store_dir.join("search")
}

/// Replaces the index with the copy in `snapshot`.
fn restore(store_dir: &Path, snapshot: &Path) {
    std::fs::remove_dir_all(search_dir(store_dir)).unwrap();
    copy_dir(snapshot, &search_dir(store_dir));
}

/// The catalogue, `then` applied, and the index put back as it was before.
fn catalogue_then(then: impl FnOnce(&Store, &mutua_protocol::SecretKey)) -> Fed {
    let fed = catalogue();
    let snapshot = fed.dir.path().join("snapshot");
    let fed = fed.reopen_after(|dir| copy_dir(&search_dir(dir), &snapshot));
    then(&fed.store, &fed.commune);
    fed.reopen_after(|dir| restore(dir, &snapshot))
}

#[test]
fn a_missing_or_damaged_index_is_rebuilt_at_open() {
    let fed = catalogue();
    let all = set(&TITLES);
    assert_eq!(titles(&fed.store, None), all);
    let fed = fed.reopen_after(|_| {});
    assert_eq!(titles(&fed.store, None), all);
    let fed = fed.reopen_after(|dir| std::fs::remove_dir_all(search_dir(dir)).unwrap());
    assert_eq!(titles(&fed.store, None), all);
    assert_eq!(
        titles(&fed.store, Some("broyeurs")),
        set(&["Broyeur de végétaux"])
    );
    let fed = fed.reopen_after(|dir| {
        std::fs::write(search_dir(dir).join("meta.json"), b"{ not json").unwrap()
    });
    assert_eq!(titles(&fed.store, None), all);
    assert!(fed.store.check().unwrap().is_ok());
    // A segment file cut short (what a power loss may leave of a file
    // written since the last checkpoint): its checksum fails, rebuilt.
    let fed = fed.reopen_after(|dir| {
        let segment_file = std::fs::read_dir(search_dir(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .expect("a segment's term index");
        let bytes = std::fs::read(&segment_file).unwrap();
        std::fs::write(&segment_file, &bytes[..bytes.len() - 3]).unwrap();
    });
    assert_eq!(titles(&fed.store, None), all);
    assert!(fed.store.check().unwrap().is_ok());
}

/// One record per call, as API publishing and gossip write: each is
/// searchable when `apply` returns, while the index is synced to disk only
/// at checkpoints; the journal keeps what the last checkpoint does not
/// cover, so a reopen from the last checkpoint's index loses nothing.
#[test]
fn records_applied_one_per_call_are_searchable_at_once_and_survive() {
    let fed = catalogue();
    let c = mutua_protocol::fixtures::key(3); // the federation's commune
    for i in 10..40u8 {
        let applied = fed
            .store
            .apply(offer(&c, i, 1, |l| l.title = format!("Remorque {i}")), NOW)
            .unwrap();
        assert!(applied.outcome.is_stored());
        let q = Query {
            text: Some(format!("remorques {i}")),
            ..Query::default()
        };
        assert_eq!(fed.store.query(&q, NOW).unwrap().hits.len(), 1, "{i}");
    }
    // The journal still holds the changes since the open's checkpoint.
    let journal = |dir: &Path| {
        let db = mutua_store::open_raw_sled(dir).unwrap();
        db.open_tree("mutua").unwrap().scan_prefix(b"j").count()
    };
    let fed = fed.reopen_after(|dir| assert!(journal(dir) > 0));
    assert_eq!(fed.store.search_index_stats().listings, 34);
    assert!(fed.store.check().unwrap().is_ok());
    // The next write drops the entries the clean close's checkpoint covers.
    fed.store
        .apply(offer(&c, 50, 1, |l| l.title = "Remorque 50".into()), NOW)
        .unwrap();
    let _fed = fed.reopen_after(|dir| assert_eq!(journal(dir), 1));
}

#[test]
fn a_batch_in_sled_but_not_in_the_index_is_replayed_at_open() {
    // The index as it was before the next batch: what a crash between the
    // sled flush and the index's commit leaves.
    let fed = catalogue_then(|store, c| {
        apply_all(
            store,
            vec![
                offer(c, 9, 1, |l| l.title = "Tondeuse à gazon".into()),
                offer(c, 0, 2, |l| l.title = "Broyeur remplacé".into()),
            ],
        )
    });
    assert_eq!(
        titles(&fed.store, Some("tondeuses")),
        set(&["Tondeuse autoportée", "Tondeuse à gazon"])
    );
    assert_eq!(
        titles(&fed.store, Some("broyeur")),
        set(&["Broyeur remplacé"])
    );
    assert_eq!(fed.store.search_index_stats().listings, 5);
    assert!(fed.store.check().unwrap().is_ok());
    // The replay is committed: a second open has nothing to do.
    let fed = fed.reopen_after(|_| {});
    assert_eq!(fed.store.search_index_stats().listings, 5);
}

#[test]
fn an_index_behind_whose_journal_entries_are_gone_is_rebuilt() {
    // The index covers both batches; the second batch's sled write deletes
    // the first's journal entry. Then an index from before both (a restored
    // backup): behind, and the journal no longer reaches back to it.
    let fed = catalogue_then(|store, c| {
        apply_all(
            store,
            vec![offer(c, 9, 1, |l| l.title = "Tondeuse à gazon".into())],
        );
        apply_all(
            store,
            vec![offer(c, 0, 2, |l| l.title = "Broyeur remplacé".into())],
        );
    });
    assert_eq!(
        titles(&fed.store, Some("broyeur tondeuse")),
        BTreeSet::new()
    );
    assert_eq!(
        titles(&fed.store, None),
        set(&[
            "Broyeur remplacé",
            "Nacelle élévatrice",
            "Prêt de matériel de fête",
            "Tondeuse autoportée",
            "Tondeuse à gazon"
        ])
    );
    assert!(fed.store.check().unwrap().is_ok());
}

#[test]
fn compaction_keeps_the_search_index() {
    let fed = catalogue();
    let mut meta = Vec::new();
    let fed = fed.reopen_after(|dir| {
        meta = std::fs::read(search_dir(dir).join("meta.json")).unwrap();
        mutua_store::compact(dir).unwrap();
        // Moved as it was, not left behind to be rebuilt.
        assert_eq!(
            std::fs::read(search_dir(dir).join("meta.json")).unwrap(),
            meta
        );
    });
    assert_eq!(
        titles(&fed.store, Some("broyeurs")),
        set(&["Broyeur de végétaux"])
    );
}

#[test]
fn check_compares_both_ways_and_reindex_repairs() {
    let fed = catalogue();
    assert!(fed.store.check().unwrap().is_ok());
    let snapshot = fed.dir.path().join("snapshot");
    let fed = fed.reopen_after(|dir| copy_dir(&search_dir(dir), &snapshot));
    let c = &fed.commune;
    apply_all(
        &fed.store,
        vec![
            offer(c, 9, 1, |l| l.title = "Tondeuse à gazon".into()),
            offer(c, 1, 2, |l| l.title = "Nacelle remplacée".into()),
        ],
    );
    let mut withdrawal = mutua_protocol::fixtures::withdrawal(c, 2, 2);
    withdrawal.withdrawn_at = NOW;
    apply_all(
        &fed.store,
        vec![common::sealed(
            c,
            mutua_protocol::Payload::Withdrawal(withdrawal),
        )],
    );
    let stats = fed.store.stats().unwrap();
    let fed = fed.reopen_after(|dir| {
        // Damage: sled forgets the search sequence and journal of the last
        // batches (the counts' snapshot, with the right counts, says it
        // covers two sequences fewer), and the index is the one from before
        // them, so that open sees nothing to replay.
        let db = mutua_store::open_raw_sled(dir).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        let stored = tree.get(b"mcounts").unwrap().unwrap();
        let covered = u64::from_be_bytes(stored[48..56].try_into().unwrap());
        let mut seq = covered;
        for k in tree.scan_prefix(b"j").keys() {
            let k = k.unwrap();
            seq = seq.max(u64::from_be_bytes(k[1..9].try_into().unwrap()));
            tree.remove(k).unwrap();
        }
        let counts = [
            stats.certificates,
            stats.revocations,
            stats.offers,
            stats.needs,
            stats.withdrawals,
            0,
            seq - 2,
        ];
        let value: Vec<u8> = counts.iter().flat_map(|c| c.to_be_bytes()).collect();
        tree.insert(b"mcounts", value).unwrap();
        db.flush().unwrap();
        restore(dir, &snapshot);
    });
    let report = fed.store.check().unwrap();
    let text = format!("{:?}", report.problems);
    assert_eq!(report.problem_count, 3, "{text}");
    assert!(text.contains("missing from the search index"), "{text}");
    assert!(text.contains("another version of this listing"), "{text}");
    assert!(
        text.contains("holds a listing that sled does not hold"),
        "{text}"
    );
    fed.store.reindex().unwrap();
    assert!(fed.store.check().unwrap().is_ok());
    assert_eq!(
        titles(&fed.store, Some("tondeuse")),
        set(&["Tondeuse autoportée", "Tondeuse à gazon"])
    );
}

#[test]
fn a_sweep_interrupted_before_the_index_commit_is_harmless() {
    let fed = catalogue();
    let snapshot = fed.dir.path().join("snapshot");
    let fed = fed.reopen_after(|dir| copy_dir(&search_dir(dir), &snapshot));
    // After the listings' expiry (180 days), before their authors'
    // certificates end (365 days: the sweep would forget them then).
    let later = NOW + 200 * DAY_SECS;
    assert_eq!(fed.store.sweep(later).unwrap().unindexed, 4);
    assert_eq!(fed.store.search_index_stats().listings, 0);
    // sled has the sweep; the index is from before it.
    let fed = fed.reopen_after(|dir| restore(dir, &snapshot));
    assert_eq!(fed.store.search_index_stats().listings, 4);
    let check = fed.store.check().unwrap();
    assert!(
        check.is_ok(),
        "expired documents wait for the sweep: {check:?}"
    );
    assert!(fed
        .store
        .query(&Query::default(), later)
        .unwrap()
        .hits
        .is_empty());
    assert_eq!(fed.store.sweep(later).unwrap().unindexed, 4);
    assert_eq!(fed.store.search_index_stats().listings, 0);
}
