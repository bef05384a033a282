//! Deterministic keys and records for tests, benchmarks and test vectors
//! (enabled by the `fixtures` feature). Keys come from fixed seeds: never use
//! them outside tests.

use crate::keys::SecretKey;
use crate::model::*;
use crate::rules::DAY_SECS;

mod lending;
mod vectors;
pub use lending::*;
pub use vectors::{test_vectors, weak_key_forgery, Cbor, Expect, TestVector};

/// 2026-11-28T00:00:00Z: the fixed "now" of fixtures and test vectors.
pub const FIXTURE_NOW: Timestamp = 1_795_824_000;

/// A key from a fixed seed byte.
pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

/// A certificate by `issuer` for `subject`, valid a year around FIXTURE_NOW.
pub fn certificate(issuer: &SecretKey, subject: &SecretKey, may_admit: bool) -> Certificate {
    Certificate {
        issuer: issuer.public(),
        subject: subject.public(),
        siren: "213300635".into(),
        name: "Bordeaux".into(),
        body: BodyKind::Commune,
        insee: Some("33063".into()),
        may_admit,
        issued_at: FIXTURE_NOW - DAY_SECS,
        valid_from: FIXTURE_NOW - DAY_SECS,
        valid_until: FIXTURE_NOW + 365 * DAY_SECS,
    }
}

/// A realistic offer of a shared data-protection officer by `author`.
pub fn listing(author: &SecretKey, id: u8, version: u64) -> Listing {
    Listing {
        author: author.public(),
        id: FixedBytes([id; 16]),
        version,
        kind: ResourceKind::Skill,
        title: "Délégué à la protection des données mutualisé".into(),
        description: "Notre DPO peut accompagner deux communes voisines, deux jours par mois : \
                      registre des traitements, analyses d'impact, sensibilisation des agents."
            .into(),
        tags: vec!["rgpd".into(), "dpo".into(), "matériel".into()],
        location: Location {
            insee: "33063".into(),
            point: Some(GeoPoint::from_degrees(44.837789, -0.57918)),
        },
        area: ServiceArea {
            communes: vec![],
            epcis: vec!["243300316".into()],
            departements: vec!["33".into()],
            radius_km: Some(40),
        },
        capacity: Some("2 jours par mois".into()),
        availability: vec![Window {
            from: FIXTURE_NOW,
            until: FIXTURE_NOW + 90 * DAY_SECS,
        }],
        terms: Terms {
            pricing: Pricing::CostSharing {
                amount_cents: 35_000,
                per: "jour".into(),
            },
            convention_required: true,
        },
        contact: Contact {
            role: "Service juridique".into(),
            email: Some("dpo@mairie-exemple.fr".into()),
            phone: Some("+33 5 56 00 00 00".into()),
            url: None,
        },
        published_at: FIXTURE_NOW - 60,
        expires_at: FIXTURE_NOW + 180 * DAY_SECS,
    }
}

/// A need with every optional field absent: no point, no service area, no
/// capacity, no availability windows, free, contact by URL only.
pub fn minimal_listing(author: &SecretKey, id: u8, version: u64) -> Listing {
    Listing {
        author: author.public(),
        id: FixedBytes([id; 16]),
        version,
        kind: ResourceKind::Equipment,
        title: "Broyeur de végétaux".into(),
        description: String::new(),
        tags: vec![],
        location: Location {
            insee: "2A004".into(),
            point: None,
        },
        area: ServiceArea::default(),
        capacity: None,
        availability: vec![],
        terms: Terms {
            pricing: Pricing::Free,
            convention_required: false,
        },
        contact: Contact {
            role: "Services techniques".into(),
            email: None,
            phone: None,
            url: Some("https://ajaccio.example/contact".into()),
        },
        published_at: FIXTURE_NOW - 3600,
        expires_at: FIXTURE_NOW + 30 * DAY_SECS,
    }
}

