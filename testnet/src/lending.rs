//! The `lending` scenario (issue 14): an `auto` offer's owner is offline
//! while two requests for overlapping days arrive, and decides them when it
//! returns; then requesters on both sides of a partition ask for the same
//! days, and after the heal every node shows the same single accepted
//! booking, the other request declined for `conflict`, and equal digests.
//!
//! Who owns the offer, who asks and who is cut off are drawn from the seed.
//! Nodes are driven only through their control API, their data directory
//! and signals. A real partition needs network namespaces (root, iproute2).

use std::time::{Duration, Instant};

use mutua_api::lending::{
    CalendarQuery, Direction, LendingSettings, NewRequest, OfferCalendar, RequestStatus,
    RequestsQuery,
};
use mutua_api::{ClientError, Side};
use mutua_protocol::lending::date::{format_date, utc_day};
use mutua_protocol::lending::{BookingMode, DeclineReason, RequestId};
use mutua_protocol::{ListingId, PublicKey};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::federation::{Testnet, TestnetOptions, FORM_DEADLINE};
use crate::records::{self, TEMPLATES};
use crate::scenario::{crossing, CONVERGENCE_DEADLINE, PROPAGATION_DEADLINE};
use crate::{Error, NetMode};

/// Who does what, drawn from the seed before any node starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LendingPlan {
    /// The node hosting the offer's author (never node 0, the bootstrap,
    /// so that it finds the federation again when it restarts).
    pub owner: usize,
    /// The two requesters while the owner is offline.
    pub offline_requesters: [usize; 2],
    /// The nodes cut off from the owner's side.
    pub cut_off: Vec<usize>,
    /// A requester on the owner's side, then one on the cut-off side.
    pub partition_requesters: [usize; 2],
}

/// The plan for `nodes` (at least 3) and `seed`.
pub fn plan(nodes: usize, seed: u64) -> Result<LendingPlan, Error> {
    if nodes < 3 {
        return Err(Error::Check(
            "the lending scenario needs 3 nodes or more".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6c65_6e64_696e_6732);
    let owner = *(1..nodes)
        .collect::<Vec<_>>()
        .choose(&mut rng)
        .unwrap_or(&1);
    let mut others: Vec<usize> = (0..nodes).filter(|&i| i != owner).collect();
    others.shuffle(&mut rng);
    let offline_requesters = [others[0], others[1]];
    // The owner's side keeps the owner and at least one requester.
    others.shuffle(&mut rng);
    let mut cut_off: Vec<usize> = others[1..].iter().copied().take(nodes / 2).collect();
    cut_off.sort_unstable();
    let beside = others[0];
    let across = *cut_off.choose(&mut rng).unwrap_or(&others[1]);
    Ok(LendingPlan {
        owner,
        offline_requesters,
        cut_off,
        partition_requesters: [beside, across],
    })
}

/// What a run measured and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LendingReport {
    pub nodes: usize,
    pub seed: u64,
    pub plan: Option<LendingPlan>,
    pub network: String,
    /// From the owner's restart until every node showed both offline
    /// requests decided (one accepted, one declined for `conflict`).
    pub decided_after_restart_ms: Option<f64>,
    /// From the heal until every node showed the same calendar, with the
    /// request made across the cut declined for `conflict`.
    pub calendars_equal_after_heal_ms: Option<f64>,
    /// From the heal until every node's digest was equal.
    pub digests_equal_after_heal_ms: Option<f64>,
    pub digest: Option<String>,
    pub duration_secs: f64,
    pub error: Option<String>,
}

impl LendingReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.digest.is_some()
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0} ms"));
        let mut s = format!(
            "scenario lending — {} nodes, seed {} — {}\n  network: {}\n",
            self.nodes,
            self.seed,
            if self.passed() { "converged" } else { "FAILED" },
            self.network
        );
        if let Some(p) = &self.plan {
            s.push_str(&format!(
                "  owner node {}, offline requesters {:?}, cut off {:?}, partition requesters {:?}\n",
                p.owner, p.offline_requesters, p.cut_off, p.partition_requesters
            ));
        }
        s.push_str(&format!(
            "  owner back → both decided everywhere: {}\n  heal → equal calendars: {}; equal digests: {}\n  duration: {:.1} s\n",
            ms(self.decided_after_restart_ms),
            ms(self.calendars_equal_after_heal_ms),
            ms(self.digests_equal_after_heal_ms),
            self.duration_secs
        ));
        if let Some(e) = &self.error {
            s.push_str(&format!("  error: {e}\n"));
        }
        s
    }
}

