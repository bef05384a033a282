//! Two groups of real `mutua-node` processes that cannot reach each other
//! (separate bootstrap peers, mDNS off: a partition made by configuration)
//! publish on both sides; once one node is restarted with a peer of the
//! other group as a bootstrap, every node converges to the same store digest.

mod daemon_support;

use daemon_support::{admission, wait_for, Home, Node};
use serde_json::{json, Value};

const SYNC_INTERVAL_SECS: u64 = 2;

fn home(args: &[&str]) -> Home {
    let home = Home::init(args);
    home.set_sync_interval(SYNC_INTERVAL_SECS);
    home
}

fn digests(nodes: &[&Node]) -> Vec<String> {
    nodes.iter().map(|n| n.digest()).collect()
}

fn has(node: &Node, author: &str, id: &str) -> bool {
    node.get(&format!("/v1/records/{author}/{id}")).0 == 200
}

#[test]
fn two_partitioned_groups_converge_once_they_can_reach_each_other() {
    let home_a = home(&["--new-anchor", "--publisher", "mairie-a"]);
    let anchor = home_a.anchor_id();
    let home_b = home(&["--trust", &anchor]);
    let home_c = home(&["--trust", &anchor, "--publisher", "mairie-c"]);
    let home_d = home(&["--trust", &anchor]);
    let author_a = home_a.publisher_id("mairie-a");
    let author_c = home_c.publisher_id("mairie-c");

    // Group 1: A and B.
    let ([a, b], a_addr) = Node::start_star([&home_a, &home_b]);
    // A admits both publishers; group 2 receives its certificate as a file
    // (an export imported by its operator), not over the network.
    a.ok(a.post("/v1/certificates", &admission(&author_a)));
    let certificate = a.ok(a.post("/v1/certificates", &admission(&author_c)));
    let certificate_hex = a.ok(a.get("/v1/export"))["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|hex| {
            let hash = certificate["record"]["hash"].as_str().unwrap();
            let bytes = mutua_protocol::unhex(hex.as_str().unwrap()).unwrap();
            mutua_protocol::hex(&mutua_protocol::codec::hash_envelope(&bytes).0) == hash
        })
        .cloned()
        .unwrap();

    // Group 2: C and D, bootstrapped on each other only.
    let ([c, d], c_addr) = Node::start_star([&home_c, &home_d]);
    c.ok(c.post("/v1/import", &json!({ "records": [certificate_hex] })));
    c.wait_for_member(&author_c);

    // Each side publishes; each group converges on its own, apart.
    let in_1 = a.publish_offer("Broyeur de végétaux");
    let withdrawn_1 = a.publish_offer("Podium mobile");
    a.ok(a.delete(&format!("/v1/listings/{withdrawn_1}")));
    let in_2 = c.publish_offer("Nacelle élévatrice");
    wait_for("each group to converge apart", || {
        let d1 = digests(&[&a, &b]);
        let d2 = digests(&[&c, &d]);
        (d1[0] == d1[1]
            && d2[0] == d2[1]
            && has(&b, &author_a, &withdrawn_1)
            && has(&d, &author_c, &in_2))
        .then_some(())
    });
    assert_ne!(a.digest(), c.digest(), "the groups are apart");
    assert!(!has(&c, &author_a, &in_1) && !has(&a, &author_c, &in_2));
    let peers: Value = a.ok(a.get("/v1/peers"));
    let c_peer = c.peer_id();
    assert!(
        !peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == c_peer.as_str()),
        "no link across the partition: {peers}"
    );

    // Heal: D comes back with a bootstrap peer in group 1 too.
    assert!(d.stop().success());
    let d = Node::start(&home_d, &[c_addr, a_addr]);
    let digest = wait_for("all four nodes to converge", || {
        let all = digests(&[&a, &b, &c, &d]);
        all.iter().all(|x| *x == all[0]).then(|| all[0].clone())
    });
    for node in [&a, &b, &c, &d] {
        assert!(has(node, &author_a, &in_1) && has(node, &author_c, &in_2));
        assert!(
            node.items("?text=podium").is_empty(),
            "the withdrawal holds"
        );
        assert_eq!(node.digest(), digest);
    }
    // Records received by sync are not gossiped again: B and C reach the
    // other group's records through sync sessions, their own periodic ones
    // included (which one delivered first depends on who dialled whom).
    for node in [&b, &c] {
        wait_for("a completed sync session of its own", || {
            (node.status().sync.sessions.get("ok") >= Some(&1)).then_some(())
        });
    }

    for node in [a, b, c, d] {
        assert!(node.stop().success());
    }
}
