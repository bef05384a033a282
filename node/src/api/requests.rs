//! Requests and their answers: `POST /v1/requests` (a hosted borrower
//! asks), `PUT` and `DELETE /v1/requests/{id}` (it changes or cancels its
//! request), `GET /v1/requests` (incoming and outgoing), and the owner's
//! `accept` and `decline`, and either party's hand-over and return
//! (`events`). A request is named by its id; the node finds it among the
//! requests for its hosted offers (incoming) or by its hosted borrowers
//! (outgoing). Every answer that needs a calendar holds
//! [`NodeState::writes`] from reading it to signing, as the decider does.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mutua_api::lending::{
    reason_words, AcceptRequest, CancelAcceptance, DeclineRequest, Direction, LoanEventName,
    LoanRequest, NewLoanEvent, NewRequest, Requests, RequestsQuery,
};
use mutua_api::AsPublisher;
use mutua_protocol::lending::calendar::RequestStatus;
use mutua_protocol::lending::decide::{accepted, check_acceptance, decision_for, next_seq};
use mutua_protocol::lending::{
    DeclineReason, LoanEvent, LoanEventKind, Outcome, OwnerCancellation, Refusal, Request,
    RequestId, Return,
};
use mutua_protocol::{FixedBytes, Payload};
use mutua_store::{Store, StoreError};
use rand::rngs::OsRng;
use rand::RngCore;

use super::errors::{query_rejection, ApiError, Body};
use super::federation::member_name;
use super::lending::{bad_date, written};
use super::{on_store, unix_now, NodeState, Shared};
use crate::datadir::HostedPublisher;
use crate::hosted::Signer;
use crate::lending::view::{loan_request, parse_period};
use crate::lending::{paris_today, terms_hash, OfferBook};
use crate::metrics::DecisionLabels;

/// A request found among the hosted collectivities' ones.
struct Found {
    /// The hosted party: the offer's author (incoming) or the borrower.
    publisher: Arc<HostedPublisher>,
    direction: Direction,
    book: OfferBook,
    id: RequestId,
    /// From the borrower's membership.
    borrower_name: Option<String>,
}

impl Found {
    fn state(&self) -> &mutua_protocol::lending::calendar::RequestState {
        self.book
            .request_by_id(&self.id)
            .expect("found in its book")
    }

    fn view(&self) -> LoanRequest {
        loan_request(
            &self.book,
            self.state(),
            self.direction,
            self.borrower_name.clone(),
        )
    }
}

fn parse_request_id(text: &str) -> Result<RequestId, ApiError> {
    mutua_api::parse_hex(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{text:?} is not a request id (32 hexadecimal digits)"),
        )
        .with_field("id")
    })
}

/// The request `id` in `direction` among `publishers`' ones.
fn find_in(
    store: &Store,
    publishers: &[Arc<HostedPublisher>],
    id: &RequestId,
    direction: Direction,
    now: u64,
) -> Result<Option<Found>, StoreError> {
    let is_it = |p: &Payload| matches!(p, Payload::Request(r) if &r.id == id);
    for publisher in publishers {
        let key = publisher.key.public();
        let book = match direction {
            Direction::Incoming => store
                .lending_records_of(&key)?
                .into_iter()
                .find(|(_, records)| records.iter().any(|r| is_it(&r.payload)))
                .map(|(offer, records)| OfferBook::of(store, key, offer, records, now))
                .transpose()?,
            Direction::Outgoing => match store.requests_by(&key)?.into_iter().find_map(|r| match r
                .payload
            {
                Payload::Request(q) if &q.id == id => Some(q),
                _ => None,
            }) {
                Some(q) => Some(OfferBook::load(store, &q.offer_author, &q.offer, now)?),
                None => None,
            },
        };
        if let Some(book) = book.filter(|b| b.request_by_id(id).is_some()) {
            let borrower = book.request_by_id(id).expect("filtered").request.author;
            return Ok(Some(Found {
                publisher: publisher.clone(),
                direction,
                book,
                id: *id,
                borrower_name: member_name(store, &borrower, now),
            }));
        }
    }
    Ok(None)
}

