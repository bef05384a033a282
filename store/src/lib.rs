//! Mutua's store: the full local replica of the federation's records on
//! sled (the signed envelopes as received, with what sync and membership
//! need), and a tantivy index beside it that answers the queries.
//!
//! # Durability contract
//!
//! - [`Store::apply`] and [`Store::apply_batch`] return `Ok` only after
//!   `sled::Db::flush` returned: every record whose outcome is `New`,
//!   `Replaced` or `Equivocation { stored: true }` is then on disk, with its
//!   indexes. A batch is flushed once, after its last record.
//! - A call's records are written with as few `sled::Tree::apply_batch`
//!   calls as [`MAX_BATCH_WRITES`] allows; a record (with its indexes, sync
//!   entry, and the fingerprint buckets and counters as they stand after it)
//!   is never split between two, so after a crash a record is either fully
//!   present or absent. Records of a call that was not acknowledged may or
//!   may not survive.
//! - An expired record that is not yet forgettable (`now <
//!   merge::forget_after`) is stored like any other, so that it keeps beating
//!   older versions in the synced set, but an expired listing is not indexed.
//! - The search index (`index` module, tantivy, `search/` in the store's
//!   directory) is the only query index and is derived: after the sled
//!   flush, `apply_batch` writes its changes to a small RAM index that
//!   the next query commits first, so a listing is found by [`Store::query`]
//!   once the call returned; the disk index is committed and synced only at checkpoints
//!   ([`SearchCheckpoints`]: every 1,000 search sequences, 2 s after the
//!   oldest change not saved, and at close), so one record per call costs
//!   no tantivy disk commit. sled's journal of search changes keeps
//!   everything after the last checkpoint, and open replays it (or rebuilds
//!   the index when its files fail their checksums). The index never runs
//!   ahead of sled.
//! - Layout 6 keeps in sled per record only what is written once and
//!   deleted once: the envelope, its sync entry (and fingerprint bucket),
//!   the certificate and revocation lookups (since 10 no forget entry: the
//!   `forget` module schedules the sweep from the sync entries). Since layout
//!   9 sled's pages are raw and the store compresses the envelopes itself
//!   with a dictionary it trains once (`packing` module), and no sled batch
//!   rewrites a metadata value per call: the counts per kind are a
//!   snapshot written at checkpoints, each later batch's change riding in
//!   its search-journal entry, and the search sequence is read from both
//!   at open (`counts` module). Older layouts are migrated at open
//!   (`migrate` module).
//! - `sweep` and `reindex` flush before returning; their batches are
//!   idempotent, so a crash in the middle is repaired by running them again
//!   (an interrupted reindex is resumed by `open`).
//!
//! # Threads
//!
//! [`Store`] is a cheap `Clone` (an `Arc`), `Send + Sync`. Writes are
//! serialised by one writer lock; reads run concurrently with them. Every
//! method blocks on disk I/O: call it from tokio through `spawn_blocking`.

mod compact;
mod counts;
mod engine;
mod error;
mod forget;
mod index;
mod layout;
mod lending;
mod maintenance;
mod member_cache;
mod members;
mod migrate;
mod overlay;
mod packing;
pub mod places;
mod query;
pub mod refdata;
pub mod sync;
#[cfg(feature = "synth")]
pub mod synth;
pub mod text;
pub mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use mutua_protocol::merge::forget_after;
use mutua_protocol::{
    check_admission_right, check_membership, merge, open as open_record, rules, Certificate,
    Membership, MembershipError, MergeOutcome, Payload, PublicKey, Rank, RecordError, RecordHash,
    SignedRecord, SlotKey, Timestamp,
};
use sha2::{Digest, Sha256};

pub use compact::{compact, CompactReport};
pub use engine::{open_raw_sled, SledSettings, DEFAULT_COMPRESSION_LEVEL};
pub use error::{CompactError, OpenError, QueryError, Rejection, StoreError};
pub use index::{SearchCheckpoints, SearchIndexStats, SearchOutcome};
pub use layout::LAYOUT_VERSION;
pub use lending::LendingRecord;
pub use maintenance::{CheckReport, Problem, ReindexReport, SweepReport};
pub use query::{Area, Center, Cursor, FreeFor, Hit, Near, Query, QueryPage, Side, Sort};
pub use sync::{Fingerprint, SyncKey, SyncRange};

