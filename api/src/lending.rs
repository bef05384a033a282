//! Lending between collectivities (PROTOCOL.md *Lending*): an offer's
//! lending settings (`PUT /v1/listings/{id}/lending`), requests and their
//! answers (`/v1/requests…`), and an offer's calendar
//! (`GET /v1/records/{author}/{id}/calendar`).
//!
//! Dates are Europe/Paris calendar dates written `YYYY-MM-DD`, and a period
//! is given by its first and its last day, both included (`first_day` =
//! 2027-07-13, `last_day` = 2027-07-14 is a loan of two days); the protocol's
//! half-open day numbers stay inside the node. A request is named by its id
//! (32 hexadecimal digits) in every path: the agreement is the request and
//! its accepting decision, so accept, decline, cancel, hand-over and return
//! all name the request.

use mutua_protocol::lending::{BookingMode, Condition, DeclineReason};
use mutua_protocol::{Contact, ListingId, PublicKey, RecordHash, Timestamp};
use serde::{Deserialize, Serialize};

use crate::listings::Gossip;
use crate::wire;

/// How an offer lends: the body of `PUT /v1/listings/{id}/lending`, and
/// part of [`OfferCalendar`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LendingSettings {
    /// `auto`: the owner's node accepts every request that fits, at once;
    /// `manual`: the owner's staff decide (`POST /v1/requests/{id}/accept`).
    pub mode: BookingMode,
    /// Days kept free after each loan (cleaning, checks, transport), 0–30.
    #[serde(default)]
    pub buffer_days: u32,
    /// Units lent at once (50 barriers; 1 for a lift), 1–10 000.
    #[serde(default = "one")]
    pub capacity: u32,
}

fn one() -> u32 {
    1
}

/// What the node answers when it signed a lending record (settings,
/// request, decision, loan event): stored, durable, handed to gossip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LendingWritten {
    /// `lending`, `request`, `decision` or `loan_event`.
    pub kind: String,
    /// The hash of the signed record.
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub hash: RecordHash,
    /// The signed envelope, in hex.
    pub envelope: String,
    pub gossip: Gossip,
    /// The request as it now stands (for writes about a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<LoanRequest>,
}

/// A borrower asks for an offer: the body of `POST /v1/requests` (with
/// `?as=<borrower>` when the node hosts several collectivities), and of
/// `PUT /v1/requests/{id}`, which changes a request until it is decided (its
/// offer stays the same).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The offer's author (key id).
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub offer_author: PublicKey,
    /// The offer's id (hex).
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub offer: ListingId,
    /// The first day of the loan, `YYYY-MM-DD`.
    pub first_day: String,
    /// The last day of the loan, included, `YYYY-MM-DD`.
    pub last_day: String,
    /// Units asked for (1 unless the offer lends several at once).
    #[serde(default = "one")]
    pub quantity: u32,
    /// What for, one line (up to 200 characters).
    pub purpose: String,
    /// The borrower's role contact (a function, never a person).
    pub contact: Contact,
}

/// Which requests `GET /v1/requests` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Requests for the offers of the collectivities this node hosts.
    Incoming,
    /// Requests the collectivities this node hosts made.
    Outgoing,
}

/// `?as=&direction=&pending=` of `GET /v1/requests`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    /// Only this hosted collectivity's (default: every hosted one's).
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Only incoming or only outgoing requests (default: both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Only requests not decided yet.
    #[serde(default)]
    pub pending: bool,
}

/// The answer of `GET /v1/requests`: newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Requests {
    pub requests: Vec<LoanRequest>,
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Not decided yet (a manual offer's staff have not answered, or the
    /// owner's node has not seen it yet).
    Pending,
    /// Accepted: with its request, the agreement.
    Accepted,
    Declined,
    /// The owner took its acceptance back.
    CancelledByOwner,
    /// The borrower cancelled it (before or after acceptance).
    CancelledByBorrower,
    /// Accepted, but the owner's key also accepted an earlier conflicting
    /// request (one key run on two nodes): this one does not hold.
    Overruled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Accepted => "accepted",
            RequestStatus::Declined => "declined",
            RequestStatus::CancelledByOwner => "cancelled_by_owner",
            RequestStatus::CancelledByBorrower => "cancelled_by_borrower",
            RequestStatus::Overruled => "overruled",
        }
    }
}

