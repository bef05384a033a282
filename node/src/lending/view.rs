//! The control API's view of lending (`mutua_api::lending`): periods as
//! first and last days written `YYYY-MM-DD`, a request with its status and
//! what happened to the loan, an offer's calendar.

use mutua_api::lending as api;
use mutua_protocol::lending::calendar::{Calendar, RequestState, RequestStatus};
use mutua_protocol::lending::date::{format_date, parse_date};
use mutua_protocol::lending::{Day, Outcome, Period};

use super::OfferBook;

/// The last day of a period, included.
fn last_day(period: &Period) -> String {
    format_date(period.end.saturating_sub(1).max(period.start))
}

/// `period` as first and last days.
pub fn day_range(period: &Period) -> api::DayRange {
    api::DayRange {
        first_day: format_date(period.start),
        last_day: last_day(period),
    }
}

/// A date the user wrote, or what is wrong with it (the field named).
pub fn parse_day(text: &str, field: &str) -> Result<Day, (String, String)> {
    parse_date(text.trim()).ok_or_else(|| {
        (
            field.to_owned(),
            format!("{text:?} is not a date: write it YYYY-MM-DD, e.g. 2027-03-10 (from 1970 on)"),
        )
    })
}

/// The period from `first` to `last`, both included.
pub fn parse_period(first: &str, last: &str) -> Result<Period, (String, String)> {
    let start = parse_day(first, "first_day")?;
    let end = parse_day(last, "last_day")?;
    if end < start {
        return Err((
            "last_day".into(),
            format!("the last day ({last}) is before the first day ({first})"),
        ));
    }
    Ok(Period {
        start,
        end: end + 1,
    })
}

/// A request as the API shows it.
pub fn loan_request(
    book: &OfferBook,
    state: &RequestState,
    direction: api::Direction,
    borrower_name: Option<String>,
) -> api::LoanRequest {
    let r = &state.request;
    let (status, reason) = match &state.status {
        RequestStatus::Pending => (api::RequestStatus::Pending, None),
        RequestStatus::Accepted { .. } => (api::RequestStatus::Accepted, None),
        RequestStatus::Declined { reason, .. } => (api::RequestStatus::Declined, Some(*reason)),
        RequestStatus::CancelledByOwner { .. } => (api::RequestStatus::CancelledByOwner, None),
        RequestStatus::CancelledByBorrower => (api::RequestStatus::CancelledByBorrower, None),
        RequestStatus::Overruled { .. } => (api::RequestStatus::Overruled, None),
    };
    let decision = state.decision.as_ref().and_then(|h| book.decision(h));
    let (reason_text, terms_hash) = match decision.map(|d| &d.outcome) {
        Some(Outcome::Accepted(a)) => (None, Some(a.terms_hash.to_hex())),
        Some(Outcome::Declined(d)) => (d.text.clone(), None),
        Some(Outcome::Cancelled(c)) => (c.text.clone(), None),
        None => (None, None),
    };
    let booking = book
        .calendar
        .bookings
        .iter()
        .find(|b| b.borrower == r.author && b.request_id == r.id);
    api::LoanRequest {
        id: r.id,
        version: r.version,
        direction,
        borrower: r.author,
        borrower_name,
        offer_author: r.offer_author,
        offer: r.offer,
        offer_title: book.listing.as_ref().map(|l| l.title.clone()),
        offer_version: r.offer_version,
        first_day: format_date(r.period.start),
        last_day: last_day(&r.period),
        quantity: r.quantity,
        purpose: r.purpose.clone(),
        contact: r.contact.clone(),
        created_at: r.created_at,
        hash: state.hash,
        status,
        reason,
        reason_text,
        decision: state.decision.map(|h| h.to_hex()),
        decided_at: decision.map(|d| d.decided_at),
        terms_hash,
        handed_over: booking.is_some_and(|b| b.handed_over),
        returned: booking.and_then(|b| b.returned),
    }
}

/// An offer's calendar, its free windows within `window` for `quantity`.
pub fn offer_calendar(book: &OfferBook, window: &Period, quantity: u32) -> api::OfferCalendar {
    let calendar: &Calendar = &book.calendar;
    api::OfferCalendar {
        author: book.author,
        id: book.offer,
        settings: api::LendingSettings {
            mode: calendar.settings.mode,
            buffer_days: calendar.settings.buffer_days,
            capacity: calendar.settings.capacity,
        },
        bookings: calendar
            .bookings
            .iter()
            .map(|b| api::Booking {
                request_id: b.request_id,
                borrower: b.borrower,
                first_day: format_date(b.period.start),
                last_day: last_day(&b.period),
                busy_until: last_day(&b.busy),
                quantity: b.quantity,
                handed_over: b.handed_over,
                returned: b.returned,
            })
            .collect(),
        busy: calendar
            .busy_periods()
            .iter()
            .map(|(p, used)| api::BusyPeriod {
                first_day: format_date(p.start),
                last_day: last_day(p),
                used: *used,
            })
            .collect(),
        free: calendar
            .free_windows(window, quantity)
            .iter()
            .map(day_range)
            .collect(),
        window: day_range(window),
        available: book.listing.is_some() && calendar.fits(window, quantity),
        pending: calendar
            .requests
            .iter()
            .filter(|s| s.status == RequestStatus::Pending)
            .count() as u32,
        anomalies: calendar.anomalies.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_written_with_their_last_day_included() {
        let period = parse_period("2027-07-13", "2027-07-14").unwrap();
        assert_eq!(period.days(), 2);
        let range = day_range(&period);
        assert_eq!(
            (range.first_day.as_str(), range.last_day.as_str()),
            ("2027-07-13", "2027-07-14")
        );
        let (field, message) = parse_period("2027-07-14", "2027-07-13").unwrap_err();
        assert_eq!(field, "last_day");
        assert!(message.contains("before the first day"), "{message}");
        let (field, _) = parse_period("14/07/2027", "2027-07-15").unwrap_err();
        assert_eq!(field, "first_day");
    }
}
