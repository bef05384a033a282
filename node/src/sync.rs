//! Anti-entropy over libp2p request-response: the node's side of
//! `mutua_protocol::sync`, the IO-less reconciliation state machine.
//!
//! The network actor owns the [`SyncManager`]; the manager never touches
//! the store itself. Each outbound session runs in its own task, which
//! drives an [`InitiatorSession`] (store reads on the blocking pool), asks
//! the actor to send each request and gets the response back through a
//! one-shot channel. Each inbound request is answered by a task too:
//! decode, apply the records pushed, [`respond`], and hand the encoded
//! response back to the actor. Every record received either way goes
//! through [`Ingest::ingest_batch`] with `Source::Sync(peer)`: opened and
//! verified like gossip, sorted by `order_for_apply` (certificates, then
//! revocations, then listings), applied with one flush per message. The
//! only other apply path is `local`'s, for two stores in one process. Records
//! received by sync are not gossiped again: other nodes get them by their own
//! sessions.
//!
//! Triggers: the dialing side of a new connection starts a session (a node
//! that was away, or is new, catches up at once; two nodes meeting do not
//! both start one), and every `network.sync_interval_secs` (300 s by
//! default, ±20 %) a session with a random connected peer. Equal replicas
//! cost one round trip of a few dozen bytes.
//!
//! Scheduling: connections come in bursts (a heal, a start: a node dials
//! every lost peer at once), and the peers of a burst mostly hold the same
//! records, so sessions for new connections run **one after the other**
//! (at most [`MAX_QUEUED_SESSIONS`] wait): the first fetches what this node
//! lacks once, and the next find most ranges equal, instead of every session
//! fetching and verifying the same records at once on a loaded node. A
//! request the responder refuses (it answers at most
//! [`MAX_INBOUND_REQUESTS`] at once; its stream closes without a response)
//! is sent again within the session after a jittered back-off
//! ([`REFUSED_RETRY_FIRST`], doubling, [`MAX_REFUSED_RETRIES`] times),
//! rather than the session failing until the next periodic sync. The store's
//! sweep of forgettable records, which flushes, runs before a session at
//! most every [`SWEEP_INTERVAL`].
//!
//! Blame: a session that ends on the peer's fault (a malformed, oversized or
//! out-of-protocol message) or on invalid records yields a [`Penalty`],
//! which the actor hands to its peer policy (a ban, a lower gossipsub
//! score); ignored records carry none.
//!
//! Progress: a long session logs its counts every 5 s and a summary at the
//! end; the [`SyncStatus`] (sessions by outcome, records and bytes both
//! ways, sessions in progress, the last session per peer) is `GET
//! /v1/status`'s `sync`, and the `mutua_sync_*` metrics count the same.
//!
//! Bounds: [`MAX_MESSAGE_BYTES`] per message (refused by the codec before
//! anything is allocated), the protocol's own limits on queries, ids and
//! records per message, [`MAX_OUTBOUND_SESSIONS`] and
//! [`MAX_INBOUND_REQUESTS`] at once, one session per peer,
//! [`REQUEST_TIMEOUT`] per request and [`SESSION_TIMEOUT`] per session; and
//! per peer, before a request is even decoded, the `budget`
//! ([`MAX_INBOUND_PER_PEER`] at once, [`PEER_REQUESTS_PER_SEC`]): beyond it
//! a request is refused, and a peer that keeps sending more at once than an
//! honest initiator ever does is cut off through the peer policy.
//!
//! Here: the [`SyncManager`] the actor owns and the status it keeps. Beside
//! it: `codec` (message framing), `source` (the store as a reconciliation
//! source), `tasks` (the session and answer tasks), `budget` (what one peer
//! may cost), `error` (why a session ends early, and whom to blame) and
//! `local` (two stores reconciled in one process, for tests and benchmarks).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};

use crate::ingest::Ingest;
use crate::metrics::SyncMetrics;

mod budget;
mod codec;
mod error;
mod local;
mod source;
mod tasks;

