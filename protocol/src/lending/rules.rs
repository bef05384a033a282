//! Field and time rules of the lending kinds (PROTOCOL.md *Lending*,
//! *Validation*). The contact, key, text and version rules are the listings'.

use ed25519_dalek::VerifyingKey;

use super::model::*;
use super::{
    date, loan_event_expiry, period_expiry, MAX_BOOKING_HORIZON_DAYS, MAX_BUFFER_DAYS,
    MAX_CAPACITY, MAX_DECISION_TEXT_CHARS, MAX_NOTE_CHARS, MAX_PURPOSE_CHARS,
};
use crate::error::RecordError;
use crate::keys::PublicKey;
use crate::model::Timestamp;
use crate::rules::{
    check_contact, check_key, check_lifetime, check_text, check_version, invalid, Field,
    MAX_LIFETIME_DAYS,
};

pub(crate) fn check_terms(t: &LendingTerms) -> Result<VerifyingKey, RecordError> {
    let f = |name| Field::new("lending", name);
    let author = check_key(&t.author, f("author"))?;
    check_version(f("version"), t.version)?;
    if t.buffer_days > MAX_BUFFER_DAYS {
        return Err(invalid(
            f("buffer_days").render(),
            "out_of_range",
            format!("at most {MAX_BUFFER_DAYS} days"),
        ));
    }
    check_quantity(f("capacity"), t.capacity)?;
    check_lifetime(
        f("expires_at"),
        "published_at",
        t.published_at,
        t.expires_at,
        MAX_LIFETIME_DAYS,
    )?;
    Ok(author)
}

pub(crate) fn check_request(r: &Request) -> Result<VerifyingKey, RecordError> {
    let f = |name| Field::new("request", name);
    let author = check_key(&r.author, f("author"))?;
    check_key(&r.offer_author, f("offer_author"))?;
    check_not_own(f("offer_author"), &r.author, &r.offer_author)?;
    check_version(f("version"), r.version)?;
    check_version(f("offer_version"), r.offer_version)?;
    check_period(f("period.end"), &r.period, r.created_at)?;
    check_quantity(f("quantity"), r.quantity)?;
    check_text(f("purpose"), &r.purpose, 1, MAX_PURPOSE_CHARS, false)?;
    check_contact("request", &r.contact)?;
    Ok(author)
}

pub(crate) fn check_decision(d: &Decision) -> Result<VerifyingKey, RecordError> {
    let f = |name| Field::new("decision", name);
    let author = check_key(&d.author, f("author"))?;
    check_key(&d.borrower, f("borrower"))?;
    check_not_own(f("borrower"), &d.borrower, &d.author)?;
    if d.seq == 0 {
        return Err(invalid(
            f("seq").render(),
            "out_of_range",
            "sequence numbers start at 1",
        ));
    }
    check_version(f("request_version"), d.request_version)?;
    check_period(f("period.end"), &d.period, d.decided_at)?;
    check_quantity(f("quantity"), d.quantity)?;
    let text = match &d.outcome {
        Outcome::Accepted(_) => None,
        Outcome::Declined(r) => r.text.as_ref().map(|t| ("outcome.declined.text", t)),
        Outcome::Cancelled(c) => c.text.as_ref().map(|t| ("outcome.cancelled.text", t)),
    };
    if let Some((name, text)) = text {
        check_text(f(name), text, 1, MAX_DECISION_TEXT_CHARS, false)?;
    }
    Ok(author)
}

pub(crate) fn check_loan_event(e: &LoanEvent) -> Result<VerifyingKey, RecordError> {
    let f = |name| Field::new("loan_event", name);
    let author = check_key(&e.author, f("author"))?;
    check_key(&e.offer_author, f("offer_author"))?;
    check_key(&e.borrower, f("borrower"))?;
    check_not_own(f("borrower"), &e.borrower, &e.offer_author)?;
    let may_sign = match e.event {
        LoanEventKind::Cancelled => e.author == e.borrower,
        _ => e.author == e.borrower || e.author == e.offer_author,
    };
    if !may_sign {
        let who = match e.event {
            LoanEventKind::Cancelled => "only the borrower cancels its request",
            _ => "must be the borrower or the offer's author",
        };
        return Err(invalid(f("author").render(), "not_a_party", who));
    }
    if e.decision.is_none() && !matches!(e.event, LoanEventKind::Cancelled) {
        return Err(invalid(
            f("decision").render(),
            "required",
            "a hand-over or a return names the accepting decision",
        ));
    }
    if let LoanEventKind::Returned(r) = &e.event {
        let note = f("event.returned.note");
        match (&r.note, r.condition) {
            (Some(text), _) => check_text(note, text, 1, MAX_NOTE_CHARS, true)?,
            (None, Condition::Damaged) => {
                return Err(invalid(
                    note.render(),
                    "required",
                    "a damaged return says what is damaged",
                ))
            }
            (None, Condition::AsLent) => {}
        }
    }
    Ok(author)
}

/// The time rules of the lending kinds: `None` if `payload` is not one.
pub(crate) fn time_fields(payload: &crate::model::Payload) -> Option<[(&str, Timestamp); 2]> {
    use crate::model::Payload;
    Some(match payload {
        Payload::Lending(t) => [
            ("published_at", t.published_at),
            ("expires_at", t.expires_at),
        ],
        Payload::Request(r) => [
            ("created_at", r.created_at),
            ("period.end", period_expiry(&r.period)),
        ],
        Payload::Decision(d) => [
            ("decided_at", d.decided_at),
            ("period.end", period_expiry(&d.period)),
        ],
        Payload::LoanEvent(e) => [("at", e.at), ("at", loan_event_expiry(e))],
        _ => return None,
    })
}

/// A borrower is not the offer's author.
fn check_not_own(
    field: Field<'_>,
    borrower: &PublicKey,
    owner: &PublicKey,
) -> Result<(), RecordError> {
    if borrower == owner {
        Err(invalid(
            field.render(),
            "own_offer",
            "a collectivity does not borrow its own offer",
        ))
    } else {
        Ok(())
    }
}

fn check_quantity(field: Field<'_>, quantity: u32) -> Result<(), RecordError> {
    if quantity == 0 || quantity > MAX_CAPACITY {
        Err(invalid(
            field.render(),
            "out_of_range",
            format!("between 1 and {MAX_CAPACITY}"),
        ))
    } else {
        Ok(())
    }
}

/// A period is not empty and ends within the horizon after `made_at`'s date.
fn check_period(field: Field<'_>, period: &Period, made_at: Timestamp) -> Result<(), RecordError> {
    if period.end <= period.start {
        return Err(invalid(
            field.render(),
            "empty_window",
            "the period ends after it starts (the end is the first day after the loan)",
        ));
    }
    let made = date::utc_day(made_at);
    let ahead = period.end.saturating_sub(made);
    if ahead > MAX_BOOKING_HORIZON_DAYS {
        return Err(RecordError::ExpiryTooFar {
            field: field.render(),
            days: u64::from(ahead),
            max_days: u64::from(MAX_BOOKING_HORIZON_DAYS),
        });
    }
    Ok(())
}
