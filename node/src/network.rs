//! The network actor: one task owns the libp2p [`Swarm`]; everything else
//! talks to it through a [`NetworkHandle`] (commands with one-shot replies
//! over a bounded channel).
//!
//! The swarm speaks TCP + noise + yamux and composes connection and memory
//! limits, identify, ping, Kademlia (peer discovery in a Mutua-only DHT),
//! optional mDNS, and gossipsub on the federation's topic. Gossipsub runs with
//! validation on: a received record is handed to the [`Ingest`] pipeline by a
//! validation worker task and is forwarded only once it has been verified,
//! checked and stored; the verdict comes back to the actor through a bounded
//! channel and becomes `Accept`, `Ignore` or `Reject`. The actor itself never
//! touches sled or does cryptography.
//!
//! Anti-entropy sync (`crate::sync`) is a request-response behaviour: the
//! actor owns the [`SyncManager`] (sessions under way, requests waiting for
//! responses) and moves messages between the swarm and the sync tasks,
//! which do the store work. Sessions start when this node dials a peer and
//! every `sync_interval` (±20 %) with a random connected peer. A peer that
//! breaks the sync protocol is cut off for [`BAN_DURATION`]; one that sends
//! invalid records through sync loses gossipsub score as if it had gossiped
//! them.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, TopicHash,
};
use libp2p::identity::Keypair;
use libp2p::metrics::{Metrics as Libp2pMetrics, Recorder};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, connection_limits, identify, kad, mdns, memory_connection_limits, noise,
    ping, request_response, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use mutua_protocol::codec::{hash_envelope, MAX_RECORD_BYTES};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod behaviour;
mod penalties;
mod types;
mod walks;

use behaviour::build_swarm;
pub use behaviour::{Behaviour, BehaviourEvent};
pub use types::{Delivery, NetworkStatus, PeerInfo, PublishReport};
use walks::WalkPacer;

use crate::frame_guard::{BreachReporter, FrameBreach, FrameLimits, GuardedMuxer};
use crate::ingest::{Ingest, IngestOutcome, Source};
use crate::metrics::{NetworkMetrics, NodeMetrics, GOSSIPSUB_PREFIX};
use crate::sync::{Frame, Penalty, SessionError, SyncCodec, SyncManager, SyncStatus, ToActor};

/// Commands queued from handles to the actor.
pub const COMMAND_CAP: usize = 64;
/// Gossip messages waiting for validation. When full, new messages are
/// reported `Ignore` at once (no penalty, no forwarding): sync recovers them.
pub const VALIDATION_QUEUE_CAP: usize = 256;
/// Validation verdicts waiting for the actor.
pub const VALIDATION_RESULT_CAP: usize = 64;

/// The Kademlia protocol of Mutua nodes: a DHT of their own, apart from IPFS's.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/mutua/kad/1.0.0");
/// What identify announces as the protocol version.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/mutua/1.0.0";
/// The agent string identify announces.
pub const AGENT_VERSION: &str = concat!("mutua-node/", env!("CARGO_PKG_VERSION"));

/// The largest gossipsub message that can carry a valid record: a record of
/// [`MAX_RECORD_BYTES`] plus the protobuf framing and the topic name. Frames
/// and IWANT requests are sized for it. A larger message within the frame
/// limit reaches the validator, which rejects its record as `too_large`:
/// gossipsub then remembers its id, whereas a message it refused itself was
/// forgotten, asked for again when advertised, and its sender penalised
/// twice (-40 instead of -10).
pub const MAX_MESSAGE_BYTES: usize = MAX_RECORD_BYTES + 1024;
/// The largest gossipsub RPC frame we accept: one message of the largest
/// size with control messages piggybacked (see [`MAX_CONTROL_BYTES`]). A
/// larger frame is refused by [`crate::frame_guard`]: counted, logged, and
/// its sender penalised and disconnected. Senders split their RPCs.
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES + MAX_CONTROL_BYTES;
/// The most message ids we ask one peer for per heartbeat, hence in one
/// IWANT: the answer (a standard implementation sends the messages asked
/// for in one RPC) fits in [`MAX_FRAME_BYTES`] however large the records.
pub const MAX_IWANT_IDS: usize = (MAX_FRAME_BYTES - MAX_CONTROL_BYTES) / MAX_MESSAGE_BYTES;
const _: () = assert!(MAX_IWANT_IDS >= 1);
/// gossipsub's own frame limit, above ours: gossipsub 0.50 compares it with
/// all the bytes it has buffered, which may include up to one read (8 KiB)
/// of the next frame, so a frame within our limit could trip it. The guard
/// checks each frame's own length first.
const GOSSIPSUB_TRANSMIT_LIMIT: usize = MAX_FRAME_BYTES + 8 * 1024 + 16;
/// The most bytes of control messages (IHAVE, IWANT, GRAFT, PRUNE,
/// subscriptions) in one RPC.
pub const MAX_CONTROL_BYTES: usize = 16 * 1024;
/// The most published messages accepted in one RPC frame.
pub const MAX_MESSAGES_PER_RPC: usize = 16;

