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
//! through [`Ingest::ingest_batch`], the same validation and apply path as
//! gossip, certificates and revocations first.
//!
//! Bounds: [`MAX_MESSAGE_BYTES`] per message (refused by the codec before
//! anything is allocated), the protocol's own limits on queries, ids and
//! records per message, [`MAX_OUTBOUND_SESSIONS`] and
//! [`MAX_INBOUND_REQUESTS`] at once, one session per peer,
//! [`REQUEST_TIMEOUT`] per request and [`SESSION_TIMEOUT`] per session.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel};
use libp2p::{PeerId, StreamProtocol};
use mutua_protocol::sync::MessageError;
use mutua_protocol::sync::{
    decode_request, decode_response, encode_request, encode_response, respond, Fingerprint,
    InitiatorSession, SessionLimits, SlotRank, Step, SyncError, SyncKey, SyncRange, SyncSource,
    MAX_MESSAGE_BYTES,
};
use mutua_protocol::{RecordError, RecordHash};
use mutua_store::{Store, StoreError};
use serde::Serialize;
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot};

use crate::ingest::{Ingest, IngestOutcome, Source};
use crate::metrics::SyncMetrics;

/// The request-response protocol carrying sync messages.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/mutua/sync/3.0.0");
/// Outbound sessions at once (this node initiating).
pub const MAX_OUTBOUND_SESSIONS: usize = 4;
/// Inbound requests being answered at once; more are refused (the peer's
/// request fails and it tries again at its next sync).
pub const MAX_INBOUND_REQUESTS: usize = 4;
/// Streams per connection the request-response handler accepts at once.
pub const MAX_CONCURRENT_STREAMS: usize = MAX_INBOUND_REQUESTS;
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
/// Bytes of the length prefix of a frame.
const LENGTH_BYTES: usize = 4;

/// The store as a reconciliation source: fingerprints from its incrementally
/// maintained buckets, items from its sync index, envelopes as stored.
pub struct StoreSource<'a>(pub &'a Store);

fn store_range(range: &SyncRange) -> mutua_store::SyncRange {
    mutua_store::SyncRange {
        start: range.start(),
        end: range.end(),
    }
}

/// The key right after `key`, or `None` after the last key.
fn successor(key: &SyncKey) -> Option<SyncKey> {
    let mut next = key.0;
    for byte in next.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            return Some(SyncKey(next));
        }
    }
    None
}

impl SyncSource for StoreSource<'_> {
    type Error = StoreError;

    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, StoreError> {
        self.0.sync_fingerprint(&store_range(range))
    }

    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, StoreError> {
        let mut bounds = store_range(range);
        if let Some(after) = after.filter(|a| **a >= range.start()) {
            match successor(after) {
                Some(next) => bounds.start = next,
                None => return Ok(Vec::new()),
            }
        }
        if bounds.end.is_some_and(|end| end <= bounds.start) {
            return Ok(Vec::new());
        }
        self.0.sync_items(&bounds, limit)
    }

    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.envelope_by_sync_key(key)
    }

    /// Read from the stored envelope (the sync entry holds no version): only
    /// the few items of a leaf list are ranked, and the store verified every
    /// record it holds.
    fn rank(&self, key: &SyncKey) -> Result<SlotRank, StoreError> {
        Ok(self
            .record(key)?
            .and_then(|envelope| SlotRank::of_envelope(&envelope).ok())
            .unwrap_or_default())
    }
}

/// Frames a sync message: a 4-byte big-endian length, then the message.
/// A length over [`MAX_MESSAGE_BYTES`] is refused before anything is
/// allocated: a response fails with `InvalidData`, a request becomes
/// [`Frame::TooLarge`] (libp2p drops errors reading a request without telling
/// the behaviour, and the actor must learn of it to cut the peer off).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

/// A request as read from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Message(Vec<u8>),
    /// A request announcing this many bytes, over [`MAX_MESSAGE_BYTES`]: not read.
    TooLarge(usize),
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Frame> {
    let mut length = [0; LENGTH_BYTES];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_MESSAGE_BYTES {
        return Ok(Frame::TooLarge(length));
    }
    let mut message = vec![0; length];
    io.read_exact(&mut message).await?;
    Ok(Frame::Message(message))
}