/// The request `id`, looked for in `directions` in order, among every
/// hosted collectivity's requests.
async fn find(
    state: &NodeState,
    id: &str,
    directions: &'static [Direction],
) -> Result<Found, ApiError> {
    find_among(state, state.publishers.all().to_vec(), id, directions).await
}

/// The request `id` among `publishers`' ones only (the web page: a member
/// of staff acts for their own collectivities).
async fn find_among(
    state: &NodeState,
    publishers: Vec<Arc<HostedPublisher>>,
    id: &str,
    directions: &'static [Direction],
) -> Result<Found, ApiError> {
    let id = parse_request_id(id)?;
    let found = on_store(&state.store, move |store| {
        for direction in directions {
            if let Some(found) = find_in(store, &publishers, &id, *direction, unix_now())? {
                return Ok(Some(found));
            }
        }
        Ok::<_, StoreError>(None)
    })
    .await?;
    found.ok_or_else(|| {
        let whose = match directions {
            [Direction::Incoming] => "for an offer of a collectivity hosted here",
            [Direction::Outgoing] => "made by a collectivity hosted here",
            _ => "made by or for a collectivity hosted here",
        };
        ApiError::not_found("not_found", format!("no request with this id {whose}"))
            .with_field("id")
    })
}

/// 409: the request is past what the action needs.
fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

fn status_words(status: &RequestStatus) -> String {
    match status {
        RequestStatus::Pending => "is not decided yet".into(),
        RequestStatus::Accepted { .. } => "was accepted".into(),
        RequestStatus::Declined { reason, .. } => {
            format!(
                "was declined ({}: {})",
                reason.as_str(),
                reason_words(*reason)
            )
        }
        RequestStatus::CancelledByOwner { .. } => "was cancelled by the owner".into(),
        RequestStatus::CancelledByBorrower => "was cancelled by the borrower".into(),
        RequestStatus::Overruled { .. } => {
            "was accepted, but an earlier acceptance by the same key overrules it".into()
        }
    }
}

/// Refuses an action on a request that was decided already.
fn undecided(found: &Found) -> Result<(), ApiError> {
    let state = found.state();
    if state.decision.is_some() || state.status != RequestStatus::Pending {
        return Err(conflict(
            "already_decided",
            format!("this request {}", status_words(&state.status)),
        ));
    }
    Ok(())
}

/// The request the borrower signs from `new`, at `version`.
async fn signed_request(
    state: &NodeState,
    publisher: Arc<HostedPublisher>,
    new: NewRequest,
    id: RequestId,
    version: u64,
) -> Result<mutua_api::LendingWritten, ApiError> {
    let period = parse_period(&new.first_day, &new.last_day).map_err(bad_date)?;
    let now = unix_now();
    let today = paris_today(now);
    if period.start < today {
        return Err(ApiError::bad_request(
            "invalid_date",
            format!(
                "a loan cannot start in the past (today is {})",
                mutua_protocol::lending::date::format_date(today)
            ),
        )
        .with_field("first_day"));
    }
    let (author, offer) = (new.offer_author, new.offer);
    let book = on_store(&state.store, move |store| {
        OfferBook::load(store, &author, &offer, now)
    })
    .await?;
    let Some(listing) = &book.listing else {
        return Err(ApiError::not_found(
            "no_such_offer",
            "this node's replica holds no live offer with this author and id (find it with mutua search)",
        )
        .with_field("offer"));
    };
    let request = Request {
        author: publisher.key.public(),
        id,
        version,
        offer_author: author,
        offer,
        offer_version: listing.version,
        period,
        quantity: new.quantity,
        purpose: new.purpose,
        contact: new.contact,
        created_at: now,
    };
    let published = state
        .sign_and_publish(Signer::Hosted(publisher.clone()), Payload::Request(request))
        .await?;
    tracing::info!(publisher = %publisher.name, request = %id.to_hex(), version, "request published");
    Ok(answer_after(state, &published, id, &[Direction::Outgoing]).await)
}

