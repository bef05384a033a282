//! A stopped node's replica, readable: `mutua search`, `show` and `export`
//! still answer while the node is down (a crash, maintenance), from what it
//! had received.
//!
//! The control API's own router answers, on a loopback port of the calling
//! process with a token of its own, so queries mean exactly what they mean
//! on the running node. Only `GET` is served: nothing is signed, ingested or
//! written, and there is no network (`/v1/status`, `/v1/peers` say so).
//! The hosted collectivities' keys are read, as the CLI reads them for a
//! stopped node, so that their requests are listed.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mutua_store::{Store, StoreConfig};
use thiserror::Error;

use crate::api::{self, ApiOptions, NodeState};
use crate::config::Settings;
use crate::datadir::{self, ApiEndpoint, DataDir};
use crate::ingest::Ingest;
use crate::metrics::NodeMetrics;
use crate::net::NetworkHandle;

/// Why the replica cannot be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// The node never ran here: there is no replica to read.
    #[error("{path} holds no replica yet (the node has never run with this data directory)", path = .path.display())]
    NoReplica { path: std::path::PathBuf },
    #[error(transparent)]
    Store(#[from] mutua_store::OpenError),
    #[error(transparent)]
    DataDir(#[from] crate::datadir::DataDirError),
    #[error("cannot serve the replica in this process: {0}")]
    Io(#[from] std::io::Error),
}

/// The replica served read-only until dropped.
pub struct ReplicaServer {
    pub endpoint: ApiEndpoint,
    _runtime: tokio::runtime::Runtime,
}

/// Opens the replica of a stopped node (the caller has checked that no
/// process has it open) and serves the API's read endpoints on loopback.
pub fn serve_replica(dir: &DataDir, settings: &Settings) -> Result<ReplicaServer, OfflineError> {
    // Opening a store that does not exist would create one.
    if !dir.store_path().join("db").exists() {
        return Err(OfflineError::NoReplica {
            path: dir.store_path(),
        });
    }
    let store = Store::open(StoreConfig::new(dir.store_path(), settings.anchors.clone()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let metrics = NodeMetrics::new();
    let state = Arc::new(NodeState {
        federation: settings.federation.clone(),
        anchors: settings.anchors.clone(),
        default_lifetime_days: settings.default_lifetime_days,
        public_base_url: settings
            .opendata_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        ingest: Ingest::new(store.clone(), metrics.ingest.clone()),
        store,
        network: NetworkHandle::detached(),
        metrics: Arc::new(metrics),
        datadir: dir.clone(),
        // The hosted collectivities, so that reads about them (their
        // requests) answer as on the node; `read_only` refuses every
        // write, and no decider runs, so nothing is signed here.
        publishers: crate::hosted::Hosted::new(dir.publishers()?),
        anchor: None,
        started: Instant::now(),
        writes: tokio::sync::Mutex::new(()),
    });
    let token = datadir::new_token();
    let router = api::router(
        state,
        &ApiOptions {
            token: token.clone(),
            metrics_public: false,
            max_body_bytes: 0,
            max_import_bytes: 0,
        },
    )
    .layer(middleware::from_fn(read_only));
    runtime.spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "serving the replica failed");
        }
    });
    Ok(ReplicaServer {
        endpoint: ApiEndpoint { addr, token },
        _runtime: runtime,
    })
}

/// Refuses every request but `GET`, in the API's error shape.
async fn read_only(req: Request, next: Next) -> Response {
    if req.method() == Method::GET {
        return next.run(req).await;
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(mutua_api::ErrorBody {
            error: mutua_api::Refusal::new(
                "node_not_running",
                "the node is not running: its replica can be read, not written",
            ),
        }),
    )
        .into_response()
}
