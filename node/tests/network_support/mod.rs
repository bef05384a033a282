//! Shared by the network tests: a test federation with records stamped at
//! the real current time, real nodes (spawn() over TCP on 127.0.0.1, sled
//! in a temporary directory), and waiting with a deadline.

#![allow(dead_code)] // each test file uses a different part

use std::future::Future;
use std::time::{Duration, Instant};

use libp2p::{identity, Multiaddr, PeerId};
use mutua_node::ingest::Ingest;
use mutua_node::metrics::NodeMetrics;
use mutua_node::net::{self, NetworkConfig, NetworkError, NetworkHandle};
use mutua_protocol::fixtures;
use mutua_protocol::rules::{DAY_SECS, MAX_DESCRIPTION_BYTES};
use mutua_protocol::{seal, Payload, SecretKey, SignedRecord, SlotKey, Window};
use mutua_store::{Store, StoreConfig};
use mutua_tests::POLL;
use tempfile::TempDir;

/// How long any wait in these tests may last before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub use mutua_tests::unix_now as now;

/// An anchor, a member it certified, and a key nobody certified.
pub struct Federation {
    pub anchor: SecretKey,
    pub member: SecretKey,
    pub outsider: SecretKey,
    pub certificate: SignedRecord,
    pub topic: String,
}

impl Federation {
    pub fn new() -> Self {
        let anchor = fixtures::key(1);
        let member = fixtures::key(2);
        let outsider = fixtures::key(3);
        let now = now();
        let mut certificate = fixtures::certificate(&anchor, &member, false);
        certificate.issued_at = now - DAY_SECS;
        certificate.valid_from = now - DAY_SECS;
        certificate.valid_until = now + 365 * DAY_SECS;
        let certificate = seal(&anchor, &Payload::Certificate(certificate)).unwrap();
        let topic = net::topic_for("test federation", &[anchor.public()]);
        Federation {
            anchor,
            member,
            outsider,
            certificate,
            topic,
        }
    }

    /// An offer by `author`, published a minute ago, valid for 180 days.
    pub fn offer(&self, author: &SecretKey, id: u8, version: u64) -> SignedRecord {
        let now = now();
        let mut listing = fixtures::listing(author, id, version);
        listing.published_at = now - 60;
        listing.expires_at = now + 180 * DAY_SECS;
        listing.availability = vec![Window {
            from: now,
            until: now + 90 * DAY_SECS,
        }];
        seal(author, &Payload::Offer(listing)).unwrap()
    }

    /// Like [`Federation::offer`], about 4.9 KB: the longest description
    /// and ten tags.
    pub fn large_offer(&self, author: &SecretKey, id: u8) -> SignedRecord {
        let record = self.offer(author, id, 1);
        let Payload::Offer(mut listing) = record.payload().clone() else {
            unreachable!("an offer")
        };
        let sentence = "Prêt de matériel entre communes voisines, avec convention. ";
        listing.description = sentence
            .repeat(MAX_DESCRIPTION_BYTES / sentence.len())
            .trim_end()
            .to_string();
        listing.tags = (0..10)
            .map(|i| format!("etiquette-mutualisee-numero-{i:02}"))
            .collect();
        seal(author, &Payload::Offer(listing)).unwrap()
    }
}

/// A running node: its network, its store (through the ingest pipeline),
/// its metrics.
pub struct TestNode {
    pub handle: NetworkHandle,
    pub task: tokio::task::JoinHandle<()>,
    pub ingest: Ingest,
    pub metrics: NodeMetrics,
    pub peer_id: PeerId,
    /// The listen address, with `/p2p/<peer id>`.
    pub addr: Multiaddr,
    _dir: TempDir,
}

impl TestNode {
    /// Starts a node of `federation` on 127.0.0.1 that dials `bootstrap`.
    /// Its store already holds the member's certificate (as if an earlier
    /// sync had brought it), so tests do not depend on delivery order.
    pub async fn start(federation: &Federation, bootstrap: Vec<Multiaddr>) -> TestNode {
        let listen = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        TestNode::start_on(federation, listen, bootstrap)
            .await
            .unwrap()
    }

