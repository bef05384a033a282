//! decode → validate on arbitrary bytes.
//!
//! The first input byte picks what the rest is:
//! - even: a whole envelope, as a peer would send it;
//! - odd: payload bytes, sealed into an envelope signed by fixture key 1, so
//!   that inputs whose payload names that key get past the signature and
//!   reach every rule (a fuzzer cannot forge signatures).
//!
//! Besides "no panic, bounded work", it checks properties that must hold for
//! every accepted record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutua_protocol::codec;
use mutua_protocol::fixtures::{key, seal_raw, FIXTURE_NOW};
use mutua_protocol::{merge, validate, Rank, SlotKey};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let envelope = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        seal_raw(&key(1), rest)
    };
    let now = FIXTURE_NOW;
    match validate(&envelope, now) {
        Ok(record) => {
            // Accepted bytes are canonical: decoding the payload again and
            // re-encoding it gives them back, and sealing the payload with
            // the signer's key (when it is the fixture key) gives the same
            // envelope, signature included (ed25519 is deterministic).
            assert_eq!(record.bytes(), &envelope[..]);
            let (_, payload_bytes, _) = codec::decode_envelope(&envelope).expect("accepted");
            let payload = codec::decode_payload(payload_bytes).expect("accepted");
            assert_eq!(&payload, record.payload());
            assert_eq!(codec::encode_payload(&payload).unwrap(), payload_bytes);
            if mode % 2 == 1 {
                let resealed = mutua_protocol::seal(&key(1), &payload).expect("sealable");
                assert_eq!(resealed.bytes(), &envelope[..]);
            }
            // A record merged with itself is a duplicate.
            let rank = Rank::of(&record);
            assert_eq!(
                merge(Some(&rank), &rank),
                mutua_protocol::MergeOutcome::Duplicate
            );
            let _ = SlotKey::of(&record);
            let _ = mutua_protocol::merge::forget_after(&record);
        }
        Err(e) => {
            // Every rejection names a rule; most name a field.
            assert!(!e.code().is_empty());
            let _ = (e.field(), e.verdict(), e.to_string());
        }
    }
});
