//! An offer's lending settings (`PUT /v1/listings/{id}/lending`) and its
//! calendar (`GET /v1/records/{author}/{id}/calendar`); the requests are
//! `requests`'. Both read the offer's lending records through the store's
//! lookup (`OfferBook`), on the blocking pool.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mutua_api::lending::{CalendarQuery, LendingSettings, LendingWritten};
use mutua_api::AsPublisher;
use mutua_protocol::lending::{LendingTerms, Period};
use mutua_protocol::rules::MAX_LIFETIME_DAYS;
use mutua_protocol::{Payload, SlotKey};

use super::errors::{parse_key, parse_listing_id, query_rejection, ApiError, Body};
use super::signing::Published;
use super::{on_store, unix_now, Shared, DAY};
use crate::hosted::Signer;
use crate::lending::view::{self, parse_day};
use crate::lending::{paris_today, OfferBook};

/// Days the calendar's window spans without `to`.
const DEFAULT_WINDOW_DAYS: u32 = 90;

/// A date or a period the user wrote wrong: 400 naming the field.
pub(super) fn bad_date((field, message): (String, String)) -> ApiError {
    ApiError::bad_request("invalid_date", message).with_field(field)
}

/// The answer to a lending write.
pub(super) fn written(
    published: Published,
    kind: &str,
    request: Option<mutua_api::LoanRequest>,
) -> LendingWritten {
    LendingWritten {
        kind: kind.to_owned(),
        hash: *published.record.hash(),
        envelope: mutua_protocol::hex(published.record.bytes()),
        gossip: published.gossip,
        request,
    }
}

pub(super) async fn set_settings(
    State(state): State<Shared>,
    Path(id): Path<String>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(settings): Body<LendingSettings>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let id = parse_listing_id(&id)?;
    let _guard = state.writes.lock().await;
    let (publisher, current) =
        super::listings::owned_slot(&state, who.publisher.as_deref(), id).await?;
    if !matches!(current.payload(), Payload::Offer(_)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_an_offer",
            "only an offer lends: this listing is a need or was withdrawn",
        )
        .with_field("id"));
    }
    let author = publisher.key.public();
    let previous = on_store(&state.store, move |store| {
        store.get(&SlotKey::Lending { author, offer: id })
    })
    .await?;
    let version = match previous.as_ref().map(|r| r.payload()) {
        Some(Payload::Lending(t)) => t.version + 1,
        _ => 1,
    };
    let now = unix_now();
    // The settings outlive any version of the offer, so that renewing the
    // offer keeps them; a decision reads the offer's own expiry.
    let terms = LendingTerms {
        author,
        offer: id,
        version,
        mode: settings.mode,
        buffer_days: settings.buffer_days,
        capacity: settings.capacity,
        published_at: now,
        expires_at: now + MAX_LIFETIME_DAYS * DAY,
    };
    let published = state
        .sign_and_publish(Signer::Hosted(publisher.clone()), Payload::Lending(terms))
        .await?;
    tracing::info!(publisher = %publisher.name, offer = %id.to_hex(), version, "lending settings published");
    Ok((StatusCode::OK, Json(written(published, "lending", None))).into_response())
}

pub(super) async fn calendar(
    State(state): State<Shared>,
    Path((author, id)): Path<(String, String)>,
    query: Result<Query<CalendarQuery>, QueryRejection>,
) -> Result<Json<mutua_api::OfferCalendar>, ApiError> {
    let Query(query) = query.map_err(query_rejection)?;
    let author = parse_key(&author, "author")?;
    let id = parse_listing_id(&id)?;
    calendar_of(&state, author, id, query).await.map(Json)
}

/// Offer `author`/`id`'s calendar over the window `query` asks for (the
/// API's and the web page's).
pub(crate) async fn calendar_of(
    state: &super::NodeState,
    author: mutua_protocol::PublicKey,
    id: mutua_protocol::ListingId,
    query: CalendarQuery,
) -> Result<mutua_api::OfferCalendar, ApiError> {
    let now = unix_now();
    let start = match &query.from {
        Some(text) => parse_day(text, "from").map_err(bad_date)?,
        None => paris_today(now),
    };
    let last = match &query.to {
        Some(text) => parse_day(text, "to").map_err(bad_date)?,
        None => start + DEFAULT_WINDOW_DAYS - 1,
    };
    if last < start {
        return Err(ApiError::bad_request(
            "invalid_date",
            "the window's last day (to) is before its first day (from)",
        )
        .with_field("to"));
    }
    let quantity = query.quantity.unwrap_or(1);
    if quantity == 0 {
        return Err(
            ApiError::bad_request("invalid_parameter", "quantity is at least 1")
                .with_field("quantity"),
        );
    }
    let book = on_store(&state.store, move |store| {
        OfferBook::load(store, &author, &id, now)
    })
    .await?;
    if book.listing.is_none() && book.records.is_empty() {
        return Err(ApiError::not_found(
            "not_found",
            "this node's replica holds no live offer with this author and id",
        ));
    }
    let window = Period {
        start,
        end: last + 1,
    };
    Ok(view::offer_calendar(&book, &window, quantity))
}
