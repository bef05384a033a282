//! Signing in and out, and accepting an invitation (choosing a password).

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::accounts::MIN_PASSWORD_CHARS;
use super::forms::{input, Errors, Input};
use super::i18n::{s, t, tr};
use super::session::{self, Session};
use super::{error_page, internal, layout, Shared, Visitor, Web};
use crate::api::unix_now;

#[derive(Deserialize, Default)]
pub struct SignInNotice {
    #[serde(default)]
    requis: Option<String>,
    #[serde(default)]
    sortie: Option<String>,
    #[serde(default)]
    invite: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn sign_in_page(
    web: &Web,
    visitor: &Visitor,
    login: &str,
    notice: Option<String>,
    errors: &Errors,
) -> Response {
    let body = html! {
        @if let Some(text) = notice {
            p class="status" role="status" { (text) }
        }
        (errors.summary())
        form method="post" action="/connexion" novalidate {
            (layout::csrf_field(visitor))
            (input(Input::text("login", "signin-login").required().autocomplete("username"), login, errors))
            (input(Input::text("password", "signin-password").kind("password").required().autocomplete("current-password"), "", errors))
            button type="submit" { (t("signin-submit")) }
        }
    };
    layout::page(web, visitor, &t("signin-title"), body)
}

pub async fn form(
    State(web): State<Shared>,
    headers: HeaderMap,
    Query(notice): Query<SignInNotice>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    let text = if notice.requis.is_some() {
        Some(t("signin-required"))
    } else if notice.sortie.is_some() {
        Some(t("signed-out-ok"))
    } else if notice.invite.is_some() {
        Some(t("invitation-done"))
    } else {
        None
    };
    sign_in_page(&web, &visitor, "", text, &Errors::default())
}

pub async fn submit(
    State(web): State<Shared>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if !visitor.check_csrf(&form.csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    let login = form.login.trim().to_lowercase();
    let address = session::client_address(&headers, peer);
    let now = unix_now();
    let mut errors = Errors::default();
    let limited = if !web.address_limiter.allows(&address, now) {
        Some("signin-limited-address")
    } else if !web.limiter.allows(&login, now) {
        Some("signin-limited")
    } else {
        None
    };
    if let Some(text) = limited {
        tracing::warn!(%address, %login, "web sign-in rate limited");
        errors.add("login", "signin-login", t(text));
        let mut page = sign_in_page(&web, &visitor, &login, None, &errors);
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return page;
    }
    let checked = {
        let web = web.clone();
        let login = login.clone();
        tokio::task::spawn_blocking(move || web.accounts.verify(&login, &form.password)).await
    };
    let account = match checked {
        Ok(Ok(account)) => account,
        Ok(Err(e)) => return internal(&web, &visitor, e),
        Err(e) => return internal(&web, &visitor, e),
    };
    let Some(account) = account else {
        web.limiter.failed(&login, now);
        web.address_limiter.failed(&address, now);
        errors.add("login", "signin-login", t("signin-failed"));
        let mut page = sign_in_page(&web, &visitor, &login, None, &errors);
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return page;
    };
    web.limiter.succeeded(&login);
    tracing::info!(login = %account.login, "web sign-in");
    let opened = web.sessions.open(
        Session {
            login: account.login,
            name: account.name,
            collectivities: account.collectivities,
            csrf: String::new(),
            expires_at: now + web.settings.session_secs,
        },
        now,
    );
    let Some(token) = opened else {
        return internal(&web, &visitor, "the session table is full");
    };
    let cookie = session::set_cookie(
        session::SESSION_COOKIE,
        &token,
        web.settings.behind_tls,
        Some(web.settings.session_secs),
    );
    let mut response = see_other("/");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(web): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if !visitor.check_csrf(&form.csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    if let (Some(token), Some(session)) = (&visitor.session_token, &visitor.session) {
        web.sessions.close(token);
        tracing::info!(login = %session.login, "web sign-out");
    }
    let mut response = see_other("/connexion?sortie=1");
    let expired = session::set_cookie(
        session::SESSION_COOKIE,
        "",
        web.settings.behind_tls,
        Some(0),
    );
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn invitation_page(
    web: &Web,
    visitor: &Visitor,
    token: &str,
    account: &super::accounts::Account,
    errors: &Errors,
) -> Response {
    let body = html! {
        p { (tr("invitation-intro", &[("name", s(account.name.clone())), ("login", s(account.login.clone()))])) }
        (errors.summary())
        form method="post" action={ "/invitation/" (token) } novalidate {
            (layout::csrf_field(visitor))
            input type="text" name="username" value=(account.login) autocomplete="username" hidden;
            (input(Input::text("password", "invitation-password").kind("password").required().autocomplete("new-password"), "", errors))
            (input(Input::text("confirm", "invitation-confirm").kind("password").required().autocomplete("new-password"), "", errors))
            button type="submit" { (t("invitation-submit")) }
        }
    };
    layout::page(web, visitor, &t("invitation-title"), body)
}

async fn invited(web: &Shared, token: &str) -> Result<Option<super::accounts::Account>, String> {
    let (web, token) = (web.clone(), token.to_owned());
    tokio::task::spawn_blocking(move || web.accounts.invited(&token, unix_now()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

pub async fn invitation(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    match invited(&web, &token).await {
        Ok(Some(account)) => invitation_page(&web, &visitor, &token, &account, &Errors::default()),
        Ok(None) => error_page(
            &web,
            &visitor,
            StatusCode::NOT_FOUND,
            "invitation-invalid-page",
        ),
        Err(e) => internal(&web, &visitor, e),
    }
}

pub async fn accept(
    State(web): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if !visitor.check_csrf(&form.csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    let account = match invited(&web, &token).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return error_page(
                &web,
                &visitor,
                StatusCode::NOT_FOUND,
                "invitation-invalid-page",
            )
        }
        Err(e) => return internal(&web, &visitor, e),
    };
    let mut errors = Errors::default();
    if form.password.chars().count() < MIN_PASSWORD_CHARS {
        errors.add("password", "invitation-password", t("invitation-short"));
    } else if form.password != form.confirm {
        errors.add("confirm", "invitation-confirm", t("invitation-mismatch"));
    }
    if !errors.is_empty() {
        let mut page = invitation_page(&web, &visitor, &token, &account, &errors);
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return page;
    }
    let accepted = {
        let web = web.clone();
        tokio::task::spawn_blocking(move || web.accounts.accept(&token, &form.password, unix_now()))
            .await
    };
    match accepted {
        Ok(Ok(true)) => see_other("/connexion?invite=1"),
        Ok(Ok(false)) => error_page(
            &web,
            &visitor,
            StatusCode::NOT_FOUND,
            "invitation-invalid-page",
        ),
        Ok(Err(e)) => internal(&web, &visitor, e),
        Err(e) => internal(&web, &visitor, e),
    }
}
