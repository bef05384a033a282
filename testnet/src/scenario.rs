//! Scenarios: a seeded plan of steps run against a [`Testnet`], then a
//! convergence check, then a [`Report`].
//!
//! The plan is drawn from the seed alone ([`plan`]), before any node starts,
//! so the same seed gives the same scenario (the report carries the plan's
//! digest). Timings are measured by one poller thread per node that looks
//! up, every 50 ms, each published record the node has not shown yet
//! ([`poll_node`]); nothing waits on a fixed sleep.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libp2p::Multiaddr;
use mutua_api::Record;
use mutua_protocol::{ListingId, PublicKey, RecordHash};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::federation::{Testnet, TestnetOptions};
use crate::records::{self, TEMPLATES};
use crate::report::{
    bandwidth, by_reason, metric_sum, per, Counters, IdleTraffic, Latency, NodeFigures,
    PublishTraffic, Report,
};
use crate::rogue::{self, Forgery};
use crate::Error;

mod flood_rate;
mod poll;
mod traffic_budgets;

pub use flood_rate::{FloodFigures, FloodKind, FloodRate};
use poll::{poll_node, Directory, Seen, Watch, Watched};
pub use traffic_budgets::{
    TrafficBudgets, MAX_BYTES_PER_UNIQUE_BYTE, MAX_IDLE_BYTES_PER_SEC_PER_CONNECTION,
};

/// How long replicas may take to agree once the network is whole again.
pub const CONVERGENCE_DEADLINE: Duration = Duration::from_secs(90);
/// How long a published record may take to reach every connected node.
pub const PROPAGATION_DEADLINE: Duration = Duration::from_secs(60);
/// The goal for a heal: every replica equal this soon after a partition
/// heals (issue 18; the partition test asserts it).
pub const HEAL_GOAL: Duration = Duration::from_secs(5);
/// How long a partition holds at least, from the cut to the heal: longer
/// than one dial's first SYN retransmissions (1, 3, 7, 15 s), so that a
/// heal that waits for a dial lost in the cut shows (it took 24 s).
pub const PARTITION_HOLD: Duration = Duration::from_secs(20);
/// Left out before the idle window: gossipsub advertises (IHAVE) the messages
/// of its last 3 heartbeats (1 s each), which is publishing traffic, not idle.
const IDLE_SETTLE: Duration = Duration::from_secs(5);

/// The scenarios `mutua-testnet run` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Publish from random nodes; time until every node has each record.
    Propagation,
    /// kill -9 and restart random nodes while publishing.
    Churn,
    /// Two groups that cannot reach each other publish, then heal.
    Partition,
    /// Publish, then withdraw some; every node purges them.
    Withdrawal,
    /// A rogue member floods invalid records while honest ones flow.
    Flood,
    /// Many seeded runs of partitions, kills, cuts, delay, loss and clock
    /// skew through a relay, with a revocation ([`crate::chaos`]).
    Chaos,
    /// An offer's owner offline, then requesters on both sides of a
    /// partition ([`crate::lending`]).
    Lending,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Propagation => "propagation",
            Scenario::Churn => "churn",
            Scenario::Partition => "partition",
            Scenario::Withdrawal => "withdrawal",
            Scenario::Flood => "flood",
            Scenario::Chaos => "chaos",
            Scenario::Lending => "lending",
        }
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Node `node` publishes template `template`.
    Publish {
        node: usize,
        template: usize,
    },
    /// The `nth` published listing is withdrawn by its publisher.
    Withdraw {
        nth: usize,
    },
    /// SIGKILL.
    Kill {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Partition {
        group: Vec<usize>,
    },
    Heal,
    /// The rogue floods `per_kind` records of each forgery at `targets`.
    Flood {
        targets: Vec<usize>,
        per_kind: usize,
    },
    /// Wait until every running node has every published record (gossip).
    AwaitPropagation,
}

