//! The control API: HTTP/JSON on loopback, for the `mutua` CLI and (later) a
//! web page. `node/openapi.yaml` is its description; keep both in step.
//!
//! Every request but `GET /v1/health` (and `GET /metrics` when configured
//! public) needs `Authorization: Bearer <token>`, the token being the
//! content of `<data dir>/api.token`. Errors are
//! `{"error": {"code", "message", "field"?}}` with a stable `code`: the rule
//! code of the protocol for a refused record, otherwise one of the codes
//! listed in the OpenAPI document.
//!
//! Writes (publish, update, withdraw, certificates) sign with a hosted key,
//! go through the ingest pipeline like any record (so the node never
//! publishes what it would refuse from a peer), are durable when the
//! response says so, and only then are gossiped.

mod envelopes;
mod hosting;
pub mod json;
mod query;
mod side;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use mutua_protocol::{
    Certificate, ListingId, MembershipError, Payload, PublicKey, RecordError, RecordHash,
    Revocation, SecretKey, SignedRecord, SlotKey, Timestamp, Withdrawal,
};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::datadir::{DataDir, HostedPublisher};
use crate::hosted::{Hosted, Signer};
use crate::ingest::{Ingest, IngestError, IngestOutcome, Source};
use crate::metrics::NodeMetrics;
use crate::net::NetworkHandle;
use json::{
    CertificateJson, ImportRequest, IssueRequest, ListingContent, ListingJson, RecordJson,
    RevokeRequest,
};

/// Default validity of a certificate issued without `valid_until`.
const DEFAULT_CERTIFICATE_DAYS: u64 = 3 * 365;
/// Items in a page of query results when `limit` is not given.
const DEFAULT_PAGE: usize = 20;
/// Most items in a page (the store's limit).
const MAX_PAGE: usize = 500;
/// Radius of a `near` query without `radius_km`.
const DEFAULT_RADIUS_KM: f64 = 20.0;
const DAY: u64 = mutua_protocol::rules::DAY_SECS;

/// What the handlers share: the node's parts and its hosted keys.
pub struct NodeState {
    pub federation: String,
    pub anchors: Vec<PublicKey>,
    pub default_lifetime_days: u64,
    pub store: mutua_store::Store,
    pub ingest: Ingest,
    pub network: NetworkHandle,
    pub metrics: Arc<NodeMetrics>,
    pub datadir: DataDir,
    pub publishers: Hosted,
    pub anchor: Option<SecretKey>,
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
    let metrics = Router::new().route("/metrics", get(metrics));
    let mut protected = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/records", get(query::query))
        .route("/v1/records/{author}/{id}", get(get_listing))
        .route("/v1/listings", post(publish))
        .route("/v1/listings/import", post(import_listing))
        .route("/v1/listings/{id}", put(update).delete(withdraw))
        .route("/v1/certificates", post(issue))
        .route("/v1/certificates/{hash}", get(get_certificate))
        .route("/v1/certificates/{hash}/revoke", post(revoke))
        .route("/v1/members", get(members))
        .route("/v1/publishers/reload", post(hosting::reload))
        .route("/v1/export", get(export))
        .route(
            "/v1/import",
            post(envelopes::import).layer(DefaultBodyLimit::max(options.max_import_bytes)),
        );
    let mut public = Router::new().route("/v1/health", get(health));
    if options.metrics_public {
        public = public.merge(metrics);
    } else {
        protected = protected.merge(metrics);
    }
    let protected = protected.route_layer(middleware::from_fn(move |req, next| {
        require_token(token.clone(), req, next)
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

async fn require_token(token: Arc<str>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) => {
            next.run(req).await
        }
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token (it is in <data dir>/api.token, renewed at each start)",
        )
        .into_response(),
    }
}

/// Compares without an early exit, so response time tells nothing about how
/// much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------- errors

/// An error response: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            field: None,
        }
    }

    fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    fn internal(code: &'static str, error: impl std::fmt::Display) -> Self {
        tracing::error!(code, %error, "control API request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, error.to_string())
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: Cow::Borrowed(e.code()),
            field: e.field().map(str::to_owned),
            message: e.to_string(),
        }
    }
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: Cow::Borrowed(e.code()),
            field: None,
            message: e.to_string(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Rejected(rejection) => match rejection {
                mutua_store::Rejection::Record(e) => e.into(),
                mutua_store::Rejection::Membership(e) => e.into(),
                other => ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: Cow::Borrowed(other.code()),
                    field: None,
                    message: other.to_string(),
                },
            },
            other => ApiError::internal("store_error", other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

/// A JSON body whose rejections are API errors (naming the field serde
/// stumbled on, or the size limit).
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ),
        e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_body",
            std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string()),
        ),
        e => ApiError::bad_request("invalid_json", e.body_text()),
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body is larger than this endpoint accepts (api.max_body_bytes, api.max_import_bytes)",
    )
}

fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_parameter", e.body_text())
}

// ---------------------------------------------------------------- helpers

/// Seconds since the epoch by the system clock.
pub fn unix_now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn parse_key(text: &str, field: &str) -> Result<PublicKey, ApiError> {
    text.parse().map_err(|e| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{text:?} is not a key id: {e}"),
        )
        .with_field(field)
    })
}

fn parse_listing_id(text: &str) -> Result<ListingId, ApiError> {
    ListingId::from_hex(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{text:?} is not a listing id (32 hexadecimal digits)"),
        )
        .with_field("id")
    })
}

fn parse_hash(text: &str) -> Result<RecordHash, ApiError> {
    mutua_protocol::unhex(text)
        .and_then(|b| b.try_into().ok())
        .map(mutua_protocol::FixedBytes)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{text:?} is not a record hash (64 hexadecimal digits)"),
            )
            .with_field("hash")
        })
}

/// `?as=<publisher>`: which hosted collectivity signs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsPublisher {
    #[serde(rename = "as")]
    publisher: Option<String>,
}

impl NodeState {
    fn publisher(&self, name: &str) -> Result<Arc<HostedPublisher>, ApiError> {
        self.publishers
            .all()
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(
                    "unknown_publisher",
                    format!(
                        "this node hosts no publisher named {name:?} (hosted: {})",
                        self.publisher_names()
                    ),
                )
                .with_field("as")
            })
    }

    fn publisher_names(&self) -> String {
        let all = self.publishers.all();
        let names: Vec<_> = all.iter().map(|p| p.name.as_str()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    /// The publisher named by `?as=`, or the only one hosted.
    fn choose_publisher(&self, name: Option<&str>) -> Result<Arc<HostedPublisher>, ApiError> {
        match (name, &*self.publishers.all()) {
            (Some(name), _) => self.publisher(name),
            (None, [only]) => Ok(only.clone()),
            (None, _) => Err(ApiError::bad_request(
                "publisher_required",
                format!(
                    "name the publishing collectivity with ?as=<name> (hosted: {})",
                    self.publisher_names()
                ),
            )
            .with_field("as")),
        }
    }

    /// The key that signs as `issuer`: `anchor`, a hosted publisher's name,
    /// or by default the anchor key.
    fn issuer_key(&self, issuer: Option<&str>) -> Result<Signer<'_>, ApiError> {
        match issuer {
            Some("anchor") | None => self.anchor.as_ref().map(Signer::Anchor).ok_or_else(|| {
                ApiError::bad_request(
                    "no_anchor_key",
                    "this node holds no anchor key: name a hosted publisher allowed to admit as issuer",
                )
                .with_field("issuer")
            }),
            Some(name) => self
                .publisher(name)
                .map(Signer::Hosted)
                .map_err(|e| e.with_field("issuer")),
        }
    }

    /// Checks `payload` against the local rules (`local_rules`: every local
    /// publication, API or import, comes here), signs it, checks it against
    /// the time rules, ingests it (durable on return), then gossips it. A
    /// gossip failure (no peer yet) is reported but is not an error:
    /// anti-entropy will carry the record.
    async fn sign_and_publish(
        &self,
        key: &SecretKey,
        payload: Payload,
    ) -> Result<Published, ApiError> {
        let now = unix_now();
        let warnings = crate::local_rules::check(&payload, now)?;
        let record = mutua_protocol::seal(key, &payload)?;
        mutua_protocol::rules::check_time(record.payload(), now)?;
        self.ingest.ingest_local(record.clone()).await?;
        let gossip = match self.network.publish(record.bytes().to_vec()).await {
            Ok(report) => json!(report),
            Err(e) => {
                tracing::info!(error = %e, hash = %record.hash().to_hex(), "record stored; gossip deferred to sync");
                json!({ "error": e.to_string() })
            }
        };
        Ok(Published {
            record,
            gossip,
            warnings,
        })
    }

    /// The current record in a hosted publisher's slot `id`.
    fn current(
        &self,
        author: &PublicKey,
        id: &ListingId,
    ) -> Result<Option<SignedRecord>, ApiError> {
        self.store
            .get(&SlotKey::Listing {
                author: *author,
                id: *id,
            })
            .map_err(|e| ApiError::internal("store_error", e))
    }
}

