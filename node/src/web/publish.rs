//! Publishing, editing and withdrawing offers and needs. The form's own
//! checks (required fields, amounts, dates) come first, each error beside
//! its field; then the node's local rules and the protocol's, exactly as
//! for the CLI (`api::listings`), their refusal shown beside the field it
//! names, in the staff's words.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use mutua_api::{Listing, ListingContent, Side};
use mutua_protocol::{Contact, Location, Pricing, ResourceKind, ServiceArea, Terms, Window};
use serde::Deserialize;

use super::forms::{input, radios, select, textarea, Errors, Input};
use super::i18n::{self, euros, short_date, t};
use super::listing::{find, kind_options, listing_href};
use super::search::rule_text;
use super::{error_page, internal, layout, to_sign_in, Shared, Visitor, Web};
use crate::api::ApiError;

/// The form as posted (and as shown again with its errors).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListingForm {
    csrf: String,
    collectivity: String,
    side: String,
    kind: String,
    title: String,
    description: String,
    tags: String,
    insee: String,
    departements: String,
    capacity: String,
    pricing: String,
    amount: String,
    per: String,
    convention: Option<String>,
    contact_role: String,
    contact_email: String,
    contact_phone: String,
    from: String,
    until: String,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl ListingForm {
    fn of(publisher: &str, c: &ListingContent) -> ListingForm {
        let (pricing, amount, per) = match &c.terms.pricing {
            Pricing::Free => ("free", String::new(), String::new()),
            Pricing::CostSharing { amount_cents, per } => {
                ("cost", euros(*amount_cents), per.clone())
            }
        };
        let window = c.availability.first();
        ListingForm {
            csrf: String::new(),
            collectivity: publisher.to_owned(),
            side: c.side.as_str().to_owned(),
            kind: c.kind.as_str().to_owned(),
            title: c.title.clone(),
            description: c.description.clone(),
            tags: c.tags.join(", "),
            insee: c.location.insee.clone(),
            departements: c.area.departements.join(", "),
            capacity: c.capacity.clone().unwrap_or_default(),
            pricing: pricing.to_owned(),
            amount,
            per,
            convention: c.terms.convention_required.then(|| "on".to_owned()),
            contact_role: c.contact.role.clone(),
            contact_email: c.contact.email.clone().unwrap_or_default(),
            contact_phone: c.contact.phone.clone().unwrap_or_default(),
            from: window.map(|w| short_date(w.from)).unwrap_or_default(),
            until: window.map(|w| short_date(w.until)).unwrap_or_default(),
        }
    }

    /// The listing the form describes, or every field's error.
    fn content(&self) -> Result<ListingContent, Errors> {
        let mut errors = Errors::default();
        let side = match self.side.as_str() {
            "offer" => Some(Side::Offer),
            "need" => Some(Side::Need),
            _ => {
                errors.add("side", "publish-side", t("form-side"));
                None
            }
        };
        let kind = ResourceKind::parse(&self.kind);
        if kind.is_none() {
            errors.add("kind", "publish-kind", t("form-kind"));
        }
        for (name, label, value) in [
            ("title", "publish-title-field", &self.title),
            ("insee", "publish-insee", &self.insee),
            ("contact_role", "publish-contact-role", &self.contact_role),
        ] {
            if value.trim().is_empty() {
                errors.add(name, label, t("form-required"));
            }
        }
        let pricing = match self.pricing.as_str() {
            "cost" => match i18n::parse_euros(&self.amount) {
                Some(amount_cents) if !self.per.trim().is_empty() => Some(Pricing::CostSharing {
                    amount_cents,
                    per: self.per.trim().to_owned(),
                }),
                Some(_) => {
                    errors.add("per", "publish-per", t("form-required"));
                    None
                }
                None => {
                    errors.add("amount", "publish-amount", t("form-amount"));
                    None
                }
            },
            _ => Some(Pricing::Free),
        };
        let date = |errors: &mut Errors, name: &str, label: &str, text: &str| match optional(text) {
            None => None,
            Some(text) => {
                let parsed = i18n::parse_date(&text);
                if parsed.is_none() {
                    errors.add(name, label, t("form-date"));
                }
                parsed
            }
        };
        let from = date(&mut errors, "from", "publish-from", &self.from);
        let until = date(&mut errors, "until", "publish-until", &self.until);
        let availability = match (from, until, optional(&self.from), optional(&self.until)) {
            (Some(from), Some(until), _, _) if until >= from => vec![Window {
                from,
                // The whole last day.
                until: until + 86_399,
            }],
            (Some(_), Some(_), _, _) => {
                errors.add("until", "publish-until", t("form-dates-order"));
                vec![]
            }
            (_, _, None, None) => vec![],
            (_, _, Some(_), None) => {
                errors.add("until", "publish-until", t("form-both-dates"));
                vec![]
            }
            (_, _, None, Some(_)) => {
                errors.add("from", "publish-from", t("form-both-dates"));
                vec![]
            }
            _ => vec![],
        };
        let (Some(side), Some(kind), Some(pricing), true) =
            (side, kind, pricing, errors.is_empty())
        else {
            return Err(errors);
        };
        Ok(ListingContent {
            side,
            kind,
            title: self.title.trim().to_owned(),
            description: self.description.trim().to_owned(),
            tags: list(&self.tags),
            location: Location {
                insee: self.insee.trim().to_uppercase(),
                point: None,
            },
            area: ServiceArea {
                departements: list(&self.departements),
                ..ServiceArea::default()
            },
            capacity: optional(&self.capacity),
            availability,
            terms: Terms {
                pricing,
                convention_required: self.convention.is_some(),
            },
            contact: Contact {
                role: self.contact_role.trim().to_owned(),
                email: optional(&self.contact_email),
                phone: optional(&self.contact_phone),
                url: None,
            },
            expires_at: None,
        })
    }
}

