//! Opening a store of an older layout: layouts 2–5 kept a query index in
//! sled, which the migration deletes before the search index is built from
//! the records; an interrupted migration is resumed (layout 1 and newer
//! layouts are refused: tests/maintenance.rs).
//!
//! The older layouts' entries are written by a fixture writer in the shape
//! layout 5 gave them (listing numbers both ways, summaries, expiry, kind,
//! author and geo keys, packed tag, word and area postings, the next number,
//! the old search journal and index directory).

mod common;

use std::path::Path;

use common::{federation, offer, Fed, NOW};
use mutua_store::{Query, Store};

const OBSOLETE: [u8; 9] = *b"lnxkatwzg";

fn tree(path: &Path) -> (sled::Db, sled::Tree) {
    let db = mutua_store::open_raw_sled(path).unwrap();
    let tree = db.open_tree("mutua").unwrap();
    (db, tree)
}

/// Writes, for every stored listing, the entries layout 5 kept for it, plus
/// `extra` filler postings, and marks the store as layout `version`.
fn write_old_layout(path: &Path, version: u32, extra: u64) {
    let (db, tree) = tree(path);
    let listings: Vec<Vec<u8>> = tree
        .scan_prefix([b'r', 0])
        .keys()
        .map(|k| k.unwrap()[1..].to_vec())
        .collect();
    for (n, slot) in listings.iter().enumerate() {
        let number = (n as u64 + 1).to_be_bytes();
        let r = [0x7f; 8];
        tree.insert([&b"l"[..], slot].concat(), &number).unwrap();
        tree.insert(
            [&b"n"[..], &number].concat(),
            [&slot[..], &[0; 72]].concat(),
        )
        .unwrap();
        tree.insert([&b"x"[..], &NOW.to_be_bytes(), slot].concat(), &b""[..])
            .unwrap();
        for p in [&b"k\x00\x01"[..], &[b'a'; 33], b"g\x01\x02\x03\x04"] {
            tree.insert([p, &r, &number].concat(), &b""[..]).unwrap();
        }
        for term in [&b"tvoirie"[..], b"wbroyeur", b"zd33"] {
            let key = [&term[..1], &[0; 4], &term[1..]].concat();
            let posting = [&(n as u16).to_be_bytes()[..], &r].concat();
            tree.insert(key, posting).unwrap();
        }
    }
    for i in 0..extra {
        tree.insert(
            [&b"w"[..], &[0; 4], format!("mot{i}").as_bytes()].concat(),
            &[0; 10],
        )
        .unwrap();
    }
    write_forget_entries(&tree);
    tree.insert(b"mnext_number", &(listings.len() as u64).to_be_bytes())
        .unwrap();
    tree.insert([&b"j"[..], &1u64.to_be_bytes()].concat(), &[0u8; 49][..])
        .unwrap();
    tree.insert(b"mlayout", &version.to_be_bytes()).unwrap();
    db.flush().unwrap();
    drop(tree);
    drop(db);
    // An index left by the older version (its schema is not this one's).
    let search = path.join("search");
    std::fs::create_dir_all(&search).unwrap();
    std::fs::write(search.join("meta.json"), b"{\"old\": true}").unwrap();
}

/// Keys left of the older layouts' query index, and their forget entries.
fn obsolete_keys(path: &Path) -> usize {
    let (_db, tree) = tree(path);
    let old: usize = OBSOLETE
        .iter()
        .chain(b"f")
        .map(|p| tree.scan_prefix([*p]).count())
        .sum();
    old + usize::from(tree.contains_key(b"mnext_number").unwrap())
}

/// Writes the forget entry layouts 2–9 kept beside each sync entry (`f
/// forget_after slot` → (); the sync value is hash ‖ forget_after ‖ slot).
fn write_forget_entries(tree: &sled::Tree) -> usize {
    let sync: Vec<_> = tree.scan_prefix(b"s").map(Result::unwrap).collect();
    for (_, v) in &sync {
        tree.insert([&b"f"[..], &v[32..]].concat(), &b""[..])
            .unwrap();
    }
    sync.len()
}

fn forget_keys(path: &Path) -> usize {
    tree(path).1.scan_prefix(b"f").count()
}

fn layout(path: &Path) -> u32 {
    let (_db, tree) = tree(path);
    u32::from_be_bytes(
        tree.get(b"mlayout")
            .unwrap()
            .unwrap()
            .as_ref()
            .try_into()
            .unwrap(),
    )
}

fn catalogue() -> Fed {
    let fed = federation();
    let c = &fed.commune;
    let records = vec![
        offer(c, 1, 1, |l| l.title = "Broyeur de végétaux".into()),
        offer(c, 2, 1, |l| {
            l.title = "Nacelle élévatrice".into();
            l.location.point = None;
        }),
        offer(c, 3, 1, |l| l.title = "Tondeuse autoportée".into()),
    ];
    for a in fed.store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored());
    }
    fed
}

