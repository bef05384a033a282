//! A running node process for end-to-end tests, whichever binary starts it
//! (`mutua-node run`, `mutua node`): the process, its log, and its control
//! API through the typed [`mutua_api::Client`]. Killed when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use mutua_api::{Client, ClientError, RecordsQuery, Status};

use crate::{poll_until, wait_for, DEADLINE};

/// How long one API request may take: a machine shared by parallel builds
/// (load 13 on 2 cores) made a publish exceed 10 s; a hung
/// node still fails the test.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A node process started by a test.
pub struct NodeProcess {
    child: Option<Child>,
    data_dir: PathBuf,
    log: PathBuf,
    token: String,
    client: Client,
}

impl NodeProcess {
    /// Spawns `command` (a node of `data_dir`, its API on loopback),
    /// stderr to `log`, and waits until its API answers with the token of
    /// `data_dir`. A stale `api.addr` (left by a killed node) is waited
    /// past: only an answering node counts.
    #[track_caller]
    pub fn spawn(mut command: Command, data_dir: &Path, log: &Path) -> NodeProcess {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).expect("the node's log file"));
        let mut node = NodeProcess {
            child: Some(command.spawn().expect("the node starts")),
            data_dir: data_dir.to_owned(),
            log: log.to_owned(),
            token: String::new(),
            client: Client::new("http://127.0.0.1:9", ""),
        };
        let (token, client) = wait_for("the node's control API", || {
            if let Some(status) = node.child.as_mut()?.try_wait().unwrap() {
                panic!("the node exited early ({status}): {}", node.log_text());
            }
            let addr = fs::read_to_string(data_dir.join("api.addr")).ok()?;
            let token = fs::read_to_string(data_dir.join("api.token")).ok()?;
            let port = addr.trim().parse::<std::net::SocketAddr>().ok()?.port();
            let base = format!("http://127.0.0.1:{port}");
            let client = Client::with_timeout(base, &token, REQUEST_TIMEOUT);
            client.status().ok()?;
            Some((token.trim().to_owned(), client))
        });
        node.token = token;
        node.client = client;
        node
    }

    /// The typed client of this node's API.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        self.client.base()
    }

    /// The API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What the node wrote to stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of an API call, or a failed test showing the node's log.
    #[track_caller]
    pub fn expect<T>(&self, answer: Result<T, ClientError>) -> T {
        answer.unwrap_or_else(|e| panic!("{e}\n--- node log ---\n{}", self.log_text()))
    }

    /// `GET /v1/status`.
    #[track_caller]
    pub fn status(&self) -> Status {
        self.expect(self.client.status())
    }

    /// This node's loopback p2p address with its peer id, to bootstrap
    /// others: `/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`.
    pub fn p2p_addr(&self) -> String {
        wait_for("a loopback listen address", || {
            let network = self.status().network;
            let listen = network
                .listen_addrs
                .iter()
                .find(|a| a.contains("/127.0.0.1/"))?;
            Some(format!("{listen}/p2p/{}", network.local_peer_id))
        })
    }

    pub fn peer_id(&self) -> String {
        self.status().network.local_peer_id
    }

    /// The store digest: equal on two nodes iff they hold the same records.
    pub fn digest(&self) -> String {
        self.status().digest
    }

    /// Waits until at least `n` peers are subscribed to the federation topic.
    pub fn wait_for_topic_peers(&self, n: usize) {
        wait_for("topic peers", || {
            (self.status().network.topic_peers >= n).then_some(())
        });
    }

    /// Whether some peer is in this node's gossip mesh.
    pub fn has_mesh_peer(&self) -> bool {
        let peers = self.expect(self.client.peers()).peers;
        peers.iter().any(|p| p.in_mesh)
    }

    /// Waits until `key` (a key id) is a member in this node's replica.
    pub fn wait_for_member(&self, key: &str) {
        wait_for("a membership to arrive", || {
            let members = self.expect(self.client.members()).members;
            members
                .iter()
                .any(|m| m.certificate.subject.to_string() == key && m.membership == "member")
                .then_some(())
        });
    }

    /// The hits of a `GET /v1/records` query written as in a URL
    /// (`?text=broyeur&side=offer`).
    #[track_caller]
    pub fn items(&self, query: &str) -> Vec<mutua_api::Hit> {
        self.expect(self.client.search(&records_query(query))).items
    }

    /// Sends SIGTERM and waits for the exit status.
    #[track_caller]
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("a running node");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        poll_until(DEADLINE, || child.try_wait().unwrap()).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the node did not stop after SIGTERM: {}", self.log_text())
        })
    }
}

impl Drop for NodeProcess {
    /// SIGKILL: a crash, as far as the node can tell.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A [`RecordsQuery`] from its URL form (`?text=broyeur&side=offer`, the
/// `?` optional). Values are taken as written (no percent-decoding); an
/// unknown parameter fails the test, by name.
#[track_caller]
pub fn records_query(url_query: &str) -> RecordsQuery {
    let fields: serde_json::Map<String, serde_json::Value> = url_query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = match name {
                "radius_km" | "limit" => value.parse().expect("a number"),
                _ => serde_json::Value::from(value),
            };
            (name.to_owned(), value)
        })
        .collect();
    serde_json::from_value(fields.into())
        .unwrap_or_else(|e| panic!("not a GET /v1/records query ({e}): {url_query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_query_fills_the_fields_it_names() {
        let query = records_query("?text=broyeur&side=offer&departement=33&limit=5");
        assert_eq!(
            query,
            RecordsQuery {
                text: Some("broyeur".into()),
                side: Some("offer".into()),
                departement: Some("33".into()),
                limit: Some(5),
                ..Default::default()
            }
        );
        assert_eq!(records_query(""), RecordsQuery::default());
        let radius = records_query("near=33063&radius_km=12.5");
        assert_eq!(radius.radius_km, Some(12.5));
    }

    #[test]
    #[should_panic(expected = "titel")]
    fn an_unknown_parameter_fails_by_name() {
        records_query("?titel=broyeur");
    }
}
