//! The frame of every page (skip link, header with the host's and the
//! collectivity's names, navigation, one `h1`, footer), the style sheet and
//! the security headers.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::i18n::{s, t, tr};
use super::{session, Visitor, Web};

const STYLE: &str = include_str!("style.css");

pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// No resource from elsewhere, no script, no framing.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf); }
}

fn operator(web: &Web) -> String {
    match web.settings.operator_name.as_str() {
        "" => t("operator-unnamed"),
        name => name.to_owned(),
    }
}

/// A whole page with `title` as its only `h1`.
pub fn page(web: &Web, visitor: &Visitor, title: &str, body: Markup) -> Response {
    let acting = web.acting_for(visitor);
    let names: Vec<&str> = acting.iter().map(|c| c.name.as_str()).collect();
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – " (t("title-suffix")) }
                link rel="stylesheet" href="/style.css";
            }
            body {
                a class="skip" href="#contenu" { (t("skip-link")) }
                header {
                    div class="bar" {
                        p class="brand" { a href="/" { (t("site-name")) } }
                        p class="host" { (tr("hosted-by", &[("operator", s(operator(web)))])) }
                    }
                    @if let Some(session) = &visitor.session {
                        div class="who" {
                            p { (tr("signed-in-as", &[("name", s(session.name.clone())), ("collectivity", s(names.join(", ")))])) }
                            form method="post" action="/deconnexion" {
                                (csrf_field(visitor))
                                button type="submit" class="link" { (t("nav-signout")) }
                            }
                        }
                    }
                    nav aria-label=(t("nav-label")) {
                        ul {
                            li { a href="/" { (t("nav-search")) } }
                            @if visitor.session.is_some() {
                                li { a href="/publier" { (t("nav-publish")) } }
                                li { a href="/importer" { (t("nav-import")) } }
                                li { a href="/demandes" { (t("nav-requests-mine")) } }
                                li { a href="/demandes/recues" { (t("nav-requests-received")) } }
                            } @else {
                                li { a href="/connexion" { (t("nav-signin")) } }
                            }
                        }
                    }
                }
                main id="contenu" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    ul {
                        li { a href="/accessibilite" { (t("footer-accessibility")) } }
                        li { a href="/mentions-legales" { (t("footer-legal")) } }
                    }
                }
            }
        }
    };
    let mut response = markup.into_response();
    if visitor.new_csrf {
        let cookie = session::set_cookie(
            session::CSRF_COOKIE,
            &visitor.csrf,
            web.settings.behind_tls,
            None,
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
