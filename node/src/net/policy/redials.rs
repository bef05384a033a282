//! Lost peers and when to redial them (see the policy's *Redials*).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// The first wait before redialing a peer whose last connection closed.
pub(super) const FIRST_REDIAL_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between two redials of a lost peer: the bound of a
/// heal's wait for the next attempt.
pub(super) const MAX_REDIAL_WAIT: Duration = Duration::from_secs(4);
/// How long a lost peer is redialed before it is forgotten (then only the
/// bootstrap redials and random walks look for it).
pub(super) const REDIAL_FOR: Duration = Duration::from_secs(600);
/// The most lost peers remembered: the oldest loss is forgotten first.
pub(super) const MAX_LOST_PEERS: usize = 64;
/// The most addresses remembered per lost peer.
pub(in crate::net) const MAX_REDIAL_ADDRESSES: usize = 8;

/// A lost peer to dial, and where it was reached or listened.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::net) struct Redial {
    pub peer: PeerId,
    pub addresses: Vec<Multiaddr>,
}

#[derive(Debug)]
struct Lost {
    /// Where to dial it. Kademlia forgets an address after one failed dial
    /// unless it is the peer's last, so a peer cut off (its dial refused)
    /// could be left with only addresses that never worked.
    addresses: Vec<Multiaddr>,
    since: Instant,
    due: Instant,
    wait: Duration,
    /// A dial is under way: a redial due meanwhile waits for its end
    /// instead of being dropped (a dial lost in a cut lasts until the dial
    /// timeout, and skipping the redial due then would add a whole wait).
    dialing: bool,
}

/// Peers whose last connection closed, each with its redial backoff.
#[derive(Debug, Default)]
pub(super) struct LostPeers {
    peers: HashMap<PeerId, Lost>,
}

impl LostPeers {
    /// The peer's last connection closed at `now`: redial it at `addresses`
    /// (and those the behaviours know) after [`FIRST_REDIAL_WAIT`].
    pub(super) fn lost(&mut self, peer: PeerId, mut addresses: Vec<Multiaddr>, now: Instant) {
        if self.peers.len() >= MAX_LOST_PEERS && !self.peers.contains_key(&peer) {
            let oldest = self
                .peers
                .iter()
                .min_by_key(|(_, lost)| lost.since)
                .map(|(peer, _)| *peer);
            if let Some(oldest) = oldest {
                self.peers.remove(&oldest);
            }
        }
        addresses.truncate(MAX_REDIAL_ADDRESSES);
        self.peers.insert(
            peer,
            Lost {
                addresses,
                since: now,
                due: now + FIRST_REDIAL_WAIT,
                wait: FIRST_REDIAL_WAIT,
                dialing: false,
            },
        );
    }

    /// Not to be redialed (cut off, or disconnected on purpose).
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// A dial to the peer failed: a redial due meanwhile is made at the
    /// next check.
    pub(super) fn dial_failed(&mut self, peer: &PeerId) {
        if let Some(lost) = self.peers.get_mut(peer) {
            lost.dialing = false;
        }
    }

    /// A peer connected. If it was lost, the network towards it is back:
    /// every other lost peer is returned to be dialed at once, its backoff
    /// started over.
    pub(super) fn reconnected(&mut self, peer: &PeerId, now: Instant) -> Vec<Redial> {
        if self.peers.remove(peer).is_none() {
            return Vec::new();
        }
        self.peers
            .iter_mut()
            .map(|(peer, lost)| {
                lost.wait = FIRST_REDIAL_WAIT;
                lost.due = now + FIRST_REDIAL_WAIT;
                lost.dialing = true;
                Redial {
                    peer: *peer,
                    addresses: lost.addresses.clone(),
                }
            })
            .collect()
    }

    /// The lost peers due for a redial at `now` and not being dialed, each
    /// then waiting twice as long (up to [`MAX_REDIAL_WAIT`]); those lost
    /// for [`REDIAL_FOR`] are forgotten.
    pub(super) fn due(&mut self, now: Instant) -> Vec<Redial> {
        self.peers
            .retain(|_, lost| now.saturating_duration_since(lost.since) < REDIAL_FOR);
        let mut due = Vec::new();
        for (peer, lost) in &mut self.peers {
            if lost.due <= now && !lost.dialing {
                due.push(Redial {
                    peer: *peer,
                    addresses: lost.addresses.clone(),
                });
                lost.wait = (lost.wait * 2).min(MAX_REDIAL_WAIT);
                lost.due = now + lost.wait;
                lost.dialing = true;
            }
        }
        due
    }

    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    #[cfg(test)]
    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }
}
