//! Typed errors. Every record rejection names the rule (a stable code, listed
//! in PROTOCOL.md) and, where there is one, the field.

use thiserror::Error;

/// What a node does with a record that failed a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The record is invalid whoever sends it: the sender is penalised.
    Reject,
    /// The record may be fine but is of no use now (expired, a format this
    /// version does not know, a member not yet known here): drop it quietly.
    Ignore,
}

/// Why a record is not valid.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The encoded record is larger than the protocol allows.
    #[error("record is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// The bytes are not the CBOR this protocol accepts.
    #[error("malformed CBOR at {field}: {reason}")]
    Malformed { field: String, reason: String },
    /// Containers nested deeper than the protocol allows.
    #[error("{field} is nested {depth} levels deep, over the limit of {max}")]
    TooDeep {
        field: String,
        depth: usize,
        max: usize,
    },
    /// A list or map holds more items than allowed.
    #[error("{field} has {count} items, over the limit of {max}")]
    TooManyItems {
        field: String,
        count: usize,
        max: usize,
    },
    /// A text or byte string is longer than allowed (in bytes for the generic
    /// CBOR limits, in characters for text fields with a limit of their own),
    /// stated in the unit that was counted.
    #[error("{field} {}", unit.describe(*len, *max))]
    TooLong {
        field: String,
        len: usize,
        max: usize,
        unit: LengthUnit,
    },
    /// The envelope's format number is not one this node knows.
    #[error("envelope format {format} is not supported (this node knows formats 1 and 2)")]
    UnsupportedFormat { format: u64 },
    /// The envelope is not in its one canonical encoding.
    #[error("envelope is not canonically encoded")]
    NonCanonicalEnvelope,
    /// The payload decodes, but not from its one canonical encoding (the bytes
    /// `seal` would produce): another implementation might read it differently.
    #[error("{field} is not canonically encoded (shortest integers, fields in protocol order, optional fields omitted, enum variants by name)")]
    NonCanonicalPayload { field: String },
    /// A key field does not hold a valid ed25519 point.
    #[error("{field} is not a valid ed25519 public key")]
    BadKey { field: String },
    /// A key field holds a small-order point, for which signatures prove nothing.
    #[error("{field} is a weak (small-order) ed25519 key")]
    WeakKey { field: String },
    /// The signature does not verify (forged, tampered or non-canonical).
    #[error("signature does not verify under the signer key")]
    BadSignature,
    /// The envelope was signed by a key other than the one the payload names.
    #[error("signed by a key other than {field}")]
    SignerMismatch { field: String },
    /// A field breaks a rule on its content.
    #[error("{field}: {detail}")]
    Invalid {
        field: String,
        rule: &'static str,
        detail: String,
    },
    /// A timestamp lies further in the future than the allowed clock skew.
    #[error("{field} is {ahead_secs} s in the future (allowed clock skew: {max_skew_secs} s)")]
    FromTheFuture {
        field: String,
        ahead_secs: u64,
        max_skew_secs: u64,
    },
    /// The expiry is further after publication than the protocol allows.
    #[error("{field} is {days} days after the record was made, over the limit of {max_days} days")]
    ExpiryTooFar {
        field: String,
        days: u64,
        max_days: u64,
    },
    /// The record has already expired.
    #[error("{field} has passed: the record expired")]
    Expired { field: String },
    /// A SIREN that is not 9 digits with a valid Luhn check digit.
    #[error("{field}: {value:?} is not a SIREN (9 digits with a Luhn check digit)")]
    InvalidSiren { field: String, value: String },
    /// An INSEE commune code with the wrong shape.
    #[error("{field}: {value:?} is not an INSEE commune code (5 characters: 01001, 2A004, 97411)")]
    InvalidInsee { field: String, value: String },
    /// A département code with the wrong shape.
    #[error(
        "{field}: {value:?} is not a département code ({})",
        crate::codes::departement_codes()
    )]
    InvalidDepartement { field: String, value: String },
}

/// The rule codes of [`RecordError::Invalid`]: the field rules and the text
/// rule (besides `too_long`, which has a variant of its own).
pub const FIELD_RULES: [&str; 13] = [
    "too_short",
    "control_character",
    "surrounding_space",
    "required",
    "self_certificate",
    "duplicate",
    "out_of_range",
    "empty_window",
    "email_syntax",
    "phone_syntax",
    "url_syntax",
    "own_offer",
    "not_a_party",
];

/// What a length limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthUnit {
    /// Unicode characters (an accented letter counts 1).
    Characters,
    /// Bytes of UTF-8 (an accented letter counts 2, an emoji 4), or of a
    /// byte string.
    Bytes,
}