/// How often the actor checks that it has enough peers, redials the
/// bootstrap peers if not, and refreshes its gauges.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);
/// How often (in maintenance ticks: 30 s) a node with enough peers redials
/// a bootstrap peer it lost.
const BOOTSTRAP_REDIAL_TICKS: u64 = 3;
/// The longest wait between two Kademlia random walks, in maintenance ticks
/// (5 minutes), when walks keep finding no new peer.
const MAX_WALK_WAIT_TICKS: u32 = 30;
/// How long an idle connection (no protocol wants it) stays open.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a peer that broke the sync protocol (garbage, oversized
/// messages) or sent too many invalid records stays cut off.
pub const BAN_DURATION: Duration = Duration::from_secs(600);
/// Application score lost per invalid record received through sync: like a
/// gossiped one, three cross gossipsub's graylist threshold (-80).
pub const SYNC_INVALID_RECORD_PENALTY: f64 = 30.0;
/// A penalty at or past this (the graylist threshold) also cuts the peer off.
const SYNC_PENALTY_BAN: f64 = 80.0;
/// Application score lost per gossipsub frame over the limits: like one
/// invalid record (three cut the peer off).
pub const FRAME_BREACH_PENALTY: f64 = SYNC_INVALID_RECORD_PENALTY;
/// The most peers remembered as having had their frame breach logged.
const MAX_LOGGED_BREACHES: usize = 4096;
/// What remains of a sync penalty after one maintenance tick: it fades over
/// about an hour, like gossipsub's invalid-message penalty.
const SYNC_PENALTY_DECAY: f64 = 0.987;

/// The network's settings.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/4101`; port 0 for any).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and whenever the node has too few peers. With a
    /// `/p2p/<peer id>` suffix they also seed the DHT.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// The gossipsub topic of the federation, from [`topic_for`].
    pub federation_topic: String,
    /// The most established connections, all peers together.
    pub max_connections: u32,
    /// How many peers the node tries to stay connected to: discovery dials
    /// new peers while it has fewer.
    pub target_peers: usize,
    /// New connections are refused while the process uses more memory than this.
    pub max_memory_bytes: usize,
    /// Answer DHT queries even if no public address is confirmed (a node
    /// behind NAT that other nodes reach through its outbound connections).
    /// Off, Kademlia decides from confirmed external addresses.
    pub kad_server: bool,
    /// IP addresses exempt from gossipsub's same-IP penalty (many nodes behind
    /// one NAT, or a testnet on one machine). Loopback is always exempt.
    pub colocation_whitelist: Vec<IpAddr>,
    /// The mean time between periodic sync sessions (jittered ±20 %).
    pub sync_interval: Duration,
}

impl NetworkConfig {
    /// Defaults for a federation topic: listen on all IPv4 interfaces on an
    /// OS-chosen port, mDNS on, no bootstrap peers.
    pub fn new(federation_topic: String) -> Self {
        NetworkConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr")],
            bootstrap: Vec::new(),
            mdns: true,
            federation_topic,
            max_connections: 128,
            target_peers: 12,
            max_memory_bytes: 512 * 1024 * 1024,
            kad_server: true,
            colocation_whitelist: Vec::new(),
            sync_interval: Duration::from_secs(300),
        }
    }
}

