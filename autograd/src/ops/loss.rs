//! Cross-entropy of logits against class indices, fused and numerically stable.
//!
//! For logits `x: (N, C)` and targets `t: [N]`, over the set `V` of rows whose target is not
//! `ignore_index`:
//!
//! ```text
//! loss = -(1 / |V|) * sum_{i in V} log_softmax(x_i)[t_i]
//! dx_i = g * (softmax(x_i) - one_hot(t_i)) / |V|     for i in V
//! dx_i = 0                                           for ignored rows
//! ```
//!
//! With label smoothing `eps` (the paper's 0.1; PyTorch's `label_smoothing`), the target of each
//! kept row is not the one-hot vector but `q_i = (1 - eps) one_hot(t_i) + eps / C`, and
//!
//! ```text
//! loss = (1 / |V|) * sum_{i in V} sum_j -q_ij log_softmax(x_i)[j]
//!      = (1 / |V|) * sum_{i in V} ( -(1 - eps) log_softmax(x_i)[t_i] - (eps / C) sum_j log_softmax(x_i)[j] )
//! dx_i = g * (softmax(x_i) - q_i) / |V|
//! ```
//!
//! (the gradient of `-sum_j q_j log_softmax(x)[j]` is `softmax(x) sum_j q_j - q = softmax(x) - q`,
//! since `q` sums to 1). `eps = 0` is plain cross-entropy.
//!
//! Fusing the log-softmax, the pick and the mean into one op saves the `(N, C)` intermediates the
//! composed version ([`crate::composed::cross_entropy`]) records, and the gradient is one pass
//! over the saved log-probabilities. The log-softmax kernel subtracts each row's maximum, so logits
//! around ±1e4 give finite losses and gradients.

use rayon::prelude::*;
use tensor::{Float, Tensor, op_panic};

use crate::composed;
use crate::var::Var;
use crate::{OpName, profile};

/// Elements (rows times classes) per parallel task of the backward: about 16K, whole rows.
const ROW_BLOCK: usize = 16 * 1024;

/// Validates the logits' shape against the targets and returns `(N, C)`: the number of rows once
/// the leading axes are flattened, and the number of classes (the last axis).
///
/// Panics, naming `op` and the shapes, unless the logits have at least 2 axes, there is one target
/// per row, and each target is below `C` or equal to `ignore_index`.
#[track_caller]
pub(crate) fn check_targets(
    op: &str,
    shape: &[usize],
    targets: &[usize],
    ignore_index: Option<usize>,
) -> (usize, usize) {
    if shape.len() < 2 {
        op_panic(op, format!("logits must have shape (N, C) or (.., C), got {shape:?}"));
    }
    let c = shape[shape.len() - 1];
    let n: usize = shape[..shape.len() - 1].iter().product();
    if targets.len() != n {
        op_panic(
            op,
            format!("logits of shape {shape:?} have {n} rows of {c} classes, but {} targets were given", targets.len()),
        );
    }
    let bad = targets.iter().enumerate().find(|&(_, &t)| t >= c && Some(t) != ignore_index);
    if let Some((i, &t)) = bad {
        op_panic(
            op,
            format!(
                "target {t} (row {i}) is out of range for {c} classes (logits shape {shape:?}, ignore_index {ignore_index:?})"
            ),
        );
    }
    (n, c)
}

impl<T: Float> Var<T> {
    /// Mean cross-entropy of `self` (logits) against class indices, as `torch.nn.functional.cross_entropy`
    /// with `reduction = "mean"`: `-mean_{i not ignored} log_softmax(logits_i)[targets[i]]`, a scalar
    /// (shape `[]`).
    ///
    /// Shapes: logits `(N, C)` with `targets.len() == N`; or `(B, T, C)` (any number of leading
    /// axes), which is flattened to `(B*T, C)` with targets in the same row-major order, so a language
    /// model's `(B, T, vocab)` logits go in as they are.
    ///
    /// Rows whose target equals `ignore_index` (padding) count neither in the sum nor in the mean,
    /// and receive a zero gradient. `ignore_index` may be any value, a valid class or not (e.g.
    /// `usize::MAX`). If every row is ignored, the loss is `0 / 0 = NaN`, as in PyTorch.
    ///
    /// Backward: `(softmax(logits_i) - one_hot(targets[i])) / n_valid` on the kept rows, 0 on the
    /// ignored ones, times the incoming gradient.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// // Uniform logits over 4 classes: every target has probability 1/4, the loss is ln 4.
    /// let logits = Var::parameter(Tensor::<f64>::zeros(&[3, 4]));
    /// let loss = logits.cross_entropy(&[0, 3, 9], Some(9)); // row 2 is padding
    /// assert!((loss.item() - 4.0f64.ln()).abs() < 1e-15);
    /// let g = loss.backward();
    /// let g = g.get(&logits).unwrap().to_vec();
    /// let expected = [-0.375, 0.125, 0.125, 0.125]; // (1/4 - [1, 0, 0, 0]) / 2
    /// assert!(g[..4].iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-15));
    /// assert_eq!(&g[8..], &[0.0; 4]); // the ignored row
    /// ```
    ///
    /// # Panics
    /// If the logits have fewer than 2 axes, the number of targets is not the number of rows, or a
    /// target is `>= C` and not `ignore_index`.
    #[track_caller]
    pub fn cross_entropy(&self, targets: &[usize], ignore_index: Option<usize>) -> Var<T> {
        self.cross_entropy_with("cross_entropy", targets, ignore_index, 0.0)
    }

