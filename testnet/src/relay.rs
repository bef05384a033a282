//! A userspace TCP relay between the nodes, for the chaos scenario: `tc
//! netem` is not available here, so delay, loss, refused connections,
//! cuts and partitions are made by the harness itself.
//!
//! Every node listens where no other node can reach it (its control address,
//! on a bridge whose ports are isolated from each other); the relay listens
//! for each node `j` on the data bridge's gateway (`10.77.k.1`, a port the
//! system picks, [`Relay::addr`]) and forwards to it. Bootstrap addresses, hence
//! the addresses the DHT learns from dials, are the relay's, so every
//! libp2p connection between two nodes goes through it. The relay tells the
//! dialing node by its data address (`10.77.k.(i+2)`), so each connection
//! has a known pair `(i, j)`, and the [`Conditions`] apply per pair:
//!
//! - **delay**: every chunk is forwarded `delay(i, j)` after it was read,
//!   in order, in both directions;
//! - **loss**: TCP hides lost segments behind retransmissions, so a loss is
//!   a stall: with probability `loss`, a chunk (and what follows it) waits
//!   one more retransmission timeout ([`Conditions::stall`]);
//! - **drops**: a new connection is refused (closed at once) with
//!   probability `refuse`;
//! - **cuts** ([`Relay::cut`]): established connections aborted;
//! - **partitions** ([`Relay::partition`]): connections across two groups
//!   aborted and new ones refused until [`Relay::heal`].
//!
//! Chunks are read up to 16 KiB at a time and queued per direction in a
//! bounded channel (the reader waits when it is full, so a slow side slows
//! its sender like TCP would).

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::Error;

/// Chunks queued per direction of one connection.
const CHUNKS_IN_FLIGHT: usize = 64;
const CHUNK_BYTES: usize = 16 * 1024;

/// What the relay does to traffic (see the module documentation).
#[derive(Clone, Debug)]
pub struct Conditions {
    /// One-way delay per pair `[from][to]`.
    pub delay: Vec<Vec<Duration>>,
    /// Probability that a chunk stalls for [`Conditions::stall`].
    pub loss: f64,
    /// The stall of a lost chunk (a retransmission timeout).
    pub stall: Duration,
    /// Probability that a new connection is refused.
    pub refuse: f64,
}

impl Conditions {
    /// No delay, loss or refusal between `nodes` nodes.
    pub fn clear(nodes: usize) -> Conditions {
        Conditions {
            delay: vec![vec![Duration::ZERO; nodes]; nodes],
            loss: 0.0,
            stall: Duration::from_millis(200),
            refuse: 0.0,
        }
    }
}

struct Connection {
    from: Option<usize>,
    to: usize,
    tasks: Vec<AbortHandle>,
}

/// What the relay's tasks share.
struct Shared {
    conditions: Mutex<Conditions>,
    /// The group cut off from the others, if any.
    partition: Mutex<Option<BTreeSet<usize>>>,
    connections: Mutex<HashMap<u64, Connection>>,
    next_id: AtomicU64,
    rng: Mutex<StdRng>,
    /// Data address of node 0; node `i` is this + `i`.
    first_node: Ipv4Addr,
    /// Connections relayed, refused and aborted so far.
    relayed: AtomicU64,
    refused: AtomicU64,
    aborted: AtomicU64,
}

impl Shared {
    fn node_of(&self, addr: SocketAddr) -> Option<usize> {
        let SocketAddr::V4(v4) = addr else {
            return None;
        };
        let offset = u32::from(*v4.ip()).checked_sub(u32::from(self.first_node))?;
        Some(offset as usize)
    }

    fn across(&self, a: Option<usize>, b: usize) -> bool {
        let partition = self.partition.lock().unwrap_or_else(|e| e.into_inner());
        match (partition.as_ref(), a) {
            (Some(group), Some(a)) => group.contains(&a) != group.contains(&b),
            _ => false,
        }
    }

    fn abort_where(&self, mut doomed: impl FnMut(&Connection) -> bool) -> usize {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let mut count = 0;
        connections.retain(|_, c| {
            if doomed(c) {
                for task in &c.tasks {
                    task.abort();
                }
                count += 1;
                false
            } else {
                true
            }
        });
        self.aborted.fetch_add(count as u64, Ordering::Relaxed);
        count
    }
}

/// Counts of what the relay did, for reports.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct RelayCounts {
    pub relayed: u64,
    pub refused: u64,
    pub aborted: u64,
}

/// The running relay. Dropping it stops every listener and connection.
pub struct Relay {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    /// Where the relay listens for each node.
    listening: Vec<SocketAddr>,
}

