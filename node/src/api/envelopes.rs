//! `POST /v1/import`: signed envelopes from a file or another node, through
//! the ingest pipeline, with a report of outcomes by code.

use super::*;

/// Most per-record errors listed in an import report.
const MAX_IMPORT_ERRORS: usize = 100;

/// Imports envelopes: a JSON body `{"records": ["<hex>", …]}`. Each goes
/// through the ingest pipeline; the report counts outcomes by code.
pub(super) async fn import(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
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
    let mut pending = Vec::with_capacity(req.records.len());
    for (index, text) in req.records.iter().enumerate() {
        match mutua_protocol::unhex(text.trim()) {
            Some(bytes) => pending.push((index, bytes)),
            None => report.error(index, "invalid_hex", "not hexadecimal".into()),
        }
    }
    // An export lists records in key order, not in admission order: a
    // listing may come before its author's certificate. Records refused for
    // membership are retried while a pass admits something (a certificate
    // chain is at most MAX_CHAIN_DEPTH long, so this ends quickly).
    for pass in 0..=mutua_protocol::membership::MAX_CHAIN_DEPTH {
        let last_pass = pass == mutua_protocol::membership::MAX_CHAIN_DEPTH;
        let mut retry = Vec::new();
        let accepted_before = report.accepted;
        for (index, bytes) in pending {
            let outcome = state.ingest.ingest(bytes.clone(), Source::Import).await;
            match outcome {
                IngestOutcome::Accepted(_) => report.accepted += 1,
                IngestOutcome::Ignored(reason)
                    if !last_pass && is_membership_code(reason.code()) =>
                {
                    retry.push((index, bytes, reason.code()))
                }
                IngestOutcome::Ignored(reason) => report.ignore(reason.code()),
                IngestOutcome::Rejected(rejection) => {
                    report.error(index, rejection.code(), rejection.to_string())
                }
            }
        }
        if report.accepted == accepted_before || retry.is_empty() {
            for (_, _, code) in retry {
                report.ignore(code);
            }
            break;
        }
        pending = retry.into_iter().map(|(i, b, _)| (i, b)).collect();
    }
    Ok(axum::Json(report))
}

#[derive(Default, Serialize)]
struct ImportReport {
    accepted: u64,
    /// Counts by code (`duplicate`, `stale`, `expired`…).
    ignored: std::collections::BTreeMap<String, u64>,
    rejected: u64,
    /// The first rejections, with the index of the record in the request.
    errors: Vec<serde_json::Value>,
}

/// Codes of the membership refusals, which a later certificate may lift.
fn is_membership_code(code: &str) -> bool {
    matches!(
        code,
        "not_a_member" | "untrusted_issuer" | "issuer_may_not_admit" | "may_not_admit"
    )
}

impl ImportReport {
    fn ignore(&mut self, code: &str) {
        *self.ignored.entry(code.to_owned()).or_default() += 1;
    }

    fn error(&mut self, index: usize, code: &str, message: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_IMPORT_ERRORS {
            self.errors
                .push(json!({ "index": index, "code": code, "message": message }));
        }
    }
}
