//! How long two threads take to pass a value back and forth: the cost of every hand-off between
//! cores, which bounds how well small parallel kernels can scale.
//!
//! `gradlab bench --threads 2` prints it next to the step time. On a virtual machine it is not a
//! constant: the host may place the same two virtual CPUs on nearby cores at one hour and on
//! distant ones at another, and the two-thread step slows with every hand-off (docs/benchmarks.md
//! has the figures). A two-thread figure means little without it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Each batch stops after this long even if its rounds are not done, so a loaded machine (where
/// the two spinning threads cannot run at once, and a hand-off waits for a time slice) cannot
/// make the measurement take long.
const BATCH_BUDGET: Duration = Duration::from_millis(5);

/// Tells the answering thread to stop.
const STOP: u64 = u64::MAX;

/// Median over `batches` of the mean round trip, in nanoseconds, of a counter passed between
/// the calling thread and one other thread, up to `rounds` times per batch (fewer if the batch
/// runs past a few milliseconds): the caller writes an odd value and spins until the other
/// thread answers with the next even one.
///
/// The two threads spin, so the figure is meaningful only when both have a core to themselves.
///
/// ```
/// let ns = gradlab::round_trip::round_trip_ns(1, 100);
/// assert!(ns > 0.0 && ns.is_finite());
/// ```
pub fn round_trip_ns(batches: usize, rounds: u64) -> f64 {
    let (batches, rounds) = (batches.max(1), rounds.max(1));
    let flag = AtomicU64::new(0);
    let mut means = Vec::with_capacity(batches);
    std::thread::scope(|s| {
        let flag = &flag;
        s.spawn(move || {
            // Answers every new odd value v with v + 1, until told to stop.
            let mut answered = 0;
            loop {
                match flag.load(Ordering::Acquire) {
                    STOP => break,
                    v if v % 2 == 1 && v != answered => {
                        flag.store(v + 1, Ordering::Release);
                        answered = v;
                    }
                    _ => std::hint::spin_loop(),
                }
            }
        });
        let mut ping = 1u64;
        for _ in 0..batches {
            let start = Instant::now();
            let mut done = 0u64;
            while done < rounds && (!done.is_multiple_of(64) || start.elapsed() < BATCH_BUDGET) {
                flag.store(ping, Ordering::Release);
                while flag.load(Ordering::Acquire) != ping + 1 {
                    std::hint::spin_loop();
                }
                ping += 2;
                done += 1;
            }
            means.push(start.elapsed().as_secs_f64() * 1e9 / done as f64);
        }
        flag.store(STOP, Ordering::Release);
    });
    means.sort_by(f64::total_cmp);
    means[means.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_trip_completes_and_takes_some_time() {
        // Few rounds: under a loaded test run the two spinning threads may not share the CPUs,
        // and each hand-off can then wait for a time slice. A lost hand-off would hang here.
        let ns = round_trip_ns(3, 100);
        assert!(ns.is_finite() && ns > 0.0, "{ns}");
    }
}
