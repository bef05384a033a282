//! The key layout of the one sled tree the store writes: what every key and
//! value is, and the derived entries a record implies.
//!
//! Every derived entry is computed here and nowhere else, so that apply,
//! check, reindex and sweep agree by construction.

use mutua_protocol::codec::{decode_envelope, decode_payload, hash_envelope};
use mutua_protocol::{
    GeoPoint, Listing, Payload, PublicKey, RecordHash, ResourceKind, SlotKey, Timestamp, Window,
};

use crate::error::StoreError;
use crate::sync::SyncKey;

/// The layout this version reads and writes. Bump it (and add a migration or
/// a refusal in `Store::open`) whenever a key or value format changes.
///
/// 2: sync keys carry their class in their first two bits (the protocol's).
/// 3: the word index skips stopwords and caps description words
///    (`text::listing_words`); expired listings may be stored unindexed.
/// 4: tag, word and area postings are packed, one value per term and block
///    of [`POSTING_BLOCK`] listing numbers (sled's cost is per key).
/// 5: a listing without a point of its own is placed at its commune's
///    reference point (geo entries and summaries, [`indexed_point`]).
pub const LAYOUT_VERSION: u32 = 5;
/// The oldest layout whose records and sync entries this version reads as
/// they are: opening it rebuilds the other derived entries with `reindex`.
pub const FIRST_REINDEXABLE_LAYOUT: u32 = 2;
/// The name of the sled tree holding everything (the default tree stays empty).
pub const TREE: &str = "mutua";

/// Key prefixes. One byte each; what follows is documented on each
/// constant.
pub mod prefix {
    /// `m name` → metadata (layout version, counters, sweep time).
    pub const META: u8 = b'm';
    /// `r slot` → the raw signed envelope: the truth.
    pub const RECORD: u8 = b'r';
    /// `s sync_key` → record hash (32) ‖ forget_after (8, BE) ‖ slot.
    pub const SYNC: u8 = b's';
    /// `b bucket (2, BE)` → fingerprint of the bucket (count 8 BE ‖ sum 32).
    pub const BUCKET: u8 = b'b';
    /// `f forget_after (8, BE) slot` → (): when the sweep deletes the record.
    pub const FORGET: u8 = b'f';
    /// `c subject (32) certificate_hash (32)` → ().
    pub const CERT_SUBJECT: u8 = b'c';
    /// `v certificate_hash (32) revocation_hash (32)` → ().
    pub const REVOKES: u8 = b'v';
    /// `l slot` → listing number (8, BE), present iff the listing is indexed.
    pub const INDEXED: u8 = b'l';
    /// `n number (8, BE)` → slot (49) ‖ summary: what a query reads per
    /// candidate posting, in one point read.
    pub const NUMBER: u8 = b'n';
    /// `x expires_at (8, BE) slot` → (): the sweep's way to expired listings.
    pub const EXPIRY: u8 = b'x';
    /// `k side kind R N` → ().
    pub const KIND: u8 = b'k';
    /// `a author (32) R N` → ().
    pub const AUTHOR: u8 = b'a';
    /// `t block (4, BE) folded_tag` → packed postings (see [`super::Chunk`]).
    pub const TAG: u8 = b't';
    /// `w block (4, BE) folded_word` → packed postings.
    pub const WORD: u8 = b'w';
    /// `z block (4, BE) area_code` → packed postings, area codes `c33063`,
    /// `e243300316`, `d33`.
    pub const AREA: u8 = b'z';
    /// `g cell (4) R N` → ().
    pub const GEO: u8 = b'g';
    /// `q original_key` → value `reindex` could not verify, kept for forensics.
    pub const QUARANTINE: u8 = b'q';
    /// `j search_seq (8, BE)` → the listing slots (49 bytes each) whose
    /// search-index state that sled batch changed; deleted once the search
    /// index covers it (`index` module).
    pub const JOURNAL: u8 = b'j';

