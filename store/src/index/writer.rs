//! Writing the index: publications (every `apply_batch` call: the RAM
//! index committed, the disk writer fed), checkpoints (the disk index
//! committed and synced, the RAM index emptied), sweeps, replays and
//! rebuilds, and the background thread that checkpoints once writes stop.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tantivy::{IndexWriter, TantivyDocument, Term};

use super::recent::{Recent, View};
use super::{
    payload_of, search_err, Change, SearchIndex, Writers, REBUILD_PROGRESS_EVERY,
    WRITER_MEMORY_BYTES,
};
use crate::error::StoreError;

/// Documents waiting for a query to index them in RAM (a few MiB) before
/// the disk index is committed instead.
const RECENT_UNINDEXED_MAX: usize = 4096;

impl SearchIndex {
    /// Stages a sled batch's changes (call under the store's writer lock,
    /// right after the sled batch is applied).
    pub fn stage(&self, seq: u64, changes: Vec<Change>) {
        self.staged
            .lock()
            .expect("staged lock")
            .push_back((seq, changes));
    }

    /// Publishes every staged change up to `seq` (the caller's flush covers
    /// them). Returns once queries see `seq`.
    pub fn publish(&self, seq: u64) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.with_writers(|w| self.publish_with(w, seq));
        self.publish_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    /// Runs `f` with the writers, opening them first if needed.
    fn with_writers<T>(
        &self,
        f: impl FnOnce(&mut Writers) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.writers.lock().map_err(|_| StoreError::Poisoned)?;
        if guard.is_none() {
            let disk = self
                .index
                .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
                .map_err(search_err)?;
            *guard = Some(Writers {
                disk,
                recent: Recent::new(self.fields.slot),
            });
        }
        f(guard.as_mut().expect("opened above"))
    }

    fn publish_with(&self, w: &mut Writers, seq: u64) -> Result<(), StoreError> {
        if self.visible().is_some_and(|v| v >= seq) {
            return Ok(());
        }
        let Some(last) = self.drain_staged(w, seq, true)? else {
            return Ok(());
        };
        // Committed by the next query (`view`), not here.
        self.visible.store(last, Ordering::SeqCst);
        self.dirty.store(true, Ordering::SeqCst);
        self.unsaved_since
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .get_or_insert_with(Instant::now);
        let behind = last.saturating_sub(self.covered().unwrap_or(0));
        if behind >= self.policy.every_seqs {
            self.checkpoint_with(w, false)?;
        } else if w.recent.unindexed() >= RECENT_UNINDEXED_MAX {
            // A commit costs less than indexing them twice, and bounds
            // their memory; the next checkpoint syncs it.
            self.commit_with(w, false)?;
        }
        Ok(())
    }

    /// Commits the RAM index if changes were published since its last
    /// commit, and shows them.
    pub(super) fn refresh_with(&self, w: &mut Writers) -> Result<(), StoreError> {
        if self.dirty.swap(false, Ordering::SeqCst) {
            let view = w.recent.commit(self.reader.searcher())?;
            *self.view.write().expect("view lock") = view;
        }
        Ok(())
    }

    fn install(&self, view: View, visible: u64) {
        *self.view.write().expect("view lock") = view;
        self.visible.store(visible, Ordering::SeqCst);
    }

