//! What one peer may cost this node in inbound sync requests: a per-peer
//! budget, checked before a request is decoded, as a plain state machine
//! (the time is passed in).
//!
//! An honest initiator runs one session with a peer at a time and sends its
//! requests one after the other, each after the previous response; so it has
//! one request in flight, two at most (a session that gave up on a slow
//! answer, then the next one). Hence:
//! - more than [`MAX_INBOUND_PER_PEER`] requests of one peer being answered
//!   at once: refused, and a **strike**; [`ABUSE_STRIKES`] strikes within
//!   [`ABUSE_WINDOW`] cut the peer off (the policy's ban). Honest peers never
//!   strike, whatever this node's load;
//! - more than [`PEER_REQUESTS_PER_SEC`] sustained ([`PEER_REQUEST_BURST`] at
//!   once): refused without a strike. A peer that waits for its answers is
//!   bounded by this rate, and an honest one retries a refused request a
//!   moment later;
//! - more than `MAX_INBOUND_REQUESTS` being answered in all: refused
//!   (nobody's fault).
//!
//! A refused request gets no response (its stream closes), as PROTOCOL.md
//! states: nothing new on the wire. At most [`MAX_TRACKED_PEERS`] peers are
//! tracked; idle ones are forgotten first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Requests of one peer being answered at once.
pub const MAX_INBOUND_PER_PEER: usize = 2;
/// Requests one peer may make per second, sustained.
pub const PEER_REQUESTS_PER_SEC: f64 = 20.0;
/// Requests one peer may make at once after a quiet while.
pub const PEER_REQUEST_BURST: f64 = 40.0;
/// Strikes (requests over [`MAX_INBOUND_PER_PEER`]) within [`ABUSE_WINDOW`]
/// that cut the peer off.
pub const ABUSE_STRIKES: u32 = 16;
/// The window strikes are counted in.
pub const ABUSE_WINDOW: Duration = Duration::from_secs(10);
/// The most peers whose budget is tracked.
const MAX_TRACKED_PEERS: usize = 1024;

/// What to do with an inbound request.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Admission {
    /// Answer it (counted in flight until [`InboundBudget::done`]).
    Answer,
    /// Refuse it; `reason` is the metrics label (`peer_concurrency`,
    /// `peer_rate`, `busy`).
    Refuse { reason: &'static str },
    /// Refuse it and cut the peer off: the ban's reason.
    Ban(String),
}

#[derive(Debug)]
struct PeerBudget {
    in_flight: usize,
    tokens: f64,
    refilled: Instant,
    strikes: u32,
    strikes_since: Instant,
}

impl PeerBudget {
    fn new(now: Instant) -> Self {
        PeerBudget {
            in_flight: 0,
            tokens: PEER_REQUEST_BURST,
            refilled: now,
            strikes: 0,
            strikes_since: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * PEER_REQUESTS_PER_SEC).min(PEER_REQUEST_BURST);
        self.refilled = now;
    }

    /// Idle and with a full budget: nothing to remember.
    fn is_idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && now.saturating_duration_since(self.strikes_since) >= ABUSE_WINDOW
            && self.tokens
                + now.saturating_duration_since(self.refilled).as_secs_f64() * PEER_REQUESTS_PER_SEC
                >= PEER_REQUEST_BURST
    }
}

/// Every peer's budget, and the requests being answered in all.
#[derive(Debug, Default)]
pub(super) struct InboundBudget {
    peers: HashMap<PeerId, PeerBudget>,
    in_flight: usize,
}

impl InboundBudget {
    /// Decides on a request of `peer`, `max_total` being the most answered
    /// at once in all.
    pub(super) fn admit(&mut self, peer: PeerId, max_total: usize, now: Instant) -> Admission {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_TRACKED_PEERS {
            self.peers.retain(|_, budget| !budget.is_idle(now));
            if self.peers.len() >= MAX_TRACKED_PEERS {
                // Every tracked peer is busy: refuse newcomers until one is not.
                return Admission::Refuse { reason: "busy" };
            }
        }
        let budget = self
            .peers
            .entry(peer)
            .or_insert_with(|| PeerBudget::new(now));
        if budget.in_flight >= MAX_INBOUND_PER_PEER {
            if now.saturating_duration_since(budget.strikes_since) >= ABUSE_WINDOW {
                budget.strikes = 0;
                budget.strikes_since = now;
            }
            budget.strikes += 1;
            if budget.strikes >= ABUSE_STRIKES {
                // One ban: the requests read before it takes effect start over.
                budget.strikes = 0;
                return Admission::Ban(format!(
                    "{} sync requests at once over its limit of {MAX_INBOUND_PER_PEER}, {ABUSE_STRIKES} \
                     times within {} s",
                    budget.in_flight + 1,
                    ABUSE_WINDOW.as_secs()
                ));
            }
            return Admission::Refuse {
                reason: "peer_concurrency",
            };
        }
        budget.refill(now);
        if budget.tokens < 1.0 {
            return Admission::Refuse {
                reason: "peer_rate",
            };
        }
        if self.in_flight >= max_total {
            return Admission::Refuse { reason: "busy" };
        }
        budget.tokens -= 1.0;
        budget.in_flight += 1;
        self.in_flight += 1;
        Admission::Answer
    }

