//! Sync message decoding, and both sides of a session, on arbitrary bytes.
//!
//! The first input byte picks what the rest is:
//! - bit 0 clear: a request, as a responder receives it: decoded, then
//!   answered from a replica holding one record of every kind;
//! - bit 0 set: a response, as an initiator receives it: decoded, then handed
//!   to a fresh session whose replica holds two of those records (bit 1
//!   clear) or none (bit 1 set), so that it answers the session's first
//!   request (a fingerprint of, or a fetch over, the whole key space).
//!
//! Besides "no panic, bounded work", it checks that every accepted message
//! survives an encode/decode round trip and that whatever the node would
//! send back (the response, the next request) is itself a valid message.
#![no_main]

use std::cell::OnceCell;

use libfuzzer_sys::fuzz_target;
use mutua_protocol::sync::{
    decode_request, decode_response, encode_request, encode_response, respond, InitiatorSession,
    SessionLimits, Step, MAX_MESSAGE_BYTES,
};
use mutua_protocol_fuzz::Replicas;

thread_local! {
    // Built once: sealing the fixture records signs them.
    static REPLICAS: OnceCell<Replicas> = const { OnceCell::new() };
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, message)) = data.split_first() else {
        return;
    };
    REPLICAS.with(|cell| {
        let replicas = cell.get_or_init(Replicas::new);
        if mode & 1 == 0 {
            as_responder(message, replicas);
        } else {
            as_initiator(mode, message, replicas);
        }
    });
});

fn as_responder(message: &[u8], replicas: &Replicas) {
    let Ok(request) = decode_request(message) else {
        return;
    };
    let encoded = encode_request(&request);
    assert_eq!(decode_request(&encoded).as_ref(), Ok(&request));
    let response = respond(&request, &replicas.responder).expect("a decoded request is answerable");
    assert_eq!(response.answers.len(), request.queries.len());
    let encoded = encode_response(&response);
    assert!(encoded.len() <= MAX_MESSAGE_BYTES);
    assert_eq!(decode_response(&encoded).as_ref(), Ok(&response));
}

fn as_initiator(mode: u8, message: &[u8], replicas: &Replicas) {
    let Ok(response) = decode_response(message) else {
        return;
    };
    let encoded = encode_response(&response);
    assert_eq!(decode_response(&encoded).as_ref(), Ok(&response));
    let source = replicas.initiator(mode);
    let (mut session, _first) =
        InitiatorSession::start(SessionLimits::default(), source).expect("memory never fails");
    match session.handle_response(&response, source) {
        Ok(Step::Send(next)) => {
            let encoded = encode_request(&next);
            assert!(encoded.len() <= MAX_MESSAGE_BYTES);
            assert_eq!(decode_request(&encoded).as_ref(), Ok(&next));
        }
        Ok(Step::Done(_)) => {}
        Err(e) => assert!(e.is_peer_fault(), "a memory replica cannot fail: {e}"),
    }
}
