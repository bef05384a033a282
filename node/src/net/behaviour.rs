//! The swarm's composition: the behaviours a Mutua node runs, the gossipsub
//! and peer-score settings, and the transport (TCP + noise + yamux, every
//! stream behind [`crate::frame_guard`]).
//!
//! **Transport**: a connection not established within
//! [`super::DIAL_TIMEOUT`] (4 s) is abandoned, each way; every dial leaves
//! from a fresh local port ([`super::fresh_ports`]: two nodes redialing each
//! other from their listening ports collided at a heal).
//!
//! **Behaviours**, in polling order: the block list (peers the
//! [`super::policy`] banned); connection limits (`max_connections`, 128 by
//! default, 2 per peer, 32 pending each way); a memory limit (no new
//! connection while the process uses more than `max_memory_bytes`, 512 MiB:
//! a node should use tens of MiB, so this trips only when something is
//! badly wrong); identify ([`IDENTIFY_PROTOCOL_VERSION`]); ping; Kademlia on
//! [`KAD_PROTOCOL`] (a DHT of Mutua nodes only, never IPFS's; server mode by
//! default, so that nodes behind NAT still answer over the connections they
//! opened; no periodic bootstrap: see [`kad_config`]); mDNS behind a toggle (on by default, off in tests and on
//! servers); gossipsub on the federation topic; request-response sync.
//!
//! **Gossipsub settings** ([`gossipsub_config`]), for rare, self-signed,
//! ≤ 16 KiB records:
//! - anonymous messages: a record carries its own signature and author, so
//!   gossipsub adds no peer signature, author or sequence number (less CPU,
//!   ~100 bytes less per message); a message that carries them is invalid;
//! - message id = SHA-256 of the data, i.e. the record hash: the same record
//!   from two peers, or republished, is one message;
//! - sizes: see [`super::MAX_MESSAGE_BYTES`], [`super::MAX_FRAME_BYTES`] and
//!   [`super::MAX_IWANT_IDS`]; gossipsub's own frame limit sits 8 KiB above
//!   ours, so that the frame guard always decides first;
//! - duplicate cache 5 minutes (default 1): a record echoed back late by a
//!   slow peer is still recognised without touching the store; flood
//!   publishing is off: a node's own record goes to its mesh peers like a
//!   forwarded one;
//! - mesh and gossip degrees ([`GossipTuning`], `[network.gossipsub]` in
//!   the config): D = 5, D_lo = 4, D_hi = 6, D_out = 2, IHAVE to D_lazy = 3
//!   peers outside the mesh each heartbeat (gossip factor 0), heartbeat 1 s.
//!   Each mesh peer costs a copy of most records (a peer forwards before our
//!   IDONTWANT reaches it once validation takes milliseconds) and an
//!   IDONTWANT: against libp2p's D = 6, D_hi = 12, D_lazy = 6 / 25 %, this
//!   took the bytes received per unique byte at N = 40 from 2.8–3.5 to
//!   2.0–2.3 without a worse propagation p99; D = 4 saved no more and had
//!   a worse p99 under load (BENCHMARKS.md, gossip efficiency at N = 40);
//! - IDONTWANT (gossipsub v1.2) for every record, on receipt (before
//!   validation) and on publish: mesh peers still validating it do not send
//!   a copy back. Peers that speak only v1.1 interoperate, receiving and
//!   sending more duplicates: these settings are local.
//!
//! **Peer scoring** ([`peer_score`]): P3/P3b (mesh delivery rate) are off,
//! because a federation's topic is quiet for hours and quiet peers are not
//! faulty. P4 (invalid messages) carries the weight: -10 × count², so one
//! invalid record puts a peer below the gossip threshold (-10), three below
//! the graylist threshold (-80, after which everything it sends is dropped
//! unread); it fades over about an hour, so an honest node with a bug
//! recovers. The small positive terms (time in mesh, at most 10 after an
//! hour; first deliveries, capped at 20; topic cap 30) cannot buy an
//! attacker more than two invalid records. The application-specific score
//! (weight 1) is the policy's penalty for invalid records received through
//! sync and for frames over the limits. The same-IP penalty (P6) stays at
//! its default but exempts loopback and `colocation_whitelist` (many
//! town-hall nodes behind one NAT, a testnet on one machine).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::core::transport::timeout::TransportTimeout;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    allow_block_list, connection_limits, identify, kad, mdns, memory_connection_limits, noise,
    ping, request_response, tcp, yamux, Swarm,
};
use mutua_protocol::codec::hash_envelope;

