//! The key space and its summaries: where an item sits ([`SyncKey`], in the
//! order of its [`SyncClass`]), the prefix ranges that cut the space
//! ([`SyncRange`]), the fingerprints that summarise a range
//! ([`Fingerprint`], sent as a [`Summary`]) and what a leaf list carries of
//! each item ([`Entry`]). Kept apart from the messages because a store
//! computes these too (its bucketed prefix tree) without ever sending one.
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use super::{FANOUT, MAX_PREFIX_BITS, SPLIT_BITS};
use crate::codec::{decode_envelope, decode_payload, SignedRecord};
use crate::error::RecordError;
use crate::merge::{Rank, SlotKey};
use crate::model::{FixedBytes, Payload, RecordHash};

/// Where an item sits in the reconciliation order: the SHA-256 of its slot
/// bytes ([`slot_bytes`]), whose first two bits are replaced by its class
/// ([`SyncClass`]). Ordered bytewise.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "FixedBytes<32>", into = "FixedBytes<32>")]
pub struct SyncKey(pub [u8; 32]);

impl From<FixedBytes<32>> for SyncKey {
    fn from(bytes: FixedBytes<32>) -> Self {
        SyncKey(bytes.0)
    }
}

impl From<SyncKey> for FixedBytes<32> {
    fn from(key: SyncKey) -> Self {
        FixedBytes(key.0)
    }
}

impl fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncKey({})", crate::hex(&self.0))
    }
}

impl SyncKey {
    /// The sync key of a slot.
    pub fn of_slot(slot: &SlotKey) -> SyncKey {
        SyncKey::of_slot_bytes(&slot_bytes(slot))
    }

    /// The sync key of slot bytes as [`slot_bytes`] makes them.
    pub fn of_slot_bytes(slot: &[u8]) -> SyncKey {
        let mut key: [u8; 32] = Sha256::digest(slot).into();
        let class = match slot.first() {
            Some(&SLOT_CERTIFICATE) => SyncClass::Certificate,
            Some(&SLOT_REVOCATION) => SyncClass::Revocation,
            _ => SyncClass::Listing,
        };
        key[0] = class.key_bits() | (key[0] & class.free_bits_mask());
        SyncKey(key)
    }

    /// The class the key's first two bits name.
    pub fn class(&self) -> SyncClass {
        match self.0[0] >> 6 {
            0 => SyncClass::Certificate,
            1 => SyncClass::Revocation,
            _ => SyncClass::Listing,
        }
    }
}

const SLOT_LISTING: u8 = 0x00;
const SLOT_CERTIFICATE: u8 = 0x01;
const SLOT_REVOCATION: u8 = 0x02;
const SLOT_LENDING: u8 = 0x03;
const SLOT_REQUEST: u8 = 0x04;
const SLOT_DECISION: u8 = 0x05;
const SLOT_LOAN_EVENT: u8 = 0x06;

/// The bytes that name a slot: `0x00 || author (32) || listing id (16)` for a
/// listing slot, `0x01 || certificate hash (32)`, `0x02 || revocation hash (32)`;
/// the lending slots (in the listing class) `0x03 || author || offer id`,
/// `0x04 || borrower || request id`, `0x05 || author || offer id || borrower
/// || request id`, `0x06 || loan event hash`.
pub fn slot_bytes(slot: &SlotKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(97);
    match slot {
        SlotKey::Listing { author, id } => {
            out.push(SLOT_LISTING);
            out.extend_from_slice(author.as_bytes());
            out.extend_from_slice(&id.0);
        }
        SlotKey::Certificate(hash) => {
            out.push(SLOT_CERTIFICATE);
            out.extend_from_slice(&hash.0);
        }
        SlotKey::Revocation(hash) => {
            out.push(SLOT_REVOCATION);
            out.extend_from_slice(&hash.0);
        }
        SlotKey::Lending { author, offer } => {
            out.push(SLOT_LENDING);
            out.extend_from_slice(author.as_bytes());
            out.extend_from_slice(&offer.0);
        }
        SlotKey::Request { author, id } => {
            out.push(SLOT_REQUEST);
            out.extend_from_slice(author.as_bytes());
            out.extend_from_slice(&id.0);
        }
        SlotKey::Decision {
            author,
            offer,
            borrower,
            request,
        } => {
            out.push(SLOT_DECISION);
            out.extend_from_slice(author.as_bytes());
            out.extend_from_slice(&offer.0);
            out.extend_from_slice(borrower.as_bytes());
            out.extend_from_slice(&request.0);
        }
        SlotKey::LoanEvent(hash) => {
            out.push(SLOT_LOAN_EVENT);
            out.extend_from_slice(&hash.0);
        }
    }
    out
}

