//! The key layout of the one sled tree the store writes: what every key and
//! value is. Since layout 6 sled keeps per record only what is written once
//! and deleted once (the envelope, its sync entry, the certificate and
//! revocation lookups membership reads; up to layout 9 its forget time
//! too, which the sync entry holds); every query index
//! lives in the tantivy index (`index` module). Since layout 9 an `r`
//! value is the envelope as received or compressed by the store (`packing`
//! module); every reader unpacks it.
//!
//! Every entry a record implies is computed here and nowhere else, so that
//! apply, check, reindex and sweep agree by construction.

use mutua_protocol::codec::{decode_envelope, decode_payload, hash_envelope};
use mutua_protocol::{
    GeoPoint, Listing, Payload, PublicKey, RecordHash, ResourceKind, SlotKey, Timestamp,
};

use crate::error::StoreError;
use crate::sync::SyncKey;

/// The layout this version reads and writes. Bump it (and add a migration or
/// a refusal in `Store::open`) whenever a key or value format changes.
///
/// 2: sync keys carry their class in their first two bits (the protocol's).
/// 3: the word index skips stopwords and caps description words.
/// 4: tag, word and area postings are packed per term and block.
/// 5: a listing without a point of its own is placed at its commune's
///    reference point.
/// 6: no query index in sled (postings, summaries, listing numbers): the
///    tantivy index is the only one ([`prefix::OBSOLETE`] lists what
///    layouts 2–5 kept; `migrate` deletes it).
/// 7: an offer → lending records lookup ([`prefix::LENDING`]), written
///    from layout 6's records by a reindex at open.
/// 8: sled's pages compressed (zstd, [`crate::DEFAULT_COMPRESSION_LEVEL`]):
///    the same entries; sled refuses to open older files with compression
///    on, so open first rewrites them beside the old ones and swaps
///    (`compact::migrate_settings`).
/// 9: sled's pages raw again; the envelopes compressed by the store with a
///    zstd dictionary it trains from its first records (`packing` module,
///    [`DICTIONARY_TREE`]); open rewrites a layout 8 store's files
///    uncompressed, then packs its envelopes.
/// 10: no forget entries (`f`): the sweep reads the forget times from the
///    sync entries (`forget` module), one key less written per record;
///    the migration deletes them.
pub const LAYOUT_VERSION: u32 = 10;
/// Layouts from this one on may hold packed envelopes; older ones are
/// packed (then compacted) when migrated.
pub const PACKED_SINCE: u32 = 9;
/// Layouts from this one on keep the counts as a snapshot with the search
/// sequence it covers, and no `msearch_seq` (`counts` module).
pub const COUNTS_SNAPSHOT_SINCE: u32 = 9;
/// The oldest layout whose records and sync entries this version reads as
/// they are: opening it migrates (see the `migrate` module).
pub const FIRST_MIGRATABLE_LAYOUT: u32 = 2;
/// Layouts from this one on keep sled's record entries (sync, forget,
/// certificate, revocation and lending lookups, buckets) as this layout
/// does; older ones are also reindexed when migrated.
pub const SAME_RECORD_ENTRIES_SINCE: u32 = 7;
/// Layouts from this one on have this layout's search index and journal:
/// migrating keeps both.
pub const SAME_SEARCH_INDEX_SINCE: u32 = 7;
/// The name of the sled tree holding everything (the default tree stays
/// empty) but the dictionary.
pub const TREE: &str = "mutua";
/// The sled tree holding only the store's zstd dictionary for its envelopes
/// (`packing` module) under [`DICTIONARY_KEY`]: format byte ‖ dictionary,
/// written once. In a tree of its own because sled 0.34 rewrites a whole
/// leaf (16 keys) every 10 writes to it: beside the hot metadata keys, its
/// 16 KiB were rewritten every few single-record writes (BENCHMARKS.md).
pub const DICTIONARY_TREE: &str = "mutua-dictionary";
pub const DICTIONARY_KEY: &[u8] = b"zstd";

/// Key prefixes. One byte each; what follows is documented on each
/// constant.
pub mod prefix {
    /// `m name` → metadata (layout version, counters, sweep time).
    pub const META: u8 = b'm';
    /// `r slot` → the signed envelope, the truth: as received, or packed
    /// (`packing` module).
    pub const RECORD: u8 = b'r';
    /// `s sync_key` → record hash (32) ‖ forget_after (8, BE) ‖ slot.
    pub const SYNC: u8 = b's';
    /// `b bucket (2, BE)` → fingerprint of the bucket (count 8 BE ‖ sum 32).
    pub const BUCKET: u8 = b'b';
    /// Layouts 2–9: `f forget_after (8, BE) slot` → (), when the sweep
    /// deletes the record; since 10 the sweep reads that time from the sync
    /// entry (`forget` module), and the migration deletes these.
    pub const FORGET: u8 = b'f';
    /// `c subject (32) certificate_hash (32)` → ().
    pub const CERT_SUBJECT: u8 = b'c';
    /// `v certificate_hash (32) revocation_hash (32)` → ().
    pub const REVOKES: u8 = b'v';
    /// `q original_key` → value `reindex` could not verify, kept for forensics.
    pub const QUARANTINE: u8 = b'q';
    /// `j search_seq (8, BE)` → the listing slots (49 bytes each) whose
    /// search-index state that sled batch changed; deleted once the search
    /// index durably covers it (`index` module).
    pub const JOURNAL: u8 = b'j';
    /// `o offer_author (32) offer (16) slot` → (): the lending records
    /// (settings, requests, decisions, loan events) about one offer, so that
    /// its calendar is read without scanning the replica (`lending` module).
    pub const LENDING: u8 = b'o';