use super::fresh_ports::FreshPorts;
use super::{
    NetworkConfig, NetworkError, TransportError, AGENT_VERSION, DIAL_TIMEOUT,
    GOSSIPSUB_TRANSMIT_LIMIT, IDENTIFY_PROTOCOL_VERSION, IDLE_CONNECTION_TIMEOUT, KAD_PROTOCOL,
    MAX_CONTROL_BYTES, MAX_FRAME_BYTES, MAX_IWANT_IDS, MAX_MESSAGES_PER_RPC,
};
use crate::frame_guard::{BreachReporter, GuardedMuxer};
use crate::metrics::{NodeMetrics, GOSSIPSUB_PREFIX};
use crate::sync::SyncCodec;

/// The protocols of a Mutua node, in the order the swarm polls them.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers cut off for breaking the sync protocol: refused, and their
    /// connections closed.
    pub(super) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Refuses connections beyond the configured counts.
    pub(super) limits: connection_limits::Behaviour,
    /// Refuses new connections while the process uses too much memory.
    pub(super) memory: memory_connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) sync: request_response::Behaviour<SyncCodec>,
}

/// Messages larger than this are announced with an IDONTWANT on receipt
/// (gossipsub v1.2): every message, since no record is this small.
pub(super) const IDONTWANT_THRESHOLD_BYTES: usize = 0;

/// The gossipsub mesh and gossip settings that are tunable, from the
/// config's `[network.gossipsub]` table, so that variants run side by side
/// from one binary. The defaults are the ones measured best at N = 40
/// (BENCHMARKS.md, gossip efficiency at N = 40): a mesh of 5, capped at 6,
/// and IHAVE to 3 peers outside it (libp2p's: 6, 12 and 6, or a quarter
/// of the peers outside the mesh).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipTuning {
    /// D: the mesh peers a node forwards every record to.
    pub mesh_n: usize,
    /// D_lo: fewer mesh peers than this, the heartbeat grafts more.
    pub mesh_n_low: usize,
    /// D_hi: more than this (peers graft us too), it prunes down to D.
    pub mesh_n_high: usize,
    /// D_out: mesh peers that must be outbound connections (≤ D / 2, ≤ D_lo).
    pub mesh_outbound_min: usize,
    /// D_lazy: at least this many peers outside the mesh get IHAVE each heartbeat …
    pub gossip_lazy: usize,
    /// … or this share of the peers outside the mesh, if more.
    pub gossip_factor: f64,
    /// Milliseconds between heartbeats (mesh upkeep, IHAVE).
    pub heartbeat_ms: u64,
}

impl Default for GossipTuning {
    fn default() -> Self {
        GossipTuning {
            // Every mesh peer is one more copy of each record received
            // (those that forward before our IDONTWANT reaches them) and
            // one more IDONTWANT sent: 5 rather than 6, and no more than 6
            // (libp2p's 12 let peers grafting us grow meshes to 7–8).
            mesh_n: 5,
            mesh_n_low: 4,
            mesh_n_high: 6,
            mesh_outbound_min: 2,
            // IHAVE (≈ 120 B: the topic and one id) to exactly 3 peers
            // outside the mesh each heartbeat, not a quarter of them (8 at
            // N = 40): anti-entropy repairs what gossip misses.
            gossip_lazy: 3,
            gossip_factor: 0.0,
            heartbeat_ms: 1000,
        }
    }
}

