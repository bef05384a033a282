//! An offer's lending on its page: its settings, its calendar (booked
//! periods and free windows, in French dates) and, for signed-in staff of
//! another collectivity, the « Demander un prêt » form. The form calls the
//! API's own service (`api::requests::create_by`): same rules, signing,
//! ingest and gossip.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use mutua_api::{Listing, NewRequest, OfferCalendar};
use mutua_protocol::lending::date::{format_date, utc_day};
use mutua_protocol::lending::{BookingMode, MAX_PURPOSE_CHARS};
use mutua_protocol::Contact;
use serde::Deserialize;

use super::forms::{input, select, Errors, Input};
use super::i18n::{long_date, n, parse_date, s, t, tr};
use super::listing::{listing_href, Notice};
use super::{error_page, internal, layout, Shared, Visitor, Web};
use crate::api::unix_now;

/// `2027-07-14` as `14 juillet 2027` (the text itself if it is no date).
pub fn long_day(text: &str) -> String {
    parse_date(text).map_or_else(|| text.to_owned(), long_date)
}

/// `du 14 juillet 2027 au 15 juillet 2027` (or `le …` for one day).
pub fn period_words(first: &str, last: &str) -> String {
    if first == last {
        tr("lending-one-day", &[("day", s(long_day(first)))])
    } else {
        tr(
            "lending-period",
            &[("from", s(long_day(first))), ("until", s(long_day(last)))],
        )
    }
}

/// The offer's calendar as every node derives it (the default window).
async fn calendar(web: &Web, listing: &Listing) -> Result<OfferCalendar, String> {
    crate::api::lending::calendar_of(
        &web.node,
        listing.author,
        listing.id,
        mutua_api::CalendarQuery::default(),
    )
    .await
    .map_err(|e| e.message)
}

/// What the request form holds (as typed, shown again with its errors).
#[derive(Deserialize, Default, Clone, Debug)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collectivity: String,
    #[serde(default)]
    first_day: String,
    #[serde(default)]
    last_day: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    contact_role: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
}

/// A submitted request form and its errors, to show again.
pub struct Draft {
    form: RequestForm,
    errors: Errors,
}

fn settings_facts(calendar: &OfferCalendar) -> Markup {
    let settings = &calendar.settings;
    html! {
        dl class="facts" {
            dt { (t("lending-mode")) }
            dd { (t(match settings.mode { BookingMode::Auto => "lending-mode-auto", BookingMode::Manual => "lending-mode-manual" })) }
            dt { (t("lending-buffer")) }
            dd { (tr("lending-buffer-days", &[("count", n(settings.buffer_days as usize))])) }
            dt { (t("lending-capacity")) }
            dd { (tr("lending-capacity-units", &[("count", n(settings.capacity as usize))])) }
        }
    }
}

fn calendar_markup(calendar: &OfferCalendar) -> Markup {
    let capacity = calendar.settings.capacity;
    html! {
        h2 { (t("lending-calendar")) }
        (settings_facts(calendar))
        h3 { (t("lending-busy")) }
        @if calendar.busy.is_empty() {
            p { (t("lending-busy-none")) }
        } @else {
            ul class="calendar busy" {
                @for b in &calendar.busy {
                    li {
                        (period_words(&b.first_day, &b.last_day))
                        @if capacity > 1 { " · " (tr("lending-used", &[("used", n(b.used as usize)), ("capacity", n(capacity as usize))])) }
                    }
                }
            }
        }
        h3 { (tr("lending-free", &[("until", s(long_day(&calendar.window.last_day)))])) }
        @if calendar.free.is_empty() {
            p { (t("lending-free-none")) }
        } @else {
            ul class="calendar free" {
                @for f in &calendar.free { li { (period_words(&f.first_day, &f.last_day)) } }
            }
        }
        @if calendar.pending > 0 {
            p class="meta" { (tr("lending-pending", &[("count", n(calendar.pending as usize))])) }
        }
    }
}

