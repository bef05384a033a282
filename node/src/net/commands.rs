//! What the actor does for each [`Command`] of a [`super::NetworkHandle`]:
//! publish on the federation topic, dial, report peers and status.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use libp2p::gossipsub;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use mutua_protocol::codec::hash_envelope;
use tokio::sync::oneshot;

use super::actor::Actor;
use super::handle::Command;
use super::{Delivery, NetworkError, NetworkStatus, PeerInfo, PublishReport, VALIDATION_QUEUE_CAP};

impl Actor {
    pub(super) fn handle_command(&mut self, command: Command) {
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
            Err(other) => return Err(NetworkError::Publish(other)),
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
                    source: Box::new(e),
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
        let kinds: HashMap<&PeerId, _> = gossipsub.peer_protocol().collect();
        // Sorted by peer id, not by its text.
        let mut peers: Vec<_> = self.peers.iter().collect();
        peers.sort_by_key(|(peer, _)| **peer);
        peers
            .into_iter()
            .map(|(peer, entry)| PeerInfo {
                peer_id: peer.to_string(),
                addresses: texts(entry.addresses.iter().map(|(_, a)| a)),
                agent: entry.agent.clone(),
                protocol_version: entry.protocol_version.clone(),
                connected_since: entry
                    .connected_since
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                in_mesh: mesh.contains(&peer),
                subscribed: subscribed.contains(&peer),
                score: gossipsub.peer_score(peer),
                gossipsub: kinds.get(peer).map(|kind| kind.to_string()),
            })
            .collect()
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
            local_peer_id: self.swarm.local_peer_id().to_string(),
            listen_addrs: texts(self.swarm.listeners()),
            external_addrs: texts(self.swarm.external_addresses()),
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
}

/// Peer ids and addresses are text in the control API.
fn texts<'a, T: ToString + 'a>(values: impl Iterator<Item = &'a T>) -> Vec<String> {
    values.map(ToString::to_string).collect()
}
