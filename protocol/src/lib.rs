//! Mutua's protocol: what a valid record is, with no I/O.
//!
//! This crate knows nothing of libp2p, sled, tokio or the clock: the current
//! time is always a parameter, randomness is supplied by the caller. It
//! provides the data model ([`model`]), the signed envelope and CBOR codec
//! ([`codec`]), the validation rules ([`rules`]), membership chains
//! ([`membership`]) and the merge semantics ([`merge`]). PROTOCOL.md is the
//! normative description; its test vectors are checked by this crate's tests.
//!
//! The receive path is [`validate`]`(bytes, now)`: size → envelope (canonical)
//! → bounded scan of the payload's raw CBOR → serde decode → canonical
//! re-encoding check → field rules → signer → `verify_strict` → time rules.
//! Cheap checks come first; apart from an unknown envelope format, only a
//! validly signed record can earn an Ignore verdict (expired, from the
//! future), so a forger cannot dodge the Reject. Membership is a separate
//! function over a [`MembershipView`] (the store implements it), because it
//! needs other records.
//!
//! What holds everywhere in this crate:
//! - a signature covers `"mutua-record-v1:" || payload bytes`, the exact
//!   bytes that travel; nothing is re-encoded before verification, and a
//!   record's identity is the SHA-256 of its canonical envelope bytes;
//! - one record content has one encoding: envelope and payload are accepted
//!   only as [`seal`] writes them (checked by re-encoding), so what is valid
//!   is what PROTOCOL.md says, not whatever serde_cbor tolerates (variant
//!   indices, `null` options, long-form integers, structs as arrays);
//! - decoding cost is bounded before serde runs: the scan refuses oversize
//!   records, deep nesting, long strings and large containers on the raw
//!   bytes, without allocating per item.
//!
//! PROTOCOL.md cannot drift: `tests/vectors.rs` regenerates its vectors
//! (records, the worked sync example, key id, topic, replica digest),
//! compares them with the document, validates the document's values
//! independently and checks that every [`RecordError`] code has a vector.
//! The merge's commutativity, associativity and idempotence are property
//! tests (`tests/merge.rs`); decode → validate is fuzzed (`fuzz/`).

pub mod codec;
pub mod codes;
pub mod derived;
pub mod error;
pub mod keys;
pub mod lending;
pub mod membership;
pub mod merge;
pub mod model;
pub mod rules;
pub mod sync;

pub use codec::{open, seal, SignedRecord};
pub use error::{EncodeError, KeyError, LengthUnit, MembershipError, RecordError, Verdict};
pub use keys::{PublicKey, SecretKey};
pub use membership::{check_admission_right, check_membership, Membership, MembershipView};
pub use merge::{merge, MergeOutcome, Rank, SlotKey};
pub use model::*;

/// Decodes, verifies and checks a record against every rule except
/// membership, at time `now`.
pub fn validate(bytes: &[u8], now: model::Timestamp) -> Result<SignedRecord, RecordError> {
    let record = open(bytes)?;
    rules::check_time(record.payload(), now)?;
    Ok(record)
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Parses lowercase or uppercase hexadecimal.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    // `from_str_radix` alone would also take a sign ("+f").
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