struct Published {
    record: SignedRecord,
    gossip: serde_json::Value,
    warnings: Vec<crate::local_rules::Warning>,
}

impl Published {
    fn response(self, status: StatusCode) -> Response {
        (
            status,
            axum::Json(json!({
                "record": RecordJson::of(&self.record),
                "envelope": mutua_protocol::hex(self.record.bytes()),
                "gossip": self.gossip,
                "warnings": self.warnings,
            })),
        )
            .into_response()
    }
}

// ---------------------------------------------------------------- handlers

fn stats_json(s: &mutua_store::StoreStats) -> serde_json::Value {
    json!({
        "certificates": s.certificates,
        "revocations": s.revocations,
        "offers": s.offers,
        "needs": s.needs,
        "withdrawals": s.withdrawals,
        "total": s.total,
        "disk_bytes": s.disk_bytes,
    })
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
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| ApiError::internal("store_error", e))?
        .map_err(|e| ApiError::internal("store_error", e))
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    if let Ok(stats) = state.store.stats() {
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

#[derive(Serialize)]
struct PublisherStatus {
    name: String,
    key: String,
    /// `member`, or the membership error code (`not_a_member`, `revoked`…).
    membership: &'static str,
    may_admit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

async fn status(State(state): State<Shared>) -> Result<impl IntoResponse, ApiError> {
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
    let stats = state
        .store
        .stats()
        .map_err(|e| ApiError::internal("store_error", e))?;
    // Equal on two replicas iff they hold the same records: what a
    // convergence check (the testnet) compares across nodes. Taken from the
    // whole-range sync fingerprint (count and sum of SHA-256(key ‖ hash),
    // kept per bucket by the store), the equality sync itself relies on:
    // `Store::digest` would scan the whole replica at every status call.
    let fingerprint = state
        .store
        .sync_fingerprint(&mutua_store::SyncRange::all())
        .map_err(|e| ApiError::internal("store_error", e))?;
    let digest = mutua_protocol::derived::replica_digest(&fingerprint);
    let now = unix_now();
    let hosted = state.publishers.all();
    let mut publishers = Vec::with_capacity(hosted.len());
    for p in hosted.iter() {
        let key = p.key.public();
        let membership = state
            .store
            .membership(&key, now)
            .map_err(|e| ApiError::internal("store_error", e))?;
        publishers.push(match membership {
            Ok(m) => PublisherStatus {
                name: p.name.clone(),
                key: key.key_id(),
                membership: "member",
                may_admit: m.may_admit,
                valid_until: m.certificate.map(|c| c.valid_until),
                message: None,
            },
            Err(e) => PublisherStatus {
                name: p.name.clone(),
                key: key.key_id(),
                membership: e.code(),
                may_admit: false,
                valid_until: None,
                message: Some(e.to_string()),
            },
        });
    }
    Ok(axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "federation": state.federation,
        "anchors": state.anchors.iter().map(PublicKey::key_id).collect::<Vec<_>>(),
        "anchor_key": state.anchor.as_ref().map(|k| k.public().key_id()),
        "uptime_secs": state.started.elapsed().as_secs(),
        "network": network,
        "store": stats_json(&stats),
        "digest": mutua_protocol::hex(&digest),
        "sync": sync,
        "publishers": publishers,
    })))
}

async fn peers(State(state): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    let peers = state
        .network
        .peers()
        .await
        .map_err(|e| ApiError::internal("network_unavailable", e))?;
    Ok(axum::Json(json!({ "peers": peers })))
}

