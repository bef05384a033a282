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
        let expect: Vec<&str> = field(block, "expect").split(' ').collect();
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

/// PROTOCOL.md's worked example of synchronisation: two items in key order
/// (their keys, hashes, entries and fingerprint) and two messages that use
/// every query and answer, rendered from the code.
fn sync_example() -> String {
    use mutua_protocol::sync::*;
    use mutua_protocol::{FixedBytes, SlotKey};
    use serde_bytes::ByteBuf;

    let listing = SlotKey::Listing {
        author: key(1).public(),
        id: FixedBytes([0x07; 16]),
    };
    let certificate = SlotKey::Certificate(FixedBytes([0x11; 32]));
    let items = [
        (
            "a certificate (its slot is its own hash, which is the digest)",
            certificate,
            FixedBytes([0x11; 32]),
            SlotRank::default(),
        ),
        (
            "a withdrawal at version 3 in a listing slot",
            listing,
            FixedBytes([0x22; 32]),
            SlotRank {
                version: 3,
                withdrawal: true,
            },
        ),
    ];
    let mut out = String::new();
    let mut entries = Vec::new();
    let mut keys = Vec::new();
    let mut both = Fingerprint::EMPTY;
    for (about, slot, digest, rank) in &items {
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
        both += Fingerprint::of_item(&sync_key, digest);
        entries.push(entry);
        keys.push(sync_key);
    }
    let summary = both.summary();
    out += &format!(
        "fingerprint of both: count {}, sum {}, tag {}\n",
        both.count,
        hex(&both.sum),
        hex(&summary.tag.0)
    );
    let range = SyncRange::new(&keys[1], 10).expect("a valid range");
    out += &format!(
        "range: the 10-bit prefix of the listing's key, prefix {}\n",
        hex(&range.start().0[..2])
    );
    let request = Request {
        queries: vec![
            Query::Fingerprint(SyncRange::ROOT, summary),
            Query::Ids(range, entries[1..].to_vec()),
            Query::Want(range, vec![entries[1].slot]),
            Query::Fetch(range, None),
        ],
        push: vec![ByteBuf::from(vec![0xa0; 3])],
    };
    let children = SyncRange::ROOT.children().expect("the root splits");
    let split = children
        .iter()
        .map(|child| {
            let mut fingerprint = Fingerprint::EMPTY;
            for ((_, _, digest, _), key) in items.iter().zip(&keys) {
                if child.contains(key) {
                    fingerprint += Fingerprint::of_item(key, digest);
                }
            }
            fingerprint.summary()
        })
        .collect();
    let response = Response {
        answers: vec![
            Answer::Equal,
            Answer::Split(split),
            Answer::Ids(entries.clone()),
            Answer::Diff(vec![entries[1].slot], vec![]),
            Answer::Fetched(false, Some(keys[1])),
        ],
        records: vec![ByteBuf::from(vec![0xa0; 3])],
    };
    out += "request: fingerprint of the root (both items), ids of the range (the listing's \
            entry), want of the range (its tag), fetch of the range from its start; one \
            pushed record (a 3-byte stand-in)\n";
    out += &hex_lines(&encode_request(&request));
    out += "response: equal, split of the root (the summaries of its children with both \
            items), ids (both entries), diff (wanting the listing's tag, nothing unsent), \
            fetched (no more, last the listing's key); one record (a 3-byte stand-in)\n";
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

/// The body of the document's one ```sync-example block.
fn document_sync_example() -> String {
    let mut lines = DOCUMENT.lines();
    assert!(
        lines.any(|l| l.trim() == "```sync-example"),
        "PROTOCOL.md has no sync-example block"
    );
    let body: Vec<&str> = lines.take_while(|l| l.trim() != "```").collect();
    body.join("\n") + "\n"
}

#[test]
fn document_shows_the_generated_sync_example() {
    let generated = sync_example();
    assert!(
        document_sync_example() == generated,
        "PROTOCOL.md's sync example differs from the code's; it is:\n\n```sync-example\n{generated}```\n"
    );
}

/// Independent of the generator: the documented messages decode, and encode
/// back to the same bytes.
#[test]
fn documented_sync_messages_decode() {
    use mutua_protocol::sync::*;

    let example = document_sync_example();
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
    let decoded = decode_request(&request).expect("the documented request decodes");
    assert_eq!(decoded.queries.len(), 4);
    assert_eq!(encode_request(&decoded), request);
    let response = message("response");
    let decoded = decode_response(&response).expect("the documented response decodes");
    assert_eq!(decoded.answers.len(), 5);
    assert_eq!(encode_response(&decoded), response);
}
