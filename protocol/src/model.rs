//! The record kinds and their fields, exactly as they are encoded in CBOR.
//!
//! Field names are the CBOR map keys (see PROTOCOL.md). Optional fields are
//! omitted when absent. Unknown keys are refused: a newer record format gets a
//! new envelope format number instead, which older nodes ignore without
//! penalising the sender (the lending kinds, [`crate::lending`], are format 2).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keys::PublicKey;
use crate::lending::{Decision, LendingTerms, LoanEvent, Request};

/// Seconds since the Unix epoch, UTC. The protocol never reads a clock: the
/// caller passes "now" where a rule needs it.
pub type Timestamp = u64;

/// `N` bytes encoded as a CBOR byte string of exactly that length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FixedBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> Serialize for FixedBytes<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for FixedBytes<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FixedVisitor<const N: usize>;
        impl<const N: usize> Visitor<'_> for FixedVisitor<N> {
            type Value = FixedBytes<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a byte string of {N} bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                let array: [u8; N] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(FixedBytes(array))
            }
        }
        deserializer.deserialize_bytes(FixedVisitor::<N>)
    }
}

impl<const N: usize> fmt::Debug for FixedBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex(&self.0))
    }
}

/// The random 16-byte id an author gives an offer or need; with the author's
/// key it names the slot that versions and withdrawals replace.
pub type ListingId = FixedBytes<16>;

/// SHA-256 of a record's envelope bytes: its identity for deduplication,
/// revocation and tie-breaks.
pub type RecordHash = FixedBytes<32>;

impl RecordHash {
    pub fn to_hex(&self) -> String {
        crate::hex(&self.0)
    }
}

impl ListingId {
    pub fn to_hex(&self) -> String {
        crate::hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        crate::unhex(text)?.try_into().ok().map(FixedBytes)
    }
}

/// What a signed envelope carries: exactly one record.
///
/// Encoded as a CBOR map with a single entry whose key names the kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Certificate(Certificate),
    Revocation(Revocation),
    Offer(Listing),
    Need(Listing),
    Withdrawal(Withdrawal),
    /// Lending kinds (envelope format 2).
    Lending(LendingTerms),
    Request(Request),
    Decision(Decision),
    LoanEvent(LoanEvent),
}

impl Payload {
    /// The name of the kind, as in the CBOR map key.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::Certificate(_) => "certificate",
            Payload::Revocation(_) => "revocation",
            Payload::Offer(_) => "offer",
            Payload::Need(_) => "need",
            Payload::Withdrawal(_) => "withdrawal",
            Payload::Lending(_) => "lending",
            Payload::Request(_) => "request",
            Payload::Decision(_) => "decision",
            Payload::LoanEvent(_) => "loan_event",
        }
    }

    /// The envelope format that carries this kind: 1 for the kinds of
    /// protocol version 1, 2 for the lending kinds (which older nodes ignore).
    pub fn envelope_format(&self) -> u64 {
        match self {
            Payload::Certificate(_)
            | Payload::Revocation(_)
            | Payload::Offer(_)
            | Payload::Need(_)
            | Payload::Withdrawal(_) => crate::codec::ENVELOPE_FORMAT,
            _ => crate::codec::LENDING_FORMAT,
        }
    }

    /// The key that must have signed this payload: the author of a listing or
    /// withdrawal, the issuer of a certificate or revocation.
    pub fn expected_signer(&self) -> &PublicKey {
        match self {
            Payload::Certificate(c) => &c.issuer,
            Payload::Revocation(r) => &r.issuer,
            Payload::Offer(l) | Payload::Need(l) => &l.author,
            Payload::Withdrawal(w) => &w.author,
            Payload::Lending(t) => &t.author,
            Payload::Request(r) => &r.author,
            Payload::Decision(d) => &d.author,
            Payload::LoanEvent(e) => &e.author,
        }
    }

    /// The listing inside an offer or a need.
    pub fn listing(&self) -> Option<&Listing> {
        match self {
            Payload::Offer(l) | Payload::Need(l) => Some(l),
            _ => None,
        }
    }
}

