//! An in-memory replica for tests and benchmarks of reconciliation: the test
//! double of the store. Fingerprints come from prefix sums over the sorted
//! items, rebuilt after a change.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Bound;
use std::sync::Arc;

use super::{Fingerprint, SlotRank, SyncKey, SyncRange, SyncSource};
use crate::model::RecordHash;

#[derive(Clone, Default)]
pub struct MemorySource {
    /// Each item's digest, record and fingerprint (hashed once, at insertion).
    items: BTreeMap<SyncKey, (RecordHash, Arc<[u8]>, Fingerprint)>,
    /// Each item's rank, given rather than decoded: benchmarks store
    /// synthetic records.
    ranks: BTreeMap<SyncKey, SlotRank>,
    /// Sorted keys and the fingerprints of every prefix of them.
    index: RefCell<Option<(Vec<SyncKey>, Vec<Fingerprint>)>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an item, replacing what the key held.
    pub fn insert(&mut self, key: SyncKey, digest: RecordHash, rank: SlotRank, record: Arc<[u8]>) {
        let fingerprint = Fingerprint::of_item(&key, &digest);
        self.items.insert(key, (digest, record, fingerprint));
        self.ranks.insert(key, rank);
        self.index.replace(None);
    }

    pub fn remove(&mut self, key: &SyncKey) {
        self.items.remove(key);
        self.ranks.remove(key);
        self.index.replace(None);
    }

    pub fn get(&self, key: &SyncKey) -> Option<(&RecordHash, &Arc<[u8]>)> {
        self.items
            .get(key)
            .map(|(digest, record, _)| (digest, record))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every (key, digest), in key order.
    pub fn digests(&self) -> Vec<(SyncKey, RecordHash)> {
        self.items.iter().map(|(k, (d, ..))| (*k, *d)).collect()
    }

    fn position(keys: &[SyncKey], bound: Option<SyncKey>) -> usize {
        bound.map_or(keys.len(), |b| keys.partition_point(|k| *k < b))
    }
}

impl SyncSource for MemorySource {
    type Error = Infallible;

    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, Infallible> {
        let mut index = self.index.borrow_mut();
        let (keys, sums) = index.get_or_insert_with(|| {
            let mut sums = Vec::with_capacity(self.items.len() + 1);
            let mut acc = Fingerprint::EMPTY;
            sums.push(acc);
            for (_, _, fingerprint) in self.items.values() {
                acc += *fingerprint;
                sums.push(acc);
            }
            (self.items.keys().copied().collect(), sums)
        });
        let start = Self::position(keys, Some(range.start()));
        let end = Self::position(keys, range.end());
        Ok(sums[end] - sums[start])
    }

    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, Infallible> {
        let lower = match after {
            Some(after) if *after >= range.start() => Bound::Excluded(*after),
            _ => Bound::Included(range.start()),
        };
        let upper = range.end().map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .items
            .range((lower, upper))
            .take(limit)
            .map(|(k, (d, ..))| (*k, *d))
            .collect())
    }

    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.items.get(key).map(|(_, bytes, _)| bytes.to_vec()))
    }

    fn rank(&self, key: &SyncKey) -> Result<SlotRank, Infallible> {
        Ok(self.ranks.get(key).copied().unwrap_or_default())
    }
}