    /// Writes every staged change up to `seq` to the disk writer
    /// (uncommitted) and, with `recent`, to the RAM index; returns the last
    /// sequence written.
    fn drain_staged(
        &self,
        w: &mut Writers,
        seq: u64,
        recent: bool,
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
            let recent = recent.then_some(&mut w.recent);
            self.write_disk(&w.disk, &changes, recent)?;
            last = Some(s);
        }
        Ok(last)
    }

    /// Writes `changes` to the disk writer and, with `recent`, to the RAM
    /// index (each document built once).
    fn write_disk(
        &self,
        writer: &IndexWriter<TantivyDocument>,
        changes: &[Change],
        mut recent: Option<&mut Recent>,
    ) -> Result<(), StoreError> {
        for c in changes {
            // A delete reaches only the documents added before it: the
            // slot's older version, not the one added next.
            writer.delete_term(Term::from_field_bytes(self.fields.slot, &c.slot));
            let doc = c.doc.as_ref().map(|d| self.document(&c.slot, d));
            if let Some(recent) = recent.as_deref_mut() {
                recent.write(&c.slot, doc.clone());
            }
            if let Some(doc) = doc {
                writer.add_document(doc).map_err(search_err)?;
            }
        }
        Ok(())
    }

    /// Commits the disk index as covering what queries see (`force`: even
    /// when that sequence is already committed, for deletions that come with
    /// no new sequence), and empties the RAM index. Its files are synced by
    /// the next checkpoint: until then the journal covers them.
    fn commit_with(&self, w: &mut Writers, force: bool) -> Result<(), StoreError> {
        let visible = self.visible();
        if let Some(seq) = visible.filter(|v| force || self.covered() != Some(*v)) {
            let mut prepared = w.disk.prepare_commit().map_err(search_err)?;
            prepared.set_payload(&payload_of(seq));
            prepared.commit().map_err(search_err)?;
            self.covered.store(seq, Ordering::SeqCst);
        }
        self.reader.reload().map_err(search_err)?;
        if !w.recent.is_empty() {
            w.recent = Recent::new(self.fields.slot);
        }
        self.dirty.store(false, Ordering::SeqCst);
        self.install(
            w.recent.commit(self.reader.searcher())?,
            self.covered.load(Ordering::SeqCst),
        );
        Ok(())
    }

    /// [`Self::commit_with`], then syncs the index's files.
    fn checkpoint_with(&self, w: &mut Writers, force: bool) -> Result<(), StoreError> {
        let started = Instant::now();
        self.commit_with(w, force)?;
        self.directory.sync_all().map_err(search_err)?;
        self.durable
            .fetch_max(self.covered().unwrap_or(0), Ordering::SeqCst);
        *self
            .unsaved_since
            .lock()
            .map_err(|_| StoreError::Poisoned)? = None;
        self.checkpoint_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Makes everything queries see durable in the disk index.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let mut guard = self.writers.lock().map_err(|_| StoreError::Poisoned)?;
        match guard.as_mut() {
            Some(w) => self.checkpoint_with(w, false),
            // Never written since open: nothing uncommitted.
            None => {
                self.directory.sync_all().map_err(search_err)?;
                self.durable
                    .fetch_max(self.covered().unwrap_or(0), Ordering::SeqCst);
                Ok(())
            }
        }
    }

    /// A checkpoint if the oldest change not checkpointed is older than
    /// `age` (the background thread's).
    fn checkpoint_if_older(&self, age: Duration) -> Result<(), StoreError> {
        let due = self
            .unsaved_since
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .is_some_and(|t| t.elapsed() >= age);
        if due {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Deletes every document that expired by `until` and checkpoints as
    /// covering `seq` (with the staged changes up to it, which the caller's
    /// flush covers). Returns how many documents queries saw that the
    /// deletion removes.
    pub fn sweep_expired(&self, until: u64, seq: u64) -> Result<u64, StoreError> {
        let expired = || {
            tantivy::query::RangeQuery::new(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Included(Term::from_field_u64(self.fields.expires_at, until)),
            )
        };
        self.with_writers(|w| {
            self.refresh_with(w)?;
            let count = self.visible_count(&expired())?;
            self.drain_staged(w, seq, false)?;
            if count > 0 {
                w.disk
                    .delete_query(Box::new(expired()))
                    .map_err(search_err)?;
            }
            self.visible
                .store(seq.max(self.visible().unwrap_or(0)), Ordering::SeqCst);
            self.checkpoint_with(w, true)?;
            Ok(count)
        })
    }

    /// How many documents queries see that match `query`.
    fn visible_count(&self, query: &dyn tantivy::query::Query) -> Result<u64, StoreError> {
        let view = self.current_view();
        let disk = super::search::VisibleCount {
            masked: Some(Arc::clone(&view.masked)),
        };
        let recent = super::search::VisibleCount { masked: None };
        view.search(query, &disk, &recent).map_err(search_err)
    }

    /// Applies changes read back from sled (replay at open) and checkpoints
    /// them as covering `seq`.
    pub fn apply_now(&self, changes: &[Change], seq: u64) -> Result<(), StoreError> {
        self.with_writers(|w| {
            self.write_disk(&w.disk, changes, None)?;
            self.visible.store(seq, Ordering::SeqCst);
            self.checkpoint_with(w, true)
        })
    }

    /// Replaces every document with `docs` and checkpoints them as covering
    /// `seq` (until then the previous commit stands: an interrupted rebuild
    /// leaves the index as it was). Call with the store's writer lock held.
    pub fn rebuild(
        &self,
        docs: impl Iterator<Item = Result<Change, StoreError>>,
        seq: u64,
    ) -> Result<u64, StoreError> {
        self.with_writers(|w| {
            self.staged.lock().expect("staged lock").clear();
            // What was published since the last checkpoint is in sled too.
            w.disk.rollback().map_err(search_err)?;
            w.disk.delete_all_documents().map_err(search_err)?;
            let mut count = 0u64;
            for change in docs {
                let change = change?;
                if let Some(doc) = &change.doc {
                    w.disk
                        .add_document(self.document(&change.slot, doc))
                        .map_err(search_err)?;
                    count += 1;
                    if count.is_multiple_of(REBUILD_PROGRESS_EVERY) {
                        tracing::info!(listings = count, "rebuilding the search index");
                    }
                }
            }
            self.visible.store(seq, Ordering::SeqCst);
            self.checkpoint_with(w, true)?;
            Ok(count)
        })
    }
}

/// The background thread that checkpoints the index once its oldest
/// unsaved change is [`super::SearchCheckpoints::every`] old; stopped and
/// joined when dropped.
pub struct Checkpointer {
    stop: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread if the index's policy asks for one.
    pub fn start(search: &Arc<SearchIndex>) -> Result<Checkpointer, StoreError> {
        let Some(every) = search.policy.every else {
            return Ok(Checkpointer {
                stop: None,
                thread: None,
            });
        };
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let search = Arc::clone(search);
        let thread = std::thread::Builder::new()
            .name("mutua-search-checkpoint".into())
            .spawn(move || {
                // Woken twice per period: a change waits at most 1.5 periods.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every / 2) {
                    if let Err(e) = search.checkpoint_if_older(every) {
                        tracing::warn!(error = %e, "search index checkpoint failed; retried later, and open replays the journal");
                    }
                }
            })
            .map_err(search_err)?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
