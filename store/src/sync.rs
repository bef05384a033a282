//! What the store offers range-based set reconciliation.
//!
//! # Definitions (normative for the sync protocol)
//!
//! - The **synced set** is every stored record: certificates, revocations and,
//!   per listing slot, the winning record (offer, need or withdrawal), from
//!   when it is stored until the sweep after its `merge::forget_after` time.
//! - An item's **sync key** is `SHA-256(slot bytes)` with its first two bits
//!   replaced by the class (`00` certificates, `01` revocations, `1` listings:
//!   `mutua_protocol::sync::SyncKey`), where the slot bytes are
//!   `0x00 || author (32) || listing id (16)` for a listing slot,
//!   `0x01 || certificate hash (32)` and `0x02 || revocation hash (32)`.
//!   Hashing spreads the items of one prolific author over the whole key space.
//!   Items are ordered by sync key, bytewise.
//! - An item's **digest** is the record hash (SHA-256 of the envelope bytes) of
//!   the record stored in the slot.
//! - The **fingerprint** of a range `[start, end)` of sync keys is
//!   `(count, sum)`: the number of items in the range and the sum modulo 2^256
//!   of `SHA-256(sync key || digest)` over those items, each hash and the sum
//!   read as 256-bit little-endian unsigned integers. The empty range has
//!   `(0, 0)`.
//!
//! The store keeps the fingerprints of 4096 fixed buckets (the first 12 bits of
//! the sync key) up to date in the same atomic batch as each write, so a range
//! fingerprint is a sum of bucket fingerprints plus a scan of at most two
//! partial buckets (about 250 items each at 1M records).

use crate::layout::{key, prefix, SyncValue};
use crate::{RecordHash, SignedRecord, Store, StoreError};

/// The number of fixed fingerprint buckets: the first 12 bits of a sync key.
pub const BUCKETS: usize = 4096;

/// Where an item sits in the reconciliation order: the protocol's, so that
/// the buckets sum what reconciliation compares.
pub use mutua_protocol::sync::SyncKey;

/// The first sync key.
pub const MIN_KEY: SyncKey = SyncKey([0; 32]);

/// The bucket `key` falls in.
pub fn bucket(key: &SyncKey) -> usize {
    (usize::from(key.0[0]) << 4) | usize::from(key.0[1] >> 4)
}

/// The first key of bucket `b`.
pub fn bucket_start(b: usize) -> SyncKey {
    let mut key = [0; 32];
    key[0] = (b >> 4) as u8;
    key[1] = ((b & 0xf) << 4) as u8;
    SyncKey(key)
}

/// A half-open range `[start, end)` of sync keys; `end: None` runs to the end
/// of the key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncRange {
    pub start: SyncKey,
    pub end: Option<SyncKey>,
}

impl SyncRange {
    /// The whole key space.
    pub fn all() -> SyncRange {
        SyncRange {
            start: MIN_KEY,
            end: None,
        }
    }

    pub fn contains(&self, key: &SyncKey) -> bool {
        *key >= self.start && self.end.is_none_or(|end| *key < end)
    }
}

/// The summary of a range of items (see the module docs for the definition):
/// the protocol's, so that the buckets sum exactly what reconciliation
/// compares.
pub use mutua_protocol::sync::Fingerprint;

/// A fingerprint is stored as 8 bytes of count (big-endian) then the 32-byte
/// sum.
pub const FINGERPRINT_LEN: usize = 40;

pub fn encode_fingerprint(f: &Fingerprint) -> [u8; FINGERPRINT_LEN] {
    let mut out = [0; FINGERPRINT_LEN];
    out[..8].copy_from_slice(&f.count.to_be_bytes());
    out[8..].copy_from_slice(&f.sum);
    out
}

pub fn decode_fingerprint(bytes: &[u8]) -> Option<Fingerprint> {
    if bytes.len() != FINGERPRINT_LEN {
        return None;
    }
    Some(Fingerprint {
        count: u64::from_be_bytes(bytes[..8].try_into().ok()?),
        sum: bytes[8..].try_into().ok()?,
    })
}

