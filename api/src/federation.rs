//! Who belongs to the federation: certificates issued and revoked (`POST
//! /v1/certificates`, `POST /v1/certificates/{hash}/revoke`; both answer
//! [`crate::Published`]), every member (`GET /v1/members`) and the
//! collectivities this node hosts (`POST /v1/publishers/reload`).

use mutua_protocol::{BodyKind, PublicKey, RevocationReason, Timestamp};
use serde::{Deserialize, Serialize};

use crate::records::Certificate;
use crate::wire;

/// `POST /v1/certificates`: admit `subject` into the federation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// `anchor`, or the name of a hosted publisher allowed to admit.
    /// Default: the anchor key if the node holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub subject: PublicKey,
    pub siren: String,
    pub name: String,
    pub body: BodyKind,
    /// Required for a commune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insee: Option<String>,
    #[serde(default)]
    pub may_admit: bool,
    /// Default: now less the protocol's allowed clock skew (5 minutes), so
    /// that nodes whose clocks are behind the issuer's accept it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Default: `valid_from` + 3 years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
}

/// `POST /v1/certificates/{hash}/revoke`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// As for [`IssueRequest::issuer`]; default: whichever held key issued
    /// the certificate, else the anchor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub reason: RevocationReason,
}

/// `GET /v1/members`: every stored certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Members {
    pub members: Vec<Member>,
}

/// A stored certificate, whether it is revoked, and its subject's
/// membership now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Member {
    pub certificate: Certificate,
    pub revoked: bool,
    /// `member`, or the membership error code (`not_a_member`, `revoked`,
    /// `certificate_expired`…).
    pub membership: String,
}

/// `POST /v1/publishers/reload`: the publishers now hosted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishersReloaded {
    pub publishers: Vec<HostedPublisher>,
}

/// A collectivity whose key this node holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HostedPublisher {
    pub name: String,
    #[serde(with = "wire::key_id")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub key: PublicKey,
}
