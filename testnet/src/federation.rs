//! A running federation: data directories, node processes, admission.
//!
//! Node 0 holds the anchor key; every node hosts one publisher. Each
//! `config.toml` gets a short sync interval. Node 0 starts first, then the
//! others, each bootstrapping from node 0 and from one earlier node drawn by
//! the seed. Once the gossip mesh is up, every collectivity is admitted
//! through node 0's `POST /v1/certificates`; certificates travel by gossip,
//! and the harness imports any that gossip missed after a while, saying so
//! in the report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mutua_api::{ImportRequest, IssueRequest};
use mutua_node::config::Config;
use mutua_node::datadir::{self, InitOptions};
use mutua_protocol::PublicKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::net::{Namespaces, NetMode};
use crate::node::{Launch, NodeProcess};
use crate::records::{self, Identity};
use crate::relay::{Conditions, Relay};
use crate::{cleanup, wait, Error};

/// How long the federation may take to form (mesh, admissions) on an idle
/// machine; [`wait::scaled`] stretches it on a loaded one.
pub const FORM_DEADLINE: Duration = Duration::from_secs(120);
/// How long certificates may take to arrive by gossip before the harness
/// delivers the missing ones by import (as an operator would by file).
const ADMISSION_GOSSIP_DEADLINE: Duration = Duration::from_secs(15);
const P2P_PORT: u16 = 4100;
const API_PORT: u16 = 4180;

/// What to start.
#[derive(Clone, Debug)]
pub struct TestnetOptions {
    /// The `mutua-testnet` binary, re-executed as `… node` for each node.
    pub bin: PathBuf,
    pub nodes: usize,
    /// Seeds the choice of collectivities (and, in scenarios, everything else).
    pub seed: u64,
    pub net: NetMode,
    /// Keep the data directories and logs after the run.
    pub keep: bool,
    /// Keep them if the federation does not form (the error names them).
    pub keep_failed: bool,
    pub federation: String,
    /// Anti-entropy interval written to each node's config.toml.
    pub sync_interval_secs: u64,
    /// Hosted collectivities, node by node; seeded communes when `None`.
    pub identities: Option<Vec<Identity>>,
    /// Every connection between nodes goes through the harness's relay
    /// ([`crate::relay`]; namespaces only).
    pub relayed: bool,
    /// Each node's clock offset in seconds (libfaketime); none if empty.
    pub clock_offsets_secs: Vec<i64>,
    /// Every node serves its web page on a loopback port (the demo).
    pub web: bool,
    /// Gossipsub's mesh and gossip degrees, written to each node's config.toml.
    pub gossip: mutua_node::net::GossipTuning,
}

impl TestnetOptions {
    pub fn new(bin: impl Into<PathBuf>, nodes: usize, seed: u64) -> TestnetOptions {
        TestnetOptions {
            bin: bin.into(),
            nodes,
            seed,
            net: NetMode::Auto,
            keep: false,
            keep_failed: false,
            federation: "testnet".into(),
            sync_interval_secs: 2,
            identities: None,
            relayed: false,
            clock_offsets_secs: Vec::new(),
            web: false,
            gossip: Default::default(),
        }
    }
}

/// One node of the federation, running or not.
pub struct Member {
    pub identity: Identity,
    /// The hosted publisher's key.
    pub key: PublicKey,
    pub peer_id: String,
    launch: Launch,
    process: Option<NodeProcess>,
}

impl Member {
    pub fn data_dir(&self) -> &Path {
        &self.launch.data_dir
    }
    pub fn log(&self) -> &Path {
        &self.launch.log
    }
    pub fn process(&self) -> Option<&NodeProcess> {
        self.process.as_ref()
    }

    /// The hosted publisher's secret key, read from the data directory:
    /// for the harness to sign as this member (a rogue member, a revoked
    /// one). `node` names the member in errors.
    pub fn signing_key(&self, node: usize) -> Result<mutua_protocol::SecretKey, Error> {
        let init = |message: String| Error::Init { node, message };
        let dir = datadir::DataDir::open(self.data_dir()).map_err(|e| init(e.to_string()))?;
        let publishers = dir.publishers().map_err(|e| init(e.to_string()))?;
        publishers
            .into_iter()
            .next()
            .map(|p| p.key)
            .ok_or_else(|| init("no publisher key".into()))
    }
}