impl GossipTuning {
    /// What libp2p would refuse, in words, and the heartbeat kept sane.
    pub fn check(&self) -> Result<(), String> {
        let GossipTuning {
            mesh_n: d,
            mesh_n_low: lo,
            mesh_n_high: hi,
            mesh_outbound_min: out,
            ..
        } = *self;
        if !(out <= lo && lo <= d && d <= hi) || d == 0 {
            return Err(format!(
                "needs mesh_outbound_min ({out}) ≤ mesh_n_low ({lo}) ≤ mesh_n ({d}) ≤ mesh_n_high ({hi}), mesh_n ≥ 1"
            ));
        }
        if out * 2 > d {
            return Err(format!(
                "mesh_outbound_min ({out}) must be at most mesh_n / 2 ({d} / 2)"
            ));
        }
        if !(0.0..=1.0).contains(&self.gossip_factor) {
            return Err("gossip_factor must be between 0 and 1".into());
        }
        if !(100..=60_000).contains(&self.heartbeat_ms) {
            return Err("heartbeat_ms must be between 100 and 60000".into());
        }
        Ok(())
    }
}

/// The gossipsub settings, each choice explained where it is made.
pub(super) fn gossipsub_config(
    topic: &TopicHash,
    tuning: &GossipTuning,
) -> Result<gossipsub::Config, NetworkError> {
    gossipsub::ConfigBuilder::default()
        // Mesh and gossip degrees, heartbeat: see GossipTuning.
        .mesh_n(tuning.mesh_n)
        .mesh_n_low(tuning.mesh_n_low)
        .mesh_n_high(tuning.mesh_n_high)
        .mesh_outbound_min(tuning.mesh_outbound_min)
        .gossip_lazy(tuning.gossip_lazy)
        .gossip_factor(tuning.gossip_factor)
        .heartbeat_interval(Duration::from_millis(tuning.heartbeat_ms))
        // Records carry their own signatures: the gossipsub envelope carries
        // no author, sequence number or signature, and messages that do are invalid.
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        // Nothing is forwarded before the ingest pipeline has stored it.
        .validate_messages()
        // Content-addressed: the same record from two peers is one message,
        // and its id is the record hash.
        .message_id_fn(|message| MessageId::new(&hash_envelope(&message.data).0))
        // The guard enforces MAX_FRAME_BYTES on each frame; this is above it.
        .max_transmit_size(GOSSIPSUB_TRANSMIT_LIMIT)
        // A message can be as large as a frame: records too large are
        // rejected by the validator (see MAX_MESSAGE_BYTES).
        .max_transmit_size_for_topic(MAX_FRAME_BYTES, topic.clone())
        .max_publish_messages(MAX_MESSAGES_PER_RPC)
        .max_control_message_size(MAX_CONTROL_BYTES)
        // Caps both the ids we ask a peer for per heartbeat (IWANT) and the
        // ids we advertise to it (IHAVE): gossipsub has one setting for both.
        .max_control_messages_sent(MAX_IWANT_IDS)
        // Long enough that a record echoed back by a slow peer is still
        // recognised; the store catches anything older as a duplicate.
        .duplicate_cache_time(Duration::from_secs(300))
        // A node's own record goes to its mesh peers only, like a forwarded
        // one: flooding it to every subscribed peer as well was most of the
        // duplicates received (see BENCHMARKS.md, gossip efficiency).
        .flood_publish(false)
        // Every record, however small, is announced as received with an
        // IDONTWANT to the mesh before it is validated (storing it takes
        // milliseconds), so that mesh peers that would forward it to us once
        // they have stored it don't: even a withdrawal (a signature and a
        // key alone are 96 B; listings 0.5–4 KB) costs more than an
        // IDONTWANT (≈ 40 B). libp2p's default threshold (1,000 B) left most
        // records without one: 3.7 copies of each per node at N = 10, 1.8
        // with it (BENCHMARKS.md, gossip efficiency).
        .idontwant_message_size_threshold(IDONTWANT_THRESHOLD_BYTES)
        // The origin too, before its record: a mesh peer that gets the
        // record from another forwarder first would send it back.
        .idontwant_on_publish(true)
        .build()
        .map_err(|e| NetworkError::Gossipsub(e.to_string()))
}