use budget::{Admission, InboundBudget};
pub use budget::{
    ABUSE_STRIKES, ABUSE_WINDOW, MAX_INBOUND_PER_PEER, PEER_REQUESTS_PER_SEC, PEER_REQUEST_BURST,
};
use codec::too_large;
pub use codec::{Frame, SyncCodec};
use error::penalty;
pub use error::{LocalFailure, PeerFault, Penalty, SessionError};
pub use local::{reconcile_local, LocalReport};
#[cfg(doc)]
use mutua_protocol::sync::{respond, InitiatorSession, MAX_MESSAGE_BYTES};
pub use source::StoreSource;
use tasks::{answer_request, run_session, unix_now};

/// The request-response protocol carrying sync messages.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/mutua/sync/3.0.0");
/// Outbound sessions at once (this node initiating).
pub const MAX_OUTBOUND_SESSIONS: usize = 4;
/// Inbound requests being answered at once; more are refused (the peer's
/// request fails, and it sends it again after a back-off).
pub const MAX_INBOUND_REQUESTS: usize = 4;
/// Sessions for new connections waiting for the one under way.
pub const MAX_QUEUED_SESSIONS: usize = 32;
/// The first wait before a refused request is sent again (then doubling,
/// each wait jittered ×0.5–1.5).
pub const REFUSED_RETRY_FIRST: Duration = Duration::from_millis(200);
/// How many times a refused request is sent again before the session ends.
pub const MAX_REFUSED_RETRIES: u32 = 6;
/// The store's sweep (which flushes) runs before a session at most this often.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Streams per connection the request-response handler accepts at once
/// (both directions). More than a peer's budget ([`MAX_INBOUND_PER_PEER`]):
/// libp2p drops the streams over this without telling the behaviour, so a
/// peer flooding requests must get past it to be seen, refused and cut off.
/// Requests are read whole (at most [`MAX_MESSAGE_BYTES`]), so this also
/// bounds what one connection's requests hold in memory: 16 MiB.
pub const MAX_CONCURRENT_STREAMS: usize = 16;
/// How long one request may wait for its response (either side).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one session may run; what it applied stays, and the next session
/// carries on from there.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(600);
/// Messages from sync tasks to the actor.
pub const TO_ACTOR_CAP: usize = 32;
/// How often a long session logs its progress.
const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(5);
/// The most peers whose last session the status keeps.
const MAX_LAST_SESSIONS: usize = 32;

