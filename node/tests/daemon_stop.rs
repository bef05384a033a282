//! A node stopped by SIGTERM closes its store with sled's snapshot written:
//! sled 0.34 writes one only when it opens, so without it the next start
//! replays (decompressing) the log of the whole run (BENCHMARKS.md, #16).

mod daemon_support;

use daemon_support::{admission, Home, Node};

/// The log position of sled's newest snapshot file in the node's store, if
/// any (sled writes none when it creates a store).
fn snapshot_lsn(home: &Home) -> Option<u64> {
    std::fs::read_dir(home.dir.join("store"))
        .expect("the node's store")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
}

#[test]
fn a_stopped_node_leaves_a_snapshot_covering_its_run() {
    let home = Home::init(&["--new-anchor", "--publisher", "mairie"]);
    let node = Node::start(&home, &[]);
    let at_start = snapshot_lsn(&home);
    node.ok(node.post("/v1/certificates", &admission(&home.publisher_id("mairie"))));
    node.publish_offer("Broyeur de végétaux");
    assert!(node.stop().success());
    let at_stop = snapshot_lsn(&home);
    assert!(
        at_stop > at_start,
        "the stop left sled's snapshot at {at_stop:?}, the start's was {at_start:?}"
    );
    // The next start still has the listing.
    let node = Node::start(&home, &[]);
    assert_eq!(node.items("?text=broyeur").len(), 1);
    assert!(node.stop().success());
}