async fn get_listing(
    State(state): State<Shared>,
    Path((author, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let author = parse_key(&author, "author")?;
    let id = parse_listing_id(&id)?;
    match state.current(&author, &id)? {
        Some(record) => Ok(axum::Json(RecordJson::of(&record)).into_response()),
        None => Err(ApiError::not_found(
            "not_found",
            "no such listing in this node's replica",
        )),
    }
}

async fn get_certificate(
    State(state): State<Shared>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    match on_store(&state.store, move |store| {
        store.get(&SlotKey::Certificate(hash))
    })
    .await?
    {
        Some(record) => Ok(axum::Json(RecordJson::of(&record)).into_response()),
        None => Err(ApiError::not_found(
            "not_found",
            "no such certificate in this node's replica",
        )),
    }
}

async fn publish(
    State(state): State<Shared>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(content): Body<ListingContent>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let publisher = state.choose_publisher(who.publisher.as_deref())?;
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    let now = unix_now();
    let expiry = now + state.default_lifetime_days * DAY;
    let (side, listing) = content.into_listing(
        publisher.key.public(),
        mutua_protocol::FixedBytes(id),
        1,
        now,
        expiry,
    );
    let published = state
        .sign_and_publish(&publisher.key, side.payload(listing))
        .await?;
    tracing::info!(publisher = %publisher.name, hash = %published.record.hash().to_hex(), "listing published");
    Ok(published.response(StatusCode::CREATED))
}

/// Publishes, updates or leaves alone the listing a spreadsheet row
/// describes (the matching is `listing_import`'s); says which.
async fn import_listing(
    State(state): State<Shared>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(row): Body<crate::listing_import::ImportRow>,
) -> Result<Response, ApiError> {
    use crate::listing_import::{derived_id, plan, Plan};
    let Query(who) = who.map_err(query_rejection)?;
    let publisher = state.choose_publisher(who.publisher.as_deref())?;
    let author = publisher.key.public();
    let id = match &row.id {
        Some(text) => parse_listing_id(text)?,
        None => derived_id(&author, &row.listing),
    };
    let _guard = state.writes.lock().await;
    let now = unix_now();
    let (outcome, version) = match plan(state.current(&author, &id)?.as_ref(), &row.listing, now) {
        Plan::Publish { version } => ("published", version),
        Plan::Update { version } => ("updated", version),
        Plan::Unchanged { version } => ("unchanged", version),
        Plan::Withdrawn => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "withdrawn",
                "this listing was withdrawn; it is not published again (change its title to publish a new one)",
            )
            .with_field("id"))
        }
        Plan::OtherSide { current } => return Err(side::other_side(current, row.listing.side)),
    };
    let id_hex = mutua_protocol::hex(&id.0);
    if row.dry_run || outcome == "unchanged" {
        return Ok(axum::Json(
            json!({ "outcome": outcome, "id": id_hex, "version": version, "dry_run": row.dry_run }),
        )
        .into_response());
    }
    let expiry = now + state.default_lifetime_days * DAY;
    let (side, listing) = row.listing.into_listing(author, id, version, now, expiry);
    let published = state
        .sign_and_publish(&publisher.key, side.payload(listing))
        .await?;
    tracing::info!(publisher = %publisher.name, outcome, hash = %published.record.hash().to_hex(), "listing imported");
    Ok((
        if outcome == "published" {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(json!({
            "outcome": outcome,
            "id": id_hex,
            "version": version,
            "dry_run": false,
            "record": RecordJson::of(&published.record),
            "gossip": published.gossip,
        })),
    )
        .into_response())
}

/// The hosted publisher owning slot `id` and the current record there.
fn owned_slot(
    state: &NodeState,
    publisher: Option<&str>,
    id: &ListingId,
) -> Result<(Arc<HostedPublisher>, SignedRecord), ApiError> {
    let candidates: Vec<Arc<HostedPublisher>> = match publisher {
        Some(name) => vec![state.publisher(name)?],
        None => state.publishers.all().to_vec(),
    };
    for p in candidates {
        if let Some(record) = state.current(&p.key.public(), id)? {
            return Ok((p, record));
        }
    }
    Err(ApiError::not_found(
        "not_found",
        "no listing with this id by a publisher hosted here",
    )
    .with_field("id"))
}

fn current_version(record: &SignedRecord) -> Result<u64, ApiError> {
    match record.payload() {
        Payload::Offer(l) | Payload::Need(l) => Ok(l.version),
        Payload::Withdrawal(_) => Err(ApiError::new(
            StatusCode::GONE,
            "withdrawn",
            "this listing was withdrawn; publish a new one instead",
        )),
        _ => Err(ApiError::internal(
            "store_error",
            "a listing slot holds a non-listing record",
        )),
    }
}

async fn update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(content): Body<ListingContent>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let id = parse_listing_id(&id)?;
    let _guard = state.writes.lock().await;
    let (publisher, current) = owned_slot(&state, who.publisher.as_deref(), &id)?;
    side::check_side(&current, Some(content.side))?;
    let version = current_version(&current)? + 1;
    let now = unix_now();
    let expiry = now + state.default_lifetime_days * DAY;
    let (side, listing) = content.into_listing(publisher.key.public(), id, version, now, expiry);
    let published = state
        .sign_and_publish(&publisher.key, side.payload(listing))
        .await?;
    Ok(published.response(StatusCode::OK))
}

