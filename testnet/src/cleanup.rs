//! Everything a run creates outside its own memory — node processes,
//! network namespaces, links, temporary directories — is registered here
//! while it exists, so that an interrupted run (Ctrl-C, SIGTERM) can remove
//! it all before exiting. Normal paths remove things through drop guards
//! and unregister them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct Registry {
    pids: BTreeSet<u32>,
    links: BTreeSet<String>,
    namespaces: BTreeSet<String>,
    dirs: BTreeSet<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: BTreeSet::new(),
    links: BTreeSet::new(),
    namespaces: BTreeSet::new(),
    dirs: BTreeSet::new(),
});
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    // A panic while holding the lock must not stop the cleanup.
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

pub(crate) fn add_pid(pid: u32) {
    with(|r| r.pids.insert(pid));
}
pub(crate) fn remove_pid(pid: u32) {
    with(|r| r.pids.remove(&pid));
}
pub(crate) fn add_link(name: &str) {
    with(|r| r.links.insert(name.to_owned()));
}
pub(crate) fn remove_link(name: &str) {
    with(|r| r.links.remove(name));
}
pub(crate) fn add_namespace(name: &str) {
    with(|r| r.namespaces.insert(name.to_owned()));
}
pub(crate) fn remove_namespace(name: &str) {
    with(|r| r.namespaces.remove(name));
}
pub(crate) fn add_dir(path: PathBuf) {
    with(|r| r.dirs.insert(path));
}
pub(crate) fn remove_dir(path: &PathBuf) {
    with(|r| r.dirs.remove(path));
}

/// True once Ctrl-C or SIGTERM was received: long waits give up.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Kills every registered process, deletes every registered link and
/// namespace and removes every registered directory. Safe to call twice.
pub fn cleanup_everything() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let registry = with(std::mem::take);
    for pid in &registry.pids {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    for link in &registry.links {
        let _ = Command::new("ip").args(["link", "del", link]).output();
    }
    for ns in &registry.namespaces {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
    }
    for dir in &registry.dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Installs a handler for SIGINT and SIGTERM that cleans up and exits with
/// status 130. Call once, from a binary's `main`.
pub fn install_signal_handler() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async { mutua_node::daemon::shutdown_signal().await });
            eprintln!("\nmutua-testnet: stopping every node and cleaning up…");
            cleanup_everything();
            std::process::exit(130);
        })?;
    Ok(())
}
