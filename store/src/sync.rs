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
