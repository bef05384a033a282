//! What the replica holds, as the API shows it: any record (`GET
//! /v1/records/{author}/{id}`, `GET /v1/certificates/{hash}`, in
//! [`crate::Published`]), a query of live offers and needs (`GET
//! /v1/records`) and the export of every envelope (`GET /v1/export`).

use mutua_protocol::{
    BodyKind, Certificate as ProtocolCertificate, Listing as ProtocolListing, ListingId, Payload,
    PublicKey, RecordHash, Revocation as ProtocolRevocation, RevocationReason, SignedRecord,
    Timestamp, Withdrawal as ProtocolWithdrawal,
};
use serde::{Deserialize, Serialize};

use crate::listings::{ListingContent, Side};
use crate::wire;

/// An offer or need as stored: its content plus what the node filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Listing {
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub author: PublicKey,
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub id: ListingId,
    pub version: u64,
    /// The hash of the signed record.
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub hash: RecordHash,
    pub published_at: Timestamp,
    #[serde(flatten)]
    pub content: ListingContent,
}

/// A membership certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Certificate {
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub hash: RecordHash,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub issuer: PublicKey,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub subject: PublicKey,
    pub siren: String,
    pub name: String,
    pub body: BodyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insee: Option<String>,
    pub may_admit: bool,
    pub issued_at: Timestamp,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
}

/// The revocation of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Revocation {
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub hash: RecordHash,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub issuer: PublicKey,
    /// The hash of the revoked certificate.
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub certificate: RecordHash,
    pub reason: RevocationReason,
    pub revoked_at: Timestamp,
}

/// The tombstone of a withdrawn listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Withdrawal {
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub hash: RecordHash,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub author: PublicKey,
    #[serde(with = "wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub id: ListingId,
    pub version: u64,
    pub withdrawn_at: Timestamp,
}

/// Any record, tagged by `type` (`offer`, `need`, `certificate`,
/// `revocation`, `withdrawal`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Offer(Listing),
    Need(Listing),
    Certificate(Certificate),
    Revocation(Revocation),
    Withdrawal(Withdrawal),
}

impl Record {
    /// The record's hash, whatever its kind.
    pub fn hash(&self) -> &RecordHash {
        match self {
            Record::Offer(l) | Record::Need(l) => &l.hash,
            Record::Certificate(c) => &c.hash,
            Record::Revocation(r) => &r.hash,
            Record::Withdrawal(w) => &w.hash,
        }
    }

    /// The listing of an offer or need.
    pub fn listing(&self) -> Option<&Listing> {
        match self {
            Record::Offer(l) | Record::Need(l) => Some(l),
            _ => None,
        }
    }
}

/// A record this API has no typed form for yet: a lending record (its
/// routes come with the lending API).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the control API has no typed form for {kind} records yet")]
pub struct NotInApi {
    pub kind: &'static str,
}

impl TryFrom<&SignedRecord> for Record {
    type Error = NotInApi;

    fn try_from(record: &SignedRecord) -> Result<Record, NotInApi> {
        let hash = *record.hash();
        Ok(match record.payload() {
            Payload::Offer(l) => Record::Offer(Listing::of(Side::Offer, l, hash)),
            Payload::Need(l) => Record::Need(Listing::of(Side::Need, l, hash)),
            Payload::Certificate(c) => Record::Certificate(Certificate::of(c, hash)),
            Payload::Revocation(r) => Record::Revocation(Revocation::of(r, hash)),
            Payload::Withdrawal(w) => Record::Withdrawal(Withdrawal::of(w, hash)),
            other => {
                return Err(NotInApi {
                    kind: other.kind_name(),
                })
            }
        })
    }
}

impl Listing {
    /// The listing of an offer or need payload; `None` for other kinds.
    pub fn from_payload(payload: &Payload, hash: RecordHash) -> Option<Listing> {
        Side::of(payload).and_then(|side| match payload {
            Payload::Offer(l) | Payload::Need(l) => Some(Listing::of(side, l, hash)),
            _ => None,
        })
    }

    pub fn of(side: Side, l: &ProtocolListing, hash: RecordHash) -> Self {
        Listing {
            author: l.author,
            id: l.id,
            version: l.version,
            hash,
            published_at: l.published_at,
            content: ListingContent::of(side, l),
        }
    }

    /// The protocol listing this describes.
    pub fn to_protocol(&self) -> (Side, ProtocolListing) {
        self.content.clone().into_listing(
            self.author,
            self.id,
            self.version,
            self.published_at,
            self.content.expires_at.unwrap_or(0),
        )
    }
}

