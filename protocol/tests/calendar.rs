//! The calendar and the owner's decision. Properties: for any set of
//! requests, decisions (from one owner node, or from one key run on two
//! nodes) and cancellations, every delivery order, with repeats, gives the
//! same calendar; no day is booked beyond the capacity (buffer included);
//! one owner node deciding one request at a time never signs conflicting
//! acceptances. Records are fed as payloads with a stand-in record hash (the
//! SHA-256 of the payload's encoding: distinct records, distinct hashes),
//! since the calendar never looks at signatures.

use mutua_protocol::codec::encode_payload;
use mutua_protocol::fixtures::*;
use mutua_protocol::lending::calendar::{calendar, Anomaly, Calendar, RequestStatus};
use mutua_protocol::lending::date::utc_day;
use mutua_protocol::lending::decide::{
    accepted, decide, decision_for, declined, next_seq, OfferView, Verdict,
};
use mutua_protocol::lending::*;
use mutua_protocol::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const CASES: u32 = 10_000;

fn hashed(payload: Payload) -> (RecordHash, Payload) {
    let bytes = encode_payload(&payload).expect("encodable");
    (FixedBytes(Sha256::digest(bytes).into()), payload)
}

fn calendar_of(records: &[(RecordHash, Payload)]) -> Calendar {
    let owner = key(2).public();
    calendar(
        &owner,
        &FixedBytes([7; 16]),
        records.iter().map(|(h, p)| (*h, p)),
    )
}

fn offer() -> Listing {
    listing(&key(2), 7, 1)
}

fn today() -> Day {
    utc_day(FIXTURE_NOW)
}

/// One owner node: decides `requests` in order, one at a time, each against
/// the calendar of what it knows so far, and adds its decisions to `known`.
fn run_owner(known: &mut Vec<(RecordHash, Payload)>, requests: &[(RecordHash, Request)]) {
    let listing = offer();
    for (hash, request) in requests {
        if !known.iter().any(|(h, _)| h == hash) {
            known.push((*hash, Payload::Request(request.clone())));
        }
        let current = calendar_of(known);
        let outcome = match decide(
            OfferView::Live(&listing),
            &current,
            request,
            today(),
            FIXTURE_NOW,
        ) {
            Verdict::Accept => accepted([0x5e; 32]),
            Verdict::Decline(reason) => declined(reason),
            Verdict::AwaitStaff | Verdict::AlreadyDecided(_) => continue,
        };
        // A constant clock: sequence numbers follow from the calendar, so two
        // nodes running one key often reuse one.
        let seq = next_seq(&current, 0);
        known.push(hashed(Payload::Decision(decision_for(
            request,
            *hash,
            outcome,
            seq,
            FIXTURE_NOW,
        ))));
    }
}

#[derive(Clone, Debug)]
struct Scenario {
    capacity: u32,
    buffer: u32,
    /// (borrower seed, start, length, quantity)
    requests: Vec<(u8, u32, u32, u32)>,
    /// Which requests each of two nodes sees, in which order (indices).
    node_a: Vec<usize>,
    node_b: Vec<usize>,
    /// Requests the borrower cancels afterwards.
    cancelled: Vec<usize>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1u32..=3,
        0u32..=2,
        prop::collection::vec((3u8..=5, 0u32..20, 1u32..6, 1u32..=3), 1..10),
    )
        .prop_flat_map(|(capacity, buffer, requests)| {
            let n = requests.len();
            (
                Just(capacity),
                Just(buffer),
                Just(requests),
                prop::collection::vec(0..n, 0..=n).prop_shuffle(),
                prop::collection::vec(0..n, 0..=n).prop_shuffle(),
                prop::collection::vec(0..n, 0..3),
            )
        })
        .prop_map(
            |(capacity, buffer, requests, node_a, node_b, cancelled)| Scenario {
                capacity,
                buffer,
                requests,
                node_a,
                node_b,
                cancelled,
            },
        )
}

fn settings(capacity: u32, buffer: u32) -> (RecordHash, Payload) {
    let mut terms = lending_terms(&key(2), 7, BookingMode::Auto);
    terms.capacity = capacity;
    terms.buffer_days = buffer;
    hashed(Payload::Lending(terms))
}

