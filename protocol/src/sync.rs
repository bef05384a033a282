//! Anti-entropy: range-based set reconciliation of two replicas, as an
//! IO-less state machine.
//!
//! The technique is Aljoscha Meyer's "Range-Based Set Reconciliation" (as in
//! iroh-docs and negentropy): both sides summarise ranges of an ordered set by
//! fingerprints, split the ranges whose fingerprints differ, and exchange item
//! ids and then only the records one side lacks. The cost grows with the
//! difference, not with the catalogue. Leaf lists carry each item's slot tag,
//! a short id and its rank ([`Entry`], 18 bytes), so that of two different
//! records in one slot only the one the merge keeps travels (`to_send`).
//!
//! Every stored slot is one item: its [`SyncKey`] (a hash of the slot, so
//! items are spread uniformly) and its digest (the [`RecordHash`] of the
//! record stored in the slot). Ranges are key prefixes ([`SyncRange`]): a
//! range of `bits` bits splits into [`FANOUT`] children of `bits + 2` bits,
//! which a store with a bucketed prefix tree summarises cheaply.
//!
//! The initiator drives a session ([`InitiatorSession`]): it sends
//! [`Request`]s, the responder answers each with a [`Response`] from
//! [`respond`], which keeps no state between requests. Both directions
//! converge in one session: the initiator fetches what it lacks and pushes
//! what the responder lacks. Certificates, then revocations, then listings
//! are reconciled in that order ([`SyncClass`]), so that a record always
//! arrives after the membership records it depends on.
//!
//! Nothing here does I/O or reads a clock: the node moves the encoded
//! messages ([`encode_request`], [`decode_response`], ...), applies the
//! records they carry (ordered by [`order_for_apply`]) and enforces the
//! session timeout and the number of concurrent sessions. PROTOCOL.md
//! ("Synchronisation") is the normative description.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::codec::{decode_envelope, decode_payload, SignedRecord, MAX_RECORD_BYTES};
use crate::error::RecordError;
use crate::merge::{Rank, SlotKey};
use crate::model::{FixedBytes, Payload, RecordHash};

/// How many children a range splits into.
pub const FANOUT: usize = 4;
/// How many key bits a split adds to a range's prefix (`FANOUT == 1 << SPLIT_BITS`).
pub const SPLIT_BITS: u16 = 2;
/// The longest prefix a range may have. Two distinct SHA-256 keys sharing 128
/// bits never happen by chance, so the responder lists ids at this depth
/// whatever the count.
pub const MAX_PREFIX_BITS: u16 = 128;
/// A responder answers a differing range with its entries, rather than
/// splitting it, when it holds at most this many items there.
pub const LEAF_ITEMS: u64 = 8;
/// The most entries or slot tags in any one list of a message.
pub const MAX_IDS: usize = 16;
/// The most queries in a request, hence answers in a response.
pub const MAX_QUERIES: usize = 1024;
/// The most records in one message.
pub const MAX_RECORDS_PER_MESSAGE: usize = 1024;
/// The largest encoded message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// How many records an initiator asks for per request, about what fits in
/// one response for records of 2 KB.
const EXPECTED_RECORDS_PER_RESPONSE: u64 = (MAX_MESSAGE_BYTES / 2048) as u64;
/// How many items a responder reads to find the records a `Want` names.
const WANT_SCAN_ITEMS: usize = 4 * MAX_IDS;
/// Bytes of a record's CBOR header in a records list, at most (records are at
/// most [`MAX_RECORD_BYTES`], so three bytes).
const RECORD_HEADER_BYTES: usize = 3;
/// Room for the records array header growing from 0 to
/// [`MAX_RECORDS_PER_MESSAGE`] entries.
const RECORDS_ARRAY_SLACK: usize = 3;

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

/// The bytes that name a slot: `0x00 || author (32) || listing id (16)` for a
/// listing slot, `0x01 || certificate hash (32)`, `0x02 || revocation hash (32)`.
pub fn slot_bytes(slot: &SlotKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(49);
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
    /// Offers, needs and withdrawals: keys starting with bit `1`.
    Listing,
}

