//! Lending records by offer: the `o` lookup (`layout::prefix::LENDING`)
//! that `apply` writes beside every lending record, so that an offer's
//! calendar (`mutua_protocol::lending::calendar`) is computed from the few
//! records about it, and a node finds the requests for the offers of the
//! collectivities it hosts, or those they made, without a scan of the
//! replica. What queries need of a calendar is also in the search index
//! ([`OfferLending`]).

use std::collections::BTreeMap;

use mutua_protocol::lending::calendar::{calendar, Calendar};
use mutua_protocol::lending::Period;
use mutua_protocol::{ListingId, Payload, PublicKey, RecordHash, SlotKey};

use crate::error::StoreError;
use crate::layout::{self, key, prefix, slot_bytes, StoredRecord};
use crate::overlay::Reader;
use crate::Store;

/// A lending record read back (verified when it was stored).
#[derive(Clone, Debug)]
pub struct LendingRecord {
    pub hash: RecordHash,
    pub payload: Payload,
    /// The raw signed envelope.
    pub envelope: Vec<u8>,
}

impl From<StoredRecord> for LendingRecord {
    fn from(r: StoredRecord) -> Self {
        LendingRecord {
            hash: r.hash,
            payload: r.payload,
            envelope: r.envelope,
        }
    }
}

impl Store {
    /// Every stored lending record about the offer `(author, offer)`, in
    /// slot order (the calendar does not depend on the order).
    pub fn lending_records(
        &self,
        author: &PublicKey,
        offer: &ListingId,
    ) -> Result<Vec<LendingRecord>, StoreError> {
        Ok(records_about(&self.replica(), author, offer)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every stored lending record about any offer of `author`, by offer.
    pub fn lending_records_of(
        &self,
        author: &PublicKey,
    ) -> Result<BTreeMap<ListingId, Vec<LendingRecord>>, StoreError> {
        let start = key(prefix::LENDING, &[author.as_bytes()]);
        let mut out: BTreeMap<ListingId, Vec<LendingRecord>> = BTreeMap::new();
        for (offer, record) in lending_under(&self.replica(), &start, start.len() + 16)? {
            out.entry(offer).or_default().push(record.into());
        }
        Ok(out)
    }

    /// The requests `borrower` signed (their current versions).
    pub fn requests_by(&self, borrower: &PublicKey) -> Result<Vec<LendingRecord>, StoreError> {
        let slot = slot_bytes(&SlotKey::Request {
            author: *borrower,
            id: mutua_protocol::FixedBytes([0; 16]),
        });
        let start = key(prefix::RECORD, &[&slot[..33]]);
        let mut out = Vec::new();
        for entry in self.inner.tree.scan_prefix(&start) {
            let (k, v) = entry?;
            let envelope = self.inner.packing.unpack(&k, &v)?;
            out.push(StoredRecord::decode(&k, &envelope)?.into());
        }
        Ok(out)
    }
}

/// What the search index holds of an offer's calendar: its settings and
/// its busy periods, as `mutua_protocol::lending::calendar` computes them
/// from the offer's lending records (accepted loans that hold, with the
/// turnaround buffer after each), so that a query asks "free for the whole
/// of a period" of the index, paged, with the protocol's rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferLending {
    pub capacity: u32,
    pub buffer_days: u32,
    /// Maximal runs of days with the same use above zero, with that use.
    pub busy: Vec<(Period, u32)>,
}

/// The largest day a busy value holds (24 bits: the year 47,000).
const DAY_MASK: u64 = (1 << 24) - 1;

impl OfferLending {
    /// The calendar of the offer `(author, offer)` from its lending records,
    /// read through `reader` (sled, or a write batch in progress).
    pub(crate) fn read(
        reader: &impl Reader,
        author: &PublicKey,
        offer: &ListingId,
    ) -> Result<OfferLending, StoreError> {
        let records = records_about(reader, author, offer)?;
        Ok(OfferLending::of(&calendar(
            author,
            offer,
            records.iter().map(|r| (r.hash, &r.payload)),
        )))
    }

    pub fn of(calendar: &Calendar) -> OfferLending {
        OfferLending {
            capacity: calendar.settings.capacity,
            buffer_days: calendar.settings.buffer_days,
            busy: calendar.busy_periods(),
        }
    }

    /// The index's `lending` value: capacity (32 high bits) ‖ buffer days.
    pub(crate) fn settings_value(&self) -> u64 {
        (u64::from(self.capacity) << 32) | u64::from(self.buffer_days)
    }

    /// The index's `busy` values: first day (24 bits) ‖ end day (24 bits,
    /// the first day after) ‖ units used (16 bits), each clamped.
    pub(crate) fn busy_values(&self) -> impl Iterator<Item = u64> + '_ {
        self.busy.iter().map(|(p, used)| {
            (u64::from(p.start).min(DAY_MASK) << 40)
                | (u64::from(p.end).min(DAY_MASK) << 16)
                | u64::from(*used).min(0xffff)
        })
    }
}

/// Whether a loan of `quantity` over `period` fits an offer whose index
/// values are `settings` ([`OfferLending::settings_value`]) and `busy`
/// ([`OfferLending::busy_values`]): the protocol's
/// `Calendar::fits` (the period and its buffer leave `quantity` units free
/// on every day), computed on the busy periods (a test checks they agree).
pub(crate) fn fits_busy(
    settings: u64,
    busy: impl Iterator<Item = u64>,
    period: &Period,
    quantity: u32,
) -> bool {
    let capacity = u64::from((settings >> 32) as u32);
    let wanted = period.with_buffer(settings as u32);
    let quantity = u64::from(quantity);
    quantity <= capacity
        && busy.into_iter().all(|v| {
            let (start, end, used) = ((v >> 40) & DAY_MASK, (v >> 16) & DAY_MASK, v & 0xffff);
            let overlaps = start < u64::from(wanted.end) && u64::from(wanted.start) < end;
            !overlaps || used + quantity <= capacity
        })
}