/// Peer scoring tuned for a low-traffic topic: records are rare (a few a day
/// per collectivity), so there is no penalty for delivering few messages
/// (P3 off); the one thing that matters is invalid records (P4): three of them
/// graylist a peer, and the penalty fades over about an hour.
pub(super) fn peer_score(
    topic: &TopicHash,
    whitelist: &[IpAddr],
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // P1: a little credit for staying in the mesh, at most 10 after ~1 h.
        time_in_mesh_weight: 10.0 / 3600.0,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 3600.0,
        // P2: credit for being first with a valid record, at most 20.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(3600)),
        first_message_deliveries_cap: 20.0,
        // P3, P3b: off (no steady message rate to expect).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: -10 × count²: one invalid record crosses the gossip threshold,
        // three the graylist threshold.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(
            3600,
        )),
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        topic_score_cap: 30.0,
        // Invalid records received through sync (the actor sets it).
        app_specific_weight: 1.0,
        ..Default::default()
    };
    params.topics.insert(topic.clone(), topic_params);
    params.ip_colocation_factor_whitelist.extend(
        [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
        .into_iter()
        .chain(whitelist.iter().copied()),
    );
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

/// Kademlia's settings: libp2p's, without the bootstrap it runs every 5
/// minutes. A bootstrap is a self-lookup then a lookup per bucket farther
/// than the nearest neighbour's, each asking every peer of a small table: at
/// N = 10, 4 lookups × 9 peers per node, ~390 requests, about 700 KB in and
/// out, every 5 minutes, for nothing once every peer is connected (the
/// testnet's 400 s idle window averaged 51 B/s per connection with it).
/// What it would find is found without it: kad still bootstraps 500 ms
/// after any insertion into a table of fewer than 20 peers (a newcomer's
/// lookups reach the others, whose tables take it in as it connects), and
/// the policy walks while the node is short of peers and learning
/// (see [`super::policy`], *Walks*).
fn kad_config() -> kad::Config {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config.set_periodic_bootstrap_interval(None);
    config
}

pub(super) fn build_swarm(
    config: &NetworkConfig,
    keypair: Keypair,
    metrics: &mut NodeMetrics,
    reporter: BreachReporter,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let topic = IdentTopic::new(config.federation_topic.clone());
    let gossipsub_config = gossipsub_config(&topic.hash(), &config.gossip)?;
    let (score_params, score_thresholds) = peer_score(&topic.hash(), &config.colocation_whitelist);
    let local_peer_id = keypair.public().to_peer_id();
    let registry = &mut metrics.registry;

    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossipsub_config)
        .map_err(|e| NetworkError::Gossipsub(e.to_string()))?
        .with_metrics(
            registry.sub_registry_with_prefix(GOSSIPSUB_PREFIX),
            gossipsub::MetricsConfig::default(),
        );
    gossipsub
        .with_peer_score(score_params, score_thresholds)
        .map_err(NetworkError::Gossipsub)?;
    gossipsub
        .subscribe(&topic)
        .map_err(|e| NetworkError::Gossipsub(e.to_string()))?;

    let mdns = if config.mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), local_peer_id)
                .map_err(TransportError::Mdns)?,
        )
    } else {
        None
    };
    let mut kad = kad::Behaviour::with_config(
        local_peer_id,
        kad::store::MemoryStore::new(local_peer_id),
        kad_config(),
    );
    if config.kad_server {
        kad.set_mode(Some(kad::Mode::Server));
    }
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(32))
        .with_max_pending_outgoing(Some(32));

    let behaviour = Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits: connection_limits::Behaviour::new(limits),
        memory: memory_connection_limits::Behaviour::with_max_bytes(config.max_memory_bytes),
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.into(), keypair.public())
                .with_agent_version(AGENT_VERSION.into()),
        ),
        ping: ping::Behaviour::new(ping::Config::new()),
        kad,
        mdns: Toggle::from(mdns),
        gossipsub,
        sync: crate::sync::behaviour(),
    };
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        // TCP, noise and yamux as `with_tcp` builds them, with every
        // connection's streams behind the frame guard.
        .with_other_transport(|keypair| {
            use libp2p::Transport as _;
            let noise = noise::Config::new(keypair)?;
            let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
            let transport = FreshPorts(tcp)
                .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
                .map(move |(peer, muxer), _| (peer, GuardedMuxer::new(muxer, peer, reporter)));
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(TransportTimeout::new(
                transport,
                DIAL_TIMEOUT,
            ))
        })
        .map_err(TransportError::Build)?
        .with_dns()
        .map_err(TransportError::Dns)?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|_| behaviour)
        .unwrap_or_else(|never| match never {})
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::topic_for;

    #[test]
    fn gossipsub_settings_are_accepted_by_libp2p() {
        let anchor = mutua_protocol::SecretKey::from_seed([1; 32]).public();
        let topic = IdentTopic::new(topic_for("test", &[anchor])).hash();
        GossipTuning::default().check().unwrap();
        let config = gossipsub_config(&topic, &GossipTuning::default()).unwrap();
        assert_eq!(config.max_transmit_size(), GOSSIPSUB_TRANSMIT_LIMIT);
        assert_eq!(config.max_control_messages_sent(), 1);
        assert_eq!(config.max_transmit_size_for_topic(&topic), MAX_FRAME_BYTES);
        assert!(config.validate_messages());
        // Every record is announced with an IDONTWANT on receipt and on
        // publish: the smallest envelope (a withdrawal) is over the threshold.
        let key = mutua_protocol::fixtures::key(1);
        let withdrawal = mutua_protocol::fixtures::withdrawal(&key, 1, 2);
        let smallest = mutua_protocol::seal(&key, &mutua_protocol::Payload::Withdrawal(withdrawal))
            .unwrap()
            .bytes()
            .len();
        assert!(smallest > config.idontwant_message_size_threshold());
        assert!(config.idontwant_on_publish());
        // Every tuning the config accepts, libp2p accepts too.
        let small = GossipTuning {
            mesh_n: 4,
            mesh_n_low: 3,
            mesh_n_high: 6,
            gossip_lazy: 3,
            gossip_factor: 0.0,
            ..GossipTuning::default()
        };
        small.check().unwrap();
        let tuned = gossipsub_config(&topic, &small).unwrap();
        assert_eq!(
            (tuned.mesh_n(), tuned.mesh_n_low(), tuned.mesh_n_high()),
            (4, 3, 6)
        );
        assert_eq!(tuned.gossip_lazy(), 3);
        let too_many_outbound = GossipTuning {
            mesh_outbound_min: 3,
            ..small
        };
        assert!(too_many_outbound.check().is_err());
        assert!(gossipsub_config(&topic, &too_many_outbound).is_err());
        let (params, thresholds) = peer_score(&topic, &[]);
        params.validate().unwrap();
        thresholds.validate().unwrap();
        // Three invalid records and nothing else graylist a peer; two do not.
        let p4 = params.topics[&topic].invalid_message_deliveries_weight;
        assert!(p4 * 9.0 < thresholds.graylist_threshold);
        assert!(p4 * 4.0 + params.topic_score_cap > thresholds.graylist_threshold);
    }
}
