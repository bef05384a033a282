//! `POST /v1/import`: signed envelopes (a backup, an export of another
//! node) through the node's ingest pipeline, and its report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The body: envelopes, each as hex, in any order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub records: Vec<String>,
}

/// What became of the envelopes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportReport {
    pub accepted: u64,
    /// Counts by code (`duplicate`, `stale`, `expired`…).
    pub ignored: BTreeMap<String, u64>,
    pub rejected: u64,
    /// The first rejections (at most 100).
    pub errors: Vec<ImportError>,
}

/// A rejected envelope: its index in the request, the rule it broke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportError {
    pub index: usize,
    pub code: String,
    pub message: String,
}