/// The three parts of the key space, reconciled one after the other so that
/// certificates arrive before the revocations and listings that depend on
/// them, and revocations before listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncClass {
    /// Keys starting with bits `00`.
    Certificate,
    /// Keys starting with bits `01`.
    Revocation,
    /// Offers, needs and withdrawals, and the lending kinds (which need the
    /// certificates of their authors first, like listings): keys starting
    /// with bit `1`.
    Listing,
}

impl SyncClass {
    pub fn of_payload(payload: &Payload) -> SyncClass {
        match payload {
            Payload::Certificate(_) => SyncClass::Certificate,
            Payload::Revocation(_) => SyncClass::Revocation,
            _ => SyncClass::Listing,
        }
    }

    fn key_bits(self) -> u8 {
        match self {
            SyncClass::Certificate => 0x00,
            SyncClass::Revocation => 0x40,
            SyncClass::Listing => 0x80,
        }
    }

    /// The bits of the first key byte the hash keeps.
    fn free_bits_mask(self) -> u8 {
        match self {
            SyncClass::Listing => 0x7f,
            _ => 0x3f,
        }
    }

    /// The class a range belongs to: the root and ranges of the
    /// certificate part count as certificates.
    pub(super) fn of_range(range: &SyncRange) -> SyncClass {
        if range.bits == 0 {
            SyncClass::Certificate
        } else {
            range.prefix.class()
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Sorts opened records for applying: certificates, then revocations, then
/// offers, needs and withdrawals, each group in its original order.
pub fn order_for_apply(records: &mut [SignedRecord]) {
    records.sort_by_key(|record| SyncClass::of_payload(record.payload()));
}

/// The keys that start with the first `bits` bits of `prefix`.
///
/// Encoded as two items of the query that names it: `bits: uint, prefix:
/// bstr`, the byte string holding exactly `ceil(bits / 8)` bytes with the
/// unused low bits zero; `bits` is a multiple of [`SPLIT_BITS`] and at most
/// [`MAX_PREFIX_BITS`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncRange {
    pub(super) bits: u16,
    pub(super) prefix: SyncKey,
}

impl fmt::Debug for SyncRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = usize::from(self.bits).div_ceil(8);
        write!(f, "{}/{}", crate::hex(&self.prefix.0[..used]), self.bits)
    }
}

impl SyncRange {
    /// The whole key space.
    pub const ROOT: SyncRange = SyncRange {
        bits: 0,
        prefix: SyncKey([0; 32]),
    };

    /// The range of keys sharing the first `bits` bits of `key`, if `bits` is
    /// a prefix length the protocol uses.
    pub fn new(key: &SyncKey, bits: u16) -> Option<SyncRange> {
        if !bits.is_multiple_of(SPLIT_BITS) || bits > MAX_PREFIX_BITS {
            return None;
        }
        let mut prefix = key.0;
        let bits_usize = usize::from(bits);
        for (i, byte) in prefix.iter_mut().enumerate() {
            let kept = bits_usize.saturating_sub(i * 8).min(8);
            *byte &= !(0xffu8.checked_shr(kept as u32).unwrap_or(0));
        }
        Some(SyncRange {
            bits,
            prefix: SyncKey(prefix),
        })
    }

    /// The prefix length, in bits.
    pub fn bits(&self) -> u16 {
        self.bits
    }

    /// The first key of the range (the prefix followed by zero bits).
    pub fn start(&self) -> SyncKey {
        self.prefix
    }

