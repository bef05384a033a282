//! PROTOCOL.md's test vectors are this crate's output: the vectors generated
//! by `fixtures::test_vectors` must appear verbatim in the document, and every
//! vector in the document must validate as it says.

use mutua_protocol::fixtures::{key, test_vectors, Expect, TestVector};
use mutua_protocol::{hex, unhex, validate, Verdict};

const DOCUMENT: &str = include_str!("../../PROTOCOL.md");
/// Hex digits per line of an envelope, to keep the document readable.
const HEX_LINE: usize = 64;

fn render(v: &TestVector) -> String {
    let mut out = format!("name: {}\nabout: {}\n", v.name, v.about);
    match v.seed {
        Some(seed) => {
            out += &format!("seed: {}\n", hex(&[seed; 32]));
            out += &format!("public: {}\n", hex(key(seed).public().as_bytes()));
        }
        None => out += "seed: none\n",
    }
    out += &format!("now: {}\n", v.now);
    out += &match &v.expect {
        Expect::Valid => format!(
            "expect: valid\nhash: {}\n",
            hex(&mutua_protocol::codec::hash_envelope(&v.envelope).0)
        ),
        Expect::Fails {
            verdict,
            code,
            field,
        } => format!(
            "expect: {} {code} {}\n",
            verdict_name(*verdict),
            field.unwrap_or("-")
        ),
    };
    out += &format!("length: {}\nenvelope:\n", v.envelope.len());
    for line in hex(&v.envelope).as_bytes().chunks(HEX_LINE) {
        out += std::str::from_utf8(line).expect("hex is ASCII");
        out.push('\n');
    }
    out
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Reject => "reject",
        Verdict::Ignore => "ignore",
    }
}

