//! Waiting with deadlines: conditions are polled, never assumed after a
//! fixed sleep.

use std::time::{Duration, Instant};

use crate::cleanup;
use crate::Error;

/// How often a condition is checked.
pub const POLL: Duration = Duration::from_millis(50);

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
