//! Snapshots of `--help` for the main commands: a change in the help text
//! shows up in review. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p mutua-cli --test help`.

mod support;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["init"],
    &["node"],
    &["federation"],
    &["federation", "admit"],
    &["offer", "publish"],
    &["import"],
    &["search"],
    &["store"],
];

#[test]
fn help_matches_the_snapshots() {
    let dir = mutua_tests::manifest_dir(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for command in COMMANDS {
        let output = support::bin()
            .args(*command)
            .arg("--help")
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{command:?}");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(help.contains("Usage: mutua"), "{help}");
        let name = if command.is_empty() {
            "mutua".to_owned()
        } else {
            format!("mutua-{}", command.join("-"))
        };
        let path = dir.join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &help).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(help.as_str()) {
            stale.push(format!("{}:\n{help}", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "help differs from the snapshots (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        stale.join("\n")
    );
}
