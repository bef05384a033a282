//! What a run measured: a JSON file for tools and a summary for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::Error;

/// Percentiles of a set of durations, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        // Nearest-rank percentile.
        let pct = |p: f64| -> Option<f64> {
            if ms.is_empty() {
                return None;
            }
            let rank = ((p / 100.0) * ms.len() as f64).ceil().max(1.0) as usize;
            Some((ms[rank - 1] * 10.0).round() / 10.0)
        };
        Latency {
            samples: ms.len(),
            p50_ms: pct(50.0),
            p99_ms: pct(99.0),
            max_ms: pct(100.0),
        }
    }

    pub(crate) fn line(&self) -> String {
        match (self.p50_ms, self.p99_ms, self.max_ms) {
            (Some(a), Some(b), Some(c)) => {
                format!(
                    "p50 {a:.0} ms, p99 {b:.0} ms, max {c:.0} ms ({} samples)",
                    self.samples
                )
            }
            _ => "no samples".into(),
        }
    }
}

/// One node at the end of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeFigures {
    pub index: usize,
    pub collectivity: String,
    /// VmRSS from /proc/<pid>/status.
    pub rss_kib: Option<u64>,
    /// libp2p's bandwidth counters since the node's last start.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records: u64,
    /// Records refused by this node, by rule code (`mutua_ingest_records_total{outcome="rejected"}`).
    pub rejected: BTreeMap<String, u64>,
    /// Records ignored by this node for a reason other than being known already.
    pub ignored: BTreeMap<String, u64>,
    /// The most ignored gossip records one peer had charged to its budget
    /// at once (`mutua_network_ignored_budget_peak`, as of the last
    /// maintenance tick; since the node's last start).
    pub ignored_budget_peak: u64,
    pub restarts: u32,
}

/// What the nodes received from just before the first publish until every
/// replica had converged, summed over nodes. Bytes are libp2p's bandwidth
/// counters, which count what is read from and written to yamux substreams:
/// every protocol's payload (gossipsub, sync, identify, Kademlia, ping) and
/// its multistream-select negotiation, but not yamux frame headers, noise
/// framing and handshakes, or TCP/IP headers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PublishTraffic {
    pub bytes_received: u64,
    /// Σ over published records of envelope size × (N − 1): what the other
    /// nodes had to receive at the very least.
    pub unique_bytes: u64,
    /// `bytes_received ÷ unique_bytes`.
    pub bytes_per_unique_byte: Option<f64>,
    /// Of `bytes_received`, sync messages (`mutua_sync_bytes_total{direction="received"}`).
    pub sync_bytes_received: u64,
    /// Outbound sync sessions started meanwhile, all nodes.
    pub sync_sessions: u64,
    /// Gossip messages received, duplicates included
    /// (`libp2p_gossipsub_topic_msg_recv_counts_unfiltered`) …
    pub gossip_messages_received: u64,
    /// … and first copies only (`…_recv_counts`): the rest are duplicates
    /// gossipsub dropped by message id.
    pub gossip_first_copies: u64,
    /// Records the ingest pipeline ignored as already stored (a copy that
    /// came by another path, e.g. sync): `reason="ignored_duplicate"`.
    pub ingest_duplicates: u64,
    /// Of `bytes_received`, the gossip messages themselves, duplicates
    /// included (each message's protobuf: the envelope, the topic and a few
    /// bytes of framing; `libp2p_gossipsub_topic_msg_recv_bytes_unfiltered`).
    /// The rest is gossipsub's control messages (IHAVE, IWANT, IDONTWANT,
    /// GRAFT, PRUNE, subscriptions) and RPC framing, sync, ping, identify,
    /// Kademlia and each substream's protocol negotiation.
    pub gossip_message_bytes_received: u64,
    /// `gossip_message_bytes_received ÷ unique_bytes`: the record copies
    /// alone, ≥ 1 (+ the topic and framing of each message).
    pub message_bytes_per_unique_byte: Option<f64>,
    /// IDONTWANT control messages received, all nodes (each names one
    /// message a peer already has: `libp2p_gossipsub_idontwant_msgs`).
    pub idontwant_received: u64,
    /// Times a node asked for a message it was told of (IWANT):
    /// `libp2p_gossipsub_topic_iwant_msgs`.
    pub iwant_sent: u64,
    /// Pings and identify exchanges meanwhile, all nodes (the other small
    /// talkers; IHAVE, GRAFT and PRUNE have no counter).
    pub pings: u64,
    pub identify_received: u64,
    /// Kademlia requests answered and connections opened meanwhile.
    pub kad_requests: u64,
    pub connections_opened: u64,
    /// From the first publish until every replica had converged (the
    /// window these bytes were counted in).
    pub window_secs: f64,
    /// Mesh peers per node on the topic when every replica had converged.
    pub mesh_peers_per_node: Option<f64>,
}

