//! Which record wins a slot, identically on every node whatever the delivery
//! order: the merge is commutative, associative and idempotent.
//!
//! A slot is what versions replace: `(author, id)` for offers, needs and
//! withdrawals. Certificates and revocations are immutable; each is its own
//! slot, named by its hash.

use std::cmp::Ordering;

use crate::codec::SignedRecord;
use crate::keys::PublicKey;
use crate::lending::{self, RequestId};
use crate::model::{ListingId, Payload, RecordHash, Timestamp};
use crate::rules::{tombstone_forget_after, DAY_SECS, MAX_CLOCK_SKEW_SECS, MAX_LIFETIME_DAYS};

/// What a record replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotKey {
    Listing {
        author: PublicKey,
        id: ListingId,
    },
    Certificate(RecordHash),
    Revocation(RecordHash),
    /// An offer's lending settings: `(author, offer id)`.
    Lending {
        author: PublicKey,
        offer: ListingId,
    },
    /// A request: `(borrower, request id)`.
    Request {
        author: PublicKey,
        id: RequestId,
    },
    /// The owner's decisions on one request: the offer and the request slot.
    Decision {
        author: PublicKey,
        offer: ListingId,
        borrower: PublicKey,
        request: RequestId,
    },
    /// Loan events are immutable: each is its own slot, named by its hash.
    LoanEvent(RecordHash),
}

impl SlotKey {
    pub fn of(record: &SignedRecord) -> SlotKey {
        match record.payload() {
            Payload::Offer(l) | Payload::Need(l) => SlotKey::Listing {
                author: l.author,
                id: l.id,
            },
            Payload::Withdrawal(w) => SlotKey::Listing {
                author: w.author,
                id: w.id,
            },
            Payload::Certificate(_) => SlotKey::Certificate(*record.hash()),
            Payload::Revocation(_) => SlotKey::Revocation(*record.hash()),
            Payload::Lending(t) => SlotKey::Lending {
                author: t.author,
                offer: t.offer,
            },
            Payload::Request(r) => SlotKey::Request {
                author: r.author,
                id: r.id,
            },
            Payload::Decision(d) => SlotKey::Decision {
                author: d.author,
                offer: d.offer,
                borrower: d.borrower,
                request: d.request_id,
            },
            Payload::LoanEvent(_) => SlotKey::LoanEvent(*record.hash()),
        }
    }
}

/// The part of a record the merge looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rank {
    pub version: u64,
    pub withdrawal: bool,
    pub hash: RecordHash,
}

impl Rank {
    pub fn of(record: &SignedRecord) -> Rank {
        Rank::of_payload(record.payload(), *record.hash())
    }

    /// The rank of a payload whose record hash is `hash` (for a record kept
    /// decoded, without its envelope).
    pub fn of_payload(payload: &Payload, hash: RecordHash) -> Rank {
        let (version, withdrawal) = match payload {
            Payload::Offer(l) | Payload::Need(l) => (l.version, false),
            Payload::Withdrawal(w) => (w.version, true),
            Payload::Lending(t) => (t.version, false),
            Payload::Request(r) => (r.version, false),
            // The owner's later decision on a request replaces its earlier one.
            Payload::Decision(d) => (d.seq, false),
            Payload::Certificate(_) | Payload::Revocation(_) | Payload::LoanEvent(_) => (0, false),
        };
        Rank {
            version,
            withdrawal,
            hash,
        }
    }
}

impl Ord for Rank {
    /// Higher version first; at equal versions a withdrawal beats a listing
    /// (when in doubt, withdraw); then the greater hash.
    fn cmp(&self, other: &Self) -> Ordering {
        self.version
            .cmp(&other.version)
            .then(self.withdrawal.cmp(&other.withdrawal))
            .then(self.hash.cmp(&other.hash))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What applying an incoming record to a slot does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The slot was empty.
    New,
    /// The incoming record wins over the stored one.
    Replaces,
    /// The stored record wins; the incoming one is older.
    Older,
    /// The very same record is already stored.
    Duplicate,
    /// Same slot and version, different bytes: the author signed two
    /// different records. Every node keeps the same one (`incoming_wins`
    /// says which), and the equivocation is worth reporting.
    Equivocation { incoming_wins: bool },
}

impl MergeOutcome {
    /// Whether the incoming record is to be stored.
    pub fn stores_incoming(self) -> bool {
        matches!(
            self,
            MergeOutcome::New
                | MergeOutcome::Replaces
                | MergeOutcome::Equivocation {
                    incoming_wins: true
                }
        )
    }
}

/// The outcome of merging `incoming` into a slot holding `current`.
pub fn merge(current: Option<&Rank>, incoming: &Rank) -> MergeOutcome {
    let Some(current) = current else {
        return MergeOutcome::New;
    };
    if current.hash == incoming.hash {
        return MergeOutcome::Duplicate;
    }
    let incoming_wins = incoming > current;
    if current.version == incoming.version && current.withdrawal == incoming.withdrawal {
        return MergeOutcome::Equivocation { incoming_wins };
    }
    if incoming_wins {
        MergeOutcome::Replaces
    } else {
        MergeOutcome::Older
    }
}

/// When a stored record may be deleted for good, so that no older version can
/// come back after it. Offers and needs: once every version an honest author
/// published before this one has surely expired (their publication time is not
/// later than this one's). Withdrawals: see [`tombstone_forget_after`].
/// Certificates: once they expire. Revocations: kept as long as the longest
/// certificate they could name.
pub fn forget_after(record: &SignedRecord) -> Timestamp {
    match record.payload() {
        Payload::Offer(l) | Payload::Need(l) => l
            .published_at
            .saturating_add(MAX_LIFETIME_DAYS * DAY_SECS)
            .saturating_add(MAX_CLOCK_SKEW_SECS)
            .max(l.expires_at),
        // Like a listing: every earlier version has expired by then.
        Payload::Lending(t) => t
            .published_at
            .saturating_add(MAX_LIFETIME_DAYS * DAY_SECS)
            .saturating_add(MAX_CLOCK_SKEW_SECS)
            .max(t.expires_at),
        // Every version made before this one ends its period within the
        // horizon after it was made, so it has expired by then.
        Payload::Request(r) => lending::horizon_forget_after(r.created_at),
        Payload::Decision(d) => lending::horizon_forget_after(d.decided_at),
        Payload::LoanEvent(e) => lending::loan_event_expiry(e).saturating_add(MAX_CLOCK_SKEW_SECS),
        Payload::Withdrawal(w) => tombstone_forget_after(w),
        Payload::Certificate(c) => c.valid_until.saturating_add(MAX_CLOCK_SKEW_SECS),
        Payload::Revocation(r) => r
            .revoked_at
            .saturating_add(crate::rules::MAX_CERTIFICATE_DAYS * DAY_SECS)
            .saturating_add(MAX_CLOCK_SKEW_SECS),
    }
}
