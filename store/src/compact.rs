//! Offline compaction: sled 0.34 never gives back the space of the pages it
//! rewrote (a store measured ~9× its live keys and values on disk), so
//! `compact` copies the live entries, in key order, into a fresh directory
//! and swaps it in (measured: 2.7× smaller at 30k listings, BENCHMARKS.md).
//! The same copy changes the settings sled persists in its `conf` file and
//! refuses to change across opens (page compression, segment size):
//! `Store::open` runs it when the store's differ from its configuration
//! (layout 8's migration to compressed pages, layout 9's back to raw ones).
//!
//! The swap is two renames: `store` → `store.pre-compact`, then
//! `store.compacting` → `store`. `recover` (run by `Store::open`) finishes or
//! undoes a swap that a crash interrupted, so the records are never lost and
//! an empty store is never opened in their place.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::CompactError;

/// Entries per sled batch of the copy (sled 0.34 clones a leaf per key;
/// bigger batches measured larger, not smaller, copies).
const COPY_BATCH: usize = 4096;
/// Written into the copy once it is complete and verified.
const COMPLETE_MARK: &str = "mutua-compaction-complete";

/// What `compact` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactReport {
    pub entries: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CompactError {
    let path = path.to_owned();
    move |source| CompactError::Io { what, path, source }
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64, CompactError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io("cannot list", dir))? {
        let entry = entry.map_err(io("cannot list", dir))?;
        let meta = entry.metadata().map_err(io("cannot read", &entry.path()))?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// What sled persisted in a store's `conf` file: the settings it refuses
/// to open with other values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persisted {
    pub segment_size: usize,
    pub compressed: bool,
}

/// The settings sled persisted for the store at `path`, or `None` for a new
/// store. The file is sled 0.34's `key: value` lines followed by a CRC.
pub fn persisted(path: &Path) -> Result<Option<Persisted>, CompactError> {
    let file = path.join("conf");
    let bytes = match std::fs::read(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.map_err(io("cannot read", &file))?,
    };
    let text = String::from_utf8_lossy(&bytes);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            .map(str::to_owned)
    };
    match (
        value("segment_size").and_then(|v| v.parse().ok()),
        value("use_compression").and_then(|v| v.parse().ok()),
    ) {
        (Some(segment_size), Some(compressed)) => Ok(Some(Persisted {
            segment_size,
            compressed,
        })),
        // sled itself treats a short file as absent; anything else it reports.
        _ => Ok(None),
    }
}

/// A sled configuration that opens the existing store at `path` whatever
/// settings it was created with.
pub fn existing_config(path: &Path) -> Result<sled::Config, CompactError> {
    let config = sled::Config::new().path(path);
    Ok(match persisted(path)? {
        Some(p) => config
            .segment_size(p.segment_size)
            .use_compression(p.compressed),
        None => config,
    })
}

impl crate::SledSettings {
    /// Whether a store that sled persisted as `p` opens with these settings.
    pub fn accepts(&self, p: &Persisted) -> bool {
        self.compression.is_some() == p.compressed
            && self.segment_size.is_none_or(|s| s == p.segment_size)
    }
}

/// Count and SHA-256 of every (tree, key, value), trees in name order.
fn fingerprint(db: &sled::Db) -> Result<(u64, [u8; 32]), CompactError> {
    let mut names = db.tree_names();
    names.sort();
    let mut hasher = Sha256::new();
    let mut count = 0;
    for name in names {
        let tree = db.open_tree(&name)?;
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(&name);
        for entry in tree.iter() {
            let (k, v) = entry?;
            for part in [&k, &v] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part);
            }
            count += 1;
        }
    }
    Ok((count, hasher.finalize().into()))
}

/// Finishes or undoes a swap interrupted by a crash. Nothing to do in the
/// common case (no `pre-compact` directory).
pub fn recover(path: &Path) -> Result<(), CompactError> {
    let previous = sibling(path, ".pre-compact");
    let copy = sibling(path, ".compacting");
    if !previous.exists() {
        return Ok(());
    }
    if path.exists() {
        // Both renames happened; only the old directory is left to delete.
        tracing::warn!(path = %previous.display(), "removing the store left from a compaction");
        return std::fs::remove_dir_all(&previous).map_err(io("cannot remove", &previous));
    }
    if copy.join(COMPLETE_MARK).exists() {
        tracing::warn!(path = %path.display(), "finishing an interrupted compaction");
        std::fs::rename(&copy, path).map_err(io("cannot rename", &copy))?;
        std::fs::remove_file(path.join(COMPLETE_MARK)).map_err(io("cannot clean up", path))?;
        std::fs::remove_dir_all(&previous).map_err(io("cannot remove", &previous))
    } else {
        tracing::warn!(path = %path.display(), "undoing an interrupted compaction");
        std::fs::rename(&previous, path).map_err(io("cannot rename", &previous))
    }
}