fn too_large(size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a sync message of {size} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
    )
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len())
        .ok()
        .filter(|l| *l as usize <= MAX_MESSAGE_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "sync message too large"))?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(message).await?;
    io.flush().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Frame> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        match read_frame(io).await? {
            Frame::Message(message) => Ok(message),
            Frame::TooLarge(size) => Err(too_large(size)),
        }
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Frame,
    ) -> io::Result<()> {
        match request {
            Frame::Message(message) => write_frame(io, &message).await,
            Frame::TooLarge(size) => Err(too_large(size)),
        }
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &response).await
    }
}

/// The request-response behaviour for sync, inbound and outbound.
pub fn behaviour() -> request_response::Behaviour<SyncCodec> {
    request_response::Behaviour::new(
        [(PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}

/// Why a sync session (or one answered request) ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer does not speak the sync protocol (another program).
    #[error("the peer does not speak {PROTOCOL}")]
    Unsupported,
    /// The session ran longer than [`SESSION_TIMEOUT`].
    #[error("the session took longer than {0:?}")]
    Timeout(Duration),
    /// The request or its response was lost (connection closed, timeout).
    #[error("the request failed: {0}")]
    Transport(#[source] OutboundFailure),
    /// The peer sent a malformed, oversized or out-of-protocol message.
    #[error("the peer broke the sync protocol: {0}")]
    Peer(#[from] PeerFault),
    /// The peer sent records that are invalid whoever sends them.
    #[error("the peer sent {0} invalid records")]
    InvalidRecords(u64),
    /// This node failed (store error, task panic, session bounds).
    #[error("local failure: {0}")]
    Local(String),
    /// The network task stopped.
    #[error("the network task stopped")]
    Stopped,
}

impl SessionError {
    /// The metrics label of a session that ended with this error.
    pub fn label(&self) -> &'static str {
        match self {
            SessionError::Unsupported => "unsupported",
            SessionError::Timeout(_) => "timeout",
            SessionError::Transport(_) => "transport",
            SessionError::Peer(_) => "peer_fault",
            SessionError::InvalidRecords(_) => "invalid_records",
            SessionError::Local(_) | SessionError::Stopped => "local_error",
        }
    }

    /// The error of a failed outbound request.
    pub fn of_outbound(failure: OutboundFailure) -> SessionError {
        match failure {
            OutboundFailure::UnsupportedProtocols => SessionError::Unsupported,
            OutboundFailure::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
                SessionError::Peer(PeerFault::Frame(e))
            }
            other => SessionError::Transport(other),
        }
    }
}

impl From<SyncError<StoreError>> for SessionError {
    fn from(error: SyncError<StoreError>) -> Self {
        if error.is_peer_fault() {
            SessionError::Peer(PeerFault::Session(error))
        } else {
            SessionError::Local(error.to_string())
        }
    }
}

impl From<MessageError> for SessionError {
    fn from(error: MessageError) -> Self {
        SessionError::Peer(PeerFault::Message(error))
    }
}

/// How a peer broke the sync protocol (each one bans it): the typed error,
/// shown as is after "the peer broke the sync protocol: ".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerFault {
    /// What it sent is not a sync frame (over [`MAX_MESSAGE_BYTES`], cut short).
    #[error(transparent)]
    Frame(io::Error),
    /// A message that does not decode, or breaks the protocol's limits.
    #[error(transparent)]
    Message(MessageError),
    /// Answers that break the session's rules (too much work asked).
    #[error(transparent)]
    Session(SyncError<StoreError>),
    /// A record that does not open (bad signature, malformed).
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What a peer did wrong, for the actor to act on.
#[derive(Debug)]
pub enum Penalty {
    /// Garbage, oversized or out-of-protocol messages: cut the peer off.
    Fault(PeerId, String),
    /// Invalid records: the peer's score drops by this many records' worth.
    InvalidRecords(PeerId, u64),
}

/// Counts of one session, as it goes.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Tally {
    /// Requests sent (round trips).
    pub rounds: u32,
    pub records_received: u64,
    pub bytes_received: u64,
    /// Records received and stored (new or newer than ours).
    pub records_applied: u64,
    pub records_sent: u64,
    pub bytes_sent: u64,
}

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

/// Runs blocking store work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SessionError> + Send + 'static,
) -> Result<T, SessionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SessionError::Local(format!("sync task failed: {e}")))?
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One outbound session with `peer`, start to finish (bounded by
/// [`SESSION_TIMEOUT`]); reports to the actor when done. Dropping it
/// (runtime shutdown) is safe: every write it made is complete.
async fn run_session(ingest: Ingest, to_actor: mpsc::Sender<ToActor>, peer: PeerId) {
    let started = Instant::now();
    let mut tally = Tally::default();
    let result = match tokio::time::timeout(
        SESSION_TIMEOUT,
        drive_session(&ingest, &to_actor, peer, &mut tally),
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

async fn drive_session(
    ingest: &Ingest,
    to_actor: &mpsc::Sender<ToActor>,
    peer: PeerId,
    tally: &mut Tally,
) -> Result<(), SessionError> {
    let store = ingest.store().clone();
    // Forgettable records go first, so that both sides compare the same set.
    let (mut session, mut request) = blocking(move || {
        store
            .sweep(unix_now())
            .map_err(|e| SessionError::Local(e.to_string()))?;
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
        let (reply, response) = oneshot::channel();
        to_actor
            .send(ToActor::Request { peer, bytes, reply })
            .await
            .map_err(|_| SessionError::Stopped)?;
        let response = response.await.map_err(|_| SessionError::Stopped)??;
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
async fn answer_request(
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

/// What [`reconcile_local`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalReport {
    /// Round trips.
    pub rounds: u32,
    /// Encoded requests and responses, as they would cross the network.
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Records the initiator received, and pushed to the responder.
    pub received: u64,
    pub pushed: u64,
}

/// Opens (verifies) records, orders them for applying and applies them.
fn apply_local(store: &Store, records: &[ByteBuf], now: u64) -> Result<(), SessionError> {
    let mut opened = records
        .iter()
        .map(|r| mutua_protocol::open(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(PeerFault::Record)?;
    mutua_protocol::sync::order_for_apply(&mut opened);
    store
        .apply_batch(opened, now)
        .map_err(|e| SessionError::Local(e.to_string()))?;
    Ok(())
}

/// Reconciles two local stores in one process, the messages encoded and
/// decoded as on the wire and every record verified and applied in order,
/// without the ingest pipeline's metrics: for tests and benchmarks of the
/// store-backed protocol. Blocking.
pub fn reconcile_local(
    initiator: &Store,
    responder: &Store,
    now: u64,
) -> Result<LocalReport, SessionError> {
    let mut report = LocalReport::default();
    let (mut session, mut request) =
        InitiatorSession::start(SessionLimits::default(), &StoreSource(initiator))?;
    loop {
        let bytes = encode_request(&request);
        report.rounds += 1;
        report.request_bytes += bytes.len() as u64;
        let received = decode_request(&bytes)?;
        report.pushed += received.push.len() as u64;
        apply_local(responder, &received.push, now)?;
        let response = respond(&received, &StoreSource(responder))?;
        let bytes = encode_response(&response);
        report.response_bytes += bytes.len() as u64;
        let response = decode_response(&bytes)?;
        let step = session.handle_response(&response, &StoreSource(initiator))?;
        report.received += response.records.len() as u64;
        apply_local(initiator, &response.records, now)?;
        match step {
            Step::Send(next) => request = next,
            Step::Done(_) => return Ok(report),
        }
    }
}

/// One peer's last session, for the status endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct LastSession {
    pub peer: String,
    /// When it ended, in seconds since the epoch.
    pub at: u64,
    pub outcome: &'static str,
    pub seconds: f64,
    #[serde(flatten)]
    pub tally: Tally,
}

/// A session under way.
#[derive(Clone, Debug, Serialize)]
pub struct InProgress {
    pub peer: String,
    pub seconds: f64,
    #[serde(flatten)]
    pub tally: Tally,
}

/// What sync has done since the node started (`GET /v1/status`, `sync`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncStatus {
    pub interval_secs: u64,
    /// Outbound sessions by outcome (`ok`, `timeout`, `peer_fault`, …).
    pub sessions: BTreeMap<&'static str, u64>,
    /// Inbound requests answered.
    pub requests_answered: u64,
    /// Over every session and answered request, both roles.
    pub records_received: u64,
    pub bytes_received: u64,
    pub records_applied: u64,
    pub records_sent: u64,
    pub bytes_sent: u64,
    /// When the last session that completed ended (seconds since the epoch).
    pub last_ok_at: Option<u64>,
    pub in_progress: Vec<InProgress>,
    /// The last session with each recent peer, newest first.
    pub last: Vec<LastSession>,
}

struct Running {
    started: Instant,
    tally: Tally,
}

/// The actor's sync state: sessions under way, requests waiting for their
/// responses, and the totals behind [`SyncStatus`].
pub struct SyncManager {
    ingest: Ingest,
    to_actor: mpsc::Sender<ToActor>,
    metrics: SyncMetrics,
    interval: Duration,
    outbound: HashMap<PeerId, Running>,
    inbound: usize,
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
            inbound: 0,
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
        ));
    }

    /// Takes an inbound request: answered by a task, or refused (the channel
    /// dropped) when [`MAX_INBOUND_REQUESTS`] are being answered.
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
        if self.inbound >= MAX_INBOUND_REQUESTS {
            tracing::debug!(%peer, "sync request refused: too many being answered");
            return None;
        }
        self.inbound += 1;
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
                self.finish(peer, tally, started, result)
            }
            ToActor::Answered {
                peer,
                channel,
                response,
                tally,
                error,
            } => {
                self.inbound = self.inbound.saturating_sub(1);
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
        *self.status.sessions.entry(outcome).or_default() += 1;
        let now = unix_now();
        if result.is_ok() {
            self.status.last_ok_at = Some(now);
        }
        self.last.retain(|l| l.peer != peer.to_string());
        self.last.push_front(LastSession {
            peer: peer.to_string(),
            at: now,
            outcome,
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

fn penalty(peer: PeerId, error: &SessionError) -> Option<Penalty> {
    match error {
        SessionError::Peer(fault) => Some(Penalty::Fault(peer, fault.to_string())),
        SessionError::InvalidRecords(count) => Some(Penalty::InvalidRecords(peer, *count)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_peers_garbage_keeps_the_decoding_error_as_its_source() {
        let decoding = decode_request(b"not a sync request").unwrap_err();
        let error = SessionError::from(decoding.clone());
        assert_eq!(error.label(), "peer_fault");
        assert_eq!(
            error.to_string(),
            format!("the peer broke the sync protocol: {decoding}")
        );
        let fault = error.source().expect("the peer's fault");
        assert!(matches!(
            fault.downcast_ref::<PeerFault>(),
            Some(PeerFault::Message(e)) if *e == decoding
        ));
        // The ban's reason is the fault's text.
        let peer = PeerId::random();
        assert!(matches!(
            penalty(peer, &error),
            Some(Penalty::Fault(p, reason)) if p == peer && reason == decoding.to_string()
        ));
    }

    #[test]
    fn failed_requests_keep_their_cause() {
        let lost = SessionError::of_outbound(OutboundFailure::Timeout);
        assert_eq!(lost.label(), "transport");
        assert_eq!(
            lost.to_string(),
            format!("the request failed: {}", OutboundFailure::Timeout)
        );
        assert!(matches!(
            lost.source()
                .and_then(|s| s.downcast_ref::<OutboundFailure>()),
            Some(OutboundFailure::Timeout)
        ));
        assert!(
            penalty(PeerId::random(), &lost).is_none(),
            "nobody to blame"
        );

        // A response over the limit is the peer's fault, and bans it.
        let oversized = SessionError::of_outbound(OutboundFailure::Io(too_large(1 << 30)));
        assert_eq!(oversized.label(), "peer_fault");
        assert!(matches!(
            &oversized,
            SessionError::Peer(PeerFault::Frame(e)) if e.kind() == io::ErrorKind::InvalidData
        ));
        assert!(matches!(
            penalty(PeerId::random(), &oversized),
            Some(Penalty::Fault(..))
        ));
    }

    #[test]
    fn successor_carries_and_ends() {
        let mut key = [0u8; 32];
        key[31] = 0xff;
        let mut expected = [0u8; 32];
        expected[30] = 1;
        assert_eq!(successor(&SyncKey(key)), Some(SyncKey(expected)));
        assert_eq!(successor(&SyncKey([0xff; 32])), None);
    }

    #[tokio::test]
    async fn frames_over_the_limit_are_refused_before_reading_them() {
        let mut bytes = ((MAX_MESSAGE_BYTES + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"whatever follows");
        let mut io = libp2p::futures::io::Cursor::new(bytes);
        let frame = read_frame(&mut io).await.unwrap();
        assert_eq!(frame, Frame::TooLarge(MAX_MESSAGE_BYTES + 1));

        let mut framed = libp2p::futures::io::Cursor::new(Vec::new());
        write_frame(&mut framed, b"hello").await.unwrap();
        let mut io = libp2p::futures::io::Cursor::new(framed.into_inner());
        assert_eq!(
            read_frame(&mut io).await.unwrap(),
            Frame::Message(b"hello".to_vec())
        );
    }
}