    /// A request admitted for `peer` has been answered (or failed).
    pub(super) fn done(&mut self, peer: &PeerId) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(budget) = self.peers.get_mut(peer) {
            budget.in_flight = budget.in_flight.saturating_sub(1);
        }
    }

    /// Requests being answered, in all.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTAL: usize = 4;

    #[test]
    fn an_honest_peer_one_request_at_a_time_is_always_answered() {
        let mut budget = InboundBudget::default();
        let peer = PeerId::random();
        let start = Instant::now();
        // A long session: a request every 100 ms for a minute.
        for i in 0..600 {
            let now = start + Duration::from_millis(100 * i);
            assert_eq!(budget.admit(peer, TOTAL, now), Admission::Answer);
            budget.done(&peer);
        }
        assert_eq!(budget.in_flight(), 0);
    }

    #[test]
    fn requests_over_the_concurrency_limit_are_refused_then_the_peer_is_cut_off() {
        let mut budget = InboundBudget::default();
        let (rogue, honest) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        for _ in 0..MAX_INBOUND_PER_PEER {
            assert_eq!(budget.admit(rogue, TOTAL, now), Admission::Answer);
        }
        for _ in 1..ABUSE_STRIKES {
            assert_eq!(
                budget.admit(rogue, TOTAL, now),
                Admission::Refuse {
                    reason: "peer_concurrency"
                }
            );
        }
        assert!(matches!(budget.admit(rogue, TOTAL, now), Admission::Ban(_)));
        // Requests read before the ban took effect do not ban it again.
        assert!(matches!(
            budget.admit(rogue, TOTAL, now),
            Admission::Refuse { .. }
        ));
        // The others are not held up by the rogue's refused requests.
        assert_eq!(budget.admit(honest, TOTAL, now), Admission::Answer);
    }

    #[test]
    fn strikes_fade_after_the_window() {
        let mut budget = InboundBudget::default();
        let peer = PeerId::random();
        let mut now = Instant::now();
        for _ in 0..MAX_INBOUND_PER_PEER {
            budget.admit(peer, TOTAL, now);
        }
        // Fewer strikes than the limit per window, for many windows: no ban.
        for _ in 0..10 {
            for _ in 1..ABUSE_STRIKES {
                assert!(matches!(
                    budget.admit(peer, TOTAL, now),
                    Admission::Refuse { .. }
                ));
            }
            now += ABUSE_WINDOW;
        }
    }

    #[test]
    fn a_peer_over_its_rate_is_refused_without_a_strike_and_served_again_later() {
        let mut budget = InboundBudget::default();
        let peer = PeerId::random();
        let now = Instant::now();
        for _ in 0..PEER_REQUEST_BURST as usize {
            assert_eq!(budget.admit(peer, TOTAL, now), Admission::Answer);
            budget.done(&peer);
        }
        for _ in 0..10 * ABUSE_STRIKES {
            assert_eq!(
                budget.admit(peer, TOTAL, now),
                Admission::Refuse {
                    reason: "peer_rate"
                }
            );
        }
        let later = now + Duration::from_secs_f64(1.0 / PEER_REQUESTS_PER_SEC);
        assert_eq!(budget.admit(peer, TOTAL, later), Admission::Answer);
    }

    #[test]
    fn the_total_limit_refuses_without_blame_and_frees_with_answers() {
        let mut budget = InboundBudget::default();
        let now = Instant::now();
        let peers: Vec<PeerId> = (0..TOTAL + 1).map(|_| PeerId::random()).collect();
        for peer in &peers[..TOTAL] {
            assert_eq!(budget.admit(*peer, TOTAL, now), Admission::Answer);
        }
        let last = peers[TOTAL];
        for _ in 0..2 * ABUSE_STRIKES {
            assert_eq!(
                budget.admit(last, TOTAL, now),
                Admission::Refuse { reason: "busy" }
            );
        }
        budget.done(&peers[0]);
        assert_eq!(budget.admit(last, TOTAL, now), Admission::Answer);
    }

    #[test]
    fn tracked_peers_are_bounded_and_idle_ones_forgotten() {
        let mut budget = InboundBudget::default();
        let now = Instant::now();
        for _ in 0..MAX_TRACKED_PEERS {
            let peer = PeerId::random();
            budget.admit(peer, usize::MAX, now);
            budget.done(&peer);
        }
        let later = now + ABUSE_WINDOW;
        assert_eq!(
            budget.admit(PeerId::random(), usize::MAX, later),
            Admission::Answer
        );
        assert!(budget.peers.len() <= MAX_TRACKED_PEERS);
    }
}