/// Traffic of the converged federation left alone for a window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IdleTraffic {
    pub window_secs: f64,
    /// The nodes' anti-entropy interval during the run.
    pub sync_interval_secs: u64,
    /// Open connections summed over nodes (each connection counted at both
    /// ends), mean of the window's start and end.
    pub connections: f64,
    /// Bytes in + out, summed over nodes (each byte counted at both ends).
    pub bytes: u64,
    /// `bytes ÷ connections ÷ window`: both directions of one connection, as
    /// counted at one end.
    pub bytes_per_sec_per_connection: Option<f64>,
    /// Of `bytes`, sync messages (sent + received).
    pub sync_bytes: u64,
    pub sync_sessions: u64,
    /// Kademlia requests answered, identify exchanges, pings answered and
    /// connections opened during the window, all nodes.
    pub kad_requests: u64,
    pub identify_received: u64,
    pub pings: u64,
    pub connections_opened: u64,
}

/// The record of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub nodes: usize,
    pub seed: u64,
    /// SHA-256 of the seeded plan: equal seeds give equal plans.
    pub plan_digest: String,
    pub network: String,
    /// The nodes' gossipsub mesh and gossip settings.
    pub gossipsub: mutua_node::net::GossipTuning,
    pub duration_secs: f64,
    pub published: usize,
    pub withdrawn: usize,
    /// Time from a publish answer until the last node had the record.
    pub propagation: Latency,
    /// How long the pollers' record lookups took (each record not yet
    /// seen, at each node, every 50 ms): the measurement's own delay.
    pub lookups: Latency,
    /// Time from a withdrawal answer until the last node had purged the listing.
    pub withdrawal_propagation: Latency,
    /// Time from heal (or the last restart) until every digest was equal.
    pub convergence_after_heal_ms: Option<f64>,
    /// Time from a partition's heal until every node had a peer across it,
    /// by the nodes' clocks (1 s resolution, rounded up).
    pub reconnection_after_heal_ms: Option<f64>,
    pub converged: bool,
    pub digest: Option<String>,
    pub kills: usize,
    pub rogue_messages_sent: usize,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub ignored_by_reason: BTreeMap<String, u64>,
    pub per_node: Vec<NodeFigures>,
    /// Traffic while the records propagated (propagation scenario).
    pub publish_traffic: Option<PublishTraffic>,
    /// Traffic of the converged federation left idle (propagation scenario).
    pub idle_traffic: Option<IdleTraffic>,
    /// Flood at rate (`run flood --rate`).
    pub flood_rate: Option<crate::scenario::FloodFigures>,
    /// Propagation: the traffic against issue 18's budgets.
    pub traffic_budgets: Option<crate::scenario::TrafficBudgets>,
    pub notes: Vec<String>,
    /// Set when the run failed: what went wrong.
    pub error: Option<String>,
}

