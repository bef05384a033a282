//! A blocking client of the control API, one method per route.
//!
//! ```no_run
//! # fn main() -> Result<(), mutua_api::ClientError> {
//! let client = mutua_api::Client::new("http://127.0.0.1:4180", "token from api.token");
//! let status = client.status()?;
//! let page = client.search(&mutua_api::RecordsQuery {
//!     text: Some("broyeur".into()),
//!     ..Default::default()
//! })?;
//! # let _ = (status, page); Ok(()) }
//! ```
//!
//! A refusal (any non-2xx answer with the API's error body) is
//! [`ClientError::Refused`], carrying the body; nothing listening is
//! [`ClientError::Unreachable`], so that a caller can tell "start the node"
//! from a real failure.

use std::time::Duration;

use mutua_protocol::{ListingId, PublicKey, RecordHash};
use serde::de::DeserializeOwned;
use serde::Serialize;
use ureq::typestate::{WithBody, WithoutBody};
use ureq::RequestBuilder;

use crate::error::{ErrorBody, Refusal};
use crate::federation::{IssueRequest, Members, PublishersReloaded, RevokeRequest};
use crate::import::{ImportReport, ImportRequest};
use crate::listings::{ImportRow, ImportedListing, ListingContent, Published, WithdrawParams};
use crate::node::{Health, Peers, Status};
use crate::records::{Export, Record, RecordsPage, RecordsQuery};
use crate::web::{WebInvitation, WebUserRequest};

/// Long enough for a large import on a slow disk; a hung node still ends.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What went wrong talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the address (the node is stopped, or its
    /// `api.addr` is stale after a crash).
    #[error("nothing answers at {base}: the node is not running")]
    Unreachable { base: String },
    /// The node refused the request with the API's error body.
    #[error("the node refused (HTTP {status}): {refusal}")]
    Refused { status: u16, refusal: Refusal },
    /// A non-2xx answer without the API's error body (not a Mutua node?).
    #[error("the node answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// A 2xx answer that is not the JSON this route returns.
    #[error("the node's answer is not the expected JSON ({source}): {body}")]
    Decode {
        #[source]
        source: serde_json::Error,
        body: String,
    },
    #[error("talking to the node's control API: {0}")]
    Transport(#[from] ureq::Error),
}

impl ClientError {
    /// The node's error body, when it refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            ClientError::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// The stable code of the refusal (`not_a_member`, `wrong_side`…).
    pub fn code(&self) -> Option<&str> {
        self.refusal().map(|r| r.code.as_str())
    }
}

