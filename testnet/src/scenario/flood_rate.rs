//! Flood at rate (issue 18): the rogue client sends `rate` messages a
//! second for `secs` to a few targets while honest members keep publishing.
//! Asserted, and printed in the report:
//! - the rogue is graylisted by every target (its gossipsub score, as the
//!   target's `/v1/peers` shows it, below the graylist threshold) within
//!   [`GRAYLIST_GOAL`] (10 heartbeats of 1 s) of its first message;
//! - honest propagation p99 during the flood stays within
//!   [`LATENCY_FACTOR`] × its baseline, measured in the same run just before
//!   with the same number of records at the same spacing (plus
//!   [`POLL_RESOLUTION`]: the harness sees an arrival up to one poll late);
//! - each target's RSS (VmRSS, /proc) grows by less than [`RSS_GROWTH_LIMIT_KIB`]
//!   from just before the flood to its highest sample during it.
//!
//! "Graylisted" is the rogue's score below the threshold in `/v1/peers`, or
//! a ban by the target (`mutua_network_sync_bans_total` rising: a ban
//! follows the score across the threshold at once, and removes the peer
//! from `/v1/peers` before a probe may see its score). With `--redial`, the
//! rogue reconnects in a loop once cut off ([`Redial`]); the targets' CPU
//! (/proc/<pid>/stat) is a figure for every flood.
//! `--kind sync-requests` floods sync requests instead of gossip
//! (`rogue::sync_flood_at_rate`): there the sender counts as stopped by a
//! target once the target cut it off (its `mutua_network_sync_bans_total`
//! rose), since it has no gossipsub score to lose.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use libp2p::identity::Keypair;
use libp2p::Multiaddr;
use serde::Serialize;

use super::{Published, Run};
use crate::report::{metric_sum, Latency};
use crate::rogue::{self, PacedFlood, Redial, RedialReport};
use crate::{wait, Error};

/// Graylisted within 10 heartbeats (gossipsub's heartbeat is 1 s).
pub const GRAYLIST_GOAL: Duration = Duration::from_secs(10);
/// Honest p99 during the flood at most this many times the baseline's.
pub const LATENCY_FACTOR: f64 = 2.0;
/// Two polls of the harness's pollers: the resolution of one arrival time.
pub const POLL_RESOLUTION: Duration = Duration::from_millis(2 * wait::POLL.as_millis() as u64);
/// A target's RSS may grow by less than this over the flood.
pub const RSS_GROWTH_LIMIT_KIB: u64 = 64 * 1024;
/// The node's gossipsub graylist threshold (`node/src/net/behaviour.rs`).
const GRAYLIST_THRESHOLD: f64 = -80.0;
/// How long after the flood the probes still wait for every target to
/// graylist the rogue.
const LATE_GRAYLIST: Duration = Duration::from_secs(60);
/// Honest records published for the baseline, and again during the flood.
const HONEST_SAMPLES: usize = 20;
/// Superseded versions signed before the flood (about 0.5 KiB each).
const MAX_PRESIGNED: u64 = 120_000;

/// What the rogue floods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloodKind {
    /// Genuine records with their signature altered (`bad_signature`,
    /// rejected: each one counts against the sender's score).
    Invalid,
    /// Genuine, correctly signed older versions of a listing, by the
    /// member who wrote it (`ignored_old`: ignored, no score lost in
    /// gossipsub; the node's budget of ignored records counts them).
    Superseded,
    /// Sync requests sent without waiting for the answers: valid-looking
    /// ones over the whole key space, garbage mixed in after half the flood.
    SyncRequests,
}

mod superseded;

/// A flood at rate, for the `flood` scenario (`--rate`, `--secs`, `--kind`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FloodRate {
    pub kind: FloodKind,
    /// Messages per second.
    pub rate: u32,
    pub secs: u64,
    /// Whether the budgets (graylisted within 10 heartbeats, honest
    /// p99 within 2× the baseline, RSS growth < 64 MiB) fail the run, as in
    /// `run flood --rate`; otherwise they are figures and only behaviour
    /// fails it (the sender graylisted by every target): the default suite
    /// runs on loaded machines, where one slow sample breaks a timing.
    pub budgets: bool,
    /// Once cut off, the rogue reconnects in a loop (`--redial`).
    pub redial: Option<Redial>,
}