impl SyncClass {
    pub fn of_payload(payload: &Payload) -> SyncClass {
        match payload {
            Payload::Certificate(_) => SyncClass::Certificate,
            Payload::Revocation(_) => SyncClass::Revocation,
            Payload::Offer(_) | Payload::Need(_) | Payload::Withdrawal(_) => SyncClass::Listing,
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
    fn of_range(range: &SyncRange) -> SyncClass {
        if range.bits == 0 {
            SyncClass::Certificate
        } else {
            range.prefix.class()
        }
    }

    fn index(self) -> usize {
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
    bits: u16,
    prefix: SyncKey,
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

    fn sub(mut self, other: Fingerprint) -> Fingerprint {
        self -= other;
        self
    }
}

impl SubAssign for Fingerprint {
    fn sub_assign(&mut self, other: Fingerprint) {
        self.count = self.count.wrapping_sub(other.count);
        let mut borrow = 0i16;
        for (a, b) in self.sum.iter_mut().zip(other.sum) {
            let diff = i16::from(*a) - i16::from(b) - borrow;
            *a = diff.rem_euclid(256) as u8;
            borrow = i16::from(diff < 0);
        }
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
        Ok(match decode_payload(payload)? {
            Payload::Offer(l) | Payload::Need(l) => SlotRank {
                version: l.version,
                withdrawal: false,
            },
            Payload::Withdrawal(w) => SlotRank {
                version: w.version,
                withdrawal: true,
            },
            Payload::Certificate(_) | Payload::Revocation(_) => SlotRank::default(),
        })
    }
}

/// An item as a leaf list carries it: its slot's tag, its id and the rank of
/// its record ([`SlotRank::code`]). A list of entries is one flat CBOR array,
/// two items per entry: `[* (bstr .size 16, uint)]`, the byte string being
/// the slot tag followed by the id ([`entry_list`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub slot: SlotTag,
    pub id: ItemId,
    pub rank: u64,
}

impl Entry {
    /// The 16 bytes an entry starts with: slot tag, then id.
    fn key(&self) -> FixedBytes<16> {
        let mut key = [0; 16];
        key[..8].copy_from_slice(&self.slot.0);
        key[8..].copy_from_slice(&self.id.0);
        FixedBytes(key)
    }

    fn from_key(key: FixedBytes<16>, rank: u64) -> Entry {
        Entry {
            slot: FixedBytes(key.0[..8].try_into().expect("8 of 16 bytes")),
            id: FixedBytes(key.0[8..].try_into().expect("8 of 16 bytes")),
            rank,
        }
    }
}

/// The CBOR layout of queries and answers, written by hand so that ranges,
/// summaries and entries sit flat in their query or answer instead of each
/// in an array of its own (PROTOCOL.md, "Messages"):
///
/// ```text
/// query  = [0, bits, prefix, count, tag]      fingerprint
///        / [1, bits, prefix, entries]         ids
///        / [2, bits, prefix, tags]            want
///        / [3, bits, prefix, after / null]    fetch
/// answer = 0                                  equal (a bare integer)
///        / [1, count, tag, count, tag, ...]   split
///        / [2, entries]                       ids
///        / [3, tags, tags]                    diff
///        / [4, more, last / null]             fetched
/// entries = [key, rank, key, rank, ...]       key = slot tag || item id
/// tags    = bstr                              8-byte slot tags end to end
/// ```
mod wire {
    use std::fmt;

    use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use super::{Answer, Entry, Query, SlotTag, Summary, SyncKey, SyncRange};
    use crate::model::FixedBytes;

    const FINGERPRINT: u8 = 0;
    const IDS: u8 = 1;
    const WANT: u8 = 2;
    const FETCH: u8 = 3;

    const EQUAL: u8 = 0;
    const SPLIT: u8 = 1;
    const LISTED: u8 = 2;
    const DIFF: u8 = 3;
    const FETCHED: u8 = 4;

    /// A list of entries as one flat array `[key, rank, key, rank, ...]`.
    struct EntriesOut<'a>(&'a [Entry]);

    impl Serialize for EntriesOut<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(2 * self.0.len()))?;
            for entry in self.0 {
                seq.serialize_element(&entry.key())?;
                seq.serialize_element(&entry.rank)?;
            }
            seq.end()
        }
    }

    struct EntriesIn(Vec<Entry>);

    impl<'de> Deserialize<'de> for EntriesIn {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct EntriesVisitor;
            impl<'de> Visitor<'de> for EntriesVisitor {
                type Value = EntriesIn;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an array of (16-byte key, rank) pairs")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntriesIn, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(key) = seq.next_element::<FixedBytes<16>>()? {
                        let rank = required(&mut seq, "an entry's rank")?;
                        entries.push(Entry::from_key(key, rank));
                    }
                    Ok(EntriesIn(entries))
                }
            }
            deserializer.deserialize_seq(EntriesVisitor)
        }
    }

    /// A list of slot tags as one byte string, the tags end to end.
    struct TagsOut<'a>(&'a [SlotTag]);

    impl Serialize for TagsOut<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let bytes: Vec<u8> = self.0.iter().flat_map(|tag| tag.0).collect();
            serializer.serialize_bytes(&bytes)
        }
    }

    struct TagsIn(Vec<SlotTag>);

    impl<'de> Deserialize<'de> for TagsIn {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct TagsVisitor;
            impl Visitor<'_> for TagsVisitor {
                type Value = TagsIn;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a byte string of 8-byte slot tags")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<TagsIn, E> {
                    if !v.len().is_multiple_of(8) {
                        return Err(E::invalid_length(v.len(), &self));
                    }
                    Ok(TagsIn(
                        v.chunks_exact(8)
                            .map(|tag| FixedBytes(tag.try_into().expect("8 bytes")))
                            .collect(),
                    ))
                }
            }
            deserializer.deserialize_bytes(TagsVisitor)
        }
    }

    /// The next item of an array that must have one.
    fn required<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
        seq: &mut A,
        what: &str,
    ) -> Result<T, A::Error> {
        seq.next_element()?
            .ok_or_else(|| de::Error::custom(format!("{what} is missing")))
    }

    /// Refuses items after the last one a variant has.
    fn end<'de, A: SeqAccess<'de>>(seq: &mut A, what: &str) -> Result<(), A::Error> {
        match seq.next_element::<IgnoredAny>()? {
            Some(_) => Err(de::Error::custom(format!("{what} has too many items"))),
            None => Ok(()),
        }
    }

    fn range_parts(range: &SyncRange) -> (u16, &[u8]) {
        let used = usize::from(range.bits).div_ceil(8);
        (range.bits, &range.prefix.0[..used])
    }

    fn read_range<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<SyncRange, A::Error> {
        let bits: u16 = required(seq, "a range's bits")?;
        let prefix: ByteBuf = required(seq, "a range's prefix")?;
        SyncRange::try_from((bits, prefix)).map_err(de::Error::custom)
    }

    impl Serialize for Query {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let (bits, prefix) = range_parts(self.range());
            let len = match self {
                Query::Fingerprint(..) => 5,
                _ => 4,
            };
            let mut seq = serializer.serialize_seq(Some(len))?;
            let variant = match self {
                Query::Fingerprint(..) => FINGERPRINT,
                Query::Ids(..) => IDS,
                Query::Want(..) => WANT,
                Query::Fetch(..) => FETCH,
            };
            seq.serialize_element(&variant)?;
            seq.serialize_element(&bits)?;
            seq.serialize_element(Bytes::new(prefix))?;
            match self {
                Query::Fingerprint(_, summary) => {
                    seq.serialize_element(&summary.count)?;
                    seq.serialize_element(&summary.tag)?;
                }
                Query::Ids(_, entries) => seq.serialize_element(&EntriesOut(entries))?,
                Query::Want(_, tags) => seq.serialize_element(&TagsOut(tags))?,
                Query::Fetch(_, after) => seq.serialize_element(after)?,
            }
            seq.end()
        }
    }

    impl<'de> Deserialize<'de> for Query {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct QueryVisitor;
            impl<'de> Visitor<'de> for QueryVisitor {
                type Value = Query;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a sync query")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Query, A::Error> {
                    let variant: u8 = required(&mut seq, "a query's variant")?;
                    let range = read_range(&mut seq)?;
                    let query = match variant {
                        FINGERPRINT => Query::Fingerprint(
                            range,
                            Summary {
                                count: required(&mut seq, "a fingerprint's count")?,
                                tag: required(&mut seq, "a fingerprint's tag")?,
                            },
                        ),
                        IDS => Query::Ids(range, required::<EntriesIn, _>(&mut seq, "ids")?.0),
                        WANT => Query::Want(range, required::<TagsIn, _>(&mut seq, "tags")?.0),
                        FETCH => {
                            Query::Fetch(range, required::<Option<SyncKey>, _>(&mut seq, "after")?)
                        }
                        other => {
                            return Err(de::Error::custom(format!("unknown query variant {other}")))
                        }
                    };
                    end(&mut seq, "a query")?;
                    Ok(query)
                }
            }
            deserializer.deserialize_seq(QueryVisitor)
        }
    }

    impl Serialize for Answer {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let len = match self {
                Answer::Equal => return serializer.serialize_u8(EQUAL),
                Answer::Split(children) => 1 + 2 * children.len(),
                Answer::Ids(_) => 2,
                Answer::Diff(..) | Answer::Fetched(..) => 3,
            };
            let mut seq = serializer.serialize_seq(Some(len))?;
            match self {
                Answer::Equal => unreachable!("a bare integer"),
                Answer::Split(children) => {
                    seq.serialize_element(&SPLIT)?;
                    for summary in children {
                        seq.serialize_element(&summary.count)?;
                        seq.serialize_element(&summary.tag)?;
                    }
                }
                Answer::Ids(entries) => {
                    seq.serialize_element(&LISTED)?;
                    seq.serialize_element(&EntriesOut(entries))?;
                }
                Answer::Diff(want, unsent) => {
                    seq.serialize_element(&DIFF)?;
                    seq.serialize_element(&TagsOut(want))?;
                    seq.serialize_element(&TagsOut(unsent))?;
                }
                Answer::Fetched(more, last) => {
                    seq.serialize_element(&FETCHED)?;
                    seq.serialize_element(more)?;
                    seq.serialize_element(last)?;
                }
            }
            seq.end()
        }
    }

    impl<'de> Deserialize<'de> for Answer {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct AnswerVisitor;
            impl<'de> Visitor<'de> for AnswerVisitor {
                type Value = Answer;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a sync answer")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Answer, E> {
                    match v {
                        0 => Ok(Answer::Equal),
                        _ => Err(E::custom(format!("a bare {v} is no answer"))),
                    }
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Answer, A::Error> {
                    let variant: u8 = required(&mut seq, "an answer's variant")?;
                    let answer = match variant {
                        SPLIT => {
                            let mut children = Vec::new();
                            while let Some(count) = seq.next_element()? {
                                let tag = required(&mut seq, "a child's tag")?;
                                children.push(Summary { count, tag });
                            }
                            Answer::Split(children)
                        }
                        LISTED => Answer::Ids(required::<EntriesIn, _>(&mut seq, "ids")?.0),
                        DIFF => Answer::Diff(
                            required::<TagsIn, _>(&mut seq, "want")?.0,
                            required::<TagsIn, _>(&mut seq, "unsent")?.0,
                        ),
                        FETCHED => Answer::Fetched(
                            required(&mut seq, "more")?,
                            required(&mut seq, "last")?,
                        ),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown answer variant {other}"
                            )))
                        }
                    };
                    end(&mut seq, "an answer")?;
                    Ok(answer)
                }
            }
            deserializer.deserialize_any(AnswerVisitor)
        }
    }
}

