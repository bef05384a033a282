//! The web page for town-hall staff: search, read, publish, edit and
//! withdraw offers and needs, in French, server-rendered (maud: templates
//! are Rust code checked at compile time, escaped by default, compiled into
//! the binary), every flow without JavaScript, no external resource at all.
//!
//! Served on its own address (`web.listen`, loopback by default; a
//! syndicate exposes it behind its reverse proxy with TLS, see contrib/).
//! The handlers call the same node services as the control API's
//! (`api::records::search`, `api::listings::{publish_new, update_slot,
//! withdraw_slot, import_one}`, `api::requests::{create_by, list_of,
//! accept_among, …}`, `api::lending::calendar_of`: local rules, signing, ingest, gossip), never
//! the API over HTTP; a spreadsheet's rows are read and checked by the
//! CLI's own rules (`mutua_sheet`). Accounts live in the data directory (`accounts`), sessions
//! and the login rate limit in memory (`session`), texts in `fr.ftl`
//! (`i18n`).
//!
//! [`router`] is the whole page; another public, read-only router (open
//! data) merges into it.

mod accounts;
mod export;
mod forms;
mod i18n;
mod import;
mod layout;
mod lending;
mod listing;
mod map;
mod pages;
mod publish;
mod requests;
mod search;
mod session;
mod settings;
mod signin;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use accounts::{Accounts, AccountsError, Invitation};
pub use settings::{WebSection, WebSettings, DEFAULT_WEB_PORT};

use crate::api::NodeState;
use crate::datadir::HostedPublisher;
use session::{Limiter, Session, Sessions};

/// What the page's handlers share.
pub struct Web {
    node: Arc<NodeState>,
    settings: WebSettings,
    accounts: Accounts,
    sessions: Sessions,
    /// Failed sign-ins per login and per client address.
    limiter: Limiter,
    address_limiter: Limiter,
}

type Shared = Arc<Web>;

/// Who is asking: their session if signed in, and the CSRF token their
/// forms must carry.
pub struct Visitor {
    session: Option<Session>,
    session_token: Option<String>,
    csrf: String,
    /// A CSRF cookie to set (first visit).
    new_csrf: bool,
    /// The collectivities a signed-in visitor acts for (certified names).
    acting: Vec<Collectivity>,
}

impl Visitor {
    fn may_act_for(&self, publisher: &str) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.collectivities.iter().any(|c| c == publisher))
    }

    fn check_csrf(&self, given: &str) -> bool {
        !self.new_csrf && session::same_token(&self.csrf, given)
    }
}

/// A hosted collectivity as the page names it.
#[derive(Clone, Debug)]
pub struct Collectivity {
    /// The hosted publisher's name (its key file).
    pub publisher: String,
    /// The certified name (`Mairie de Bordeaux`), else the publisher's name.
    pub name: String,
    pub siren: Option<String>,
    pub insee: Option<String>,
}

/// The certified collectivity of hosted `publishers` (the store's
/// membership: the truth, revocations included), by publisher name.
fn certified(
    store: &mutua_store::Store,
    publishers: &[std::sync::Arc<HostedPublisher>],
) -> Vec<Collectivity> {
    let now = crate::api::unix_now();
    publishers
        .iter()
        .map(|p| {
            let certificate = store
                .membership(&p.key.public(), now)
                .ok()
                .and_then(|m| m.ok())
                .and_then(|m| m.certificate);
            Collectivity {
                publisher: p.name.clone(),
                name: certificate
                    .as_ref()
                    .map_or_else(|| p.name.clone(), |c| c.name.clone()),
                siren: certificate.as_ref().map(|c| c.siren.clone()),
                insee: certificate.and_then(|c| c.insee),
            }
        })
        .collect()
}

/// [`certified`] on the blocking pool (sled reads, signature checks).
async fn certified_now(node: &NodeState, names: Option<Vec<String>>) -> Vec<Collectivity> {
    let publishers: Vec<_> = node
        .publishers
        .all()
        .iter()
        .filter(|p| names.as_ref().is_none_or(|n| n.contains(&p.name)))
        .cloned()
        .collect();
    let store = node.store.clone();
    tokio::task::spawn_blocking(move || certified(&store, &publishers))
        .await
        .unwrap_or_default()
}

impl Web {
    pub fn new(node: Arc<NodeState>, settings: WebSettings) -> Web {
        Web {
            accounts: Accounts::at(node.datadir.root()),
            node,
            settings,
            sessions: Sessions::default(),
            limiter: Limiter::per_login(),
            address_limiter: Limiter::per_address(),
        }
    }

    /// The visitor of a staff form: signed in, its CSRF token right and,
    /// when `collectivity` is named, acting for it; else the page to answer.
    async fn staff(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        collectivity: Option<&str>,
    ) -> Result<Visitor, Response> {
        let visitor = self.visitor(headers).await;
        if visitor.session.is_none() {
            return Err(to_sign_in());
        }
        let refused = if !visitor.check_csrf(csrf) {
            "csrf"
        } else if collectivity.is_some_and(|c| !visitor.may_act_for(c)) {
            "forbidden"
        } else {
            return Ok(visitor);
        };
        Err(error_page(self, &visitor, StatusCode::FORBIDDEN, refused))
    }

