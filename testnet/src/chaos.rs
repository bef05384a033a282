//! The chaos scenario: many short seeded runs, each a new federation whose
//! every connection goes through the harness's [`crate::relay`] (delay,
//! stalls standing for loss, refused connections, cuts, partitions), whose
//! nodes' clocks are skewed with libfaketime, and whose nodes are killed
//! (SIGKILL) and restarted — while listings are published and withdrawn
//! and a member is revoked. After the final heal, every run must show:
//! identical digests, every live listing present with its last version,
//! every withdrawn one replaced by its withdrawal, and no record of the
//! revoked member accepted after its revocation had reached every node (one
//! signed after it is offered to a node by import and must be ignored as
//! `revoked`, and absent everywhere at the end).
//!
//! **Clock skew.** Each node's clock is up to ±295 s off (Debian's
//! libfaketime, wall clock only), drawn around a run-wide centre so that no
//! two nodes are more than 290 s apart: the protocol ignores records more
//! than 300 s in the future (`MAX_CLOCK_SKEW_SECS`), rightly, so a larger
//! spread would make a correct node refuse an honest record until its
//! clock catches up, which is the rule working and not a divergence.
//!
//! **Revocation.** It is made from node 0 at a random moment of the second
//! half of the run, partitions, kills and cuts included, while the revoked
//! member may have published in the other side of a partition a moment
//! before: its listings are refused where the revocation arrived first and
//! forgotten where they arrived first (PROTOCOL.md, *Membership*), so at the
//! end none of them is anywhere. The late record is offered once the
//! replicas agree.
//!
//! The plan of each run is drawn from its seed alone (`seed + run`), and the
//! report names every run with its seed, so any run can be replayed with
//! `--runs 1 --seed <its seed>`. A failed run says what failed
//! ([`Failure`]): the set-up (no chaos ran, nothing was judged), a property,
//! or something else while the chaos ran. `--jobs J` runs J at once, each
//! its own federation on its own subnet; the report is in seed order.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mutua_api::{ImportRequest, Record, RevokeRequest};
use mutua_protocol::codec::hash_envelope;
use mutua_protocol::{
    seal, FixedBytes, ListingId, Payload, PublicKey, RecordHash, RevocationReason,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::federation::{Testnet, TestnetOptions};
use crate::records::{self, TEMPLATES};
use crate::relay::{Conditions, RelayCounts};
use crate::rogue;
use crate::Error;

/// How long replicas may take to agree after the final heal.
pub const CHAOS_CONVERGENCE_DEADLINE: Duration = Duration::from_secs(120);
/// The largest clock offset of one node, and the largest spread between two.
const MAX_OFFSET_SECS: i64 = 295;
const MAX_SPREAD_SECS: i64 = 290;
/// Chaos steps before the first convergence, and after it (the revocation
/// is made among the latter).
const STEPS_BEFORE: usize = 10;
const STEPS_AFTER: usize = 8;

/// What to run.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    /// The `mutua-testnet` binary.
    pub bin: std::path::PathBuf,
    pub nodes: usize,
    pub runs: usize,
    /// Run `r` uses seed `seed + r`.
    pub seed: u64,
    /// The nodes' anti-entropy interval.
    pub sync_interval_secs: u64,
    /// Runs at once (each its own federation).
    pub jobs: usize,
}

/// What a failed run failed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The federation did not form: no chaos ran, no property was judged.
    Setup,
    /// A property: replicas not equal with every live listing and every
    /// withdrawal in time, the revocation not everywhere in time, or the
    /// revoked member's late record kept.
    Property,
    /// Something else while the chaos ran: a node exited on its own, a
    /// restart or an API call failed.
    Chaos,
    /// The campaign was stopped (Ctrl-C).
    Interrupted,
}

