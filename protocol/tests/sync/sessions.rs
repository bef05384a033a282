//! Sessions between replicas of signed records: what travels, in which
//! order, and how a session stops when the peer misbehaves or the work
//! grows too large.

use mutua_protocol::fixtures::FIXTURE_NOW;
use mutua_protocol::merge::Rank;
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::sync::*;
use mutua_protocol::SignedRecord;

use crate::support::*;

#[test]
fn identical_replicas_agree_in_one_small_round_trip() {
    let records = offers(1, 0..200, 1);
    let refs: Vec<&SignedRecord> = records.iter().collect();
    let mut a = Replica::new(&refs);
    let mut b = Replica::new(&refs);
    let run = sync(&mut a, &mut b);
    assert_eq!(run.rounds, 1);
    assert!(run.bytes <= 1024, "{} bytes", run.bytes);
    assert_eq!(run.outcome.received + run.outcome.pushed, 0);
}

#[test]
fn known_differences_reconcile_both_ways() {
    let shared = offers(1, 0..60, 1);
    // Disjoint additions.
    let only_a = offers(2, 100..110, 1);
    let only_b = offers(3, 200..215, 1);
    // Newer versions on each side, a withdrawal on one.
    let newer_a = offer(1, 0, 2);
    let newer_b = offer(1, 1, 5);
    let withdrawn_a = withdrawal(1, 2, 3);
    // Expired but not yet forgettable (kept, synced), and forgettable
    // (purged before syncing, never sent).
    let expired_since = |id: u16, published_days_ago: u64, expired_days_ago: u64| {
        offer_with(4, id, 1, |l| {
            l.published_at = FIXTURE_NOW - published_days_ago * DAY_SECS;
            l.availability.clear();
            l.expires_at = FIXTURE_NOW - expired_days_ago * DAY_SECS;
        })
    };
    let expired = expired_since(1, 100, 10);
    let forgettable = expired_since(2, 500, 450);

    let mut a_records: Vec<&SignedRecord> = shared.iter().chain(&only_a).collect();
    a_records.extend([&newer_a, &withdrawn_a, &expired]);
    let mut b_records: Vec<&SignedRecord> = shared.iter().chain(&only_b).collect();
    b_records.push(&newer_b);
    let mut a = Replica::new(&a_records);
    let mut b = Replica::new(&b_records);
    b.now = FIXTURE_NOW - 500 * DAY_SECS;
    b.store(&forgettable);
    b.now = FIXTURE_NOW;
    assert_eq!(b.source.len(), 60 + 15 + 1);
    b.purge();
    assert_eq!(b.source.len(), 60 + 15);

    let run = sync(&mut a, &mut b);
    assert_same(&a, &b);
    assert_eq!(a.source.len(), 60 + 10 + 15 + 1);
    for (record, why) in [
        (&newer_a, "newer version from a"),
        (&newer_b, "newer version from b"),
        (&withdrawn_a, "withdrawal from a"),
        (&expired, "expired record not yet forgettable"),
    ] {
        assert_eq!(winner(&b, record), Some(*record.hash()), "{why}");
    }
    assert_eq!(winner(&a, &forgettable), None);
    // Both directions moved in one session: a fetched b's additions and
    // pushed its own.
    assert!(
        run.outcome.received >= 16 && run.outcome.pushed >= 13,
        "{:?}",
        run.outcome
    );
}

#[test]
fn a_newer_version_travels_one_way_only() {
    let shared = offers(1, 0..200, 1);
    let newer_a = offers(1, 0..10, 2);
    let newer_b = offers(1, 10..20, 3);
    // At equal versions a withdrawal wins over a listing.
    let withdrawn_a = withdrawal(1, 20, 4);
    let same_version_b = offer(1, 20, 4);
    let a_records: Vec<&SignedRecord> = shared
        .iter()
        .chain(&newer_a)
        .chain([&withdrawn_a])
        .collect();
    let b_records: Vec<&SignedRecord> = shared
        .iter()
        .chain(&newer_b)
        .chain([&same_version_b])
        .collect();
    let mut a = Replica::new(&a_records);
    let mut b = Replica::new(&b_records);
    let run = sync(&mut a, &mut b);
    assert_same(&a, &b);
    for record in newer_a.iter().chain(&newer_b).chain([&withdrawn_a]) {
        assert_eq!(winner(&a, record), Some(*record.hash()));
    }
    // Each side sends only its winners; the stale versions stay home.
    assert_eq!((run.outcome.pushed, run.outcome.received), (11, 10));
    assert_eq!(b.applied.len(), 11);
    assert_eq!(a.applied.len(), 10);
}

#[test]
fn an_equivocation_travels_both_ways_and_converges() {
    let shared = offers(2, 0..50, 1);
    let mine = offer_with(2, 60, 3, |l| l.title = "Nacelle 12 m".into());
    let theirs = offer_with(2, 60, 3, |l| l.title = "Nacelle 14 m".into());
    let mut a = Replica::new(&shared.iter().chain([&mine]).collect::<Vec<_>>());
    let mut b = Replica::new(&shared.iter().chain([&theirs]).collect::<Vec<_>>());
    let run = sync(&mut a, &mut b);
    assert_eq!((run.outcome.pushed, run.outcome.received), (1, 1));
    assert_same(&a, &b);
    let expected = if Rank::of(&mine) > Rank::of(&theirs) {
        &mine
    } else {
        &theirs
    };
    assert_eq!(winner(&a, &mine), Some(*expected.hash()));
}

