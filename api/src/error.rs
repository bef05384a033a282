//! The error body every endpoint sends with a non-2xx status:
//! `{"error": {"code", "message", "field"?}}`.
//!
//! `code` is stable: a protocol rule code (PROTOCOL.md) for a refused
//! record, a local rule code for what only this node's publishers are held
//! to, otherwise one of the codes `node/openapi.yaml` lists. `field` names
//! the request field (or record field path) at fault, when there is one.

use serde::{Deserialize, Serialize};

/// The whole body of an error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    pub error: Refusal,
}

/// Why the node refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Refusal {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Refusal {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Refusal {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({}, field {field})", self.message, self.code),
            None => write!(f, "{} ({})", self.message, self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_reads_and_writes_as_the_node_sends_it() {
        let sent = r#"{"error":{"code":"too_short","field":"offer.title","message":"offer.title: must have at least 3 characters, has 1"}}"#;
        let body: ErrorBody = serde_json::from_str(sent).unwrap();
        assert_eq!(
            body,
            ErrorBody {
                error: Refusal::new(
                    "too_short",
                    "offer.title: must have at least 3 characters, has 1"
                )
                .with_field("offer.title")
            }
        );
        let again: serde_json::Value = serde_json::to_value(&body).unwrap();
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(sent).unwrap()
        );
        // No field: none written.
        let plain = ErrorBody {
            error: Refusal::new("unauthorized", "missing token"),
        };
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"error":{"code":"unauthorized","message":"missing token"}}"#
        );
    }
}
