//! The collectivities a node hosts, changeable while it runs: `mutua key
//! add` and `key remove` write the key files, then ask the running node to
//! read them again (`POST /v1/publishers/reload`), so a syndicate hosts a
//! new member commune without a restart.

use std::sync::{Arc, RwLock};

use mutua_protocol::SecretKey;

use crate::datadir::HostedPublisher;

/// Every hosted publisher; readers get a snapshot that a reload does not
/// change under them.
pub struct Hosted(RwLock<Arc<[Arc<HostedPublisher>]>>);

impl Hosted {
    pub fn new(publishers: Vec<HostedPublisher>) -> Hosted {
        Hosted(RwLock::new(into_shared(publishers)))
    }

    /// The publishers hosted now, sorted by name.
    pub fn all(&self) -> Arc<[Arc<HostedPublisher>]> {
        self.0.read().expect("hosted publishers lock").clone()
    }

    /// Replaces the list (after the key files changed).
    pub fn set(&self, publishers: Vec<HostedPublisher>) {
        *self.0.write().expect("hosted publishers lock") = into_shared(publishers);
    }
}

fn into_shared(publishers: Vec<HostedPublisher>) -> Arc<[Arc<HostedPublisher>]> {
    publishers.into_iter().map(Arc::new).collect()
}

/// A key that signs for this node: the anchor's, or a hosted publisher's.
/// Shared, not borrowed, so that signing can run on the blocking pool.
#[derive(Clone)]
pub enum Signer {
    Anchor(Arc<SecretKey>),
    Hosted(Arc<HostedPublisher>),
}

impl Signer {
    pub fn key(&self) -> &SecretKey {
        match self {
            Signer::Anchor(key) => key,
            Signer::Hosted(p) => &p.key,
        }
    }
}

/// Ingests the saved certificates of `publishers` (a publisher admitted
/// while this node was down, its certificate delivered as a file, can
/// publish at once). A refused or unreadable one is logged, not fatal.
pub async fn ingest_saved_certificates(
    ingest: &crate::ingest::Ingest,
    publishers: &[&HostedPublisher],
) {
    for p in publishers {
        let Some(bytes) = &p.certificate else {
            continue;
        };
        match mutua_protocol::open(bytes) {
            Ok(record) => match ingest.ingest_local(record).await {
                Ok(applied) => {
                    tracing::debug!(publisher = %p.name, outcome = applied.outcome.code(), "certificate loaded")
                }
                Err(e) => {
                    tracing::warn!(publisher = %p.name, error = %e, "saved certificate refused")
                }
            },
            Err(e) => {
                tracing::warn!(publisher = %p.name, error = %e, "saved certificate unreadable")
            }
        }
    }
}
