//! Who belongs: `POST /v1/certificates` (admit), `GET
//! /v1/certificates/{hash}`, `POST /v1/certificates/{hash}/revoke`, `GET
//! /v1/members`, and `POST /v1/publishers/reload` (the running node reads
//! its publisher keys again, after `mutua key add` or `key remove`).

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use mutua_api::{IssueRequest, RevokeRequest};
use mutua_protocol::rules::MAX_CLOCK_SKEW_SECS;
use mutua_protocol::{Certificate, Payload, RecordHash, Revocation, SignedRecord, SlotKey};

use super::errors::{parse_hash, ApiError, Body};
use super::{blocking, on_store, unix_now, NodeState, Shared, DAY};
use crate::hosted::{ingest_saved_certificates, Signer};

/// The name of a current member, from the certificate that admits it (for
/// the API's views and the web page; `None` if it is not a member now).
pub(crate) fn member_name(
    store: &mutua_store::Store,
    key: &mutua_protocol::PublicKey,
    now: mutua_protocol::Timestamp,
) -> Option<String> {
    let membership = store.membership(key, now).ok()?.ok()?;
    Some(membership.certificate?.name)
}

/// Default validity of a certificate issued without `valid_until`.
const DEFAULT_CERTIFICATE_DAYS: u64 = 3 * 365;

pub(super) async fn issue(
    State(state): State<Shared>,
    Body(req): Body<IssueRequest>,
) -> Result<Response, ApiError> {
    let signer = state.issuer_key(req.issuer.as_deref())?;
    let now = unix_now();
    // Backdated by the allowed skew so that nodes whose clocks are behind
    // the issuer's accept the member at once, not minutes later.
    let valid_from = req
        .valid_from
        .unwrap_or(now.saturating_sub(MAX_CLOCK_SKEW_SECS));
    let certificate = Certificate {
        issuer: signer.key().public(),
        subject: req.subject,
        siren: req.siren,
        name: req.name,
        body: req.body,
        insee: req.insee,
        may_admit: req.may_admit,
        issued_at: now,
        valid_from,
        valid_until: req
            .valid_until
            .unwrap_or(valid_from + DEFAULT_CERTIFICATE_DAYS * DAY),
    };
    let published = state
        .sign_and_publish(signer, Payload::Certificate(certificate))
        .await?;
    // A certificate for a collectivity hosted here is kept beside its key,
    // so it is re-announced at every start.
    let hosted = state
        .publishers
        .all()
        .iter()
        .find(|p| p.key.public() == req.subject)
        .map(|p| p.name.clone());
    if let Some(name) = hosted {
        let datadir = state.datadir.clone();
        let bytes = published.record.bytes().to_vec();
        blocking("datadir_error", move || {
            datadir.write_certificate(&name, &bytes)
        })
        .await?;
    }
    published.response(StatusCode::CREATED)
}

pub(super) async fn get_certificate(
    State(state): State<Shared>,
    Path(hash): Path<String>,
) -> Result<Json<mutua_api::Record>, ApiError> {
    let record = stored_certificate(&state, parse_hash(&hash)?).await?;
    Ok(Json(super::signing::typed_record(&record)?))
}

/// The record stored in certificate slot `hash`.
async fn stored_certificate(state: &NodeState, hash: RecordHash) -> Result<SignedRecord, ApiError> {
    on_store(&state.store, move |store| {
        store.get(&SlotKey::Certificate(hash))
    })
    .await?
    .ok_or_else(|| ApiError::not_found("not_found", "no such certificate in this node's replica"))
}

pub(super) async fn revoke(
    State(state): State<Shared>,
    Path(hash): Path<String>,
    Body(req): Body<RevokeRequest>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let record = stored_certificate(&state, hash).await?;
    let Payload::Certificate(certificate) = record.payload() else {
        return Err(ApiError::not_found(
            "not_found",
            "that hash is not a certificate",
        ));
    };
    // By default the key that issued it, when hosted here; else the anchor.
    let hosted_issuer = state
        .publishers
        .all()
        .iter()
        .find(|p| p.key.public() == certificate.issuer)
        .cloned();
    let anchor_issuer = state
        .anchor
        .clone()
        .filter(|k| k.public() == certificate.issuer);
    let signer = match (req.issuer.as_deref(), hosted_issuer, anchor_issuer) {
        (Some(issuer), _, _) => state.issuer_key(Some(issuer))?,
        (None, Some(hosted), _) => Signer::Hosted(hosted),
        (None, None, Some(anchor)) => Signer::Anchor(anchor),
        (None, None, None) => state.issuer_key(None)?,
    };
    let revocation = Revocation {
        issuer: signer.key().public(),
        certificate: hash,
        reason: req.reason,
        revoked_at: unix_now(),
    };
    let published = state
        .sign_and_publish(signer, Payload::Revocation(revocation))
        .await?;
    published.response(StatusCode::CREATED)
}

pub(super) async fn members(
    State(state): State<Shared>,
) -> Result<Json<mutua_api::Members>, ApiError> {
    let now = unix_now();
    // A membership chain per certificate: sled reads, many of them on a large
    // federation, so off the async runtime.
    let members = on_store(&state.store, move |store| {
        let certificates = store.certificates()?;
        let mut members = Vec::with_capacity(certificates.len());
        for (hash, certificate, revoked) in certificates {
            let membership = match store.membership(&certificate.subject, now)? {
                Ok(_) => "member",
                Err(e) => e.code(),
            };
            members.push(mutua_api::Member {
                certificate: mutua_api::Certificate::of(&certificate, hash),
                revoked,
                membership: membership.into(),
            });
        }
        Ok::<_, mutua_store::StoreError>(members)
    })
    .await?;
    Ok(Json(mutua_api::Members { members }))
}

pub(super) async fn reload_publishers(
    State(state): State<Shared>,
) -> Result<Json<mutua_api::PublishersReloaded>, ApiError> {
    let dir = state.datadir.clone();
    let publishers = blocking("datadir_error", move || {
        // Keys readable by others are refused here as at start.
        dir.check_permissions()?;
        dir.publishers()
    })
    .await?;
    let before: HashSet<String> = state
        .publishers
        .all()
        .iter()
        .map(|p| p.key.public().key_id())
        .collect();
    let added: Vec<_> = publishers
        .iter()
        .filter(|p| !before.contains(&p.key.public().key_id()))
        .collect();
    ingest_saved_certificates(&state.ingest, &added).await;
    for p in &added {
        tracing::info!(publisher = %p.name, key = %p.key.public(), certified = p.certificate.is_some(), "hosting");
        if let Some(bytes) = &p.certificate {
            let _ = state.network.publish(bytes.clone()).await;
        }
    }
    let listed = publishers
        .iter()
        .map(|p| mutua_api::HostedPublisher {
            name: p.name.clone(),
            key: p.key.public(),
        })
        .collect();
    let (added, removed) = (added.len(), before.len() + added.len() - publishers.len());
    state.publishers.set(publishers);
    tracing::info!(added, removed, "hosted publishers reloaded");
    Ok(Json(mutua_api::PublishersReloaded { publishers: listed }))
}
