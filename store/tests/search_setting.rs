//! `StoreConfig::search_index`: off (the default) the store keeps no search
//! index at all; turning it on later, even after writes made with it off,
//! rebuilds the index from sled instead of serving stale results.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use mutua_protocol::{fixtures, Payload, SecretKey};
use mutua_store::{Query, QueryError, Store, StoreConfig};

use common::{federation, offer, sealed, Fed, NOW};

fn config(path: &Path, anchor: &SecretKey, search_index: bool) -> StoreConfig {
    StoreConfig {
        search_index,
        ..StoreConfig::new(path, vec![anchor.public()])
    }
}

fn search_titles(store: &Store) -> BTreeSet<String> {
    store
        .search(&Query::default(), NOW)
        .expect("search")
        .hits
        .iter()
        .filter_map(|h| h.payload.listing().map(|l| l.title.clone()))
        .collect()
}

fn titles(titles: &[&str]) -> BTreeSet<String> {
    titles.iter().map(|t| t.to_string()).collect()
}

/// The search keys sled holds: `msearch_seq` and journal entries.
fn search_keys_in_sled(path: &Path) -> usize {
    let db = mutua_store::open_raw_sled(path).unwrap();
    let tree = db.open_tree("mutua").unwrap();
    let seq = usize::from(tree.contains_key(b"msearch_seq").unwrap());
    seq + tree.scan_prefix(b"j").count()
}

fn apply_all(store: &Store, records: Vec<mutua_protocol::SignedRecord>) {
    for a in store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored(), "{a:?}");
    }
}

#[test]
fn off_by_default_the_store_keeps_no_search_index() {
    let fed = federation();
    let c = &fed.commune;
    apply_all(
        &fed.store,
        vec![
            offer(c, 1, 1, |l| l.title = "Broyeur de végétaux".into()),
            offer(c, 2, 1, |l| l.title = "Nacelle élévatrice".into()),
        ],
    );
    apply_all(
        &fed.store,
        vec![sealed(
            c,
            Payload::Withdrawal(fixtures::withdrawal(c, 2, 2)),
        )],
    );
    fed.store.sweep(NOW).unwrap();
    fed.store.reindex().unwrap();
    assert!(fed.store.check().unwrap().is_ok());
    let err = fed.store.search(&Query::default(), NOW).unwrap_err();
    assert!(matches!(err, QueryError::SearchIndexDisabled), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the search index is not enabled in this store's configuration"
    );
    assert_eq!(fed.store.search_index_stats(), None);
    let path = fed.store.path().to_owned();
    assert!(!path.join("search").exists());
    drop(fed.store);
    assert_eq!(search_keys_in_sled(&path), 0);
}

#[test]
fn turning_the_index_on_rebuilds_it_from_sled() {
    let Fed {
        dir: _dir,
        store,
        anchor,
        commune,
        ..
    } = federation();
    let c = &commune;
    apply_all(
        &store,
        vec![
            offer(c, 1, 1, |l| l.title = "Broyeur de végétaux".into()),
            offer(c, 2, 1, |l| l.title = "Nacelle élévatrice".into()),
        ],
    );
    let path = store.path().to_owned();
    let reopen = |on: bool, store: Store| {
        drop(store);
        Store::open(config(&path, &anchor, on)).expect("reopen")
    };
    // Off → on: the index is built from what sled holds.
    let store = reopen(true, store);
    assert_eq!(
        search_titles(&store),
        titles(&["Broyeur de végétaux", "Nacelle élévatrice"])
    );
    apply_all(
        &store,
        vec![offer(c, 3, 1, |l| l.title = "Tables de fête".into())],
    );
    // On → off with only reads: the index is left as it is, still exact.
    let store = reopen(false, store);
    assert!(store.path().join("search").exists());
    let store = reopen(true, store);
    assert_eq!(search_titles(&store).len(), 3);
    // On → off → writes → on: what was written with the index off (an
    // offer, a withdrawal, a replacement) is found, and nothing stale.
    let store = reopen(false, store);
    apply_all(
        &store,
        vec![
            offer(c, 4, 1, |l| l.title = "Tondeuse autoportée".into()),
            sealed(c, Payload::Withdrawal(fixtures::withdrawal(c, 2, 2))),
            offer(c, 1, 2, |l| l.title = "Broyeur remplacé".into()),
        ],
    );
    assert!(!store.path().join("search").exists());
    let store = reopen(true, store);
    assert_eq!(
        search_titles(&store),
        titles(&["Broyeur remplacé", "Tables de fête", "Tondeuse autoportée"])
    );
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn an_index_behind_whose_journal_entries_are_gone_is_rebuilt() {
    let fed = common::federation_with_search();
    let c = &fed.commune;
    apply_all(
        &fed.store,
        vec![offer(c, 1, 1, |l| l.title = "Broyeur de végétaux".into())],
    );
    let path = fed.store.path().to_owned();
    let index_dir = path.join("search");
    let snapshot = fed.dir.path().join("snapshot");
    drop(fed.store);
    copy_dir(&index_dir, &snapshot);
    let store = Store::open(config(&path, &fed.anchor, true)).unwrap();
    // The index commits both batches; the second batch's sled write
    // deletes the first's journal entry, which the index then covers.
    apply_all(
        &store,
        vec![offer(c, 2, 1, |l| l.title = "Nacelle élévatrice".into())],
    );
    apply_all(
        &store,
        vec![offer(c, 1, 2, |l| l.title = "Broyeur remplacé".into())],
    );
    drop(store);
    // An index from before both (a restored backup): behind, and the
    // journal no longer reaches back to it.
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&snapshot, &index_dir);
    let store = Store::open(config(&path, &fed.anchor, true)).unwrap();
    assert_eq!(
        search_titles(&store),
        titles(&["Broyeur remplacé", "Nacelle élévatrice"])
    );
    assert!(store.check().unwrap().is_ok());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
