//! Numerically stable softmax, log-softmax and logsumexp along one axis.
//!
//! For each lane `x` along the axis, with `m = max_j x_j`:
//!
//! ```text
//! softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m)
//! log_softmax(x)_i = x_i - m - ln(sum_j exp(x_j - m))
//! logsumexp(x)     = m + ln(sum_j exp(x_j - m))
//! ```
//!
//! Subtracting the maximum changes nothing mathematically but keeps every exponent `<= 0`: nothing
//! overflows, the largest term is exactly 1 so the sum is in `[1, n]` and its log is safe, and
//! inputs around ±1e4 give finite results.
//!
//! Special values follow PyTorch. A lane that is all `-inf` has `m = -inf` and `x - m = NaN`, so
//! softmax and log_softmax give NaN there; logsumexp gives `-inf` (the log of a sum of zeros), because
//! it shifts by 0 instead of an infinite maximum. A NaN in a lane makes that lane NaN.
//!
//! Layout: the input is viewed as `(outer, n, inner)` around the axis (made contiguous first only
//! if it isn't). When the axis is last, `inner = 1` and each lane is one contiguous row: a plain
//! slice loop. For another axis, each `(n, inner)` block is processed with `inner` running
//! statistics, whole rows of `inner` elements at a time. We chose this over permuting the axis to
//! last because that costs two transposing copies (in and out), and over a strided walk along
//! each lane because that steps `inner` elements apart in its innermost loop; here every inner loop
//! is unit-stride and the output is written directly in the input's logical shape. Both paths do
//! the same operations in the same order per lane, so they agree bitwise.
//!
//! The sum of the exponentials is taken in the fixed interleaved order of [`lane_sum`] (element
//! `i` into running sum `i % 8`, then the eight in order): eight additions in flight instead of one
//! chain, and a rounding error that grows with `n / 8` rather than `n`. The block path keeps eight
//! running sums per column in the same way, so it still agrees with the row path bit for bit.
//!
//! One row kernel, [`softmax_row`] (a single row of [`softmax_rows`]), does softmax along the
//! last axis here and in the fused attention (`attention.rs`, a whole item's rows in one call).
//! Log-softmax and logsumexp share its first half (subtract the row maximum, exponentiate, sum
//! in `lane_sum`'s order) through `exp_shifted_sum`, so `log_softmax(x) = x - m - ln(s)` with the
//! very `s` softmax divides by.
//!
//! Large inputs are split over rayon threads in tasks of whole lanes (or blocks) about
//! `PAR_CHUNK` elements long. Each lane is still computed by one thread, in order, so the result
//! does not depend on the number of threads.

use rayon::prelude::*;

