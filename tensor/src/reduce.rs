//! Reductions over one or several axes, with `keepdim`: sum, mean, max, min, var, argmax, and
//! [`Tensor::sum_to_shape`], the adjoint of broadcasting.
//!
//! Reducing the axes `R` of `x: (d0, .., dn)` folds, for every kept multi-index `k`, the elements
//! `x[k, r]` over all reduced multi-indices `r`. The output has the kept axes in their order
//! (`keepdim = false`), or the input's rank with a 1 in place of each reduced axis (`keepdim = true`).
//!
//! Every reduction goes through one engine, `fold_axes`, which picks one of three walks:
//! - **rows**: contiguous input whose reduced axes are the trailing ones (e.g. the last axis): each
//!   output is a fold over one slice;
//! - **blocks**: contiguous input whose reduced axes form one run followed by kept axes (e.g. summing a
//!   `(B*T, C)` gradient over rows into `(C)`): whole input rows are accumulated into an output row,
//!   unit stride and no index math;
//! - **strided**: anything else, through the crate's one strided walker (a row at a time) over a view
//!   that puts the reduced axes last.
//!
//! All three fold the elements of each output in the same order (the reduced multi-index in
//! row-major order), one after the other, so a result is bitwise the same whichever walk runs, and
//! never depends on the number of threads: large rows and blocks inputs are split over rayon
//! threads only between outputs (in pieces of whole groups about `PAR_CHUNK` elements long), never
//! inside one output's fold.

use rayon::prelude::*;

