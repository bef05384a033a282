//! The documents stay true to the code: CI runs the README's test command,
//! the OpenAPI file describes exactly the routes the node serves, PROTOCOL.md
//! names every rule code the protocol can return, and ARCHITECTURE.md has a
//! section for every crate of the workspace, cites only code names that
//! exist and stays under 12 KB; OPERATIONS.md names exactly the node's
//! configuration keys, environment variables, flags and metrics.

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

/// ARCHITECTURE.md stays a five-minute read (issue 13): details belong in
/// module docs and OPERATIONS.md.
const ARCHITECTURE_MAX_BYTES: usize = 12 * 1024;

#[test]
fn architecture_md_stays_short() {
    let size = read("ARCHITECTURE.md").len();
    assert!(
        size <= ARCHITECTURE_MAX_BYTES,
        "ARCHITECTURE.md is {size} bytes, over {ARCHITECTURE_MAX_BYTES}: move details to module docs or OPERATIONS.md"
    );
}

#[test]
fn every_code_name_architecture_md_cites_exists() {
    assert_cites_only_existing_names("ARCHITECTURE.md", true, |_| true);
}

#[test]
fn operations_md_names_exactly_the_config_keys() {
    let code = Workspace::scan();
    let keys = config_keys();
    let cited: BTreeSet<String> = inline_code(&read("OPERATIONS.md"))
        .into_iter()
        .filter(|span| looks_like_config_key(span))
        .map(|span| span.split('[').next().unwrap_or(&span).to_owned())
        // `api.token` or `store.compacting` look like keys but name files.
        .filter(|span| keys.contains(span) || !code.has_file_name_literal(span))
        .collect();
    assert_names_exactly("configuration keys", &cited, &keys);
}

#[test]
fn operations_md_names_exactly_the_environment_variables() {
    let cited: BTreeSet<String> = inline_code(&read("OPERATIONS.md"))
        .into_iter()
        .filter(|span| {
            span.starts_with("MUTUA_")
                && span
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert_names_exactly("environment variables", &cited, &environment_variables());
}

#[test]
fn operations_md_names_exactly_the_settings_flags() {
    let cited: BTreeSet<String> = inline_code(&read("OPERATIONS.md"))
        .into_iter()
        .filter_map(|span| {
            let flag = span.split(' ').next()?.strip_prefix("--")?.to_owned();
            flag.chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
                .then_some(flag)
        })
        .collect();
    assert_names_exactly("settings flags", &cited, &settings_flags());
}

#[test]
fn operations_md_names_exactly_the_metrics_a_node_exports() {
    let exported = mutua_metric_names();
    assert!(exported.len() > 10, "too few metrics found: {exported:?}");
    let cited: BTreeSet<String> = inline_code(&read("OPERATIONS.md"))
        .into_iter()
        .filter(|span| is_metric_name(span))
        .collect();
    assert_names_exactly("metrics", &cited, &exported);
}

/// OPERATIONS.md cites only `what` that exist (`actual`), and all of them.
fn assert_names_exactly(what: &str, cited: &BTreeSet<String>, actual: &BTreeSet<String>) {
    assert!(!actual.is_empty(), "found no {what} in the code");
    let unknown: Vec<_> = cited.difference(actual).collect();
    assert!(
        unknown.is_empty(),
        "OPERATIONS.md cites {what} that the node does not have: {unknown:?}"
    );
    let undocumented: Vec<_> = actual.difference(cited).collect();
    assert!(
        undocumented.is_empty(),
        "OPERATIONS.md does not document the {what} {undocumented:?}"
    );
}

#[test]
fn operations_md_cites_only_routes_the_node_serves() {
    // Its other spans starting with `/` are addresses and paths on the host.
    assert_cites_only_existing_names("OPERATIONS.md", false, |span| {
        span.starts_with("/v1/") || span == "/metrics"
    });
}

/// Every code span of `document` that `checked` selects names something of
/// the workspace (see [`Workspace::knows`]).
fn assert_cites_only_existing_names(document: &str, paths: bool, checked: impl Fn(&str) -> bool) {
    let code = Workspace::scan();
    let missing: BTreeSet<String> = inline_code(&read(document))
        .into_iter()
        .filter(|span| checked(span) && !code.knows(span, paths))
        .collect();
    assert!(
        missing.is_empty(),
        "{document} cites names that exist nowhere in the workspace: {missing:?}"
    );
}

/// The text of every inline code span (`like this`) outside fenced blocks.
fn inline_code(markdown: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            spans.push(inside.to_owned());
        }
        // An unpaired last backtick leaves `inside` unmatched: ignored.
    }
    spans
}

fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name`, `Type::method`, `module::item()`, `macro!`.
fn rust_path_segments(span: &str) -> Option<Vec<&str>> {
    let span = span.strip_suffix("()").unwrap_or(span);
    let span = span.strip_suffix('!').unwrap_or(span);
    let segments: Vec<&str> = span.split("::").collect();
    segments
        .iter()
        .all(|s| is_identifier(s))
        .then_some(segments)
}

fn looks_like_config_key(span: &str) -> bool {
    let Some((section, key)) = span.split_once('.') else {
        return false;
    };
    let key = key.split('[').next().unwrap_or(key);
    [
        "federation",
        "network",
        "api",
        "store",
        "log",
        "publish",
        "web",
        "opendata",
    ]
    .contains(&section)
        && !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
}

fn is_metric_name(span: &str) -> bool {
    span.starts_with("mutua_")
        && span
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What the workspace defines: Rust items, package, binary and target
/// names, files, string literals.
struct Workspace {
    definitions: BTreeSet<String>,
    target_names: BTreeSet<String>,
    sources: Vec<String>,
    openapi: String,
}

/// Keywords after which a Rust item's name follows.
const DEFINING: [&str; 10] = [
    "fn",
    "struct",
    "enum",
    "trait",
    "type",
    "const",
    "static",
    "mod",
    "union",
    "macro_rules",
];

impl Workspace {
    fn scan() -> Workspace {
        let root = workspace_root();
        let mut files = Vec::new();
        collect_files(&root, &mut files);
        let mut workspace = Workspace {
            definitions: BTreeSet::new(),
            target_names: BTreeSet::new(),
            sources: Vec::new(),
            openapi: read("node/openapi.yaml"),
        };
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "Cargo.toml" {
                let manifest = fs::read_to_string(&path).unwrap_or_default();
                for line in manifest.lines() {
                    if let Some(value) = line.trim().strip_prefix("name = ") {
                        workspace
                            .target_names
                            .insert(value.trim_matches('"').to_owned());
                    }
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                if path.parent().is_some_and(|p| p.ends_with("src/bin")) {
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    workspace.target_names.insert(stem.to_owned());
                }
                let source = fs::read_to_string(&path).unwrap_or_default();
                workspace.add_definitions(&source);
                workspace.sources.push(source);
            }
        }
        assert!(
            workspace.definitions.len() > 500,
            "found too few definitions under {}",
            root.display()
        );
        workspace
    }

    /// Records the names that follow a defining keyword, outside comments.
    fn add_definitions(&mut self, source: &str) {
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            let words: Vec<&str> = code
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                if DEFINING.contains(&pair[0]) && is_identifier(pair[1]) {
                    self.definitions.insert(pair[1].to_owned());
                }
            }
        }
    }

    fn has_literal(&self, text: &str) -> bool {
        let quoted = format!("\"{text}\"");
        self.sources.iter().any(|s| s.contains(&quoted))
    }

    /// A data-directory file name such as `api.token` (a literal in the
    /// node's code) or `store.compacting` (a `".compacting"` suffix).
    fn has_file_name_literal(&self, span: &str) -> bool {
        self.has_literal(span)
            || span
                .split_once('.')
                .is_some_and(|(_, suffix)| self.has_literal(&format!(".{suffix}")))
    }

    /// Whether a code span names something that exists: a control API route
    /// (in the OpenAPI file), a protocol id (a string literal), a workspace
    /// path, a package or binary, or a Rust item. Spans of other shapes
    /// (`#[non_exhaustive]`, values) name nothing and pass. With `paths`,
    /// spans with a `/` and bare file names are workspace paths.
    fn knows(&self, span: &str, paths: bool) -> bool {
        if span.starts_with("/v1/") || span == "/metrics" {
            return self.openapi.lines().any(|l| l.trim() == format!("{span}:"));
        }
        // A libp2p protocol id such as `/mutua/sync/3.0.0`.
        if span.starts_with('/') && span[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return self.has_literal(span);
        }
        let path_like = span
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
        let starts_as_name = span.starts_with(|c: char| c.is_ascii_alphanumeric());
        if paths && path_like && starts_as_name && (span.contains('/') || span.contains('.')) {
            return workspace_root().join(span).exists();
        }
        if !span.is_empty()
            && span
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && span.contains('-')
        {
            return self.target_names.contains(span);
        }
        match rust_path_segments(span) {
            Some(segments) => segments.iter().all(|s| {
                self.definitions.contains(*s)
                    || self.target_names.contains(*s)
                    || self.target_names.contains(&s.replace('_', "-"))
            }),
            None => true,
        }
    }
}

/// Files of the workspace, without build outputs, VCS data and fuzz corpora.
fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || ["target", "corpus", "artifacts"].contains(&name.as_ref()) {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every `section.key` of the configuration file.
fn config_keys() -> BTreeSet<String> {
    let value = toml::Value::try_from(mutua_node::config::Config::default())
        .expect("the configuration serialises");
    let mut keys = BTreeSet::new();
    for (section, table) in value.as_table().expect("a table") {
        for key in table.as_table().expect("sections are tables").keys() {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

/// The command-line arguments of the node's settings.
fn overrides() -> clap::Command {
    use clap::Args;
    mutua_node::config::Overrides::augment_args(clap::Command::new("node"))
}

/// Every environment variable the node's settings read.
fn environment_variables() -> BTreeSet<String> {
    overrides()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect()
}

/// The long flags of the node's settings (without `--`).
fn settings_flags() -> BTreeSet<String> {
    overrides()
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .map(str::to_owned)
        .collect()
}

/// The names of Mutua's own metrics as a scraper sees them (counters end in
/// `_total`), from the node's registry.
fn mutua_metric_names() -> BTreeSet<String> {
    let metrics = mutua_node::metrics::NodeMetrics::new();
    // A labelled family is encoded once it has a series: ask for one of each.
    metrics.ingest.count("gossip", "accepted", "new");
    metrics.network.frames_refused("too_large");
    metrics.sync.sessions("ok");
    metrics.sync.records("received");
    metrics.sync.bytes("received");
    metrics.store.records_of_kind("offer");
    let text = metrics.encode();
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(name, _)| name.starts_with("mutua_"))
        .map(|(name, kind)| match kind.trim() {
            "counter" if !name.ends_with("_total") => format!("{name}_total"),
            _ => name.to_owned(),
        })
        .collect()
}