/// The gossipsub topic of a federation (specified, with a test vector, in
/// PROTOCOL.md's *Topic*).
pub use mutua_protocol::derived::topic_for;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The transport could not be set up (DNS configuration unreadable…).
    #[error("cannot set up the network transport: {0}")]
    Transport(String),
    /// The gossipsub configuration or peer scoring parameters are invalid.
    #[error("invalid gossipsub configuration: {0}")]
    Gossipsub(String),
    /// A listen address could not be bound (in use, not local, bad protocol).
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    /// The dial failed (unreachable, refused, wrong peer id, limits).
    #[error("cannot connect to {addr}: {reason}")]
    Dial { addr: Multiaddr, reason: String },
    /// The record is larger than a gossipsub message may be.
    #[error("the record is too large to publish ({size} bytes)")]
    TooLarge { size: usize },
    /// Gossipsub refused to publish for another reason (send queues full).
    #[error("cannot publish: {0}")]
    Publish(String),
    /// The network task has stopped (shut down, or it failed).
    #[error("the network task is not running")]
    Stopped,
}

/// A cheap, cloneable way to talk to the network task.
///
/// Every method sends one command and awaits its reply. Cancelling a call
/// (dropping its future) is safe: the command may still be carried out (a
/// publication still goes out), but its reply is dropped.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
}

impl NetworkHandle {
    /// A handle to no network: every request fails with
    /// [`NetworkError::Stopped`] (a stopped node's replica, read offline).
    pub fn detached() -> NetworkHandle {
        let (commands, _) = mpsc::channel(1);
        NetworkHandle { commands }
    }

    /// Publishes a record (its exact envelope bytes) on the federation topic.
    /// The caller stores the record first (see
    /// [`Ingest::ingest_local`]); "no peers yet" is a [`Delivery`], not an error.
    pub async fn publish(&self, envelope: Vec<u8>) -> Result<PublishReport, NetworkError> {
        self.request(|reply| Command::Publish { envelope, reply })
            .await?
    }

    /// The peers we are connected to.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        self.request(|reply| Command::Peers { reply }).await
    }

    pub async fn status(&self) -> Result<NetworkStatus, NetworkError> {
        self.request(|reply| Command::Status { reply }).await
    }

    /// Connects to a peer; returns once the connection is established (at
    /// once if the address names a peer already connected).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.request(|reply| Command::Dial { addr, reply }).await?
    }

    /// What anti-entropy sync has done and is doing.
    pub async fn sync_status(&self) -> Result<SyncStatus, NetworkError> {
        self.request(|reply| Command::SyncStatus { reply }).await
    }

    /// Stops the network task: closes every connection and returns once the
    /// swarm is gone. Returns at once if the task has already stopped.
    pub async fn shutdown(&self) {
        let _ = self.request(|reply| Command::Shutdown { reply }).await;
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        response.await.map_err(|_| NetworkError::Stopped)
    }
}