use crate::error::op_panic;
use crate::layout::{Rows, broadcast_shape, normalize_axes, normalize_axis};
use crate::map::{PAR_CHUNK, PAR_MIN};
use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// Sum over `axes` (negative allowed, any order, no repeats).
    ///
    /// `(d0, .., dn) -> ` the kept axes, or the same rank with 1s when `keepdim`. An empty axis list
    /// reduces nothing and returns `self` unchanged (a view of the same storage); use
    /// [`Tensor::sum_all`] to reduce everything. The sum of zero elements is 0.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]); // [[0, 1, 2], [3, 4, 5]]
    /// assert_eq!(x.sum(&[0], false).to_vec(), vec![3.0, 5.0, 7.0]);
    /// let rows = x.sum(&[-1], true);
    /// assert_eq!(rows.shape(), &[2, 1]);
    /// assert_eq!(rows.to_vec(), vec![3.0, 12.0]);
    /// assert_eq!(x.sum(&[0, 1], false).shape(), &[] as &[usize]);
    /// ```
    #[track_caller]
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        let axes = normalize_axes("sum", axes, self.ndim());
        if axes.is_empty() {
            return self.clone();
        }
        self.sum_axes(&axes, keepdim)
    }

    /// Sum of all elements as a 0-d tensor (shape `[]`).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::ones(&[2, 3, 4]);
    /// assert_eq!(x.sum_all().item(), 24.0);
    /// ```
    pub fn sum_all(&self) -> Tensor<T> {
        self.sum_axes(&all_axes(self.ndim()), false)
    }

    /// Mean over `axes`, as [`Tensor::sum`] divided by the number of reduced elements.
    ///
    /// The mean of zero elements is NaN (0 / 0), as in PyTorch. An empty axis list returns `self`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]);
    /// assert_eq!(x.mean(&[1], false).to_vec(), vec![1.5, 4.5]);
    /// ```
    #[track_caller]
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        let axes = normalize_axes("mean", axes, self.ndim());
        if axes.is_empty() {
            return self.clone();
        }
        self.mean_axes(&axes, keepdim)
    }

    /// Mean of all elements as a 0-d tensor; NaN for an empty tensor.
    pub fn mean_all(&self) -> Tensor<T> {
        self.mean_axes(&all_axes(self.ndim()), false)
    }

    /// Maximum over `axes`. A NaN anywhere in a reduced group makes that output NaN (as
    /// `torch.amax`). An empty axis list returns `self`.
    ///
    /// # Panics
    /// If a reduced axis has size 0 (the maximum of nothing is undefined).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 5.0, 3.0, 2.0], &[2, 2]);
    /// assert_eq!(x.max(&[0], false).to_vec(), vec![3.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        let axes = normalize_axes("max", axes, self.ndim());
        if axes.is_empty() {
            return self.clone();
        }
        self.check_nonempty("max", &axes);
        self.fold_axes(&axes, keepdim, T::NEG_INFINITY, |a, x, _| a.max_nan(x), |a| a)
    }

    /// Minimum over `axes`; NaN propagates, as in [`Tensor::max`].
    ///
    /// # Panics
    /// If a reduced axis has size 0.
    #[track_caller]
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        let axes = normalize_axes("min", axes, self.ndim());
        if axes.is_empty() {
            return self.clone();
        }
        self.check_nonempty("min", &axes);
        self.fold_axes(&axes, keepdim, T::INFINITY, |a, x, _| a.min_nan(x), |a| a)
    }

    /// Variance over `axes`: `sum((x - mean)^2) / d` with `d = n - 1` when `unbiased` (Bessel's
    /// correction, PyTorch's default) and `d = n` otherwise, `n` the number of reduced elements.
    ///
    /// Computed in two passes (mean first, then squared deviations), which avoids the cancellation
    /// of `E[x^2] - E[x]^2`. When `d` is 0 (one element, unbiased; or no elements) the result is NaN,
    /// as in PyTorch. An empty axis list gives the variance of each element alone: 0 (biased) or
    /// NaN (unbiased), in `self`'s shape.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]);
    /// assert_eq!(x.var(&[0], false, false).item(), 1.25);
    /// assert!((x.var(&[0], false, true).item() - 5.0 / 3.0).abs() < 1e-15);
    /// ```
    #[track_caller]
    pub fn var(&self, axes: &[isize], keepdim: bool, unbiased: bool) -> Tensor<T> {
        let axes = normalize_axes("var", axes, self.ndim());
        let n = self.reduced_count(&axes);
        let d = if unbiased { n.saturating_sub(1) } else { n };
        let d = T::from_usize(d);
        let mean = self.mean_axes(&axes, true);
        // (x - mean)^2 in the input's shape; the keepdim mean broadcasts over the reduced axes.
        let sq = self.zip_with(&mean, "var", |x, m| (x - m) * (x - m));
        sq.fold_axes(&axes, keepdim, T::ZERO, |a, x, _| a + x, |a| a / d)
    }

    /// Index of the maximum along `axis`, stored as values of type `T` (PyTorch returns integers; a
    /// float tensor keeps this crate to one element type). Ties give the first index; a NaN counts
    /// as larger than everything, so the first NaN's index is returned (as `torch.argmax`).
    ///
    /// Indices are exact integers up to 2^24 (16 777 216) for `f32` and 2^53 for `f64`; a longer axis
    /// would round them.
    ///
    /// # Panics
    /// If `axis` has size 0.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 7.0, 7.0, 4.0, 0.0, 2.0], &[2, 3]);
    /// assert_eq!(x.argmax(-1, false).to_vec(), vec![1.0, 0.0]); // the first of the tied 7s
    /// assert_eq!(x.argmax(0, true).shape(), &[1, 3]);
    /// ```
    #[track_caller]
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Tensor<T> {
        let axis = [normalize_axis("argmax", axis, self.ndim())];
        self.check_nonempty("argmax", &axis);
        // The accumulator is (best value, its index); `k` is the position along the axis, and the
        // first element (k == 0) always starts a new group.
        let step = |(best, at): (T, usize), x: T, k: usize| {
            if k == 0 || (!best.is_nan() && (x.is_nan() || x > best)) { (x, k) } else { (best, at) }
        };
        self.fold_axes(&axis, keepdim, (T::NAN, 0), step, |(_, at)| T::from_usize(at))
    }

    /// Sums a tensor whose shape is a broadcast of `shape` back down to exactly `shape`: over the
    /// leading axes `shape` lacks, and over the axes where `shape` has 1 and `self` has more. This is
    /// the adjoint of [`Tensor::broadcast_to`]: the gradient of a broadcast input is the sum of the
    /// gradients of all the places it was copied to. Returns `self` when the shapes are equal.
    ///
    /// # Panics
    /// If `shape` does not broadcast to `self.shape()`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let g = Tensor::<f32>::ones(&[4, 2, 3]); // gradient of a (2, 1) + (4, 2, 3) sum
    /// let gb = g.sum_to_shape(&[2, 1]);
    /// assert_eq!(gb.shape(), &[2, 1]);
    /// assert_eq!(gb.to_vec(), vec![12.0, 12.0]);
    /// ```
    #[track_caller]
    pub fn sum_to_shape(&self, shape: &[usize]) -> Tensor<T> {
        let big = self.shape();
        if broadcast_shape(shape, big).as_deref() != Some(big) {
            op_panic("sum_to_shape", format!("shape {shape:?} does not broadcast to the tensor's shape {big:?}"));
        }
        let lead = big.len() - shape.len();
        let axes: Vec<usize> = (0..big.len()).filter(|&i| i < lead || (shape[i - lead] == 1 && big[i] != 1)).collect();
        if axes.is_empty() {
            return self.clone();
        }
        // keepdim leaves `lead` leading 1s in front of `shape`; the result is contiguous, so the
        // reshape that drops them is a view.
        self.sum_axes(&axes, true).reshape(shape)
    }

    fn sum_axes(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        self.fold_axes(axes, keepdim, T::ZERO, |a, x, _| a + x, |a| a)
    }

    fn mean_axes(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        let n = T::from_usize(self.reduced_count(axes));
        self.fold_axes(axes, keepdim, T::ZERO, |a, x, _| a + x, |a| a / n)
    }

    /// How many input elements fold into each output element.
    fn reduced_count(&self, axes: &[usize]) -> usize {
        axes.iter().map(|&a| self.shape()[a]).product()
    }

    #[track_caller]
    fn check_nonempty(&self, op: &str, axes: &[usize]) {
        if self.reduced_count(axes) == 0 {
            op_panic(
                op,
                format!("cannot reduce over axes {axes:?} of shape {:?}: they hold no elements", self.shape()),
            );
        }
    }

    /// The reduction engine. `axes` are normalized (sorted, distinct). For each output element the
    /// accumulator starts at `init`, takes `step(acc, x, k)` for each reduced element `x` in row-major
    /// order of the reduced axes (`k` counts from 0 within the group), and ends as `finish(acc)`.
    fn fold_axes<A: Copy + Send + Sync>(
        &self,
        axes: &[usize],
        keepdim: bool,
        init: A,
        step: impl Fn(A, T, usize) -> A + Sync,
        finish: impl Fn(A) -> T + Sync,
    ) -> Tensor<T> {
        let shape = self.shape();
        let reduced: Vec<bool> = (0..shape.len()).map(|i| axes.binary_search(&i).is_ok()).collect();
        let red = self.reduced_count(axes);
        let out_shape: Vec<usize> = if keepdim {
            shape.iter().zip(&reduced).map(|(&d, &r)| if r { 1 } else { d }).collect()
        } else {
            shape.iter().zip(&reduced).filter(|(_, r)| !**r).map(|(&d, _)| d).collect()
        };
        let n_out: usize = out_shape.iter().product();

        let data: Vec<T> = if self.numel() == 0 {
            // Either no outputs, or outputs that fold nothing (a sum of nothing is 0, a mean NaN).
            vec![finish(init); n_out]
        } else if let Some((src, inner)) = self.as_slice().zip(run_then_inner(shape, &reduced)) {
            // Each output (rows) or each output row (blocks) is folded by one task, so the work can
            // be split over threads without changing any output's order of operations.
            let mut out = vec![T::ZERO; n_out];
            if inner == 1 {
                // Rows: each output folds one contiguous slice of `red` elements.
                let fold_row = |row: &[T]| row.iter().enumerate().fold(init, |a, (k, &x)| step(a, x, k));
                let run = |src: &[T], out: &mut [T]| {
                    for (o, row) in out.iter_mut().zip(src.chunks_exact(red)) {
                        *o = finish(fold_row(row));
                    }
                };
                par_split(src, &mut out, red, 1, run);
            } else {
                // Blocks: the input is (outer, red, inner); each output row of `inner` accumulators
                // takes `red` whole input rows in turn.
                let run = |src: &[T], out: &mut [T]| {
                    let mut acc = vec![init; inner];
                    for (out_row, block) in out.chunks_exact_mut(inner).zip(src.chunks_exact(red * inner)) {
                        acc.fill(init);
                        for (k, row) in block.chunks_exact(inner).enumerate() {
                            for (a, &x) in acc.iter_mut().zip(row) {
                                *a = step(*a, x, k);
                            }
                        }
                        for (o, &a) in out_row.iter_mut().zip(&acc) {
                            *o = finish(a);
                        }
                    }
                };
                par_split(src, &mut out, red * inner, inner, run);
            }
            out
        } else {
            // Strided: a view with the kept axes first and the reduced axes last, so the walk
            // yields each output's group as `red` consecutive elements, outputs in row-major order.
            // The walk comes a row at a time; a row may hold several groups or a part of one.
            let order: Vec<usize> = (0..shape.len()).filter(|&i| !reduced[i]).chain(axes.iter().copied()).collect();
            let walk = self.layout.permute(&order);
            let rows = Rows::new(walk.shape(), [&walk]);
            let [stride] = rows.inner_strides;
            let src = &self.storage[..];
            let mut out = Vec::with_capacity(n_out);
            let (mut acc, mut k) = (init, 0);
            rows.for_each_run(0..rows.numel(), |[i], len| {
                for x in (0..len).map(|j| src[i + j * stride]) {
                    acc = step(acc, x, k);
                    k += 1;
                    if k == red {
                        out.push(finish(acc));
                        (acc, k) = (init, 0);
                    }
                }
            });
            out
        };
        Tensor::from_vec(data, &out_shape)
    }
}

