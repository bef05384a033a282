//! The peer policy: what the node does about its peers, as a plain state
//! machine. No I/O, no async, no clock reads: the actor passes the time in
//! with every event, executes the [`Action`]s returned (block a peer, set
//! its gossipsub score, dial, walk the DHT) and keeps no policy state of its
//! own. Every decision is thus unit-tested here without a network.
//!
//! **Bans.** A peer that breaks the sync protocol (garbage, oversized or
//! out-of-protocol messages) is cut off at once for [`BAN_DURATION`]
//! (10 minutes): long enough to stop a loop of bad sessions, short enough
//! that a peer fixed by its operator comes back by itself. A ban blocks the
//! peer (its connections close, new ones are refused) until it expires at a
//! maintenance tick.
//!
//! **Penalties.** Invalid records received through sync
//! ([`SYNC_INVALID_RECORD_PENALTY`] = 30 each) and gossipsub frames over the
//! limits ([`FRAME_BREACH_PENALTY`], the same) lower the peer's gossipsub
//! application score, like an invalid gossiped record lowers its P4 score:
//! three of them reach gossipsub's graylist threshold (80), at which the peer
//! is also banned. A frame breach also closes the peer's connections
//! (gossipsub would keep them up without reading the peer); it is logged once
//! per peer (the set of peers logged is cleared at [`MAX_LOGGED_BREACHES`]).
//! Penalties fade by [`PENALTY_DECAY`] per [`MAINTENANCE_INTERVAL`] of time
//! passed — whatever the number of ticks, which are late when the machine is
//! loaded — so over about an hour, like gossipsub's invalid-message penalty;
//! one under [`PENALTY_FLOOR`] is forgotten. At most [`MAX_BANS`] bans are
//! held (a member redialing under fresh peer ids would grow the set): the
//! ban closest to its end is lifted first.
//!
//! **Ignored records.** A gossiped record the node ignores without blame
//! (an older version, a duplicate, the losing side of an equivocation, an
//! author not a member here) costs it a signature check and a store read,
//! and gossipsub's score never drops for it: a member could flood genuine
//! superseded versions forever. So each peer, and each author, has a budget
//! of ignored records ([`ignored::IGNORED_BURST`] at once, refilled at
//! [`ignored::IGNORED_REFILL_PER_SEC`]); every ignored record over either
//! costs the forwarder [`IGNORED_OVER_BUDGET_PENALTY`] (three weigh as one
//! invalid record), so a sustained flood is graylisted and banned like an
//! invalid one, 8 records past the budget. Honest peers forward a few such
//! records in races (gossip and sync crossing at a heal or a restart): far
//! under the budget. Records ignored for the time rules (expired, from the
//! future) or a newer format are not charged: this node's own clock or
//! version may be the cause.
//!
//! **Redials.** A peer whose last connection closed (a crash, a cut, a
//! restart; not a peer the policy cut off or penalised) is redialed after
//! 1 s ([`redials::FIRST_REDIAL_WAIT`]), then at waits doubling up to 4 s
//! ([`redials::MAX_REDIAL_WAIT`]), checked every [`REDIAL_CHECK_INTERVAL`],
//! for 10 minutes ([`redials::REDIAL_FOR`]; at most
//! [`redials::MAX_LOST_PEERS`] are remembered). When a lost peer connects
//! again (the network towards it is back), every other lost peer is dialed
//! at once, even one with a dial under way (which may be waiting for a SYN
//! retransmission of a cut): a healed partition thus reconnects within
//! seconds of the first connection across it, instead of at the next
//! 10–30 s tick. A lost peer is redialed at the addresses it was reached at
//! and listened on (identify) as well as those the DHT knows: Kademlia drops
//! an address after one failed dial unless it is the last, so a dial
//! refused during a cut could leave only addresses that never worked. A
//! redial due while a dial is under way (one lost in a cut lasts until
//! [`super::DIAL_TIMEOUT`]) is made as soon as that dial fails, so a healed
//! path gets a new SYN within about two seconds. The cost while a peer is
//! unreachable is one TCP connection attempt per 4 s; none when idle.
//!
//! Beyond that, at every maintenance tick ([`MAINTENANCE_INTERVAL`], 10 s)
//! the node redials its bootstrap peers when it has no peer at all, or when
//! it has lost a bootstrap peer and is short of `target_peers`. With enough
//! peers it still redials a lost bootstrap peer every
//! [`BOOTSTRAP_REDIAL_TICKS`] ticks (30 s): after a partition longer than
//! 10 minutes, two groups that each have enough peers would otherwise
//! never look for each other again (a 40-node partition in the testnet did
//! not heal without it).
//!
//! **Walks.** While the node is short of peers (and has at least one to ask)
//! a Kademlia random walk looks for more, at every tick while lookups bring
//! news. Kademlia's own bootstrap counts: libp2p-kad runs one 500 ms after
//! any insertion into a routing table of fewer than 20 peers (so at every
//! start of a small federation), and every 5 minutes, a self-lookup then a
//! lookup per bucket farther than the nearest neighbour's. A lookup, a walk
//! or one of the bootstrap's, is fruitless if the node learned nothing
//! meanwhile: no peer new to the routing table, no peer newly connected
//! ([`walks`]). After [`walks::MAX_FRUITLESS_WALKS`] fruitless lookups in a row the
//! node stops walking until it learns something or loses a peer. In a
//! federation smaller than `target_peers` every peer is soon connected and
//! the bootstrap's lookups have asked them all; the two walks that used to
//! follow anyway (18 requests per node at N = 10, 10 and 20 s after the
//! start) were most of the testnet's idle window then (74–77 B/s per
//! connection). Discovery stays prompt when the network changes.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

