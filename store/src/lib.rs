//! Mutua's store: the full local replica of the federation's records on
//! sled, with the indexes that answer queries and the fingerprints that
//! reconciliation needs.
//!
//! # Durability contract
//!
//! - [`Store::apply`] and [`Store::apply_batch`] return `Ok` only after
//!   `sled::Db::flush` returned: every record whose outcome is `New`,
//!   `Replaced` or `Equivocation { stored: true }` is then on disk, with its
//!   indexes. A batch is flushed once, after its last record.
//! - Each record is written with one `sled::Tree::apply_batch` (record,
//!   indexes, sync entry, fingerprint bucket and counters together), so after
//!   a crash a record is either fully present or absent, never half-indexed.
//!   Records of a batch that was not acknowledged may or may not survive.
//! - `sweep` and `reindex` flush before returning; their batches are
//!   idempotent, so a crash in the middle is repaired by running them again
//!   (an interrupted reindex is resumed by `open`).
//!
//! # Threads
//!
//! [`Store`] is a cheap `Clone` (an `Arc`), `Send + Sync`. Writes are
//! serialised by one writer lock; reads run concurrently with them. Every
//! method blocks on disk I/O: call it from tokio through `spawn_blocking`.

mod error;
pub mod geo;
mod layout;
mod maintenance;
mod members;
mod query;
pub mod refdata;
pub mod sync;
pub mod synth;
pub mod text;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use mutua_protocol::merge::forget_after;
use mutua_protocol::{
    check_admission_right, check_membership, merge, open as open_record, rules, Certificate,
    Membership, MembershipError, MergeOutcome, Payload, PublicKey, Rank, RecordHash, SignedRecord,
    SlotKey, Timestamp,
};
use sha2::{Digest, Sha256};

pub use error::{OpenError, QueryError, Rejection, StoreError};
pub use maintenance::{CheckReport, Problem, ReindexReport, SweepReport};
pub use query::{Area, Center, Cursor, Hit, Near, Query, QueryPage, Side, Sort};
pub use sync::{Fingerprint, SyncKey, SyncRange};

use layout::{key, meta, prefix, slot_bytes, StoredRecord, Summary, SyncValue};
use members::{MemberSet, TreeView};
use sync::{item_hash, BUCKETS};

/// sled's page cache by default: small, because a town hall's node shares a
/// modest machine. Raise it for faster queries on large replicas.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Where and how to open the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The store's directory (created if absent).
    pub path: PathBuf,
    /// The most memory sled's page cache may use.
    pub cache_capacity_bytes: u64,
    /// The federation anchors this node trusts.
    pub anchors: Vec<PublicKey>,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>, anchors: Vec<PublicKey>) -> Self {
        StoreConfig {
            path: path.into(),
            cache_capacity_bytes: DEFAULT_CACHE_BYTES,
            anchors,
        }
    }
}

/// What applying a record did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub outcome: ApplyOutcome,
    pub hash: RecordHash,
    pub slot: SlotKey,
}

/// The outcome of applying one record, for the caller's peer scoring.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyOutcome {
    /// The slot was empty; the record is stored.
    New,
    /// The record won over the stored one, which is gone (a withdrawal also
    /// purges the listing's indexes).
    Replaced,
    /// The stored record wins; nothing changed.
    IgnoredOld,
    /// This very record is already stored; nothing changed.
    IgnoredDuplicate,
    /// The author signed two different records of the same version for one
    /// slot. Every node keeps the same one; `stored` says whether it is this.
    Equivocation { stored: bool },
    /// The record was refused; nothing changed.
    Rejected(Rejection),
}

