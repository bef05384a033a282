//! Independent runs `J` at a time, their results handed on in run order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `work(0..count)` on `jobs` threads (each takes the next index when
/// it is free) and calls `each` with the results in index order, as soon as
/// every earlier one is in. Workers stop taking new indices once `stop()`
/// is true; what was started is still handed on.
pub fn in_order<T: Send>(
    count: usize,
    jobs: usize,
    stop: impl Fn() -> bool + Sync,
    work: impl Fn(usize) -> T + Sync,
    mut each: impl FnMut(T),
) {
    let jobs = jobs.clamp(1, count.max(1));
    let next = AtomicUsize::new(0);
    // Bounded: a worker waits if the caller's `each` falls behind.
    let (tx, rx) = mpsc::sync_channel::<(usize, T)>(jobs);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            s.spawn(move || loop {
                if stop() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count || tx.send((i, work(i))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        // Results ahead of a slower earlier run wait here: at most `count`.
        let mut ahead = BTreeMap::new();
        let mut due = 0;
        for (i, result) in rx {
            ahead.insert(i, result);
            while let Some(result) = ahead.remove(&due) {
                each(result);
                due += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn results_come_in_order_though_later_runs_finish_first() {
        // Run 0 cannot finish before run 1 has: both run at once, and the
        // caller still sees 0 first.
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let rx = std::sync::Mutex::new(rx);
        let mut seen = Vec::new();
        in_order(
            6,
            2,
            || false,
            |i| {
                match i {
                    0 => rx.lock().unwrap().recv().unwrap(),
                    1 => tx.send(()).unwrap(),
                    _ => {}
                }
                i * 10
            },
            |r| seen.push(r),
        );
        assert_eq!(seen, vec![0, 10, 20, 30, 40, 50]);
    }

    #[test]
    fn jobs_run_at_once() {
        // Two runs meet at a barrier: they would deadlock on one thread.
        let barrier = Barrier::new(2);
        let mut seen = Vec::new();
        in_order(
            4,
            2,
            || false,
            |i| {
                if i < 2 {
                    barrier.wait();
                }
                i
            },
            |r| seen.push(r),
        );
        assert_eq!(seen, vec![0, 1, 2, 3]);
    }

    #[test]
    fn one_job_and_a_stop() {
        let started = AtomicUsize::new(0);
        let mut seen = Vec::new();
        in_order(
            10,
            1,
            || started.load(Ordering::SeqCst) >= 3,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                i
            },
            |r| seen.push(r),
        );
        assert_eq!(seen, vec![0, 1, 2]);
    }
}