    /// [`TestNode::start`] listening on `listen`; the network's error if it
    /// cannot start.
    pub async fn start_on(
        federation: &Federation,
        listen: Multiaddr,
        bootstrap: Vec<Multiaddr>,
    ) -> Result<TestNode, NetworkError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(
            dir.path().join("store"),
            vec![federation.anchor.public()],
        ))
        .unwrap();
        let mut metrics = NodeMetrics::new();
        let ingest = Ingest::new(store, metrics.ingest.clone());
        ingest
            .ingest_local(federation.certificate.clone())
            .await
            .unwrap();
        let mut config = NetworkConfig::new(federation.topic.clone());
        config.listen = vec![listen];
        config.mdns = false; // other tests' nodes run on the same machine
        config.bootstrap = bootstrap;
        let keypair = identity::Keypair::generate_ed25519();
        let peer_id = keypair.public().to_peer_id();
        let (handle, task) = net::spawn(config, keypair, ingest.clone(), &mut metrics).await?;
        let status = handle.status().await.unwrap();
        let addr = status.listen_addrs[0]
            .parse::<libp2p::Multiaddr>()
            .unwrap()
            .with(libp2p::multiaddr::Protocol::P2p(peer_id));
        Ok(TestNode {
            handle,
            task,
            ingest,
            metrics,
            peer_id,
            addr,
            _dir: dir,
        })
    }

    /// A node of `federation` and an honest peer dialling it, both with
    /// the other in their mesh: (target, honest).
    pub async fn pair(federation: &Federation) -> (TestNode, TestNode) {
        let target = TestNode::start(federation, vec![]).await;
        let honest = TestNode::start(federation, vec![target.addr.clone()]).await;
        target.wait_for_mesh(1).await;
        honest.wait_for_mesh(1).await;
        (target, honest)
    }

    /// The peers this node is connected to now.
    pub async fn peers(&self) -> Vec<net::PeerInfo> {
        self.handle.peers().await.unwrap()
    }

    pub fn has(&self, record: &SignedRecord) -> bool {
        self.ingest
            .store()
            .get(&SlotKey::of(record))
            .unwrap()
            .as_ref()
            == Some(record)
    }

    pub fn has_slot(&self, record: &SignedRecord) -> bool {
        self.ingest
            .store()
            .get(&SlotKey::of(record))
            .unwrap()
            .is_some()
    }

    /// Stores a record as this node's own and gossips it.
    pub async fn publish(&self, record: &SignedRecord) -> net::PublishReport {
        let applied = self.ingest.ingest_local(record.clone()).await.unwrap();
        assert!(applied.outcome.is_stored(), "{:?}", applied.outcome);
        self.handle.publish(record.bytes().to_vec()).await.unwrap()
    }

    /// Waits until this node has `n` peers in its mesh for the topic.
    pub async fn wait_for_mesh(&self, n: usize) {
        wait_for(&format!("{n} mesh peers on {}", self.peer_id), || async {
            self.handle.status().await.unwrap().mesh_peers >= n
        })
        .await;
    }

    pub async fn stop(self) {
        self.handle.shutdown().await;
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// A bare client (a new identity; TCP, noise, yamux) around `behaviour`:
/// what the tests' misbehaving peers are made of.
pub fn client_swarm<B: libp2p::swarm::NetworkBehaviour>(behaviour: B) -> libp2p::Swarm<B> {
    client_swarm_as(identity::Keypair::generate_ed25519(), behaviour)
}

/// [`client_swarm`] with a given identity (to come back as the same peer).
pub fn client_swarm_as<B: libp2p::swarm::NetworkBehaviour>(
    keypair: identity::Keypair,
    behaviour: B,
) -> libp2p::Swarm<B> {
    libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Polls `condition` until it holds; fails the test after [`DEADLINE`]. The
/// async twin of `mutua_tests::wait_for`: these nodes run on the test's own
/// runtime, which a blocking sleep would stall.
pub async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// The value of a metric line (`name{labels} value`) in Prometheus text,
/// summed over label sets that contain `label_part`.
pub fn metric_value(text: &str, name: &str, label_part: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.starts_with(name)
                && line[name.len()..].starts_with(['{', ' '])
                && line.contains(label_part)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
