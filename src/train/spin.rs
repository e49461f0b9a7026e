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
//! A spinner that finds no work for [`GIVE_UP_AFTER`] returns to rayon's usual sleep, so the cost
//! stays bounded on a busy machine, and so two calls running at once in one pool cannot wait on
//! each other forever (each thread could pick up the other call's spinner while waiting inside a
//! join; the spinners then give up after that idle time, and both calls go on).
//!
//! Results do not change: how work is split never depends on which thread runs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a spinner polls without finding work before it gives up. Far longer than the serial
/// stretches of a training step (well under a millisecond), far shorter than anything a user
/// would notice.
pub const GIVE_UP_AFTER: Duration = Duration::from_millis(5);

/// Counts of spinners that have started and that have returned, for the tests.
#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    stopped: AtomicUsize,
}

/// Runs `f` while the current rayon pool's other threads busy-wait for work instead of
/// sleeping, and lets them rest again when `f` returns (or panics). With one thread it just
/// runs `f`.
pub fn with_workers_spinning<R>(f: impl FnOnce() -> R) -> R {
    spinning(f, Arc::default())
}

/// [`with_workers_spinning`], counting the spinners as they start and return.
fn spinning<R>(f: impl FnOnce() -> R, counts: Arc<Counts>) -> R {
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
        counts.started.fetch_add(1, Ordering::AcqRel);
        let mut last_work = Instant::now();
        while !flag.load(Ordering::Acquire) {
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                last_work = Instant::now();
            } else if last_work.elapsed() > GIVE_UP_AFTER {
                break;
            } else {
                std::hint::spin_loop();
            }
        }
        counts.stopped.fetch_add(1, Ordering::AcqRel);
    });
    let out = f();
    drop(stop);
    out
}

#[cfg(test)]
mod tests {
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

    /// Waits (up to thirty seconds) until `count` reaches `n`.
    fn wait_for(count: &AtomicUsize, n: usize) -> bool {
        let start = Instant::now();
        while count.load(Ordering::Acquire) < n {
            if start.elapsed() > Duration::from_secs(30) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn the_other_threads_spin_while_f_runs_results_are_unchanged_and_the_spinners_stop() {
        let xs: Vec<f32> = (0..100_000).map(|i| (i as f32).sin()).collect();
        for threads in [1, 2, 3] {
            pool(threads).install(|| {
                let plain = chunked_sum(&xs);
                let counts = Arc::new(Counts::default());
                let spinners = threads - 1;
                let (a, b) = spinning(
                    || {
                        // Every other thread has started polling before the work starts ...
                        assert!(wait_for(&counts.started, spinners), "{threads} threads: spinners did not start");
                        // ... and joins and parallel loops inside give the same bits as without.
                        rayon::join(|| chunked_sum(&xs), || chunked_sum(&xs))
                    },
                    Arc::clone(&counts),
                );
                assert_eq!((a.to_bits(), b.to_bits()), (plain.to_bits(), plain.to_bits()));
                assert!(wait_for(&counts.stopped, spinners), "{threads} threads: the spinners did not stop");
            });
        }
    }

    #[test]
    fn a_panic_in_the_closure_still_stops_the_spinners() {
        pool(2).install(|| {
            let counts = Arc::new(Counts::default());
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                spinning(|| panic!("inside the step"), Arc::clone(&counts))
            }));
            assert!(caught.is_err());
            assert!(wait_for(&counts.stopped, 1), "the spinner did not stop after a panic");
        });
    }

    #[test]
    fn spinners_give_up_when_idle() {
        pool(2).install(|| {
            let counts = Arc::new(Counts::default());
            spinning(
                || {
                    assert!(wait_for(&counts.started, 1));
                    // No parallel work is coming: the spinner gives up while this closure is still
                    // running (the stop flag is not set yet).
                    assert!(wait_for(&counts.stopped, 1), "the spinner did not give up");
                },
                Arc::clone(&counts),
            );
        });
    }

    #[test]
    fn two_calls_at_once_in_one_pool_both_finish() {
        // Each call's closure waits inside a join, where its thread may pick up the other call's
        // spinner. (The interleaving in which both threads do so at once, each spinner then
        // waiting for a closure suspended below it, is what the idle limit breaks; this test
        // checks that concurrent calls finish, but cannot force that interleaving.)
        let xs = vec![1.0f32; 50_000];
        pool(2).install(|| {
            let (a, b) = rayon::join(
                || with_workers_spinning(|| rayon::join(|| chunked_sum(&xs), || chunked_sum(&xs))),
                || with_workers_spinning(|| rayon::join(|| chunked_sum(&xs), || chunked_sum(&xs))),
            );
            assert_eq!((a, b), ((50_000.0, 50_000.0), (50_000.0, 50_000.0)));
        });
    }

    #[test]
    fn works_from_outside_any_pool() {
        // On this test thread, not a pool worker: the current pool is the global one, every one
        // of its threads spins, and they run the parallel work this thread hands to the pool.
        let xs = vec![1.0f32; 100_000];
        let counts = Arc::new(Counts::default());
        let s = spinning(|| chunked_sum(&xs), Arc::clone(&counts));
        assert_eq!(s, 100_000.0);
        let threads = rayon::current_num_threads();
        assert!(wait_for(&counts.stopped, if threads > 1 { threads } else { 0 }));
    }
}
