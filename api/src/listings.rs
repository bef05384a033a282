//! Offers and needs as a publisher writes them, and what the node answers
//! when it signs something: `POST /v1/listings`, `PUT` and `DELETE
//! /v1/listings/{id}`, `POST /v1/listings/import`. The same [`Published`]
//! answers certificate issue and revocation.

use mutua_protocol::{
    Contact, Listing as ProtocolListing, ListingId, Location, Payload, PublicKey, ResourceKind,
    ServiceArea, Terms, Timestamp, Window,
};
use serde::{Deserialize, Serialize};

use crate::records::Record;

/// `offer` or `need`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

    /// The payload of this side carrying `listing`.
    pub fn payload(self, listing: ProtocolListing) -> Payload {
        match self {
            Side::Offer => Payload::Offer(listing),
            Side::Need => Payload::Need(listing),
        }
    }

    /// The side of an offer or need payload; `None` for other records.
    pub fn of(payload: &Payload) -> Option<Side> {
        match payload {
            Payload::Offer(_) => Some(Side::Offer),
            Payload::Need(_) => Some(Side::Need),
            _ => None,
        }
    }
}

/// What the publisher writes: a listing without its author, id, version and
/// publication time, which the node fills. The body of `POST` and `PUT
/// /v1/listings`, and the content part of [`crate::Listing`]. Unknown fields
/// are refused by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    ) -> (Side, ProtocolListing) {
        let listing = ProtocolListing {
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

    /// The content of a stored listing (its expiry given).
    pub fn of(side: Side, l: &ProtocolListing) -> Self {
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

/// `?as=<publisher>`: which hosted collectivity signs (`POST
/// /v1/listings`, `PUT /v1/listings/{id}`, `POST /v1/listings/import`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AsPublisher {
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
}

/// `?as=<publisher>&side=<offer|need>` of `DELETE /v1/listings/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WithdrawParams {
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// The side the client believes the listing is; checked when given
    /// (`wrong_side`, 409, otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
}

/// What the node answers when it signed a record (201 or 200): the record,
/// its envelope, how far gossip took it, and the local warnings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Published {
    pub record: Record,
    /// The signed envelope, hex.
    pub envelope: String,
    pub gossip: Gossip,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// How far gossip took a record the node just stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Gossip {
    Report(PublishReport),
    /// The network did not take it (no peer yet, shutting down): stored
    /// anyway, anti-entropy sync delivers it later.
    Deferred {
        error: String,
    },
}

/// What became of a publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishReport {
    /// The gossipsub message id: the record hash, in hexadecimal.
    pub message_id: String,
    pub delivery: Delivery,
}

/// How far a publication went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Delivery {
    /// Sent to this many peers subscribed to the topic.
    Sent { peers: usize },
    /// No peer is subscribed to the topic yet.
    NoPeers,
    /// Gossip already carried it (this node has seen it recently).
    AlreadyKnown,
}

/// Something the publisher should check, which did not stop publication
/// (`far_from_commune`…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Warning {
    pub code: String,
    pub field: String,
    pub message: String,
}

/// The body of `POST /v1/listings/import`: one spreadsheet row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    /// The slot to write (32 hex digits); derived from the content if
    /// absent. Text, so that a bad id is refused naming the field `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub listing: ListingContent,
    /// Say what would happen; sign and store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What the import of a row did (or, in a dry run, would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Published,
    Updated,
    Unchanged,
}

impl ImportOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportOutcome::Published => "published",
            ImportOutcome::Updated => "updated",
            ImportOutcome::Unchanged => "unchanged",
        }
    }
}

/// The answer of `POST /v1/listings/import` (201 when published, else 200).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportedListing {
    pub outcome: ImportOutcome,
    #[serde(with = "crate::wire::hex")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub id: ListingId,
    pub version: u64,
    pub dry_run: bool,
    /// What was signed, when something was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip: Option<Gossip>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_input_fields_are_named() {
        let err = serde_json::from_str::<ListingContent>(r#"{"side":"offer","titel":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("titel"), "{err}");
    }

    #[test]
    fn gossip_reads_a_report_or_a_deferral() {
        let sent: Gossip =
            serde_json::from_str(r#"{"delivery":{"peers":2,"status":"sent"},"message_id":"ab12"}"#)
                .unwrap();
        assert_eq!(
            sent,
            Gossip::Report(PublishReport {
                message_id: "ab12".into(),
                delivery: Delivery::Sent { peers: 2 }
            })
        );
        let none: Gossip =
            serde_json::from_str(r#"{"delivery":{"status":"no_peers"},"message_id":"ab12"}"#)
                .unwrap();
        assert!(matches!(
            none,
            Gossip::Report(PublishReport {
                delivery: Delivery::NoPeers,
                ..
            })
        ));
        let deferred: Gossip =
            serde_json::from_str(r#"{"error":"the network task has stopped"}"#).unwrap();
        assert_eq!(
            deferred,
            Gossip::Deferred {
                error: "the network task has stopped".into()
            }
        );
    }

    #[test]
    fn withdraw_parameters_leave_out_what_is_not_given() {
        let params = WithdrawParams {
            publisher: Some("mairie-a".into()),
            side: Some(Side::Need),
        };
        assert_eq!(
            serde_json::to_string(&params).unwrap(),
            r#"{"as":"mairie-a","side":"need"}"#
        );
        assert_eq!(
            serde_json::to_string(&WithdrawParams::default()).unwrap(),
            "{}"
        );
    }
}
