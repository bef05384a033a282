//! The policy's decisions, driven by events and a clock the tests move.

use super::walks::MAX_FRUITLESS_WALKS;
use super::*;

fn peer() -> PeerId {
    PeerId::random()
}

fn connected(connected: usize) -> Connectivity {
    Connectivity {
        connected,
        bootstrap_lost: false,
    }
}

fn lost_bootstrap(connected: usize) -> Connectivity {
    Connectivity {
        connected,
        bootstrap_lost: true,
    }
}

fn score_of(actions: &[Action], of: PeerId) -> Option<f64> {
    actions.iter().rev().find_map(|action| match action {
        Action::SetScore { peer, score } if *peer == of => Some(*score),
        _ => None,
    })
}

fn bans(actions: &[Action]) -> Vec<(PeerId, &str)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Ban { peer, reason } => Some((*peer, reason.as_str())),
            _ => None,
        })
        .collect()
}

/// Ticks every maintenance interval from `start` for `duration`; the
/// actions of every tick in order, and the time of the last.
fn tick_for(
    policy: &mut PeerPolicy,
    start: Instant,
    duration: Duration,
    seen: Connectivity,
) -> (Vec<Action>, Instant) {
    let mut now = start;
    let mut actions = Vec::new();
    while now < start + duration {
        now += MAINTENANCE_INTERVAL;
        actions.extend(policy.on_tick(now, seen));
    }
    (actions, now)
}

#[test]
fn a_sync_protocol_fault_bans_at_once_for_the_ban_duration() {
    let mut policy = PeerPolicy::new(12);
    let (rogue, t0) = (peer(), Instant::now());
    let actions = policy.on_sync_penalty(Penalty::Fault(rogue, "garbage".into()), t0);
    assert_eq!(bans(&actions), vec![(rogue, "garbage")]);
    assert!(policy.is_banned(&rogue, t0));

    // Still cut off just before the end; lifted at the first tick after it.
    let before_end = policy.on_tick(t0 + BAN_DURATION - Duration::from_secs(1), connected(3));
    assert!(!before_end.contains(&Action::Unban(rogue)));
    assert!(policy.is_banned(&rogue, t0 + BAN_DURATION - Duration::from_secs(1)));
    let after = policy.on_tick(t0 + BAN_DURATION, connected(3));
    assert!(after.contains(&Action::Unban(rogue)));
    assert!(!policy.is_banned(&rogue, t0 + BAN_DURATION));
    // Lifted once only.
    let later = policy.on_tick(t0 + BAN_DURATION + MAINTENANCE_INTERVAL, connected(3));
    assert!(!later.contains(&Action::Unban(rogue)));
}

#[test]
fn invalid_records_lower_the_score_and_the_third_bans() {
    let mut policy = PeerPolicy::new(12);
    let (sender, other, now) = (peer(), peer(), Instant::now());
    let first = policy.on_sync_penalty(Penalty::InvalidRecords(sender, 1), now);
    assert_eq!(
        first,
        vec![Action::SetScore {
            peer: sender,
            score: -30.0
        }]
    );
    let second = policy.on_sync_penalty(Penalty::InvalidRecords(sender, 1), now);
    assert_eq!(score_of(&second, sender), Some(-60.0));
    assert!(bans(&second).is_empty(), "two are below the threshold");
    let third = policy.on_sync_penalty(Penalty::InvalidRecords(sender, 1), now);
    assert_eq!(score_of(&third, sender), Some(-90.0));
    assert_eq!(bans(&third), vec![(sender, "1 invalid records")]);
    assert!(policy.is_banned(&sender, now));

    // Three at once ban at once; another peer's record is its own.
    let batch = policy.on_sync_penalty(Penalty::InvalidRecords(other, 3), now);
    assert_eq!(bans(&batch), vec![(other, "3 invalid records")]);
    assert_eq!(policy.penalty(&other), 90.0);
}

