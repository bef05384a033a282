//! Sessions between replicas of synthetic records (a slot number, a
//! version, padding): cheap enough for random differences, large messages
//! and a forged item-id collision.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use mutua_protocol::model::*;
use mutua_protocol::sync::memory::MemorySource;
use mutua_protocol::sync::*;
use proptest::prelude::*;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use crate::support::{assert_same, sync, Side};

/// A synthetic record: a listing slot number and a version; the higher
/// version wins, then the higher digest (as the merge's rank does).
struct Synthetic {
    source: MemorySource,
    versions: HashMap<SyncKey, (u32, RecordHash)>,
}

fn synthetic_record(slot: u32, version: u32, padding: usize) -> (SyncKey, RecordHash, Arc<[u8]>) {
    let mut bytes = Vec::with_capacity(8 + padding);
    bytes.extend_from_slice(&slot.to_be_bytes());
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes.resize(8 + padding, 0x5a);
    let mut slot_bytes = vec![0x00];
    slot_bytes.extend_from_slice(&slot.to_be_bytes());
    let digest = FixedBytes(Sha256::digest(&bytes).into());
    (SyncKey::of_slot_bytes(&slot_bytes), digest, bytes.into())
}

impl Synthetic {
    fn new(records: impl IntoIterator<Item = (u32, u32)>) -> Synthetic {
        Synthetic::padded(
            records
                .into_iter()
                .map(|(slot, version)| (slot, version, 0)),
        )
    }

    /// Records given as (slot, version, padding): two paddings of one slot
    /// and version are an equivocation.
    fn padded(records: impl IntoIterator<Item = (u32, u32, usize)>) -> Synthetic {
        let mut side = Synthetic {
            source: MemorySource::new(),
            versions: HashMap::new(),
        };
        for (slot, version, padding) in records {
            let (_, _, bytes) = synthetic_record(slot, version, padding);
            side.apply(&[ByteBuf::from(bytes.to_vec())]);
        }
        side
    }

    /// How many records a session between `self` and `other` must move: one
    /// per slot only one side holds or whose versions differ (the winner
    /// only), two per equivocation (same version, different records).
    fn moves_needed(&self, other: &Synthetic) -> u64 {
        let slots: std::collections::HashSet<&SyncKey> =
            self.versions.keys().chain(other.versions.keys()).collect();
        slots
            .into_iter()
            .map(
                |key| match (self.versions.get(key), other.versions.get(key)) {
                    (Some(a), Some(b)) if a == b => 0,
                    (Some((va, _)), Some((vb, _))) if va == vb => 2,
                    _ => 1,
                },
            )
            .sum()
    }
}

impl Side for Synthetic {
    type Source = MemorySource;

    fn source(&self) -> &MemorySource {
        &self.source
    }

