//! How the actor finds and dials peers: the configured bootstrap peers
//! (which, with a `/p2p/<id>` suffix, also seed the DHT), Kademlia (on
//! [`KAD_PROTOCOL`], a DHT of Mutua nodes only: the listen addresses
//! identify reports go into the routing table only for peers that speak
//! it), and mDNS on the local network. This is the I/O half: *when* to
//! redial, walk or dial a discovered peer is the [`super::policy`]'s call.
//! Routing updates and mDNS discoveries are dialed while the node has fewer
//! than `target_peers`. Peers new to the routing table and the ends of
//! Kademlia's own bootstrap lookups are reported to the policy: what paces
//! the walks is whether lookups still teach the node anything.

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::DialError;
use libp2p::{identify, kad, mdns, Multiaddr, PeerId};

use super::actor::Actor;
use super::policy::{Redial, MAX_REDIAL_ADDRESSES};
use super::KAD_PROTOCOL;

impl Actor {
    /// Dials the configured bootstrap peers not connected, and seeds the DHT
    /// with those whose peer id is known.
    pub(super) fn dial_bootstrap(&mut self) {
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

    /// Dials lost peers at their remembered addresses and those the
    /// behaviours (the DHT) know; with `retry_pending`, even those a dial
    /// to is under way.
    pub(super) fn redial(&mut self, peers: Vec<Redial>, retry_pending: bool) {
        let condition = if retry_pending {
            PeerCondition::Disconnected
        } else {
            PeerCondition::DisconnectedAndNotDialing
        };
        for Redial { peer, addresses } in peers {
            let opts = DialOpts::peer_id(peer)
                .addresses(qualified(peer, addresses))
                .extend_addresses_through_behaviour()
                .condition(condition)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => {}
                // Connected, or a dial under way: its end is reported.
                Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(error) => {
                    tracing::debug!(%peer, %error, "cannot redial lost peer");
                    self.policy.on_dial_failed(&peer);
                }
            }
        }
    }

    /// Whether a bootstrap peer of known peer id is not connected.
    pub(super) fn bootstrap_lost(&self) -> bool {
        self.bootstrap.iter().any(
            |a| matches!(a.iter().last(), Some(Protocol::P2p(p)) if !self.swarm.is_connected(&p)),
        )
    }

    /// Dials a peer discovery found, while the node wants more peers.
    fn dial_discovered(&mut self, peer: PeerId) {
        if !self.policy.wants_more_peers(self.peers.len())
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

    pub(super) fn handle_kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated {
                peer, is_new_peer, ..
            } => {
                if is_new_peer {
                    self.policy.on_peer_discovered();
                }
                self.dial_discovered(peer);
            }
            // Each step of kad's own bootstrap is a lookup, like a walk.
            kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::Bootstrap(result),
                stats,
                ..
            } => {
                tracing::debug!(
                    ok = result.is_ok(),
                    requests = stats.num_requests(),
                    "Kademlia bootstrap step done"
                );
                self.policy.on_bootstrap_step_done();
            }
            kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(result),
                stats,
                step,
                ..
            } if step.last => {
                let found = result.map_or(0, |ok| ok.peers.len());
                tracing::debug!(found, requests = stats.num_requests(), "random walk done");
            }
            _ => {}
        }
    }

    pub(super) fn handle_mdns_event(&mut self, event: mdns::Event) {
        match event {
            mdns::Event::Discovered(found) => {
                for (peer, addr) in found {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                    self.dial_discovered(peer);
                }
            }
            mdns::Event::Expired(_) => {}
        }
    }

    pub(super) fn handle_identify_event(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if let Some(entry) = self.peers.get_mut(&peer_id) {
            for addr in &info.listen_addrs {
                if entry.redial_addrs.len() < MAX_REDIAL_ADDRESSES
                    && !entry.redial_addrs.contains(addr)
                {
                    entry.redial_addrs.push(addr.clone());
                }
            }
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

/// `addresses` as Kademlia keeps them, ending in `/p2p/<peer>`: the swarm
/// drops duplicate addresses before it adds that suffix, so a bare address
/// and Kademlia's copy of it would be dialed twice at once. An address
/// naming another peer is dropped.
fn qualified(peer: PeerId, addresses: Vec<Multiaddr>) -> Vec<Multiaddr> {
    addresses
        .into_iter()
        .filter_map(|address| address.with_p2p(peer).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redial_addresses_end_in_the_peer_id_as_kademlias_do() {
        let peer = PeerId::random();
        let other = PeerId::random();
        let bare: Multiaddr = "/ip4/10.0.0.2/tcp/4001".parse().unwrap();
        let with_peer = bare.clone().with(Protocol::P2p(peer));
        let with_other = bare.clone().with(Protocol::P2p(other));
        let got = qualified(peer, vec![bare, with_peer.clone(), with_other]);
        assert_eq!(got, vec![with_peer.clone(), with_peer]);
    }
}
