//! Writes seed inputs for a fuzz target into a directory:
//! `make_corpus decode_validate DIR`: every kind of record from the fixtures,
//! in both of the target's modes (whole envelope, and payload to be signed by
//! key 1);
//! `make_corpus sync_messages DIR`: every request and response of real
//! sessions between the target's replicas, with the mode byte that makes the
//! target replay each one where it occurred.

use std::path::Path;

use mutua_protocol::codec;
use mutua_protocol::sync::memory::MemorySource;
use mutua_protocol::sync::{
    encode_request, encode_response, respond, InitiatorSession, SessionLimits, Step,
};
use mutua_protocol_fuzz::{fixture_records, Replicas};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(dir)) = (args.next(), args.next()) else {
        panic!("usage: make_corpus decode_validate|sync_messages DIR");
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create the corpus directory");
    let seeds = match target.as_str() {
        "decode_validate" => record_seeds(),
        "sync_messages" => sync_seeds(),
        other => panic!("no fuzz target named {other}"),
    };
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
    println!("wrote {} seeds to {}", seeds.len(), dir.display());
}

fn record_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (i, record) in fixture_records().iter().enumerate() {
        let mut whole = vec![0u8];
        whole.extend_from_slice(record.bytes());
        let mut signed_by_target = vec![1u8];
        signed_by_target.extend_from_slice(&codec::encode_payload(record.payload()).unwrap());
        seeds.push((format!("envelope-{i}"), whole));
        seeds.push((format!("payload-{i}"), signed_by_target));
    }
    seeds
}

/// Runs a session from each of the target's initiator replicas to its
/// responder; the first response of each is the one the target's fresh
/// session expects, the later ones still exercise the decoder.
fn sync_seeds() -> Vec<(String, Vec<u8>)> {
    let replicas = Replicas::new();
    let mut seeds = Vec::new();
    for (name, mode) in [("partial", 0u8), ("empty", 2u8)] {
        let initiator: &MemorySource = replicas.initiator(mode);
        let (mut session, mut request) =
            InitiatorSession::start(SessionLimits::default(), initiator).expect("memory");
        for round in 0.. {
            let response = respond(&request, &replicas.responder).expect("memory");
            seeds.push((
                format!("{name}-request-{round}"),
                [&[mode][..], &encode_request(&request)].concat(),
            ));
            seeds.push((
                format!("{name}-response-{round}"),
                [&[mode | 1][..], &encode_response(&response)].concat(),
            ));
            match session
                .handle_response(&response, initiator)
                .expect("honest")
            {
                Step::Send(next) => request = next,
                Step::Done(_) => break,
            }
        }
    }
    seeds
}
