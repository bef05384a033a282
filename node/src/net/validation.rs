//! Validation before forwarding. Gossipsub runs with `validate_messages()`:
//! a received message goes with `try_send` into the validation queue
//! ([`VALIDATION_QUEUE_CAP`]); one worker task takes the jobs in order and
//! hands each record to the ingest pipeline (decode, `verify_strict`,
//! membership, rules, merge, flush — on the blocking pool), and sends the
//! verdict back over a second bounded channel
//! ([`super::VALIDATION_RESULT_CAP`]) that the actor drains:
//!
//! | ingest outcome | gossipsub |
//! | --- | --- |
//! | stored (`new`, `replaced`, winning `equivocation`) | `Accept`: forwarded |
//! | invalid whoever sends it (`bad_signature`, `malformed`, `too_large`, `signer_mismatch`, field rules) | `Reject`: the sender's P4 score drops |
//! | nothing to blame (`ignored_duplicate`, `ignored_old`, losing `equivocation`, `expired`, `from_the_future`, `unsupported_format`, membership failures, `store_error`) | `Ignore`: dropped quietly |
//!
//! An ignored record this node is not the cause of (superseded, duplicate,
//! losing equivocation, membership) is also charged to its forwarder's and
//! its author's budgets in the peer policy (`PeerPolicy::on_ignored_record`):
//! gossipsub never blames an `Ignore`, so a flood of genuine superseded
//! versions would otherwise cost the sender nothing.
//!
//! A full queue means the node is
//! behind: the message is ignored at once, without blame (counted in
//! `mutua_network_validation_overflow_total`), and sync brings it back
//! later. Sequential validation keeps forwarding in arrival order, and is
//! fast enough: `verify_strict` runs at ~18k records/s on one core
//! (BENCHMARKS.md), against a federation's few records per second.

use std::time::Instant;

use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::PeerId;
use mutua_protocol::{PublicKey, SlotKey};
use mutua_store::Rejection;
use tokio::sync::mpsc;

use super::actor::Actor;
#[cfg(doc)]
use super::VALIDATION_QUEUE_CAP;
use crate::ingest::{Ingest, IngestOutcome, NotStored, Source};

/// A gossip message handed to the validation worker.
pub(super) struct ValidationJob {
    message_id: MessageId,
    source: PeerId,
    data: Vec<u8>,
    /// When gossipsub handed it over: the log shows the wait in the queue.
    received: Instant,
}

/// The worker's verdict on a [`ValidationJob`].
pub(super) struct ValidationResult {
    message_id: MessageId,
    source: PeerId,
    acceptance: MessageAcceptance,
    /// For a record ignored that counts against the sender's budget: its
    /// author, if the store named it.
    charged: Option<Option<PublicKey>>,
}

/// Whether an ignored record counts against its forwarder's budget (and
/// its author, if known): superseded, duplicate or losing records, and
/// authors not members here. Not this node's failures, nor the time
/// rules or a newer format (this node's clock or version may be the cause).
fn charged(outcome: &IngestOutcome) -> Option<Option<PublicKey>> {
    match outcome {
        IngestOutcome::Ignored(NotStored::Kept(applied)) => Some(match applied.slot {
            SlotKey::Listing { author, .. }
            | SlotKey::Lending { author, .. }
            | SlotKey::Request { author, .. }
            | SlotKey::Decision { author, .. } => Some(author),
            SlotKey::Certificate(_) | SlotKey::Revocation(_) | SlotKey::LoanEvent(_) => None,
        }),
        IngestOutcome::Ignored(NotStored::Refused(Rejection::Membership(_))) => Some(None),
        _ => None,
    }
}

/// Validates gossip messages one at a time (the ingest pipeline runs the
/// CPU and disk work on blocking threads) and sends the verdicts back.
pub(super) async fn validation_worker(
    ingest: Ingest,
    mut jobs: mpsc::Receiver<ValidationJob>,
    results: mpsc::Sender<ValidationResult>,
) {
    while let Some(job) = jobs.recv().await {
        let started = Instant::now();
        let outcome = ingest.ingest(job.data, Source::Gossip(job.source)).await;
        // Per-stage timing of gossip (BENCHMARKS.md, propagation latency):
        // the wait in the queue, then decode, verify, store and flush.
        tracing::debug!(
            id = %job.message_id,
            outcome = outcome.code(),
            queued_ms = started.duration_since(job.received).as_secs_f64() * 1e3,
            ingest_ms = started.elapsed().as_secs_f64() * 1e3,
            "validated a gossiped record"
        );
        if let IngestOutcome::Rejected(rejection) = &outcome {
            tracing::debug!(peer = %job.source, code = rejection.code(), message = %rejection, "rejected a gossiped record");
        }
        let result = ValidationResult {
            message_id: job.message_id,
            source: job.source,
            acceptance: outcome.acceptance(),
            charged: charged(&outcome),
        };
        if results.send(result).await.is_err() {
            break;
        }
    }
}

impl Actor {
    pub(super) fn handle_gossipsub_event(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let job = ValidationJob {
            message_id,
            source: propagation_source,
            data: message.data,
            received: Instant::now(),
        };
        // Never wait here: a full queue means we are behind; dropping the
        // message without blame is safe because sync delivers it later.
        if let Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) =
            self.jobs.try_send(job)
        {
            self.metrics.validation_overflow.inc();
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &job.message_id,
                    &job.source,
                    MessageAcceptance::Ignore,
                );
        }
    }

    pub(super) fn handle_validation_result(&mut self, result: ValidationResult) {
        // `false` means gossipsub forgot the message meanwhile (its cache
        // window passed): nothing to forward or penalise any more.
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(
                &result.message_id,
                &result.source,
                result.acceptance,
            );
        if let Some(author) = result.charged {
            let verdict = self
                .policy
                .on_ignored_record(result.source, author, Instant::now());
            if verdict.over_budget {
                self.metrics.ignored_over_budget.inc();
            }
            let peak = self.policy.ignored_peak() as i64;
            self.metrics.ignored_budget_peak.set(peak);
            self.execute(verdict.actions);
        }
    }
}