impl Report {
    /// Writes the JSON report.
    pub fn write_json(&self, path: &Path) -> Result<(), Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(Error::io("cannot create the report directory"))?;
        }
        let text = serde_json::to_string_pretty(self).expect("a report serialises");
        std::fs::write(path, text).map_err(Error::io(format!("cannot write {}", path.display())))
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let verdict = match (&self.error, self.converged) {
            (Some(_), _) => "FAILED",
            (None, true) => "converged",
            (None, false) => "NOT converged",
        };
        let _ = writeln!(
            s,
            "scenario {} — {} nodes, seed {} — {verdict}",
            self.scenario, self.nodes, self.seed
        );
        let _ = writeln!(s, "  network: {}", self.network);
        let g = &self.gossipsub;
        let _ = writeln!(
            s,
            "  gossipsub: D {} (D_lo {}, D_hi {}, D_out {}), D_lazy {}, gossip factor {}, heartbeat {} ms",
            g.mesh_n, g.mesh_n_low, g.mesh_n_high, g.mesh_outbound_min, g.gossip_lazy, g.gossip_factor, g.heartbeat_ms
        );
        let _ = writeln!(
            s,
            "  plan digest: {}",
            &self.plan_digest[..16.min(self.plan_digest.len())]
        );
        let _ = writeln!(
            s,
            "  duration: {:.1} s; published {}, withdrawn {}, kills {}",
            self.duration_secs, self.published, self.withdrawn, self.kills
        );
        let _ = writeln!(
            s,
            "  propagation to every node: {}",
            self.propagation.line()
        );
        if self.lookups.samples > 0 {
            let _ = writeln!(
                s,
                "  pollers' record lookups (every {} ms per record and node until seen): {}",
                crate::wait::POLL.as_millis(),
                self.lookups.line()
            );
        }
        if self.withdrawn > 0 {
            let _ = writeln!(
                s,
                "  withdrawal to every node: {}",
                self.withdrawal_propagation.line()
            );
        }
        if let Some(ms) = self.reconnection_after_heal_ms {
            let _ = writeln!(
                s,
                "  every node connected across the heal within: {ms:.0} ms (nodes' clocks, 1 s resolution)"
            );
        }
        if let Some(ms) = self.convergence_after_heal_ms {
            let _ = writeln!(s, "  convergence after heal/restart: {ms:.0} ms");
        }
        if let Some(d) = &self.digest {
            let _ = writeln!(s, "  common store digest: {}…", &d[..16.min(d.len())]);
        }
        if self.rogue_messages_sent > 0 || !self.rejected_by_reason.is_empty() {
            let _ = writeln!(
                s,
                "  rogue messages sent: {}; rejected by reason: {:?}; ignored by reason: {:?}",
                self.rogue_messages_sent, self.rejected_by_reason, self.ignored_by_reason
            );
        }
        if let Some(f) = &self.flood_rate {
            let _ = writeln!(s, "  {}", f.line());
        }
        let peaks: Vec<u64> = self
            .per_node
            .iter()
            .map(|n| n.ignored_budget_peak)
            .collect();
        let _ = writeln!(
            s,
            "  ignored gossip records charged to one peer at once, per node: {peaks:?} (budget {})",
            mutua_node::net::IGNORED_BURST
        );
        let rss: Vec<u64> = self.per_node.iter().filter_map(|n| n.rss_kib).collect();
        if !rss.is_empty() {
            let max = rss.iter().max().copied().unwrap_or(0);
            let avg = rss.iter().sum::<u64>() / rss.len() as u64;
            let bytes: Vec<u64> = self
                .per_node
                .iter()
                .map(|n| n.bytes_in + n.bytes_out)
                .collect();
            let avg_bytes = bytes.iter().sum::<u64>() / bytes.len().max(1) as u64;
            let _ = writeln!(
                s,
                "  RSS per node: avg {} KiB, max {} KiB; traffic per node (in+out): avg {} KiB",
                avg,
                max,
                avg_bytes / 1024
            );
        }
        if let Some(t) = &self.publish_traffic {
            let _ = writeln!(
                s,
                "  received while publishing (all libp2p bytes): {} B for {} unique B (envelopes × {} receivers) = {} per unique byte; of which gossip messages {} B ({} per unique byte), sync {} B ({} sessions), the rest control and other protocols; gossip messages received {} for {} first copies; IDONTWANT received {}, IWANT sent {}; ingest duplicates {}; pings {}, identify {}, Kademlia requests {}, connections opened {}; mesh peers per node {}; window {:.1} s",
                t.bytes_received,
                t.unique_bytes,
                self.nodes.saturating_sub(1),
                ratio(t.bytes_per_unique_byte),
                t.gossip_message_bytes_received,
                ratio(t.message_bytes_per_unique_byte),
                t.sync_bytes_received,
                t.sync_sessions,
                t.gossip_messages_received,
                t.gossip_first_copies,
                t.idontwant_received,
                t.iwant_sent,
                t.ingest_duplicates,
                t.pings,
                t.identify_received,
                t.kad_requests,
                t.connections_opened,
                ratio(t.mesh_peers_per_node),
                t.window_secs
            );
        }
        if let Some(t) = &self.idle_traffic {
            let _ = writeln!(
                s,
                "  idle ({:.1} s, sync every {} s): {} B in+out over {:.0} connection ends = {} B/s per connection; of which sync {} B ({} sessions); Kademlia requests {}, identify {}, pings {}, connections opened {}",
                t.window_secs,
                t.sync_interval_secs,
                t.bytes,
                t.connections,
                ratio(t.bytes_per_sec_per_connection),
                t.sync_bytes,
                t.sync_sessions,
                t.kad_requests,
                t.identify_received,
                t.pings,
                t.connections_opened
            );
        }
        if let Some(b) = &self.traffic_budgets {
            let _ = writeln!(s, "  {}", b.line());
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  error: {e}");
        }
        s
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}"))
}

/// `a ÷ b`, if `b` is positive; rounded to 3 decimals for the report.
pub fn per(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| (a / b * 1000.0).round() / 1000.0)
}