    /// The first key after the range, or `None` when the range runs to the
    /// end of the key space: the range is `[start, end)`.
    pub fn end(&self) -> Option<SyncKey> {
        if self.bits == 0 {
            return None;
        }
        let mut end = self.prefix.0;
        let last_bit = usize::from(self.bits) - 1;
        let mut index = last_bit / 8;
        let mut add = 1u8 << (7 - last_bit % 8);
        loop {
            let (sum, carry) = end[index].overflowing_add(add);
            end[index] = sum;
            if !carry {
                return Some(SyncKey(end));
            }
            if index == 0 {
                return None;
            }
            index -= 1;
            add = 1;
        }
    }

    pub fn contains(&self, key: &SyncKey) -> bool {
        SyncRange::new(key, self.bits).as_ref() == Some(self)
    }

    /// The [`FANOUT`] ranges this one splits into, in key order, or `None` at
    /// [`MAX_PREFIX_BITS`].
    pub fn children(&self) -> Option<[SyncRange; FANOUT]> {
        if self.bits >= MAX_PREFIX_BITS {
            return None;
        }
        let bit = usize::from(self.bits);
        Some(std::array::from_fn(|child| {
            let mut prefix = self.prefix.0;
            // SPLIT_BITS is 2 and `bit` even: both bits sit in one byte.
            prefix[bit / 8] |= (child as u8) << (6 - bit % 8);
            SyncRange {
                bits: self.bits + SPLIT_BITS,
                prefix: SyncKey(prefix),
            }
        }))
    }
}

impl TryFrom<(u16, ByteBuf)> for SyncRange {
    type Error = String;

    fn try_from((bits, bytes): (u16, ByteBuf)) -> Result<Self, Self::Error> {
        if !bits.is_multiple_of(SPLIT_BITS) || bits > MAX_PREFIX_BITS {
            return Err(format!(
                "a range of {bits} bits (a multiple of {SPLIT_BITS}, at most {MAX_PREFIX_BITS})"
            ));
        }
        let used = usize::from(bits).div_ceil(8);
        if bytes.len() != used {
            return Err(format!(
                "a range of {bits} bits with a {}-byte prefix (expected {used})",
                bytes.len()
            ));
        }
        let mut key = [0; 32];
        key[..used].copy_from_slice(&bytes);
        let range = SyncRange::new(&SyncKey(key), bits).ok_or("an invalid range")?;
        if range.prefix.0 != key {
            return Err(format!("a range of {bits} bits with non-zero unused bits"));
        }
        Ok(range)
    }
}

/// The summary of a set of items: their number and the sum modulo 2^256 of
/// `SHA-256(sync key || digest)` over the items, each hash and the sum read
/// as 256-bit little-endian unsigned integers. The empty set is `(0, 0)`.
/// Sums are associative and commutative, so a store keeps them per bucket and
/// adds (or subtracts) as items come and go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    pub count: u64,
    pub sum: [u8; 32],
}

impl Fingerprint {
    pub const EMPTY: Fingerprint = Fingerprint {
        count: 0,
        sum: [0; 32],
    };

    /// The fingerprint of one item.
    pub fn of_item(key: &SyncKey, digest: &RecordHash) -> Fingerprint {
        Fingerprint {
            count: 1,
            sum: item_hash(key, digest),
        }
    }

    /// What is sent for a range: the count and 16 bytes that stand for the sum.
    pub fn summary(&self) -> Summary {
        let digest = Sha256::digest(self.sum);
        Summary {
            count: self.count,
            tag: FixedBytes(digest[..16].try_into().expect("16 of 32 bytes")),
        }
    }
}

/// `SHA-256(sync key || digest)`.
pub fn item_hash(key: &SyncKey, digest: &RecordHash) -> [u8; 32] {
    Sha256::new()
        .chain_update(key.0)
        .chain_update(digest.0)
        .finalize()
        .into()
}

impl Add for Fingerprint {
    type Output = Fingerprint;

    fn add(mut self, other: Fingerprint) -> Fingerprint {
        self += other;
        self
    }
}

impl AddAssign for Fingerprint {
    fn add_assign(&mut self, other: Fingerprint) {
        self.count = self.count.wrapping_add(other.count);
        let mut carry = 0u16;
        for (a, b) in self.sum.iter_mut().zip(other.sum) {
            let total = u16::from(*a) + u16::from(b) + carry;
            *a = total as u8;
            carry = total >> 8;
        }
    }
}

impl Sub for Fingerprint {
    type Output = Fingerprint;