impl LengthUnit {
    fn describe(self, len: usize, max: usize) -> String {
        match self {
            LengthUnit::Characters => {
                format!("has {len} characters, over the limit of {max} characters")
            }
            LengthUnit::Bytes => format!(
                "takes {len} bytes, over the limit of {max} bytes (in UTF-8 an accented letter \
                 takes 2 bytes, an emoji 4)"
            ),
        }
    }
}

impl RecordError {
    /// Every code [`RecordError::code`] returns, in PROTOCOL.md's order (each
    /// has a test vector there).
    pub const CODES: [&'static str; 31] = [
        "too_large",
        "malformed",
        "too_deep",
        "too_many_items",
        "too_long",
        "unsupported_format",
        "non_canonical_envelope",
        "non_canonical_payload",
        "bad_key",
        "weak_key",
        "bad_signature",
        "signer_mismatch",
        FIELD_RULES[0],
        FIELD_RULES[1],
        FIELD_RULES[2],
        FIELD_RULES[3],
        FIELD_RULES[4],
        FIELD_RULES[5],
        FIELD_RULES[6],
        FIELD_RULES[7],
        FIELD_RULES[8],
        FIELD_RULES[9],
        FIELD_RULES[10],
        FIELD_RULES[11],
        FIELD_RULES[12],
        "invalid_siren",
        "invalid_insee",
        "invalid_departement",
        "expiry_too_far",
        "from_the_future",
        "expired",
    ];

    /// The stable rule code, as listed in PROTOCOL.md and used in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::TooLarge { .. } => "too_large",
            RecordError::Malformed { .. } => "malformed",
            RecordError::TooDeep { .. } => "too_deep",
            RecordError::TooManyItems { .. } => "too_many_items",
            RecordError::TooLong { .. } => "too_long",
            RecordError::UnsupportedFormat { .. } => "unsupported_format",
            RecordError::NonCanonicalEnvelope => "non_canonical_envelope",
            RecordError::NonCanonicalPayload { .. } => "non_canonical_payload",
            RecordError::BadKey { .. } => "bad_key",
            RecordError::WeakKey { .. } => "weak_key",
            RecordError::BadSignature => "bad_signature",
            RecordError::SignerMismatch { .. } => "signer_mismatch",
            RecordError::Invalid { rule, .. } => rule,
            RecordError::FromTheFuture { .. } => "from_the_future",
            RecordError::ExpiryTooFar { .. } => "expiry_too_far",
            RecordError::Expired { .. } => "expired",
            RecordError::InvalidSiren { .. } => "invalid_siren",
            RecordError::InvalidInsee { .. } => "invalid_insee",
            RecordError::InvalidDepartement { .. } => "invalid_departement",
        }
    }

    /// The field the rule is about, as a dotted path (`offer.tags[2]`).
    pub fn field(&self) -> Option<&str> {
        match self {
            RecordError::TooLarge { .. }
            | RecordError::UnsupportedFormat { .. }
            | RecordError::NonCanonicalEnvelope
            | RecordError::BadSignature => None,
            RecordError::Malformed { field, .. }
            | RecordError::TooDeep { field, .. }
            | RecordError::TooManyItems { field, .. }
            | RecordError::TooLong { field, .. }
            | RecordError::NonCanonicalPayload { field }
            | RecordError::BadKey { field }
            | RecordError::WeakKey { field }
            | RecordError::SignerMismatch { field }
            | RecordError::Invalid { field, .. }
            | RecordError::FromTheFuture { field, .. }
            | RecordError::ExpiryTooFar { field, .. }
            | RecordError::Expired { field }
            | RecordError::InvalidSiren { field, .. }
            | RecordError::InvalidInsee { field, .. }
            | RecordError::InvalidDepartement { field, .. } => Some(field),
        }
    }

    /// Whether the sender of such a record should be penalised.
    pub fn verdict(&self) -> Verdict {
        match self {
            // A future format or a record that merely aged in transit is not
            // misbehaviour; a record from the future may be a skewed clock,
            // but accepting it would let it outlive its bound, so it is
            // dropped without blaming the sender.
            RecordError::UnsupportedFormat { .. }
            | RecordError::Expired { .. }
            | RecordError::FromTheFuture { .. } => Verdict::Ignore,
            _ => Verdict::Reject,
        }
    }
}

/// Why an author is not (or no longer) a member of the federation.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MembershipError {
    /// No certificate names this key, and it is not a trusted anchor.
    #[error("{key} has no certificate from the federation")]
    NoCertificate { key: String },
    /// Every certificate for this key is outside its validity window.
    #[error("the certificate of {key} is not valid at this time (expired or not yet valid)")]
    CertificateExpired { key: String },
    /// Every certificate for this key has been revoked.
    #[error("the certificate of {key} has been revoked")]
    Revoked { key: String },
    /// The certificates lead to no trusted anchor.
    #[error("the certificates of {key} lead to no trusted anchor")]
    UntrustedIssuer { key: String },
    /// A certificate was issued by a member not allowed to admit others.
    #[error("{key} was admitted by {issuer}, who may not admit members")]
    IssuerMayNotAdmit { key: String, issuer: String },
    /// The chain from an anchor to this key is longer than allowed.
    #[error("the chain from a trusted anchor to {key} is longer than {max} certificates")]
    ChainTooDeep { key: String, max: usize },
    /// The member may publish but not admit others.
    #[error("{key} may not admit members (its certificate does not allow it)")]
    MayNotAdmit { key: String },
}