/// Starts a namespaced testnet of `options.nodes`, runs the scenario and
/// reports; `Err` only when the testnet cannot start.
pub fn run(options: &TestnetOptions) -> Result<LendingReport, Error> {
    let started = Instant::now();
    let plan = plan(options.nodes, options.seed)?;
    crate::net::namespaces_available()
        .map_err(|why| Error::Check(format!("the lending scenario partitions for real: {why}")))?;
    let mut options = options.clone();
    options.net = NetMode::Namespaces;
    let mut net = Testnet::start(&options)?;
    let mut report = LendingReport {
        nodes: net.len(),
        seed: options.seed,
        plan: Some(plan.clone()),
        network: net.describe_network(),
        ..LendingReport::default()
    };
    if let Err(e) = Lending::new(&mut net, &plan, &mut report).and_then(|mut l| l.execute()) {
        report.error = Some(e.to_string());
    }
    report.duration_secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    Ok(report)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A client error of node `node`, as the harness's error.
fn api_error(node: usize, what: &str) -> impl FnOnce(ClientError) -> Error + '_ {
    move |e| Error::Check(format!("node {node}: {what}: {e}"))
}

struct Lending<'a> {
    net: &'a mut Testnet,
    plan: &'a LendingPlan,
    report: &'a mut LendingReport,
    offer: (PublicKey, ListingId),
    today: u32,
}