#[test]
fn penalties_fade_with_time_and_are_forgotten_within_about_an_hour() {
    let mut policy = PeerPolicy::new(12);
    let (sender, t0) = (peer(), Instant::now());
    policy.on_tick(t0, connected(3));
    policy.on_sync_penalty(Penalty::InvalidRecords(sender, 2), t0);

    let (actions, now) = tick_for(&mut policy, t0, Duration::from_secs(60), connected(3));
    let after_a_minute = score_of(&actions, sender).unwrap();
    assert!((-60.0 * 0.987f64.powi(6) - after_a_minute).abs() < 1e-9);
    // Ten minutes on, a third invalid record no longer bans (it would
    // have on top of two fresh ones).
    let (_, now) = tick_for(&mut policy, now, Duration::from_secs(540), connected(3));
    let third = policy.on_sync_penalty(Penalty::InvalidRecords(sender, 1), now);
    assert!(bans(&third).is_empty(), "{third:?}");

    let (actions, now) = tick_for(&mut policy, now, Duration::from_secs(1800), connected(3));
    let half_an_hour = -score_of(&actions, sender).unwrap();
    assert!((1.0..10.0).contains(&half_an_hour), "{half_an_hour}");

    let (actions, now) = tick_for(&mut policy, now, Duration::from_secs(1800), connected(3));
    assert_eq!(score_of(&actions, sender), Some(0.0), "the score is reset");
    assert_eq!(policy.penalty(&sender), 0.0, "and the penalty forgotten");
    let (actions, _) = tick_for(&mut policy, now, Duration::from_secs(600), connected(3));
    assert_eq!(score_of(&actions, sender), None, "once");
}

#[test]
fn decay_follows_the_time_passed_not_the_number_of_ticks() {
    // A loaded node's ticks come late (or are skipped): penalties fade by
    // the clock all the same.
    let (sender, t0) = (peer(), Instant::now());
    let mut punctual = PeerPolicy::new(12);
    let mut late = PeerPolicy::new(12);
    for policy in [&mut punctual, &mut late] {
        policy.on_tick(t0, connected(3));
        policy.on_sync_penalty(Penalty::InvalidRecords(sender, 2), t0);
    }
    tick_for(&mut punctual, t0, Duration::from_secs(300), connected(3));
    for minute in 1..=5 {
        late.on_tick(t0 + Duration::from_secs(60 * minute), connected(3));
    }
    let (a, b) = (punctual.penalty(&sender), late.penalty(&sender));
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    assert!((a - 60.0 * 0.987f64.powi(30)).abs() < 1e-9);
}

#[test]
fn a_frame_breach_disconnects_is_logged_once_and_the_third_bans() {
    let mut policy = PeerPolicy::new(12);
    let (sender, now) = (peer(), Instant::now());
    let first = policy.on_frame_breach(sender, now);
    assert!(first.log);
    assert_eq!(
        first.actions,
        vec![
            Action::SetScore {
                peer: sender,
                score: -FRAME_BREACH_PENALTY
            },
            Action::Disconnect(sender),
        ]
    );
    let second = policy.on_frame_breach(sender, now);
    assert!(!second.log, "logged once per peer");
    assert!(bans(&second.actions).is_empty());
    let third = policy.on_frame_breach(sender, now);
    assert_eq!(
        third.actions[1..],
        [
            Action::Disconnect(sender),
            Action::Ban {
                peer: sender,
                reason: "gossipsub frames over the limits".into()
            }
        ]
    );
    // Sync and frame penalties add up.
    let other = peer();
    policy.on_sync_penalty(Penalty::InvalidRecords(other, 2), now);
    let breach = policy.on_frame_breach(other, now);
    assert_eq!(bans(&breach.actions).len(), 1);
}

#[test]
fn the_set_of_logged_breaches_stays_bounded() {
    let mut policy = PeerPolicy::new(12);
    let (first, now) = (peer(), Instant::now());
    assert!(policy.on_frame_breach(first, now).log);
    for _ in 1..MAX_LOGGED_BREACHES {
        assert!(policy.on_frame_breach(peer(), now).log);
    }
    assert_eq!(policy.breaches_logged.len(), MAX_LOGGED_BREACHES);
    // Full: forgotten, so the first peer's next breach is logged again.
    assert!(policy.on_frame_breach(first, now).log);
    assert_eq!(policy.breaches_logged.len(), 1);
}

