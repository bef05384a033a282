//! The JSON shapes of the control API (documented in `node/openapi.yaml`).
//!
//! One convention everywhere: times are Unix seconds (UTC) as in the
//! protocol, keys are key ids (`mk…`), listing ids and record hashes are
//! lowercase hex, and the nested parts of a listing (location, area,
//! availability, terms, contact) have exactly their protocol field names.

use mutua_protocol::{
    BodyKind, Certificate, Contact, Listing, ListingId, Location, Payload, PublicKey, RecordHash,
    ResourceKind, Revocation, RevocationReason, ServiceArea, SignedRecord, Terms, Timestamp,
    Window, Withdrawal,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `offer` or `need`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Offer,
    Need,
}

impl Side {
    /// The name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Offer => "offer",
            Side::Need => "need",
        }
    }

    pub fn payload(self, listing: Listing) -> Payload {
        match self {
            Side::Offer => Payload::Offer(listing),
            Side::Need => Payload::Need(listing),
        }
    }
}

/// What the publisher writes: a listing without its author, id, version and
/// publication time, which the node fills. Also the content part of
/// [`ListingJson`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingContent {
    pub side: Side,
    pub kind: ResourceKind,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub location: Location,
    #[serde(default)]
    pub area: ServiceArea,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability: Vec<Window>,
    pub terms: Terms,
    pub contact: Contact,
    /// Defaults to `publish.default_lifetime_days` after publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl ListingContent {
    /// The listing this content makes, by `author`, in slot `id`.
    pub fn into_listing(
        self,
        author: PublicKey,
        id: ListingId,
        version: u64,
        now: Timestamp,
        default_expiry: Timestamp,
    ) -> (Side, Listing) {
        let listing = Listing {
            author,
            id,
            version,
            kind: self.kind,
            title: self.title,
            description: self.description,
            tags: self.tags,
            location: self.location,
            area: self.area,
            capacity: self.capacity,
            availability: self.availability,
            terms: self.terms,
            contact: self.contact,
            published_at: now,
            expires_at: self.expires_at.unwrap_or(default_expiry),
        };
        (self.side, listing)
    }

    fn of(side: Side, l: &Listing) -> Self {
        ListingContent {
            side,
            kind: l.kind,
            title: l.title.clone(),
            description: l.description.clone(),
            tags: l.tags.clone(),
            location: l.location.clone(),
            area: l.area.clone(),
            capacity: l.capacity.clone(),
            availability: l.availability.clone(),
            terms: l.terms.clone(),
            contact: l.contact.clone(),
            expires_at: Some(l.expires_at),
        }
    }
}

/// An offer or need as the API returns it.
#[derive(Clone, Debug, Serialize)]
pub struct ListingJson {
    #[serde(serialize_with = "key_id")]
    pub author: PublicKey,
    #[serde(serialize_with = "listing_id")]
    pub id: ListingId,
    pub version: u64,
    /// The hash of the signed record (hex).
    pub hash: String,
    pub published_at: Timestamp,
    #[serde(flatten)]
    pub content: ListingContent,
}

/// A certificate as the API returns it.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateJson {
    pub hash: String,
    #[serde(serialize_with = "key_id")]
    pub issuer: PublicKey,
    #[serde(serialize_with = "key_id")]
    pub subject: PublicKey,
    pub siren: String,
    pub name: String,
    pub body: BodyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insee: Option<String>,
    pub may_admit: bool,
    pub issued_at: Timestamp,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct RevocationJson {
    pub hash: String,
    #[serde(serialize_with = "key_id")]
    pub issuer: PublicKey,
    pub certificate: String,
    pub reason: RevocationReason,
    pub revoked_at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct WithdrawalJson {
    pub hash: String,
    #[serde(serialize_with = "key_id")]
    pub author: PublicKey,
    #[serde(serialize_with = "listing_id")]
    pub id: ListingId,
    pub version: u64,
    pub withdrawn_at: Timestamp,
}

/// Any record, tagged by `type` (`offer`, `need`, `certificate`,
/// `revocation`, `withdrawal`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordJson {
    Offer(ListingJson),
    Need(ListingJson),
    Certificate(CertificateJson),
    Revocation(RevocationJson),
    Withdrawal(WithdrawalJson),
}