    /// Prefixes whose values pack the postings of a term.
    pub const PACKED: [u8; 3] = [TAG, WORD, AREA];

    /// Prefixes of entries derived from the records (all but META, RECORD and
    /// QUARANTINE).
    pub const DERIVED: [u8; 14] = [
        SYNC,
        BUCKET,
        FORGET,
        CERT_SUBJECT,
        REVOKES,
        INDEXED,
        NUMBER,
        EXPIRY,
        KIND,
        AUTHOR,
        TAG,
        WORD,
        AREA,
        GEO,
    ];
}

pub mod meta {
    pub const LAYOUT: &[u8] = b"mlayout";
    /// The next listing number (u64 BE).
    pub const NEXT_NUMBER: &[u8] = b"mnext_number";
    /// Stored records per kind (6 × u64 BE: certificate, revocation, offer,
    /// need, withdrawal, lending records of every kind; a store written
    /// before lending has 5, and no lending records).
    pub const COUNTS: &[u8] = b"mcounts";
    /// Listings that expired by this time (u64 BE) may have no indexes: the
    /// latest `now` a sweep ran with, or the expiry of an already expired
    /// listing that `apply` stored without indexes, whichever is later.
    pub const SWEPT_UNTIL: &[u8] = b"mswept_until";
    /// Present while a reindex runs.
    pub const REINDEXING: &[u8] = b"mreindexing";
    /// The last search sequence (u64 BE): sled batches that changed a
    /// listing's search-index state, numbered.
    pub const SEARCH_SEQ: &[u8] = b"msearch_seq";
}

pub fn kind_index(payload: &Payload) -> usize {
    match payload {
        Payload::Certificate(_) => 0,
        Payload::Revocation(_) => 1,
        Payload::Offer(_) => 2,
        Payload::Need(_) => 3,
        Payload::Withdrawal(_) => 4,
        Payload::Lending(_)
        | Payload::Request(_)
        | Payload::Decision(_)
        | Payload::LoanEvent(_) => 5,
    }
}

/// How many kinds [`kind_index`] counts apart.
pub const KIND_COUNTS: usize = 6;

/// The slot bytes: `0x00 author id`, `0x01 certificate_hash`, `0x02 revocation_hash`
/// (the protocol's, which sync keys hash).
pub use mutua_protocol::sync::slot_bytes;

pub fn parse_slot(bytes: &[u8]) -> Option<SlotKey> {
    let (tag, rest) = bytes.split_first()?;
    let hash = || rest.try_into().ok().map(mutua_protocol::FixedBytes);
    match tag {
        0 if rest.len() == 48 => Some(SlotKey::Listing {
            author: PublicKey(rest[..32].try_into().ok()?),
            id: mutua_protocol::FixedBytes(rest[32..].try_into().ok()?),
        }),
        1 => hash().map(SlotKey::Certificate),
        2 => hash().map(SlotKey::Revocation),
        3 if rest.len() == 48 => Some(SlotKey::Lending {
            author: PublicKey(rest[..32].try_into().ok()?),
            offer: mutua_protocol::FixedBytes(rest[32..].try_into().ok()?),
        }),
        4 if rest.len() == 48 => Some(SlotKey::Request {
            author: PublicKey(rest[..32].try_into().ok()?),
            id: mutua_protocol::FixedBytes(rest[32..].try_into().ok()?),
        }),
        5 if rest.len() == 96 => Some(SlotKey::Decision {
            author: PublicKey(rest[..32].try_into().ok()?),
            offer: mutua_protocol::FixedBytes(rest[32..48].try_into().ok()?),
            borrower: PublicKey(rest[48..80].try_into().ok()?),
            request: mutua_protocol::FixedBytes(rest[80..].try_into().ok()?),
        }),
        6 => hash().map(SlotKey::LoanEvent),
        _ => None,
    }
}

pub fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    out.push(prefix);
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out
}