/// The bodies of the document's ```vector fenced blocks.
fn document_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = DOCUMENT.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```vector" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(body.join("\n") + "\n");
        }
    }
    blocks
}

fn field<'a>(block: &'a str, name: &str) -> &'a str {
    block
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("vector without {name:?}:\n{block}"))
}

/// Each generated vector fails (or passes) as its author intended.
#[test]
fn generated_vectors_validate_as_intended() {
    for v in test_vectors() {
        let result = validate(&v.envelope, v.now);
        match (&v.expect, result) {
            (Expect::Valid, Ok(_)) => {}
            (
                Expect::Fails {
                    verdict,
                    code,
                    field,
                },
                Err(e),
            ) => {
                assert_eq!(
                    (e.code(), e.verdict(), e.field()),
                    (*code, *verdict, *field),
                    "{}: {e}",
                    v.name
                );
            }
            (expect, result) => panic!("{}: expected {expect:?}, got {result:?}", v.name),
        }
    }
}

#[test]
fn document_lists_exactly_the_generated_vectors() {
    let generated: Vec<String> = test_vectors().iter().map(render).collect();
    let documented = document_blocks();
    if generated != documented {
        let all = generated
            .iter()
            .map(|b| format!("```vector\n{b}```\n"))
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "PROTOCOL.md's vectors differ from the code's ({} documented, {} generated). \
             The generated blocks are:\n\n{all}",
            documented.len(),
            generated.len()
        );
    }
}

/// Independent of the generator: decode each documented envelope from its
/// hex and check that validation gives what the document claims.
#[test]
fn documented_vectors_validate_as_documented() {
    let blocks = document_blocks();
    assert!(
        blocks.len() >= 19,
        "the document lists {} vectors",
        blocks.len()
    );
    for block in &blocks {
        let name = field(block, "name");
        let now: u64 = field(block, "now").parse().expect("now is an integer");
        let hex_text: String = block
            .split_once("envelope:\n")
            .expect("envelope last")
            .1
            .lines()
            .collect();
        let envelope = unhex(&hex_text).unwrap_or_else(|| panic!("{name}: bad hex"));
        assert_eq!(
            envelope.len().to_string(),
            field(block, "length"),
            "{name}: length"
        );
        let result = validate(&envelope, now);
        let expect: Vec<&str> = field(block, "expect").splitn(3, ' ').collect();
        match (expect.as_slice(), result) {
            (["valid"], Ok(record)) => {
                assert_eq!(record.hash().to_hex(), field(block, "hash"), "{name}");
                if field(block, "seed") != "none" {
                    assert_eq!(hex(record.signer().as_bytes()), field(block, "public"));
                }
            }
            ([verdict, code, field_name], Err(e)) => {
                assert_eq!(e.code(), *code, "{name}: {e}");
                assert_eq!(verdict_name(e.verdict()), *verdict, "{name}: {e}");
                assert_eq!(e.field().unwrap_or("-"), *field_name, "{name}: {e}");
            }
            (expect, result) => panic!("{name}: expected {expect:?}, got {result:?}"),
        }
    }
}

/// PROTOCOL.md's worked example of synchronisation: the items of two
/// replicas in key order (keys, hashes, entries, fingerprints), a request
/// that uses every query, and the response the responder code gives it
/// (so the two are a consistent pair).
fn sync_example() -> String {
    use mutua_protocol::sync::memory::MemorySource;
    use mutua_protocol::sync::*;
    use mutua_protocol::{FixedBytes, SlotKey};
    use serde_bytes::ByteBuf;

    let listing = SlotKey::Listing {
        author: key(1).public(),
        id: FixedBytes([0x07; 16]),
    };
    let certificate = SlotKey::Certificate(FixedBytes([0x11; 32]));
    // (what it is, slot, digest, rank, stand-in record bytes)
    let item = |about, slot, digest, version, withdrawal, record: &[u8]| {
        (
            about,
            slot,
            FixedBytes([digest; 32]),
            SlotRank {
                version,
                withdrawal,
            },
            record.to_vec(),
        )
    };
    let cert = item(
        "a certificate (its slot is its own hash, which is the digest), on both sides",
        certificate,
        0x11,
        0,
        false,
        &[0xa1; 3],
    );
    let withdrawn = item(
        "the initiator's withdrawal at version 3 in a listing slot",
        listing,
        0x22,
        3,
        true,
        &[0xa2; 3],
    );
    let offered = item(
        "the responder's offer at version 2 in the same slot",
        listing,
        0x33,
        2,
        false,
        &[0xa3; 3],
    );
    let mut out = String::new();
    let mut entry_of =
        |(about, slot, digest, rank, _): &(&str, SlotKey, FixedBytes<32>, SlotRank, Vec<u8>)| {
            let sync_key = SyncKey::of_slot(slot);
            let entry = Entry {
                slot: slot_tag(&sync_key),
                id: item_id(&sync_key, digest),
                rank: rank.code(),
            };
            out += &format!("item: {about}\n");
            out += &format!("slot bytes: {}\n", hex(&slot_bytes(slot)));
            out += &format!("sync key: {}\n", hex(&sync_key.0));
            out += &format!("digest: {}\n", hex(&digest.0));
            out += &format!("item hash: {}\n", hex(&item_hash(&sync_key, digest)));
            out += &format!(
                "entry: key {}{} (slot tag, item id), rank {} (version {}, withdrawal {})\n",
                hex(&entry.slot.0),
                hex(&entry.id.0),
                entry.rank,
                rank.version,
                rank.withdrawal
            );
            (sync_key, entry)
        };
    let (cert_key, _) = entry_of(&cert);
    let (listing_key, withdrawn_entry) = entry_of(&withdrawn);
    entry_of(&offered);
    let fingerprint = |items: &[&(&str, SlotKey, FixedBytes<32>, SlotRank, Vec<u8>)]| {
        items
            .iter()
            .fold(Fingerprint::EMPTY, |sum, (_, slot, digest, _, _)| {
                sum + Fingerprint::of_item(&SyncKey::of_slot(slot), digest)
            })
    };
    let initiator = fingerprint(&[&cert, &withdrawn]);
    let certificates_only = fingerprint(&[&cert]);
    for (whose, f) in [
        ("the initiator's set", initiator),
        ("the certificates (on either side)", certificates_only),
    ] {
        out += &format!(
            "fingerprint of {whose}: count {}, sum {}, tag {}\n",
            f.count,
            hex(&f.sum),
            hex(&f.summary().tag.0)
        );
    }
    let range = SyncRange::new(&listing_key, 10).expect("a valid range");
    out += &format!(
        "range: the 10-bit prefix of the listing slot's key, prefix {}\n",
        hex(&range.start().0[..2])
    );
    let [certificates, revocations, _, _] = SyncRange::ROOT.children().expect("the root splits");
    assert!(certificates.contains(&cert_key));
    let request = Request {
        queries: vec![
            Query::Fingerprint(SyncRange::ROOT, initiator.summary()),
            Query::Fingerprint(certificates, certificates_only.summary()),
            Query::Ids(range, vec![withdrawn_entry]),
            Query::Want(range, vec![withdrawn_entry.slot]),
            Query::Fetch(revocations, None),
        ],
        push: vec![ByteBuf::from(withdrawn.4.clone())],
    };
    let mut responder = MemorySource::new();
    for (_, slot, digest, rank, record) in [&cert, &offered] {
        responder.insert(
            SyncKey::of_slot(slot),
            *digest,
            *rank,
            record.clone().into(),
        );
    }
    let response = respond(&request, &responder).expect("the responder answers");
    out += "request: fingerprint of the root (the initiator's summary), fingerprint of the \
            certificates (the 2-bit range 00), ids of the range (the withdrawal's entry), want \
            of the range (its slot tag), fetch of the revocations (the 2-bit range 01) from \
            their start; pushed, the withdrawal (a 3-byte stand-in)\n";
    out += &hex_lines(&encode_request(&request));
    out += "response: ids (the responder's two entries: the root differs and it holds at most \
            8 items), equal (same certificates), diff (it wants the slot: the initiator's \
            withdrawal outranks its offer, which stays home), diff (nothing wanted; the wanted \
            slot's record is sent), fetched (no more, no last key: no revocations); the offer \
            (a 3-byte stand-in)\n";
    out += &hex_lines(&encode_response(&response));
    out
}

fn hex_lines(bytes: &[u8]) -> String {
    hex(bytes)
        .as_bytes()
        .chunks(HEX_LINE)
        .map(|line| std::str::from_utf8(line).expect("hex is ASCII").to_owned() + "\n")
        .collect()
}

#[test]
fn document_shows_the_generated_sync_example() {
    let generated = sync_example();
    assert!(
        document_block("sync-example") == generated,
        "PROTOCOL.md's sync example differs from the code's; it is:\n\n```sync-example\n{generated}```\n"
    );
}

/// Independent of the generator: the documented messages decode, and encode
/// back to the same bytes.
#[test]
fn documented_sync_messages_decode() {
    use mutua_protocol::sync::*;

    let example = document_block("sync-example");
    let message = |label: &str| {
        let text: String = example
            .split_once(&format!("\n{label}: "))
            .unwrap_or_else(|| panic!("no {label}"))
            .1
            .lines()
            .skip(1)
            .take_while(|l| l.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        unhex(&text).unwrap_or_else(|| panic!("{label}: bad hex"))
    };
    let request = message("request");
    let decoded_request = decode_request(&request).expect("the documented request decodes");
    assert_eq!(decoded_request.queries.len(), 5);
    assert_eq!(encode_request(&decoded_request), request);
    let response = message("response");
    let decoded = decode_response(&response).expect("the documented response decodes");
    assert_eq!(decoded.answers.len(), decoded_request.queries.len());
    assert_eq!(encode_response(&decoded), response);
    // The answers use every kind but split (which needs over 8 items).
    assert!(matches!(
        decoded.answers.as_slice(),
        [
            Answer::Ids(_),
            Answer::Equal,
            Answer::Diff(..),
            Answer::Diff(..),
            Answer::Fetched(..)
        ]
    ));
}

/// PROTOCOL.md's vectors of the values derived from public inputs: a key id,
/// a gossip topic and a replica digest, rendered from the code.
fn derived_example() -> String {
    use mutua_protocol::derived::{replica_digest, topic_for};
    use mutua_protocol::sync::{Fingerprint, SyncKey};
    use mutua_protocol::{FixedBytes, SlotKey};

    let public = key(2).public();
    let id = public.key_id();
    let mut out = format!("key: {}\n", hex(public.as_bytes()));
    out += &format!("key id: {id}\n");
    let name = "Syndicat Gironde Numérique";
    let anchors = [key(2).public(), key(1).public()];
    out += &format!("federation name: {name}\n");
    out += &format!(
        "anchors, as configured: {}\n",
        anchors.map(|a| hex(a.as_bytes())).join(" ")
    );
    out += &format!("topic: {}\n", topic_for(name, &anchors));
    // The initiator's set of the sync example.
    let certificate = SlotKey::Certificate(FixedBytes([0x11; 32]));
    let listing = SlotKey::Listing {
        author: key(1).public(),
        id: FixedBytes([0x07; 16]),
    };
    let fingerprint = [(certificate, 0x11), (listing, 0x22)].iter().fold(
        Fingerprint::EMPTY,
        |sum, (slot, digest)| {
            sum + Fingerprint::of_item(&SyncKey::of_slot(slot), &FixedBytes([*digest; 32]))
        },
    );
    out += &format!(
        "whole-range fingerprint: count {}, sum {}\n",
        fingerprint.count,
        hex(&fingerprint.sum)
    );
    out += &format!("replica digest: {}\n", hex(&replica_digest(&fingerprint)));
    out
}

fn document_block(fence: &str) -> String {
    let mut lines = DOCUMENT.lines();
    assert!(
        lines.any(|l| l.trim() == format!("```{fence}")),
        "PROTOCOL.md has no {fence} block"
    );
    let body: Vec<&str> = lines.take_while(|l| l.trim() != "```").collect();
    body.join("\n") + "\n"
}

