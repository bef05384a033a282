//! The network actor: the one task that owns the [`Swarm`]. Its loop
//! (`run`) waits, biased in this order, on: commands from the
//! [`NetworkHandle`]s (local work first), gossip validation verdicts (they
//! free the validation queue and release forwarding), messages from sync
//! tasks (responses to send, sessions done), frame-guard breaches, the
//! maintenance tick, the redial check, the periodic-sync timer, then swarm
//! events. Each arm calls one `handle_*` method; none blocks: no sled, no signature checks,
//! no `.await` on a channel another task may leave full. Work is handed off
//! without waiting (a `try_send` into the validation queue, a spawned task
//! per sync session or inbound request, one-shot replies) and the answers
//! are drained by the loop itself; every channel is bounded by a named constant
//! ([`COMMAND_CAP`], [`VALIDATION_QUEUE_CAP`], [`VALIDATION_RESULT_CAP`],
//! `TO_ACTOR_CAP`). The loop ends on `Shutdown` or when the last handle is
//! dropped; dropping the swarm closes every connection.
//!
//! A node forwards only what it stored: gossipsub's `Accept` is reported
//! for a message only once the ingest pipeline has flushed its record
//! (`super::validation`).
//!
//! Anti-entropy sync (`crate::sync`) is a request-response behaviour: the
//! actor owns the [`SyncManager`] (sessions under way, requests waiting for
//! responses) and moves messages between the swarm and the sync tasks,
//! which do the store work. Sessions start when this node dials a peer and
//! every `sync_interval` (±20 %) with a random connected peer.
//!
//! What to do about peers (bans, penalties, redials, walks) is decided by
//! the [`PeerPolicy`], which the actor feeds with events and the time and
//! whose [`Action`]s it executes ([`Actor::execute`]); the actor keeps no
//! policy state of its own.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{IdentTopic, TopicHash};
use libp2p::identity::Keypair;
use libp2p::metrics::{Metrics as Libp2pMetrics, Recorder};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{request_response, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::behaviour::{build_swarm, Behaviour, BehaviourEvent};
use super::handle::{Command, NetworkHandle};
use super::policy::{
    Action, Connectivity, PeerPolicy, BAN_DURATION, MAINTENANCE_INTERVAL, REDIAL_CHECK_INTERVAL,
};
use super::validation::{validation_worker, ValidationJob, ValidationResult};
use super::{
    NetworkConfig, NetworkError, COMMAND_CAP, MAX_CONTROL_BYTES, MAX_FRAME_BYTES,
    MAX_MESSAGES_PER_RPC, VALIDATION_QUEUE_CAP, VALIDATION_RESULT_CAP,
};
use crate::frame_guard::{BreachReporter, FrameBreach, FrameLimits};
use crate::ingest::Ingest;
use crate::metrics::{NetworkMetrics, NodeMetrics};
use crate::sync::{Frame, Penalty, SessionError, SyncManager, ToActor};

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
                source: e.into(),
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
                    source: error.into(),
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
        sync,
        sync_messages,
        frame_breaches,
        policy: PeerPolicy::new(config.target_peers),
    };
    actor.dial_bootstrap();
    let task = tokio::spawn(async move {
        actor.run().await;
        // Dropping the actor closes the swarm's connections and the job
        // channel: the worker finishes the job it holds and stops.
        drop(actor);
        let _ = worker.await;
    });
    Ok((NetworkHandle::new(command_tx), task))
}

/// A dial's address, and where its outcome goes.
pub(super) type PendingDial = (Multiaddr, oneshot::Sender<Result<(), NetworkError>>);

/// What the actor knows of a connected peer.
pub(super) struct PeerEntry {
    pub(super) addresses: Vec<(ConnectionId, Multiaddr)>,
    /// Where to redial it if lost: the addresses we reached it at, then
    /// those it listens on (identify).
    pub(super) redial_addrs: Vec<Multiaddr>,
    pub(super) agent: Option<String>,
    pub(super) protocol_version: Option<String>,
    pub(super) connected_since: SystemTime,
}

pub(super) struct Actor {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) topic: TopicHash,
    commands: mpsc::Receiver<Command>,
    pub(super) jobs: mpsc::Sender<ValidationJob>,
    results: mpsc::Receiver<ValidationResult>,
    pub(super) peers: HashMap<PeerId, PeerEntry>,
    /// Dials asked for by `NetworkHandle::dial`, answered when they end.
    pub(super) pending_dials: HashMap<ConnectionId, PendingDial>,
    libp2p_metrics: Libp2pMetrics,
    pub(super) metrics: NetworkMetrics,
    /// The configured bootstrap addresses.
    pub(super) bootstrap: Vec<Multiaddr>,
    pub(super) sync: SyncManager,
    sync_messages: mpsc::Receiver<ToActor>,
    /// Peers that broke the gossipsub frame limits (`frame_guard`).
    frame_breaches: mpsc::Receiver<FrameBreach>,
    pub(super) policy: PeerPolicy,
}

