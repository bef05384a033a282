//! The store's only query index: a tantivy 0.27 index in the store's
//! directory (`search/`) holding, for each indexed (unswept) offer and need,
//! what queries need — folded and stemmed text, kind, side, author, area
//! codes, position, availability windows, publication and expiry times,
//! and for an offer its calendar (lending settings and busy periods, from
//! its lending records: a lending record's arrival changes its offer's
//! document) — and nothing that is not derived from sled.
//!
//! # Consistency with sled
//!
//! sled stays the truth: "accepted" means the sled batch is flushed. Every
//! sled batch that changes a listing's index state gets the next *search
//! sequence* number and writes, in the same sled batch, a journal entry
//! (`j seq` → the slots it changed, after the batch's counts change: see
//! the `counts` module, which also says how open finds the last sequence
//! without a metadata value rewritten per batch).
//! After the flush, the changes are published: written to the disk index's
//! writer (uncommitted) and to a small RAM index (`recent` module) that the
//! next query commits first, so a listing is found once its `apply`
//! returned, and writes with no query between them cost no commit. The
//! disk index is committed only at checkpoints (every
//! [`SearchCheckpoints::every_seqs`] sequences, after
//! [`SearchCheckpoints::every`] by a background thread, and at close), with
//! a payload naming the last sequence it covers; its files are then synced
//! (`directory` module), the RAM index emptied, and only then may later
//! sled batches delete the journal entries it covers. So the index may lag
//! behind sled but never runs ahead of it. Opening the store replays the
//! journal entries after the disk commit's sequence (each slot is re-read
//! from sled, so a replay is idempotent); a missing, unreadable, damaged
//! (checksums) or older-schema index is rebuilt from sled.
//!
//! Which listings it holds: offers and needs whose expiry is after the
//! sweep mark (`mswept_until`, [`layout::indexable`]); the sweep deletes the
//! documents it passes by a range query on `expires_at`.
//!
//! Changes are staged under the store's writer lock, in sequence order, and
//! published by the first caller whose flush covers them: a caller drains
//! every staged change up to its own sequence (all were written to sled
//! before its flush), so neither index ever holds a change whose sled
//! batch may not be durable.

mod analyzer;
mod consistency;
mod directory;
mod recent;
mod search;
mod writer;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use mutua_protocol::Listing;
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::StoreError;
use crate::layout::{self, key, prefix};

pub use consistency::{doc_of, offer_change, replace_change};
use recent::View;
pub use search::{author_prefixes, SearchOutcome};
pub use writer::Checkpointer;

/// The index's directory inside the store's directory.
pub const DIR_NAME: &str = "search";
/// Bump when the schema or the analyzers change: an index of another
/// version is rebuilt at open.
///
/// 2: `hash8`, so that `check` sees a document of an older version.
/// 3: an offer's calendar (`lending`, `busy`).
pub const SCHEMA_VERSION: u32 = 3;
/// The indexing arena (tantivy's minimum): flushed to a segment when full,
/// so a rebuild's memory stays bounded whatever the store's size.
const WRITER_MEMORY_BYTES: usize = 15_000_000;
/// How often a rebuild logs its progress, in listings.
const REBUILD_PROGRESS_EVERY: u64 = 50_000;