use crate::sync::Penalty;

mod ignored;
mod redials;
mod walks;

use ignored::IgnoredBudgets;
pub use ignored::{IGNORED_BURST, IGNORED_REFILL_PER_SEC};
use mutua_protocol::PublicKey;
use redials::LostPeers;
pub(super) use redials::{Redial, MAX_REDIAL_ADDRESSES};
#[cfg(test)]
use redials::{FIRST_REDIAL_WAIT, MAX_LOST_PEERS, MAX_REDIAL_WAIT, REDIAL_FOR};
use walks::WalkPacer;

/// How often the actor ticks the policy (and refreshes its gauges): the
/// unit of redial and walk pacing, and of penalty decay.
pub(super) const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a peer that broke the sync protocol (garbage, oversized
/// messages) or sent too many invalid records stays cut off.
pub const BAN_DURATION: Duration = Duration::from_secs(600);
/// Application score lost per invalid record received through sync: like a
/// gossiped one, three cross gossipsub's graylist threshold (-80).
pub const SYNC_INVALID_RECORD_PENALTY: f64 = 30.0;
/// Application score lost per gossipsub frame over the limits: like one
/// invalid record (three cut the peer off).
pub const FRAME_BREACH_PENALTY: f64 = SYNC_INVALID_RECORD_PENALTY;
/// Application score lost per ignored gossip record over the peer's (or
/// its author's) budget: three weigh as one invalid record.
pub const IGNORED_OVER_BUDGET_PENALTY: f64 = SYNC_INVALID_RECORD_PENALTY / 3.0;
/// The most bans held at once.
const MAX_BANS: usize = 16_384;
/// A penalty at or past this (the graylist threshold) also cuts the peer off.
const PENALTY_BAN: f64 = 80.0;
/// What remains of a penalty after one [`MAINTENANCE_INTERVAL`]: it fades
/// over about an hour, like gossipsub's invalid-message penalty.
const PENALTY_DECAY: f64 = 0.987;
/// A penalty that has faded below this is forgotten (the score is back to 0).
const PENALTY_FLOOR: f64 = 1.0;
/// The most peers remembered as having had their frame breach logged.
const MAX_LOGGED_BREACHES: usize = 4096;
/// How often the actor asks the policy which lost peers are due for a redial.
pub(super) const REDIAL_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often (in maintenance ticks: 30 s) a node with enough peers redials
/// a bootstrap peer it lost.
const BOOTSTRAP_REDIAL_TICKS: u64 = 3;

/// What the policy asks the actor to do.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Action {
    /// Cut the peer off: close its connections and refuse new ones (logged
    /// and counted in `mutua_network_sync_bans_total`).
    Ban { peer: PeerId, reason: String },
    /// The ban is over: the peer may connect again.
    Unban(PeerId),
    /// Set the peer's gossipsub application score.
    SetScore { peer: PeerId, score: f64 },
    /// Close the peer's connections (it may come back).
    Disconnect(PeerId),
    /// Dial the bootstrap peers not connected.
    DialBootstrap,
    /// Dial these lost peers (at their remembered addresses and those the
    /// DHT knows) unless connected; also when a dial to one is under way if
    /// `retry_pending`.
    Redial {
        peers: Vec<Redial>,
        retry_pending: bool,
    },
    /// Start a Kademlia random walk to find new peers.
    RandomWalk,
}

