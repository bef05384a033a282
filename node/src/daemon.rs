//! The daemon's life: start the parts in order, serve, and stop them in
//! reverse order on a signal.
//!
//! Start: keys (refused if readable by others) → store → ingest → saved
//! certificates of the hosted publishers → API socket bound → network →
//! API files written (the node is "up" for clients from then on).
//! Stop (SIGINT/SIGTERM): `api.addr` removed (clients see the node as
//! stopping) → API stops accepting and finishes in-flight requests →
//! network shut down → store closed (sled's snapshot written) → return (exit 0).
//!
//! Details of the start: the commune reference data is parsed at once on the
//! blocking pool (parsed lazily, it made the first listing's validation slow
//! and every gossip message queued behind it waited); a certificate saved as
//! a file while the node was down takes effect before the network starts;
//! fixed p2p ports are probed first (`crate::listen`: libp2p sets
//! `SO_REUSEPORT`, so a second node on a taken port would bind silently);
//! after the network starts, the hosted publishers' certificates are
//! re-announced; `api.token` is written before `api.addr`. At the stop, the
//! network task gets `NETWORK_STOP_GRACE` after acknowledging; every
//! acknowledged write was already flushed, so dropping the store loses
//! nothing. Operators' view of all this: OPERATIONS.md.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mutua_store::{OpenError, Store, StoreConfig};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::api::{self, ApiOptions, NodeState};
use crate::config::Settings;
use crate::datadir::{self, DataDir, DataDirError};
use crate::ingest::Ingest;
use crate::metrics::NodeMetrics;
use crate::net::{self, NetworkConfig, NetworkError};

/// How long the network task may take to finish after acknowledging shutdown.
const NETWORK_STOP_GRACE: Duration = Duration::from_secs(2);

/// Why the daemon could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The data directory or a key in it is unusable.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The network could not start.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A listen address (p2p or control API) is taken or not local.
    #[error(transparent)]
    Listen(#[from] crate::listen::ListenError),
    /// The async runtime could not start (threads, file descriptors).
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The control API server failed.
    #[error("control API server: {0}")]
    Serve(std::io::Error),
}

