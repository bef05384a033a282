//! The owner's decider: for the offers of the collectivities this node
//! hosts, it answers the requests nobody decided yet, one at a time, each
//! against the calendar that includes the decisions before it
//! (`mutua_protocol::lending::decide`): `auto` offers at once, `manual`
//! offers only when a check fails (the staff accept through the API).
//!
//! It wakes every [`TICK`] and does a pass when the replica changed (its
//! sync fingerprint, read from memory), the hosted keys changed, or the
//! Paris date did: so requests that arrived by gossip, by sync after the
//! node was offline, or from this node's own API are decided alike, and a
//! start decides what came in while the node was down. Every pass holds
//! [`NodeState::writes`] around each "read the calendar, sign" step, as the
//! API's accept and decline do, so no two decisions on one offer are ever
//! made from the same calendar.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use mutua_protocol::lending::calendar::RequestStatus;
use mutua_protocol::lending::decide::{
    accepted, decide, decision_for, declined, next_seq, Verdict,
};
use mutua_protocol::lending::{Day, Decision, Outcome};
use mutua_protocol::{Payload, RecordHash, Timestamp};
use mutua_store::{Store, StoreError, SyncRange};
use tokio::sync::watch;

use super::{paris_today, terms_hash, OfferBook};
use crate::api::{unix_now, NodeState};
use crate::datadir::HostedPublisher;
use crate::hosted::Signer;
use crate::metrics::DecisionLabels;

/// How often the decider looks whether anything changed.
pub const TICK: Duration = Duration::from_secs(1);

/// What a pass needs to do again: the replica's fingerprint, the hosted
/// keys, the date.
type Seen = (mutua_store::Fingerprint, Vec<String>, Day);

/// Runs until `stop` turns true.
pub async fn run(state: Arc<NodeState>, mut stop: watch::Receiver<bool>) {
    let mut seen: Option<Seen> = None;
    loop {
        let now = unix_now();
        let store = state.store.clone();
        let fingerprint =
            match tokio::task::spawn_blocking(move || store.sync_fingerprint(&SyncRange::all()))
                .await
            {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "lending decider: cannot read the replica");
                    wait(&mut stop).await;
                    continue;
                }
                Err(_) => return,
            };
        let hosted = state
            .publishers
            .all()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let current = (fingerprint, hosted, paris_today(now));
        if seen.as_ref() != Some(&current) {
            match decide_pending(&state).await {
                Ok(()) => seen = Some(current),
                Err(e) => tracing::warn!(error = %e, "lending decider: pass failed; retrying"),
            }
        }
        if wait(&mut stop).await {
            return;
        }
    }
}

/// Sleeps a tick; true if the node is stopping.
async fn wait(stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(TICK) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// Decides every request of a hosted offer that a node decides on its own,
/// one at a time. A request whose decision cannot be signed (a local rule,
/// a full disk) is left for the next pass and does not hold up the others.
pub async fn decide_pending(state: &NodeState) -> Result<(), String> {
    let mut skip: HashSet<RecordHash> = HashSet::new();
    loop {
        let _guard = state.writes.lock().await;
        let now = unix_now();
        let today = paris_today(now);
        let store = state.store.clone();
        let publishers = state.publishers.all();
        let skipping = skip.clone();
        let next = tokio::task::spawn_blocking(move || {
            next_decision(&store, &publishers, &skipping, today, now)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let Some((publisher, decision, created_at)) = next else {
            return Ok(());
        };
        let request = decision.request;
        // Tried once per pass whatever happens: the next pass (the replica
        // changed) reads the calendar again.
        skip.insert(request);
        let outcome = outcome_label(&decision.outcome);
        match state
            .sign_and_publish(
                Signer::Hosted(publisher.clone()),
                Payload::Decision(decision),
            )
            .await
        {
            Ok(published) => {
                state.metrics.lending.decided(
                    DecisionLabels {
                        outcome,
                        by: "auto",
                    },
                    Some(now.saturating_sub(created_at)),
                );
                tracing::info!(publisher = %publisher.name, outcome, request = %request.to_hex(), hash = %published.record.hash().to_hex(), "request decided");
            }
            Err(e) => {
                tracing::warn!(publisher = %publisher.name, request = %request.to_hex(), error = %e.message, "could not sign a decision; retrying later");
            }
        }
    }
}

/// The metrics label of an outcome.
pub(crate) fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted(_) => "accepted",
        Outcome::Declined(r) => r.reason.as_str(),
        Outcome::Cancelled(_) => "cancelled_by_owner",
    }
}

/// The first decision to sign: for each hosted author's offers, the pending
/// requests first asked first served (by creation time, then hash).
#[allow(clippy::type_complexity)]
fn next_decision(
    store: &Store,
    publishers: &[Arc<HostedPublisher>],
    skip: &HashSet<RecordHash>,
    today: Day,
    now: Timestamp,
) -> Result<Option<(Arc<HostedPublisher>, Decision, Timestamp)>, StoreError> {
    for publisher in publishers {
        let author = publisher.key.public();
        for (offer, records) in store.lending_records_of(&author)? {
            let has_pending = records
                .iter()
                .any(|r| matches!(r.payload, Payload::Request(_)));
            if !has_pending {
                continue;
            }
            let book = OfferBook::of(store, author, offer, records, now)?;
            let mut pending: Vec<_> = book
                .calendar
                .requests
                .iter()
                .filter(|s| {
                    s.decision.is_none()
                        && s.status == RequestStatus::Pending
                        && !skip.contains(&s.hash)
                })
                .collect();
            pending.sort_by_key(|s| (s.request.created_at, s.hash));
            for state in pending {
                let outcome = match decide(book.view(), &book.calendar, &state.request, today, now)
                {
                    Verdict::Accept => accepted(terms_hash(b"")),
                    Verdict::Decline(reason) => declined(reason),
                    Verdict::AwaitStaff | Verdict::AlreadyDecided(_) => continue,
                };
                let decision = decision_for(
                    &state.request,
                    state.hash,
                    outcome,
                    next_seq(&book.calendar, now),
                    now,
                );
                return Ok(Some((
                    publisher.clone(),
                    decision,
                    state.request.created_at,
                )));
            }
        }
    }
    Ok(None)
}