impl Failure {
    fn label(self) -> &'static str {
        match self {
            Failure::Setup => "setup",
            Failure::Property => "property",
            Failure::Chaos => "chaos",
            Failure::Interrupted => "interrupted",
        }
    }

    /// `e` from a phase whose own failures are `phase`: an interruption, an
    /// exited node or an unreachable API are never a property's failure.
    fn of(e: &Error, phase: Failure) -> Failure {
        match e {
            // Ctrl-C stops every node first: what failed next is no finding.
            _ if crate::cleanup::interrupted() => Failure::Interrupted,
            Error::Interrupted => Failure::Interrupted,
            Error::Kept { source, .. } => Failure::of(source, phase),
            Error::Check(_) | Error::Timeout { .. } => phase,
            _ if phase == Failure::Setup => Failure::Setup,
            _ => Failure::Chaos,
        }
    }
}

/// One step of a run's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChaosStep {
    Publish {
        node: usize,
        template: usize,
    },
    /// The `nth` listing published so far (modulo their count) is withdrawn.
    Withdraw {
        nth: usize,
    },
    /// The relay cuts `group` off from the others.
    Partition {
        group: Vec<usize>,
    },
    Heal,
    Kill {
        node: usize,
    },
    Restart {
        node: usize,
    },
    /// The relay aborts every connection of `node` (it redials).
    Cut {
        node: usize,
    },
}

/// The seeded plan of one run: the clock offsets, the relay's conditions
/// and the steps (before and after the first convergence).
#[derive(Clone, Debug, Serialize)]
pub struct ChaosPlan {
    pub offsets_secs: Vec<i64>,
    pub delay_ms: Vec<Vec<u64>>,
    pub loss: f64,
    pub refuse: f64,
    pub before: Vec<ChaosStep>,
    pub after: Vec<ChaosStep>,
    /// The member revoked (never node 0, the anchor's)…
    pub revoked: usize,
    /// …before `after[revoke_at]` (after them all if it is their number).
    pub revoke_at: usize,
}

/// Draws a run's plan from its seed.
pub fn plan(nodes: usize, seed: u64) -> ChaosPlan {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6368_616f_735f_706c);
    let n = nodes.max(3);
    let centre = rng.gen_range(
        -(MAX_OFFSET_SECS - MAX_SPREAD_SECS / 2)..=MAX_OFFSET_SECS - MAX_SPREAD_SECS / 2,
    );
    let half = MAX_SPREAD_SECS / 2;
    let offsets_secs = (0..n)
        .map(|_| centre + rng.gen_range(-half..=half))
        .collect();
    let delay_ms = (0..n)
        .map(|_| (0..n).map(|_| rng.gen_range(0..=60)).collect())
        .collect();
    let loss = rng.gen_range(0.0..0.03);
    let refuse = rng.gen_range(0.0..0.15);
    let revoked = rng.gen_range(1..n);
    let revoke_at = rng.gen_range(0..=STEPS_AFTER);
    let mut state = PlanState::default();
    let before = (0..STEPS_BEFORE)
        .map(|_| state.step(&mut rng, n, None))
        .collect();
    // The first convergence makes the federation whole again.
    let mut state = PlanState::default();
    let after = (0..STEPS_AFTER)
        .map(|k| state.step(&mut rng, n, (k >= revoke_at).then_some(revoked)))
        .collect();
    ChaosPlan {
        offsets_secs,
        delay_ms,
        loss,
        refuse,
        before,
        after,
        revoked,
        revoke_at,
    }
}

/// What the plan knows while drawing steps: who is down, who is cut off.
#[derive(Default)]
struct PlanState {
    down: Vec<usize>,
    partitioned: bool,
}