impl<'a> Lending<'a> {
    /// Publishes the owner's `auto` offer and waits until every node has
    /// its settings.
    fn new(
        net: &'a mut Testnet,
        plan: &'a LendingPlan,
        report: &'a mut LendingReport,
    ) -> Result<Lending<'a>, Error> {
        let owner = plan.owner;
        let template = TEMPLATES
            .iter()
            .find(|t| t.side == Side::Offer && t.kind == mutua_protocol::ResourceKind::Equipment)
            .ok_or_else(|| Error::Check("no equipment template".into()))?;
        let who = net.member(owner).identity.clone();
        let api = net.api(owner)?;
        let published = api.publish(&who.publisher, &records::listing(template, &who, 1))?;
        let listing = published
            .record
            .listing()
            .ok_or_else(|| Error::Check("the offer was published as no listing".into()))?;
        let offer = (listing.author, listing.id);
        let settings = LendingSettings {
            mode: BookingMode::Auto,
            buffer_days: 0,
            capacity: 1,
        };
        api.client()
            .set_lending(Some(&who.publisher), &offer.1, &settings)
            .map_err(api_error(owner, "PUT lending"))?;
        let lending = Lending {
            today: utc_day(unix_now()),
            net,
            plan,
            report,
            offer,
        };
        lending.net.wait(
            "the offer's lending settings on every node",
            PROPAGATION_DEADLINE,
            |net| {
                for i in net.up() {
                    match lending_calendar(net, i, &offer) {
                        Ok(c) if c.settings.mode == BookingMode::Auto => {}
                        _ => return Ok(false),
                    }
                }
                Ok(true)
            },
        )?;
        Ok(lending)
    }

    fn execute(&mut self) -> Result<(), Error> {
        let owner = self.plan.owner;
        // (a) The owner's node is offline (SIGTERM) while two overlapping
        // requests arrive.
        self.net.stop(owner)?;
        let [r1, r2] = self.plan.offline_requesters;
        let first = self.request(r1, 10, 11)?;
        let second = self.request(r2, 11, 12)?;
        self.await_stored(r1, &first)?;
        self.await_stored(r2, &second)?;
        self.net.restart(owner)?;
        let back = Instant::now();
        let pair = [(r1, first), (r2, second)];
        self.await_decided(&pair, "the offline requests decided everywhere")?;
        self.report.decided_after_restart_ms = Some(ms(back.elapsed()));

        // (b) Requesters on both sides of a partition ask for the same days.
        self.net.wait_for_mesh(&self.net.up())?;
        let cut_off = self.plan.cut_off.clone();
        self.net.partition(&cut_off)?;
        self.net
            .wait("no connection across the cut", FORM_DEADLINE, |net| {
                Ok(!crossing(net, &cut_off)?.iter().any(|&c| c))
            })?;
        let [beside, across] = self.plan.partition_requesters;
        let near = self.request(beside, 20, 21)?;
        let far = self.request(across, 20, 21)?;
        self.await_status(beside, &near, |s| s == RequestStatus::Accepted)?;
        self.await_stored(across, &far)?;
        self.net.heal()?;
        let healed = Instant::now();
        self.await_decided(
            &[(beside, near), (across, far)],
            "equal calendars after the heal",
        )?;
        self.report.calendars_equal_after_heal_ms = Some(ms(healed.elapsed()));
        let far_status = self.status(across, &far)?;
        if far_status != Some((RequestStatus::Declined, Some(DeclineReason::Conflict))) {
            return Err(Error::Check(format!(
                "the request made across the cut is {far_status:?}, not declined for conflict"
            )));
        }
        let digest = self.await_equal_digests()?;
        self.report.digests_equal_after_heal_ms = Some(ms(healed.elapsed()));
        self.report.digest = Some(digest);
        Ok(())
    }

    /// Node `node`'s collectivity asks for days `from..=to` after today.
    fn request(&self, node: usize, from: u32, to: u32) -> Result<RequestId, Error> {
        let who = &self.net.member(node).identity;
        let body = NewRequest {
            offer_author: self.offer.0,
            offer: self.offer.1,
            first_day: format_date(self.today + from),
            last_day: format_date(self.today + to),
            quantity: 1,
            purpose: format!("Manifestation de {}", who.name),
            contact: mutua_protocol::Contact {
                role: "Services techniques".into(),
                email: Some(format!("technique@{}.example", who.publisher)),
                phone: None,
                url: None,
            },
        };
        let written = self
            .net
            .api(node)?
            .client()
            .request(Some(&who.publisher), &body)
            .map_err(api_error(node, "POST /v1/requests"))?;
        written
            .request
            .map(|r| r.id)
            .ok_or_else(|| Error::Check(format!("node {node}: the request was not returned")))
    }

    /// The status (and decline reason) of request `id` on node `node`.
    fn status(
        &self,
        node: usize,
        id: &RequestId,
    ) -> Result<Option<(RequestStatus, Option<DeclineReason>)>, Error> {
        request_status(self.net, node, id)
    }

    fn await_stored(&mut self, node: usize, id: &RequestId) -> Result<(), Error> {
        self.await_status(node, id, |s| s == RequestStatus::Pending)
    }

    fn await_status(
        &mut self,
        node: usize,
        id: &RequestId,
        ok: impl Fn(RequestStatus) -> bool,
    ) -> Result<(), Error> {
        let what = format!("request {} on node {node}", id.to_hex());
        self.net.wait(&what, PROPAGATION_DEADLINE, |net| {
            Ok(request_status(net, node, id)?.is_some_and(|(s, _)| ok(s)))
        })?;
        Ok(())
    }

    /// Waits until the two requests of `pair` (requester, id) are decided,
    /// one accepted and one declined for `conflict` on the requesters' and
    /// the owner's nodes, and every running node shows the same calendar
    /// with no pending request.
    fn await_decided(&mut self, pair: &[(usize, RequestId); 2], what: &str) -> Result<(), Error> {
        let (owner, offer) = (self.plan.owner, self.offer);
        self.net.wait(what, CONVERGENCE_DEADLINE, |net| {
            let mut outcomes = Vec::new();
            for (node, id) in pair {
                let mine = request_status(net, *node, id)?;
                if mine.is_none() || mine != request_status(net, owner, id)? {
                    return Ok(false);
                }
                outcomes.push((mine, *id));
            }
            let accepted: Vec<RequestId> = outcomes
                .iter()
                .filter(|(o, _)| *o == Some((RequestStatus::Accepted, None)))
                .map(|(_, id)| *id)
                .collect();
            let declined = outcomes
                .iter()
                .filter(|(o, _)| {
                    *o == Some((RequestStatus::Declined, Some(DeclineReason::Conflict)))
                })
                .count();
            if accepted.len() != 1 || declined != 1 {
                return Ok(false);
            }
            let mut calendars = Vec::new();
            for i in net.up() {
                let Ok(c) = lending_calendar(net, i, &offer) else {
                    return Ok(false);
                };
                let holds = c.bookings.iter().any(|b| b.request_id == accepted[0]);
                let refused = pair.iter().find(|(_, id)| *id != accepted[0]);
                let overlaps =
                    refused.is_some_and(|(_, id)| c.bookings.iter().any(|b| b.request_id == *id));
                if !holds || overlaps || c.pending > 0 || c.anomalies > 0 {
                    return Ok(false);
                }
                calendars.push((c.bookings, c.busy));
            }
            Ok(calendars.windows(2).all(|w| w[0] == w[1]))
        })?;
        Ok(())
    }

    fn await_equal_digests(&mut self) -> Result<String, Error> {
        let mut digest = String::new();
        self.net
            .wait("equal digests on every node", CONVERGENCE_DEADLINE, |net| {
                let mut digests = std::collections::BTreeSet::new();
                for i in net.up() {
                    digests.insert(net.api(i)?.status()?.digest);
                }
                digest = digests.iter().next().cloned().unwrap_or_default();
                Ok(digests.len() == 1)
            })?;
        Ok(digest)
    }
}