/// The schema's fields.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// The slot bytes (`0x00 author id`): the document's identity.
    pub slot: Field,
    pub author: Field,
    /// The author key's first 8 bytes (BE), read per candidate for the
    /// membership check (the full key is checked again on the record).
    pub author8: Field,
    pub side: Field,
    pub kind: Field,
    /// Title, description and tags through the French analyzer.
    pub text: Field,
    /// Tags folded as `text::fold_tag` does, matched whole.
    pub tags: Field,
    /// `c33063`, `e243300316`, `d33`: as `layout::area_codes`.
    pub areas: Field,
    pub lat_e6: Field,
    pub lon_e6: Field,
    pub expires_at: Field,
    pub published_at: Field,
    /// The sync key's first 8 bytes: a stable tie-break for cursors.
    pub tiebreak: Field,
    /// The record hash's first 8 bytes: which version the document is of.
    pub hash8: Field,
    /// One value per window: `from` (32 high bits) ‖ `until` (32 low bits),
    /// each clamped to `u32::MAX` (year 2106).
    pub windows: Field,
    /// An offer's lending settings (`OfferLending::settings_value`); absent
    /// on needs.
    pub lending: Field,
    /// An offer's busy periods, one value each (`OfferLending::busy_values`).
    pub busy: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let indexed_fast = NumericOptions::default().set_indexed().set_fast();
    let fast = NumericOptions::default().set_fast();
    let indexed = NumericOptions::default().set_indexed();
    let whole = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        )
    };
    let fields = Fields {
        slot: b.add_bytes_field("slot", BytesOptions::default().set_indexed().set_fast()),
        author: b.add_bytes_field("author", BytesOptions::default().set_indexed()),
        author8: b.add_u64_field("author8", fast.clone()),
        side: b.add_u64_field("side", indexed.clone()),
        kind: b.add_u64_field("kind", indexed),
        text: b.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(analyzer::STEMMED)
                    .set_index_option(IndexRecordOption::WithFreqs),
            ),
        ),
        tags: b.add_text_field("tags", whole("raw")),
        areas: b.add_text_field("areas", whole("raw")),
        lat_e6: b.add_i64_field("lat_e6", indexed_fast.clone()),
        lon_e6: b.add_i64_field("lon_e6", indexed_fast.clone()),
        expires_at: b.add_u64_field("expires_at", indexed_fast),
        published_at: b.add_u64_field("published_at", fast.clone()),
        tiebreak: b.add_u64_field("tiebreak", fast.clone()),
        hash8: b.add_u64_field("hash8", fast.clone()),
        windows: b.add_u64_field("windows", fast.clone()),
        lending: b.add_u64_field("lending", fast.clone()),
        busy: b.add_u64_field("busy", fast),
    };
    (b.build(), fields)
}

/// One listing slot whose index state a sled batch changed: its document
/// now (`None`: not indexed any more, or never).
#[derive(Clone, Debug)]
pub struct Change {
    pub slot: Vec<u8>,
    pub doc: Option<Doc>,
}

/// What the index holds of a listing.
#[derive(Clone, Debug)]
pub struct Doc {
    pub side: u8,
    pub listing: Listing,
    pub hash: mutua_protocol::RecordHash,
    /// An offer's calendar (`None` for a need).
    pub lending: Option<crate::lending::OfferLending>,
}

/// The journal key of a search sequence.
pub fn journal_key(seq: u64) -> Vec<u8> {
    key(prefix::JOURNAL, &[&seq.to_be_bytes()])
}

/// A journal value: the changed slots, concatenated.
pub fn journal_value(changes: &[Change]) -> Vec<u8> {
    changes
        .iter()
        .flat_map(|c| c.slot.iter().copied())
        .collect()
}

fn payload_of(seq: u64) -> String {
    format!("mutua-search {SCHEMA_VERSION} {seq}")
}

/// The sequence a commit payload covers, if it is this schema's.
fn parse_payload(payload: Option<&str>) -> Option<u64> {
    let mut parts = payload?.split(' ');
    (parts.next()? == "mutua-search" && parts.next()? == SCHEMA_VERSION.to_string())
        .then(|| parts.next()?.parse().ok())
        .flatten()
}

fn search_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::SearchIndex(e.to_string())
}

/// Deletes an index directory, its commit point (`meta.json`) first, so
/// that an interrupted deletion leaves an index the next open rebuilds.
pub fn remove_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(dir.join("meta.json")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(search_err(e)),
        _ => {}
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(search_err(e)),
        _ => Ok(()),
    }
}

/// Staged changes: at most one entry per `apply_batch` call between its
/// sled write and its publication (bounded by the callers in flight).
type Staged = VecDeque<(u64, Vec<Change>)>;

/// When the disk index is committed and synced (a checkpoint): what a
/// crash may make open replay, and how large the RAM index grows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchCheckpoints {
    /// After this many search sequences since the last checkpoint (made by
    /// the write that reaches it).
    pub every_seqs: u64,
    /// Once the oldest change not checkpointed is this old, by a background
    /// thread (so a store whose writes stopped is checkpointed too). `None`:
    /// no thread; checkpoints by count, at close and on request only.
    pub every: Option<std::time::Duration>,
}

impl Default for SearchCheckpoints {
    fn default() -> Self {
        SearchCheckpoints {
            every_seqs: 1000,
            every: Some(std::time::Duration::from_secs(2)),
        }
    }
}

