//! Mutua's protocol: what a valid record is, with no I/O.
//!
//! This crate knows nothing of libp2p, sled, tokio or the clock: the current
//! time is always a parameter, randomness is supplied by the caller. It
//! provides the data model ([`model`]), the signed envelope and CBOR codec
//! ([`codec`]), the validation rules ([`rules`]), membership chains
//! ([`membership`]) and the merge semantics ([`merge`]). PROTOCOL.md is the
//! normative description; its test vectors are checked by this crate's tests.

pub mod codec;
pub mod codes;
pub mod derived;
pub mod error;
pub mod keys;
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