use engine::{is_lock_error, open_sled, reclaim_sled_garbage};
use layout::{key, meta, prefix, slot_bytes, StoredRecord, SyncValue};
use members::{MemberSet, TreeView};
use overlay::{Overlay, Reader, Replica};
use sync::{bucket, decode_fingerprint, encode_fingerprint, BUCKETS};

/// The most keys one sled batch of `apply_batch` writes (a record's keys are
/// never split). sled 0.34 copies a leaf for every key it inserts and frees
/// the old copies only when the batch ends, so one batch per call of 500
/// records peaked at ~800 MiB of RSS (BENCHMARKS.md); this bounds it.
pub const MAX_BATCH_WRITES: usize = 4096;

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
    /// sled's own settings (BENCHMARKS.md compares them).
    pub sled: SledSettings,
    /// When the search index's disk commit is made (between two, changes
    /// are searchable through its RAM index).
    pub search_checkpoints: SearchCheckpoints,
    /// Whether new envelopes are stored compressed with the store's zstd
    /// dictionary (`packing` module; packed ones are read either way).
    pub compress_envelopes: bool,
    /// The stored offers and needs at which the store trains that
    /// dictionary (fewer give a poorer one; lowered by the crash test).
    pub dictionary_at_listings: u64,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>, anchors: Vec<PublicKey>) -> Self {
        StoreConfig {
            path: path.into(),
            cache_capacity_bytes: DEFAULT_CACHE_BYTES,
            anchors,
            sled: SledSettings::default(),
            search_checkpoints: SearchCheckpoints::default(),
            compress_envelopes: true,
            dictionary_at_listings: packing::TRAIN_AT_LISTINGS,
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

/// One `apply_batch` call in progress: its writes, and the counters and
/// fingerprint buckets they change, installed once the batch is applied.
struct PendingBatch<'a> {
    overlay: Overlay<'a>,
    state: WriterState,
    buckets: HashMap<usize, Fingerprint>,
    membership_changed: bool,
    /// Listing slots whose search-index state changed since the last sled batch.
    changes: Vec<index::Change>,
}

/// Journals the search index's `changes` and the batch's counts change
/// (`counts::delta`, empty when a snapshot is written instead) under the
/// next sequence, in the same sled batch as the records they come from:
/// open replays what the index's last commit does not cover, and adds the
/// changes after the counts' snapshot (`counts` module).
fn journal_changes(
    overlay: &mut Overlay<'_>,
    seq: &mut u64,
    changes: &[index::Change],
    counts_delta: Vec<u8>,
) {
    if changes.is_empty() && counts_delta.is_empty() {
        return;
    }
    *seq += 1;
    let mut value = counts_delta;
    value.extend(index::journal_value(changes));
    overlay.insert(index::journal_key(*seq), value);
}

/// The writer's counters, persisted as the `counts` module says.
#[derive(Clone, Debug, Default)]
struct WriterState {
    counts: counts::Counts,
    /// The last search sequence written (the highest journal key or
    /// snapshot sequence).
    seq: u64,
    /// The oldest journal entry that may still be in sled (not persisted:
    /// `open` deletes every covered entry).
    journal_from: u64,
    /// Keys written (inserted or removed) since open, by key prefix: each
    /// write appends a page fragment to sled's log (not persisted).
    writes_by_prefix: std::collections::BTreeMap<u8, u64>,
    /// Signers' chains checked since the members' set went stale (not
    /// persisted; see `member_cache`).
    chain_checks: u64,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    /// What `close` reopens sled with.
    sled_settings: SledSettings,
    anchors: Vec<PublicKey>,
    writer: Mutex<WriterState>,
    /// In-memory copy of the persisted bucket fingerprints; changed only by
    /// the holder of `writer`, after its batch is applied.
    buckets: RwLock<Vec<Fingerprint>>,
    members: RwLock<MemberSet>,
    /// Changed only by the holder of `writer`.
    forget: Mutex<forget::Schedule>,
    packing: packing::Packing,
    /// Held only to be stopped (joined) before `search` is dropped.
    _checkpointer: index::Checkpointer,
    search: Arc<index::SearchIndex>,
}

/// The local replica. See the crate docs for the durability contract.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Whether no tree of `db` holds a key: a new directory, or one killed
/// while being created (sled may keep a tree's creation without the layout
/// version written right after it; nothing was acknowledged before that
/// version was flushed, so there is nothing to misread).
fn holds_no_key(db: &sled::Db) -> Result<bool, sled::Error> {
    for name in db.tree_names() {
        if !db.open_tree(name)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(db.is_empty())
}

impl Store {
    /// Opens (or creates) the store. Refuses a store written with another
    /// layout version, naming both versions.
    pub fn open(config: StoreConfig) -> Result<Store, OpenError> {
        let path = config.path.clone();
        let sled_err = |source| {
            if is_lock_error(&source) {
                OpenError::InUse { path: path.clone() }
            } else {
                OpenError::Sled {
                    path: path.clone(),
                    source,
                }
            }
        };
        let compaction_err = |e| match e {
            CompactError::Sled(source) if is_lock_error(&source) => {
                OpenError::InUse { path: path.clone() }
            }
            // Other sled files than a store's, with other settings.
            CompactError::NotAStore(_) => OpenError::UnknownLayout { path: path.clone() },
            e => OpenError::Compaction {
                path: path.clone(),
                source: Box::new(e),
            },
        };
        compact::recover(&config.path).map_err(compaction_err)?;
        compact::migrate_settings(&config.path, &config.sled).map_err(compaction_err)?;
        let sled_config = config.sled.configure(
            sled::Config::new()
                .path(&config.path)
                .cache_capacity(config.cache_capacity_bytes),
        );
        let db = open_sled(sled_config).map_err(sled_err)?;
        let fresh = holds_no_key(&db).map_err(sled_err)?;
        let tree = db.open_tree(layout::TREE).map_err(sled_err)?;
        match tree.get(meta::LAYOUT).map_err(sled_err)? {
            None if fresh => {
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
                if found < layout::FIRST_MIGRATABLE_LAYOUT {
                    // 1 was pre-release: nothing to migrate.
                    return Err(OpenError::LayoutTooOld {
                        path,
                        found,
                        supported,
                    });
                }
                if found < supported {
                    let migration_err = |source| OpenError::Migration {
                        path: path.clone(),
                        found,
                        source,
                    };
                    migrate::obsolete_entries(&db, &tree, &config.path, found)
                        .map_err(migration_err)?;
                    // Packing every envelope in place leaves sled's files
                    // about twice as large (BENCHMARKS.md): the envelopes
                    // are packed now, then the files compacted, and the
                    // store opened again. (Interrupted after the pack, the
                    // store is only larger until a `compact`.)
                    let packing = packing::Packing::new(
                        config.compress_envelopes,
                        config.dictionary_at_listings,
                    );
                    let listings = packing::listings_counted(&tree).map_err(migration_err)?;
                    if found < layout::PACKED_SINCE && packing.wants_dictionary(listings) {
                        packing::pack_stored(&db, &tree, &packing, listings)
                            .map_err(migration_err)?;
                        drop((tree, db));
                        compact::rewrite(&config.path, &config.sled).map_err(compaction_err)?;
                        return Store::open(config);
                    }
                }
            }
        }
        let persisted = counts::read(&tree).map_err(|e| match e {
            StoreError::Sled(source) => sled_err(source),
            e => OpenError::Corrupt {
                path: path.clone(),
                what: e.to_string(),
            },
        })?;
        let state = WriterState {
            counts: persisted.counts,
            seq: persisted.seq,
            journal_from: persisted.seq + 1,
            writes_by_prefix: Default::default(),
            chain_checks: 0,
        };
        // A damaged bucket loads as empty; `check` reports it and `reindex`
        // rebuilds it.
        let mut buckets = vec![Fingerprint::default(); BUCKETS];
        for entry in tree.scan_prefix([prefix::BUCKET]) {
            let (k, v) = entry.map_err(sled_err)?;
            let index = k
                .get(1..3)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            match (index, decode_fingerprint(&v)) {
                (Some(i), Some(f)) if i < BUCKETS && k.len() == 3 => buckets[i] = f,
                _ => {
                    tracing::warn!(key = %layout::printable_key(&k), "damaged fingerprint bucket ignored; run check")
                }
            }
        }
        let state_listings = state.counts[2] + state.counts[3];
        let packing =
            packing::Packing::new(config.compress_envelopes, config.dictionary_at_listings);
        let dictionary = db.open_tree(layout::DICTIONARY_TREE).map_err(sled_err)?;
        if let Some(v) = dictionary.get(layout::DICTIONARY_KEY).map_err(sled_err)? {
            packing
                .load(layout::DICTIONARY_KEY, &v)
                .map_err(|e| OpenError::Corrupt {
                    path: path.clone(),
                    what: e.to_string(),
                })?;
        }
        let search_err = |source| OpenError::SearchIndex {
            path: path.clone(),
            source,
        };
        let search = Arc::new(
            index::SearchIndex::open(
                &config.path.join(index::DIR_NAME),
                config.search_checkpoints.clone(),
            )
            .map_err(search_err)?,
        );
        let checkpointer = index::Checkpointer::start(&search).map_err(search_err)?;
        let store = Store {
            inner: Arc::new(Inner {
                db,
                tree,
                path: config.path.clone(),
                sled_settings: config.sled.clone(),
                anchors: config.anchors,
                writer: Mutex::new(state),
                buckets: RwLock::new(buckets),
                members: RwLock::new(MemberSet::stale()),
                forget: Mutex::default(),
                packing,
                _checkpointer: checkpointer,
                search,
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
        let listings = state_listings;
        if store.inner.packing.wants_dictionary(listings)
            || store
                .inner
                .tree
                .contains_key(meta::REPACKING)
                .map_err(sled_err)?
        {
            packing::pack_stored(
                &store.inner.db,
                &store.inner.tree,
                &store.inner.packing,
                listings,
            )
            .map_err(|e| OpenError::Corrupt {
                path: path.clone(),
                what: format!("compressing the stored envelopes failed: {e}"),
            })?;
        }
        store
            .catch_up_search()
            .map_err(|source| OpenError::SearchIndex { path, source })?;
        Ok(store)
    }

    /// The tree, as the write path and membership checks read it.
    pub(crate) fn replica(&self) -> Replica<'_> {
        Replica {
            tree: &self.inner.tree,
            packing: &self.inner.packing,
        }
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// Applies one record opened by `mutua_protocol::open`: time rules,
    /// membership (certificates: the issuer must be allowed to admit; other
    /// kinds: the signer must be a member), then the merge. Durable when it
    /// returns `Ok`. An expired record is still stored (unindexed, never
    /// served) until `now` reaches its `merge::forget_after` time, so that it
    /// keeps older versions out; after that it is `Rejected(expired)`.
    pub fn apply(&self, record: SignedRecord, now: Timestamp) -> Result<Applied, StoreError> {
        let mut out = self.apply_batch(vec![record], now)?;
        Ok(out.pop().expect("one outcome per record"))
    }

    /// Applies records in order (a later record sees the earlier ones: a
    /// certificate admits the authors of the records after it, two versions
    /// of one slot merge), each atomically, then flushes once. Records are
    /// written in sled batches of up to [`MAX_BATCH_WRITES`] keys, never
    /// splitting a record. On `Err`, a prefix of the call may be stored and
    /// is not guaranteed durable.
    pub fn apply_batch(
        &self,
        records: Vec<SignedRecord>,
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        let mut outcomes = Vec::with_capacity(records.len());
        let mut wrote = false;
        let seq = {
            let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
            let mut pending = PendingBatch {
                overlay: Overlay::new(self.replica()),
                state: writer.clone(),
                buckets: HashMap::new(),
                membership_changed: false,
                changes: Vec::new(),
            };
            for record in &records {
                outcomes.push(self.apply_one(&mut pending, record, now)?);
                if pending.overlay.len() >= MAX_BATCH_WRITES {
                    wrote |= self.commit(&mut writer, &mut pending)?;
                }
            }
            wrote |= self.commit(&mut writer, &mut pending)?;
            let listings = writer.counts[2] + writer.counts[3];
            if self.inner.packing.wants_dictionary(listings) {
                drop(pending);
                packing::pack_stored(
                    &self.inner.db,
                    &self.inner.tree,
                    &self.inner.packing,
                    listings,
                )?;
            }
            writer.seq
        };
        if wrote {
            // Outside the writer lock: concurrent callers' flushes overlap
            // (group commit), and each covers every write made before it.
            self.inner.db.flush()?;
            // Then the search index, which must never run ahead of sled.
            self.inner.search.publish(seq)?;
        }
        self.purge_after_revocations(&records, &outcomes, now)?;
        Ok(outcomes)
    }

    /// Writes the pending records with the counters and fingerprint buckets
    /// they changed as one sled batch, then installs the in-memory state.
    /// Returns whether there was anything to write.
    fn commit(
        &self,
        writer: &mut WriterState,
        pending: &mut PendingBatch<'_>,
    ) -> Result<bool, StoreError> {
        if pending.overlay.is_empty() {
            return Ok(false);
        }
        let changes = std::mem::take(&mut pending.changes);
        // Journal entries a durable commit of the search index covers are
        // done with; the batch deleting them writes the counts' snapshot
        // (which covers them), as does one that changes the counts with no
        // listing to journal. Others carry their counts change in their
        // journal entry: no metadata value is rewritten per call.
        let durable = self.inner.search.durable();
        let counts_delta = counts::delta(&writer.counts, &pending.state.counts);
        let snapshot = pending.state.journal_from <= durable
            || (changes.is_empty() && !counts_delta.is_empty());
        journal_changes(
            &mut pending.overlay,
            &mut pending.state.seq,
            &changes,
            if snapshot { Vec::new() } else { counts_delta },
        );
        if snapshot {
            pending.overlay.insert(
                meta::COUNTS,
                counts::snapshot(&pending.state.counts, pending.state.seq),
            );
        }
        while pending.state.journal_from <= durable {
            pending
                .overlay
                .remove(index::journal_key(pending.state.journal_from));
            pending.state.journal_from += 1;
        }
        for (b, f) in &pending.buckets {
            pending.overlay.insert(
                key(prefix::BUCKET, &[&(*b as u16).to_be_bytes()]),
                &encode_fingerprint(f)[..],
            );
        }
        for k in pending.overlay.keys() {
            *pending.state.writes_by_prefix.entry(k[0]).or_default() += 1;
        }
        self.inner.tree.apply_batch(pending.overlay.take_batch())?;
        reclaim_sled_garbage();
        if !changes.is_empty() {
            self.inner.search.stage(pending.state.seq, changes);
        }
        *writer = pending.state.clone();
        let mut installed = self.inner.buckets.write().expect("bucket lock");
        pending.buckets.drain().for_each(|(b, f)| installed[b] = f);
        if std::mem::take(&mut pending.membership_changed) {
            self.inner
                .members
                .write()
                .expect("member lock")
                .invalidate();
        }
        Ok(true)
    }

    fn apply_one(
        &self,
        pending: &mut PendingBatch<'_>,
        record: &SignedRecord,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let slot = SlotKey::of(record);
        let applied = |outcome| Applied {
            outcome,
            hash: *record.hash(),
            slot,
        };
        // An expired record stays in the synced set until its forget time
        // (it still beats older versions, so nothing older resurrects): it is
        // stored, never served, and swept then.
        let expired = match rules::check_time(record.payload(), now) {
            Ok(()) => false,
            Err(RecordError::Expired { .. }) if now < forget_after(record) => true,
            Err(e) => return Ok(applied(ApplyOutcome::Rejected(e.into()))),
        };
        let slot_key = slot_bytes(&slot);
        let record_key = key(prefix::RECORD, &[&slot_key]);
        let current = pending.overlay.record(&record_key)?;
        let incoming = Rank::of(record);
        let outcome = merge(
            current
                .as_ref()
                .map(|c| Rank::of_payload(&c.payload, c.hash))
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
        let view = TreeView::new(&pending.overlay);
        let membership = match record.payload() {
            Payload::Certificate(c) => {
                check_admission_right(&view, &self.inner.anchors, &c.issuer, now).map(drop)
            }
            // No certificate or revocation pending in this batch: the cached
            // set answers for the signer without reading its chain.
            _ if !pending.membership_changed
                && self.known_member(&mut pending.state, record.signer(), now)? =>
            {
                Ok(())
            }
            _ => check_membership(&view, &self.inner.anchors, record.signer(), now).map(drop),
        };
        if let Err(e) = view.finish(membership)? {
            return Ok(applied(ApplyOutcome::Rejected(e.into())));
        }

        let sync_key = SyncKey::of_slot_bytes(&slot_key);
        let bucket_index = bucket(&sync_key);
        let mut bucket = match pending.buckets.get(&bucket_index) {
            Some(b) => *b,
            None => self.inner.buckets.read().expect("bucket lock")[bucket_index],
        };
        if let Some(old) = &current {
            let sync_entry_key = key(prefix::SYNC, &[&sync_key.0]);
            let old_sync = match pending.overlay.get(&sync_entry_key)? {
                Some(v) => SyncValue::decode(&sync_entry_key, &v)?,
                None => return Err(StoreError::corrupt(&sync_entry_key, "missing sync entry")),
            };
            for (k, _) in
                layout::record_entries(&slot_key, &old.payload, &old.hash, old_sync.forget_after)
            {
                pending.overlay.remove(k);
            }
            bucket -= Fingerprint::of_item(&sync_key, &old.hash);
            pending.state.counts[layout::kind_index(&old.payload)] -= 1;
        }
        let hash = record.hash();
        let forget = forget_after(record);
        for (k, v) in layout::record_entries(&slot_key, record.payload(), hash, forget) {
            pending.overlay.insert(k, v);
        }
        let schedule = self.inner.forget.lock().map_err(|_| StoreError::Poisoned);
        schedule?.stored(forget, &slot_key);
        pending
            .overlay
            .insert(record_key, self.inner.packing.pack(record.bytes()));
        bucket += Fingerprint::of_item(&sync_key, hash);
        pending.buckets.insert(bucket_index, bucket);
        pending.state.counts[layout::kind_index(record.payload())] += 1;
        let mut swept_until = layout::u64_value_or_zero(pending.overlay.get(meta::SWEPT_UNTIL)?);
        if let (true, Some(listing)) = (expired, record.payload().listing()) {
            // Not indexed: it would never be served. Moving the sweep mark
            // tells replay, rebuild and `check` that it needs no document.
            if listing.expires_at > swept_until {
                swept_until = listing.expires_at;
                pending
                    .overlay
                    .insert(meta::SWEPT_UNTIL, &swept_until.to_be_bytes());
            }
        }
        if let SlotKey::Listing { .. } = slot {
            let doc = index::doc_of(&pending.overlay, record.payload(), *hash, swept_until)?;
            if doc.is_some() || current.is_some() {
                pending.changes.push(index::Change {
                    slot: slot_key.to_vec(),
                    doc,
                });
            }
        }
        // A lending record changes its offer's calendar, in the index too.
        if let Some((author, offer)) = layout::lending_offer(record.payload()) {
            if let Some(change) = index::offer_change(&pending.overlay, author, offer, swept_until)?
            {
                index::replace_change(&mut pending.changes, change);
            }
        }
        pending.membership_changed |= matches!(
            record.payload(),
            Payload::Certificate(_) | Payload::Revocation(_)
        );
        Ok(applied(match (outcome, current) {
            (MergeOutcome::Equivocation { .. }, _) => ApplyOutcome::Equivocation { stored: true },
            (_, None) => ApplyOutcome::New,
            (_, Some(_)) => ApplyOutcome::Replaced,
        }))
    }

    fn read_record(&self, slot_key: &[u8]) -> Result<Option<SignedRecord>, StoreError> {
        let record_key = key(prefix::RECORD, &[slot_key]);
        match self.inner.tree.get(&record_key)? {
            Some(v) => open_record(&self.inner.packing.unpack(&record_key, &v)?)
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
        let replica = self.replica();
        let view = TreeView::new(&replica);
        let result = check_membership(&view, &self.inner.anchors, key, now);
        view.finish(result)
    }

    /// Every stored certificate, and whether it is revoked by its issuer or
    /// an anchor.
    pub fn certificates(&self) -> Result<Vec<(RecordHash, Certificate, bool)>, StoreError> {
        let replica = self.replica();
        let view = TreeView::new(&replica);
        let mut out = Vec::new();
        for entry in self.inner.tree.scan_prefix([prefix::RECORD, 1]) {
            let (k, v) = entry?;
            let record = StoredRecord::decode(&k, &self.inner.packing.unpack(&k, &v)?)?;
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
        self.stored_envelopes().map(|entry| {
            let (k, envelope) = entry?;
            open_record(&envelope).map_err(|e| StoreError::corrupt(&k, e.to_string()))
        })
    }

    /// Every stored envelope as received, without verifying signatures
    /// again: for a bulk copy to a trusted sink, and the benchmark's naive
    /// scan.
    pub fn envelopes(&self) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + 'static {
        self.stored_envelopes()
            .map(|entry| entry.map(|(_, envelope)| envelope))
    }

    /// Each record's key and its envelope, unpacked, in key order.
    fn stored_envelopes(
        &self,
    ) -> impl Iterator<Item = Result<(sled::IVec, Vec<u8>), StoreError>> + 'static {
        let store = self.clone();
        self.inner
            .tree
            .scan_prefix([prefix::RECORD])
            .map(move |entry| {
                let (k, v) = entry?;
                let envelope = store.inner.packing.unpack(&k, &v)?.into_owned();
                Ok((k, envelope))
            })
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

    /// Keys written to sled since open, by key prefix (the `layout::prefix`
    /// byte), for the benchmark's account of sled's log.
    pub fn sled_writes(&self) -> Result<Vec<(u8, u64)>, StoreError> {
        let writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(writer
            .writes_by_prefix
            .iter()
            .map(|(p, n)| (*p, *n))
            .collect())
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
}