enum Command {
    Publish {
        envelope: Vec<u8>,
        reply: oneshot::Sender<Result<PublishReport, NetworkError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Status {
        reply: oneshot::Sender<NetworkStatus>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    SyncStatus {
        reply: oneshot::Sender<SyncStatus>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Starts the network: binds the listen addresses, dials the bootstrap
/// peers, and spawns the actor task (and its validation worker). libp2p's
/// metrics are registered in `metrics.registry`.
///
/// The returned task ends after [`NetworkHandle::shutdown`], or when every
/// handle is dropped.
pub async fn spawn(
    config: NetworkConfig,
    keypair: Keypair,
    ingest: Ingest,
    metrics: &mut NodeMetrics,
) -> Result<(NetworkHandle, JoinHandle<()>), NetworkError> {
    let (reporter, frame_breaches) = BreachReporter::new(
        FrameLimits {
            max_frame_bytes: MAX_FRAME_BYTES,
            max_messages: MAX_MESSAGES_PER_RPC,
            max_control_bytes: MAX_CONTROL_BYTES,
        },
        metrics.network.gossip_frames_refused.clone(),
    );
    let mut swarm = build_swarm(&config, keypair, metrics, reporter)?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    // Wait for the listeners to be bound, so that `status()` right after
    // `spawn` reports real addresses (port 0 resolved).
    let mut bound = 0;
    while bound < config.listen.len() {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { .. } => bound += 1,
            SwarmEvent::ListenerError { error, .. }
            | SwarmEvent::ListenerClosed {
                reason: Err(error), ..
            } => {
                return Err(NetworkError::Listen {
                    addr: config.listen[bound].clone(),
                    reason: error.to_string(),
                })
            }
            _ => {}
        }
    }

    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAP);
    let (job_tx, job_rx) = mpsc::channel(VALIDATION_QUEUE_CAP);
    let (result_tx, result_rx) = mpsc::channel(VALIDATION_RESULT_CAP);
    let (sync, sync_messages) =
        SyncManager::new(ingest.clone(), metrics.sync.clone(), config.sync_interval);
    let worker = tokio::spawn(validation_worker(ingest, job_rx, result_tx));
    let topic = IdentTopic::new(config.federation_topic.clone()).hash();
    let mut actor = Actor {
        swarm,
        topic,
        commands: command_rx,
        jobs: job_tx,
        results: result_rx,
        peers: HashMap::new(),
        pending_dials: HashMap::new(),
        libp2p_metrics: Libp2pMetrics::new(&mut metrics.registry),
        metrics: metrics.network.clone(),
        bootstrap: config.bootstrap.clone(),
        target_peers: config.target_peers,
        sync,
        sync_messages,
        banned: HashMap::new(),
        sync_penalties: HashMap::new(),
        frame_breaches,
        frame_breach_logged: HashSet::new(),
        walks: WalkPacer::default(),
        ticks: 0,
    };
    actor.bootstrap();
    let task = tokio::spawn(async move {
        actor.run().await;
        // Dropping the actor closes the swarm's connections and the job
        // channel: the worker finishes the job it holds and stops.
        drop(actor);
        let _ = worker.await;
    });
    Ok((
        NetworkHandle {
            commands: command_tx,
        },
        task,
    ))
}

/// A gossip message handed to the validation worker.
struct ValidationJob {
    message_id: MessageId,
    source: PeerId,
    data: Vec<u8>,
}

/// The worker's verdict on a [`ValidationJob`].
struct ValidationResult {
    message_id: MessageId,
    source: PeerId,
    acceptance: MessageAcceptance,
}

/// Validates gossip messages one at a time (the ingest pipeline runs the
/// CPU and disk work on blocking threads) and sends the verdicts back.
async fn validation_worker(
    ingest: Ingest,
    mut jobs: mpsc::Receiver<ValidationJob>,
    results: mpsc::Sender<ValidationResult>,
) {
    while let Some(job) = jobs.recv().await {
        let outcome = ingest.ingest(job.data, Source::Gossip(job.source)).await;
        if let IngestOutcome::Rejected { code, message } = &outcome {
            tracing::debug!(peer = %job.source, code, %message, "rejected a gossiped record");
        }
        let result = ValidationResult {
            message_id: job.message_id,
            source: job.source,
            acceptance: outcome.acceptance(),
        };
        if results.send(result).await.is_err() {
            break;
        }
    }
}

/// What the actor knows of a connected peer.
struct PeerEntry {
    addresses: Vec<(ConnectionId, Multiaddr)>,
    agent: Option<String>,
    protocol_version: Option<String>,
    connected_since: SystemTime,
}

struct Actor {
    swarm: Swarm<Behaviour>,
    topic: TopicHash,
    commands: mpsc::Receiver<Command>,
    jobs: mpsc::Sender<ValidationJob>,
    results: mpsc::Receiver<ValidationResult>,
    peers: HashMap<PeerId, PeerEntry>,
    pending_dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<(), NetworkError>>)>,
    libp2p_metrics: Libp2pMetrics,
    metrics: NetworkMetrics,
    bootstrap: Vec<Multiaddr>,
    target_peers: usize,
    sync: SyncManager,
    sync_messages: mpsc::Receiver<ToActor>,
    /// Peers cut off, until when.
    banned: HashMap<PeerId, Instant>,
    /// Application-score penalties: invalid records received by sync,
    /// gossipsub frames over the limits.
    sync_penalties: HashMap<PeerId, f64>,
    /// Peers that broke the gossipsub frame limits (`frame_guard`).
    frame_breaches: mpsc::Receiver<FrameBreach>,
    /// Peers whose frame breach was logged already (cleared at
    /// [`MAX_LOGGED_BREACHES`], so it stays bounded).
    frame_breach_logged: HashSet<PeerId>,
    walks: WalkPacer,
    /// Maintenance ticks so far.
    ticks: u64,
}

impl Actor {
    async fn run(&mut self) {
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sync_timer = tokio::time::sleep(self.sync.next_delay());
        tokio::pin!(sync_timer);
        loop {
            // Biased: local work (commands), then verdicts (they free the
            // validation queue and release forwarding), then sync tasks'
            // messages (responses to send, sessions done), then the network.
            // Every branch is cancel-safe (channel receives, timers, the
            // swarm stream).
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                Some(result) = self.results.recv() => self.handle_validation_result(result),
                Some(message) = self.sync_messages.recv() => self.handle_sync_message(message),
                Some(breach) = self.frame_breaches.recv() => self.handle_frame_breach(breach),
                _ = maintenance.tick() => self.handle_maintenance(),
                () = &mut sync_timer => {
                    self.start_periodic_sync();
                    sync_timer.as_mut().reset(tokio::time::Instant::now() + self.sync.next_delay());
                }
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
            }
        }
        tracing::info!("network stopped");
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish { envelope, reply } => {
                let _ = reply.send(self.publish(envelope));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Dial { addr, reply } => self.dial(addr, reply),
            Command::SyncStatus { reply } => {
                let _ = reply.send(self.sync.status());
            }
            Command::Shutdown { .. } => unreachable!("handled in the loop"),
        }
    }