/// The answer to a write about request `id`: the request as it now stands.
async fn answer_after(
    state: &NodeState,
    published: &super::signing::Published,
    id: RequestId,
    directions: &'static [Direction],
) -> mutua_api::LendingWritten {
    let kind = match published.record.payload() {
        Payload::Request(_) => "request",
        Payload::Decision(_) => "decision",
        _ => "loan_event",
    };
    let request = find(state, &id.to_hex(), directions)
        .await
        .ok()
        .map(|f| f.view());
    written(
        super::signing::Published {
            record: published.record.clone(),
            gossip: published.gossip.clone(),
            warnings: Vec::new(),
        },
        kind,
        request,
    )
}

pub(super) async fn create(
    State(state): State<Shared>,
    who: Result<Query<AsPublisher>, QueryRejection>,
    Body(new): Body<NewRequest>,
) -> Result<Response, ApiError> {
    let Query(who) = who.map_err(query_rejection)?;
    let publisher = state.choose_publisher(who.publisher.as_deref())?;
    let written = create_by(&state, publisher, new).await?;
    Ok((StatusCode::CREATED, Json(written)).into_response())
}

/// A new request by hosted borrower `publisher` (the API's and the web
/// page's).
pub(crate) async fn create_by(
    state: &NodeState,
    publisher: Arc<HostedPublisher>,
    new: NewRequest,
) -> Result<mutua_api::LendingWritten, ApiError> {
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    signed_request(state, publisher, new, FixedBytes(id), 1).await
}

pub(super) async fn update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(new): Body<NewRequest>,
) -> Result<Response, ApiError> {
    let _guard = state.writes.lock().await;
    let found = find(&state, &id, &[Direction::Outgoing]).await?;
    undecided(&found)?;
    let current = &found.state().request;
    if current.offer_author != new.offer_author || current.offer != new.offer {
        return Err(ApiError::bad_request(
            "offer_fixed",
            "a request's offer does not change: cancel it and make a new request",
        )
        .with_field("offer"));
    }
    let version = current.version + 1;
    let written = signed_request(&state, found.publisher.clone(), new, found.id, version).await?;
    Ok((StatusCode::OK, Json(written)).into_response())
}