/// The figures of a flood at rate, and whether each property held.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloodFigures {
    pub kind: Option<FloodKind>,
    pub rate: u32,
    pub secs: u64,
    /// Messages the rogue handed to gossipsub.
    pub sent: usize,
    /// Messages the rogue's gossipsub refused to send, by error.
    pub refused: std::collections::BTreeMap<String, usize>,
    /// From the rogue's first message until the last target graylisted it.
    pub graylisted_after_ms: Option<f64>,
    /// Honest propagation just before the flood, then during it.
    pub baseline: Latency,
    pub during: Latency,
    /// Summed over the targets after the flood: gossipsub frames refused by
    /// the frame guard (each closes the rogue's connections), and bans.
    pub frames_refused: u64,
    pub bans: u64,
    /// Summed over the targets after the flood: sync requests refused
    /// (`mutua_sync_requests_refused_total`, every reason).
    pub sync_requests_refused: u64,
    /// What the rogue's sync requests came to (`--kind sync-requests`).
    pub sync_rogue: Option<rogue::SyncFloodReport>,
    /// Per target: highest VmRSS during the flood minus VmRSS before it.
    pub rss_growth_kib: Vec<u64>,
    /// The same for the nodes the rogue did not reach: the growth that
    /// honest traffic and the probes cause anyway.
    pub others_rss_growth_kib: Vec<u64>,
    /// Per target: CPU time used during the flood ÷ its duration (% of one
    /// core), and the same for the other nodes.
    pub cpu_percent: Vec<f64>,
    pub others_cpu_percent: Vec<f64>,
    /// Summed over the targets: gossip records they ignored (all reasons),
    /// and those over a peer's or author's budget.
    pub ignored: u64,
    pub over_budget: u64,
    /// What the rogue did once cut off, with `--redial`.
    pub redials: Option<RedialReport>,
    /// The properties that failed, in words (empty: all held).
    pub failures: Vec<String>,
}

impl FloodFigures {
    pub fn line(&self) -> String {
        format!(
            "flood at rate ({:?}, {}/s for {} s): sent {}; graylisted by every target after {}; \
             refused by the rogue's gossipsub: {:?}; frames refused by the targets: {}, bans: {}; honest propagation before: {}; during: {}; \
             RSS growth per target (KiB): {:?}, per other node: {:?}; CPU per target (% of a core): {:?}, per other node: {:?}; \
             gossip records the targets ignored: {}, over budget: {}; redials: {}{}{}",
            self.kind.unwrap_or(FloodKind::Invalid),
            self.rate,
            self.secs,
            self.sent,
            self.graylisted_after_ms
                .map_or("— (never)".into(), |ms| format!("{ms:.0} ms")),
            self.refused,
            self.frames_refused,
            self.bans,
            self.baseline.line(),
            self.during.line(),
            self.rss_growth_kib,
            self.others_rss_growth_kib,
            self.cpu_percent,
            self.others_cpu_percent,
            self.ignored,
            self.over_budget,
            self.redials.as_ref().map_or("none".into(), |r| format!(
                "cut off after {} ms, then {} attempts, {} refused at connection, {} accepted again, {} peer ids, loop ended at {} ms",
                r.cut_off_after_ms.unwrap_or(0), r.attempts, r.refused, r.rejoined, r.peer_ids, r.loop_ms
            )),
            self.sync_rogue.as_ref().map_or(String::new(), |r| format!(
                "; sync requests: {} sent ({} garbage), {} answered, failed {:?}, {} not sent (cut off); \
                 refused by the targets: {}",
                r.sent, r.garbage, r.answered, r.failed, r.not_connected, self.sync_requests_refused
            )),
            if self.failures.is_empty() {
                String::new()
            } else {
                format!("; FAILED: {}", self.failures.join("; "))
            }
        )
    }
}