impl ApplyOutcome {
    /// Whether the record is now stored (and should be forwarded).
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            ApplyOutcome::New
                | ApplyOutcome::Replaced
                | ApplyOutcome::Equivocation { stored: true }
        )
    }

    /// A stable name for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            ApplyOutcome::New => "new",
            ApplyOutcome::Replaced => "replaced",
            ApplyOutcome::IgnoredOld => "ignored_old",
            ApplyOutcome::IgnoredDuplicate => "ignored_duplicate",
            ApplyOutcome::Equivocation { .. } => "equivocation",
            ApplyOutcome::Rejected(r) => r.code(),
        }
    }
}

/// Record counts and disk use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub certificates: u64,
    pub revocations: u64,
    pub offers: u64,
    pub needs: u64,
    pub withdrawals: u64,
    /// Every record stored (the synced set).
    pub total: u64,
    /// sled's files, in bytes.
    pub disk_bytes: u64,
}

/// The writer's counters, persisted in every write batch.
#[derive(Clone, Debug, Default)]
struct WriterState {
    next_number: u64,
    counts: [u64; 5],
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    anchors: Vec<PublicKey>,
    writer: Mutex<WriterState>,
    /// In-memory copy of the persisted bucket fingerprints; changed only by
    /// the holder of `writer`, after its batch is applied.
    buckets: RwLock<Vec<Fingerprint>>,
    members: RwLock<MemberSet>,
}

/// The local replica. See the crate docs for the durability contract.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn encode_counts(counts: &[u64; 5]) -> Vec<u8> {
    counts.iter().flat_map(|c| c.to_be_bytes()).collect()
}

fn rank_of(payload: &Payload, hash: RecordHash) -> Rank {
    let (version, withdrawal) = match payload {
        Payload::Offer(l) | Payload::Need(l) => (l.version, false),
        Payload::Withdrawal(w) => (w.version, true),
        Payload::Certificate(_) | Payload::Revocation(_) => (0, false),
    };
    Rank {
        version,
        withdrawal,
        hash,
    }
}