pub(super) async fn cancel(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<mutua_api::LendingWritten>, ApiError> {
    cancel_among(&state, state.publishers.all().to_vec(), &id)
        .await
        .map(Json)
}

/// The borrower among `publishers` cancels its request `id`.
pub(crate) async fn cancel_among(
    state: &NodeState,
    publishers: Vec<Arc<HostedPublisher>>,
    id: &str,
) -> Result<mutua_api::LendingWritten, ApiError> {
    let _guard = state.writes.lock().await;
    let found = find_among(state, publishers, id, &[Direction::Outgoing]).await?;
    let current = found.state();
    if matches!(
        current.status,
        RequestStatus::CancelledByBorrower
            | RequestStatus::Declined { .. }
            | RequestStatus::CancelledByOwner { .. }
    ) {
        return Err(conflict(
            "nothing_to_cancel",
            format!("this request {}", status_words(&current.status)),
        ));
    }
    let published =
        publish_loan_event(state, &found, current.decision, LoanEventKind::Cancelled).await?;
    tracing::info!(publisher = %found.publisher.name, request = %found.id.to_hex(), "request cancelled by the borrower");
    Ok(answer_after(state, &published, found.id, &[Direction::Outgoing]).await)
}

pub(super) async fn list(
    State(state): State<Shared>,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<Requests>, ApiError> {
    let Query(query) = query.map_err(query_rejection)?;
    let publishers = match &query.publisher {
        Some(name) => vec![state.publisher(name)?],
        None => state.publishers.all().to_vec(),
    };
    list_of(&state, publishers, query).await.map(Json)
}

/// The requests of `publishers` that `query` asks for, newest first.
pub(crate) async fn list_of(
    state: &NodeState,
    publishers: Vec<Arc<HostedPublisher>>,
    query: RequestsQuery,
) -> Result<Requests, ApiError> {
    let now = unix_now();
    let mut requests = on_store(&state.store, move |store| {
        let mut out = Vec::new();
        for p in &publishers {
            let key = p.key.public();
            if query.direction != Some(Direction::Outgoing) {
                for (offer, records) in store.lending_records_of(&key)? {
                    let book = OfferBook::of(store, key, offer, records, now)?;
                    for s in &book.calendar.requests {
                        let name = member_name(store, &s.request.author, now);
                        out.push(loan_request(&book, s, Direction::Incoming, name));
                    }
                }
            }
            if query.direction != Some(Direction::Incoming) {
                for record in store.requests_by(&key)? {
                    let Payload::Request(r) = record.payload else {
                        continue;
                    };
                    let book = OfferBook::load(store, &r.offer_author, &r.offer, now)?;
                    if let Some(s) = book.request(&r.author, &r.id) {
                        let name = member_name(store, &r.author, now);
                        out.push(loan_request(&book, s, Direction::Outgoing, name));
                    }
                }
            }
        }
        if query.pending {
            out.retain(|r| r.status == mutua_api::RequestStatus::Pending);
        }
        Ok::<_, StoreError>(out)
    })
    .await?;
    requests.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    Ok(Requests { requests })
}

/// Signs the owner's decision `outcome` on the request found, by its staff.
async fn decide_by_staff(
    state: &NodeState,
    found: Found,
    outcome: Outcome,
) -> Result<mutua_api::LendingWritten, ApiError> {
    let now = unix_now();
    let current = found.state();
    let decision = decision_for(
        &current.request,
        current.hash,
        outcome,
        next_seq(&found.book.calendar, now),
        now,
    );
    let label = crate::lending::decider::outcome_label(&decision.outcome);
    let waited = match decision.outcome {
        Outcome::Cancelled(_) => None,
        _ => Some(now.saturating_sub(current.request.created_at)),
    };
    let published = state
        .sign_and_publish(
            Signer::Hosted(found.publisher.clone()),
            Payload::Decision(decision),
        )
        .await?;
    state.metrics.lending.decided(
        DecisionLabels {
            outcome: label,
            by: "staff",
        },
        waited,
    );
    tracing::info!(publisher = %found.publisher.name, request = %found.id.to_hex(), outcome = label, "request decided by staff");
    Ok(answer_after(state, &published, found.id, &[Direction::Incoming]).await)
}

pub(super) async fn accept(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<AcceptRequest>,
) -> Result<Json<mutua_api::LendingWritten>, ApiError> {
    accept_among(&state, state.publishers.all().to_vec(), &id, body)
        .await
        .map(Json)
}

/// The owner among `publishers` accepts request `id`.
pub(crate) async fn accept_among(
    state: &NodeState,
    publishers: Vec<Arc<HostedPublisher>>,
    id: &str,
    body: AcceptRequest,
) -> Result<mutua_api::LendingWritten, ApiError> {
    let terms = match &body.terms_hash {
        Some(text) => {
            mutua_api::parse_hex::<32>(text)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_body",
                        format!("{text:?} is not a SHA-256 (64 hexadecimal digits)"),
                    )
                    .with_field("terms_hash")
                })?
                .0
        }
        None => terms_hash(b""),
    };
    let _guard = state.writes.lock().await;
    let found = find_among(state, publishers, id, &[Direction::Incoming]).await?;
    undecided(&found)?;
    let now = unix_now();
    let request = &found.state().request;
    if let Err(reason) = check_acceptance(
        found.book.view(),
        &found.book.calendar,
        request,
        paris_today(now),
        now,
    ) {
        return Err(conflict(
            "cannot_accept",
            format!(
                "this request cannot be accepted: {} ({}); decline it with that reason",
                reason_words(reason),
                reason.as_str()
            ),
        ));
    }
    decide_by_staff(state, found, accepted(terms)).await
}

pub(super) async fn decline(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<DeclineRequest>,
) -> Result<Json<mutua_api::LendingWritten>, ApiError> {
    decline_among(&state, state.publishers.all().to_vec(), &id, body)
        .await
        .map(Json)
}

/// The owner among `publishers` declines request `id`.
pub(crate) async fn decline_among(
    state: &NodeState,
    publishers: Vec<Arc<HostedPublisher>>,
    id: &str,
    body: DeclineRequest,
) -> Result<mutua_api::LendingWritten, ApiError> {
    let _guard = state.writes.lock().await;
    let found = find_among(state, publishers, id, &[Direction::Incoming]).await?;
    undecided(&found)?;
    let outcome = Outcome::Declined(Refusal {
        reason: body.reason.unwrap_or(DeclineReason::Refused),
        text: body.text.filter(|t| !t.trim().is_empty()),
    });
    decide_by_staff(state, found, outcome).await
}

