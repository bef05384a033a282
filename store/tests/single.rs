//! One record per call (publishing, CSV import, gossip): a listing applied
//! alone is searchable when `apply` returns, through the search index's RAM
//! part, before any checkpoint commits the disk index; across that boundary
//! queries give the same hits, scores, order and cursors as one disk index.

use std::collections::BTreeSet;

mod common;

use mutua_protocol::{GeoPoint, RecordHash, SignedRecord, SlotKey};
use mutua_store::synth::{self, Rng, NOW};
use mutua_store::{Center, Near, Query, SearchCheckpoints, Sort, Store};

/// Checkpoints only when asked: what the RAM index holds is then known.
fn store_without_checkpoints(dir: &std::path::Path) -> Store {
    store_checkpointing_every(dir, u64::MAX)
}

/// A store with members that checkpoints its search index every `seqs`
/// sequences, and never on a timer.
fn store_checkpointing_every(dir: &std::path::Path, seqs: u64) -> Store {
    let mut config = synth::store_config(dir);
    config.search_checkpoints = SearchCheckpoints {
        every_seqs: seqs,
        every: None,
    };
    let store = Store::open(config).expect("open");
    store
        .apply_batch(synth::member_certificates(0..20, NOW), NOW)
        .expect("certificates");
    store
}

fn listing(id: u64, version: u64) -> SignedRecord {
    // The same content for the same (id, version), whichever store.
    let mut rng = Rng::new(id * 1000 + version);
    synth::sealed_listing(&synth::key("member", id % 20), id, version, NOW, &mut rng)
}

fn apply_one(store: &Store, record: SignedRecord) {
    let applied = store.apply(record, NOW).expect("apply");
    assert!(applied.outcome.is_stored(), "{applied:?}");
}

/// Every page of `q` (limit 7): the hits' slots and hashes, in order.
fn pages(store: &Store, q: &Query) -> Vec<(SlotKey, RecordHash)> {
    let mut q = Query {
        limit: 7,
        ..q.clone()
    };
    let mut out = Vec::new();
    loop {
        let page = store.query(&q, NOW).expect("query");
        out.extend(page.hits.iter().map(|h| (h.slot, h.hash)));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => return out,
        }
    }
}

fn all(store: &Store) -> Vec<(SlotKey, RecordHash)> {
    pages(store, &Query::default())
}

fn queries() -> Vec<Query> {
    let text = |t: &str, sort| Query {
        text: Some(t.into()),
        sort,
        ..Query::default()
    };
    let near = |sort| Query {
        near: Some(Near {
            center: Center::Point(GeoPoint {
                lat_e6: 44_837_789,
                lon_e6: -579_180,
            }),
            radius_km: 300.0,
        }),
        sort,
        ..Query::default()
    };
    vec![
        Query::default(),
        text("sécurité", Sort::Relevance),
        text("formation agents", Sort::Relevance),
        text("logiciel", Sort::Relevance),
        text("salle", Sort::Recency),
        text("securite", Sort::Relevance),
        near(Sort::Distance),
        near(Sort::Recency),
        Query {
            tags: vec!["matériel".into()],
            ..Query::default()
        },
    ]
}