/// The form field (and its label) a refusal names: `offer.contact.email`
/// is `contact_email`.
fn field_of(field: Option<&str>) -> (&'static str, &'static str) {
    let path = field
        .and_then(|f| f.split_once('.').map(|(_, rest)| rest))
        .unwrap_or("");
    let fields = [
        ("title", "title", "publish-title-field"),
        ("description", "description", "publish-description"),
        ("tags", "tags", "publish-tags"),
        ("location", "insee", "publish-insee"),
        ("area", "departements", "publish-departements"),
        ("capacity", "capacity", "publish-capacity"),
        ("availability", "from", "publish-from"),
        ("terms.pricing.per", "per", "publish-per"),
        ("terms", "amount", "publish-amount"),
        ("contact.email", "contact_email", "publish-contact-email"),
        ("contact.phone", "contact_phone", "publish-contact-phone"),
        ("contact", "contact_role", "publish-contact-role"),
    ];
    fields
        .iter()
        .find(|(prefix, _, _)| path.starts_with(prefix))
        .map_or(("title", "publish-title-field"), |&(_, name, label)| {
            (name, label)
        })
}

fn refusal(error: &ApiError) -> Errors {
    let mut errors = Errors::default();
    let (name, label) = field_of(error.field.as_deref());
    let message = match (name, error.code.as_ref()) {
        ("contact_email" | "contact_phone", "required") => t("form-contact-means"),
        (_, code) => rule_text(code),
    };
    errors.add(name, label, message);
    errors
}

/// Where the form posts, and its title and button texts.
struct Target {
    action: String,
    title: &'static str,
    submit: &'static str,
    /// New listings choose their collectivity; an edit keeps the author.
    choose_collectivity: bool,
}

