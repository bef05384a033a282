//! Lending records by offer: the `o` lookup (`layout::prefix::LENDING`)
//! that `apply` writes beside every lending record, so that an offer's
//! calendar (`mutua_protocol::lending::calendar`) is computed from the few
//! records about it, and a node finds the requests for the offers of the
//! collectivities it hosts, or those they made, without a scan of the
//! replica.

use std::collections::BTreeMap;

use mutua_protocol::{ListingId, Payload, PublicKey, RecordHash, SlotKey};

use crate::error::StoreError;
use crate::layout::{self, key, prefix, slot_bytes, StoredRecord};
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
        let start = key(prefix::LENDING, &[author.as_bytes(), &offer.0]);
        self.lending_under(&start, start.len())
            .map(|by_offer| by_offer.into_values().flatten().collect())
    }

    /// Every stored lending record about any offer of `author`, by offer.
    pub fn lending_records_of(
        &self,
        author: &PublicKey,
    ) -> Result<BTreeMap<ListingId, Vec<LendingRecord>>, StoreError> {
        let start = key(prefix::LENDING, &[author.as_bytes()]);
        self.lending_under(&start, start.len() + 16)
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
            out.push(StoredRecord::decode(&k, &v)?.into());
        }
        Ok(out)
    }

    /// The records whose `o` keys start with `start`, grouped by offer id
    /// (`offer_end`: where the offer id ends in the key).
    fn lending_under(
        &self,
        start: &[u8],
        offer_end: usize,
    ) -> Result<BTreeMap<ListingId, Vec<LendingRecord>>, StoreError> {
        let mut out: BTreeMap<ListingId, Vec<LendingRecord>> = BTreeMap::new();
        for entry in self.inner.tree.scan_prefix(start) {
            let (k, _) = entry?;
            let (Some(offer), Some(slot)) = (k.get(33..offer_end), k.get(offer_end..)) else {
                return Err(StoreError::corrupt(&k, "lending lookup key too short"));
            };
            if layout::parse_slot(slot).is_none() {
                return Err(StoreError::corrupt(&k, "lending lookup names no slot"));
            }
            let record_key = key(prefix::RECORD, &[slot]);
            // A lookup without its record is a damage `check` reports; the
            // calendar goes on with the records there are.
            let Some(envelope) = self.inner.tree.get(&record_key)? else {
                tracing::warn!(key = %layout::printable_key(&k), "lending lookup without its record; run check");
                continue;
            };
            let offer = mutua_protocol::FixedBytes(offer.try_into().expect("16 bytes"));
            out.entry(offer)
                .or_default()
                .push(StoredRecord::decode(&record_key, &envelope)?.into());
        }
        Ok(out)
    }
}