/// Which of `mine` the other side should receive, given its entries
/// `theirs` for the same range: those it did not list (same tag, id and
/// rank), except where it holds a higher-ranked record of the same slot (it
/// sends that one instead). Equal ranks (an equivocation) go both ways and
/// the merge's hash tie-break settles them. A tag listed twice by either
/// side may name two slots, so it holds nothing back: a stale record then
/// travels, never a missing one fails to. Both sides compute this on the
/// same lists, so they agree on who sends.
fn to_send(mine: &[Entry], theirs: &[Entry]) -> Vec<usize> {
    let their_entries: HashSet<&Entry> = theirs.iter().collect();
    let (my_slots, their_slots) = (unique_slots(mine), unique_slots(theirs));
    mine.iter()
        .enumerate()
        .filter(|(_, entry)| {
            let outranked = my_slots.contains_key(&entry.slot)
                && their_slots
                    .get(&entry.slot)
                    .is_some_and(|rank| *rank > entry.rank);
            !their_entries.contains(entry) && !outranked
        })
        .map(|(index, _)| index)
        .collect()
}

/// The rank of each tag listed exactly once.
fn unique_slots(entries: &[Entry]) -> HashMap<SlotTag, u64> {
    let mut seen: HashMap<SlotTag, Option<u64>> = HashMap::new();
    for entry in entries {
        seen.entry(entry.slot)
            .and_modify(|rank| *rank = None)
            .or_insert(Some(entry.rank));
    }
    seen.into_iter()
        .filter_map(|(slot, rank)| Some((slot, rank?)))
        .collect()
}

/// What reconciliation reads from a replica. Ranges are prefix ranges; a
/// store answers them as the key interval `[range.start(), range.end())`.
pub trait SyncSource {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The fingerprint of the items in `range`.
    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, Self::Error>;

    /// Up to `limit` items of `range` whose keys are greater than `after`
    /// (all of the range when `after` is `None`), in key order.
    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, Self::Error>;

    /// The envelope bytes of the record stored under `key`, if any.
    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, Self::Error>;

    /// The rank of the record stored under `key`; the lowest rank when there
    /// is none (it went since it was listed) or it cannot be read: a low rank
    /// never stops the peer sending its own record.
    fn rank(&self, key: &SyncKey) -> Result<SlotRank, Self::Error>;
}

/// One question of a request about one range.
///
/// Encoded as a CBOR array: the variant's index, the range's bits and
/// prefix, then the variant's other fields (`wire`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// `[0, bits, prefix, count, tag]`: the initiator's fingerprint of the
    /// range; answered by `Equal`, `Split` or `Ids`.
    Fingerprint(SyncRange, Summary),
    /// `[1, bits, prefix, [key, rank, ...]]`: every item the initiator holds
    /// in the range ([`Entry`]); answered by `Diff`, by `Equal` when the
    /// lists show no difference, or by `Split` when the responder holds more
    /// than [`MAX_IDS`] items there.
    Ids(SyncRange, Vec<Entry>),
    /// `[2, bits, prefix, tags]`: the records of the responder's items with
    /// these slot tags in the range (`tags` is one byte string, the 8-byte
    /// tags end to end); answered by `Diff` with no wants. Tags rather than
    /// entries: the decision of who sends was made on the lists already.
    Want(SyncRange, Vec<SlotTag>),
    /// `[3, bits, prefix, after: bstr .size 32 / null]`: every record of the
    /// range whose key is greater than `after`; answered by `Fetched`.
    Fetch(SyncRange, Option<SyncKey>),
}

impl Query {
    pub fn range(&self) -> &SyncRange {
        match self {
            Query::Fingerprint(range, _)
            | Query::Ids(range, _)
            | Query::Want(range, _)
            | Query::Fetch(range, _) => range,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Query::Fingerprint(..) => "fingerprint",
            Query::Ids(..) => "ids",
            Query::Want(..) => "want",
            Query::Fetch(..) => "fetch",
        }
    }
}

