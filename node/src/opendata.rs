//! The node's open data, served to anyone (no token, `GET` only): a public,
//! read-only axum router, self-contained so that it can be mounted on any
//! listener: the daemon mounts it on the control API's, and the web page's
//! listener serves the same documents (`catalogue_router`, `listing_response`).
//!
//! - `GET /catalog.jsonld`, `GET /catalog.ttl`: the DCAT-AP catalogue, one
//!   dataset per hosted collectivity (`mutua_opendata::dcat`).
//! - `GET /datasets/{key}/annonces.csv`, `…/annonces.json`: a hosted
//!   collectivity's live offers and needs (`mutua_opendata::distribution`).
//! - `GET /annonces/{author}/{id}.jsonld`: one of them as schema.org.
//!
//! Only the collectivities this node hosts are published: a node speaks
//! for its own members, never for the rest of the federation's replica.
//! Everything is read from the store on the blocking pool, at each request
//! (the documents are small: a collectivity has tens of listings).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mutua_opendata::dcat::{catalog_json_ld, catalog_turtle, CatalogInput};
use mutua_opendata::{distribution, latest_identities, schema_org, Identity, Publisher, Site};
use mutua_protocol::{Payload, PublicKey, SlotKey, Timestamp};

use crate::api::{unix_now, NodeState};

/// Most listings a dataset lists (a page of the store's query at a time).
const PAGE: usize = 500;
/// Most pages read for one dataset: 20 000 listings, far above a
/// collectivity's, so one request's work stays bounded.
const MAX_PAGES: usize = 40;

const JSON_LD: &str = "application/ld+json";

/// The public open-data routes, their state applied (the control API's
/// listener mounts them all).
pub fn router(node: Arc<NodeState>) -> Router {
    catalogue_router(node.clone()).merge(
        Router::new()
            .route("/annonces/{author}/{file}", get(listing))
            .with_state(OpenData::shared(node)),
    )
}

/// The catalogue and its distributions alone: the web page's listener
/// mounts these beside its own `/annonces/{author}/{id}` pages, which
/// answer `{id}.jsonld` through [`listing_response`].
pub fn catalogue_router(node: Arc<NodeState>) -> Router {
    Router::new()
        .route("/catalog.jsonld", get(catalog))
        .route("/catalog.ttl", get(turtle))
        .route("/datasets/{key}/{file}", get(dataset_file))
        .with_state(OpenData::shared(node))
}

/// A hosted listing's schema.org document as JSON to embed in its web page
/// (`<script type="application/ld+json">`), `<` escaped so that no text of
/// the listing can close the element; `None` for a listing of an author
/// this node does not host (it speaks for its own members only). Blocking.
pub fn embedded_listing(
    node: &NodeState,
    listing: &mutua_api::Listing,
    now: Timestamp,
) -> Result<Option<String>, mutua_store::StoreError> {
    if !node
        .publishers
        .all()
        .iter()
        .any(|p| p.key.public() == listing.author)
    {
        return Ok(None);
    }
    let site = Site::new(&node.public_base_url);
    let doc = listing_document(node, &site, listing, now)?;
    let json = serde_json::to_string(&doc).expect("JSON serialises");
    Ok(Some(json.replace('<', "\\u003c")))
}

fn listing_document(
    node: &NodeState,
    site: &Site,
    listing: &mutua_api::Listing,
    now: Timestamp,
) -> Result<mutua_api::jsonld::ListingJsonLd, mutua_store::StoreError> {
    let identity = identities(&node.store, &[listing.author], now)?.remove(&listing.author);
    Ok(schema_org::listing(listing, identity.as_ref(), Some(site)))
}

/// `GET /annonces/{author}/{file}` with `file` = `{id}.jsonld`, for a
/// router that owns the `/annonces/` paths.
pub async fn listing_response(node: Arc<NodeState>, author: String, file: String) -> Response {
    listing(State(OpenData::shared(node)), Path((author, file)))
        .await
        .into_response()
}

struct OpenData {
    node: Arc<NodeState>,
    site: Site,
}

type Shared = Arc<OpenData>;

impl OpenData {
    fn shared(node: Arc<NodeState>) -> Shared {
        let site = Site::new(&node.public_base_url);
        Arc::new(OpenData { node, site })
    }
}

#[derive(Debug)]
struct Failure(StatusCode, &'static str);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

fn not_found() -> Failure {
    Failure(StatusCode::NOT_FOUND, "introuvable\n")
}

/// Runs store work on the blocking pool.
async fn read<T: Send + 'static>(
    data: &Shared,
    work: impl FnOnce(&OpenData) -> Result<T, mutua_store::StoreError> + Send + 'static,
) -> Result<T, Failure> {
    let data = data.clone();
    match tokio::task::spawn_blocking(move || work(&data)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "open data: store read failed");
            Err(Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "erreur de lecture\n",
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "open data: task failed");
            Err(Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "erreur interne\n",
            ))
        }
    }
}

