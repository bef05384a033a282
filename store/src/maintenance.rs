//! Operator maintenance: `check` (verify derived entries, the search index
//! and signatures against the records), `reindex` (rebuild every derived
//! entry and the search index from the records) and `sweep` (unindex
//! expired listings, forget records past their `forget_after` time and
//! those of keys no longer members: `purge` module).
//!
//! All three hold the writer lock for their whole run, so they see no
//! concurrent write; queries keep running.

use std::collections::BTreeSet;

use mutua_protocol::merge::forget_after;
use mutua_protocol::{open as open_record, Payload, SignedRecord, SlotKey, Timestamp};

use crate::error::StoreError;
use crate::index;
use crate::layout::{self, key, meta, prefix, printable_key, slot_bytes, SyncValue};
use crate::overlay::{Overlay, Reader, Replica};
use crate::sync::{bucket, decode_fingerprint, encode_fingerprint, Fingerprint, SyncKey, BUCKETS};
use crate::{counts, Store, WriterState};

mod purge;

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
    /// Offers and needs the search index is to hold.
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
    /// Of those, listings, withdrawals and lending records whose signer is
    /// no longer a member.
    pub of_non_members: u64,
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
    fn new(replica: Replica<'a>, state: WriterState, buckets: Vec<Fingerprint>) -> Self {
        Pending {
            overlay: Overlay::new(replica),
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
        // A snapshot: these batches carry no counts change in a journal
        // entry (`counts` module).
        self.overlay.insert(
            meta::COUNTS,
            counts::snapshot(&self.state.counts, self.state.seq),
        );
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
    pub(crate) fn swept_until(&self) -> Result<Timestamp, StoreError> {
        Ok(self
            .inner
            .tree
            .get(meta::SWEPT_UNTIL)?
            .and_then(|v| layout::u64_value(&v))
            .unwrap_or(0))
    }

    /// Installs what a maintenance pass wrote; `membership_changed` when it
    /// may have changed certificates or revocations.
    fn install(&self, writer: &mut WriterState, pending: Pending<'_>, membership_changed: bool) {
        *writer = pending.state;
        *self.inner.buckets.write().expect("bucket lock") = pending.buckets;
        if membership_changed {
            self.inner
                .members
                .write()
                .expect("member lock")
                .invalidate();
        }
    }

    /// Deletes a stored record with every entry it implies, from its
    /// bucket and the counts; returns the offer whose calendar it was in,
    /// for a lending record.
    fn forget_stored(
        &self,
        pending: &mut Pending<'_>,
        slot: &[u8],
        stored: &layout::StoredRecord,
        forget_after: Timestamp,
    ) -> Result<Option<(mutua_protocol::PublicKey, mutua_protocol::ListingId)>, StoreError> {
        for (k, _) in layout::record_entries(slot, &stored.payload, &stored.hash, forget_after) {
            pending.overlay.remove(k);
        }
        pending.overlay.remove(key(prefix::RECORD, &[slot]));
        pending.bucket(slot, &stored.hash, false);
        pending.state.counts[layout::kind_index(&stored.payload)] -= 1;
        Ok(layout::lending_offer(&stored.payload).map(|(a, o)| (*a, *o)))
    }

    /// The forget time a slot's sync entry holds.
    fn stored_forget_after(pending: &Pending<'_>, slot: &[u8]) -> Result<Timestamp, StoreError> {
        let sync_key = key(prefix::SYNC, &[&SyncKey::of_slot_bytes(slot).0]);
        match pending.overlay.get(&sync_key)? {
            Some(s) => Ok(SyncValue::decode(&sync_key, &s)?.forget_after),
            None => Err(StoreError::corrupt(&sync_key, "missing sync entry")),
        }
    }

    /// The record a stored `r` value holds, unpacked, its signature
    /// verified again.
    fn open_stored(&self, k: &[u8], v: &[u8]) -> Result<SignedRecord, String> {
        let envelope = self.inner.packing.unpack(k, v).map_err(|e| e.to_string())?;
        open_record(&envelope).map_err(|e| e.to_string())
    }

    /// Verifies every record's signature and slot, that every derived entry
    /// a record implies is present with the right value, that no derived
    /// entry is left over, the fingerprint buckets and counters, and the
    /// search index against sled both ways. Reports damaged values instead
    /// of failing on them.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = &self.inner.tree;
        let mut report = CheckReport::default();
        let mut buckets = vec![Fingerprint::default(); BUCKETS];
        let mut counts = [0u64; layout::KIND_COUNTS];
        let mut expected_derived = 0u64;
        for entry in tree.scan_prefix([prefix::RECORD]) {
            let (k, v) = entry?;
            report.records += 1;
            let slot = &k[1..];
            let record = match self.open_stored(&k, &v) {
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
            for (ek, ev) in expected_entries(slot, &record) {
                expected_derived += 1;
                match tree.get(&ek)? {
                    Some(found) if found == ev => {}
                    Some(_) => report.problem(&ek, "derived entry has a wrong value"),
                    None => report.problem(&ek, "derived entry is missing"),
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
                Some(p) if prefix::DERIVED.contains(p) => report.derived_entries += 1,
                Some(&prefix::FORGET) => {
                    report.problem(&k, "forget entry of layout 9 or older (reindex deletes it)")
                }
                Some(p) if prefix::OBSOLETE.contains(p) => report.problem(
                    &k,
                    "entry of an older layout's query index (reindex deletes it)",
                ),
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
        // What this process counts, and what the next open would read.
        let persisted = counts::read(tree)?;
        if (persisted.counts != counts || writer.counts != counts) && report.records > 0 {
            report.problem(meta::COUNTS, "record counters do not match the records");
        }
        if persisted.seq != writer.seq {
            report.problem(
                meta::COUNTS,
                "the search sequence sled holds differs from the writer's",
            );
        }
        if report.derived_entries != expected_derived {
            self.find_orphans(&mut report)?;
        }
        report.indexed_listings = self.check_search(&mut report)?;
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
    fn owner(k: &[u8], v: &[u8]) -> Option<Vec<u8>> {
        let tail = |from: usize| k.get(from..).map(<[u8]>::to_vec);
        match k[0] {
            prefix::SYNC => v.get(40..).map(<[u8]>::to_vec),
            prefix::CERT_SUBJECT => tail(33).map(|h| [&[1u8][..], &h].concat()),
            prefix::REVOKES => tail(33).map(|h| [&[2u8][..], &h].concat()),
            _ => None,
        }
    }

    /// Lists derived entries that no record implies (only run when the
    /// counts say there are some).
    fn find_orphans(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        for entry in tree.iter() {
            let (k, v) = entry?;
            if k[0] == prefix::BUCKET || !prefix::DERIVED.contains(&k[0]) {
                continue;
            }
            let record = match Self::owner(&k, &v) {
                Some(slot) => tree
                    .get(key(prefix::RECORD, &[&slot]))?
                    .and_then(|r| self.open_stored(&k, &r).ok())
                    .map(|r| (slot, r)),
                None => None,
            };
            let implied = record.is_some_and(|(slot, r)| {
                expected_entries(&slot, &r)
                    .iter()
                    .any(|(ek, _)| ek[..] == k[..])
            });
            if !implied {
                report.problem(&k, "derived entry that no record implies");
            }
        }
        Ok(())
    }

    /// Deletes every derived entry and rebuilds them and the search index
    /// from the records, verifying each record's signature; records that do
    /// not verify are quarantined. Resumed by `open` if interrupted.
    pub fn reindex(&self) -> Result<ReindexReport, StoreError> {
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = &self.inner.tree;
        tree.insert(meta::REINDEXING, &[1])?;
        self.inner.db.flush()?;
        let mut batch = sled::Batch::default();
        let mut size = 0;
        for entry in tree.iter().keys() {
            let k = entry?;
            if k.first()
                .is_some_and(|p| prefix::DERIVED.contains(p) || prefix::OBSOLETE.contains(p))
            {
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
        let mut pending = Pending::new(self.replica(), kept, vec![Fingerprint::default(); BUCKETS]);
        for entry in tree.scan_prefix([prefix::RECORD]) {
            let (k, v) = entry?;
            let slot = &k[1..];
            let record = match self.open_stored(&k, &v) {
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
            if listing_expires(record.payload()).is_some_and(|e| e > swept_until) {
                report.indexed_listings += 1;
            }
            for (k, v) in expected_entries(slot, &record) {
                pending.overlay.insert(k, v);
            }
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
        self.install(&mut writer, pending, true);
        self.rebuild_search(seq)?;
        Ok(report)
    }

    /// Removes from the search index the listings expired at `now` (they
    /// are no longer served anyway) and deletes records whose
    /// `forget_after` time has passed. Run it periodically (hourly is
    /// plenty); flushes before returning.
    ///
    /// The sweep time goes to sled first: a crash before the index's
    /// commit leaves documents that expired by it, which `check` accepts
    /// and the next sweep removes.
    pub fn sweep(&self, now: Timestamp) -> Result<SweepReport, StoreError> {
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = &self.inner.tree;
        let swept_until = self.swept_until()?.max(now);
        let mark = [(meta::SWEPT_UNTIL, swept_until.to_be_bytes().to_vec())];
        let mut report = SweepReport::default();
        let buckets = self.inner.buckets.read().expect("bucket lock").clone();
        let mut pending = Pending::new(self.replica(), writer.clone(), buckets);
        let mut calendars_changed = BTreeSet::new();
        let mut schedule = self.inner.forget.lock().map_err(|_| StoreError::Poisoned)?;
        let forgettable = schedule.take_due(tree, now)?;
        // Left empty until the sweep succeeded: one that fails half way
        // leaves the next to scan again.
        let kept = std::mem::take(&mut *schedule);
        for chunk in forgettable.chunks(CHUNK) {
            for slot in chunk {
                let record_key = key(prefix::RECORD, &[slot]);
                let Some(stored) = self.replica().record(&record_key)? else {
                    continue;
                };
                let forget = Self::stored_forget_after(&pending, slot)?;
                if forget > now {
                    // A later version, not due yet (the schedule has it if
                    // it is due before its horizon).
                    continue;
                }
                calendars_changed.extend(self.forget_stored(
                    &mut pending,
                    slot,
                    &stored,
                    forget,
                )?);
                report.forgotten += 1;
            }
            pending.commit(tree, &mark)?;
        }
        // The offers whose calendars lost records get their new documents,
        // journaled like an apply's (a crash before the index's commit is
        // replayed at open).
        let mut changes = Vec::new();
        for (author, offer) in &calendars_changed {
            changes.extend(index::offer_change(
                &self.replica(),
                author,
                offer,
                swept_until,
            )?);
        }
        crate::journal_changes(
            &mut pending.overlay,
            &mut pending.state.seq,
            &changes,
            Vec::new(),
        );
        pending.commit(tree, &mark)?;
        self.inner.db.flush()?;
        let seq = pending.state.seq;
        if !changes.is_empty() {
            self.inner.search.stage(seq, changes);
        }
        self.install(&mut writer, pending, report.forgotten > 0);
        *schedule = kept;
        drop(schedule);
        // A forgotten listing expired before its forget time: the same
        // range deletion takes its document.
        report.unindexed = self.inner.search.sweep_expired(swept_until, seq)?;
        report.of_non_members = self.forget_non_members_locked(&mut writer, now)?;
        report.forgotten += report.of_non_members;
        Ok(report)
    }
}

/// The entries a verified record implies in sled.
fn expected_entries(slot: &[u8], record: &SignedRecord) -> layout::Entries {
    layout::record_entries(slot, record.payload(), record.hash(), forget_after(record))
}