/// The answer to the query at the same position. Encoded as a CBOR array
/// led by the variant's index, except `Equal`, the bare integer 0 (`wire`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `0`: to a `Fingerprint`, the fingerprints are equal; to an `Ids`,
    /// the two lists show no difference (whereas the fingerprints differed:
    /// see [`ItemId`]; the initiator then exchanges the whole range).
    Equal,
    /// `[1, count, tag, count, tag, ...]`: the responder's fingerprints of
    /// the range's [`FANOUT`] children, in key order.
    Split(Vec<Summary>),
    /// `[2, [key, rank, ...]]`: every item the responder holds in the range
    /// ([`Entry`]).
    Ids(Vec<Entry>),
    /// `[3, want, unsent]`, two tag strings: `want` lists the slot tags of
    /// the query's entries the responder should get (`to_send`: the
    /// initiator pushes their records); `unsent` the slot tags of the
    /// responder's items the initiator should get whose records did not fit
    /// in this response (the initiator asks again with `Want`). The others
    /// are in the response's records.
    Diff(Vec<SlotTag>, Vec<SlotTag>),
    /// `[4, more, last]`: the response's records continue the range in key
    /// order; `last` is the key of the last one sent (null if none), `more`
    /// says whether records remain after it.
    Fetched(bool, Option<SyncKey>),
}

impl Answer {
    fn name(&self) -> &'static str {
        match self {
            Answer::Equal => "equal",
            Answer::Split(_) => "split",
            Answer::Ids(_) => "ids",
            Answer::Diff(..) => "diff",
            Answer::Fetched(..) => "fetched",
        }
    }
}

/// Initiator to responder. Encoded as the CBOR map `{0: [query...], 1: [bstr...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub queries: Vec<Query>,
    /// Records the responder lacks or holds another version of: envelopes
    /// to verify and apply like any received record.
    pub push: Vec<ByteBuf>,
}

/// Responder to initiator. Encoded as the CBOR map `{0: [answer...], 1: [bstr...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// One answer per query of the request, in order.
    pub answers: Vec<Answer>,
    /// The records the answers announce, in answer order.
    pub records: Vec<ByteBuf>,
}

/// Why a sync message from a peer is refused. Every one means the peer is
/// broken or hostile: the node drops the session and cuts the peer off.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is larger than a sync message may be.
    #[error("sync message is {size} bytes, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    /// The bytes are not a sync message.
    #[error("malformed sync message: {reason}")]
    Malformed { reason: String },
    /// A list in the message is longer than the protocol allows.
    #[error("sync message has {count} {field}, over the limit of {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    /// A record in the message is larger than any valid record.
    #[error("a record in a sync message is {size} bytes, over the limit of {max}")]
    RecordTooLarge { size: usize, max: usize },
    /// A split lists the wrong number of children.
    #[error("a split answer has {count} children instead of {FANOUT}")]
    BadSplit { count: usize },
    /// A fetch cursor lies outside the range it is about.
    #[error("a fetch cursor lies outside its range {range:?}")]
    CursorOutsideRange { range: SyncRange },
    /// The response has not one answer per query.
    #[error("the response has {got} answers to {expected} queries")]
    AnswerCount { expected: usize, got: usize },
    /// An answer that cannot answer the query at its position.
    #[error("answer {index} ({answer}) does not answer a {query} query")]
    UnexpectedAnswer {
        index: usize,
        query: &'static str,
        answer: &'static str,
    },
    /// A fetch answer that goes backwards, which would loop forever.
    #[error("answer {index} moves a fetch cursor backwards")]
    CursorBackwards { index: usize },
}

/// Why a sync session (either side) stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncError<E> {
    /// The local store failed to answer.
    #[error("the local store failed during sync: {0}")]
    Source(#[source] E),
    /// The peer broke the protocol.
    #[error("the peer broke the sync protocol: {0}")]
    Peer(#[from] MessageError),
    /// The session needed more rounds than allowed; what was applied stays.
    #[error("the sync session took more than {max} rounds")]
    TooManyRounds { max: u32 },
    /// The peer's answers made more pending work than allowed.
    #[error("the sync session has more than {max} pending ranges")]
    TooMuchWork { max: usize },
}

impl<E> SyncError<E> {
    /// Whether the peer is to blame (and to be cut off).
    pub fn is_peer_fault(&self) -> bool {
        matches!(self, SyncError::Peer(_) | SyncError::TooMuchWork { .. })
    }
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), MessageError> {
    if count > max {
        return Err(MessageError::TooMany { field, count, max });
    }
    Ok(())
}

fn check_records(records: &[ByteBuf]) -> Result<(), MessageError> {
    check_count("records", records.len(), MAX_RECORDS_PER_MESSAGE)?;
    match records.iter().find(|r| r.len() > MAX_RECORD_BYTES) {
        Some(record) => Err(MessageError::RecordTooLarge {
            size: record.len(),
            max: MAX_RECORD_BYTES,
        }),
        None => Ok(()),
    }
}

impl Request {
    /// Checks every limit the protocol sets on a request.
    pub fn validate(&self) -> Result<(), MessageError> {
        check_count("queries", self.queries.len(), MAX_QUERIES)?;
        check_records(&self.push)?;
        for query in &self.queries {
            match query {
                Query::Fingerprint(..) => {}
                Query::Ids(_, entries) => check_count("ids", entries.len(), MAX_IDS)?,
                Query::Want(_, slots) => check_count("slots", slots.len(), MAX_IDS)?,
                Query::Fetch(range, after) => {
                    if after.is_some_and(|key| !range.contains(&key)) {
                        return Err(MessageError::CursorOutsideRange { range: *range });
                    }
                }
            }
        }
        Ok(())
    }
}

impl Response {
    /// Checks every limit the protocol sets on a response on its own (that
    /// it answers its request is checked by the session).
    pub fn validate(&self) -> Result<(), MessageError> {
        check_count("answers", self.answers.len(), MAX_QUERIES)?;
        check_records(&self.records)?;
        for answer in &self.answers {
            match answer {
                Answer::Equal | Answer::Fetched(..) => {}
                Answer::Split(children) if children.len() != FANOUT => {
                    return Err(MessageError::BadSplit {
                        count: children.len(),
                    })
                }
                Answer::Split(_) => {}
                Answer::Ids(entries) => check_count("ids", entries.len(), MAX_IDS)?,
                Answer::Diff(want, unsent) => {
                    check_count("slots", want.len(), MAX_IDS)?;
                    check_count("slots", unsent.len(), MAX_IDS)?;
                }
            }
        }
        Ok(())
    }
}

pub fn encode_request(request: &Request) -> Vec<u8> {
    encode(request)
}

pub fn encode_response(response: &Response) -> Vec<u8> {
    encode(response)
}

/// Decodes and validates a request from a peer.
pub fn decode_request(bytes: &[u8]) -> Result<Request, MessageError> {
    let request: Request = decode(bytes)?;
    request.validate()?;
    Ok(request)
}

/// Decodes and validates a response from a peer.
pub fn decode_response(bytes: &[u8]) -> Result<Response, MessageError> {
    let response: Response = decode(bytes)?;
    response.validate()?;
    Ok(response)
}

/// The one place sync messages meet serde_cbor: struct fields as integer
/// keys, enum variants as arrays led by their index.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut serializer = serde_cbor::Serializer::new(&mut out)
        .packed_format()
        .legacy_enums();
    value
        .serialize(&mut serializer)
        .expect("writing CBOR to a Vec cannot fail");
    out
}