/// The store answers as before the migration, holds nothing of the old
/// layout, and `check` is clean.
fn assert_migrated(store: &Store, digest: [u8; 32]) {
    assert_eq!(store.digest().unwrap(), digest);
    let check = store.check().unwrap();
    assert!(check.is_ok(), "{check:#?}");
    assert_eq!(check.indexed_listings, 3);
    let q = Query {
        text: Some("broyeurs".into()),
        ..Query::default()
    };
    assert_eq!(store.query(&q, NOW).unwrap().hits.len(), 1);
    let near = Query {
        near: Some(mutua_store::Near {
            center: mutua_store::Center::Commune("33063".into()),
            radius_km: 5.0,
        }),
        ..Query::default()
    };
    // Placed at its commune's reference point (layout 5's rule, kept).
    assert_eq!(store.query(&near, NOW).unwrap().hits.len(), 3);
}

#[test]
fn layouts_2_to_5_are_migrated_at_open() {
    let fed = catalogue();
    let digest = fed.store.digest().unwrap();
    let mut fed = fed;
    for old in [5, 4, 3, 2] {
        fed = fed.reopen_after(|dir| {
            write_old_layout(dir, old, 10);
            assert!(obsolete_keys(dir) > 30);
        });
        assert_migrated(&fed.store, digest);
        fed = fed.reopen_after(|dir| {
            assert_eq!(obsolete_keys(dir), 0, "layout {old}");
            assert_eq!(layout(dir), mutua_store::LAYOUT_VERSION);
        });
        assert!(fed.store.check().unwrap().is_ok());
    }
}