/// The disk index's writer and the RAM index of the changes since its last
/// commit, which it also holds (uncommitted).
struct Writers {
    disk: IndexWriter<TantivyDocument>,
    recent: recent::Recent,
}

/// The tantivy side of the store.
pub struct SearchIndex {
    path: PathBuf,
    directory: directory::LazySyncDirectory,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    policy: SearchCheckpoints,
    /// Opened at the first write: a store opened only to read (the CLI's
    /// offline commands) leaves the index's files untouched.
    writers: Mutex<Option<Writers>>,
    /// What queries search; replaced by every publication and checkpoint.
    view: RwLock<View>,
    staged: Mutex<Staged>,
    /// The last search sequence of the disk index's last commit; `u64::MAX`
    /// until the store knows (a fresh or rebuilt-empty index).
    covered: AtomicU64,
    /// The last search sequence queries see (disk or RAM); as `covered`.
    visible: AtomicU64,
    /// The last search sequence of a commit made durable by a checkpoint:
    /// sled's journal entries up to it may go.
    durable: AtomicU64,
    /// Whether changes were published to the RAM index since its last
    /// commit.
    dirty: std::sync::atomic::AtomicBool,
    /// When the oldest change not yet checkpointed was published.
    unsaved_since: Mutex<Option<std::time::Instant>>,
    /// Time spent publishing changes (documents, commits, checkpoints), in ns.
    publish_nanos: AtomicU64,
    /// Time spent in checkpoints, in ns.
    checkpoint_nanos: AtomicU64,
}

/// The documents of each slot, as `check` reads them.
pub type IndexedSlots = std::collections::BTreeMap<Vec<u8>, Vec<IndexedDoc>>;

/// One document as `check` reads it.
#[derive(Clone, Copy, Debug)]
pub struct IndexedDoc {
    pub hash8: u64,
    pub expires_at: u64,
    /// [`calendar_digest`] of its calendar fields.
    pub calendar: u64,
}