/// The size check comes first, so decoding work and memory are bounded by
/// [`MAX_MESSAGE_BYTES`] whatever a peer claims inside the message.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    serde_cbor::from_slice(bytes).map_err(|e| MessageError::Malformed {
        reason: e.to_string(),
    })
}

/// Room left for records in a message whose other content encodes to
/// `encoded_without_records` bytes.
fn record_budget(encoded_without_records: usize) -> usize {
    MAX_MESSAGE_BYTES.saturating_sub(encoded_without_records + RECORDS_ARRAY_SLACK)
}

/// Adds `record` to `records` if it fits the byte budget and the count limit.
fn try_add_record(records: &mut Vec<ByteBuf>, budget: &mut usize, record: Vec<u8>) -> bool {
    let cost = record.len() + RECORD_HEADER_BYTES;
    if records.len() >= MAX_RECORDS_PER_MESSAGE || cost > *budget {
        return false;
    }
    *budget -= cost;
    records.push(ByteBuf::from(record));
    true
}

/// The record stored under `key`, unless it is too large to be valid: such a
/// record never fits a message, and would be announced and asked for again
/// until the session ran out of rounds.
fn sendable_record<S: SyncSource>(
    source: &S,
    key: &SyncKey,
) -> Result<Option<Vec<u8>>, SyncError<S::Error>> {
    let record = source.record(key).map_err(SyncError::Source)?;
    Ok(record.filter(|r| r.len() <= MAX_RECORD_BYTES))
}

/// The entries of `items`, in order, with their ranks read from `source`.
fn entries_of<S: SyncSource>(
    source: &S,
    items: &[(SyncKey, RecordHash)],
) -> Result<Vec<Entry>, S::Error> {
    items
        .iter()
        .map(|(key, digest)| {
            Ok(Entry {
                slot: slot_tag(key),
                id: item_id(key, digest),
                rank: source.rank(key)?.code(),
            })
        })
        .collect()
}

/// Records a responder means to send with one answer.
enum Outgoing {
    None,
    /// Items the initiator should get; those that do not fit go to `unsent`.
    Items(Vec<(SlotTag, SyncKey)>),
    /// The next page of a fetch, and whether items remain after it.
    Page(Vec<SyncKey>, bool),
}

/// Answers a request from the responder's replica. Keeps no state: each
/// request stands alone. The node applies `request.push` (ordered with
/// [`order_for_apply`]) like records received by gossip.
pub fn respond<S: SyncSource>(
    request: &Request,
    source: &S,
) -> Result<Response, SyncError<S::Error>> {
    request.validate()?;
    let mut answers = Vec::with_capacity(request.queries.len());
    let mut outgoing = Vec::with_capacity(request.queries.len());
    for query in &request.queries {
        let (answer, out) = answer_query(query, source).map_err(SyncError::Source)?;
        answers.push(answer);
        outgoing.push(out);
    }
    // Size the answers as if no record fitted (every candidate unsent, every
    // page unfinished): what remains is a budget records can never overrun.
    for (answer, out) in answers.iter_mut().zip(&outgoing) {
        match (answer, out) {
            (Answer::Diff(_, unsent), Outgoing::Items(items)) => {
                unsent.extend(items.iter().map(|(slot, _)| *slot))
            }
            (Answer::Fetched(more, last), Outgoing::Page(..)) => {
                *more = true;
                *last = Some(SyncKey([0xff; 32]));
            }
            _ => {}
        }
    }
    let mut response = Response {
        answers,
        records: Vec::new(),
    };
    let mut budget = record_budget(encode(&response).len());
    for (answer, out) in response.answers.iter_mut().zip(outgoing) {
        match (answer, out) {
            (Answer::Diff(_, unsent), Outgoing::Items(items)) => {
                unsent.clear();
                for (slot, key) in items {
                    let Some(record) = sendable_record(source, &key)? else {
                        continue;
                    };
                    if !try_add_record(&mut response.records, &mut budget, record) {
                        unsent.push(slot);
                    }
                }
            }
            (Answer::Fetched(more, last), Outgoing::Page(keys, page_more)) => {
                *last = None;
                *more = page_more;
                for key in keys {
                    let Some(record) = sendable_record(source, &key)? else {
                        continue;
                    };
                    if !try_add_record(&mut response.records, &mut budget, record) {
                        *more = true;
                        break;
                    }
                    *last = Some(key);
                }
            }
            _ => {}
        }
    }
    Ok(response)
}