async fn withdraw(
    State(state): State<Shared>,
    Path(id): Path<String>,
    who: Result<Query<side::WithdrawParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let id = parse_listing_id(&id)?;
    let _guard = state.writes.lock().await;
    let (publisher, current) = owned_slot(&state, who.publisher.as_deref(), &id)?;
    side::check_side(&current, who.side)?;
    let withdrawal = Withdrawal {
        author: publisher.key.public(),
        id,
        version: current_version(&current)? + 1,
        withdrawn_at: unix_now(),
    };
    let published = state
        .sign_and_publish(&publisher.key, Payload::Withdrawal(withdrawal))
        .await?;
    Ok(published.response(StatusCode::OK))
}

async fn issue(
    State(state): State<Shared>,
    Body(req): Body<IssueRequest>,
) -> Result<Response, ApiError> {
    let signer = state.issuer_key(req.issuer.as_deref())?;
    let key = signer.key();
    let now = unix_now();
    let valid_from = req.valid_from.unwrap_or(now);
    let certificate = Certificate {
        issuer: key.public(),
        subject: req.subject,
        siren: req.siren,
        name: req.name,
        body: req.body,
        insee: req.insee,
        may_admit: req.may_admit,
        issued_at: now,
        valid_from,
        valid_until: req
            .valid_until
            .unwrap_or(valid_from + DEFAULT_CERTIFICATE_DAYS * DAY),
    };
    let published = state
        .sign_and_publish(key, Payload::Certificate(certificate))
        .await?;
    // A certificate for a collectivity hosted here is kept beside its key,
    // so it is re-announced at every start.
    if let Some(hosted) = state
        .publishers
        .all()
        .iter()
        .find(|p| p.key.public() == req.subject)
    {
        state
            .datadir
            .write_certificate(&hosted.name, published.record.bytes())
            .map_err(|e| ApiError::internal("datadir_error", e))?;
    }
    Ok(published.response(StatusCode::CREATED))
}

async fn revoke(
    State(state): State<Shared>,
    Path(hash): Path<String>,
    Body(req): Body<RevokeRequest>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let record = state
        .store
        .get(&SlotKey::Certificate(hash))
        .map_err(|e| ApiError::internal("store_error", e))?
        .ok_or_else(|| {
            ApiError::not_found("not_found", "no such certificate in this node's replica")
        })?;
    let Payload::Certificate(certificate) = record.payload() else {
        return Err(ApiError::not_found(
            "not_found",
            "that hash is not a certificate",
        ));
    };
    // By default the key that issued it, when hosted here; else the anchor.
    let hosted_issuer = state
        .publishers
        .all()
        .iter()
        .find(|p| p.key.public() == certificate.issuer)
        .cloned();
    let anchor_issuer = state
        .anchor
        .as_ref()
        .filter(|k| k.public() == certificate.issuer);
    let signer = match (req.issuer.as_deref(), hosted_issuer, anchor_issuer) {
        (Some(issuer), _, _) => state.issuer_key(Some(issuer))?,
        (None, Some(hosted), _) => Signer::Hosted(hosted),
        (None, None, Some(anchor)) => Signer::Anchor(anchor),
        (None, None, None) => state.issuer_key(None)?,
    };
    let key = signer.key();
    let revocation = Revocation {
        issuer: key.public(),
        certificate: hash,
        reason: req.reason,
        revoked_at: unix_now(),
    };
    let published = state
        .sign_and_publish(key, Payload::Revocation(revocation))
        .await?;
    Ok(published.response(StatusCode::CREATED))
}

async fn members(State(state): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    let now = unix_now();
    // A membership chain per certificate: sled reads, many of them on a large
    // federation, so off the async runtime.
    let members = on_store(&state.store, move |store| {
        let certificates = store.certificates()?;
        let mut members = Vec::with_capacity(certificates.len());
        for (hash, certificate, revoked) in certificates {
            let membership = match store.membership(&certificate.subject, now)? {
                Ok(_) => "member",
                Err(e) => e.code(),
            };
            members.push(json!({
                "certificate": CertificateJson::of(&certificate, hash.to_hex()),
                "revoked": revoked,
                "membership": membership,
            }));
        }
        Ok::<_, mutua_store::StoreError>(members)
    })
    .await?;
    Ok(axum::Json(json!({ "members": members })))
}

/// Every stored record as hex envelopes, the body `POST /v1/import` takes.
async fn export(State(state): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    let records = on_store(&state.store, |store| {
        store
            .export()
            .map(|r| r.map(|record| mutua_protocol::hex(record.bytes())))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(axum::Json(json!({ "records": records })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
