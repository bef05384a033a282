//! Anti-entropy between real `mutua-node` processes: a node that was stopped
//! while others published, updated and withdrew records catches up after a
//! restart, and a new node with an empty store catches up from any peer.
//! Gossip cannot do either: it does not replay what a node missed.

mod daemon_support;

use daemon_support::{admission, offer, wait_for, Home, Node};
use mutua_tests::mutua_api::Record;

/// Short, so that periodic sessions happen during the test too.
const SYNC_INTERVAL_SECS: u64 = 2;

fn home(args: &[&str]) -> Home {
    let home = Home::init(args);
    home.set_sync_interval(SYNC_INTERVAL_SECS);
    home
}

/// Waits until every node reports the same store digest, and returns it.
fn wait_converged(nodes: &[&Node]) -> String {
    wait_for("every node to hold the same records", || {
        let digests: Vec<String> = nodes.iter().map(|n| n.digest()).collect();
        digests
            .iter()
            .all(|d| *d == digests[0])
            .then(|| digests[0].clone())
    })
}

/// Waits until `node` reports a finished sync session that applied records:
/// the replicas converge while the session's last round is applied, a moment
/// before the session reports itself done, so a status read at convergence
/// may still show it in progress.
fn assert_sync_applied(node: &Node) {
    wait_for("a sync session that applied records", || {
        let sync = node.status().sync;
        (sync.records_applied >= 1 && sync.sessions.get("ok") >= Some(&1)).then_some(())
    });
}

#[test]
fn a_restarted_node_and_a_new_node_catch_up_by_sync() {
    let home_a = home(&["--new-anchor", "--publisher", "mairie-a"]);
    let anchor = home_a.anchor_id();
    let home_b = home(&["--trust", &anchor, "--publisher", "mairie-b"]);
    let home_c = home(&["--trust", &anchor, "--publisher", "mairie-c"]);
    let ([a, b, c], a_addr) = Node::start_star([&home_a, &home_b, &home_c]);

    let author_a = home_a.publisher_id("mairie-a");
    a.ok(a.post("/v1/certificates", &admission(&author_a)));
    let kept = a.publish_offer("Broyeur de végétaux");
    wait_for("C to receive the first offer", || c.slot(&author_a, &kept));

    // C goes away; meanwhile A updates, publishes and withdraws, and B is
    // admitted and publishes.
    assert!(c.stop().success());
    a.ok(a.put(
        &format!("/v1/listings/{kept}"),
        &offer("Broyeur de branches"),
    ));
    let added = a.publish_offer("Nacelle élévatrice");
    let gone = a.publish_offer("Podium mobile");
    a.ok(a.delete(&format!("/v1/listings/{gone}")));
    let author_b = home_b.publisher_id("mairie-b");
    a.ok(a.post("/v1/certificates", &admission(&author_b)));
    b.wait_for_member(&author_b);
    let from_b = b.publish_offer("Barrières de chantier");
    let digest = wait_converged(&[&a, &b]);

    // C comes back: it catches up with what it missed.
    let c = Node::start(&home_c, std::slice::from_ref(&a_addr));
    assert_eq!(wait_converged(&[&a, &b, &c]), digest);
    let listing = |author: &str, id: &str| match c.slot(author, id) {
        Some(Record::Offer(listing)) => listing,
        other => panic!("not an offer: {other:?}"),
    };
    let updated = listing(&author_a, &kept);
    assert_eq!(
        (updated.version, updated.content.title.as_str()),
        (2, "Broyeur de branches")
    );
    assert_eq!(
        listing(&author_a, &added).content.title,
        "Nacelle élévatrice"
    );
    assert!(matches!(
        c.slot(&author_a, &gone),
        Some(Record::Withdrawal(_))
    ));
    assert!(
        c.items("?text=podium").is_empty(),
        "the withdrawn offer stays gone"
    );
    assert_eq!(listing(&author_b, &from_b).author.to_string(), author_b);
    assert_sync_applied(&c);

    // A new node with an empty store catches up from B alone.
    let home_d = home(&["--trust", &anchor]);
    let d = Node::start(&home_d, &[b.p2p_addr()]);
    assert_eq!(wait_converged(&[&b, &d]), digest);
    let total = a.status().store.total;
    assert_eq!(d.status().store.total, total);
    assert_sync_applied(&d);
    let (_, metrics) = d.get("/metrics");
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(r#"mutua_sync_sessions_total{outcome="ok"}"#),
        "{metrics}"
    );

    for node in [a, b, c, d] {
        assert!(node.stop().success());
    }
}