impl PlanState {
    fn step(&mut self, rng: &mut StdRng, n: usize, revoked: Option<usize>) -> ChaosStep {
        let up: Vec<usize> = (0..n).filter(|i| !self.down.contains(i)).collect();
        let publishers: Vec<usize> = up.iter().copied().filter(|&i| Some(i) != revoked).collect();
        loop {
            match rng.gen_range(0..12) {
                0..=3 if !publishers.is_empty() => {
                    return ChaosStep::Publish {
                        node: *publishers.choose(rng).unwrap_or(&0),
                        template: rng.gen_range(0..TEMPLATES.len()),
                    }
                }
                4 => return ChaosStep::Withdraw { nth: rng.gen() },
                5..=6 if !self.partitioned => {
                    let mut others: Vec<usize> = (0..n).collect();
                    others.shuffle(rng);
                    let size = rng.gen_range(1..=n / 2);
                    let mut group: Vec<usize> = others.into_iter().take(size).collect();
                    group.sort_unstable();
                    self.partitioned = true;
                    return ChaosStep::Partition { group };
                }
                7 if self.partitioned => {
                    self.partitioned = false;
                    return ChaosStep::Heal;
                }
                // Node 0 (the anchor, everyone's bootstrap) stays up; at
                // most a third of the nodes are down at once.
                8 if self.down.len() < (n / 3).max(1) && up.len() > 1 => {
                    let node = *up[1..].choose(rng).unwrap_or(&1);
                    self.down.push(node);
                    return ChaosStep::Kill { node };
                }
                9 if !self.down.is_empty() => {
                    let node = self.down.remove(rng.gen_range(0..self.down.len()));
                    return ChaosStep::Restart { node };
                }
                10 => {
                    return ChaosStep::Cut {
                        node: rng.gen_range(0..n),
                    }
                }
                _ => {}
            }
        }
    }
}

/// One run, as the report lists it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChaosRun {
    pub run: usize,
    pub seed: u64,
    pub ok: bool,
    /// What failed, if the run did.
    pub failure: Option<Failure>,
    pub error: Option<String>,
    pub published: usize,
    pub withdrawn: usize,
    pub kills: usize,
    pub partitions: usize,
    pub cuts: usize,
    pub offsets_secs: Vec<i64>,
    pub loss: f64,
    pub refuse: f64,
    /// From the final heal (and restarts) to identical replicas.
    pub converge_ms: Option<f64>,
    /// The revoked member's record signed after the revocation: how the
    /// node offered it answered (`revoked` expected).
    pub late_record_verdict: Option<String>,
    /// Whether the revocation was made while the federation was partitioned
    /// (the case where it overtakes the member's records).
    pub revoked_in_partition: bool,
    pub relay: RelayCounts,
    pub digest: Option<String>,
    pub duration_secs: f64,
}

/// Every run of a chaos campaign.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChaosReport {
    pub nodes: usize,
    pub seed: u64,
    pub jobs: usize,
    pub runs: Vec<ChaosRun>,
    pub passed: usize,
    /// Seeds of the failed runs, by what failed.
    pub setup_failures: Vec<u64>,
    pub property_failures: Vec<u64>,
    pub chaos_failures: Vec<u64>,
    pub interrupted: Vec<u64>,
    pub worst_converge_ms: Option<f64>,
    pub duration_secs: f64,
}

impl ChaosReport {
    pub fn all_passed(&self) -> bool {
        self.passed == self.runs.len()
    }

    fn add(&mut self, run: ChaosRun) {
        if run.ok {
            self.passed += 1;
        }
        let seeds = match run.failure {
            None => None,
            Some(Failure::Setup) => Some(&mut self.setup_failures),
            Some(Failure::Property) => Some(&mut self.property_failures),
            Some(Failure::Chaos) => Some(&mut self.chaos_failures),
            Some(Failure::Interrupted) => Some(&mut self.interrupted),
        };
        if let Some(seeds) = seeds {
            seeds.push(run.seed);
        }
        if let Some(ms) = run.converge_ms {
            self.worst_converge_ms = Some(self.worst_converge_ms.map_or(ms, |w: f64| w.max(ms)));
        }
        self.runs.push(run);
    }