/// Copies the closed store at `path` into a fresh directory, verifies the
/// copy entry for entry, and swaps it in. No process may have the store open
/// (sled's lock refuses it anyway). Needs free disk space for the copy. The
/// copy has the default [`crate::SledSettings`] (raw pages).
pub fn compact(path: &Path) -> Result<CompactReport, CompactError> {
    rewrite(path, &crate::SledSettings::default())
}

/// Rewrites the closed store at `path` if sled persisted other settings
/// than `wanted` (a store of layout 8 has compressed pages),
/// with progress in the log. Nothing to do for a new store or one that
/// matches.
pub fn migrate_settings(path: &Path, wanted: &crate::SledSettings) -> Result<(), CompactError> {
    let Some(found) = persisted(path)? else {
        return Ok(());
    };
    if wanted.accepts(&found) {
        return Ok(());
    }
    tracing::warn!(
        path = %path.display(),
        ?found,
        ?wanted,
        "rewriting the store with new sled settings; the old files stay until the copy is verified"
    );
    let started = std::time::Instant::now();
    let report = rewrite(path, wanted)?;
    tracing::warn!(
        entries = report.entries,
        mib_before = report.bytes_before / 1_048_576,
        mib_after = report.bytes_after / 1_048_576,
        secs = started.elapsed().as_secs(),
        "store rewritten with the new sled settings"
    );
    Ok(())
}

/// Entries between two progress lines of a rewrite.
const PROGRESS_EVERY: u64 = 100_000;

/// [`compact`] into a copy with sled settings `target`: what a change of
/// sled's persisted settings needs (`Store::open` calls it with progress in
/// the log). Crash-safe as `compact` is: until the first rename the store is
/// untouched and a leftover copy is deleted by the next attempt; after it,
/// `recover` finishes the swap.
pub fn rewrite(
    path: &Path,
    target_settings: &crate::SledSettings,
) -> Result<CompactReport, CompactError> {
    recover(path)?;
    if !path.exists() {
        return Err(CompactError::Missing(path.to_owned()));
    }
    let copy = sibling(path, ".compacting");
    if copy.exists() {
        // A copy that was never swapped in: start over.
        std::fs::remove_dir_all(&copy).map_err(io("cannot remove", &copy))?;
    }
    let bytes_before = dir_bytes(path)?;
    let source = crate::open_sled(existing_config(path)?)?;
    let is_store = source
        .tree_names()
        .iter()
        .any(|n| n.as_ref() == crate::layout::TREE.as_bytes())
        && source
            .open_tree(crate::layout::TREE)?
            .contains_key(crate::layout::meta::LAYOUT)?;
    if !is_store {
        return Err(CompactError::NotAStore(path.to_owned()));
    }
    let target = crate::open_sled(target_settings.configure(sled::Config::new().path(&copy)))?;
    let total: usize = source.len()
        + source
            .open_tree(crate::layout::TREE)
            .map(|t| t.len())
            .unwrap_or(0);
    let mut copied = 0u64;
    for name in source.tree_names() {
        let (from, to) = (source.open_tree(&name)?, target.open_tree(&name)?);
        let mut batch = sled::Batch::default();
        let mut size = 0;
        for entry in from.iter() {
            let (k, v) = entry?;
            batch.insert(k, v);
            size += 1;
            copied += 1;
            if copied.is_multiple_of(PROGRESS_EVERY) {
                tracing::info!(copied, total, path = %path.display(), "copying the store");
            }
            if size == COPY_BATCH {
                to.apply_batch(std::mem::take(&mut batch))?;
                crate::reclaim_sled_garbage();
                size = 0;
            }
        }
        to.apply_batch(batch)?;
    }
    target.flush()?;
    let (entries, expected) = fingerprint(&source)?;
    if fingerprint(&target)? != (entries, expected) {
        return Err(CompactError::CopyDiffers(copy));
    }
    drop((source, target));
    // The search index covers the same records: it moves with them (if
    // the swap is then undone, the restored store rebuilds its index).
    let index = path.join(crate::index::DIR_NAME);
    if index.exists() {
        let moved = copy.join(crate::index::DIR_NAME);
        std::fs::rename(&index, &moved).map_err(io("cannot move", &index))?;
    }
    std::fs::write(copy.join(COMPLETE_MARK), b"").map_err(io("cannot write to", &copy))?;
    let previous = sibling(path, ".pre-compact");
    std::fs::rename(path, &previous).map_err(io("cannot rename", path))?;
    std::fs::rename(&copy, path).map_err(io("cannot rename", &copy))?;
    std::fs::remove_file(path.join(COMPLETE_MARK)).map_err(io("cannot clean up", path))?;
    std::fs::remove_dir_all(&previous).map_err(io("cannot remove", &previous))?;
    Ok(CompactReport {
        entries,
        bytes_before,
        bytes_after: dir_bytes(path)?,
    })
}
