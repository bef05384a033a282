//! End to end over real `mutua-node` processes: a three-node federation on
//! loopback, driven only through the control API and signals. Each node has
//! a temporary data directory, OS-chosen loopback ports and mDNS off, and
//! bootstraps to the first; the federation is founded with a fresh anchor
//! key. Covered: publish → update → withdraw seen everywhere and kept
//! across restarts; the token and precise refusals of bad input; a
//! non-loopback API address only by explicit configuration (environment and
//! flags over the file); keys others can read refused at start; an export
//! imported into a fresh node, bad envelopes reported by index.

mod daemon_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use daemon_support::{admission, offer, run_to_end, wait_for, Home, Node};
use serde_json::Value;

/// The listing `id` as node `node` sees it: `Some(record)` while any record
/// (offer or withdrawal) is in its slot.
fn slot(node: &Node, author: &str, id: &str) -> Option<Value> {
    let (status, body) = node.get(&format!("/v1/records/{author}/{id}"));
    (status == 200).then_some(body)
}

#[test]
fn an_offer_published_on_one_node_is_updated_withdrawn_and_survives_restarts_everywhere() {
    // A federation founded on A (anchor key); B and C trust A's anchor.
    let home_a = Home::init(&["--new-anchor", "--publisher", "mairie-a"]);
    let anchor = home_a.anchor_id();
    let home_b = Home::init(&["--trust", &anchor, "--publisher", "mairie-b"]);
    let home_c = Home::init(&["--trust", &anchor, "--publisher", "mairie-c"]);
    let ([a, b, c], a_addr) = Node::start_star([&home_a, &home_b, &home_c]);

    // Admit the three hosted collectivities from A; every node learns it.
    let publisher_a = home_a.publisher_id("mairie-a");
    for key in [
        publisher_a.clone(),
        home_b.publisher_id("mairie-b"),
        home_c.publisher_id("mairie-c"),
    ] {
        let issued = a.ok(a.post("/v1/certificates", &admission(&key)));
        assert_eq!(issued["record"]["type"], "certificate");
        assert_eq!(issued["record"]["subject"], key.as_str());
    }
    assert!(home_a.dir.join("keys/publishers/mairie-a.cert").exists());
    for node in [&a, &b, &c] {
        node.wait_for_member(&publisher_a);
    }

    // Publish on A: it appears on B and C through their own APIs.
    let published = a.ok(a.post("/v1/listings?as=mairie-a", &offer("Broyeur de végétaux")));
    let record = &published["record"];
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(record["author"], publisher_a.as_str());
    assert_eq!(record["version"], 1);
    for node in [&b, &c] {
        let items = wait_for("the offer to reach every node", || {
            let items = node.items("?text=broyeur&side=offer&departement=33");
            (!items.is_empty()).then_some(items)
        });
        assert_eq!(items.len(), 1);
        let hit = &items[0].listing;
        assert_eq!(hit.id.to_hex(), id);
        assert_eq!(hit.hash.to_hex(), record["hash"].as_str().unwrap());
        assert_eq!(hit.content.title, "Broyeur de végétaux");
    }

    // An update replaces it everywhere (version 2, new title).
    let updated = a.ok(a.put(&format!("/v1/listings/{id}"), &offer("Broyeur de branches")));
    assert_eq!(updated["record"]["version"], 2);
    for node in [&a, &b, &c] {
        wait_for("the update to replace the offer", || {
            let items = node.items("?text=broyeur");
            (items.len() == 1
                && items[0].listing.version == 2
                && items[0].listing.content.title == "Broyeur de branches")
                .then_some(())
        });
    }

    // Restart B: same keys and data, and it rejoins the federation.
    let b_peer = b.peer_id();
    assert!(b.stop().success(), "a SIGTERM stop exits 0");
    assert!(
        !home_b.dir.join("api.addr").exists(),
        "api.addr removed at clean shutdown"
    );
    let b = Node::start(&home_b, std::slice::from_ref(&a_addr));
    assert_eq!(b.peer_id(), b_peer);
    let restarted = b.status();
    assert_eq!(
        restarted.publishers[0].key.to_string(),
        home_b.publisher_id("mairie-b")
    );
    assert_eq!(restarted.publishers[0].membership, "member");
    assert_eq!(
        b.items("?text=broyeur")[0].listing.version,
        2,
        "data kept across restart"
    );
    wait_for("B to rejoin A", || {
        let peers = a.ok(a.get("/v1/peers"));
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == b_peer.as_str() && p["subscribed"] == true)
            .then_some(())
    });

    // A withdrawal purges the offer on all three, the restarted one included.
    let withdrawn = a.ok(a.delete(&format!("/v1/listings/{id}")));
    assert_eq!(withdrawn["record"]["type"], "withdrawal");
    assert_eq!(withdrawn["record"]["version"], 3);
    for node in [&a, &b, &c] {
        wait_for("the withdrawal to purge the offer", || {
            let tombstone = slot(node, &publisher_a, &id)?;
            (tombstone["type"] == "withdrawal" && node.items("?text=broyeur").is_empty())
                .then_some(())
        });
    }
    // Updating a withdrawn listing is refused with a stable code.
    let (status, body) = a.put(&format!("/v1/listings/{id}"), &offer("Broyeur"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("withdrawn"))
    );

    for node in [a, b, c] {
        assert!(node.stop().success());
    }
}

