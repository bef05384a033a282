//! Every type reads a real answer of the node (captured from a running
//! `mutua-node` before the server was moved onto these types, in
//! `tests/examples/`) and writes it back as the same JSON value: the types
//! are the wire format, field for field.

use mutua_api::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn example(name: &str) -> Value {
    let path = format!("{}/tests/examples/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `name` read as `T`, after checking that `T` writes it back unchanged.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str) -> T {
    let sent = example(name);
    let typed: T = serde_json::from_value(sent.clone())
        .unwrap_or_else(|e| panic!("{name} does not read as its type: {e}"));
    let written = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        written, sent,
        "{name} is not written back as the node sent it"
    );
    let again: T = serde_json::from_value(written).unwrap();
    assert_eq!(again, typed);
    typed
}

#[test]
fn node_answers() {
    assert_eq!(round_trip::<Health>("health"), Health::ok());
    let status: Status = round_trip("status");
    assert_eq!(status.federation, "gironde");
    assert_eq!(status.anchor_key.as_ref(), status.anchors.first());
    assert_eq!(status.publishers[0].membership, "member");
    let status_b: Status = round_trip("status_b");
    assert_eq!(status_b.anchor_key, None);
    assert_eq!(status_b.publishers[0].membership, "revoked");
    assert_eq!(status_b.sync.last[0].outcome, "ok");
    assert_eq!(status_b.sync.last[0].tally.records_applied, 3);
    let peers: Peers = round_trip("peers");
    assert!(peers.peers[0].in_mesh);
}

#[test]
fn record_answers() {
    let Record::Offer(offer) = round_trip::<Record>("record") else {
        panic!("an offer")
    };
    assert_eq!(offer.content.side, Side::Offer);
    assert_eq!(offer.content.title, "Broyeur de végétaux");
    assert!(matches!(
        round_trip::<Record>("certificate"),
        Record::Certificate(_)
    ));
    let near: RecordsPage = round_trip("records_near");
    assert!(near.items[0].distance_km.is_some());
    assert_eq!(
        near.near.as_ref().unwrap().name.as_deref(),
        Some("Bordeaux")
    );
    let page: RecordsPage = round_trip("records_page");
    assert!(page.near.is_none() && page.items[0].distance_km.is_none());
    assert!(!round_trip::<Export>("export").records.is_empty());
}

#[test]
fn publication_answers() {
    let published: Published = round_trip("publish");
    assert!(matches!(published.record, Record::Offer(_)));
    assert!(matches!(
        round_trip::<Published>("update").record,
        Record::Offer(ref l) if l.version == 2
    ));
    assert!(matches!(
        round_trip::<Published>("withdraw").record,
        Record::Withdrawal(_)
    ));
    assert!(matches!(
        round_trip::<Published>("issue").record,
        Record::Certificate(_)
    ));
    let revoked: Published = round_trip("revoke");
    assert!(matches!(revoked.record, Record::Revocation(_)));
    assert!(matches!(
        revoked.gossip,
        Gossip::Report(PublishReport {
            delivery: Delivery::Sent { peers: 1 },
            ..
        })
    ));
}

#[test]
fn import_answers() {
    let imported: ImportedListing = round_trip("import_listing");
    assert_eq!(imported.outcome, ImportOutcome::Published);
    assert!(imported.record.is_some() && imported.gossip.is_some());
    let dry: ImportedListing = round_trip("import_listing_dry");
    assert!(dry.dry_run && dry.record.is_none());
    let unchanged: ImportedListing = round_trip("import_listing_unchanged");
    assert_eq!(unchanged.outcome, ImportOutcome::Unchanged);
    let report: ImportReport = round_trip("import");
    assert_eq!(report.errors[0].code, "invalid_hex");
}

#[test]
fn federation_answers() {
    let members: Members = round_trip("members");
    assert!(members.members.iter().any(|m| m.revoked));
    let reloaded: PublishersReloaded = round_trip("reload");
    assert_eq!(reloaded.publishers[0].name, "mairie-a");
}

#[test]
fn error_answers() {
    let body: ErrorBody = round_trip("error_body");
    assert_eq!(body.error.code, "invalid_body");
    assert_eq!(body.error.field, None);
    let rule: ErrorBody = round_trip("error_rule");
    assert_eq!(rule.error.field.as_deref(), Some("offer.title"));
    let param: ErrorBody = round_trip("error_param");
    assert_eq!(param.error.field.as_deref(), Some("side"));
}
