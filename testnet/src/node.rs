//! One node process and its control API.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mutua_api::{
    Client, ClientError, ImportReport, ImportRequest, IssueRequest, ListingContent, Peers,
    Published, Record, RecordsPage, RecordsQuery, RevokeRequest, Status, WebInvitation,
    WebUserRequest, WithdrawParams,
};
use mutua_protocol::{ListingId, PublicKey, RecordHash};

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
    /// The node's clock is this many seconds off (libfaketime); 0: the real clock.
    pub clock_offset_secs: i64,
    /// Serve the web page on a loopback port (the demo).
    pub web: bool,
    /// Run inside this cgroup (its directory): the process joins it before
    /// it execs the node, so that everything the node does is charged to it.
    pub cgroup: Option<PathBuf>,
}

/// Where Debian's `libfaketime` puts its multi-threaded library.
const LIBFAKETIME: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
];

/// The libfaketime library to preload, or why there is none.
pub fn libfaketime() -> Result<&'static str, Error> {
    LIBFAKETIME
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or_else(|| Error::Init {
            node: 0,
            message: "clock skew needs libfaketime (Debian: apt-get install faketime)".into(),
        })
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
        // `ip netns exec` and the shell exec the program: the pid is the node's.
        let mut command = match (&launch.netns, &launch.cgroup) {
            (Some(ns), _) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&launch.bin);
                c
            }
            (None, Some(cgroup)) => {
                let mut c = Command::new("sh");
                c.args(["-c", r#"echo $$ > "$0/cgroup.procs" && exec "$@""#])
                    .arg(cgroup)
                    .arg(&launch.bin);
                c
            }
            (None, None) => Command::new(&launch.bin),
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
        if launch.web {
            command.args(["--web-listen", "127.0.0.1:0"]);
        }
        if launch.clock_offset_secs != 0 {
            // The wall clock only: timers and timeouts keep the real pace.
            command
                .env("LD_PRELOAD", libfaketime()?)
                .env("FAKETIME", format!("{:+}s", launch.clock_offset_secs))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
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
            api: Api::new(launch.index, String::new(), ""),
        };
        let addr_file = launch.data_dir.join("api.addr");
        let deadline = wait::scaled(START_DEADLINE);
        let addr = wait::until("the node's control API", deadline, || {
            node.check_alive()?;
            Ok(fs::read_to_string(&addr_file).ok())
        })?;
        let token = fs::read_to_string(launch.data_dir.join("api.token"))
            .map_err(Error::io("cannot read api.token"))?;
        node.api = Api::new(launch.index, format!("http://{}", addr.trim()), &token);
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

    /// CPU time used so far (user + system, /proc/<pid>/stat), in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // After the command name (in parentheses, may hold spaces): field 3
        // on; utime and stime are fields 14 and 15, in USER_HZ (100/s on Linux).
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
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

/// A node's control API through the typed client, its errors told as the
/// testnet's (which node, which route).
#[derive(Clone)]
pub struct Api {
    node: usize,
    client: Client,
}

impl Api {
    fn new(node: usize, base: String, token: &str) -> Api {
        Api {
            node,
            client: Client::with_timeout(base, token, HTTP_TIMEOUT),
        }
    }

    /// The typed client, for the routes this wrapper does not name.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `http://host:port`.
    pub fn base(&self) -> &str {
        self.client.base()
    }

    /// The answer of `method path`, a refusal or a failure as an [`Error`].
    fn answer<T>(
        &self,
        method: &'static str,
        path: impl Into<String>,
        answer: Result<T, ClientError>,
    ) -> Result<T, Error> {
        answer.map_err(|e| {
            let (node, path) = (self.node, path.into());
            match e {
                ClientError::Refused { status, refusal } => Error::Api {
                    node,
                    method,
                    path,
                    status,
                    body: refusal.to_string(),
                },
                ClientError::Http { status, body } => Error::Api {
                    node,
                    method,
                    path,
                    status,
                    body,
                },
                other => Error::Http {
                    node,
                    method,
                    path,
                    message: other.to_string(),
                },
            }
        })
    }

    pub fn status(&self) -> Result<Status, Error> {
        self.answer("GET", "/v1/status", self.client.status())
    }

    pub fn peers(&self) -> Result<Peers, Error> {
        self.answer("GET", "/v1/peers", self.client.peers())
    }

    /// One page of `GET /v1/records`.
    pub fn search(&self, query: &RecordsQuery) -> Result<RecordsPage, Error> {
        self.answer("GET", "/v1/records", self.client.search(query))
    }

    /// The record in `author`'s slot `id`; `None` if the replica has none.
    pub fn record(&self, author: &PublicKey, id: &ListingId) -> Result<Option<Record>, Error> {
        let path = format!("/v1/records/{author}/{}", id.to_hex());
        self.answer("GET", path, self.client.record(author, id))
    }

    /// Publishes `content` as the hosted `publisher`.
    pub fn publish(&self, publisher: &str, content: &ListingContent) -> Result<Published, Error> {
        let answer = self.client.publish(Some(publisher), content);
        self.answer("POST", format!("/v1/listings?as={publisher}"), answer)
    }

    /// Publishes `content` as the next version of listing `id` of the
    /// hosted `publisher`.
    pub fn update(
        &self,
        publisher: &str,
        id: &ListingId,
        content: &ListingContent,
    ) -> Result<Published, Error> {
        let answer = self.client.update(Some(publisher), id, content);
        let path = format!("/v1/listings/{}?as={publisher}", id.to_hex());
        self.answer("PUT", path, answer)
    }

    /// Withdraws listing `id` of the hosted `publisher`.
    pub fn withdraw(&self, publisher: &str, id: &ListingId) -> Result<Published, Error> {
        let params = WithdrawParams {
            publisher: Some(publisher.to_owned()),
            side: None,
        };
        let path = format!("/v1/listings/{}?as={publisher}", id.to_hex());
        self.answer("DELETE", path, self.client.withdraw(id, &params))
    }

    /// Admits a collectivity (`POST /v1/certificates`).
    pub fn issue(&self, request: &IssueRequest) -> Result<Published, Error> {
        self.answer("POST", "/v1/certificates", self.client.issue(request))
    }

    /// Revokes the certificate `hash` (`POST /v1/certificates/{hash}/revoke`).
    pub fn revoke(&self, hash: &RecordHash, request: &RevokeRequest) -> Result<Published, Error> {
        let path = format!("/v1/certificates/{}/revoke", hash.to_hex());
        self.answer("POST", path, self.client.revoke(hash, request))
    }

    /// Imports signed envelopes (`POST /v1/import`).
    pub fn import(&self, request: &ImportRequest) -> Result<ImportReport, Error> {
        self.answer("POST", "/v1/import", self.client.import(request))
    }

    /// The Prometheus text of `/metrics`.
    pub fn add_web_user(&self, request: &WebUserRequest) -> Result<WebInvitation, Error> {
        self.answer("POST", "/v1/web/users", self.client.add_web_user(request))
    }

    pub fn metrics(&self) -> Result<String, Error> {
        self.answer("GET", "/metrics", self.client.metrics())
    }
}