    fn apply(&mut self, records: &[ByteBuf]) {
        for bytes in records {
            let slot = u32::from_be_bytes(bytes[..4].try_into().unwrap());
            let version = u32::from_be_bytes(bytes[4..8].try_into().unwrap());
            let (key, digest, bytes) = synthetic_record(slot, version, bytes.len() - 8);
            if self
                .versions
                .get(&key)
                .is_none_or(|current| (version, digest) > *current)
            {
                self.versions.insert(key, (version, digest));
                let rank = SlotRank {
                    version: version.into(),
                    withdrawal: false,
                };
                self.source.insert(key, digest, rank, bytes);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_differences_reconcile(
        shared in 0u32..600,
        a_changes in proptest::collection::vec((0u32..1200, 1u32..4, 0usize..2), 0..80),
        b_changes in proptest::collection::vec((0u32..1200, 1u32..4, 0usize..2), 0..80),
    ) {
        let base = (0..shared).map(|slot| (slot, 0, 0));
        let mut a = Synthetic::padded(base.clone().chain(a_changes.iter().copied()));
        let mut b = Synthetic::padded(base.clone().chain(b_changes.iter().copied()));
        let mut expected = Synthetic::padded(
            base.clone().chain(a_changes).chain(b_changes),
        );
        let moves = a.moves_needed(&b);
        let run = sync(&mut a, &mut b);
        assert_same(&a, &b);
        assert_same(&a, &expected);
        // No stale version travels: only winners, and both sides of an
        // equivocation.
        prop_assert_eq!(run.outcome.received + run.outcome.pushed, moves);
        // The session is idempotent: a second one finds nothing to do.
        let again = sync(&mut b, &mut expected);
        prop_assert_eq!(again.rounds, 1);
        prop_assert!(run.rounds <= 12, "{} rounds", run.rounds);
    }
}

#[test]
fn large_differences_stay_within_message_bounds() {
    // 3.5 KB records: several full messages each way.
    let padded = |slots: std::ops::Range<u32>| Synthetic::padded(slots.map(|slot| (slot, 1, 3500)));
    let mut a = padded(0..700);
    let mut b = padded(700..1200);
    let run = sync(&mut a, &mut b);
    assert_same(&a, &b);
    assert_eq!(a.source.len(), 1200);
    assert!(
        run.largest_message > MAX_MESSAGE_BYTES * 3 / 4,
        "messages were filled"
    );
    assert!(run.rounds >= 4, "{} rounds", run.rounds);

    // A new node with nothing fetches everything.
    let mut empty = Synthetic::new([]);
    let run = sync(&mut empty, &mut a);
    assert_same(&empty, &a);
    assert_eq!(run.outcome.pushed, 0);
    assert_eq!(run.outcome.received, 1200);
}

#[test]
fn records_too_large_to_be_valid_are_never_sent() {
    let mut a = Synthetic::new((0..30).map(|slot| (slot, 1)));
    let (_, _, huge) = synthetic_record(99, 1, mutua_protocol::codec::MAX_RECORD_BYTES);
    a.apply(&[ByteBuf::from(huge.to_vec())]);
    let mut b = Synthetic::new((0..30).map(|slot| (slot, 1)));
    let mut c = Synthetic::new([]);
    // Neither pushed by an initiator nor sent by a responder, and no session
    // keeps asking for it.
    assert_eq!(sync(&mut a, &mut b).outcome.pushed, 0);
    assert_eq!(sync(&mut c, &mut a).outcome.received, 30);
    assert_eq!((b.source.len(), c.source.len()), (30, 30));
}

/// A replica whose leaf lists show another digest for some of its items, as
/// if its record in the slot had the same 8-byte item id as the other side's
/// record (a collision only the slot's author could grind, about 2^32
/// records). Fingerprints and records stay true.
struct Disguised {
    inner: Synthetic,
    /// Key → (the digest stored, the digest the lists show instead).
    disguise: HashMap<SyncKey, (RecordHash, RecordHash)>,
}

impl SyncSource for Disguised {
    type Error = Infallible;

    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, Infallible> {
        self.inner.source.fingerprint(range)
    }

    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, Infallible> {
        let items = self.inner.source.items(range, after, limit)?;
        Ok(items
            .into_iter()
            .map(|(key, digest)| match self.disguise.get(&key) {
                Some((stored, shown)) if *stored == digest => (key, *shown),
                _ => (key, digest),
            })
            .collect())
    }

    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, Infallible> {
        self.inner.source.record(key)
    }

    fn rank(&self, key: &SyncKey) -> Result<SlotRank, Infallible> {
        self.inner.source.rank(key)
    }
}

impl Side for Disguised {
    type Source = Disguised;

    fn source(&self) -> &Disguised {
        self
    }

    fn apply(&mut self, records: &[ByteBuf]) {
        self.inner.apply(records)
    }
}

/// Two records of one slot and version (padding 0 and 1) whose entries
/// coincide: the lists show no difference, the fingerprints do. The
/// initiator exchanges the whole range and the merge settles the slot.
#[test]
fn entries_that_coincide_over_differing_fingerprints_exchange_the_range() {
    const SLOT: u32 = 1000;
    let mut paths = Vec::new();
    for shared in [3, 8, 34, 200] {
        let base = || (0..shared).map(|slot| (slot, 1, 0));
        let a = Synthetic::padded(base().chain([(SLOT, 2, 0)]));
        let mut b = Synthetic::padded(base().chain([(SLOT, 2, 1)]));
        let (key, stored, _) = synthetic_record(SLOT, 2, 0);
        let (_, shown, _) = synthetic_record(SLOT, 2, 1);
        // Down the ranges holding the slot, the initiator sends a
        // fingerprint, the responder splits, the initiator compares the
        // children, and so on: the responder lists a range it holds few items
        // in when asked for its fingerprint (the initiator then finds the
        // lists equal); the initiator lists a child of a split where the
        // responder holds few (both sides hold as many), and the responder
        // answers `Equal`.
        let count = |range: &SyncRange| b.source.fingerprint(range).unwrap().count;
        let mut range = SyncRange::ROOT;
        let initiator_lists = loop {
            if count(&range) <= LEAF_ITEMS {
                break false;
            }
            let child = |r: SyncRange| {
                r.children()
                    .unwrap()
                    .into_iter()
                    .find(|c| c.contains(&key))
                    .unwrap()
            };
            range = child(range);
            if count(&range) <= LEAF_ITEMS {
                break true;
            }
            range = child(range);
        };
        paths.push(initiator_lists);
        let mut a = Disguised {
            inner: a,
            disguise: HashMap::from([(key, (stored, shown))]),
        };
        let mut expected = Synthetic::padded(base().chain([(SLOT, 2, 0), (SLOT, 2, 1)]));
        let run = sync(&mut a, &mut b);
        assert_same(&a.inner, &b);
        assert_same(&a.inner, &expected);
        assert_eq!(
            run.ids_answered_equal,
            usize::from(initiator_lists),
            "{shared} shared"
        );
        assert!(
            run.outcome.pushed >= 1 && run.outcome.received >= 1,
            "{:?}",
            run.outcome
        );
        // Nothing left to do.
        let again = sync(&mut b, &mut expected);
        assert_eq!(again.rounds, 1);
    }
    assert!(paths.contains(&true) && paths.contains(&false), "{paths:?}");
}
