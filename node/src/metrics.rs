//! The node's metrics: one Prometheus registry holding libp2p's own metrics
//! (swarm, gossipsub, identify, kad, ping), the ingest pipeline's counters and
//! the network actor's gauges, encoded as Prometheus text for `/metrics`.
//!
//! Handles are cheap clones of shared atomics: the ingest pipeline and the
//! network actor update them without locks, and [`NodeMetrics::encode`] reads
//! them whenever it is asked.
//!
//! libp2p's families: `libp2p_swarm_*`, `libp2p_identify_*`, `libp2p_kad_*`,
//! `libp2p_ping_*`, `libp2p_bandwidth_*`, and gossipsub's internals under
//! `libp2p_gossipsub_*` (mesh sizes, scores, validation results, invalid
//! messages per topic). Mutua's own are `mutua_ingest_*`, `mutua_network_*`,
//! `mutua_sync_*`, `mutua_store_*` and `mutua_lending_*`; OPERATIONS.md lists them, and
//! `tests/tests/documents.rs` checks that list against this registry.

use mutua_store::StoreStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

/// Prefix of every metric defined by Mutua itself (libp2p's are under `libp2p_`).
const PREFIX: &str = "mutua";
/// Prefix of gossipsub's internal metrics (scores, mesh, validation results).
pub(crate) const GOSSIPSUB_PREFIX: &str = "libp2p_gossipsub";

/// Every metric of one node.
pub struct NodeMetrics {
    /// The registry the `/metrics` endpoint encodes. [`crate::net::spawn`]
    /// registers libp2p's metrics in it.
    pub registry: Registry,
    /// What the ingest pipeline did with each record, by source and reason.
    pub ingest: IngestMetrics,
    /// The network actor's own gauges and counters.
    pub network: NetworkMetrics,
    /// The replica's size, as last observed.
    pub store: StoreMetrics,
    /// Anti-entropy sessions, records and bytes.
    pub sync: SyncMetrics,
    /// Lending decisions this node signed.
    pub lending: LendingMetrics,
}

impl NodeMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let ours = registry.sub_registry_with_prefix(PREFIX);
        let ingest = IngestMetrics::register(ours);
        let network = NetworkMetrics::register(ours);
        let store = StoreMetrics::register(ours);
        let sync = SyncMetrics::register(ours);
        let lending = LendingMetrics::register(ours);
        NodeMetrics {
            registry,
            ingest,
            network,
            store,
            sync,
            lending,
        }
    }

    /// The whole registry in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error would mean a bug in a
        // metric's encoder, which the text then simply lacks.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(%error, "could not encode the metrics");
        }
        out
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Labels of the ingest counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestLabels {
    /// `gossip`, `sync`, `local` or `import`.
    pub source: &'static str,
    /// `accepted`, `ignored` or `rejected`.
    pub outcome: &'static str,
    /// `new`, `replaced`, `equivocation` for accepted records; the rule code
    /// (`bad_signature`, `not_a_member`, `too_large`, `duplicate`, …) otherwise.
    pub reason: &'static str,
}

/// Counters of the ingest pipeline.
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    records: Family<IngestLabels, Counter>,
    seconds: Histogram,
}

impl IngestMetrics {
    fn register(registry: &mut Registry) -> Self {
        let records = registered(
            registry,
            "ingest_records",
            "Records through the ingest pipeline, by source, outcome and reason",
        );
        // From 50 µs (a duplicate) to ~1.6 s (a stalled disk).
        let seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "ingest_seconds",
            "Time to decode, verify, check and apply one record",
            seconds.clone(),
        );
        IngestMetrics { records, seconds }
    }

    /// Metrics that no registry exports, for an [`crate::ingest::Ingest`]
    /// used without a node (tools, tests of other crates).
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    pub(crate) fn record(&self, labels: IngestLabels, seconds: f64) {
        self.records.get_or_create(&labels).inc();
        self.seconds.observe(seconds);
    }

    /// How many records ended with these labels so far (for tests and the
    /// status endpoint).
    pub fn count(&self, source: &'static str, outcome: &'static str, reason: &'static str) -> u64 {
        self.records
            .get_or_create(&IngestLabels {
                source,
                outcome,
                reason,
            })
            .get()
    }
}

/// Labels of the lending decision counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `accepted`, or the decline reason (`conflict`, `offer_changed`, …).
    pub outcome: &'static str,
    /// `auto` (the decider) or `staff` (an accept or decline through the API).
    pub by: &'static str,
}