fn form_page(
    web: &Web,
    visitor: &Visitor,
    target: &Target,
    form: &ListingForm,
    errors: &Errors,
) -> Response {
    let collectivities: Vec<(String, String)> = web
        .acting_for(visitor)
        .into_iter()
        .map(|c| (c.publisher, c.name))
        .collect();
    let sides = [
        ("offer".to_owned(), t("side-offer")),
        ("need".to_owned(), t("side-need")),
    ];
    let pricings = [
        ("free".to_owned(), t("publish-free")),
        ("cost".to_owned(), t("publish-cost")),
    ];
    let body: Markup = html! {
        p { (t("publish-intro")) }
        (errors.summary())
        form method="post" action=(target.action) novalidate {
            (layout::csrf_field(visitor))
            @if target.choose_collectivity && collectivities.len() > 1 {
                (select("collectivity", "publish-collectivity", &collectivities, &form.collectivity, errors))
            } @else {
                input type="hidden" name="collectivity" value=(form.collectivity);
            }
            (radios("side", "publish-side", &sides, &form.side, errors))
            (select("kind", "publish-kind", &kind_options(), &form.kind, errors))
            (input(Input::text("title", "publish-title-field").hint("publish-title-hint").required(), &form.title, errors))
            (textarea("description", "publish-description", &form.description, errors))
            (input(Input::text("tags", "publish-tags").hint("publish-tags-hint"), &form.tags, errors))
            (input(Input::text("insee", "publish-insee").hint("publish-insee-hint").required().short(), &form.insee, errors))
            (input(Input::text("departements", "publish-departements").hint("publish-departements-hint"), &form.departements, errors))
            (input(Input::text("capacity", "publish-capacity").hint("publish-capacity-hint"), &form.capacity, errors))
            (input(Input::text("from", "publish-from").hint("date-hint").short(), &form.from, errors))
            (input(Input::text("until", "publish-until").hint("date-hint").short(), &form.until, errors))
            (radios("pricing", "publish-terms", &pricings, if form.pricing.is_empty() { "free" } else { &form.pricing }, errors))
            (input(Input::text("amount", "publish-amount").hint("publish-amount-hint").short(), &form.amount, errors))
            (input(Input::text("per", "publish-per").hint("publish-per-hint").short(), &form.per, errors))
            div class="field choice" {
                input type="checkbox" id="f-convention" name="convention" checked[form.convention.is_some()];
                label for="f-convention" { (t("publish-convention")) }
            }
            (input(Input::text("contact_role", "publish-contact-role").hint("publish-contact-role-hint").required(), &form.contact_role, errors))
            (input(Input::text("contact_email", "publish-contact-email").kind("email").autocomplete("email"), &form.contact_email, errors))
            (input(Input::text("contact_phone", "publish-contact-phone").kind("tel").autocomplete("tel"), &form.contact_phone, errors))
            button type="submit" { (t(target.submit)) }
        }
    };
    let mut response = layout::page(web, visitor, &t(target.title), body);
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

fn new_target() -> Target {
    Target {
        action: "/publier".into(),
        title: "publish-title",
        submit: "publish-submit",
        choose_collectivity: true,
    }
}

pub(super) fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

pub async fn form(State(web): State<Shared>, headers: HeaderMap) -> Response {
    let visitor = web.visitor(&headers).await;
    let acting = web.acting_for(&visitor);
    let Some(first) = acting.first() else {
        return to_sign_in();
    };
    let form = ListingForm {
        collectivity: first.publisher.clone(),
        insee: first.insee.clone().unwrap_or_default(),
        side: "offer".into(),
        kind: "equipment".into(),
        pricing: "free".into(),
        ..ListingForm::default()
    };
    form_page(&web, &visitor, &new_target(), &form, &Errors::default())
}

pub async fn submit(
    State(web): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ListingForm>,
) -> Response {
    let visitor = match web
        .staff(&headers, &form.csrf, Some(&form.collectivity))
        .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let content = match form.content() {
        Ok(content) => content,
        Err(errors) => return form_page(&web, &visitor, &new_target(), &form, &errors),
    };
    let publisher = match web.node.publisher(&form.collectivity) {
        Ok(p) => p,
        Err(_) => return error_page(&web, &visitor, StatusCode::FORBIDDEN, "forbidden"),
    };
    match crate::api::listings::publish_new(&web.node, publisher, content).await {
        Ok(published) => match mutua_api::Listing::from_payload(
            published.record.payload(),
            *published.record.hash(),
        ) {
            Some(l) => see_other(format!("{}?publie=1", listing_href(&l))),
            None => internal(&web, &visitor, "a published listing is not a listing"),
        },
        Err(e) if e.status.is_client_error() => {
            form_page(&web, &visitor, &new_target(), &form, &refusal(&e))
        }
        Err(e) => internal(&web, &visitor, e.message),
    }
}

/// The listing at `author`/`id` and its hosted publisher, when the visitor
/// may act for it; otherwise the response to give.
async fn owned(
    web: &Web,
    visitor: &Visitor,
    author: &str,
    id: &str,
) -> Result<(Listing, String), Response> {
    if visitor.session.is_none() {
        return Err(to_sign_in());
    }
    let listing = match find(web, author, id).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(error_page(
                web,
                visitor,
                StatusCode::NOT_FOUND,
                "listing-missing-page",
            ))
        }
        Err(e) => return Err(internal(web, visitor, e)),
    };
    match web.hosted_author(&listing.author) {
        Some(p) if visitor.may_act_for(&p) => Ok((listing, p)),
        _ => Err(error_page(web, visitor, StatusCode::FORBIDDEN, "forbidden")),
    }
}

fn edit_target(l: &Listing) -> Target {
    Target {
        action: format!("{}/modifier", listing_href(l)),
        title: "edit-title",
        submit: "edit-submit",
        choose_collectivity: false,
    }
}

pub async fn edit_form(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path((author, id)): Path<(String, String)>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    match owned(&web, &visitor, &author, &id).await {
        Ok((listing, publisher)) => {
            let form = ListingForm::of(&publisher, &listing.content);
            form_page(
                &web,
                &visitor,
                &edit_target(&listing),
                &form,
                &Errors::default(),
            )
        }
        Err(response) => response,
    }
}

pub async fn edit(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path((author, id)): Path<(String, String)>,
    Form(mut form): Form<ListingForm>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if !visitor.check_csrf(&form.csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    let (listing, publisher) = match owned(&web, &visitor, &author, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    form.collectivity = publisher.clone();
    let target = edit_target(&listing);
    let content = match form.content() {
        Ok(content) => content,
        Err(errors) => return form_page(&web, &visitor, &target, &form, &errors),
    };
    match crate::api::listings::update_slot(&web.node, Some(&publisher), listing.id, content).await
    {
        Ok(_) => see_other(format!("{}?modifie=1", listing_href(&listing))),
        Err(e) if e.status.is_client_error() => {
            form_page(&web, &visitor, &target, &form, &refusal(&e))
        }
        Err(e) => internal(&web, &visitor, e.message),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn withdraw(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path((author, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if !visitor.check_csrf(&form.csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    let (listing, publisher) = match owned(&web, &visitor, &author, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match crate::api::listings::withdraw_slot(
        &web.node,
        Some(&publisher),
        listing.id,
        Some(listing.content.side),
    )
    .await
    {
        Ok(_) => {
            let body = html! {
                p class="status" role="status" { (t("listing-withdrawn-ok")) }
                p { a href="/" { (t("back-to-search")) } }
            };
            layout::page(&web, &visitor, &t("listing-withdraw"), body)
        }
        Err(e) => internal(&web, &visitor, e.message),
    }
}