impl RecordJson {
    pub fn of(record: &SignedRecord) -> RecordJson {
        let hash = record.hash().to_hex();
        match record.payload() {
            Payload::Offer(l) => RecordJson::Offer(ListingJson::of(Side::Offer, l, hash)),
            Payload::Need(l) => RecordJson::Need(ListingJson::of(Side::Need, l, hash)),
            Payload::Certificate(c) => RecordJson::Certificate(CertificateJson::of(c, hash)),
            Payload::Revocation(r) => RecordJson::Revocation(RevocationJson::of(r, hash)),
            Payload::Withdrawal(w) => RecordJson::Withdrawal(WithdrawalJson::of(w, hash)),
        }
    }
}

impl ListingJson {
    /// The listing of an offer or need; `None` for other kinds.
    pub fn from_payload(payload: &Payload, hash: &RecordHash) -> Option<ListingJson> {
        match payload {
            Payload::Offer(l) => Some(ListingJson::of(Side::Offer, l, hash.to_hex())),
            Payload::Need(l) => Some(ListingJson::of(Side::Need, l, hash.to_hex())),
            _ => None,
        }
    }

    fn of(side: Side, l: &Listing, hash: String) -> Self {
        ListingJson {
            author: l.author,
            id: l.id,
            version: l.version,
            hash,
            published_at: l.published_at,
            content: ListingContent::of(side, l),
        }
    }
}

impl CertificateJson {
    pub fn of(c: &Certificate, hash: String) -> Self {
        CertificateJson {
            hash,
            issuer: c.issuer,
            subject: c.subject,
            siren: c.siren.clone(),
            name: c.name.clone(),
            body: c.body,
            insee: c.insee.clone(),
            may_admit: c.may_admit,
            issued_at: c.issued_at,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
        }
    }
}

impl RevocationJson {
    fn of(r: &Revocation, hash: String) -> Self {
        RevocationJson {
            hash,
            issuer: r.issuer,
            certificate: r.certificate.to_hex(),
            reason: r.reason,
            revoked_at: r.revoked_at,
        }
    }
}

impl WithdrawalJson {
    pub fn of(w: &Withdrawal, hash: String) -> Self {
        WithdrawalJson {
            hash,
            author: w.author,
            id: w.id,
            version: w.version,
            withdrawn_at: w.withdrawn_at,
        }
    }
}

/// `POST /v1/certificates`: admit `subject` into the federation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// `anchor`, or the name of a hosted publisher allowed to admit. Default:
    /// the anchor key if the node holds one.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(deserialize_with = "parse_key_id")]
    pub subject: PublicKey,
    pub siren: String,
    pub name: String,
    pub body: BodyKind,
    #[serde(default)]
    pub insee: Option<String>,
    #[serde(default)]
    pub may_admit: bool,
    /// Default: now.
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    /// Default: `valid_from` + 3 years.
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
}

/// `POST /v1/certificates/{hash}/revoke`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// As for [`IssueRequest::issuer`]; default: whichever held key issued
    /// the certificate, else the anchor.
    #[serde(default)]
    pub issuer: Option<String>,
    pub reason: RevocationReason,
}

/// `POST /v1/import` with a JSON body.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Envelopes, each as hex.
    pub records: Vec<String>,
}

fn key_id<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(key)
}

fn listing_id<S: Serializer>(id: &ListingId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_hex())
}

fn parse_key_id<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a key id: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::fixtures;

    #[test]
    fn a_listing_round_trips_through_its_json_content() {
        let key = fixtures::key(1);
        let listing = fixtures::listing(&key, 9, 3);
        let record = mutua_protocol::seal(&key, &Payload::Need(listing.clone())).unwrap();
        let json = serde_json::to_value(RecordJson::of(&record)).unwrap();
        assert_eq!(json["type"], "need");
        assert_eq!(json["side"], "need");
        assert_eq!(json["author"], key.public().key_id());
        assert_eq!(json["id"], listing.id.to_hex());
        assert_eq!(json["hash"], record.hash().to_hex());
        assert_eq!(json["location"]["insee"], "33063");
        assert_eq!(json["terms"]["pricing"]["cost_sharing"]["per"], "jour");
        // The content part, sent back as input, rebuilds the same listing.
        let mut input = json.as_object().unwrap().clone();
        for meta in ["type", "author", "id", "version", "hash", "published_at"] {
            input.remove(meta);
        }
        let content: ListingContent = serde_json::from_value(input.into()).unwrap();
        let (side, rebuilt) =
            content.into_listing(key.public(), listing.id, 3, listing.published_at, 0);
        assert_eq!(side, Side::Need);
        assert_eq!(rebuilt, listing);
    }

    #[test]
    fn unknown_input_fields_are_named() {
        let err = serde_json::from_str::<ListingContent>(r#"{"side":"offer","titel":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("titel"), "{err}");
    }
}
