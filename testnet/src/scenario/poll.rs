//! The scenario's pollers: one thread per node looks up, by its slot, each
//! record the harness published until the node serves it (and, once
//! withdrawn, until it serves the withdrawal), noting when.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutua_api::Record;
use mutua_protocol::{ListingId, PublicKey, RecordHash};

use crate::node::Api;
use crate::wait;

/// What one node's poller saw: first time each record hash was listed, and
/// first time each listing id was no longer listed after its withdrawal.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) hashes: HashMap<RecordHash, Instant>,
    pub(super) purged: HashMap<ListingId, Instant>,
    /// How long each lookup took: an arrival is seen up to one lookup plus
    /// one poll interval after it happened.
    pub(super) calls: Vec<Duration>,
}

impl Seen {
    /// Whether the poller still has to look `w` up.
    pub(super) fn pending(&self, w: &Watch) -> bool {
        !self.hashes.contains_key(&w.hash) || (w.withdrawn && !self.purged.contains_key(&w.id))
    }
}

/// A record the pollers look up at every node: its slot, the version
/// published, and whether it was withdrawn since.
#[derive(Clone, Copy, Debug)]
pub(super) struct Watch {
    pub(super) author: PublicKey,
    pub(super) id: ListingId,
    pub(super) hash: RecordHash,
    pub(super) withdrawn: bool,
}

/// The records the pollers look up, in publishing order.
pub(super) type Watched = Arc<Mutex<Vec<Watch>>>;

/// The APIs the pollers use, replaced when a node restarts (new token).
pub(super) type Directory = Arc<Vec<Mutex<Option<Api>>>>;

/// Looks up, every [`wait::POLL`], each watched record node `i` has not
/// shown yet: by its slot (`GET /v1/records/{author}/{id}`, a read of the
/// node's replica), not by listing every record, because a listing is a
/// search that first commits the search index's recent changes, and 20 a
/// second per node were load enough to triple the node-side propagation
/// time and took 100–300 ms each under load (BENCHMARKS.md, issue 18 item 3).
pub(super) fn poll_node(
    i: usize,
    directory: &Directory,
    seen: &Mutex<Seen>,
    watched: &Watched,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) && !crate::cleanup::interrupted() {
        let api = directory[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(api) = api {
            let pending: Vec<Watch> = {
                let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                watched
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .filter(|w| seen.pending(w))
                    .copied()
                    .collect()
            };
            for w in pending {
                let called = Instant::now();
                let Ok(record) = api.record(&w.author, &w.id) else {
                    continue;
                };
                let now = Instant::now();
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.calls.push(now - called);
                match record {
                    Some(Record::Withdrawal(_)) if w.withdrawn => {
                        seen.purged.entry(w.id).or_insert(now);
                    }
                    Some(record) if *record.hash() == w.hash => {
                        seen.hashes.entry(w.hash).or_insert(now);
                    }
                    _ => {}
                }
            }
        }
        std::thread::sleep(wait::POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_record_is_looked_up_until_seen_and_once_withdrawn_until_purged() {
        let mut w = Watch {
            author: mutua_protocol::SecretKey::from_seed([7; 32]).public(),
            id: mutua_protocol::FixedBytes([1; 16]),
            hash: mutua_protocol::FixedBytes([2; 32]),
            withdrawn: false,
        };
        let mut seen = Seen::default();
        assert!(seen.pending(&w));
        seen.hashes.insert(w.hash, Instant::now());
        assert!(!seen.pending(&w), "seen: no more lookups");
        w.withdrawn = true;
        assert!(seen.pending(&w), "withdrawn: looked up again until purged");
        seen.purged.insert(w.id, Instant::now());
        assert!(!seen.pending(&w));
    }
}
