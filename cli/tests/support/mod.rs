//! Runs the real `mutua` binary, and real nodes (`mutua node`) on loopback
//! with temporary data directories. Waits poll with a deadline.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mutua_tests::NodeProcess;
use serde_json::Value;

#[allow(unused_imports)] // each test file uses a different part
pub use mutua_tests::wait_for;

pub mod founded;

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mutua"));
    // The caller's environment must not leak into the tests.
    for var in [
        "MUTUA_DATA_DIR",
        "MUTUA_CONFIG",
        "MUTUA_BOOTSTRAP",
        "MUTUA_ANCHORS",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// The result of one run: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts that stderr contains every one of `parts`.
    #[track_caller]
    pub fn assert_stderr_has(&self, parts: &[&str]) {
        let missing: Vec<&&str> = parts
            .iter()
            .filter(|p| !self.stderr.contains(**p))
            .collect();
        assert!(
            missing.is_empty(),
            "no {missing:?} in stderr: {}",
            self.stderr
        );
    }

    /// stdout as JSON lines.
    #[track_caller]
    pub fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// `mutua --data-dir <dir> <args…>`.
pub fn mutua(dir: &Path, args: &[&str]) -> Run {
    let output = bin()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run mutua");
    Run::of(output)
}

/// Founds a federation in `dir` with a publisher for Bordeaux; returns the
/// anchor key id.
pub fn found(dir: &Path) -> String {
    let run = mutua(
        dir,
        &[
            "--json",
            "federation",
            "create",
            "--federation",
            "e2e",
            "--collectivity",
            "33063",
            "--yes",
        ],
    )
    .ok();
    let report = &run.json()[0];
    assert_eq!(report["publishers"][0]["name"], "bordeaux");
    report["anchor"].as_str().expect("anchor key").to_owned()
}

/// The anchor admits its own node's publisher, by name.
pub const ADMIT_BORDEAUX: &[&str] = &[
    "federation",
    "admit",
    "bordeaux",
    "--collectivity",
    "33063",
    "--yes",
];

/// A running `mutua node`, killed when dropped; its API through the typed
/// client of [`NodeProcess`] (which it derefs to).
pub struct Node {
    pub dir: PathBuf,
    process: NodeProcess,
}

impl std::ops::Deref for Node {
    type Target = NodeProcess;

    fn deref(&self) -> &NodeProcess {
        &self.process
    }
}

impl Node {
    /// Starts the node of an initialised data directory, on loopback, with
    /// mDNS off, optionally dialling `bootstrap`; returns once its API answers.
    pub fn start(dir: &Path, bootstrap: Option<&str>) -> Node {
        let mut args = vec![
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--mdns",
            "false",
        ];
        if let Some(addr) = bootstrap {
            args.extend(["--bootstrap", addr]);
        }
        Node::start_with(dir, &args)
    }

    /// `mutua node <args…>` (settings from config.toml for the rest).
    pub fn start_with(dir: &Path, args: &[&str]) -> Node {
        let mut cmd = bin();
        cmd.arg("--data-dir")
            .arg(dir)
            .arg("node")
            .args(args)
            .env("RUST_LOG", "warn");
        Node {
            dir: dir.to_owned(),
            process: NodeProcess::spawn(cmd, dir, &dir.join("node.log")),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        mutua(&self.dir, args)
    }

    /// Stops the node (SIGTERM) and waits for it to exit.
    pub fn stop(self) -> std::process::ExitStatus {
        self.process.stop()
    }
}

/// Listing ids in `search --json` output.
pub fn ids(run: &Run) -> Vec<String> {
    run.json()
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect()
}
