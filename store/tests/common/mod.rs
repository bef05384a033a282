//! Shared set-up for the store's tests: a federation with an anchor, a
//! syndicate that may admit, and communes, all with real signatures.

#![allow(dead_code)]

use mutua_protocol::fixtures::{self, FIXTURE_NOW};
use mutua_protocol::{seal, Listing, Payload, SecretKey, SignedRecord};
use mutua_store::{Store, StoreConfig};

pub const NOW: u64 = FIXTURE_NOW;

pub struct Fed {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub anchor: SecretKey,
    pub syndicate: SecretKey,
    pub commune: SecretKey,
    pub syndicate_cert: SignedRecord,
    pub commune_cert: SignedRecord,
}

pub fn sealed(key: &SecretKey, payload: Payload) -> SignedRecord {
    seal(key, &payload).expect("fixture records are valid")
}

/// anchor (seed 1) → syndicate (seed 2, may admit) → commune (seed 3).
pub fn federation() -> Fed {
    federation_with(|config| config)
}

/// [`federation`] in a store that keeps the search index.
pub fn federation_with_search() -> Fed {
    federation_with(StoreConfig::with_search_index)
}

fn federation_with(configure: impl FnOnce(StoreConfig) -> StoreConfig) -> Fed {
    let dir = tempfile::tempdir().expect("tempdir");
    let anchor = fixtures::key(1);
    let syndicate = fixtures::key(2);
    let commune = fixtures::key(3);
    let config = StoreConfig::new(dir.path().join("store"), vec![anchor.public()]);
    let store = Store::open(configure(config)).expect("open");
    let syndicate_cert = sealed(
        &anchor,
        Payload::Certificate(fixtures::certificate(&anchor, &syndicate, true)),
    );
    let commune_cert = sealed(
        &syndicate,
        Payload::Certificate(fixtures::certificate(&syndicate, &commune, false)),
    );
    for cert in [&syndicate_cert, &commune_cert] {
        let applied = store.apply(cert.clone(), NOW).expect("apply");
        assert_eq!(applied.outcome, mutua_store::ApplyOutcome::New);
    }
    Fed {
        dir,
        store,
        anchor,
        syndicate,
        commune,
        syndicate_cert,
        commune_cert,
    }
}

pub fn offer(
    author: &SecretKey,
    id: u8,
    version: u64,
    edit: impl FnOnce(&mut Listing),
) -> SignedRecord {
    let mut l = fixtures::listing(author, id, version);
    edit(&mut l);
    sealed(author, Payload::Offer(l))
}
