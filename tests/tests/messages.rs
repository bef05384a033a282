//! Messages for people name only what exists: every `systemctl … <unit>`
//! in the sources names a unit file of contrib/, and no message sends a
//! `mutua` user to a `mutua-node` command (the CLI is what the README
//! installs; the daemon binary is for the systemd unit).

use std::fs;
use std::path::Path;

use mutua_tests::workspace_root;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

fn all_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for krate in [
        "cli/src",
        "node/src",
        "store/src",
        "testnet/src",
        "protocol/src",
    ] {
        sources(&workspace_root().join(krate), &mut out);
    }
    out
}

#[test]
fn systemctl_commands_name_a_unit_that_exists() {
    let mut checked = 0;
    for (path, text) in all_sources() {
        for (at, _) in text.match_indices("systemctl ") {
            let words: Vec<&str> = text[at..]
                .split(|c: char| c.is_whitespace() || c == '`' || c == ')')
                .filter(|w| !w.is_empty())
                .take(3)
                .collect();
            let unit = words[2].trim_end_matches(".service");
            assert!(
                workspace_root()
                    .join(format!("contrib/{unit}.service"))
                    .exists(),
                "{path}: `{}` names no unit of contrib/",
                words.join(" ")
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no systemctl command found: is the scan broken?"
    );
}

#[test]
fn messages_of_the_node_library_and_the_cli_send_people_to_mutua_commands() {
    for (path, text) in all_sources() {
        // The daemon binary's own help may name its own subcommands.
        if path.ends_with("bin/mutua-node.rs") {
            continue;
        }
        for line in text.lines() {
            let is_comment = line.trim_start().starts_with("//");
            assert!(
                is_comment || !line.contains("`mutua-node init"),
                "{path}: a message names `mutua-node init`, which the CLI's users do not have: {line}"
            );
        }
    }
}
