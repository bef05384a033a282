//! The owner's decision, pure: what the node hosting an offer's author signs
//! for a request, from the offer, its calendar and the request
//! (PROTOCOL.md *Lending*, *The owner's decision*). The node decides the
//! requests of one offer one at a time, each against the calendar that
//! includes the decisions before it, so it never accepts two requests that
//! do not fit together.

use super::calendar::{Calendar, RequestStatus};
use super::model::*;
use super::period_expiry;
use crate::model::{FixedBytes, Listing, RecordHash, Timestamp};

/// What the owner's node knows of the offer a request names.
#[derive(Clone, Copy, Debug)]
pub enum OfferView<'a> {
    /// The slot's current record is this offer, not expired.
    Live(&'a Listing),
    /// Unknown, withdrawn, expired, or a need.
    Gone,
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sign an acceptance (auto mode, or staff accepted and the checks pass).
    Accept,
    /// Sign a refusal with this reason.
    Decline(DeclineReason),
    /// Manual mode: the checks pass; the owner's staff decide.
    AwaitStaff,
    /// The request's slot is decided already: sign nothing (a repeated
    /// request gets the decision it had).
    AlreadyDecided(RequestStatus),
}

/// The checks an owner's node makes before signing an acceptance, in this
/// order: the borrower has not cancelled; the offer is live and is the one
/// named; the version seen is the current one; the period has not begun
/// (`today` is the Europe/Paris date, the caller's clock) and the request has
/// not expired at `now`; the quantity is within the capacity; the period with
/// the buffer fits beside the accepted bookings.
pub fn check_acceptance(
    offer: OfferView<'_>,
    calendar: &Calendar,
    request: &Request,
    today: Day,
    now: Timestamp,
) -> Result<(), DeclineReason> {
    if matches!(
        calendar
            .request(&request.author, &request.id)
            .map(|s| &s.status),
        Some(RequestStatus::CancelledByBorrower)
    ) {
        return Err(DeclineReason::CancelledByBorrower);
    }
    let OfferView::Live(listing) = offer else {
        return Err(DeclineReason::NotLendable);
    };
    if listing.author != request.offer_author || listing.id != request.offer {
        return Err(DeclineReason::NotLendable);
    }
    if listing.version != request.offer_version {
        return Err(DeclineReason::OfferChanged);
    }
    if request.period.start < today || period_expiry(&request.period) <= now {
        return Err(DeclineReason::TooLate);
    }
    if request.quantity > calendar.settings.capacity {
        return Err(DeclineReason::OverCapacity);
    }
    if !calendar.fits(&request.period, request.quantity) {
        return Err(DeclineReason::Conflict);
    }
    Ok(())
}

/// What the owner's node does with a request on its own: the decision it
/// had if its slot is decided (idempotent), else a refusal if a check fails,
/// else an acceptance in `auto` mode or a wait for staff in `manual` mode.
pub fn decide(
    offer: OfferView<'_>,
    calendar: &Calendar,
    request: &Request,
    today: Day,
    now: Timestamp,
) -> Verdict {
    if let Some(state) = calendar.request(&request.author, &request.id) {
        if state.decision.is_some() {
            return Verdict::AlreadyDecided(state.status.clone());
        }
    }
    match check_acceptance(offer, calendar, request, today, now) {
        Err(reason) => Verdict::Decline(reason),
        Ok(()) if calendar.settings.mode == BookingMode::Auto => Verdict::Accept,
        Ok(()) => Verdict::AwaitStaff,
    }
}

/// The sequence number of the author's next decision on the offer: greater
/// than every one it signed, and than `now`, so that it still grows after
/// old decisions are forgotten, and, if one key runs on two nodes, the
/// decision made first wins.
pub fn next_seq(calendar: &Calendar, now: Timestamp) -> u64 {
    calendar.last_seq.saturating_add(1).max(now)
}

/// The decision record answering `request` (whose record hash is
/// `request_hash`) with `outcome`.
pub fn decision_for(
    request: &Request,
    request_hash: RecordHash,
    outcome: Outcome,
    seq: u64,
    decided_at: Timestamp,
) -> Decision {
    Decision {
        author: request.offer_author,
        offer: request.offer,
        seq,
        request: request_hash,
        borrower: request.author,
        request_id: request.id,
        request_version: request.version,
        period: request.period,
        quantity: request.quantity,
        outcome,
        decided_at,
    }
}

/// An acceptance under the convention whose SHA-256 is `terms_hash`.
pub fn accepted(terms_hash: [u8; 32]) -> Outcome {
    Outcome::Accepted(Acceptance {
        terms_hash: FixedBytes(terms_hash),
    })
}

/// A refusal with `reason`.
pub fn declined(reason: DeclineReason) -> Outcome {
    Outcome::Declined(Refusal { reason, text: None })
}
