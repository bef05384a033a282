//! What the replica holds: `GET /v1/records` (the store's filters as query
//! parameters, the place a `near` search is centred on),
//! `GET /v1/records/{author}/{id}` and `GET /v1/export`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use mutua_api::RecordsQuery;
use mutua_protocol::Timestamp;

use super::errors::{parse_key, parse_listing_id, query_rejection, ApiError};
use super::{on_store, unix_now, NodeState, Shared};

/// Items in a page of query results when `limit` is not given.
const DEFAULT_PAGE: usize = 20;
/// Most items in a page (the store's limit).
const MAX_PAGE: usize = 500;
/// Radius of a `near` query without `radius_km`.
const DEFAULT_RADIUS_KM: f64 = 20.0;

fn invalid_param(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_parameter", message).with_field(field)
}

fn split_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The store query `params` describe, at time `now`, and where its `near`
/// text points to. Reads the place tables: call it off the async threads.
fn store_query(
    params: &RecordsQuery,
    now: Timestamp,
) -> Result<(mutua_store::Query, Option<mutua_store::places::Resolved>), ApiError> {
    use mutua_store::{Area, Center, Near, Side, Sort};
    let side = match params.side.as_deref() {
        None | Some("both") => Side::Both,
        Some("offer") => Side::Offers,
        Some("need") => Side::Needs,
        Some(other) => {
            return Err(invalid_param(
                "side",
                format!("{other:?}: use offer, need or both"),
            ))
        }
    };
    let kinds = split_list(params.kind.as_deref())
        .map(|k| {
            mutua_protocol::ResourceKind::parse(k).ok_or_else(|| {
                invalid_param(
                    "kind",
                    format!(
                        "{k:?} is not a kind ({})",
                        mutua_protocol::ResourceKind::names()
                    ),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let authors = split_list(params.author.as_deref())
        .map(|a| parse_key(a, "author"))
        .collect::<Result<_, _>>()?;
    let areas: Vec<Area> = [
        params.insee.clone().map(Area::Commune),
        params.epci.clone().map(Area::Epci),
        params.departement.clone().map(Area::Departement),
    ]
    .into_iter()
    .flatten()
    .collect();
    if areas.len() > 1 {
        return Err(invalid_param(
            "insee",
            "give at most one of insee, epci and departement",
        ));
    }
    let (near, centre) =
        match &params.near {
            None if params.radius_km.is_some() => return Err(invalid_param(
                "near",
                "radius_km needs near (an INSEE code, a postal code, a commune's name or lat,lon)",
            )),
            None => (None, None),
            Some(text) => {
                let resolved = mutua_store::places::places().resolve(text).map_err(|e| {
                    ApiError::bad_request(e.code(), e.to_string()).with_field("near")
                })?;
                let near = Near {
                    center: Center::Point(resolved.point),
                    radius_km: params.radius_km.unwrap_or(DEFAULT_RADIUS_KM),
                };
                (Some(near), Some(resolved))
            }
        };
    let available_at = match params.available.as_deref() {
        None => None,
        Some("now") => Some(now),
        Some(t) => Some(
            t.parse()
                .map_err(|_| invalid_param("available", "use \"now\" or a time in Unix seconds"))?,
        ),
    };
    let free = free_for(params)?;
    let sort = match params.sort.as_deref() {
        None | Some("recency") => Sort::Recency,
        Some("distance") => Sort::Distance,
        Some(other) => {
            return Err(invalid_param(
                "sort",
                format!("{other:?}: use recency or distance"),
            ))
        }
    };
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid_param(
            "limit",
            format!("must be between 1 and {}", MAX_PAGE),
        ));
    }
    let cursor = params
        .cursor
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: mutua_store::QueryError| invalid_param("cursor", e.to_string()))?;
    let query = mutua_store::Query {
        side,
        kinds,
        tags: split_list(params.tag.as_deref())
            .map(str::to_owned)
            .collect(),
        authors,
        text: params.text.clone(),
        area: areas.into_iter().next(),
        near,
        available_at,
        free,
        sort,
        limit,
        cursor,
    };
    Ok((query, centre))
}

/// The free period `free_from`..`free_to` (both included) asks for.
fn free_for(params: &RecordsQuery) -> Result<Option<mutua_store::FreeFor>, ApiError> {
    use crate::lending::view::parse_day;
    let Some(from) = &params.free_from else {
        return match (&params.free_to, params.quantity) {
            (None, None) => Ok(None),
            (Some(_), _) => Err(invalid_param("free_to", "free_to needs free_from")),
            (None, Some(_)) => Err(invalid_param("quantity", "quantity needs free_from")),
        };
    };
    let start = parse_day(from, "free_from").map_err(super::lending::bad_date)?;
    let last = match &params.free_to {
        Some(to) => parse_day(to, "free_to").map_err(super::lending::bad_date)?,
        None => start,
    };
    if last < start {
        return Err(ApiError::bad_request(
            "invalid_date",
            "the last free day (free_to) is before the first (free_from)",
        )
        .with_field("free_to"));
    }
    let quantity = params.quantity.unwrap_or(1);
    if !(1..=mutua_protocol::lending::MAX_CAPACITY).contains(&quantity) {
        return Err(invalid_param(
            "quantity",
            format!(
                "must be between 1 and {}",
                mutua_protocol::lending::MAX_CAPACITY
            ),
        ));
    }
    Ok(Some(mutua_store::FreeFor {
        period: mutua_protocol::lending::Period {
            start,
            end: last + 1,
        },
        quantity,
    }))
}

pub(super) async fn query(
    State(state): State<Shared>,
    params: Result<Query<RecordsQuery>, QueryRejection>,
) -> Result<Json<mutua_api::RecordsPage>, ApiError> {
    let Query(params) = params.map_err(query_rejection)?;
    search(&state, params).await.map(Json)
}

/// A page of live offers and needs matching `params`, the place a `near`
/// search was centred on: what `GET /v1/records` and the web page's search
/// answer. Runs the store's work on the blocking pool.
pub(crate) async fn search(
    state: &NodeState,
    params: RecordsQuery,
) -> Result<mutua_api::RecordsPage, ApiError> {
    let now = unix_now();
    // The store names its area filter `area`; the caller gave one of these.
    let area_param = match (&params.insee, &params.epci) {
        (Some(_), _) => "insee",
        (None, Some(_)) => "epci",
        (None, None) => "departement",
    };
    let (query, centre) = tokio::task::spawn_blocking(move || store_query(&params, now))
        .await
        .map_err(|e| ApiError::internal("store_error", e))??;
    let query_near = query.near.clone();
    let store = state.store.clone();
    let page = tokio::task::spawn_blocking(move || store.query(&query, now))
        .await
        .map_err(|e| ApiError::internal("store_error", e))?
        .map_err(|e| match e {
            mutua_store::QueryError::Store(e) => ApiError::internal("store_error", e),
            mutua_store::QueryError::Invalid {
                field: "area",
                reason,
            } => invalid_param(area_param, reason),
            mutua_store::QueryError::Invalid { field, reason } => invalid_param(field, reason),
            mutua_store::QueryError::UnknownArea { field, .. } => {
                ApiError::bad_request("unknown_area", e.to_string()).with_field(field)
            }
            mutua_store::QueryError::NoCoordinates { .. } => {
                ApiError::bad_request("no_coordinates", e.to_string()).with_field("near")
            }
            e => ApiError::bad_request("invalid_query", e.to_string()),
        })?;
    let items = page
        .hits
        .iter()
        .filter_map(|hit| {
            mutua_api::Listing::from_payload(&hit.payload, hit.hash).map(|listing| mutua_api::Hit {
                listing,
                distance_km: hit.distance_km,
            })
        })
        .collect();
    let near = match (centre, &query_near) {
        (Some(centre), Some(near)) => Some(near_centre(&centre, near.radius_km)),
        _ => None,
    };
    Ok(mutua_api::RecordsPage {
        items,
        next_cursor: page.next.map(|c| c.to_string()),
        near,
    })
}

/// Where a radius query was centred: the point, the commune it names, the radius.
fn near_centre(centre: &mutua_store::places::Resolved, radius_km: f64) -> mutua_api::NearCentre {
    let commune = centre.commune.as_ref();
    mutua_api::NearCentre {
        lat: centre.point.lat(),
        lon: centre.point.lon(),
        radius_km,
        insee: commune.map(|c| c.insee.clone()),
        name: commune.map(|c| c.name.clone()),
        departement: commune.map(|c| c.departement.clone()),
    }
}

pub(super) async fn get_listing(
    State(state): State<Shared>,
    Path((author, id)): Path<(String, String)>,
) -> Result<Json<mutua_api::Record>, ApiError> {
    let author = parse_key(&author, "author")?;
    let id = parse_listing_id(&id)?;
    match state.current(author, id).await? {
        Some(record) => Ok(Json(super::signing::typed_record(&record)?)),
        None => Err(ApiError::not_found(
            "not_found",
            "no such listing in this node's replica",
        )),
    }
}

/// Every stored record as hex envelopes, the body `POST /v1/import` takes.
pub(super) async fn export(
    State(state): State<Shared>,
) -> Result<Json<mutua_api::Export>, ApiError> {
    let records = on_store(&state.store, |store| {
        store
            .export()
            .map(|r| r.map(|record| mutua_protocol::hex(record.bytes())))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(Json(mutua_api::Export { records }))
}
