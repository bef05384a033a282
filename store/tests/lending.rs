//! Lending records (envelope format 2) in the store: applied, merged per
//! slot, counted, synced, checked and forgotten like other records, found
//! by offer through their lookup entries, and never indexed for queries.

mod common;

use common::{federation, sealed, NOW};
use mutua_protocol::fixtures::{acceptance, days, lending_terms, loan_event, request};
use mutua_protocol::lending::{BookingMode, LoanEventKind};
use mutua_protocol::merge::forget_after;
use mutua_protocol::{Payload, SlotKey};
use mutua_store::{ApplyOutcome, Query, SyncRange};

#[test]
fn lending_records_are_stored_synced_and_forgotten() {
    // The syndicate (key 2) lends; the commune (key 3) borrows.
    let fed = federation();
    let (owner, borrower) = (&fed.syndicate, &fed.commune);
    let terms = sealed(
        owner,
        Payload::Lending(lending_terms(owner, 7, BookingMode::Auto)),
    );
    let asked = request(borrower, 1, owner, 7, days(0, 3));
    let first = sealed(borrower, Payload::Request(asked.clone()));
    let mut changed = asked.clone();
    changed.version = 2;
    changed.period = days(1, 4);
    let second = sealed(borrower, Payload::Request(changed.clone()));
    let accepted = sealed(
        owner,
        Payload::Decision(acceptance(&changed, *second.hash(), 1)),
    );
    let handed = sealed(
        owner,
        Payload::LoanEvent(loan_event(
            owner,
            &changed,
            Some(*accepted.hash()),
            LoanEventKind::HandedOver,
        )),
    );
    let before = fed.store.sync_fingerprint(&SyncRange::all()).unwrap().count;
    for record in [&terms, &first, &accepted, &handed] {
        assert_eq!(
            fed.store.apply(record.clone(), NOW).unwrap().outcome,
            ApplyOutcome::New
        );
    }
    let replaced = fed.store.apply(second.clone(), NOW).unwrap();
    assert_eq!(
        replaced.outcome,
        ApplyOutcome::Replaced,
        "a higher request version replaces"
    );
    assert_eq!(
        fed.store.apply(first.clone(), NOW).unwrap().outcome,
        ApplyOutcome::IgnoredOld
    );
    assert_eq!(
        fed.store.get(&SlotKey::of(&second)).unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        fed.store.get(&SlotKey::of(&handed)).unwrap(),
        Some(handed.clone())
    );
    let stats = fed.store.stats().unwrap();
    assert_eq!(
        stats.total,
        2 + 4,
        "two certificates and four lending slots"
    );
    assert_eq!(
        fed.store.sync_fingerprint(&SyncRange::all()).unwrap().count,
        before + 4
    );
    // Not listings: no query finds them.
    assert!(fed
        .store
        .query(&Query::default(), NOW)
        .unwrap()
        .hits
        .is_empty());
    // The offer's lending records, found through the lookup: the current
    // version of each slot, the replaced request version gone.
    let lookups = |store: &mutua_store::Store| {
        let mut of_offer: Vec<_> = store
            .lending_records(&owner.public(), &asked.offer)
            .unwrap()
            .into_iter()
            .map(|r| r.hash)
            .collect();
        of_offer.sort();
        let by_author = store.lending_records_of(&owner.public()).unwrap();
        let asked_by: Vec<_> = store
            .requests_by(&borrower.public())
            .unwrap()
            .into_iter()
            .map(|r| r.hash)
            .collect();
        (of_offer, by_author.len(), asked_by)
    };
    let mut expected = vec![
        *terms.hash(),
        *second.hash(),
        *accepted.hash(),
        *handed.hash(),
    ];
    expected.sort();
    assert_eq!(
        lookups(&fed.store),
        (expected.clone(), 1, vec![*second.hash()])
    );
    assert!(fed
        .store
        .lending_records(&borrower.public(), &asked.offer)
        .unwrap()
        .is_empty());
    // Read back after reopening; check and reindex agree.
    assert!(fed.store.check().unwrap().is_ok());
    let digest = fed.store.digest().unwrap();
    let report = fed.store.reindex().unwrap();
    assert_eq!((report.records, report.quarantined), (6, 0));
    assert_eq!(fed.store.digest().unwrap(), digest);
    assert_eq!(lookups(&fed.store), (expected, 1, vec![*second.hash()]));
    // A sweep after the records' forget times removes them all.
    let latest = [&terms, &second, &accepted, &handed]
        .iter()
        .map(|r| forget_after(r))
        .max()
        .unwrap();
    fed.store.sweep(latest + 1).unwrap();
    for record in [&terms, &second, &accepted, &handed] {
        assert_eq!(fed.store.get(&SlotKey::of(record)).unwrap(), None);
    }
    assert_eq!(lookups(&fed.store), (Vec::new(), 0, Vec::new()));
}

/// Layout 6 kept lending records without their lookup entries: opening
/// such a store writes them (a reindex), so its calendars are not empty.
#[test]
fn a_layout_6_store_gets_its_lending_lookups_at_open() {
    let fed = federation();
    let (owner, borrower) = (&fed.syndicate, &fed.commune);
    let asked = request(borrower, 1, owner, 7, days(0, 3));
    let records = [
        sealed(
            owner,
            Payload::Lending(lending_terms(owner, 7, BookingMode::Auto)),
        ),
        sealed(borrower, Payload::Request(asked.clone())),
    ];
    for record in &records {
        assert!(fed
            .store
            .apply(record.clone(), NOW)
            .unwrap()
            .outcome
            .is_stored());
    }
    let digest = fed.store.digest().unwrap();
    let owner = owner.public();
    let fed = fed.reopen_after(|dir| {
        let db = mutua_store::open_raw_sled(dir).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        let lookups: Vec<_> = tree.scan_prefix(b"o").keys().map(Result::unwrap).collect();
        assert_eq!(lookups.len(), 2, "one per lending record");
        for k in lookups {
            tree.remove(k).unwrap();
        }
        tree.insert(b"mlayout", &6u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    });
    assert_eq!(fed.store.digest().unwrap(), digest);
    assert_eq!(
        fed.store
            .lending_records(&owner, &asked.offer)
            .unwrap()
            .len(),
        2
    );
    assert!(fed.store.check().unwrap().is_ok());
}

#[test]
fn a_lending_record_from_a_non_member_is_not_stored() {
    let fed = federation();
    let outsider = mutua_protocol::fixtures::key(9);
    let asked = sealed(
        &outsider,
        Payload::Request(request(&outsider, 1, &fed.syndicate, 7, days(0, 3))),
    );
    let applied = fed.store.apply(asked.clone(), NOW).unwrap();
    assert!(
        matches!(applied.outcome, ApplyOutcome::Rejected(_)),
        "{:?}",
        applied.outcome
    );
    assert_eq!(fed.store.get(&SlotKey::of(&asked)).unwrap(), None);
}