    /// Mean cross-entropy with label smoothing `smoothing` (`eps` in `[0, 1]`), as
    /// `torch.nn.functional.cross_entropy(..., label_smoothing=eps)`: each kept row's target
    /// distribution is `(1 - eps) one_hot(t) + eps / C`. Shapes, `ignore_index` and panics as
    /// [`Var::cross_entropy`]; `smoothing = 0` gives exactly [`Var::cross_entropy`].
    ///
    /// Backward: `(softmax(logits_i) - q_i) / n_valid` on the kept rows (see the module doc).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// // Two classes, logits (0, ln 3): p = (1/4, 3/4). With eps = 0.2 the target of class 1 is
    /// // q = (0.1, 0.9), and the loss is -(0.1 ln 1/4 + 0.9 ln 3/4).
    /// let logits = Var::parameter(Tensor::<f64>::from_vec(vec![0.0, 3f64.ln()], &[1, 2]));
    /// let loss = logits.cross_entropy_smoothed(&[1], None, 0.2);
    /// let expected = -(0.1 * 0.25f64.ln() + 0.9 * 0.75f64.ln());
    /// assert!((loss.item() - expected).abs() < 1e-15);
    /// let g = loss.backward().get(&logits).unwrap().to_vec();
    /// assert!((g[0] - (0.25 - 0.1)).abs() < 1e-15 && (g[1] - (0.75 - 0.9)).abs() < 1e-15);
    /// ```
    ///
    /// # Panics
    /// As [`Var::cross_entropy`], and if `smoothing` is not in `[0, 1]`.
    #[track_caller]
    pub fn cross_entropy_smoothed(&self, targets: &[usize], ignore_index: Option<usize>, smoothing: f64) -> Var<T> {
        if !(0.0..=1.0).contains(&smoothing) {
            op_panic("cross_entropy_smoothed", format!("label smoothing must be in [0, 1], got {smoothing}"));
        }
        self.cross_entropy_with("cross_entropy_smoothed", targets, ignore_index, smoothing)
    }

    /// The shared kernel of [`Var::cross_entropy`] and [`Var::cross_entropy_smoothed`]. The
    /// smoothing terms are left out entirely when `smoothing` is 0, so plain cross-entropy keeps
    /// its exact arithmetic (and a `-inf` logit stays harmless: `0 * -inf` would be NaN).
    #[track_caller]
    fn cross_entropy_with(
        &self,
        op: &'static str,
        targets: &[usize],
        ignore_index: Option<usize>,
        smoothing: f64,
    ) -> Var<T> {
        let shape = self.shape();
        let (n, c) = check_targets(op, &shape, targets, ignore_index);
        let log_probs = self.value_ref().reshape(&[n, c]).log_softmax(-1); // (N, C), contiguous
        let lp = log_probs.as_slice().expect("log_softmax returns a contiguous tensor");
        let kept = move |t: usize| Some(t) != ignore_index;
        let smoothed = smoothing > 0.0;
        let eps = T::from_f64(smoothing);
        let (on_target, per_class) = (T::ONE - eps, eps / T::from_usize(c.max(1))); // q = on_target one_hot + per_class

        let mut total = T::ZERO;
        let mut n_valid = 0usize;
        for (i, &t) in targets.iter().enumerate().filter(|&(_, &t)| kept(t)) {
            if smoothed {
                let row = &lp[i * c..(i + 1) * c];
                let row_sum = row.iter().fold(T::ZERO, |acc, &l| acc + l);
                total -= on_target * lp[i * c + t] + per_class * row_sum;
            } else {
                total -= lp[i * c + t];
            }
            n_valid += 1;
        }
        let loss = total / T::from_usize(n_valid); // every row ignored: 0 / 0 = NaN, as PyTorch

        let targets = targets.to_vec();
        let twin_targets = targets.clone();
        let twin = move |v: &[Var<T>]| {
            if smoothed {
                composed::cross_entropy_smoothed(&v[0], &twin_targets, ignore_index, smoothing)
            } else {
                composed::cross_entropy(&v[0], &twin_targets, ignore_index)
            }
        };
        let fast = move |g: &Tensor<T>| {
            let scale = g.item() / T::from_usize(n_valid);
            let lp = log_probs.as_slice().expect("log_softmax returns a contiguous tensor");
            let mut grad = vec![T::ZERO; n * c];
            // One row's gradient: softmax = exp(log_softmax), by the vectorised exp on the whole
            // row, then the scale and the target's subtraction.
            let row_grad = |(row, dx): (&[T], &mut [T]), t: usize| {
                if !kept(t) {
                    return; // ignored rows keep their zero gradient
                }
                dx.copy_from_slice(row);
                T::exp_in_place(dx);
                for d in dx.iter_mut() {
                    *d *= scale;
                }
                if smoothed {
                    for d in dx.iter_mut() {
                        *d -= per_class * scale;
                    }
                    dx[t] -= on_target * scale;
                } else {
                    dx[t] -= scale;
                }
            };
            // Rows are independent, so blocks of them run in parallel with the same result on any
            // number of threads (a language model's loss has B T rows of vocab classes). No
            // classes: nothing to compute.
            if let Some(rows) = ROW_BLOCK.checked_div(c) {
                let rows_per_task = rows.max(1);
                lp.par_chunks(rows_per_task * c)
                    .zip(grad.par_chunks_mut(rows_per_task * c))
                    .zip(targets.par_chunks(rows_per_task))
                    .for_each(|((lp, grad), targets)| {
                        for (pair, &t) in lp.chunks_exact(c).zip(grad.chunks_exact_mut(c)).zip(targets) {
                            row_grad(pair, t);
                        }
                    });
            }
            vec![Some(Tensor::from_vec(grad, &shape))]
        };
        Var::from_fused_op(OpName::new(op, profile::LOSS), Tensor::scalar(loss), &[self], fast, twin)
    }
}
