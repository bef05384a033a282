//! One node process and its control API.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{cleanup, wait, Error};

/// How long a node may take to start answering, or to stop.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a node process.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The testnet binary (re-executed with the hidden `node` subcommand).
    pub bin: PathBuf,
    pub index: usize,
    pub data_dir: PathBuf,
    /// Run inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// libp2p listen multiaddr.
    pub listen: String,
    /// Control API `host:port`.
    pub api_listen: String,
    pub bootstrap: Vec<String>,
    /// Appended to at every start, so restarts keep the history.
    pub log: PathBuf,
}

/// A running node. Dropping it kills the process.
pub struct NodeProcess {
    index: usize,
    child: Child,
    log: PathBuf,
    pub api: Api,
}

impl NodeProcess {
    /// Starts the process and waits until its control API is up.
    pub fn start(launch: &Launch) -> Result<NodeProcess, Error> {
        let _ = fs::remove_file(launch.data_dir.join("api.addr"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(Error::io(format!("cannot open {}", launch.log.display())))?;
        let mut command = match &launch.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                // `ip netns exec` execs the program: the pid is the node's.
                c.args(["netns", "exec", ns]).arg(&launch.bin);
                c
            }
            None => Command::new(&launch.bin),
        };
        let remote = !launch.api_listen.starts_with("127.");
        command
            .arg("node")
            .arg("--data-dir")
            .arg(&launch.data_dir)
            .args(["--listen", &launch.listen])
            .args(["--api-listen", &launch.api_listen])
            .args(["--api-allow-remote", if remote { "true" } else { "false" }])
            .args(["--mdns", "false"]);
        for b in &launch.bootstrap {
            command.args(["--bootstrap", b]);
        }
        command
            .env(
                "RUST_LOG",
                std::env::var("MUTUA_TESTNET_NODE_LOG")
                    .unwrap_or_else(|_| "info,libp2p=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = command
            .spawn()
            .map_err(Error::io(format!("cannot start {}", launch.bin.display())))?;
        cleanup::add_pid(child.id());
        let mut node = NodeProcess {
            index: launch.index,
            child,
            log: launch.log.clone(),
            api: Api::new(launch.index, String::new(), String::new()),
        };
        let addr_file = launch.data_dir.join("api.addr");
        let addr = wait::until("the node's control API", START_DEADLINE, || {
            node.check_alive()?;
            Ok(fs::read_to_string(&addr_file).ok())
        })?;
        let token = fs::read_to_string(launch.data_dir.join("api.token"))
            .map_err(Error::io("cannot read api.token"))?;
        node.api = Api::new(
            launch.index,
            format!("http://{}", addr.trim()),
            token.trim().to_owned(),
        );
        Ok(node)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(Error::NodeExited {
                node: self.index,
                status: status.to_string(),
                log: log_tail(&self.log, 20),
            }),
            _ => Ok(()),
        }
    }

    /// Resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// SIGKILL: a crash, nothing flushed beyond what the node already did.
    pub fn kill(mut self) {
        self.reap_now();
    }

    /// SIGTERM, then waits for a clean exit (SIGKILL after the deadline).
    pub fn stop(mut self) -> Result<(), Error> {
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < START_DEADLINE {
            if let Ok(Some(_)) = self.child.try_wait() {
                cleanup::remove_pid(self.child.id());
                return Ok(());
            }
            std::thread::sleep(wait::POLL);
        }
        self.reap_now();
        Err(Error::Timeout {
            what: format!("node {} to stop after SIGTERM", self.index),
            after: START_DEADLINE,
        })
    }

    fn reap_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        cleanup::remove_pid(self.child.id());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.reap_now();
        }
        cleanup::remove_pid(self.child.id());
    }
}

/// The last `n` lines of a log file.
pub fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A node's control API over HTTP, with its token.
#[derive(Clone)]
pub struct Api {
    node: usize,
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(node: usize, base: String, token: String) -> Api {
        Api {
            node,
            base,
            token,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(HTTP_TIMEOUT))
                .build()
                .into(),
        }
    }

    /// `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), Error> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(body),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            _ => self.agent.get(&url).header("Authorization", &auth).call(),
        };
        let http = |message: String| Error::Http {
            node: self.node,
            method,
            path: path.to_owned(),
            message,
        };
        let mut response = result.map_err(|e| http(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| http(e.to_string()))?;
        Ok((status, text))
    }

    fn json(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, Error> {
        let (status, text) = self.send(method, path, body)?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(Error::Api {
                node: self.node,
                method,
                path: path.to_owned(),
                status,
                body: text,
            });
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Http {
                node: self.node,
                method,
                path: path.to_owned(),
                message: format!("invalid JSON: {e}"),
            })
    }

    fn some(&self, method: &'static str, path: &str, v: Option<Value>) -> Result<Value, Error> {
        v.ok_or_else(|| Error::Api {
            node: self.node,
            method,
            path: path.to_owned(),
            status: 404,
            body: "not found".into(),
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, Error> {
        let v = self.json("GET", path, None)?;
        self.some("GET", path, v)
    }

    /// GET that maps 404 to `None`.
    pub fn get_opt(&self, path: &str) -> Result<Option<Value>, Error> {
        self.json("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let v = self.json("POST", path, Some(body))?;
        self.some("POST", path, v)
    }

    pub fn delete(&self, path: &str) -> Result<Value, Error> {
        let v = self.json("DELETE", path, None)?;
        self.some("DELETE", path, v)
    }

    pub fn status(&self) -> Result<Value, Error> {
        self.get("/v1/status")
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> Result<String, Error> {
        let (status, text) = self.send("GET", "/metrics", None)?;
        if status == 200 {
            Ok(text)
        } else {
            Err(Error::Api {
                node: self.node,
                method: "GET",
                path: "/metrics".into(),
                status,
                body: text,
            })
        }
    }
}
