//! The documents stay true to the code: CI runs the README's test command,
//! the OpenAPI file describes exactly the routes the node serves, PROTOCOL.md
//! names every rule code the protocol can return, and ARCHITECTURE.md has a
//! section for every crate of the workspace.

use std::collections::BTreeSet;
use std::fs;

use mutua_tests::workspace_root;

fn read(path: &str) -> String {
    fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The string literal that opens `text` (after white space), if any.
fn leading_literal(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// Every string literal that directly follows `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .filter_map(|(at, _)| leading_literal(&text[at + marker.len()..]))
        .collect()
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read("README.md");
    let command = readme
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("cargo test") || line.starts_with("cargo nextest"))
        .expect("README.md gives the test command");
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|line| line.trim() == command),
        ".ci/run must run the README's test command `{command}`"
    );
}

#[test]
fn openapi_describes_exactly_the_routes_served() {
    let api = read("node/src/api.rs");
    let served: BTreeSet<String> = literals_after(&api, ".route(")
        .into_iter()
        .filter(|path| path.starts_with('/'))
        .map(str::to_owned)
        .collect();
    let openapi = read("node/openapi.yaml");
    let documented: BTreeSet<String> = openapi
        .lines()
        .filter_map(|line| line.strip_prefix("  /"))
        .filter_map(|rest| rest.strip_suffix(':'))
        .map(|path| format!("/{path}"))
        .collect();
    assert!(!served.is_empty(), "no routes found in node/src/api.rs");
    assert_eq!(
        served, documented,
        "node/openapi.yaml's paths differ from the routes in node/src/api.rs"
    );
}

#[test]
fn protocol_md_names_every_rule_code() {
    let errors = read("protocol/src/error.rs");
    let rules = read("protocol/src/rules.rs");
    let mut codes: BTreeSet<&str> = literals_after(&errors, "=> ").into_iter().collect();
    // Field rules name their code as the second argument of `invalid(…)`.
    for (at, _) in rules.match_indices("invalid(") {
        let call = &rules[at..];
        if let Some(code) = call
            .find(',')
            .and_then(|comma| leading_literal(&call[comma + 1..]))
        {
            codes.insert(code);
        }
    }
    // A literal that is not a snake_case word is a field suffix, not a code.
    codes.retain(|code| {
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    });
    assert!(codes.len() > 20, "found too few codes: {codes:?}");
    let protocol = read("PROTOCOL.md");
    let missing: Vec<_> = codes
        .iter()
        .filter(|code| !protocol.contains(&format!("`{code}`")))
        .collect();
    assert!(missing.is_empty(), "PROTOCOL.md does not name: {missing:?}");
}

#[test]
fn architecture_md_has_a_section_per_crate() {
    let manifest = read("Cargo.toml");
    let members_line = manifest
        .lines()
        .find(|line| line.trim_start().starts_with("members"))
        .expect("workspace members");
    let architecture = read("ARCHITECTURE.md");
    for member in members_line.split('"').skip(1).step_by(2) {
        assert!(
            architecture.contains(&format!("### `{member}/`")),
            "ARCHITECTURE.md has no `### `{member}/`` section"
        );
    }
}