impl Actor {
    async fn run(&mut self) {
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redials = tokio::time::interval(REDIAL_CHECK_INTERVAL);
        redials.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                _ = redials.tick() => self.handle_redial_check(),
                () = &mut sync_timer => {
                    self.start_periodic_sync();
                    sync_timer.as_mut().reset(tokio::time::Instant::now() + self.sync.next_delay());
                }
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
            }
        }
        tracing::info!("network stopped");
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

    /// Refreshes the gauges and lets the policy decide what the tick calls for.
    fn handle_maintenance(&mut self) {
        let mesh = self
            .swarm
            .behaviour()
            .gossipsub
            .mesh_peers(&self.topic)
            .count();
        self.metrics.mesh_peers.set(mesh as i64);
        self.metrics.connected_peers.set(self.peers.len() as i64);
        if mesh == 0 {
            self.log_unmeshed_topic_peers();
        }
        let seen = Connectivity {
            connected: self.peers.len(),
            bootstrap_lost: self.bootstrap_lost(),
        };
        let actions = self.policy.on_tick(Instant::now(), seen);
        self.execute(actions);
    }

    /// Gossipsub leaves a peer on the topic out of the mesh only for its
    /// protocol (not gossipsub as far as it knows), a negative score or a
    /// backoff (not exposed): a node that stays without a mesh says which,
    /// peer by peer, every tick (a set-up once hung so, ≈ 1 % of chaos runs).
    fn log_unmeshed_topic_peers(&self) {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let kinds: HashMap<_, _> = gossipsub.peer_protocol().collect();
        for (peer, topics) in gossipsub.all_peers() {
            if topics.contains(&&self.topic) {
                tracing::info!(
                    %peer,
                    protocol = %kinds.get(peer).map_or("unknown".into(), |k| k.to_string()),
                    score = ?gossipsub.peer_score(peer),
                    "no mesh peer, though this peer is on the topic"
                );
            }
        }
    }

    /// Redials the lost peers the policy says are due.
    fn handle_redial_check(&mut self) {
        let actions = self.policy.on_redial_check(Instant::now());
        self.execute(actions);
    }

    /// Acts on a peer's sync misbehaviour, as the policy decides.
    fn penalise(&mut self, penalty: Penalty) {
        let invalid = match &penalty {
            Penalty::InvalidRecords(peer, count) => Some((*peer, *count)),
            Penalty::Fault(..) => None,
        };
        let actions = self.policy.on_sync_penalty(penalty, Instant::now());
        if let Some((peer, count)) = invalid {
            let penalty = self.policy.penalty(&peer);
            tracing::warn!(%peer, count, penalty, "invalid records received by sync");
        }
        self.execute(actions);
    }

    /// A peer sent a gossipsub frame over the limits: the guard counted it
    /// and ended the stream; the policy closes the connection and lowers the
    /// peer's score. Logged once per peer.
    fn handle_frame_breach(&mut self, FrameBreach { peer, breach }: FrameBreach) {
        let verdict = self.policy.on_frame_breach(peer, Instant::now());
        if verdict.log {
            tracing::warn!(
                %peer,
                %breach,
                max_frame_bytes = MAX_FRAME_BYTES,
                "closing the connection of a peer that sent a gossipsub frame over the limits \
                 (logged once per peer; see mutua_network_gossip_frames_refused_total)"
            );
        }
        self.execute(verdict.actions);
    }

    /// Carries out the policy's decisions, in order.
    pub(super) fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Ban { peer, reason } => {
                    tracing::warn!(%peer, %reason, ban_secs = BAN_DURATION.as_secs(), "cutting off a misbehaving peer");
                    self.metrics.sync_bans.inc();
                    self.swarm.behaviour_mut().blocked.block_peer(peer);
                }
                Action::Unban(peer) => {
                    self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                }
                Action::SetScore { peer, score } => {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .set_application_score(&peer, score);
                }
                Action::Disconnect(peer) => {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Action::DialBootstrap => self.dial_bootstrap(),
                Action::Redial {
                    peers,
                    retry_pending,
                } => self.redial(peers, retry_pending),
                // `RoutingUpdated` dials the peers the walk finds.
                Action::RandomWalk => {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .get_closest_peers(PeerId::random());
                }
            }
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
                // meeting do not both start one. A burst of them (a heal) is
                // synced one peer after the other.
                if num_established.get() == 1 && endpoint.is_dialer() {
                    self.sync.start_on_connect(peer_id);
                }
                let entry = self.peers.entry(peer_id).or_insert_with(|| PeerEntry {
                    addresses: Vec::new(),
                    redial_addrs: Vec::new(),
                    agent: None,
                    protocol_version: None,
                    connected_since: SystemTime::now(),
                });
                let remote = endpoint.get_remote_address();
                if endpoint.is_dialer() && !entry.redial_addrs.contains(remote) {
                    entry.redial_addrs.insert(0, remote.clone());
                }
                entry.addresses.push((connection_id, remote.clone()));
                self.metrics.connected_peers.set(self.peers.len() as i64);
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
                if num_established.get() == 1 {
                    let actions = self.policy.on_peer_connected(peer_id, Instant::now());
                    self.execute(actions);
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
                    self.sync.peer_disconnected(&peer_id);
                    let addresses = self
                        .peers
                        .remove(&peer_id)
                        .map(|entry| entry.redial_addrs)
                        .unwrap_or_default();
                    self.policy
                        .on_peer_disconnected(peer_id, addresses, Instant::now());
                } else if let Some(entry) = self.peers.get_mut(&peer_id) {
                    entry.addresses.retain(|(id, _)| *id != connection_id);
                }
                self.metrics.connected_peers.set(self.peers.len() as i64);
                tracing::debug!(peer = %peer_id, "disconnected");
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let Some(peer) = peer_id {
                    self.policy.on_dial_failed(&peer);
                }
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetworkError::Dial {
                        addr,
                        source: Box::new(error),
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
                self.handle_kad_event(event);
            }
            BehaviourEvent::Ping(event) => self.libp2p_metrics.record(&event),
            BehaviourEvent::Mdns(event) => self.handle_mdns_event(event),
            BehaviourEvent::Sync(event) => self.handle_sync_event(event),
            BehaviourEvent::Limits(never)
            | BehaviourEvent::Memory(never)
            | BehaviourEvent::Blocked(never) => match never {},
        }
    }
}