/// The seeded plan of a scenario.
pub fn plan(scenario: Scenario, nodes: usize, records: usize, seed: u64) -> Vec<Step> {
    // Offset from the seed used for the identities, so both stay independent.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d75_7475_615f_706c);
    let n = nodes.max(1);
    let publish = |rng: &mut StdRng, from: &[usize]| Step::Publish {
        node: *from.choose(rng).unwrap_or(&0),
        template: rng.gen_range(0..TEMPLATES.len()),
    };
    let all: Vec<usize> = (0..n).collect();
    let mut steps = Vec::new();
    match scenario {
        Scenario::Propagation => {
            steps.extend((0..records).map(|_| publish(&mut rng, &all)));
            steps.push(Step::AwaitPropagation);
        }
        Scenario::Withdrawal => {
            steps.extend((0..records).map(|_| publish(&mut rng, &all)));
            steps.push(Step::AwaitPropagation);
            let mut picks: Vec<usize> = (0..records).collect();
            picks.shuffle(&mut rng);
            steps.extend(
                picks
                    .into_iter()
                    .take(records.div_ceil(2))
                    .map(|nth| Step::Withdraw { nth }),
            );
            steps.push(Step::AwaitPropagation);
        }
        Scenario::Churn => {
            // At most a third of the nodes down at once; node 0 (anchor and
            // bootstrap) stays up so restarted nodes find the federation.
            let mut down: Vec<usize> = Vec::new();
            for i in 0..records {
                let up: Vec<usize> = all.iter().copied().filter(|x| !down.contains(x)).collect();
                steps.push(publish(&mut rng, &up));
                if i % 3 == 1 && n > 2 && down.len() < (n / 3).max(1) {
                    let candidates: Vec<usize> = up.iter().copied().filter(|&x| x != 0).collect();
                    if let Some(&k) = candidates.choose(&mut rng) {
                        steps.push(Step::Kill { node: k });
                        down.push(k);
                    }
                } else if i % 3 == 2 && !down.is_empty() {
                    let k = down.remove(rng.gen_range(0..down.len()));
                    steps.push(Step::Restart { node: k });
                }
            }
            steps.push(Step::AwaitPropagation);
            steps.extend(down.into_iter().map(|node| Step::Restart { node }));
        }
        Scenario::Partition => {
            let mut others: Vec<usize> = (1..n).collect();
            others.shuffle(&mut rng);
            let mut group: Vec<usize> = others.into_iter().take(n / 2).collect();
            group.sort_unstable();
            let a: Vec<usize> = all.iter().copied().filter(|x| !group.contains(x)).collect();
            steps.extend((0..records / 3).map(|_| publish(&mut rng, &all)));
            steps.push(Step::AwaitPropagation);
            steps.push(Step::Partition {
                group: group.clone(),
            });
            for i in records / 3..records {
                let side = if i % 2 == 0 || group.is_empty() {
                    &a
                } else {
                    &group
                };
                steps.push(publish(&mut rng, side));
            }
            steps.push(Step::Heal);
        }
        Scenario::Flood => {
            steps.extend((0..records / 2).map(|_| publish(&mut rng, &all)));
            steps.push(Step::AwaitPropagation);
            let mut targets = all.clone();
            targets.shuffle(&mut rng);
            targets.truncate(2.min(n));
            targets.sort_unstable();
            steps.push(Step::Flood {
                targets,
                per_kind: 20,
            });
            steps.extend((records / 2..records).map(|_| publish(&mut rng, &all)));
            steps.push(Step::AwaitPropagation);
        }
        // Planned run by run by `crate::chaos::plan`.
        Scenario::Chaos | Scenario::Lending => {}
    }
    steps
}

