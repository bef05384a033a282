//! `GET /v1/records`: the store's filters as query parameters, the place a
//! `near` search is centred on, and the hits as JSON.

use super::*;

/// `GET /v1/records` parameters: every store filter. Lists (`kind`, `tag`,
/// `author`) are comma-separated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordsParams {
    side: Option<String>,
    kind: Option<String>,
    tag: Option<String>,
    text: Option<String>,
    insee: Option<String>,
    epci: Option<String>,
    departement: Option<String>,
    near: Option<String>,
    radius_km: Option<f64>,
    available: Option<String>,
    author: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn invalid_param(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_parameter", message).with_field(field)
}

fn split_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl RecordsParams {
    /// The store query these parameters describe, at time `now`, and where
    /// its `near` text points to. Reads the place tables: call it off the
    /// async threads.
    fn to_query(
        &self,
        now: Timestamp,
    ) -> Result<(mutua_store::Query, Option<mutua_store::places::Resolved>), ApiError> {
        use mutua_store::{Area, Center, Near, Side, Sort};
        let side = match self.side.as_deref() {
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
        let kinds = split_list(self.kind.as_deref())
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
        let authors = split_list(self.author.as_deref())
            .map(|a| parse_key(a, "author"))
            .collect::<Result<_, _>>()?;
        let areas: Vec<Area> = [
            self.insee.clone().map(Area::Commune),
            self.epci.clone().map(Area::Epci),
            self.departement.clone().map(Area::Departement),
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
        let (near, centre) = match &self.near {
            None if self.radius_km.is_some() => return Err(invalid_param(
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
                    radius_km: self.radius_km.unwrap_or(DEFAULT_RADIUS_KM),
                };
                (Some(near), Some(resolved))
            }
        };
        let available_at = match self.available.as_deref() {
            None => None,
            Some("now") => Some(now),
            Some(t) => Some(t.parse().map_err(|_| {
                invalid_param("available", "use \"now\" or a time in Unix seconds")
            })?),
        };
        let sort = match self.sort.as_deref() {
            None | Some("recency") => Sort::Recency,
            Some("distance") => Sort::Distance,
            Some(other) => {
                return Err(invalid_param(
                    "sort",
                    format!("{other:?}: use recency or distance"),
                ))
            }
        };
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid_param(
                "limit",
                format!("must be between 1 and {}", MAX_PAGE),
            ));
        }
        let cursor = self
            .cursor
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: mutua_store::QueryError| invalid_param("cursor", e.to_string()))?;
        let query = mutua_store::Query {
            side,
            kinds,
            tags: split_list(self.tag.as_deref()).map(str::to_owned).collect(),
            authors,
            text: self.text.clone(),
            area: areas.into_iter().next(),
            near,
            available_at,
            sort,
            limit,
            cursor,
        };
        Ok((query, centre))
    }
}

/// One query result: the listing and, for a radius query, its distance.
#[derive(Serialize)]
struct HitJson {
    #[serde(flatten)]
    listing: ListingJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_km: Option<f64>,
}

pub(super) async fn query(
    State(state): State<Shared>,
    params: Result<Query<RecordsParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(params) = params.map_err(query_rejection)?;
    let now = unix_now();
    // The store names its area filter `area`; the caller gave one of these.
    let area_param = match (&params.insee, &params.epci) {
        (Some(_), _) => "insee",
        (None, Some(_)) => "epci",
        (None, None) => "departement",
    };
    let (query, centre) = tokio::task::spawn_blocking(move || params.to_query(now))
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
    let items: Vec<_> = page
        .hits
        .iter()
        .filter_map(|hit| {
            ListingJson::from_payload(&hit.payload, &hit.hash).map(|listing| HitJson {
                listing,
                distance_km: hit.distance_km,
            })
        })
        .collect();
    let mut answer = json!({
        "items": items,
        "next_cursor": page.next.map(|c| c.to_string()),
    });
    if let (Some(centre), Some(near)) = (centre, &query_near) {
        answer["near"] = near_json(&centre, near.radius_km);
    }
    Ok(axum::Json(answer))
}

/// Where a radius query was centred: the point, the commune it names, the radius.
fn near_json(centre: &mutua_store::places::Resolved, radius_km: f64) -> serde_json::Value {
    let mut out = json!({
        "lat": centre.point.lat(),
        "lon": centre.point.lon(),
        "radius_km": radius_km,
    });
    if let Some(c) = &centre.commune {
        out["insee"] = json!(c.insee);
        out["name"] = json!(c.name);
        out["departement"] = json!(c.departement);
    }
    out
}
