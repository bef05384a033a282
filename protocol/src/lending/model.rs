//! The lending record kinds, exactly as they are encoded in CBOR (envelope
//! format 2, see PROTOCOL.md *Lending*). Field names are the CBOR map keys;
//! optional fields are omitted when absent; unknown keys are refused.

use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::model::{Contact, FixedBytes, ListingId, RecordHash, Timestamp};

/// A calendar date, as the number of days since 1970-01-01 (day 0), in the
/// proleptic Gregorian calendar. Lending periods are Europe/Paris dates; a
/// date is a date wherever it is read, so no time-zone database is needed to
/// compare, add or encode days (see [`crate::lending::date`]).
pub type Day = u32;

/// The random 16-byte id a borrower gives a request; with the borrower's key
/// it names the request's slot.
pub type RequestId = FixedBytes<16>;

/// Whole days `[start, end)`: `start` is the first day of the loan, `end` the
/// first day after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Period {
    pub start: Day,
    pub end: Day,
}

impl Period {
    /// The number of days in the period (0 if it is empty).
    pub fn days(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the two periods share a day.
    pub fn overlaps(&self, other: &Period) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The period extended by `days` after its end (the turnaround buffer).
    pub fn with_buffer(&self, days: u32) -> Period {
        Period {
            start: self.start,
            end: self.end.saturating_add(days),
        }
    }
}

/// How an offer's requests are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum BookingMode {
    /// The owner's node accepts every request that fits, at once.
    Auto,
    /// The owner's staff decide each request.
    Manual,
}

/// An offer's lending settings (kind `lending`): their own record in the
/// offer's lending slot `(author, offer)`, so that the listing itself, which
/// older nodes read, does not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LendingTerms {
    pub author: PublicKey,
    /// The id of the offer these settings are for.
    pub offer: ListingId,
    pub version: u64,
    pub mode: BookingMode,
    /// Days kept free after each loan (cleaning, checks, transport).
    pub buffer_days: u32,
    /// How many units can be lent at once (50 barriers; 1 for a lift).
    pub capacity: u32,
    pub published_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A borrowing collectivity asks for an offer (kind `request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The borrower: who signs.
    pub author: PublicKey,
    pub id: RequestId,
    pub version: u64,
    pub offer_author: PublicKey,
    pub offer: ListingId,
    /// The version of the offer the borrower saw.
    pub offer_version: u64,
    pub period: Period,
    pub quantity: u32,
    pub purpose: String,
    /// The borrower's role contact (a function, never a person).
    pub contact: Contact,
    pub created_at: Timestamp,
}

/// Why an owner declines a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DeclineReason {
    /// The period overlaps accepted bookings (with their buffer) and no
    /// capacity is left.
    Conflict,
    /// More units asked than the offer's capacity.
    OverCapacity,
    /// The request was made on another version of the offer than the current one.
    OfferChanged,
    /// The offer is withdrawn, expired, unknown or not an offer.
    NotLendable,
    /// The period has begun, or the request has expired.
    TooLate,
    /// The borrower cancelled the request.
    CancelledByBorrower,
    /// The owner's staff refused (manual mode).
    Refused,
}

impl DeclineReason {
    pub const ALL: [DeclineReason; 7] = [
        DeclineReason::Conflict,
        DeclineReason::OverCapacity,
        DeclineReason::OfferChanged,
        DeclineReason::NotLendable,
        DeclineReason::TooLate,
        DeclineReason::CancelledByBorrower,
        DeclineReason::Refused,
    ];

    /// The name, as encoded.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::Conflict => "conflict",
            DeclineReason::OverCapacity => "over_capacity",
            DeclineReason::OfferChanged => "offer_changed",
            DeclineReason::NotLendable => "not_lendable",
            DeclineReason::TooLate => "too_late",
            DeclineReason::CancelledByBorrower => "cancelled_by_borrower",
            DeclineReason::Refused => "refused",
        }
    }
}

/// An accepted request: the loan convention the owner attaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// SHA-256 of the loan convention (convention de prêt) document.
    pub terms_hash: FixedBytes<32>,
}

/// A declined request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub reason: DeclineReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An acceptance the owner takes back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerCancellation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What the owner decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted(Acceptance),
    Declined(Refusal),
    /// The owner cancels an earlier acceptance.
    Cancelled(OwnerCancellation),
}

/// The owner's answer to a request (kind `decision`), signed by the offer's
/// author only. It copies what it decided (borrower, request slot and
/// version, period, quantity) so that a booking stands on the decision alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The offer's author: who signs.
    pub author: PublicKey,
    pub offer: ListingId,
    /// Grows with every decision the author makes for this offer.
    pub seq: u64,
    /// The record hash of the request decided.
    pub request: RecordHash,
    pub borrower: PublicKey,
    pub request_id: RequestId,
    pub request_version: u64,
    pub period: Period,
    pub quantity: u32,
    pub outcome: Outcome,
    pub decided_at: Timestamp,
}

impl Decision {
    pub fn is_acceptance(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted(_))
    }
}

/// The state in which a lent thing came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Condition {
    AsLent,
    Damaged,
}

/// A return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    pub condition: Condition,
    /// Required when damaged: what is damaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What happened to a loan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoanEventKind {
    HandedOver,
    Returned(Return),
    /// The borrower cancels its request, before or after acceptance.
    Cancelled,
}

/// A fact about a loan (kind `loan_event`), signed by either party (a
/// cancellation by the borrower only). Immutable: each is its own slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoanEvent {
    /// The signer: the borrower or the offer's author.
    pub author: PublicKey,
    pub offer_author: PublicKey,
    pub offer: ListingId,
    pub borrower: PublicKey,
    pub request_id: RequestId,
    /// The accepting decision (the agreement); required but for a cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<RecordHash>,
    pub event: LoanEventKind,
    pub at: Timestamp,
}
