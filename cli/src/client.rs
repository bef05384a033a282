//! The CLI's side of the control API: finding the node of a data directory
//! (or reading its replica when it is stopped), and telling the API
//! client's errors as the CLI's messages and exit codes. The requests, the
//! answers and the transport are `mutua_api`'s.
//!
//! A refusal is told in plain words: "the node refused: … (rule: <code>,
//! field: <field>)", plus a hint for those operators meet (`not_a_member`:
//! how to get admitted; `publisher_required`: `--as`). Nothing listening
//! at the address has its own exit code, so scripts can start the node and
//! retry. (Listings are also checked before anything is sent, with the
//! protocol's own `check_fields` and `check_time`, in `crate::listing`, so a
//! bad value names its flag or CSV column.)

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use mutua_api::ClientError;
use mutua_node::config;
use mutua_node::datadir::{ApiEndpoint, DataDir, DataDirError};
use mutua_node::offline::{self, ReplicaServer};

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

/// The node refused a request: its error body, told with the rule, the
/// field and what to do about it.
#[derive(Debug)]
pub struct Refusal(pub mutua_api::Refusal);

impl std::ops::Deref for Refusal {
    type Target = mutua_api::Refusal;

    fn deref(&self) -> &mutua_api::Refusal {
        &self.0
    }
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

/// The node of a data directory, through `mutua_api`'s client.
pub struct Client {
    api: mutua_api::Client,
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
        Client {
            api: mutua_api::Client::new(format!("http://{}", endpoint.addr), &endpoint.token),
            data_dir: data_dir.to_owned(),
            replica: None,
        }
    }

    /// One request (`|api| api.members()`), its failure told as the CLI
    /// tells it.
    pub fn call<T>(
        &self,
        request: impl FnOnce(&mutua_api::Client) -> Result<T, ClientError>,
    ) -> Result<T> {
        request(&self.api).map_err(|e| self.told(e))
    }

    /// A [`NodeNotRunning`] when nothing listens (a stale api.addr after a
    /// crash), a [`Refusal`] when the node refused, else what went wrong.
    fn told(&self, e: ClientError) -> anyhow::Error {
        match e {
            ClientError::Unreachable { .. } => NodeNotRunning {
                data_dir: self.data_dir.clone(),
            }
            .into(),
            ClientError::Refused { refusal, .. } => Refusal(refusal).into(),
            ClientError::Http { status, body } => {
                anyhow!("the node answered HTTP {status}: {body}")
            }
            ClientError::Decode { source, body } => anyhow::Error::new(source).context(format!(
                "the node's answer is not the expected JSON: {body}"
            )),
            ClientError::Transport(e) => {
                anyhow::Error::new(e).context("talking to the node's control API")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::to(
            ApiEndpoint {
                addr: "127.0.0.1:9".parse().unwrap(),
                token: "t".into(),
            },
            Path::new("/srv/mutua"),
        )
    }

    #[test]
    fn a_refusal_is_told_with_its_rule_field_and_hint() {
        let refusal =
            mutua_api::Refusal::new("wrong_side", "this listing is an offer").with_field("side");
        let e = client().told(ClientError::Refused {
            status: 409,
            refusal,
        });
        assert_eq!(e.downcast_ref::<Refusal>().unwrap().code, "wrong_side");
        assert_eq!(
            e.to_string(),
            "the node refused: this listing is an offer (rule: wrong_side, field: side)\n  \
             hint: the listing is of the other side: `mutua offer …` for an offer, `mutua need …` for a need"
        );
    }

    #[test]
    fn nothing_listening_is_the_node_not_running_of_this_data_dir() {
        let e = client().told(ClientError::Unreachable {
            base: "http://127.0.0.1:9".into(),
        });
        let not_running = e.downcast_ref::<NodeNotRunning>().unwrap();
        assert_eq!(not_running.data_dir, Path::new("/srv/mutua"));
        let e = client().told(ClientError::Http {
            status: 502,
            body: "bad gateway".into(),
        });
        assert_eq!(e.to_string(), "the node answered HTTP 502: bad gateway");
    }
}
