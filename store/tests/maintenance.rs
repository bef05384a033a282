//! check, reindex, sweep, corrupt values and layout versions.

mod common;

use common::{copy_dir, federation, offer, sealed, NOW};
use mutua_protocol::fixtures;
use mutua_protocol::merge::forget_after;
use mutua_protocol::rules::tombstone_forget_after;
use mutua_protocol::{Payload, SlotKey};
use mutua_store::{OpenError, Query, Store, StoreConfig, SyncRange};

fn listing_record_key(slot: &SlotKey) -> Vec<u8> {
    let SlotKey::Listing { author, id } = slot else {
        panic!("a listing slot")
    };
    [&b"r\x00"[..], author.as_bytes(), &id.0].concat()
}

#[test]
fn corrupt_values_are_reported_then_quarantined() {
    let fed = federation();
    let good = offer(&fed.commune, 1, 1, |_| {});
    let bad = offer(&fed.commune, 2, 1, |_| {});
    fed.store
        .apply_batch(vec![good.clone(), bad.clone()], NOW)
        .unwrap();
    assert!(fed.store.check().unwrap().is_ok());
    let path = fed.store.path().to_owned();
    drop(fed.store);
    {
        // Damage the store behind its back: a truncated envelope, a garbage
        // bucket, a forget entry no record implies, a key of the query
        // index layouts before 6 kept in sled.
        let db = mutua_store::open_raw_sled(&path).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        let key = listing_record_key(&SlotKey::of(&bad));
        let value = tree.get(&key).unwrap().unwrap();
        tree.insert(&key, &value[..value.len() / 2]).unwrap();
        let good_key = listing_record_key(&SlotKey::of(&good));
        tree.insert(b"b\x00\x07", &b"xx"[..]).unwrap();
        let orphan = [&b"f"[..], &7u64.to_be_bytes(), &good_key[1..]].concat();
        tree.insert(orphan, &b""[..]).unwrap();
        tree.insert([&b"l"[..], &good_key[1..]].concat(), &b"1"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let anchors = vec![fed.anchor.public()];
    let store = Store::open(StoreConfig::new(&path, anchors.clone())).unwrap();
    let report = store.check().unwrap();
    assert!(!report.is_ok());
    let text = format!("{:?}", report.problems);
    assert!(text.contains("record does not verify"), "{text}");
    assert!(text.contains("unreadable fingerprint bucket"), "{text}");
    assert!(
        text.contains("derived entry that no record implies"),
        "{text}"
    );
    assert!(text.contains("older layout's query index"), "{text}");
    // Reads of the damaged slot fail cleanly; the good one still reads.
    assert!(store.get(&SlotKey::of(&bad)).is_err());
    assert_eq!(store.get(&SlotKey::of(&good)).unwrap(), Some(good));
    let reindexed = store.reindex().unwrap();
    assert_eq!(
        (
            reindexed.quarantined,
            reindexed.records,
            reindexed.indexed_listings
        ),
        (1, 3, 1)
    );
    let after = store.check().unwrap();
    assert!(after.is_ok(), "{:#?}", after.problems);
    assert_eq!(store.query(&Query::default(), NOW).unwrap().hits.len(), 1);
    // The bad record is gone from the synced set; the peer will resend it.
    assert_eq!(store.sync_fingerprint(&SyncRange::all()).unwrap().count, 3);
}

#[test]
fn reindex_rebuilds_identical_state() {
    let fed = federation();
    let records: Vec<_> = (0..20).map(|i| offer(&fed.commune, i, 1, |_| {})).collect();
    fed.store.apply_batch(records, NOW).unwrap();
    let before = (
        fed.store.digest().unwrap(),
        fed.store.sync_fingerprint(&SyncRange::all()).unwrap(),
    );
    let report = fed.store.reindex().unwrap();
    assert_eq!(
        (report.records, report.indexed_listings, report.quarantined),
        (22, 20, 0)
    );
    assert_eq!(
        before,
        (
            fed.store.digest().unwrap(),
            fed.store.sync_fingerprint(&SyncRange::all()).unwrap()
        )
    );
    assert!(fed.store.check().unwrap().is_ok());
    assert_eq!(
        fed.store
            .query(
                &Query {
                    limit: 50,
                    ..Query::default()
                },
                NOW
            )
            .unwrap()
            .hits
            .len(),
        20
    );
}

#[test]
fn sweep_forgets_listings_and_tombstones_at_the_protocol_times() {
    let fed = federation();
    // The anchor's, a member for ever: only the forget times apply (a
    // commune's certificate ends before them, and its records with it).
    let listing = offer(&fed.anchor, 1, 1, |_| {});
    let w = fixtures::withdrawal(&fed.anchor, 2, 2);
    let tombstone = sealed(&fed.anchor, Payload::Withdrawal(w.clone()));
    fed.store
        .apply_batch(vec![listing.clone(), tombstone.clone()], NOW)
        .unwrap();
    let listing_gone = forget_after(&listing);
    let tombstone_gone = tombstone_forget_after(&w);
    assert!(listing_gone < tombstone_gone);
    let listings = |s: &Store| {
        let stats = s.stats().unwrap();
        (stats.offers, stats.withdrawals)
    };
    fed.store.sweep(listing_gone - 1).unwrap();
    assert_eq!(listings(&fed.store), (1, 1), "nothing is forgotten early");
    let report = fed.store.sweep(listing_gone).unwrap();
    assert_eq!(report.forgotten, 1);
    assert!(fed.store.get(&SlotKey::of(&listing)).unwrap().is_none());
    assert_eq!(
        fed.store.get(&SlotKey::of(&tombstone)).unwrap(),
        Some(tombstone.clone())
    );
    fed.store.sweep(tombstone_gone).unwrap();
    assert!(fed.store.get(&SlotKey::of(&tombstone)).unwrap().is_none());
    let check = fed.store.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
    assert_eq!(listings(&fed.store), (0, 0));
    // The certificates expired before and were forgotten too.
    assert_eq!(
        fed.store.sync_fingerprint(&SyncRange::all()).unwrap().count,
        0
    );
}

/// The sweep's schedule (`forget` module): a record stored after the scan
/// that made it, due before its horizon, and a slot replaced by a version
/// due later, are both forgotten at their own times.
#[test]
fn sweep_forgets_records_stored_or_replaced_after_its_scan() {
    let fed = federation();
    // The anchor's, a member for ever: the certificates' end does not
    // take its listings with it.
    let first = offer(&fed.anchor, 1, 1, |_| {});
    let later = offer(&fed.anchor, 2, 1, |_| {});
    let due = forget_after(&later);
    fed.store.apply(first.clone(), NOW).unwrap();
    // Scans, and schedules what is due within its horizon: only the
    // certificates are due already.
    assert_eq!(fed.store.sweep(due - 60).unwrap().forgotten, 2);
    // Stored again, due before the horizon: scheduled by `apply`.
    for cert in [&fed.syndicate_cert, &fed.commune_cert] {
        assert!(fed
            .store
            .apply(cert.clone(), NOW)
            .unwrap()
            .outcome
            .is_stored());
    }
    assert!(fed
        .store
        .apply(later.clone(), NOW)
        .unwrap()
        .outcome
        .is_stored());
    // A new version of `first`, due after `later`.
    let replaced = offer(&fed.anchor, 1, 2, |l| l.published_at += 120);
    assert!(forget_after(&replaced) > due);
    assert!(fed
        .store
        .apply(replaced.clone(), NOW)
        .unwrap()
        .outcome
        .is_stored());
    assert_eq!(fed.store.sweep(due).unwrap().forgotten, 3);
    assert!(fed.store.get(&SlotKey::of(&later)).unwrap().is_none());
    assert_eq!(
        fed.store.get(&SlotKey::of(&first)).unwrap(),
        Some(replaced.clone())
    );
    assert_eq!(
        fed.store.sweep(forget_after(&replaced)).unwrap().forgotten,
        1
    );
    assert!(fed.store.get(&SlotKey::of(&first)).unwrap().is_none());
    let check = fed.store.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
}

#[test]
fn other_layout_versions_are_refused_by_name() {
    let fed = federation();
    let path = fed.store.path().to_owned();
    drop(fed.store);
    let open_as = |version: u32| {
        let db = mutua_store::open_raw_sled(&path).unwrap();
        db.open_tree("mutua")
            .unwrap()
            .insert(b"mlayout", &version.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        drop(db);
        Store::open(StoreConfig::new(&path, vec![]))
            .err()
            .expect("refused")
    };
    let err = open_as(11);
    assert!(
        matches!(
            err,
            OpenError::LayoutTooNew {
                found: 11,
                supported: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("layout version 11") && err.to_string().contains("version 10")
    );
    let err = open_as(1);
    assert!(
        matches!(err, OpenError::LayoutTooOld { found: 1, .. }),
        "{err}"
    );

    let foreign = tempfile::tempdir().unwrap();
    {
        let db = sled::open(foreign.path()).unwrap();
        db.insert(b"something", &b"else"[..]).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(StoreConfig::new(foreign.path(), vec![]))
        .err()
        .expect("refused");
    assert!(matches!(err, OpenError::UnknownLayout { .. }), "{err}");

    // Data in a tree of its own is foreign too.
    let other_tree = tempfile::tempdir().unwrap();
    {
        let db = sled::open(other_tree.path()).unwrap();
        db.open_tree("theirs")
            .unwrap()
            .insert(b"k", &b"v"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(StoreConfig::new(other_tree.path(), vec![]))
        .err()
        .expect("refused");
    assert!(matches!(err, OpenError::UnknownLayout { .. }), "{err}");
}

/// A store killed while being created, after sled kept its tree but before
/// the layout version reached the disk (the crash test's cycle 42 once),
/// holds no key: it is created again, not refused.
#[test]
fn a_store_killed_before_its_layout_version_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("mutua").unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(StoreConfig::new(dir.path(), vec![])).expect("created again");
    assert!(store.check().expect("check runs").is_ok());
}

/// A store with churn (new versions, withdrawals), its digest and a query.
fn churned_store() -> (common::Fed, [u8; 32], usize) {
    let fed = federation();
    let c = &fed.commune;
    fed.store
        .apply_batch((0..120).map(|i| offer(c, i, 1, |_| {})).collect(), NOW)
        .unwrap();
    let mut churn: Vec<_> = (0..40).map(|i| offer(c, i, 2, |_| {})).collect();
    churn.extend((40..60).map(|i| sealed(c, Payload::Withdrawal(fixtures::withdrawal(c, i, 5)))));
    fed.store.apply_batch(churn, NOW).unwrap();
    let digest = fed.store.digest().unwrap();
    let hits = fed
        .store
        .query(
            &Query {
                limit: 500,
                ..Query::default()
            },
            NOW,
        )
        .unwrap()
        .hits
        .len();
    (fed, digest, hits)
}

#[test]
fn compaction_keeps_every_entry() {
    let (fed, digest, hits) = churned_store();
    assert_eq!(hits, 100);
    let path = fed.store.path().to_owned();
    let anchors = vec![fed.anchor.public()];
    drop(fed.store);
    let report = mutua_store::compact(&path).unwrap();
    // 122 records, each with its sync entry (certificates their lookup),
    // buckets and metadata.
    assert!(report.entries > 300, "{report:?}");
    assert!(report.bytes_after <= report.bytes_before, "{report:?}");
    let store = Store::open(StoreConfig::new(&path, anchors)).unwrap();
    assert_eq!(store.digest().unwrap(), digest);
    assert!(store.check().unwrap().is_ok());
    let query = Query {
        limit: 500,
        ..Query::default()
    };
    assert_eq!(store.query(&query, NOW).unwrap().hits.len(), hits);
    // A store that is open elsewhere is refused by sled's lock, untouched.
    assert!(mutua_store::compact(&path).is_err());
    drop(store);
    let siblings: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, [path.file_name().unwrap()], "nothing left over");
}

#[test]
fn an_interrupted_compaction_is_finished_or_undone_at_open() {
    let (fed, digest, _) = churned_store();
    let path = fed.store.path().to_owned();
    let anchors = vec![fed.anchor.public()];
    drop(fed.store);
    let sibling = |suffix: &str| path.with_file_name(format!("store{suffix}"));
    // Crash after the first rename, the copy incomplete: undone.
    std::fs::rename(&path, sibling(".pre-compact")).unwrap();
    std::fs::create_dir(sibling(".compacting")).unwrap();
    let store = Store::open(StoreConfig::new(&path, anchors.clone())).unwrap();
    assert_eq!(store.digest().unwrap(), digest);
    drop(store);
    assert!(!sibling(".pre-compact").exists());
    // Crash after the first rename, the copy complete: finished.
    std::fs::remove_dir_all(sibling(".compacting")).unwrap();
    copy_dir(&path, &sibling(".compacting"));
    std::fs::write(
        sibling(".compacting").join("mutua-compaction-complete"),
        b"",
    )
    .unwrap();
    std::fs::rename(&path, sibling(".pre-compact")).unwrap();
    let store = Store::open(StoreConfig::new(&path, anchors)).unwrap();
    assert_eq!(store.digest().unwrap(), digest);
    assert!(store.check().unwrap().is_ok());
    assert!(!sibling(".pre-compact").exists() && !sibling(".compacting").exists());
    assert!(!path.join("mutua-compaction-complete").exists());
}
