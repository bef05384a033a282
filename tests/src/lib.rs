//! Support shared by the end-to-end tests of every crate, and the home of
//! workspace-wide checks in `tests/tests/`.
//!
//! The tests run real processes, so they wait for conditions with
//! deadlines ([`wait_for`], [`poll_until`]), never fixed sleeps. A node
//! process, whichever binary starts it, is a [`NodeProcess`]: its log, its
//! SIGTERM stop, and its control API through the typed [`mutua_api::Client`].
//! Only ever a dev-dependency: nothing here reaches a shipped binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod node;

/// The control API's types, for the tests of crates that do not depend on
/// it themselves.
pub use mutua_api;
pub use node::NodeProcess;

/// How long a condition may take before a test fails: generous, because CI
/// machines are shared and two cores run many node processes at once.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
#[track_caller]
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_for_within(DEADLINE, what, check)
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
#[track_caller]
pub fn wait_for_within<T>(deadline: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    poll_until(deadline, check)
        .unwrap_or_else(|| panic!("timed out after {deadline:?} waiting for {what}"))
}

/// Polls `check` until it returns `Some`, or `None` after `deadline`: for a
/// caller that has something to do before failing (kill a process).
pub fn poll_until<T>(deadline: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Now, in Unix seconds: what records are stamped with.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// A loopback port free right now (the system's pick), for a node to be
/// told to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    manifest_dir(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies inside the workspace")
        .to_path_buf()
}

/// The directory of the package under test: cargo's run-time
/// `CARGO_MANIFEST_DIR` when set (a build reused from a target directory
/// shared between checkouts carries another checkout's compile-time path),
/// else `compiled`.
pub fn manifest_dir(compiled: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(compiled).to_path_buf())
}
