//! Apply and merge behaviour through the store.

mod common;

use common::{federation, offer, sealed, NOW};
use mutua_protocol::fixtures;
use mutua_protocol::merge::forget_after;
use mutua_protocol::{Payload, Revocation, RevocationReason, SlotKey, Verdict};
use mutua_store::{ApplyOutcome, Query, Store, StoreConfig};

fn text_query(text: &str) -> Query {
    Query {
        text: Some(text.into()),
        ..Query::default()
    }
}

fn hits(store: &Store, q: &Query) -> usize {
    store.query(q, NOW).expect("query").hits.len()
}

#[test]
fn new_duplicate_replaced_older() {
    let fed = federation();
    let v1 = offer(&fed.commune, 7, 1, |_| {});
    let v2 = offer(&fed.commune, 7, 2, |l| {
        l.title = "Nacelle élévatrice".into()
    });
    let s = &fed.store;
    assert_eq!(s.apply(v1.clone(), NOW).unwrap().outcome, ApplyOutcome::New);
    assert_eq!(
        s.apply(v1.clone(), NOW).unwrap().outcome,
        ApplyOutcome::IgnoredDuplicate
    );
    assert_eq!(hits(s, &text_query("protection")), 1);
    let applied = s.apply(v2.clone(), NOW).unwrap();
    assert_eq!(applied.outcome, ApplyOutcome::Replaced);
    assert_eq!(applied.slot, SlotKey::of(&v2));
    assert_eq!(
        s.apply(v1.clone(), NOW).unwrap().outcome,
        ApplyOutcome::IgnoredOld
    );
    assert_eq!(s.get(&SlotKey::of(&v1)).unwrap(), Some(v2));
    // The old title's words are gone from the index, the new ones are there.
    assert_eq!(hits(s, &text_query("protection")), 0);
    assert_eq!(hits(s, &text_query("elevatrice")), 1);
    let stats = s.stats().unwrap();
    assert_eq!((stats.certificates, stats.offers, stats.total), (2, 1, 3));
}

#[test]
fn withdrawal_purges_content_and_indexes() {
    let fed = federation();
    let s = &fed.store;
    s.apply(offer(&fed.commune, 7, 1, |_| {}), NOW).unwrap();
    let w = sealed(
        &fed.commune,
        Payload::Withdrawal(fixtures::withdrawal(&fed.commune, 7, 2)),
    );
    assert_eq!(
        s.apply(w.clone(), NOW).unwrap().outcome,
        ApplyOutcome::Replaced
    );
    assert_eq!(hits(s, &text_query("protection")), 0);
    assert_eq!(hits(s, &Query::default()), 0);
    assert_eq!(s.get(&SlotKey::of(&w)).unwrap(), Some(w));
    // A late copy of the offer cannot come back.
    let late = offer(&fed.commune, 7, 1, |_| {});
    assert_eq!(
        s.apply(late, NOW).unwrap().outcome,
        ApplyOutcome::IgnoredOld
    );
    assert_eq!(hits(s, &Query::default()), 0);
    let stats = s.stats().unwrap();
    assert_eq!((stats.offers, stats.withdrawals), (0, 1));
}

