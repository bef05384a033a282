//! Lending on this node (PROTOCOL.md *Lending*): the owner's decider
//! (`decider`), and what the control API reads about an offer's requests
//! and calendar (`view`). The rules and the calendar are the protocol's
//! (`mutua_protocol::lending`); this module adds the clock (today's date in
//! Europe/Paris), the store's lookups and the hosted keys.

pub mod decider;
pub(crate) mod view;

use mutua_protocol::lending::calendar::{calendar, Calendar, RequestState};
use mutua_protocol::lending::date::{day_from_ymd, utc_day};
use mutua_protocol::lending::decide::OfferView;
use mutua_protocol::lending::{Day, Decision, RequestId};
use mutua_protocol::{Listing, ListingId, Payload, PublicKey, RecordHash, SlotKey, Timestamp};
use mutua_store::{LendingRecord, Store, StoreError};
use sha2::{Digest, Sha256};

/// Today's date in Europe/Paris at `now`: the date lending periods are
/// written in. The zone database is built into the binary; were it to fail,
/// the UTC date (the same or one day earlier) is used, and said.
pub fn paris_today(now: Timestamp) -> Day {
    let paris = || -> Result<Day, jiff::Error> {
        let zone = jiff::tz::TimeZone::get("Europe/Paris")?;
        let date = jiff::Timestamp::from_second(i64::try_from(now).unwrap_or(i64::MAX))?
            .to_zoned(zone)
            .date();
        day_from_ymd(
            i32::from(date.year()),
            u32::try_from(date.month()).unwrap_or(0),
            u32::try_from(date.day()).unwrap_or(0),
        )
        .ok_or_else(|| jiff::Error::from_args(format_args!("{date} is before 1970")))
    };
    paris().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no Europe/Paris date; using the UTC date");
        utc_day(now)
    })
}

/// SHA-256 of a loan convention's bytes: an acceptance's `terms_hash`.
pub fn terms_hash(document: &[u8]) -> [u8; 32] {
    Sha256::digest(document).into()
}

/// What a node knows about one offer: its lending records, the calendar
/// they make, and the offer itself while it is live.
pub struct OfferBook {
    pub author: PublicKey,
    pub offer: ListingId,
    pub records: Vec<LendingRecord>,
    pub calendar: Calendar,
    /// The offer, if the listing slot holds a live offer.
    pub listing: Option<Listing>,
}

impl OfferBook {
    /// Reads the offer `(author, offer)` from the store.
    pub fn load(
        store: &Store,
        author: &PublicKey,
        offer: &ListingId,
        now: Timestamp,
    ) -> Result<OfferBook, StoreError> {
        let records = store.lending_records(author, offer)?;
        OfferBook::of(store, *author, *offer, records, now)
    }

    /// The book of the offer `(author, offer)` from its lending `records`.
    pub fn of(
        store: &Store,
        author: PublicKey,
        offer: ListingId,
        records: Vec<LendingRecord>,
        now: Timestamp,
    ) -> Result<OfferBook, StoreError> {
        let calendar = calendar(
            &author,
            &offer,
            records.iter().map(|r| (r.hash, &r.payload)),
        );
        let listing = match store.get(&SlotKey::Listing { author, id: offer })? {
            Some(record) => match record.payload() {
                Payload::Offer(l) if l.expires_at > now => Some(l.clone()),
                _ => None,
            },
            None => None,
        };
        Ok(OfferBook {
            author,
            offer,
            records,
            calendar,
            listing,
        })
    }

    /// The offer as the protocol's decision reads it.
    pub fn view(&self) -> OfferView<'_> {
        match &self.listing {
            Some(l) => OfferView::Live(l),
            None => OfferView::Gone,
        }
    }

    /// The request of slot `(borrower, id)`, if known.
    pub fn request(&self, borrower: &PublicKey, id: &RequestId) -> Option<&RequestState> {
        self.calendar.request(borrower, id)
    }

    /// A request by id alone (ids are random: one borrower's at most).
    pub fn request_by_id(&self, id: &RequestId) -> Option<&RequestState> {
        self.calendar.requests.iter().find(|s| &s.request.id == id)
    }

    /// The decision record of `hash`, if held.
    pub fn decision(&self, hash: &RecordHash) -> Option<&Decision> {
        self.records
            .iter()
            .find(|r| &r.hash == hash)
            .and_then(|r| match &r.payload {
                Payload::Decision(d) => Some(d),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::lending::date::parse_date;

    #[test]
    fn paris_is_ahead_of_utc_around_midnight() {
        // 2027-07-13 22:30 UTC is 2027-07-14 00:30 in Paris (summer time).
        let late_evening = 1_815_517_800;
        assert_eq!(utc_day(late_evening), parse_date("2027-07-13").unwrap());
        assert_eq!(paris_today(late_evening), parse_date("2027-07-14").unwrap());
        // 2027-01-10 23:30 UTC is 2027-01-11 00:30 in Paris (winter time).
        let winter = 1_799_623_800;
        assert_eq!(utc_day(winter), parse_date("2027-01-10").unwrap());
        assert_eq!(paris_today(winter), parse_date("2027-01-11").unwrap());
    }
}