fn request_form(
    visitor: &Visitor,
    listing: &Listing,
    capacity: u32,
    draft: Option<&Draft>,
) -> Markup {
    let empty = Draft {
        form: RequestForm::default(),
        errors: Errors::default(),
    };
    let Draft { form, errors } = draft.unwrap_or(&empty);
    let collectivities: Vec<(String, String)> = visitor
        .acting
        .iter()
        .map(|c| (c.publisher.clone(), c.name.clone()))
        .collect();
    let chosen = if form.collectivity.is_empty() {
        collectivities
            .first()
            .map(|c| c.0.clone())
            .unwrap_or_default()
    } else {
        form.collectivity.clone()
    };
    html! {
        h2 id="demander" { (t("request-title")) }
        (errors.summary())
        form method="post" action={ (listing_href(listing)) "/demander" } novalidate {
            (layout::csrf_field(visitor))
            @if collectivities.len() > 1 {
                (select("collectivity", "request-collectivity", &collectivities, &chosen, errors))
            } @else {
                input type="hidden" name="collectivity" value=(chosen);
            }
            (input(Input::text("first_day", "request-first-day").hint("date-hint").required().short(), &form.first_day, errors))
            (input(Input::text("last_day", "request-last-day").hint("request-last-day-hint").required().short(), &form.last_day, errors))
            @if capacity > 1 {
                (input(Input::text("quantity", "request-quantity").hint("request-quantity-hint").kind("number").short(), &form.quantity, errors))
            }
            (input(Input::text("purpose", "request-purpose").hint("request-purpose-hint").required(), &form.purpose, errors))
            (input(Input::text("contact_role", "request-contact-role").hint("publish-contact-role-hint").required(), &form.contact_role, errors))
            (input(Input::text("contact_email", "publish-contact-email").kind("email").autocomplete("email"), &form.contact_email, errors))
            (input(Input::text("contact_phone", "publish-contact-phone").kind("tel").autocomplete("tel"), &form.contact_phone, errors))
            button type="submit" { (t("request-submit")) }
        }
    }
}

/// The lending part of an offer's page: its calendar, and the request form
/// for staff who may borrow it.
pub async fn offer_section(
    web: &Web,
    visitor: &Visitor,
    listing: &Listing,
    own: bool,
    draft: Option<&Draft>,
) -> Result<Markup, String> {
    let calendar = calendar(web, listing).await?;
    let may_request = !own && !visitor.acting.is_empty();
    Ok(html! {
        (calendar_markup(&calendar))
        @if may_request { (request_form(visitor, listing, calendar.settings.capacity, draft)) }
    })
}

/// `14/07/2027` (or `2027-07-14`) as the API's `2027-07-14`.
fn api_day(text: &str) -> Option<String> {
    parse_date(text).map(|unix| format_date(utc_day(unix)))
}