use crate::lanes::{LANES, lane_sum};
use crate::layout::normalize_axis;
use crate::map::{PAR_CHUNK, PAR_MIN};
use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// Softmax along `axis` (negative allowed): non-negative values that sum to 1 along the axis.
    /// Shape in = shape out; the result is contiguous.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1e4, 1e4, -1e4, 0.0, 0.0, 0.0], &[2, 3]);
    /// let p = x.softmax(-1);
    /// assert_eq!(p.to_vec(), vec![0.5, 0.5, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
    /// ```
    #[track_caller]
    pub fn softmax(&self, axis: isize) -> Tensor<T> {
        self.map_lanes(
            "softmax",
            axis,
            |x, y| {
                y.copy_from_slice(x);
                softmax_row(y);
            },
            softmax_block,
        )
    }

    /// Log of the softmax along `axis`, computed directly as `x - m - ln(sum exp(x - m))` (more
    /// accurate than `softmax(x).ln()`, and finite where softmax underflows to 0).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![0.0, 0.0], &[2]);
    /// assert_eq!(x.log_softmax(0).to_vec(), vec![-(2.0f64.ln()); 2]);
    /// ```
    #[track_caller]
    pub fn log_softmax(&self, axis: isize) -> Tensor<T> {
        self.map_lanes("log_softmax", axis, log_softmax_row, log_softmax_block)
    }

    /// `ln(sum(exp(x)))` along `axis`, without overflow: `(.., n, ..) -> (.., ..)`, or `(.., 1, ..)`
    /// with `keepdim`. An axis of size 0 gives `-inf`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1e4, 1e4], &[1, 2]);
    /// let y = x.logsumexp(1, false);
    /// assert_eq!(y.shape(), &[1]);
    /// assert_eq!(y.to_vec(), vec![1e4 + 2.0f32.ln()]);
    /// ```
    #[track_caller]
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Tensor<T> {
        let (x, outer, n, inner) = self.lanes("logsumexp", axis);
        let a = normalize_axis("logsumexp", axis, self.ndim());
        let mut shape = self.shape().to_vec();
        if keepdim {
            shape[a] = 1;
        } else {
            shape.remove(a);
        }
        if n == 0 {
            return Tensor::full(&shape, T::NEG_INFINITY);
        }
        if outer * inner == 0 {
            return Tensor::zeros(&shape); // no lanes, so no outputs
        }
        // Checked after the empty cases: an empty tensor may not report itself contiguous.

        let src = x.as_slice().expect("lanes() returns a contiguous tensor");
        let mut out = vec![T::ZERO; outer * inner];
        // The exponentials of one lane (or block) at a time.
        let mut exps = vec![T::ZERO; n * inner];
        if inner == 1 {
            for (row, o) in src.chunks_exact(n).zip(out.iter_mut()) {
                *o = logsumexp_row(row, &mut exps);
            }
        } else {
            let mut scratch = BlockScratch::new(n, inner);
            for (block, o) in src.chunks_exact(n * inner).zip(out.chunks_exact_mut(inner)) {
                logsumexp_block(block, &mut exps, inner, &mut scratch, o);
            }
        }
        Tensor::from_vec(out, &shape)
    }

    /// The input as a contiguous tensor (a copy only if needed) and its `(outer, n, inner)` split
    /// around `axis`.
    #[track_caller]
    fn lanes(&self, op: &str, axis: isize) -> (Tensor<T>, usize, usize, usize) {
        let a = normalize_axis(op, axis, self.ndim());
        let shape = self.shape();
        let (outer, inner) = (shape[..a].iter().product(), shape[a + 1..].iter().product());
        (self.contiguous(), outer, shape[a], inner)
    }

    /// Applies a lane-wise op that keeps the shape: `row(x, y)` on a contiguous lane, or
    /// `block(x, y, inner, scratch)` on an `(n, inner)` block.
    #[track_caller]
    fn map_lanes(&self, op: &str, axis: isize, row: fn(&[T], &mut [T]), block: BlockKernel<T>) -> Tensor<T> {
        let (x, _, n, inner) = self.lanes(op, axis);
        if x.numel() == 0 {
            // Nothing to compute (and chunks of length 0 are not allowed).
            return Tensor::zeros(self.shape());
        }
        let src = x.as_slice().expect("lanes() returns a contiguous tensor");
        let mut out = vec![T::ZERO; src.len()];
        // Lanes are independent: large inputs are split into tasks of whole lanes (or blocks), a
        // number of them fixed by the lane length alone, never by the thread count.
        let unit = n * inner;
        let per_task = unit * (PAR_CHUNK / unit).max(1);
        let run = |xs: &[T], ys: &mut [T]| {
            if inner == 1 {
                for (xr, yr) in xs.chunks_exact(n).zip(ys.chunks_exact_mut(n)) {
                    row(xr, yr);
                }
            } else {
                let mut scratch = BlockScratch::new(n, inner);
                for (xb, yb) in xs.chunks_exact(unit).zip(ys.chunks_exact_mut(unit)) {
                    block(xb, yb, inner, &mut scratch);
                }
            }
        };
        if src.len() >= PAR_MIN && src.len() > per_task {
            out.par_chunks_mut(per_task).zip(src.par_chunks(per_task)).for_each(|(ys, xs)| run(xs, ys));
        } else {
            run(src, &mut out);
        }
        Tensor::from_vec(out, self.shape())
    }
}

/// A kernel on one `(n, inner)` block: input, output, `inner`, and the task's scratch.
type BlockKernel<T> = fn(&[T], &mut [T], usize, &mut BlockScratch<T>);