#[test]
fn a_listing_applied_alone_is_found_before_any_checkpoint_and_once_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_without_checkpoints(&dir.path().join("store"));
    store.checkpoint_search().unwrap();
    let first = listing(1, 1);
    let slot = SlotKey::of(&first);
    apply_one(&store, first.clone());
    let stats = store.search_index_stats();
    assert_eq!(stats.unsaved_listings, 1, "{stats:?}");
    assert_eq!(all(&store), [(slot, *first.hash())]);

    // Checkpointed, then replaced and withdrawn alone: the disk document
    // is hidden by the RAM index's state.
    store.checkpoint_search().unwrap();
    assert_eq!(store.search_index_stats().unsaved_listings, 0);
    assert_eq!(all(&store), [(slot, *first.hash())]);
    let second = listing(1, 2);
    apply_one(&store, second.clone());
    assert_eq!(all(&store), [(slot, *second.hash())]);
    assert_eq!(store.search_index_stats().listings, 1);
    apply_one(
        &store,
        synth::sealed_withdrawal(&synth::key("member", 1), 1, 3, NOW),
    );
    assert_eq!(all(&store), []);
    assert_eq!(store.search_index_stats().listings, 0);
    assert!(store.check().unwrap().is_ok());
    store.checkpoint_search().unwrap();
    assert_eq!(all(&store), []);

    // A new listing, then a reopen (a clean close checkpoints).
    let third = listing(2, 1);
    apply_one(&store, third.clone());
    assert_eq!(store.search_index_stats().unsaved_listings, 1);
    assert!(store.check().unwrap().is_ok());
    drop(store);
    let store = store_without_checkpoints(&dir.path().join("store"));
    assert_eq!(store.search_index_stats().unsaved_listings, 0);
    assert_eq!(all(&store), [(SlotKey::of(&third), *third.hash())]);
}

#[test]
fn queries_across_the_ram_and_disk_indexes_match_one_disk_index() {
    let dirs = tempfile::tempdir().unwrap();
    let split = store_without_checkpoints(&dirs.path().join("split"));
    let disk = store_without_checkpoints(&dirs.path().join("disk"));
    let older: Vec<_> = (0..150).map(|id| listing(id, 1)).collect();
    let newer: Vec<_> = (150..300).map(|id| listing(id, 1)).collect();
    // Replacements of checkpointed listings only: each disk document is
    // hidden once, and no RAM document is deleted (a RAM merge purging it
    // would change the statistics, as a disk merge would).
    let replacements: Vec<_> = (0..150).step_by(10).map(|id| listing(id, 2)).collect();

    // `split`: the older half checkpointed, the rest applied one per call.
    split.apply_batch(older.clone(), NOW).unwrap();
    split.checkpoint_search().unwrap();
    for r in newer.iter().chain(&replacements) {
        apply_one(&split, r.clone());
    }
    let stats = split.search_index_stats();
    assert!(stats.unsaved_listings > 100, "{stats:?}");

    // `disk`: the same three sets, each checkpointed (three segments,
    // fewer than tantivy merges).
    for set in [&older, &newer, &replacements] {
        disk.apply_batch(set.clone(), NOW).unwrap();
        disk.checkpoint_search().unwrap();
    }
    assert_eq!(disk.search_index_stats().unsaved_listings, 0);
    assert_eq!(stats.listings, disk.search_index_stats().listings);

    // Each live listing once (some synthetic ones are expired), of its
    // latest version.
    let found = all(&split);
    let live: BTreeSet<_> = found.iter().copied().collect();
    assert_eq!(found.len(), live.len());
    assert!(live.len() > 250, "{}", live.len());
    assert_eq!(live.len() as u64, stats.listings);
    for r in &replacements {
        let slot = SlotKey::of(r);
        assert!(
            live.iter().all(|(s, h)| *s != slot || h == r.hash()),
            "an older version of {slot:?} is served"
        );
    }
    let mut compared = 0;
    for q in queries() {
        let expected = pages(&disk, &q);
        assert!(!expected.is_empty(), "{q:?} finds something");
        assert_eq!(pages(&split, &q), expected, "{q:?}");
        compared += expected.len();
    }
    assert!(compared > 300, "{compared}");

    // A page read before the checkpoint continues after it with the same
    // cursor.
    let q = Query {
        text: Some("sécurité".into()),
        sort: Sort::Relevance,
        limit: 7,
        ..Query::default()
    };
    let first = split.query(&q, NOW).unwrap();
    split.checkpoint_search().unwrap();
    assert_eq!(split.search_index_stats().unsaved_listings, 0);
    let rest = pages(
        &split,
        &Query {
            cursor: first.next.clone(),
            ..q.clone()
        },
    );
    let joined: Vec<_> = first
        .hits
        .iter()
        .map(|h| (h.slot, h.hash))
        .chain(rest)
        .collect();
    assert_eq!(joined, pages(&disk, &q));
    for q in queries() {
        assert_eq!(
            pages(&split, &q),
            pages(&disk, &q),
            "after the checkpoint: {q:?}"
        );
    }
    assert!(split.check().unwrap().is_ok());
}