/// Counters read from /metrics that the traffic figures need, by key.
const COUNTERS: &[(&str, &str, &[&str])] = &[
    (
        "bytes_in",
        "libp2p_bandwidth_bytes_total",
        &["direction=\"Inbound\""],
    ),
    (
        "bytes_out",
        "libp2p_bandwidth_bytes_total",
        &["direction=\"Outbound\""],
    ),
    (
        "sync_in",
        "mutua_sync_bytes_total",
        &["direction=\"received\""],
    ),
    (
        "sync_out",
        "mutua_sync_bytes_total",
        &["direction=\"sent\""],
    ),
    ("sync_sessions", "mutua_sync_sessions_total", &[]),
    (
        "gossip_all",
        "libp2p_gossipsub_topic_msg_recv_counts_unfiltered_total",
        &[],
    ),
    (
        "gossip_first",
        "libp2p_gossipsub_topic_msg_recv_counts_total",
        &[],
    ),
    (
        "ingest_duplicates",
        "mutua_ingest_records_total",
        &["reason=\"ignored_duplicate\""],
    ),
    (
        "gossip_bytes_in",
        "libp2p_gossipsub_topic_msg_recv_bytes_unfiltered_total",
        &[],
    ),
    ("idontwant_in", "libp2p_gossipsub_idontwant_msgs_total", &[]),
    ("iwant", "libp2p_gossipsub_topic_iwant_msgs_total", &[]),
    // What else talks while idle (requests and events, not bytes).
    ("kad_requests", "libp2p_kad_inbound_requests_total", &[]),
    ("identify", "libp2p_identify_received_total", &[]),
    ("pings", "libp2p_ping_rtt_seconds_count", &[]),
    (
        "connections_opened",
        "libp2p_swarm_connections_established_total",
        &[],
    ),
];

/// A snapshot of [`COUNTERS`], summed over the nodes added to it.
#[derive(Clone, Debug, Default)]
pub struct Counters(BTreeMap<&'static str, f64>);

impl Counters {
    /// Adds one node's /metrics text.
    pub fn add(&mut self, text: &str) {
        for (key, name, labels) in COUNTERS {
            *self.0.entry(key).or_default() += metric_sum(text, name, labels);
        }
    }

    /// What `key` grew by since `earlier` (counters only grow while no node restarts).
    pub fn since(&self, earlier: &Counters, key: &str) -> u64 {
        let at = |c: &Counters| c.0.get(key).copied().unwrap_or(0.0);
        (at(self) - at(earlier)).max(0.0) as u64
    }
}

/// The value of a metric line (`name{labels} value`), summed over the label
/// sets that contain every one of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Bytes counted by libp2p's bandwidth metrics (`…_bandwidth_bytes_total`,
/// every transport protocol) in one direction (`Inbound`, `Outbound`).
pub fn bandwidth(text: &str, direction: &str) -> u64 {
    let want = format!("direction=\"{direction}\"");
    text.lines()
        .filter(|l| {
            !l.starts_with('#') && l.contains("bandwidth_bytes_total{") && l.contains(&want)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `reason → count` for ingest records with this outcome.
pub fn by_reason(text: &str, outcome: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let want = format!("outcome=\"{outcome}\"");
    for line in text.lines() {
        if !line.starts_with("mutua_ingest_records_total{") || !line.contains(&want) {
            continue;
        }
        let reason = line
            .split("reason=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?");
        if reason == "ignored_duplicate" || reason == "ignored_old" {
            continue; // gossip redundancy, not a refusal
        }
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if value > 0.0 {
            *out.entry(reason.to_owned()).or_default() += value as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&d);
        assert_eq!(
            (l.p50_ms, l.p99_ms, l.max_ms),
            (Some(50.0), Some(99.0), Some(100.0))
        );
        assert_eq!(Latency::of(&[]).p50_ms, None);
    }

    #[test]
    fn reasons_are_read_from_prometheus_text() {
        let text = "mutua_ingest_records_total{source=\"gossip\",outcome=\"rejected\",reason=\"bad_signature\"} 3\n\
                    mutua_ingest_records_total{source=\"gossip\",outcome=\"ignored\",reason=\"ignored_duplicate\"} 9\n\
                    mutua_ingest_records_total{source=\"gossip\",outcome=\"ignored\",reason=\"not_a_member\"} 2\n";
        assert_eq!(by_reason(text, "rejected").get("bad_signature"), Some(&3));
        assert_eq!(by_reason(text, "ignored").len(), 1);
    }

    #[test]
    fn counters_sum_nodes_and_subtract_snapshots() {
        let node = |n: u32| {
            format!(
                "libp2p_bandwidth_bytes_total{{protocols=\"/ip4/tcp\",direction=\"Inbound\"}} {n}\n\
                 libp2p_bandwidth_bytes_total{{protocols=\"/ip4/tcp\",direction=\"Outbound\"}} 1\n"
            )
        };
        let (mut before, mut after) = (Counters::default(), Counters::default());
        before.add(&node(10));
        after.add(&node(15));
        after.add(&node(7));
        assert_eq!(after.since(&before, "bytes_in"), 12);
        assert_eq!(after.since(&before, "bytes_out"), 1);
        assert_eq!(per(3.0, 0.0), None);
    }
}