/// The form's local checks (in French, beside each field), then the
/// request the API's service signs.
fn checked(form: &RequestForm, listing: &Listing, capacity: u32) -> Result<NewRequest, Errors> {
    let mut errors = Errors::default();
    let first = api_day(&form.first_day);
    let last = api_day(&form.last_day);
    let today = format_date(crate::lending::paris_today(unix_now()));
    match &first {
        None => errors.add("first_day", "request-first-day", t("form-date")),
        Some(day) if *day < today => {
            errors.add("first_day", "request-first-day", t("request-error-past"))
        }
        _ => {}
    }
    match (&first, &last) {
        (_, None) => errors.add("last_day", "request-last-day", t("form-date")),
        (Some(f), Some(l)) if l < f => {
            errors.add("last_day", "request-last-day", t("form-dates-order"))
        }
        _ => {}
    }
    let quantity = match form.quantity.trim() {
        "" => 1,
        text => match text.parse::<u32>() {
            Ok(q) if (1..=capacity).contains(&q) => q,
            _ => {
                errors.add(
                    "quantity",
                    "request-quantity",
                    tr(
                        "request-error-quantity",
                        &[("capacity", n(capacity as usize))],
                    ),
                );
                1
            }
        },
    };
    let purpose = form.purpose.trim();
    if purpose.is_empty() {
        errors.add("purpose", "request-purpose", t("request-error-purpose"));
    } else if purpose.chars().count() > MAX_PURPOSE_CHARS {
        errors.add(
            "purpose",
            "request-purpose",
            tr("request-error-too-long", &[("max", n(MAX_PURPOSE_CHARS))]),
        );
    }
    let role = form.contact_role.trim();
    if role.chars().count() < 2 {
        errors.add(
            "contact_role",
            "request-contact-role",
            t("request-error-role"),
        );
    }
    let email = Some(form.contact_email.trim().to_owned()).filter(|e| !e.is_empty());
    let phone = Some(form.contact_phone.trim().to_owned()).filter(|e| !e.is_empty());
    if email.is_none() && phone.is_none() {
        errors.add(
            "contact_email",
            "publish-contact-email",
            t("form-contact-means"),
        );
    } else if email.as_ref().is_some_and(|e| !e.contains('@')) {
        errors.add(
            "contact_email",
            "publish-contact-email",
            t("request-error-email"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewRequest {
        offer_author: listing.author,
        offer: listing.id,
        first_day: first.unwrap_or_default(),
        last_day: last.unwrap_or_default(),
        quantity,
        purpose: purpose.to_owned(),
        contact: Contact {
            role: role.to_owned(),
            email,
            phone,
            url: None,
        },
    })
}

/// The field of the form a refusal of the node's rules names.
fn field_of(api_field: Option<&str>) -> (&'static str, &'static str) {
    match api_field.unwrap_or("") {
        f if f.contains("first_day") || f.contains("period") => ("first_day", "request-first-day"),
        f if f.contains("last_day") => ("last_day", "request-last-day"),
        f if f.contains("quantity") => ("quantity", "request-quantity"),
        f if f.contains("purpose") => ("purpose", "request-purpose"),
        f if f.contains("role") => ("contact_role", "request-contact-role"),
        f if f.contains("phone") => ("contact_phone", "publish-contact-phone"),
        _ => ("contact_email", "publish-contact-email"),
    }
}

/// The listing's page with the request form shown again, with its errors.
async fn redisplay(web: &Web, visitor: &Visitor, listing: &Listing, draft: Draft) -> Response {
    let mut response =
        super::listing::render(web, visitor, listing, &Notice::default(), Some(&draft)).await;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

/// `POST /annonces/<author>/<id>/demander`.
pub async fn submit(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path((author, id)): Path<(String, String)>,
    Form(form): Form<RequestForm>,
) -> Response {
    let visitor = match web
        .staff(&headers, &form.csrf, Some(&form.collectivity))
        .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let listing = match super::listing::find(&web, &author, &id).await {
        Ok(Some(l)) if l.content.side == mutua_api::Side::Offer => l,
        Ok(_) => {
            return error_page(
                &web,
                &visitor,
                StatusCode::NOT_FOUND,
                "listing-missing-page",
            )
        }
        Err(e) => return internal(&web, &visitor, e),
    };
    let capacity = match calendar(&web, &listing).await {
        Ok(c) => c.settings.capacity,
        Err(e) => return internal(&web, &visitor, e),
    };
    let new = match checked(&form, &listing, capacity) {
        Ok(new) => new,
        Err(errors) => return redisplay(&web, &visitor, &listing, Draft { form, errors }).await,
    };
    let publisher = match web.node.publisher(&form.collectivity) {
        Ok(p) => p,
        Err(_) => return error_page(&web, &visitor, StatusCode::FORBIDDEN, "forbidden"),
    };
    match crate::api::requests::create_by(&web.node, publisher, new).await {
        Ok(_) => super::publish::see_other("/demandes?envoyee=1".to_owned()),
        Err(e) if e.status.is_client_error() => {
            let mut errors = Errors::default();
            let (field, label) = field_of(e.field.as_deref());
            errors.add(
                field,
                label,
                tr("request-error-refused", &[("detail", s(e.message.clone()))]),
            );
            redisplay(&web, &visitor, &listing, Draft { form, errors }).await
        }
        Err(e) => internal(&web, &visitor, e.message),
    }
}