/// A digest of a document's calendar values (order aside), for `check`.
pub fn calendar_digest(lending: Option<u64>, busy: impl Iterator<Item = u64>) -> u64 {
    let mut busy: Vec<u64> = busy.collect();
    busy.sort_unstable();
    // FNV-1a over the values: `check` compares digests made in one process.
    std::iter::once(lending.map_or(0, |l| l ^ (1 << 63)))
        .chain(busy)
        .flat_map(u64::to_be_bytes)
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

impl Doc {
    /// [`calendar_digest`] of the calendar fields this document gets.
    pub fn calendar_digest(&self) -> u64 {
        match &self.lending {
            Some(l) => calendar_digest(Some(l.settings_value()), l.busy_values()),
            None => calendar_digest(None, std::iter::empty()),
        }
    }
}

/// The search index's size and cost, for `Store::search_index_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchIndexStats {
    /// Its files, in bytes.
    pub disk_bytes: u64,
    /// Listings queries see.
    pub listings: u64,
    /// Listing slots changed since the last checkpoint (held by the RAM
    /// index).
    pub unsaved_listings: u64,
    /// The last search sequence the disk index's commit covers.
    pub checkpointed_seq: u64,
    /// Time `apply_batch` calls spent writing and committing it since open,
    /// checkpoints included.
    pub publish_time: std::time::Duration,
    /// Time spent in checkpoints since open (by writes or the background
    /// thread).
    pub checkpoint_time: std::time::Duration,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one (to be rebuilt)
    /// when it is missing, unreadable or of another schema version.
    pub fn open(dir: &Path, policy: SearchCheckpoints) -> Result<SearchIndex, StoreError> {
        match Self::open_existing(dir, policy.clone()) {
            Ok(index) => Ok(index),
            Err(why) => {
                if dir.exists() {
                    tracing::warn!(path = %dir.display(), %why, "search index unusable; rebuilding it from the records");
                    remove_dir(dir)?;
                }
                std::fs::create_dir_all(dir).map_err(search_err)?;
                let (schema, _) = schema();
                let directory = directory::LazySyncDirectory::open(dir).map_err(search_err)?;
                let index =
                    Index::create(directory.clone(), schema, tantivy::IndexSettings::default())
                        .map_err(search_err)?;
                Self::with_index(dir, directory, index, u64::MAX, policy)
            }
        }
    }

    fn open_existing(dir: &Path, policy: SearchCheckpoints) -> Result<SearchIndex, String> {
        if !dir.join("meta.json").exists() {
            return Err("no index".into());
        }
        let directory = directory::LazySyncDirectory::open(dir).map_err(|e| e.to_string())?;
        let index = Index::open(directory.clone()).map_err(|e| e.to_string())?;
        let metas = index.load_metas().map_err(|e| e.to_string())?;
        let covered = parse_payload(metas.payload.as_deref())
            .ok_or_else(|| format!("commit payload {:?} is not this version's", metas.payload))?;
        // Files written since the last checkpoint may be damaged by a power
        // loss (see the `directory` module).
        let damaged = index.validate_checksum().map_err(|e| e.to_string())?;
        if !damaged.is_empty() {
            return Err(format!("damaged files: {damaged:?}"));
        }
        Self::with_index(dir, directory, index, covered, policy).map_err(|e| e.to_string())
    }

    fn with_index(
        dir: &Path,
        directory: directory::LazySyncDirectory,
        index: Index,
        covered: u64,
        policy: SearchCheckpoints,
    ) -> Result<SearchIndex, StoreError> {
        analyzer::register(index.tokenizers());
        let (_, fields) = schema();
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(search_err)?;
        let view = View {
            disk: reader.searcher(),
            recent: None,
            masked: Default::default(),
        };
        Ok(SearchIndex {
            path: dir.to_owned(),
            directory,
            index,
            reader,
            fields,
            policy,
            writers: Mutex::new(None),
            view: RwLock::new(view),
            staged: Mutex::new(VecDeque::new()),
            covered: AtomicU64::new(covered),
            visible: AtomicU64::new(covered),
            durable: AtomicU64::new(0),
            dirty: Default::default(),
            unsaved_since: Mutex::new(None),
            publish_nanos: AtomicU64::new(0),
            checkpoint_nanos: AtomicU64::new(0),
        })
    }

    /// What queries search now: first commits the RAM index if changes
    /// were published since its last commit (so a listing is found by the
    /// first query after its `apply` returned, and a run of writes with no
    /// query between them costs no tantivy commit).
    pub fn view(&self) -> Result<View, StoreError> {
        if self.dirty.load(Ordering::SeqCst) {
            let mut guard = self.writers.lock().map_err(|_| StoreError::Poisoned)?;
            if let Some(w) = guard.as_mut() {
                self.refresh_with(w)?;
            }
        }
        Ok(self.current_view())
    }

    fn current_view(&self) -> View {
        self.view.read().expect("view lock").clone()
    }

    /// The last sequence of a durable commit (journal entries up to it are
    /// done with).
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// The last sequence of the disk index's commit, if known.
    pub fn covered(&self) -> Option<u64> {
        Some(self.covered.load(Ordering::SeqCst)).filter(|c| *c != u64::MAX)
    }

    /// The last sequence queries see, if known.
    pub fn visible(&self) -> Option<u64> {
        Some(self.visible.load(Ordering::SeqCst)).filter(|c| *c != u64::MAX)
    }

    /// The index's files, in bytes.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.path)
    }

    /// The slots of changes staged but not yet published, and the documents
    /// queries see, taken together (no publication in between).
    pub fn slots_and_staged(&self) -> Result<(HashSet<Vec<u8>>, IndexedSlots), StoreError> {
        let mut writers = self.writers.lock().map_err(|_| StoreError::Poisoned)?;
        if let Some(w) = writers.as_mut() {
            self.refresh_with(w)?;
        }
        let staged = self
            .staged
            .lock()
            .expect("staged lock")
            .iter()
            .flat_map(|(_, changes)| changes.iter().map(|c| c.slot.clone()))
            .collect();
        Ok((staged, slots_of(&self.current_view())?))
    }

    /// How many documents queries see.
    pub fn num_docs(&self) -> Result<u64, StoreError> {
        let view = self.view()?;
        let mut hidden = 0;
        for slot in view.masked.slots() {
            let term = Term::from_field_bytes(self.fields.slot, slot);
            hidden += view
                .disk
                .search(
                    &tantivy::query::TermQuery::new(term, IndexRecordOption::Basic),
                    &tantivy::collector::Count,
                )
                .map_err(search_err)? as u64;
        }
        let recent = view.recent.as_ref().map_or(0, |r| r.num_docs());
        Ok(view.disk.num_docs() - hidden + recent)
    }

    fn document(&self, slot: &[u8], d: &Doc) -> TantivyDocument {
        let (side, l) = (d.side, &d.listing);
        let f = &self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_bytes(f.slot, slot);
        doc.add_bytes(f.author, l.author.as_bytes());
        doc.add_u64(f.author8, author8(l.author.as_bytes()));
        doc.add_u64(f.side, u64::from(side));
        doc.add_u64(f.kind, u64::from(layout::resource_byte(l.kind)));
        doc.add_text(f.text, &l.title);
        doc.add_text(f.text, &l.description);
        for tag in &l.tags {
            doc.add_text(f.text, tag);
            doc.add_text(f.tags, crate::text::fold_tag(tag));
        }
        for code in layout::area_codes(l) {
            doc.add_text(f.areas, code);
        }
        if let Some(p) = layout::indexed_point(l) {
            doc.add_i64(f.lat_e6, i64::from(p.lat_e6));
            doc.add_i64(f.lon_e6, i64::from(p.lon_e6));
        }
        doc.add_u64(f.expires_at, l.expires_at);
        doc.add_u64(f.published_at, l.published_at);
        doc.add_u64(f.tiebreak, tiebreak(slot));
        doc.add_u64(f.hash8, hash8(&d.hash));
        for w in &l.availability {
            doc.add_u64(f.windows, encode_window(w.from, w.until));
        }
        if let Some(lending) = &d.lending {
            doc.add_u64(f.lending, lending.settings_value());
            for busy in lending.busy_values() {
                doc.add_u64(f.busy, busy);
            }
        }
        doc
    }
}