/// The owner's staff take an acceptance back (a decision `cancelled`).
pub(super) async fn cancel_acceptance(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<CancelAcceptance>,
) -> Result<Json<mutua_api::LendingWritten>, ApiError> {
    let _guard = state.writes.lock().await;
    let found = find(&state, &id, &[Direction::Incoming]).await?;
    let status = found.state().status.clone();
    if !matches!(status, RequestStatus::Accepted { .. }) {
        return Err(conflict(
            "not_accepted",
            format!(
                "the owner cancels an accepted loan only; this request {}",
                status_words(&status)
            ),
        ));
    }
    let outcome = Outcome::Cancelled(OwnerCancellation {
        text: body.text.filter(|t| !t.trim().is_empty()),
    });
    decide_by_staff(&state, found, outcome).await.map(Json)
}

pub(super) async fn event(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<NewLoanEvent>,
) -> Result<Json<mutua_api::LendingWritten>, ApiError> {
    event_among(&state, state.publishers.all().to_vec(), &id, body)
        .await
        .map(Json)
}

/// The owner or the borrower among `publishers` records a loan event.
pub(crate) async fn event_among(
    state: &NodeState,
    publishers: Vec<Arc<HostedPublisher>>,
    id: &str,
    body: NewLoanEvent,
) -> Result<mutua_api::LendingWritten, ApiError> {
    // The body first: its mistakes are told whatever the request's state.
    let kind = match body.event {
        LoanEventName::HandedOver => handed_over(&body)?,
        LoanEventName::Returned => LoanEventKind::Returned(Return {
            condition: body.condition.ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_body",
                    "a return says the condition: as_lent or damaged",
                )
                .with_field("condition")
            })?,
            note: body.note.clone().filter(|t| !t.trim().is_empty()),
        }),
    };
    let found = find_among(
        state,
        publishers,
        id,
        &[Direction::Incoming, Direction::Outgoing],
    )
    .await?;
    let current = found.state();
    let RequestStatus::Accepted { decision } = current.status else {
        return Err(conflict(
            "not_accepted",
            format!(
                "a hand-over or a return is recorded for an accepted loan; this request {}",
                status_words(&current.status)
            ),
        ));
    };
    let published = publish_loan_event(state, &found, Some(decision), kind).await?;
    tracing::info!(publisher = %found.publisher.name, request = %found.id.to_hex(), event = ?body.event, "loan event recorded");
    let directions: &'static [Direction] = match found.direction {
        Direction::Incoming => &[Direction::Incoming],
        Direction::Outgoing => &[Direction::Outgoing],
    };
    Ok(answer_after(state, &published, found.id, directions).await)
}

/// A hand-over: refused with what only a return carries (the protocol's
/// hand-over event has neither), rather than signed without it.
fn handed_over(body: &NewLoanEvent) -> Result<LoanEventKind, ApiError> {
    if body.note.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "a hand-over carries no note (the protocol's hand-over has none): say what is damaged with the return",
        )
        .with_field("note"));
    }
    if body.condition.is_some() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "a hand-over has no condition: the condition is recorded with the return",
        )
        .with_field("condition"));
    }
    Ok(LoanEventKind::HandedOver)
}

/// Signs `kind` about `found`'s request as the party this node hosts (the
/// borrower or the owner) and publishes it.
async fn publish_loan_event(
    state: &NodeState,
    found: &Found,
    decision: Option<mutua_protocol::RecordHash>,
    kind: LoanEventKind,
) -> Result<super::signing::Published, ApiError> {
    let r = &found.state().request;
    let event = LoanEvent {
        author: found.publisher.key.public(),
        offer_author: r.offer_author,
        offer: r.offer,
        borrower: r.author,
        request_id: r.id,
        decision,
        event: kind,
        at: unix_now(),
    };
    state
        .sign_and_publish(
            Signer::Hosted(found.publisher.clone()),
            Payload::LoanEvent(event),
        )
        .await
}
