//! Keeps the rayon pool's other threads awake while a training step runs.
//!
//! A step is a chain of about 150 parallel kernels with short serial stretches between them
//! (graph bookkeeping, small ops). Left alone, rayon's idle workers go to sleep after a few tens
//! of microseconds without work, and each kernel then starts by waking them (a futex call, and
//! tens of microseconds before the sleeper runs): on two threads that showed up as several
//! percent of the step in the kernel's scheduler. OpenMP runtimes, which PyTorch's CPU kernels
//! run on, avoid the same cost by spinning for a while between parallel regions
//! (`KMP_BLOCKTIME`, 200 ms by default). [`with_workers_spinning`] does that for one closure: every
//! other thread of the current pool polls for work until the closure returns.
//!
//! Results do not change: how work is split never depends on which thread runs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `f` while the current rayon pool's other threads busy-wait for work instead of
/// sleeping, and lets them rest again when `f` returns (or panics). With one thread it just
/// runs `f`.
pub fn with_workers_spinning<R>(f: impl FnOnce() -> R) -> R {
    spinning(f, Arc::new(AtomicUsize::new(0)))
}

/// [`with_workers_spinning`], counting in `stopped` the spinners that have returned.
fn spinning<R>(f: impl FnOnce() -> R, stopped: Arc<AtomicUsize>) -> R {
    if rayon::current_num_threads() < 2 {
        return f();
    }
    /// Tells the spinners to stop when dropped, so a panic in `f` does not leave them running.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let stop = Stop(Arc::new(AtomicBool::new(false)));
    let flag = Arc::clone(&stop.0);
    let caller = rayon::current_thread_index();
    rayon::spawn_broadcast(move |ctx| {
        // The calling thread gets a copy too (it may pick it up while waiting inside a join):
        // it returns at once, since that thread has `f` to run.
        if Some(ctx.index()) == caller {
            return;
        }
        while !flag.load(Ordering::Acquire) {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::hint::spin_loop();
            }
        }
        stopped.fetch_add(1, Ordering::AcqRel);
    });
    let out = f();
    drop(stop);
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rayon::prelude::*;

    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    /// A parallel sum in fixed chunks: the same bits on any thread.
    fn chunked_sum(xs: &[f32]) -> f32 {
        let parts: Vec<f32> = xs.par_chunks(1000).map(|c| c.iter().sum::<f32>()).collect();
        parts.iter().sum()
    }

    /// Waits (up to five seconds) for `n` spinners to have returned.
    fn wait_for(stopped: &AtomicUsize, n: usize) -> bool {
        let start = Instant::now();
        while stopped.load(Ordering::Acquire) < n {
            if start.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn results_are_unchanged_and_the_spinners_stop() {
        let xs: Vec<f32> = (0..100_000).map(|i| (i as f32).sin()).collect();
        for threads in [1, 2, 3] {
            pool(threads).install(|| {
                let plain = chunked_sum(&xs);
                let stopped = Arc::new(AtomicUsize::new(0));
                // Nested joins and parallel loops inside, run by the spinning threads.
                let (a, b) = spinning(|| rayon::join(|| chunked_sum(&xs), || chunked_sum(&xs)), Arc::clone(&stopped));
                assert_eq!((a.to_bits(), b.to_bits()), (plain.to_bits(), plain.to_bits()));
                let spinners = threads.saturating_sub(1);
                assert!(wait_for(&stopped, spinners), "{threads} threads: the spinners did not stop");
            });
        }
    }

    #[test]
    fn a_panic_in_the_closure_still_stops_the_spinners() {
        pool(2).install(|| {
            let stopped = Arc::new(AtomicUsize::new(0));
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                spinning(|| panic!("inside the step"), Arc::clone(&stopped))
            }));
            assert!(caught.is_err());
            assert!(wait_for(&stopped, 1), "the spinner did not stop after a panic");
        });
    }

    #[test]
    fn works_from_outside_any_pool() {
        // On this test thread, not a pool worker: every thread of the global pool spins, and
        // runs the parallel work this thread hands to the pool.
        let xs = vec![1.0f32; 100_000];
        let stopped = Arc::new(AtomicUsize::new(0));
        let s = spinning(|| chunked_sum(&xs), Arc::clone(&stopped));
        assert_eq!(s, 100_000.0);
        let threads = rayon::current_num_threads();
        assert!(wait_for(&stopped, if threads > 1 { threads } else { 0 }));
    }
}
