//! The store's only query index: a tantivy 0.27 index in the store's
//! directory (`search/`) holding, for each indexed (unswept) offer and need,
//! what queries need — folded and stemmed text, kind, side, author, area
//! codes, position, availability windows, publication and expiry times —
//! and nothing that is not derived from sled.
//!
//! # Consistency with sled
//!
//! sled stays the truth: "accepted" means the sled batch is flushed. Every
//! sled batch that changes a listing's index state gets the next *search
//! sequence* number and writes, in the same sled batch, a journal entry
//! (`j seq` → the slots it changed) and the new sequence (`msearch_seq`).
//! After the flush, the changes are applied to tantivy and committed with a
//! payload naming the last sequence they cover, so the index may lag behind
//! sled but never runs ahead of it. Commits are not synced to disk; a
//! checkpoint syncs every index file (`directory` module) and only then may
//! later sled batches delete the journal entries it covers. Opening the
//! store replays the journal entries after the index's sequence (each slot
//! is re-read from sled, so a replay is idempotent); a missing, unreadable,
//! damaged (checksums) or older-schema index is rebuilt from sled.
//!
//! Which listings it holds: offers and needs whose expiry is after the
//! sweep mark (`mswept_until`, [`layout::indexable`]); the sweep deletes the
//! documents it passes by a range query on `expires_at`.
//!
//! Changes are staged under the store's writer lock, in sequence order, and
//! published by the first caller whose flush covers them: a caller drains
//! every staged change up to its own sequence (all were written to sled
//! before its flush), so a tantivy commit never holds a change whose sled
//! batch may not be durable.

mod analyzer;
mod directory;
mod search;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use mutua_protocol::{Listing, Payload};
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::StoreError;
use crate::layout::{self, key, prefix, StoredRecord};

pub use search::{author_prefixes, SearchOutcome};

/// The index's directory inside the store's directory.
pub const DIR_NAME: &str = "search";
/// Bump when the schema or the analyzers change: an index of another
/// version is rebuilt at open.
///
/// 2: `hash8`, so that `check` sees a document of an older version.
pub const SCHEMA_VERSION: u32 = 2;
/// The indexing arena (tantivy's minimum): flushed to a segment when full,
/// so a rebuild's memory stays bounded whatever the store's size.
const WRITER_MEMORY_BYTES: usize = 15_000_000;
/// A checkpoint (every index file synced, see the `directory` module) is
/// made after a commit once this many search sequences or this much time
/// passed since the last one: what a crash may make open replay.
const CHECKPOINT_EVERY_SEQS: u64 = 1000;
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
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
        windows: b.add_u64_field("windows", fast),
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