    // Subtracting is adding the negation, on purpose.
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn sub(self, other: Fingerprint) -> Fingerprint {
        self + other.negated()
    }
}

impl SubAssign for Fingerprint {
    fn sub_assign(&mut self, other: Fingerprint) {
        *self = *self - other;
    }
}

impl Fingerprint {
    /// The fingerprint that cancels this one when added: count and sum
    /// negated modulo 2^64 and 2^256 (two's complement: every bit inverted,
    /// plus one), so that subtraction reuses the one carry loop.
    fn negated(self) -> Fingerprint {
        let mut one = [0; 32];
        one[0] = 1;
        Fingerprint {
            count: self.count.wrapping_neg(),
            sum: self.sum.map(|byte| !byte),
        } + Fingerprint { count: 0, sum: one }
    }
}

/// A fingerprint as sent: two items of the query or split that carries it,
/// `count: uint, tag: bstr .size 16`, the tag being the first 16 bytes of
/// `SHA-256(sum)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Summary {
    pub count: u64,
    pub tag: FixedBytes<16>,
}

/// An item as listed in a message: the first 8 bytes of
/// `SHA-256(sync key || digest)`. Beside its [`SlotTag`] in an [`Entry`]:
/// two items are the same when tag, id and rank all are (`to_send`), so ids
/// only have to tell apart the records of one slot. Two different records of
/// one slot and rank with the same id happen by chance with probability
/// 2^-64, or if the slot's author ground about 2^32 records; the lists then
/// show no difference although the fingerprints did, and the initiator falls
/// back to exchanging every record of the range (`compare_ids`, and the
/// responder's `Equal` to an `Ids` query).
pub type ItemId = FixedBytes<8>;

pub fn item_id(key: &SyncKey, digest: &RecordHash) -> ItemId {
    FixedBytes(
        item_hash(key, digest)[..8]
            .try_into()
            .expect("8 of 32 bytes"),
    )
}

/// Stands for an item's slot in a listed [`Entry`]: the last 8 bytes of its
/// sync key. Those are pure hash whatever the range's prefix (at most 16
/// bytes), so two slots of one leaf range share a tag only if someone ground
/// 2^32 slot names, and only their own slots can be made to: see `to_send`.
pub type SlotTag = FixedBytes<8>;

pub fn slot_tag(key: &SyncKey) -> SlotTag {
    FixedBytes(key.0[24..].try_into().expect("8 of 32 bytes"))
}

/// What the merge compares in a slot before the hash ([`Rank`] without it):
/// sent beside each listed item (as [`SlotRank::code`]) so that, of two
/// different records in one slot, only the winner travels. Ordered like
/// [`Rank`]: version, then a withdrawal over a listing. Certificates and
/// revocations have no versions (each is its own slot) and all rank equal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRank {
    pub version: u64,
    pub withdrawal: bool,
}

impl From<Rank> for SlotRank {
    fn from(rank: Rank) -> Self {
        SlotRank {
            version: rank.version,
            withdrawal: rank.withdrawal,
        }
    }
}

impl SlotRank {
    pub fn of_record(record: &SignedRecord) -> SlotRank {
        Rank::of(record).into()
    }

    /// The rank as one number, ordered like the rank: `2 × version +
    /// withdrawal`, or `u64::MAX` from version 2^63 on (those ranks then
    /// compare equal, which only makes both records of a slot travel, as at
    /// an equivocation). One byte on the wire up to version 11.
    pub fn code(self) -> u64 {
        self.version
            .checked_mul(2)
            .and_then(|twice| twice.checked_add(u64::from(self.withdrawal)))
            .unwrap_or(u64::MAX)
    }

    /// The rank of a stored envelope, decoded without checking the
    /// signature: the store verified it before storing it, and a wrong rank
    /// only makes a session send a record for nothing or not at all.
    pub fn of_envelope(bytes: &[u8]) -> Result<SlotRank, RecordError> {
        let (_, payload, _) = decode_envelope(bytes)?;
        let payload = decode_payload(payload)?;
        Ok(Rank::of_payload(&payload, FixedBytes([0; 32])).into())
    }
}

/// An item as a leaf list carries it: its slot's tag, its id and the rank of
/// its record ([`SlotRank::code`]). A list of entries is one flat CBOR array,
/// two items per entry: `[* (bstr .size 16, uint)]`, the byte string being
/// the slot tag followed by the id (`wire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub slot: SlotTag,
    pub id: ItemId,
    pub rank: u64,
}