/// A migration stops at any point: it writes the new layout version last,
/// so the next open sees the old one and runs it again; stopped after that
/// write, the next open finds no index and builds it.
#[test]
fn an_interrupted_migration_is_resumed_at_open() {
    let fed = catalogue();
    let digest = fed.store.digest().unwrap();
    // Stopped halfway through the deletions (the index directory gone or
    // not yet): a prefix of the old keys deleted, the layout still 5.
    let fed = fed.reopen_after(|dir| {
        write_old_layout(dir, 5, 5000);
        let (db, tree) = tree(dir);
        let half: Vec<_> = tree
            .scan_prefix(b"w")
            .keys()
            .take(2500)
            .map(Result::unwrap)
            .collect();
        for k in half {
            tree.remove(k).unwrap();
        }
        for p in *b"lnxk" {
            for k in tree.scan_prefix([p]).keys() {
                tree.remove(k.unwrap()).unwrap();
            }
        }
        db.flush().unwrap();
        drop((tree, db));
        assert_eq!(layout(dir), 5);
    });
    assert_migrated(&fed.store, digest);
    // Stopped after the layout write, before the index was built.
    let fed = fed.reopen_after(|dir| {
        write_old_layout(dir, 5, 0);
        let (db, tree) = tree(dir);
        for p in OBSOLETE {
            for k in tree.scan_prefix([p]).keys() {
                tree.remove(k.unwrap()).unwrap();
            }
        }
        tree.remove(b"mnext_number").unwrap();
        tree.insert(b"mlayout", &6u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
        std::fs::remove_dir_all(dir.join("search")).unwrap();
    });
    assert_migrated(&fed.store, digest);
}

/// The catalogue written as a layout-8 store (the same entries, in the
/// compressed sled files layout 8 wrote), then opened: migrated.
fn layout_8_catalogue() -> (Fed, [u8; 32]) {
    let fed = catalogue();
    let digest = fed.store.digest().unwrap();
    let fed = fed.reopen_after(|dir| {
        older_layout_from(dir, 8);
        assert!(sled_compressed(dir));
        assert_eq!(layout(dir), 8);
    });
    (fed, digest)
}

/// What sled persisted in the store's `conf` file.
fn sled_compressed(dir: &Path) -> bool {
    let conf = String::from_utf8_lossy(&std::fs::read(dir.join("conf")).unwrap()).into_owned();
    assert!(conf.contains("use_compression: "), "{conf}");
    conf.contains("use_compression: true")
}

fn sibling(dir: &Path, suffix: &str) -> std::path::PathBuf {
    dir.with_file_name(format!("store{suffix}"))
}

/// Layout 8's compressed sled files, which sled refuses to open with
/// compression off, are rewritten at open beside the old ones and swapped
/// in; nothing is lost, the search index is kept, no copy is left.
#[test]
fn a_layout_8_store_is_rewritten_uncompressed_at_open() {
    let (fed, digest) = layout_8_catalogue();
    assert_migrated(&fed.store, digest);
    let fed = fed.reopen_after(|dir| {
        assert!(!sled_compressed(dir));
        assert_eq!(layout(dir), mutua_store::LAYOUT_VERSION);
        for suffix in [".compacting", ".pre-compact"] {
            assert!(!sibling(dir, suffix).exists());
        }
        let (_db, tree) = tree(dir);
        assert!(!tree.contains_key(b"msearch_seq").unwrap());
        assert_eq!(tree.get(b"mcounts").unwrap().unwrap().len(), 56);
    });
    assert_migrated(&fed.store, digest);
}

/// A kill during the rewrite's copy leaves the old files untouched and a
/// partial copy beside them: the next open deletes the copy and starts
/// over. (A kill during the swap is `compact`'s, tests/maintenance.rs.)
#[test]
fn a_rewrite_killed_during_its_copy_is_started_over() {
    let (fed, digest) = layout_8_catalogue();
    let fed = fed.reopen_after(|dir| {
        // Undo the migration the helper's reopen ran, then leave a partial,
        // unmarked copy as a killed rewrite does.
        older_layout_from(dir, 8);
        let partial = sibling(dir, ".compacting");
        let db = sled::Config::new().path(&partial).open().unwrap();
        db.open_tree("mutua")
            .unwrap()
            .insert(b"r\x00partial", &b"half a copy"[..])
            .unwrap();
        db.flush().unwrap();
        drop(db);
        assert!(sled_compressed(dir));
    });
    assert_migrated(&fed.store, digest);
    let _fed = fed.reopen_after(|dir| {
        assert!(!sled_compressed(dir));
        assert!(!sibling(dir, ".compacting").exists());
        let (_db, tree) = tree(dir);
        assert!(!tree.contains_key(b"r\x00partial").unwrap());
    });
}

/// Rewrites the closed store at `dir` (its envelopes as received: the
/// catalogue is too small for a dictionary) as layout `version` (7 or 8)
/// wrote it: uncompressed sled files for 7, compressed ones for 8.
fn older_layout_from(dir: &Path, version: u32) {
    let old = dir.with_file_name("newer-layout");
    std::fs::rename(dir, &old).unwrap();
    let (from_db, from) = tree(&old);
    assert!(from_db.open_tree("mutua-dictionary").unwrap().is_empty());
    let to_db = sled::Config::new()
        .path(dir)
        .use_compression(version == 8)
        .open()
        .unwrap();
    let to = to_db.open_tree("mutua").unwrap();
    // Layouts 7 and 8 kept the counts of every batch and the last search
    // sequence in `msearch_seq`, and journal values of slots only (9 keeps
    // a snapshot with the sequence it covers, the journal the changes after
    // it).
    let snapshot = from.get(b"mcounts").unwrap().unwrap();
    let word = |i: usize| u64::from_be_bytes(snapshot[8 * i..8 * i + 8].try_into().unwrap());
    let mut counts: Vec<u64> = (0..6).map(word).collect();
    let mut seq = word(6);
    let covered = seq;
    for entry in from.iter() {
        let (k, v) = entry.unwrap();
        if k.as_ref() == b"mcounts" {
            continue;
        }
        if k[0] == b'j' {
            let s = u64::from_be_bytes(k[1..9].try_into().unwrap());
            seq = seq.max(s);
            let slots = strip_counts_change(&v, (s > covered).then_some(&mut counts));
            to.insert(k, slots).unwrap();
            continue;
        }
        to.insert(k, v).unwrap();
    }
    write_forget_entries(&to);
    let counts: Vec<u8> = counts.iter().flat_map(|c| c.to_be_bytes()).collect();
    to.insert(b"mcounts", counts).unwrap();
    to.insert(b"msearch_seq", &seq.to_be_bytes()).unwrap();
    to.insert(b"mlayout", &version.to_be_bytes()).unwrap();
    to_db.flush().unwrap();
    drop((from, from_db, to, to_db));
    std::fs::rename(old.join("search"), dir.join("search")).unwrap();
    std::fs::remove_dir_all(&old).unwrap();
}

/// A layout-9 journal value's slots, its counts change (`0x01 ‖ n ‖ n ×
/// (kind, zigzag varint)`) added to `counts` if given.
fn strip_counts_change(v: &[u8], counts: Option<&mut Vec<u64>>) -> Vec<u8> {
    if v.first() != Some(&1) {
        return v.to_vec();
    }
    let mut rest = &v[2..];
    let mut changes = Vec::new();
    for _ in 0..v[1] {
        let kind = usize::from(rest[0]);
        let (mut z, mut shift, mut i) = (0u64, 0, 1);
        loop {
            z |= u64::from(rest[i] & 0x7f) << shift;
            shift += 7;
            i += 1;
            if rest[i - 1] & 0x80 == 0 {
                break;
            }
        }
        changes.push((kind, ((z >> 1) as i64) ^ -((z & 1) as i64)));
        rest = &rest[i..];
    }
    if let Some(counts) = counts {
        for (kind, d) in changes {
            counts[kind] = counts[kind].wrapping_add(d as u64);
        }
    }
    rest.to_vec()
}

/// A layout-9 store (one forget entry per record) opened: its forget
/// entries are deleted, nothing else changes, and the sweep still forgets
/// every record due, reading the forget times from the sync entries.
#[test]
fn a_layout_9_store_loses_its_forget_entries_and_still_sweeps() {
    let fed = catalogue();
    let digest = fed.store.digest().unwrap();
    let records = fed.store.export().map(Result::unwrap).collect::<Vec<_>>();
    let fed = fed.reopen_after(|dir| {
        let (db, tree) = tree(dir);
        assert_eq!(tree.scan_prefix(b"f").count(), 0);
        assert_eq!(write_forget_entries(&tree), records.len());
        tree.insert(b"mlayout", &9u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    });
    assert_migrated(&fed.store, digest);
    let mut fed = fed.reopen_after(|dir| {
        assert_eq!(forget_keys(dir), 0);
        assert_eq!(layout(dir), mutua_store::LAYOUT_VERSION);
        assert!(!sled_compressed(dir));
    });
    // Each record forgotten at its own forget time, not before (or when
    // its signer's certificate ended: the purge's share is apart).
    let mut due: Vec<u64> = records
        .iter()
        .map(mutua_protocol::merge::forget_after)
        .collect();
    due.sort();
    due.dedup();
    let mut forgotten = 0;
    for t in due {
        let early = fed.store.sweep(t - 1).unwrap();
        assert_eq!(early.forgotten - early.of_non_members, 0, "at {t} - 1");
        let before = fed.store.stats().unwrap().total;
        let expected = records
            .iter()
            .filter(|r| mutua_protocol::merge::forget_after(r) == t)
            .filter(|r| {
                fed.store
                    .get(&mutua_protocol::SlotKey::of(r))
                    .unwrap()
                    .as_ref()
                    == Some(*r)
            })
            .count() as u64;
        let report = fed.store.sweep(t).unwrap();
        assert_eq!(report.forgotten - report.of_non_members, expected, "at {t}");
        assert_eq!(fed.store.stats().unwrap().total, before - report.forgotten);
        forgotten += early.forgotten + report.forgotten;
        fed = fed.reopen_after(|_| {});
    }
    assert_eq!(forgotten as usize, records.len());
    assert!(fed.store.check().unwrap().is_ok());
}

/// Layout 7's uncompressed files are layout 9's: opened without a rewrite.
#[test]
fn a_layout_7_store_is_migrated_without_a_rewrite() {
    let fed = catalogue();
    let digest = fed.store.digest().unwrap();
    let fed = fed.reopen_after(|dir| {
        older_layout_from(dir, 7);
        assert!(!sled_compressed(dir));
    });
    assert_migrated(&fed.store, digest);
    let _fed = fed.reopen_after(|dir| {
        assert!(!sled_compressed(dir));
        assert_eq!(layout(dir), mutua_store::LAYOUT_VERSION);
        assert!(!sibling(dir, ".pre-compact").exists());
    });
}

/// A layout-8 store large enough for a dictionary: open packs its
/// envelopes, then compacts its files (packing in place leaves them about
/// twice as large), and the records are the same.
#[test]
fn a_large_layout_8_store_is_packed_and_compacted_at_open() {
    use mutua_store::synth::{self, Rng};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut config = synth::store_config(&path);
    config.compress_envelopes = false;
    let store = Store::open(config).unwrap();
    store
        .apply_batch(synth::member_certificates(0..20, NOW), NOW)
        .unwrap();
    let mut rng = Rng::new(5);
    let listings: Vec<_> = (0..1_200)
        .map(|id| synth::sealed_listing(&synth::key("member", id % 20), id, 1, NOW, &mut rng))
        .collect();
    for chunk in listings.chunks(400) {
        store.apply_batch(chunk.to_vec(), NOW).unwrap();
    }
    let digest = store.digest().unwrap();
    drop(store);
    older_layout_from(&path, 8);
    let store = Store::open(synth::store_config(&path)).unwrap();
    assert_eq!(store.digest().unwrap(), digest);
    let check = store.check().unwrap();
    assert!(check.is_ok(), "{check:#?}");
    let envelopes: std::collections::BTreeSet<Vec<u8>> =
        store.envelopes().map(Result::unwrap).collect();
    assert!(listings.iter().all(|l| envelopes.contains(l.bytes())));
    drop(store);
    assert_eq!(layout(&path), mutua_store::LAYOUT_VERSION);
    assert!(!sled_compressed(&path));
    assert!(!sibling(&path, ".pre-compact").exists());
    let (_db, tree) = tree(&path);
    assert!(tree.scan_prefix(b"r").all(|e| e.unwrap().1[0] == 0x01));
}
