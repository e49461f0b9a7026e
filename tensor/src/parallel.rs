//! Fork-join helpers whose caller busy-waits for the other threads instead of sleeping.
//!
//! `rayon::join(a, b)` runs `a` on the calling thread and offers `b` to the others. If `a` ends
//! first, the caller looks for other work, yields the CPU a few dozen times, then goes to sleep
//! until `b` is done, and the thread that finishes `b` has to wake it. On a virtual machine a
//! wake-up is slow: in the training step at two threads, the matmul backward's join of `dA` and
//! `dB` returned 7-73 µs (by layer) after the later of the two had finished, about 0.5 ms per step
//! (docs/benchmarks.md). The helpers here are for the few places where a step waits on a second
//! thread for a known, large piece of work: the caller keeps asking rayon for work
//! ([`rayon::yield_now`]) and spins until its pieces are done, so it goes on the moment they are.
//!
//! How the work is divided, and so every result, is the same as with rayon's own join.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Busy-waits until `pending` reaches zero, running any rayon work that turns up meanwhile
/// (such as the very pieces being waited for, if no other thread has taken them).
fn wait_for(pending: &AtomicUsize) {
    while pending.load(Ordering::Acquire) > 0 {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

/// Counts one piece as done when dropped, so a piece that panics is still counted and the
/// waiter moves on (the panic then surfaces from the enclosing `rayon::scope`).
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `(a(), b())`, `b` offered to another thread of the current rayon pool while the caller runs
/// `a`, as [`rayon::join`] does; the caller then spins until `b` is done rather than sleeping.
/// With one thread, `a` then `b` on the caller. A panic in either is resumed on the caller.
///
/// ```
/// let (x, y) = tensor::parallel::join(|| 1 + 1, || 2 * 3);
/// assert_eq!((x, y), (2, 6));
/// ```
pub fn join<RA: Send, RB: Send>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    if rayon::current_num_threads() < 2 {
        return (a(), b());
    }
    let pending = AtomicUsize::new(1);
    let mut rb = None;
    let ra = rayon::scope(|s| {
        let (rb, pending) = (&mut rb, &pending);
        s.spawn(move |_| {
            let _done = Done(pending);
            *rb = Some(b());
        });
        let ra = a();
        wait_for(pending);
        ra
    });
    (ra, rb.expect("the scope ran `b` to completion"))
}

/// Calls `f` on every item, the first on the calling thread and the others offered to the other
/// threads of the current rayon pool, then spins until all are done rather than sleeping. For a
/// few large pieces (one per thread): each item becomes one task. A panic in any call is resumed
/// on the caller once all have ended.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let sum = AtomicUsize::new(0);
/// tensor::parallel::for_each([1, 2, 3, 4], |x| {
///     sum.fetch_add(x, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 10);
/// ```
pub fn for_each<I: Send>(items: impl IntoIterator<Item = I>, f: impl Fn(I) + Sync) {
    let mut items = items.into_iter();
    let Some(first) = items.next() else { return };
    if rayon::current_num_threads() < 2 {
        f(first);
        items.for_each(f);
        return;
    }
    let rest: Vec<I> = items.collect();
    let pending = AtomicUsize::new(rest.len());
    rayon::scope(|s| {
        let (f, pending) = (&f, &pending);
        for item in rest {
            s.spawn(move |_| {
                let _done = Done(pending);
                f(item);
            });
        }
        f(first);
        wait_for(pending);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    #[test]
    fn join_returns_both_results_on_any_thread_count() {
        for threads in [1, 2, 3] {
            let (a, b) = pool(threads).install(|| join(|| (0..1000u64).sum::<u64>(), || vec![7u8; 3]));
            assert_eq!((a, b), (499_500, vec![7, 7, 7]), "{threads} threads");
        }
    }

    #[test]
    fn for_each_visits_every_item_once() {
        for threads in [1, 2, 3] {
            let mut seen = vec![0u32; 37];
            pool(threads).install(|| {
                for_each(seen.chunks_mut(5), |chunk| chunk.iter_mut().for_each(|x| *x += 1));
            });
            assert!(seen.iter().all(|&x| x == 1), "{threads} threads: {seen:?}");
        }
        for_each(std::iter::empty::<u8>(), |_| panic!("no items, no calls"));
    }

    #[test]
    fn a_panic_in_the_offered_half_reaches_the_caller() {
        for threads in [1, 2] {
            let r = std::panic::catch_unwind(|| pool(threads).install(|| join(|| 1, || -> u8 { panic!("in b") })));
            assert!(r.is_err(), "{threads} threads");
            let r =
                std::panic::catch_unwind(|| pool(threads).install(|| for_each(0..4, |i| assert!(i != 3, "item {i}"))));
            assert!(r.is_err(), "{threads} threads");
        }
    }
}
