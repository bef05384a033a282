//! Every scenario at small size, through the library, over real node
//! processes (`mutua-testnet node`). Network namespaces when running as root
//! with iproute2, loopback otherwise (`NetMode::Auto`).
//!
//! To look into a failure: `MUTUA_TESTNET_KEEP=1` keeps every run's data
//! directories and node logs (`/tmp/mutua-testnet-*`), and
//! `MUTUA_TESTNET_NODE_LOG` sets the nodes' log filter (for a heal,
//! `info,mutua_node::net=debug,libp2p_swarm=debug`).

use std::time::Duration;

use mutua_testnet::scenario::{self, FloodKind, FloodRate, Scenario, ScenarioOptions};
use mutua_testnet::{Report, TestnetOptions};

fn run(scenario: Scenario, nodes: usize, records: usize) -> Report {
    run_idle(scenario, nodes, records, Duration::ZERO)
}

fn run_idle(scenario: Scenario, nodes: usize, records: usize, idle: Duration) -> Report {
    run_with(scenario, nodes, records, idle, None)
}

/// A federation of `nodes` (seed 42), kept after the run with
/// `MUTUA_TESTNET_KEEP`.
fn testnet_options(nodes: usize) -> TestnetOptions {
    let mut options = TestnetOptions::new(env!("CARGO_BIN_EXE_mutua-testnet"), nodes, 42);
    options.keep = std::env::var_os("MUTUA_TESTNET_KEEP").is_some();
    options
}

fn run_with(
    scenario: Scenario,
    nodes: usize,
    records: usize,
    idle: Duration,
    flood_rate: Option<FloodRate>,
) -> Report {
    let options = ScenarioOptions {
        testnet: testnet_options(nodes),
        scenario,
        records,
        report_path: None,
        idle,
        budgets: false,
    };
    let report = scenario::run_with(&options, flood_rate).expect("the testnet starts");
    println!("{}", report.summary());
    assert!(report.error.is_none(), "{}", report.summary());
    assert!(report.converged, "{}", report.summary());
    assert_eq!(report.per_node.len(), nodes);
    report
}

#[test]
fn propagation_reaches_every_node() {
    let r = run_idle(Scenario::Propagation, 4, 8, Duration::from_secs(3));
    assert_eq!(r.published, 8);
    assert_eq!(r.propagation.samples, 8);
    assert!(r.digest.is_some());
    assert!(r
        .per_node
        .iter()
        .all(|n| n.rss_kib.is_some() && n.bytes_in > 0));
    // Figures only: their values depend on the machine and are not checked.
    let summary = r.summary();
    let t = r.publish_traffic.expect("publishing traffic is measured");
    assert!(t.unique_bytes > 0 && t.bytes_received > 0);
    assert!(t
        .bytes_per_unique_byte
        .is_some_and(|x| x.is_finite() && x > 0.0));
    assert!(t.gossip_messages_received >= t.gossip_first_copies && t.gossip_first_copies > 0);
    // Gossip efficiency (issue 18), as behaviour: each node announces every
    // record it receives with an IDONTWANT before validating it, so its mesh
    // peers, still validating, do not send it a second copy. With 4 nodes
    // (a full mesh of 3) that leaves 1.25–1.5 copies per first copy, against
    // ~2 without IDONTWANT (libp2p's default skips records < 1 KB): a peer
    // that validates before our IDONTWANT reaches it still forwards, so the
    // bound (1.75) leaves room for that race.
    // The byte budgets (≤ 3.5 received per unique byte at N = 40, idle
    // ≤ 50 B/s per connection) are printed, and enforced by `run propagation`.
    assert!(t.idontwant_received > 0, "{summary}");
    assert!(
        t.gossip_messages_received * 4 < t.gossip_first_copies * 7,
        "{} gossip messages for {} first copies: {summary}",
        t.gossip_messages_received,
        t.gossip_first_copies,
    );
    assert!(t.gossip_message_bytes_received >= t.unique_bytes);
    let budgets = r.traffic_budgets.as_ref().expect("budgets are judged");
    assert!(!budgets.enforced);
    let idle = r.idle_traffic.expect("idle traffic is measured");
    assert!(idle.window_secs >= 3.0 && idle.connections > 0.0);
    assert!(idle
        .bytes_per_sec_per_connection
        .is_some_and(|x| x.is_finite() && x >= 0.0));
}

#[test]
fn withdrawals_purge_the_listing_everywhere() {
    let r = run(Scenario::Withdrawal, 3, 6);
    assert_eq!(r.withdrawn, 3);
    assert_eq!(r.withdrawal_propagation.samples, 3);
}

