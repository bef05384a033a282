//! Keys and their printable forms.
//!
//! A key id is `mk` followed by the RFC 4648 base32hex alphabet, lowercase and
//! unpadded, of the 32 public key bytes and a 2-byte checksum (the first two
//! bytes of SHA-256 of `"mutua-key-id" || key`). One form, used everywhere:
//! logs, the API, the CLI, config files.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_DNSSEC;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::KeyError;

const KEY_ID_PREFIX: &str = "mk";
const KEY_ID_CHECKSUM_DOMAIN: &[u8] = b"mutua-key-id";
const SECRET_FILE_HEADER: &str = "mutua-secret-key-v1";

/// An ed25519 public key as it appears in records: 32 bytes.
///
/// Holding a `PublicKey` says nothing about its validity as a curve point;
/// [`PublicKey::verifying_key`] checks that, and rejects weak keys.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as a point usable for `verify_strict`, refusing encodings that
    /// are not points or not the point's one canonical encoding (RFC 8032),
    /// and small-order ("weak") points, for which signatures prove nothing.
    pub fn verifying_key(&self, field: &str) -> Result<VerifyingKey, crate::RecordError> {
        let bad_key = || crate::RecordError::BadKey {
            field: field.to_owned(),
        };
        if !is_canonical_point_encoding(&self.0) {
            return Err(bad_key());
        }
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| bad_key())?;
        if key.is_weak() {
            return Err(crate::RecordError::WeakKey {
                field: field.to_owned(),
            });
        }
        Ok(key)
    }

    pub fn key_id(&self) -> String {
        let mut raw = Vec::with_capacity(34);
        raw.extend_from_slice(&self.0);
        raw.extend_from_slice(&key_id_checksum(&self.0));
        format!("{KEY_ID_PREFIX}{}", BASE32_DNSSEC.encode(&raw))
    }
}

/// Whether 32 bytes are a canonical point encoding as RFC 8032 (§5.1.3)
/// decodes them: `y` (the low 255 bits, little-endian) below p = 2^255 - 19,
/// and no sign bit on x = 0. ed25519-dalek reduces `y` modulo p and ignores
/// the sign of 0, so two or three byte strings would name one point; a key
/// must have one encoding, as libsodium and RFC 8032 require. Points with
/// x = 0 are those with y = 1 or y = p - 1.
pub fn is_canonical_point_encoding(bytes: &[u8; 32]) -> bool {
    let y_at_least_p =
        bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed;
    let sign = bytes[31] & 0x80 != 0;
    let mut y = *bytes;
    y[31] &= 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let x_is_zero = y == one || y == minus_one;
    let zero_x_with_sign = sign && x_is_zero;
    !(y_at_least_p || zero_x_with_sign)
}

fn key_id_checksum(key: &[u8; 32]) -> [u8; 2] {
    let digest = Sha256::new()
        .chain_update(KEY_ID_CHECKSUM_DOMAIN)
        .chain_update(key)
        .finalize();
    [digest[0], digest[1]]
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key_id())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let body = text
            .trim()
            .strip_prefix(KEY_ID_PREFIX)
            .ok_or(KeyError::MissingPrefix)?;
        let raw = BASE32_DNSSEC
            .decode(body.to_ascii_lowercase().as_bytes())
            .map_err(|_| KeyError::NotBase32)?;
        if raw.len() != 34 {
            return Err(KeyError::WrongLength { len: raw.len() });
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[..32]);
        if raw[32..] != key_id_checksum(&key) {
            return Err(KeyError::BadChecksum);
        }
        Ok(PublicKey(key))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::model::FixedBytes::<32>::deserialize(deserializer).map(|b| PublicKey(b.0))
    }
}

/// A secret signing key: a publisher's, an anchor's or an admitting syndicate's.
///
/// The seed is wiped from memory on drop.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Builds a key from 32 random bytes the caller drew from a secure source
    /// (this crate reads no randomness itself).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        SecretKey(SigningKey::from_bytes(&seed))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The secret scalar, to forge malformed signatures in fixtures.
    #[cfg(feature = "fixtures")]
    pub(crate) fn scalar(&self) -> curve25519_dalek::Scalar {
        self.0.to_scalar()
    }

    /// The text form stored in a key file (the node writes it with mode 0600).
    ///
    /// ```text
    /// mutua-secret-key-v1
    /// id: mk…
    /// seed: <base32hex of the 32-byte seed>
    /// ```
    pub fn to_file_string(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.0.to_bytes());
        Zeroizing::new(format!(
            "{SECRET_FILE_HEADER}\nid: {}\nseed: {}\n",
            self.public().key_id(),
            BASE32_DNSSEC.encode(seed.as_ref())
        ))
    }

    /// Parses a key file, checking that its `id:` line matches the seed, so a
    /// file edited by hand or truncated is refused rather than misused.
    pub fn from_file_string(text: &str) -> Result<Self, KeyError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(SECRET_FILE_HEADER) {
            return Err(KeyError::NotAKeyFile);
        }
        let mut id = None;
        let mut seed = None;
        for line in lines {
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("seed:") {
                seed = Some(v.trim());
            } else {
                return Err(KeyError::UnexpectedLine);
            }
        }
        let seed = seed.ok_or(KeyError::MissingField { field: "seed" })?;
        let id: PublicKey = id.ok_or(KeyError::MissingField { field: "id" })?.parse()?;
        let raw = Zeroizing::new(
            BASE32_DNSSEC
                .decode(seed.as_bytes())
                .map_err(|_| KeyError::NotBase32)?,
        );
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength { len: raw.len() })?;
        let key = SecretKey::from_seed(bytes);
        if key.public() != id {
            return Err(KeyError::IdMismatch);
        }
        Ok(key)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, seed hidden)", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// p = 2^255 - 19, plus `k`, little-endian (fits for k < 19).
    fn p_plus(k: u8) -> [u8; 32] {
        let mut b = [0xff; 32];
        b[0] = 0xed + k;
        b[31] = 0x7f;
        b
    }

    #[test]
    fn non_canonical_point_encodings_are_bad_keys() {
        // y ≥ p: every one of the 19 values, including those that reduce to a
        // point ed25519-dalek would take (p + 3 is the point y = 3).
        for k in 0..19 {
            assert!(!is_canonical_point_encoding(&p_plus(k)), "p + {k}");
            let err = PublicKey(p_plus(k)).verifying_key("k").unwrap_err();
            assert_eq!(err.code(), "bad_key", "p + {k}");
        }
        assert!(VerifyingKey::from_bytes(&p_plus(3)).is_ok());
        // x = 0 with the sign bit: y = 1 (the identity) and y = p - 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut minus_one = p_plus(0);
        minus_one[0] = 0xec;
        for point in [identity, minus_one] {
            assert!(is_canonical_point_encoding(&point));
            assert_eq!(
                PublicKey(point).verifying_key("k").unwrap_err().code(),
                "weak_key"
            );
            let mut signed = point;
            signed[31] |= 0x80;
            assert!(!is_canonical_point_encoding(&signed));
            assert_eq!(
                PublicKey(signed).verifying_key("k").unwrap_err().code(),
                "bad_key"
            );
        }
        // The largest canonical y, and ordinary keys, stay valid encodings.
        let mut below_p = p_plus(0);
        below_p[0] = 0xec - 1;
        assert!(is_canonical_point_encoding(&below_p));
        let key = SecretKey::from_seed([2; 32]).public();
        assert!(is_canonical_point_encoding(key.as_bytes()));
        assert!(key.verifying_key("k").is_ok());
    }
}