fn answer_query<S: SyncSource>(query: &Query, source: &S) -> Result<(Answer, Outgoing), S::Error> {
    Ok(match query {
        Query::Fingerprint(range, theirs) => {
            let mine = source.fingerprint(range)?;
            if mine.summary() == *theirs {
                (Answer::Equal, Outgoing::None)
            } else if mine.count <= LEAF_ITEMS || range.bits >= MAX_PREFIX_BITS {
                let items = source.items(range, None, MAX_IDS)?;
                (Answer::Ids(entries_of(source, &items)?), Outgoing::None)
            } else {
                (split(range, source)?, Outgoing::None)
            }
        }
        Query::Ids(range, theirs) => {
            let items = source.items(range, None, MAX_IDS + 1)?;
            if items.len() > MAX_IDS && range.bits < MAX_PREFIX_BITS {
                // The responder holds more than the initiator expected: the
                // initiator splits the range further.
                return Ok((split(range, source)?, Outgoing::None));
            }
            let mine = entries_of(source, &items)?;
            let want: Vec<SlotTag> = to_send(theirs, &mine)
                .into_iter()
                .map(|i| theirs[i].slot)
                .collect();
            let lacking: Vec<(SlotTag, SyncKey)> = to_send(&mine, theirs)
                .into_iter()
                .map(|i| (mine[i].slot, items[i].0))
                .collect();
            if want.is_empty() && lacking.is_empty() {
                // The initiator lists a range only where the fingerprints
                // differ: entries that coincide are the initiator's cue to
                // exchange the whole range.
                return Ok((Answer::Equal, Outgoing::None));
            }
            (Answer::Diff(want, Vec::new()), Outgoing::Items(lacking))
        }
        Query::Want(range, wanted) => {
            let wanted: HashSet<&SlotTag> = wanted.iter().collect();
            let found = source
                .items(range, None, WANT_SCAN_ITEMS)?
                .into_iter()
                .map(|(key, _)| (slot_tag(&key), key))
                .filter(|(slot, _)| wanted.contains(slot))
                .collect();
            (Answer::Diff(Vec::new(), Vec::new()), Outgoing::Items(found))
        }
        Query::Fetch(range, after) => {
            let mut keys: Vec<SyncKey> = source
                .items(range, after.as_ref(), MAX_RECORDS_PER_MESSAGE + 1)?
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            let more = keys.len() > MAX_RECORDS_PER_MESSAGE;
            keys.truncate(MAX_RECORDS_PER_MESSAGE);
            (Answer::Fetched(more, None), Outgoing::Page(keys, more))
        }
    })
}

fn split<S: SyncSource>(range: &SyncRange, source: &S) -> Result<Answer, S::Error> {
    let children = range
        .children()
        .expect("callers split only above the maximum depth");
    let summaries = children
        .iter()
        .map(|child| source.fingerprint(child).map(|fp| fp.summary()))
        .collect::<Result<_, _>>()?;
    Ok(Answer::Split(summaries))
}

/// Local bounds on an initiator's session (the protocol's own limits are the
/// constants of this module). The node adds a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// The most requests in one session.
    pub max_rounds: u32,
    /// The most queries and pushes waiting to be sent.
    pub max_pending: usize,
}

impl Default for SessionLimits {
    /// 4,096 rounds move at least 2 GiB of records, more than a 1M-record
    /// replica; a million pending ranges is about 100 MiB, reached only if a
    /// peer lies about its fingerprints.
    fn default() -> Self {
        SessionLimits {
            max_rounds: 4096,
            max_pending: 1 << 20,
        }
    }
}

/// What a finished session did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Requests sent (round trips).
    pub rounds: u32,
    /// Queries sent over all requests.
    pub queries: u64,
    /// Records received from the responder.
    pub received: u64,
    /// Records pushed to the responder.
    pub pushed: u64,
}

/// What the initiator does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this request; hand its response to
    /// [`InitiatorSession::handle_response`].
    Send(Request),
    /// Both replicas hold the same set (as of the start of the session).
    Done(Outcome),
}

/// A query waiting to be sent or answered, with the keys of the entries an
/// `Ids` query lists (to find what to push when the responder wants them).
struct Pending {
    query: Query,
    keys: Vec<SyncKey>,
    /// How many records the answer may bring.
    expect: u64,
}

impl Pending {
    fn of(query: Query) -> Pending {
        let expect = match &query {
            Query::Want(_, slots) => slots.len() as u64,
            _ => 0,
        };
        Pending {
            query,
            keys: Vec::new(),
            expect,
        }
    }
}

/// Records the initiator must push.
enum Push {
    Key(SyncKey),
    /// Every item of the range after the cursor (the responder has none).
    Range(SyncRange, Option<SyncKey>),
}

/// The initiator's side of a session: owns every piece of state of the
/// exchange; the responder keeps none.
///
/// The node sends each [`Request`], applies the records of the
/// [`Response`] (ordered with [`order_for_apply`]) before sending the next
/// request, and gives up after its session timeout.
pub struct InitiatorSession {
    limits: SessionLimits,
    /// Per [`SyncClass`]: queries not yet sent.
    queries: [VecDeque<Pending>; 3],
    /// Per [`SyncClass`]: records not yet pushed.
    pushes: [VecDeque<Push>; 3],
    in_flight: Vec<Pending>,
    outcome: Outcome,
}

impl InitiatorSession {
    /// Starts a session: the first request compares the whole key space.
    pub fn start<S: SyncSource>(
        limits: SessionLimits,
        source: &S,
    ) -> Result<(InitiatorSession, Request), SyncError<S::Error>> {
        let mut session = InitiatorSession {
            limits,
            queries: Default::default(),
            pushes: Default::default(),
            in_flight: Vec::new(),
            outcome: Outcome::default(),
        };
        let root = source
            .fingerprint(&SyncRange::ROOT)
            .map_err(SyncError::Source)?;
        let query = if root.count == 0 {
            Query::Fetch(SyncRange::ROOT, None)
        } else {
            Query::Fingerprint(SyncRange::ROOT, root.summary())
        };
        session.queue(Pending::of(query))?;
        match session.next_request(source)? {
            Step::Send(request) => Ok((session, request)),
            Step::Done(_) => unreachable!("a query was just queued"),
        }
    }

    /// What the session has done so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Takes the response to the last request and says what to do next.
    pub fn handle_response<S: SyncSource>(
        &mut self,
        response: &Response,
        source: &S,
    ) -> Result<Step, SyncError<S::Error>> {
        response.validate()?;
        let in_flight = std::mem::take(&mut self.in_flight);
        if response.answers.len() != in_flight.len() {
            return Err(MessageError::AnswerCount {
                expected: in_flight.len(),
                got: response.answers.len(),
            }
            .into());
        }
        self.outcome.received += response.records.len() as u64;
        for (index, (pending, answer)) in in_flight.into_iter().zip(&response.answers).enumerate() {
            self.handle_answer(index, pending, answer, source)?;
        }
        self.next_request(source)
    }