#[test]
fn a_flooding_member_is_refused_and_counted_by_reason() {
    let r = run(Scenario::Flood, 4, 6);
    assert!(r.rogue_messages_sent > 0);
    assert!(
        r.rejected_by_reason.get("bad_signature") > Some(&0),
        "{:?}",
        r.rejected_by_reason
    );
    assert!(r.rejected_by_reason.get("too_large") > Some(&0));
    assert!(r.ignored_by_reason.get("not_a_member") > Some(&0));
    // Honest records published after the flood still reached every node.
    assert_eq!(r.propagation.samples, 6);
}

/// The small version of `mutua-testnet run flood --rate 1000 --secs 60`:
/// 200 invalid records a second for 5 s: every target graylists the sender
/// and every honest listing still arrives. The budgets (graylisted within
/// 10 heartbeats, honest p99 within 2× the baseline, RSS growth < 64 MiB)
/// are printed here and fail only the full run (`budgets`).
#[test]
fn a_flood_at_rate_graylists_the_sender_and_spares_honest_propagation() {
    let flood = FloodRate {
        kind: FloodKind::Invalid,
        rate: 200,
        secs: 5,
        budgets: false,
        redial: None,
    };
    let r = run_with(Scenario::Flood, 4, 6, Duration::ZERO, Some(flood));
    let f = r.flood_rate.expect("the flood at rate is reported");
    assert!(f.failures.is_empty(), "{}", f.line());
    assert!(f.sent >= 500, "{}", f.line());
    assert!(f.graylisted_after_ms.is_some() && f.during.samples == 20);
    assert!(r.rejected_by_reason.get("bad_signature") > Some(&0));
}

/// The small version of `mutua-testnet run flood --rate 1000 --secs 60
/// --kind superseded`: a member floods 200 genuine superseded versions a
/// second for 5 s (ignored, so gossipsub never lowers its score): every
/// target bans it once over its budget of ignored records, and every honest
/// listing still arrives. Timings and RSS are figures here (`budgets`).
#[test]
fn a_flood_of_superseded_versions_is_cut_off_by_the_budget_of_ignored_records() {
    let r = run_flood(FloodKind::Superseded, None);
    let f = r.flood_rate.expect("the flood at rate is reported");
    // Each target judged (verified, then ignored) the rogue's records until
    // it was over the budget, and banned it.
    assert!(f.ignored >= 2 * 50 && f.over_budget > 0, "{}", f.line());
    assert!(f.bans >= 2, "{}", f.line());
}

/// The same member redialing once banned, under the same peer id (refused
/// at connection: never accepted again) and under a fresh one each time
/// (each session banned after a few records: the member's budget is spent).
#[test]
fn a_flood_by_a_banned_member_redialing_is_refused_or_banned_again_at_once() {
    use mutua_testnet::rogue::Redial;
    let r = run_flood(FloodKind::Superseded, Some(Redial::SamePeer));
    let f = r.flood_rate.expect("the flood at rate is reported");
    let redials = f.redials.as_ref().expect("the redials are reported");
    assert!(
        redials.attempts > 0 && redials.rejoined == 0,
        "{}",
        f.line()
    );

    let r = run_flood(FloodKind::Superseded, Some(Redial::FreshPeer));
    let f = r.flood_rate.expect("the flood at rate is reported");
    let redials = f.redials.as_ref().expect("the redials are reported");
    assert!(redials.rejoined > 0 && f.bans > 2, "{}", f.line());
}

/// A 200/s flood of `kind` for 5 s at 4 nodes; its behaviour checked by
/// the scenario (`FloodRate::budgets` off), every honest listing arrived.
fn run_flood(kind: FloodKind, redial: Option<mutua_testnet::rogue::Redial>) -> Report {
    let flood = FloodRate {
        kind,
        rate: 200,
        secs: 5,
        budgets: false,
        redial,
    };
    let r = run_with(Scenario::Flood, 4, 6, Duration::ZERO, Some(flood));
    let f = r
        .flood_rate
        .as_ref()
        .expect("the flood at rate is reported");
    assert!(f.failures.is_empty(), "{}", f.line());
    assert!(f.graylisted_after_ms.is_some() && f.during.samples == 20);
    r
}

/// The small version of `mutua-testnet run flood --rate 1000 --secs 60
/// --kind sync-requests`: 200 sync requests a second for 5 s, sent without
/// waiting for the answers: every target cuts the sender off (its per-peer
/// budget), before any of its garbage, and honest listings and syncs go on
/// (every listing arrives, every replica converges). Budgets as above.
#[test]
fn a_flood_of_sync_requests_gets_the_sender_cut_off_and_spares_honest_peers() {
    let r = run_flood(FloodKind::SyncRequests, None);
    let f = r.flood_rate.expect("the flood at rate is reported");
    let rogue = f.sync_rogue.as_ref().expect("the sync rogue reports");
    assert!(rogue.sent > 0, "{}", f.line());
    // Cut off by the budget: refused requests, then a ban per target, and
    // the rest of the flood found no target to send to.
    assert!(f.sync_requests_refused > 0, "{}", f.line());
    assert!(f.bans >= 2, "{}", f.line());
    assert!(rogue.not_connected > 0, "{}", f.line());
}