/// A key for messages: printable ASCII kept, the rest in hex.
pub fn printable_key(key: &[u8]) -> String {
    match key.split_first() {
        Some((p, rest)) if p.is_ascii_graphic() => {
            format!("{}:{}", *p as char, mutua_protocol::hex(rest))
        }
        _ => mutua_protocol::hex(key),
    }
}

/// A record read back from the store without re-verifying its signature
/// (it was verified before it was stored; `check` re-verifies everything).
#[derive(Clone, Debug)]
pub struct StoredRecord {
    pub envelope: Vec<u8>,
    pub payload: Payload,
    pub hash: RecordHash,
}

impl StoredRecord {
    pub fn decode(key: &[u8], envelope: &[u8]) -> Result<StoredRecord, StoreError> {
        let (_, payload_bytes, _) =
            decode_envelope(envelope).map_err(|e| StoreError::corrupt(key, e.to_string()))?;
        let payload =
            decode_payload(payload_bytes).map_err(|e| StoreError::corrupt(key, e.to_string()))?;
        Ok(StoredRecord {
            hash: hash_envelope(envelope),
            envelope: envelope.to_vec(),
            payload,
        })
    }
}

/// `R`: recency order, newest first.
pub fn recency(published_at: Timestamp) -> [u8; 8] {
    (u64::MAX - published_at).to_be_bytes()
}

/// Offer or need: the side byte of the kind index.
pub fn side_byte(payload: &Payload) -> Option<u8> {
    match payload {
        Payload::Offer(_) => Some(0),
        Payload::Need(_) => Some(1),
        _ => None,
    }
}

pub fn resource_byte(kind: ResourceKind) -> u8 {
    ResourceKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("ALL lists every kind") as u8
}

/// Where radius searches and distance sorts place a listing: its own point,
/// else its commune's reference point (derived only: the signed record
/// keeps what its author wrote).
pub fn indexed_point(l: &Listing) -> Option<GeoPoint> {
    l.location
        .point
        .or_else(|| crate::refdata::reference().position_of(&l.location.insee))
}

/// What queries read per candidate, so that filters need no envelope decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub number: u64,
    pub side: u8,
    pub kind: u8,
    pub author: PublicKey,
    pub published_at: Timestamp,
    pub expires_at: Timestamp,
    pub insee: [u8; 5],
    pub point: Option<GeoPoint>,
    pub availability: Vec<Window>,
}

impl Summary {
    pub fn of(number: u64, side: u8, l: &Listing) -> Summary {
        let mut insee = [b' '; 5];
        let code = l.location.insee.as_bytes();
        insee[..code.len().min(5)].copy_from_slice(&code[..code.len().min(5)]);
        Summary {
            number,
            side,
            kind: resource_byte(l.kind),
            author: l.author,
            published_at: l.published_at,
            expires_at: l.expires_at,
            insee,
            point: indexed_point(l),
            availability: l.availability.clone(),
        }
    }