    fn publish(&mut self, envelope: Vec<u8>) -> Result<PublishReport, NetworkError> {
        let size = envelope.len();
        let message_id = mutua_protocol::hex(&hash_envelope(&envelope).0);
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        let peers = gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&self.topic))
            .count();
        let delivery = match gossipsub.publish(self.topic.clone(), envelope) {
            Ok(_) => Delivery::Sent { peers },
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Delivery::NoPeers,
            Err(gossipsub::PublishError::Duplicate) => Delivery::AlreadyKnown,
            Err(gossipsub::PublishError::MessageTooLarge) => {
                return Err(NetworkError::TooLarge { size })
            }
            Err(other) => return Err(NetworkError::Publish(other.to_string())),
        };
        Ok(PublishReport {
            message_id,
            delivery,
        })
    }

    fn dial(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<(), NetworkError>>) {
        let opts = match addr.iter().last() {
            Some(Protocol::P2p(peer)) if self.swarm.is_connected(&peer) => {
                let _ = reply.send(Ok(()));
                return;
            }
            Some(Protocol::P2p(peer)) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
            _ => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(connection, (addr, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(NetworkError::Dial {
                    addr,
                    reason: e.to_string(),
                }));
            }
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mesh: Vec<&PeerId> = gossipsub.mesh_peers(&self.topic).collect();
        let subscribed: Vec<&PeerId> = gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&self.topic))
            .map(|(peer, _)| peer)
            .collect();
        let mut infos: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, entry)| PeerInfo {
                peer_id: *peer,
                addresses: entry.addresses.iter().map(|(_, a)| a.clone()).collect(),
                agent: entry.agent.clone(),
                protocol_version: entry.protocol_version.clone(),
                connected_since: entry
                    .connected_since
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                in_mesh: mesh.contains(&peer),
                subscribed: subscribed.contains(&peer),
                score: gossipsub.peer_score(peer),
            })
            .collect();
        infos.sort_by_key(|p| p.peer_id);
        infos
    }

    fn status(&mut self) -> NetworkStatus {
        let known_peers = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|bucket| bucket.num_entries())
            .sum();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        NetworkStatus {
            local_peer_id: *self.swarm.local_peer_id(),
            listen_addrs: self.swarm.listeners().cloned().collect(),
            external_addrs: self.swarm.external_addresses().cloned().collect(),
            topic: self.topic.to_string(),
            connected_peers: self.peers.len(),
            mesh_peers: gossipsub.mesh_peers(&self.topic).count(),
            topic_peers: gossipsub
                .all_peers()
                .filter(|(_, topics)| topics.contains(&&self.topic))
                .count(),
            known_peers,
            validation_queue: VALIDATION_QUEUE_CAP - self.jobs.capacity(),
        }
    }

    fn handle_validation_result(&mut self, result: ValidationResult) {
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
    }

    /// Dials the configured bootstrap peers not connected, and seeds the DHT
    /// with those whose peer id is known.
    fn bootstrap(&mut self) {
        for addr in self.bootstrap.clone() {
            let peer = match addr.iter().last() {
                Some(Protocol::P2p(peer)) => Some(peer),
                _ => None,
            };
            if let Some(peer) = peer {
                if self.swarm.is_connected(&peer) {
                    continue;
                }
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            let opts = match peer {
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
                None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
            };
            if let Err(error) = self.swarm.dial(opts) {
                tracing::debug!(%addr, %error, "cannot dial bootstrap peer");
            }
        }
    }

    /// A session with a random connected peer not already syncing with us.
    fn start_periodic_sync(&mut self) {
        use rand::seq::IteratorRandom;
        let candidate = self
            .peers
            .keys()
            .filter(|peer| self.sync.may_start(peer))
            .choose(&mut rand::thread_rng())
            .copied();
        if let Some(peer) = candidate {
            self.sync.start(peer);
        }
    }

    fn handle_sync_message(&mut self, message: ToActor) {
        let penalty = self
            .sync
            .handle_task_message(message, &mut self.swarm.behaviour_mut().sync);
        if let Some(penalty) = penalty {
            self.penalise(penalty);
        }
    }

    fn handle_sync_event(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if let Some(penalty) = self.sync.handle_request(peer, request, channel) {
                    self.penalise(penalty);
                }
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.sync.handle_response(request_id, Ok(response)),
            Event::OutboundFailure {
                request_id, error, ..
            } => self
                .sync
                .handle_response(request_id, Err(SessionError::of_outbound(error))),
            // Timeouts, closed connections, requests refused when busy.
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn handle_maintenance(&mut self) {
        self.decay_penalties();
        let mesh = self
            .swarm
            .behaviour()
            .gossipsub
            .mesh_peers(&self.topic)
            .count();
        self.metrics.mesh_peers.set(mesh as i64);
        self.metrics.connected_peers.set(self.peers.len() as i64);
        self.ticks = self.ticks.wrapping_add(1);
        let short_of_peers = self.peers.len() < self.target_peers;
        let bootstrap_lost = self.bootstrap.iter().any(
            |a| matches!(a.iter().last(), Some(Protocol::P2p(p)) if !self.swarm.is_connected(&p)),
        );
        // Bootstrap peers with an unknown peer id are dialed again even if
        // connected: cheap, and the connection limit per peer holds. A node
        // with enough peers still redials a lost bootstrap peer now and then:
        // after a partition, two groups that each have enough peers would
        // otherwise never look for each other again.
        if self.peers.is_empty()
            || (bootstrap_lost
                && (short_of_peers || self.ticks.is_multiple_of(BOOTSTRAP_REDIAL_TICKS)))
        {
            self.bootstrap();
        }
        if short_of_peers {
            // A random walk finds new peers; `RoutingUpdated` dials them.
            if !self.peers.is_empty() && self.walks.should_walk(self.peers.len()) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .get_closest_peers(PeerId::random());
            }
        }
    }

    /// Dials a peer discovery found, while the node wants more peers.
    fn dial_discovered(&mut self, peer: PeerId) {
        if self.peers.len() >= self.target_peers
            || self.swarm.is_connected(&peer)
            || peer == *self.swarm.local_peer_id()
        {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(error) = self.swarm.dial(opts) {
            tracing::debug!(%peer, %error, "cannot dial discovered peer");
        }
    }

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.libp2p_metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                // The dialing side starts a session: a node that was away or
                // is new catches up as soon as it connects, and two nodes
                // meeting do not both start one.
                if num_established.get() == 1 && endpoint.is_dialer() {
                    self.sync.start(peer_id);
                }
                let entry = self.peers.entry(peer_id).or_insert_with(|| PeerEntry {
                    addresses: Vec::new(),
                    agent: None,
                    protocol_version: None,
                    connected_since: SystemTime::now(),
                });
                entry
                    .addresses
                    .push((connection_id, endpoint.get_remote_address().clone()));
                self.metrics.connected_peers.set(self.peers.len() as i64);
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    self.walks.peer_lost();
                } else if let Some(entry) = self.peers.get_mut(&peer_id) {
                    entry.addresses.retain(|(id, _)| *id != connection_id);
                }
                self.metrics.connected_peers.set(self.peers.len() as i64);
                tracing::debug!(peer = %peer_id, "disconnected");
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetworkError::Dial {
                        addr,
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            _ => {}
        }
    }

    fn handle_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => {
                self.libp2p_metrics.record(&event);
                self.handle_gossipsub_event(event);
            }
            BehaviourEvent::Identify(event) => {
                self.libp2p_metrics.record(&event);
                self.handle_identify_event(event);
            }
            BehaviourEvent::Kad(event) => {
                self.libp2p_metrics.record(&event);
                if let kad::Event::RoutingUpdated { peer, .. } = event {
                    self.dial_discovered(peer);
                }
            }
            BehaviourEvent::Ping(event) => self.libp2p_metrics.record(&event),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                    self.dial_discovered(peer);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(_)) => {}
            BehaviourEvent::Sync(event) => self.handle_sync_event(event),
            BehaviourEvent::Limits(never)
            | BehaviourEvent::Memory(never)
            | BehaviourEvent::Blocked(never) => match never {},
        }
    }

    fn handle_gossipsub_event(&mut self, event: gossipsub::Event) {
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

    fn handle_identify_event(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if let Some(entry) = self.peers.get_mut(&peer_id) {
            entry.agent = Some(info.agent_version.clone());
            entry.protocol_version = Some(info.protocol_version.clone());
        }
        // Only peers that speak our DHT go into the routing table.
        if info.protocols.contains(&KAD_PROTOCOL) {
            let kad = &mut self.swarm.behaviour_mut().kad;
            for addr in info.listen_addrs {
                kad.add_address(&peer_id, addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use behaviour::{gossipsub_config, peer_score};
    use mutua_protocol::PublicKey;

    fn key(seed: u8) -> PublicKey {
        mutua_protocol::SecretKey::from_seed([seed; 32]).public()
    }

    #[test]
    fn random_walks_back_off_while_they_find_nobody_and_resume_on_loss() {
        let mut pacer = WalkPacer::default();
        let walk_ticks: Vec<u32> = (0..80).filter(|_| pacer.should_walk(9)).collect();
        // Gaps of 0, 1, 2, 4, 8, 16, then the cap of 30 ticks.
        assert_eq!(walk_ticks, vec![0, 1, 3, 6, 11, 20, 37, 68]);
        // A walk that brought a new peer: the next tick walks again.
        while !pacer.should_walk(10) {}
        assert!(pacer.should_walk(11));
        // A lost peer: walk at once, whatever the wait had grown to.
        for _ in 0..5 {
            pacer.should_walk(11);
        }
        pacer.peer_lost();
        assert!(pacer.should_walk(10));
    }

    #[test]
    fn topic_depends_on_name_and_anchor_set_only() {
        let (a, b) = (key(1), key(2));
        let topic = topic_for("Syndicat Gironde Numérique", &[a, b]);
        assert!(
            topic.starts_with("mutua/1/records/syndicat-gironde-numrique/"),
            "{topic}"
        );
        assert_eq!(
            topic.len(),
            "mutua/1/records/syndicat-gironde-numrique/".len() + 32
        );
        // Order and repetition of anchors do not matter…
        assert_eq!(topic, topic_for("Syndicat Gironde Numérique", &[b, a, b]));
        // …but the set and the name do.
        assert_ne!(topic, topic_for("Syndicat Gironde Numérique", &[a]));
        assert_ne!(topic, topic_for("Syndicat Gironde Numerique", &[a, b]));
    }

    #[test]
    fn gossipsub_settings_are_accepted_by_libp2p() {
        let topic = IdentTopic::new(topic_for("test", &[key(1)])).hash();
        let config = gossipsub_config(&topic).unwrap();
        assert_eq!(config.max_transmit_size(), GOSSIPSUB_TRANSMIT_LIMIT);
        assert_eq!(config.max_control_messages_sent(), 1);
        assert_eq!(config.max_transmit_size_for_topic(&topic), MAX_FRAME_BYTES);
        assert!(config.validate_messages());
        let (params, thresholds) = peer_score(&topic, &[]);
        params.validate().unwrap();
        thresholds.validate().unwrap();
        // Three invalid records and nothing else graylist a peer; two do not.
        let p4 = params.topics[&topic].invalid_message_deliveries_weight;
        assert!(p4 * 9.0 < thresholds.graylist_threshold);
        assert!(p4 * 4.0 + params.topic_score_cap > thresholds.graylist_threshold);
    }
}
