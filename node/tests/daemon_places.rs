//! Reference data between real `mutua-node` processes: codes the reference
//! data does not know are refused in what a node's own publishers sign, but
//! a record carrying one, received from a peer, is stored and found by it;
//! radius searches place listings without a point at their commune, and
//! `near` takes a code, a postal code, a name or a point.

mod daemon_support;

use daemon_support::{admission, offer, unix_now as now, wait_for, Home, Node};
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{fixtures, seal, Payload, Window};
use serde_json::{json, Value};

/// The error body's `(status, code, field)`.
fn refusal((status, body): (u16, Value)) -> (u16, String, String) {
    let e = &body["error"];
    (
        status,
        e["code"].as_str().unwrap_or("").to_owned(),
        e["field"].as_str().unwrap_or("").to_owned(),
    )
}

/// An offer by fixture key 7 located in 33999, a code no commune has in the
/// 2026 reference data (say a commune created later), signed in the test as
/// another node's software would have.
fn offer_in_unknown_commune() -> Vec<u8> {
    let author = fixtures::key(7);
    let now = now();
    let mut listing = fixtures::listing(&author, 1, 1);
    listing.title = "Tondeuse d'une commune nouvelle".into();
    listing.location.insee = "33999".into();
    listing.location.point = None;
    listing.area.epcis = vec!["123456782".into()];
    listing.published_at = now - 60;
    listing.expires_at = now + 90 * DAY_SECS;
    listing.availability = vec![Window {
        from: now,
        until: now + 30 * DAY_SECS,
    }];
    seal(&author, &Payload::Offer(listing))
        .unwrap()
        .bytes()
        .to_vec()
}

#[test]
fn unknown_codes_are_refused_locally_and_stored_from_peers() {
    let home_a = Home::init(&["--new-anchor", "--publisher", "mairie-a"]);
    let anchor = home_a.anchor_id();
    let home_b = Home::init(&["--trust", &anchor, "--publisher", "mairie-b"]);
    // B learns what A imported by periodic anti-entropy sync.
    home_b.set_sync_interval(2);
    let ([a, b], _) = Node::start_star([&home_a, &home_b]);
    let author_a = home_a.publisher_id("mairie-a");
    a.ok(a.post("/v1/certificates", &admission(&author_a)));

    // Published locally: an unknown commune, EPCI or département is refused,
    // naming the rule and the field.
    let mut unknown = offer("Broyeur");
    unknown["location"] = json!({ "insee": "33999" });
    assert_eq!(
        refusal(a.post("/v1/listings", &unknown)),
        (422, "unknown_commune".into(), "offer.location.insee".into())
    );
    let published = a.ok(a.post("/v1/listings", &offer("Broyeur de végétaux")));
    let id = published["record"]["id"].as_str().unwrap().to_owned();
    assert_eq!(published["warnings"], json!([]));
    let mut bad_area = offer("Broyeur de végétaux");
    bad_area["area"] = json!({ "epcis": ["123456782"] });
    assert_eq!(
        refusal(a.put(&format!("/v1/listings/{id}"), &bad_area)),
        (422, "unknown_epci".into(), "offer.area.epcis[0]".into())
    );

    // A point in Paris for a Bordeaux offer is published, with a warning.
    let mut far = offer("Nacelle");
    far["location"]["point"] = json!({ "lat_e6": 48856600, "lon_e6": 2352200 });
    let far = a.ok(a.post("/v1/listings", &far));
    let warning = &far["warnings"][0];
    assert_eq!(warning["code"], "far_from_commune");
    assert_eq!(warning["field"], "offer.location.point");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("497 km from Bordeaux (33063)"),
        "{warning}"
    );

    // A record with unknown codes, by a member admitted by the anchor, comes
    // into A as an import of signed envelopes (the protocol's rules only)…
    let author = fixtures::key(7).public().to_string();
    a.ok(a.post("/v1/certificates", &admission(&author)));
    let imported = a.ok(a.post(
        "/v1/import",
        &json!({ "records": [mutua_protocol::hex(&offer_in_unknown_commune())] }),
    ));
    assert_eq!(imported["accepted"], 1, "{imported}");
    // … and reaches B from its peer A by sync: stored, and found by its codes.
    let found = wait_for("B to sync the offer located in 33999", || {
        let items = b.items("?insee=33999");
        (!items.is_empty()).then_some(items)
    });
    assert_eq!(
        found[0].listing.content.title,
        "Tondeuse d'une commune nouvelle"
    );
    assert_eq!(
        serde_json::to_value(&found[0].listing.content.location).unwrap(),
        json!({ "insee": "33999" })
    );
    assert_eq!(b.items("?epci=123456782").len(), 1);
    // A malformed code is still refused, naming the parameter.
    assert_eq!(
        refusal(b.get("/v1/records?insee=3399")),
        (400, "invalid_parameter".into(), "insee".into())
    );
}

#[test]
fn near_takes_codes_postal_codes_names_and_points() {
    let home = Home::init(&["--new-anchor", "--publisher", "mairie-a"]);
    let a = Node::start(&home, &[]);
    a.ok(a.post(
        "/v1/certificates",
        &admission(&home.publisher_id("mairie-a")),
    ));
    // Published without a point: placed at Bordeaux's reference point.
    let mut body = offer("Broyeur de végétaux");
    body["location"] = json!({ "insee": "33063" });
    let id = a.ok(a.post("/v1/listings", &body))["record"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for near in ["33063", "33000", "Bordeaux", "bordeaux", "44.84,-0.58"] {
        let answer = a.ok(a.get(&format!(
            "/v1/records?text=broyeur&near={}&radius_km=30",
            near.replace(',', "%2C")
        )));
        let items = answer["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "near {near}: {answer}");
        assert_eq!(items[0]["id"], id.as_str());
        assert!(items[0]["distance_km"].as_f64().unwrap() < 5.0, "{answer}");
        assert_eq!(
            items[0]["location"],
            json!({ "insee": "33063" }),
            "unchanged"
        );
        if near.contains(',') {
            assert!(answer["near"].get("insee").is_none(), "{answer}");
        } else {
            assert_eq!(answer["near"]["name"], "Bordeaux", "{answer}");
        }
    }
    let (status, body) = a.get("/v1/records?near=Saint-Denis");
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "ambiguous_place");
    assert_eq!(body["error"]["field"], "near");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Saint-Denis (93066) in Seine-Saint-Denis (93)")
            && message.contains("in La Réunion (974)"),
        "{message}"
    );
    let (_, body) = a.get("/v1/records?near=Saint-Denis%20(974)");
    assert!(body["items"].is_array(), "{body}");
    assert_eq!(
        refusal(a.get("/v1/records?near=98735")),
        (400, "no_coordinates".into(), "near".into())
    );
    assert_eq!(
        refusal(a.get("/v1/records?near=33999")),
        (400, "unknown_place".into(), "near".into())
    );
}
