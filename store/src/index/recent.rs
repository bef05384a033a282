//! The changes since the last checkpoint, searchable at once: a small
//! tantivy index in RAM (same schema and analyzers as the disk index),
//! committed by the first query after a publication, while the disk index is committed only
//! at checkpoints (see the `writer` module).
//!
//! A change is indexed in RAM only when a query asks for the view: until
//! then its document waits in a list. Writes with no query between two
//! checkpoints (a sync, an import) are so indexed once, by the disk
//! writer, instead of twice (BENCHMARKS.md, "Floors").
//!
//! A query searches a [`View`]: the disk index's last commit, the RAM
//! index, and the slots changed since that commit, whose disk documents
//! are hidden (the RAM index holds their current state, a document or
//! nothing). BM25 statistics are summed over both indexes, exactly as
//! tantivy sums them over the segments of one index (a hidden disk
//! document still counts, as a deleted document counts until a merge
//! purges it), so a listing scores the same whichever index holds it.

use std::collections::HashSet;
use std::sync::Arc;

use tantivy::collector::Collector;
use tantivy::query::{Bm25StatisticsProvider, EnableScoring, Query};
use tantivy::schema::Field;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use super::{analyzer, schema, search_err, tiebreak, WRITER_MEMORY_BYTES};
use crate::error::StoreError;

/// The slots changed since the disk index's last commit.
#[derive(Clone, Debug, Default)]
pub struct Masked {
    slots: HashSet<Vec<u8>>,
    /// Their tie-breaks (first 8 bytes of the sync key): a fast-field
    /// pre-check before the slot bytes are read.
    tiebreaks: HashSet<u64>,
}

impl Masked {
    /// Whether the disk document with this tie-break and slot is hidden.
    pub fn hides(&self, tiebreak: u64, slot: impl FnOnce() -> Option<Vec<u8>>) -> bool {
        self.tiebreaks.contains(&tiebreak) && slot().is_some_and(|s| self.slots.contains(&s))
    }

    pub fn contains(&self, slot: &[u8]) -> bool {
        self.slots.contains(slot)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn slots(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.slots.iter()
    }
}

/// What a query searches (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct View {
    pub disk: Searcher,
    /// `None` when nothing changed since the disk commit.
    pub recent: Option<Searcher>,
    pub masked: Arc<Masked>,
}

/// BM25 statistics over both indexes.
struct Both<'a>(&'a Searcher, &'a Searcher);

impl Bm25StatisticsProvider for Both<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok(self.0.total_num_tokens(field)? + self.1.total_num_tokens(field)?)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.0.total_num_docs()? + self.1.total_num_docs()?)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        Ok(self.0.doc_freq(term)? + self.1.doc_freq(term)?)
    }
}

impl View {
    /// Runs `query` over both indexes: `disk` collects the disk segments
    /// (it must skip what [`View::masked`] hides), `recent` the RAM ones;
    /// one weight, so scores are comparable.
    pub fn search<C: Collector>(
        &self,
        query: &dyn Query,
        disk: &C,
        recent: &C,
    ) -> tantivy::Result<C::Fruit> {
        let both = self.recent.as_ref().map(|r| Both(&self.disk, r));
        let scoring = match (&both, disk.requires_scoring()) {
            (_, false) => EnableScoring::disabled_from_searcher(&self.disk),
            (Some(both), true) => EnableScoring::enabled_from_statistics_provider(both, &self.disk),
            (None, true) => EnableScoring::enabled_from_searcher(&self.disk),
        };
        let weight = query.weight(scoring)?;
        let mut fruits = Vec::new();
        for (ord, segment) in self.disk.segment_readers().iter().enumerate() {
            fruits.push(disk.collect_segment(weight.as_ref(), ord as u32, segment)?);
        }
        if let Some(r) = &self.recent {
            for (ord, segment) in r.segment_readers().iter().enumerate() {
                fruits.push(recent.collect_segment(weight.as_ref(), ord as u32, segment)?);
            }
        }
        disk.merge_fruits(fruits)
    }
}

/// The RAM index and its writer, made by the first commit that has
/// documents for it.
struct Ram {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
}

/// The changes since the disk commit: the documents not indexed yet, the
/// RAM index of the others.
pub struct Recent {
    unindexed: Vec<(Vec<u8>, Option<TantivyDocument>)>,
    ram: Option<Ram>,
    slot_field: Field,
    masked: Arc<Masked>,
}

impl Recent {
    pub fn new(slot_field: Field) -> Recent {
        Recent {
            unindexed: Vec::new(),
            ram: None,
            slot_field,
            masked: Arc::new(Masked::default()),
        }
    }

    /// Sets a slot's document (`None`: not indexed), hiding its disk one
    /// from the next commit on.
    pub fn write(&mut self, slot: &[u8], doc: Option<TantivyDocument>) {
        self.unindexed.push((slot.to_vec(), doc));
    }

    /// Indexes what was written and returns the view over it and `disk`.
    pub fn commit(&mut self, disk: Searcher) -> Result<View, StoreError> {
        if !self.unindexed.is_empty() {
            let ram = match &mut self.ram {
                Some(ram) => ram,
                None => self.ram.insert(Ram::new()?),
            };
            let masked = Arc::make_mut(&mut self.masked);
            for (slot, doc) in self.unindexed.drain(..) {
                ram.writer
                    .delete_term(Term::from_field_bytes(self.slot_field, &slot));
                if let Some(doc) = doc {
                    ram.writer.add_document(doc).map_err(search_err)?;
                }
                masked.tiebreaks.insert(tiebreak(&slot));
                masked.slots.insert(slot);
            }
            ram.writer.commit().map_err(search_err)?;
            ram.reader.reload().map_err(search_err)?;
        }
        Ok(View {
            disk,
            recent: self.ram.as_ref().map(|ram| ram.reader.searcher()),
            masked: Arc::clone(&self.masked),
        })
    }

    /// How many changes wait to be indexed in RAM.
    pub fn unindexed(&self) -> usize {
        self.unindexed.len()
    }

    /// Whether nothing changed since the disk commit.
    pub fn is_empty(&self) -> bool {
        self.unindexed.is_empty() && self.masked.len() == 0
    }
}

impl Ram {
    fn new() -> Result<Ram, StoreError> {
        let (schema, _) = schema();
        let index = Index::create_in_ram(schema);
        analyzer::register(index.tokenizers());
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
            .map_err(search_err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(search_err)?;
        Ok(Ram { writer, reader })
    }
}