pub fn withdrawal(author: &SecretKey, id: u8, version: u64) -> Withdrawal {
    Withdrawal {
        author: author.public(),
        id: FixedBytes([id; 16]),
        version,
        withdrawn_at: FIXTURE_NOW,
    }
}

/// An envelope around arbitrary payload bytes, correctly signed by `key`.
///
/// [`crate::seal`] refuses payloads that break the rules; tests, test vectors
/// and the fuzz target need such records signed for real, so that the only
/// thing wrong with them is the rule under test.
pub fn seal_raw(key: &SecretKey, payload_bytes: &[u8]) -> Vec<u8> {
    seal_raw_as(key, crate::codec::ENVELOPE_FORMAT, payload_bytes)
}

/// [`seal_raw`] in an envelope of `format`, signed as that format is.
pub fn seal_raw_as(key: &SecretKey, format: u64, payload_bytes: &[u8]) -> Vec<u8> {
    let signature = key.sign(&crate::codec::signing_input_for(format, payload_bytes));
    crate::codec::encode_envelope_for(format, &key.public(), payload_bytes, &signature)
}

/// An envelope around `payload` whose signature's `R` has a component of
/// order 2 (`R = r·B + T`) and `s = r + H(R ‖ A ‖ M)·a`: the cofactorless
/// equation fails by `T`, so `verify_strict` refuses it, while a randomised
/// batch check (`verify_batch`) accepts it whenever its coefficient for the
/// record is even (BENCHMARKS.md, "Batch signature verification cannot
/// judge records as `verify_strict` does"). Ingest must judge such records
/// alike whatever shares their batch.
pub fn seal_with_torsion(key: &SecretKey, payload: &Payload) -> Vec<u8> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use sha2::{Digest, Sha512};

    let payload_bytes = crate::codec::encode_payload(payload).expect("encodable");
    let message = crate::codec::signing_input_for(payload.envelope_format(), &payload_bytes);
    // (0, -1), the point of order 2: y = p - 1.
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let torsion = CompressedEdwardsY(minus_one)
        .decompress()
        .expect("(0, -1) is a point");
    let a = key.scalar();
    let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&message).into());
    let big_r = (EdwardsPoint::mul_base(&r) + torsion).compress();
    let public = key.public();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(public.as_bytes())
            .chain_update(&message)
            .finalize()
            .into(),
    );
    let s = r + k * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(big_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    crate::codec::encode_envelope_for(
        payload.envelope_format(),
        &public,
        &payload_bytes,
        &signature,
    )
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::traits::IsIdentity;
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use sha2::{Digest, Sha512};

    use super::*;

    /// The forgery is what it claims: the cofactorless equation misses by a
    /// point of small order only, which the cofactored (and batch) equation
    /// does not see; `open` refuses it as a bad signature.
    #[test]
    fn a_torsion_signature_fails_by_a_small_order_point_only() {
        let author = key(2);
        let payload = Payload::Offer(listing(&author, 1, 1));
        let envelope = seal_with_torsion(&author, &payload);
        let (signer, payload_bytes, signature) =
            crate::codec::decode_envelope(&envelope).expect("a well-formed envelope");
        let point = |bytes: &[u8]| {
            CompressedEdwardsY(bytes.try_into().unwrap())
                .decompress()
                .unwrap()
        };
        let big_r = point(&signature[..32]);
        let a = point(signer.as_bytes());
        let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap()).unwrap();
        let message = crate::codec::signing_input(payload_bytes);
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(&signature[..32])
                .chain_update(signer.as_bytes())
                .chain_update(&message)
                .finalize()
                .into(),
        );
        let miss: EdwardsPoint = EdwardsPoint::mul_base(&s) - k * a - big_r;
        assert!(!miss.is_identity());
        assert!(miss.mul_by_cofactor().is_identity());
        assert!(!big_r.is_small_order());
        assert_eq!(
            crate::open(&envelope).unwrap_err(),
            crate::RecordError::BadSignature
        );
    }
}
