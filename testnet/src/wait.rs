//! Waiting with deadlines: conditions are polled, never assumed after a
//! fixed sleep.

use std::time::{Duration, Instant};

use crate::cleanup;
use crate::Error;

/// How often a condition is checked.
pub const POLL: Duration = Duration::from_millis(50);
/// The most a setup deadline is stretched on a loaded machine.
const MAX_LOAD_FACTOR: f64 = 6.0;

/// A setup deadline for this machine now: `base` when the load average
/// is at most the number of cores, stretched in proportion above it (at
/// most [`MAX_LOAD_FACTOR`] times): at load 25 on 2 cores every process is
/// a dozen times slower, which is not a failure of what is being set up.
/// Not for the deadlines of the properties a scenario checks.
pub fn scaled(base: Duration) -> Duration {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    base.mul_f64(load_factor(load_average(), cores))
}

fn load_factor(load: Option<f64>, cores: f64) -> f64 {
    load.map_or(1.0, |l| (l / cores.max(1.0)).clamp(1.0, MAX_LOAD_FACTOR))
}

/// The one-minute load average (Linux), if known.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Polls `check` until it returns `Ok(Some(_))`, fails on its first error,
/// and times out after `deadline`. Stops early when the run is interrupted.
pub fn until<T>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if cleanup::interrupted() {
            return Err(Error::Interrupted);
        }
        if start.elapsed() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: deadline,
            });
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_deadlines_stretch_with_the_load_within_bounds() {
        assert_eq!(load_factor(None, 2.0), 1.0);
        assert_eq!(load_factor(Some(0.5), 2.0), 1.0);
        assert_eq!(load_factor(Some(5.0), 2.0), 2.5);
        assert_eq!(load_factor(Some(25.0), 2.0), MAX_LOAD_FACTOR);
        let base = Duration::from_secs(10);
        let d = scaled(base);
        assert!(d >= base && d <= base.mul_f64(MAX_LOAD_FACTOR), "{d:?}");
    }
}
