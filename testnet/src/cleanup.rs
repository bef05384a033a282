//! Everything a run creates outside its own memory — node processes,
//! network namespaces, links, temporary directories — is registered here
//! while it exists, so that an interrupted run (Ctrl-C, SIGTERM) can remove
//! it all before exiting. Normal paths remove things through drop guards
//! and unregister them.

use std::collections::BTreeSet;
use std::io::Write;
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

/// What an interrupted run says it does: removing temporary directories
/// only if some are registered (none with `--keep`).
fn stop_message(removes_dirs: bool) -> &'static str {
    if removes_dirs {
        "mutua-testnet: stopping every node and cleaning up…"
    } else {
        "mutua-testnet: stopping every node; the data directories stay (--keep)"
    }
}

/// Registers SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed:
/// by default it would kill this process and leave every temporary
/// directory behind); the future completes on the first of them. Call within
/// a runtime.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    })
}

/// Installs a handler for SIGINT, SIGTERM and SIGHUP that cleans up and
/// exits with status 130. Call once, from a binary's `main`.
pub fn install_signal_handler() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before returning: a signal sent right after start
    // is handled too.
    let stopped = {
        let _context = runtime.enter();
        stop_signal()?
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(stopped);
            let removes_dirs = with(|r| !r.dirs.is_empty());
            // The terminal may be gone (SIGHUP): a failed write is no reason to stop.
            let _ = writeln!(std::io::stderr(), "\n{}", stop_message(removes_dirs));
            cleanup_everything();
            std::process::exit(130);
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kept_run_does_not_say_it_cleans_up() {
        assert!(super::stop_message(true).contains("cleaning up"));
        let kept = super::stop_message(false);
        assert!(!kept.contains("clean") && kept.contains("--keep"), "{kept}");
    }
}