/// A federation of node processes. Dropping it kills every node, deletes the
/// namespaces and removes the directory (unless kept).
pub struct Testnet {
    // Field order is drop order: processes, relay, namespaces, files.
    members: Vec<Member>,
    relay: Option<Relay>,
    namespaces: Option<Namespaces>,
    mode: NetMode,
    dir: PathBuf,
    keep: bool,
    /// Hex envelopes of every certificate issued at admission.
    pub certificates: Vec<String>,
    /// Things a report should say (fallbacks taken).
    pub notes: Vec<String>,
    /// Nodes currently cut off (namespaces) or stopped (loopback outage).
    partitioned: Vec<usize>,
}

impl Testnet {
    /// Initialises the data directories, starts every node, waits for the
    /// gossip mesh, and admits every hosted collectivity from node 0.
    pub fn start(options: &TestnetOptions) -> Result<Testnet, Error> {
        let n = options.nodes.max(1);
        let mode = options.net.resolve()?;
        if options.relayed && mode != NetMode::Namespaces {
            return Err(Error::Netns(
                "the relay needs network namespaces (root and iproute2)".into(),
            ));
        }
        let namespaces = match mode {
            NetMode::Namespaces => Some(Namespaces::create(n, options.relayed)?),
            _ => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("mutua-testnet-")
            .tempdir()
            .map_err(Error::io("cannot create a temporary directory"))?
            .keep();
        if !options.keep {
            cleanup::add_dir(dir.clone());
        }
        let mut rng = StdRng::seed_from_u64(options.seed);
        let identities = match &options.identities {
            Some(ids) => ids.clone(),
            None => records::seeded_identities(n, &mut rng),
        };
        let mut net = Testnet {
            members: Vec::with_capacity(n),
            relay: None,
            namespaces,
            mode,
            dir,
            keep: options.keep,
            certificates: Vec::new(),
            notes: Vec::new(),
            partitioned: Vec::new(),
        };
        net.init_members(options, identities.into_iter().take(n).collect())?;
        if let (true, Some(ns)) = (options.relayed, &net.namespaces) {
            let targets = (0..n)
                .map(|i| SocketAddr::from((ns.api_ip(i), P2P_PORT)))
                .collect();
            net.relay = Some(Relay::start(
                ns.data_gateway(),
                ns.data_ip(0),
                targets,
                Conditions::clear(n),
                options.seed,
            )?);
        }
        let formed = net
            .launch_all(&mut rng)
            .and_then(|()| net.admit_all(!options.clock_offsets_secs.is_empty()));
        match formed {
            Ok(()) => Ok(net),
            Err(e) if options.keep_failed && !cleanup::interrupted() => Err(Error::Kept {
                dir: net.keep_dir(),
                source: Box::new(e),
            }),
            Err(e) => Err(e),
        }
    }

    /// Keeps the data directories and logs when the testnet is dropped
    /// (a failed run, to read its logs); returns where they are.
    pub fn keep_dir(&mut self) -> PathBuf {
        self.keep = true;
        cleanup::remove_dir(&self.dir);
        self.dir.clone()
    }

    fn init_members(&mut self, options: &TestnetOptions, ids: Vec<Identity>) -> Result<(), Error> {
        let mut anchor = None;
        for (i, identity) in ids.into_iter().enumerate() {
            let data_dir = self.dir.join(format!("node{i}"));
            let report = datadir::init(
                &data_dir,
                &InitOptions {
                    federation: options.federation.clone(),
                    anchors: anchor.iter().copied().collect(),
                    new_anchor: i == 0,
                    publishers: vec![identity.publisher.clone()],
                    network: Default::default(),
                },
            )
            .map_err(|e| Error::Init {
                node: i,
                message: e.to_string(),
            })?;
            if i == 0 {
                anchor = report.anchor;
            }
            let anchor = anchor.ok_or(Error::Init {
                node: 0,
                message: "no anchor key was created".into(),
            })?;
            // Our own config: a short anti-entropy interval for tests.
            let mut config = Config::default();
            config.federation.name = options.federation.clone();
            config.federation.anchors = vec![anchor.to_string()];
            config.network.sync_interval_secs = options.sync_interval_secs;
            config.network.gossipsub = options.gossip.clone();
            let text = toml::to_string(&config).map_err(|e| Error::Init {
                node: i,
                message: e.to_string(),
            })?;
            std::fs::write(data_dir.join("config.toml"), text)
                .map_err(Error::io("cannot write config.toml"))?;
            let (listen, api_listen, netns) = match &self.namespaces {
                // Relayed: reached only through the relay (see crate::relay).
                Some(ns) if options.relayed => (
                    format!("/ip4/{}/tcp/{P2P_PORT}", ns.api_ip(i)),
                    format!("{}:{API_PORT}", ns.api_ip(i)),
                    Some(ns.netns(i)),
                ),
                Some(ns) => (
                    format!("/ip4/{}/tcp/{P2P_PORT}", ns.data_ip(i)),
                    format!("{}:{API_PORT}", ns.api_ip(i)),
                    Some(ns.netns(i)),
                ),
                None => ("/ip4/127.0.0.1/tcp/0".into(), "127.0.0.1:0".into(), None),
            };
            self.members.push(Member {
                key: report.publishers[0].1,
                peer_id: report.peer_id.to_string(),
                launch: Launch {
                    bin: options.bin.clone(),
                    index: i,
                    log: self.dir.join(format!("node{i}.log")),
                    data_dir,
                    netns,
                    listen,
                    api_listen,
                    bootstrap: Vec::new(),
                    clock_offset_secs: options.clock_offsets_secs.get(i).copied().unwrap_or(0),
                    web: options.web,
                    cgroup: None,
                },
                identity,
                process: None,
            });
        }
        Ok(())
    }

    /// Node 0 first; every other node bootstraps from node 0 and from one
    /// earlier node drawn by the seed, so the overlay is not a star.
    fn launch_all(&mut self, rng: &mut StdRng) -> Result<(), Error> {
        for i in 0..self.members.len() {
            if i > 0 {
                let mut boot = vec![self.p2p_addr(0)?];
                let j = rng.gen_range(0..i);
                if j != 0 {
                    boot.push(self.p2p_addr(j)?);
                }
                self.members[i].launch.bootstrap = boot;
            }
            let process = NodeProcess::start(&self.members[i].launch)?;
            if self.namespaces.is_none() {
                // Keep the OS-chosen port across restarts: others bootstrap to it.
                let status = process.api.status()?;
                let addr = status.network.listen_addrs.into_iter().next();
                self.members[i].launch.listen = addr.unwrap_or_default();
            }
            self.members[i].process = Some(process);
        }
        if self.members.len() > 1 {
            self.wait_for_mesh(&(0..self.members.len()).collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Waits until each of `nodes` has at least one peer on the topic.
    pub fn wait_for_mesh(&self, nodes: &[usize]) -> Result<(), Error> {
        let deadline = wait::scaled(FORM_DEADLINE);
        // The nodes still without a mesh peer at the last poll, and their
        // connections: a timeout names them (a rare set-up hang, not load).
        let mut alone = Vec::new();
        let result = wait::until("every node to join the gossip mesh", deadline, || {
            alone.clear();
            for &i in nodes {
                let network = self.api(i)?.status()?.network;
                if network.mesh_peers == 0 {
                    alone.push(format!(
                        "node {i} ({} connected, {} on the topic)",
                        network.connected_peers, network.topic_peers
                    ));
                }
            }
            Ok(alone.is_empty().then_some(()))
        });
        match result {
            Err(Error::Timeout { what, after }) => Err(Error::Timeout {
                what: format!(
                    "{what}; no mesh peer: {}{}",
                    alone.join(", "),
                    self.mesh_views(nodes)
                ),
                after,
            }),
            other => other,
        }
    }

    /// For each of `nodes` without a mesh peer, how it sees its peers and
    /// how they see it (in mesh, subscribed, score): why gossipsub left it
    /// alone.
    fn mesh_views(&self, nodes: &[usize]) -> String {
        let index = |peer_id: &str| self.members.iter().position(|m| m.peer_id == peer_id);
        let view = |from: usize, p: &mutua_api::Peer| {
            format!(
                "node {from} sees {} (in mesh {}, {}, subscribed {}, score {:?}, since {:?})",
                index(&p.peer_id).map_or(p.peer_id.clone(), |j| format!("node {j}")),
                p.in_mesh,
                p.gossipsub.as_deref().unwrap_or("no gossipsub state"),
                p.subscribed,
                p.score,
                p.connected_since,
            )
        };
        let mut lines = Vec::new();
        for &i in nodes {
            let Ok(peers) = self.api(i).and_then(|api| api.peers()) else {
                continue;
            };
            if peers.peers.iter().any(|p| p.in_mesh) {
                continue;
            }
            for p in &peers.peers {
                lines.push(view(i, p));
                let back = index(&p.peer_id)
                    .and_then(|j| Some((j, self.api(j).and_then(|api| api.peers()).ok()?)));
                if let Some((j, theirs)) = back {
                    let me = &self.members[i].peer_id;
                    match theirs.peers.iter().find(|q| &q.peer_id == me) {
                        Some(q) => lines.push(view(j, q)),
                        None => lines.push(format!("node {j} is not connected to node {i}")),
                    }
                }
            }
        }
        lines.iter().map(|l| format!("\n  {l}")).collect()
    }

    /// With `skewed` clocks, certificates are valid from an hour ago: by
    /// default one is valid from the issuing node's now, which a node whose
    /// clock is behind sees as not yet valid (`certificate_expired`) until
    /// its clock catches up.
    fn admit_all(&mut self, skewed: bool) -> Result<(), Error> {
        let an_hour_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(3600);
        let admissions: Vec<IssueRequest> = self
            .members
            .iter()
            .map(|m| IssueRequest {
                valid_from: skewed.then_some(an_hour_ago),
                ..m.identity.admission(m.key)
            })
            .collect();
        for request in admissions {
            let issued = self.api(0)?.issue(&request)?;
            self.certificates.push(issued.envelope);
        }
        let all: Vec<usize> = (0..self.members.len()).collect();
        let want = self.certificates.len() as u64;
        let by_gossip = wait::until(
            "certificates to reach every node",
            ADMISSION_GOSSIP_DEADLINE,
            || Ok(self.lagging_admission(&all, want)?.is_empty().then_some(())),
        );
        match by_gossip {
            Ok(()) => {}
            Err(Error::Timeout { .. }) => {
                let lagging = self.lagging_admission(&all, want)?;
                for &i in &lagging {
                    self.api(i)?.import(&ImportRequest {
                        records: self.certificates.clone(),
                    })?;
                }
                self.notes.push(format!(
                    "certificates imported on {} node(s) that gossip had not reached",
                    lagging.len()
                ));
                wait::until("imported certificates", wait::scaled(FORM_DEADLINE), || {
                    Ok(self.lagging_admission(&all, want)?.is_empty().then_some(()))
                })?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn lagging_admission(&self, nodes: &[usize], want: u64) -> Result<Vec<usize>, Error> {
        let mut lagging = Vec::new();
        for &i in nodes {
            let s = self.api(i)?.status()?;
            let member = s
                .publishers
                .first()
                .is_some_and(|p| p.membership == "member");
            if !member || s.store.certificates < want {
                lagging.push(i);
            }
        }
        Ok(lagging)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn mode(&self) -> NetMode {
        self.mode
    }

    /// The directory holding every node's data directory and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn member(&self, i: usize) -> &Member {
        &self.members[i]
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Where node `i` is reached by peers, with its peer id.
    pub fn p2p_addr(&self, i: usize) -> Result<String, Error> {
        let m = &self.members[i];
        if let Some(relay) = &self.relay {
            let addr = relay.addr(i);
            return Ok(format!(
                "/ip4/{}/tcp/{}/p2p/{}",
                addr.ip(),
                addr.port(),
                m.peer_id
            ));
        }
        if m.launch.listen.ends_with("/tcp/0") {
            return Err(Error::Init {
                node: i,
                message: "not started yet".into(),
            });
        }
        Ok(format!("{}/p2p/{}", m.launch.listen, m.peer_id))
    }

    /// The control API of running node `i`.
    pub fn api(&self, i: usize) -> Result<&crate::node::Api, Error> {
        self.members[i]
            .process
            .as_ref()
            .map(|p| &p.api)
            .ok_or(Error::NodeExited {
                node: i,
                status: "stopped by the harness".into(),
                log: String::new(),
            })
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.members[i].process.is_some()
    }

    /// Indices of the running nodes.
    pub fn up(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.is_up(i)).collect()
    }

    /// SIGKILL node `i` (a crash).
    pub fn kill(&mut self, i: usize) {
        if let Some(p) = self.members[i].process.take() {
            p.kill();
        }
    }

    /// SIGTERM node `i` and wait for its clean exit.
    pub fn stop(&mut self, i: usize) -> Result<(), Error> {
        match self.members[i].process.take() {
            Some(p) => p.stop(),
            None => Ok(()),
        }
    }

    /// Starts node `i` again with the same data, addresses and bootstrap list.
    pub fn restart(&mut self, i: usize) -> Result<(), Error> {
        if self.members[i].process.is_none() {
            self.members[i].process = Some(NodeProcess::start(&self.members[i].launch)?);
        }
        Ok(())
    }

    /// Checks that every node the harness believes running still is.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        for m in &mut self.members {
            if let Some(p) = m.process.as_mut() {
                p.check_alive()?;
            }
        }
        Ok(())
    }

    /// Cuts `group` off from the others. With namespaces, a real partition
    /// (both sides keep running); on loopback, the group is stopped: an
    /// outage, which the returned text says.
    pub fn partition(&mut self, group: &[usize]) -> Result<String, Error> {
        self.partitioned = group.to_vec();
        match self.namespaces.as_mut() {
            Some(ns) => {
                ns.partition(group)?;
                Ok(format!(
                    "partition: {} node(s) moved to a separate bridge",
                    group.len()
                ))
            }
            None => {
                for &i in group {
                    self.stop(i)?;
                }
                Ok(format!(
                    "loopback fallback: {} node(s) stopped (an outage, not a partition: the cut-off group cannot publish meanwhile)",
                    group.len()
                ))
            }
        }
    }

    /// Reconnects (or restarts) the partitioned group.
    pub fn heal(&mut self) -> Result<(), Error> {
        let group = std::mem::take(&mut self.partitioned);
        match self.namespaces.as_mut() {
            Some(ns) => ns.heal(),
            None => {
                for i in group {
                    self.restart(i)?;
                }
                Ok(())
            }
        }
    }

    /// The topic and the nodes' data-plane addresses, for the rogue client.
    pub fn topic(&self) -> Result<String, Error> {
        Ok(self.api(0)?.status()?.network.topic)
    }

    /// The relay between the nodes, if the testnet is relayed.
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// A description of the network, for reports.
    pub fn describe_network(&self) -> String {
        match &self.namespaces {
            Some(ns) => ns.describe(),
            None => "loopback (127.0.0.1), one TCP port per node".into(),
        }
    }

    /// Waits (with a deadline) until `condition` holds; the nodes are
    /// checked for unexpected exits at each poll.
    pub fn wait(
        &mut self,
        what: &str,
        deadline: Duration,
        mut condition: impl FnMut(&Testnet) -> Result<bool, Error>,
    ) -> Result<Duration, Error> {
        let start = Instant::now();
        wait::until(what, deadline, || {
            self.check_alive()?;
            Ok(condition(self)?.then_some(()))
        })?;
        Ok(start.elapsed())
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.process.take();
        }
        self.namespaces.take();
        if self.keep {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
            cleanup::remove_dir(&self.dir);
        }
    }
}
