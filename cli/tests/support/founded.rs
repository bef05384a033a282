//! A one-node federation ready to publish: founded in a data directory,
//! its node running, its Bordeaux publisher admitted.

use std::path::Path;

use super::Node;

pub use super::found;

/// A founded federation's node, running, with `bordeaux` admitted.
pub fn publishing_node(dir: &Path) -> Node {
    found(dir);
    let node = Node::start(dir, None);
    node.run(super::ADMIT_BORDEAUX).ok();
    node
}

/// The flags of a valid offer, to extend.
pub const OFFER: &[&str] = &[
    "--kind",
    "equipment",
    "--insee",
    "33063",
    "--contact-role",
    "Services techniques",
    "--contact-email",
    "st@mairie.example",
];

/// Publishes `side` (`offer` or `need`) with `title` and extra flags;
/// returns the run (not asserted).
pub fn publish(node: &Node, side: &str, title: &str, extra: &[&str]) -> super::Run {
    let mut args = vec!["--json", side, "publish", "--title", title];
    args.extend_from_slice(OFFER);
    args.extend_from_slice(extra);
    node.run(&args)
}
