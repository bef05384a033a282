//! A key that stops being a member loses its listing-class records wherever
//! they were stored (PROTOCOL.md, *Membership*): a store that stored them
//! before the revocation ends up with the same records, digest and counts
//! as one that got the revocation first and refused them.

mod common;

use common::{federation, offer, sealed, Fed, NOW};
use mutua_protocol::fixtures::{self, acceptance, days, lending_terms, loan_event, request};
use mutua_protocol::lending::{BookingMode, LoanEventKind};
use mutua_protocol::{
    Payload, Revocation, RevocationReason, SecretKey, SignedRecord, SlotKey, Timestamp,
};
use mutua_store::{ApplyOutcome, Query};

fn revocation(issuer: &SecretKey, certificate: &SignedRecord) -> SignedRecord {
    sealed(
        issuer,
        Payload::Revocation(Revocation {
            issuer: issuer.public(),
            certificate: *certificate.hash(),
            reason: RevocationReason::LeftFederation,
            revoked_at: NOW,
        }),
    )
}

/// The syndicate lends its offer 7 to the commune, which also offers its
/// own 1; the anchor offers 9. Signed once, applied to any store.
fn activity(fed: &Fed) -> Vec<SignedRecord> {
    let (owner, borrower) = (&fed.syndicate, &fed.commune);
    let asked = request(borrower, 1, owner, 7, days(0, 3));
    let request_record = sealed(borrower, Payload::Request(asked.clone()));
    let accepted = sealed(
        owner,
        Payload::Decision(acceptance(&asked, *request_record.hash(), 1)),
    );
    let handed = sealed(
        owner,
        Payload::LoanEvent(loan_event(
            owner,
            &asked,
            Some(*accepted.hash()),
            LoanEventKind::HandedOver,
        )),
    );
    vec![
        offer(owner, 7, 1, |l| l.title = "Nacelle élévatrice".into()),
        sealed(
            owner,
            Payload::Lending(lending_terms(owner, 7, BookingMode::Auto)),
        ),
        offer(borrower, 1, 1, |l| l.title = "Broyeur de végétaux".into()),
        request_record,
        accepted,
        handed,
        offer(&fed.anchor, 9, 1, |l| l.title = "Podium".into()),
    ]
}

fn apply_all(fed: &Fed, records: &[SignedRecord], now: Timestamp) -> Vec<ApplyOutcome> {
    records
        .iter()
        .map(|r| fed.store.apply(r.clone(), now).expect("apply").outcome)
        .collect()
}

fn titles(fed: &Fed) -> Vec<String> {
    let mut found: Vec<String> = fed
        .store
        .query(&Query::default(), NOW)
        .expect("query")
        .hits
        .into_iter()
        .filter_map(|h| h.payload.listing().map(|l| l.title.clone()))
        .collect();
    found.sort();
    found
}

fn assert_same_replica(a: &Fed, b: &Fed) {
    assert_eq!(a.store.digest().unwrap(), b.store.digest().unwrap());
    assert_eq!(
        a.store.stats().unwrap().total,
        b.store.stats().unwrap().total
    );
    for fed in [a, b] {
        let report = fed.store.check().expect("check");
        assert!(report.is_ok(), "{:?}", report.problems);
    }
}

#[test]
fn a_revoked_communes_records_are_forgotten_where_they_arrived_first() {
    let before = federation();
    let records = activity(&before);
    assert!(apply_all(&before, &records, NOW)
        .iter()
        .all(|o| *o == ApplyOutcome::New));
    let revoke = revocation(&before.syndicate, &before.commune_cert);
    assert_eq!(
        before.store.apply(revoke.clone(), NOW).unwrap().outcome,
        ApplyOutcome::New
    );
    // The commune's offer and request are gone; the syndicate's lending
    // records (its decision and loan event included) and offers stay.
    assert_eq!(before.store.get(&SlotKey::of(&records[2])).unwrap(), None);
    assert_eq!(before.store.get(&SlotKey::of(&records[3])).unwrap(), None);
    for kept in [0, 1, 4, 5, 6] {
        assert!(before
            .store
            .get(&SlotKey::of(&records[kept]))
            .unwrap()
            .is_some());
    }
    assert_eq!(titles(&before), ["Nacelle élévatrice", "Podium"]);
    assert_eq!(
        before.store.forget_non_members(NOW).unwrap(),
        0,
        "nothing changed since the pass"
    );

    let after = federation();
    after.store.apply(revoke, NOW).unwrap();
    let outcomes = apply_all(&after, &records, NOW);
    assert!(
        matches!(outcomes[2], ApplyOutcome::Rejected(_)),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[3], ApplyOutcome::Rejected(_)),
        "{outcomes:?}"
    );
    assert_same_replica(&before, &after);
}

#[test]
fn revoking_a_syndicate_forgets_the_records_of_every_commune_it_admitted() {
    let before = federation();
    let records = activity(&before);
    apply_all(&before, &records, NOW);
    let revoke = revocation(&before.anchor, &before.syndicate_cert);
    before.store.apply(revoke.clone(), NOW).unwrap();
    let stats = before.store.stats().unwrap();
    assert_eq!(
        (stats.offers, stats.certificates, stats.revocations),
        (1, 2, 1),
        "only the anchor's offer is left"
    );
    assert_eq!(titles(&before), ["Podium"]);

    let after = federation();
    after.store.apply(revoke, NOW).unwrap();
    apply_all(&after, &records, NOW);
    assert_same_replica(&before, &after);

    // Reopened, the store agrees with itself.
    let before = before.reopen_after(|_| {});
    assert_same_replica(&before, &after);
}

#[test]
fn a_sweep_forgets_the_records_of_a_member_whose_certificate_ended() {
    let fed = federation();
    let ends = NOW + 10 * 86_400;
    let mut short = fixtures::certificate(&fed.syndicate, &fixtures::key(4), false);
    short.valid_until = ends;
    let member = fixtures::key(4);
    let cert = sealed(&fed.syndicate, Payload::Certificate(short));
    let listing = offer(&member, 3, 1, |l| l.title = "Tondeuse".into());
    assert!(apply_all(&fed, &[cert, listing.clone()], NOW)
        .iter()
        .all(|o| *o == ApplyOutcome::New));
    let report = fed.store.sweep(ends - 1).unwrap();
    assert_eq!(report.of_non_members, 0, "still a member: {report:?}");
    let report = fed.store.sweep(ends).unwrap();
    assert_eq!(report.of_non_members, 1, "{report:?}");
    assert_eq!(fed.store.get(&SlotKey::of(&listing)).unwrap(), None);
    let check = fed.store.check().unwrap();
    assert!(check.is_ok(), "{:?}", check.problems);
}