/// The decisions this node signed for the offers it hosts.
#[derive(Clone, Debug)]
pub struct LendingMetrics {
    decisions: Family<DecisionLabels, Counter>,
    seconds: Histogram,
}

impl LendingMetrics {
    fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("lending");
        let decisions: Family<DecisionLabels, Counter> = registered(
            sub,
            "decisions",
            "Decisions signed on requests for hosted offers, by outcome and by whom",
        );
        // From 1 s (auto mode, the request made here) to ~3 weeks (staff).
        let seconds = Histogram::new(exponential_buckets(1.0, 4.0, 12));
        sub.register(
            "decision_seconds",
            "Time from a request's creation to its decision",
            seconds.clone(),
        );
        // Present from the start (at zero), so that dashboards and alerts
        // find the family before the first decision.
        for by in ["auto", "staff"] {
            drop(decisions.get_or_create(&DecisionLabels {
                outcome: "accepted",
                by,
            }));
        }
        LendingMetrics { decisions, seconds }
    }

    /// Counts a decision; `waited`: from the request's creation to its
    /// answer (`None` for an owner's cancellation, which answers an
    /// acceptance, not a waiting request).
    pub(crate) fn decided(&self, labels: DecisionLabels, waited: Option<u64>) {
        self.decisions.get_or_create(&labels).inc();
        if let Some(seconds) = waited {
            self.seconds.observe(seconds as f64);
        }
    }

    /// How many decisions had these labels so far (for tests).
    pub fn count(&self, outcome: &'static str, by: &'static str) -> u64 {
        self.decisions
            .get_or_create(&DecisionLabels { outcome, by })
            .get()
    }
}

/// Gauges and counters of the network actor, beside libp2p's own.
#[derive(Clone, Debug)]
pub struct NetworkMetrics {
    /// Peers with at least one established connection.
    pub connected_peers: Gauge,
    /// Peers in our gossipsub mesh for the federation topic.
    pub mesh_peers: Gauge,
    /// Gossip messages dropped (reported `Ignore`) because the validation
    /// queue was full: sync recovers them later.
    pub validation_overflow: Counter,
    /// Peers cut off for breaking the sync protocol or sending invalid records.
    pub sync_bans: Counter,
    /// Gossipsub frames refused for breaking the frame limits
    /// (`crate::frame_guard`), by reason.
    pub gossip_frames_refused: Family<FrameRefusedLabel, Counter>,
    /// Ignored gossip records over their forwarder's or author's budget
    /// (each lowers the forwarder's score).
    pub ignored_over_budget: Counter,
    /// The most of its budget of ignored gossip records one peer has used
    /// at once since the node started (records; the budget is 50).
    pub ignored_budget_peak: Gauge,
}

/// Labels of the refused gossipsub frame counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameRefusedLabel {
    /// `too_large`, `too_many_messages`, `control_too_large` or `malformed`.
    pub reason: &'static str,
}

impl NetworkMetrics {
    /// How many frames were refused for `reason` so far (for tests).
    pub fn frames_refused(&self, reason: &'static str) -> u64 {
        self.gossip_frames_refused
            .get_or_create(&FrameRefusedLabel { reason })
            .get()
    }
}

impl NetworkMetrics {
    fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("network");
        NetworkMetrics {
            connected_peers: registered(
                sub,
                "connected_peers",
                "Peers with an established connection",
            ),
            mesh_peers: registered(
                sub,
                "mesh_peers",
                "Peers in the gossipsub mesh of the federation topic",
            ),
            validation_overflow: registered(
                sub,
                "validation_overflow",
                "Gossip messages ignored because the validation queue was full",
            ),
            sync_bans: registered(
                sub,
                "sync_bans",
                "Peers cut off for breaking the sync protocol or sending invalid records",
            ),
            gossip_frames_refused: registered(
                sub,
                "gossip_frames_refused",
                "Gossipsub RPC frames refused for breaking the frame limits, by reason",
            ),
            ignored_over_budget: registered(
                sub,
                "ignored_over_budget",
                "Ignored gossip records over their sender's or author's budget",
            ),
            ignored_budget_peak: registered(
                sub,
                "ignored_budget_peak",
                "Most ignored gossip records one peer had charged to its budget at once",
            ),
        }
    }
}

/// Labels of the sync session counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    /// `ok`, `unsupported`, `timeout`, `transport`, `refused`, `peer_fault`,
    /// `invalid_records` or `local_error`.
    outcome: &'static str,
}

/// Labels of the refused sync requests counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabel {
    /// `peer_concurrency`, `peer_rate` or `busy`.
    reason: &'static str,
}