#[test]
fn churn_converges_after_restarts() {
    let r = run(Scenario::Churn, 4, 9);
    assert!(r.kills > 0);
}

/// A partition held 20 s, both sides publishing, heals within 5 s (issue
/// 18): every node connected across again within 5 s by the nodes' own
/// clocks (the replicas' equality after it is a figure: the sync sessions
/// are CPU-bound on a loaded machine). A redial now gives up a dial after
/// `DIAL_TIMEOUT` instead of waiting ~127 s for the kernel, so a healed
/// path gets a new SYN within ~2 s; this run does not tell the two apart
/// (without the fix a SYN retransmission happened to heal it in time), the
/// node's unit and dial-timeout tests do. Each dial leaves from a fresh
/// port: from the listening ports, two nodes redialing each other in step
/// met in a TCP simultaneous open at the heal and both dials failed, which
/// took this run to 9.5–10.3 s now and then (see the node's `fresh_ports`).
#[test]
fn partition_heals_and_every_node_reconnects_within_five_seconds() {
    let r = run(Scenario::Partition, 4, 9);
    assert!(r.convergence_after_heal_ms.is_some());
    if !r.network.starts_with("network namespaces") {
        // The loopback fallback stops the cut-off group: its heal is a restart.
        return;
    }
    let reconnected = r.reconnection_after_heal_ms.expect("a heal is timed");
    assert!(
        reconnected <= scenario::HEAL_GOAL.as_millis() as f64,
        "every node connected across {reconnected} ms after the heal: {}",
        r.summary()
    );
}

#[test]
fn demo_runs_once_and_answers_searches() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mutua-testnet"))
        .args(["demo", "--once"])
        .output()
        .expect("the demo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Bordeaux Métropole") && text.contains("DEMO DATA"),
        "{text}"
    );
    // The broyeur offered by the CC du Réolais is found from Aillas's node.
    assert!(
        text.contains("Broyeur de végétaux n°5 — CC du Réolais en Sud Gironde"),
        "{text}"
    );
}

/// Two seeded chaos runs of 5 nodes (namespaces and libfaketime needed: as
/// root with iproute2 and Debian's `faketime`, as CI runs). The full
/// campaign is `mutua-testnet run chaos --nodes 7 --runs N --seed S`.
#[test]
fn chaos_runs_converge_with_the_revoked_members_late_record_refused() {
    use mutua_testnet::chaos::{self, ChaosOptions};
    if let Err(why) = mutua_testnet::net::namespaces_available() {
        eprintln!("chaos not run: {why}");
        return;
    }
    let runs: usize = std::env::var("MUTUA_CHAOS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let report = chaos::run(
        &ChaosOptions {
            bin: env!("CARGO_BIN_EXE_mutua-testnet").into(),
            nodes: 5,
            runs,
            seed: 42,
            sync_interval_secs: 2,
            jobs: 1,
        },
        |run| print!("{}", chaos::ChaosReport::line(run)),
    )
    .expect("the chaos campaign runs (libfaketime installed?)");
    println!("{}", report.summary());
    assert_eq!(report.runs.len(), runs);
    for run in &report.runs {
        assert!(run.ok, "{}", report.summary());
        assert!(run.digest.is_some() && run.converge_ms.is_some());
        assert_eq!(run.late_record_verdict.as_deref(), Some("revoked"));
        assert!(
            run.relay.relayed > 0,
            "every connection goes through the relay"
        );
    }
    assert!(report.all_passed() && report.worst_converge_ms.is_some());
}

/// Issue 14 on 4 real nodes (namespaces needed for a real partition: as
/// root with iproute2, as CI runs): the owner's node offline while two
/// overlapping requests arrive, then requesters on both sides of a cut.
#[test]
fn lending_owner_offline_then_a_partition_gives_one_booking_everywhere() {
    if let Err(why) = mutua_testnet::net::namespaces_available() {
        eprintln!("lending not run: {why}");
        return;
    }
    let report = mutua_testnet::lending::run(&testnet_options(4)).expect("the testnet starts");
    println!("{}", report.summary());
    assert!(report.passed(), "{}", report.summary());
    assert!(report.decided_after_restart_ms.is_some());
    assert!(report.calendars_equal_after_heal_ms.is_some());
    assert!(report.digests_equal_after_heal_ms.is_some());
}
