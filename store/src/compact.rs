//! Offline compaction: sled 0.34 never gives back the space of the pages it
//! rewrote (a store measured ~9× its live keys and values on disk), so
//! `compact` copies the live entries, in key order, into a fresh directory
//! and swaps it in (measured: 2.7× smaller at 30k listings, BENCHMARKS.md).
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
/// (sled's lock refuses it anyway). Needs free disk space for the copy.
pub fn compact(path: &Path) -> Result<CompactReport, CompactError> {
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
    let source = crate::open_sled(sled::Config::new().path(path))?;
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
    let target = crate::open_sled(sled::Config::new().path(&copy))?;
    for name in source.tree_names() {
        let (from, to) = (source.open_tree(&name)?, target.open_tree(&name)?);
        let mut batch = sled::Batch::default();
        let mut size = 0;
        for entry in from.iter() {
            let (k, v) = entry?;
            batch.insert(k, v);
            size += 1;
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
