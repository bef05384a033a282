//! The store compresses its envelopes itself (layout 9): they are stored as
//! received until the store holds enough listings to train its zstd
//! dictionary, which then packs every envelope, the first ones too. Every
//! reader gets the envelopes back byte-exact, across reopens; an
//! interrupted packing is resumed at open; a store configured not to
//! compress writes them as received, and reads packed ones.

use std::collections::BTreeSet;
use std::path::Path;

use mutua_protocol::sync::slot_bytes;
use mutua_protocol::{SignedRecord, SlotKey};
use mutua_store::synth::{self, Rng, NOW};
use mutua_store::Store;

/// More than the listings the store trains its dictionary at (1,000).
const LISTINGS: u64 = 1_200;

fn listings() -> Vec<SignedRecord> {
    let mut rng = Rng::new(9);
    (0..LISTINGS)
        .map(|id| synth::sealed_listing(&synth::key("member", id % 20), id, 1, NOW, &mut rng))
        .collect()
}

fn open(dir: &Path, compress: bool) -> Store {
    let mut config = synth::store_config(dir);
    config.compress_envelopes = compress;
    Store::open(config).expect("open")
}

fn load(store: &Store, records: &[SignedRecord]) {
    store
        .apply_batch(synth::member_certificates(0..20, NOW), NOW)
        .unwrap();
    for chunk in records.chunks(300) {
        for a in store.apply_batch(chunk.to_vec(), NOW).unwrap() {
            assert!(a.outcome.is_stored(), "{a:?}");
        }
    }
}

/// The store's envelopes as every reader gives them, checked against the
/// listings written, and `check` clean.
fn assert_envelopes(store: &Store, records: &[SignedRecord]) {
    let written: BTreeSet<Vec<u8>> = records.iter().map(|r| r.bytes().to_vec()).collect();
    let stored: BTreeSet<Vec<u8>> = store
        .envelopes()
        .map(Result::unwrap)
        .filter(|e| written.contains(e))
        .collect();
    assert_eq!(stored.len(), written.len(), "envelopes byte-exact");
    for r in records.iter().step_by(97) {
        let got = store.get(&SlotKey::of(r)).unwrap().expect("stored");
        assert_eq!(got.bytes(), r.bytes());
    }
    assert_eq!(
        store.export().filter(|r| r.is_ok()).count(),
        records.len() + 20
    );
    let check = store.check().unwrap();
    assert!(check.is_ok(), "{check:#?}");
}

/// `(packed r values, raw r values, whether the store has a dictionary)`.
fn packed_counts(dir: &Path) -> (usize, usize, bool) {
    let db = mutua_store::open_raw_sled(dir).unwrap();
    let tree = db.open_tree("mutua").unwrap();
    let (mut packed, mut raw) = (0, 0);
    for entry in tree.scan_prefix(b"r") {
        let (_, v) = entry.unwrap();
        if v[0] == 0x01 {
            packed += 1;
        } else {
            raw += 1;
        }
    }
    let dictionary = db.open_tree("mutua-dictionary").unwrap();
    (packed, raw, dictionary.contains_key(b"zstd").unwrap())
}

#[test]
fn envelopes_are_packed_once_the_dictionary_is_trained_and_come_back_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let records = listings();
    let store = open(&path, true);
    load(&store, &records);
    assert_envelopes(&store, &records);
    drop(store);
    let (packed, raw, dictionary) = packed_counts(&path);
    assert!(dictionary);
    // Every envelope, those stored before the dictionary too.
    assert_eq!((packed, raw), (records.len() + 20, 0));

    // Interrupted while packing: some envelopes still as received.
    {
        let db = mutua_store::open_raw_sled(&path).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        for r in records.iter().step_by(3) {
            let key = [&b"r"[..], &slot_bytes(&SlotKey::of(r))].concat();
            tree.insert(key, r.bytes()).unwrap();
        }
        tree.insert(b"mrepacking", &[1u8][..]).unwrap();
        db.flush().unwrap();
    }
    let store = open(&path, true);
    assert_envelopes(&store, &records);
    drop(store);
    assert_eq!(packed_counts(&path), (records.len() + 20, 0, true));

    // Compression off: packed envelopes are still read.
    let store = open(&path, false);
    assert_envelopes(&store, &records);
}

#[test]
fn a_store_without_compression_writes_raw_and_is_packed_when_it_is_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let records = listings();
    let store = open(&path, false);
    load(&store, &records);
    drop(store);
    assert_eq!(packed_counts(&path), (0, records.len() + 20, false));
    // As a store of an older layout is, at its first open.
    let store = open(&path, true);
    assert_envelopes(&store, &records);
    drop(store);
    assert_eq!(packed_counts(&path), (records.len() + 20, 0, true));
}
