//! The node itself: liveness (`GET /v1/health`), status (`GET
//! /v1/status`) and connected peers (`GET /v1/peers`). Peer ids and
//! multiaddrs are text here: the API does not depend on libp2p.

use std::collections::BTreeMap;

use mutua_protocol::{PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::wire;

/// `GET /v1/health`: `{"status": "ok"}`, without a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Health {
    pub status: String,
}

impl Health {
    pub fn ok() -> Self {
        Health {
            status: "ok".into(),
        }
    }
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Status {
    pub version: String,
    pub federation: String,
    #[serde(with = "wire::key_ids")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<String>"))]
    pub anchors: Vec<PublicKey>,
    /// The anchor key this node holds, if any (`null` otherwise).
    #[serde(with = "wire::opt_key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub anchor_key: Option<PublicKey>,
    pub uptime_secs: u64,
    pub network: NetworkStatus,
    pub store: StoreCounts,
    /// The replica digest (PROTOCOL.md): equal on two nodes iff they hold
    /// the same records. Hex.
    pub digest: String,
    pub sync: SyncStatus,
    pub publishers: Vec<PublisherStatus>,
}

/// The network's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NetworkStatus {
    pub local_peer_id: String,
    pub listen_addrs: Vec<String>,
    pub external_addrs: Vec<String>,
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

/// Records in the replica, by kind, and its size on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StoreCounts {
    pub certificates: u64,
    pub revocations: u64,
    pub offers: u64,
    pub needs: u64,
    pub withdrawals: u64,
    pub total: u64,
    pub disk_bytes: u64,
}

/// What sync has done since the node started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncStatus {
    pub interval_secs: u64,
    /// Outbound sessions by outcome (`ok`, `timeout`, `peer_fault`, …).
    pub sessions: BTreeMap<String, u64>,
    /// Inbound requests answered.
    pub requests_answered: u64,
    /// Over every session and answered request, both roles.
    pub records_received: u64,
    pub bytes_received: u64,
    pub records_applied: u64,
    pub records_sent: u64,
    pub bytes_sent: u64,
    /// When the last session that completed ended (`null`: none yet).
    pub last_ok_at: Option<Timestamp>,
    pub in_progress: Vec<InProgress>,
    /// The last session with each recent peer, newest first.
    pub last: Vec<LastSession>,
}

/// Counts of one sync session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// A sync session under way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InProgress {
    pub peer: String,
    pub seconds: f64,
    #[serde(flatten)]
    pub tally: Tally,
}

/// One peer's last sync session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LastSession {
    pub peer: String,
    /// When it ended.
    pub at: Timestamp,
    /// `ok`, `timeout`, `peer_fault`, …
    pub outcome: String,
    pub seconds: f64,
    #[serde(flatten)]
    pub tally: Tally,
}

/// A hosted publisher and its membership now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublisherStatus {
    pub name: String,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub key: PublicKey,
    /// `member`, or the membership error code (`not_a_member`, `revoked`…).
    pub membership: String,
    pub may_admit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    /// Why it is not a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /v1/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Peers {
    pub peers: Vec<Peer>,
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Peer {
    pub peer_id: String,
    /// Remote addresses of the open connections.
    pub addresses: Vec<String>,
    /// What identify reported, once it has (`null` before).
    pub agent: Option<String>,
    pub protocol_version: Option<String>,
    /// When the first of the current connections opened.
    pub connected_since: Timestamp,
    /// Whether the peer is in our gossipsub mesh for the federation topic.
    pub in_mesh: bool,
    /// Whether the peer is subscribed to the federation topic.
    pub subscribed: bool,
    /// Its gossipsub score as we see it.
    pub score: Option<f64>,
    /// The gossipsub protocol it speaks as far as we know (`Floodsub` until
    /// a gossipsub stream with it was negotiated): gossipsub meshes only
    /// gossipsub peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossipsub: Option<String>,
}