    fn handle_answer<S: SyncSource>(
        &mut self,
        index: usize,
        pending: Pending,
        answer: &Answer,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        let unexpected = || MessageError::UnexpectedAnswer {
            index,
            query: pending.query.name(),
            answer: answer.name(),
        };
        match (&pending.query, answer) {
            (Query::Fingerprint(..), Answer::Equal) => {}
            (Query::Ids(range, _), Answer::Equal) => self.exchange_range(range)?,
            (Query::Fingerprint(range, _) | Query::Ids(range, _), Answer::Split(theirs)) => {
                let children = range.children().ok_or_else(unexpected)?;
                for (child, theirs) in children.iter().zip(theirs) {
                    let mine = source.fingerprint(child).map_err(SyncError::Source)?;
                    if mine.summary() != *theirs {
                        self.reconcile(child, &mine, theirs, source)?;
                    }
                }
            }
            (Query::Fingerprint(range, _), Answer::Ids(theirs)) => {
                self.compare_ids(range, theirs, source)?
            }
            (Query::Ids(range, _), Answer::Diff(want, unsent)) => {
                let Query::Ids(_, entries) = &pending.query else {
                    unreachable!("matched as an ids query")
                };
                let want: HashSet<&SlotTag> = want.iter().collect();
                for (entry, key) in entries.iter().zip(&pending.keys) {
                    if want.contains(&entry.slot) {
                        self.queue_push(Push::Key(*key))?;
                    }
                }
                if !unsent.is_empty() {
                    self.queue(Pending::of(Query::Want(*range, unsent.clone())))?;
                }
            }
            (Query::Want(range, _), Answer::Diff(want, unsent)) if want.is_empty() => {
                if !unsent.is_empty() {
                    self.queue(Pending::of(Query::Want(*range, unsent.clone())))?;
                }
            }
            (Query::Fetch(range, after), Answer::Fetched(more, last)) => {
                if let Some(last) = last {
                    if !range.contains(last) {
                        return Err(MessageError::CursorOutsideRange { range: *range }.into());
                    }
                    if after.is_some_and(|after| *last <= after) {
                        return Err(MessageError::CursorBackwards { index }.into());
                    }
                }
                if *more {
                    self.queue(Pending::of(Query::Fetch(*range, last.or(*after))))?;
                }
            }
            _ => return Err(unexpected().into()),
        }
        Ok(())
    }

    /// Decides how to reconcile a range whose fingerprints differ, knowing
    /// both sides' summaries.
    fn reconcile<S: SyncSource>(
        &mut self,
        range: &SyncRange,
        mine: &Fingerprint,
        theirs: &Summary,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        if theirs.count == 0 {
            return self.queue_push(Push::Range(*range, None));
        }
        if mine.count == 0 {
            return self.queue(Pending::of(Query::Fetch(*range, None)));
        }
        if theirs.count <= LEAF_ITEMS && mine.count <= MAX_IDS as u64 {
            let items = source
                .items(range, None, MAX_IDS + 1)
                .map_err(SyncError::Source)?;
            if items.len() <= MAX_IDS {
                let keys = items.iter().map(|(key, _)| *key).collect();
                let entries = entries_of(source, &items).map_err(SyncError::Source)?;
                return self.queue(Pending {
                    query: Query::Ids(*range, entries),
                    keys,
                    expect: theirs.count,
                });
            }
        }
        self.descend(range, source)
    }

    /// Queues a query for each child of `range`: a fetch where this side has
    /// nothing, a fingerprint elsewhere. At the maximum depth, asks for the
    /// responder's ids instead.
    fn descend<S: SyncSource>(
        &mut self,
        range: &SyncRange,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        let Some(children) = range.children() else {
            let mine = source.fingerprint(range).map_err(SyncError::Source)?;
            return self.queue(Pending::of(Query::Fingerprint(*range, mine.summary())));
        };
        for child in children {
            let mine = source.fingerprint(&child).map_err(SyncError::Source)?;
            let query = if mine.count == 0 {
                Query::Fetch(child, None)
            } else {
                Query::Fingerprint(child, mine.summary())
            };
            self.queue(Pending::of(query))?;
        }
        Ok(())
    }

    /// The responder listed its entries in `range`: push what it should get,
    /// want what this side should get (`to_send`).
    fn compare_ids<S: SyncSource>(
        &mut self,
        range: &SyncRange,
        theirs: &[Entry],
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        if theirs.is_empty() {
            return self.queue_push(Push::Range(*range, None));
        }
        let items = source
            .items(range, None, MAX_IDS + 1)
            .map_err(SyncError::Source)?;
        if items.len() > MAX_IDS && range.bits < MAX_PREFIX_BITS {
            // Too many here to match one by one: split, most children will
            // hold nothing on the responder's side.
            return self.descend(range, source);
        }
        let mine = entries_of(source, &items).map_err(SyncError::Source)?;
        let pushes = to_send(&mine, theirs);
        let lacking: Vec<SlotTag> = to_send(theirs, &mine)
            .into_iter()
            .map(|index| theirs[index].slot)
            .collect();
        if pushes.is_empty() && lacking.is_empty() {
            // The responder listed its items because the fingerprints
            // differ, yet the lists show no difference.
            return self.exchange_range(range);
        }
        for index in pushes {
            self.queue_push(Push::Key(items[index].0))?;
        }
        if !lacking.is_empty() {
            self.queue(Pending::of(Query::Want(*range, lacking)))?;
        }
        Ok(())
    }

    /// The fingerprints of `range` differ but both sides' lists of it show
    /// no difference: two records of one slot whose entries coincide (see
    /// [`ItemId`]), or a store that changed during the session. Pushes every
    /// record of the range and fetches every one of the responder's (at most
    /// [`MAX_IDS`] each way, one more round trip): the merge settles the
    /// slot on both sides.
    fn exchange_range<E>(&mut self, range: &SyncRange) -> Result<(), SyncError<E>> {
        self.queue_push(Push::Range(*range, None))?;
        self.queue(Pending::of(Query::Fetch(*range, None)))
    }

    fn pending_len(&self) -> usize {
        self.queries.iter().map(VecDeque::len).sum::<usize>()
            + self.pushes.iter().map(VecDeque::len).sum::<usize>()
    }

    fn check_pending<E>(&self) -> Result<(), SyncError<E>> {
        if self.pending_len() >= self.limits.max_pending {
            return Err(SyncError::TooMuchWork {
                max: self.limits.max_pending,
            });
        }
        Ok(())
    }

    fn queue<E>(&mut self, pending: Pending) -> Result<(), SyncError<E>> {
        self.check_pending()?;
        let class = SyncClass::of_range(pending.query.range()).index();
        self.queries[class].push_back(pending);
        Ok(())
    }

    fn queue_push<E>(&mut self, push: Push) -> Result<(), SyncError<E>> {
        self.check_pending()?;
        let class = match &push {
            Push::Key(key) => key.class(),
            Push::Range(range, _) => SyncClass::of_range(range),
        };
        self.pushes[class.index()].push_back(push);
        Ok(())
    }