/// Scratch rows for the block kernels, made once per task and reused for every block.
struct BlockScratch<T> {
    /// The column maxima (the shifts), `inner` long.
    m: Vec<T>,
    /// The column sums of the exponentials, `inner` long.
    s: Vec<T>,
    /// The running sums of [`block_exp_shifted_sum`]: one row of `inner` per lane in use,
    /// `min(n, LANES)` of them.
    lanes: Vec<T>,
}

impl<T: Float> BlockScratch<T> {
    fn new(n: usize, inner: usize) -> Self {
        BlockScratch { m: vec![T::ZERO; inner], s: vec![T::ZERO; inner], lanes: vec![T::ZERO; n.min(LANES) * inner] }
    }
}

/// The largest element; NaN if any is NaN; `-inf` for an empty or all `-inf` row.
///
/// Bitwise equal to the in-order fold `m = max_nan(m, x_j)` from `m = -inf`, which returns the
/// first element that holds the largest value. Eight independent running maxima let the compiler
/// vectorise the scan; the value of a maximum does not depend on the order it is taken in, and the
/// only bits that could (the sign of a zero maximum, since `-0.0 == 0.0`) are then taken from the
/// first zero in the row, as the fold does.
fn row_max<T: Float>(x: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; LANES];
    let mut nan = [false; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            // A NaN compares false, so it never becomes the maximum; it is flagged instead.
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
            nan[k] |= c[k].is_nan();
        }
    }
    let mut m = T::NEG_INFINITY;
    for (&a, &v) in acc.iter().zip(nan.iter()) {
        if v {
            return T::NAN;
        }
        m = if a > m { a } else { m };
    }
    for &v in tail {
        if v.is_nan() {
            return T::NAN;
        }
        m = if v > m { v } else { m };
    }
    if m == T::ZERO {
        // The fold keeps the first element equal to the maximum: +0.0 or -0.0, as it comes.
        return *x.iter().find(|&&v| v == T::ZERO).expect("a zero maximum is an element of the row");
    }
    m
}

/// `y_j = exp(y_j - shift)` in place, returning `sum_j y_j` in the fixed order of [`lane_sum`]:
/// the part of a row that softmax, log-softmax and logsumexp share.
fn exp_shifted_sum<T: Float>(y: &mut [T], shift: T) -> T {
    for yi in y.iter_mut() {
        *yi -= shift;
    }
    T::exp_in_place(y);
    lane_sum(y)
}

/// Softmax of one row, in place: `y_i = exp(y_i - m) / sum_j exp(y_j - m)`, `m` the row maximum.
///
/// [`Tensor::softmax`] along the last axis calls it; the fused attention calls [`softmax_rows`],
/// the same kernel on all of an item's rows of scores (after the mask) at once. A row that is all
/// `-inf` (fully masked) gives NaN, as PyTorch's softmax does.
pub(crate) fn softmax_row<T: Float>(y: &mut [T]) {
    softmax_rows(y, y.len());
}

/// [`softmax_row`] on each `len`-long row of `y` (a whole number of rows), with the same
/// operations on every element, in the same order, so the same bits. The exponentials of all the
/// rows are taken in one call: the fused attention's rows are short (64 keys in the reference
/// GPT, 12 288 rows per training step), and one `exp` call per row cost about 5 ns a row (the
/// profile's attention time, one thread: 3.51-3.54 ms per step with a call per row, 3.43-3.49
/// with one per item; docs/benchmarks.md).
pub(crate) fn softmax_rows<T: Float>(y: &mut [T], len: usize) {
    if len == 0 {
        return; // empty rows: nothing to compute (and rows of length 0 cannot be chunked)
    }
    debug_assert!(y.len().is_multiple_of(len), "softmax_rows: {} values are not rows of {len}", y.len());
    for row in y.chunks_exact_mut(len) {
        let shift = row_max(row);
        for yi in row.iter_mut() {
            *yi -= shift;
        }
    }
    T::exp_in_place(y);
    for row in y.chunks_exact_mut(len) {
        let s = lane_sum(row);
        for yi in row.iter_mut() {
            *yi /= s;
        }
    }
}

