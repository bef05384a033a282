//! « Mes demandes » (the requests the visitor's collectivities made) and
//! « Demandes reçues » (the requests for their offers): each request's
//! state in words, and the actions it allows — accept (with an optional
//! loan convention, whose SHA-256 the decision carries) or decline for the
//! owner's staff, cancel for the borrower's, the return on an agreement.
//! Every action calls the API's own service (`api::requests::*_among`)
//! restricted to the visitor's collectivities: a member of staff acts only
//! for their own (another collectivity's request is "not found").

use std::sync::Arc;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use mutua_api::lending::{
    AcceptRequest, DeclineRequest, Direction, LoanEventName, LoanRequest, NewLoanEvent,
    RequestStatus, RequestsQuery,
};
use mutua_protocol::lending::{Condition, DeclineReason, MAX_DECISION_TEXT_CHARS, MAX_NOTE_CHARS};
use serde::Deserialize;

use super::forms::Errors;
use super::i18n::{long_date, n, s, t, tr};
use super::lending::period_words;
use super::publish::see_other;
use super::{error_page, internal, layout, to_sign_in, Shared, Visitor, Web};
use crate::api::ApiError;
use crate::datadir::HostedPublisher;

/// The reasons staff may give for a refusal, in the list's order.
const REASONS: [DeclineReason; 6] = [
    DeclineReason::Refused,
    DeclineReason::Conflict,
    DeclineReason::OverCapacity,
    DeclineReason::OfferChanged,
    DeclineReason::NotLendable,
    DeclineReason::TooLate,
];

/// The hosted publishers the visitor acts for.
fn own_publishers(web: &Web, visitor: &Visitor) -> Vec<Arc<HostedPublisher>> {
    web.node
        .publishers
        .all()
        .iter()
        .filter(|p| visitor.may_act_for(&p.name))
        .cloned()
        .collect()
}

fn list_path(direction: Direction) -> &'static str {
    match direction {
        Direction::Outgoing => "/demandes",
        Direction::Incoming => "/demandes/recues",
    }
}

/// What a request's state is, in words.
fn status_words(r: &LoanRequest) -> String {
    let state = match r.status {
        RequestStatus::Pending => t("request-state-pending"),
        RequestStatus::Accepted => t("request-state-accepted"),
        RequestStatus::Declined => tr(
            "request-state-declined",
            &[(
                "reason",
                s(t(&format!(
                    "reason-{}",
                    r.reason.unwrap_or(DeclineReason::Refused).as_str()
                ))),
            )],
        ),
        RequestStatus::CancelledByOwner => t("request-state-cancelled-owner"),
        RequestStatus::CancelledByBorrower => t("request-state-cancelled-borrower"),
        RequestStatus::Overruled => t("request-state-overruled"),
    };
    match &r.reason_text {
        Some(words) => tr(
            "request-state-words",
            &[("state", s(state)), ("words", s(words.clone()))],
        ),
        None => state,
    }
}

/// Where a loan stands once agreed.
fn loan_words(r: &LoanRequest) -> Option<String> {
    match (r.returned, r.handed_over) {
        (Some(Condition::AsLent), _) => Some(t("loan-returned-as-lent")),
        (Some(Condition::Damaged), _) => Some(t("loan-returned-damaged")),
        (None, true) => Some(t("loan-handed-over")),
        (None, false) => None,
    }
}

fn accept_form(visitor: &Visitor, key: &str, errors: &Errors) -> Markup {
    let field = format!("terms-{key}");
    let error = errors.of(&field);
    html! {
        form method="post" action={ "/demandes/" (key) "/accepter" } enctype="multipart/form-data" {
            (layout::csrf_field(visitor))
            div class="field" {
                label for={ "f-" (field) } { (t("accept-terms")) }
                span class="hint" id={ "f-" (field) "-hint" } { (t("accept-terms-hint")) }
                @if let Some(message) = error { p class="error" id={ "f-" (field) "-error" } { (message) } }
                input type="file" id={ "f-" (field) } name="file"
                    aria-describedby={ "f-" (field) "-hint" @if error.is_some() { " f-" (field) "-error" } };
            }
            button type="submit" { (t("accept-submit")) }
        }
    }
}