/// Runs the node until `shutdown` completes, then stops it cleanly.
pub async fn run(
    settings: Settings,
    datadir: DataDir,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let started = Instant::now();
    let keypair = datadir.node_keypair()?;
    let publishers = datadir.publishers()?;
    let anchor = datadir.anchor_key()?;

    let store = Store::open(StoreConfig {
        cache_capacity_bytes: settings.store_cache_mb * 1024 * 1024,
        ..StoreConfig::new(datadir.store_path(), settings.anchors.clone())
    })?;
    // The commune reference data is parsed on first use, and the first use
    // is otherwise the first listing received: its validation then holds up
    // the sequential gossip queue (~0.1 s release, ~1 s debug). Parse it now,
    // off the start path.
    tokio::task::spawn_blocking(|| {
        mutua_store::refdata::reference();
    });
    // Gives glibc's freed memory back after bursts (sync, imports).
    let trimmer = tokio::spawn(crate::memory::run_trimmer());
    let mut metrics = NodeMetrics::new();
    let ingest = Ingest::new(store.clone(), metrics.ingest.clone());

    // Saved certificates first, before the network starts.
    crate::hosted::ingest_saved_certificates(&ingest, &publishers.iter().collect::<Vec<_>>()).await;

    crate::listen::check_p2p_free(&settings.listen)?;
    let listener = TcpListener::bind(settings.api_listen)
        .await
        .map_err(|cause| crate::listen::ListenError {
            setting: crate::listen::Setting::Api,
            addr: settings.api_listen.to_string(),
            cause,
        })?;
    let api_addr = listener.local_addr().map_err(DaemonError::Serve)?;
    let web_listener = match &settings.web {
        Some(web) => Some(crate::web::bind(web.listen).await?),
        None => None,
    };

    let mut network_config =
        NetworkConfig::new(net::topic_for(&settings.federation, &settings.anchors));
    network_config.listen = settings.listen.clone();
    network_config.bootstrap = settings.bootstrap.clone();
    network_config.mdns = settings.mdns;
    network_config.max_connections = settings.max_connections;
    network_config.sync_interval = Duration::from_secs(settings.sync_interval_secs);
    network_config.gossip = settings.gossip.clone();
    let peer_id = keypair.public().to_peer_id();
    let (network, network_task) =
        net::spawn(network_config, keypair, ingest.clone(), &mut metrics).await?;

    for p in &publishers {
        tracing::info!(publisher = %p.name, key = %p.key.public(), certified = p.certificate.is_some(), "hosting");
        if let Some(bytes) = &p.certificate {
            // Re-announce: peers that missed it get it now or by sync.
            let _ = network.publish(bytes.clone()).await;
        }
    }

    let token = datadir::new_token();
    let state = Arc::new(NodeState {
        federation: settings.federation.clone(),
        anchors: settings.anchors.clone(),
        default_lifetime_days: settings.default_lifetime_days,
        public_base_url: settings
            .opendata_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{api_addr}")),
        store: store.clone(),
        ingest,
        network: network.clone(),
        metrics: Arc::new(metrics),
        datadir: datadir.clone(),
        publishers: crate::hosted::Hosted::new(publishers),
        anchor: anchor.map(Arc::new),
        started,
        writes: tokio::sync::Mutex::new(()),
    });
    let (stop_lending, lending_stopping) = tokio::sync::watch::channel(false);
    let decider = tokio::spawn(crate::lending::decider::run(
        state.clone(),
        lending_stopping,
    ));
    let (stop_web, web_stopping) = tokio::sync::watch::channel(false);
    let web_task = match (web_listener, settings.web.clone()) {
        (Some(listener), Some(web)) => Some(tokio::spawn(crate::web::serve(
            listener,
            state.clone(),
            web,
            async move {
                let mut stopping = web_stopping;
                let _ = stopping.wait_for(|stop| *stop).await;
            },
        ))),
        _ => None,
    };
    // The open-data documents on the API's listener too (loopback: for the
    // CLI and local tools); the web page's listener is the public one.
    let open_data = crate::opendata::router(state.clone());
    let router = api::router(
        state,
        &ApiOptions {
            token: token.clone(),
            metrics_public: settings.metrics_public,
            max_body_bytes: settings.max_body_bytes,
            max_import_bytes: settings.max_import_bytes,
        },
    )
    .merge(open_data);
    datadir.write_api_files(api_addr, &token)?;
    tracing::info!(%peer_id, api = %api_addr, federation = %settings.federation, "node started");

    let stopping_dir = datadir.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down");
        stopping_dir.remove_api_addr();
        let _ = stop_web.send(true);
        let _ = stop_lending.send(true);
    });
    let served = serve.await;
    if let Some(task) = web_task {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the web page server failed"),
            Err(e) => tracing::warn!(error = %e, "the web page task panicked"),
            Ok(Ok(())) => {}
        }
    }
    if let Err(e) = decider.await {
        tracing::warn!(error = %e, "the lending decider panicked");
    }
    datadir.remove_api_addr();
    network.shutdown().await;
    // The actor has acknowledged; give it a moment to close connections, but
    // never let a stuck task keep the process from exiting.
    if tokio::time::timeout(NETWORK_STOP_GRACE, network_task)
        .await
        .is_err()
    {
        tracing::warn!("the network task did not finish in time; exiting anyway");
    }
    trimmer.abort();
    // Every write was flushed by the store before it was acknowledged. The
    // close has sled write its snapshot, which sled 0.34 does only when it
    // opens: without it the next start replays this whole run's log
    // (seconds per 100k listings, BENCHMARKS.md); it takes that time now.
    match tokio::task::spawn_blocking(move || store.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "closing the store failed; the next start replays sled's log")
        }
        Err(e) => tracing::warn!(error = %e, "closing the store panicked"),
    }
    served.map_err(DaemonError::Serve)?;
    tracing::info!("node stopped");
    Ok(())
}

/// Runs the node on a new multi-threaded runtime until SIGINT or SIGTERM:
/// what a binary's `main` calls.
pub fn run_blocking(settings: Settings, datadir: DataDir) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    // The handlers are installed before the node starts: `api.addr` tells
    // clients (and test harnesses) that the node may be stopped, so a SIGTERM
    // right after it must stop the node cleanly, not kill it.
    runtime.block_on(async { run(settings, datadir, shutdown_signal()).await })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (systemd stop). The handlers are
/// installed when this is called, not when the future is first polled, so
/// call it from within the runtime before starting the work it stops.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (term, interrupt) => {
                let error = term.err().or(interrupt.err());
                tracing::warn!(error = ?error, "cannot listen for SIGTERM/SIGINT; only Ctrl-C stops the node");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A SIGTERM that arrives after `shutdown_signal()` was called but before
    /// its future is polled (the node is starting its API) must complete it,
    /// not kill the process with the default action.
    #[tokio::test]
    async fn a_signal_right_after_installing_is_caught() {
        let stopped = super::shutdown_signal();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(30), stopped)
            .await
            .expect("the pending SIGTERM completes the shutdown future");
    }
}