impl MembershipError {
    /// What to do with a record whose author fails the check: always drop it
    /// quietly. The receiving node's view of certificates and revocations may
    /// lag the sender's (a certificate not yet synchronised, a revocation not
    /// yet seen by the sender), so the failure proves no misbehaviour.
    pub fn verdict(&self) -> Verdict {
        Verdict::Ignore
    }

    /// The stable rule code, as listed in PROTOCOL.md.
    pub fn code(&self) -> &'static str {
        match self {
            MembershipError::NoCertificate { .. } => "not_a_member",
            MembershipError::CertificateExpired { .. } => "certificate_expired",
            MembershipError::Revoked { .. } => "revoked",
            MembershipError::UntrustedIssuer { .. } => "untrusted_issuer",
            MembershipError::IssuerMayNotAdmit { .. } => "issuer_may_not_admit",
            MembershipError::ChainTooDeep { .. } => "chain_too_deep",
            MembershipError::MayNotAdmit { .. } => "may_not_admit",
        }
    }
}

/// Why a printed key id or a key file could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    #[error("a key id starts with \"mk\"")]
    MissingPrefix,
    #[error("not base32hex (0-9, a-v)")]
    NotBase32,
    #[error("wrong length: {len} bytes decoded")]
    WrongLength { len: usize },
    #[error("checksum mismatch: the key id is mistyped or truncated")]
    BadChecksum,
    #[error("not a Mutua secret key file (first line must be \"mutua-secret-key-v1\")")]
    NotAKeyFile,
    #[error("unexpected line in key file (expected \"id:\" or \"seed:\")")]
    UnexpectedLine,
    #[error("key file has no {field:?} line")]
    MissingField { field: &'static str },
    #[error("key file's id does not match its seed: the file is damaged")]
    IdMismatch,
}

/// Why a payload could not be encoded (it breaks the limits a receiver enforces).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("the record would be invalid: {0}")]
    Invalid(#[from] RecordError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each variant (and of each field rule): the match in
    /// `code` is exhaustive, so a new variant lands here when it is added.
    fn one_of_each() -> Vec<RecordError> {
        let field = || "f".to_owned();
        let mut all = vec![
            RecordError::TooLarge { size: 0, max: 0 },
            RecordError::Malformed {
                field: field(),
                reason: String::new(),
            },
            RecordError::TooDeep {
                field: field(),
                depth: 0,
                max: 0,
            },
            RecordError::TooManyItems {
                field: field(),
                count: 0,
                max: 0,
            },
            RecordError::TooLong {
                field: field(),
                len: 0,
                max: 0,
                unit: LengthUnit::Bytes,
            },
            RecordError::UnsupportedFormat { format: 2 },
            RecordError::NonCanonicalEnvelope,
            RecordError::NonCanonicalPayload { field: field() },
            RecordError::BadKey { field: field() },
            RecordError::WeakKey { field: field() },
            RecordError::BadSignature,
            RecordError::SignerMismatch { field: field() },
            RecordError::FromTheFuture {
                field: field(),
                ahead_secs: 0,
                max_skew_secs: 0,
            },
            RecordError::ExpiryTooFar {
                field: field(),
                days: 0,
                max_days: 0,
            },
            RecordError::Expired { field: field() },
            RecordError::InvalidSiren {
                field: field(),
                value: String::new(),
            },
            RecordError::InvalidInsee {
                field: field(),
                value: String::new(),
            },
            RecordError::InvalidDepartement {
                field: field(),
                value: String::new(),
            },
        ];
        all.extend(FIELD_RULES.map(|rule| RecordError::Invalid {
            field: field(),
            rule,
            detail: String::new(),
        }));
        all
    }

    #[test]
    fn codes_lists_every_code_once() {
        let codes: Vec<&str> = one_of_each().iter().map(RecordError::code).collect();
        let mut listed = RecordError::CODES.to_vec();
        let mut seen = codes.clone();
        listed.sort();
        seen.sort();
        assert_eq!(seen, listed);
        seen.dedup();
        assert_eq!(seen.len(), codes.len(), "two variants share a code");
    }

    #[test]
    fn departement_message_names_every_accepted_code() {
        let e = RecordError::InvalidDepartement {
            field: "f".into(),
            value: "20".into(),
        };
        assert!(e.to_string().contains("971–978, 984, 986–989"), "{e}");
    }
}
