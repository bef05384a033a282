//! Test data stays out of what ships: the protocol's `fixtures` (fixed
//! keys and records) and the store's `synth` (synthetic federations) are
//! behind their features, and only tests turn those on; this crate, the
//! tests' shared harness, is only ever a dev-dependency.

use std::fs;

use mutua_tests::workspace_root;

/// Every workspace member's manifest: (member directory, parsed manifest).
fn manifests() -> Vec<(String, toml::Table)> {
    let root = workspace_root();
    let workspace: toml::Table = fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let members = workspace["workspace"]["members"].as_array().unwrap();
    members
        .iter()
        .map(|m| {
            let dir = m.as_str().unwrap().to_owned();
            let text = fs::read_to_string(root.join(&dir).join("Cargo.toml")).unwrap();
            (dir, text.parse().unwrap())
        })
        .collect()
}

/// The features a dependency table turns on for `krate`.
fn features_of(deps: Option<&toml::Value>, krate: &str) -> Vec<String> {
    let Some(entry) = deps.and_then(|d| d.get(krate)) else {
        return Vec::new();
    };
    entry
        .get("features")
        .and_then(toml::Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn only_dev_dependencies_turn_on_fixtures_and_synth() {
    let mut offenders = Vec::new();
    for (dir, manifest) in manifests() {
        let normal = manifest.get("dependencies");
        for (krate, feature) in [("mutua-protocol", "fixtures"), ("mutua-store", "synth")] {
            if features_of(normal, krate).iter().any(|f| f == feature) {
                offenders.push(format!("{dir}: [dependencies] {krate} with `{feature}`"));
            }
        }
        if normal.and_then(|d| d.get("mutua-tests")).is_some() {
            offenders.push(format!("{dir}: mutua-tests in [dependencies]"));
        }
    }
    assert!(
        offenders.is_empty(),
        "test data reaches a build: {offenders:?}"
    );
}

#[test]
fn the_test_data_modules_are_behind_their_features() {
    let root = workspace_root();
    for (file, gate) in [
        (
            "protocol/src/lib.rs",
            "#[cfg(any(test, feature = \"fixtures\"))]\npub mod fixtures;",
        ),
        (
            "store/src/lib.rs",
            "#[cfg(feature = \"synth\")]\npub mod synth;",
        ),
    ] {
        let text = fs::read_to_string(root.join(file)).unwrap();
        assert!(text.contains(gate), "{file} no longer has {gate:?}");
    }
}