#[test]
fn a_count_checkpoint_moves_the_ram_index_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_checkpointing_every(&dir.path().join("store"), 5);
    let before = store.search_index_stats().checkpointed_seq;
    for id in 0..12 {
        apply_one(&store, listing(id, 1));
    }
    let stats = store.search_index_stats();
    assert_eq!(stats.checkpointed_seq, before + 10, "{stats:?}");
    assert_eq!(stats.unsaved_listings, 2);
    assert_eq!(all(&store).len(), 12);
}

/// One record per call rewrites no metadata value (layout 9): the counts
/// travel in the journal entries between snapshots, and a store copied
/// while open (as a crash leaves it) reads the same counts and search
/// sequence at open, `check` agreeing.
#[test]
fn single_writes_rewrite_no_metadata_and_their_counts_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_checkpointing_every(&dir.path().join("store"), 7);
    let meta_writes = |store: &Store| {
        let writes = store.sled_writes().unwrap();
        writes.iter().find(|(p, _)| *p == b'm').map_or(0, |w| w.1)
    };
    let before = meta_writes(&store);
    for id in 0..30 {
        apply_one(&store, listing(id, 1));
    }
    // Withdrawals: an offer or need less, a withdrawal more.
    for id in 0..3 {
        let author = synth::key("member", id % 20);
        apply_one(&store, synth::sealed_withdrawal(&author, id, 2, NOW));
    }
    // Snapshots only with the checkpoints' journal deletions (33 / 7).
    let meta = meta_writes(&store) - before;
    assert!((1..=5).contains(&meta), "{meta} metadata writes");
    // A certificate alone changes the counts with no listing: a snapshot.
    apply_one(&store, synth::member_certificate(20, NOW));
    apply_one(&store, listing(40, 1));
    let stats = store.stats().unwrap();
    assert_eq!(
        (
            stats.certificates,
            stats.offers + stats.needs,
            stats.withdrawals
        ),
        (21, 28, 3)
    );
    let crashed = dir.path().join("crashed");
    common::copy_dir(store.path(), &crashed);
    let reopened = Store::open(synth::store_config(&crashed)).unwrap();
    assert_eq!(reopened.stats().unwrap().total, stats.total);
    let check = reopened.check().unwrap();
    assert!(check.is_ok(), "{check:#?}");
    assert_eq!(all(&reopened).len(), 28);
    drop(reopened);
    // And after a clean close of the original.
    drop(store);
    let store = Store::open(synth::store_config(dir.path().join("store"))).unwrap();
    let counted = store.stats().unwrap();
    assert_eq!((counted.total, counted.withdrawals), (stats.total, 3));
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn documents_no_query_asked_for_are_committed_to_disk_past_a_few_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_without_checkpoints(dir.path());
    let listings: Vec<_> = (0..4510).map(|id| listing(id, 1)).collect();
    // No query between the batches: the 4,500 documents of the first nine
    // wait for one, then are committed to disk instead of indexed in RAM.
    for batch in listings[..4500].chunks(500) {
        store.apply_batch(batch.to_vec(), NOW).unwrap();
    }
    store.apply_batch(listings[4500..].to_vec(), NOW).unwrap();
    let stats = store.search_index_stats();
    assert!(stats.checkpointed_seq > 0, "{stats:?}");
    assert_eq!(stats.unsaved_listings, 10, "{stats:?}");
    assert_eq!(stats.listings, 4510);
    // Found wherever they are, once each.
    let found: BTreeSet<_> = pages(&store, &Query::default())
        .into_iter()
        .map(|(slot, _)| slot)
        .collect();
    let expected: BTreeSet<_> = listings.iter().map(SlotKey::of).collect();
    assert_eq!(found, expected);
}
