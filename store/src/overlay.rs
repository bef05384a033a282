//! The writes of one `apply_batch` call, gathered before they reach sled so
//! that the whole call is one atomic `sled::Batch` (one log reservation, one
//! flush) while each record still sees the records before it in the call:
//! every read of the write path goes through [`Overlay`].

use std::collections::{BTreeMap, HashMap};

use sled::IVec;

use crate::error::StoreError;
use crate::layout::{Chunk, ListingEntries, Posting};

/// Reads that the write path and membership checks make.
pub trait Reader {
    fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>>;
    /// The keys starting with `prefix`, in order.
    fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<IVec>>;
}

impl Reader for sled::Tree {
    fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>> {
        sled::Tree::get(self, key)
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<IVec>> {
        self.scan_prefix(prefix).keys().collect()
    }
}

/// Pending writes over a tree: `Some(value)` inserts, `None` removes.
/// Packed posting values are staged apart, decoded once per call and
/// changed in place (new listings' postings append at their end), because
/// a common term's value is changed by many records of one call.
pub struct Overlay<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<IVec>>,
    /// Packed values being changed; empty means delete.
    chunks: HashMap<Vec<u8>, Vec<u8>>,
}

impl<'a> Overlay<'a> {
    pub fn new(tree: &'a sled::Tree) -> Self {
        Overlay {
            tree,
            writes: BTreeMap::new(),
            chunks: HashMap::new(),
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
        self.writes.len() + self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.chunks.is_empty()
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
        for (k, v) in self.chunks.drain() {
            if v.is_empty() {
                batch.remove(k);
            } else {
                batch.insert(k, v);
            }
        }
        batch
    }
}

impl Overlay<'_> {
    /// Writes an indexed listing's entries: its plain keys, and its postings
    /// into their packed values.
    pub fn put_listing(&mut self, entries: ListingEntries) -> Result<(), StoreError> {
        for (k, v) in entries.plain {
            self.insert(k, v);
        }
        for p in &entries.postings {
            Chunk::put(self.chunk_mut(p)?, p.offset, &p.r);
        }
        Ok(())
    }

    /// Removes an indexed listing's entries.
    pub fn remove_listing(&mut self, entries: ListingEntries) -> Result<(), StoreError> {
        for (k, _) in entries.plain {
            self.remove(k);
        }
        for p in &entries.postings {
            Chunk::delete(self.chunk_mut(p)?, p.offset);
        }
        Ok(())
    }

    /// The staged value of a posting's packed value, read on first use. A
    /// damaged value stops the write (the caller's batch is not applied)
    /// rather than being overwritten blindly.
    fn chunk_mut(&mut self, p: &Posting) -> Result<&mut Vec<u8>, StoreError> {
        if !self.chunks.contains_key(&p.chunk) {
            let stored = match self.writes.get(&p.chunk) {
                Some(v) => v.clone(),
                None => self.tree.get(&p.chunk)?,
            };
            let value = match stored {
                Some(v) if Chunk::parse_checked(&v).is_none() => {
                    return Err(StoreError::corrupt(
                        &p.chunk,
                        "unreadable packed postings: run `mutua store reindex`",
                    ))
                }
                Some(v) => v.to_vec(),
                None => Vec::new(),
            };
            self.writes.remove(&p.chunk);
            self.chunks.insert(p.chunk.clone(), value);
        }
        Ok(self.chunks.get_mut(&p.chunk).expect("staged above"))
    }
}

impl Reader for Overlay<'_> {
    fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>> {
        if let Some(v) = self.chunks.get(key) {
            return Ok((!v.is_empty()).then(|| IVec::from(&v[..])));
        }
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.tree.get(key),
        }
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<IVec>> {
        let pending = self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix));
        let mut keys: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        for k in self.tree.keys_with_prefix(prefix)? {
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
        let mut o = Overlay::new(&tree);
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
        assert_eq!(tree.keys_with_prefix(b"a").unwrap().len(), 2);
        assert!(tree.contains_key(b"b1").unwrap());
    }
}