impl Relay {
    /// Listens on `gateway`, one port for each of `targets` (node `j`'s
    /// real address), picked by the system: a fixed port could be taken by
    /// anything else on the machine. Node `i` dials from `first_node` + `i`.
    pub fn start(
        gateway: Ipv4Addr,
        first_node: Ipv4Addr,
        targets: Vec<SocketAddr>,
        conditions: Conditions,
        seed: u64,
    ) -> Result<Relay, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("relay")
            .enable_all()
            .build()
            .map_err(Error::io("cannot start the relay's runtime"))?;
        let shared = Arc::new(Shared {
            conditions: Mutex::new(conditions),
            partition: Mutex::new(None),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            first_node,
            relayed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
        });
        let mut listening = Vec::with_capacity(targets.len());
        for (j, target) in targets.into_iter().enumerate() {
            let cannot = || format!("the relay cannot listen on {gateway} for node {j}");
            let listener = runtime
                .block_on(TcpListener::bind(SocketAddrV4::new(gateway, 0)))
                .map_err(Error::io(cannot()))?;
            listening.push(listener.local_addr().map_err(Error::io(cannot()))?);
            runtime.spawn(accept_loop(listener, j, target, shared.clone()));
        }
        Ok(Relay {
            runtime: Some(runtime),
            shared,
            listening,
        })
    }

    /// Where node `j`'s peers dial it.
    pub fn addr(&self, j: usize) -> SocketAddr {
        self.listening[j]
    }

    /// Replaces the conditions (new chunks and connections follow them).
    pub fn set_conditions(&self, conditions: Conditions) {
        *self
            .shared
            .conditions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = conditions;
    }

    /// Cuts `group` off: aborts the connections across and refuses new ones.
    pub fn partition(&self, group: &[usize]) -> usize {
        *self
            .shared
            .partition
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(group.iter().copied().collect());
        let shared = self.shared.clone();
        self.shared.abort_where(|c| shared.across(c.from, c.to))
    }

    /// Lets connections across the partition through again.
    pub fn heal(&self) {
        *self
            .shared
            .partition
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Aborts every connection to or from `node` (they may be redialed).
    pub fn cut(&self, node: usize) -> usize {
        self.shared
            .abort_where(|c| c.to == node || c.from == Some(node))
    }

    pub fn counts(&self) -> RelayCounts {
        RelayCounts {
            relayed: self.shared.relayed.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
            aborted: self.shared.aborted.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, to: usize, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((inbound, peer)) = listener.accept().await else {
            continue;
        };
        let from = shared.node_of(peer);
        let refuse = {
            let p = shared
                .conditions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .refuse;
            shared
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen_bool(p.clamp(0.0, 1.0))
        };
        if refuse || shared.across(from, to) {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            reset_on_close(&inbound);
            continue;
        }
        tokio::spawn(relay_connection(inbound, from, to, target, shared.clone()));
    }
}

async fn relay_connection(
    inbound: TcpStream,
    from: Option<usize>,
    to: usize,
    target: SocketAddr,
    shared: Arc<Shared>,
) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    for stream in [&inbound, &outbound] {
        let _ = stream.set_nodelay(true);
        // An abort resets the connection rather than closing it cleanly.
        reset_on_close(stream);
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let mut tasks = Vec::new();
    for (read, write, a, b) in [
        (
            Box::new(in_read) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(out_write) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
            from,
            Some(to),
        ),
        (Box::new(out_read), Box::new(in_write), Some(to), from),
    ] {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tasks.push(tokio::spawn(read_side(read, tx, a, b, shared.clone())).abort_handle());
        tasks.push(tokio::spawn(write_side(write, rx)).abort_handle());
    }
    // A partition that began while this connection was being set up.
    if shared.across(from, to) {
        tasks.iter().for_each(AbortHandle::abort);
        shared.refused.fetch_add(1, Ordering::Relaxed);
        return;
    }
    shared.relayed.fetch_add(1, Ordering::Relaxed);
    let mut connections = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
    // Forget the connections that ended by themselves.
    connections.retain(|_, c| !c.tasks.iter().all(AbortHandle::is_finished));
    connections.insert(id, Connection { from, to, tasks });
}

/// A zero linger: closing the socket resets the connection (like a cut
/// link's peer finding out). It does not block, unlike a non-zero linger,
/// which is why tokio deprecates the setter.
#[allow(deprecated)]
fn reset_on_close(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Reads chunks and stamps each with the time it may be written.
async fn read_side(
    mut read: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    tx: mpsc::Sender<(Instant, Vec<u8>)>,
    from: Option<usize>,
    to: Option<usize>,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut last_due = Instant::now();
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (delay, stall) = {
            let c = shared.conditions.lock().unwrap_or_else(|e| e.into_inner());
            let delay = match (from, to) {
                (Some(a), Some(b)) => c
                    .delay
                    .get(a)
                    .and_then(|row| row.get(b))
                    .copied()
                    .unwrap_or_default(),
                _ => Duration::ZERO,
            };
            let lost = shared
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen_bool(c.loss.clamp(0.0, 1.0));
            (delay, if lost { c.stall } else { Duration::ZERO })
        };
        // In order: never before the chunk ahead of it.
        let due = (Instant::now() + delay + stall).max(last_due);
        last_due = due;
        if tx.send((due, buf[..n].to_vec())).await.is_err() {
            return;
        }
    }
}

async fn write_side(
    mut write: Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
    mut rx: mpsc::Receiver<(Instant, Vec<u8>)>,
) {
    while let Some((due, chunk)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        if write.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}
