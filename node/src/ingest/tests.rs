//! The pipeline's outcomes keep the typed reason, over a real store.

use std::error::Error as _;

use mutua_protocol::fixtures::{self, FIXTURE_NOW};
use mutua_protocol::{seal, Payload, RecordError};
use mutua_store::{Rejection, Store, StoreConfig};

use super::*;

fn store(dir: &tempfile::TempDir) -> Store {
    let anchor = fixtures::key(1).public();
    Store::open(StoreConfig::new(dir.path().join("store"), vec![anchor])).unwrap()
}

fn admitted_member(store: &Store) -> mutua_protocol::SecretKey {
    let (anchor, member) = (fixtures::key(1), fixtures::key(2));
    let certificate = fixtures::certificate(&anchor, &member, false);
    let certificate = seal(&anchor, &Payload::Certificate(certificate)).unwrap();
    let outcome = ingest_bytes(store, certificate.bytes(), FIXTURE_NOW);
    assert!(matches!(outcome, IngestOutcome::Accepted(_)), "{outcome:?}");
    member
}

#[test]
fn a_record_that_does_not_open_is_rejected_with_the_protocols_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let member = admitted_member(&store);
    let offer = seal(&member, &Payload::Offer(fixtures::listing(&member, 7, 1))).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let member = admitted_member(&store);
    let offer = seal(&member, &Payload::Offer(fixtures::listing(&member, 7, 1))).unwrap();
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
    let stranger = seal(
        &outsider,
        &Payload::Offer(fixtures::listing(&outsider, 8, 1)),
    )
    .unwrap();
    let outcome = ingest_bytes(&store, stranger.bytes(), FIXTURE_NOW);
    let IngestOutcome::Ignored(NotStored::Refused(rejection @ Rejection::Membership(_))) = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(outcome.code(), rejection.code());
    assert_eq!(outcome.acceptance(), MessageAcceptance::Ignore);
}