impl Store {
    /// Opens (or creates) the store. Refuses a store written with another
    /// layout version, naming both versions.
    pub fn open(config: StoreConfig) -> Result<Store, OpenError> {
        let path = config.path.clone();
        let sled_err = |source| OpenError::Sled {
            path: path.clone(),
            source,
        };
        let db = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity_bytes)
            .open()
            .map_err(sled_err)?;
        let fresh = !db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == layout::TREE.as_bytes())
            && db.is_empty();
        let tree = db.open_tree(layout::TREE).map_err(sled_err)?;
        match tree.get(meta::LAYOUT).map_err(sled_err)? {
            None if fresh && tree.is_empty() => {
                tree.insert(meta::LAYOUT, &layout::LAYOUT_VERSION.to_be_bytes())
                    .map_err(sled_err)?;
                db.flush().map_err(sled_err)?;
            }
            None => return Err(OpenError::UnknownLayout { path }),
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| OpenError::Corrupt {
                        path: path.clone(),
                        what: "the layout version is not a 4-byte number".into(),
                    })?;
                let supported = layout::LAYOUT_VERSION;
                if found > supported {
                    return Err(OpenError::LayoutTooNew {
                        path,
                        found,
                        supported,
                    });
                }
                if found < supported {
                    // No older layout has been released (1 was pre-release):
                    // nothing to migrate.
                    return Err(OpenError::LayoutTooOld {
                        path,
                        found,
                        supported,
                    });
                }
            }
        }
        let read_u64 = |k: &[u8]| -> Result<u64, OpenError> {
            Ok(tree
                .get(k)
                .map_err(sled_err)?
                .and_then(|v| layout::u64_value(&v))
                .unwrap_or(0))
        };
        let mut state = WriterState {
            next_number: read_u64(meta::NEXT_NUMBER)?,
            counts: [0; 5],
        };
        if let Some(v) = tree.get(meta::COUNTS).map_err(sled_err)? {
            for (i, chunk) in v.chunks_exact(8).take(5).enumerate() {
                state.counts[i] = layout::u64_value(chunk).unwrap_or(0);
            }
        }
        // A damaged bucket loads as empty; `check` reports it and `reindex`
        // rebuilds it.
        let mut buckets = vec![Fingerprint::default(); BUCKETS];
        for entry in tree.scan_prefix([prefix::BUCKET]) {
            let (k, v) = entry.map_err(sled_err)?;
            let index = k
                .get(1..3)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            match (index, Fingerprint::decode(&v)) {
                (Some(i), Some(f)) if i < BUCKETS && k.len() == 3 => buckets[i] = f,
                _ => {
                    tracing::warn!(key = %layout::printable_key(&k), "damaged fingerprint bucket ignored; run check")
                }
            }
        }
        let store = Store {
            inner: Arc::new(Inner {
                db,
                tree,
                path: config.path.clone(),
                anchors: config.anchors,
                writer: Mutex::new(state),
                buckets: RwLock::new(buckets),
                members: RwLock::new(MemberSet::stale()),
            }),
        };
        if store
            .inner
            .tree
            .contains_key(meta::REINDEXING)
            .map_err(sled_err)?
        {
            tracing::warn!("resuming an interrupted reindex");
            store.reindex().map_err(|e| OpenError::Corrupt {
                path: store.inner.path.clone(),
                what: format!("resuming an interrupted reindex failed: {e}"),
            })?;
        }
        Ok(store)
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// Applies one record opened by `mutua_protocol::open`: time rules,
    /// membership (certificates: the issuer must be allowed to admit; other
    /// kinds: the signer must be a member), then the merge. Durable when it
    /// returns `Ok`.
    pub fn apply(&self, record: SignedRecord, now: Timestamp) -> Result<Applied, StoreError> {
        let mut out = self.apply_batch(vec![record], now)?;
        Ok(out.pop().expect("one outcome per record"))
    }

    /// Applies records in order (a later record sees the earlier ones), each
    /// atomically, then flushes once. On `Err`, a prefix of the batch may be
    /// stored and is not guaranteed durable.
    pub fn apply_batch(
        &self,
        records: Vec<SignedRecord>,
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        let mut outcomes = Vec::with_capacity(records.len());
        {
            let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
            for record in &records {
                outcomes.push(self.apply_one(&mut writer, record, now)?);
            }
        }
        if outcomes.iter().any(|a| a.outcome.is_stored()) {
            // Outside the writer lock: concurrent callers' flushes overlap
            // (group commit), and each covers every write made before it.
            self.inner.db.flush()?;
        }
        Ok(outcomes)
    }

    fn apply_one(
        &self,
        writer: &mut WriterState,
        record: &SignedRecord,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let slot = SlotKey::of(record);
        let applied = |outcome| Applied {
            outcome,
            hash: *record.hash(),
            slot,
        };
        if let Err(e) = rules::check_time(record.payload(), now) {
            return Ok(applied(ApplyOutcome::Rejected(e.into())));
        }
        let tree = &self.inner.tree;
        let slot_key = slot_bytes(&slot);
        let record_key = key(prefix::RECORD, &[&slot_key]);
        let current = match tree.get(&record_key)? {
            Some(v) => Some(StoredRecord::decode(&record_key, &v)?),
            None => None,
        };
        let incoming = rank_of(record.payload(), *record.hash());
        let outcome = merge(
            current
                .as_ref()
                .map(|c| rank_of(&c.payload, c.hash))
                .as_ref(),
            &incoming,
        );
        match outcome {
            MergeOutcome::Duplicate => return Ok(applied(ApplyOutcome::IgnoredDuplicate)),
            MergeOutcome::Older => return Ok(applied(ApplyOutcome::IgnoredOld)),
            MergeOutcome::Equivocation {
                incoming_wins: false,
            } => return Ok(applied(ApplyOutcome::Equivocation { stored: false })),
            _ => {}
        }
        let view = TreeView::new(tree);
        let membership = match record.payload() {
            Payload::Certificate(c) => {
                check_admission_right(&view, &self.inner.anchors, &c.issuer, now)
            }
            _ => check_membership(&view, &self.inner.anchors, record.signer(), now),
        };
        if let Err(e) = view.finish(membership)? {
            return Ok(applied(ApplyOutcome::Rejected(e.into())));
        }

        let mut next = writer.clone();
        let mut batch = sled::Batch::default();
        let sync_key = SyncKey::of_slot_bytes(&slot_key);
        let mut bucket = self.inner.buckets.read().expect("bucket lock")[sync_key.bucket()];
        let mut number = None;
        if let Some(old) = &current {
            let sync_entry_key = key(prefix::SYNC, &[&sync_key.0]);
            let old_sync = match tree.get(&sync_entry_key)? {
                Some(v) => SyncValue::decode(&sync_entry_key, &v)?,
                None => return Err(StoreError::corrupt(&sync_entry_key, "missing sync entry")),
            };
            for (k, _) in
                layout::record_entries(&slot_key, &old.payload, &old.hash, old_sync.forget_after)
            {
                batch.remove(k);
            }
            bucket.remove_item(&item_hash(&sync_key, &old.hash));
            next.counts[layout::kind_index(&old.payload)] -= 1;
            if let Some((n, entries)) = self.indexed_entries(&slot_key, &old.payload)? {
                number = Some(n);
                entries.into_iter().for_each(|(k, _)| batch.remove(k));
            }
        }
        let hash = record.hash();
        for (k, v) in
            layout::record_entries(&slot_key, record.payload(), hash, forget_after(record))
        {
            batch.insert(k, v);
        }
        batch.insert(record_key, record.bytes());
        bucket.add_item(&item_hash(&sync_key, hash));
        next.counts[layout::kind_index(record.payload())] += 1;
        if let (Some(side), Some(listing)) = (
            layout::side_byte(record.payload()),
            record.payload().listing(),
        ) {
            let n = number.unwrap_or_else(|| {
                next.next_number += 1;
                next.next_number
            });
            for (k, v) in layout::listing_entries(&slot_key, side, listing, n) {
                batch.insert(k, v);
            }
        }
        batch.insert(
            key(prefix::BUCKET, &[&(sync_key.bucket() as u16).to_be_bytes()]),
            &bucket.encode()[..],
        );
        batch.insert(meta::COUNTS, encode_counts(&next.counts));
        batch.insert(meta::NEXT_NUMBER, &next.next_number.to_be_bytes());
        tree.apply_batch(batch)?;

        *writer = next;
        self.inner.buckets.write().expect("bucket lock")[sync_key.bucket()] = bucket;
        if matches!(
            record.payload(),
            Payload::Certificate(_) | Payload::Revocation(_)
        ) {
            self.inner
                .members
                .write()
                .expect("member lock")
                .invalidate();
        }
        Ok(applied(match (outcome, current) {
            (MergeOutcome::Equivocation { .. }, _) => ApplyOutcome::Equivocation { stored: true },
            (_, None) => ApplyOutcome::New,
            (_, Some(_)) => ApplyOutcome::Replaced,
        }))
    }

    /// The listing number and index entries of a stored offer or need, if it
    /// is indexed (not yet swept after expiry).
    fn indexed_entries(
        &self,
        slot: &[u8],
        payload: &Payload,
    ) -> Result<Option<(u64, layout::Entries)>, StoreError> {
        let (Some(side), Some(listing)) = (layout::side_byte(payload), payload.listing()) else {
            return Ok(None);
        };
        let summary_key = key(prefix::SUMMARY, &[slot]);
        let Some(v) = self.inner.tree.get(&summary_key)? else {
            return Ok(None);
        };
        let summary = Summary::decode(&v)
            .ok_or_else(|| StoreError::corrupt(&summary_key, "unreadable listing summary"))?;
        Ok(Some((
            summary.number,
            layout::listing_entries(slot, side, listing, summary.number),
        )))
    }

    fn read_record(&self, slot_key: &[u8]) -> Result<Option<SignedRecord>, StoreError> {
        let record_key = key(prefix::RECORD, &[slot_key]);
        match self.inner.tree.get(&record_key)? {
            Some(v) => open_record(&v)
                .map(Some)
                .map_err(|e| StoreError::corrupt(&record_key, e.to_string())),
            None => Ok(None),
        }
    }

    /// The record stored in a slot, its signature verified again.
    pub fn get(&self, slot: &SlotKey) -> Result<Option<SignedRecord>, StoreError> {
        self.read_record(&slot_bytes(slot))
    }

    /// Whether `key` is a member at `now`, with the chain that proves it.
    pub fn membership(
        &self,
        key: &PublicKey,
        now: Timestamp,
    ) -> Result<Result<Membership, MembershipError>, StoreError> {
        let view = TreeView::new(&self.inner.tree);
        let result = check_membership(&view, &self.inner.anchors, key, now);
        view.finish(result)
    }

    /// The members at `now` (cached; see the `members` module).
    fn with_members<T>(
        &self,
        now: Timestamp,
        f: impl FnOnce(&MemberSet) -> T,
    ) -> Result<T, StoreError> {
        {
            let members = self.inner.members.read().expect("member lock");
            if members.is_valid_at(now) {
                return Ok(f(&members));
            }
        }
        let computed = MemberSet::compute(&self.inner.tree, &self.inner.anchors, now)?;
        let result = f(&computed);
        *self.inner.members.write().expect("member lock") = computed;
        Ok(result)
    }

    /// Every stored certificate, and whether it is revoked by its issuer or
    /// an anchor.
    pub fn certificates(&self) -> Result<Vec<(RecordHash, Certificate, bool)>, StoreError> {
        let view = TreeView::new(&self.inner.tree);
        let mut out = Vec::new();
        for entry in self.inner.tree.scan_prefix([prefix::RECORD, 1]) {
            let (k, v) = entry?;
            let record = StoredRecord::decode(&k, &v)?;
            if let Payload::Certificate(c) = record.payload {
                let revoked = mutua_protocol::membership::is_revoked(
                    &view,
                    &self.inner.anchors,
                    &record.hash,
                    &c,
                );
                out.push((record.hash, c, revoked));
            }
        }
        view.finish(out)
    }

    /// Every stored record (certificates, revocations, winning listings and
    /// tombstones, expired ones until the sweep forgets them), in key order,
    /// signatures verified again.
    pub fn export(&self) -> impl Iterator<Item = Result<SignedRecord, StoreError>> + 'static {
        self.inner.tree.scan_prefix([prefix::RECORD]).map(|entry| {
            let (k, v) = entry?;
            open_record(&v).map_err(|e| StoreError::corrupt(&k, e.to_string()))
        })
    }

    /// Every stored envelope as stored, without verifying signatures again:
    /// for a bulk copy to a trusted sink, and the benchmark's naive scan.
    pub fn envelopes(&self) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + 'static {
        self.inner
            .tree
            .scan_prefix([prefix::RECORD])
            .map(|entry| Ok(entry?.1.to_vec()))
    }

    /// SHA-256 over the synced set in sync-key order (`sync key ‖ record
    /// hash` per item): equal on two replicas iff they store the same records.
    pub fn digest(&self) -> Result<[u8; 32], StoreError> {
        let mut hasher = Sha256::new();
        for entry in self.inner.tree.scan_prefix([prefix::SYNC]) {
            let (k, v) = entry?;
            let value = SyncValue::decode(&k, &v)?;
            hasher.update(&k[1..]);
            hasher.update(value.hash.0);
        }
        Ok(hasher.finalize().into())
    }

    /// Counts by kind and disk use.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let counts = self
            .inner
            .writer
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .counts;
        Ok(StoreStats {
            certificates: counts[0],
            revocations: counts[1],
            offers: counts[2],
            needs: counts[3],
            withdrawals: counts[4],
            total: counts.iter().sum(),
            disk_bytes: self.inner.db.size_on_disk()?,
        })
    }

    /// The fingerprint of a range of the synced set: whole buckets from
    /// memory, at most two partial buckets scanned.
    pub fn sync_fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, StoreError> {
        let first = range.start.bucket();
        let end_bucket = range.end.map_or(BUCKETS, |e| e.bucket());
        let mut total = Fingerprint::default();
        if first == end_bucket {
            return self.scan_fingerprint(range);
        }
        let mut full_from = first;
        if range.start != SyncKey::bucket_start(first) {
            total.merge(&self.scan_fingerprint(&SyncRange {
                start: range.start,
                end: Some(SyncKey::bucket_start(first + 1)),
            })?);
            full_from = first + 1;
        }
        {
            let buckets = self.inner.buckets.read().expect("bucket lock");
            buckets[full_from..end_bucket]
                .iter()
                .for_each(|b| total.merge(b));
        }
        if let Some(end) = range.end {
            if end != SyncKey::bucket_start(end_bucket) {
                total.merge(&self.scan_fingerprint(&SyncRange {
                    start: SyncKey::bucket_start(end_bucket),
                    end: Some(end),
                })?);
            }
        }
        Ok(total)
    }

    fn sync_entries(
        &self,
        range: &SyncRange,
    ) -> impl Iterator<Item = Result<(SyncKey, SyncValue), StoreError>> {
        let start = key(prefix::SYNC, &[&range.start.0]);
        let iter = match range.end {
            Some(end) => self.inner.tree.range(start..key(prefix::SYNC, &[&end.0])),
            None => self.inner.tree.range(start..vec![prefix::SYNC + 1]),
        };
        iter.map(|entry| {
            let (k, v) = entry?;
            let sync_key = k
                .get(1..)
                .and_then(|s| <[u8; 32]>::try_from(s).ok())
                .ok_or_else(|| StoreError::corrupt(&k, "sync key is not 32 bytes"))?;
            Ok((SyncKey(sync_key), SyncValue::decode(&k, &v)?))
        })
    }

    fn scan_fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, StoreError> {
        let mut f = Fingerprint::default();
        for entry in self.sync_entries(range) {
            let (k, v) = entry?;
            f.add_item(&item_hash(&k, &v.hash));
        }
        Ok(f)
    }

    /// The first `limit` items of a range, in sync-key order.
    pub fn sync_items(
        &self,
        range: &SyncRange,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, StoreError> {
        self.sync_entries(range)
            .take(limit)
            .map(|e| e.map(|(k, v)| (k, v.hash)))
            .collect()
    }

    /// The envelope bytes of the item with this sync key, as stored, without
    /// verifying them again: what sync sends (the receiver verifies).
    pub fn envelope_by_sync_key(&self, sync_key: &SyncKey) -> Result<Option<Vec<u8>>, StoreError> {
        let k = key(prefix::SYNC, &[&sync_key.0]);
        match self.inner.tree.get(&k)? {
            Some(v) => {
                let slot = SyncValue::decode(&k, &v)?.slot;
                Ok(self
                    .inner
                    .tree
                    .get(key(prefix::RECORD, &[&slot]))?
                    .map(|bytes| bytes.to_vec()))
            }
            None => Ok(None),
        }
    }

    /// The record of the item with this sync key.
    pub fn get_by_sync_key(&self, sync_key: &SyncKey) -> Result<Option<SignedRecord>, StoreError> {
        let k = key(prefix::SYNC, &[&sync_key.0]);
        match self.inner.tree.get(&k)? {
            Some(v) => self.read_record(&SyncValue::decode(&k, &v)?.slot),
            None => Ok(None),
        }
    }
}
