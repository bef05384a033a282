//! Real `mutua-node` processes for end-to-end tests: temporary data
//! directories, OS-chosen loopback ports, the control API over HTTP, and
//! waits with deadlines (never fixed sleeps).

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};

use mutua_protocol::ListingId;
use mutua_tests::mutua_api::Record;
use mutua_tests::node::REQUEST_TIMEOUT;
use mutua_tests::NodeProcess;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_mutua-node");
#[allow(unused_imports)] // each test file uses a different part
pub use mutua_tests::{poll_until, unix_now, wait_for, DEADLINE};

/// Runs `mutua-node` to completion (init, add-publisher, a refused start).
pub fn run_to_end(args: &[&str], envs: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("RUST_LOG");
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("mutua-node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// An initialised data directory (kept until the test ends).
pub struct Home {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Home {
    /// `init` with the given extra arguments.
    pub fn init(args: &[&str]) -> Home {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("node");
        let dir_s = dir.to_str().unwrap();
        let mut full = vec!["--data-dir", dir_s, "init", "--federation-name", "e2e"];
        full.extend_from_slice(args);
        let (status, out) = run_to_end(&full, &[]);
        assert!(status.success(), "init failed: {out}");
        Home { _tmp: tmp, dir }
    }

    /// The key id printed in a key file's `id:` line.
    pub fn key_id(&self, relative: &str) -> String {
        let text = fs::read_to_string(self.dir.join("keys").join(relative)).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap()
            .to_owned()
    }

    /// Sets `network.sync_interval_secs` in the node's config file (the
    /// template `init` writes has it commented out at its default).
    pub fn set_sync_interval(&self, secs: u64) {
        let path = self.dir.join("config.toml");
        let text = fs::read_to_string(&path).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| match l.starts_with("# sync_interval_secs") {
                true => format!("sync_interval_secs = {secs}"),
                false => l.to_owned(),
            })
            .collect();
        assert!(text.iter().any(|l| l.starts_with("sync_interval_secs")));
        fs::write(path, text.join("\n") + "\n").unwrap();
    }

    pub fn anchor_id(&self) -> String {
        self.key_id("anchor.key")
    }

    pub fn publisher_id(&self, name: &str) -> String {
        self.key_id(&format!("publishers/{name}.key"))
    }
}

/// A running `mutua-node run`, with raw HTTP beside the typed client (the
/// tests check status codes and error bodies as the server writes them).
pub struct Node {
    process: NodeProcess,
    pub dir: PathBuf,
    pub api: String,
    agent: ureq::Agent,
}

impl std::ops::Deref for Node {
    type Target = NodeProcess;

    fn deref(&self) -> &NodeProcess {
        &self.process
    }
}

impl Node {
    /// Starts `mutua-node run` on loopback with OS-chosen ports and mDNS
    /// off, and waits until its API answers.
    pub fn start(home: &Home, bootstrap: &[String]) -> Node {
        let mut args = vec![
            "--listen".to_owned(),
            "/ip4/127.0.0.1/tcp/0".to_owned(),
            "--api-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--mdns".to_owned(),
            "false".to_owned(),
        ];
        for b in bootstrap {
            args.push("--bootstrap".into());
            args.push(b.clone());
        }
        Node::start_with(home, &args, &[])
    }

    pub fn start_with(home: &Home, args: &[String], envs: &[(&str, &str)]) -> Node {
        // A new log per start: a restarted node's log is its own.
        let log = home.dir.with_extension(format!(
            "{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(&home.dir)
            .arg("run")
            .args(args)
            .env("RUST_LOG", "info,libp2p=warn");
        for (k, v) in envs {
            command.env(k, v);
        }
        let process = NodeProcess::spawn(command, &home.dir, &log);
        Node {
            dir: home.dir.clone(),
            api: process.base().to_owned(),
            process,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(REQUEST_TIMEOUT))
                .build()
                .into(),
        }
    }

    /// The nodes of `homes`, the first started alone and each other one
    /// dialling it, once the first sees them all on the topic; and the
    /// first's address (to restart one of them with).
    pub fn start_star<const N: usize>(homes: [&Home; N]) -> ([Node; N], String) {
        let mut hub = String::new();
        let nodes: [Node; N] = std::array::from_fn(|i| {
            let bootstrap = match i {
                0 => Vec::new(),
                _ => vec![hub.clone()],
            };
            let node = Node::start(homes[i], &bootstrap);
            if i == 0 {
                hub = node.p2p_addr();
            }
            node
        });
        nodes[0].wait_for_topic_peers(N - 1);
        (nodes, hub)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(self) -> ExitStatus {
        self.process.stop()
    }

    /// `method path` with `auth` as the Authorization header (none if
    /// `None`) and a JSON body: (status, JSON body, or the text if not JSON).
    fn request(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.api));
        let request = match auth {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        };
        let body = body.map_or_else(String::new, Value::to_string);
        let request = match body.is_empty() {
            true => request,
            false => request.header("Content-Type", "application/json"),
        };
        let mut response = self.agent.run(request.body(body).unwrap()).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token())
    }

    /// GET with the token: (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, Some(&self.bearer()), None)
    }

    /// GET with an arbitrary (or no) Authorization header.
    pub fn get_with_auth(&self, path: &str, auth: Option<&str>) -> (u16, Value) {
        self.request("GET", path, auth, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, Some(&self.bearer()), Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("PUT", path, Some(&self.bearer()), Some(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.request("DELETE", path, Some(&self.bearer()), None)
    }

    /// The record in `author`'s slot `id` (key id, hex) as this node
    /// stores it, if any (an offer, a need or its withdrawal).
    pub fn slot(&self, author: &str, id: &str) -> Option<Record> {
        let author = author.parse().expect("a key id");
        let id = ListingId::from_hex(id).expect("a listing id");
        self.expect(self.client().record(&author, &id))
    }

    /// Publishes [`offer`] `title` as the node's only publisher; its id.
    pub fn publish_offer(&self, title: &str) -> String {
        let published = self.ok(self.post("/v1/listings", &offer(title)));
        published["record"]["id"].as_str().unwrap().to_owned()
    }

    /// Asserts a 2xx answer and returns its body.
    pub fn ok(&self, (status, body): (u16, Value)) -> Value {
        assert!(
            (200..300).contains(&status),
            "HTTP {status}: {body}\n--- node log ---\n{}",
            self.log_text()
        );
        body
    }
}

/// A valid offer body for `POST /v1/listings`.
pub fn offer(title: &str) -> Value {
    json!({
        "side": "offer",
        "kind": "equipment",
        "title": title,
        "description": "Broyeur thermique, prêt à la journée avec remorque.",
        "tags": ["broyeur", "espaces verts"],
        "location": { "insee": "33063", "point": { "lat_e6": 44837789, "lon_e6": -579180 } },
        "area": { "departements": ["33"], "radius_km": 30 },
        "availability": [],
        "terms": { "pricing": "free", "convention_required": false },
        "contact": { "role": "Services techniques", "email": "st@mairie-exemple.fr" }
    })
}

/// A certificate request admitting `subject` as a commune.
pub fn admission(subject: &str) -> Value {
    json!({
        "subject": subject,
        "siren": "213300635",
        "name": "Bordeaux",
        "body": "commune",
        "insee": "33063"
    })
}

/// Two nodes for lending: A hosts `mairie-a` (the owner, with the anchor),
/// B hosts `mairie-b` (the borrower); both admitted, B sees its admission,
/// anti-entropy every 2 s.
pub struct LendingPair {
    pub home_a: Home,
    pub home_b: Home,
    pub a: Node,
    pub b: Node,
    pub owner_id: String,
    pub borrower_id: String,
}

impl LendingPair {
    pub fn start() -> LendingPair {
        let home_a = Home::init(&["--new-anchor", "--publisher", "mairie-a"]);
        let anchor = home_a.anchor_id();
        let home_b = Home::init(&["--trust", &anchor, "--publisher", "mairie-b"]);
        for home in [&home_a, &home_b] {
            home.set_sync_interval(2);
        }
        let ([a, b], _) = Node::start_star([&home_a, &home_b]);
        let owner_id = home_a.publisher_id("mairie-a");
        let borrower_id = home_b.publisher_id("mairie-b");
        a.ok(a.post("/v1/certificates", &admission(&owner_id)));
        a.ok(a.post("/v1/certificates", &admission(&borrower_id)));
        b.wait_for_member(&borrower_id);
        LendingPair {
            home_a,
            home_b,
            a,
            b,
            owner_id,
            borrower_id,
        }
    }
}