#[test]
fn a_stored_envelope_gives_the_rank_of_its_record() {
    for record in [
        offer(3, 1, 7),
        withdrawal(3, 1, 9),
        certificate(100, 3),
        revocation(100, &certificate(100, 3)),
    ] {
        assert_eq!(
            SlotRank::of_envelope(record.bytes()).unwrap(),
            SlotRank::of_record(&record)
        );
    }
    assert!(SlotRank::of_envelope(b"not an envelope").is_err());
}

#[test]
fn certificates_and_revocations_arrive_before_listings() {
    let certs: Vec<SignedRecord> = (10..20).map(|s| certificate(100, s)).collect();
    let revocations: Vec<SignedRecord> = certs[..3].iter().map(|c| revocation(100, c)).collect();
    let listings: Vec<SignedRecord> = (10..20).flat_map(|s| offers(s, 0..8, 1)).collect();
    let all: Vec<&SignedRecord> = certs.iter().chain(&revocations).chain(&listings).collect();

    // Pushed by the initiator.
    let mut a = Replica::new(&all);
    let mut b = Replica::new(&[]);
    sync(&mut a, &mut b);
    assert_same(&a, &b);
    assert_eq!(b.applied.len(), all.len());
    assert!(
        b.applied.is_sorted(),
        "pushed out of order: {:?}",
        b.applied
    );

    // Fetched by the initiator, including from a responder holding a few
    // listings already.
    let mut c = Replica::new(&listings[..5].iter().collect::<Vec<_>>());
    sync(&mut c, &mut a);
    assert_same(&a, &c);
    assert!(
        c.applied.is_sorted(),
        "fetched out of order: {:?}",
        c.applied
    );
    assert_eq!(c.applied.len(), all.len() - 5);
}

#[test]
fn a_session_stops_at_its_round_limit() {
    let records = offers(7, 0..120, 1);
    let mut a = Replica::new(&records.iter().collect::<Vec<_>>());
    let mut b = Replica::new(&[]);
    let limits = SessionLimits {
        max_rounds: 2,
        ..SessionLimits::default()
    };
    // c fetches a's records through many small ranges: more than 2 rounds.
    let mut c = Replica::new(&records[..1].iter().collect::<Vec<_>>());
    let err = sync_with(&mut c, &mut a, limits).unwrap_err();
    assert!(matches!(err, SyncError::TooManyRounds { max: 2 }), "{err}");
    assert!(!err.is_peer_fault());
    let limits = SessionLimits {
        max_pending: 3,
        ..SessionLimits::default()
    };
    let err = sync_with(&mut c, &mut a, limits).unwrap_err();
    assert!(matches!(err, SyncError::TooMuchWork { max: 3 }), "{err}");
    // Pushing everything to an empty replica needs no pending ranges.
    assert_eq!(
        sync_with(&mut a, &mut b, limits).unwrap().outcome.pushed,
        120
    );
}

#[test]
fn responses_that_do_not_answer_the_request_are_peer_faults() {
    let records = offers(8, 0..40, 1);
    let a = Replica::new(&records.iter().collect::<Vec<_>>());
    let start = || InitiatorSession::start(SessionLimits::default(), a.source()).unwrap();

    let (mut session, _) = start();
    let wrong_count = Response {
        answers: vec![Answer::Equal, Answer::Equal],
        records: vec![],
    };
    let err = session
        .handle_response(&wrong_count, a.source())
        .unwrap_err();
    assert!(err.is_peer_fault());
    assert!(matches!(
        err,
        SyncError::Peer(MessageError::AnswerCount {
            expected: 1,
            got: 2
        })
    ));

    let (mut session, _) = start();
    let wrong_kind = Response {
        answers: vec![Answer::Fetched(false, None)],
        records: vec![],
    };
    let err = session
        .handle_response(&wrong_kind, a.source())
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Peer(MessageError::UnexpectedAnswer { index: 0, .. })
        ),
        "{err}"
    );

    // A fetch whose cursor does not move forward would loop.
    let empty = Replica::new(&[]);
    let (mut session, request) =
        InitiatorSession::start(SessionLimits::default(), empty.source()).unwrap();
    assert!(matches!(request.queries[..], [Query::Fetch(_, None)]));
    let page = |last: u8| Response {
        answers: vec![Answer::Fetched(true, Some(SyncKey([last; 32])))],
        records: vec![],
    };
    let Step::Send(next) = session
        .handle_response(&page(0x90), empty.source())
        .unwrap()
    else {
        panic!("more was announced");
    };
    assert_eq!(
        next.queries,
        vec![Query::Fetch(SyncRange::ROOT, Some(SyncKey([0x90; 32])))]
    );
    let err = session
        .handle_response(&page(0x90), empty.source())
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Peer(MessageError::CursorBackwards { index: 0 })
        ),
        "{err}"
    );
}
