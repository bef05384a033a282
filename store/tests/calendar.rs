//! Offers' calendars in the search index: a query for a free period is
//! answered by the index, paged (full pages, the cursor intact), with the
//! protocol's rule (accepted loans that hold, the turnaround buffer after
//! each and after the asked loan, capacity), the document following every
//! lending record (acceptance, cancellation by either party), `check`,
//! `reindex`, reopening and the sweep.

mod common;

use common::{federation, offer, sealed, Fed, NOW};
use mutua_protocol::fixtures::{acceptance, days, lending_terms, loan_event, request};
use mutua_protocol::lending::decide::decision_for;
use mutua_protocol::lending::{
    BookingMode, LoanEventKind, Outcome, OwnerCancellation, Period, Request,
};
use mutua_protocol::merge::forget_after;
use mutua_protocol::{Payload, SignedRecord};
use mutua_store::{FreeFor, Query, Side};

/// Every offer id free over `period` (`quantity` units), page by page of
/// `limit`, checking that every page but the last is full.
fn free_ids(fed: &Fed, period: Period, quantity: u32, limit: usize, now: u64) -> Vec<u8> {
    let mut q = Query {
        side: Side::Offers,
        free: Some(FreeFor { period, quantity }),
        limit,
        ..Query::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = fed.store.query(&q, now).unwrap();
        if page.next.is_some() {
            assert_eq!(page.hits.len(), limit, "a page before the last is full");
        }
        ids.extend(page.hits.iter().map(|h| match &h.payload {
            Payload::Offer(l) => l.id.0[0],
            other => panic!("not an offer: {other:?}"),
        }));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    ids.sort();
    ids
}

fn apply(fed: &Fed, record: &SignedRecord, now: u64) {
    let applied = fed.store.apply(record.clone(), now).unwrap();
    assert!(applied.outcome.is_stored(), "{:?}", applied.outcome);
}

/// The syndicate's accepted loan of offer 7 to the commune over `period`.
fn accepted_loan(fed: &Fed, id: u8, period: Period) -> (Request, SignedRecord, SignedRecord) {
    let asked = request(&fed.commune, id, &fed.syndicate, 7, period);
    let asked_record = sealed(&fed.commune, Payload::Request(asked.clone()));
    let accepted = sealed(
        &fed.syndicate,
        Payload::Decision(acceptance(&asked, *asked_record.hash(), u64::from(id))),
    );
    (asked, asked_record, accepted)
}

#[test]
fn a_free_period_is_asked_of_the_index_with_full_pages() {
    let fed = federation();
    // Five offers, no availability windows (open until they expire); the
    // syndicate's offer 7 lends with a day of buffer, one unit.
    for id in 3..8 {
        apply(
            &fed,
            &offer(&fed.syndicate, id, 1, |l| l.availability.clear()),
            NOW,
        );
    }
    let terms = lending_terms(&fed.syndicate, 7, BookingMode::Auto);
    apply(&fed, &sealed(&fed.syndicate, Payload::Lending(terms)), NOW);
    assert_eq!(free_ids(&fed, days(0, 3), 1, 2, NOW), [3, 4, 5, 6, 7]);

    // Accepted over days 0–2: absent on them and on the buffer day after.
    let (asked, asked_record, accepted) = accepted_loan(&fed, 1, days(0, 3));
    apply(&fed, &asked_record, NOW);
    assert_eq!(
        free_ids(&fed, days(1, 2), 1, 2, NOW),
        [3, 4, 5, 6, 7],
        "a pending request books nothing"
    );
    apply(&fed, &accepted, NOW);
    assert_eq!(free_ids(&fed, days(1, 2), 1, 2, NOW), [3, 4, 5, 6]);
    assert_eq!(
        free_ids(&fed, days(3, 4), 1, 2, NOW),
        [3, 4, 5, 6],
        "buffer"
    );
    assert_eq!(free_ids(&fed, days(4, 6), 1, 2, NOW), [3, 4, 5, 6, 7]);
    // Two days ending where the loan starts: their own buffer day is not
    // free.
    let before = Period {
        start: days(0, 0).start - 2,
        end: days(0, 0).start,
    };
    assert_eq!(free_ids(&fed, before, 1, 2, NOW), [3, 4, 5, 6]);
    assert_eq!(
        free_ids(&fed, days(10, 12), 2, 2, NOW),
        [] as [u8; 0],
        "two units of offers lending one"
    );
    let empty = Query {
        free: Some(FreeFor {
            period: days(2, 2),
            quantity: 1,
        }),
        ..Query::default()
    };
    let refused = fed.store.query(&empty, NOW).unwrap_err();
    assert!(refused.to_string().contains("free.period"), "{refused}");
    assert!(fed.store.check().unwrap().is_ok());

    // Reopened, reindexed: the same answers.
    let fed = fed.reopen_after(|_| {});
    assert_eq!(free_ids(&fed, days(1, 2), 1, 3, NOW), [3, 4, 5, 6]);
    fed.store.reindex().unwrap();
    assert!(fed.store.check().unwrap().is_ok());
    assert_eq!(free_ids(&fed, days(1, 2), 1, 3, NOW), [3, 4, 5, 6]);

    // The borrower cancels: free again.
    let cancelled = sealed(
        &fed.commune,
        Payload::LoanEvent(loan_event(
            &fed.commune,
            &asked,
            Some(*accepted.hash()),
            LoanEventKind::Cancelled,
        )),
    );
    apply(&fed, &cancelled, NOW);
    assert_eq!(free_ids(&fed, days(1, 2), 1, 2, NOW), [3, 4, 5, 6, 7]);

    // Another acceptance, taken back by the owner: busy, then free.
    let (second, second_record, second_accepted) = accepted_loan(&fed, 2, days(1, 2));
    apply(&fed, &second_record, NOW);
    apply(&fed, &second_accepted, NOW);
    assert_eq!(free_ids(&fed, days(1, 2), 1, 2, NOW), [3, 4, 5, 6]);
    let taken_back = decision_for(
        &second,
        *second_record.hash(),
        Outcome::Cancelled(OwnerCancellation { text: None }),
        3,
        NOW,
    );
    apply(
        &fed,
        &sealed(&fed.syndicate, Payload::Decision(taken_back)),
        NOW,
    );
    assert_eq!(free_ids(&fed, days(1, 2), 1, 2, NOW), [3, 4, 5, 6, 7]);
    assert!(fed.store.check().unwrap().is_ok());
}

#[test]
fn check_sees_a_calendar_the_index_missed() {
    let fed = federation();
    apply(
        &fed,
        &offer(&fed.syndicate, 7, 1, |l| l.availability.clear()),
        NOW,
    );
    let (_, asked_record, accepted) = accepted_loan(&fed, 1, days(0, 3));
    // Both records in one batch, the offer's document replaced once.
    let applied = fed
        .store
        .apply_batch(vec![asked_record, accepted], NOW)
        .unwrap();
    assert!(applied.iter().all(|a| a.outcome.is_stored()));
    assert!(fed.store.check().unwrap().is_ok());
    assert!(free_ids(&fed, days(1, 2), 1, 5, NOW).is_empty());
    // sled loses the offer's lending lookups, not the index: `check` sees
    // that the index's calendar is not the one sled gives.
    let fed = fed.reopen_after(|dir| {
        let db = mutua_store::open_raw_sled(dir).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        let lookups: Vec<_> = tree.scan_prefix(b"o").keys().map(Result::unwrap).collect();
        assert_eq!(lookups.len(), 2);
        for k in lookups {
            tree.remove(k).unwrap();
        }
        db.flush().unwrap();
    });
    let stale = fed.store.check().unwrap();
    assert!(
        stale
            .problems
            .iter()
            .any(|p| p.what == "the search index holds another calendar of this offer"),
        "{stale:?}"
    );
    fed.store.reindex().unwrap();
    let report = fed.store.check().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(free_ids(&fed, days(1, 2), 1, 5, NOW).is_empty());
}

#[test]
fn a_forgotten_loan_frees_its_offer_in_the_index() {
    let fed = federation();
    apply(
        &fed,
        &offer(&fed.syndicate, 7, 1, |l| l.availability.clear()),
        NOW,
    );
    // A loan agreed 480 days ago, its days long past: stored (expired, not
    // yet forgettable), and busy on those days.
    let made = NOW - 480 * 86_400;
    let first = mutua_protocol::lending::date::utc_day(made) + 10;
    let period = Period {
        start: first,
        end: first + 3,
    };
    let mut asked = request(&fed.commune, 1, &fed.syndicate, 7, period);
    asked.created_at = made;
    let asked_record = sealed(&fed.commune, Payload::Request(asked.clone()));
    let mut accepted = acceptance(&asked, *asked_record.hash(), 1);
    accepted.decided_at = made + 60;
    let accepted = sealed(&fed.syndicate, Payload::Decision(accepted));
    apply(&fed, &asked_record, NOW);
    apply(&fed, &accepted, NOW);
    assert!(free_ids(&fed, period, 1, 5, NOW).is_empty());
    // Once both are forgotten, the offer (still live) is free on them.
    let later = forget_after(&asked_record).max(forget_after(&accepted)) + 1;
    let report = fed.store.sweep(later).unwrap();
    assert_eq!(report.forgotten, 2, "{report:?}");
    assert_eq!(free_ids(&fed, period, 1, 5, later), [7]);
    let check = fed.store.check().unwrap();
    assert!(check.is_ok(), "{check:?}");
    // And after reopening (the sweep's change was journaled).
    let fed = fed.reopen_after(|_| {});
    assert_eq!(free_ids(&fed, period, 1, 5, later), [7]);
}
