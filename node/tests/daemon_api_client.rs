//! The typed client of `mutua-api` against a real `mutua-node` process:
//! every route, through the types the server builds its answers from.

mod daemon_support;

use daemon_support::{offer, Home, Node};
use mutua_api::{
    Client, ClientError, Delivery, Gossip, ImportOutcome, ImportRequest, ImportRow, IssueRequest,
    ListingContent, Record, RecordsQuery, RevokeRequest, Side, WithdrawParams,
};
use mutua_protocol::rules::MAX_CLOCK_SKEW_SECS;
use mutua_protocol::{BodyKind, RevocationReason};

fn client(home: &Home, node: &Node) -> Client {
    let token = std::fs::read_to_string(home.dir.join("api.token")).unwrap();
    Client::new(node.api.clone(), &token)
}

fn content(title: &str) -> ListingContent {
    serde_json::from_value(offer(title)).unwrap()
}

#[test]
fn every_route_answers_its_type() {
    let home = Home::init(&[
        "--new-anchor",
        "--publisher",
        "mairie-a",
        "--publisher",
        "sivom",
    ]);
    let node = Node::start(&home, &[]);
    let api = client(&home, &node);

    assert_eq!(api.health().unwrap(), mutua_api::Health::ok());
    let status = api.status().unwrap();
    assert_eq!(status.federation, "e2e");
    assert_eq!(status.anchor_key.as_ref(), status.anchors.first());
    assert_eq!(status.publishers.len(), 2);
    assert!(status
        .publishers
        .iter()
        .all(|p| p.membership == "not_a_member"));
    assert!(api.peers().unwrap().peers.is_empty());

    // Two hosted publishers: naming none is refused, with its code and field.
    let refused = api
        .publish(None, &content("Broyeur de végétaux"))
        .unwrap_err();
    assert_eq!(refused.code(), Some("publisher_required"));
    assert_eq!(refused.refusal().unwrap().field.as_deref(), Some("as"));

    let mairie = status
        .publishers
        .iter()
        .find(|p| p.name == "mairie-a")
        .unwrap();
    let issued = api
        .issue(&IssueRequest {
            issuer: None,
            subject: mairie.key,
            siren: "213300635".into(),
            name: "Bordeaux".into(),
            body: BodyKind::Commune,
            insee: Some("33063".into()),
            may_admit: false,
            valid_from: None,
            valid_until: None,
        })
        .unwrap();
    let Record::Certificate(certificate) = &issued.record else {
        panic!("a certificate: {issued:?}")
    };
    assert_eq!(certificate.subject, mairie.key);
    assert_eq!(
        certificate.valid_from,
        certificate.issued_at - MAX_CLOCK_SKEW_SECS,
        "valid already for nodes whose clocks are behind the issuer's"
    );
    assert!(matches!(
        issued.gossip,
        Gossip::Report(ref r) if r.delivery == Delivery::NoPeers
    ));
    assert!(home.dir.join("keys/publishers/mairie-a.cert").exists());
    assert_eq!(
        api.certificate(&certificate.hash).unwrap(),
        Some(issued.record.clone())
    );
    let members = api.members().unwrap().members;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].membership, "member");

    // Publish, read, search, update.
    let published = api
        .publish(Some("mairie-a"), &content("Broyeur de végétaux"))
        .unwrap();
    let listing = published.record.listing().unwrap().clone();
    assert_eq!(listing.version, 1);
    assert_eq!(
        api.record(&listing.author, &listing.id).unwrap(),
        Some(published.record.clone())
    );
    let page = api
        .search(&RecordsQuery {
            text: Some("broyeur".into()),
            near: Some("Bordeaux".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].listing, listing);
    assert!(page.items[0].distance_km.is_some());
    assert_eq!(page.near.unwrap().insee.as_deref(), Some("33063"));
    let bad = api
        .search(&RecordsQuery {
            side: Some("both ways".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(bad, ClientError::Refused { status: 400, .. }));
    assert_eq!(bad.refusal().unwrap().field.as_deref(), Some("side"));
    let updated = api
        .update(None, &listing.id, &content("Broyeur de végétaux thermique"))
        .unwrap();
    assert_eq!(updated.record.listing().unwrap().version, 2);

    // A row imported twice: published, then unchanged; a dry run signs nothing.
    let row = ImportRow {
        id: None,
        listing: content("Nacelle élévatrice"),
        dry_run: true,
    };
    let dry = api.import_listing(Some("mairie-a"), &row).unwrap();
    assert_eq!((dry.outcome, dry.record), (ImportOutcome::Published, None));
    let row = ImportRow {
        dry_run: false,
        ..row
    };
    let imported = api.import_listing(Some("mairie-a"), &row).unwrap();
    assert_eq!(imported.outcome, ImportOutcome::Published);
    assert_eq!(imported.id, dry.id);
    assert!(imported.record.is_some());
    let again = api.import_listing(Some("mairie-a"), &row).unwrap();
    assert_eq!(again.outcome, ImportOutcome::Unchanged);

    // Withdraw: the wrong side is refused, the right one signs a tombstone.
    let wrong = api
        .withdraw(
            &listing.id,
            &WithdrawParams {
                publisher: None,
                side: Some(Side::Need),
            },
        )
        .unwrap_err();
    assert!(matches!(wrong, ClientError::Refused { status: 409, .. }));
    assert_eq!(wrong.code(), Some("wrong_side"));
    let withdrawn = api
        .withdraw(
            &listing.id,
            &WithdrawParams {
                publisher: Some("mairie-a".into()),
                side: Some(Side::Offer),
            },
        )
        .unwrap();
    assert!(matches!(withdrawn.record, Record::Withdrawal(_)));

    // Export, then import the same records: every one already stored.
    let export = api.export().unwrap();
    assert_eq!(export.records.len(), 3);
    let report = api
        .import(&ImportRequest {
            records: export.records.clone(),
        })
        .unwrap();
    assert_eq!((report.accepted, report.rejected), (0, 0));
    assert_eq!(report.ignored.get("ignored_duplicate"), Some(&3));

    // Revoke the certificate: the publisher is no member any more.
    let revoked = api
        .revoke(
            &certificate.hash,
            &RevokeRequest {
                issuer: None,
                reason: RevocationReason::Superseded,
            },
        )
        .unwrap();
    assert!(
        matches!(revoked.record, Record::Revocation(ref r) if r.certificate == certificate.hash)
    );
    let status = api.status().unwrap();
    let mairie = status
        .publishers
        .iter()
        .find(|p| p.name == "mairie-a")
        .unwrap();
    assert_eq!(mairie.membership, "revoked");
    assert_eq!(status.store.revocations, 1);

    let reloaded = api.reload_publishers().unwrap();
    assert_eq!(reloaded.publishers.len(), 2);
    let metrics = api.metrics().unwrap();
    assert!(metrics.contains("mutua_ingest_records_total"), "{metrics}");

    // A wrong token: refused, typed.
    let intruder = Client::new(node.api.clone(), "wrong");
    assert_eq!(intruder.status().unwrap_err().code(), Some("unauthorized"));
    assert!(node.stop().success());
    assert!(matches!(api.health(), Err(ClientError::Unreachable { .. })));
}
