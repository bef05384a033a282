//! Where the nodes' traffic goes.
//!
//! * [`NetMode::Loopback`]: every node on 127.0.0.1 with its own ports. Works
//!   anywhere; a "partition" can only be simulated by stopping a group of
//!   nodes (an outage, reported as such).
//! * [`NetMode::Namespaces`] (Linux, root, iproute2): one network namespace
//!   per node with two veth links. The *data* link (10.77.k.x/24) joins a
//!   bridge in the root namespace and carries libp2p; the *control* link
//!   (10.78.k.x/24) joins a second bridge and carries only the control API,
//!   so the harness can drive both sides of a partition. A partition moves
//!   group B's data links to a third, unaddressed bridge: A and B can no
//!   longer reach each other, each group still reaches itself; healing moves
//!   them back. No traffic leaves the root namespace's own bridges: nodes
//!   have no default route and forwarding is not touched.
//!
//! Neither mode injects delay or loss (no `tc netem`): the figures are those
//! of a LAN-like network.
//!
//! Each run claims its subnet `k` with a lock file held for its life
//! ([`claim_subnet`]), so concurrent campaigns never share addresses.
//! Names carry a per-run prefix `mt<pid hex>g<k hex>` (interface names are
//! limited to 15 bytes), so leftovers of a killed run are recognised by their
//! dead pid and removed at the next start ([`remove_leftovers`]).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cleanup, Error};

/// The most nodes in one namespaced run (addresses .2 to .251 of a /24).
pub const MAX_NAMESPACED_NODES: usize = 250;

/// How nodes are connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetMode {
    /// Namespaces when running as root with `ip` available, else loopback.
    Auto,
    /// Every node on 127.0.0.1.
    Loopback,
    /// One network namespace per node (root and iproute2 required).
    Namespaces,
}

impl NetMode {
    /// The mode to use: `Auto` becomes one of the two others.
    pub fn resolve(self) -> Result<NetMode, Error> {
        match self {
            NetMode::Loopback => Ok(NetMode::Loopback),
            NetMode::Namespaces => namespaces_available()
                .map(|()| NetMode::Namespaces)
                .map_err(Error::Netns),
            NetMode::Auto => Ok(match namespaces_available() {
                Ok(()) => NetMode::Namespaces,
                Err(_) => NetMode::Loopback,
            }),
        }
    }
}

/// Whether namespaces can be used here, or why not.
pub fn namespaces_available() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces need Linux".into());
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Err("the kernel has no network namespaces".into());
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        });
    if uid.as_deref() != Some("0") {
        return Err("network namespaces need root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("the `ip` command (iproute2) is missing".into()),
    }
}

fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::Netns(format!("cannot run ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Netns(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs `commands` (one `ip` command a line) inside namespace `ns`: one
/// process for all of them.
fn ip_batch(ns: &str, commands: &str) -> Result<(), Error> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::Netns(format!("ip -batch file: {e}"));
    let mut file = tempfile::NamedTempFile::new().map_err(io)?;
    file.write_all(commands.as_bytes()).map_err(io)?;
    let path = file.path().to_string_lossy().into_owned();
    ip(&["-n", ns, "-batch", &path])
}

fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The pid encoded in a name made by this module, if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("mt")?;
    let (pid, _) = rest.split_once('g')?;
    u32::from_str_radix(pid, 16).ok()
}