#[test]
fn bootstrap_redials_every_tick_while_short_and_every_third_with_enough_peers() {
    let t0 = Instant::now();
    let redial_ticks = |seen: Connectivity| -> Vec<u64> {
        let mut policy = PeerPolicy::new(4);
        (1..=9)
            .filter(|tick| {
                let now = t0 + MAINTENANCE_INTERVAL * *tick as u32;
                policy.on_tick(now, seen).contains(&Action::DialBootstrap)
            })
            .collect()
    };
    let every_tick: Vec<u64> = (1..=9).collect();
    // Alone: always, whatever the bootstrap peers' state.
    assert_eq!(redial_ticks(connected(0)), every_tick);
    // Short of peers with a bootstrap peer lost: every tick.
    assert_eq!(redial_ticks(lost_bootstrap(2)), every_tick);
    // Enough peers, a bootstrap peer lost: every third tick (30 s), so that
    // two healed halves of a partition find each other again.
    assert_eq!(redial_ticks(lost_bootstrap(4)), vec![3, 6, 9]);
    // Every bootstrap peer connected: never.
    assert!(redial_ticks(connected(2)).is_empty());
    assert!(redial_ticks(connected(4)).is_empty());
}

#[test]
fn random_walks_stop_after_two_fruitless_ones_and_resume_on_any_news() {
    let mut pacer = WalkPacer::default();
    let walk_ticks: Vec<u32> = (0..80).filter(|_| pacer.should_walk()).collect();
    // The first walk, then one more after it found nobody, then none.
    assert_eq!(walk_ticks, vec![0, 1]);
    assert_eq!(pacer.fruitless(), MAX_FRUITLESS_WALKS);
    // Something learned (a peer new to the DHT, or connected): walking
    // resumes, for two more walks if they learn nothing.
    pacer.learned();
    assert!(pacer.should_walk());
    assert!(pacer.should_walk());
    assert!(!pacer.should_walk());
    // A walk that learns something keeps the walks going.
    pacer.learned();
    assert!(pacer.should_walk());
    pacer.learned();
    assert!(pacer.should_walk());
    assert!(pacer.should_walk());
    assert!(!pacer.should_walk());
    // A lost peer: walk at once, twice.
    pacer.peer_lost();
    assert!(pacer.should_walk());
    assert!(pacer.should_walk());
    assert!(!pacer.should_walk());
}

#[test]
fn bootstrap_lookups_count_as_walks() {
    // Kademlia's bootstrap at start: its first lookup finds the peers, the
    // next ones nothing new. No walk follows (at N = 10, two walks × 9
    // peers were most of the idle traffic).
    let mut pacer = WalkPacer::default();
    pacer.learned();
    pacer.bootstrap_step_done();
    assert_eq!(pacer.fruitless(), 0, "the lookup that found the peers");
    pacer.bootstrap_step_done();
    pacer.bootstrap_step_done();
    pacer.bootstrap_step_done();
    assert!((0..80).all(|_| !pacer.should_walk()));
    // A bootstrap that learns something (a newcomer inserted): walks may
    // find more.
    pacer.learned();
    pacer.bootstrap_step_done();
    assert!(pacer.should_walk());
    // A single fruitless lookup leaves one walk to make.
    let mut pacer = WalkPacer::default();
    pacer.learned();
    pacer.bootstrap_step_done();
    pacer.bootstrap_step_done();
    assert!(pacer.should_walk());
    assert!(!pacer.should_walk());
}