/// Log-softmax of one row: `y_i = x_i - m - ln(sum_j exp(x_j - m))`. `y` holds the exponentials
/// first, so the sum is the one [`softmax_row`] divides by, bit for bit.
fn log_softmax_row<T: Float>(x: &[T], y: &mut [T]) {
    let m = row_max(x);
    y.copy_from_slice(x);
    let ln_s = exp_shifted_sum(y, m).ln();
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = xi - m - ln_s;
    }
}

/// logsumexp of one row, with `exps` (as long as the row) as scratch for the exponentials.
fn logsumexp_row<T: Float>(x: &[T], exps: &mut [T]) -> T {
    let shift = lse_shift(row_max(x));
    exps.copy_from_slice(x);
    shift + exp_shifted_sum(exps, shift).ln()
}

/// The shift logsumexp uses: the maximum, or 0 when the maximum is infinite, so that an all `-inf`
/// lane gives `ln(0) = -inf` (and a `+inf` lane `+inf`) instead of `inf - inf = NaN` (as PyTorch).
fn lse_shift<T: Float>(m: T) -> T {
    if m == T::INFINITY || m == T::NEG_INFINITY { T::ZERO } else { m }
}

/// Column-wise maximum of the `inner`-wide rows of `x` into `m`.
fn block_max<T: Float>(x: &[T], inner: usize, m: &mut [T]) {
    m.fill(T::NEG_INFINITY);
    for row in x.chunks_exact(inner) {
        for (mj, &v) in m.iter_mut().zip(row) {
            *mj = mj.max_nan(v);
        }
    }
}

/// [`exp_shifted_sum`] down each column of an `(n, inner)` block: `y[r, j] = exp(x[r, j] -
/// shift[j])`, and `s[j] = sum_r y[r, j]` in the order of [`lane_sum`] (row `r` into running sum
/// `r % LANES`, one row of `inner` sums per lane, then the lanes in order), so each column gets the
/// bits the row path gives the same lane.
fn block_exp_shifted_sum<T: Float>(x: &[T], y: &mut [T], inner: usize, shift: &[T], lanes: &mut [T], s: &mut [T]) {
    lanes.fill(T::ZERO);
    for (r, (xr, row)) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)).enumerate() {
        for ((v, &xj), &c) in row.iter_mut().zip(xr).zip(shift) {
            *v = xj - c;
        }
        T::exp_in_place(row);
        let lane = &mut lanes[(r % LANES) * inner..][..inner];
        for (a, &e) in lane.iter_mut().zip(row.iter()) {
            *a += e;
        }
    }
    s.fill(T::ZERO);
    for lane in lanes.chunks_exact(inner) {
        for (sj, &a) in s.iter_mut().zip(lane) {
            *sj += a;
        }
    }
}

/// [`softmax_row`] down each column of an `(n, inner)` block.
fn softmax_block<T: Float>(x: &[T], y: &mut [T], inner: usize, sc: &mut BlockScratch<T>) {
    block_max(x, inner, &mut sc.m);
    block_exp_shifted_sum(x, y, inner, &sc.m, &mut sc.lanes, &mut sc.s);
    for yr in y.chunks_exact_mut(inner) {
        for (yj, &sj) in yr.iter_mut().zip(sc.s.iter()) {
            *yj /= sj;
        }
    }
}

/// [`log_softmax_row`] down each column of an `(n, inner)` block.
fn log_softmax_block<T: Float>(x: &[T], y: &mut [T], inner: usize, sc: &mut BlockScratch<T>) {
    block_max(x, inner, &mut sc.m);
    block_exp_shifted_sum(x, y, inner, &sc.m, &mut sc.lanes, &mut sc.s);
    for sj in sc.s.iter_mut() {
        *sj = sj.ln();
    }
    for (xr, yr) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)) {
        for (((yj, &xj), &mj), &ln_sj) in yr.iter_mut().zip(xr).zip(sc.m.iter()).zip(sc.s.iter()) {
            *yj = xj - mj - ln_sj;
        }
    }
}