#[test]
fn equivocation_converges_whatever_the_order() {
    let a = offer(&fixtures::key(3), 9, 4, |l| {
        l.title = "Broyeur de végétaux".into()
    });
    let b = offer(&fixtures::key(3), 9, 4, |l| {
        l.title = "Podium démontable".into()
    });
    let winner = if a.hash() > b.hash() { &a } else { &b };
    let mut digests = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let fed = federation();
        assert_eq!(
            fed.store.apply(order[0].clone(), NOW).unwrap().outcome,
            ApplyOutcome::New
        );
        let second = fed.store.apply(order[1].clone(), NOW).unwrap().outcome;
        assert_eq!(
            second,
            ApplyOutcome::Equivocation {
                stored: order[1] == winner
            }
        );
        assert_eq!(
            fed.store.get(&SlotKey::of(&a)).unwrap().as_ref(),
            Some(winner)
        );
        digests.push(fed.store.digest().unwrap());
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn rejections_name_the_rule_and_verdict() {
    let fed = federation();
    let s = &fed.store;
    let outsider = fixtures::key(9);
    let not_member = s
        .apply(offer(&outsider, 1, 1, |_| {}), NOW)
        .unwrap()
        .outcome;
    let ApplyOutcome::Rejected(r) = not_member else {
        panic!("{not_member:?}")
    };
    assert_eq!((r.code(), r.verdict()), ("not_a_member", Verdict::Ignore));

    // Expired and past its forget time: nothing it could still protect.
    let expired = offer(&fed.commune, 1, 1, |_| {});
    let ApplyOutcome::Rejected(r) = s
        .apply(expired.clone(), forget_after(&expired))
        .unwrap()
        .outcome
    else {
        panic!()
    };
    assert_eq!((r.code(), r.verdict()), ("expired", Verdict::Ignore));
    // From the future: refused whatever the merge would say.
    let future = offer(&fed.commune, 2, 1, |l| l.published_at = NOW + 3600);
    let ApplyOutcome::Rejected(r) = s.apply(future, NOW).unwrap().outcome else {
        panic!()
    };
    assert_eq!(r.code(), "from_the_future");

    // A commune may not admit: its certificate for another key is refused.
    let cert = sealed(
        &fed.commune,
        Payload::Certificate(fixtures::certificate(
            &fed.commune,
            &fixtures::key(8),
            false,
        )),
    );
    let ApplyOutcome::Rejected(r) = s.apply(cert, NOW).unwrap().outcome else {
        panic!()
    };
    assert_eq!(r.code(), "may_not_admit");
    assert_eq!(s.stats().unwrap().total, 2, "nothing rejected was stored");
}

#[test]
fn revoking_a_syndicate_hides_its_communes_listings() {
    let fed = federation();
    let s = &fed.store;
    s.apply(offer(&fed.commune, 1, 1, |_| {}), NOW).unwrap();
    assert_eq!(hits(s, &Query::default()), 1);
    assert!(s.membership(&fed.commune.public(), NOW).unwrap().is_ok());
    let revocation = sealed(
        &fed.anchor,
        Payload::Revocation(Revocation {
            issuer: fed.anchor.public(),
            certificate: *fed.syndicate_cert.hash(),
            reason: RevocationReason::LeftFederation,
            revoked_at: NOW,
        }),
    );
    assert_eq!(s.apply(revocation, NOW).unwrap().outcome, ApplyOutcome::New);
    assert_eq!(hits(s, &Query::default()), 0);
    let err = s
        .membership(&fed.commune.public(), NOW)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), "revoked");
    let certs = s.certificates().unwrap();
    assert_eq!(certs.len(), 2);
    assert!(certs
        .iter()
        .any(|(h, _, revoked)| h == fed.syndicate_cert.hash() && *revoked));
    // New listings of the commune are refused from now on.
    let outcome = s
        .apply(offer(&fed.commune, 2, 1, |_| {}), NOW)
        .unwrap()
        .outcome;
    assert!(matches!(outcome, ApplyOutcome::Rejected(_)), "{outcome:?}");
}

#[test]
fn reopen_keeps_records_and_sync_state() {
    let fed = federation();
    fed.store
        .apply(offer(&fed.commune, 1, 1, |_| {}), NOW)
        .unwrap();
    let digest = fed.store.digest().unwrap();
    let fingerprint = fed
        .store
        .sync_fingerprint(&mutua_store::SyncRange::all())
        .unwrap();
    let path = fed.store.path().to_owned();
    drop(fed.store);
    let store = Store::open(StoreConfig::new(path, vec![fed.anchor.public()])).unwrap();
    assert_eq!(store.digest().unwrap(), digest);
    assert_eq!(
        store
            .sync_fingerprint(&mutua_store::SyncRange::all())
            .unwrap(),
        fingerprint
    );
    assert_eq!(fingerprint.count, 3);
    assert_eq!(store.export().count(), 3);
    assert_eq!(hits(&store, &Query::default()), 1);
}

