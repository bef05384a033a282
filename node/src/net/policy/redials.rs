//! Lost peers and when to redial them (see the policy's *Redials*).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

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

#[derive(Debug)]
struct Lost {
    since: Instant,
    due: Instant,
    wait: Duration,
}

/// Peers whose last connection closed, each with its redial backoff.
#[derive(Debug, Default)]
pub(super) struct LostPeers {
    peers: HashMap<PeerId, Lost>,
}

impl LostPeers {
    /// The peer's last connection closed at `now`: redial it after
    /// [`FIRST_REDIAL_WAIT`].
    pub(super) fn lost(&mut self, peer: PeerId, now: Instant) {
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
        self.peers.insert(
            peer,
            Lost {
                since: now,
                due: now + FIRST_REDIAL_WAIT,
                wait: FIRST_REDIAL_WAIT,
            },
        );
    }

    /// Not to be redialed (cut off, or disconnected on purpose).
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// A peer connected. If it was lost, the network towards it is back:
    /// every other lost peer is returned to be dialed at once, its backoff
    /// started over.
    pub(super) fn reconnected(&mut self, peer: &PeerId, now: Instant) -> Vec<PeerId> {
        if self.peers.remove(peer).is_none() {
            return Vec::new();
        }
        self.peers
            .iter_mut()
            .map(|(peer, lost)| {
                lost.wait = FIRST_REDIAL_WAIT;
                lost.due = now + FIRST_REDIAL_WAIT;
                *peer
            })
            .collect()
    }

    /// The lost peers due for a redial at `now`, each then waiting twice as
    /// long (up to [`MAX_REDIAL_WAIT`]); those lost for [`REDIAL_FOR`] are
    /// forgotten.
    pub(super) fn due(&mut self, now: Instant) -> Vec<PeerId> {
        self.peers
            .retain(|_, lost| now.saturating_duration_since(lost.since) < REDIAL_FOR);
        let mut due = Vec::new();
        for (peer, lost) in &mut self.peers {
            if lost.due <= now {
                due.push(*peer);
                lost.wait = (lost.wait * 2).min(MAX_REDIAL_WAIT);
                lost.due = now + lost.wait;
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
