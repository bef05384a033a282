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
    let dir = tempfile::tempdir().expect("tempdir");
    let anchor = fixtures::key(1);
    let syndicate = fixtures::key(2);
    let commune = fixtures::key(3);
    let config = StoreConfig::new(dir.path().join("store"), vec![anchor.public()]);
    let store = Store::open(config).expect("open");
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

impl Fed {
    /// The store's configuration, to reopen it.
    pub fn config(&self) -> StoreConfig {
        StoreConfig::new(self.store.path(), vec![self.anchor.public()])
    }

    /// Closes the store, runs `between` on its directory, and opens it again.
    pub fn reopen_after(mut self, between: impl FnOnce(&std::path::Path)) -> Fed {
        let config = self.config();
        let placeholder = tempfile::tempdir().expect("tempdir");
        let closed = std::mem::replace(
            &mut self.store,
            Store::open(StoreConfig::new(placeholder.path(), vec![])).expect("placeholder"),
        );
        drop(closed);
        between(&config.path);
        self.store = Store::open(config).expect("reopen");
        self
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