    /// One run's line.
    pub fn line(r: &ChaosRun) -> String {
        format!(
            "run {:>3} seed {:>6}: {} converge {} ms; {} published, {} withdrawn, {} kills, {} partitions, {} cuts; revoked {}; late record {}; relay {}/{}/{} relayed/refused/aborted; offsets {:?} s; {:.0} s{}\n",
            r.run,
            r.seed,
            match r.failure {
                _ if r.ok => "ok  ".to_owned(),
                Some(f) => format!("FAIL ({})", f.label()),
                None => "FAIL".to_owned(),
            },
            r.converge_ms.map_or("-".into(), |m| format!("{m:.0}")),
            r.published,
            r.withdrawn,
            r.kills,
            r.partitions,
            r.cuts,
            if r.revoked_in_partition {
                "in a partition"
            } else {
                "whole"
            },
            r.late_record_verdict.as_deref().unwrap_or("-"),
            r.relay.relayed,
            r.relay.refused,
            r.relay.aborted,
            r.offsets_secs,
            r.duration_secs,
            r.error.as_ref().map_or(String::new(), |e| format!("\n      error: {e}")),
        )
    }

    /// The totals: how many passed, then the seeds of the failed runs by
    /// what failed (a set-up failure judged nothing; a property failure is
    /// the node's).
    pub fn totals(&self) -> String {
        let formed = self.runs.len() - self.setup_failures.len() - self.interrupted.len();
        let mut out = format!(
            "chaos: {} of {} runs passed ({} nodes, seeds {}..={}, {} at once, {:.0} s); {} of the {} that formed a federation; revoked in a partition in {}; worst time to converge after the final heal: {} ms\n",
            self.passed,
            self.runs.len(),
            self.nodes,
            self.seed,
            self.seed + self.runs.len().saturating_sub(1) as u64,
            self.jobs,
            self.duration_secs,
            self.passed,
            formed,
            self.runs.iter().filter(|r| r.revoked_in_partition).count(),
            self.worst_converge_ms.map_or("-".into(), |m| format!("{m:.0}")),
        );
        for (what, seeds) in [
            ("property failures", &self.property_failures),
            (
                "failures while the chaos ran (not a property)",
                &self.chaos_failures,
            ),
            (
                "set-up failures (no chaos ran, nothing judged)",
                &self.setup_failures,
            ),
            ("interrupted", &self.interrupted),
        ] {
            if !seeds.is_empty() {
                out.push_str(&format!("  {what}: {}, seeds {seeds:?}\n", seeds.len()));
            }
        }
        out
    }

    /// Every run's line, then the totals.
    pub fn summary(&self) -> String {
        let mut out: String = self.runs.iter().map(Self::line).collect();
        out.push_str(&self.totals());
        out
    }
}

/// Runs every run, `options.jobs` at once; a failed run is reported and
/// the next one starts. `each` sees the runs in seed order. `Err` only if
/// the campaign cannot run at all, or was interrupted.
pub fn run(options: &ChaosOptions, mut each: impl FnMut(&ChaosRun)) -> Result<ChaosReport, Error> {
    crate::node::libfaketime()?;
    crate::net::namespaces_available().map_err(Error::Netns)?;
    let started = Instant::now();
    let mut report = ChaosReport {
        nodes: options.nodes,
        seed: options.seed,
        jobs: options.jobs.max(1),
        ..ChaosReport::default()
    };
    crate::jobs::in_order(
        options.runs,
        options.jobs,
        crate::cleanup::interrupted,
        |r| one_run(options, r, options.seed.wrapping_add(r as u64)),
        |run| {
            each(&run);
            report.add(run);
        },
    );
    if crate::cleanup::interrupted() {
        return Err(Error::Interrupted);
    }
    report.duration_secs = started.elapsed().as_secs_f64().round();
    Ok(report)
}

/// A listing the run published.
#[derive(Clone)]
struct Listed {
    origin: usize,
    author: PublicKey,
    id: ListingId,
    hash: RecordHash,
    withdrawn: bool,
}

struct Chaos<'a> {
    net: &'a mut Testnet,
    listed: Vec<Listed>,
    run: ChaosRun,
    partitioned: bool,
    /// The revoked member's late record: (author, id).
    late: Option<(PublicKey, ListingId)>,
    /// The revoked member's node: its listings can no longer be withdrawn.
    revoked: Option<usize>,
}

