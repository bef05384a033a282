//! Lending records between real `mutua-node` processes: a request signed by
//! a borrower on node B reaches the owner's node A, and A's decision reaches
//! B, by sync (imported records are not gossiped), stored as format-2
//! envelopes like any other record.

mod daemon_support;

use std::time::{SystemTime, UNIX_EPOCH};

use daemon_support::{wait_for, Home, LendingPair, Node};
use mutua_protocol::lending::date::utc_day;
use mutua_protocol::lending::decide::{accepted, decision_for};
use mutua_protocol::lending::{Period, Request};
use mutua_protocol::{hex, seal, Contact, ListingId, Payload, PublicKey, SecretKey};
use serde_json::json;

fn secret(home: &Home, publisher: &str) -> SecretKey {
    let path = home
        .dir
        .join("keys/publishers")
        .join(format!("{publisher}.key"));
    SecretKey::from_file_string(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn exported(node: &Node) -> Vec<String> {
    let body = node.ok(node.get("/v1/export"));
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_request_reaches_the_owner_and_its_decision_reaches_the_borrower() {
    let LendingPair {
        home_a,
        home_b,
        a,
        b,
        owner_id,
        ..
    } = LendingPair::start();
    let offer = a.publish_offer("Podium mobile");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = utc_day(now) + 10;
    let borrower = secret(&home_b, "mairie-b");
    let request = Request {
        author: borrower.public(),
        id: mutua_protocol::FixedBytes([0x42; 16]),
        version: 1,
        offer_author: owner_id.parse::<PublicKey>().unwrap(),
        offer: ListingId::from_hex(&offer).unwrap(),
        offer_version: 1,
        period: Period {
            start,
            end: start + 3,
        },
        quantity: 1,
        purpose: "Fête de la musique".into(),
        contact: Contact {
            role: "Secrétariat de mairie".into(),
            email: Some("mairie@commune-b.example".into()),
            phone: None,
            url: None,
        },
        created_at: now,
    };
    let sealed = seal(&borrower, &Payload::Request(request.clone())).unwrap();
    assert_eq!(sealed.bytes()[1], 2, "a format-2 envelope");
    let imported = b.ok(b.post("/v1/import", &json!({ "records": [hex(sealed.bytes())] })));
    assert_eq!(imported["accepted"], 1, "{imported}");
    wait_for("the request to reach the owner's node", || {
        exported(&a).contains(&hex(sealed.bytes())).then_some(())
    });

    let owner = secret(&home_a, "mairie-a");
    let decision = decision_for(&request, *sealed.hash(), accepted([7; 32]), now, now);
    let decided = seal(&owner, &Payload::Decision(decision)).unwrap();
    let imported = a.ok(a.post("/v1/import", &json!({ "records": [hex(decided.bytes())] })));
    assert_eq!(imported["accepted"], 1, "{imported}");
    wait_for("the decision to reach the borrower's node", || {
        exported(&b).contains(&hex(decided.bytes())).then_some(())
    });
    wait_for("both replicas to hold the same records", || {
        (a.digest() == b.digest()).then_some(())
    });
}
