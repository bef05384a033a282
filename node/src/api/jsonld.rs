//! `GET /v1/records/{author}/{id}/jsonld`: a listing of the replica as
//! schema.org JSON-LD (`mutua_opendata::schema_org`), its author named by
//! the certificate this node holds for it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use mutua_api::ListingJsonLd;
use mutua_opendata::{schema_org, Site};
use mutua_protocol::{Payload, SlotKey};

use super::errors::{parse_key, parse_listing_id, ApiError};
use super::{on_store, unix_now, Shared};

pub(super) async fn listing(
    State(state): State<Shared>,
    Path((author, id)): Path<(String, String)>,
) -> Result<Json<ListingJsonLd>, ApiError> {
    let author = parse_key(&author, "author")?;
    let id = parse_listing_id(&id)?;
    let site = Site::new(&state.public_base_url);
    let found = on_store(&state.store, move |store| {
        let Some(record) = store.get(&SlotKey::Listing { author, id })? else {
            return Ok(None);
        };
        if matches!(record.payload(), Payload::Withdrawal(_)) {
            return Ok(Some(None));
        }
        let identity = crate::opendata::identities(store, &[author], unix_now())?.remove(&author);
        let listing = mutua_api::Listing::from_payload(record.payload(), *record.hash());
        Ok::<_, mutua_store::StoreError>(Some(
            listing.map(|l| schema_org::listing(&l, identity.as_ref(), Some(&site))),
        ))
    })
    .await?;
    match found {
        Some(Some(doc)) => Ok(Json(doc)),
        Some(None) => Err(ApiError::new(
            StatusCode::GONE,
            "withdrawn",
            "this listing was withdrawn",
        )),
        None => Err(ApiError::not_found(
            "not_found",
            "no such listing in this node's replica",
        )),
    }
}