/// Whether a listing is open for the whole of `[from, until)` (Unix
/// seconds): alive until its end, and inside its availability windows
/// taken together (any time before expiry when it gives none).
pub(crate) fn open_over(
    windows: impl Iterator<Item = (u64, u64)>,
    expires_at: u64,
    from: u64,
    until: u64,
) -> bool {
    let mut windows: Vec<(u64, u64)> = windows.collect();
    if expires_at < until {
        return false;
    }
    if windows.is_empty() {
        return true;
    }
    windows.sort_unstable();
    let mut reached = from;
    for (start, end) in windows {
        if start > reached {
            break;
        }
        reached = reached.max(end);
    }
    reached >= until
}

/// The stored lending records about the offer `(author, offer)`, through
/// `reader`.
fn records_about(
    reader: &impl Reader,
    author: &PublicKey,
    offer: &ListingId,
) -> Result<Vec<StoredRecord>, StoreError> {
    let start = key(prefix::LENDING, &[author.as_bytes(), &offer.0]);
    Ok(lending_under(reader, &start, start.len())?
        .into_iter()
        .map(|(_, record)| record)
        .collect())
}

/// The records whose `o` keys start with `start`, with the offer id each is
/// about (`offer_end`: where the offer id ends in the key).
fn lending_under(
    reader: &impl Reader,
    start: &[u8],
    offer_end: usize,
) -> Result<Vec<(ListingId, StoredRecord)>, StoreError> {
    let mut out = Vec::new();
    for k in reader.keys_with_prefix(start)? {
        let (Some(offer), Some(slot)) = (k.get(33..offer_end), k.get(offer_end..)) else {
            return Err(StoreError::corrupt(&k, "lending lookup key too short"));
        };
        if layout::parse_slot(slot).is_none() {
            return Err(StoreError::corrupt(&k, "lending lookup names no slot"));
        }
        let record_key = key(prefix::RECORD, &[slot]);
        // A lookup without its record is a damage `check` reports; the
        // calendar goes on with the records there are.
        let Some(record) = reader.record(&record_key)? else {
            tracing::warn!(key = %layout::printable_key(&k), "lending lookup without its record; run check");
            continue;
        };
        let offer = mutua_protocol::FixedBytes(offer.try_into().expect("16 bytes"));
        out.push((offer, record));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::fixtures::{self, acceptance, days, lending_terms, request};
    use mutua_protocol::lending::BookingMode;
    use mutua_protocol::{seal, Payload};
    use proptest::prelude::*;

    /// A calendar of accepted loans `(from, until, quantity)` (days after
    /// the fixtures' loan start) with `capacity` and `buffer` days.
    fn calendar_of(capacity: u32, buffer: u32, loans: &[(u32, u32, u32)]) -> Calendar {
        let owner = fixtures::key(2);
        let borrower = fixtures::key(3);
        let mut terms = lending_terms(&owner, 7, BookingMode::Auto);
        (terms.capacity, terms.buffer_days) = (capacity, buffer);
        let mut records = vec![seal(&owner, &Payload::Lending(terms)).unwrap()];
        for (i, (from, until, quantity)) in loans.iter().enumerate() {
            let mut asked = request(&borrower, i as u8, &owner, 7, days(*from, *until));
            asked.quantity = *quantity;
            let asked_record = seal(&borrower, &Payload::Request(asked.clone())).unwrap();
            let decision = acceptance(&asked, *asked_record.hash(), i as u64 + 1);
            records.push(asked_record);
            records.push(seal(&owner, &Payload::Decision(decision)).unwrap());
        }
        calendar(
            &owner.public(),
            &fixtures::listing(&owner, 7, 1).id,
            records.iter().map(|r| (*r.hash(), r.payload())),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// The index's rule is the protocol's, whatever the bookings.
        #[test]
        fn the_index_answers_as_the_protocols_calendar(
            capacity in 1u32..4,
            buffer in 0u32..3,
            loans in proptest::collection::vec((0u32..20, 1u32..6, 1u32..3), 0..6),
            asked in (0u32..25, 1u32..6, 1u32..4),
        ) {
            let loans: Vec<_> = loans.into_iter().map(|(s, d, q)| (s, s + d, q)).collect();
            let calendar = calendar_of(capacity, buffer, &loans);
            let lending = OfferLending::of(&calendar);
            let period = days(asked.0, asked.0 + asked.1);
            prop_assert_eq!(
                fits_busy(lending.settings_value(), lending.busy_values(), &period, asked.2),
                calendar.fits(&period, asked.2),
            );
        }
    }

    #[test]
    fn a_listing_is_open_over_a_period_its_windows_cover_together() {
        let day = 86_400;
        assert!(open_over([].into_iter(), 10 * day, 2 * day, 5 * day));
        assert!(
            !open_over([].into_iter(), 4 * day, 2 * day, 5 * day),
            "expires before the end"
        );
        let windows = [(3 * day, 6 * day), (day, 3 * day)];
        assert!(open_over(windows.into_iter(), 10 * day, 2 * day, 6 * day));
        assert!(!open_over(windows.into_iter(), 10 * day, 2 * day, 7 * day));
        let gap = [(day, 3 * day), (4 * day, 6 * day)];
        assert!(!open_over(gap.into_iter(), 10 * day, 2 * day, 5 * day));
    }
}