/// An expired listing that is not yet forgettable: stored so that it still
/// beats older versions, never served.
#[test]
fn expired_but_not_forgettable_replaces_and_hides() {
    let fed = federation();
    let s = &fed.store;
    // The anchor's: a member for ever, so only the forget time applies (a
    // commune's certificate ends long before it).
    let live = offer(&fed.anchor, 7, 1, |l| l.expires_at = NOW + 86_400);
    let expired = offer(&fed.anchor, 7, 2, |l| l.expires_at = NOW - 10);
    assert!(NOW < forget_after(&expired));
    assert_eq!(
        s.apply(live.clone(), NOW).unwrap().outcome,
        ApplyOutcome::New
    );
    assert_eq!(hits(s, &text_query("protection")), 1);
    assert_eq!(
        s.apply(expired.clone(), NOW).unwrap().outcome,
        ApplyOutcome::Replaced
    );
    assert_eq!(s.get(&SlotKey::of(&live)).unwrap(), Some(expired.clone()));
    assert_eq!(hits(s, &text_query("protection")), 0);
    assert_eq!(hits(s, &Query::default()), 0);
    // The older live version cannot come back.
    assert_eq!(
        s.apply(live, NOW).unwrap().outcome,
        ApplyOutcome::IgnoredOld
    );
    assert!(s.check().unwrap().is_ok(), "{:?}", s.check().unwrap());
    let reindexed = s.reindex().unwrap();
    assert_eq!(reindexed.indexed_listings, 0);
    assert_eq!(hits(s, &Query::default()), 0);
    // The sweep forgets it at its forget time, not before.
    let slot = SlotKey::of(&expired);
    s.sweep(forget_after(&expired) - 1).unwrap();
    assert_eq!(s.get(&slot).unwrap(), Some(expired.clone()));
    s.sweep(forget_after(&expired)).unwrap();
    assert_eq!(s.get(&slot).unwrap(), None);
    assert!(s.check().unwrap().is_ok());
}

#[test]
fn forgettable_expired_record_is_ignored() {
    let fed = federation();
    let expired = offer(&fed.commune, 7, 2, |l| l.expires_at = NOW - 10);
    let at = forget_after(&expired);
    let outcome = fed.store.apply(expired.clone(), at).unwrap().outcome;
    let ApplyOutcome::Rejected(r) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((r.code(), r.verdict()), ("expired", Verdict::Ignore));
    assert_eq!(fed.store.get(&SlotKey::of(&expired)).unwrap(), None);
}

/// Two replicas given the same records in opposite orders, one at a time or
/// in one batch, store the same set: expired versions included.
#[test]
fn digest_is_independent_of_order_with_expired_records() {
    let c = fixtures::key(3);
    let records = vec![
        offer(&c, 1, 1, |_| {}),
        offer(&c, 1, 2, |l| l.expires_at = NOW - 10),
        offer(&c, 2, 1, |l| l.expires_at = NOW - 10),
        offer(&c, 2, 3, |l| l.title = "Broyeur de végétaux".into()),
        offer(&c, 3, 5, |l| l.expires_at = NOW - 10),
        // Forgettable: ignored by both.
        offer(&c, 4, 1, |l| {
            l.published_at = NOW - 500 * 86_400;
            l.expires_at = NOW - 200 * 86_400;
        }),
        sealed(&c, Payload::Withdrawal(fixtures::withdrawal(&c, 3, 4))),
    ];
    let mut reversed = records.clone();
    reversed.reverse();
    let one_by_one = federation();
    for r in &records {
        one_by_one.store.apply(r.clone(), NOW).unwrap();
    }
    let batched = federation();
    batched.store.apply_batch(reversed, NOW).unwrap();
    assert_eq!(
        one_by_one.store.digest().unwrap(),
        batched.store.digest().unwrap()
    );
    // Slots 1, 2 and 3 (the withdrawal loses to the expired version 5).
    assert_eq!(batched.store.stats().unwrap().total, 2 + 3);
    assert_eq!(hits(&batched.store, &Query::default()), 1);
    assert!(batched.store.check().unwrap().is_ok());
}

