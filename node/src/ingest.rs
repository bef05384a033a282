//! The ingest pipeline: the one way a record enters the replica, whether it
//! comes from gossip, from sync, from this node's own publishers or from an
//! import. Decode (with the codec's size limits) → verify the signature →
//! membership → rules at the current time → last-writer-wins merge, the last
//! three inside [`Store::apply`].
//!
//! Four entries, one per kind of caller: [`Ingest::ingest`] (one gossiped
//! record, judged `Accepted`, `Ignored` or `Rejected` and so told to
//! gossipsub), [`Ingest::ingest_batch`] (a sync message's records, one
//! flush), [`Ingest::ingest_import`] (an export's envelopes, ordered for
//! admission first: `import`) and [`Ingest::ingest_local`] (a record this
//! node signed, which returns only once it is flushed). Every record is
//! counted in `mutua_ingest_records_total{source, outcome, reason}` and
//! timed in `mutua_ingest_seconds`.
//!
//! Decoding, `verify_strict` and sled all run on tokio's blocking pool, so
//! the async callers (the network actor's validation worker, the API) never
//! stall a runtime thread. A batch (sync, import) is opened on every core
//! ([`open_all`]: each record judged alone by `verify_strict`, never by batch
//! verification) and applied in order on one thread, with one flush.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libp2p::gossipsub::MessageAcceptance;
use libp2p::PeerId;
use mutua_protocol::sync::order_for_apply;
use mutua_protocol::{SignedRecord, Timestamp, Verdict};
use mutua_store::verify::open_all;
use mutua_store::{Applied, ApplyOutcome, Rejection, Store, StoreError};

use crate::metrics::{IngestLabels, IngestMetrics};

mod import;
use import::import_all;

/// Where a record came from: a metrics label, and for remote sources the
/// peer to blame or credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Received on the gossipsub topic, forwarded by this peer.
    Gossip(PeerId),
    /// Received from this peer during anti-entropy sync.
    Sync(PeerId),
    /// Published by a collectivity this node hosts.
    Local,
    /// Read from a file by an operator.
    Import,
}

impl Source {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Source::Gossip(_) => "gossip",
            Source::Sync(_) => "sync",
            Source::Local => "local",
            Source::Import => "import",
        }
    }
}

/// What the pipeline did with a record.
#[derive(Clone, Debug)]
pub enum IngestOutcome {
    /// Stored: new, newer than what the slot held, or the winner of an
    /// equivocation. Gossip forwards it.
    Accepted(Applied),
    /// Not stored and nobody to blame: a duplicate, an older version, an
    /// author not (yet) known as a member here, a record expired in transit,
    /// or a local storage failure (`store_error`).
    Ignored(NotStored),
    /// Invalid whoever sends it (bad signature, malformed, breaks a rule):
    /// the gossip sender's score drops. The protocol's [`RecordError`] is
    /// its source.
    ///
    /// [`RecordError`]: mutua_protocol::RecordError
    Rejected(Rejection),
}

/// Why a record nobody is blamed for was not stored. `code()` is the
/// metrics label; the text is what import reports and logs show.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotStored {
    /// Refused by a rule that does not blame the sender: membership (its
    /// view of the certificates may be ahead of or behind ours), expired in
    /// transit, from the future, an unsupported format.
    #[error(transparent)]
    Refused(Rejection),
    /// The store kept what it had: a duplicate, an older version, the
    /// losing record of an equivocation.
    #[error("{}", kept_reason(&.0.outcome))]
    Kept(Applied),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The blocking task running the store panicked.
    #[error("the ingest task failed: {0}")]
    Task(String),
}

/// The code of a record not stored because this node failed.
const STORE_ERROR: &str = "store_error";

impl NotStored {
    /// The reason code (metrics label).
    pub fn code(&self) -> &'static str {
        match self {
            NotStored::Refused(rejection) => rejection.code(),
            NotStored::Kept(applied) => applied.outcome.code(),
            NotStored::Store(_) | NotStored::Task(_) => STORE_ERROR,
        }
    }
}

fn kept_reason(outcome: &ApplyOutcome) -> &'static str {
    match outcome {
        ApplyOutcome::IgnoredDuplicate => "the record is already stored",
        ApplyOutcome::IgnoredOld => "a newer version is stored",
        ApplyOutcome::Equivocation { .. } => {
            "the author signed another record for this version, which wins"
        }
        _ => "the record was not stored",
    }
}

