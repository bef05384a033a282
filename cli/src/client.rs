//! A small blocking client of the node's control API.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use mutua_node::config;
use mutua_node::datadir::{ApiEndpoint, DataDir, DataDirError};
use mutua_node::offline::{self, ReplicaServer};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Long enough for a large import on a slow disk; a hung node still ends.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The node is not running (no `api.addr`, or nothing listens there). Its
/// own exit code, so scripts can start the node and retry.
#[derive(Debug)]
pub struct NodeNotRunning {
    pub data_dir: PathBuf,
}

impl fmt::Display for NodeNotRunning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the node is not running: start it with `mutua node --data-dir {dir}` \
             (or `sudo systemctl start mutua-node`), then retry",
            dir = self.data_dir.display()
        )
    }
}

impl std::error::Error for NodeNotRunning {}

/// The node refused a request: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the node refused: {}", self.message)?;
        match &self.field {
            Some(field) => write!(f, " (rule: {}, field: {field})", self.code),
            None => write!(f, " (rule: {})", self.code),
        }?;
        if let Some(hint) = hint(&self.code) {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// What to do about the refusals an operator meets most.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "not_a_member" => {
            "this key has no certificate yet: ask an anchor or an admitting member to run \
             `mutua federation admit <key id> --collectivity <SIREN>`, then `mutua federation import` the file"
        }
        "certificate_expired" => "ask the issuer for a new certificate (`mutua federation admit`)",
        "revoked" => "this key's certificate was revoked: create a new key (`mutua key add`) and have it admitted",
        "publisher_required" => "this node hosts several collectivities: choose one with --as <name>",
        "unknown_publisher" => "see the hosted publishers with `mutua key list`",
        "no_anchor_key" => "this node holds no anchor key: sign with --issuer <publisher allowed to admit>",
        "may_not_admit" | "issuer_may_not_admit" => {
            "only an anchor, or a member admitted with --may-admit, can admit others"
        }
        "window_after_expiry" => {
            "let the listing live longer with --expires-in-days (at most 400), or give an earlier --available window"
        }
        "hidden_character" => "retype the text, or paste it as plain text: the character cannot be seen",
        "wrong_side" => "the listing is of the other side: `mutua offer …` for an offer, `mutua need …` for a need",
        "unauthorized" => "the token changes at each node start: is --data-dir the running node's?",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Refusal,
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
    data_dir: PathBuf,
    /// Set when the node is stopped and its replica is read in this process.
    replica: Option<ReplicaServer>,
}

impl Client {
    /// Finds the running node of `data_dir`.
    pub fn connect(data_dir: &Path) -> Result<Client> {
        let endpoint = match DataDir::at(data_dir).api_endpoint() {
            Ok(e) => e,
            Err(DataDirError::NotRunning { .. }) => {
                return Err(NodeNotRunning {
                    data_dir: data_dir.to_owned(),
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Client::to(endpoint, data_dir))
    }

    /// The running node of `data_dir`, or else its replica on disk, read
    /// only (saying so on stderr): for commands that only read.
    pub fn connect_or_replica(data_dir: &Path) -> Result<Client> {
        match Client::connect(data_dir) {
            Err(e) if e.downcast_ref::<NodeNotRunning>().is_some() => {}
            other => return other,
        }
        let dir = DataDir::open(data_dir)?;
        let settings = config::load_settings(&config::Overrides::default(), &dir.config_path())?;
        let replica = match offline::serve_replica(&dir, &settings) {
            Ok(replica) => replica,
            // No replica yet: the usual "start the node" answer.
            Err(offline::OfflineError::NoReplica { .. }) => {
                return Err(NodeNotRunning {
                    data_dir: data_dir.to_owned(),
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        eprintln!(
            "mutua: the node is not running: reading its replica on disk as it was when it stopped \
             (start it with `mutua node` for what the federation published since)"
        );
        let mut client = Client::to(replica.endpoint.clone(), data_dir);
        client.replica = Some(replica);
        Ok(client)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether this reads a stopped node's replica (no network, no keys).
    pub fn is_replica(&self) -> bool {
        self.replica.is_some()
    }

    fn to(endpoint: ApiEndpoint, data_dir: &Path) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        Client {
            agent,
            base: format!("http://{}", endpoint.addr),
            auth: format!("Bearer {}", endpoint.token),
            data_dir: data_dir.to_owned(),
            replica: None,
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let mut req = self.agent.get(self.url(path));
        for (k, v) in query {
            req = req.query(*k, v);
        }
        self.finish(self.authorized(req).call())
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let req = self.agent.post(self.url(path));
        self.finish(self.authorized(req).send_json(body))
    }

    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let req = self.agent.put(self.url(path));
        self.finish(self.authorized(req).send_json(body))
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let req = self.agent.delete(self.url(path));
        self.finish(self.authorized(req).call())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request carries the API token.
    fn authorized<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        req.header("Authorization", &self.auth)
    }

    fn finish<T: DeserializeOwned>(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        let mut response = match sent {
            Ok(r) => r,
            Err(e) if is_refused(&e) => {
                // A stale api.addr after a crash: nothing listens there.
                return Err(NodeNotRunning {
                    data_dir: self.data_dir.clone(),
                }
                .into());
            }
            Err(e) => return Err(e).context("talking to the node's control API"),
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .context("reading the node's answer")?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .with_context(|| format!("the node's answer is not the expected JSON: {text}"));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(body.error.into()),
            Err(_) => anyhow::bail!("the node answered HTTP {status}: {text}"),
        }
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

/// Percent-encodes a path segment (key ids and hex ids need none, but a
/// publisher name typed by hand might).
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
