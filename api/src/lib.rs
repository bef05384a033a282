//! The control API of a Mutua node, as Rust types: every request and
//! response body of `node/openapi.yaml`, the error shape, and [`Client`], a
//! blocking client on ureq.
//!
//! This crate is the boundary between the node's HTTP server (which builds
//! and parses these types, converting to and from the protocol model) and
//! every client: the `mutua` CLI, the testnet, the tests, a web page. A
//! field renamed here breaks every side at compile time instead of at run
//! time. It depends on `mutua-protocol` only for what the API carries
//! exactly as the protocol defines it (the nested parts of a listing, key
//! ids, listing ids, record hashes); it does no I/O besides the client's
//! HTTP.
//!
//! Conventions, everywhere: times are Unix seconds (UTC); keys are key ids
//! (`mk…`); listing ids and record hashes are lowercase hex; the nested
//! parts of a listing (`location`, `area`, `availability`, `terms`,
//! `contact`) have their protocol field names. Optional fields that are
//! absent are left out of the JSON, except where the wire says `null`
//! (`next_cursor`, `anchor_key`, …).
//!
//! Modules by resource: [`error`] (the error body), [`listings`] (listing
//! content, publish, update, withdraw, the spreadsheet-row import),
//! [`records`] (what the replica holds: records, queries, export),
//! [`federation`] (certificates, members, hosted publishers), [`node`]
//! (health, status, peers), [`import`] (envelope import), [`web`] (staff
//! accounts of the web page), [`jsonld`] (a listing as schema.org JSON-LD),
//! [`lending`] (lending settings, requests and decisions, an offer's calendar),
//! [`client`].

pub mod client;
pub mod error;
pub mod federation;
pub mod import;
pub mod jsonld;
pub mod lending;
mod lending_client;
pub mod listings;
pub mod node;
pub mod records;
pub mod web;
mod wire;

pub use client::{Client, ClientError};
pub use error::{ErrorBody, Refusal};
pub use federation::{
    HostedPublisher, IssueRequest, Member, Members, PublishersReloaded, RevokeRequest,
};
pub use import::{ImportError, ImportReport, ImportRequest};
pub use jsonld::ListingJsonLd;
pub use lending::{
    AcceptRequest, Booking, BusyPeriod, CalendarQuery, CancelAcceptance, DayRange, DeclineRequest,
    Direction, LendingSettings, LendingWritten, LoanEventName, LoanRequest, NewLoanEvent,
    NewRequest, OfferCalendar, RequestStatus, Requests, RequestsQuery,
};
pub use listings::{
    AsPublisher, Delivery, Gossip, ImportOutcome, ImportRow, ImportedListing, ListingContent,
    PublishReport, Published, Side, Warning, WithdrawParams,
};
pub use node::{
    Health, InProgress, LastSession, NetworkStatus, Peer, Peers, PublisherStatus, Status,
    StoreCounts, SyncStatus, Tally,
};
pub use records::{
    Certificate, Export, Hit, Listing, NearCentre, NotInApi, Record, RecordsPage, RecordsQuery,
    Revocation, Withdrawal,
};
pub use web::{WebInvitation, WebUserRequest};

/// `N` bytes written as `2 × N` hexadecimal digits (an id, a hash), as the
/// API writes them.
pub fn parse_hex<const N: usize>(text: &str) -> Option<mutua_protocol::FixedBytes<N>> {
    wire::hex::parse(text)
}
