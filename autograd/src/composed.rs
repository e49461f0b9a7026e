//! The softmax family, cross-entropy (plain and label-smoothed), attention, layer norm and the GELUs written with other `Var` ops only: the
//! readable reference for the fused ops ([`Var::softmax`], [`Var::log_softmax`],
//! [`Var::logsumexp`], [`Var::cross_entropy`], [`Var::cross_entropy_smoothed`], [`Var::attention`],
//! [`Var::layer_norm`], [`Var::gelu_erf`], [`Var::gelu_tanh`]).
//!
//! They are also how the fused ops are differentiated more than once: a fused op's fast backward
//! works on plain tensors, so with `create_graph` the engine differentiates its twin here instead.
//!
//! Nothing here has a hand-written backward: the gradients come from chaining the backwards of
//! `sub`, `exp`, `sum`, `log`, `div`, `index_select`, `mul` and `mean`. The tests check that the
//! fused ops agree with these in value and gradient (f64, to about 1e-12 relative), so these
//! functions are both the specification and a way to learn how the fused backwards arise. The
//! fused ops are faster and record one node instead of five or more.
//!
//! Stability: each lane is shifted by its maximum `m` before `exp`, so every exponent is `<= 0`.
//! The shift is a constant taken from a detached copy of the input: the results do not depend on
//! it mathematically (`softmax(x - m) = softmax(x)`), so no gradient needs to flow through it, and
//! through a max it would only add a term that cancels exactly.
//!
//! ```
//! use autograd::{Var, composed};
//! use tensor::Tensor;
//! let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 1e4], &[2, 2]));
//! let fused = x.log_softmax(-1).value();
//! let reference = composed::log_softmax(&x, -1).value();
//! assert!(fused.allclose(&reference, 1e-12, 0.0));
//! ```

use tensor::{Float, GELU_CUBIC, SQRT_2_OVER_PI, Tensor};

use crate::ops::loss::check_targets;
use crate::var::Var;

/// The maximum of each lane along `axis` (kept as a size-1 axis), as a constant: `(.., n, ..) ->
/// (.., 1, ..)`.
fn lane_max<T: Float>(x: &Var<T>, axis: isize) -> Var<T> {
    x.detach().max(&[axis], true)
}

/// `softmax(x) = exp(x - m) / sum(exp(x - m))` along `axis`, `m` the lane maximum. Shape in = out.
#[track_caller]
pub fn softmax<T: Float>(x: &Var<T>, axis: isize) -> Var<T> {
    let e = x.sub(&lane_max(x, axis)).exp(); // (.., n, ..), every entry in (0, 1]
    e.div(&e.sum(&[axis], true)) // divided by (.., 1, ..)
}

/// `log_softmax(x) = (x - m) - ln(sum(exp(x - m)))` along `axis`. Shape in = out.
#[track_caller]
pub fn log_softmax<T: Float>(x: &Var<T>, axis: isize) -> Var<T> {
    let shifted = x.sub(&lane_max(x, axis)); // (.., n, ..)
    shifted.sub(&shifted.exp().sum(&[axis], true).log()) // minus (.., 1, ..)
}

/// `logsumexp(x) = ln(sum(exp(x - m))) + m` along `axis`: `(.., n, ..) -> (.., ..)`, or
/// `(.., 1, ..)` with `keepdim`.
#[track_caller]
pub fn logsumexp<T: Float>(x: &Var<T>, axis: isize, keepdim: bool) -> Var<T> {
    let m = lane_max(x, axis); // (.., 1, ..)
    let lse = x.sub(&m).exp().sum(&[axis], true).log().add(&m); // (.., 1, ..)
    if keepdim { lse } else { lse.squeeze(axis) }
}

/// Mean cross-entropy of logits `(N, C)` (or `(.., C)`, flattened to rows) against class indices,
/// skipping rows whose target is `ignore_index`: `-mean_{kept i} log_softmax(logits_i)[targets[i]]`,
/// a scalar. Same contract and panics as [`Var::cross_entropy`].
///
/// The pick `log_probs[i, targets[i]]` is `index_select` of the kept rows, times a one-hot mask,
/// summed over the classes: its backward puts `-1 / n_valid` at each target and 0 elsewhere.
#[track_caller]
pub fn cross_entropy<T: Float>(logits: &Var<T>, targets: &[usize], ignore_index: Option<usize>) -> Var<T> {
    let (n, c) = check_targets("cross_entropy", &logits.shape(), targets, ignore_index);
    let log_probs = log_softmax(&logits.reshape(&[n, c]), -1); // (N, C)
    let kept: Vec<usize> = (0..n).filter(|&i| Some(targets[i]) != ignore_index).collect();
    let mut one_hot = vec![T::ZERO; kept.len() * c];
    for (k, &i) in kept.iter().enumerate() {
        one_hot[k * c + targets[i]] = T::ONE;
    }
    let one_hot = Var::constant(Tensor::from_vec(one_hot, &[kept.len(), c])); // (n_valid, C)
    let picked = log_probs.index_select(0, &kept).mul(&one_hot).sum(&[-1], false); // (n_valid)
    picked.mean_all().neg() // no kept rows: the mean of nothing is NaN, as the fused op
}

