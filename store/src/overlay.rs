//! The writes of one `apply_batch` call, gathered before they reach sled so
//! that the whole call is one atomic `sled::Batch` (one log reservation, one
//! flush) while each record still sees the records before it in the call:
//! every read of the write path goes through [`Overlay`].

use std::collections::BTreeMap;

use sled::IVec;

use crate::error::StoreError;
use crate::layout::StoredRecord;
use crate::packing::Packing;

/// Reads that the write path and membership checks make.
pub trait Reader {
    fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>>;
    /// The keys starting with `prefix`, in order.
    fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<IVec>>;
    /// How the store's envelopes are packed.
    fn packing(&self) -> &Packing;

    /// The record stored under the `r` key `key`, unpacked and decoded.
    fn record(&self, key: &[u8]) -> Result<Option<StoredRecord>, StoreError> {
        match self.get(key)? {
            Some(v) => StoredRecord::decode(key, &self.packing().unpack(key, &v)?).map(Some),
            None => Ok(None),
        }
    }
}

/// The store's tree with what reads its envelopes.
#[derive(Clone, Copy)]
pub struct Replica<'a> {
    pub tree: &'a sled::Tree,
    pub packing: &'a Packing,
}

impl Reader for Replica<'_> {
    fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>> {
        self.tree.get(key)
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<IVec>> {
        self.tree.scan_prefix(prefix).keys().collect()
    }

    fn packing(&self) -> &Packing {
        self.packing
    }
}

/// Pending writes over a tree: `Some(value)` inserts, `None` removes.
pub struct Overlay<'a> {
    replica: Replica<'a>,
    writes: BTreeMap<Vec<u8>, Option<IVec>>,
}

impl<'a> Overlay<'a> {
    pub fn new(replica: Replica<'a>) -> Self {
        Overlay {
            replica,
            writes: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<IVec>) {
        self.writes.insert(key.into(), Some(value.into()));
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.writes.insert(key.into(), None);
    }

    /// How many keys are pending.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// The pending keys (each once), in order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.writes.keys().map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// One sled batch with every pending write (a key written twice keeps its
    /// last value), leaving the overlay empty.
    pub fn take_batch(&mut self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in std::mem::take(&mut self.writes) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch
    }
}

impl Reader for Overlay<'_> {
    fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.replica.get(key),
        }
    }

    fn packing(&self) -> &Packing {
        self.replica.packing
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<IVec>> {
        let pending = self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix));
        let mut keys: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        for k in self.replica.keys_with_prefix(prefix)? {
            keys.insert(k.to_vec(), true);
        }
        for (k, v) in pending {
            keys.insert(k.clone(), v.is_some());
        }
        Ok(keys
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(k, _)| IVec::from(k))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_pending_writes_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert(b"a1", &b"x"[..]).unwrap();
        tree.insert(b"a2", &b"y"[..]).unwrap();
        let packing = Packing::new(false, 0);
        let mut o = Overlay::new(Replica {
            tree: &tree,
            packing: &packing,
        });
        o.remove(&b"a1"[..]);
        o.insert(&b"a3"[..], &b"z"[..]);
        o.insert(&b"b1"[..], &b"w"[..]);
        assert_eq!(Reader::get(&o, b"a1").unwrap(), None);
        assert_eq!(Reader::get(&o, b"a2").unwrap().as_deref(), Some(&b"y"[..]));
        assert_eq!(Reader::get(&o, b"a3").unwrap().as_deref(), Some(&b"z"[..]));
        let keys = o.keys_with_prefix(b"a").unwrap();
        assert_eq!(keys, [IVec::from(&b"a2"[..]), IVec::from(&b"a3"[..])]);
        tree.apply_batch(o.take_batch()).unwrap();
        assert!(o.is_empty());
        assert_eq!(tree.scan_prefix(b"a").count(), 2);
        assert!(tree.contains_key(b"b1").unwrap());
    }
}