    /// Fixed layout: number 8 ‖ side 1 ‖ kind 1 ‖ author 32 ‖ published 8 ‖
    /// expires 8 ‖ insee 5 ‖ has_point 1 ‖ lat 4 ‖ lon 4 ‖ windows (16 each).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72 + 16 * self.availability.len());
        out.extend_from_slice(&self.number.to_be_bytes());
        out.push(self.side);
        out.push(self.kind);
        out.extend_from_slice(self.author.as_bytes());
        out.extend_from_slice(&self.published_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.insee);
        let p = self.point.unwrap_or(GeoPoint {
            lat_e6: 0,
            lon_e6: 0,
        });
        out.push(u8::from(self.point.is_some()));
        out.extend_from_slice(&p.lat_e6.to_be_bytes());
        out.extend_from_slice(&p.lon_e6.to_be_bytes());
        for w in &self.availability {
            out.extend_from_slice(&w.from.to_be_bytes());
            out.extend_from_slice(&w.until.to_be_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Summary> {
        const FIXED: usize = 8 + 1 + 1 + 32 + 8 + 8 + 5 + 1 + 4 + 4;
        if bytes.len() < FIXED || !(bytes.len() - FIXED).is_multiple_of(16) {
            return None;
        }
        let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let i32_at = |i: usize| i32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let point = match bytes[63] {
            0 => None,
            1 => Some(GeoPoint {
                lat_e6: i32_at(64),
                lon_e6: i32_at(68),
            }),
            _ => return None,
        };
        if bytes[8] > 1 || usize::from(bytes[9]) >= ResourceKind::ALL.len() {
            return None;
        }
        Some(Summary {
            number: u64_at(0),
            side: bytes[8],
            kind: bytes[9],
            author: PublicKey(bytes[10..42].try_into().ok()?),
            published_at: u64_at(42),
            expires_at: u64_at(50),
            insee: bytes[58..63].try_into().ok()?,
            point,
            availability: (FIXED..bytes.len())
                .step_by(16)
                .map(|i| Window {
                    from: u64_at(i),
                    until: u64_at(i + 8),
                })
                .collect(),
        })
    }

    /// Available at `t`: inside a window, or any time before expiry when the
    /// listing gives none.
    pub fn available_at(&self, t: Timestamp) -> bool {
        t < self.expires_at
            && (self.availability.is_empty()
                || self.availability.iter().any(|w| w.from <= t && t < w.until))
    }
}

/// The length of a listing's slot bytes (`0x00 author id`).
pub const LISTING_SLOT_LEN: usize = 49;

/// An `n` value: the listing's slot and its summary.
pub fn parse_number_value(value: &[u8]) -> Option<(&[u8], Summary)> {
    let slot = value.get(..LISTING_SLOT_LEN)?;
    parse_slot(slot)?;
    Some((slot, Summary::decode(&value[LISTING_SLOT_LEN..])?))
}

/// Derived key-value entries of one record.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The `s` value: record hash ‖ forget_after ‖ slot.
pub fn sync_value(hash: &RecordHash, forget_after: Timestamp, slot: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + slot.len());
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(&forget_after.to_be_bytes());
    out.extend_from_slice(slot);
    out
}

/// Parsed `s` value.
pub struct SyncValue {
    pub hash: RecordHash,
    pub forget_after: Timestamp,
    pub slot: Vec<u8>,
}

impl SyncValue {
    pub fn decode(key: &[u8], value: &[u8]) -> Result<SyncValue, StoreError> {
        if value.len() < 41 || parse_slot(&value[40..]).is_none() {
            return Err(StoreError::corrupt(
                key,
                "sync entry is not hash ‖ time ‖ slot",
            ));
        }
        Ok(SyncValue {
            hash: mutua_protocol::FixedBytes(value[..32].try_into().expect("32 bytes")),
            forget_after: u64::from_be_bytes(value[32..40].try_into().expect("8 bytes")),
            slot: value[40..].to_vec(),
        })
    }
}

/// The entries every stored record implies, whatever its kind: the sync entry,
/// the forget entry, and the certificate or revocation lookups.
pub fn record_entries(
    slot: &[u8],
    payload: &Payload,
    hash: &RecordHash,
    forget_after: Timestamp,
) -> Entries {
    let sync_key = SyncKey::of_slot_bytes(slot);
    let mut out = vec![
        (
            key(prefix::SYNC, &[&sync_key.0]),
            sync_value(hash, forget_after, slot),
        ),
        (
            key(prefix::FORGET, &[&forget_after.to_be_bytes(), slot]),
            Vec::new(),
        ),
    ];
    match payload {
        Payload::Certificate(c) => out.push((
            key(prefix::CERT_SUBJECT, &[c.subject.as_bytes(), &hash.0]),
            Vec::new(),
        )),
        Payload::Revocation(r) => out.push((
            key(prefix::REVOKES, &[&r.certificate.0, &hash.0]),
            Vec::new(),
        )),
        _ => {}
    }
    out
}

/// The area codes a listing is found by: its commune, that commune's EPCI and
/// département, and every code of its service area.
pub fn area_codes(l: &Listing) -> Vec<String> {
    let reference = crate::refdata::reference();
    let at = &l.location.insee;
    let mut codes = vec![format!("c{at}")];
    codes.extend(reference.epci_of(at).map(|e| format!("e{e}")));
    codes.extend(reference.departement_of(at).map(|d| format!("d{d}")));
    codes.extend(l.area.communes.iter().map(|c| format!("c{c}")));
    codes.extend(l.area.epcis.iter().map(|e| format!("e{e}")));
    codes.extend(l.area.departements.iter().map(|d| format!("d{d}")));
    codes.sort();
    codes.dedup();
    codes
}

/// How many consecutive listing numbers share one packed posting value.
/// Numbers are handed out in apply order, so one `apply_batch` call of a few
/// hundred new listings rewrites one value per term it mentions, and the
/// postings of a term over the whole store take `numbers / POSTING_BLOCK`
/// point reads.
pub const POSTING_BLOCK: u64 = 4096;
/// One packed posting: the number's offset in its block (2, BE) ‖ `R` (8).
pub const POSTING_LEN: usize = 10;

/// The key of the packed postings of `term` for listing numbers in `block`.
/// Block first: the values a batch rewrites sit side by side in sled.
pub fn chunk_key(prefix: u8, block: u32, term: &str) -> Vec<u8> {
    key(prefix, &[&block.to_be_bytes(), term.as_bytes()])
}

/// The block of a listing number, and its offset in it.
pub fn block_of(number: u64) -> (u32, u16) {
    (
        (number / POSTING_BLOCK) as u32,
        (number % POSTING_BLOCK) as u16,
    )
}

/// Parsed chunk key: prefix, block, term.
pub fn parse_chunk_key(k: &[u8]) -> Option<(u8, u32, &str)> {
    let block = u32::from_be_bytes(k.get(1..5)?.try_into().ok()?);
    Some((k[0], block, std::str::from_utf8(&k[5..]).ok()?))
}

/// One listing's posting in a packed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    pub chunk: Vec<u8>,
    pub offset: u16,
    pub r: [u8; 8],
}