    /// Builds the next request from the first class with work left, so that
    /// no listing moves before every certificate and revocation has.
    fn next_request<S: SyncSource>(&mut self, source: &S) -> Result<Step, SyncError<S::Error>> {
        let Some(class) =
            (0..3).find(|&c| !self.queries[c].is_empty() || !self.pushes[c].is_empty())
        else {
            return Ok(Step::Done(self.outcome));
        };
        if self.outcome.rounds >= self.limits.max_rounds {
            return Err(SyncError::TooManyRounds {
                max: self.limits.max_rounds,
            });
        }
        // Ask for about as many records as one response carries: records
        // that do not fit come back as ids to ask for again, which costs
        // bytes and a round trip.
        let mut expected = 0;
        while self.in_flight.len() < MAX_QUERIES {
            let Some(next) = self.queries[class].front() else {
                break;
            };
            expected += next.expect;
            if expected > EXPECTED_RECORDS_PER_RESPONSE && !self.in_flight.is_empty() {
                break;
            }
            self.in_flight.extend(self.queries[class].pop_front());
        }
        let mut request = Request {
            queries: self.in_flight.iter().map(|p| p.query.clone()).collect(),
            push: Vec::new(),
        };
        let mut budget = record_budget(encode(&request).len());
        self.fill_pushes(class, &mut request.push, &mut budget, source)?;
        self.outcome.rounds += 1;
        self.outcome.queries += request.queries.len() as u64;
        self.outcome.pushed += request.push.len() as u64;
        Ok(Step::Send(request))
    }

    fn fill_pushes<S: SyncSource>(
        &mut self,
        class: usize,
        records: &mut Vec<ByteBuf>,
        budget: &mut usize,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        while let Some(push) = self.pushes[class].pop_front() {
            match push {
                Push::Key(key) => {
                    let Some(record) = sendable_record(source, &key)? else {
                        continue;
                    };
                    if !try_add_record(records, budget, record) {
                        self.pushes[class].push_front(Push::Key(key));
                        return Ok(());
                    }
                }
                Push::Range(range, after) => {
                    let room = MAX_RECORDS_PER_MESSAGE - records.len();
                    let page = source
                        .items(&range, after.as_ref(), room)
                        .map_err(SyncError::Source)?;
                    let mut cursor = after;
                    for (key, _) in &page {
                        let Some(record) = sendable_record(source, key)? else {
                            cursor = Some(*key);
                            continue;
                        };
                        if !try_add_record(records, budget, record) {
                            self.pushes[class].push_front(Push::Range(range, cursor));
                            return Ok(());
                        }
                        cursor = Some(*key);
                    }
                    if page.len() == room {
                        // The page filled the message: continue next round.
                        self.pushes[class].push_front(Push::Range(range, cursor));
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

/// An in-memory replica for tests and benchmarks of reconciliation: the test
/// double of the store. Fingerprints come from prefix sums over the sorted
/// items, rebuilt after a change.
#[cfg(any(test, feature = "fixtures"))]
pub mod memory {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::convert::Infallible;
    use std::ops::Bound;
    use std::sync::Arc;

    use super::{Fingerprint, SlotRank, SyncKey, SyncRange, SyncSource};
    use crate::model::RecordHash;

    #[derive(Clone, Default)]
    pub struct MemorySource {
        /// Each item's digest, record and fingerprint (hashed once, at insertion).
        items: BTreeMap<SyncKey, (RecordHash, Arc<[u8]>, Fingerprint)>,
        /// Each item's rank, given rather than decoded: benchmarks store
        /// synthetic records.
        ranks: BTreeMap<SyncKey, SlotRank>,
        /// Sorted keys and the fingerprints of every prefix of them.
        index: RefCell<Option<(Vec<SyncKey>, Vec<Fingerprint>)>>,
    }

    impl MemorySource {
        pub fn new() -> Self {
            Self::default()
        }

        /// Stores an item, replacing what the key held.
        pub fn insert(
            &mut self,
            key: SyncKey,
            digest: RecordHash,
            rank: SlotRank,
            record: Arc<[u8]>,
        ) {
            let fingerprint = Fingerprint::of_item(&key, &digest);
            self.items.insert(key, (digest, record, fingerprint));
            self.ranks.insert(key, rank);
            self.index.replace(None);
        }

        pub fn remove(&mut self, key: &SyncKey) {
            self.items.remove(key);
            self.ranks.remove(key);
            self.index.replace(None);
        }

        pub fn get(&self, key: &SyncKey) -> Option<(&RecordHash, &Arc<[u8]>)> {
            self.items
                .get(key)
                .map(|(digest, record, _)| (digest, record))
        }

        pub fn len(&self) -> usize {
            self.items.len()
        }

        pub fn is_empty(&self) -> bool {
            self.items.is_empty()
        }

        /// Every (key, digest), in key order.
        pub fn digests(&self) -> Vec<(SyncKey, RecordHash)> {
            self.items.iter().map(|(k, (d, ..))| (*k, *d)).collect()
        }

        fn position(keys: &[SyncKey], bound: Option<SyncKey>) -> usize {
            bound.map_or(keys.len(), |b| keys.partition_point(|k| *k < b))
        }
    }

    impl SyncSource for MemorySource {
        type Error = Infallible;

        fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, Infallible> {
            let mut index = self.index.borrow_mut();
            let (keys, sums) = index.get_or_insert_with(|| {
                let mut sums = Vec::with_capacity(self.items.len() + 1);
                let mut acc = Fingerprint::EMPTY;
                sums.push(acc);
                for (_, _, fingerprint) in self.items.values() {
                    acc += *fingerprint;
                    sums.push(acc);
                }
                (self.items.keys().copied().collect(), sums)
            });
            let start = Self::position(keys, Some(range.start()));
            let end = Self::position(keys, range.end());
            Ok(sums[end] - sums[start])
        }

        fn items(
            &self,
            range: &SyncRange,
            after: Option<&SyncKey>,
            limit: usize,
        ) -> Result<Vec<(SyncKey, RecordHash)>, Infallible> {
            let lower = match after {
                Some(after) if *after >= range.start() => Bound::Excluded(*after),
                _ => Bound::Included(range.start()),
            };
            let upper = range.end().map_or(Bound::Unbounded, Bound::Excluded);
            Ok(self
                .items
                .range((lower, upper))
                .take(limit)
                .map(|(k, (d, ..))| (*k, *d))
                .collect())
        }

        fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, Infallible> {
            Ok(self.items.get(key).map(|(_, bytes, _)| bytes.to_vec()))
        }

        fn rank(&self, key: &SyncKey) -> Result<SlotRank, Infallible> {
            Ok(self.ranks.get(key).copied().unwrap_or_default())
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