/// The request-response behaviour for sync, inbound and outbound.
pub fn behaviour() -> request_response::Behaviour<SyncCodec> {
    request_response::Behaviour::new(
        [(PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}

// What sync reports is the control API's own type, kept here as it goes.
pub use mutua_api::{InProgress, LastSession, SyncStatus, Tally};

/// From sync tasks to the actor.
pub enum ToActor {
    /// Send a request to the peer; the response (or failure) goes to `reply`.
    Request {
        peer: PeerId,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, SessionError>>,
    },
    /// An outbound session's counts so far.
    Progress { peer: PeerId, tally: Tally },
    /// An outbound session ended.
    Finished {
        peer: PeerId,
        tally: Tally,
        started: Instant,
        result: Result<(), SessionError>,
    },
    /// An inbound request has been handled: send the response, if any.
    Answered {
        peer: PeerId,
        channel: ResponseChannel<Vec<u8>>,
        response: Option<Vec<u8>>,
        tally: Tally,
        error: Option<SessionError>,
    },
}

struct Running {
    started: Instant,
    tally: Tally,
}

/// When the store was last swept, shared by the session tasks.
pub(super) type LastSweep = Arc<Mutex<Option<Instant>>>;

/// The actor's sync state: sessions under way, requests waiting for their
/// responses, and the totals behind [`SyncStatus`].
pub struct SyncManager {
    ingest: Ingest,
    to_actor: mpsc::Sender<ToActor>,
    metrics: SyncMetrics,
    interval: Duration,
    outbound: HashMap<PeerId, Running>,
    /// Peers of new connections whose session waits for the one under way.
    queued: VecDeque<PeerId>,
    budget: InboundBudget,
    last_sweep: LastSweep,
    waiting: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, SessionError>>>,
    status: SyncStatus,
    last: VecDeque<LastSession>,
}

impl SyncManager {
    /// A manager and the receiver of its tasks' messages, which the actor polls.
    pub fn new(
        ingest: Ingest,
        metrics: SyncMetrics,
        interval: Duration,
    ) -> (SyncManager, mpsc::Receiver<ToActor>) {
        let (to_actor, from_tasks) = mpsc::channel(TO_ACTOR_CAP);
        let manager = SyncManager {
            ingest,
            to_actor,
            metrics,
            interval,
            outbound: HashMap::new(),
            queued: VecDeque::new(),
            budget: InboundBudget::default(),
            last_sweep: LastSweep::default(),
            waiting: HashMap::new(),
            status: SyncStatus {
                interval_secs: interval.as_secs(),
                ..SyncStatus::default()
            },
            last: VecDeque::new(),
        };
        (manager, from_tasks)
    }

    /// How long until the next periodic session: the interval, ±20 %, so
    /// that nodes started together do not sync in step.
    pub fn next_delay(&self) -> Duration {
        self.interval
            .mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2))
    }

    /// Whether a new outbound session with `peer` may start now.
    pub fn may_start(&self, peer: &PeerId) -> bool {
        self.outbound.len() < MAX_OUTBOUND_SESSIONS && !self.outbound.contains_key(peer)
    }

    /// Starts a session with `peer` unless one runs or the limit is reached.
    pub fn start(&mut self, peer: PeerId) {
        if !self.may_start(&peer) {
            return;
        }
        tracing::debug!(%peer, "sync session starting");
        self.outbound.insert(
            peer,
            Running {
                started: Instant::now(),
                tally: Tally::default(),
            },
        );
        tokio::spawn(run_session(
            self.ingest.clone(),
            self.to_actor.clone(),
            peer,
            self.last_sweep.clone(),
        ));
    }

    /// The session for a new connection with `peer`: at once if no session
    /// runs, otherwise after the one under way (see "Scheduling").
    pub fn start_on_connect(&mut self, peer: PeerId) {
        if self.outbound.is_empty() {
            self.start(peer);
        } else if !self.queued.contains(&peer)
            && !self.outbound.contains_key(&peer)
            && self.queued.len() < MAX_QUEUED_SESSIONS
        {
            tracing::debug!(%peer, queued = self.queued.len() + 1, "sync session queued");
            self.queued.push_back(peer);
        }
    }

    /// The peer's last connection closed: its queued session is dropped.
    pub fn peer_disconnected(&mut self, peer: &PeerId) {
        self.queued.retain(|p| p != peer);
    }

    /// Starts the next queued session, if there is one and room for it.
    fn start_queued(&mut self) {
        while let Some(peer) = self.queued.pop_front() {
            if self.may_start(&peer) {
                self.start(peer);
                return;
            }
        }
    }

    /// Takes an inbound request: answered by a task, or refused (the channel
    /// dropped) when [`MAX_INBOUND_REQUESTS`] are being answered or the peer
    /// is over its budget; a peer that keeps breaking it is to be cut off.
    pub fn handle_request(
        &mut self,
        peer: PeerId,
        frame: Frame,
        channel: ResponseChannel<Vec<u8>>,
    ) -> Option<Penalty> {
        let bytes = match frame {
            Frame::Message(bytes) => bytes,
            Frame::TooLarge(size) => {
                return Some(Penalty::Fault(peer, too_large(size).to_string()))
            }
        };
        match self
            .budget
            .admit(peer, MAX_INBOUND_REQUESTS, Instant::now())
        {
            Admission::Answer => {}
            Admission::Refuse { reason } => {
                tracing::debug!(%peer, reason, "sync request refused");
                self.metrics.refuse(reason);
                return None;
            }
            Admission::Ban(reason) => {
                self.metrics.refuse("peer_concurrency");
                return Some(Penalty::Fault(peer, reason));
            }
        }
        tokio::spawn(answer_request(
            self.ingest.clone(),
            self.to_actor.clone(),
            peer,
            bytes,
            channel,
        ));
        None
    }

    /// The response to an outbound request arrived, or it failed.
    pub fn handle_response(
        &mut self,
        request: OutboundRequestId,
        result: Result<Vec<u8>, SessionError>,
    ) {
        if let Some(reply) = self.waiting.remove(&request) {
            let _ = reply.send(result);
        }
    }

    /// Handles a message from a sync task; returns what to do to the peer,
    /// if it misbehaved.
    pub fn handle_task_message(
        &mut self,
        message: ToActor,
        behaviour: &mut request_response::Behaviour<SyncCodec>,
    ) -> Option<Penalty> {
        match message {
            ToActor::Request { peer, bytes, reply } => {
                let id = behaviour.send_request(&peer, Frame::Message(bytes));
                self.waiting.insert(id, reply);
                None
            }
            ToActor::Progress { peer, tally } => {
                if let Some(running) = self.outbound.get_mut(&peer) {
                    running.tally = tally;
                }
                None
            }
            ToActor::Finished {
                peer,
                tally,
                started,
                result,
            } => {
                self.outbound.remove(&peer);
                let penalty = self.finish(peer, tally, started, result);
                self.start_queued();
                penalty
            }
            ToActor::Answered {
                peer,
                channel,
                response,
                tally,
                error,
            } => {
                self.budget.done(&peer);
                self.status.requests_answered += u64::from(response.is_some());
                self.count(&tally);
                if let Some(response) = response {
                    // Err: the connection closed meanwhile; nothing to do.
                    let _ = behaviour.send_response(channel, response);
                }
                let error = error?;
                tracing::debug!(%peer, %error, "sync request not answered");
                penalty(peer, &error)
            }
        }
    }

    fn count(&mut self, tally: &Tally) {
        let status = &mut self.status;
        status.records_received += tally.records_received;
        status.bytes_received += tally.bytes_received;
        status.records_applied += tally.records_applied;
        status.records_sent += tally.records_sent;
        status.bytes_sent += tally.bytes_sent;
        self.metrics.observe(tally);
    }

    fn finish(
        &mut self,
        peer: PeerId,
        tally: Tally,
        started: Instant,
        result: Result<(), SessionError>,
    ) -> Option<Penalty> {
        let outcome = result.as_ref().map_or_else(SessionError::label, |()| "ok");
        let seconds = started.elapsed().as_secs_f64();
        self.count(&tally);
        self.metrics.session(outcome);
        *self.status.sessions.entry(outcome.to_owned()).or_default() += 1;
        let now = unix_now();
        if result.is_ok() {
            self.status.last_ok_at = Some(now);
        }
        self.last.retain(|l| l.peer != peer.to_string());
        self.last.push_front(LastSession {
            peer: peer.to_string(),
            at: now,
            outcome: outcome.to_owned(),
            seconds,
            tally,
        });
        self.last.truncate(MAX_LAST_SESSIONS);
        match &result {
            Ok(()) if tally.records_received + tally.records_sent > 0 => {
                tracing::info!(%peer, rounds = tally.rounds, received = tally.records_received,
                    bytes_received = tally.bytes_received, applied = tally.records_applied,
                    sent = tally.records_sent, bytes_sent = tally.bytes_sent, seconds, "sync session done");
            }
            Ok(()) => {
                tracing::debug!(%peer, rounds = tally.rounds, bytes = tally.bytes_sent + tally.bytes_received, "sync session: replicas equal");
            }
            Err(error) => {
                tracing::info!(%peer, %error, rounds = tally.rounds, received = tally.records_received, "sync session ended early");
            }
        }
        penalty(peer, result.as_ref().err()?)
    }

    /// What sync has done, and what it is doing.
    pub fn status(&self) -> SyncStatus {
        let mut status = self.status.clone();
        status.in_progress = self
            .outbound
            .iter()
            .map(|(peer, running)| InProgress {
                peer: peer.to_string(),
                seconds: running.started.elapsed().as_secs_f64(),
                tally: running.tally,
            })
            .collect();
        status.last = self.last.iter().cloned().collect();
        status
    }
}
