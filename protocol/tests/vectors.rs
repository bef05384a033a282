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
