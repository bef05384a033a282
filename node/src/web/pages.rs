//! The accessibility statement, the legal notices and the "not found" page.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use super::i18n::{s, t, tr};
use super::{error_page, layout, Shared};

fn operator(web: &super::Web) -> String {
    match web.settings.operator_name.as_str() {
        "" => t("operator-unnamed"),
        name => name.to_owned(),
    }
}

pub async fn accessibility(State(web): State<Shared>, headers: HeaderMap) -> Response {
    let visitor = web.visitor(&headers).await;
    let body = html! {
        p { (t("a11y-body")) }
        h2 { (t("a11y-status-title")) }
        p { (t("a11y-status")) }
        h2 { (t("a11y-tests-title")) }
        p { (t("a11y-tests")) }
        h2 { (t("a11y-contact-title")) }
        p { (tr("a11y-contact", &[("operator", s(operator(&web)))])) }
        h2 { (t("a11y-remedy-title")) }
        p { (t("a11y-remedy")) }
    };
    layout::page(&web, &visitor, &t("a11y-title"), body)
}

pub async fn legal(State(web): State<Shared>, headers: HeaderMap) -> Response {
    let visitor = web.visitor(&headers).await;
    let body = html! {
        h2 { (t("legal-operator-title")) }
        p { (tr("legal-operator", &[("operator", s(operator(&web)))])) }
        h2 { (t("legal-data-title")) }
        p { (t("legal-data")) }
        p { (t("legal-software")) }
    };
    layout::page(&web, &visitor, &t("legal-title"), body)
}

pub async fn not_found(State(web): State<Shared>, headers: HeaderMap) -> Response {
    let visitor = web.visitor(&headers).await;
    error_page(&web, &visitor, StatusCode::NOT_FOUND, "notfound")
}