/// SHA-256 of the plan's JSON, hex.
pub fn plan_digest(steps: &[Step]) -> String {
    mutua_protocol::hex(&Sha256::digest(
        serde_json::to_vec(steps).expect("a plan serialises"),
    ))
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ScenarioOptions {
    pub testnet: TestnetOptions,
    pub scenario: Scenario,
    /// Listings published over the scenario.
    pub records: usize,
    /// Where to write the JSON report (none if `None`).
    pub report_path: Option<PathBuf>,
    /// Propagation only: how long the converged federation is left idle to
    /// measure its background traffic (none if zero).
    pub idle: Duration,
    /// Propagation only: whether exceeding the [`TrafficBudgets`] fails the
    /// run (`run propagation --budgets`); otherwise they are printed figures
    /// (as in the default suite's small run, on a loaded machine).
    pub budgets: bool,
}

/// For each running node, whether it is connected to a node on the other
/// side of `group`.
pub(crate) fn crossing(net: &Testnet, group: &[usize]) -> Result<Vec<bool>, Error> {
    Ok(first_across(net, group)?
        .iter()
        .map(Option::is_some)
        .collect())
}

/// For each running node, since when (unix seconds) it has been connected
/// to a node on the other side of `group`, if it is.
fn first_across(net: &Testnet, group: &[usize]) -> Result<Vec<Option<u64>>, Error> {
    let side = |i: usize| group.contains(&i);
    let mut out = Vec::new();
    for i in net.up() {
        let answer = net.api(i)?.peers()?;
        let across = answer.peers.iter().filter(|p| {
            (0..net.len()).any(|j| net.member(j).peer_id == p.peer_id && side(j) != side(i))
        });
        out.push(across.map(|p| p.connected_since).min());
    }
    Ok(out)
}

/// A listing the harness published.
#[derive(Clone, Debug)]
struct Published {
    origin: usize,
    author: PublicKey,
    id: ListingId,
    hash: RecordHash,
    at: Instant,
    withdrawn_at: Option<Instant>,
}

struct Run<'a> {
    net: &'a mut Testnet,
    rng: StdRng,
    published: Vec<Published>,
    /// Published envelopes (hex-decoded), for the rogue to forge from.
    envelopes: Vec<Vec<u8>>,
    kills: Vec<(usize, Instant)>,
    restarts: HashMap<usize, u32>,
    seen: Vec<Arc<Mutex<Seen>>>,
    watched: Watched,
    directory: Directory,
    report: Report,
    heal_at: Option<Instant>,
    /// When the last partition's connections across were closed.
    cut_at: Option<Instant>,
    /// The group the last partition cut off.
    cut_off: Vec<usize>,
    /// Flood: at a rate instead of a burst ([`flood_rate`]).
    flood_rate: Option<FloodRate>,
}

/// Starts a testnet, runs the scenario, checks convergence and reports.
/// The report is returned (and written) even when the run fails; `Err` is
/// only for a testnet that could not start.
pub fn run(options: &ScenarioOptions) -> Result<Report, Error> {
    run_with(options, None)
}

/// [`run`], the flood scenario's rogue sending at `flood_rate` if given.
pub fn run_with(options: &ScenarioOptions, flood_rate: Option<FloodRate>) -> Result<Report, Error> {
    if matches!(options.scenario, Scenario::Chaos | Scenario::Lending) {
        return Err(Error::Check(format!(
            "the {0} scenario runs through mutua_testnet::{0}::run",
            options.scenario.name()
        )));
    }
    let steps = plan(
        options.scenario,
        options.testnet.nodes,
        options.records,
        options.testnet.seed,
    );
    let started = Instant::now();
    let mut net = Testnet::start(&options.testnet)?;
    let mut report = Report {
        scenario: options.scenario.name().into(),
        nodes: net.len(),
        seed: options.testnet.seed,
        plan_digest: plan_digest(&steps),
        network: net.describe_network(),
        gossipsub: options.testnet.gossip.clone(),
        ..Report::default()
    };
    report.notes.append(&mut net.notes);
    let n = net.len();
    let directory: Directory = Arc::new(
        (0..n)
            .map(|i| Mutex::new(net.api(i).ok().cloned()))
            .collect(),
    );
    let seen: Vec<Arc<Mutex<Seen>>> = (0..n).map(|_| Arc::default()).collect();
    let watched: Watched = Arc::default();
    let stop = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        for i in 0..n {
            let (directory, seen, watched, stop) = (&directory, &seen[i], &watched, &stop);
            scope.spawn(move || poll_node(i, directory, seen, watched, stop));
        }
        let mut run = Run {
            net: &mut net,
            rng: StdRng::seed_from_u64(options.testnet.seed),
            published: Vec::new(),
            envelopes: Vec::new(),
            kills: Vec::new(),
            restarts: HashMap::new(),
            seen: seen.clone(),
            watched: watched.clone(),
            directory: directory.clone(),
            report,
            heal_at: None,
            cut_at: None,
            cut_off: Vec::new(),
            flood_rate,
        };
        // Just before the first publish: the plan starts with them.
        let before = match options.scenario {
            Scenario::Propagation => run.counters().ok().map(|c| (c, Instant::now())),
            _ => None,
        };
        let result = run.execute(&steps).and_then(|()| run.converge());
        // The pollers are done; stopping them keeps the idle window quiet.
        stop.store(true, Ordering::SeqCst);
        let result = match (result, &before) {
            (Ok(()), Some(before)) => run
                .traffic(before, options)
                .and_then(|()| run.judge_traffic(options.budgets)),
            (result, _) => result,
        };
        run.figures();
        let mut report = run.report;
        if let Err(e) = result {
            report.error = Some(e.to_string());
        }
        report
    });
    let mut report = outcome;
    report.duration_secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    if let Some(path) = &options.report_path {
        report.write_json(path)?;
    }
    Ok(report)
}

