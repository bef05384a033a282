//! Local rules of this node's own listings, end to end: the real `mutua`
//! binary against a real node process.

mod support;

use support::founded::{publish, publishing_node};
use support::ids;

#[test]
fn withdraw_and_update_refuse_the_other_side_and_say_which_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let node = publishing_node(&tmp.path().join("a"));
    let offer = publish(&node, "offer", "Broyeur de végétaux", &[])
        .ok()
        .json();
    let id = offer[0]["id"].as_str().unwrap().to_owned();

    let refused = node.run(&["need", "withdraw", &id]);
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&["this listing is an offer, not a need", "rule: wrong_side"]);
    let refused = node.run(&["need", "update", &id, "--title", "Broyeur"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&["this listing is an offer, not a need"]);
    // Nothing changed: still the first version, still live.
    let listed = node.run(&["--json", "search", "--offers"]).ok().json();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["version"], 1);

    node.run(&["offer", "withdraw", &id]).ok();
    assert!(ids(&node.run(&["--json", "search"]).ok()).is_empty());
}

/// Signs an offer as the node's `bordeaux` publisher without the node's
/// local rules (as another node's older version might) and hands it to the
/// node as a received record (`POST /v1/import`).
fn receive_offer_titled(dir: &std::path::Path, title: &str) {
    let key_text = std::fs::read_to_string(dir.join("keys/publishers/bordeaux.key")).unwrap();
    let key = mutua_protocol::SecretKey::from_file_string(&key_text).unwrap();
    let content: mutua_api::ListingContent = serde_json::from_value(serde_json::json!({
        "side": "offer", "kind": "equipment", "title": title,
        "location": { "insee": "33063" },
        "terms": { "pricing": "free", "convention_required": false },
        "contact": { "role": "Services techniques", "email": "st@mairie.example" }
    }))
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (side, listing) = content.into_listing(
        key.public(),
        mutua_protocol::FixedBytes([9; 16]),
        1,
        now,
        now + 30 * 86_400,
    );
    let record = mutua_protocol::seal(&key, &side.payload(listing)).unwrap();
    let addr = std::fs::read_to_string(dir.join("api.addr")).unwrap();
    let token = std::fs::read_to_string(dir.join("api.token")).unwrap();
    let body = serde_json::json!({ "records": [mutua_protocol::hex(record.bytes())] });
    let mut answer = ureq::post(format!("http://{}/v1/import", addr.trim()))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .send_json(&body)
        .unwrap();
    let report: serde_json::Value = answer.body_mut().read_json().unwrap();
    assert_eq!(report["accepted"], 1, "{report}");
}

#[test]
fn hidden_characters_are_refused_when_publishing_and_shown_when_received() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let node = publishing_node(&dir);
    let refused = publish(&node, "offer", "Broyeur \u{202E}ruoyorb", &[]);
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&[
        "U+202E RIGHT-TO-LEFT OVERRIDE",
        "rule: hidden_character, field: offer.title",
    ]);
    let refused = publish(&node, "offer", "Broyeur", &["--tag", "bro\u{200B}yeur"]);
    refused.assert_stderr_has(&["field: offer.tags[0]"]);
    publish(&node, "offer", "Broyeur 🌿 partagé 👩\u{200D}🌾", &[]).ok();

    // A record received as signed is stored as signed, and every table and
    // text shows what hides in it.
    receive_offer_titled(&dir, "Nacelle \u{202E}21 m");
    let json = node.run(&["--json", "search", "nacelle"]).ok().json();
    assert_eq!(json[0]["title"], "Nacelle \u{202E}21 m");
    let table = node.run(&["search"]).ok().stdout;
    assert!(table.contains("Nacelle <U+202E>21 m"), "{table}");
    assert!(table.contains("Broyeur 🌿 partagé 👩\u{200D}🌾"), "{table}");
    assert!(!table.contains('\u{202E}'), "{table}");
    let shown = node.run(&["show", "09090909"]).ok().stdout;
    assert!(
        shown.contains("Nacelle <U+202E>21 m") && !shown.contains('\u{202E}'),
        "{shown}"
    );
}

#[test]
fn availability_windows_that_cannot_be_used_are_refused_with_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let node = publishing_node(&tmp.path().join("a"));
    let refused = publish(
        &node,
        "offer",
        "Nacelle",
        &["--available", "2020-01-01..2020-02-01"],
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&["rule: window_in_past", "availability window 1 ended"]);
    // The default lifetime is 90 days: a window a year away starts after it.
    let later = "2099-01-01..2099-02-01";
    let refused = publish(&node, "offer", "Nacelle", &["--available", later]);
    refused.assert_stderr_has(&["rule: window_after_expiry", "--expires-in-days"]);
    assert!(support::ids(&node.run(&["--json", "search"]).ok()).is_empty());
}

#[test]
fn a_contact_url_is_published_kept_by_updates_and_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let node = publishing_node(&tmp.path().join("a"));
    let url = "https://mairie.example/reserver";
    let published = publish(&node, "offer", "Podium", &["--contact-url", url])
        .ok()
        .json();
    assert_eq!(published[0]["contact"]["url"], url);
    let id = published[0]["id"].as_str().unwrap().to_owned();
    let updated = node
        .run(&["--json", "offer", "update", &id, "--title", "Podium 6 m"])
        .ok()
        .json();
    assert_eq!(updated[0]["contact"]["url"], url, "{updated:?}");
    let shown = node.run(&["show", &id]).ok().stdout;
    assert!(shown.contains(url), "{shown}");
    let refused = publish(
        &node,
        "offer",
        "Podium",
        &["--contact-url", "mairie.example"],
    );
    refused.assert_stderr_has(&["url_syntax", "--contact-url"]);
}
