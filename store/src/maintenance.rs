//! Operator maintenance: `check` (verify derived entries and signatures
//! against the records), `reindex` (rebuild every derived entry from the
//! records) and `sweep` (unindex expired listings, forget records past their
//! `forget_after` time).
//!
//! All three hold the writer lock for their whole run, so they see no
//! concurrent write; queries keep running.

use std::collections::{BTreeSet, HashSet};

use mutua_protocol::merge::forget_after;
use mutua_protocol::{open as open_record, Payload, SignedRecord, SlotKey, Timestamp};

use crate::error::StoreError;
use crate::layout::{
    self, key, meta, prefix, printable_key, slot_bytes, Chunk, ListingEntries, Posting,
    StoredRecord, SyncValue, POSTING_BLOCK,
};
use crate::overlay::{Overlay, Reader};
use crate::sync::{bucket, decode_fingerprint, encode_fingerprint, Fingerprint, SyncKey, BUCKETS};
use crate::{encode_counts, index, Store, WriterState};

/// How many records one maintenance batch covers: big enough to amortise,
/// small enough to keep batches (and memory) modest.
const CHUNK: usize = 256;
/// How many problems a check report lists in full.
const MAX_LISTED_PROBLEMS: usize = 100;

/// One inconsistency found by `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The store key, printable (`r:00ab…`).
    pub key: String,
    pub what: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Records read (whether or not they verified).
    pub records: u64,
    /// Offers and needs with indexes.
    pub indexed_listings: u64,
    /// Derived entries found.
    pub derived_entries: u64,
    /// Every problem found; `problems` lists the first 100.
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    pub(crate) fn problem(&mut self, key: &[u8], what: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(Problem {
                key: printable_key(key),
                what: what.into(),
            });
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReindexReport {
    pub records: u64,
    pub indexed_listings: u64,
    /// Records whose bytes or signature did not verify, moved under the
    /// quarantine prefix (kept, not served, not synced).
    pub quarantined: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired offers and needs whose indexes were removed (the record stays
    /// until its forget time, so that no older version can come back).
    pub unindexed: u64,
    /// Records deleted for good.
    pub forgotten: u64,
}

/// Every derived entry of a verified record: the record entries, and the
/// listing entries when the listing is indexed with `number`.
fn expected_entries(slot: &[u8], record: &SignedRecord, number: Option<u64>) -> ListingEntries {
    let plain = layout::record_entries(slot, record.payload(), record.hash(), forget_after(record));
    let mut entries = match (
        number,
        layout::side_byte(record.payload()),
        record.payload().listing(),
    ) {
        (Some(n), Some(side), Some(listing)) => layout::listing_entries(slot, side, listing, n),
        _ => ListingEntries::default(),
    };
    entries.plain.extend(plain);
    entries
}

fn listing_expires(payload: &Payload) -> Option<Timestamp> {
    payload.listing().map(|l| l.expires_at)
}

/// A maintenance write: pending writes plus the counters and buckets they
/// change.
struct Pending<'a> {
    overlay: Overlay<'a>,
    state: WriterState,
    buckets: Vec<Fingerprint>,
    touched: BTreeSet<usize>,
    size: usize,
}

impl<'a> Pending<'a> {
    fn new(tree: &'a sled::Tree, state: WriterState, buckets: Vec<Fingerprint>) -> Self {
        Pending {
            overlay: Overlay::new(tree),
            state,
            buckets,
            touched: BTreeSet::new(),
            size: 0,
        }
    }

    fn bucket(&mut self, slot: &[u8], hash: &mutua_protocol::RecordHash, add: bool) {
        let sync_key = SyncKey::of_slot_bytes(slot);
        let b = bucket(&sync_key);
        let item = Fingerprint::of_item(&sync_key, hash);
        if add {
            self.buckets[b] += item;
        } else {
            self.buckets[b] -= item;
        }
        self.touched.insert(b);
    }

    /// Writes the pending writes with the touched buckets and counters.
    fn commit(&mut self, tree: &sled::Tree, extra: &[(&[u8], Vec<u8>)]) -> Result<(), StoreError> {
        for b in std::mem::take(&mut self.touched) {
            self.overlay.insert(
                key(prefix::BUCKET, &[&(b as u16).to_be_bytes()]),
                &encode_fingerprint(&self.buckets[b])[..],
            );
        }
        self.overlay
            .insert(meta::COUNTS, encode_counts(&self.state.counts));
        self.overlay
            .insert(meta::NEXT_NUMBER, &self.state.next_number.to_be_bytes());
        for (k, v) in extra {
            self.overlay.insert(*k, v.clone());
        }
        tree.apply_batch(self.overlay.take_batch())?;
        crate::reclaim_sled_garbage();
        self.size = 0;
        Ok(())
    }
}

impl Store {
    fn swept_until(&self) -> Result<Timestamp, StoreError> {
        Ok(self
            .inner
            .tree
            .get(meta::SWEPT_UNTIL)?
            .and_then(|v| layout::u64_value(&v))
            .unwrap_or(0))
    }

    fn install(&self, writer: &mut WriterState, pending: Pending<'_>) {
        *writer = pending.state;
        *self.inner.buckets.write().expect("bucket lock") = pending.buckets;
        self.inner
            .members
            .write()
            .expect("member lock")
            .invalidate();
    }

    /// Verifies every record's signature and slot, that every derived entry
    /// a record implies is present with the right value, that no derived
    /// entry is left over, and the fingerprint buckets and counters. Reports
    /// damaged values instead of failing on them.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let _writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = &self.inner.tree;
        let swept_until = self.swept_until()?;
        let mut report = CheckReport::default();
        let mut buckets = vec![Fingerprint::default(); BUCKETS];
        let mut counts = [0u64; layout::KIND_COUNTS];
        let mut expected_derived = 0u64;
        // Packed values are checked whole once, here: the per-posting reads
        // below then need no more than a binary search each.
        let mut damaged = HashSet::new();
        for p in prefix::PACKED {
            for entry in tree.scan_prefix([p]) {
                let (k, v) = entry?;
                if Chunk::parse_checked(&v).is_none() {
                    damaged.insert(k);
                }
            }
        }
        for entry in tree.scan_prefix([prefix::RECORD]) {
            let (k, v) = entry?;
            report.records += 1;
            let slot = &k[1..];
            let record = match open_record(&v) {
                Ok(r) => r,
                Err(e) => {
                    report.problem(&k, format!("record does not verify: {e}"));
                    continue;
                }
            };
            if slot_bytes(&SlotKey::of(&record)) != slot {
                report.problem(&k, "record is stored under another slot's key");
                continue;
            }
            counts[layout::kind_index(record.payload())] += 1;
            let sync_key = SyncKey::of_slot_bytes(slot);
            buckets[bucket(&sync_key)] += Fingerprint::of_item(&sync_key, record.hash());
            let indexed_key = key(prefix::INDEXED, &[slot]);
            let number = match (listing_expires(record.payload()), tree.get(&indexed_key)?) {
                (Some(_), Some(v)) => match layout::u64_value(&v) {
                    Some(n) => Some(n),
                    None => {
                        report.problem(&indexed_key, "unreadable listing number");
                        expected_derived += 1;
                        None
                    }
                },
                (Some(expires), None) if expires > swept_until => {
                    report.problem(&k, "live listing has no indexes");
                    None
                }
                _ => None,
            };
            report.indexed_listings += u64::from(number.is_some());
            let expected = expected_entries(slot, &record, number);
            for (ek, ev) in expected.plain {
                expected_derived += 1;
                match tree.get(&ek)? {
                    Some(found) if found == ev => {}
                    Some(_) => report.problem(&ek, "derived entry has a wrong value"),
                    None => report.problem(&ek, "derived entry is missing"),
                }
            }
            for p in expected.postings {
                expected_derived += 1;
                if damaged.contains(&p.chunk[..]) {
                    continue; // reported once, by the scan below
                }
                let found = tree.get(&p.chunk)?;
                match found.as_deref().map(Chunk::parse) {
                    Some(None) => {}
                    Some(Some(c)) if c.get(p.offset) == Some(p.r) => {}
                    Some(Some(c)) if c.get(p.offset).is_some() => report.problem(
                        &p.chunk,
                        format!("posting at offset {} has a wrong recency", p.offset),
                    ),
                    _ => report.problem(
                        &p.chunk,
                        format!("posting at offset {} is missing", p.offset),
                    ),
                }
            }
        }
        for entry in tree.iter() {
            let (k, v) = entry?;
            match k.first() {
                Some(&prefix::BUCKET) => {
                    let index = k
                        .get(1..3)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                    match (index, decode_fingerprint(&v)) {
                        (Some(i), Some(f)) if i < BUCKETS && k.len() == 3 => {
                            if f != buckets[i] {
                                report.problem(&k, "fingerprint bucket does not match its items");
                            }
                            buckets[i] = Fingerprint::default();
                        }
                        _ => report.problem(&k, "unreadable fingerprint bucket"),
                    }
                }
                Some(p) if prefix::PACKED.contains(p) => {
                    match (layout::parse_chunk_key(&k), Chunk::parse(&v)) {
                        (Some(_), Some(c)) if !damaged.contains(&k) => {
                            report.derived_entries += c.len() as u64
                        }
                        _ => report.problem(&k, "unreadable packed postings"),
                    }
                }
                Some(p) if prefix::DERIVED.contains(p) => report.derived_entries += 1,
                Some(&prefix::RECORD | &prefix::META | &prefix::QUARANTINE | &prefix::JOURNAL) => {}
                _ => report.problem(&k, "key with an unknown prefix"),
            }
        }
        if let Some(b) = buckets.iter().position(|f| *f != Fingerprint::default()) {
            report.problem(
                &key(prefix::BUCKET, &[&(b as u16).to_be_bytes()]),
                "fingerprint bucket is missing",
            );
        }
        let in_memory = self.inner.buckets.read().expect("bucket lock").clone();
        let persisted = self.persisted_buckets()?;
        if in_memory != persisted {
            report.problem(
                meta::COUNTS,
                "in-memory fingerprints differ from the stored ones",
            );
        }
        if tree.get(meta::COUNTS)?.as_deref() != Some(&encode_counts(&counts)[..])
            && report.records > 0
        {
            report.problem(meta::COUNTS, "record counters do not match the records");
        }
        if report.derived_entries != expected_derived {
            self.find_orphans(&mut report)?;
        }
        self.check_search(&mut report)?;
        Ok(report)
    }

    fn persisted_buckets(&self) -> Result<Vec<Fingerprint>, StoreError> {
        let mut buckets = vec![Fingerprint::default(); BUCKETS];
        for entry in self.inner.tree.scan_prefix([prefix::BUCKET]) {
            let (k, v) = entry?;
            if let (Some(b), Some(f)) = (k.get(1..3), decode_fingerprint(&v)) {
                let i = usize::from(u16::from_be_bytes([b[0], b[1]]));
                if i < BUCKETS {
                    buckets[i] = f;
                }
            }
        }
        Ok(buckets)
    }

    /// The slot a derived entry belongs to, read from its key or value.
    fn owner(&self, k: &[u8], v: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tail = |from: usize| k.get(from..).map(<[u8]>::to_vec);
        Ok(match k[0] {
            prefix::SYNC => v.get(40..).map(<[u8]>::to_vec),
            prefix::FORGET | prefix::EXPIRY => tail(9),
            prefix::INDEXED => tail(1),
            prefix::NUMBER => v.get(..layout::LISTING_SLOT_LEN).map(<[u8]>::to_vec),
            prefix::CERT_SUBJECT => tail(33).map(|h| [&[1u8][..], &h].concat()),
            prefix::REVOKES => tail(33).map(|h| [&[2u8][..], &h].concat()),
            _ => match layout::posting_suffix(k) {
                Some((_, n)) => self
                    .inner
                    .tree
                    .get(key(prefix::NUMBER, &[&n.to_be_bytes()]))?
                    .and_then(|v| v.get(..layout::LISTING_SLOT_LEN).map(<[u8]>::to_vec)),
                None => None,
            },
        })
    }

    /// The derived entries the record in `slot` implies, if it verifies.
    fn entries_of_slot(&self, slot: &[u8]) -> Result<Option<ListingEntries>, StoreError> {
        let tree = &self.inner.tree;
        let record = tree.get(key(prefix::RECORD, &[slot]))?;
        let record = record.and_then(|r| open_record(&r).ok());
        let number = tree
            .get(key(prefix::INDEXED, &[slot]))?
            .and_then(|v| layout::u64_value(&v));
        Ok(record.map(|r| expected_entries(slot, &r, number)))
    }

    /// Lists derived entries that no record implies (only run when the
    /// counts say there are some).
    fn find_orphans(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        for entry in tree.iter() {
            let (k, v) = entry?;
            if prefix::PACKED.contains(&k[0]) {
                self.find_orphan_postings(report, &k, &v)?;
                continue;
            }
            if k[0] == prefix::BUCKET || !prefix::DERIVED.contains(&k[0]) {
                continue;
            }
            let expected = match self.owner(&k, &v)? {
                Some(slot) => self.entries_of_slot(&slot)?,
                None => None,
            };
            if !expected.is_some_and(|e| e.plain.iter().any(|(ek, _)| ek[..] == k[..])) {
                report.problem(&k, "derived entry that no record implies");
            }
        }
        Ok(())
    }

    fn find_orphan_postings(
        &self,
        report: &mut CheckReport,
        k: &[u8],
        v: &[u8],
    ) -> Result<(), StoreError> {
        let (Some((_, block, _)), Some(chunk)) =
            (layout::parse_chunk_key(k), Chunk::parse_checked(v))
        else {
            return Ok(()); // reported by `check`'s scan
        };
        for (offset, r) in chunk.iter() {
            let number = u64::from(block) * POSTING_BLOCK + u64::from(offset);
            let expected = match self
                .inner
                .tree
                .get(key(prefix::NUMBER, &[&number.to_be_bytes()]))?
            {
                Some(v) => match v.get(..layout::LISTING_SLOT_LEN) {
                    Some(slot) => self.entries_of_slot(slot)?,
                    None => None,
                },
                None => None,
            };
            let posting = Posting {
                chunk: k.to_vec(),
                offset,
                r,
            };
            if !expected.is_some_and(|e| e.postings.contains(&posting)) {
                report.problem(
                    k,
                    format!("posting of listing number {number} that no record implies"),
                );
            }
        }
        Ok(())
    }

    /// Deletes every derived entry and rebuilds them from the records,
    /// verifying each record's signature; records that do not verify are
    /// quarantined. Resumed by `open` if interrupted.
    pub fn reindex(&self) -> Result<ReindexReport, StoreError> {
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        self.inner.search.discard_stale()?;
        let tree = &self.inner.tree;
        tree.insert(meta::REINDEXING, &[1])?;
        self.inner.db.flush()?;
        let mut batch = sled::Batch::default();
        let mut size = 0;
        for entry in tree.iter().keys() {
            let k = entry?;
            if k.first().is_some_and(|p| prefix::DERIVED.contains(p)) {
                batch.remove(k);
                size += 1;
                if size == CHUNK * 16 {
                    tree.apply_batch(std::mem::take(&mut batch))?;
                    size = 0;
                }
            }
        }
        tree.apply_batch(batch)?;
        let swept_until = self.swept_until()?;
        let mut report = ReindexReport::default();
        // The search sequence goes on: the search index is rebuilt below
        // as covering it.
        let kept = WriterState {
            seq: writer.seq,
            journal_from: writer.journal_from,
            ..WriterState::default()
        };
        let mut pending = Pending::new(tree, kept, vec![Fingerprint::default(); BUCKETS]);
        for entry in tree.scan_prefix([prefix::RECORD]) {
            let (k, v) = entry?;
            let slot = &k[1..];
            let record = match open_record(&v) {
                Ok(r) if slot_bytes(&SlotKey::of(&r)) == slot => r,
                outcome => {
                    tracing::warn!(key = %printable_key(&k), ?outcome, "quarantining a record that does not verify");
                    pending.overlay.remove(k.to_vec());
                    pending.overlay.insert(key(prefix::QUARANTINE, &[&k]), v);
                    report.quarantined += 1;
                    continue;
                }
            };
            report.records += 1;
            let number = match listing_expires(record.payload()) {
                Some(expires) if expires > swept_until => {
                    pending.state.next_number += 1;
                    report.indexed_listings += 1;
                    Some(pending.state.next_number)
                }
                _ => None,
            };
            pending
                .overlay
                .put_listing(expected_entries(slot, &record, number))?;
            pending.bucket(slot, record.hash(), true);
            pending.state.counts[layout::kind_index(record.payload())] += 1;
            pending.size += 1;
            if pending.size == CHUNK {
                pending.commit(tree, &[])?;
            }
        }
        pending.overlay.remove(meta::REINDEXING);
        // Buckets emptied by quarantine must be written too.
        pending.touched.extend(0..BUCKETS);
        pending.commit(tree, &[])?;
        self.inner.db.flush()?;
        let seq = pending.state.seq;
        self.install(&mut writer, pending);
        self.rebuild_search(seq)?;
        Ok(report)
    }

    /// Removes the indexes of listings expired at `now` (they are no longer
    /// served anyway) and deletes records whose `forget_after` time has
    /// passed. Run it periodically (hourly is plenty); flushes before
    /// returning.
    pub fn sweep(&self, now: Timestamp) -> Result<SweepReport, StoreError> {
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        self.inner.search.discard_stale()?;
        let tree = &self.inner.tree;
        let swept_until = self.swept_until()?.max(now).to_be_bytes();
        let mark = [(meta::SWEPT_UNTIL, swept_until.to_vec())];
        let mut report = SweepReport::default();
        let mut unindexed = Vec::new();
        let buckets = self.inner.buckets.read().expect("bucket lock").clone();
        let mut pending = Pending::new(tree, writer.clone(), buckets);
        let due = |p: u8| tree.range(vec![p]..key(p, &[&now.saturating_add(1).to_be_bytes()]));
        let expired: Vec<Vec<u8>> = due(prefix::EXPIRY)
            .keys()
            .map(|k| k.map(|k| k[9..].to_vec()))
            .collect::<Result<_, _>>()?;
        for chunk in expired.chunks(CHUNK) {
            for slot in chunk {
                if let Some((_, entries)) = self.stored_listing_entries(&pending.overlay, slot)? {
                    pending.overlay.remove_listing(entries)?;
                    report.unindexed += 1;
                    unindexed.push(slot.clone());
                }
            }
            self.commit_unindexing(&mut pending, &mark, &mut unindexed)?;
        }
        let forgettable: Vec<Vec<u8>> = due(prefix::FORGET)
            .keys()
            .map(|k| k.map(|k| k[9..].to_vec()))
            .collect::<Result<_, _>>()?;
        for chunk in forgettable.chunks(CHUNK) {
            for slot in chunk {
                let record_key = key(prefix::RECORD, &[slot]);
                let Some(v) = tree.get(&record_key)? else {
                    continue;
                };
                let stored = StoredRecord::decode(&record_key, &v)?;
                let sync_key = key(prefix::SYNC, &[&SyncKey::of_slot_bytes(slot).0]);
                let forget = match tree.get(&sync_key)? {
                    Some(s) => SyncValue::decode(&sync_key, &s)?.forget_after,
                    None => return Err(StoreError::corrupt(&sync_key, "missing sync entry")),
                };
                for (k, _) in layout::record_entries(slot, &stored.payload, &stored.hash, forget) {
                    pending.overlay.remove(k);
                }
                if let Some((_, entries)) = self.stored_listing_entries(&pending.overlay, slot)? {
                    pending.overlay.remove_listing(entries)?;
                    unindexed.push(slot.clone());
                }
                pending.overlay.remove(record_key);
                pending.bucket(slot, &stored.hash, false);
                pending.state.counts[layout::kind_index(&stored.payload)] -= 1;
                report.forgotten += 1;
            }
            self.commit_unindexing(&mut pending, &mark, &mut unindexed)?;
        }
        pending.commit(tree, &mark)?;
        self.inner.db.flush()?;
        let seq = pending.state.seq;
        self.install(&mut writer, pending);
        drop(writer);
        if let Some(search) = self.inner.search.enabled() {
            search.publish(seq)?;
        }
        Ok(report)
    }

    /// Commits a sweep chunk; listings it unindexed get a search journal
    /// entry in the same sled batch and are staged for the search index (as
    /// `apply_batch` does), so a crash after the flush is replayed at open.
    fn commit_unindexing(
        &self,
        pending: &mut Pending<'_>,
        mark: &[(&[u8], Vec<u8>)],
        unindexed: &mut Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let search = self.inner.search.enabled();
        let Some(search) = search.filter(|_| !unindexed.is_empty()) else {
            unindexed.clear();
            return pending.commit(&self.inner.tree, mark);
        };
        pending.state.seq += 1;
        let seq = pending.state.seq;
        let changes: Vec<index::Change> = unindexed
            .drain(..)
            .map(|slot| index::Change { slot, doc: None })
            .collect();
        let journal_key = index::journal_key(seq);
        let mut extra = mark.to_vec();
        extra.push((&journal_key, index::journal_value(&changes)));
        extra.push((meta::SEARCH_SEQ, seq.to_be_bytes().to_vec()));
        pending.commit(&self.inner.tree, &extra)?;
        search.stage(seq, changes);
        Ok(())
    }

    /// The index entries of the listing stored in `slot`, if it is indexed.
    fn stored_listing_entries(
        &self,
        reader: &dyn Reader,
        slot: &[u8],
    ) -> Result<Option<(u64, ListingEntries)>, StoreError> {
        let record_key = key(prefix::RECORD, &[slot]);
        match reader.get(&record_key)? {
            Some(v) => crate::indexed_entries(
                reader,
                slot,
                &StoredRecord::decode(&record_key, &v)?.payload,
            ),
            None => Ok(None),
        }
    }
}