/// The control API of one node.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    /// A client of the node at `base` (`http://127.0.0.1:4180`), sending
    /// `token` (the content of `<data dir>/api.token`) with every request.
    pub fn new(base: impl Into<String>, token: &str) -> Client {
        Client::with_timeout(base, token, DEFAULT_TIMEOUT)
    }

    /// As [`Client::new`], giving up on a request after `timeout`.
    pub fn with_timeout(base: impl Into<String>, token: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            agent,
            base: base.into().trim_end_matches('/').to_owned(),
            auth: format!("Bearer {}", token.trim()),
        }
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/health`.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.call(self.agent.get(self.url("/v1/health")))
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.call(self.agent.get(self.url("/v1/status")))
    }

    /// `GET /v1/peers`.
    pub fn peers(&self) -> Result<Peers, ClientError> {
        self.call(self.agent.get(self.url("/v1/peers")))
    }

    /// `GET /v1/records`: one page of live offers and needs.
    pub fn search(&self, query: &RecordsQuery) -> Result<RecordsPage, ClientError> {
        let req = self
            .agent
            .get(self.url("/v1/records"))
            .query_pairs(query.pairs());
        self.call(req)
    }

    /// `GET /v1/records/{author}/{id}`: the current record of a listing slot
    /// (an offer, a need or its withdrawal); `None` if the replica has none.
    pub fn record(
        &self,
        author: &PublicKey,
        id: &ListingId,
    ) -> Result<Option<Record>, ClientError> {
        let path = format!("/v1/records/{author}/{}", id.to_hex());
        found(self.call(self.agent.get(self.url(&path))))
    }

    /// `POST /v1/listings`: publish as `publisher` (optional when the node
    /// hosts one).
    /// The listing of a slot as schema.org JSON-LD; `None` when the slot is
    /// empty (a withdrawal answers 410 `withdrawn`).
    pub fn listing_jsonld(
        &self,
        author: &PublicKey,
        id: &ListingId,
    ) -> Result<Option<crate::ListingJsonLd>, ClientError> {
        let path = format!("/v1/records/{author}/{}/jsonld", id.to_hex());
        found(self.call(self.agent.get(self.url(&path))))
    }

    pub fn publish(
        &self,
        publisher: Option<&str>,
        content: &ListingContent,
    ) -> Result<Published, ClientError> {
        let req = as_publisher(self.agent.post(self.url("/v1/listings")), publisher);
        self.send(req, content)
    }

    /// `PUT /v1/listings/{id}`: the next version of a listing.
    pub fn update(
        &self,
        publisher: Option<&str>,
        id: &ListingId,
        content: &ListingContent,
    ) -> Result<Published, ClientError> {
        let path = format!("/v1/listings/{}", id.to_hex());
        self.send(
            as_publisher(self.agent.put(self.url(&path)), publisher),
            content,
        )
    }

    /// `DELETE /v1/listings/{id}`: withdraw a listing.
    pub fn withdraw(
        &self,
        id: &ListingId,
        params: &WithdrawParams,
    ) -> Result<Published, ClientError> {
        let path = format!("/v1/listings/{}", id.to_hex());
        let mut req = as_publisher(
            self.agent.delete(self.url(&path)),
            params.publisher.as_deref(),
        );
        if let Some(side) = params.side {
            req = req.query("side", side.as_str());
        }
        self.call(req)
    }

    /// `POST /v1/listings/import`: publish, update or leave alone the
    /// listing a spreadsheet row describes.
    pub fn import_listing(
        &self,
        publisher: Option<&str>,
        row: &ImportRow,
    ) -> Result<ImportedListing, ClientError> {
        let req = as_publisher(self.agent.post(self.url("/v1/listings/import")), publisher);
        self.send(req, row)
    }

    /// `POST /v1/certificates`: admit a collectivity.
    pub fn issue(&self, request: &IssueRequest) -> Result<Published, ClientError> {
        self.send(self.agent.post(self.url("/v1/certificates")), request)
    }

    /// `GET /v1/certificates/{hash}`; `None` if the replica has none.
    pub fn certificate(&self, hash: &RecordHash) -> Result<Option<Record>, ClientError> {
        let path = format!("/v1/certificates/{}", hash.to_hex());
        found(self.call(self.agent.get(self.url(&path))))
    }

    /// `POST /v1/certificates/{hash}/revoke`.
    pub fn revoke(
        &self,
        hash: &RecordHash,
        request: &RevokeRequest,
    ) -> Result<Published, ClientError> {
        let path = format!("/v1/certificates/{}/revoke", hash.to_hex());
        self.send(self.agent.post(self.url(&path)), request)
    }

    /// `GET /v1/members`.
    pub fn members(&self) -> Result<Members, ClientError> {
        self.call(self.agent.get(self.url("/v1/members")))
    }

    /// `POST /v1/publishers/reload`: the node reads its publisher keys again.
    pub fn reload_publishers(&self) -> Result<PublishersReloaded, ClientError> {
        let req = self.agent.post(self.url("/v1/publishers/reload"));
        self.read(self.authorized(req).send_json(serde_json::json!({})))
    }

    /// `POST /v1/web/users`: an invitation to the web page.
    pub fn add_web_user(&self, request: &WebUserRequest) -> Result<WebInvitation, ClientError> {
        self.send(self.agent.post(self.url("/v1/web/users")), request)
    }

    /// `GET /v1/export`: every stored envelope.
    pub fn export(&self) -> Result<Export, ClientError> {
        self.call(self.agent.get(self.url("/v1/export")))
    }

    /// `POST /v1/import`: envelopes through the ingest pipeline.
    pub fn import(&self, request: &ImportRequest) -> Result<ImportReport, ClientError> {
        self.send(self.agent.post(self.url("/v1/import")), request)
    }

    /// `GET /metrics`: the Prometheus text.
    pub fn metrics(&self) -> Result<String, ClientError> {
        let sent = self.authorized(self.agent.get(self.url("/metrics"))).call();
        self.answer(sent)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request carries the API token.
    fn authorized<B>(&self, req: RequestBuilder<B>) -> RequestBuilder<B> {
        req.header("Authorization", &self.auth)
    }

    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        req: RequestBuilder<WithoutBody>,
    ) -> Result<T, ClientError> {
        self.read(self.authorized(req).call())
    }

    pub(crate) fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        req: RequestBuilder<WithBody>,
        body: &B,
    ) -> Result<T, ClientError> {
        self.read(self.authorized(req).send_json(body))
    }

    fn read<T: DeserializeOwned>(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let text = self.answer(sent)?;
        serde_json::from_str(&text).map_err(|source| ClientError::Decode { source, body: text })
    }

    /// The text of a 2xx answer; any other is an error, typed from the
    /// API's error body when it has one.
    fn answer(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, ClientError> {
        let mut response = match sent {
            Ok(r) => r,
            Err(e) if is_refused(&e) => {
                return Err(ClientError::Unreachable {
                    base: self.base.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Refused {
                status,
                refusal: body.error,
            }),
            Err(_) => Err(ClientError::Http { status, body: text }),
        }
    }
}

pub(crate) fn as_publisher<B>(
    req: RequestBuilder<B>,
    publisher: Option<&str>,
) -> RequestBuilder<B> {
    match publisher {
        Some(name) => req.query("as", name),
        None => req,
    }
}

/// A `not_found` refusal as `None`.
fn found<T>(answer: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Refused {
            status: 404,
            refusal,
        }) if refusal.code == "not_found" => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_refused(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answers one request with `response` (status line, headers, body)
    /// and returns the request it got.
    fn answer_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(response.as_bytes()).unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (base, server)
    }

    /// An HTTP answer with the API's JSON `body`, for [`answer_once`].
    fn json_answer(status: &str, body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    #[test]
    fn a_refusal_carries_the_error_body_and_the_request_the_token() {
        let body = r#"{"error":{"code":"wrong_side","field":"side","message":"this listing is an offer, not a need: nothing was changed"}}"#;
        let (base, server) = answer_once(json_answer("409 Conflict", body));
        let client = Client::new(base, "secret\n");
        let id = ListingId::from_hex("f71f629e7417df050fdabba256d0a347").unwrap();
        let params = WithdrawParams {
            publisher: Some("mairie a".into()),
            side: Some(crate::Side::Need),
        };
        let err = client.withdraw(&id, &params).unwrap_err();
        assert_eq!(err.code(), Some("wrong_side"));
        assert!(matches!(err, ClientError::Refused { status: 409, .. }));
        let request = server.join().unwrap();
        assert!(
            request.starts_with(
                "DELETE /v1/listings/f71f629e7417df050fdabba256d0a347?as=mairie%20a&side=need "
            ),
            "{request}"
        );
        assert!(
            request
                .to_lowercase()
                .contains("authorization: bearer secret\r\n"),
            "{request}"
        );
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(format!("http://127.0.0.1:{port}"), "t");
        assert!(matches!(
            client.health(),
            Err(ClientError::Unreachable { .. })
        ));
    }

    #[test]
    fn a_missing_record_is_none_but_a_missing_endpoint_an_error() {
        let not_found =
            r#"{"error":{"code":"not_found","message":"no such listing in this node's replica"}}"#;
        let (base, server) = answer_once(json_answer("404 Not Found", not_found));
        let key = mutua_protocol::fixtures::key(1).public();
        let id = ListingId::from_hex("f71f629e7417df050fdabba256d0a347").unwrap();
        assert_eq!(Client::new(base, "t").record(&key, &id).unwrap(), None);
        server.join().unwrap();
        let (base, server) = answer_once(
            "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
        );
        let err = Client::new(base, "t").record(&key, &id).unwrap_err();
        assert!(
            matches!(err, ClientError::Http { status: 404, .. }),
            "{err}"
        );
        server.join().unwrap();
    }
}