impl IngestOutcome {
    /// The gossipsub verdict for a message carrying this record.
    pub fn acceptance(&self) -> MessageAcceptance {
        match self {
            IngestOutcome::Accepted(_) => MessageAcceptance::Accept,
            IngestOutcome::Ignored(_) => MessageAcceptance::Ignore,
            IngestOutcome::Rejected(_) => MessageAcceptance::Reject,
        }
    }

    /// `accepted`, `ignored` or `rejected` (metrics label).
    pub fn label(&self) -> &'static str {
        match self {
            IngestOutcome::Accepted(_) => "accepted",
            IngestOutcome::Ignored(_) => "ignored",
            IngestOutcome::Rejected(_) => "rejected",
        }
    }

    /// The reason code (metrics label): how the store applied the record
    /// (`new`, `replaced`, `ignored_old`, …), or the rule that stopped it.
    pub fn code(&self) -> &'static str {
        match self {
            IngestOutcome::Accepted(applied) => applied.outcome.code(),
            IngestOutcome::Ignored(reason) => reason.code(),
            IngestOutcome::Rejected(rejection) => rejection.code(),
        }
    }

    fn from_rejection(rejection: Rejection) -> Self {
        match rejection.verdict() {
            Verdict::Reject => IngestOutcome::Rejected(rejection),
            Verdict::Ignore => IngestOutcome::Ignored(NotStored::Refused(rejection)),
        }
    }

    fn from_applied(applied: Applied) -> Self {
        if applied.outcome.is_stored() {
            return IngestOutcome::Accepted(applied);
        }
        match applied.outcome {
            ApplyOutcome::Rejected(rejection) => Self::from_rejection(rejection),
            _ => IngestOutcome::Ignored(NotStored::Kept(applied)),
        }
    }
}

/// Why a local publication was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The record breaks a rule, or its author is not a member here.
    #[error("the record was refused: {0}")]
    Rejected(Rejection),
    /// The store failed; nothing was published.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task running the store panicked.
    #[error("the ingest task failed: {0}")]
    Task(String),
}

/// The ingest pipeline over one store. Cloning is cheap (the store is shared).
#[derive(Clone)]
pub struct Ingest {
    store: Store,
    metrics: IngestMetrics,
}

