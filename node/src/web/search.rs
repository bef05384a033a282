//! The search page: free text, side, kind, near a commune (the signed-in
//! person's by default) with a radius, a département or EPCI, a date;
//! results with distance, availability and the collectivity's name, a map,
//! and paging. A plain GET form: the URL of a search can be shared.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use mutua_api::RecordsQuery;
use serde::Deserialize;

use super::forms::{input, radios, select, Errors, Input};
use super::i18n::{self, decimal, n, s, t, tr};
use super::listing::{availability, kind_options, listing_href, Names};
use super::map::{self, Spot};
use super::{internal, layout, to_sign_in, Shared, Web};
use crate::api::ApiError;

/// Results per page.
const PAGE: usize = 20;

/// The form's fields, as the URL carries them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub side: String,
    #[serde(default)]
    pub kind: String,
    pub near: Option<String>,
    #[serde(default)]
    pub radius: String,
    #[serde(default)]
    pub departement: String,
    #[serde(default)]
    pub epci: String,
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub cursor: String,
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The store query a form describes, or the errors of its fields.
pub fn records_query(form: &SearchForm) -> Result<RecordsQuery, Errors> {
    let mut errors = Errors::default();
    let near = form.near.as_deref().and_then(some);
    let radius_km = match some(&form.radius) {
        None => None,
        Some(text) => match text.replace(',', ".").parse::<f64>() {
            Ok(km) if km > 0.0 && km.is_finite() => Some(km),
            _ => {
                errors.add("radius", "search-radius", t("form-radius"));
                None
            }
        },
    };
    // Free that day: open then, and for an offer not lent (the index's
    // calendar, as `mutua search --available` asks).
    let free_from = match some(&form.date) {
        None => None,
        Some(text) => match i18n::parse_date(&text) {
            Some(midnight) => Some(mutua_protocol::lending::date::format_date(
                mutua_protocol::lending::date::utc_day(midnight),
            )),
            None => {
                errors.add("date", "search-available", t("form-date"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RecordsQuery {
        side: match form.side.as_str() {
            "offer" | "need" => Some(form.side.clone()),
            _ => None,
        },
        kind: some(&form.kind),
        text: some(&form.q),
        departement: some(&form.departement),
        epci: some(&form.epci),
        radius_km: radius_km.filter(|_| near.is_some()),
        sort: near.as_ref().map(|_| "distance".to_owned()),
        near,
        free_from,
        limit: Some(PAGE),
        cursor: some(&form.cursor),
        ..RecordsQuery::default()
    })
}

/// The form field a refusal of the query is about.
fn field_of(error: &ApiError) -> (&'static str, &'static str) {
    match error.field.as_deref() {
        Some("near") | Some("radius_km") => ("near", "search-near"),
        Some("departement") | Some("insee") => ("departement", "search-departement"),
        Some("epci") => ("epci", "search-epci"),
        Some("available") | Some("free_from") | Some("free_to") => ("date", "search-available"),
        Some("kind") => ("kind", "search-kind"),
        _ => ("q", "search-text"),
    }
}

/// A refusal in the staff's words: the rule's text if the catalogue has
/// one, the generic one otherwise.
pub fn rule_text(code: &str) -> String {
    let id = format!("rule-{code}");
    if i18n::has(&id) {
        t(&id)
    } else {
        t("rule-other")
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The URL of this search at `cursor`.
fn page_href(form: &SearchForm, near: &str, cursor: Option<&str>) -> String {
    let pairs = [
        ("q", form.q.as_str()),
        ("side", &form.side),
        ("kind", &form.kind),
        ("near", near),
        ("radius", &form.radius),
        ("departement", &form.departement),
        ("epci", &form.epci),
        ("date", &form.date),
        ("cursor", cursor.unwrap_or("")),
    ];
    let query: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("/?{}", query.join("&"))
}

fn search_form(form: &SearchForm, near: &str, errors: &Errors) -> Markup {
    let sides = [
        (String::new(), t("side-both")),
        ("offer".to_owned(), t("side-offers")),
        ("need".to_owned(), t("side-needs")),
    ];
    let mut kinds = vec![(String::new(), t("kind-any"))];
    kinds.extend(kind_options());
    html! {
        form method="get" action="/" role="search" novalidate {
            (input(Input::text("q", "search-text").kind("search").hint("search-text-hint"), &form.q, errors))
            (radios("side", "search-side", &sides, &form.side, errors))
            (select("kind", "search-kind", &kinds, &form.kind, errors))
            (input(Input::text("near", "search-near").hint("search-near-hint"), near, errors))
            (input(Input::text("radius", "search-radius").short(), &form.radius, errors))
            (input(Input::text("departement", "search-departement").hint("search-departement-hint").short(), &form.departement, errors))
            (input(Input::text("epci", "search-epci").short(), &form.epci, errors))
            (input(Input::text("date", "search-available").hint("date-hint").short(), &form.date, errors))
            button type="submit" { (t("search-submit")) }
        }
    }
}

pub async fn page(
    State(web): State<Shared>,
    headers: HeaderMap,
    Query(form): Query<SearchForm>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if !web.may_browse(&visitor) {
        return to_sign_in();
    }
    // Near my commune by default, until the form says otherwise.
    let near = match &form.near {
        Some(text) => text.clone(),
        None => web
            .acting_for(&visitor)
            .iter()
            .find_map(|c| c.insee.clone())
            .unwrap_or_default(),
    };
    let mut form_near = form.clone();
    form_near.near = Some(near.clone());
    let query = records_query(&form_near);
    let (errors, results) = match query {
        Err(errors) => (errors, html! {}),
        Ok(query) => match crate::api::records::search(&web.node, query).await {
            Ok(found) => (Errors::default(), results(&web, &form, &near, found).await),
            Err(e) if e.status.is_client_error() => {
                let mut errors = Errors::default();
                let (field, label) = field_of(&e);
                errors.add(field, label, rule_text(&e.code));
                (errors, html! {})
            }
            Err(e) => return internal(&web, &visitor, e.message),
        },
    };
    let body = html! {
        (errors.summary())
        (search_form(&form, &near, &errors))
        (results)
    };
    layout::page(&web, &visitor, &t("search-title"), body)
}

async fn results(
    web: &Web,
    form: &SearchForm,
    near: &str,
    found: mutua_api::RecordsPage,
) -> Markup {
    let names = Names::of(web, found.items.iter().map(|h| h.listing.author)).await;
    let count = found.items.len();
    let places = mutua_store::places::places();
    let mut spots = Vec::new();
    for hit in &found.items {
        let content = &hit.listing.content;
        let point = content
            .location
            .point
            .map(|p| (p.lat(), p.lon()))
            .or_else(|| {
                places
                    .commune(&content.location.insee)
                    .and_then(|c| c.point)
                    .map(|p| (p.lat(), p.lon()))
            });
        if let Some((lat, lon)) = point {
            spots.push(Spot {
                lat,
                lon,
                label: content.title.clone(),
            });
        }
    }
    let centre = found.near.as_ref().map(|c| (c.lat, c.lon));
    let status = if found.next_cursor.is_some() {
        tr("search-count-more", &[("count", n(count))])
    } else {
        tr("search-count", &[("count", n(count))])
    };
    html! {
        h2 { (t("search-results")) }
        p role="status" { (status) }
        (map::draw(&spots, centre))
        @if count > 0 {
            ol class="results" {
                @for hit in &found.items {
                    @let l = &hit.listing;
                    @let commune = places.name_of(&l.content.location.insee).unwrap_or(&l.content.location.insee).to_owned();
                    li {
                        h3 { a href=(listing_href(l)) { (l.content.title) } }
                        p class="meta" {
                            (t(if l.content.side == mutua_api::Side::Offer { "side-offer" } else { "side-need" }))
                            " · " (t(&format!("kind-{}", l.content.kind.as_str())))
                            @if let Some(km) = hit.distance_km {
                                " · " (tr("result-distance", &[("km", s(decimal(km)))]))
                            }
                        }
                        p class="meta" { (tr("result-by", &[("collectivity", s(names.name(&l.author)))])) " · " (tr("result-at", &[("commune", s(commune))])) }
                        p class="meta" { (t("available-label")) " : " (availability(&l.content.availability)) }
                    }
                }
            }
        }
        div class="pager" {
            @if !form.cursor.is_empty() {
                a href=(page_href(form, near, None)) { (t("search-first")) }
            }
            @if let Some(next) = &found.next_cursor {
                a href=(page_href(form, near, Some(next))) { (t("search-next")) }
            }
        }
    }
}
