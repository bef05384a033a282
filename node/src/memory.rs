//! The node's footprint under glibc's malloc. glibc gives each thread that
//! allocates concurrently an arena of its own (up to 8 per core) and keeps
//! the memory freed in it: after a burst of writes (sync, an import) the
//! store's benchmark measured 154 MiB of RSS of which 44 MiB was in use
//! (BENCHMARKS.md, layout 8). So the node caps the arenas at its start and
//! gives freed memory back after a burst.
//!
//! Only on Linux with glibc; elsewhere these do nothing.

use std::time::Duration;

/// Arenas the node lets glibc create (glibc's default: 8 per core).
pub const ARENA_MAX: i32 = 2;
/// How often the trimmer looks at the node's anonymous memory.
pub const TRIM_CHECK_EVERY: Duration = Duration::from_secs(10);
/// Growth of the anonymous memory since the last trim that triggers one.
pub const TRIM_AFTER_GROWTH_BYTES: u64 = 8 * 1024 * 1024;

/// Caps glibc's arenas at [`ARENA_MAX`] unless the operator chose another
/// cap with glibc's own `MALLOC_ARENA_MAX`. Call it first in `main`, before
/// any thread starts (arenas are created by the threads' first allocations).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
        }
    }
}

/// Gives the memory free in every arena back to the system
/// (`malloc_trim(0)`); returns whether any was. Takes milliseconds on a
/// large heap: call it off the async runtime's threads.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free pages to the system.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// This process's anonymous resident memory in bytes (`RssAnon` of
/// /proc/self/status), or `None` where there is none to read.
pub fn anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Decides when to trim: after the anonymous memory grew by
/// [`TRIM_AFTER_GROWTH_BYTES`] since the last trim (a burst), not on every
/// check of an idle node.
#[derive(Debug, Default)]
pub struct TrimPolicy {
    after_last_trim: Option<u64>,
}

impl TrimPolicy {
    /// Whether to trim now that the anonymous memory is `anon`.
    pub fn should_trim(&self, anon: u64) -> bool {
        match self.after_last_trim {
            None => true,
            Some(base) => anon >= base + TRIM_AFTER_GROWTH_BYTES,
        }
    }

    /// Records the anonymous memory right after a trim.
    pub fn trimmed(&mut self, anon: u64) {
        self.after_last_trim = Some(anon);
    }

    /// Lowers the base when memory fell on its own (a freed cache), so that
    /// the next growth is measured from there.
    pub fn observed(&mut self, anon: u64) {
        if let Some(base) = self.after_last_trim.as_mut() {
            *base = (*base).min(anon);
        }
    }
}

/// Runs until the runtime stops: every [`TRIM_CHECK_EVERY`], trims (on the
/// blocking pool) if the anonymous memory grew by a burst's worth.
pub async fn run_trimmer() {
    let mut policy = TrimPolicy::default();
    let mut ticks = tokio::time::interval(TRIM_CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(anon) = anon_bytes() else { return };
        policy.observed(anon);
        if !policy.should_trim(anon) {
            continue;
        }
        match tokio::task::spawn_blocking(|| {
            trim();
            anon_bytes()
        })
        .await
        {
            Ok(Some(after)) => {
                tracing::debug!(
                    before_mib = anon / 1_048_576,
                    after_mib = after / 1_048_576,
                    "returned free memory to the system"
                );
                policy.trimmed(after);
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the memory trim panicked");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_burst_not_when_idle() {
        let mut policy = TrimPolicy::default();
        assert!(policy.should_trim(50 << 20), "the first check trims");
        policy.trimmed(40 << 20);
        assert!(!policy.should_trim(40 << 20));
        assert!(!policy.should_trim((40 << 20) + TRIM_AFTER_GROWTH_BYTES - 1));
        assert!(policy.should_trim((40 << 20) + TRIM_AFTER_GROWTH_BYTES));
        policy.observed(30 << 20);
        assert!(policy.should_trim((30 << 20) + TRIM_AFTER_GROWTH_BYTES));
    }
}
