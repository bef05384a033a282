//! Anti-entropy: range-based set reconciliation of two replicas, as an
//! IO-less state machine.
//!
//! The technique is Aljoscha Meyer's "Range-Based Set Reconciliation" (as in
//! iroh-docs and negentropy): both sides summarise ranges of an ordered set by
//! fingerprints, split the ranges whose fingerprints differ, and exchange item
//! ids and then only the records one side lacks. The cost grows with the
//! difference, not with the catalogue. Leaf lists carry each item's slot tag,
//! a short id and its rank ([`Entry`], 18 bytes), so that of two different
//! records in one slot only the one the merge keeps travels (`to_send`).
//!
//! Every stored slot is one item: its [`SyncKey`] (a hash of the slot, so
//! items are spread uniformly) and its digest (the [`RecordHash`] of the
//! record stored in the slot). Ranges are key prefixes ([`SyncRange`]): a
//! range of `bits` bits splits into [`FANOUT`] children of `bits + 2` bits,
//! which a store with a bucketed prefix tree summarises cheaply.
//!
//! The initiator drives a session ([`InitiatorSession`]): it sends
//! [`Request`]s, the responder answers each with a [`Response`] from
//! [`respond`], which keeps no state between requests. Both directions
//! converge in one session: the initiator fetches what it lacks and pushes
//! what the responder lacks. Certificates, then revocations, then listings
//! are reconciled in that order ([`SyncClass`]), so that a record always
//! arrives after the membership records it depends on.
//!
//! Nothing here does I/O or reads a clock: the node moves the encoded
//! messages ([`encode_request`], [`decode_response`], ...), applies the
//! records they carry (ordered by [`order_for_apply`]) and enforces the
//! session timeout and the number of concurrent sessions. PROTOCOL.md
//! ("Synchronisation") is the normative description.
//!
//! The module is split along the seams of the exchange:
//!
//! - `range`: the key space ([`SyncKey`], [`SyncClass`]), prefix ranges
//!   ([`SyncRange`]), fingerprints and what leaf lists carry ([`Entry`]);
//! - `messages`: [`Request`] and [`Response`], their limits and their
//!   encoding; `wire` holds the hand-written CBOR layout of their parts;
//! - `respond`: the stateless responder ([`respond`]);
//! - `initiate`: the initiator's state machine ([`InitiatorSession`]);
//! - `memory`: an in-memory [`SyncSource`] for tests and benchmarks
//!   (feature `fixtures`).
//!
//! What both sides share stays here: the protocol's limits, the
//! [`SyncSource`] a replica implements, the session error and the rule of
//! who sends which record (`to_send`).

use std::collections::{HashMap, HashSet};

use thiserror::Error;

use crate::model::RecordHash;

mod initiate;
#[cfg(any(test, feature = "fixtures"))]
pub mod memory;
mod messages;
mod range;
mod respond;
mod wire;

pub use initiate::{InitiatorSession, Outcome, SessionLimits, Step};
pub use messages::{
    decode_request, decode_response, encode_request, encode_response, Answer, MessageError, Query,
    Request, Response,
};
pub use range::{
    item_hash, item_id, order_for_apply, slot_bytes, slot_tag, Entry, Fingerprint, ItemId,
    SlotRank, SlotTag, Summary, SyncClass, SyncKey, SyncRange,
};
pub use respond::respond;