impl Store {
    /// The fingerprint of a range of the synced set: whole buckets from
    /// memory, at most two partial buckets scanned.
    pub fn sync_fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, StoreError> {
        let first = bucket(&range.start);
        let end_bucket = range.end.map_or(BUCKETS, |e| bucket(&e));
        let mut total = Fingerprint::default();
        if first == end_bucket {
            return self.scan_fingerprint(range);
        }
        let mut full_from = first;
        if range.start != bucket_start(first) {
            total += self.scan_fingerprint(&SyncRange {
                start: range.start,
                // The last bucket runs to the end of the key space (there is
                // no key after it: `bucket_start(BUCKETS)` wraps to the first).
                end: (first + 1 < BUCKETS).then(|| bucket_start(first + 1)),
            })?;
            full_from = first + 1;
        }
        {
            let buckets = self.inner.buckets.read().expect("bucket lock");
            buckets[full_from..end_bucket]
                .iter()
                .for_each(|b| total += *b);
        }
        if let Some(end) = range.end {
            if end != bucket_start(end_bucket) {
                total += self.scan_fingerprint(&SyncRange {
                    start: bucket_start(end_bucket),
                    end: Some(end),
                })?;
            }
        }
        Ok(total)
    }

    fn sync_entries(
        &self,
        range: &SyncRange,
    ) -> impl Iterator<Item = Result<(SyncKey, SyncValue), StoreError>> {
        let start = key(prefix::SYNC, &[&range.start.0]);
        let iter = match range.end {
            Some(end) => self.inner.tree.range(start..key(prefix::SYNC, &[&end.0])),
            None => self.inner.tree.range(start..vec![prefix::SYNC + 1]),
        };
        iter.map(|entry| {
            let (k, v) = entry?;
            let sync_key = k
                .get(1..)
                .and_then(|s| <[u8; 32]>::try_from(s).ok())
                .ok_or_else(|| StoreError::corrupt(&k, "sync key is not 32 bytes"))?;
            Ok((SyncKey(sync_key), SyncValue::decode(&k, &v)?))
        })
    }

    fn scan_fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, StoreError> {
        let mut f = Fingerprint::default();
        for entry in self.sync_entries(range) {
            let (k, v) = entry?;
            f += Fingerprint::of_item(&k, &v.hash);
        }
        Ok(f)
    }

    /// The first `limit` items of a range, in sync-key order.
    pub fn sync_items(
        &self,
        range: &SyncRange,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, StoreError> {
        self.sync_entries(range)
            .take(limit)
            .map(|e| e.map(|(k, v)| (k, v.hash)))
            .collect()
    }

    /// The envelope bytes of the item with this sync key, as stored, without
    /// verifying them again: what sync sends (the receiver verifies).
    pub fn envelope_by_sync_key(&self, sync_key: &SyncKey) -> Result<Option<Vec<u8>>, StoreError> {
        let k = key(prefix::SYNC, &[&sync_key.0]);
        match self.inner.tree.get(&k)? {
            Some(v) => {
                let slot = SyncValue::decode(&k, &v)?.slot;
                let record_key = key(prefix::RECORD, &[&slot]);
                match self.inner.tree.get(&record_key)? {
                    Some(v) => Ok(Some(
                        self.inner.packing.unpack(&record_key, &v)?.into_owned(),
                    )),
                    None => Ok(None),
                }
            }
            None => Ok(None),
        }
    }

    /// The record of the item with this sync key.
    pub fn get_by_sync_key(&self, sync_key: &SyncKey) -> Result<Option<SignedRecord>, StoreError> {
        let k = key(prefix::SYNC, &[&sync_key.0]);
        match self.inner.tree.get(&k)? {
            Some(v) => self.read_record(&SyncValue::decode(&k, &v)?.slot),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::FixedBytes;

    #[test]
    fn add_then_remove_is_identity_in_any_order() {
        let items: Vec<Fingerprint> = (0u8..20)
            .map(|i| Fingerprint::of_item(&SyncKey([i; 32]), &FixedBytes([i.wrapping_mul(7); 32])))
            .collect();
        let mut a = Fingerprint::default();
        items.iter().for_each(|i| a += *i);
        let mut b = Fingerprint::default();
        items.iter().rev().for_each(|i| b += *i);
        assert_eq!(a, b);
        items[..10].iter().for_each(|i| a -= *i);
        let mut c = Fingerprint::default();
        items[10..].iter().for_each(|i| c += *i);
        assert_eq!(a, c);
        assert_eq!(decode_fingerprint(&encode_fingerprint(&a)), Some(a));
    }

    #[test]
    fn buckets_tile_the_key_space() {
        assert_eq!(bucket_start(0), MIN_KEY);
        for b in [1, 17, 4095] {
            assert_eq!(bucket(&bucket_start(b)), b);
            let mut last = bucket_start(b).0;
            last[0] = last[0].wrapping_sub(u8::from(last[1] == 0));
            last[1] = last[1].wrapping_sub(1) | 0x0f;
            last[2..].fill(0xff);
            assert_eq!(bucket(&SyncKey(last)), b - 1);
        }
    }
}
