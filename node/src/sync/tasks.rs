//! The sync tasks: one per outbound session, driving an
//! `InitiatorSession` with store reads on the blocking pool; one per
//! inbound request, answering it. Both apply what they receive through the
//! ingest pipeline and talk to the actor only through [`ToActor`] messages.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use mutua_protocol::sync::{
    decode_request, decode_response, encode_request, encode_response, respond, InitiatorSession,
    SessionLimits, Step,
};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot};

use super::{
    LastSweep, LocalFailure, SessionError, StoreSource, Tally, ToActor, MAX_REFUSED_RETRIES,
    PROGRESS_LOG_INTERVAL, REFUSED_RETRY_FIRST, SESSION_TIMEOUT, SWEEP_INTERVAL,
};
use crate::ingest::{Ingest, IngestOutcome, Source};

/// Runs blocking store work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SessionError> + Send + 'static,
) -> Result<T, SessionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SessionError::Local(LocalFailure::Task(e.to_string())))?
}

/// Applies received records through the ingest pipeline; counts what was
/// stored, and fails if any was invalid whoever sends it.
async fn apply(
    ingest: &Ingest,
    peer: PeerId,
    records: Vec<ByteBuf>,
    tally: &mut Tally,
) -> Result<(), SessionError> {
    if records.is_empty() {
        return Ok(());
    }
    tally.records_received += records.len() as u64;
    let envelopes = records.into_iter().map(ByteBuf::into_vec).collect();
    let outcomes = ingest.ingest_batch(envelopes, Source::Sync(peer)).await;
    let mut invalid = 0;
    for outcome in &outcomes {
        match outcome {
            IngestOutcome::Accepted(_) => tally.records_applied += 1,
            IngestOutcome::Rejected(rejection) => {
                tracing::debug!(%peer, code = rejection.code(), message = %rejection, "invalid record received by sync");
                invalid += 1;
            }
            IngestOutcome::Ignored { .. } => {}
        }
    }
    if invalid > 0 {
        return Err(SessionError::InvalidRecords(invalid));
    }
    Ok(())
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One outbound session with `peer`, start to finish (bounded by
/// [`SESSION_TIMEOUT`]); reports to the actor when done. Dropping it
/// (runtime shutdown) is safe: every write it made is complete.
pub(super) async fn run_session(
    ingest: Ingest,
    to_actor: mpsc::Sender<ToActor>,
    peer: PeerId,
    last_sweep: LastSweep,
) {
    let started = Instant::now();
    let mut tally = Tally::default();
    let result = match tokio::time::timeout(
        SESSION_TIMEOUT,
        drive_session(&ingest, &to_actor, peer, last_sweep, &mut tally),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(SessionError::Timeout(SESSION_TIMEOUT)),
    };
    let _ = to_actor
        .send(ToActor::Finished {
            peer,
            tally,
            started,
            result,
        })
        .await;
}

/// Whether the store is due for a sweep (and, if so, marks it swept now).
fn sweep_due(last_sweep: &LastSweep, now: Instant) -> bool {
    let mut last = last_sweep.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|at| now.saturating_duration_since(at) < SWEEP_INTERVAL) {
        return false;
    }
    *last = Some(now);
    true
}

/// The wait before sending a refused request again for the `attempt`th
/// time (from 0): doubling from [`REFUSED_RETRY_FIRST`], jittered ×0.5–1.5 so
/// that the initiators a busy responder refused together do not return
/// together.
fn refused_retry_wait(attempt: u32) -> std::time::Duration {
    let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..1.5);
    (REFUSED_RETRY_FIRST * 2u32.saturating_pow(attempt.min(4))).mul_f64(jitter)
}

