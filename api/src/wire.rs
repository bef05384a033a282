//! How protocol values are written in JSON: key ids as text, listing ids
//! and record hashes as lowercase hex (the protocol's own serde writes them
//! as CBOR byte strings).

use mutua_protocol::{FixedBytes, PublicKey};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// A key as its key id (`mk…`).
pub mod key_id {
    use super::*;

    pub fn serialize<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(key)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        parse(&String::deserialize(d)?)
    }

    pub(crate) fn parse<E: serde::de::Error>(text: &str) -> Result<PublicKey, E> {
        text.parse()
            .map_err(|e| E::custom(format!("{text:?} is not a key id: {e}")))
    }
}

/// An optional key as its key id, `null` when absent.
pub mod opt_key_id {
    use super::*;

    pub fn serialize<S: Serializer>(key: &Option<PublicKey>, s: S) -> Result<S::Ok, S::Error> {
        match key {
            Some(key) => s.collect_str(key),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PublicKey>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| key_id::parse(&text))
            .transpose()
    }
}

/// Keys as a list of key ids.
pub mod key_ids {
    use super::*;

    pub fn serialize<S: Serializer>(keys: &[PublicKey], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(keys.iter().map(PublicKey::key_id))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PublicKey>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| key_id::parse(text))
            .collect()
    }
}

/// Fixed bytes (a listing id, a record hash) as lowercase hex.
pub mod hex {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &FixedBytes<N>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&mutua_protocol::hex(&bytes.0))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<FixedBytes<N>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| {
            D::Error::custom(format!("{text:?} is not {} hexadecimal digits", 2 * N))
        })
    }

    /// `text` as `N` bytes of hex, if it is.
    pub fn parse<const N: usize>(text: &str) -> Option<FixedBytes<N>> {
        mutua_protocol::unhex(text)?.try_into().ok().map(FixedBytes)
    }
}