#[test]
fn a_small_federation_met_by_the_bootstrap_is_not_walked() {
    let t0 = Instant::now();
    let walks = |policy: &mut PeerPolicy, ticks: u32| -> Vec<u32> {
        (1..=ticks)
            .filter(|tick| {
                let now = t0 + MAINTENANCE_INTERVAL * *tick;
                policy
                    .on_tick(now, connected(9))
                    .contains(&Action::RandomWalk)
            })
            .collect()
    };
    // Nine peers found and connected, below the target of 12; kad's
    // bootstrap then asks them all (a self-lookup, three bucket refreshes).
    let meet = |policy: &mut PeerPolicy, bootstrap_steps: usize| {
        for _ in 0..9 {
            policy.on_peer_discovered();
            assert!(policy.on_peer_connected(peer(), t0).is_empty());
        }
        for _ in 0..bootstrap_steps {
            policy.on_bootstrap_step_done();
        }
    };
    let mut policy = PeerPolicy::new(12);
    meet(&mut policy, 4);
    assert!(walks(&mut policy, 30).is_empty());
    // Without a bootstrap (a table of 20 peers or more), two walks.
    let mut policy = PeerPolicy::new(12);
    meet(&mut policy, 0);
    assert_eq!(walks(&mut policy, 30), vec![1, 2]);
    // A peer lost: two walks, then none again.
    let mut policy = PeerPolicy::new(12);
    meet(&mut policy, 4);
    policy.on_peer_disconnected(peer(), vec![], t0);
    assert_eq!(walks(&mut policy, 30), vec![1, 2]);
}

#[test]
fn the_policy_walks_only_when_short_of_peers_and_not_alone() {
    let t0 = Instant::now();
    let walks = |policy: &mut PeerPolicy, seen: Connectivity, ticks: u32| -> Vec<u32> {
        (1..=ticks)
            .filter(|tick| {
                let now = t0 + MAINTENANCE_INTERVAL * *tick;
                policy.on_tick(now, seen).contains(&Action::RandomWalk)
            })
            .collect()
    };
    let mut policy = PeerPolicy::new(4);
    assert!(
        walks(&mut policy, connected(0), 5).is_empty(),
        "nobody to ask"
    );
    assert!(
        walks(&mut policy, connected(4), 5).is_empty(),
        "enough peers"
    );
    // Short of peers and finding nobody: two walks, then none (an idle
    // federation smaller than the target stops walking).
    let mut policy = PeerPolicy::new(4);
    assert_eq!(walks(&mut policy, connected(2), 12), vec![1, 2]);
    // A peer lost: the next tick walks again.
    policy.on_peer_disconnected(peer(), vec![], t0);
    assert_eq!(walks(&mut policy, connected(1), 1), vec![1]);
    // Discovery dials only while short of peers.
    assert!(policy.wants_more_peers(3));
    assert!(!policy.wants_more_peers(4));
}