/// A request, its status and what happened to the loan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoanRequest {
    /// The request's id (hex): what the paths and the CLI name it by.
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub id: mutua_protocol::lending::RequestId,
    pub version: u64,
    /// Incoming (for a hosted offer) or outgoing (by a hosted borrower).
    pub direction: Direction,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub borrower: PublicKey,
    /// The borrower's name, from its membership certificate, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrower_name: Option<String>,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub offer_author: PublicKey,
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub offer: ListingId,
    /// The offer's title, if this node holds the offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_title: Option<String>,
    /// The version of the offer the borrower saw.
    pub offer_version: u64,
    pub first_day: String,
    pub last_day: String,
    pub quantity: u32,
    pub purpose: String,
    pub contact: Contact,
    pub created_at: Timestamp,
    /// The hash of the request's current version.
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub hash: RecordHash,
    pub status: RequestStatus,
    /// Why it was declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DeclineReason>,
    /// The owner's words with a refusal or a cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_text: Option<String>,
    /// The hash of the decision, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// When it was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// SHA-256 (hex) of the loan convention an acceptance attaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_hash: Option<String>,
    /// The thing was handed over (a loan event says so).
    #[serde(default)]
    pub handed_over: bool,
    /// The condition of the return, once returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<Condition>,
}

/// The body of `POST /v1/requests/{id}/accept`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// SHA-256 (64 hex digits) of the loan convention (convention de prêt)
    /// attached to the acceptance; without one, the hash of an empty
    /// document (no convention attached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_hash: Option<String>,
}

/// The body of `POST /v1/requests/{id}/decline`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeclineRequest {
    /// The reason code (default `refused`: the staff said no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DeclineReason>,
    /// The owner's words, one line (up to 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The body of `POST /v1/requests/{id}/cancel`: the owner takes an
/// acceptance back (the borrower cancels with `DELETE /v1/requests/{id}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelAcceptance {
    /// The owner's words, one line (up to 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What a party records about a loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LoanEventName {
    HandedOver,
    Returned,
}

/// The body of `POST /v1/requests/{id}/events`: a hand-over or a return,
/// signed by the borrower or the owner (whichever this node hosts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewLoanEvent {
    pub event: LoanEventName,
    /// Required for a return: `as_lent` or `damaged`; refused on a
    /// hand-over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// What is damaged (required when damaged), up to 1000 characters; a
    /// return's only: refused on a hand-over (`invalid_body`, field `note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `?from=&to=&quantity=` of `GET /v1/records/{author}/{id}/calendar`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CalendarQuery {
    /// The first day of the window free days are listed in (default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Its last day, included (default 90 days after `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Units wanted (default 1): free windows leave this many free, and
    /// `available` says whether a loan of them over the whole window fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// Days from `first_day` to `last_day`, both included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DayRange {
    pub first_day: String,
    pub last_day: String,
}

/// Days on which `used` units are lent (or kept free after a loan).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BusyPeriod {
    pub first_day: String,
    pub last_day: String,
    pub used: u32,
}

/// An accepted loan that holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Booking {
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub request_id: mutua_protocol::lending::RequestId,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub borrower: PublicKey,
    pub first_day: String,
    pub last_day: String,
    /// The last day kept free after the loan (the turnaround buffer).
    pub busy_until: String,
    pub quantity: u32,
    pub handed_over: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<Condition>,
}

/// An offer's calendar, as every node derives it from the records it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfferCalendar {
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub author: PublicKey,
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub id: ListingId,
    /// The offer's settings (without a `lending` record: manual, no
    /// buffer, one unit).
    pub settings: LendingSettings,
    /// The bookings that hold, by first day.
    pub bookings: Vec<Booking>,
    /// Busy days (loans and their buffers), merged into periods.
    pub busy: Vec<BusyPeriod>,
    /// Free windows between `from` and `to`.
    pub free: Vec<DayRange>,
    /// The window `free` and `available` are about.
    pub window: DayRange,
    /// Whether a loan of `quantity` units over the whole window fits.
    pub available: bool,
    /// Requests not decided yet.
    pub pending: u32,
    /// Signs the owner's key signed conflicting decisions (its key run on
    /// two nodes): the calendar picked a winner and kept the evidence.
    pub anomalies: u32,
}

/// What a decline reason means, in a sentence for people.
pub fn reason_words(reason: DeclineReason) -> &'static str {
    match reason {
        DeclineReason::Conflict => {
            "the days (with the offer's turnaround buffer) overlap accepted loans and no unit is left"
        }
        DeclineReason::OverCapacity => "more units are asked than the offer lends at once",
        DeclineReason::OfferChanged => "the offer changed since the borrower saw it",
        DeclineReason::NotLendable => "the offer is withdrawn, expired or unknown",
        DeclineReason::TooLate => "the loan has begun, or the request has expired",
        DeclineReason::CancelledByBorrower => "the borrower cancelled the request",
        DeclineReason::Refused => "the owner's staff refused it",
    }
}
