//! # Exercise 10: causal self-attention (one head)
//!
//! ```text
//! S = q k^T / sqrt(d)          (T, T)   scores
//! S[i, j] = -inf for j > i              the causal mask: no peeking at the future
//! P = softmax(S) along rows    (T, T)   attention weights
//! out = P v                    (T, dv)
//! q: (T, d)   k: (T, d)   v: (T, dv)
//! ```
//!
//! You get `q`, `k`, `v` and `g = dL/dout`; return `(dq, dk, dv)`.
//!
//! Think it through, backwards through the four lines: `out = P v` is a matmul (exercise 3),
//! giving `dP` and `dv`; the softmax is exercise 6 (row by row), giving `dS`; the mask: what
//! gradient does a blocked score get, and why is it exactly zero already? The scores are another
//! matmul, with the scale. Recompute `P` from `q` and `k` (the engine's fused op saves it from
//! the forward instead). Guide: chapter 6, attention's backward.
//!
//! Useful: `Tensor::matmul`, `Tensor::mt()`, `Tensor::mul_scalar`, `Tensor::softmax(-1)`,
//! `Tensor::masked_fill`, and `causal_mask` below.

use tensor::Tensor;

/// `(T, T)` with 1 where key `j` is after query `i` (blocked) and 0 elsewhere.
pub fn causal_mask(t: usize) -> Tensor<f64> {
    Tensor::from_vec((0..t * t).map(|n| if n % t > n / t { 1.0 } else { 0.0 }).collect(), &[t, t])
}

/// The forward, given: masked scaled dot-product attention.
pub fn forward(q: &Tensor<f64>, k: &Tensor<f64>, v: &Tensor<f64>) -> Tensor<f64> {
    let (t, d) = (q.shape()[0], q.shape()[1]);
    let scores = q.matmul(&k.mt()).mul_scalar(1.0 / (d as f64).sqrt()); // (T, T)
    let p = scores.masked_fill(&causal_mask(t), f64::NEG_INFINITY).softmax(-1); // (T, T)
    p.matmul(v) // (T, dv)
}

/// Your backward: `(dL/dq, dL/dk, dL/dv)` from `g = dL/dout`.
pub fn backward(
    q: &Tensor<f64>,
    k: &Tensor<f64>,
    v: &Tensor<f64>,
    g: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>, Tensor<f64>) {
    todo!(
        "exercise 10: dq, dk, dv = ? (q: {:?}, k: {:?}, v: {:?}, g: {:?})",
        q.shape(),
        k.shape(),
        v.shape(),
        g.shape()
    )
}