impl Certificate {
    pub fn of(c: &ProtocolCertificate, hash: RecordHash) -> Self {
        Certificate {
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

impl Withdrawal {
    pub fn of(w: &ProtocolWithdrawal, hash: RecordHash) -> Self {
        Withdrawal {
            hash,
            author: w.author,
            id: w.id,
            version: w.version,
            withdrawn_at: w.withdrawn_at,
        }
    }
}

impl Revocation {
    pub fn of(r: &ProtocolRevocation, hash: RecordHash) -> Self {
        Revocation {
            hash,
            issuer: r.issuer,
            certificate: r.certificate,
            reason: r.reason,
            revoked_at: r.revoked_at,
        }
    }
}

/// The query parameters of `GET /v1/records`: every store filter. Lists
/// (`kind`, `tag`, `author`) are comma-separated. Text as on the wire, so
/// that the node refuses a bad value naming its parameter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordsQuery {
    /// `offer`, `need` or `both` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epci: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departement: Option<String>,
    /// `lat,lon`, an INSEE code, a postal code or a commune's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<f64>,
    /// `now` or Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,
    /// Free from this day (`YYYY-MM-DD`, a Europe/Paris date) to `free_to`,
    /// both included: listings open over those days, and offers whose
    /// calendar fits a loan of `quantity` over them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_from: Option<String>,
    /// The last free day, included (default: `free_from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_to: Option<String>,
    /// Units free over the period (default 1; with `free_from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `recency` (the default) or `distance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl RecordsQuery {
    /// The parameters given, as `(name, value)` pairs for a URL's query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let text = [
            ("side", &self.side),
            ("kind", &self.kind),
            ("tag", &self.tag),
            ("text", &self.text),
            ("insee", &self.insee),
            ("epci", &self.epci),
            ("departement", &self.departement),
            ("near", &self.near),
        ];
        let mut pairs: Vec<(&'static str, String)> = text
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect();
        if let Some(radius) = self.radius_km {
            pairs.push(("radius_km", radius.to_string()));
        }
        let rest = [
            ("available", &self.available),
            ("free_from", &self.free_from),
            ("free_to", &self.free_to),
            ("author", &self.author),
            ("sort", &self.sort),
        ];
        pairs.extend(
            rest.into_iter()
                .filter_map(|(name, value)| value.clone().map(|v| (name, v))),
        );
        if let Some(quantity) = self.quantity {
            pairs.push(("quantity", quantity.to_string()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        pairs
    }
}

/// A page of `GET /v1/records`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecordsPage {
    pub items: Vec<Hit>,
    /// To ask for the next page; `null` on the last.
    pub next_cursor: Option<String>,
    /// For a `near` query: where it was centred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<NearCentre>,
}

/// One query result: the listing and, for a radius query, its distance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Hit {
    #[serde(flatten)]
    pub listing: Listing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

/// Where a radius query was centred: the point, the radius and the commune
/// its `near` text named (when it named one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NearCentre {
    pub lat: f64,
    pub lon: f64,
    pub radius_km: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departement: Option<String>,
}

/// `GET /v1/export`: every stored record as a hex envelope, the body
/// `POST /v1/import` takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Export {
    pub records: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::fixtures;

    #[test]
    fn a_listing_round_trips_through_its_json() {
        let key = fixtures::key(1);
        let listing = fixtures::listing(&key, 9, 3);
        let record = mutua_protocol::seal(&key, &Payload::Need(listing.clone())).unwrap();
        let typed = Record::try_from(&record).unwrap();
        let json = serde_json::to_value(&typed).unwrap();
        assert_eq!(json["type"], "need");
        assert_eq!(json["side"], "need");
        assert_eq!(json["author"], key.public().key_id());
        assert_eq!(json["id"], listing.id.to_hex());
        assert_eq!(json["hash"], record.hash().to_hex());
        assert_eq!(json["location"]["insee"], "33063");
        assert_eq!(json["terms"]["pricing"]["cost_sharing"]["per"], "jour");
        let back: Record = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, typed);
        let (side, rebuilt) = back.listing().unwrap().to_protocol();
        assert_eq!(side, Side::Need);
        assert_eq!(rebuilt, listing);
        // The content part alone, sent back as input, is accepted.
        let mut input = json.as_object().unwrap().clone();
        for meta in ["type", "author", "id", "version", "hash", "published_at"] {
            input.remove(meta);
        }
        let content: ListingContent = serde_json::from_value(input.into()).unwrap();
        assert_eq!(content, typed.listing().unwrap().content);
    }

    #[test]
    fn every_kind_of_record_round_trips() {
        let anchor = fixtures::key(1);
        let member = fixtures::key(2);
        let certificate = fixtures::certificate(&anchor, &member, false);
        let payloads = [
            Payload::Offer(fixtures::minimal_listing(&member, 1, 1)),
            Payload::Certificate(certificate.clone()),
            Payload::Withdrawal(fixtures::withdrawal(&member, 1, 2)),
            Payload::Revocation(mutua_protocol::Revocation {
                issuer: anchor.public(),
                certificate: *mutua_protocol::seal(&anchor, &Payload::Certificate(certificate))
                    .unwrap()
                    .hash(),
                reason: RevocationReason::KeyLost,
                revoked_at: 1_800_000_000,
            }),
        ];
        for payload in payloads {
            let signer = match payload {
                Payload::Certificate(_) | Payload::Revocation(_) => &anchor,
                _ => &member,
            };
            let record = mutua_protocol::seal(signer, &payload).unwrap();
            let typed = Record::try_from(&record).unwrap();
            assert_eq!(typed.hash(), record.hash());
            let text = serde_json::to_string(&typed).unwrap();
            assert_eq!(
                serde_json::from_str::<Record>(&text).unwrap(),
                typed,
                "{text}"
            );
        }
    }

    #[test]
    fn query_pairs_are_the_parameters_given() {
        let query = RecordsQuery {
            side: Some("offer".into()),
            near: Some("Bordeaux".into()),
            radius_km: Some(12.5),
            limit: Some(500),
            cursor: Some("c1".into()),
            ..Default::default()
        };
        assert_eq!(
            query.pairs(),
            vec![
                ("side", "offer".to_owned()),
                ("near", "Bordeaux".to_owned()),
                ("radius_km", "12.5".to_owned()),
                ("limit", "500".to_owned()),
                ("cursor", "c1".to_owned()),
            ]
        );
        assert!(RecordsQuery::default().pairs().is_empty());
    }
}
