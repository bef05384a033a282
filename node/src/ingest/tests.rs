//! The pipeline's outcomes keep the typed reason, over a real store.

use std::error::Error as _;

use mutua_protocol::fixtures::{self, FIXTURE_NOW};
use mutua_protocol::{seal, Payload, RecordError, SecretKey, SignedRecord};
use mutua_store::{Rejection, Store, StoreConfig};

use super::*;

/// A store trusting anchor 1 that has admitted member 2 (its directory
/// first, to keep it alive), and the member's key.
fn store_with_member() -> (tempfile::TempDir, Store, SecretKey) {
    let dir = tempfile::tempdir().unwrap();
    let (anchor, member) = (fixtures::key(1), fixtures::key(2));
    let config = StoreConfig::new(dir.path().join("store"), vec![anchor.public()]);
    let store = Store::open(config).unwrap();
    let certificate = fixtures::certificate(&anchor, &member, false);
    let certificate = seal(&anchor, &Payload::Certificate(certificate)).unwrap();
    let outcome = ingest_bytes(&store, certificate.bytes(), FIXTURE_NOW);
    assert!(matches!(outcome, IngestOutcome::Accepted(_)), "{outcome:?}");
    (dir, store, member)
}

fn sealed_offer(author: &SecretKey, id: u8) -> SignedRecord {
    seal(author, &Payload::Offer(fixtures::listing(author, id, 1))).unwrap()
}

#[test]
fn a_record_that_does_not_open_is_rejected_with_the_protocols_error() {
    let (_dir, store, member) = store_with_member();
    let offer = sealed_offer(&member, 7);
    let mut forged = offer.bytes().to_vec();
    *forged.last_mut().unwrap() ^= 1; // the last byte of the signature

    let outcome = ingest_bytes(&store, &forged, FIXTURE_NOW);
    let IngestOutcome::Rejected(rejection) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(rejection, &Rejection::Record(RecordError::BadSignature));
    assert_eq!(
        (outcome.label(), outcome.code()),
        ("rejected", "bad_signature")
    );
    let source = rejection.source().expect("the protocol's error");
    assert_eq!(
        source.downcast_ref::<RecordError>(),
        Some(&RecordError::BadSignature)
    );
    assert_eq!(outcome.acceptance(), MessageAcceptance::Reject);
}

#[test]
fn ignored_records_say_why_in_the_same_words_and_codes() {
    let (_dir, store, member) = store_with_member();
    let offer = sealed_offer(&member, 7);
    assert!(matches!(
        ingest_bytes(&store, offer.bytes(), FIXTURE_NOW),
        IngestOutcome::Accepted(_)
    ));

    let again = ingest_bytes(&store, offer.bytes(), FIXTURE_NOW);
    let IngestOutcome::Ignored(NotStored::Kept(applied)) = &again else {
        panic!("{again:?}")
    };
    assert_eq!(applied.hash, *offer.hash());
    assert_eq!(again.code(), "ignored_duplicate");
    assert_eq!(
        NotStored::Kept(applied.clone()).to_string(),
        "the record is already stored"
    );

    // An author nobody admitted: the store's membership error, not blamed.
    let outsider = fixtures::key(3);
    let stranger = sealed_offer(&outsider, 8);
    let outcome = ingest_bytes(&store, stranger.bytes(), FIXTURE_NOW);
    let IngestOutcome::Ignored(NotStored::Refused(rejection @ Rejection::Membership(_))) = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(outcome.code(), rejection.code());
    assert_eq!(outcome.acceptance(), MessageAcceptance::Ignore);
}

/// 40 offers by `author` (enough for `open_all` to share them between
/// threads), of which three are bad: a mixed-order signature (7), a forged
/// one (23) and bytes that are no envelope (31).
fn batch_with_culprits(author: &SecretKey) -> Vec<Vec<u8>> {
    (0..40u8)
        .map(|id| {
            let offer = Payload::Offer(fixtures::listing(author, id, 1));
            match id {
                7 => fixtures::seal_with_torsion(author, &offer),
                23 => {
                    let mut forged = seal(author, &offer).unwrap().into_bytes();
                    *forged.last_mut().unwrap() ^= 1;
                    forged
                }
                31 => b"not an envelope".to_vec(),
                _ => seal(author, &offer).unwrap().into_bytes(),
            }
        })
        .collect()
}

fn garbage_code() -> &'static str {
    let error = mutua_protocol::open(b"not an envelope").unwrap_err();
    Rejection::Record(error).code()
}

#[test]
fn an_import_names_each_bad_record_at_its_place_and_stores_the_others() {
    let (_dir, store, member) = store_with_member();
    let envelopes = batch_with_culprits(&member);
    let outcomes = import_all(&store, &envelopes, FIXTURE_NOW);
    assert_eq!(outcomes.len(), envelopes.len());
    for (index, outcome) in outcomes.iter().enumerate() {
        let expected = match index {
            7 | 23 => ("rejected", "bad_signature"),
            31 => ("rejected", garbage_code()),
            _ => ("accepted", "new"),
        };
        assert_eq!(
            (outcome.label(), outcome.code()),
            expected,
            "envelope {index}"
        );
    }
    assert_eq!(store.stats().unwrap().offers, 37);
}

#[test]
fn a_sync_batch_rejects_its_bad_records_first_and_applies_the_others_in_order() {
    let (_dir, store, member) = store_with_member();
    let envelopes = batch_with_culprits(&member);
    let outcomes = ingest_all(&store, &envelopes, FIXTURE_NOW);
    let codes: Vec<_> = outcomes.iter().map(IngestOutcome::code).collect();
    assert_eq!(
        codes[..3],
        ["bad_signature", "bad_signature", garbage_code()]
    );
    // The others in the envelopes' order (all offers: `order_for_apply`
    // keeps it), each stored.
    let expected: Vec<_> = envelopes
        .iter()
        .filter_map(|e| mutua_protocol::open(e).ok())
        .map(|r| *r.hash())
        .collect();
    let applied: Vec<_> = outcomes[3..]
        .iter()
        .map(|o| match o {
            IngestOutcome::Accepted(applied) => applied.hash,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(applied, expected);
}