pub fn hash8(hash: &mutua_protocol::RecordHash) -> u64 {
    u64::from_be_bytes(hash.0[..8].try_into().expect("32 bytes"))
}

impl Drop for SearchIndex {
    /// A clean close leaves the index durable: the next open replays nothing.
    fn drop(&mut self) {
        if self.visible().is_some_and(|c| c > self.durable()) {
            if let Err(e) = self.checkpoint() {
                tracing::warn!(error = %e, "the search index's last checkpoint failed; the next open replays the journal");
            }
        }
    }
}

fn author8(key: &[u8]) -> u64 {
    u64::from_be_bytes(key[..8].try_into().expect("32-byte key"))
}

fn tiebreak(slot: &[u8]) -> u64 {
    let sync_key = crate::sync::SyncKey::of_slot_bytes(slot);
    u64::from_be_bytes(sync_key.0[..8].try_into().expect("32 bytes"))
}

fn encode_window(from: u64, until: u64) -> u64 {
    (from.min(u64::from(u32::MAX)) << 32) | until.min(u64::from(u32::MAX))
}

fn decode_window(v: u64) -> (u64, u64) {
    (v >> 32, v & u64::from(u32::MAX))
}

/// The documents a view shows, by slot: each one's record-hash prefix and
/// expiry.
fn slots_of(view: &View) -> Result<IndexedSlots, StoreError> {
    let mut out: std::collections::BTreeMap<Vec<u8>, Vec<IndexedDoc>> =
        std::collections::BTreeMap::new();
    let disk = view.disk.segment_readers().iter().map(|s| (s, true));
    let recent = view.recent.iter().flat_map(|r| r.segment_readers());
    for (segment, on_disk) in disk.chain(recent.map(|s| (s, false))) {
        let ff = segment.fast_fields();
        let Some(column) = ff.bytes("slot").map_err(search_err)? else {
            continue;
        };
        let hash8 = ff.u64("hash8").map_err(search_err)?;
        let expires = ff.u64("expires_at").map_err(search_err)?;
        let lending = ff.u64("lending").map_err(search_err)?;
        let busy = ff.u64("busy").map_err(search_err)?;
        let mut slot = Vec::new();
        for doc in segment.doc_ids_alive() {
            for ord in column.term_ords(doc) {
                slot.clear();
                column.ord_to_bytes(ord, &mut slot).map_err(search_err)?;
                if on_disk && view.masked.contains(&slot) {
                    continue;
                }
                out.entry(slot.clone()).or_default().push(IndexedDoc {
                    hash8: hash8.first(doc).unwrap_or(0),
                    expires_at: expires.first(doc).unwrap_or(0),
                    calendar: calendar_digest(lending.first(doc), busy.values_for_doc(doc)),
                });
            }
        }
    }
    Ok(out)
}
