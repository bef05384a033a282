//! Local rules of this node's own listings, end to end: the real `mutua`
//! binary against a real node process.

mod support;

use support::founded::{publish, publishing_node};
use support::ids;

#[test]
fn withdraw_and_update_refuse_the_other_side_and_say_which_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let node = publishing_node(&tmp.path().join("a"));
    let offer = publish(&node, "offer", "Broyeur de végétaux", &[]).ok().json();
    let id = offer[0]["id"].as_str().unwrap().to_owned();

    let refused = node.run(&["need", "withdraw", &id]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("this listing is an offer, not a need")
            && refused.stderr.contains("rule: wrong_side"),
        "{}",
        refused.stderr
    );
    let refused = node.run(&["need", "update", &id, "--title", "Broyeur"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("this listing is an offer, not a need"),
        "{}",
        refused.stderr
    );
    // Nothing changed: still the first version, still live.
    let listed = node.run(&["--json", "search", "--offers"]).ok().json();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["version"], 1);

    node.run(&["offer", "withdraw", &id]).ok();
    assert!(ids(&node.run(&["--json", "search"]).ok()).is_empty());
}