impl Posting {
    pub fn new(prefix: u8, term: &str, r: [u8; 8], number: u64) -> Posting {
        let (block, offset) = block_of(number);
        Posting {
            chunk: chunk_key(prefix, block, term),
            offset,
            r,
        }
    }
}

/// A packed posting value: postings sorted by strictly increasing offset,
/// [`POSTING_LEN`] bytes each. `parse` checks the length only (queries read
/// these values per candidate); `parse_checked` also checks the order, and
/// is what `check` and every write use, so a damaged value is reported and
/// never rewritten.
pub struct Chunk<'a>(&'a [u8]);

impl<'a> Chunk<'a> {
    pub fn parse(value: &'a [u8]) -> Option<Chunk<'a>> {
        (!value.is_empty() && value.len().is_multiple_of(POSTING_LEN)).then_some(Chunk(value))
    }

    pub fn parse_checked(value: &'a [u8]) -> Option<Chunk<'a>> {
        let chunk = Chunk::parse(value)?;
        let mut offsets = chunk.iter().map(|(o, _)| o);
        let first = offsets.next()?;
        let mut previous = first;
        let sorted = offsets.all(|o| {
            let ok = previous < o;
            previous = o;
            ok
        });
        (sorted && u64::from(previous) < POSTING_BLOCK).then_some(chunk)
    }

    pub fn len(&self) -> usize {
        self.0.len() / POSTING_LEN
    }

    /// `(offset, R)` in offset order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, [u8; 8])> + 'a {
        self.0.chunks_exact(POSTING_LEN).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                p[2..].try_into().expect("8 bytes"),
            )
        })
    }

    /// Where `offset` is, or would be inserted.
    fn search(&self, offset: u16) -> Result<usize, usize> {
        let n = self.len();
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let at = u16::from_be_bytes([self.0[mid * POSTING_LEN], self.0[mid * POSTING_LEN + 1]]);
            match at.cmp(&offset) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    /// The `R` stored for `offset`.
    pub fn get(&self, offset: u16) -> Option<[u8; 8]> {
        let i = self.search(offset).ok()?;
        let at = i * POSTING_LEN + 2;
        self.0[at..at + 8].try_into().ok()
    }

    /// Adds `(offset, r)` to a value (replacing the offset's posting); an
    /// offset above every other one appends.
    pub fn put(value: &mut Vec<u8>, offset: u16, r: &[u8; 8]) {
        let mut posting = [0; POSTING_LEN];
        posting[..2].copy_from_slice(&offset.to_be_bytes());
        posting[2..].copy_from_slice(r);
        let last = value.len().checked_sub(POSTING_LEN);
        let after_last =
            last.is_none_or(|at| u16::from_be_bytes([value[at], value[at + 1]]) < offset);
        if after_last {
            value.extend_from_slice(&posting);
            return;
        }
        match Chunk(value).search(offset) {
            Ok(i) => value[i * POSTING_LEN..(i + 1) * POSTING_LEN].copy_from_slice(&posting),
            Err(i) => {
                value.splice(i * POSTING_LEN..i * POSTING_LEN, posting);
            }
        }
    }

    /// Removes `offset`'s posting from a value, if present (an emptied
    /// value is deleted by the caller).
    pub fn delete(value: &mut Vec<u8>, offset: u16) {
        if let Ok(i) = Chunk(value).search(offset) {
            value.drain(i * POSTING_LEN..(i + 1) * POSTING_LEN);
        }
    }
}