    async fn visitor(&self, headers: &HeaderMap) -> Visitor {
        let now = crate::api::unix_now();
        let token = session::cookie(headers, session::SESSION_COOKIE);
        if let Some((token, s)) = token.and_then(|t| Some((t, self.sessions.get(t, now)?))) {
            let acting = certified_now(&self.node, Some(s.collectivities.clone())).await;
            return Visitor {
                csrf: s.csrf.clone(),
                session: Some(s),
                session_token: Some(token.to_owned()),
                new_csrf: false,
                acting,
            };
        }
        match session::cookie(headers, session::CSRF_COOKIE) {
            Some(csrf) if csrf.len() >= 32 => Visitor {
                session: None,
                session_token: None,
                csrf: csrf.to_owned(),
                new_csrf: false,
                acting: Vec::new(),
            },
            _ => Visitor {
                session: None,
                session_token: None,
                csrf: accounts::random_token(),
                new_csrf: true,
                acting: Vec::new(),
            },
        }
    }

    /// The collectivities the signed-in visitor acts for, hosted here now.
    fn acting_for(&self, visitor: &Visitor) -> Vec<Collectivity> {
        visitor.acting.clone()
    }

    /// The hosted publisher whose key is `author`.
    fn hosted_author(&self, author: &mutua_protocol::PublicKey) -> Option<String> {
        self.node
            .publishers
            .all()
            .iter()
            .find(|p| p.key.public() == *author)
            .map(|p| p.name.clone())
    }

    /// Whether a visitor may browse (public browsing, or signed in).
    fn may_browse(&self, visitor: &Visitor) -> bool {
        self.settings.public_browsing || visitor.session.is_some()
    }
}

/// The hosted publisher named by a CLI's `--collectivity` value: its name,
/// or the INSEE code or SIREN of its certificate.
pub async fn resolve_collectivity(node: &NodeState, value: &str) -> Option<String> {
    let value = value.trim();
    certified_now(node, None)
        .await
        .into_iter()
        .find(|c| {
            c.publisher == value
                || c.insee.as_deref() == Some(value)
                || c.siren.as_deref() == Some(value)
        })
        .map(|c| c.publisher)
}

/// The public part of the page (statements, style sheet).
fn public_routes() -> Router<Shared> {
    Router::new()
        .route("/style.css", get(layout::style))
        .route("/accessibilite", get(pages::accessibility))
        .route("/mentions-legales", get(pages::legal))
}

/// The whole page. Another public, read-only router (open data) merges
/// into its result: `router(web).merge(other)` (the other router must not
/// set a fallback; the page's "not found" stays the only one).
pub fn router(web: Shared) -> Router {
    let flows = Router::new()
        .route("/", get(search::page))
        .route("/annonces/{author}/{id}", get(listing::page))
        .route(
            "/annonces/{author}/{id}/modifier",
            get(publish::edit_form).post(publish::edit),
        )
        .route("/annonces/{author}/{id}/retirer", post(publish::withdraw))
        .route("/annonces/{author}/{id}/demander", post(lending::submit))
        .route("/demandes", get(requests::mine))
        .route("/demandes/recues", get(requests::received))
        .route("/demandes/{id}/accepter", post(requests::accept))
        .route("/demandes/{id}/refuser", post(requests::decline))
        .route("/demandes/{id}/annuler", post(requests::cancel))
        .route("/demandes/{id}/retour", post(requests::give_back))
        .route("/publier", get(publish::form).post(publish::submit))
        .route(
            "/importer",
            get(import::form)
                .post(import::submit)
                .layer(axum::extract::DefaultBodyLimit::max(
                    import::MAX_UPLOAD_BYTES,
                )),
        )
        .route("/exporter", get(export::export))
        .route("/connexion", get(signin::form).post(signin::submit))
        .route("/deconnexion", post(signin::sign_out))
        .route(
            "/invitation/{token}",
            get(signin::invitation).post(signin::accept),
        );
    public_routes()
        .merge(flows)
        .fallback(pages::not_found)
        .with_state(web)
        .layer(axum::middleware::from_fn(layout::security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        // gzip or Brotli as the browser asks: a search page of 20 results
        // is ~10 KB instead of ~60 (BENCHMARKS.md, "Web page").
        .layer(tower_http::compression::CompressionLayer::new())
}

/// An error page: status, French title and text.
fn error_page(web: &Web, visitor: &Visitor, status: StatusCode, what: &str) -> Response {
    let body = maud::html! {
        p { (i18n::t(&format!("{what}-text"))) }
        p { a href="/" { (i18n::t("back-to-search")) } }
    };
    let mut response = layout::page(web, visitor, &i18n::t(&format!("{what}-title")), body);
    *response.status_mut() = status;
    response
}

/// A failure of the node (store, signing) as a page; logged.
fn internal(web: &Web, visitor: &Visitor, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "web page request failed");
    error_page(web, visitor, StatusCode::INTERNAL_SERVER_ERROR, "error")
}

/// Sends the visitor to the sign-in page (browsing restricted, or staff only).
fn to_sign_in() -> Response {
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, "/connexion?requis=1")],
    )
        .into_response()
}

/// Serves the page until `shutdown` completes; writes `<data dir>/web.url`
/// (the address invitation links use) while it runs.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Arc<NodeState>,
    settings: WebSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let url_file = node.datadir.root().join(WEB_URL_FILE);
    std::fs::write(&url_file, format!("{url}\n"))?;
    tracing::info!(web = %addr, %url, "web page served");
    let open_data = crate::opendata::catalogue_router(node.clone());
    let web = Arc::new(Web::new(node, settings));
    // The peer's address: the per-address sign-in limit.
    let app = router(web)
        .merge(open_data)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = std::fs::remove_file(url_file);
    served
}

/// Binds the page's address before the node starts (a taken port stops
/// the start, as for the API).
pub async fn bind(
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener, crate::listen::ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|cause| crate::listen::ListenError {
            setting: crate::listen::Setting::Web,
            addr: addr.to_string(),
            cause,
        })
}

/// `<data dir>/web.url`: the page's address while the node serves it.
pub const WEB_URL_FILE: &str = "web.url";
