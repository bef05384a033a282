//! Writes seed inputs for `decode_validate` into the directory given as the
//! first argument: every kind of record from the fixtures, in both of the
//! target's modes (whole envelope, and payload to be signed by key 1).

use std::path::PathBuf;

use mutua_protocol::fixtures::{certificate, key, listing, withdrawal, FIXTURE_NOW};
use mutua_protocol::{codec, seal, Payload, Revocation, RevocationReason};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: make_corpus DIR"));
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let (anchor, member) = (key(1), key(2));
    let certificate = seal(
        &anchor,
        &Payload::Certificate(certificate(&anchor, &member, true)),
    )
    .expect("valid fixture");
    let payloads = [
        Payload::Offer(listing(&anchor, 7, 1)),
        Payload::Need(listing(&anchor, 8, 3)),
        Payload::Withdrawal(withdrawal(&anchor, 7, 2)),
        Payload::Revocation(Revocation {
            issuer: anchor.public(),
            certificate: *certificate.hash(),
            reason: RevocationReason::KeyLost,
            revoked_at: FIXTURE_NOW,
        }),
        certificate.payload().clone(),
    ];
    for (i, payload) in payloads.iter().enumerate() {
        let record = seal(&anchor, payload).expect("valid fixture");
        let mut whole = vec![0u8];
        whole.extend_from_slice(record.bytes());
        let mut signed_by_target = vec![1u8];
        signed_by_target.extend_from_slice(&codec::encode_payload(payload).unwrap());
        std::fs::write(dir.join(format!("envelope-{i}")), whole).expect("write");
        std::fs::write(dir.join(format!("payload-{i}")), signed_by_target).expect("write");
    }
    println!("wrote {} seeds to {}", payloads.len() * 2, dir.display());
}