/// What the harness samples on the targets while they are flooded (and
/// before, for the baseline): their view of the rogue's score, their RSS.
struct Probe {
    targets: Vec<usize>,
    /// The rogue's peer id and when it started sending, once it has.
    rogue: Option<(String, Instant)>,
    /// Per target: its bans before the flood.
    bans_before: Vec<u64>,
    graylisted: Vec<bool>,
    graylisted_after_ms: Option<f64>,
    /// Per node (every node, targets or not).
    highest_rss: Vec<u64>,
    last: Option<Instant>,
}

impl Probe {
    /// Samples at most this often: the probes load the nodes' APIs.
    const EVERY: Duration = Duration::from_millis(200);

    fn new(run: &Run<'_>, targets: &[usize]) -> Probe {
        let mut probe = Probe {
            targets: targets.to_vec(),
            rogue: None,
            bans_before: targets.iter().map(|&i| bans(run, i)).collect(),
            graylisted: vec![false; targets.len()],
            graylisted_after_ms: None,
            highest_rss: vec![0; run.net.len()],
            last: None,
        };
        probe.sample_rss(run);
        probe
    }

    fn sample_rss(&mut self, run: &Run<'_>) {
        for (i, h) in self.highest_rss.iter_mut().enumerate() {
            let now = run.net.member(i).process().and_then(|p| p.rss_kib());
            *h = (*h).max(now.unwrap_or(0));
        }
    }

    fn sample(&mut self, run: &Run<'_>) -> Result<(), Error> {
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        self.sample_rss(run);
        for (k, &i) in self.targets.iter().enumerate() {
            let peers = run.net.api(i)?.peers()?;
            if let Some((rogue, _)) = &self.rogue {
                self.graylisted[k] |= peers.peers.iter().any(|p| {
                    &p.peer_id == rogue && p.score.is_some_and(|s| s < GRAYLIST_THRESHOLD)
                });
                if !self.graylisted[k] {
                    self.graylisted[k] = bans(run, i) > self.bans_before[k];
                }
            }
        }
        if let Some((_, started)) = self.rogue {
            if self.graylisted_after_ms.is_none() && self.graylisted.iter().all(|&g| g) {
                self.graylisted_after_ms = Some((started.elapsed().as_secs_f64() * 1000.0).round());
            }
        }
        Ok(())
    }
}

/// The peers node `i` has banned so far (0 if it does not answer).
fn bans(run: &Run<'_>, i: usize) -> u64 {
    let text = run.net.api(i).and_then(|a| a.metrics()).unwrap_or_default();
    metric_sum(&text, "mutua_network_sync_bans_total", &[]) as u64
}

/// CPU seconds used so far by each node (0 for one that is down).
fn cpu_secs(run: &Run<'_>) -> Vec<f64> {
    (0..run.net.len())
        .map(|i| {
            run.net
                .member(i)
                .process()
                .and_then(|p| p.cpu_secs())
                .unwrap_or(0.0)
        })
        .collect()
}

/// The `n`th forged message of `kind`, from the honest envelopes (or the
/// member's key, for superseded versions).
fn forgery(
    kind: FloodKind,
    genuine: &[Vec<u8>],
    superseding: Option<&superseded::Superseding>,
    n: u64,
) -> Vec<u8> {
    match (kind, superseding) {
        (FloodKind::Superseded, Some(s)) => s.message(n),
        (FloodKind::Superseded, None) => Vec::new(),
        // Not gossip: `rogue::sync_flood_at_rate` builds its requests.
        (FloodKind::Invalid | FloodKind::SyncRequests, _) => {
            let mut bytes = genuine[(n as usize) % genuine.len()].clone();
            // XOR the signature's (the envelope's last 64 bytes) first eight
            // bytes with n + 1: never zero, so always altered, and distinct.
            let at = bytes.len() - 64;
            for (b, x) in bytes[at..at + 8].iter_mut().zip((n + 1).to_le_bytes()) {
                *b ^= x;
            }
            bytes
        }
    }
}

