//! `POST /v1/import`: signed envelopes from a file or another node, through
//! the ingest pipeline ([`Ingest::ingest_import`](crate::ingest::Ingest::ingest_import),
//! which orders them for admission), with a report of outcomes by code.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use mutua_api::{ImportReport, ImportRequest};

use super::errors::{body_too_large, ApiError};
use super::Shared;
use crate::ingest::IngestOutcome;

/// Most per-record errors listed in an import report.
const MAX_IMPORT_ERRORS: usize = 100;

/// Imports envelopes: a JSON body `{"records": ["<hex>", …]}`. The report
/// counts outcomes by code and lists the first rejections (bad hex first,
/// then the records refused, each by index).
pub(super) async fn import(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send {\"records\": [hex envelopes]} as Content-Type: application/json",
        ));
    }
    let req: ImportRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    let mut report = ImportReport::default();
    let mut indices = Vec::with_capacity(req.records.len());
    let mut envelopes = Vec::with_capacity(req.records.len());
    for (index, text) in req.records.iter().enumerate() {
        match mutua_protocol::unhex(text.trim()) {
            Some(bytes) => {
                indices.push(index);
                envelopes.push(bytes);
            }
            None => error(&mut report, index, "invalid_hex", "not hexadecimal".into()),
        }
    }
    let outcomes = state.ingest.ingest_import(envelopes).await;
    for (index, outcome) in indices.into_iter().zip(outcomes) {
        match outcome {
            IngestOutcome::Accepted(_) => report.accepted += 1,
            IngestOutcome::Ignored(reason) => {
                *report.ignored.entry(reason.code().to_owned()).or_default() += 1
            }
            IngestOutcome::Rejected(rejection) => {
                error(&mut report, index, rejection.code(), rejection.to_string())
            }
        }
    }
    Ok(Json(report))
}

fn error(report: &mut ImportReport, index: usize, code: &str, message: String) {
    report.rejected += 1;
    if report.errors.len() < MAX_IMPORT_ERRORS {
        report.errors.push(mutua_api::ImportError {
            index,
            code: code.to_owned(),
            message,
        });
    }
}