/// Sends one request and waits for its response, sending it again after a
/// back-off while the peer refuses it (a responder keeps no state between
/// requests, so the same request can be sent again).
async fn exchange(
    to_actor: &mpsc::Sender<ToActor>,
    peer: PeerId,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, SessionError> {
    let mut attempt = 0;
    loop {
        let (reply, response) = oneshot::channel();
        to_actor
            .send(ToActor::Request {
                peer,
                bytes: bytes.clone(),
                reply,
            })
            .await
            .map_err(|_| SessionError::Stopped)?;
        match response.await.map_err(|_| SessionError::Stopped)? {
            Err(SessionError::Refused(why)) if attempt < MAX_REFUSED_RETRIES => {
                let wait = refused_retry_wait(attempt);
                tracing::debug!(%peer, attempt, ?wait, error = %why, "sync request refused; sending it again");
                attempt += 1;
                tokio::time::sleep(wait).await;
            }
            result => return result,
        }
    }
}

async fn drive_session(
    ingest: &Ingest,
    to_actor: &mpsc::Sender<ToActor>,
    peer: PeerId,
    last_sweep: LastSweep,
    tally: &mut Tally,
) -> Result<(), SessionError> {
    let store = ingest.store().clone();
    let sweep = sweep_due(&last_sweep, Instant::now());
    // Forgettable records go first, so that both sides compare the same set.
    let (mut session, mut request) = blocking(move || {
        if sweep {
            let report = store.sweep(unix_now()).map_err(LocalFailure::Store)?;
            if report.of_non_members > 0 {
                tracing::info!(
                    records = report.of_non_members,
                    "forgot the records of keys that are no longer members"
                );
            }
        }
        Ok(InitiatorSession::start(
            SessionLimits::default(),
            &StoreSource(&store),
        )?)
    })
    .await?;
    let mut last_log = Instant::now();
    loop {
        let bytes = encode_request(&request);
        tally.rounds += 1;
        tally.records_sent += request.push.len() as u64;
        tally.bytes_sent += bytes.len() as u64;
        let response = exchange(to_actor, peer, bytes).await?;
        tally.bytes_received += response.len() as u64;
        let store = ingest.store().clone();
        let (back, step, records) = blocking(move || {
            let mut response = decode_response(&response)?;
            let step = session.handle_response(&response, &StoreSource(&store))?;
            Ok((session, step, std::mem::take(&mut response.records)))
        })
        .await?;
        session = back;
        apply(ingest, peer, records, tally).await?;
        // Progress is informative: never wait for room.
        let _ = to_actor.try_send(ToActor::Progress {
            peer,
            tally: *tally,
        });
        if last_log.elapsed() >= PROGRESS_LOG_INTERVAL {
            last_log = Instant::now();
            tracing::info!(%peer, rounds = tally.rounds, records = tally.records_received,
                bytes = tally.bytes_received, applied = tally.records_applied, "sync in progress");
        }
        match step {
            Step::Send(next) => request = next,
            Step::Done(_) => return Ok(()),
        }
    }
}

/// Answers one inbound request: decode, apply what the peer pushed, then
/// answer from the store. Reports to the actor, which sends the response.
pub(super) async fn answer_request(
    ingest: Ingest,
    to_actor: mpsc::Sender<ToActor>,
    peer: PeerId,
    bytes: Vec<u8>,
    channel: ResponseChannel<Vec<u8>>,
) {
    let mut tally = Tally {
        bytes_received: bytes.len() as u64,
        ..Tally::default()
    };
    let result = answer(&ingest, peer, bytes, &mut tally).await;
    let (response, error) = match result {
        Ok(response) => {
            tally.bytes_sent = response.len() as u64;
            (Some(response), None)
        }
        Err(error) => (None, Some(error)),
    };
    let _ = to_actor
        .send(ToActor::Answered {
            peer,
            channel,
            response,
            tally,
            error,
        })
        .await;
}

async fn answer(
    ingest: &Ingest,
    peer: PeerId,
    bytes: Vec<u8>,
    tally: &mut Tally,
) -> Result<Vec<u8>, SessionError> {
    let mut request = blocking(move || Ok(decode_request(&bytes)?)).await?;
    // Pushed records first: the initiator orders its pushes across requests
    // (certificates before the listings they admit).
    apply(ingest, peer, std::mem::take(&mut request.push), tally).await?;
    let store = ingest.store().clone();
    let (response, sent) = blocking(move || {
        let response = respond(&request, &StoreSource(&store))?;
        Ok((encode_response(&response), response.records.len() as u64))
    })
    .await?;
    tally.records_sent = sent;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_swept_at_most_once_an_interval() {
        let last = LastSweep::default();
        let now = Instant::now();
        assert!(sweep_due(&last, now));
        assert!(!sweep_due(&last, now + SWEEP_INTERVAL / 2));
        assert!(sweep_due(&last, now + SWEEP_INTERVAL));
    }

    fn refusal() -> SessionError {
        SessionError::of_outbound(libp2p::request_response::OutboundFailure::Io(
            std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        ))
    }

    /// The actor's side: answers each request of the task with `answers`, in turn.
    async fn actor(
        mut from_task: mpsc::Receiver<ToActor>,
        answers: Vec<Result<Vec<u8>, SessionError>>,
    ) -> usize {
        let mut seen = 0;
        for answer in answers {
            let Some(ToActor::Request { bytes, reply, .. }) = from_task.recv().await else {
                break;
            };
            assert_eq!(bytes, b"request", "the same request each time");
            seen += 1;
            let _ = reply.send(answer);
        }
        seen
    }

    #[tokio::test]
    async fn a_refused_request_is_sent_again_until_answered() {
        let (to_actor, from_task) = mpsc::channel(4);
        let answers = vec![Err(refusal()), Err(refusal()), Ok(b"response".to_vec())];
        let actor = tokio::spawn(actor(from_task, answers));
        let response = exchange(&to_actor, PeerId::random(), b"request".to_vec()).await;
        assert_eq!(response.unwrap(), b"response");
        assert_eq!(actor.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn other_failures_end_the_exchange_at_once() {
        let (to_actor, from_task) = mpsc::channel(4);
        let lost = SessionError::of_outbound(libp2p::request_response::OutboundFailure::Timeout);
        let actor = tokio::spawn(actor(from_task, vec![Err(lost), Ok(Vec::new())]));
        let response = exchange(&to_actor, PeerId::random(), b"request".to_vec()).await;
        assert!(matches!(response, Err(SessionError::Transport(_))));
        drop(to_actor);
        assert_eq!(actor.await.unwrap(), 1);
    }

    #[test]
    fn refused_requests_wait_longer_each_time_with_jitter_and_a_bound() {
        for attempt in 0..10 {
            let base = REFUSED_RETRY_FIRST * 2u32.pow(attempt.min(4));
            let wait = refused_retry_wait(attempt);
            assert!(
                wait >= base / 2 && wait <= base.mul_f64(1.5),
                "{attempt}: {wait:?}"
            );
        }
    }
}
