//! Who signs a write (a hosted publisher, the anchor key) and how: the
//! local rules, the signature, the ingest pipeline (durable on return),
//! then gossip. Every write of the API goes through
//! [`NodeState::sign_and_publish`].

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mutua_protocol::{ListingId, Payload, PublicKey, SignedRecord, SlotKey};

use super::errors::ApiError;
use super::{on_store, unix_now, NodeState};
use crate::datadir::HostedPublisher;
use crate::hosted::Signer;

impl NodeState {
    pub(crate) fn publisher(&self, name: &str) -> Result<Arc<HostedPublisher>, ApiError> {
        self.publishers
            .all()
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(
                    "unknown_publisher",
                    format!(
                        "this node hosts no publisher named {name:?} (hosted: {})",
                        self.publisher_names()
                    ),
                )
                .with_field("as")
            })
    }

    fn publisher_names(&self) -> String {
        let all = self.publishers.all();
        let names: Vec<_> = all.iter().map(|p| p.name.as_str()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    /// The publisher named by `?as=`, or the only one hosted.
    pub(super) fn choose_publisher(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<HostedPublisher>, ApiError> {
        match (name, &*self.publishers.all()) {
            (Some(name), _) => self.publisher(name),
            (None, [only]) => Ok(only.clone()),
            (None, _) => Err(ApiError::bad_request(
                "publisher_required",
                format!(
                    "name the publishing collectivity with ?as=<name> (hosted: {})",
                    self.publisher_names()
                ),
            )
            .with_field("as")),
        }
    }

    /// The key that signs as `issuer`: `anchor`, a hosted publisher's name,
    /// or by default the anchor key.
    pub(super) fn issuer_key(&self, issuer: Option<&str>) -> Result<Signer, ApiError> {
        match issuer {
            Some("anchor") | None => self.anchor.clone().map(Signer::Anchor).ok_or_else(|| {
                ApiError::bad_request(
                    "no_anchor_key",
                    "this node holds no anchor key: name a hosted publisher allowed to admit as issuer",
                )
                .with_field("issuer")
            }),
            Some(name) => self
                .publisher(name)
                .map(Signer::Hosted)
                .map_err(|e| e.with_field("issuer")),
        }
    }

    /// Checks `payload` against the local rules (`local_rules`: every local
    /// publication, API or import, comes here), signs it (the protocol's
    /// field rules), checks the time rules, ingests it (durable on return),
    /// then gossips it. A gossip failure (no peer yet) is reported but is
    /// not an error: anti-entropy will carry the record.
    ///
    /// The time rules are checked here although the store checks them
    /// again: the store keeps an expired record from a peer (so that older
    /// versions stay out), where a publication of this node's must be
    /// refused as `expired`.
    pub(crate) async fn sign_and_publish(
        &self,
        signer: Signer,
        payload: Payload,
    ) -> Result<Published, ApiError> {
        let now = unix_now();
        // Rules, signature: CPU work off the async threads.
        let (record, warnings) = tokio::task::spawn_blocking(move || {
            let warnings = crate::local_rules::check(&payload, now)?;
            let record = mutua_protocol::seal(signer.key(), &payload)?;
            mutua_protocol::rules::check_time(record.payload(), now)?;
            Ok::<_, ApiError>((record, warnings))
        })
        .await
        .map_err(|e| ApiError::internal("store_error", e))??;
        self.ingest.ingest_local(record.clone()).await?;
        let gossip = match self.network.publish(record.bytes().to_vec()).await {
            Ok(report) => mutua_api::Gossip::Report(report),
            Err(e) => {
                tracing::info!(error = %e, hash = %record.hash().to_hex(), "record stored; gossip deferred to sync");
                mutua_api::Gossip::Deferred {
                    error: e.to_string(),
                }
            }
        };
        Ok(Published {
            record,
            gossip,
            warnings,
        })
    }

    /// The current record in `author`'s listing slot `id`.
    pub(crate) async fn current(
        &self,
        author: PublicKey,
        id: ListingId,
    ) -> Result<Option<SignedRecord>, ApiError> {
        on_store(&self.store, move |store| {
            store.get(&SlotKey::Listing { author, id })
        })
        .await
    }
}

/// A record this node signed, stored and handed to gossip.
pub(crate) struct Published {
    pub record: SignedRecord,
    pub gossip: mutua_api::Gossip,
    pub warnings: Vec<crate::local_rules::Warning>,
}

impl Published {
    pub(super) fn answer(self) -> Result<mutua_api::Published, ApiError> {
        Ok(mutua_api::Published {
            record: typed_record(&self.record)?,
            envelope: mutua_protocol::hex(self.record.bytes()),
            gossip: self.gossip,
            warnings: self
                .warnings
                .into_iter()
                .map(|w| mutua_api::Warning {
                    code: w.code.to_owned(),
                    field: w.field,
                    message: w.message,
                })
                .collect(),
        })
    }

    pub(super) fn response(self, status: StatusCode) -> Result<Response, ApiError> {
        Ok((status, axum::Json(self.answer()?)).into_response())
    }
}

/// The API's typed form of a stored record (lending records have none yet:
/// the routes that hand out only listings and certificates never meet one).
pub(super) fn typed_record(record: &SignedRecord) -> Result<mutua_api::Record, ApiError> {
    mutua_api::Record::try_from(record).map_err(|e| ApiError::internal("not_in_api", e))
}