fn decline_form(visitor: &Visitor, key: &str) -> Markup {
    html! {
        form method="post" action={ "/demandes/" (key) "/refuser" } {
            (layout::csrf_field(visitor))
            div class="field" {
                label for={ "f-reason-" (key) } { (t("decline-reason")) }
                select id={ "f-reason-" (key) } name="reason" {
                    @for r in REASONS { option value=(r.as_str()) { (t(&format!("reason-{}", r.as_str()))) } }
                }
            }
            div class="field" {
                label for={ "f-text-" (key) } { (t("decline-text")) }
                input type="text" id={ "f-text-" (key) } name="text";
            }
            button type="submit" class="secondary" { (t("decline-submit")) }
        }
    }
}

fn cancel_form(visitor: &Visitor, key: &str) -> Markup {
    html! {
        form method="post" action={ "/demandes/" (key) "/annuler" } {
            (layout::csrf_field(visitor))
            button type="submit" class="secondary" id={ "f-cancel-" (key) } { (t("cancel-submit")) }
        }
    }
}

fn return_form(visitor: &Visitor, key: &str, errors: &Errors) -> Markup {
    let note = format!("note-{key}");
    let error = errors.of(&note);
    html! {
        form method="post" action={ "/demandes/" (key) "/retour" } {
            (layout::csrf_field(visitor))
            fieldset {
                legend { (t("return-condition")) }
                div class="choice" {
                    input type="radio" id={ "f-condition-" (key) "-0" } name="condition" value="as_lent" checked;
                    label for={ "f-condition-" (key) "-0" } { (t("return-as-lent")) }
                }
                div class="choice" {
                    input type="radio" id={ "f-condition-" (key) "-1" } name="condition" value="damaged";
                    label for={ "f-condition-" (key) "-1" } { (t("return-damaged")) }
                }
            }
            div class="field" {
                label for={ "f-" (note) } { (t("return-note")) }
                @if let Some(message) = error { p class="error" id={ "f-" (note) "-error" } { (message) } }
                input type="text" id={ "f-" (note) } name="note"
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| format!("f-{note}-error"))];
            }
            button type="submit" { (t("return-submit")) }
        }
    }
}