impl Run<'_> {
    /// Baseline, then the flood with honest records published through it,
    /// then the checks; the figures go into the report either way.
    pub(super) fn flood_at_rate(
        &mut self,
        targets: &[usize],
        flood: FloodRate,
    ) -> Result<(), Error> {
        let spacing = Duration::from_secs(flood.secs).max(Duration::from_secs(1))
            / (HONEST_SAMPLES as u32 + 1);
        // The baseline runs under the same probes as the flood: they load
        // the (debug, shared-machine) nodes too.
        let superseding = match flood.kind {
            FloodKind::Superseded => Some(self.supersede()?),
            FloodKind::Invalid | FloodKind::SyncRequests => None,
        };
        let mut probe = Probe::new(self, targets);
        let baseline = self.publish_spaced(HONEST_SAMPLES, spacing, |run| probe.sample(run))?;
        let mut figures = FloodFigures {
            kind: Some(flood.kind),
            rate: flood.rate,
            secs: flood.secs,
            baseline: Latency::of(&baseline),
            ..FloodFigures::default()
        };
        let result =
            self.flood_and_publish(targets, flood, superseding.as_ref(), spacing, &mut figures);
        figures.failures = judge(&figures, targets.len(), flood.budgets);
        let failed = (!figures.failures.is_empty()).then(|| figures.line());
        self.report.flood_rate = Some(figures);
        result?;
        match failed {
            Some(line) => Err(Error::Check(line)),
            None => Ok(()),
        }
    }

    fn flood_and_publish(
        &mut self,
        targets: &[usize],
        flood: FloodRate,
        superseding: Option<&superseded::Superseding>,
        spacing: Duration,
        figures: &mut FloodFigures,
    ) -> Result<(), Error> {
        let topic = self.net.topic()?;
        let addrs: Vec<Multiaddr> = targets
            .iter()
            .filter_map(|&i| self.net.p2p_addr(i).ok()?.parse().ok())
            .collect();
        let mut probe = Probe::new(self, targets);
        let before = probe.highest_rss.clone();
        let cpu_before = cpu_secs(self);
        let ignored_before = self.targets_ignored(targets)?;
        let identity = Keypair::generate_ed25519();
        let rogue_id = identity.public().to_peer_id().to_string();
        let genuine = self.envelopes.clone();
        if genuine.is_empty() {
            return Err(Error::Check("no honest envelope to forge from".into()));
        }
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let duration = Duration::from_secs(flood.secs);
        // Drawn only for this kind, so that the other kinds' runs stay as they were.
        let seed: u64 = match flood.kind {
            FloodKind::SyncRequests => rand::Rng::gen(&mut self.rng),
            FloodKind::Invalid | FloodKind::Superseded => 0,
        };
        // Signed before the flood, not as it goes (past them, on demand).
        let mut presigned = superseding
            .map(|s| s.presign((u64::from(flood.rate) * flood.secs).min(MAX_PRESIGNED)))
            .unwrap_or_default();
        std::thread::scope(|scope| {
            let rogue = scope.spawn(move || {
                let mut message = |n: u64| match presigned.get_mut(n as usize) {
                    Some(m) if !m.is_empty() => std::mem::take(m),
                    _ => forgery(flood.kind, &genuine, superseding, n),
                };
                let paced = PacedFlood {
                    identity,
                    topic: &topic,
                    targets: &addrs,
                    rate: flood.rate,
                    duration,
                    message: &mut message,
                    started: started_tx,
                    redial: flood.redial,
                };
                match flood.kind {
                    FloodKind::SyncRequests => rogue::sync_flood_at_rate(paced, seed).map(|r| {
                        let gossip = rogue::FloodReport {
                            peer_id: r.peer_id.clone(),
                            sent: r.sent,
                            ..rogue::FloodReport::default()
                        };
                        (gossip, Some(r))
                    }),
                    FloodKind::Invalid | FloodKind::Superseded => {
                        rogue::flood_at_rate(paced).map(|r| (r, None))
                    }
                }
            });
            let outcome = (|| {
                let Ok(started) = started_rx.recv_timeout(Duration::from_secs(60)) else {
                    return Err(Error::Check("the rogue never started flooding".into()));
                };
                probe.rogue = Some((rogue_id.clone(), started));
                let during =
                    self.publish_spaced(HONEST_SAMPLES, spacing, |run| probe.sample(run))?;
                while started.elapsed() < duration {
                    probe.sample(self)?;
                    std::thread::sleep(wait::POLL);
                }
                // A loaded target may still be judging what the rogue sent:
                // keep watching until every target cut it off (a figure, and
                // the budget's failure if it is late).
                while probe.graylisted_after_ms.is_none()
                    && started.elapsed() < duration + LATE_GRAYLIST
                {
                    probe.sample(self)?;
                    std::thread::sleep(wait::POLL);
                }
                figures.during = Latency::of(&during);
                figures.graylisted_after_ms = probe.graylisted_after_ms;
                Ok(started)
            })();
            let sent = rogue
                .join()
                .map_err(|_| Error::Rogue("the rogue thread panicked".into()))?;
            match sent {
                Ok((report, sync_rogue)) => {
                    figures.sent = report.sent;
                    figures.refused = report.refused;
                    figures.redials = report.redials;
                    figures.sync_rogue = sync_rogue;
                }
                Err(e) => return Err(e),
            }
            // Over the whole flood, a redial loop included.
            let started = outcome?;
            while flood.redial.is_some() && !probe.graylisted.iter().all(|&g| g) {
                // Cut off late: the figures still want the ban seen.
                if probe.sample(self).is_err() || started.elapsed() > duration + LATE_GRAYLIST {
                    break;
                }
                std::thread::sleep(wait::POLL);
            }
            figures.graylisted_after_ms = probe.graylisted_after_ms;
            let secs = started.elapsed().as_secs_f64();
            let used = cpu_secs(self).into_iter().zip(&cpu_before);
            let percent = used.map(|(now, b)| ((now - b) / secs * 1000.0).round() / 10.0);
            let (ours, others): (Vec<_>, Vec<_>) =
                percent.enumerate().partition(|(i, _)| targets.contains(i));
            figures.cpu_percent = ours.into_iter().map(|(_, c)| c).collect();
            figures.others_cpu_percent = others.into_iter().map(|(_, c)| c).collect();
            Ok(())
        })?;
        let growth = probe
            .highest_rss
            .iter()
            .zip(&before)
            .map(|(h, b)| h.saturating_sub(*b));
        let (ours, others): (Vec<_>, Vec<_>) =
            growth.enumerate().partition(|(i, _)| targets.contains(i));
        figures.rss_growth_kib = ours.into_iter().map(|(_, g)| g).collect();
        figures.others_rss_growth_kib = others.into_iter().map(|(_, g)| g).collect();
        for &i in targets {
            let text = self.net.api(i)?.metrics()?;
            let sum = |name| metric_sum(&text, name, &[]) as u64;
            figures.frames_refused += sum("mutua_network_gossip_frames_refused_total");
            figures.bans += sum("mutua_network_sync_bans_total");
            figures.over_budget += sum("mutua_network_ignored_over_budget_total");
            figures.sync_requests_refused += sum("mutua_sync_requests_refused_total");
        }
        figures.ignored = self
            .targets_ignored(targets)?
            .saturating_sub(ignored_before);
        self.report.rogue_messages_sent += figures.sent;
        self.report.notes.push(format!(
            "rogue {rogue_id} flooded nodes {targets:?} at rate"
        ));
        Ok(())
    }

    /// Gossip records the targets ignored so far, summed.
    fn targets_ignored(&self, targets: &[usize]) -> Result<u64, Error> {
        let mut sum = 0;
        for &i in targets {
            let text = self.net.api(i)?.metrics()?;
            let labels = ["source=\"gossip\"", "outcome=\"ignored\""];
            sum += metric_sum(&text, "mutua_ingest_records_total", &labels) as u64;
        }
        Ok(sum)
    }

    /// Publishes `count` records from seeded random nodes, `spacing` apart,
    /// calling `between` while it waits, and returns the time each took to
    /// reach every node.
    fn publish_spaced(
        &mut self,
        count: usize,
        spacing: Duration,
        mut between: impl FnMut(&Run<'_>) -> Result<(), Error>,
    ) -> Result<Vec<Duration>, Error> {
        use rand::Rng;
        let first = self.published.len();
        for _ in 0..count {
            let due = Instant::now() + spacing;
            let node = self.rng.gen_range(0..self.net.len());
            let template = self.rng.gen_range(0..crate::records::TEMPLATES.len());
            self.publish(node, template)?;
            while Instant::now() < due {
                between(self)?;
                std::thread::sleep(wait::POLL.min(due.saturating_duration_since(Instant::now())));
            }
        }
        self.await_propagation()?;
        let published: Vec<Published> = self.published[first..].to_vec();
        Ok(published
            .iter()
            .filter_map(|p| {
                self.expected(p)
                    .iter()
                    .filter_map(|&i| {
                        let seen = self.seen[i].lock().unwrap_or_else(|e| e.into_inner());
                        seen.hashes.get(&p.hash).copied()
                    })
                    .max()
                    .map(|t| t.saturating_duration_since(p.at))
            })
            .collect())
    }
}