/// The offer's calendar on node `i` (an error while it lacks the offer).
fn lending_calendar(
    net: &Testnet,
    i: usize,
    (author, id): &(PublicKey, ListingId),
) -> Result<OfferCalendar, Error> {
    net.api(i)?
        .client()
        .calendar(author, id, &CalendarQuery::default())
        .map_err(api_error(i, "GET calendar"))
}

/// Request `id` as node `node` lists it (its own requests and those for
/// its offers), if it does.
fn request_status(
    net: &Testnet,
    node: usize,
    id: &RequestId,
) -> Result<Option<(RequestStatus, Option<DeclineReason>)>, Error> {
    let query = RequestsQuery {
        direction: None::<Direction>,
        ..RequestsQuery::default()
    };
    let list = net
        .api(node)?
        .client()
        .requests(&query)
        .map_err(api_error(node, "GET /v1/requests"))?;
    Ok(list
        .requests
        .into_iter()
        .find(|r| r.id == *id)
        .map(|r| (r.status, r.reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_the_seed_and_keep_a_requester_beside_the_owner() {
        for seed in 0..50 {
            for nodes in 3..8 {
                let p = plan(nodes, seed).unwrap();
                assert_eq!(p, plan(nodes, seed).unwrap());
                assert_ne!(p.owner, 0);
                assert!(!p.cut_off.contains(&p.owner) && !p.cut_off.is_empty());
                let [beside, across] = p.partition_requesters;
                assert!(!p.cut_off.contains(&beside) && beside != p.owner);
                assert!(p.cut_off.contains(&across));
                assert!(!p.offline_requesters.contains(&p.owner));
                assert_ne!(p.offline_requesters[0], p.offline_requesters[1]);
            }
        }
        let drawn: std::collections::BTreeSet<_> = (0..50)
            .map(|seed| plan(7, seed).unwrap())
            .map(|p| p.offline_requesters)
            .collect();
        assert!(drawn.len() > 10, "the seed draws the requesters: {drawn:?}");
        assert!(plan(2, 1).is_err());
    }
}
