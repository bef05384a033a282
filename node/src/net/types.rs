//! What the network task reports to its callers: publications, peers and
//! its own status, serialised as the control API shows them.

use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

/// What became of a publication. The record is already stored when the
/// caller publishes; whatever gossip does, sync delivers it later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// The gossipsub message id: the record hash, in hexadecimal.
    pub message_id: String,
    pub delivery: Delivery,
}

/// How far a publication went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Delivery {
    /// Sent to this many peers subscribed to the topic.
    Sent { peers: usize },
    /// No peer is subscribed to the topic yet.
    NoPeers,
    /// This node has already seen (published or received) the record
    /// recently: gossip already carried it.
    AlreadyKnown,
}

/// One connected peer.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    #[serde(serialize_with = "display")]
    pub peer_id: PeerId,
    /// Remote addresses of the open connections.
    #[serde(serialize_with = "display_all")]
    pub addresses: Vec<Multiaddr>,
    /// What identify reported, once it has.
    pub agent: Option<String>,
    pub protocol_version: Option<String>,
    /// When the first of the current connections opened, in seconds since the epoch.
    pub connected_since: u64,
    /// Whether the peer is in our gossipsub mesh for the federation topic.
    pub in_mesh: bool,
    /// Whether the peer is subscribed to the federation topic.
    pub subscribed: bool,
    /// Its gossipsub score as we see it.
    pub score: Option<f64>,
}

/// The network's state, for the status endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkStatus {
    #[serde(serialize_with = "display")]
    pub local_peer_id: PeerId,
    #[serde(serialize_with = "display_all")]
    pub listen_addrs: Vec<Multiaddr>,
    #[serde(serialize_with = "display_all")]
    pub external_addrs: Vec<Multiaddr>,
    pub topic: String,
    pub connected_peers: usize,
    pub mesh_peers: usize,
    /// Peers subscribed to the federation topic.
    pub topic_peers: usize,
    /// Peers in the Kademlia routing table.
    pub known_peers: usize,
    /// Gossip messages waiting for validation.
    pub validation_queue: usize,
}

fn display<S: serde::Serializer, T: std::fmt::Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn display_all<S: serde::Serializer, T: std::fmt::Display>(
    values: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(ToString::to_string))
}