#[test]
fn document_shows_the_generated_derived_values() {
    let generated = derived_example();
    assert!(
        document_block("derived") == generated,
        "PROTOCOL.md's derived values differ from the code's; they are:\n\n```derived\n{generated}```\n"
    );
}

/// Independent of the crate: each derived value recomputed from the
/// document's construction with sha2 and data-encoding directly.
#[test]
fn documented_derived_values_follow_their_construction() {
    use sha2::{Digest, Sha256};

    let block = document_block("derived");
    let key = unhex(field(&block, "key")).expect("hex");
    let checksum = Sha256::new()
        .chain_update(b"mutua-key-id")
        .chain_update(&key)
        .finalize();
    let raw = [&key[..], &checksum[..2]].concat();
    assert_eq!(
        field(&block, "key id"),
        format!(
            "mk{}",
            data_encoding::BASE32HEX_NOPAD.encode(&raw).to_lowercase()
        )
    );

    let name = field(&block, "federation name");
    let mut anchors: Vec<Vec<u8>> = field(&block, "anchors, as configured")
        .split(' ')
        .map(|a| unhex(a).expect("hex"))
        .collect();
    anchors.sort();
    anchors.dedup();
    let mut digest = Sha256::new()
        .chain_update(b"mutua-topic-v1")
        .chain_update([0])
        .chain_update((name.len() as u64).to_be_bytes())
        .chain_update(name.as_bytes());
    for anchor in &anchors {
        digest.update(anchor);
    }
    let slug: String = name
        .to_ascii_lowercase()
        .replace([' ', '_', '.'], "-")
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(32)
        .collect();
    assert_eq!(
        field(&block, "topic"),
        format!("mutua/1/records/{slug}/{}", hex(&digest.finalize()[..16]))
    );

    let fingerprint = field(&block, "whole-range fingerprint");
    let (count, sum) = fingerprint
        .strip_prefix("count ")
        .and_then(|f| f.split_once(", sum "))
        .expect("count and sum");
    let digest = Sha256::new()
        .chain_update(b"mutua-replica-digest-v1")
        .chain_update(count.parse::<u64>().expect("count").to_be_bytes())
        .chain_update(unhex(sum).expect("hex"))
        .finalize();
    assert_eq!(field(&block, "replica digest"), hex(&digest));
}

/// Every rule code a record can fail with has at least one vector, and the
/// document lists each in its table of codes.
#[test]
fn every_record_error_code_has_a_vector() {
    let documented: Vec<String> = document_blocks()
        .iter()
        .map(|b| field(b, "expect").to_owned())
        .collect();
    for code in mutua_protocol::RecordError::CODES {
        assert!(
            documented
                .iter()
                .any(|expect| expect.split(' ').nth(1) == Some(code)),
            "no vector in PROTOCOL.md fails with {code}"
        );
        assert!(
            DOCUMENT.contains(&format!("`{code}`")),
            "PROTOCOL.md does not name {code}"
        );
    }
    for expect in &documented {
        if let Some(code) = expect.split(' ').nth(1) {
            assert!(
                mutua_protocol::RecordError::CODES.contains(&code),
                "a vector fails with {code}, which RecordError::CODES does not list"
            );
        }
    }
}

/// The accepted département codes are written in PROTOCOL.md as the code
/// renders them.
#[test]
fn document_states_the_accepted_departement_codes() {
    let codes = mutua_protocol::codes::departement_codes();
    assert!(
        DOCUMENT.contains(&format!("Département code**: {codes}")),
        "PROTOCOL.md should state the département codes as {codes:?}"
    );
}
