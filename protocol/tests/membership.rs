//! Membership chains: one test per failure class, asserting the code and the
//! key it names, over certificates and revocations that were sealed and
//! opened for real (a view holds only verified records, as the store does).

use mutua_protocol::fixtures::*;
use mutua_protocol::membership::{MAX_CERTIFICATES_PER_KEY, MAX_CHAIN_DEPTH};
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::*;

/// An in-memory stand-in for the store's certificate index.
#[derive(Default)]
struct View {
    certificates: Vec<(RecordHash, Certificate)>,
    revocations: Vec<Revocation>,
}

impl MembershipView for View {
    fn certificates_for(&self, subject: &PublicKey) -> Vec<(RecordHash, Certificate)> {
        self.certificates
            .iter()
            .filter(|(_, c)| c.subject == *subject)
            .cloned()
            .collect()
    }
    fn revocations_of(&self, certificate: &RecordHash) -> Vec<Revocation> {
        self.revocations
            .iter()
            .filter(|r| r.certificate == *certificate)
            .cloned()
            .collect()
    }
}

impl View {
    /// `issuer` admits `subject`; returns the certificate's hash.
    fn admit(&mut self, issuer: &SecretKey, subject: &SecretKey, may_admit: bool) -> RecordHash {
        self.admit_with(issuer, subject, |c| c.may_admit = may_admit)
    }

    fn admit_with(
        &mut self,
        issuer: &SecretKey,
        subject: &SecretKey,
        edit: impl FnOnce(&mut Certificate),
    ) -> RecordHash {
        let mut c = certificate(issuer, subject, false);
        edit(&mut c);
        let sealed = seal(issuer, &Payload::Certificate(c)).expect("valid certificate");
        let opened = validate(sealed.bytes(), FIXTURE_NOW).expect("valid now");
        let Payload::Certificate(c) = opened.payload().clone() else {
            unreachable!()
        };
        self.certificates.push((*opened.hash(), c));
        *opened.hash()
    }

    fn revoke(&mut self, issuer: &SecretKey, certificate: RecordHash) {
        let r = Revocation {
            issuer: issuer.public(),
            certificate,
            reason: RevocationReason::KeyCompromised,
            revoked_at: FIXTURE_NOW,
        };
        let sealed = seal(issuer, &Payload::Revocation(r.clone())).expect("valid revocation");
        validate(sealed.bytes(), FIXTURE_NOW).expect("valid now");
        self.revocations.push(r);
    }
}

fn check(
    view: &View,
    anchor: &SecretKey,
    member: &SecretKey,
) -> Result<Membership, MembershipError> {
    check_membership(view, &[anchor.public()], &member.public(), FIXTURE_NOW)
}

fn fails(result: Result<Membership, MembershipError>, code: &str, key: &SecretKey) {
    let e = result.expect_err("not a member");
    assert_eq!((e.code(), e.verdict()), (code, Verdict::Ignore), "{e}");
    assert!(
        e.to_string().contains(&key.public().key_id()),
        "{e} should name the key"
    );
}

#[test]
fn anchors_and_chains() {
    let (anchor, syndicate, commune) = (key(1), key(2), key(3));
    let mut view = View::default();
    let c1 = view.admit(&anchor, &syndicate, true);
    let c2 = view.admit(&syndicate, &commune, false);
    let m = check(&view, &anchor, &anchor).unwrap();
    assert_eq!((m.certificate, m.chain, m.may_admit), (None, vec![], true));
    let m = check(&view, &anchor, &commune).unwrap();
    assert_eq!(m.chain, vec![c2, c1]);
    assert_eq!(m.anchor, anchor.public());
    assert!(!m.may_admit);
    assert!(
        check_admission_right(&view, &[anchor.public()], &syndicate.public(), FIXTURE_NOW).is_ok()
    );
}

#[test]
fn unknown_key() {
    let view = View::default();
    fails(check(&view, &key(1), &key(9)), "not_a_member", &key(9));
}

#[test]
fn untrusted_issuer() {
    // Key 8 admits key 3, but nobody admitted key 8.
    let mut view = View::default();
    view.admit(&key(8), &key(3), false);
    fails(check(&view, &key(1), &key(3)), "untrusted_issuer", &key(3));
}

#[test]
fn revoked_member() {
    let (anchor, syndicate, commune) = (key(1), key(2), key(3));
    let mut view = View::default();
    view.admit(&anchor, &syndicate, true);
    let c = view.admit(&syndicate, &commune, false);
    // A revocation by someone else than the issuer or an anchor is ignored.
    view.revoke(&key(7), c);
    assert!(check(&view, &anchor, &commune).is_ok());
    view.revoke(&syndicate, c);
    fails(check(&view, &anchor, &commune), "revoked", &commune);
    // An anchor may revoke any certificate.
    let mut view = View::default();
    view.admit(&anchor, &syndicate, true);
    let c = view.admit(&syndicate, &commune, false);
    view.revoke(&anchor, c);
    fails(check(&view, &anchor, &commune), "revoked", &commune);
}