/// The identities the certificates in `store` give `keys` at `now`: each
/// key's unrevoked, currently valid certificate issued last.
pub fn identities(
    store: &mutua_store::Store,
    keys: &[PublicKey],
    now: Timestamp,
) -> Result<HashMap<PublicKey, Identity>, mutua_store::StoreError> {
    let certificates = store.certificates()?;
    Ok(latest_identities(certificates.into_iter().filter_map(
        |(hash, c, revoked)| {
            let valid = !revoked && c.valid_from <= now && now < c.valid_until;
            (valid && keys.contains(&c.subject)).then(|| mutua_api::Certificate::of(&c, hash))
        },
    )))
}

/// `author`'s live offers and needs, most recent first.
fn live_listings(
    store: &mutua_store::Store,
    author: PublicKey,
    now: Timestamp,
) -> Result<Vec<mutua_api::Listing>, mutua_store::StoreError> {
    let mut query = mutua_store::Query {
        authors: vec![author],
        limit: PAGE,
        ..mutua_store::Query::default()
    };
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = match store.query(&query, now) {
            Ok(page) => page,
            Err(mutua_store::QueryError::Store(e)) => return Err(e),
            Err(e) => {
                // The query is built here and always valid.
                tracing::warn!(error = %e, "open data: listing query refused");
                break;
            }
        };
        out.extend(
            page.hits
                .iter()
                .filter_map(|h| mutua_api::Listing::from_payload(&h.payload, h.hash)),
        );
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    Ok(out)
}

impl OpenData {
    fn hosted_keys(&self) -> Vec<PublicKey> {
        self.node
            .publishers
            .all()
            .iter()
            .map(|p| p.key.public())
            .collect()
    }

    /// Every hosted collectivity with its identity and live listings.
    fn publishers(&self, now: Timestamp) -> Result<Vec<Publisher>, mutua_store::StoreError> {
        let store = &self.node.store;
        let keys = self.hosted_keys();
        let mut identities = identities(store, &keys, now)?;
        keys.into_iter()
            .map(|key| {
                Ok(Publisher {
                    key,
                    identity: identities.remove(&key),
                    listings: live_listings(store, key, now)?,
                })
            })
            .collect()
    }
}

fn document(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

async fn catalog(State(data): State<Shared>) -> Result<Response, Failure> {
    catalogue(data, JSON_LD, |input| {
        serde_json::to_vec_pretty(&catalog_json_ld(input)).expect("JSON serialises")
    })
    .await
}

async fn turtle(State(data): State<Shared>) -> Result<Response, Failure> {
    catalogue(data, "text/turtle; charset=utf-8", |input| {
        catalog_turtle(input).into_bytes()
    })
    .await
}

/// The catalogue of the node's current state, written by `render` as `media`.
async fn catalogue(
    data: Shared,
    media: &'static str,
    render: fn(&CatalogInput<'_>) -> Vec<u8>,
) -> Result<Response, Failure> {
    let body = read(&data, move |d| {
        let now = unix_now();
        let publishers = d.publishers(now)?;
        Ok(render(&CatalogInput {
            site: &d.site,
            federation: &d.node.federation,
            publishers: &publishers,
            now,
        }))
    })
    .await?;
    Ok(document(media, body))
}

async fn dataset_file(
    State(data): State<Shared>,
    Path((key, file)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let key: PublicKey = key.parse().map_err(|_| not_found())?;
    let csv = match file.as_str() {
        "annonces.csv" => true,
        "annonces.json" => false,
        _ => return Err(not_found()),
    };
    if !data.hosted_keys().contains(&key) {
        return Err(not_found());
    }
    let listings = read(&data, move |d| {
        live_listings(&d.node.store, key, unix_now())
    })
    .await?;
    Ok(if csv {
        document("text/csv; charset=utf-8", distribution::csv(&listings))
    } else {
        document("application/json", distribution::json(&listings))
    })
}

async fn listing(
    State(data): State<Shared>,
    Path((author, file)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let author: PublicKey = author.parse().map_err(|_| not_found())?;
    let id = file
        .strip_suffix(".jsonld")
        .and_then(mutua_protocol::ListingId::from_hex)
        .ok_or_else(not_found)?;
    if !data.hosted_keys().contains(&author) {
        return Err(not_found());
    }
    let doc = read(&data, move |d| {
        let now = unix_now();
        let Some(record) = d.node.store.get(&SlotKey::Listing { author, id })? else {
            return Ok(None);
        };
        let live = match record.payload() {
            Payload::Offer(l) | Payload::Need(l) => l.expires_at > now,
            _ => false,
        };
        let Some(listing) =
            mutua_api::Listing::from_payload(record.payload(), *record.hash()).filter(|_| live)
        else {
            return Ok(None);
        };
        Ok(Some(listing_document(&d.node, &d.site, &listing, now)?))
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(document(
        JSON_LD,
        serde_json::to_vec_pretty(&doc).expect("JSON serialises"),
    ))
}
