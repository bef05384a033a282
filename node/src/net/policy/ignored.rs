//! Budgets of ignored gossip records (see the policy's *Ignored records*).
//!
//! Each peer, and each author a record names, has a token bucket of
//! [`IGNORED_BURST`] records refilled at [`IGNORED_REFILL_PER_SEC`]: an
//! ignored record takes a token from its forwarder's bucket and from its
//! author's; it is over the budget if either was empty. The author's bucket
//! is what stops a member that floods through fresh peer ids: once the
//! author's budget is spent, a new peer id forwarding its ignored records
//! has no allowance of its own.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use libp2p::PeerId;
use mutua_protocol::PublicKey;

/// Ignored records a peer (or an author) may have sent at once before they
/// count against it: ten times the most an honest peer produced in the
/// testnet's propagation, partition and churn runs, and small enough that
/// a flood is cut off after a few hundred milliseconds of validation
/// (BENCHMARKS.md, "Flood at rate").
pub const IGNORED_BURST: f64 = 50.0;
/// How fast the budget refills: a sustained ignored record per second is
/// far above an honest peer's (a federation publishes a few records a
/// second at most, and only races make one of them ignored).
pub const IGNORED_REFILL_PER_SEC: f64 = 1.0;
/// The most peers, and authors, with a budget being spent remembered
/// (buckets refilled to full are forgotten at the maintenance tick).
pub(super) const MAX_TRACKED: usize = 4096;

/// One token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Bucket {
        Bucket {
            tokens: IGNORED_BURST,
            at: now,
        }
    }

    /// The tokens at `now`, refilled for the time passed.
    fn tokens(&self, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * IGNORED_REFILL_PER_SEC;
        (self.tokens + refill).min(IGNORED_BURST)
    }

    /// Takes a token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        self.tokens = self.tokens(now);
        self.at = now;
        let within = self.tokens >= 1.0;
        if within {
            self.tokens -= 1.0;
        }
        within
    }
}

/// Bounded buckets by key.
#[derive(Debug)]
struct Buckets<K> {
    buckets: HashMap<K, Bucket>,
}

impl<K: Copy + Eq + Hash> Buckets<K> {
    fn new() -> Self {
        Buckets {
            buckets: HashMap::new(),
        }
    }

    /// Takes a token from `key`'s bucket; the bucket's use afterwards.
    fn take(&mut self, key: K, now: Instant) -> (bool, f64) {
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_TRACKED {
            self.forget_full(now);
            if self.buckets.len() >= MAX_TRACKED {
                // Forget the most refilled: the least recent spender.
                let fullest = self
                    .buckets
                    .iter()
                    .max_by(|a, b| a.1.tokens(now).total_cmp(&b.1.tokens(now)))
                    .map(|(k, _)| *k);
                if let Some(k) = fullest {
                    self.buckets.remove(&k);
                }
            }
        }
        let bucket = self.buckets.entry(key).or_insert_with(|| Bucket::full(now));
        let within = bucket.take(now);
        (within, IGNORED_BURST - bucket.tokens)
    }

    fn forget_full(&mut self, now: Instant) {
        self.buckets.retain(|_, b| b.tokens(now) < IGNORED_BURST);
    }
}

/// The per-peer and per-author budgets of ignored records.
#[derive(Debug)]
pub(super) struct IgnoredBudgets {
    peers: Buckets<PeerId>,
    authors: Buckets<PublicKey>,
    /// The most of its budget one peer has used at once (records).
    peak: f64,
}

impl IgnoredBudgets {
    pub(super) fn new() -> Self {
        IgnoredBudgets {
            peers: Buckets::new(),
            authors: Buckets::new(),
            peak: 0.0,
        }
    }

    /// Charges an ignored record to the peer that forwarded it and to its
    /// author (if the store named one): whether it is over the budget.
    pub(super) fn charge(&mut self, peer: PeerId, author: Option<PublicKey>, now: Instant) -> bool {
        let (peer_within, used) = self.peers.take(peer, now);
        self.peak = self.peak.max(used);
        let author_within = author.is_none_or(|a| self.authors.take(a, now).0);
        !(peer_within && author_within)
    }

    /// The most of its budget one peer has used at once, in records.
    pub(super) fn peak(&self) -> u64 {
        self.peak.round() as u64
    }

    /// Forgets the buckets refilled to full (the maintenance tick).
    pub(super) fn prune(&mut self, now: Instant) {
        self.peers.forget_full(now);
        self.authors.forget_full(now);
    }

    #[cfg(test)]
    pub(super) fn tracked(&self) -> (usize, usize) {
        (self.peers.buckets.len(), self.authors.buckets.len())
    }
}
