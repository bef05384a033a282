//! Staff accounts of the node's web page: `POST /v1/web/users` (what
//! `mutua web user add` sends). Accounts live in the node's data directory
//! and never gossip.

use mutua_protocol::Timestamp;
use serde::{Deserialize, Serialize};

/// `POST /v1/web/users`: invite a member of staff (again, if the login
/// exists: a new link, the collectivities replaced, the password kept
/// until the new one is chosen).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WebUserRequest {
    /// The person's name, shown on the page.
    pub name: String,
    /// Default: derived from the name (`marie-dupont`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// The hosted collectivities this person acts for: a hosted
    /// publisher's name, or the INSEE code or SIREN of its certificate.
    pub collectivities: Vec<String>,
}

/// The answer (201): the one-time invitation link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebInvitation {
    pub login: String,
    /// The hosted publishers (names) the account acts for.
    pub collectivities: Vec<String>,
    /// `/invitation/<token>`, on the web page.
    pub path: String,
    /// The whole link, when the node serves the page (`web.public_url`,
    /// else its listen address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub expires_at: Timestamp,
}