/// What the actor sees of its connections at a maintenance tick.
#[derive(Clone, Copy, Debug)]
pub(super) struct Connectivity {
    /// Peers with at least one established connection.
    pub connected: usize,
    /// Whether a bootstrap peer of known peer id is not connected.
    pub bootstrap_lost: bool,
}

/// The decision on a gossipsub frame over the limits.
#[derive(Debug, PartialEq)]
pub(super) struct FrameBreachVerdict {
    /// Whether to log it: the first breach of this peer (in a while).
    pub log: bool,
    pub actions: Vec<Action>,
}

/// The decision on an ignored gossip record.
#[derive(Debug, Default, PartialEq)]
pub(super) struct IgnoredVerdict {
    /// Whether it was over the peer's or its author's budget.
    pub over_budget: bool,
    pub actions: Vec<Action>,
}

/// The peer policy's state: see the module documentation.
#[derive(Debug)]
pub(super) struct PeerPolicy {
    target_peers: usize,
    /// Peers cut off, until when.
    bans: HashMap<PeerId, Instant>,
    /// Application-score penalties: invalid records received by sync,
    /// gossipsub frames over the limits.
    penalties: HashMap<PeerId, f64>,
    /// When the penalties last faded.
    last_decay: Option<Instant>,
    /// Peers whose frame breach was logged already.
    breaches_logged: HashSet<PeerId>,
    /// Budgets of ignored gossip records, per peer and per author.
    ignored: IgnoredBudgets,
    walks: WalkPacer,
    /// Peers whose last connection closed, to redial.
    lost: LostPeers,
    /// Maintenance ticks so far.
    ticks: u64,
}

impl PeerPolicy {
    /// A policy for a node that tries to keep `target_peers` peers.
    pub(super) fn new(target_peers: usize) -> Self {
        PeerPolicy {
            target_peers,
            bans: HashMap::new(),
            penalties: HashMap::new(),
            last_decay: None,
            breaches_logged: HashSet::new(),
            ignored: IgnoredBudgets::new(),
            walks: WalkPacer::default(),
            lost: LostPeers::default(),
            ticks: 0,
        }
    }

    /// A sync task found the peer misbehaving: a protocol fault bans it at
    /// once; invalid records lower its score, and ban it past the threshold.
    pub(super) fn on_sync_penalty(&mut self, penalty: Penalty, now: Instant) -> Vec<Action> {
        match penalty {
            Penalty::Fault(peer, reason) => self.ban(peer, reason, now),
            Penalty::InvalidRecords(peer, count) => {
                let reason = format!("{count} invalid records");
                self.penalise(
                    peer,
                    SYNC_INVALID_RECORD_PENALTY * count as f64,
                    reason,
                    now,
                )
            }
        }
    }