fn requests_of(s: &Scenario) -> Vec<(RecordHash, Request)> {
    s.requests
        .iter()
        .enumerate()
        .map(|(i, &(borrower, start, len, quantity))| {
            let mut r = request(
                &key(borrower),
                i as u8,
                &key(2),
                7,
                days(start, start + len),
            );
            r.quantity = quantity;
            let (hash, _) = hashed(Payload::Request(r.clone()));
            (hash, r)
        })
        .collect()
}

/// Every record the scenario produces: both owner nodes' decisions (each
/// node sees only its own), the requests, the cancellations.
fn records(s: &Scenario, two_nodes: bool) -> Vec<(RecordHash, Payload)> {
    let requests = requests_of(s);
    let pick = |order: &[usize]| -> Vec<(RecordHash, Request)> {
        let mut seen = Vec::new();
        for &i in order {
            if !seen.contains(&i) {
                seen.push(i);
            }
        }
        seen.into_iter().map(|i| requests[i].clone()).collect()
    };
    let mut a = vec![settings(s.capacity, s.buffer)];
    run_owner(&mut a, &pick(&s.node_a));
    let mut all = a;
    if two_nodes {
        let mut b = vec![settings(s.capacity, s.buffer)];
        run_owner(&mut b, &pick(&s.node_b));
        all.extend(b);
    }
    for (hash, r) in &requests {
        all.push((*hash, Payload::Request(r.clone())));
    }
    for &i in &s.cancelled {
        let (_, r) = &requests[i];
        all.push(hashed(Payload::LoanEvent(loan_event(
            &key(r.author_seed()),
            r,
            None,
            LoanEventKind::Cancelled,
        ))));
    }
    all
}

trait Seed {
    fn author_seed(&self) -> u8;
}

impl Seed for Request {
    fn author_seed(&self) -> u8 {
        (3..=5)
            .find(|&s| key(s).public() == self.author)
            .expect("a fixture borrower")
    }
}