/// The derived entries of an indexed listing: plain keys, and postings in
/// packed values.
#[derive(Clone, Debug, Default)]
pub struct ListingEntries {
    pub plain: Entries,
    pub postings: Vec<Posting>,
}

/// The index entries of an indexed (live, unswept) offer or need with
/// listing number `number`, summary and number mapping included.
pub fn listing_entries(slot: &[u8], side: u8, l: &Listing, number: u64) -> ListingEntries {
    let r = recency(l.published_at);
    let n = number.to_be_bytes();
    let summary = Summary::of(number, side, l);
    let mut plain = vec![
        (key(prefix::INDEXED, &[slot]), n.to_vec()),
        (
            key(prefix::NUMBER, &[&n]),
            [slot, &summary.encode()].concat(),
        ),
        (
            key(prefix::EXPIRY, &[&l.expires_at.to_be_bytes(), slot]),
            Vec::new(),
        ),
        (
            key(prefix::KIND, &[&[side, resource_byte(l.kind)], &r, &n]),
            Vec::new(),
        ),
        (
            key(prefix::AUTHOR, &[l.author.as_bytes(), &r, &n]),
            Vec::new(),
        ),
    ];
    if let Some(p) = indexed_point(l) {
        plain.push((
            key(prefix::GEO, &[&crate::geo::cell(&p), &r, &n]),
            Vec::new(),
        ));
    }
    let mut tags: Vec<String> = l.tags.iter().map(|t| crate::text::fold_tag(t)).collect();
    tags.sort();
    tags.dedup();
    let words = crate::text::listing_words(&l.title, &l.tags, &l.description);
    let areas = area_codes(l);
    let postings = (tags.iter().map(|t| (prefix::TAG, t)))
        .chain(words.iter().map(|w| (prefix::WORD, w)))
        .chain(areas.iter().map(|c| (prefix::AREA, c)))
        .map(|(p, term)| Posting::new(p, term, r, number))
        .collect();
    ListingEntries { plain, postings }
}

