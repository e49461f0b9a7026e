//! Sums in a fixed interleaved order: element `i` goes to running sum `i % 8`, and the eight
//! sums are added in lane order at the end. The same bits on every run and any thread count (the
//! order never depends on either), and eight additions in flight instead of one long chain of
//! dependent ones, which is what makes a row reduction of 64 or 128 elements fast.

use crate::Float;

/// Independent running sums in the row reductions: element `i` goes to sum `i % LANES`, and the
/// sums are added in lane order at the end. A fixed order (the same bits every time) that lets
/// eight additions run at once instead of one long chain.
pub(crate) const LANES: usize = 8;

/// `sum x_i` in the fixed [`LANES`] order.
pub(crate) fn lane_sum<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] += c[k];
        }
    }
    for (k, &v) in tail.iter().enumerate() {
        acc[k] += v;
    }
    acc.iter().fold(T::ZERO, |s, &a| s + a)
}

/// `sum a_i b_i` in the fixed [`LANES`] order.
pub(crate) fn lane_dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    for (k, (&x, &y)) in ta.iter().zip(tb).enumerate() {
        acc[k] += x * y;
    }
    acc.iter().fold(T::ZERO, |s, &a| s + a)
}