/// [`logsumexp_row`] down each column of an `(n, inner)` block, into `out` (`inner` long), with
/// `exps` (as long as the block) as scratch for the exponentials.
fn logsumexp_block<T: Float>(x: &[T], exps: &mut [T], inner: usize, sc: &mut BlockScratch<T>, out: &mut [T]) {
    block_max(x, inner, &mut sc.m);
    for mj in sc.m.iter_mut() {
        *mj = lse_shift(*mj);
    }
    block_exp_shifted_sum(x, exps, inner, &sc.m, &mut sc.lanes, &mut sc.s);
    for ((o, &c), &sj) in out.iter_mut().zip(sc.m.iter()).zip(sc.s.iter()) {
        *o = c + sj.ln();
    }
}

#[cfg(test)]
mod tests {
    use super::row_max;
    use crate::map::{PAR_CHUNK, PAR_MIN};
    use crate::{Float, Tensor};

    /// The definition `row_max` must reproduce bit for bit: the in-order fold.
    fn fold_max(x: &[f32]) -> f32 {
        x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max_nan(v))
    }

    #[test]
    fn row_max_is_the_in_order_fold_bit_for_bit() {
        let specials = [0.0f32, -0.0, -1.0, 2.5, f32::NEG_INFINITY, f32::INFINITY, f32::NAN, -3.0];
        // Every row of length up to 19 over a small alphabet that mixes signed zeros and specials,
        // sampled with a fixed stride through all combinations.
        for len in 0..20usize {
            for seed in (0..8usize.pow(len.min(6) as u32)).step_by(7) {
                let row: Vec<f32> = (0..len).map(|k| specials[(seed / 8usize.pow((k % 6) as u32) + k) % 8]).collect();
                assert_eq!(row_max(&row).to_bits(), fold_max(&row).to_bits(), "{row:?}");
            }
        }
        let mut zeros = vec![-0.0f32; 64];
        zeros[37] = 0.0;
        assert_eq!(row_max(&zeros).to_bits(), (-0.0f32).to_bits());
        zeros[0] = 0.0;
        assert_eq!(row_max(&zeros).to_bits(), 0.0f32.to_bits());
    }

    /// softmax of one lane written out plainly: the in-order maximum, and the sum in the order
    /// the kernels promise (element `i` into running sum `i % 8`, then the eight sums in order).
    fn softmax_ref(x: &[f32]) -> Vec<f32> {
        let m = fold_max(x);
        let mut e: Vec<f32> = x.iter().map(|&v| v - m).collect();
        f32::exp_in_place(&mut e);
        let mut lanes = [0.0f32; 8];
        for (i, &v) in e.iter().enumerate() {
            lanes[i % 8] += v;
        }
        let s = lanes.iter().fold(0.0f32, |s, &v| s + v);
        e.iter().map(|&v| v / s).collect()
    }

    #[test]
    fn softmax_is_exact_for_any_thread_count() {
        for (rows, n) in [(PAR_CHUNK / 64 + 1, 64), (PAR_MIN / 64, 64), (PAR_MIN / 7 + 5, 7), (3, PAR_MIN / 2)] {
            let x = Tensor::<f32>::rand_uniform(&[rows, n], -20.0, 20.0, (rows * n) as u64);
            let xv = x.to_vec();
            let want: Vec<f32> = xv.chunks(n).flat_map(softmax_ref).collect();
            let bits = |t: &Tensor<f32>| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let want = bits(&Tensor::from_vec(want, &[rows, n]));
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| x.softmax(-1));
                assert!(bits(&got) == want, "softmax of ({rows}, {n}) on {threads} threads");
                // Along axis 0 of the transpose, the same lanes go through the block kernel.
                let t = pool.install(|| x.mt().contiguous().softmax(0)).mt();
                assert!(bits(&t) == want, "block softmax of ({n}, {rows}) on {threads} threads");
                let ls = pool.install(|| x.log_softmax(-1));
                assert!(bits(&ls) == bits(&x.log_softmax(-1)), "log_softmax on {threads} threads");
            }
        }
    }
}
