//! The policy's decisions, driven by events and a clock the tests move.

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
fn random_walks_back_off_while_they_find_nobody_and_resume_on_loss() {
    let mut pacer = WalkPacer::default();
    let walk_ticks: Vec<u32> = (0..80).filter(|_| pacer.should_walk(9)).collect();
    // Gaps of 0, 1, 2, 4, 8, 16, then the cap of 30 ticks.
    assert_eq!(walk_ticks, vec![0, 1, 3, 6, 11, 20, 37, 68]);
    // A walk that brought a new peer: the next tick walks again.
    while !pacer.should_walk(10) {}
    assert!(pacer.should_walk(11));
    // A lost peer: walk at once, whatever the wait had grown to.
    for _ in 0..5 {
        pacer.should_walk(11);
    }
    pacer.peer_lost();
    assert!(pacer.should_walk(10));
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
    // Short of peers and finding nobody: paced, the wait doubling.
    let mut policy = PeerPolicy::new(4);
    assert_eq!(walks(&mut policy, connected(2), 12), vec![1, 2, 4, 7, 12]);
    // A peer lost: the next tick walks again.
    policy.on_peer_disconnected();
    assert_eq!(walks(&mut policy, connected(1), 1), vec![1]);
    // Discovery dials only while short of peers.
    assert!(policy.wants_more_peers(3));
    assert!(!policy.wants_more_peers(4));
}