/// The kind of public body a certificate vouches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum BodyKind {
    Commune,
    Epci,
    Departement,
    Region,
    Syndicat,
    OtherPublicBody,
}

/// A federation member's admission: `issuer` states that `subject` is the
/// collectivity with this SIREN, for the validity window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub issuer: PublicKey,
    pub subject: PublicKey,
    pub siren: String,
    pub name: String,
    pub body: BodyKind,
    /// The commune's INSEE code; required when `body` is `commune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insee: Option<String>,
    /// Whether the subject may itself admit members (a syndicate).
    pub may_admit: bool,
    pub issued_at: Timestamp,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
}

/// Why a certificate was withdrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RevocationReason {
    KeyLost,
    KeyCompromised,
    Merged,
    LeftFederation,
    Superseded,
    Other,
}

/// The issuer of a certificate (or a trusted anchor) withdraws it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub issuer: PublicKey,
    pub certificate: RecordHash,
    pub reason: RevocationReason,
    pub revoked_at: Timestamp,
}

/// What an offer or need is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ResourceKind {
    Skill,
    Equipment,
    Software,
    HostedService,
    Premises,
    Other,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 6] = [
        ResourceKind::Skill,
        ResourceKind::Equipment,
        ResourceKind::Software,
        ResourceKind::HostedService,
        ResourceKind::Premises,
        ResourceKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Skill => "skill",
            ResourceKind::Equipment => "equipment",
            ResourceKind::Software => "software",
            ResourceKind::HostedService => "hosted_service",
            ResourceKind::Premises => "premises",
            ResourceKind::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Every kind's name, comma-separated (for messages that list them).
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

/// A point in WGS 84, in millionths of a degree (integers keep encoding and
/// comparison exact on every platform).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GeoPoint {
    pub lat_e6: i32,
    pub lon_e6: i32,
}

impl GeoPoint {
    pub fn from_degrees(lat: f64, lon: f64) -> Self {
        GeoPoint {
            lat_e6: (lat * 1e6).round() as i32,
            lon_e6: (lon * 1e6).round() as i32,
        }
    }

    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e6) / 1e6
    }

    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e6) / 1e6
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0088;
        let (la1, la2) = (self.lat().to_radians(), other.lat().to_radians());
        let dlat = la2 - la1;
        let dlon = (other.lon() - self.lon()).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }
}

/// Where the resource is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Location {
    /// INSEE code of the commune.
    pub insee: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<GeoPoint>,
}

/// Where the resource can be used or delivered. Empty lists and no radius mean
/// "the author's commune only".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ServiceArea {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communes: Vec<String>,
    /// SIRENs of EPCI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub epcis: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departements: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<u32>,
}

/// A period during which the resource is available (`from` inclusive,
/// `until` exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Window {
    pub from: Timestamp,
    pub until: Timestamp,
}

/// How costs are handled between collectivities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Pricing {
    Free,
    CostSharing {
        /// Euro cents.
        amount_cents: u64,
        /// What the amount is per, e.g. "day", "month", "use".
        per: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Terms {
    pub pricing: Pricing,
    /// Whether a convention (a signed agreement between the bodies) is required.
    pub convention_required: bool,
}

/// A role-based contact: a function, not a person (GDPR).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Contact {
    /// The role, e.g. "Secrétariat de mairie", "Service informatique".
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The body of an offer or a need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    pub author: PublicKey,
    pub id: ListingId,
    pub version: u64,
    pub kind: ResourceKind,
    pub title: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub location: Location,
    #[serde(default)]
    pub area: ServiceArea,
    /// Free text such as "2 jours par mois".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// When the resource is available; empty means "any time until expiry".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability: Vec<Window>,
    pub terms: Terms,
    pub contact: Contact,
    pub published_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A tombstone: the author withdraws the listing `(author, id)`; every node
/// purges its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    pub author: PublicKey,
    pub id: ListingId,
    pub version: u64,
    pub withdrawn_at: Timestamp,
}