/// Deletes namespaces and links left by runs whose process is gone.
pub fn remove_leftovers() {
    let dead =
        |name: &str| owner_pid(name).is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
    for line in ip_output(&["-o", "link", "show"]).lines() {
        // "12: mt1a2bg0d3@if2: <…>" — the name, without the peer suffix.
        if let Some(name) = line
            .split(": ")
            .nth(1)
            .map(|n| n.split('@').next().unwrap_or(n))
        {
            if dead(name) {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
    for line in ip_output(&["netns", "list"]).lines() {
        if let Some(name) = line.split_whitespace().next() {
            if dead(name) {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

/// Where runs claim their subnets: see [`claim_subnet`].
fn subnet_lock_dir() -> PathBuf {
    let run = PathBuf::from("/run/mutua-testnet");
    if std::fs::create_dir_all(&run).is_ok() {
        return run;
    }
    let tmp = std::env::temp_dir().join("mutua-testnet-subnets");
    let _ = std::fs::create_dir_all(&tmp);
    tmp
}

/// A third octet `k` (10.77.k.0/24 and 10.78.k.0/24) held by this run:
/// an exclusive lock on `subnet-<k>.lock`, released when the claim is
/// dropped or its process dies (even by SIGKILL).
pub struct SubnetClaim {
    subnet: u8,
    _lock: File,
}

impl SubnetClaim {
    pub fn subnet(&self) -> u8 {
        self.subnet
    }
}

/// Claims a subnet no other run holds, across processes (and threads: a
/// lock belongs to one open file, not to a process), skipping those for
/// which `in_use` is true (addresses already present: leftovers, or a run
/// of an older binary that took no lock). The highest free one: older
/// binaries took the lowest, so the two never meet. Lock files are never
/// deleted (deleting one a run holds would let a second run lock a new
/// file of the same name).
pub fn claim_subnet(dir: &Path, in_use: impl Fn(u8) -> bool) -> Result<SubnetClaim, Error> {
    let io = |e: std::io::Error| Error::Netns(format!("subnet lock in {}: {e}", dir.display()));
    for k in (1..=250u8).rev() {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("subnet-{k}.lock")))
            .map_err(io)?;
        // fs2's flock, named in full (std's own needs Rust 1.89).
        match fs2::FileExt::try_lock_exclusive(&file) {
            // Addresses without a lock: leftovers, or an older binary's run.
            Ok(()) if !in_use(k) => {
                return Ok(SubnetClaim {
                    subnet: k,
                    _lock: file,
                })
            }
            Ok(()) => {}
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => {}
            Err(e) => return Err(io(e)),
        }
    }
    Err(Error::Netns(format!(
        "no free 10.77.k.0/24 subnet (every lock in {} is held or its addresses are in use)",
        dir.display()
    )))
}

/// One namespace per node, the bridges, and the links between them.
/// Dropping it deletes them all.
pub struct Namespaces {
    prefix: String,
    subnet: u8,
    /// Released once Drop has deleted every link (fields drop after it).
    _claim: SubnetClaim,
    nodes: usize,
    partitioned: BTreeSet<usize>,
    /// Control ports isolated from each other (only the root namespace
    /// reaches a node's control address): see [`Namespaces::create`].
    isolate_control: bool,
}

impl Namespaces {
    /// Creates the bridges and, for each node, a namespace with its links.
    /// With `isolate_control`, the control bridge's ports cannot reach each
    /// other: a node listening on its control address is reached only from
    /// the root namespace (by the harness and the chaos relay).
    pub fn create(nodes: usize, isolate_control: bool) -> Result<Namespaces, Error> {
        if nodes > MAX_NAMESPACED_NODES {
            return Err(Error::Netns(format!(
                "at most {MAX_NAMESPACED_NODES} namespaced nodes"
            )));
        }
        remove_leftovers();
        let addrs = ip_output(&["-o", "-4", "addr", "show"]);
        let claim = claim_subnet(&subnet_lock_dir(), |k| {
            addrs.contains(&format!("10.77.{k}.")) || addrs.contains(&format!("10.78.{k}."))
        })?;
        let subnet = claim.subnet();
        // Named after the subnet, unique among the live runs (a run counter
        // could wrap while a long run of a `--jobs` campaign still lives).
        let prefix = format!("mt{:x}g{subnet:02x}", std::process::id());
        let mut ns = Namespaces {
            prefix,
            subnet,
            _claim: claim,
            nodes: 0,
            partitioned: BTreeSet::new(),
            isolate_control,
        };
        // From here on, Drop removes whatever was created.
        ns.setup(nodes)?;
        Ok(ns)
    }

    fn bridge(&self, which: &str) -> String {
        format!("{}b{which}", self.prefix)
    }

    /// The namespace of node `i`.
    pub fn netns(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    /// Node `i`'s libp2p address.
    pub fn data_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, (i + 2) as u8)
    }

    /// The root namespace's address on the data bridge.
    pub fn data_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, 1)
    }

    /// Node `i`'s control API address.
    pub fn api_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 78, self.subnet, (i + 2) as u8)
    }

    /// Node `i`'s data MAC: fixed, so that peers' neighbour entries can be
    /// written before the link exists (subnets keep runs apart).
    fn data_mac(&self, i: usize) -> String {
        format!(
            "02:77:{:02x}:00:{:02x}:{:02x}",
            self.subnet,
            i >> 8,
            i & 0xff
        )
    }

    /// Permanent neighbour entries for every other node's data address.
    /// With ARP, each namespace would learn up to N−1 entries, and the
    /// kernel caps dynamic entries across all namespaces together
    /// (`net.ipv4.neigh.default.gc_thresh3`, 1024 by default): past about
    /// 30 nodes new connections hung. Permanent entries are not counted.
    fn add_neighbours(&self, nodes: usize) -> Result<(), Error> {
        for i in 0..nodes {
            let batch: String = (0..nodes)
                .filter(|&j| j != i)
                .map(|j| {
                    format!(
                        "neigh replace {} lladdr {} dev eth0 nud permanent\n",
                        self.data_ip(j),
                        self.data_mac(j)
                    )
                })
                .collect();
            ip_batch(&self.netns(i), &batch)?;
        }
        Ok(())
    }

    fn new_link(&self, name: &str, args: &[&str]) -> Result<(), Error> {
        let mut full = vec!["link", "add", name];
        full.extend_from_slice(args);
        ip(&full)?;
        cleanup::add_link(name);
        Ok(())
    }

    fn setup(&mut self, nodes: usize) -> Result<(), Error> {
        let k = self.subnet;
        for (which, addr) in [
            ("0", Some(format!("10.77.{k}.1/24"))),
            ("1", None),
            ("m", Some(format!("10.78.{k}.1/24"))),
        ] {
            let bridge = self.bridge(which);
            self.new_link(&bridge, &["type", "bridge"])?;
            if let Some(addr) = addr {
                ip(&["addr", "add", &addr, "dev", &bridge])?;
            }
            ip(&["link", "set", &bridge, "up"])?;
        }
        for i in 0..nodes {
            let ns = self.netns(i);
            ip(&["netns", "add", &ns])?;
            cleanup::add_namespace(&ns);
            self.nodes = i + 1;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            for (kind, inner, bridge, addr) in [
                ("d", "eth0", self.bridge("0"), self.data_ip(i)),
                ("m", "mgmt0", self.bridge("m"), self.api_ip(i)),
            ] {
                let host = format!("{}{kind}{i}", self.prefix);
                let mac = self.data_mac(i);
                let mut args = vec!["type", "veth", "peer", "name", inner];
                if kind == "d" {
                    args.extend(["address", mac.as_str()]);
                }
                args.extend(["netns", ns.as_str()]);
                self.new_link(&host, &args)?;
                ip(&["link", "set", &host, "master", &bridge, "up"])?;
                if kind == "m" && self.isolate_control {
                    ip(&[
                        "link",
                        "set",
                        "dev",
                        &host,
                        "type",
                        "bridge_slave",
                        "isolated",
                        "on",
                    ])?;
                }
                ip(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    inner,
                ])?;
                ip(&["-n", &ns, "link", "set", inner, "up"])?;
            }
        }
        self.add_neighbours(nodes)
    }

    /// Cuts `group` off from the other nodes (and from the harness's data
    /// address); the control API stays reachable.
    pub fn partition(&mut self, group: &[usize]) -> Result<(), Error> {
        for &i in group {
            ip(&[
                "link",
                "set",
                &format!("{}d{i}", self.prefix),
                "master",
                &self.bridge("1"),
            ])?;
            self.partitioned.insert(i);
        }
        // Established TCP connections would otherwise survive the cut
        // (libp2p's ping does not close them) and deliver everything at
        // heal: abort those crossing it, on both sides (`ss -K`).
        for i in 0..self.nodes {
            for j in 0..self.nodes {
                if self.partitioned.contains(&i) != self.partitioned.contains(&j) {
                    let _ = Command::new("ip")
                        .args(["netns", "exec", &self.netns(i), "ss", "-K", "dst"])
                        .arg(self.data_ip(j).to_string())
                        .output();
                }
            }
        }
        Ok(())
    }

    /// Reconnects every partitioned node.
    pub fn heal(&mut self) -> Result<(), Error> {
        for i in std::mem::take(&mut self.partitioned) {
            ip(&[
                "link",
                "set",
                &format!("{}d{i}", self.prefix),
                "master",
                &self.bridge("0"),
            ])?;
        }
        Ok(())
    }

    /// A human description (for reports).
    pub fn describe(&self) -> String {
        format!(
            "network namespaces {}n0..{} on bridge {} (10.77.{}.0/24; control API on 10.78.{}.0/24)",
            self.prefix,
            self.nodes.saturating_sub(1),
            self.bridge("0"),
            self.subnet,
            self.subnet
        )
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it and, with
        // them, their peers in the root namespace; bridges go explicitly.
        for i in 0..self.nodes {
            let ns = self.netns(i);
            let _ = ip(&["netns", "del", &ns]);
            cleanup::remove_namespace(&ns);
            for kind in ["d", "m"] {
                let host = format!("{}{kind}{i}", self.prefix);
                let _ = Command::new("ip").args(["link", "del", &host]).output();
                cleanup::remove_link(&host);
            }
        }
        for which in ["0", "1", "m"] {
            let bridge = self.bridge(which);
            let _ = ip(&["link", "del", &bridge]);
            cleanup::remove_link(&bridge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    #[test]
    fn threads_racing_for_subnets_each_get_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(8);
        let claims: Vec<SubnetClaim> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        claim_subnet(dir.path(), |_| false).unwrap()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let subnets: BTreeSet<u8> = claims.iter().map(SubnetClaim::subnet).collect();
        assert_eq!(
            subnets,
            (243..=250).collect(),
            "the eight highest, once each"
        );
        drop(claims);
        assert_eq!(claim_subnet(dir.path(), |_| false).unwrap().subnet(), 250);
    }

    #[test]
    fn a_subnet_with_addresses_but_no_lock_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let claim = claim_subnet(dir.path(), |k| k >= 249).unwrap();
        assert_eq!(claim.subnet(), 248);
    }

    /// Another process holding subnet 250's lock (util-linux's `flock`, as a
    /// concurrent campaign would): this one gets 249, and 250 once it died.
    #[test]
    fn a_subnet_another_process_holds_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("subnet-250.lock");
        // The shell holds the lock on fd 9 and becomes `sleep`: killing
        // the child releases it.
        let script = "exec 9>\"$1\" && flock -n 9 && echo locked && exec sleep 60";
        let child = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&lock)
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("not run: no flock command");
            return;
        };
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "locked" {
            let _ = child.wait();
            eprintln!("not run: no flock command");
            return;
        }
        let claim = claim_subnet(dir.path(), |_| false);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(claim.unwrap().subnet(), 249);
        // Its lock died with it.
        assert_eq!(claim_subnet(dir.path(), |_| false).unwrap().subnet(), 250);
    }
}