fn request_item(visitor: &Visitor, r: &LoanRequest, errors: &Errors) -> Markup {
    let key = r.id.to_hex();
    let title = r
        .offer_title
        .clone()
        .unwrap_or_else(|| t("listing-title-fallback"));
    let offer = format!("/annonces/{}/{}", r.offer_author.key_id(), r.offer.to_hex());
    let open = matches!(r.status, RequestStatus::Pending | RequestStatus::Accepted);
    html! {
        li class="request" id={ "d-" (key) } {
            h2 { a href=(offer) { (title) } }
            dl class="facts" {
                dt { (t("request-state")) }
                dd class="state" { (status_words(r)) }
                @if let Some(words) = loan_words(r) { dt { (t("request-loan")) } dd { (words) } }
                dt { (t("request-when")) }
                dd { (period_words(&r.first_day, &r.last_day)) }
                @if r.quantity > 1 { dt { (t("request-quantity")) } dd { (r.quantity) } }
                @if r.direction == Direction::Incoming {
                    dt { (t("request-borrower")) }
                    dd { (r.borrower_name.clone().unwrap_or_else(|| r.borrower.key_id())) }
                }
                dt { (t("request-purpose")) }
                dd { (r.purpose) }
                dt { (t("request-contact-role")) }
                dd {
                    (r.contact.role)
                    @if let Some(email) = &r.contact.email { br; a href={ "mailto:" (email) } { (email) } }
                    @if let Some(phone) = &r.contact.phone { br; (phone) }
                }
                dt { (t("request-made")) }
                dd { (long_date(r.created_at)) }
                @if let Some(hash) = &r.terms_hash { dt { (t("request-terms-hash")) } dd class="hash" { (hash) } }
            }
            @if r.status == RequestStatus::Pending && r.direction == Direction::Incoming {
                (accept_form(visitor, &key, errors))
                (decline_form(visitor, &key))
            }
            @if r.status == RequestStatus::Accepted && r.returned.is_none() {
                (return_form(visitor, &key, errors))
            }
            @if open && !r.handed_over && r.returned.is_none() && r.direction == Direction::Outgoing { (cancel_form(visitor, &key)) }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    envoyee: Option<String>,
    #[serde(default)]
    fait: Option<String>,
}

async fn list_page(
    web: &Web,
    visitor: &Visitor,
    direction: Direction,
    done: &Done,
    errors: &Errors,
) -> Response {
    let query = RequestsQuery {
        publisher: None,
        direction: Some(direction),
        pending: false,
    };
    let found = crate::api::requests::list_of(&web.node, own_publishers(web, visitor), query).await;
    let requests = match found {
        Ok(r) => r.requests,
        Err(e) => return internal(web, visitor, e.message),
    };
    // The borrower's certified name, from the replica's memberships.
    let notice = match (&done.envoyee, done.fait.as_deref()) {
        (Some(_), _) => Some(t("done-sent")),
        (_, Some(what)) if super::i18n::has(&format!("done-{what}")) => {
            Some(t(&format!("done-{what}")))
        }
        _ => None,
    };
    let (title, other, other_text) = match direction {
        Direction::Outgoing => ("requests-mine", Direction::Incoming, "requests-received"),
        Direction::Incoming => ("requests-received", Direction::Outgoing, "requests-mine"),
    };
    let body = html! {
        @if let Some(text) = notice { p class="status" role="status" { (text) } }
        (errors.summary())
        p { a href=(list_path(other)) { (t(other_text)) } }
        @if requests.is_empty() {
            p { (t(match direction { Direction::Outgoing => "requests-mine-none", Direction::Incoming => "requests-received-none" })) }
        } @else {
            p { (tr("requests-count", &[("count", n(requests.len()))])) }
            ul class="requests" {
                @for r in &requests { (request_item(visitor, r, errors)) }
            }
        }
    };
    layout::page(web, visitor, &t(title), body)
}

async fn signed_in(web: &Web, headers: &HeaderMap) -> Result<Visitor, Response> {
    let visitor = web.visitor(headers).await;
    if visitor.session.is_none() {
        return Err(to_sign_in());
    }
    Ok(visitor)
}

/// `/demandes`: « Mes demandes ».
pub async fn mine(
    State(web): State<Shared>,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    match signed_in(&web, &headers).await {
        Ok(v) => list_page(&web, &v, Direction::Outgoing, &done, &Errors::default()).await,
        Err(r) => r,
    }
}

/// `/demandes/recues`: « Demandes reçues ».
pub async fn received(
    State(web): State<Shared>,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    match signed_in(&web, &headers).await {
        Ok(v) => list_page(&web, &v, Direction::Incoming, &done, &Errors::default()).await,
        Err(r) => r,
    }
}

/// What an action's refusal says, in French.
fn refusal_words(e: &ApiError) -> String {
    let id = format!("action-refused-{}", e.code);
    if super::i18n::has(&id) {
        t(&id)
    } else {
        t("action-refused-other")
    }
}

/// The outcome of an action on request `key`: back to its list with a
/// confirmation, or the list with the refusal linked to the form's field.
async fn after(
    web: &Web,
    visitor: &Visitor,
    direction: Direction,
    key: &str,
    done: &str,
    field: &str,
    result: Result<mutua_api::LendingWritten, ApiError>,
) -> Response {
    match result {
        Ok(_) => see_other(format!("{}?fait={done}", list_path(direction))),
        Err(e)
            if e.status == StatusCode::NOT_FOUND
                || e.status == StatusCode::BAD_REQUEST && e.code == "invalid_parameter" =>
        {
            error_page(web, visitor, StatusCode::NOT_FOUND, "request-missing")
        }
        Err(e) if e.status.is_client_error() => {
            let mut errors = Errors::default();
            errors.add(
                &format!("{field}-{key}"),
                &format!("action-{done}"),
                refusal_words(&e),
            );
            let mut page = list_page(web, visitor, direction, &Done::default(), &errors).await;
            *page.status_mut() = StatusCode::CONFLICT;
            page
        }
        Err(e) => internal(web, visitor, e.message),
    }
}

/// `POST /demandes/<id>/accepter` (multipart: the convention file).
pub async fn accept(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let visitor = match signed_in(&web, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (mut csrf, mut terms) = (String::new(), Vec::new());
    if let Ok(mut multipart) = multipart {
        while let Ok(Some(field)) = multipart.next_field().await {
            match field.name().unwrap_or("") {
                "csrf" => csrf = field.text().await.unwrap_or_default(),
                "file" => terms = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                _ => {}
            }
        }
    }
    if !visitor.check_csrf(&csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    // No file: the API's default (the hash of an empty document).
    let body = AcceptRequest {
        terms_hash: (!terms.is_empty())
            .then(|| mutua_protocol::hex(&crate::lending::terms_hash(&terms))),
    };
    let result =
        crate::api::requests::accept_among(&web.node, own_publishers(&web, &visitor), &key, body)
            .await;
    after(
        &web,
        &visitor,
        Direction::Incoming,
        &key,
        "accepted",
        "terms",
        result,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct DeclineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    text: String,
}

/// `POST /demandes/<id>/refuser`.
pub async fn decline(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(form): Form<DeclineForm>,
) -> Response {
    let visitor = match web.staff(&headers, &form.csrf, None).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let reason = REASONS
        .into_iter()
        .find(|r| r.as_str() == form.reason)
        .unwrap_or(DeclineReason::Refused);
    let text: String = form
        .text
        .trim()
        .chars()
        .take(MAX_DECISION_TEXT_CHARS)
        .collect();
    let body = DeclineRequest {
        reason: Some(reason),
        text: Some(text).filter(|t| !t.is_empty()),
    };
    let result =
        crate::api::requests::decline_among(&web.node, own_publishers(&web, &visitor), &key, body)
            .await;
    after(
        &web,
        &visitor,
        Direction::Incoming,
        &key,
        "declined",
        "reason",
        result,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /demandes/<id>/annuler`: the borrower cancels.
pub async fn cancel(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let visitor = match web.staff(&headers, &form.csrf, None).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result =
        crate::api::requests::cancel_among(&web.node, own_publishers(&web, &visitor), &key).await;
    after(
        &web,
        &visitor,
        Direction::Outgoing,
        &key,
        "cancelled",
        "cancel",
        result,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct ReturnForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    note: String,
}

/// `POST /demandes/<id>/retour`: either party records the return.
pub async fn give_back(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(form): Form<ReturnForm>,
) -> Response {
    let visitor = match web.staff(&headers, &form.csrf, None).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let publishers = own_publishers(&web, &visitor);
    // Back to the list the visitor came from: the borrower's or the owner's.
    let direction = match crate::api::requests::list_of(
        &web.node,
        publishers.clone(),
        RequestsQuery {
            direction: Some(Direction::Incoming),
            ..RequestsQuery::default()
        },
    )
    .await
    {
        Ok(r) if r.requests.iter().any(|q| q.id.to_hex() == key) => Direction::Incoming,
        _ => Direction::Outgoing,
    };
    let condition = if form.condition == "damaged" {
        Condition::Damaged
    } else {
        Condition::AsLent
    };
    let note = form.note.trim().to_owned();
    let field = format!("note-{key}");
    if condition == Condition::Damaged && note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        let mut errors = Errors::default();
        let message = if note.is_empty() {
            t("return-note-required")
        } else {
            tr("request-error-too-long", &[("max", n(MAX_NOTE_CHARS))])
        };
        errors.add(&field, "return-note", message);
        let mut page = list_page(&web, &visitor, direction, &Done::default(), &errors).await;
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return page;
    }
    let body = NewLoanEvent {
        event: LoanEventName::Returned,
        condition: Some(condition),
        note: Some(note).filter(|n| !n.is_empty()),
    };
    let result = crate::api::requests::event_among(&web.node, publishers, &key, body).await;
    after(&web, &visitor, direction, &key, "returned", "note", result).await
}
