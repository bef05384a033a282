//! Migration at open of a store written with an older layout (2–9): 2–5
//! kept a query index in sled (listing numbers, summaries, postings; see
//! [`prefix::OBSOLETE`]); since 6 sled keeps none, the tantivy index
//! answers; 6 lacks the lending lookups, which a reindex writes; 7 has
//! layout 9's entries with every envelope raw; 8 the same in compressed
//! sled files, which `compact::migrate_settings` rewrote raw before this
//! runs (the index and journal of 7 and 8 are kept; their counts and
//! search sequence become the `counts` module's snapshot); 2–9 kept a
//! forget entry per record, which 10 reads from the sync entry (`forget`
//! module): they are deleted with the obsolete entries. The envelopes of 2–8
//! are all raw: once this has run, open trains the store's dictionary,
//! packs them (`packing::pack_stored`, resumed by open if interrupted),
//! compacts the files and opens the store again.
//!
//! The migration deletes the obsolete entries in bounded batches, flushing
//! every [`FLUSH_EVERY`] deletions and logging its progress, removes the
//! search index an earlier version left (its schema or coverage may not be
//! this version's), and only then writes the new layout version: until that
//! write the store still says its old layout, so an interrupted migration
//! is simply run again by the next open (deleting what is left is
//! idempotent) and the store is never read as the new layout while it holds old
//! entries. The search index is then built from the records by the open
//! that follows (`catch_up_search`, with progress). Layouts before
//! [`layout::SAME_RECORD_ENTRIES_SINCE`] also get a reindex, which rebuilds
//! their sync entries and lookups from the records.

use std::path::Path;

use crate::error::StoreError;
use crate::layout::{self, meta, prefix};

/// Keys removed per sled batch.
const BATCH_KEYS: usize = 4096;
/// Deletions between two flushes (what an interruption may redo) and two
/// progress lines.
const FLUSH_EVERY: u64 = 65_536;

/// Deletes a layout-`found` store's obsolete entries and records layout
/// [`layout::LAYOUT_VERSION`]. Returns how many keys it deleted.
pub fn obsolete_entries(
    db: &sled::Db,
    tree: &sled::Tree,
    store_dir: &Path,
    found: u32,
) -> Result<u64, StoreError> {
    let to = layout::LAYOUT_VERSION;
    tracing::warn!(
        from = found,
        to,
        "migrating the store: deleting entries this layout does not keep"
    );
    let mut deleted = 0u64;
    let mut since_flush = 0u64;
    let rebuild_index = found < layout::SAME_SEARCH_INDEX_SINCE;
    // The old search journal describes an index this version rebuilds.
    let journal = rebuild_index.then_some(&prefix::JOURNAL);
    for p in prefix::OBSOLETE.iter().chain(journal) {
        loop {
            let keys: Vec<sled::IVec> = tree
                .scan_prefix([*p])
                .keys()
                .take(BATCH_KEYS)
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for k in &keys {
                batch.remove(k.clone());
            }
            tree.apply_batch(batch)?;
            crate::reclaim_sled_garbage();
            deleted += keys.len() as u64;
            since_flush += keys.len() as u64;
            if since_flush >= FLUSH_EVERY {
                db.flush()?;
                since_flush = 0;
                tracing::info!(deleted, "migrating the store: old index entries deleted");
            }
        }
    }
    tree.remove(meta::OBSOLETE_NEXT_NUMBER)?;
    db.flush()?;
    if rebuild_index {
        crate::index::remove_dir(&store_dir.join(crate::index::DIR_NAME))?;
    }
    let mut batch = sled::Batch::default();
    if found < layout::COUNTS_SNAPSHOT_SINCE {
        // The counts and the last search sequence, rewritten by every batch
        // until 8, become a snapshot (`counts` module).
        let persisted = crate::counts::read(tree)?;
        batch.insert(
            meta::COUNTS,
            crate::counts::snapshot(&persisted.counts, persisted.seq),
        );
        batch.remove(meta::OBSOLETE_SEARCH_SEQ);
    }
    if found < layout::SAME_RECORD_ENTRIES_SINCE {
        batch.insert(meta::REINDEXING, &[1]);
    }
    batch.insert(meta::LAYOUT, &to.to_be_bytes());
    tree.apply_batch(batch)?;
    db.flush()?;
    tracing::info!(
        deleted,
        from = found,
        to,
        "store migrated; the search index is caught up next"
    );
    Ok(deleted)
}