/// Mean cross-entropy with label smoothing `eps` from primitives: each kept row's target is
/// `q = (1 - eps) one_hot(t) + eps / C`, and the loss is `mean_{kept i} sum_j -q_ij log_softmax(logits_i)[j]`.
/// Same contract as [`Var::cross_entropy_smoothed`].
#[track_caller]
pub fn cross_entropy_smoothed<T: Float>(
    logits: &Var<T>,
    targets: &[usize],
    ignore_index: Option<usize>,
    smoothing: f64,
) -> Var<T> {
    let (n, c) = check_targets("cross_entropy_smoothed", &logits.shape(), targets, ignore_index);
    let log_probs = log_softmax(&logits.reshape(&[n, c]), -1); // (N, C)
    let kept: Vec<usize> = (0..n).filter(|&i| Some(targets[i]) != ignore_index).collect();
    let eps = T::from_f64(smoothing);
    let mut q = vec![eps / T::from_usize(c); kept.len() * c];
    for (k, &i) in kept.iter().enumerate() {
        q[k * c + targets[i]] += T::ONE - eps;
    }
    let q = Var::constant(Tensor::from_vec(q, &[kept.len(), c])); // (n_valid, C), rows sum to 1
    let per_row = log_probs.index_select(0, &kept).mul(&q).sum(&[-1], false); // (n_valid)
    per_row.mean_all().neg()
}

/// Scaled dot-product attention from primitives: `softmax(q k^T / sqrt(d) + mask) v`, with the
/// same shapes and mask convention (1 = blocked) as [`Var::attention`]. Returns the output and the
/// weights, both differentiable.
#[track_caller]
pub fn attention<T: Float>(q: &Var<T>, k: &Var<T>, v: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Var<T>) {
    let d = *q.shape().last().expect("attention: q has at least two axes");
    let scale = T::ONE / T::from_usize(d).sqrt();
    let mut scores = q.matmul(&k.mt()).mul_scalar(scale); // (..., Tq, Tk)
    if let Some(m) = mask {
        scores = scores.masked_fill(m, T::NEG_INFINITY);
    }
    let weights = scores.softmax(-1);
    (weights.matmul(v), weights) // (..., Tq, dv)
}

/// Layer norm over the last axis from primitives: `(x - mean) / sqrt(var + eps) * weight + bias`,
/// the biased variance, `eps` inside the square root; same shapes as [`Var::layer_norm`].
#[track_caller]
pub fn layer_norm<T: Float>(x: &Var<T>, weight: &Var<T>, bias: Option<&Var<T>>, eps: f64) -> Var<T> {
    let mean = x.mean(&[-1], true); // (..., 1)
    let centered = x.sub(&mean); // (..., d)
    let var = x.var(&[-1], true, false); // (..., 1), biased
    let inv_std = var.add_scalar(T::from_f64(eps)).rsqrt(); // (..., 1)
    let y = centered.mul(&inv_std).mul(weight);
    match bias {
        Some(b) => y.add(b),
        None => y,
    }
}

/// The exact GELU from primitives: `x/2 (1 + erf(x / sqrt 2))`; same values as [`Var::gelu_erf`].
#[track_caller]
pub fn gelu_erf<T: Float>(x: &Var<T>) -> Var<T> {
    let phi = x.mul_scalar(T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf().add_scalar(T::ONE); // 2 Phi(x)
    x.mul(&phi).mul_scalar(T::from_f64(0.5))
}

/// GPT-2's tanh GELU from primitives: `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`; same
/// values as [`Var::gelu_tanh`].
#[track_caller]
pub fn gelu_tanh<T: Float>(x: &Var<T>) -> Var<T> {
    let cubic = x.mul(x).mul(x).mul_scalar(T::from_f64(GELU_CUBIC));
    let t = x.add(&cubic).mul_scalar(T::from_f64(SQRT_2_OVER_PI)).tanh();
    x.mul(&t.add_scalar(T::ONE)).mul_scalar(T::from_f64(0.5))
}
