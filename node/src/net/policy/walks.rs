//! Pacing of the random walks (see the policy's *Walks*).
//!
//! A walk is judged at the next tick (a slow one, still asking peers that do
//! not answer, is as good as fruitless); a step of Kademlia's own bootstrap
//! (a self-lookup, then a lookup per bucket farther than the nearest
//! neighbour's) is judged when the actor sees it end. A lookup is fruitless
//! when the node learned nothing between its start (for a bootstrap step,
//! the previous lookup's end) and its judgement: no peer new to the routing
//! table, no peer newly connected.

/// Lookups in a row that found nothing new, after which the node stops
/// walking until it learns something or loses a peer.
pub(super) const MAX_FRUITLESS_WALKS: u32 = 2;

/// Paces Kademlia random walks while the node is short of peers.
#[derive(Debug, Default)]
pub(super) struct WalkPacer {
    /// Lookups in a row after which the node knew nothing more than before
    /// (at most [`MAX_FRUITLESS_WALKS`]).
    fruitless: u32,
    /// Whether the node learned something since the last lookup ended (or
    /// the last tick).
    learned: bool,
    /// Whether the last tick walked (the walk is judged at the next one).
    walked: bool,
}

impl WalkPacer {
    /// Whether to walk at this maintenance tick (the node being short of
    /// peers and having one to ask).
    pub(super) fn should_walk(&mut self) -> bool {
        if self.learned {
            self.fruitless = 0;
        } else if self.walked {
            self.fruitless = (self.fruitless + 1).min(MAX_FRUITLESS_WALKS);
        }
        self.learned = false;
        self.walked = self.fruitless < MAX_FRUITLESS_WALKS;
        self.walked
    }

    /// The node learned something: a peer new to the routing table, or a
    /// peer's first connection.
    pub(super) fn learned(&mut self) {
        self.learned = true;
    }

    /// A step of Kademlia's bootstrap ended.
    pub(super) fn bootstrap_step_done(&mut self) {
        if self.learned {
            self.fruitless = 0;
        } else {
            self.fruitless = (self.fruitless + 1).min(MAX_FRUITLESS_WALKS);
        }
        self.learned = false;
    }

    /// A peer's last connection closed: walk at the next tick.
    pub(super) fn peer_lost(&mut self) {
        self.fruitless = 0;
        self.walked = false;
    }

    #[cfg(test)]
    pub(super) fn fruitless(&self) -> u32 {
        self.fruitless
    }
}