#[test]
fn the_api_refuses_requests_without_the_token_and_reports_bad_input_precisely() {
    let home = Home::init(&["--new-anchor", "--publisher", "mairie"]);
    let node = Node::start(&home, &[]);
    let token_path = home.dir.join("api.token");
    assert_eq!(
        fs::metadata(&token_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    for auth in [None, Some("Bearer wrong"), Some("Basic abc")] {
        for path in ["/v1/status", "/v1/records", "/metrics"] {
            let (status, body) = node.get_with_auth(path, auth);
            assert_eq!(status, 401, "{path} with {auth:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    // Health says only that the node is up.
    let (status, body) = node.get_with_auth("/v1/health", None);
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
    // The token from the file opens the API; it changes at every start.
    node.ok(node.get("/v1/status"));
    let first_token = fs::read_to_string(&token_path).unwrap();

    // Bad input: the field and the rule are named, and nothing is stored.
    let (status, body) = node.post("/v1/listings", &offer("x"));
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "too_short");
    assert_eq!(body["error"]["field"], "offer.title");
    let mut typo = offer("Nacelle élévatrice");
    typo["titel"] = "x".into();
    let (status, body) = node.post("/v1/listings", &typo);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("titel"));
    // Not yet admitted: refused by membership, with its code.
    let (status, body) = node.post("/v1/listings", &offer("Nacelle élévatrice"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("not_a_member"))
    );
    let (status, body) = node.get("/v1/records?kind=boat");
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("kind"))
    );
    assert_eq!(node.status().store.total, 0);
    // Metrics count the refusal by reason.
    let (status, metrics) = node.get("/metrics");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(r#"mutua_ingest_records_total{source="local",outcome="ignored",reason="not_a_member"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("mutua_network_connected_peers"),
        "{metrics}"
    );

    assert!(node.stop().success());
    let node = Node::start(&home, &[]);
    assert_ne!(fs::read_to_string(&token_path).unwrap(), first_token);
    let (status, _) = node.get_with_auth(
        "/v1/status",
        Some(&format!("Bearer {}", first_token.trim())),
    );
    assert_eq!(status, 401, "the previous run's token is dead");
}

#[test]
fn a_non_loopback_api_address_needs_explicit_configuration_with_env_and_flags_over_the_file() {
    let home = Home::init(&["--new-anchor"]);
    let dir = home.dir.to_str().unwrap();
    let base = [
        "--data-dir",
        dir,
        "run",
        "--mdns",
        "false",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ];

    // From the file: refused, naming the key and the way out.
    let config = home.dir.join("config.toml");
    let mut text = fs::read_to_string(&config).unwrap();
    text = text.replace("[api]\n", "[api]\nlisten = \"0.0.0.0:0\"\n");
    fs::write(&config, &text).unwrap();
    let (status, out) = run_to_end(&base, &[]);
    assert!(!status.success());
    assert!(
        out.contains("api.listen") && out.contains("allow_remote"),
        "{out}"
    );

    // The environment overrides the file…
    let loopback = [("MUTUA_API_LISTEN", "127.0.0.1:0")];
    let node = Node::start_with(
        &home,
        &base[3..].iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &loopback,
    );
    assert!(node.stop().success());
    // …and a flag overrides the environment.
    let mut with_flag = base.to_vec();
    with_flag.extend(["--api-listen", "0.0.0.0:0"]);
    let (status, out) = run_to_end(&with_flag, &loopback);
    assert!(!status.success() && out.contains("allow_remote"), "{out}");

    // Explicitly allowed: it binds all interfaces.
    let allowed = [("MUTUA_API_ALLOW_REMOTE", "true")];
    let node = Node::start_with(
        &home,
        &base[3..].iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &allowed,
    );
    let addr = fs::read_to_string(home.dir.join("api.addr")).unwrap();
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    node.ok(node.get("/v1/status"));
    assert!(node.stop().success());

    // A typo in the file is an error naming the key.
    fs::write(
        &config,
        text.replace("[api]\n", "[api]\nallow_remot = true\n"),
    )
    .unwrap();
    let (status, out) = run_to_end(&base, &[]);
    assert!(!status.success() && out.contains("allow_remot"), "{out}");
}

#[test]
fn the_node_refuses_to_start_on_keys_others_can_read() {
    let home = Home::init(&["--new-anchor", "--publisher", "sivom"]);
    let key = home.dir.join("keys/publishers/sivom.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let dir = home.dir.to_str().unwrap();
    let (status, out) = run_to_end(
        &["--data-dir", dir, "run", "--api-listen", "127.0.0.1:0"],
        &[],
    );
    assert!(!status.success());
    assert!(
        out.contains("sivom.key") && out.contains("chmod 600"),
        "{out}"
    );
    assert!(!home.dir.join("api.addr").exists());
}

#[test]
fn an_export_imports_into_a_fresh_node_and_bad_envelopes_are_reported_by_index() {
    let home_a = Home::init(&["--new-anchor", "--publisher", "mairie"]);
    let a = Node::start(&home_a, &[]);
    let publisher = home_a.publisher_id("mairie");
    a.ok(a.post("/v1/certificates", &admission(&publisher)));
    let published = a.ok(a.post("/v1/listings", &offer("Nacelle élévatrice")));
    let exported = a.ok(a.get("/v1/export"));
    let records = exported["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 2, "the certificate and the offer");

    // A node of the same federation, offline: the export is all it gets.
    let home_d = Home::init(&["--trust", &home_a.anchor_id()]);
    let d = Node::start(&home_d, &[]);
    let mut body = records.clone();
    body.push("zz".into());
    // Flip one bit of the signature's last byte: always a change, whatever the byte was.
    let mut tampered = records[1].as_str().unwrap().to_owned();
    let last = u8::from_str_radix(&tampered[tampered.len() - 2..], 16).unwrap();
    tampered.replace_range(tampered.len() - 2.., &format!("{:02x}", last ^ 1));
    body.push(tampered.into());
    let report = d.ok(d.post("/v1/import", &serde_json::json!({ "records": body })));
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["rejected"], 2, "{report}");
    assert_eq!(report["errors"][0]["index"], 2);
    assert_eq!(report["errors"][0]["code"], "invalid_hex");
    assert_eq!(report["errors"][1]["index"], 3);
    assert_eq!(report["errors"][1]["code"], "bad_signature");
    let items = d.items("?text=nacelle");
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].listing.hash.to_hex(),
        published["record"]["hash"].as_str().unwrap()
    );

    // Importing again changes nothing.
    let again = d.ok(d.post("/v1/import", &serde_json::json!({ "records": records })));
    assert_eq!(again["accepted"], 0);
    let ignored: u64 = again["ignored"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(ignored, 2, "{again}");
    assert!(
        again["ignored"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.contains("duplicate")),
        "{again}"
    );
    assert_eq!(d.status().store.total, 2);
}
