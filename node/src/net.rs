//! The node's libp2p network: one actor task owns the [`libp2p::Swarm`];
//! everything else talks to it through a [`NetworkHandle`] (commands with
//! one-shot replies over a bounded channel).
//!
//! - `actor`: the task that owns the swarm — its `select!` loop, the
//!   commands, gossip validation handed to the ingest pipeline, and the
//!   glue between the swarm and anti-entropy sync ([`crate::sync`]).
//! - `behaviour`: what the swarm is made of (TCP + noise + yamux under the
//!   frame guard, connection and memory limits, identify, ping, Kademlia,
//!   optional mDNS, gossipsub with validation on, request-response sync) and
//!   the gossipsub and peer-score settings.
//! - `discovery`: how peers are found and dialed (bootstrap peers, the
//!   DHT, mDNS, identify) — the I/O half of the decisions below.
//! - `policy`: what to do about peers — bans, score penalties and their
//!   decay, bootstrap redials, random-walk pacing — as a plain state machine
//!   with no I/O and no clock of its own: the actor feeds it events and the
//!   time, and executes the `policy::Action`s it returns. The actor keeps
//!   no policy state.
//! - `types`: what the network reports to its callers (the control API's
//!   shapes).
//! - `validation`: gossip messages handed to the ingest pipeline before
//!   anything is forwarded.
//! - `handle`: the callers' side, [`NetworkHandle`]; `commands`: what the
//!   actor does for each of its requests.
//!
//! Gossipsub runs with validation on: a received record is forwarded only
//! once the ingest pipeline has verified, checked and stored it. The actor
//! itself never touches sled or does cryptography.

use std::net::IpAddr;
use std::time::Duration;

use libp2p::{Multiaddr, StreamProtocol};
use mutua_protocol::codec::MAX_RECORD_BYTES;

mod actor;
mod behaviour;
mod commands;
mod discovery;
mod fresh_ports;
mod handle;
mod policy;
mod types;
mod validation;

pub use actor::spawn;
pub use behaviour::{Behaviour, BehaviourEvent, GossipTuning};
pub use handle::NetworkHandle;
pub use policy::{
    BAN_DURATION, FRAME_BREACH_PENALTY, IGNORED_BURST, IGNORED_OVER_BUDGET_PENALTY,
    IGNORED_REFILL_PER_SEC, SYNC_INVALID_RECORD_PENALTY,
};
pub use types::{Delivery, NetworkStatus, PeerInfo, PublishReport};

/// The gossipsub topic of a federation (specified, with a test vector, in
/// PROTOCOL.md's *Topic*).
pub use mutua_protocol::derived::topic_for;

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

/// How long an idle connection (no protocol wants it) stays open.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a connection may take to be established (TCP connect, noise,
/// yamux), each way. libp2p sets none: a dial into a cut (SYNs unanswered)
/// lasted until the kernel gave up (~127 s of SYN retries), and a redial
/// waits for the dial under way, so a healed partition waited for the next
/// SYN retransmission (up to 32 s apart). 4 s lets the SYN retransmissions
/// at 1 and 3 s happen, then the redial starts a fresh dial.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(4);

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
    /// Gossipsub's mesh and gossip degrees and heartbeat.
    pub gossip: GossipTuning,
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
            gossip: GossipTuning::default(),
        }
    }
}

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The transport could not be set up (DNS configuration unreadable…).
    #[error("cannot set up the network transport: {0}")]
    Transport(#[source] TransportError),
    /// The gossipsub configuration or peer scoring parameters are invalid.
    #[error("invalid gossipsub configuration: {0}")]
    Gossipsub(String),
    /// A listen address could not be bound (in use, not local, bad protocol).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: Multiaddr,
        source: ListenError,
    },
    /// The dial failed (unreachable, refused, wrong peer id, limits).
    #[error("cannot connect to {addr}: {source}")]
    Dial {
        addr: Multiaddr,
        source: Box<libp2p::swarm::DialError>,
    },
    /// The record is larger than a gossipsub message may be.
    #[error("the record is too large to publish ({size} bytes)")]
    TooLarge { size: usize },
    /// Gossipsub refused to publish for another reason (send queues full).
    #[error("cannot publish: {0}")]
    Publish(#[source] libp2p::gossipsub::PublishError),
    /// The network task has stopped (shut down, or it failed).
    #[error("the network task is not running")]
    Stopped,
}

/// Why a listen address could not be bound.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// No transport of the node speaks this address (not TCP, say).
    #[error("Multiaddr is not supported: {0}")]
    Unsupported(Multiaddr),
    /// The system refused (the port is taken, the address is not local).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<libp2p::TransportError<std::io::Error>> for ListenError {
    fn from(error: libp2p::TransportError<std::io::Error>) -> Self {
        match error {
            libp2p::TransportError::MultiaddrNotSupported(addr) => ListenError::Unsupported(addr),
            libp2p::TransportError::Other(error) => ListenError::Io(error),
        }
    }
}

/// Which part of the transport could not be set up, and the error it gave.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// mDNS could not open its socket.
    #[error("mDNS: {0}")]
    Mdns(#[source] std::io::Error),
    /// The system's DNS configuration could not be read.
    #[error("DNS: {0}")]
    Dns(#[source] std::io::Error),
    /// TCP, noise or yamux could not be built (a noise key that does not convert).
    #[error(transparent)]
    Build(#[from] libp2p::TransportBuilderError),
}

impl From<TransportError> for NetworkError {
    fn from(error: TransportError) -> Self {
        NetworkError::Transport(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::PublicKey;
    use std::error::Error as _;

    fn key(seed: u8) -> PublicKey {
        mutua_protocol::SecretKey::from_seed([seed; 32]).public()
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
    fn a_transport_error_keeps_its_source_and_its_words() {
        let io = std::io::Error::other("resolv.conf unreadable");
        let error = NetworkError::from(TransportError::Dns(io));
        assert_eq!(
            error.to_string(),
            "cannot set up the network transport: DNS: resolv.conf unreadable"
        );
        let source = error.source().expect("the transport error");
        let io = source.source().expect("the I/O error");
        assert_eq!(io.to_string(), "resolv.conf unreadable");
    }
}
