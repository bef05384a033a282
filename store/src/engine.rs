//! sled 0.34 as the store uses it: the settings it passes on, opening
//! with a short wait for a lock just released, reclaiming sled's deferred
//! garbage, and writing sled's snapshot at a clean close.
//!
//! sled 0.34 writes its snapshot (the page table, and the log position it
//! covers) only when it opens: `read_snapshot_or_default` replays every log
//! message after the last snapshot and writes the new one; its
//! `Config::snapshot_after_ops` and `snapshot_path` are deprecated no-ops and
//! its `take_fuzzy_snapshot` is never called. So an open after a long run
//! replays (and with compressed pages, decompresses) everything written since
//! the previous open. [`Store::close`](crate::Store::close) therefore reopens
//! sled once after the last handle is gone: the replay is paid at the stop,
//! and the next start replays only what a crash left after it.

use std::path::Path;

use crate::{Store, StoreError};

/// sled 0.34's settings the store passes on (by default sled's, pages
/// uncompressed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SledSettings {
    /// `sled::Mode::HighThroughput` instead of sled's default `LowSpace`.
    pub high_throughput: bool,
    /// The log's segment size in bytes (a power of two, 256 B–16 MiB); sled
    /// records it at creation and refuses to open a store with another, so
    /// `None` (sled's 512 KiB, or what the store was created with) is the
    /// only safe value for an existing store.
    pub segment_size: Option<usize>,
    /// zstd level of sled's page compression (`None`: off, the default
    /// since layout 9, where the store compresses its envelopes itself).
    /// sled records whether it is on at creation and refuses the other;
    /// `Store::open` rewrites a store whose setting differs
    /// (`compact::rewrite`).
    pub compression: Option<i32>,
}

/// The zstd level layout 8 gave sled's pages (BENCHMARKS.md), for a store
/// configured with sled's compression on.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

impl SledSettings {
    /// `config` with these settings.
    pub(crate) fn configure(&self, mut config: sled::Config) -> sled::Config {
        if self.high_throughput {
            config = config.mode(sled::Mode::HighThroughput);
        }
        if let Some(size) = self.segment_size {
            config = config.segment_size(size);
        }
        if let Some(level) = self.compression {
            config = config.use_compression(true).compression_factor(level);
        }
        config
    }
}

/// sled 0.34 copies a leaf for every key it writes and defers freeing the old
/// copy to its epoch collector, which frees only a few hundred per 128 pins:
/// after a batch of thousands of keys the garbage outgrew it and RSS rose
/// past 1 GiB at 100k listings (BENCHMARKS.md). Each flush of a fresh guard
/// hands the thread's garbage over and frees what the epoch allows.
pub(crate) fn reclaim_sled_garbage() {
    for _ in 0..GARBAGE_FLUSHES {
        sled::crossbeam_pin().flush();
    }
}

/// How long `open_sled` waits for a lock released by a handle just dropped.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled, waiting briefly for its file lock: sled releases it from
/// background threads after the last handle of the same process is dropped
/// (a reopen right after a close, or `compact` after the CLI's checks), so
/// only a lock still held after [`LOCK_WAIT`] (another process) is an error.
pub(crate) fn open_sled(config: sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        discard_unfinished_snapshots(&config.get_path())?;
        match config.open() {
            Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Removes the snapshots sled began and never finished in the closed store
/// at `dir`. sled 0.34 writes a snapshot to `snap.<lsn>.generating`, syncs
/// it, renames it to `snap.<lsn>`, then removes the older ones; but at open
/// it reads whichever `snap.*` file has the highest name, `.generating`
/// included. A process killed while writing one (a power cut during a start
/// or a stop: sled snapshots at open) thus left a store sled refused to
/// open, "Read corrupted data" (sled issue 1527). Such a file is never the
/// only snapshot of what is stored: without it sled reads the previous one
/// and replays the log after it, as after any crash. Only done when no
/// process holds the store (sled's lock, taken and released here): a store
/// open elsewhere may be writing one.
fn discard_unfinished_snapshots(dir: &Path) -> std::io::Result<()> {
    let Ok(lock) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("db"))
    else {
        return Ok(()); // a new store: no snapshot yet
    };
    if lock.try_lock().is_err() {
        return Ok(()); // held: sled's open says so
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(path = %path.display(), "removing a snapshot sled did not finish writing");
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Whether sled could not open because another process holds its lock
/// (sled reports it as an I/O error with this text, no kind of its own).
pub(crate) fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// The sled database of a closed store, for tools and tests that inspect or
/// damage its entries directly (waiting, like `Store::open`, for a lock
/// released by a handle just dropped).
pub fn open_raw_sled(path: &std::path::Path) -> sled::Result<sled::Db> {
    let config = crate::compact::existing_config(path)
        .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string())))?;
    open_sled(config)
}

/// How many collection rounds `reclaim_sled_garbage` runs (each frees up to
/// 8 × 64 deferred objects).
const GARBAGE_FLUSHES: usize = 32;

/// sled's page cache for the reopen that writes the snapshot (it reads no
/// pages).
const SNAPSHOT_CACHE_BYTES: u64 = 1024 * 1024;

/// Has sled write its snapshot of the closed store at `path`: opening
/// replays the log after the previous snapshot and writes the new one.
/// How long [`Store::close`] waits for the store's other handles to go.
pub const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) fn write_snapshot(path: &Path, settings: &SledSettings) -> sled::Result<()> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(SNAPSHOT_CACHE_BYTES);
    drop(open_sled(settings.configure(config))?);
    Ok(())
}

impl Store {
    /// Closes the store (the search index's last checkpoint, sled's last
    /// flush), then has sled write its snapshot, so that the next open
    /// replays only what is written after this close instead of the whole
    /// run (measured in BENCHMARKS.md). Takes as long as that open would
    /// have. Other handles of the store are waited for up to
    /// [`CLOSE_WAIT`] (a stopping node's last blocking tasks may still hold
    /// one); if some remain, it only drops this one (and warns): sled is
    /// still open.
    pub fn close(self) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        while std::sync::Arc::strong_count(&self.inner) > 1 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let inner = match std::sync::Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(inner) => {
                tracing::warn!(
                    handles = std::sync::Arc::strong_count(&inner) - 1,
                    "the store is still in use elsewhere: closed without sled's snapshot"
                );
                return Ok(());
            }
        };
        let (path, settings) = (inner.path.clone(), inner.sled_settings.clone());
        drop(inner);
        let started = std::time::Instant::now();
        write_snapshot(&path, &settings)?;
        tracing::info!(
            secs = started.elapsed().as_secs_f64(),
            "store closed, sled's snapshot written"
        );
        Ok(())
    }
}
