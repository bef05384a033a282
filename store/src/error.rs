//! Typed errors of the store, one small enum per operation.

use std::path::PathBuf;

use mutua_protocol::{MembershipError, RecordError, Verdict};
use thiserror::Error;

/// Why the store could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// sled could not open the directory (missing permissions, another
    /// process holds the lock, damaged files).
    #[error("cannot open the store at {path}: {source}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// Another process has the store open (sled's file lock): a node, or a
    /// `mutua store` command, of the same data directory.
    #[error(
        "the store at {path} is in use by another process (a node running on this data directory, \
         or a `mutua store` command): stop it first, or give this node its own --data-dir"
    )]
    InUse { path: PathBuf },
    /// The store was written by a newer version of Mutua with a layout this
    /// version cannot read.
    #[error(
        "the store at {path} has layout version {found}, newer than the version {supported} this \
         program reads: upgrade mutua, or move the directory away and let the node resync"
    )]
    LayoutTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The store was written by an older layout this version has no
    /// migration for.
    #[error(
        "the store at {path} has layout version {found}, older than the version {supported} this \
         program reads, and no migration exists: move the directory away and let the node resync"
    )]
    LayoutTooOld {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The directory holds sled data but no layout version: not a Mutua store
    /// or one from a pre-release build.
    #[error(
        "{path} holds data without a Mutua layout version (not a Mutua store, or a pre-release \
         one): move it away and let the node resync"
    )]
    UnknownLayout { path: PathBuf },
    /// A compaction was interrupted and could be neither finished nor undone.
    #[error("cannot recover the interrupted compaction of {path}: {source}")]
    Compaction {
        path: PathBuf,
        #[source]
        source: Box<CompactError>,
    },
    /// Migrating an older layout failed; what was done is kept and the next
    /// open resumes it.
    #[error(
        "cannot migrate the store at {path} from layout version {found}: {source} (the next \
         start resumes the migration)"
    )]
    Migration {
        path: PathBuf,
        found: u32,
        #[source]
        source: StoreError,
    },
    /// The search index could not be opened, rebuilt or brought up to date.
    #[error("cannot open the search index of the store at {path}: {source}")]
    SearchIndex {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    /// A metadata value the store needs to start is unreadable.
    #[error("the store at {path} is damaged ({what}): run `mutua store check`")]
    Corrupt { path: PathBuf, what: String },
}

/// A failure of the storage itself (not of a record).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an I/O error; the operation did not take effect.
    #[error("store I/O error: {0}")]
    Sled(#[from] sled::Error),
    /// A value in the store cannot be read back; `check` lists all such values
    /// and `reindex` rebuilds what is derived.
    #[error("damaged store entry {key}: {reason} (run `mutua store check`)")]
    Corrupt { key: String, reason: String },
    /// A maintenance operation needs exclusive use of the writer, which a
    /// panic in another thread left poisoned.
    #[error("the store's writer lock is poisoned by an earlier panic; restart the node")]
    Poisoned,
    /// The search index failed; the records in sled are unaffected and the
    /// index catches up when the store is opened again.
    #[error("search index error: {0}")]
    SearchIndex(String),
}

impl StoreError {
    pub(crate) fn corrupt(key: &[u8], reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            key: crate::layout::printable_key(key),
            reason: reason.into(),
        }
    }
}

/// Why `compact` stopped. The store is left as it was (or as the finished
/// copy, if the failure came after the swap).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CompactError {
    #[error("store I/O error: {0}")]
    Sled(#[from] sled::Error),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("there is no store at {0}")]
    Missing(PathBuf),
    #[error("{0} is not a Mutua store (it has no layout version)")]
    NotAStore(PathBuf),
    /// The copy did not read back identical; it is left at this path for
    /// inspection and the store is untouched.
    #[error("the compacted copy at {0} differs from the store; the store was not replaced")]
    CopyDiffers(PathBuf),
}

/// Why a record was not stored. `code()` is stable (metrics), `verdict()`
/// says whether the sender is to be penalised.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The record breaks a protocol rule at this time (expired, from the
    /// future, or a field rule).
    #[error("invalid record: {0}")]
    Record(#[from] RecordError),
    /// Its signer is not a current member (or, for a certificate, may not
    /// admit members).
    #[error("signer is not a member: {0}")]
    Membership(#[from] MembershipError),
}

impl Rejection {
    /// The stable code of the rule that failed (as in PROTOCOL.md).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Record(e) => e.code(),
            Rejection::Membership(e) => e.code(),
        }
    }

    /// Membership failures are never blamed on the sender: its view of the
    /// certificates may simply be ahead of or behind ours.
    pub fn verdict(&self) -> Verdict {
        match self {
            Rejection::Record(e) => e.verdict(),
            Rejection::Membership(_) => Verdict::Ignore,
        }
    }
}

/// Why a query could not run. Every variant names the query field at fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A filter value is malformed or out of range.
    #[error("query.{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A commune that the 2026 reference data does not know, as the centre
    /// of a radius search (area filters accept any well-formed code).
    #[error("query.{field}: {code:?} is not a known {what} in the 2026 reference data")]
    UnknownArea {
        field: &'static str,
        code: String,
        what: &'static str,
    },
    /// "near a commune" needs its reference point, and the reference data
    /// has none for it.
    #[error(
        "query.near: the position of commune {insee} is not known (the reference data has none for it); give a point as latitude,longitude instead"
    )]
    NoCoordinates { insee: String },
    /// The cursor is not one this store produced for this sort order.
    #[error("query.cursor: {0}")]
    BadCursor(String),
    /// The store failed while answering.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for QueryError {
    fn from(e: sled::Error) -> Self {
        QueryError::Store(StoreError::Sled(e))
    }
}