/// Within one batch a certificate admits the authors of later records, and
/// two versions of one slot merge as if applied one by one, also across the
/// sled batches a long call is split into.
#[test]
fn a_batch_sees_its_own_earlier_records() {
    let fed = federation();
    let newcomer = fixtures::key(5);
    let cert = sealed(
        &fed.syndicate,
        Payload::Certificate(fixtures::certificate(&fed.syndicate, &newcomer, false)),
    );
    let v1 = offer(&newcomer, 1, 1, |_| {});
    let v2 = offer(&newcomer, 1, 2, |l| l.title = "Nacelle élévatrice".into());
    // Enough listings in between to exceed one sled batch.
    let fillers: Vec<_> = (2..=250)
        .map(|id| offer(&newcomer, id, 1, |l| l.title = "Podium démontable".into()))
        .collect();
    let mut records = vec![cert, v1.clone()];
    records.extend(fillers);
    records.extend([v2.clone(), v1]);
    let applied = fed.store.apply_batch(records, NOW).unwrap();
    let outcomes: Vec<_> = applied.into_iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes[..2], [ApplyOutcome::New, ApplyOutcome::New]);
    assert!(outcomes[2..251].iter().all(|o| *o == ApplyOutcome::New));
    assert_eq!(
        outcomes[251..],
        [ApplyOutcome::Replaced, ApplyOutcome::IgnoredOld]
    );
    assert_eq!(hits(&fed.store, &text_query("elevatrice")), 1);
    assert_eq!(hits(&fed.store, &text_query("protection")), 0);
    assert_eq!(
        fed.store
            .query(&text_query("podium"), NOW)
            .unwrap()
            .hits
            .len(),
        20
    );
    let stats = fed.store.stats().unwrap();
    assert_eq!((stats.certificates, stats.offers), (3, 250));
    assert!(fed.store.check().unwrap().is_ok());
}

/// Apply looks signers up in the members' set a query computed: a
/// revocation earlier in the same batch, or the time passing a certificate's
/// end, must still be judged as the chain says, with the chain's error.
#[test]
fn the_cached_members_never_outlive_a_revocation_or_a_certificate() {
    let fed = federation();
    let s = &fed.store;
    s.apply(offer(&fed.commune, 1, 1, |_| {}), NOW).unwrap();
    // The query computes the set, valid from NOW to the certificates' end.
    assert_eq!(hits(s, &Query::default()), 1);
    let revocation = sealed(
        &fed.anchor,
        Payload::Revocation(Revocation {
            issuer: fed.anchor.public(),
            certificate: *fed.commune_cert.hash(),
            reason: RevocationReason::LeftFederation,
            revoked_at: NOW,
        }),
    );
    let applied = s
        .apply_batch(
            vec![
                offer(&fed.syndicate, 1, 1, |_| {}),
                revocation,
                offer(&fed.commune, 2, 1, |_| {}),
            ],
            NOW,
        )
        .unwrap();
    let codes: Vec<_> = applied.iter().map(|a| a.outcome.code()).collect();
    assert_eq!(codes, ["new", "new", "revoked"]);
    // Later calls, once the set is recomputed too (after as many chain
    // checks as there are certificates).
    for id in 3..8 {
        let outcome = s.apply(offer(&fed.commune, id, 1, |_| {}), NOW).unwrap();
        let ApplyOutcome::Rejected(r) = outcome.outcome else {
            panic!("{:?}", outcome.outcome)
        };
        assert_eq!(r.code(), "revoked");
    }
    let outcome = s.apply(offer(&fed.syndicate, 2, 1, |_| {}), NOW).unwrap();
    assert_eq!(outcome.outcome, ApplyOutcome::New);

    // The syndicate's certificate ends a year after NOW: the set computed
    // at NOW does not answer then.
    let end = NOW + 365 * mutua_protocol::rules::DAY_SECS;
    assert_eq!(hits(s, &Query::default()), 2, "the set is computed at NOW");
    for id in 3..8 {
        let late = offer(&fed.syndicate, id, 1, |l| {
            l.published_at = end;
            l.expires_at = end + 30 * mutua_protocol::rules::DAY_SECS;
            l.availability.clear();
        });
        let outcome = s.apply(late, end).unwrap().outcome;
        let ApplyOutcome::Rejected(r) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(r.code(), "certificate_expired");
    }
}