fn one_run(options: &ChaosOptions, r: usize, seed: u64) -> ChaosRun {
    let started = Instant::now();
    let plan = plan(options.nodes, seed);
    let mut run = ChaosRun {
        run: r,
        seed,
        offsets_secs: plan.offsets_secs.clone(),
        loss: (plan.loss * 1000.0).round() / 1000.0,
        refuse: (plan.refuse * 1000.0).round() / 1000.0,
        ..ChaosRun::default()
    };
    let mut testnet = TestnetOptions::new(&options.bin, plan.offsets_secs.len(), seed);
    testnet.net = crate::NetMode::Namespaces;
    testnet.relayed = true;
    // A failed run's node logs are what explains it.
    testnet.keep_failed = true;
    testnet.clock_offsets_secs = plan.offsets_secs.clone();
    testnet.sync_interval_secs = options.sync_interval_secs;
    let mut net = match Testnet::start(&testnet) {
        Ok(net) => net,
        Err(e) => {
            run.failure = Some(Failure::of(&e, Failure::Setup));
            run.error = Some(format!("the federation did not form: {e}"));
            run.duration_secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
            return run;
        }
    };
    let mut chaos = Chaos {
        net: &mut net,
        listed: Vec::new(),
        run,
        partitioned: false,
        late: None,
        revoked: None,
    };
    let result = chaos.execute(&plan);
    if let Some(relay) = chaos.net.relay() {
        chaos.run.relay = relay.counts();
    }
    let mut run = chaos.run;
    match result {
        Ok(()) => run.ok = true,
        Err((failure, e)) => {
            run.failure = Some(failure);
            let kept = match failure {
                Failure::Interrupted => String::new(),
                _ => format!(" (logs kept in {})", net.keep_dir().display()),
            };
            run.error = Some(format!("{e}{kept}"));
        }
    }
    run.duration_secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    run
}