#[test]
fn revoked_issuer_takes_its_members_out() {
    let (anchor, syndicate, commune) = (key(1), key(2), key(3));
    let mut view = View::default();
    let c = view.admit(&anchor, &syndicate, true);
    view.admit(&syndicate, &commune, false);
    view.revoke(&anchor, c);
    fails(check(&view, &anchor, &commune), "revoked", &syndicate);
}

#[test]
fn expired_certificate() {
    let (anchor, commune) = (key(1), key(3));
    let mut view = View::default();
    view.admit(&anchor, &commune, false);
    let until = view.certificates[0].1.valid_until;
    assert!(check_membership(&view, &[anchor.public()], &commune.public(), until - 1).is_ok());
    let late = check_membership(&view, &[anchor.public()], &commune.public(), until);
    fails(late, "certificate_expired", &commune);
    // Not yet valid is reported the same way.
    let mut view = View::default();
    view.admit_with(&anchor, &commune, |c| c.valid_from = FIXTURE_NOW + DAY_SECS);
    fails(
        check(&view, &anchor, &commune),
        "certificate_expired",
        &commune,
    );
}

#[test]
fn a_valid_certificate_wins_over_failed_ones() {
    let (anchor, commune) = (key(1), key(3));
    let mut view = View::default();
    let old = view.admit(&anchor, &commune, false);
    view.revoke(&anchor, old);
    view.admit_with(&anchor, &commune, |c| {
        c.name = "Bordeaux (nouvelle clé)".into()
    });
    assert!(check(&view, &anchor, &commune).is_ok());
}

#[test]
fn chain_too_deep() {
    // anchor → k2 → k3 → k4 → k5: four certificates, the most allowed.
    let keys: Vec<SecretKey> = (1..=6).map(key).collect();
    let mut view = View::default();
    for pair in keys.windows(2) {
        view.admit(&pair[0], &pair[1], true);
    }
    assert_eq!(
        check(&view, &keys[0], &keys[4]).unwrap().chain.len(),
        MAX_CHAIN_DEPTH
    );
    // One more link: refused, naming the key checked.
    fails(check(&view, &keys[0], &keys[5]), "chain_too_deep", &keys[5]);
}

#[test]
fn certificate_cycles_end() {
    // Two keys admitting each other, no anchor in sight.
    let mut view = View::default();
    view.admit(&key(2), &key(3), true);
    view.admit(&key(3), &key(2), true);
    fails(check(&view, &key(1), &key(3)), "chain_too_deep", &key(3));
}

#[test]
fn issuer_may_not_admit() {
    let (anchor, commune, other) = (key(1), key(2), key(3));
    let mut view = View::default();
    view.admit(&anchor, &commune, false);
    view.admit(&commune, &other, false);
    let e = check(&view, &anchor, &other).unwrap_err();
    assert_eq!(e.code(), "issuer_may_not_admit");
    assert_eq!(
        e,
        MembershipError::IssuerMayNotAdmit {
            key: other.public().key_id(),
            issuer: commune.public().key_id()
        }
    );
}

#[test]
fn may_not_admit() {
    let (anchor, commune) = (key(1), key(2));
    let mut view = View::default();
    view.admit(&anchor, &commune, false);
    assert!(check(&view, &anchor, &commune).is_ok());
    let e = check_admission_right(&view, &[anchor.public()], &commune.public(), FIXTURE_NOW);
    fails(e, "may_not_admit", &commune);
}

#[test]
fn unusable_certificates_do_not_crowd_out_a_valid_one() {
    let (anchor, commune) = (key(1), key(2));
    let mut view = View::default();
    view.admit(&anchor, &commune, false);
    // More not-yet-valid certificates than the bound, all ending later.
    for i in 0..=MAX_CERTIFICATES_PER_KEY as u64 {
        view.admit_with(&anchor, &commune, |c| {
            c.valid_from = FIXTURE_NOW + DAY_SECS;
            c.valid_until = FIXTURE_NOW + (400 + i) * DAY_SECS;
        });
    }
    assert!(check(&view, &anchor, &commune).is_ok());
}

#[test]
fn issuer_lookups_per_key_are_bounded() {
    // A key certified by many strangers: only MAX_CERTIFICATES_PER_KEY of
    // their chains are looked up.
    let commune = key(2);
    let mut view = View::default();
    for stranger in 10..10 + 2 * MAX_CERTIFICATES_PER_KEY as u8 {
        view.admit(&key(stranger), &commune, false);
    }
    let counting = Counting {
        view: &view,
        lookups: Default::default(),
    };
    let e = check_membership(
        &counting,
        &[key(1).public()],
        &commune.public(),
        FIXTURE_NOW,
    );
    fails(e, "untrusted_issuer", &commune);
    assert_eq!(counting.lookups.get(), 1 + MAX_CERTIFICATES_PER_KEY);
}

struct Counting<'a> {
    view: &'a View,
    lookups: std::cell::Cell<usize>,
}

impl MembershipView for Counting<'_> {
    fn certificates_for(&self, subject: &PublicKey) -> Vec<(RecordHash, Certificate)> {
        self.lookups.set(self.lookups.get() + 1);
        self.view.certificates_for(subject)
    }
    fn revocations_of(&self, certificate: &RecordHash) -> Vec<Revocation> {
        self.view.revocations_of(certificate)
    }
}
