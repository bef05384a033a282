//! Real `mutua-node` processes for end-to-end tests: temporary data
//! directories, OS-chosen loopback ports, the control API over HTTP, and
//! waits with deadlines (never fixed sleeps).

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_mutua-node");
/// How long a condition may take before the test fails.
pub use mutua_tests::{wait_for, DEADLINE, POLL};

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

/// A running node process.
pub struct Node {
    child: Option<Child>,
    pub dir: PathBuf,
    log: PathBuf,
    pub api: String,
    token: String,
    agent: ureq::Agent,
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
        let log = home.dir.with_extension(format!(
            "{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = fs::remove_file(home.dir.join("api.addr"));
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(&home.dir)
            .arg("run")
            .args(args)
            .env("RUST_LOG", "info,libp2p=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command.spawn().expect("mutua-node starts");
        let mut node = Node {
            child: Some(child),
            dir: home.dir.clone(),
            log,
            api: String::new(),
            token: String::new(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into(),
        };
        let addr = wait_for("the node to write api.addr", || {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("node exited early ({status}): {}", node.log_text());
            }
            fs::read_to_string(home.dir.join("api.addr")).ok()
        });
        let addr: std::net::SocketAddr = addr.trim().parse().unwrap();
        node.api = format!("http://127.0.0.1:{}", addr.port());
        node.token = fs::read_to_string(home.dir.join("api.token"))
            .unwrap()
            .trim()
            .to_owned();
        node
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn read(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// GET with the token: (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        Self::read(
            self.agent
                .get(self.url(path))
                .header("Authorization", self.auth())
                .call()
                .unwrap(),
        )
    }

    /// GET with an arbitrary (or no) Authorization header.
    pub fn get_with_auth(&self, path: &str, auth: Option<&str>) -> (u16, Value) {
        let mut request = self.agent.get(self.url(path));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        Self::read(request.call().unwrap())
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::read(
            self.agent
                .post(self.url(path))
                .header("Authorization", self.auth())
                .send_json(body)
                .unwrap(),
        )
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::read(
            self.agent
                .put(self.url(path))
                .header("Authorization", self.auth())
                .send_json(body)
                .unwrap(),
        )
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        Self::read(
            self.agent
                .delete(self.url(path))
                .header("Authorization", self.auth())
                .call()
                .unwrap(),
        )
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

    pub fn status(&self) -> Value {
        self.ok(self.get("/v1/status"))
    }

    /// This node's p2p address with its peer id, to bootstrap others.
    pub fn p2p_addr(&self) -> String {
        let status = self.status();
        format!(
            "{}/p2p/{}",
            status["network"]["listen_addrs"][0].as_str().unwrap(),
            status["network"]["local_peer_id"].as_str().unwrap()
        )
    }

    /// The store digest: equal on two nodes iff they hold the same records.
    pub fn digest(&self) -> String {
        self.status()["digest"].as_str().unwrap().to_owned()
    }

    pub fn peer_id(&self) -> String {
        self.status()["network"]["local_peer_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until at least `n` peers are subscribed to the federation topic.
    pub fn wait_for_topic_peers(&self, n: u64) {
        wait_for("topic peers", || {
            (self.status()["network"]["topic_peers"].as_u64() >= Some(n)).then_some(())
        });
    }

    /// Waits until `key` is a member in this node's replica.
    pub fn wait_for_member(&self, key: &str) {
        wait_for("a membership to arrive", || {
            let members = self.ok(self.get("/v1/members"));
            members["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["certificate"]["subject"] == key && m["membership"] == "member")
                .then_some(())
        });
    }

    /// Query results for `query` (e.g. `?text=broyeur`).
    pub fn items(&self, query: &str) -> Vec<Value> {
        self.ok(self.get(&format!("/v1/records{query}")))["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("node did not stop after SIGTERM: {}", self.log_text());
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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

pub fn path_exists(path: &Path) -> bool {
    path.exists()
}