/// The properties that failed, in words.
fn judge(f: &FloodFigures, targets: usize, budgets: bool) -> Vec<String> {
    let mut out = redial_failures(f);
    match f.graylisted_after_ms {
        Some(_) if !budgets => return out,
        Some(ms) if ms <= GRAYLIST_GOAL.as_millis() as f64 => {}
        Some(ms) => out.push(format!(
            "the rogue was graylisted or cut off by every target only after {ms:.0} ms (goal {} s)",
            GRAYLIST_GOAL.as_secs()
        )),
        None => out.push(format!(
            "the rogue was never graylisted or cut off by all {targets} targets"
        )),
    }
    match (f.baseline.p99_ms, f.during.p99_ms) {
        (Some(base), Some(during)) => {
            let limit = LATENCY_FACTOR * base + POLL_RESOLUTION.as_millis() as f64;
            if during > limit {
                out.push(format!(
                    "honest p99 during the flood {during:.0} ms > {LATENCY_FACTOR} × baseline {base:.0} ms + {} ms",
                    POLL_RESOLUTION.as_millis()
                ));
            }
        }
        _ => out.push("honest propagation was not measured".into()),
    }
    if f.rss_growth_kib.len() != targets {
        out.push("RSS not measured on every target".into());
    }
    if let Some(worst) = f.rss_growth_kib.iter().max() {
        if *worst >= RSS_GROWTH_LIMIT_KIB {
            out.push(format!(
                "a target's RSS grew by {worst} KiB (limit {RSS_GROWTH_LIMIT_KIB} KiB)"
            ));
        }
    }
    out
}

/// Behaviour of a redialing rogue of superseded versions: under the same
/// peer id, refused at connection once banned; under fresh ones, each
/// accepted session ends in a ban (the member's budget is spent).
fn redial_failures(f: &FloodFigures) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(r), Some(FloodKind::Superseded)) = (&f.redials, f.kind) else {
        return out;
    };
    if r.attempts == 0 {
        out.push("the rogue never redialed (never cut off?)".into());
    }
    if r.peer_ids == 1 && r.rejoined > 0 {
        out.push(format!(
            "a banned peer id was accepted again {} times",
            r.rejoined
        ));
    }
    if r.peer_ids > 1 && f.bans < r.rejoined as u64 {
        out.push(format!(
            "{} sessions under fresh peer ids but only {} bans",
            r.rejoined + 1,
            f.bans
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgeries_are_distinct_and_always_altered() {
        let genuine = vec![vec![7u8; 200], vec![9u8; 150]];
        let mut seen = std::collections::HashSet::new();
        for n in 0..2000 {
            let m = forgery(FloodKind::Invalid, &genuine, None, n);
            assert_ne!(&m, &genuine[n as usize % 2]);
            assert!(seen.insert(m));
        }
    }
}
