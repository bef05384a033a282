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

/// `--json <side> publish --title <title>` with the flags of a valid
/// equipment listing located in `insee`, then `extra`.
pub fn publish_args<'a>(
    side: &'a str,
    title: &'a str,
    insee: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["--json", side, "publish", "--title", title];
    args.extend([
        "--kind",
        "equipment",
        "--insee",
        insee,
        "--contact-role",
        "Services techniques",
        "--contact-email",
        "st@mairie.example",
    ]);
    args.extend_from_slice(extra);
    args
}

/// Publishes `side` (`offer` or `need`) with `title` in Bordeaux and extra
/// flags; returns the run (not asserted).
pub fn publish(node: &Node, side: &str, title: &str, extra: &[&str]) -> super::Run {
    node.run(&publish_args(side, title, "33063", extra))
}
