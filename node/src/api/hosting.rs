//! `POST /v1/publishers/reload`: the running node reads its publisher keys
//! again, after `mutua key add` or `key remove` changed them.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;

use super::{ApiError, Shared};
use crate::hosted::ingest_saved_certificates;

pub(super) async fn reload(State(state): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    let dir = state.datadir.clone();
    let publishers = tokio::task::spawn_blocking(move || {
        // Keys readable by others are refused here as at start.
        dir.check_permissions()?;
        dir.publishers()
    })
    .await
    .map_err(|e| ApiError::internal("datadir_error", e))?
    .map_err(|e| ApiError::internal("datadir_error", e))?;
    let before: HashSet<String> = state
        .publishers
        .all()
        .iter()
        .map(|p| p.key.public().key_id())
        .collect();
    let added: Vec<_> = publishers
        .iter()
        .filter(|p| !before.contains(&p.key.public().key_id()))
        .collect();
    ingest_saved_certificates(&state.ingest, &added).await;
    for p in &added {
        tracing::info!(publisher = %p.name, key = %p.key.public(), certified = p.certificate.is_some(), "hosting");
        if let Some(bytes) = &p.certificate {
            let _ = state.network.publish(bytes.clone()).await;
        }
    }
    let listed: Vec<_> = publishers
        .iter()
        .map(|p| json!({ "name": p.name, "key": p.key.public().key_id() }))
        .collect();
    let (added, removed) = (added.len(), before.len() + added.len() - publishers.len());
    state.publishers.set(publishers);
    tracing::info!(added, removed, "hosted publishers reloaded");
    Ok(axum::Json(json!({ "publishers": listed })))
}