/// No day holds more units than the capacity, buffers included.
fn assert_within_capacity(c: &Calendar) {
    for b in &c.bookings {
        for day in b.busy.start..b.busy.end {
            assert!(
                c.used_on(day) <= c.settings.capacity,
                "day {day} overbooked: {c:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_delivery_order_gives_the_same_calendar(
        s in scenario(),
        two_nodes in any::<bool>(),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let all = records(&s, two_nodes);
        let reference = calendar_of(&all);
        assert_within_capacity(&reference);
        // A shuffled copy with some records delivered twice.
        let mut shuffled = all.clone();
        let mut state = order | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        let repeats: Vec<_> = shuffled.iter().take((next() % 4) as usize).cloned().collect();
        shuffled.extend(repeats);
        prop_assert_eq!(calendar_of(&shuffled), reference);
    }

    #[test]
    fn one_owner_node_never_signs_conflicting_acceptances(s in scenario()) {
        let c = calendar_of(&records(&s, false));
        assert_within_capacity(&c);
        let conflicting = c.anomalies.iter().any(|a| {
            matches!(a, Anomaly::ConflictingAcceptances { .. } | Anomaly::SequenceReused { .. })
        });
        prop_assert!(!conflicting, "{:?}", c.anomalies);
        // Every request node A saw is decided; the others are pending or cancelled.
        for state in &c.requests {
            let overruled = matches!(state.status, RequestStatus::Overruled { .. });
            prop_assert!(!overruled, "{:?}", state);
        }
    }
}

#[test]
fn an_overlapping_request_is_declined_and_a_repeat_gets_the_same_decision() {
    let (owner, a, b) = (key(2), key(3), key(4));
    let first = request(&a, 1, &owner, 7, days(0, 3));
    let second = request(&b, 2, &owner, 7, days(2, 5));
    // Starts right after the first loan's 1-day buffer (end 3, buffer day 3).
    let third = request(&b, 3, &owner, 7, days(4, 6));
    let mut known = vec![hashed(Payload::Lending(lending_terms(
        &owner,
        7,
        BookingMode::Auto,
    )))];
    let requests: Vec<_> = [first, second.clone(), third]
        .into_iter()
        .map(|r| (hashed(Payload::Request(r.clone())).0, r))
        .collect();
    run_owner(&mut known, &requests);
    let c = calendar_of(&known);
    let statuses: Vec<_> = requests
        .iter()
        .map(|(_, r)| c.request(&r.author, &r.id).expect("known").status.clone())
        .collect();
    assert!(
        matches!(statuses[0], RequestStatus::Accepted { .. }),
        "{statuses:?}"
    );
    assert!(
        matches!(
            statuses[1],
            RequestStatus::Declined {
                reason: DeclineReason::Conflict,
                ..
            }
        ),
        "{statuses:?}"
    );
    assert!(
        matches!(statuses[2], RequestStatus::Accepted { .. }),
        "{statuses:?}"
    );
    // Busy: days 0..4 (3 days and the buffer), then 4..7, one run of one unit.
    assert_eq!(c.busy_periods(), vec![(days(0, 7), 1)]);
    assert!(c.fits(&days(7, 8), 1));
    assert!(!c.fits(&days(6, 7), 1), "day 6 is the third loan's buffer");
    assert_eq!(c.free_windows(&days(0, 10), 1), vec![days(7, 10)]);
    // The same request again: the decision it had, nothing new to sign.
    let listing = offer();
    assert_eq!(
        decide(OfferView::Live(&listing), &c, &second, today(), FIXTURE_NOW),
        Verdict::AlreadyDecided(statuses[1].clone())
    );
    let before = known.len();
    run_owner(&mut known, &requests);
    assert_eq!(known.len(), before, "deciding again signs nothing");
}

#[test]
fn the_checks_before_an_acceptance() {
    let (owner, borrower) = (key(2), key(3));
    let mut terms = lending_terms(&owner, 7, BookingMode::Manual);
    terms.capacity = 2;
    let known = vec![hashed(Payload::Lending(terms))];
    let c = calendar_of(&known);
    let listing = offer();
    let live = OfferView::Live(&listing);
    let ok = request(&borrower, 1, &owner, 7, days(0, 2));
    assert_eq!(
        decide(live, &c, &ok, today(), FIXTURE_NOW),
        Verdict::AwaitStaff
    );
    assert_eq!(
        decide(OfferView::Gone, &c, &ok, today(), FIXTURE_NOW),
        Verdict::Decline(DeclineReason::NotLendable)
    );
    let mut stale = ok.clone();
    stale.offer_version = 2;
    assert_eq!(
        decide(live, &c, &stale, today(), FIXTURE_NOW),
        Verdict::Decline(DeclineReason::OfferChanged)
    );
    assert_eq!(
        decide(live, &c, &ok, ok.period.start + 1, FIXTURE_NOW),
        Verdict::Decline(DeclineReason::TooLate)
    );
    assert_eq!(
        decide(live, &c, &ok, today(), period_expiry(&ok.period)),
        Verdict::Decline(DeclineReason::TooLate)
    );
    let mut many = ok.clone();
    many.quantity = 3;
    assert_eq!(
        decide(live, &c, &many, today(), FIXTURE_NOW),
        Verdict::Decline(DeclineReason::OverCapacity)
    );
    let mut other_offer = ok.clone();
    other_offer.offer = FixedBytes([8; 16]);
    assert_eq!(
        decide(live, &c, &other_offer, today(), FIXTURE_NOW),
        Verdict::Decline(DeclineReason::NotLendable)
    );
    // Cancelled by the borrower before any decision.
    let mut with_cancel = known.clone();
    with_cancel.push(hashed(Payload::Request(ok.clone())));
    with_cancel.push(hashed(Payload::LoanEvent(loan_event(
        &borrower,
        &ok,
        None,
        LoanEventKind::Cancelled,
    ))));
    assert_eq!(
        decide(live, &calendar_of(&with_cancel), &ok, today(), FIXTURE_NOW),
        Verdict::Decline(DeclineReason::CancelledByBorrower)
    );
}

#[test]
fn two_nodes_with_one_key_the_first_acceptance_wins_and_both_are_kept() {
    let (owner, a, b) = (key(2), key(3), key(4));
    let ra = request(&a, 1, &owner, 7, days(0, 3));
    let rb = request(&b, 2, &owner, 7, days(1, 4));
    let (ha, hb) = (
        hashed(Payload::Request(ra.clone())).0,
        hashed(Payload::Request(rb.clone())).0,
    );
    let da = hashed(Payload::Decision(acceptance(&ra, ha, 10)));
    let db = hashed(Payload::Decision(acceptance(&rb, hb, 11)));
    let known = vec![
        (ha, Payload::Request(ra.clone())),
        (hb, Payload::Request(rb.clone())),
        db.clone(),
        da.clone(),
    ];
    let c = calendar_of(&known);
    assert_eq!(c.bookings.len(), 1);
    assert_eq!(
        c.bookings[0].decision, da.0,
        "the lower sequence number wins"
    );
    assert_eq!(
        c.anomalies,
        vec![Anomaly::ConflictingAcceptances {
            overruled: db.0,
            kept: vec![da.0]
        }]
    );
    assert_eq!(
        c.request(&b.public(), &rb.id).unwrap().status,
        RequestStatus::Overruled { decision: db.0 }
    );
    // At equal sequence numbers, the smaller hash wins; the reuse is reported.
    let db_same = hashed(Payload::Decision(acceptance(&rb, hb, 10)));
    let c = calendar_of(&[
        known[0].clone(),
        known[1].clone(),
        da.clone(),
        db_same.clone(),
    ]);
    let winner = da.0.min(db_same.0);
    assert_eq!(c.bookings[0].decision, winner);
    assert!(c.anomalies.contains(&Anomaly::SequenceReused {
        seq: 10,
        decisions: {
            let mut v = vec![da.0, db_same.0];
            v.sort();
            v
        }
    }));
}

#[test]
fn cancellations_release_the_days_and_events_are_attached() {
    let (owner, a) = (key(2), key(3));
    let ra = request(&a, 1, &owner, 7, days(0, 3));
    let ha = hashed(Payload::Request(ra.clone())).0;
    let accept = hashed(Payload::Decision(acceptance(&ra, ha, 1)));
    let handed = hashed(Payload::LoanEvent(loan_event(
        &owner,
        &ra,
        Some(accept.0),
        LoanEventKind::HandedOver,
    )));
    let returned = hashed(Payload::LoanEvent(loan_event(
        &a,
        &ra,
        Some(accept.0),
        LoanEventKind::Returned(Return {
            condition: Condition::Damaged,
            note: Some("Roue avant voilée".into()),
        }),
    )));
    let base = vec![
        (ha, Payload::Request(ra.clone())),
        accept.clone(),
        handed,
        returned,
    ];
    let c = calendar_of(&base);
    assert!(c.bookings[0].handed_over);
    assert_eq!(c.bookings[0].returned, Some(Condition::Damaged));
    // The owner takes the acceptance back: a later decision in the slot.
    let mut owner_cancel = base.clone();
    owner_cancel.push(hashed(Payload::Decision(decision_for(
        &ra,
        ha,
        Outcome::Cancelled(OwnerCancellation { text: None }),
        2,
        FIXTURE_NOW,
    ))));
    let c = calendar_of(&owner_cancel);
    assert!(c.bookings.is_empty());
    assert!(matches!(
        c.request(&a.public(), &ra.id).unwrap().status,
        RequestStatus::CancelledByOwner { .. }
    ));
    assert_eq!(c.last_seq, 2);
    // The borrower cancels after acceptance.
    let mut borrower_cancel = base;
    borrower_cancel.push(hashed(Payload::LoanEvent(loan_event(
        &a,
        &ra,
        Some(accept.0),
        LoanEventKind::Cancelled,
    ))));
    let c = calendar_of(&borrower_cancel);
    assert!(c.bookings.is_empty());
    assert_eq!(
        c.request(&a.public(), &ra.id).unwrap().status,
        RequestStatus::CancelledByBorrower
    );
    // The owner's node signs nothing more for it: the slot is decided.
    let listing = offer();
    assert_eq!(
        decide(OfferView::Live(&listing), &c, &ra, today(), FIXTURE_NOW),
        Verdict::AlreadyDecided(RequestStatus::CancelledByBorrower)
    );
}

#[test]
fn next_seq_grows_past_the_clock_and_the_calendar() {
    let c = calendar_of(&[]);
    assert_eq!(
        c.settings.mode,
        BookingMode::Manual,
        "no lending record: manual"
    );
    assert_eq!(next_seq(&c, FIXTURE_NOW), FIXTURE_NOW);
    let mut later = c.clone();
    later.last_seq = FIXTURE_NOW + 5;
    assert_eq!(next_seq(&later, FIXTURE_NOW), FIXTURE_NOW + 6);
}
