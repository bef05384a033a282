//! Whether a key belongs to the federation: a chain of valid, unrevoked
//! certificates from a trusted anchor, each issued by a key allowed to admit.
//!
//! A pure function over the certificates and revocations the caller supplies
//! (the node's store); the anchors come from the node's configuration.

use crate::error::MembershipError;
use crate::keys::PublicKey;
use crate::model::{Certificate, RecordHash, Revocation, Timestamp};

/// The most certificates between a trusted anchor and a member (anchor →
/// syndicate → sub-syndicate → commune fits with room to spare). Also what
/// stops certificate cycles.
pub const MAX_CHAIN_DEPTH: usize = 4;
/// The most certificates whose issuer's chain is resolved for one key, so
/// that a key certified many times cannot make membership checks expensive
/// (at most this many to the power `MAX_CHAIN_DEPTH` lookups).
pub const MAX_CERTIFICATES_PER_KEY: usize = 8;

/// What the caller knows of certificates and revocations.
pub trait MembershipView {
    /// Verified certificates whose subject is `subject`, with their record hash.
    fn certificates_for(&self, subject: &PublicKey) -> Vec<(RecordHash, Certificate)>;
    /// Verified revocations that name `certificate`.
    fn revocations_of(&self, certificate: &RecordHash) -> Vec<Revocation>;
}

/// A proof of membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The member's own certificate; `None` for a trusted anchor.
    pub certificate: Option<Certificate>,
    /// Hashes of the certificates from the member up to the anchor.
    pub chain: Vec<RecordHash>,
    /// The trusted anchor the chain ends at.
    pub anchor: PublicKey,
    /// Whether this key may admit members.
    pub may_admit: bool,
}

/// Checks that `key` is a member at time `now`.
pub fn check_membership(
    view: &dyn MembershipView,
    anchors: &[PublicKey],
    key: &PublicKey,
    now: Timestamp,
) -> Result<Membership, MembershipError> {
    resolve(view, anchors, key, now, false, 0)
}

/// Checks that `key` is a member allowed to admit others (to issue
/// certificates) at time `now`.
pub fn check_admission_right(
    view: &dyn MembershipView,
    anchors: &[PublicKey],
    key: &PublicKey,
    now: Timestamp,
) -> Result<Membership, MembershipError> {
    resolve(view, anchors, key, now, true, 0)
}

/// Whether `certificate` has been revoked by someone entitled to: its issuer
/// or a trusted anchor.
pub fn is_revoked(
    view: &dyn MembershipView,
    anchors: &[PublicKey],
    hash: &RecordHash,
    certificate: &Certificate,
) -> bool {
    view.revocations_of(hash).iter().any(|r| {
        r.certificate == *hash && (r.issuer == certificate.issuer || anchors.contains(&r.issuer))
    })
}

fn resolve(
    view: &dyn MembershipView,
    anchors: &[PublicKey],
    key: &PublicKey,
    now: Timestamp,
    must_admit: bool,
    depth: usize,
) -> Result<Membership, MembershipError> {
    if anchors.contains(key) {
        return Ok(Membership {
            certificate: None,
            chain: Vec::new(),
            anchor: *key,
            may_admit: true,
        });
    }
    let id = key.key_id();
    let mut certificates = view.certificates_for(key);
    certificates.retain(|(_, c)| c.subject == *key);
    // A key nobody certified is reported as such even deep in a chain.
    if certificates.is_empty() {
        return Err(MembershipError::NoCertificate { key: id });
    }
    if depth >= MAX_CHAIN_DEPTH {
        return Err(MembershipError::ChainTooDeep {
            key: id,
            max: MAX_CHAIN_DEPTH,
        });
    }
    let mut best: Option<MembershipError> = None;
    let mut keep = |e: MembershipError| {
        if best.as_ref().is_none_or(|b| rank(&e) > rank(b)) {
            best = Some(e);
        }
    };
    // The cheap checks first, on every certificate: only those that need the
    // issuer's chain resolved count against the bound, so expired, revoked or
    // not-yet-valid certificates cannot crowd out a usable one.
    certificates.retain(|(hash, certificate)| {
        let failure = if !(certificate.valid_from <= now && now < certificate.valid_until) {
            MembershipError::CertificateExpired { key: id.clone() }
        } else if is_revoked(view, anchors, hash, certificate) {
            MembershipError::Revoked { key: id.clone() }
        } else if must_admit && !certificate.may_admit {
            MembershipError::MayNotAdmit { key: id.clone() }
        } else {
            return true;
        };
        keep(failure);
        false
    });
    // Deterministic choice among many: certificates from an anchor (no
    // further lookups), then the latest-ending, then by hash.
    certificates.sort_by(|a, b| {
        let needs_lookup = |c: &Certificate| !anchors.contains(&c.issuer);
        needs_lookup(&a.1)
            .cmp(&needs_lookup(&b.1))
            .then(b.1.valid_until.cmp(&a.1.valid_until))
            .then(a.0.cmp(&b.0))
    });
    certificates.truncate(MAX_CERTIFICATES_PER_KEY);
    for (hash, certificate) in certificates {
        match resolve(view, anchors, &certificate.issuer, now, true, depth + 1) {
            Ok(issuer) => {
                let mut chain = vec![hash];
                chain.extend(issuer.chain);
                return Ok(Membership {
                    may_admit: certificate.may_admit,
                    certificate: Some(certificate),
                    chain,
                    anchor: issuer.anchor,
                });
            }
            Err(MembershipError::MayNotAdmit { key: issuer }) => {
                keep(MembershipError::IssuerMayNotAdmit {
                    key: id.clone(),
                    issuer,
                })
            }
            Err(MembershipError::NoCertificate { .. }) => {
                keep(MembershipError::UntrustedIssuer { key: id.clone() })
            }
            // Named after the key being checked, not the issuer deep in the
            // chain where the limit was hit.
            Err(MembershipError::ChainTooDeep { max, .. }) => keep(MembershipError::ChainTooDeep {
                key: id.clone(),
                max,
            }),
            Err(other) => keep(other),
        }
    }
    Err(best.unwrap_or(MembershipError::NoCertificate { key: id }))
}

/// Which failure to report when every certificate fails: the one that tells
/// the operator most about what to fix.
fn rank(e: &MembershipError) -> u8 {
    match e {
        MembershipError::NoCertificate { .. } => 0,
        MembershipError::UntrustedIssuer { .. } => 1,
        MembershipError::ChainTooDeep { .. } => 2,
        MembershipError::IssuerMayNotAdmit { .. } => 3,
        MembershipError::MayNotAdmit { .. } => 4,
        MembershipError::CertificateExpired { .. } => 5,
        MembershipError::Revoked { .. } => 6,
    }
}
