//! Lending between collectivities: the record kinds (offer settings,
//! request, decision, loan event), their rules, the calendar every node
//! derives from them, and the owner's decision (PROTOCOL.md *Lending*).
//!
//! The lending kinds travel in envelope format 2, which older nodes ignore
//! without penalising the sender, and the offer's settings are a record of
//! their own beside the listing, which is unchanged: a network can mix nodes
//! that know lending with nodes that do not.

pub mod calendar;
pub mod date;
pub mod decide;
pub mod model;
pub(crate) mod rules;

pub use model::*;

use crate::model::Timestamp;
use crate::rules::MAX_CLOCK_SKEW_SECS;

/// How long lending records are kept after the loan's period ends, in days:
/// the time to settle a damaged return.
pub const LENDING_RETENTION_DAYS: u32 = 90;
/// The latest a period may end, in days after the UTC date its request or
/// decision was made (so that every version of a slot expires within a known
/// time, and a forgotten record cannot come back).
pub const MAX_BOOKING_HORIZON_DAYS: u32 = 400;
/// The most units an offer lends at once, and a request asks for.
pub const MAX_CAPACITY: u32 = 10_000;
/// The longest turnaround buffer, in days.
pub const MAX_BUFFER_DAYS: u32 = 30;
/// Text limits: a request's purpose, a decision's text, a damage note.
pub const MAX_PURPOSE_CHARS: usize = 200;
pub const MAX_DECISION_TEXT_CHARS: usize = 500;
pub const MAX_NOTE_CHARS: usize = 1000;

/// When a record about a loan of `period` expires: the UTC midnight that
/// starts the day `period.end + LENDING_RETENTION_DAYS`.
pub fn period_expiry(period: &Period) -> Timestamp {
    date::utc_midnight(period.end.saturating_add(LENDING_RETENTION_DAYS))
}

/// When a record made at `made_at` about a period ending within the horizon
/// has surely expired, with every earlier version of its slot: the end of the
/// horizon plus the retention, plus the clock skew.
pub fn horizon_forget_after(made_at: Timestamp) -> Timestamp {
    let days = date::utc_day(made_at)
        .saturating_add(MAX_BOOKING_HORIZON_DAYS)
        .saturating_add(LENDING_RETENTION_DAYS);
    date::utc_midnight(days).saturating_add(MAX_CLOCK_SKEW_SECS)
}

/// When a loan event expires: the horizon and the retention after its date,
/// so that a cancellation outlives the acceptance it cancels.
pub fn loan_event_expiry(event: &LoanEvent) -> Timestamp {
    horizon_forget_after(event.at) - MAX_CLOCK_SKEW_SECS
}
