//! The lending routes between two real `mutua-node` processes: a borrower
//! on node B changes its pending request (`PUT /v1/requests/{id}`), the
//! owner's node A sees the new version, and A's staff decline it with an
//! explicit reason code, which B then shows; a decided request no longer
//! changes. Requests name their borrower; a hand-over's note is refused.

mod daemon_support;

use std::time::{SystemTime, UNIX_EPOCH};

use daemon_support::{wait_for, LendingPair, Node};
use mutua_protocol::lending::date::{format_date, utc_day};
use serde_json::{json, Value};

/// Request `id` as `node` lists it, once `ready` holds.
fn listed(node: &Node, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, || {
        let list = node.ok(node.get("/v1/requests"));
        list["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id && ready(r))
            .cloned()
    })
}

#[test]
fn a_pending_request_is_updated_then_declined_with_a_reason_code() {
    // The homes' temporary directories live as long as the nodes.
    let LendingPair {
        home_a: _home_a,
        home_b: _home_b,
        a,
        b,
        owner_id,
        ..
    } = LendingPair::start();
    // Without lending settings an offer is manual: its requests wait.
    let offer = a.publish_offer("Podium mobile");
    wait_for("the offer on B", || b.slot(&owner_id, &offer).map(|_| ()));

    let today = utc_day(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let body = |first: u32, last: u32, purpose: &str| {
        json!({
            "offer_author": owner_id,
            "offer": offer,
            "first_day": format_date(today + first),
            "last_day": format_date(today + last),
            "purpose": purpose,
            "contact": { "role": "Secrétariat de mairie", "email": "mairie@commune-b.example" },
        })
    };
    let sent = b.ok(b.post("/v1/requests", &body(10, 11, "Fête de la musique")));
    let id = sent["request"]["id"].as_str().unwrap().to_owned();
    assert_eq!(sent["request"]["version"], 1, "{sent}");

    // The borrower moves its request by a week while it is pending.
    let path = format!("/v1/requests/{id}");
    let updated = b.ok(b.put(&path, &body(17, 19, "Fête de la musique, reportée")));
    assert_eq!(updated["kind"], "request", "{updated}");
    let r = &updated["request"];
    assert_eq!(
        (r["version"].clone(), r["status"].clone()),
        (json!(2), json!("pending"))
    );
    assert_eq!(r["first_day"], format_date(today + 17));
    assert_eq!(r["last_day"], format_date(today + 19));
    let on_a = listed(&a, &id, "the second version on the owner's node", |r| {
        r["version"] == 2
    });
    assert_eq!(on_a["direction"], "incoming");
    assert_eq!(on_a["purpose"], "Fête de la musique, reportée");
    // The borrower's name, from its membership, on both nodes.
    let name = on_a["borrower_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!name.is_empty(), "{on_a}");
    assert_eq!(updated["request"]["borrower_name"], name.as_str());

    // A hand-over carries no note: refused naming it, not signed without it.
    let (status, refusal) = b.post(
        &format!("{path}/events"),
        &json!({ "event": "handed_over", "note": "Rayure sur le plateau" }),
    );
    assert_eq!(status, 400, "{refusal}");
    assert_eq!(refusal["error"]["field"], "note", "{refusal}");

    // The staff decline it with an explicit code and their words.
    let declined = a.ok(a.post(
        &format!("{path}/decline"),
        &json!({ "reason": "offer_changed", "text": "Le podium a été remplacé" }),
    ));
    assert_eq!(declined["request"]["status"], "declined", "{declined}");
    assert_eq!(declined["request"]["reason"], "offer_changed");
    let on_b = listed(&b, &id, "the refusal on the borrower's node", |r| {
        r["status"] == "declined"
    });
    assert_eq!(on_b["reason"], "offer_changed");
    assert_eq!(on_b["reason_text"], "Le podium a été remplacé");

    // Decided, it no longer changes.
    let (status, refusal) = b.put(&path, &body(24, 25, "Encore une fois"));
    assert_eq!(status, 409, "{refusal}");
    assert_eq!(refusal["error"]["code"], "already_decided", "{refusal}");
}