/// The lost peers the redial check asks to dial at `now`.
fn redials_at(policy: &mut PeerPolicy, now: Instant) -> Vec<PeerId> {
    policy
        .on_redial_check(now)
        .into_iter()
        .flat_map(|action| match action {
            Action::Redial {
                peers,
                retry_pending: false,
            } => peers
                .into_iter()
                .map(|redial| redial.peer)
                .collect::<Vec<_>>(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// The seconds (from `t0`, checked every second) at which `lost` is
/// redialed, each dial failing at once (a refused connection).
fn redial_seconds(policy: &mut PeerPolicy, t0: Instant, lost: PeerId, secs: u64) -> Vec<u64> {
    (1..=secs)
        .filter(|s| {
            let dialed = redials_at(policy, t0 + Duration::from_secs(*s));
            for peer in &dialed {
                policy.on_dial_failed(peer);
            }
            dialed.contains(&lost)
        })
        .collect()
}

#[test]
fn a_lost_peer_is_redialed_after_a_second_then_at_most_every_four() {
    let mut policy = PeerPolicy::new(12);
    let (lost, t0) = (peer(), Instant::now());
    assert!(policy.on_redial_check(t0).is_empty(), "nothing lost");
    policy.on_peer_disconnected(lost, vec![], t0);
    // Waits of 1, 2, then 4 s (the bound), whatever the time.
    assert_eq!(
        redial_seconds(&mut policy, t0, lost, 20),
        vec![1, 3, 7, 11, 15, 19]
    );
    // Forgotten after REDIAL_FOR: the bootstrap redials take over.
    let late = t0 + REDIAL_FOR;
    assert!(redials_at(&mut policy, late).is_empty());
    assert!(!policy.lost.contains(&lost));
    assert!(redials_at(&mut policy, late + MAX_REDIAL_WAIT).is_empty());
}

#[test]
fn a_reconnected_peer_is_no_longer_redialed_and_brings_the_others_back_at_once() {
    let mut policy = PeerPolicy::new(12);
    let (a, b, c, t0) = (peer(), peer(), peer(), Instant::now());
    for p in [a, b, c] {
        policy.on_peer_disconnected(p, vec![], t0);
    }
    // A long cut: each of them is in its 4 s backoff.
    let mut now = t0;
    for _ in 0..30 {
        now += REDIAL_CHECK_INTERVAL;
        policy.on_redial_check(now);
        for p in [a, b, c] {
            policy.on_dial_failed(&p);
        }
    }
    // A peer never lost connecting says nothing about the cut.
    assert!(policy.on_peer_connected(peer(), now).is_empty());
    // `a` is back: `b` and `c` are dialed now, even if a dial is pending.
    let actions = policy.on_peer_connected(a, now);
    let [Action::Redial {
        peers,
        retry_pending: true,
    }] = actions.as_slice()
    else {
        panic!("{actions:?}");
    };
    let mut peers: Vec<PeerId> = peers.iter().map(|redial| redial.peer).collect();
    peers.sort();
    let mut expected = vec![b, c];
    expected.sort();
    assert_eq!(peers, expected);
    // `a` is not redialed any more; the others start their backoff over.
    assert_eq!(redial_seconds(&mut policy, now, a, 10), Vec::<u64>::new());
    let mut policy2 = PeerPolicy::new(12);
    policy2.on_peer_disconnected(b, vec![], t0);
    policy2.on_peer_disconnected(a, vec![], t0);
    policy2.on_peer_connected(a, now);
    // The dial made at the reconnection fails; then 1, 2, 4 s again.
    policy2.on_dial_failed(&b);
    assert_eq!(redial_seconds(&mut policy2, now, b, 8), vec![1, 3, 7]);
    // The last lost peer coming back dials nobody.
    policy2.on_peer_connected(b, now);
    assert!(policy2.on_redial_check(now + MAX_REDIAL_WAIT).is_empty());
}

#[test]
fn peers_cut_off_or_penalised_are_not_redialed() {
    let mut policy = PeerPolicy::new(12);
    let (rogue, breacher, honest, t0) = (peer(), peer(), peer(), Instant::now());
    policy.on_sync_penalty(Penalty::Fault(rogue, "garbage".into()), t0);
    policy.on_frame_breach(breacher, t0);
    for p in [rogue, breacher, honest] {
        policy.on_peer_disconnected(p, vec![], t0);
    }
    assert_eq!(redial_seconds(&mut policy, t0, honest, 2), vec![1]);
    assert!(!policy.lost.contains(&rogue) && !policy.lost.contains(&breacher));
    // A peer lost, then banned (its connection closed before the verdict).
    policy.on_sync_penalty(Penalty::Fault(honest, "garbage".into()), t0);
    assert!(!policy.lost.contains(&honest));
}

#[test]
fn the_set_of_lost_peers_stays_bounded_forgetting_the_oldest() {
    let mut policy = PeerPolicy::new(12);
    let t0 = Instant::now();
    let first = peer();
    policy.on_peer_disconnected(first, vec![], t0);
    for i in 0..MAX_LOST_PEERS {
        policy.on_peer_disconnected(peer(), vec![], t0 + Duration::from_millis(1 + i as u64));
    }
    assert_eq!(policy.lost.len(), MAX_LOST_PEERS);
    assert!(!policy.lost.contains(&first));
    assert_eq!(FIRST_REDIAL_WAIT, Duration::from_secs(1));
}

#[test]
fn a_lost_peer_is_redialed_where_it_was_reached_even_once_the_dht_forgot_it() {
    // Kademlia drops an address after a refused dial unless it is the
    // peer's last: one reached through a relay (or a NAT) and listening on
    // an unreachable address would be left with that one only.
    let mut policy = PeerPolicy::new(12);
    let (lost, t0) = (peer(), Instant::now());
    let reached: libp2p::Multiaddr = "/ip4/10.77.1.1/tcp/4303".parse().unwrap();
    let listening: libp2p::Multiaddr = "/ip4/10.78.1.5/tcp/4100".parse().unwrap();
    let mut addresses = vec![reached.clone(), listening.clone()];
    addresses.extend((0..20).map(|i| format!("/ip4/10.0.0.{i}/tcp/1").parse().unwrap()));
    policy.on_peer_disconnected(lost, addresses, t0);
    let mut now = t0;
    for _ in 0..10 {
        now += REDIAL_CHECK_INTERVAL;
        for action in policy.on_redial_check(now) {
            let Action::Redial { peers, .. } = action else {
                panic!("{action:?}")
            };
            // Every redial, not only the first, dials the remembered
            // addresses, in order, at most MAX_REDIAL_ADDRESSES of them.
            assert_eq!(peers.len(), 1);
            assert_eq!(peers[0].peer, lost);
            assert_eq!(peers[0].addresses.len(), MAX_REDIAL_ADDRESSES);
            assert_eq!(
                peers[0].addresses[..2],
                [reached.clone(), listening.clone()]
            );
            policy.on_dial_failed(&lost);
        }
    }
}

#[test]
fn a_redial_due_during_a_dial_under_way_is_made_as_soon_as_that_dial_fails() {
    // A dial into a cut lasts until DIAL_TIMEOUT (its SYNs unanswered): a
    // redial falling due meanwhile must not be skipped until the next one
    // (it would add a whole wait to a heal).
    let mut policy = PeerPolicy::new(12);
    let (lost, t0) = (peer(), Instant::now());
    policy.on_peer_disconnected(lost, vec![], t0);
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert_eq!(redials_at(&mut policy, at(1)), vec![lost]);
    // Due again at 3 s, but the dial started at 1 s is still under way.
    for s in 2..=4 {
        assert!(redials_at(&mut policy, at(s)).is_empty(), "{s} s");
    }
    // It times out at 5 s: redialed at the next check, not at 7 s.
    policy.on_dial_failed(&lost);
    assert_eq!(redials_at(&mut policy, at(5)), vec![lost]);
    // A failure of a peer not lost changes nothing.
    policy.on_dial_failed(&peer());
    assert!(redials_at(&mut policy, at(6)).is_empty());
}

/// A fresh author key (the budgets only compare keys).
fn author() -> PublicKey {
    PublicKey(rand::random())
}

/// Charges `count` ignored records of `by` from `peer`, `every` apart from
/// `start`; every verdict's actions, the number over the budget, and the
/// time of the last.
fn ignored(
    policy: &mut PeerPolicy,
    peer: PeerId,
    by: Option<PublicKey>,
    count: usize,
    start: Instant,
    every: Duration,
) -> (Vec<Action>, usize, Instant) {
    let (mut actions, mut over, mut now) = (Vec::new(), 0, start);
    for _ in 0..count {
        now += every;
        let verdict = policy.on_ignored_record(peer, by, now);
        over += usize::from(verdict.over_budget);
        actions.extend(verdict.actions);
    }
    (actions, over, now)
}

#[test]
fn honest_ignored_records_never_cost_a_peer_anything() {
    let mut policy = PeerPolicy::new(12);
    let (honest, t0) = (peer(), Instant::now());
    // A burst of the whole budget at once (a heal where gossip and sync
    // cross), then one a second for an hour: never over the budget.
    let (burst, over, now) = ignored(&mut policy, honest, Some(author()), 50, t0, Duration::ZERO);
    assert!(burst.is_empty() && over == 0);
    assert_eq!(policy.ignored_peak(), 50);
    let (steady, over, _) = ignored(&mut policy, honest, None, 3600, now, Duration::from_secs(1));
    assert!(steady.is_empty() && over == 0, "{steady:?}");
    assert_eq!(policy.penalty(&honest), 0.0);
}

#[test]
fn a_flood_of_superseded_records_is_graylisted_then_banned_within_a_second() {
    let mut policy = PeerPolicy::new(12);
    let (rogue, member, t0) = (peer(), author(), Instant::now());
    // 1,000 a second: the budget lasts 50 records, then each costs 10.
    let (actions, over, now) = ignored(
        &mut policy,
        rogue,
        Some(member),
        58,
        t0,
        Duration::from_millis(1),
    );
    assert_eq!(
        over, 8,
        "the budget did not refill a whole record meanwhile"
    );
    assert!(score_of(&actions, rogue).unwrap() <= -80.0);
    assert_eq!(
        bans(&actions),
        vec![(rogue, "ignored gossip records over the budget")]
    );
    assert!(policy.is_banned(&rogue, now) && now - t0 < Duration::from_secs(1));
    // What is still queued from it changes nothing (no second ban).
    let (late, _, _) = ignored(&mut policy, rogue, Some(member), 50, now, Duration::ZERO);
    assert!(late.is_empty());
}

#[test]
fn the_budget_refills_with_time() {
    let mut policy = PeerPolicy::new(12);
    let (sender, t0) = (peer(), Instant::now());
    let (_, over, now) = ignored(&mut policy, sender, None, 50, t0, Duration::ZERO);
    assert_eq!(over, 0);
    let (_, over, now) = ignored(&mut policy, sender, None, 1, now, Duration::ZERO);
    assert_eq!(over, 1, "the 51st at once is over");
    assert_eq!(policy.penalty(&sender), IGNORED_OVER_BUDGET_PENALTY);
    // 20 s later, 20 more are within; the 21st is over.
    let later = now + Duration::from_secs(20);
    let (_, over, _) = ignored(&mut policy, sender, None, 21, later, Duration::ZERO);
    assert_eq!(over, 1);
}

#[test]
fn fresh_peer_ids_of_a_flooding_author_have_no_allowance_of_their_own() {
    let mut policy = PeerPolicy::new(12);
    let (member, t0) = (author(), Instant::now());
    let first = peer();
    let (_, _, now) = ignored(&mut policy, first, Some(member), 58, t0, Duration::ZERO);
    assert!(policy.is_banned(&first, now));
    // The same member through a new peer id: over the budget at once,
    // banned at its 8th record.
    let fresh = peer();
    let (actions, over, now) = ignored(&mut policy, fresh, Some(member), 8, now, Duration::ZERO);
    assert_eq!(over, 8);
    assert_eq!(bans(&actions).len(), 1);
    assert!(policy.is_banned(&fresh, now));
    // An honest peer's ignored records of another author cost it nothing.
    let (actions, over, _) = ignored(&mut policy, peer(), Some(author()), 20, now, Duration::ZERO);
    assert!(actions.is_empty() && over == 0);
}

#[test]
fn bans_stay_bounded_lifting_the_one_closest_to_its_end() {
    let mut policy = PeerPolicy::new(12);
    let t0 = Instant::now();
    let first = peer();
    policy.on_sync_penalty(Penalty::Fault(first, "garbage".into()), t0);
    for k in 1..MAX_BANS {
        let at = t0 + Duration::from_millis(k as u64);
        policy.on_sync_penalty(Penalty::Fault(peer(), "garbage".into()), at);
    }
    let last = peer();
    let at = t0 + Duration::from_secs(60);
    let actions = policy.on_sync_penalty(Penalty::Fault(last, "garbage".into()), at);
    assert_eq!(actions[0], Action::Unban(first));
    assert_eq!(bans(&actions), vec![(last, "garbage")]);
    assert!(!policy.is_banned(&first, at) && policy.is_banned(&last, at));
    assert_eq!(policy.bans.len(), MAX_BANS);
}

#[test]
fn the_budgets_stay_bounded_and_forget_refilled_ones() {
    let mut policy = PeerPolicy::new(12);
    let t0 = Instant::now();
    for _ in 0..ignored::MAX_TRACKED + 10 {
        policy.on_ignored_record(peer(), Some(author()), t0);
    }
    let (peers, authors) = policy.ignored.tracked();
    assert!(peers <= ignored::MAX_TRACKED && authors <= ignored::MAX_TRACKED);
    // A token refills in a second: at the next tick they are all full.
    policy.on_tick(t0 + MAINTENANCE_INTERVAL, connected(3));
    assert_eq!(policy.ignored.tracked(), (0, 0));
}
