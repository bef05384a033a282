//! Round trips of every record kind, and one test per rejection class, each
//! asserting the exact rule code and field. Bad inputs are signed for real
//! with the fixture keys, so the rule under test is the only thing wrong.

use ed25519_dalek::Verifier;
use mutua_protocol::codec::{self, decode_envelope, encode_envelope, MAX_RECORD_BYTES};
use mutua_protocol::fixtures::*;
use mutua_protocol::rules::{self, DAY_SECS, MAX_CLOCK_SKEW_SECS, MAX_LIFETIME_DAYS};
use mutua_protocol::*;

fn vector(name: &str) -> TestVector {
    test_vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// Validates a vector, expecting the failure `code` at `field`.
fn vector_fails(name: &str, code: &str, field: Option<&str>) -> RecordError {
    let v = vector(name);
    let e = validate(&v.envelope, v.now).expect_err(name);
    assert_eq!((e.code(), e.field()), (code, field), "{e}");
    e
}

fn fails(envelope: &[u8], code: &str, field: &str) -> RecordError {
    let e = validate(envelope, FIXTURE_NOW).expect_err("must be refused");
    assert_eq!((e.code(), e.field()), (code, Some(field)), "{e}");
    e
}

/// An offer by key 2 changed by `edit`, encoded and signed even if `seal`
/// would refuse it.
fn offer_with(edit: impl FnOnce(&mut Listing)) -> Vec<u8> {
    let author = key(2);
    let mut l = listing(&author, 7, 1);
    edit(&mut l);
    seal_raw(&author, &codec::encode_payload(&Payload::Offer(l)).unwrap())
}

fn certificate_with(edit: impl FnOnce(&mut Certificate)) -> Vec<u8> {
    let anchor = key(1);
    let mut c = certificate(&anchor, &key(2), false);
    edit(&mut c);
    seal_raw(
        &anchor,
        &codec::encode_payload(&Payload::Certificate(c)).unwrap(),
    )
}

fn every_kind() -> Vec<(SecretKey, Payload)> {
    let (anchor, member) = (key(1), key(2));
    let cert = certificate(&anchor, &member, true);
    let mut free = listing(&member, 3, 4);
    free.terms.pricing = Pricing::Free;
    free.location.point = None;
    vec![
        (key(1), Payload::Certificate(cert)),
        (
            key(1),
            Payload::Revocation(Revocation {
                issuer: anchor.public(),
                certificate: FixedBytes([9; 32]),
                reason: RevocationReason::Merged,
                revoked_at: FIXTURE_NOW,
            }),
        ),
        (key(2), Payload::Offer(listing(&member, 1, 1))),
        (key(2), Payload::Offer(free)),
        (key(2), Payload::Need(listing(&member, 2, 1))),
        (key(2), Payload::Need(minimal_listing(&member, 2, 2))),
        (key(2), Payload::Withdrawal(withdrawal(&member, 1, 2))),
    ]
}

#[test]
fn every_kind_round_trips() {
    for (signer, payload) in every_kind() {
        let sealed = seal(&signer, &payload).expect("valid payload");
        let opened = validate(sealed.bytes(), FIXTURE_NOW).expect("valid record");
        assert_eq!(opened, sealed);
        assert_eq!(opened.payload(), &payload);
        assert_eq!(opened.signer(), &signer.public());
        assert_eq!(opened.hash(), &codec::hash_envelope(sealed.bytes()));
        // The payload bytes are the canonical encoding, and decode back.
        let (_, payload_bytes, _) = decode_envelope(sealed.bytes()).unwrap();
        assert_eq!(codec::encode_payload(&payload).unwrap(), payload_bytes);
        assert_eq!(codec::decode_payload(payload_bytes).unwrap(), payload);
        // Sealing is deterministic: same payload, same bytes, same hash.
        assert_eq!(seal(&signer, &payload).unwrap().bytes(), sealed.bytes());
    }
}

#[test]
fn optional_fields_are_omitted_not_null() {
    let member = key(2);
    let bytes = codec::encode_payload(&Payload::Need(minimal_listing(&member, 1, 1))).unwrap();
    for absent in [
        "point",
        "capacity",
        "tags",
        "availability",
        "email",
        "phone",
    ] {
        let key = Cbor::default().text(absent).0;
        assert!(
            !bytes.windows(key.len()).any(|w| w == key),
            "{absent} present"
        );
    }
    fn has_null(v: &serde_cbor::Value) -> bool {
        match v {
            serde_cbor::Value::Null => true,
            serde_cbor::Value::Array(items) => items.iter().any(has_null),
            serde_cbor::Value::Map(m) => m.values().any(has_null),
            _ => false,
        }
    }
    let value: serde_cbor::Value = serde_cbor::from_slice(&bytes).unwrap();
    assert!(!has_null(&value), "no null anywhere");
}

#[test]
fn seal_refuses_what_receivers_reject() {
    let member = key(2);
    let mut l = listing(&member, 1, 1);
    l.title = "x".into();
    let e = seal(&member, &Payload::Offer(l)).unwrap_err();
    assert_eq!((e.code(), e.field()), ("too_short", Some("offer.title")));
    let e = seal(&key(3), &Payload::Offer(listing(&member, 1, 1))).unwrap_err();
    assert_eq!(
        (e.code(), e.field()),
        ("signer_mismatch", Some("offer.author"))
    );
}

#[test]
fn forged_signature() {
    vector_fails("forged-signature", "bad_signature", None);
}

#[test]
fn tampered_byte() {
    let e = vector_fails("tampered-byte", "bad_signature", None);
    assert_eq!(e.verdict(), Verdict::Reject);
}

/// No bit flip anywhere in a valid envelope yields a valid record (one bit
/// per byte, a different one from byte to byte, to keep the test quick).
#[test]
fn every_byte_altered_is_refused() {
    let need = vector("need").envelope;
    for byte in 0..need.len() {
        let bit = 1u8 << (byte % 8);
        let mut flipped = need.clone();
        flipped[byte] ^= bit;
        assert!(
            validate(&flipped, FIXTURE_NOW).is_err(),
            "flipping bit {bit:#x} of byte {byte} gave a valid record"
        );
    }
}

#[test]
fn weak_key() {
    let v = vector("weak-key");
    // The forgery is real: ordinary ed25519 verification accepts it.
    let (signer, payload, signature) = decode_envelope(&v.envelope).unwrap();
    let lax = ed25519_dalek::VerifyingKey::from_bytes(signer.as_bytes()).unwrap();
    lax.verify(
        &codec::signing_input(payload),
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .expect("non-strict verification accepts a signature under the identity point");
    vector_fails("weak-key", "weak_key", Some("offer.author"));
    // A small-order key in any key field is refused, not only the signer's.
    let (weak, _) = weak_key_forgery();
    let bytes = certificate_with(|c| c.subject = weak);
    fails(&bytes, "weak_key", "certificate.subject");
}

#[test]
fn key_that_is_not_a_point() {
    // y = 2 has no x on the curve (x² = (y² − 1)/(d·y² + 1) is not a square).
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert!(ed25519_dalek::VerifyingKey::from_bytes(&not_a_point).is_err());
    let bytes = certificate_with(|c| c.subject = PublicKey(not_a_point));
    fails(&bytes, "bad_key", "certificate.subject");
}

#[test]
fn non_canonical_signature_scalar() {
    let valid = vector("offer").envelope;
    assert!(validate(&valid, FIXTURE_NOW).is_ok());
    let high_s = vector("non-canonical-s").envelope;
    // Only S differs, and it is S + ℓ.
    assert_eq!(valid[..valid.len() - 32], high_s[..high_s.len() - 32]);
    assert_ne!(valid[valid.len() - 32..], high_s[high_s.len() - 32..]);
    vector_fails("non-canonical-s", "bad_signature", None);
}

#[test]
fn oversize_record() {
    let v = vector("oversize");
    assert!(v.envelope.len() > MAX_RECORD_BYTES);
    let e = vector_fails("oversize", "too_large", None);
    assert_eq!(
        e,
        RecordError::TooLarge {
            size: v.envelope.len(),
            max: MAX_RECORD_BYTES
        }
    );
}

#[test]
fn overlong_field() {
    let e = vector_fails("overlong-string", "too_long", Some("offer.title"));
    assert!(
        matches!(
            e,
            RecordError::TooLong {
                len: 121,
                max: 120,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn overlong_cbor_string() {
    // Longer than any text the codec accepts, caught before serde allocates.
    let text = "é".repeat(2100);
    let payload = Cbor::default()
        .map(1)
        .text("offer")
        .map(1)
        .text("description")
        .text(&text)
        .0;
    let e = fails(
        &seal_raw(&key(2), &payload),
        "too_long",
        "offer.description",
    );
    assert!(
        matches!(
            e,
            RecordError::TooLong {
                len: 4200,
                max: 4096,
                ..
            }
        ),
        "{e:?}"
    );
    let long_key = "k".repeat(33);
    let payload = Cbor::default().map(1).text(&long_key).uint(1).0;
    fails(
        &seal_raw(&key(2), &payload),
        "too_long",
        "payload (map key)",
    );
}

#[test]
fn deep_nesting() {
    let e = vector_fails("too-deep", "too_deep", Some("offer.area.communes[0][0][0]"));
    assert!(
        matches!(
            e,
            RecordError::TooDeep {
                depth: 7,
                max: 6,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn too_many_items() {
    // 65 entries in one array: refused by the scan whatever the field.
    let payload = (0..65).fold(
        Cbor::default()
            .map(1)
            .text("offer")
            .map(1)
            .text("tags")
            .array(65),
        |c, _| c.text("t"),
    );
    let e = fails(
        &seal_raw(&key(2), &payload.0),
        "too_many_items",
        "offer.tags",
    );
    assert!(matches!(
        e,
        RecordError::TooManyItems {
            count: 65,
            max: 64,
            ..
        }
    ));
    // 17 tags: within the generic limit, over the field's own.
    let bytes = offer_with(|l| l.tags = (0..17).map(|i| format!("tag{i}")).collect());
    let e = fails(&bytes, "too_many_items", "offer.tags");
    assert!(matches!(
        e,
        RecordError::TooManyItems {
            count: 17,
            max: 16,
            ..
        }
    ));
}

#[test]
fn future_timestamp() {
    let e = vector_fails(
        "future-timestamp",
        "from_the_future",
        Some("offer.published_at"),
    );
    assert_eq!(e.verdict(), Verdict::Ignore);
    // Exactly at the allowed skew is fine.
    let bytes = offer_with(|l| l.published_at = FIXTURE_NOW + MAX_CLOCK_SKEW_SECS);
    validate(&bytes, FIXTURE_NOW).expect("within the skew");
    let bytes = certificate_with(|c| c.issued_at = FIXTURE_NOW + MAX_CLOCK_SKEW_SECS + 1);
    fails(&bytes, "from_the_future", "certificate.issued_at");
}

#[test]
fn expiry_too_far() {
    let e = vector_fails("expiry-too-far", "expiry_too_far", Some("offer.expires_at"));
    assert!(matches!(
        e,
        RecordError::ExpiryTooFar {
            days: 400,
            max_days: 400,
            ..
        }
    ));
    let bytes = offer_with(|l| l.expires_at = l.published_at + MAX_LIFETIME_DAYS * DAY_SECS);
    validate(&bytes, FIXTURE_NOW).expect("exactly the longest lifetime");
}

#[test]
fn certificate_lifetime_counts_from_issuance() {
    // A window of one year that starts ten years ahead would outlive any
    // revocation of it: the lifetime counts from issued_at.
    let bytes = certificate_with(|c| {
        c.valid_from = FIXTURE_NOW + 3650 * DAY_SECS;
        c.valid_until = c.valid_from + 365 * DAY_SECS;
    });
    let e = fails(&bytes, "expiry_too_far", "certificate.valid_until");
    assert!(matches!(
        e,
        RecordError::ExpiryTooFar { max_days: 2196, .. }
    ));
    let bytes = certificate_with(|c| c.valid_until = c.issued_at);
    fails(&bytes, "empty_window", "certificate.valid_until");
}

#[test]
fn bad_siren_check_digit() {
    vector_fails("bad-siren", "invalid_siren", Some("certificate.siren"));
    let bytes = offer_with(|l| l.area.epcis = vec!["243300316".into(), "243300317".into()]);
    fails(&bytes, "invalid_siren", "offer.area.epcis[1]");
}

#[test]
fn bad_insee_and_departement() {
    fails(
        &offer_with(|l| l.location.insee = "2C004".into()),
        "invalid_insee",
        "offer.location.insee",
    );
    fails(
        &certificate_with(|c| c.insee = None),
        "required",
        "certificate.insee",
    );
    fails(
        &offer_with(|l| l.area.departements = vec!["20".into()]),
        "invalid_departement",
        "offer.area.departements[0]",
    );
}

#[test]
fn expired_records() {
    let e = vector_fails("expired", "expired", Some("offer.expires_at"));
    assert_eq!(e.verdict(), Verdict::Ignore);
    let bytes = certificate_with(|c| c.valid_until = FIXTURE_NOW);
    fails(&bytes, "expired", "certificate.valid_until");
    // A withdrawal expires when its tombstone may be forgotten.
    let member = key(2);
    let w = withdrawal(&member, 1, 2);
    let bytes = seal(&member, &Payload::Withdrawal(w.clone())).unwrap();
    let forget = rules::tombstone_forget_after(&w);
    validate(bytes.bytes(), forget - 1).expect("tombstone still live");
    let e = validate(bytes.bytes(), forget).unwrap_err();
    assert_eq!(
        (e.code(), e.field()),
        ("expired", Some("withdrawal.withdrawn_at"))
    );
}

#[test]
fn signer_mismatch() {
    vector_fails("signer-mismatch", "signer_mismatch", Some("offer.author"));
}

#[test]
fn unsupported_format() {
    let e = vector_fails("unsupported-format", "unsupported_format", None);
    assert_eq!(e, RecordError::UnsupportedFormat { format: 3 });
    assert_eq!(e.verdict(), Verdict::Ignore);
}

/// Every lending kind is sealed in a format-2 envelope (`84 02`, which
/// older nodes ignore), opens to the same payload, and its format is part of
/// what is signed.
#[test]
fn lending_kinds_travel_in_format_2() {
    use mutua_protocol::lending::*;
    let (owner, borrower) = (key(2), key(3));
    let asked = request(&borrower, 1, &owner, 7, days(0, 3));
    let asked_record = seal(&borrower, &Payload::Request(asked.clone())).unwrap();
    let event = loan_event(&borrower, &asked, None, LoanEventKind::Cancelled);
    for (signer, payload) in [
        (
            &owner,
            Payload::Lending(lending_terms(&owner, 7, BookingMode::Auto)),
        ),
        (&borrower, Payload::Request(asked.clone())),
        (
            &owner,
            Payload::Decision(acceptance(&asked, *asked_record.hash(), 1)),
        ),
        (&borrower, Payload::LoanEvent(event)),
    ] {
        let sealed = seal(signer, &payload).unwrap();
        assert_eq!(
            &sealed.bytes()[..2],
            &[0x84, 0x02],
            "{}",
            payload.kind_name()
        );
        let opened = validate(sealed.bytes(), FIXTURE_NOW).unwrap();
        assert_eq!(opened.payload(), &payload);
        // The same bytes with format 1: the kind is unknown there.
        let mut as_v1 = sealed.bytes().to_vec();
        as_v1[1] = 0x01;
        assert_eq!(open(&as_v1).unwrap_err().code(), "malformed");
    }
}

#[test]
fn non_canonical_envelope() {
    let valid = vector("offer").envelope;
    let (signer, payload, signature) = decode_envelope(&valid).unwrap();
    // The format number 1 written on two bytes (0x18 0x01).
    let mut long_form = vec![0x84, 0x18, 0x01];
    long_form.extend_from_slice(&encode_envelope(&signer, payload, &signature)[2..]);
    let e = validate(&long_form, FIXTURE_NOW).unwrap_err();
    assert_eq!((e.code(), e.field()), ("non_canonical_envelope", None));
    let mut trailing = valid.clone();
    trailing.push(0);
    fails(&trailing, "malformed", "envelope");
}

#[test]
fn non_canonical_payload() {
    vector_fails(
        "non-canonical-payload",
        "non_canonical_payload",
        Some("certificate.body"),
    );
    let member = key(2);
    let canonical = codec::encode_payload(&Payload::Withdrawal(withdrawal(&member, 1, 2))).unwrap();
    let replace = |from: &[u8], to: &[u8]| {
        let at = canonical
            .windows(from.len())
            .position(|w| w == from)
            .unwrap();
        let mut out = canonical.clone();
        out.splice(at..at + from.len(), to.iter().copied());
        seal_raw(&member, &out)
    };
    // Version 2 written on two bytes.
    let version = Cbor::default().text("version").0;
    let short = [version.clone(), vec![0x02]].concat();
    let long = [version, vec![0x18, 0x02]].concat();
    fails(
        &replace(&short, &long),
        "non_canonical_payload",
        "withdrawal.version",
    );
    // Fields in another order (id before author): the map header is the same,
    // the first difference is the first key.
    let l = minimal_listing(&member, 1, 1);
    let wrong_order = Cbor::default()
        .map(1)
        .text("withdrawal")
        .map(4)
        .text("id")
        .bytes(&l.id.0)
        .text("author")
        .bytes(member.public().as_bytes())
        .text("version")
        .uint(2)
        .text("withdrawn_at")
        .uint(FIXTURE_NOW);
    fails(
        &seal_raw(&member, &wrong_order.0),
        "non_canonical_payload",
        "withdrawal (map key)",
    );
}

#[test]
fn malformed_cbor() {
    let member = key(2);
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "a float",
            Cbor::default()
                .map(1)
                .text("offer")
                .raw(&[0xf9, 0x00, 0x14])
                .0,
            "offer",
        ),
        (
            "a tag",
            Cbor::default().map(1).text("offer").raw(&[0xc1, 0x00]).0,
            "offer",
        ),
        (
            "indefinite",
            Cbor::default().map(1).text("offer").raw(&[0xbf, 0xff]).0,
            "offer",
        ),
        (
            "integer key",
            Cbor::default().map(1).uint(0).map(0).0,
            "payload",
        ),
        ("trailing", Cbor::default().map(0).uint(0).0, "payload"),
        (
            "unknown field",
            Cbor::default()
                .map(1)
                .text("withdrawal")
                .map(1)
                .text("colour")
                .text("red")
                .0,
            "payload",
        ),
    ];
    for (what, payload, field) in cases {
        let e = validate(&seal_raw(&member, &payload), FIXTURE_NOW).unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("malformed", Some(field)),
            "{what}: {e}"
        );
    }
}

#[test]
fn field_rules_name_field_and_rule() {
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            offer_with(|l| l.version = 0),
            "out_of_range",
            "offer.version",
        ),
        (
            offer_with(|l| l.title = "Nacelle\u{7}".into()),
            "control_character",
            "offer.title",
        ),
        (
            offer_with(|l| l.title = " Nacelle".into()),
            "surrounding_space",
            "offer.title",
        ),
        (
            offer_with(|l| l.tags = vec!["a".into(), "a".into()]),
            "duplicate",
            "offer.tags[1]",
        ),
        (
            offer_with(|l| l.area.radius_km = Some(0)),
            "out_of_range",
            "offer.area.radius_km",
        ),
        (
            offer_with(|l| {
                l.location.point = Some(GeoPoint {
                    lat_e6: 91_000_000,
                    lon_e6: 0,
                })
            }),
            "out_of_range",
            "offer.location.point.lat_e6",
        ),
        (
            offer_with(|l| l.availability = vec![Window { from: 5, until: 5 }]),
            "empty_window",
            "offer.availability[0].until",
        ),
        (
            offer_with(|l| {
                l.contact.email = None;
                l.contact.phone = None
            }),
            "required",
            "offer.contact.email",
        ),
        (
            offer_with(|l| l.contact.email = Some("dpo@fr".into())),
            "email_syntax",
            "offer.contact.email",
        ),
        (
            offer_with(|l| l.contact.phone = Some("05 56 x".into())),
            "phone_syntax",
            "offer.contact.phone",
        ),
        (
            offer_with(|l| {
                l.terms.pricing = Pricing::CostSharing {
                    amount_cents: 1,
                    per: String::new(),
                }
            }),
            "too_short",
            "offer.terms.pricing.cost_sharing.per",
        ),
        (
            certificate_with(|c| c.subject = c.issuer),
            "self_certificate",
            "certificate.subject",
        ),
    ];
    for (bytes, code, field) in cases {
        let e = fails(&bytes, code, field);
        assert_eq!(e.verdict(), Verdict::Reject);
    }
}

#[test]
fn key_ids_and_key_files() {
    let secret = key(5);
    let id = secret.public().key_id();
    assert!(id.starts_with("mk"));
    assert_eq!(id.parse::<PublicKey>().unwrap(), secret.public());
    assert_eq!(
        id.to_uppercase()
            .replacen("MK", "mk", 1)
            .parse::<PublicKey>()
            .unwrap(),
        secret.public()
    );
    let mut typo = id.clone().into_bytes();
    typo[10] = if typo[10] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        String::from_utf8(typo).unwrap().parse::<PublicKey>(),
        Err(KeyError::BadChecksum)
    );
    let file = secret.to_file_string();
    let back = SecretKey::from_file_string(&file).unwrap();
    assert_eq!(back.public(), secret.public());
    let other = key(6).public().key_id();
    let edited = file.replace(&id, &other);
    assert_eq!(
        SecretKey::from_file_string(&edited).unwrap_err(),
        KeyError::IdMismatch
    );
}

#[test]
fn hex_round_trip() {
    assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
    assert_eq!(unhex("+f"), None);
    assert_eq!(unhex("abc"), None);
}

#[test]
fn a_length_limit_is_stated_in_the_unit_it_counts() {
    // 2,001 "é" are 2,001 characters but 4,002 bytes: the byte limit is met.
    let mut listing = listing(&key(1), 1, 1);
    listing.description = "é".repeat(2001);
    let e = rules::check_fields(&Payload::Offer(listing.clone())).unwrap_err();
    assert!(
        matches!(
            e,
            RecordError::TooLong {
                len: 4002,
                max: 4000,
                unit: LengthUnit::Bytes,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("takes 4002 bytes, over the limit of 4000 bytes")
            && text.contains("accented letter takes 2 bytes"),
        "{text}"
    );
    listing.description = String::new();
    listing.title = "é".repeat(121);
    let text = rules::check_fields(&Payload::Offer(listing))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("has 121 characters, over the limit of 120 characters"),
        "{text}"
    );
}
