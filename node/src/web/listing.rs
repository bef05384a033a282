//! A listing's page: everything it says, its terms and contact role; for
//! its own collectivity's staff, edit and withdraw; for a need, the offers
//! that could meet it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use mutua_api::{Listing, RecordsQuery, Side};
use mutua_protocol::{Pricing, PublicKey, ResourceKind, Window};
use serde::Deserialize;

use super::i18n::{decimal, euros, long_date, s, short_date, t, tr};
use super::{error_page, internal, layout, to_sign_in, Shared, Visitor, Web};
use crate::api::unix_now;

/// `/annonces/<author>/<id>`.
pub fn listing_href(l: &Listing) -> String {
    format!("/annonces/{}/{}", l.author, l.id.to_hex())
}

/// Every resource kind as `(value, French name)`.
pub fn kind_options() -> Vec<(String, String)> {
    ResourceKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), t(&format!("kind-{}", k.as_str()))))
        .collect()
}

/// `du 14/07/2027 au 20/07/2027, du …`, or "not said".
pub fn availability(windows: &[Window]) -> String {
    if windows.is_empty() {
        return t("availability-none");
    }
    windows
        .iter()
        .map(|w| {
            tr(
                "availability-window",
                &[
                    ("from", s(short_date(w.from))),
                    ("until", s(short_date(w.until))),
                ],
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The certified names of listing authors, looked up once per page.
pub struct Names(HashMap<PublicKey, String>);

impl Names {
    pub async fn of(web: &Web, authors: impl Iterator<Item = PublicKey>) -> Names {
        let mut authors: Vec<PublicKey> = authors.collect();
        authors.sort_by_key(|a| a.key_id());
        authors.dedup();
        let store = web.node.store.clone();
        let now = unix_now();
        let found = tokio::task::spawn_blocking(move || {
            authors
                .into_iter()
                .filter_map(|a| Some((a, crate::api::member_name(&store, &a, now)?)))
                .collect()
        })
        .await
        .unwrap_or_default();
        Names(found)
    }

    pub fn name(&self, author: &PublicKey) -> String {
        self.0
            .get(author)
            .cloned()
            .unwrap_or_else(|| author.key_id())
    }
}

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    publie: Option<String>,
    #[serde(default)]
    modifie: Option<String>,
}

/// The listing in `author`'s slot `id`, if it is live.
pub async fn find(web: &Web, author: &str, id: &str) -> Result<Option<Listing>, String> {
    let (Ok(author), Some(id)) = (
        author.parse::<PublicKey>(),
        mutua_protocol::ListingId::from_hex(id),
    ) else {
        return Ok(None);
    };
    let record = web.node.current(author, id).await.map_err(|e| e.message)?;
    Ok(record.and_then(|r| {
        let listing = mutua_api::Listing::from_payload(r.payload(), *r.hash())?;
        (listing.content.expires_at.unwrap_or(u64::MAX) > unix_now()).then_some(listing)
    }))
}

fn pricing(p: &Pricing) -> String {
    match p {
        Pricing::Free => t("terms-free"),
        Pricing::CostSharing { amount_cents, per } => tr(
            "terms-cost",
            &[("amount", s(euros(*amount_cents))), ("per", s(per.clone()))],
        ),
    }
}

fn area(l: &Listing) -> Markup {
    let a = &l.content.area;
    let places = mutua_store::places::places();
    html! {
        @if a.communes.is_empty() && a.departements.is_empty() && a.epcis.is_empty() && a.radius_km.is_none() {
            (t("listing-area-own"))
        }
        @if !a.departements.is_empty() {
            p { (tr("listing-area-departements", &[("list", s(a.departements.join(", ")))])) }
        }
        @if !a.communes.is_empty() {
            @let names: Vec<String> = a.communes.iter().map(|c| places.name_of(c).unwrap_or(c).to_owned()).collect();
            p { (tr("listing-area-communes", &[("list", s(names.join(", ")))])) }
        }
        @if let Some(km) = a.radius_km {
            p { (tr("listing-area-radius", &[("km", s(km.to_string()))])) }
        }
    }
}

fn facts(l: &Listing, by: &str) -> Markup {
    let c = &l.content;
    let places = mutua_store::places::places();
    let commune = places
        .name_of(&c.location.insee)
        .unwrap_or(&c.location.insee)
        .to_owned();
    html! {
        dl class="facts" {
            dt { (t("listing-side")) }
            dd { (t(if c.side == Side::Offer { "side-offer" } else { "side-need" })) }
            dt { (t("listing-kind")) }
            dd { (t(&format!("kind-{}", c.kind.as_str()))) }
            dt { (t("listing-by")) }
            dd { (by) }
            dt { (t("listing-commune")) }
            dd { (commune) " (" (c.location.insee) ")" }
            @if !c.description.is_empty() {
                dt { (t("listing-description")) }
                dd { (c.description) }
            }
            @if !c.tags.is_empty() {
                dt { (t("listing-tags")) }
                dd { (c.tags.join(", ")) }
            }
            @if let Some(capacity) = &c.capacity {
                dt { (t("listing-capacity")) }
                dd { (capacity) }
            }
            dt { (t("available-label")) }
            dd { (availability(&c.availability)) }
            dt { (t("listing-area")) }
            dd { (area(l)) }
            dt { (t("listing-terms")) }
            dd {
                (pricing(&c.terms.pricing)) ". "
                (t(if c.terms.convention_required { "terms-convention" } else { "terms-no-convention" }))
            }
            dt { (t("listing-contact")) }
            dd {
                (c.contact.role)
                @if let Some(email) = &c.contact.email { br; a href={ "mailto:" (email) } { (email) } }
                @if let Some(phone) = &c.contact.phone { br; (phone) }
                @if let Some(url) = &c.contact.url { br; (url) }
            }
        }
        p class="meta" {
            (tr("listing-published", &[("date", s(long_date(l.published_at)))]))
            @if let Some(expiry) = c.expires_at { " · " (tr("listing-expires", &[("date", s(long_date(expiry)))])) }
            " · " (tr("listing-version", &[("version", s(l.version.to_string()))]))
        }
    }
}

/// For a need: offers of the same kind, near it, matching its title.
async fn matching_offers(web: &Web, need: &Listing) -> Markup {
    let query = |text: Option<String>| RecordsQuery {
        side: Some("offer".into()),
        kind: Some(need.content.kind.as_str().into()),
        text,
        near: Some(need.content.location.insee.clone()),
        radius_km: Some(100.0),
        sort: Some("distance".into()),
        limit: Some(5),
        ..RecordsQuery::default()
    };
    // The title's words first; else any offer of the kind nearby.
    let mut found = crate::api::records::search(&web.node, query(Some(need.content.title.clone())))
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    if found.is_empty() {
        found = crate::api::records::search(&web.node, query(None))
            .await
            .map(|p| p.items)
            .unwrap_or_default();
    }
    let names = Names::of(web, found.iter().map(|h| h.listing.author)).await;
    html! {
        h2 { (t("need-matches")) }
        @if found.is_empty() {
            p { (t("need-matches-none")) }
        } @else {
            ul class="results" {
                @for hit in &found {
                    li {
                        a href=(listing_href(&hit.listing)) { (hit.listing.content.title) }
                        " · " (names.name(&hit.listing.author))
                        @if let Some(km) = hit.distance_km { " · " (tr("result-distance", &[("km", s(decimal(km)))])) }
                    }
                }
            }
        }
    }
}

fn own_actions(visitor: &Visitor, l: &Listing) -> Markup {
    html! {
        p { a href={ (listing_href(l)) "/modifier" } { (t("listing-edit")) } }
        form method="post" action={ (listing_href(l)) "/retirer" } {
            (layout::csrf_field(visitor))
            p class="hint" id="retrait-aide" { (t("listing-withdraw-hint")) }
            button type="submit" class="secondary" aria-describedby="retrait-aide" { (t("listing-withdraw")) }
        }
    }
}

pub async fn page(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path((author, id)): Path<(String, String)>,
    Query(notice): Query<Notice>,
) -> Response {
    // The listing's schema.org document lives beside its page (open data:
    // public whatever `web.public_browsing` says, as the catalogue).
    if id.ends_with(".jsonld") {
        return crate::opendata::listing_response(web.node.clone(), author, id).await;
    }
    let visitor = web.visitor(&headers).await;
    if !web.may_browse(&visitor) {
        return to_sign_in();
    }
    let listing = match find(&web, &author, &id).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return error_page(
                &web,
                &visitor,
                StatusCode::NOT_FOUND,
                "listing-missing-page",
            )
        }
        Err(e) => return internal(&web, &visitor, e),
    };
    render(&web, &visitor, &listing, &notice, None).await
}

/// The listing's page; `draft` is a loan request form to show again with
/// its errors.
pub async fn render(
    web: &Web,
    visitor: &Visitor,
    listing: &Listing,
    notice: &Notice,
    draft: Option<&super::lending::Draft>,
) -> Response {
    let names = Names::of(web, std::iter::once(listing.author)).await;
    let own = web
        .hosted_author(&listing.author)
        .is_some_and(|p| visitor.may_act_for(&p));
    let matches = match listing.content.side {
        Side::Need => matching_offers(web, listing).await,
        Side::Offer => {
            match super::lending::offer_section(web, visitor, listing, own, draft).await {
                Ok(section) => section,
                Err(e) => return internal(web, visitor, e),
            }
        }
    };
    let json_ld = {
        let (node, l) = (web.node.clone(), listing.clone());
        tokio::task::spawn_blocking(move || {
            crate::opendata::embedded_listing(&node, &l, unix_now())
        })
        .await
    };
    let json_ld = match json_ld {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => return internal(web, visitor, e),
        Err(e) => return internal(web, visitor, e),
    };
    let body = html! {
        @if notice.publie.is_some() {
            p class="status" role="status" { (t("listing-published-ok")) }
        } @else if notice.modifie.is_some() {
            p class="status" role="status" { (t("listing-updated-ok")) }
        }
        (facts(listing, &names.name(&listing.author)))
        @if own { (own_actions(visitor, listing)) }
        (matches)
        @if let Some(doc) = json_ld {
            script type="application/ld+json" { (maud::PreEscaped(doc)) }
        }
    };
    layout::page(web, visitor, &listing.content.title, body)
}