impl Chaos<'_> {
    /// The run after set-up; an error says what failed ([`Failure`]).
    fn execute(&mut self, plan: &ChaosPlan) -> Result<(), (Failure, Error)> {
        let chaos = |e: Error| (Failure::of(&e, Failure::Chaos), e);
        let property = |e: Error| (Failure::of(&e, Failure::Property), e);
        let n = self.net.len();
        let conditions = Conditions {
            delay: plan
                .delay_ms
                .iter()
                .map(|row| row.iter().map(|&ms| Duration::from_millis(ms)).collect())
                .collect(),
            loss: plan.loss,
            stall: Duration::from_millis(200),
            refuse: plan.refuse,
        };
        self.relay().map_err(chaos)?.set_conditions(conditions);
        for step in &plan.before {
            self.step(step).map_err(chaos)?;
        }
        self.whole().map_err(chaos)?;
        self.converge().map_err(property)?;
        for (k, step) in plan.after.iter().enumerate() {
            if k == plan.revoke_at {
                self.revoke(plan.revoked).map_err(chaos)?;
            }
            self.step(step).map_err(chaos)?;
        }
        if plan.revoke_at >= plan.after.len() {
            self.revoke(plan.revoked).map_err(chaos)?;
        }
        self.whole().map_err(chaos)?;
        let healed = Instant::now();
        self.converge().map_err(property)?;
        self.run.converge_ms = Some((healed.elapsed().as_secs_f64() * 1000.0).round());
        self.offer_late_record(plan.revoked).map_err(property)?;
        self.converge().map_err(property)?;
        debug_assert_eq!(n, self.net.len());
        Ok(())
    }

    fn relay(&self) -> Result<&crate::relay::Relay, Error> {
        self.net
            .relay()
            .ok_or_else(|| Error::Netns("the chaos testnet has no relay".into()))
    }

    fn step(&mut self, step: &ChaosStep) -> Result<(), Error> {
        self.net.check_alive()?;
        match step {
            ChaosStep::Publish { node, template } => {
                let member = self.net.member(*node);
                let body =
                    records::listing(&TEMPLATES[*template], &member.identity, self.listed.len());
                let answer = self
                    .net
                    .api(*node)?
                    .publish(&member.identity.publisher, &body)?;
                if let Some(listing) = answer.record.listing() {
                    self.listed.push(Listed {
                        origin: *node,
                        author: listing.author,
                        id: listing.id,
                        hash: listing.hash,
                        withdrawn: false,
                    });
                    self.run.published += 1;
                }
            }
            ChaosStep::Withdraw { nth } => {
                let live: Vec<usize> = (0..self.listed.len())
                    .filter(|&k| {
                        let l = &self.listed[k];
                        !l.withdrawn && self.net.is_up(l.origin) && Some(l.origin) != self.revoked
                    })
                    .collect();
                if let Some(&k) = live.get(nth % live.len().max(1)) {
                    let l = &self.listed[k];
                    let publisher = self.net.member(l.origin).identity.publisher.clone();
                    self.net.api(l.origin)?.withdraw(&publisher, &l.id)?;
                    self.listed[k].withdrawn = true;
                    self.run.withdrawn += 1;
                }
            }
            ChaosStep::Partition { group } => {
                self.relay()?.partition(group);
                self.partitioned = true;
                self.run.partitions += 1;
            }
            ChaosStep::Heal => {
                self.relay()?.heal();
                self.partitioned = false;
            }
            ChaosStep::Kill { node } => {
                self.net.kill(*node);
                self.run.kills += 1;
            }
            ChaosStep::Restart { node } => self.net.restart(*node)?,
            ChaosStep::Cut { node } => {
                self.relay()?.cut(*node);
                self.run.cuts += 1;
            }
        }
        Ok(())
    }

    /// Heals the partition and restarts every node that is down.
    fn whole(&mut self) -> Result<(), Error> {
        if self.partitioned {
            self.relay()?.heal();
            self.partitioned = false;
        }
        for i in 0..self.net.len() {
            if !self.net.is_up(i) {
                self.net.restart(i)?;
            }
        }
        Ok(())
    }

    /// Revokes member `m` from node 0 (up: the plan never kills it), in
    /// whatever state the federation is.
    fn revoke(&mut self, m: usize) -> Result<(), Error> {
        let certificate = self
            .net
            .certificates
            .get(m)
            .and_then(|hex| mutua_protocol::unhex(hex))
            .ok_or_else(|| Error::Init {
                node: m,
                message: "no certificate was issued".into(),
            })?;
        let hash = hash_envelope(&certificate);
        self.revoked = Some(m);
        self.run.revoked_in_partition = self.partitioned;
        self.net.api(0)?.revoke(
            &hash,
            &RevokeRequest {
                issuer: None,
                reason: RevocationReason::LeftFederation,
            },
        )?;
        Ok(())
    }

    /// Offers a node a record revoked member `m` signed after the
    /// revocation, once every replica holds it (converged).
    fn offer_late_record(&mut self, m: usize) -> Result<(), Error> {
        let key = self.net.member(m).signing_key(m)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let id: ListingId = FixedBytes(rand::thread_rng().gen());
        let listing = rogue::offer(
            &key,
            id,
            "Offre publiée après la révocation".into(),
            "Signée par un membre révoqué : aucun nœud ne doit la garder.",
            now,
        );
        let record = seal(&key, &Payload::Offer(listing)).map_err(|e| Error::Init {
            node: m,
            message: e.to_string(),
        })?;
        let target = (m + 1) % self.net.len();
        let report = self.net.api(target)?.import(&ImportRequest {
            records: vec![mutua_protocol::hex(record.bytes())],
        })?;
        let verdict = if report.accepted > 0 {
            "accepted".to_owned()
        } else {
            report
                .ignored
                .keys()
                .next()
                .cloned()
                .or_else(|| report.errors.first().map(|e| e.code.clone()))
                .unwrap_or_else(|| "refused".into())
        };
        let revoked = verdict == "revoked";
        self.run.late_record_verdict = Some(verdict.clone());
        self.late = Some((key.public(), id));
        if !revoked {
            return Err(Error::Check(format!(
                "node {target}: a record signed after the revocation was {verdict}, not ignored as revoked"
            )));
        }
        Ok(())
    }

    /// Waits until every replica is equal and holds exactly what the run
    /// published (withdrawals in place of the withdrawn listings, nothing of
    /// the revoked member's, its late record included).
    fn converge(&mut self) -> Result<(), Error> {
        let listed = self.listed.clone();
        let late = self.late;
        let revoked = self.revoked;
        let mut digest = String::new();
        self.net.wait(
            "every replica to converge",
            CHAOS_CONVERGENCE_DEADLINE,
            |net| {
                let mut digests = BTreeSet::new();
                for i in 0..net.len() {
                    digests.insert(net.api(i)?.status()?.digest);
                }
                if digests.len() != 1 {
                    return Ok(false);
                }
                for i in 0..net.len() {
                    let api = net.api(i)?;
                    for l in &listed {
                        let ok = match api.record(&l.author, &l.id)? {
                            None if Some(l.origin) == revoked => true,
                            _ if Some(l.origin) == revoked => false,
                            Some(Record::Withdrawal(_)) => l.withdrawn,
                            Some(r) => !l.withdrawn && *r.hash() == l.hash,
                            None => false,
                        };
                        if !ok {
                            return Ok(false);
                        }
                    }
                    if let Some((author, id)) = &late {
                        if api.record(author, id)?.is_some() {
                            return Err(Error::Check(format!(
                                "node {i} holds a record of the revoked member signed after the revocation"
                            )));
                        }
                    }
                }
                digest = digests.into_iter().next().unwrap_or_default();
                Ok(true)
            },
        )?;
        self.run.digest = Some(digest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_a_plan_whose_clocks_stay_within_the_protocols_skew() {
        for seed in 0..200 {
            let p = plan(7, seed);
            assert_eq!(
                serde_json::to_string(&p).ok(),
                serde_json::to_string(&plan(7, seed)).ok()
            );
            let (min, max) = (
                *p.offsets_secs.iter().min().unwrap(),
                *p.offsets_secs.iter().max().unwrap(),
            );
            assert!(min >= -MAX_OFFSET_SECS && max <= MAX_OFFSET_SECS, "{p:?}");
            assert!(max - min <= MAX_SPREAD_SECS, "{p:?}");
            assert!(MAX_SPREAD_SECS < mutua_protocol::rules::MAX_CLOCK_SKEW_SECS as i64);
            assert!(p.revoked != 0 && p.revoked < 7);
            assert!(p.revoke_at <= p.after.len());
            for step in p.before.iter().chain(&p.after) {
                assert_ne!(step, &ChaosStep::Kill { node: 0 }, "the anchor stays up");
            }
        }
        assert_ne!(
            serde_json::to_string(&plan(7, 1)).ok(),
            serde_json::to_string(&plan(7, 2)).ok()
        );
    }

    #[test]
    fn the_revoked_member_never_publishes_after_its_revocation() {
        for seed in 0..200 {
            let p = plan(5, seed);
            for step in &p.after[p.revoke_at..] {
                if let ChaosStep::Publish { node, .. } = step {
                    assert_ne!(*node, p.revoked, "seed {seed}");
                }
            }
        }
    }

    #[test]
    fn a_kept_run_fails_at_what_its_error_failed_at() {
        let timeout = || Error::Timeout {
            what: "every node to join the gossip mesh".into(),
            after: std::time::Duration::from_secs(1),
        };
        let kept = |source: Error| Error::Kept {
            dir: "/tmp/kept".into(),
            source: Box::new(source),
        };
        assert_eq!(
            Failure::of(&kept(timeout()), Failure::Setup),
            Failure::Setup
        );
        assert_eq!(
            Failure::of(&kept(timeout()), Failure::Property),
            Failure::Property
        );
        assert_eq!(
            Failure::of(&kept(Error::Interrupted), Failure::Setup),
            Failure::Interrupted
        );
        assert!(kept(timeout())
            .to_string()
            .ends_with("(data directories and logs kept in /tmp/kept)"));
    }
}
