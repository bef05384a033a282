//! Opening many envelopes at once (a sync message, an import, a benchmark
//! batch): each is decoded and its signature checked with `verify_strict`
//! by [`mutua_protocol::open`], on every core, and the results come back in
//! the envelopes' order so that the caller applies them in order.
//!
//! Each record is judged alone, exactly as the sequential path judges it.
//! Batch verification (`verify_batch`) is not used: it accepts signatures
//! whose `R` has a small-order component about half the time, depending on
//! the other records of the batch, so replicas would diverge (BENCHMARKS.md,
//! "Batch signature verification cannot judge records as `verify_strict`
//! does").
//!
//! Threads are `std::thread::scope` threads spawned per call: no pool lives
//! between calls to compete with tokio's, and a spawn (tens of µs) is
//! nothing against a batch (≈ 60 µs per record). Callers on an async
//! runtime call this from `spawn_blocking`, like every store method.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use mutua_protocol::{RecordError, SignedRecord};

/// Records per unit of work a thread claims: claiming costs nothing next to
/// opening 16 records (≈ 1 ms), and a thread the busy machine deschedules
/// holds back at most one such unit while the others take the rest.
const CHUNK: usize = 16;

/// What opening one envelope gives.
pub type Opened = Result<SignedRecord, RecordError>;

/// Opens every envelope, on as many threads as the machine runs at once;
/// one result per envelope, in their order, each what
/// [`mutua_protocol::open`] gives for it.
pub fn open_all<E: AsRef<[u8]> + Sync>(envelopes: &[E]) -> Vec<Opened> {
    open_all_on(envelopes, parallelism())
}

/// [`open_all`] on at most `threads` threads (the calling one included).
pub fn open_all_on<E: AsRef<[u8]> + Sync>(envelopes: &[E], threads: usize) -> Vec<Opened> {
    let chunks = envelopes.len().div_ceil(CHUNK);
    let threads = threads.min(chunks);
    if threads <= 1 {
        return envelopes.iter().map(open).collect();
    }
    let next = AtomicUsize::new(0);
    // Each thread claims the next chunk until none is left, and keeps its
    // chunks' results with their numbers.
    let work = || {
        let mut done = Vec::new();
        loop {
            let chunk = next.fetch_add(1, Ordering::Relaxed);
            let start = chunk * CHUNK;
            if start >= envelopes.len() {
                return done;
            }
            let part = &envelopes[start..(start + CHUNK).min(envelopes.len())];
            done.push((chunk, part.iter().map(open).collect::<Vec<_>>()));
        }
    };
    let mut by_chunk: Vec<Option<Vec<Opened>>> = (0..chunks).map(|_| None).collect();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        let theirs = helpers.into_iter().flat_map(|helper| {
            helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        for (chunk, results) in mine.into_iter().chain(theirs) {
            by_chunk[chunk] = Some(results);
        }
    });
    let mut out = Vec::with_capacity(envelopes.len());
    for results in by_chunk {
        out.extend(results.expect("every chunk claimed once"));
    }
    out
}

fn open<E: AsRef<[u8]>>(envelope: &E) -> Opened {
    mutua_protocol::open(envelope.as_ref())
}

/// The threads the machine can run at once, read once (the standard
/// library reads cgroup files for it).
fn parallelism() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

#[cfg(test)]
mod tests {
    use mutua_protocol::fixtures::{self, seal_with_torsion};
    use mutua_protocol::{seal, Payload};

    use super::*;

    /// Valid offers, forged signatures, mixed-order `R`, garbage, one
    /// certificate, in a fixed interleaving: `n` envelopes.
    fn mixed(n: usize) -> Vec<Vec<u8>> {
        let author = fixtures::key(2);
        (0..n)
            .map(|i| {
                let offer =
                    Payload::Offer(fixtures::listing(&author, (i % 200) as u8, i as u64 + 1));
                match i % 7 {
                    0 => seal_with_torsion(&author, &offer),
                    3 => {
                        let mut forged = seal(&author, &offer).unwrap().into_bytes();
                        *forged.last_mut().unwrap() ^= 1;
                        forged
                    }
                    5 => format!("not an envelope {i}").into_bytes(),
                    6 => {
                        let c = fixtures::certificate(&fixtures::key(1), &author, false);
                        seal(&fixtures::key(1), &Payload::Certificate(c))
                            .unwrap()
                            .into_bytes()
                    }
                    _ => seal(&author, &offer).unwrap().into_bytes(),
                }
            })
            .collect()
    }

    fn summary(opened: &[Opened]) -> Vec<Result<String, RecordError>> {
        opened
            .iter()
            .map(|o| o.as_ref().map(|r| r.hash().to_hex()).map_err(Clone::clone))
            .collect()
    }

    #[test]
    fn a_mixed_batch_opens_as_one_by_one_in_order() {
        let envelopes = mixed(301);
        let sequential: Vec<Opened> = envelopes.iter().map(|e| mutua_protocol::open(e)).collect();
        let expected = summary(&sequential);
        // Several thread counts, more than this machine may have: the
        // parallel path runs even on one core.
        for threads in [1, 2, 3, 8] {
            let parallel = open_all_on(&envelopes, threads);
            assert_eq!(summary(&parallel), expected, "{threads} threads");
        }
        assert_eq!(summary(&open_all(&envelopes)), expected);
        // The mix is what it claims: each bad record named by its own rule.
        for (i, result) in expected.iter().enumerate() {
            match i % 7 {
                0 | 3 => assert_eq!(result, &Err(RecordError::BadSignature), "envelope {i}"),
                5 => assert!(result.is_err(), "envelope {i}"),
                _ => assert!(result.is_ok(), "envelope {i}: {result:?}"),
            }
        }
    }

    /// A batch of nothing but mixed-order signatures: every one refused,
    /// whatever shares its batch (a batch verifier's random coefficients
    /// would let about half of them through, and pairs cancel).
    #[test]
    fn mixed_order_signatures_are_refused_in_any_company() {
        let author = fixtures::key(2);
        let envelopes: Vec<Vec<u8>> = (0..64u8)
            .map(|id| {
                seal_with_torsion(&author, &Payload::Offer(fixtures::listing(&author, id, 1)))
            })
            .collect();
        for threads in [1, 2, 4] {
            let opened = open_all_on(&envelopes, threads);
            assert_eq!(opened.len(), 64);
            assert!(opened
                .iter()
                .all(|o| matches!(o, Err(RecordError::BadSignature))));
        }
    }

    #[test]
    fn small_and_empty_batches() {
        let none: Vec<Vec<u8>> = Vec::new();
        assert!(open_all_on(&none, 4).is_empty());
        let one = mixed(2);
        assert_eq!(
            summary(&open_all_on(&one, 4)),
            summary(&open_all_on(&one, 1))
        );
    }
}