/// How many children a range splits into.
pub const FANOUT: usize = 4;
/// How many key bits a split adds to a range's prefix (`FANOUT == 1 << SPLIT_BITS`).
pub const SPLIT_BITS: u16 = 2;
/// The longest prefix a range may have. Two distinct SHA-256 keys sharing 128
/// bits never happen by chance, so the responder lists ids at this depth
/// whatever the count.
pub const MAX_PREFIX_BITS: u16 = 128;
/// A responder answers a differing range with its entries, rather than
/// splitting it, when it holds at most this many items there.
pub const LEAF_ITEMS: u64 = 8;
/// The most entries or slot tags in any one list of a message.
pub const MAX_IDS: usize = 16;
/// The most queries in a request, hence answers in a response.
pub const MAX_QUERIES: usize = 1024;
/// The most records in one message.
pub const MAX_RECORDS_PER_MESSAGE: usize = 1024;
/// The largest encoded message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// How many records an initiator asks for per request, about what fits in
/// one response for records of 2 KB.
const EXPECTED_RECORDS_PER_RESPONSE: u64 = (MAX_MESSAGE_BYTES / 2048) as u64;
/// How many items a responder reads to find the records a `Want` names.
const WANT_SCAN_ITEMS: usize = 4 * MAX_IDS;
/// Bytes of a record's CBOR header in a records list, at most (records are at
/// most [`MAX_RECORD_BYTES`](crate::codec::MAX_RECORD_BYTES), so three bytes).
const RECORD_HEADER_BYTES: usize = 3;
/// Room for the records array header growing from 0 to
/// [`MAX_RECORDS_PER_MESSAGE`] entries.
const RECORDS_ARRAY_SLACK: usize = 3;

/// What reconciliation reads from a replica. Ranges are prefix ranges; a
/// store answers them as the key interval `[range.start(), range.end())`.
pub trait SyncSource {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The fingerprint of the items in `range`.
    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, Self::Error>;

    /// Up to `limit` items of `range` whose keys are greater than `after`
    /// (all of the range when `after` is `None`), in key order.
    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, Self::Error>;

    /// The envelope bytes of the record stored under `key`, if any.
    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, Self::Error>;

    /// The rank of the record stored under `key`; the lowest rank when there
    /// is none (it went since it was listed) or it cannot be read: a low rank
    /// never stops the peer sending its own record.
    fn rank(&self, key: &SyncKey) -> Result<SlotRank, Self::Error>;
}

/// Why a sync session (either side) stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncError<E> {
    /// The local store failed to answer.
    #[error("the local store failed during sync: {0}")]
    Source(#[source] E),
    /// The peer broke the protocol.
    #[error("the peer broke the sync protocol: {0}")]
    Peer(#[from] MessageError),
    /// The session needed more rounds than allowed; what was applied stays.
    #[error("the sync session took more than {max} rounds")]
    TooManyRounds { max: u32 },
    /// The peer's answers made more pending work than allowed.
    #[error("the sync session has more than {max} pending ranges")]
    TooMuchWork { max: usize },
}

impl<E> SyncError<E> {
    /// Whether the peer is to blame (and to be cut off).
    pub fn is_peer_fault(&self) -> bool {
        matches!(self, SyncError::Peer(_) | SyncError::TooMuchWork { .. })
    }
}

/// Which of `mine` the other side should receive, given its entries
/// `theirs` for the same range: those it did not list (same tag, id and
/// rank), except where it holds a higher-ranked record of the same slot (it
/// sends that one instead). Equal ranks (an equivocation) go both ways and
/// the merge's hash tie-break settles them. A tag listed twice by either
/// side may name two slots, so it holds nothing back: a stale record then
/// travels, never a missing one fails to. Both sides compute this on the
/// same lists, so they agree on who sends.
fn to_send(mine: &[Entry], theirs: &[Entry]) -> Vec<usize> {
    let their_entries: HashSet<&Entry> = theirs.iter().collect();
    let (my_slots, their_slots) = (unique_slots(mine), unique_slots(theirs));
    mine.iter()
        .enumerate()
        .filter(|(_, entry)| {
            let outranked = my_slots.contains_key(&entry.slot)
                && their_slots
                    .get(&entry.slot)
                    .is_some_and(|rank| *rank > entry.rank);
            !their_entries.contains(entry) && !outranked
        })
        .map(|(index, _)| index)
        .collect()
}

/// The rank of each tag listed exactly once.
fn unique_slots(entries: &[Entry]) -> HashMap<SlotTag, u64> {
    let mut seen: HashMap<SlotTag, Option<u64>> = HashMap::new();
    for entry in entries {
        seen.entry(entry.slot)
            .and_modify(|rank| *rank = None)
            .or_insert(Some(entry.rank));
    }
    seen.into_iter()
        .filter_map(|(slot, rank)| Some((slot, rank?)))
        .collect()
}