impl Entry {
    /// The 16 bytes an entry starts with: slot tag, then id.
    pub(super) fn key(&self) -> FixedBytes<16> {
        let mut key = [0; 16];
        key[..8].copy_from_slice(&self.slot.0);
        key[8..].copy_from_slice(&self.id.0);
        FixedBytes(key)
    }

    pub(super) fn from_key(key: FixedBytes<16>, rank: u64) -> Entry {
        Entry {
            slot: FixedBytes(key.0[..8].try_into().expect("8 of 16 bytes")),
            id: FixedBytes(key.0[8..].try_into().expect("8 of 16 bytes")),
            rank,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: u8) -> SyncKey {
        let mut k = [0x11; 32];
        k[0] = first;
        SyncKey(k)
    }

    #[test]
    fn ranges_split_into_their_children() {
        let root = SyncRange::ROOT;
        assert_eq!(root.end(), None);
        let children = root.children().unwrap();
        assert_eq!(children[2].start().0[0], 0x80);
        assert_eq!(children[2].start().0[1..], [0; 31]);
        assert_eq!(children[1].end(), Some(children[2].start()));
        assert_eq!(children[3].end(), None);
        for k in [key(0x00), key(0x7f), key(0x80), key(0xff)] {
            assert_eq!(children.iter().filter(|c| c.contains(&k)).count(), 1);
            assert!(children[usize::from(k.0[0] >> 6)].contains(&k));
        }
        let deep = SyncRange::new(&key(0xab), 10).unwrap();
        assert_eq!(deep.start().0[..2], [0xab, 0x00]);
        assert_eq!(deep.end().unwrap().0[..2], [0xab, 0x40]);
        assert!(SyncRange::new(&key(0), 3).is_none());
        assert!(SyncRange::new(&key(0), MAX_PREFIX_BITS + 2).is_none());
        assert!(SyncRange::new(&key(0), MAX_PREFIX_BITS)
            .unwrap()
            .children()
            .is_none());
    }

    #[test]
    fn fingerprints_add_and_subtract_modulo_2_256() {
        let a = Fingerprint::of_item(&key(1), &FixedBytes([1; 32]));
        let b = Fingerprint::of_item(&key(2), &FixedBytes([2; 32]));
        assert_eq!((a + b) - b, a);
        assert_eq!(a + b, b + a);
        assert_eq!((a + b).count, 2);
        let max = Fingerprint {
            count: 1,
            sum: [0xff; 32],
        };
        let one = Fingerprint {
            count: 1,
            sum: {
                let mut s = [0; 32];
                s[0] = 1;
                s
            },
        };
        assert_eq!((max + one).sum, [0; 32], "the sum wraps modulo 2^256");
        assert_eq!(Fingerprint::EMPTY - one + one, Fingerprint::EMPTY);
        assert_eq!(
            Fingerprint::EMPTY - one,
            Fingerprint {
                count: u64::MAX,
                ..max
            },
            "the borrow runs through every byte"
        );
        assert_eq!((a - b) + b, a);
    }

    #[test]
    fn sync_keys_carry_their_class_in_the_first_two_bits() {
        let hash = FixedBytes([7; 32]);
        let author = crate::fixtures::key(1).public();
        let cert = SyncKey::of_slot(&SlotKey::Certificate(hash));
        let revocation = SyncKey::of_slot(&SlotKey::Revocation(hash));
        let listing = SyncKey::of_slot(&SlotKey::Listing {
            author,
            id: FixedBytes([3; 16]),
        });
        assert_eq!(cert.class(), SyncClass::Certificate);
        assert_eq!(revocation.class(), SyncClass::Revocation);
        assert_eq!(listing.class(), SyncClass::Listing);
        assert!(cert < revocation && revocation < listing);
        let plain: [u8; 32] = Sha256::digest(slot_bytes(&SlotKey::Certificate(hash))).into();
        assert_eq!(
            cert.0[1..],
            plain[1..],
            "only the class bits differ from the hash"
        );
        assert_eq!(cert.0[0] & 0x3f, plain[0] & 0x3f);
    }
}
