//! The index's directory: tantivy's `MmapDirectory`, except that writes are
//! not synced to disk when tantivy finishes a file or commits (that is one
//! fsync per segment file, `meta.json` and the directory: ~87 ms per commit
//! on the reference VM, BENCHMARKS.md), but only when the store asks for a
//! checkpoint ([`LazySyncDirectory::sync_all`]).
//!
//! Why this is safe: the index is derived, and sled's search journal keeps
//! every change after the last checkpoint (the index module deletes journal
//! entries only up to it). A process crash loses nothing (the kernel has
//! the files). A power loss may leave unsynced files damaged: opening the
//! index verifies every segment file's checksum and rebuilds it from sled
//! when one fails, and otherwise replays the journal from the commit that
//! survived.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// See the module docs.
#[derive(Clone, Debug)]
pub struct LazySyncDirectory {
    root: PathBuf,
    inner: MmapDirectory,
}

impl LazySyncDirectory {
    pub fn open(root: &Path) -> Result<LazySyncDirectory, OpenDirectoryError> {
        Ok(LazySyncDirectory {
            root: root.to_owned(),
            inner: MmapDirectory::open(root)?,
        })
    }

    /// Makes every file of the directory, and the directory itself, durable.
    pub fn sync_all(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                match File::open(entry.path()) {
                    Ok(f) => f.sync_data()?,
                    // Deleted meanwhile by tantivy's garbage collection.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        File::open(&self.root)?.sync_data()
    }
}

/// A file writer whose end flushes to the kernel, without fsync.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for LazySyncDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_owned())
                } else {
                    OpenWriteError::wrap_io_error(e, path.to_owned())
                }
            })?;
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    /// Written beside, then renamed over: readers see the old or the new
    /// content, never a mix (durable at the next `sync_all`).
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let target = self.root.join(path);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let temp = self.root.join(format!(".{name}.writing"));
        std::fs::write(&temp, data)?;
        std::fs::rename(&temp, &target)
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}