/// Runs `run(src_piece, out_piece)` over matching pieces of `src` and `out`, where every `group`
/// consecutive inputs make `per` consecutive outputs: on rayon, in pieces of whole groups about
/// [`PAR_CHUNK`] inputs long, when the input is large; else in one call. The split depends only
/// on the shapes, never on the number of threads.
fn par_split<T: Float>(src: &[T], out: &mut [T], group: usize, per: usize, run: impl Fn(&[T], &mut [T]) + Sync) {
    let groups_per_task = (PAR_CHUNK / group).max(1);
    if src.len() >= PAR_MIN && src.len() > groups_per_task * group {
        out.par_chunks_mut(groups_per_task * per)
            .zip(src.par_chunks(groups_per_task * group))
            .for_each(|(o, s)| run(s, o));
    } else {
        run(src, out);
    }
}

/// `[0, 1, .., ndim - 1]`.
fn all_axes(ndim: usize) -> Vec<usize> {
    (0..ndim).collect()
}

/// For a contiguous input: if the reduced axes, ignoring size-1 axes (which don't move anything in
/// memory), form one run, the input is `(outer, red, inner)` in row-major order and this returns
/// `inner`, the number of elements after the run. `None` when the reduced axes are interleaved
/// with kept ones.
fn run_then_inner(shape: &[usize], reduced: &[bool]) -> Option<usize> {
    let mut inner = 1;
    let mut seen_run = false;
    let mut run_ended = false;
    for (&d, &r) in shape.iter().zip(reduced) {
        if d == 1 {
            continue;
        }
        match (r, seen_run) {
            (true, _) if run_ended => return None,
            (true, _) => seen_run = true,
            (false, true) => {
                run_ended = true;
                inner *= d;
            }
            (false, false) => {}
        }
    }
    Some(inner)
}