/// The tantivy side of the store.
pub struct SearchIndex {
    path: PathBuf,
    directory: directory::LazySyncDirectory,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Opened at the first write: a store opened only to read (the CLI's
    /// offline commands) leaves the index's files untouched.
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    staged: Mutex<Staged>,
    /// The last search sequence committed to tantivy; `u64::MAX` until the
    /// store knows (a fresh or rebuilt-empty index).
    covered: AtomicU64,
    /// The last search sequence of a commit made durable by a checkpoint:
    /// sled's journal entries up to it may go.
    durable: AtomicU64,
    last_checkpoint: Mutex<std::time::Instant>,
    /// Time spent publishing changes (documents and commits), in ns.
    publish_nanos: AtomicU64,
}

/// One document as `check` reads it.
#[derive(Clone, Copy, Debug)]
pub struct IndexedDoc {
    pub hash8: u64,
    pub expires_at: u64,
}

/// The search index's size and cost, for `Store::search_index_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchIndexStats {
    /// Its files, in bytes.
    pub disk_bytes: u64,
    /// Listings in its last commit.
    pub listings: u64,
    /// Time `apply_batch` calls spent writing and committing it since open.
    pub publish_time: std::time::Duration,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one (to be rebuilt)
    /// when it is missing, unreadable or of another schema version.
    pub fn open(dir: &Path) -> Result<SearchIndex, StoreError> {
        match Self::open_existing(dir) {
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
                Self::with_index(dir, directory, index, u64::MAX)
            }
        }
    }

    fn open_existing(dir: &Path) -> Result<SearchIndex, String> {
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
        Self::with_index(dir, directory, index, covered).map_err(|e| e.to_string())
    }

    fn with_index(
        dir: &Path,
        directory: directory::LazySyncDirectory,
        index: Index,
        covered: u64,
    ) -> Result<SearchIndex, StoreError> {
        analyzer::register(index.tokenizers());
        let (_, fields) = schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(search_err)?;
        Ok(SearchIndex {
            path: dir.to_owned(),
            directory,
            index,
            reader,
            fields,
            writer: Mutex::new(None),
            staged: Mutex::new(VecDeque::new()),
            covered: AtomicU64::new(covered),
            durable: AtomicU64::new(0),
            last_checkpoint: Mutex::new(std::time::Instant::now()),
            publish_nanos: AtomicU64::new(0),
        })
    }

    /// The last sequence of a durable commit (journal entries up to it are
    /// done with).
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// Makes the last commit durable (every index file synced).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let covered = self.covered().unwrap_or(0);
        self.directory.sync_all().map_err(search_err)?;
        self.durable.fetch_max(covered, Ordering::SeqCst);
        *self
            .last_checkpoint
            .lock()
            .map_err(|_| StoreError::Poisoned)? = std::time::Instant::now();
        Ok(())
    }

    /// A checkpoint, if enough changed or time passed since the last one.
    fn checkpoint_if_due(&self) -> Result<(), StoreError> {
        let behind = self.covered().unwrap_or(0).saturating_sub(self.durable());
        let elapsed = self
            .last_checkpoint
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .elapsed();
        if behind >= CHECKPOINT_EVERY_SEQS || (behind > 0 && elapsed >= CHECKPOINT_EVERY) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// The last sequence committed, if known.
    pub fn covered(&self) -> Option<u64> {
        Some(self.covered.load(Ordering::SeqCst)).filter(|c| *c != u64::MAX)
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

    /// The last commit's documents by slot: each one's record-hash prefix
    /// and expiry.
    pub fn slots(
        &self,
    ) -> Result<std::collections::BTreeMap<Vec<u8>, Vec<IndexedDoc>>, StoreError> {
        let searcher = self.reader.searcher();
        let mut out: std::collections::BTreeMap<Vec<u8>, Vec<IndexedDoc>> =
            std::collections::BTreeMap::new();
        for segment in searcher.segment_readers() {
            let ff = segment.fast_fields();
            let Some(column) = ff.bytes("slot").map_err(search_err)? else {
                continue;
            };
            let hash8 = ff.u64("hash8").map_err(search_err)?;
            let expires = ff.u64("expires_at").map_err(search_err)?;
            let mut slot = Vec::new();
            for doc in segment.doc_ids_alive() {
                for ord in column.term_ords(doc) {
                    slot.clear();
                    column.ord_to_bytes(ord, &mut slot).map_err(search_err)?;
                    out.entry(slot.clone()).or_default().push(IndexedDoc {
                        hash8: hash8.first(doc).unwrap_or(0),
                        expires_at: expires.first(doc).unwrap_or(0),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The slots of changes staged but not yet published.
    pub fn staged_slots(&self) -> std::collections::HashSet<Vec<u8>> {
        let staged = self.staged.lock().expect("staged lock");
        staged
            .iter()
            .flat_map(|(_, changes)| changes.iter().map(|c| c.slot.clone()))
            .collect()
    }

    /// How many documents the last commit holds.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
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
        doc
    }

    fn write(
        &self,
        writer: &IndexWriter<TantivyDocument>,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        for c in changes {
            // A delete reaches only the documents added before it: the
            // slot's older version, not the one added next.
            writer.delete_term(Term::from_field_bytes(self.fields.slot, &c.slot));
            if let Some(doc) = &c.doc {
                writer
                    .add_document(self.document(&c.slot, doc))
                    .map_err(search_err)?;
            }
        }
        Ok(())
    }

    fn commit(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        seq: u64,
    ) -> Result<(), StoreError> {
        let mut prepared = writer.prepare_commit().map_err(search_err)?;
        prepared.set_payload(&payload_of(seq));
        prepared.commit().map_err(search_err)?;
        self.covered.store(seq, Ordering::SeqCst);
        self.reader.reload().map_err(search_err)?;
        self.checkpoint_if_due()
    }

    /// Stages a sled batch's changes (call under the store's writer lock,
    /// right after the sled batch is applied).
    pub fn stage(&self, seq: u64, changes: Vec<Change>) {
        self.staged
            .lock()
            .expect("staged lock")
            .push_back((seq, changes));
    }

    /// Applies and commits every staged change up to `seq` (the caller's
    /// flush covers them). Returns once the index covers `seq`.
    pub fn publish(&self, seq: u64) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let result = self.publish_staged(seq);
        self.publish_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    /// Runs `f` with the index writer, opening it first if needed.
    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut IndexWriter<TantivyDocument>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        if guard.is_none() {
            let writer = self
                .index
                .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
                .map_err(search_err)?;
            *guard = Some(writer);
        }
        f(guard.as_mut().expect("opened above"))
    }

    fn publish_staged(&self, seq: u64) -> Result<(), StoreError> {
        self.with_writer(|writer| self.publish_with(writer, seq))
    }

    fn publish_with(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        seq: u64,
    ) -> Result<(), StoreError> {
        if self.covered().is_some_and(|c| c >= seq) {
            return Ok(());
        }
        match self.drain_staged(writer, seq)? {
            Some(s) => self.commit(writer, s),
            None => Ok(()),
        }
    }

    /// Writes every staged change up to `seq` to the writer (uncommitted);
    /// returns the last sequence written.
    fn drain_staged(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        seq: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut last = None;
        loop {
            let next = {
                let mut staged = self.staged.lock().expect("staged lock");
                match staged.front() {
                    Some((s, _)) if *s <= seq => staged.pop_front(),
                    _ => None,
                }
            };
            let Some((s, changes)) = next else { break };
            self.write(writer, &changes)?;
            last = Some(s);
        }
        Ok(last)
    }

    /// Deletes every document that expired by `until` and commits as
    /// covering `seq` (with the staged changes up to it, which the caller's
    /// flush covers). Returns how many documents the last commit held that
    /// the deletion removes.
    pub fn sweep_expired(&self, until: u64, seq: u64) -> Result<u64, StoreError> {
        let expired = || {
            tantivy::query::RangeQuery::new(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Included(Term::from_field_u64(self.fields.expires_at, until)),
            )
        };
        let count = self
            .reader
            .searcher()
            .search(&expired(), &tantivy::collector::Count)
            .map_err(search_err)? as u64;
        self.with_writer(|writer| {
            self.drain_staged(writer, seq)?;
            if count > 0 {
                writer
                    .delete_query(Box::new(expired()))
                    .map_err(search_err)?;
            }
            self.commit(writer, seq.max(self.covered().unwrap_or(0)))
        })?;
        Ok(count)
    }

    /// Applies changes read back from sled (replay, sweep) and commits them
    /// as covering `seq`.
    pub fn apply_now(&self, changes: &[Change], seq: u64) -> Result<(), StoreError> {
        self.with_writer(|writer| {
            self.write(writer, changes)?;
            self.commit(writer, seq)
        })
    }

    /// Replaces every document with `docs` and commits them as covering
    /// `seq` (until then the previous commit stands: an interrupted rebuild
    /// leaves the index as it was). Call with the store's writer lock held.
    pub fn rebuild(
        &self,
        docs: impl Iterator<Item = Result<Change, StoreError>>,
        seq: u64,
    ) -> Result<u64, StoreError> {
        self.with_writer(|writer| self.rebuild_with(writer, docs, seq))
    }

    fn rebuild_with(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        docs: impl Iterator<Item = Result<Change, StoreError>>,
        seq: u64,
    ) -> Result<u64, StoreError> {
        self.staged.lock().expect("staged lock").clear();
        writer.delete_all_documents().map_err(search_err)?;
        let mut count = 0u64;
        for change in docs {
            let change = change?;
            if let Some(doc) = &change.doc {
                writer
                    .add_document(self.document(&change.slot, doc))
                    .map_err(search_err)?;
                count += 1;
                if count.is_multiple_of(REBUILD_PROGRESS_EVERY) {
                    tracing::info!(listings = count, "rebuilding the search index");
                }
            }
        }
        self.commit(writer, seq)?;
        self.checkpoint()?;
        Ok(count)
    }
}

pub fn hash8(hash: &mutua_protocol::RecordHash) -> u64 {
    u64::from_be_bytes(hash.0[..8].try_into().expect("32 bytes"))
}

impl Drop for SearchIndex {
    /// A clean close leaves the index durable: the next open replays nothing.
    fn drop(&mut self) {
        if self.covered().is_some_and(|c| c > self.durable()) {
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

/// The document of a stored record, if it is an indexable listing.
pub fn doc_of(record: StoredRecord, swept_until: u64) -> Option<Doc> {
    let side = layout::indexable(&record.payload, swept_until)?.0;
    match record.payload {
        Payload::Offer(listing) | Payload::Need(listing) => Some(Doc {
            side,
            listing,
            hash: record.hash,
        }),
        _ => None,
    }
}

/// What a listing slot holds for the index now, read from sled.
pub fn current_doc(tree: &sled::Tree, slot: &[u8], swept_until: u64) -> Result<Change, StoreError> {
    let record_key = key(prefix::RECORD, &[slot]);
    let doc = match tree.get(&record_key)? {
        Some(v) => doc_of(StoredRecord::decode(&record_key, &v)?, swept_until),
        None => None,
    };
    Ok(Change {
        slot: slot.to_vec(),
        doc,
    })
}

/// Every indexable listing in sled, as documents.
pub fn all_docs(
    tree: &sled::Tree,
    swept_until: u64,
) -> impl Iterator<Item = Result<Change, StoreError>> + '_ {
    tree.scan_prefix([prefix::RECORD, 0])
        .filter_map(move |entry| {
            let (k, v) = match entry {
                Ok(e) => e,
                Err(e) => return Some(Err(e.into())),
            };
            match StoredRecord::decode(&k, &v) {
                Ok(record) => doc_of(record, swept_until).map(|doc| {
                    Ok(Change {
                        slot: k[1..].to_vec(),
                        doc: Some(doc),
                    })
                }),
                Err(e) => Some(Err(e)),
            }
        })
}

impl crate::Store {
    /// Brings the search index up to sled's search sequence at open: replays
    /// the journal entries it misses, or rebuilds it when it is new, older
    /// than the journal reaches, or ahead of sled (a restored sled
    /// directory).
    pub(crate) fn catch_up_search(&self) -> Result<(), StoreError> {
        let search = &self.inner.search;
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = &self.inner.tree;
        let swept_until = self.swept_until()?;
        let seq = writer.seq;
        let mut journal = Vec::new();
        for entry in tree.scan_prefix([prefix::JOURNAL]) {
            let (k, v) = entry?;
            let s = layout::u64_value(&k[1..])
                .ok_or_else(|| StoreError::corrupt(&k, "journal key is not a sequence"))?;
            journal.push((s, v));
        }
        let missing =
            |from: u64| (from..=seq).any(|s| journal.binary_search_by_key(&s, |e| e.0).is_err());
        match search.covered() {
            Some(c) if c == seq => {}
            Some(c) if c < seq && !missing(c + 1) => {
                let mut slots = std::collections::BTreeSet::new();
                for (s, v) in &journal {
                    if *s > c {
                        if !v.len().is_multiple_of(layout::LISTING_SLOT_LEN) {
                            return Err(StoreError::corrupt(
                                &journal_key(*s),
                                "journal value is not a list of slots",
                            ));
                        }
                        slots.extend(v.chunks_exact(layout::LISTING_SLOT_LEN).map(<[u8]>::to_vec));
                    }
                }
                tracing::info!(
                    from = c,
                    to = seq,
                    listings = slots.len(),
                    "replaying the search journal"
                );
                let changes = slots
                    .iter()
                    .map(|slot| current_doc(tree, slot, swept_until))
                    .collect::<Result<Vec<_>, _>>()?;
                search.apply_now(&changes, seq)?;
            }
            covered => {
                tracing::warn!(?covered, seq, "building the search index from the records");
                let count = search.rebuild(all_docs(tree, swept_until), seq)?;
                tracing::info!(listings = count, "search index built");
            }
        }
        // Covered entries are deleted by the next write's sled batch, not
        // here: a store opened only to read must not write.
        writer.journal_from = journal.first().map_or(seq + 1, |e| e.0);
        search.checkpoint()
    }

    /// Rebuilds the search index from sled (`reindex`). Call with the
    /// writer lock held.
    pub(crate) fn rebuild_search(&self, seq: u64) -> Result<u64, StoreError> {
        let swept_until = self.swept_until()?;
        self.inner
            .search
            .rebuild(all_docs(&self.inner.tree, swept_until), seq)
    }

    /// `check`'s half for the search index, both ways: every listing sled
    /// holds that is to be indexed is in it once, of the stored version; it
    /// holds nothing else but listings expired by the last sweep time that
    /// wait for the next sweep (never served: queries check expiry).
    /// Listings whose change is in flight (written to sled, not yet
    /// published) are skipped. Call with the writer lock held. Returns how
    /// many listings sled expects in the index.
    pub(crate) fn check_search(&self, report: &mut crate::CheckReport) -> Result<u64, StoreError> {
        let search = &self.inner.search;
        let swept_until = self.swept_until()?;
        let in_flight = search.staged_slots();
        let mut in_index = search.slots()?;
        let mut expected = 0;
        for entry in all_docs(&self.inner.tree, swept_until) {
            let change = match entry {
                Ok(c) => c,
                Err(_) => continue, // an undecodable record: reported by `check`
            };
            let Some(doc) = change.doc else { continue };
            expected += 1;
            let slot = change.slot;
            let record_key = key(prefix::RECORD, &[&slot]);
            if in_flight.contains(&slot) {
                in_index.remove(&slot);
                continue;
            }
            match in_index.remove(&slot).as_deref() {
                None | Some([]) => {
                    report.problem(&record_key, "listing is missing from the search index")
                }
                Some([one]) if one.hash8 == hash8(&doc.hash) => {}
                Some([_]) => report.problem(
                    &record_key,
                    "the search index holds another version of this listing",
                ),
                Some(many) => report.problem(
                    &record_key,
                    format!("listing is {} times in the search index", many.len()),
                ),
            }
        }
        for (slot, docs) in in_index {
            if in_flight.contains(&slot) || docs.iter().all(|d| d.expires_at <= swept_until) {
                continue;
            }
            report.problem(
                &key(prefix::RECORD, &[&slot]),
                "the search index holds a listing that sled does not hold or index",
            );
        }
        Ok(expected)
    }

    /// The search index's size, listings and write time.
    pub fn search_index_stats(&self) -> SearchIndexStats {
        let search = &self.inner.search;
        SearchIndexStats {
            disk_bytes: search.disk_bytes(),
            listings: search.num_docs(),
            publish_time: std::time::Duration::from_nanos(
                search.publish_nanos.load(Ordering::Relaxed),
            ),
        }
    }
}