impl Ingest {
    pub fn new(store: Store, metrics: IngestMetrics) -> Self {
        Ingest { store, metrics }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Decodes, verifies, checks and applies a received record at the
    /// current time.
    ///
    /// Cancel-safe in the sense that dropping the future leaves the store
    /// consistent, but the record may still be applied (the blocking task
    /// runs to completion) without its outcome being counted.
    pub async fn ingest(&self, bytes: Vec<u8>, source: Source) -> IngestOutcome {
        let started = Instant::now();
        let store = self.store.clone();
        let outcome = tokio::task::spawn_blocking(move || ingest_bytes(&store, &bytes, now()))
            .await
            .unwrap_or_else(|e| IngestOutcome::Ignored(NotStored::Task(e.to_string())));
        self.count(source, outcome.label(), outcome.code(), started);
        outcome
    }

    /// [`Ingest::ingest`] for many records with one flush: a sync response
    /// or push. The records are applied certificates first, then
    /// revocations, then listings ([`order_for_apply`]), so a record admitted
    /// by a certificate of the same batch is accepted. One outcome per
    /// record, in the order applied (envelopes that do not open come first).
    pub async fn ingest_batch(
        &self,
        envelopes: Vec<Vec<u8>>,
        source: Source,
    ) -> Vec<IngestOutcome> {
        self.apply_many(envelopes, source, ingest_all).await
    }

    /// An import (a backup, another node's export): every envelope with one
    /// flush, applied in `order_for_import`'s order so that a record whose
    /// admission comes later in the file is accepted. One outcome per
    /// envelope, in the envelopes' order.
    pub async fn ingest_import(&self, envelopes: Vec<Vec<u8>>) -> Vec<IngestOutcome> {
        self.apply_many(envelopes, Source::Import, import_all).await
    }

    /// Runs `apply` (one batch, one flush) on the blocking pool and counts
    /// its outcomes; a panicked task fails every envelope.
    async fn apply_many(
        &self,
        envelopes: Vec<Vec<u8>>,
        source: Source,
        apply: fn(&Store, &[Vec<u8>], Timestamp) -> Vec<IngestOutcome>,
    ) -> Vec<IngestOutcome> {
        let started = Instant::now();
        let count = envelopes.len();
        let store = self.store.clone();
        let outcomes = tokio::task::spawn_blocking(move || apply(&store, &envelopes, now()))
            .await
            .unwrap_or_else(|e| {
                let failed = IngestOutcome::Ignored(NotStored::Task(e.to_string()));
                vec![failed; count]
            });
        self.count_batch(source, &outcomes, started);
        outcomes
    }

    /// Stores a record this node publishes, at the current time: when this
    /// returns `Ok`, the record is flushed to disk and may be gossiped. A duplicate or superseded record is `Ok` with that outcome
    /// (nothing new to publish).
    ///
    /// Dropping the future does not stop the write; it may complete unseen.
    pub async fn ingest_local(&self, record: SignedRecord) -> Result<Applied, IngestError> {
        let started = Instant::now();
        let store = self.store.clone();
        // `Store::apply` flushes before it returns.
        let result = tokio::task::spawn_blocking(move || store.apply(record, now()))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?;
        match &result {
            Ok(applied) => {
                let outcome = IngestOutcome::from_applied(applied.clone());
                self.count(Source::Local, outcome.label(), outcome.code(), started);
            }
            Err(error) => {
                log_store_failure(error);
                self.count(Source::Local, "ignored", STORE_ERROR, started);
            }
        }
        match result? {
            Applied {
                outcome: ApplyOutcome::Rejected(rejection),
                ..
            } => Err(IngestError::Rejected(rejection)),
            applied => Ok(applied),
        }
    }

    /// Counts a batch's outcomes, each taking an equal share of the time.
    fn count_batch(&self, source: Source, outcomes: &[IngestOutcome], started: Instant) {
        let per_record =
            started.elapsed() / u32::try_from(outcomes.len().max(1)).unwrap_or(u32::MAX);
        for outcome in outcomes {
            self.tally(source, outcome.label(), outcome.code(), per_record);
        }
    }

    fn count(&self, source: Source, outcome: &'static str, reason: &'static str, started: Instant) {
        self.tally(source, outcome, reason, started.elapsed());
    }

    fn tally(&self, source: Source, outcome: &'static str, reason: &'static str, took: Duration) {
        let labels = IngestLabels {
            source: source.label(),
            outcome,
            reason,
        };
        self.metrics.record(labels, took.as_secs_f64());
    }
}

/// The blocking part of [`Ingest::ingest`].
fn ingest_bytes(store: &Store, bytes: &[u8], now: Timestamp) -> IngestOutcome {
    let record = match mutua_protocol::open(bytes) {
        Ok(record) => record,
        Err(e) => return IngestOutcome::from_rejection(Rejection::Record(e)),
    };
    match store.apply(record, now) {
        Ok(applied) => IngestOutcome::from_applied(applied),
        Err(e) => store_failure(e),
    }
}

/// The blocking part of [`Ingest::ingest_batch`].
fn ingest_all(store: &Store, envelopes: &[Vec<u8>], now: Timestamp) -> Vec<IngestOutcome> {
    let mut outcomes = Vec::with_capacity(envelopes.len());
    let mut records = Vec::with_capacity(envelopes.len());
    for opened in open_all(envelopes) {
        match opened {
            Ok(record) => records.push(record),
            Err(e) => outcomes.push(IngestOutcome::from_rejection(Rejection::Record(e))),
        }
    }
    order_for_apply(&mut records);
    let opened = records.len();
    match store.apply_batch(records, now) {
        Ok(applied) => outcomes.extend(applied.into_iter().map(IngestOutcome::from_applied)),
        Err(e) => outcomes.extend(std::iter::repeat_n(store_failure(e), opened)),
    }
    outcomes
}

fn store_failure(error: StoreError) -> IngestOutcome {
    log_store_failure(&error);
    IngestOutcome::Ignored(NotStored::Store(Arc::new(error)))
}

fn log_store_failure(error: &StoreError) {
    tracing::error!(%error, "the store failed to apply a record");
}

/// Seconds since the epoch by the system clock.
fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