    /// Prefixes of entries derived from the records (all but META, RECORD,
    /// QUARANTINE and JOURNAL).
    pub const DERIVED: [u8; 5] = [SYNC, BUCKET, CERT_SUBJECT, REVOKES, LENDING];

    /// Entries older layouts kept and this one does not: the query index
    /// layouts 2–5 kept in sled (listing numbers both ways (`l`, `n`),
    /// expiry (`x`), kind (`k`), author (`a`), tag (`t`), word (`w`), area
    /// (`z`) and geo-cell (`g`) postings; layout 6 has none), and the
    /// forget entries of layouts 2–9 ([`FORGET`]).
    pub const OBSOLETE: [u8; 10] = [b'l', b'n', b'x', b'k', b'a', b't', b'w', b'z', b'g', FORGET];
}

pub mod meta {
    pub const LAYOUT: &[u8] = b"mlayout";
    /// Stored records per kind (6 × u64 BE: certificate, revocation, offer,
    /// need, withdrawal, lending records of every kind; a store written
    /// before lending has 5, and no lending records), then since layout 9
    /// the search sequence they cover (u64 BE): a snapshot, the journal
    /// holds the changes after it (`counts` module).
    pub const COUNTS: &[u8] = b"mcounts";
    /// Listings that expired by this time (u64 BE) are not in the search
    /// index (or wait for the sweep to leave it): the latest `now` a sweep
    /// ran with, or the expiry of an already expired listing that `apply`
    /// stored unindexed, whichever is later.
    pub const SWEPT_UNTIL: &[u8] = b"mswept_until";
    /// Present while a reindex runs.
    pub const REINDEXING: &[u8] = b"mreindexing";
    /// Layouts up to 8's last search sequence (u64 BE), rewritten by every
    /// batch; since 9 read from the journal and `COUNTS` (`counts`
    /// module), and deleted by the migration.
    pub const OBSOLETE_SEARCH_SEQ: &[u8] = b"msearch_seq";
    /// Present while the stored envelopes are being packed with a new
    /// dictionary (open resumes it).
    pub const REPACKING: &[u8] = b"mrepacking";
    /// Layouts 2–5's next listing number: deleted by the migration.
    pub const OBSOLETE_NEXT_NUMBER: &[u8] = b"mnext_number";
}

/// The [`kind_index`] of certificates.
pub const CERTIFICATE_KIND: usize = 0;

pub fn kind_index(payload: &Payload) -> usize {
    match payload {
        Payload::Certificate(_) => CERTIFICATE_KIND,
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

/// The listing a record holds for the search index, with its side byte, if
/// it is to be indexed: an offer or need that expires after `swept_until`
/// (apply, replay, rebuild and check use this one rule).
pub fn indexable(payload: &Payload, swept_until: Timestamp) -> Option<(u8, &Listing)> {
    let side = side_byte(payload)?;
    payload
        .listing()
        .filter(|l| l.expires_at > swept_until)
        .map(|l| (side, l))
}

/// The length of a listing's slot bytes (`0x00 author id`).
pub const LISTING_SLOT_LEN: usize = 49;

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

/// The entries every stored record implies, whatever its kind: the sync entry
/// (which holds its forget time), and the certificate, revocation or
/// lending lookups.
pub fn record_entries(
    slot: &[u8],
    payload: &Payload,
    hash: &RecordHash,
    forget_after: Timestamp,
) -> Entries {
    let sync_key = SyncKey::of_slot_bytes(slot);
    let mut out = vec![(
        key(prefix::SYNC, &[&sync_key.0]),
        sync_value(hash, forget_after, slot),
    )];
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
    if let Some((author, offer)) = lending_offer(payload) {
        out.push((
            key(prefix::LENDING, &[author.as_bytes(), &offer.0, slot]),
            Vec::new(),
        ));
    }
    out
}

/// The offer a lending record is about: `(offer author, offer id)`.
pub fn lending_offer(payload: &Payload) -> Option<(&PublicKey, &mutua_protocol::ListingId)> {
    match payload {
        Payload::Lending(t) => Some((&t.author, &t.offer)),
        Payload::Request(r) => Some((&r.offer_author, &r.offer)),
        Payload::Decision(d) => Some((&d.author, &d.offer)),
        Payload::LoanEvent(e) => Some((&e.offer_author, &e.offer)),
        _ => None,
    }
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
}