    /// The frame guard refused a gossipsub frame of the peer: close its
    /// connections and lower its score (banning it past the threshold).
    pub(super) fn on_frame_breach(&mut self, peer: PeerId, now: Instant) -> FrameBreachVerdict {
        if self.breaches_logged.len() >= MAX_LOGGED_BREACHES {
            self.breaches_logged.clear();
        }
        let log = self.breaches_logged.insert(peer);
        let reason = "gossipsub frames over the limits".to_owned();
        let mut actions = self.penalise(peer, FRAME_BREACH_PENALTY, reason, now);
        // Score first, then the disconnection, then any ban, as they happen.
        actions.insert(1, Action::Disconnect(peer));
        FrameBreachVerdict { log, actions }
    }

    /// Gossipsub validation ignored a record the peer forwarded, without
    /// blame (superseded, duplicate, author not a member here), `author`
    /// its author if known: charged to both budgets; over either, the
    /// peer's score drops (banned past the threshold). Records still queued
    /// from a peer already banned change nothing.
    pub(super) fn on_ignored_record(
        &mut self,
        peer: PeerId,
        author: Option<PublicKey>,
        now: Instant,
    ) -> IgnoredVerdict {
        if self.bans.contains_key(&peer) {
            return IgnoredVerdict::default();
        }
        if !self.ignored.charge(peer, author, now) {
            return IgnoredVerdict::default();
        }
        let reason = "ignored gossip records over the budget".to_owned();
        IgnoredVerdict {
            over_budget: true,
            actions: self.penalise(peer, IGNORED_OVER_BUDGET_PENALTY, reason, now),
        }
    }

    /// The most of its budget of ignored records one peer has used at once.
    pub(super) fn ignored_peak(&self) -> u64 {
        self.ignored.peak()
    }

    /// A peer's first connection is established (news for the walks): if it
    /// was lost, the other lost peers are dialed at once (the network came
    /// back).
    pub(super) fn on_peer_connected(&mut self, peer: PeerId, now: Instant) -> Vec<Action> {
        self.walks.learned();
        let peers = self.lost.reconnected(&peer, now);
        if peers.is_empty() {
            return Vec::new();
        }
        vec![Action::Redial {
            peers,
            retry_pending: true,
        }]
    }

    /// A peer's last connection closed: redial it soon at `addresses`
    /// (where it was reached, where it listens), unless the policy cut it
    /// off or penalised it (it may come back by itself).
    pub(super) fn on_peer_disconnected(
        &mut self,
        peer: PeerId,
        addresses: Vec<libp2p::Multiaddr>,
        now: Instant,
    ) {
        self.walks.peer_lost();
        if !self.bans.contains_key(&peer) && !self.penalties.contains_key(&peer) {
            self.lost.lost(peer, addresses, now);
        }
    }

    /// The DHT learned a peer (new to its routing table): a walk may find
    /// more.
    pub(super) fn on_peer_discovered(&mut self) {
        self.walks.learned();
    }

    /// A step of Kademlia's bootstrap (a lookup) ended: one that learned
    /// nothing counts as a fruitless walk.
    pub(super) fn on_bootstrap_step_done(&mut self) {
        self.walks.bootstrap_step_done();
    }

    /// A dial to the peer failed (or could not start): if it is lost and a
    /// redial fell due meanwhile, the next check makes it.
    pub(super) fn on_dial_failed(&mut self, peer: &PeerId) {
        self.lost.dial_failed(peer);
    }

