//! The control API: HTTP/JSON on loopback, for the `mutua` CLI and (later) a
//! web page. Its requests and responses are the types of the `mutua-api`
//! crate, which clients share; `node/openapi.yaml` describes them and a
//! test (`openapi_matches_the_types`) keeps both in step.
//!
//! Loopback by default: `Config::validate` refuses a non-loopback
//! `api.listen` unless `api.allow_remote = true`. Every request but
//! `GET /v1/health` (which reveals nothing but "ok") and `GET /metrics` when
//! configured public needs `Authorization: Bearer <token>`, the token being
//! the content of `<data dir>/api.token`, compared in constant time
//! (`auth`). Bodies are capped (`api.max_body_bytes`, and a larger
//! `api.max_import_bytes` for `/v1/import`). Errors are
//! `{"error": {"code", "message", "field"?}}` with a stable `code`
//! (`errors`), malformed JSON and queries included (serde's message names
//! the unknown or wrong field): a refused record answers 422 with the
//! protocol's rule code and field (`RecordError::code()`,
//! `MembershipError::code()`), anything else one of the codes listed in the
//! OpenAPI document (the JSON conventions are `mutua_api`'s).
//!
//! Writes (publish, update, withdraw, certificates) sign with a hosted key,
//! go through the ingest pipeline like any record (so the node never
//! publishes what it would refuse from a peer), are durable when the
//! response says so, and only then are gossiped (`signing`). A gossip
//! failure is reported in the answer, not as an error: the record is
//! stored and sync carries it. Update and withdraw hold
//! [`NodeState::writes`] around "read the slot's version, sign version + 1",
//! so concurrent requests never sign the same version twice; `side`
//! refuses an update, withdrawal or import row naming the other side.
//! Hosted publishers are a snapshot ([`Hosted`]) that
//! `POST /v1/publishers/reload` swaps while the node runs. The same router
//! serves a stopped node's replica, `GET` only (`crate::offline`).
//!
//! Handlers by resource: `listings`, `records`, `federation`,
//! `import`, `status`, `lending` (an offer's lending settings and calendar)
//! and `requests` (lending requests and their answers; the decider that
//! answers on its own is `crate::lending::decider`). Store and data-directory work runs on the
//! blocking pool (`on_store`, `blocking`), never on the async threads.

mod auth;
mod errors;
mod federation;
pub(crate) use federation::member_name;
mod import;
mod jsonld;
pub(crate) mod lending;
pub(crate) mod listings;
pub(crate) mod records;
pub(crate) mod requests;
mod side;
pub(crate) mod signing;
mod status;
mod web_users;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use mutua_protocol::{PublicKey, SecretKey, Timestamp};

pub use errors::ApiError;

use crate::datadir::DataDir;
use crate::hosted::Hosted;
use crate::ingest::Ingest;
use crate::metrics::NodeMetrics;
use crate::net::NetworkHandle;

const DAY: u64 = mutua_protocol::rules::DAY_SECS;

/// What the handlers share: the node's parts and its hosted keys.
pub struct NodeState {
    pub federation: String,
    pub anchors: Vec<PublicKey>,
    pub default_lifetime_days: u64,
    /// Where the public sees this node (`opendata.base_url`, else the API's
    /// address), no trailing slash: the base of open-data URLs.
    pub public_base_url: String,
    pub store: mutua_store::Store,
    pub ingest: Ingest,
    pub network: NetworkHandle,
    pub metrics: Arc<NodeMetrics>,
    pub datadir: DataDir,
    pub publishers: Hosted,
    pub anchor: Option<Arc<SecretKey>>,
    pub started: Instant,
    /// Serialises read-modify-write of slots (update, withdraw), so that two
    /// concurrent updates never sign the same version.
    pub writes: tokio::sync::Mutex<()>,
}

/// How the API is exposed.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    pub token: String,
    pub metrics_public: bool,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
}

type Shared = Arc<NodeState>;

/// The router with every endpoint, authentication and body limits.
pub fn router(state: Shared, options: &ApiOptions) -> Router {
    let token: Arc<str> = options.token.clone().into();
    let metrics = Router::new().route("/metrics", get(status::metrics));
    let mut protected = Router::new()
        .route("/v1/status", get(status::status))
        .route("/v1/peers", get(status::peers))
        .route("/v1/records", get(records::query))
        .route("/v1/records/{author}/{id}", get(records::get_listing))
        .route("/v1/records/{author}/{id}/jsonld", get(jsonld::listing))
        .route("/v1/records/{author}/{id}/calendar", get(lending::calendar))
        .route("/v1/listings", post(listings::publish))
        .route("/v1/listings/import", post(listings::import_row))
        .route(
            "/v1/listings/{id}",
            put(listings::update).delete(listings::withdraw),
        )
        .route("/v1/listings/{id}/lending", put(lending::set_settings))
        .route("/v1/requests", post(requests::create).get(requests::list))
        .route(
            "/v1/requests/{id}",
            put(requests::update).delete(requests::cancel),
        )
        .route("/v1/requests/{id}/accept", post(requests::accept))
        .route("/v1/requests/{id}/decline", post(requests::decline))
        .route(
            "/v1/requests/{id}/cancel",
            post(requests::cancel_acceptance),
        )
        .route("/v1/requests/{id}/events", post(requests::event))
        .route("/v1/certificates", post(federation::issue))
        .route("/v1/certificates/{hash}", get(federation::get_certificate))
        .route("/v1/certificates/{hash}/revoke", post(federation::revoke))
        .route("/v1/members", get(federation::members))
        .route("/v1/publishers/reload", post(federation::reload_publishers))
        .route("/v1/web/users", post(web_users::add))
        .route("/v1/export", get(records::export))
        .route(
            "/v1/import",
            post(import::import).layer(DefaultBodyLimit::max(options.max_import_bytes)),
        );
    let mut public = Router::new().route("/v1/health", get(status::health));
    if options.metrics_public {
        public = public.merge(metrics);
    } else {
        protected = protected.merge(metrics);
    }
    let protected = protected.route_layer(middleware::from_fn(move |req, next| {
        auth::require_token(token.clone(), req, next)
    }));
    public
        .merge(protected)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_endpoint",
                "no such endpoint (see node/openapi.yaml)",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method",
            )
        })
        .with_state(state)
}

/// Seconds since the epoch by the system clock.
pub fn unix_now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs store work (sled reads, signature checks, membership chains) on the
/// blocking pool, so a slow request stalls neither other requests nor the
/// network; a failure is the API's `store_error`.
async fn on_store<T, E>(
    store: &mutua_store::Store,
    work: impl FnOnce(&mutua_store::Store) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let store = store.clone();
    blocking("store_error", move || work(&store)).await
}

/// Runs blocking work (files, sled) on the blocking pool; its failure, or
/// the task's, is an internal error with `code`.
async fn blocking<T, E>(
    code: &'static str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(code, e))?
        .map_err(|e| ApiError::internal(code, e))
}
