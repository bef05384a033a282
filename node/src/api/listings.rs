//! Offers and needs a hosted collectivity writes: `POST /v1/listings`,
//! `PUT` and `DELETE /v1/listings/{id}`, and `POST /v1/listings/import`
//! (one spreadsheet row, matched to its listing by `listing_import`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mutua_api::{AsPublisher, ImportOutcome, ImportRow, ListingContent, WithdrawParams};
use mutua_protocol::{ListingId, Payload, SignedRecord, SlotKey, Withdrawal};
use rand::rngs::OsRng;
use rand::RngCore;

use super::errors::{parse_listing_id, query_rejection, ApiError, Body};
use super::signing::Published;
use super::{on_store, side, unix_now, NodeState, Shared, DAY};
use crate::datadir::HostedPublisher;
use crate::hosted::Signer;
use crate::listing_import::{self, Plan};

/// The hosted publisher `?as=` names, or the only one.
fn chosen_publisher(
    state: &NodeState,
    who: Result<Query<AsPublisher>, QueryRejection>,
) -> Result<Arc<HostedPublisher>, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    state.choose_publisher(who.publisher.as_deref())
}

pub(super) async fn publish(
    State(state): State<Shared>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(content): Body<ListingContent>,
) -> Result<Response, ApiError> {
    let publisher = chosen_publisher(&state, who)?;
    let published = publish_new(&state, publisher, content).await?;
    published.response(StatusCode::CREATED)
}

/// Signs `content` as a new listing of `publisher` (version 1, a random
/// id): `POST /v1/listings` and the web page's publication form.
pub(crate) async fn publish_new(
    state: &NodeState,
    publisher: Arc<HostedPublisher>,
    content: ListingContent,
) -> Result<Published, ApiError> {
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
        .sign_and_publish(Signer::Hosted(publisher.clone()), side.payload(listing))
        .await?;
    tracing::info!(publisher = %publisher.name, hash = %published.record.hash().to_hex(), "listing published");
    Ok(published)
}

/// Publishes, updates or leaves alone the listing a spreadsheet row
/// describes (the matching is `listing_import`'s); says which.
pub(super) async fn import_row(
    State(state): State<Shared>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(row): Body<ImportRow>,
) -> Result<Response, ApiError> {
    let publisher = chosen_publisher(&state, who)?;
    let answer = import_one(&state, publisher, row).await?;
    let status = match (answer.outcome, answer.record.is_some()) {
        (ImportOutcome::Published, true) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, axum::Json(answer)).into_response())
}

/// One spreadsheet row of `publisher` into the slot it describes:
/// `POST /v1/listings/import` and the web page's import.
pub(crate) async fn import_one(
    state: &NodeState,
    publisher: Arc<HostedPublisher>,
    row: ImportRow,
) -> Result<mutua_api::ImportedListing, ApiError> {
    let author = publisher.key.public();
    let id = match &row.id {
        Some(text) => parse_listing_id(text)?,
        None => listing_import::derived_id(&author, &row.listing),
    };
    let _guard = state.writes.lock().await;
    let now = unix_now();
    let current = state.current(author, id).await?;
    let (outcome, version) = match listing_import::plan(current.as_ref(), &row.listing, now) {
        Plan::Publish { version } => (ImportOutcome::Published, version),
        Plan::Update { version } => (ImportOutcome::Updated, version),
        Plan::Unchanged { version } => (ImportOutcome::Unchanged, version),
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
    let mut answer = mutua_api::ImportedListing {
        outcome,
        id,
        version,
        dry_run: row.dry_run,
        record: None,
        gossip: None,
    };
    if row.dry_run || outcome == ImportOutcome::Unchanged {
        return Ok(answer);
    }
    let expiry = now + state.default_lifetime_days * DAY;
    let (side, listing) = row.listing.into_listing(author, id, version, now, expiry);
    let published = state
        .sign_and_publish(Signer::Hosted(publisher.clone()), side.payload(listing))
        .await?;
    tracing::info!(publisher = %publisher.name, outcome = outcome.as_str(), hash = %published.record.hash().to_hex(), "listing imported");
    let published = published.answer()?;
    answer.record = Some(published.record);
    answer.gossip = Some(published.gossip);
    Ok(answer)
}

/// The hosted publisher owning slot `id` and the current record there.
pub(super) async fn owned_slot(
    state: &NodeState,
    publisher: Option<&str>,
    id: ListingId,
) -> Result<(Arc<HostedPublisher>, SignedRecord), ApiError> {
    let candidates: Vec<Arc<HostedPublisher>> = match publisher {
        Some(name) => vec![state.publisher(name)?],
        None => state.publishers.all().to_vec(),
    };
    let found = on_store(&state.store, move |store| {
        for p in candidates {
            let slot = SlotKey::Listing {
                author: p.key.public(),
                id,
            };
            if let Some(record) = store.get(&slot)? {
                return Ok(Some((p, record)));
            }
        }
        Ok::<_, mutua_store::StoreError>(None)
    })
    .await?;
    found.ok_or_else(|| {
        ApiError::not_found(
            "not_found",
            "no listing with this id by a publisher hosted here",
        )
        .with_field("id")
    })
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

pub(super) async fn update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(content): Body<ListingContent>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let id = parse_listing_id(&id)?;
    let published = update_slot(&state, who.publisher.as_deref(), id, content).await?;
    published.response(StatusCode::OK)
}

/// Signs `content` as the next version of listing `id`, owned by the hosted
/// `publisher` (or whichever hosted publisher owns it): `PUT
/// /v1/listings/{id}` and the web page's edit form.
pub(crate) async fn update_slot(
    state: &NodeState,
    publisher: Option<&str>,
    id: ListingId,
    content: ListingContent,
) -> Result<Published, ApiError> {
    let _guard = state.writes.lock().await;
    let (publisher, current) = owned_slot(state, publisher, id).await?;
    side::check_side(&current, Some(content.side))?;
    let version = current_version(&current)? + 1;
    let now = unix_now();
    let expiry = now + state.default_lifetime_days * DAY;
    let (side, listing) = content.into_listing(publisher.key.public(), id, version, now, expiry);
    state
        .sign_and_publish(Signer::Hosted(publisher), side.payload(listing))
        .await
}

pub(super) async fn withdraw(
    State(state): State<Shared>,
    Path(id): Path<String>,
    who: Result<Query<WithdrawParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let id = parse_listing_id(&id)?;
    let published = withdraw_slot(&state, who.publisher.as_deref(), id, who.side).await?;
    published.response(StatusCode::OK)
}

/// Signs the withdrawal of listing `id` (checking its side when given):
/// `DELETE /v1/listings/{id}` and the web page's withdraw button.
pub(crate) async fn withdraw_slot(
    state: &NodeState,
    publisher: Option<&str>,
    id: ListingId,
    expected: Option<mutua_api::Side>,
) -> Result<Published, ApiError> {
    let _guard = state.writes.lock().await;
    let (publisher, current) = owned_slot(state, publisher, id).await?;
    side::check_side(&current, expected)?;
    let withdrawal = Withdrawal {
        author: publisher.key.public(),
        id,
        version: current_version(&current)? + 1,
        withdrawn_at: unix_now(),
    };
    state
        .sign_and_publish(Signer::Hosted(publisher), Payload::Withdrawal(withdrawal))
        .await
}