    /// The redial check ([`REDIAL_CHECK_INTERVAL`]): the lost peers due.
    pub(super) fn on_redial_check(&mut self, now: Instant) -> Vec<Action> {
        if self.lost.len() == 0 {
            return Vec::new();
        }
        let peers = self.lost.due(now);
        if peers.is_empty() {
            return Vec::new();
        }
        vec![Action::Redial {
            peers,
            retry_pending: false,
        }]
    }

    /// Whether to dial a peer discovery found, with `connected` peers.
    pub(super) fn wants_more_peers(&self, connected: usize) -> bool {
        connected < self.target_peers
    }

    /// The maintenance tick: lifts the bans that are over, lets penalties
    /// fade, and decides whether to redial the bootstrap peers and whether
    /// to walk the DHT.
    pub(super) fn on_tick(&mut self, now: Instant, seen: Connectivity) -> Vec<Action> {
        let mut actions = Vec::new();
        self.bans.retain(|peer, until| {
            let over = *until <= now;
            if over {
                actions.push(Action::Unban(*peer));
            }
            !over
        });
        self.decay(now, &mut actions);
        self.ignored.prune(now);
        self.ticks = self.ticks.wrapping_add(1);
        let short_of_peers = self.wants_more_peers(seen.connected);
        // Bootstrap peers with an unknown peer id are dialed again even if
        // connected: cheap, and the connection limit per peer holds.
        if seen.connected == 0
            || (seen.bootstrap_lost
                && (short_of_peers || self.ticks.is_multiple_of(BOOTSTRAP_REDIAL_TICKS)))
        {
            actions.push(Action::DialBootstrap);
        }
        // A random walk finds new peers (the actor dials what it finds).
        if short_of_peers && seen.connected > 0 && self.walks.should_walk() {
            actions.push(Action::RandomWalk);
        }
        actions
    }

    /// The peer's current penalty (0 if none).
    pub(super) fn penalty(&self, peer: &PeerId) -> f64 {
        self.penalties.get(peer).copied().unwrap_or(0.0)
    }

    /// Whether the peer is cut off at `now`.
    #[cfg(test)]
    fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.bans.get(peer).is_some_and(|until| now < *until)
    }

    /// Adds to a peer's penalty: its new score, and a ban past the threshold.
    fn penalise(&mut self, peer: PeerId, amount: f64, reason: String, now: Instant) -> Vec<Action> {
        self.lost.forget(&peer);
        let penalty = self.penalties.entry(peer).or_default();
        *penalty += amount;
        let penalty = *penalty;
        let mut actions = vec![Action::SetScore {
            peer,
            score: -penalty,
        }];
        if penalty >= PENALTY_BAN {
            actions.extend(self.ban(peer, reason, now));
        }
        actions
    }

    /// Cuts the peer off, first lifting the ban closest to its end if
    /// [`MAX_BANS`] are held.
    fn ban(&mut self, peer: PeerId, reason: String, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.bans.len() >= MAX_BANS && !self.bans.contains_key(&peer) {
            let soonest = self.bans.iter().min_by_key(|(_, until)| **until);
            if let Some(lifted) = soonest.map(|(p, _)| *p) {
                self.bans.remove(&lifted);
                actions.push(Action::Unban(lifted));
            }
        }
        self.bans.insert(peer, now + BAN_DURATION);
        self.lost.forget(&peer);
        actions.push(Action::Ban { peer, reason });
        actions
    }

    /// Fades every penalty by the time passed since the last decay, and
    /// sets the scores accordingly.
    fn decay(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let elapsed = self
            .last_decay
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last_decay = Some(now);
        let factor = PENALTY_DECAY.powf(elapsed.as_secs_f64() / MAINTENANCE_INTERVAL.as_secs_f64());
        self.penalties.retain(|peer, penalty| {
            *penalty *= factor;
            let keep = *penalty >= PENALTY_FLOOR;
            let score = if keep { -*penalty } else { 0.0 };
            actions.push(Action::SetScore { peer: *peer, score });
            keep
        });
    }
}

#[cfg(test)]
mod tests;