/// Labels of the sync record and byte counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    /// `received` or `sent`.
    direction: &'static str,
}

/// Counters of anti-entropy sync (`mutua_sync_*`), both roles together.
#[derive(Clone, Debug)]
pub struct SyncMetrics {
    sessions: Family<OutcomeLabel, Counter>,
    records: Family<DirectionLabel, Counter>,
    bytes: Family<DirectionLabel, Counter>,
    applied: Counter,
    refused: Family<RefusedLabel, Counter>,
}

impl SyncMetrics {
    fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("sync");
        let metrics = SyncMetrics {
            sessions: registered(sub, "sessions", "Outbound sync sessions, by outcome"),
            records: registered(sub, "records", "Records carried by sync, by direction"),
            bytes: registered(sub, "bytes", "Sync message bytes, by direction"),
            applied: registered(
                sub,
                "records_applied",
                "Records received by sync and stored (new or newer)",
            ),
            refused: registered(
                sub,
                "requests_refused",
                "Inbound sync requests refused (over the peer's budget, or too many at once), by reason",
            ),
        };
        // Every reason shows from the start, at 0: a flood is seen as a rise.
        for reason in ["peer_concurrency", "peer_rate", "busy"] {
            metrics
                .refused
                .get_or_create(&RefusedLabel { reason })
                .inc_by(0);
        }
        metrics
    }

    /// How many inbound sync requests were refused for `reason` (for tests).
    pub fn refused(&self, reason: &'static str) -> u64 {
        self.refused.get_or_create(&RefusedLabel { reason }).get()
    }

    pub(crate) fn refuse(&self, reason: &'static str) {
        self.refused.get_or_create(&RefusedLabel { reason }).inc();
    }

    /// How many outbound sessions ended with `outcome` so far (for tests).
    pub fn sessions(&self, outcome: &'static str) -> u64 {
        self.sessions.get_or_create(&OutcomeLabel { outcome }).get()
    }

    /// How many records sync carried in `direction` so far (for tests).
    pub fn records(&self, direction: &'static str) -> u64 {
        self.records
            .get_or_create(&DirectionLabel { direction })
            .get()
    }

    /// How many message bytes sync carried in `direction` so far (for tests).
    pub fn bytes(&self, direction: &'static str) -> u64 {
        self.bytes
            .get_or_create(&DirectionLabel { direction })
            .get()
    }

    pub(crate) fn session(&self, outcome: &'static str) {
        self.sessions.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub(crate) fn observe(&self, tally: &crate::sync::Tally) {
        let add = |family: &Family<DirectionLabel, Counter>, direction, n| {
            family
                .get_or_create(&DirectionLabel { direction })
                .inc_by(n);
        };
        add(&self.records, "received", tally.records_received);
        add(&self.records, "sent", tally.records_sent);
        add(&self.bytes, "received", tally.bytes_received);
        add(&self.bytes, "sent", tally.bytes_sent);
        self.applied.inc_by(tally.records_applied);
    }
}

/// A new metric, registered under `name`.
fn registered<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// Labels of the stored-records gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The replica's size, as last observed with [`StoreMetrics::observe`] (the
/// daemon calls it before encoding: reading the counts is cheap, and this
/// way the network and ingest tasks never wait for it).
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// Records stored, all kinds.
    pub records: Gauge,
    by_kind: Family<KindLabel, Gauge>,
    disk_bytes: Gauge,
}

impl StoreMetrics {
    fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("store");
        StoreMetrics {
            records: registered(sub, "records", "Records in the local replica"),
            by_kind: registered(
                sub,
                "records_by_kind",
                "Records in the local replica, by kind",
            ),
            disk_bytes: registered(sub, "disk_bytes", "Size of the store's files"),
        }
    }

    /// The records of `kind` as last observed (for tests).
    pub fn records_of_kind(&self, kind: &'static str) -> i64 {
        self.by_kind.get_or_create(&KindLabel { kind }).get()
    }

    /// Sets every store gauge from the store's counters.
    pub fn observe(&self, stats: &StoreStats) {
        self.records.set(gauge_value(stats.total));
        for (kind, count) in [
            ("certificate", stats.certificates),
            ("revocation", stats.revocations),
            ("offer", stats.offers),
            ("need", stats.needs),
            ("withdrawal", stats.withdrawals),
        ] {
            self.by_kind
                .get_or_create(&KindLabel { kind })
                .set(gauge_value(count));
        }
        self.disk_bytes.set(gauge_value(stats.disk_bytes));
    }
}

fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