#[cfg(test)]
mod tests {
    use super::run_then_inner;

    #[test]
    fn runs_are_found_past_size_one_axes() {
        assert_eq!(run_then_inner(&[4, 3], &[false, true]), Some(1));
        assert_eq!(run_then_inner(&[4, 3], &[true, false]), Some(3));
        assert_eq!(run_then_inner(&[2, 3, 4, 5], &[false, true, true, false]), Some(5));
        assert_eq!(run_then_inner(&[2, 1, 4, 5], &[true, false, true, false]), Some(5));
        assert_eq!(run_then_inner(&[2, 3, 4], &[true, false, true]), None);
        assert_eq!(run_then_inner(&[2, 3], &[false, false]), Some(1));
    }
}

#[cfg(test)]
mod parallel_tests {
    use crate::Tensor;
    use crate::map::{PAR_CHUNK, PAR_MIN};

    /// In-order sums of `groups` groups of `red` elements, group `g` element `k` at `at(g, k)`.
    fn sums(groups: usize, red: usize, at: impl Fn(usize, usize) -> f32) -> Vec<u32> {
        (0..groups).map(|g| (0..red).fold(0.0f32, |s, k| s + at(g, k)).to_bits()).collect()
    }

    #[test]
    fn sums_are_exact_for_any_thread_count() {
        for (a, b, c) in [
            (PAR_MIN / 64 + 3, 64, 1),
            (PAR_CHUNK / 100, 100, 1),
            (PAR_MIN / PAR_CHUNK + 1, 3, PAR_CHUNK / 3 + 1),
            (PAR_MIN / 12, 4, 3),
        ] {
            let x = Tensor::<f32>::rand_uniform(&[a, b, c], -1.0, 1.0, (a * b * c) as u64);
            let v = x.to_vec();
            let at = |i: usize, j: usize, k: usize| v[(i * b + j) * c + k];
            // Over the middle axis (rows when c == 1, blocks otherwise), over the last two, and over
            // the first two of a transposed view (the strided walk).
            let mid = sums(a * c, b, |g, j| at(g / c, j, g % c));
            let last = sums(a, b * c, |g, r| at(g, r / c, r % c));
            let t = x.permute(&[2, 1, 0]); // (c, b, a)
            let strided = sums(c, b * a, |g, r| at(r % a, r / a, g));
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let bits = |t: Tensor<f32>| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(pool.install(|| bits(x.sum(&[1], false))), mid, "({a}, {b}, {c}) axis 1, {threads} threads");
                assert_eq!(pool.install(|| bits(x.sum(&[1, 2], false))), last, "({a}, {b}, {c}) axes 1, 2");
                assert_eq!(pool.install(|| bits(t.sum(&[1, 2], false))), strided, "({c}, {b}, {a}) strided");
            }
        }
    }
}
