//! The node itself: `GET /v1/health`, `/v1/status`, `/v1/peers` and
//! `/metrics` (Prometheus text), and the conversion of the network's and
//! sync's reports into `mutua-api` types.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

use super::errors::ApiError;
use super::{on_store, unix_now, Shared};

pub(super) async fn health() -> Json<mutua_api::Health> {
    Json(mutua_api::Health::ok())
}

pub(super) async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let store = state.store.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || store.stats()).await {
        state.metrics.store.observe(&stats);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

pub(super) async fn status(
    State(state): State<Shared>,
) -> Result<Json<mutua_api::Status>, ApiError> {
    let network = state
        .network
        .status()
        .await
        .map_err(|e| ApiError::internal("network_unavailable", e))?;
    let sync = state
        .network
        .sync_status()
        .await
        .map_err(|e| ApiError::internal("network_unavailable", e))?;
    let now = unix_now();
    let hosted = state.publishers.all();
    let (stats, digest, publishers) = on_store(&state.store, move |store| {
        let stats = store.stats()?;
        // Equal on two replicas iff they hold the same records: what a
        // convergence check (the testnet) compares across nodes. Taken from
        // the whole-range sync fingerprint (count and sum of SHA-256(key ‖
        // hash), kept per bucket by the store), the equality sync itself
        // relies on: `Store::digest` would scan the whole replica at every
        // status call.
        let fingerprint = store.sync_fingerprint(&mutua_store::SyncRange::all())?;
        let digest = mutua_protocol::derived::replica_digest(&fingerprint);
        let mut publishers = Vec::with_capacity(hosted.len());
        for p in hosted.iter() {
            let key = p.key.public();
            publishers.push(match store.membership(&key, now)? {
                Ok(m) => mutua_api::PublisherStatus {
                    name: p.name.clone(),
                    key,
                    membership: "member".into(),
                    may_admit: m.may_admit,
                    valid_until: m.certificate.map(|c| c.valid_until),
                    message: None,
                },
                Err(e) => mutua_api::PublisherStatus {
                    name: p.name.clone(),
                    key,
                    membership: e.code().into(),
                    may_admit: false,
                    valid_until: None,
                    message: Some(e.to_string()),
                },
            });
        }
        Ok::<_, mutua_store::StoreError>((stats, digest, publishers))
    })
    .await?;
    Ok(Json(mutua_api::Status {
        version: env!("CARGO_PKG_VERSION").into(),
        federation: state.federation.clone(),
        anchors: state.anchors.clone(),
        anchor_key: state.anchor.as_ref().map(|k| k.public()),
        uptime_secs: state.started.elapsed().as_secs(),
        network,
        store: mutua_api::StoreCounts {
            certificates: stats.certificates,
            revocations: stats.revocations,
            offers: stats.offers,
            needs: stats.needs,
            withdrawals: stats.withdrawals,
            total: stats.total,
            disk_bytes: stats.disk_bytes,
        },
        digest: mutua_protocol::hex(&digest),
        sync,
        publishers,
    }))
}

pub(super) async fn peers(State(state): State<Shared>) -> Result<Json<mutua_api::Peers>, ApiError> {
    let peers = state
        .network
        .peers()
        .await
        .map_err(|e| ApiError::internal("network_unavailable", e))?;
    Ok(Json(mutua_api::Peers { peers }))
}