/// The `(R, N)` suffix that ends every posting-list key.
pub fn posting_suffix(key: &[u8]) -> Option<([u8; 8], u64)> {
    let len = key.len();
    if len < 17 {
        return None;
    }
    let r: [u8; 8] = key[len - 16..len - 8].try_into().ok()?;
    let n = u64::from_be_bytes(key[len - 8..].try_into().ok()?);
    Some((r, n))
}

pub fn u64_value(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

/// A u64 metadata value; absent or unreadable counts as 0.
pub fn u64_value_or_zero(value: Option<sled::IVec>) -> u64 {
    value.and_then(|v| u64_value(&v)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::fixtures;

    #[test]
    fn slots_round_trip() {
        let author = fixtures::key(3).public();
        for slot in [
            SlotKey::Listing {
                author,
                id: mutua_protocol::FixedBytes([9; 16]),
            },
            SlotKey::Certificate(mutua_protocol::FixedBytes([1; 32])),
            SlotKey::Revocation(mutua_protocol::FixedBytes([2; 32])),
            SlotKey::Lending {
                author,
                offer: mutua_protocol::FixedBytes([9; 16]),
            },
            SlotKey::Request {
                author,
                id: mutua_protocol::FixedBytes([9; 16]),
            },
            SlotKey::Decision {
                author,
                offer: mutua_protocol::FixedBytes([9; 16]),
                borrower: fixtures::key(4).public(),
                request: mutua_protocol::FixedBytes([8; 16]),
            },
            SlotKey::LoanEvent(mutua_protocol::FixedBytes([3; 32])),
        ] {
            assert_eq!(parse_slot(&slot_bytes(&slot)), Some(slot));
        }
        assert_eq!(parse_slot(&[0, 1, 2]), None);
    }

    #[test]
    fn summary_round_trips_and_refuses_garbage() {
        let l = fixtures::listing(&fixtures::key(3), 1, 1);
        let s = Summary::of(42, 0, &l);
        let bytes = s.encode();
        assert_eq!(Summary::decode(&bytes), Some(s.clone()));
        assert_eq!(Summary::decode(&bytes[..bytes.len() - 3]), None);
        assert_eq!(&s.insee, b"33063");
    }

    #[test]
    fn packed_postings_stay_sorted_and_refuse_garbage() {
        let r = |x: u8| [x; 8];
        let mut value = Vec::new();
        for (offset, x) in [(7, 1), (3, 2), (4095, 3), (7, 4), (0, 5)] {
            Chunk::put(&mut value, offset, &r(x));
        }
        let chunk = Chunk::parse(&value).unwrap();
        let offsets: Vec<u16> = chunk.iter().map(|(o, _)| o).collect();
        assert_eq!(offsets, [0, 3, 7, 4095]);
        assert_eq!(
            chunk.get(7),
            Some(r(4)),
            "a posting is replaced, not doubled"
        );
        assert_eq!(chunk.get(8), None);
        let mut fewer = value.clone();
        Chunk::delete(&mut fewer, 3);
        Chunk::delete(&mut fewer, 3);
        assert_eq!(Chunk::parse(&fewer).unwrap().len(), 3);
        let mut one = Vec::new();
        Chunk::put(&mut one, 1, &r(1));
        Chunk::delete(&mut one, 1);
        assert!(one.is_empty());
        assert!(Chunk::parse_checked(&value).is_some());
        let swapped = [&value[10..20], &value[..10]].concat();
        let mut too_far = Vec::new();
        Chunk::put(&mut too_far, 4096, &r(1));
        for bad in [&b""[..], &b"xyz"[..], &swapped, &too_far] {
            assert!(Chunk::parse_checked(bad).is_none(), "{bad:?}");
        }
        assert!(Chunk::parse(&b"xyz"[..]).is_none());
        assert_eq!(block_of(4096 * 3 + 5), (3, 5));
    }
}