impl Run<'_> {
    fn execute(&mut self, steps: &[Step]) -> Result<(), Error> {
        for step in steps {
            self.net.check_alive()?;
            match step {
                Step::Publish { node, template } => self.publish(*node, *template)?,
                Step::Withdraw { nth } => self.withdraw(*nth)?,
                Step::Kill { node } => {
                    self.net.kill(*node);
                    *self.directory[*node]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                    self.kills.push((*node, Instant::now()));
                }
                Step::Restart { node } => self.restart(*node)?,
                Step::Partition { group } => {
                    let note = self.net.partition(group)?;
                    for &i in group {
                        if !self.net.is_up(i) {
                            *self.directory[i].lock().unwrap_or_else(|e| e.into_inner()) = None;
                        }
                    }
                    self.report.notes.push(note);
                    self.cut_off = group.clone();
                    self.await_cut(group)?;
                }
                Step::Heal => {
                    if let Some(cut) = self.cut_at {
                        self.net
                            .wait("the partition to hold", PARTITION_HOLD * 2, |_| {
                                Ok(cut.elapsed() >= PARTITION_HOLD)
                            })?;
                    }
                    let group: Vec<usize> = (0..self.net.len())
                        .filter(|&i| !self.net.is_up(i))
                        .collect();
                    let cut_off = std::mem::take(&mut self.cut_off);
                    self.net.heal()?;
                    for i in group {
                        self.refresh(i);
                    }
                    self.heal_at = Some(Instant::now());
                    if self.net.mode() == crate::NetMode::Namespaces {
                        self.await_reconnection(&cut_off, SystemTime::now())?;
                    }
                }
                Step::Flood { targets, per_kind } => match self.flood_rate {
                    Some(rate) => self.flood_at_rate(targets, rate)?,
                    None => self.flood(targets, *per_kind)?,
                },
                Step::AwaitPropagation => self.await_propagation()?,
            }
        }
        Ok(())
    }

    fn refresh(&mut self, i: usize) {
        *self.directory[i].lock().unwrap_or_else(|e| e.into_inner()) =
            self.net.api(i).ok().cloned();
    }

    fn restart(&mut self, i: usize) -> Result<(), Error> {
        self.net.restart(i)?;
        *self.restarts.entry(i).or_default() += 1;
        self.refresh(i);
        self.net.wait_for_mesh(&[i])?;
        self.heal_at = Some(Instant::now());
        Ok(())
    }

    fn publish(&mut self, node: usize, template: usize) -> Result<(), Error> {
        let mut origin = node;
        if !self.net.is_up(origin) {
            // Only on the loopback fallback, where a "partitioned" node is stopped.
            origin = 0;
        }
        let member = self.net.member(origin);
        let body = records::listing(&TEMPLATES[template], &member.identity, self.published.len());
        let answer = self
            .net
            .api(origin)?
            .publish(&member.identity.publisher, &body)?;
        if let Some(bytes) = mutua_protocol::unhex(&answer.envelope) {
            self.envelopes.push(bytes);
        }
        let Some(listing) = answer.record.listing() else {
            return Err(Error::Api {
                node: origin,
                method: "POST",
                path: "/v1/listings".into(),
                status: 200,
                body: format!("not a listing: {:?}", answer.record),
            });
        };
        self.published.push(Published {
            origin,
            author: listing.author,
            id: listing.id,
            hash: listing.hash,
            at: Instant::now(),
            withdrawn_at: None,
        });
        self.watched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watch {
                author: listing.author,
                id: listing.id,
                hash: listing.hash,
                withdrawn: false,
            });
        self.report.published += 1;
        Ok(())
    }

    /// The `nth` published listing has a new version `hash` (an update):
    /// the pollers now wait for that one, the earlier one being superseded
    /// (no node serves it once the new one arrived).
    fn republished(&mut self, nth: usize, hash: RecordHash) {
        let p = &mut self.published[nth];
        p.hash = hash;
        p.at = Instant::now();
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        for w in watched
            .iter_mut()
            .filter(|w| w.id == p.id && w.author == p.author)
        {
            w.hash = hash;
        }
    }

    fn withdraw(&mut self, nth: usize) -> Result<(), Error> {
        let Some(p) = self.published.get(nth).cloned() else {
            return Ok(());
        };
        let publisher = self.net.member(p.origin).identity.publisher.clone();
        self.net.api(p.origin)?.withdraw(&publisher, &p.id)?;
        let now = Instant::now();
        self.published[nth].withdrawn_at = Some(now);
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        for w in watched
            .iter_mut()
            .filter(|w| w.id == p.id && w.author == p.author)
        {
            w.withdrawn = true;
        }
        self.report.withdrawn += 1;
        Ok(())
    }

    /// Nodes expected to have received `p` by gossip: up when it was
    /// published and not killed since.
    fn expected(&self, p: &Published) -> Vec<usize> {
        (0..self.net.len())
            .filter(|&i| self.net.is_up(i))
            .filter(|&i| p.origin == i || !self.kills.iter().any(|&(k, _)| k == i))
            .collect()
    }

    fn await_propagation(&mut self) -> Result<(), Error> {
        let published = self.published.clone();
        let wanted: Vec<(Published, Vec<usize>)> = published
            .iter()
            .map(|p| (p.clone(), self.expected(p)))
            .collect();
        let seen = self.seen.clone();
        self.net.wait(
            "every published record (and withdrawal) to reach every node",
            PROPAGATION_DEADLINE,
            |_| {
                Ok(wanted.iter().all(|(p, nodes)| {
                    nodes.iter().all(|&i| {
                        let s = seen[i].lock().unwrap_or_else(|e| e.into_inner());
                        s.hashes.contains_key(&p.hash)
                            && (p.withdrawn_at.is_none() || s.purged.contains_key(&p.id))
                    })
                }))
            },
        )?;
        let mut arrivals = Vec::new();
        let mut purges = Vec::new();
        for (p, nodes) in &wanted {
            let last = |f: &dyn Fn(&Seen) -> Option<Instant>| {
                nodes
                    .iter()
                    .filter_map(|&i| f(&seen[i].lock().unwrap_or_else(|e| e.into_inner())))
                    .max()
            };
            if let Some(t) = last(&|s: &Seen| s.hashes.get(&p.hash).copied()) {
                arrivals.push(t.saturating_duration_since(p.at));
            }
            if let Some(w) = p.withdrawn_at {
                if let Some(t) = last(&|s: &Seen| s.purged.get(&p.id).copied()) {
                    purges.push(t.saturating_duration_since(w));
                }
            }
        }
        self.report.propagation = Latency::of(&arrivals);
        let calls: Vec<Duration> = seen
            .iter()
            .flat_map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).calls.clone())
            .collect();
        self.report.lookups = Latency::of(&calls);
        self.report.withdrawal_propagation = Latency::of(&purges);
        Ok(())
    }

    /// Waits until no running node is still connected across the cut:
    /// until then TCP would deliver everything after a heal, and the
    /// "partition" would only be a delay.
    fn await_cut(&mut self, group: &[usize]) -> Result<(), Error> {
        let took = self.net.wait(
            "connections across the partition to close",
            CONVERGENCE_DEADLINE,
            |net| Ok(crossing(net, group)?.iter().all(|c| !c)),
        )?;
        self.cut_at = Some(Instant::now());
        self.report.notes.push(format!(
            "connections across the cut closed after {:.1} s",
            took.as_secs_f64()
        ));
        Ok(())
    }

    /// Waits until every running node is connected across the healed cut
    /// again, and reports when the last of them was, by the nodes' own
    /// `connected_since` (whole seconds, rounded up: the harness's polls of
    /// ten nodes lag by seconds on a loaded machine): the redials' share of
    /// a heal, apart from the sync sessions after it.
    fn await_reconnection(&mut self, group: &[usize], healed: SystemTime) -> Result<(), Error> {
        let mut last = 0;
        self.net.wait(
            "every node to connect across the healed partition",
            CONVERGENCE_DEADLINE,
            |net| {
                let firsts = first_across(net, group)?;
                last = firsts.iter().flatten().copied().max().unwrap_or(0);
                Ok(firsts.iter().all(Option::is_some))
            },
        )?;
        let healed = healed.duration_since(UNIX_EPOCH).unwrap_or_default();
        let reconnected = Duration::from_secs(last + 1).saturating_sub(healed);
        self.report.reconnection_after_heal_ms = Some(reconnected.as_millis() as f64);
        Ok(())
    }

    fn flood(&mut self, targets: &[usize], per_kind: usize) -> Result<(), Error> {
        let topic = self.net.topic()?;
        let addrs: Vec<Multiaddr> = targets
            .iter()
            .filter_map(|&i| self.net.p2p_addr(i).ok()?.parse().ok())
            .collect();
        let forged = rogue::forge(&mut self.rng, &self.envelopes, per_kind);
        let kinds: BTreeSet<Forgery> = forged.iter().map(|(k, _)| *k).collect();
        let messages = forged.into_iter().map(|(_, m)| m).collect();
        let sent = rogue::flood(
            &topic,
            &addrs,
            messages,
            Duration::from_secs(30),
            Duration::from_secs(2),
        )?;
        self.report.rogue_messages_sent = sent.sent;
        // Each target judged and counted at least one of each kind.
        let reasons = [
            (Forgery::NonMember, "ignored", "not_a_member"),
            (Forgery::BadSignature, "rejected", "bad_signature"),
            (Forgery::Oversize, "rejected", "too_large"),
        ];
        let targets = targets.to_vec();
        self.net.wait(
            "the targets to count the rogue's records by reason",
            PROPAGATION_DEADLINE,
            |net| {
                for &i in &targets {
                    let text = net.api(i)?.metrics()?;
                    for (kind, outcome, reason) in reasons {
                        if kinds.contains(&kind)
                            && by_reason(&text, outcome).get(reason).copied().unwrap_or(0) == 0
                        {
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
            },
        )?;
        self.report.notes.push(format!(
            "rogue {} flooded nodes {:?}",
            sent.peer_id, targets
        ));
        Ok(())
    }

    /// Every node running, every digest equal, every live record present
    /// with its last hash, every withdrawn one purged.
    fn converge(&mut self) -> Result<(), Error> {
        let down: Vec<usize> = (0..self.net.len())
            .filter(|&i| !self.net.is_up(i))
            .collect();
        for i in down {
            self.restart(i)?;
        }
        let from = self.heal_at;
        let published = self.published.clone();
        let mut digest = String::new();
        let took = self
            .net
            .wait("every replica to converge", CONVERGENCE_DEADLINE, |net| {
                let mut digests = BTreeSet::new();
                for i in 0..net.len() {
                    digests.insert(net.api(i)?.status()?.digest);
                }
                if digests.len() != 1 {
                    return Ok(false);
                }
                // Nothing but what the harness admitted and published: the
                // rogue's records (or any other) would show in these counts.
                for i in 0..net.len() {
                    let store = net.api(i)?.status()?.store;
                    let listings = store.offers + store.needs + store.withdrawals;
                    if store.certificates != net.len() as u64 || listings != published.len() as u64
                    {
                        return Ok(false);
                    }
                }
                for i in 0..net.len() {
                    let api = net.api(i)?;
                    for p in &published {
                        let slot = api.record(&p.author, &p.id)?;
                        let ok = match (&slot, p.withdrawn_at) {
                            (Some(Record::Withdrawal(_)), Some(_)) => true,
                            (Some(s), None) => *s.hash() == p.hash,
                            _ => false,
                        };
                        if !ok {
                            return Ok(false);
                        }
                    }
                }
                digest = digests.into_iter().next().unwrap_or_default();
                Ok(true)
            })?;
        if from.is_some() {
            let since = from.map_or(took, |t| t.elapsed());
            self.report.convergence_after_heal_ms = Some((since.as_secs_f64() * 1000.0).round());
        }
        self.report.converged = true;
        self.report.digest = Some(digest);
        self.report.kills = self.kills.len();
        Ok(())
    }

    /// [`Counters`] summed over the running nodes.
    fn counters(&self) -> Result<Counters, Error> {
        let mut sum = Counters::default();
        for i in self.net.up() {
            sum.add(&self.net.api(i)?.metrics()?);
        }
        Ok(sum)
    }

    /// Gossipsub mesh peers summed over the running nodes, as each node sees
    /// its mesh now (libp2p's `mesh_peer_counts` gauge is refreshed only
    /// every 60th heartbeat: it read 0 in short runs).
    fn mesh_peers(&self) -> Result<usize, Error> {
        let mut sum = 0;
        for i in self.net.up() {
            sum += self.net.api(i)?.status()?.network.mesh_peers;
        }
        Ok(sum)
    }

    /// Open connections summed over the running nodes (both ends count).
    fn connections(&self) -> Result<usize, Error> {
        let mut sum = 0;
        for i in self.net.up() {
            let answer = self.net.api(i)?.peers()?;
            sum += answer
                .peers
                .iter()
                .map(|p| p.addresses.len())
                .sum::<usize>();
        }
        Ok(sum)
    }

    /// Bytes received while publishing (since `before`) against the unique
    /// bytes, then the idle window's traffic per connection.
    fn traffic(
        &mut self,
        (before, before_at): &(Counters, Instant),
        options: &ScenarioOptions,
    ) -> Result<(), Error> {
        let after = self.counters()?;
        let receivers = self.net.len().saturating_sub(1) as u64;
        let unique = self.envelopes.iter().map(|e| e.len() as u64).sum::<u64>() * receivers;
        let received = after.since(before, "bytes_in");
        self.report.publish_traffic = Some(PublishTraffic {
            bytes_received: received,
            unique_bytes: unique,
            bytes_per_unique_byte: per(received as f64, unique as f64),
            sync_bytes_received: after.since(before, "sync_in"),
            sync_sessions: after.since(before, "sync_sessions"),
            gossip_messages_received: after.since(before, "gossip_all"),
            gossip_first_copies: after.since(before, "gossip_first"),
            ingest_duplicates: after.since(before, "ingest_duplicates"),
            gossip_message_bytes_received: after.since(before, "gossip_bytes_in"),
            message_bytes_per_unique_byte: per(
                after.since(before, "gossip_bytes_in") as f64,
                unique as f64,
            ),
            idontwant_received: after.since(before, "idontwant_in"),
            iwant_sent: after.since(before, "iwant"),
            pings: after.since(before, "pings"),
            identify_received: after.since(before, "identify"),
            kad_requests: after.since(before, "kad_requests"),
            connections_opened: after.since(before, "connections_opened"),
            window_secs: (before_at.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            mesh_peers_per_node: per(self.mesh_peers()? as f64, self.net.len() as f64),
        });
        let idle = options.idle;
        if idle.is_zero() {
            return Ok(());
        }
        let settle = Instant::now();
        self.net.wait("gossip to settle", IDLE_SETTLE * 2, |_| {
            Ok(settle.elapsed() >= IDLE_SETTLE)
        })?;
        let (start, connections) = (self.counters()?, self.connections()?);
        let t0 = Instant::now();
        self.net
            .wait("the idle window", idle * 2, |_| Ok(t0.elapsed() >= idle))?;
        let end = self.counters()?;
        let window = t0.elapsed().as_secs_f64();
        let connections = (connections + self.connections()?) as f64 / 2.0;
        let bytes = end.since(&start, "bytes_in") + end.since(&start, "bytes_out");
        self.report.idle_traffic = Some(IdleTraffic {
            window_secs: (window * 10.0).round() / 10.0,
            sync_interval_secs: options.testnet.sync_interval_secs,
            connections,
            bytes,
            bytes_per_sec_per_connection: per(bytes as f64, connections * window),
            sync_bytes: end.since(&start, "sync_in") + end.since(&start, "sync_out"),
            sync_sessions: end.since(&start, "sync_sessions"),
            kad_requests: end.since(&start, "kad_requests"),
            identify_received: end.since(&start, "identify"),
            pings: end.since(&start, "pings"),
            connections_opened: end.since(&start, "connections_opened"),
        });
        Ok(())
    }

    /// Per-node figures from /proc and /metrics (best effort: a node that
    /// is down is reported without them).
    fn figures(&mut self) {
        let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
        let mut ignored: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..self.net.len() {
            let m = self.net.member(i);
            let mut f = NodeFigures {
                index: i,
                collectivity: m.identity.name.clone(),
                rss_kib: m.process().and_then(|p| p.rss_kib()),
                restarts: self.restarts.get(&i).copied().unwrap_or(0),
                ..NodeFigures::default()
            };
            if let Ok(text) = self.net.api(i).and_then(|a| a.metrics()) {
                f.bytes_in = bandwidth(&text, "Inbound");
                f.bytes_out = bandwidth(&text, "Outbound");
                f.records = metric_sum(&text, "mutua_store_records", &[]) as u64;
                f.ignored_budget_peak =
                    metric_sum(&text, "mutua_network_ignored_budget_peak", &[]) as u64;
                f.rejected = by_reason(&text, "rejected");
                f.ignored = by_reason(&text, "ignored");
                for (k, v) in &f.rejected {
                    *rejected.entry(k.clone()).or_default() += v;
                }
                for (k, v) in &f.ignored {
                    *ignored.entry(k.clone()).or_default() += v;
                }
            }
            self.report.per_node.push(f);
        }
        self.report.rejected_by_reason = rejected;
        self.report.ignored_by_reason = ignored;
        self.report.kills = self.kills.len();
        self.report.notes.append(&mut self.net.notes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_a_plan() {
        for s in [
            Scenario::Propagation,
            Scenario::Churn,
            Scenario::Partition,
            Scenario::Withdrawal,
            Scenario::Flood,
        ] {
            assert_eq!(plan(s, 10, 30, 7), plan(s, 10, 30, 7));
            assert_ne!(
                plan_digest(&plan(s, 10, 30, 7)),
                plan_digest(&plan(s, 10, 30, 8))
            );
        }
    }

    #[test]
    fn churn_keeps_node_zero_up_and_restarts_every_killed_node() {
        let steps = plan(Scenario::Churn, 9, 40, 3);
        let kills: Vec<usize> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Kill { node } => Some(*node),
                _ => None,
            })
            .collect();
        let restarts = steps
            .iter()
            .filter(|s| matches!(s, Step::Restart { .. }))
            .count();
        assert!(!kills.is_empty() && !kills.contains(&0));
        assert_eq!(kills.len(), restarts);
    }

    #[test]
    fn partition_splits_off_a_group_without_node_zero() {
        let steps = plan(Scenario::Partition, 10, 30, 1);
        let group = steps
            .iter()
            .find_map(|s| match s {
                Step::Partition { group } => Some(group.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(group.len(), 5);
        assert!(!group.contains(&0));
        assert_eq!(steps.last(), Some(&Step::Heal));
    }
}
