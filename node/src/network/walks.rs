//! Pacing of Kademlia random walks (discovery) by how much they find.

use super::*;

/// Paces Kademlia random walks while the node is short of peers. A walk
/// after which the node has no more peers than before doubles the wait
/// before the next one, up to [`MAX_WALK_WAIT_TICKS`]: in a federation
/// smaller than `target_peers` every peer is soon connected, and walking
/// every tick forever was most of an idle node's traffic. Losing a peer
/// starts over, so discovery is prompt when the network changes.
#[derive(Debug, Default)]
pub(super) struct WalkPacer {
    wait: u32,
    ticks_left: u32,
    peers_at_last_walk: usize,
}

impl WalkPacer {
    /// Whether to walk at this maintenance tick, with `peers` connected.
    pub(super) fn should_walk(&mut self, peers: usize) -> bool {
        if self.ticks_left > 0 {
            self.ticks_left -= 1;
            return false;
        }
        self.wait = if peers > self.peers_at_last_walk {
            0
        } else {
            (self.wait * 2).clamp(1, MAX_WALK_WAIT_TICKS)
        };
        self.peers_at_last_walk = peers;
        self.ticks_left = self.wait;
        true
    }

    pub(super) fn peer_lost(&mut self) {
        *self = WalkPacer::default();
    }
}
