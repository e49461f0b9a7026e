//! Solution 10: backwards through `out = P v`, the softmax, the mask and the scores:
//! `dv = P^T g`, `dP = g v^T`, `dS = P (dP - rowsum(dP P))` (zero where masked, since `P` is
//! exactly zero there), then `dq = dS k / sqrt(d)` and `dk = dS^T q / sqrt(d)`.

use tensor::Tensor;

use crate::e10_attention::causal_mask;

/// `(dq, dk, dv)` for causal single-head attention.
pub fn backward(
    q: &Tensor<f64>,
    k: &Tensor<f64>,
    v: &Tensor<f64>,
    g: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>, Tensor<f64>) {
    let (t, d) = (q.shape()[0], q.shape()[1]);
    let scale = 1.0 / (d as f64).sqrt();
    let p = q.matmul(&k.mt()).mul_scalar(scale).masked_fill(&causal_mask(t), f64::NEG_INFINITY).softmax(-1); // (T, T)
    let dv = p.mt().matmul(g); // (T, T) @ (T, dv) -> (T, dv)
    let dp = g.matmul(&v.mt()); // (T, dv) @ (dv, T) -> (T, T)
    let ds = p.mul(&dp.sub(&dp.mul(&p).sum(&[-1], true))).mul_scalar(scale); // (T, T), scale included
    let dq = ds.matmul(k); // (T, T) @ (T, d) -> (T, d)
    let dk = ds.mt().matmul(q); // (T, T) @ (T, d) -> (T, d)
    (dq, dk, dv)
}
