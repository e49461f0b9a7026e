//! Scaled dot-product attention as one fused op.
//!
//! ```text
//! S = Q K^T * scale (masked to -inf where mask = 1)    P = softmax(S) along keys    O = P V
//!
//! dV = P^T dO      dP = dO V^T      dS = P * (dP - rowsum(dP * P)) * scale
//! dQ = dS K        dK = dS^T Q
//! ```
//!
//! The backward is the chain of the composed version's backwards (matmul, softmax, scale,
//! masked fill, matmul) written out: [`crate::composed::attention`] builds the same function
//! from primitives, and the tests check that both agree in value and gradient, and check the
//! fused gradients against finite differences. The kernels are the tensor crate's
//! [`Tensor::attention`] and [`Tensor::attention_backward`], which run each `(batch, head)`
//! item start to finish while its scores are in cache and keep only `P` for the backward.

use tensor::{Float, Tensor};

use crate::composed;
use crate::var::Var;
use crate::{OpName, profile};

impl<T: Float> Var<T> {
    /// Fused attention `softmax(q k^T / sqrt(d) + mask) v` for `self = q: (..., Tq, d)`,
    /// `k: (..., Tk, d)`, `v: (..., Tk, dv)` with the same leading axes; `mask` (1 = blocked)
    /// broadcasts to `(..., Tq, Tk)`. Returns the output `(..., Tq, dv)` and the attention weights
    /// `(..., Tq, Tk)` as a plain tensor (for inspection: no gradient flows through it; use
    /// [`crate::composed::attention`] to differentiate through the weights themselves).
    ///
    /// Backward: see the module doc; `P` is saved, the scores are not.
    ///
    /// ```
    /// use autograd::{Var, composed};
    /// use tensor::Tensor;
    /// let q = Var::parameter(Tensor::<f64>::rand_uniform(&[2, 3, 4], -1.0, 1.0, 1));
    /// let k = Var::parameter(Tensor::<f64>::rand_uniform(&[2, 5, 4], -1.0, 1.0, 2));
    /// let v = Var::parameter(Tensor::<f64>::rand_uniform(&[2, 5, 6], -1.0, 1.0, 3));
    /// let (fused, _) = q.attention(&k, &v, None);
    /// let (reference, _) = composed::attention(&q, &k, &v, None);
    /// assert!(fused.value().allclose(&reference.value(), 1e-12, 1e-12));
    /// ```
    #[track_caller]
    pub fn attention(&self, k: &Var<T>, v: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Tensor<T>) {
        let (q, k_val, v_val) = (self.value(), k.value(), v.value());
        let scale = T::ONE / T::from_usize(*q.shape().last().expect("attention: q has at least two axes")).sqrt();
        let (out, weights) = Tensor::attention(&q, &k_val, &v_val, mask, scale);
        let saved = weights.clone();
        let fast = move |g: &Tensor<T>| {
            let (dq, dk, dv) = Tensor::attention_backward(&q, &k_val, &v_val, &saved, g, scale);
            vec![Some(dq), Some(dk), Some(dv)]
        };
        let mask = mask.cloned();
        let twin = move |v: &[Var<T>]| composed::attention(&v[0], &v[1], &v[2], mask.as_ref()).0;
        let out = Var::from_fused_op(OpName::new("attention", profile::ATTENTION), out, &[self, k, v], fast, twin);
        (out, weights)
    }

    /// Self-attention on a packed projection `self: (B, T, 3 d)` holding queries, keys and values
    /// side by side (`[q | k | v]`, each `d = h * d_head` wide, as GPT-2's `c_attn` gives them),
    /// split into `n_head` heads. The same function as splitting into `q`, `k`, `v` views of shape
    /// `(B, h, T, d_head)` and calling [`Var::attention`]; returns the output `(B, h, T, d_head)`
    /// (laid out as `(B, T, h, d_head)`, so merging heads is a view) and the weights.
    ///
    /// Why a separate op: split into three views, each view's backward would pad its gradient back
    /// to `(B, T, 3 d)` and the engine would add the three. Here the backward writes `dq`, `dk`,
    /// `dv` straight into one `(B, T, 3 d)` gradient ([`Tensor::attention_backward_packed`]).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let qkv = Var::parameter(Tensor::<f64>::rand_uniform(&[2, 3, 12], -1.0, 1.0, 1)); // d = 4, 2 heads
    /// let (packed, _) = qkv.attention_packed(2, None);
    /// let heads = |i: usize| qkv.narrow(2, 4 * i, 4).reshape(&[2, 3, 2, 2]).permute(&[0, 2, 1, 3]);
    /// let (split, _) = heads(0).attention(&heads(1), &heads(2), None);
    /// assert!(packed.value().allclose(&split.value(), 1e-12, 1e-12));
    /// ```
    #[track_caller]
    pub fn attention_packed(&self, n_head: usize, mask: Option<&Tensor<T>>) -> (Var<T>, Tensor<T>) {
        let s = self.shape();
        if s.len() != 3 || n_head == 0 || !s[2].is_multiple_of(3 * n_head) {
            tensor::op_panic(
                "attention_packed",
                format!("needs (B, T, 3 d) with d divisible by n_head {n_head}, got shape {s:?}"),
            );
        }
        let packed = self.value().contiguous(); // (B, T, 3 d)
        let [q, k, v] = packed.packed_qkv(n_head); // (B, h, T, d_head) each, views of `packed`
        let scale = T::ONE / T::from_usize(q.shape()[3]).sqrt();
        let (out, weights) = Tensor::attention(&q, &k, &v, mask, scale);
        let saved = weights.clone();
        let fast =
            move |g: &Tensor<T>| vec![Some(Tensor::attention_backward_packed(&packed, n_head, &saved, g, scale))];
        let mask = mask.cloned();
        let twin = move |v: &[Var<T>]| {
            let [q, k, v] = split_packed(&v[0], n_head);
            composed::attention(&q, &k, &v, mask.as_ref()).0
        };
        let out = Var::from_fused_op(OpName::new("attention", profile::ATTENTION), out, &[self], fast, twin);
        (out, weights)
    }
}

/// The packed projection `(B, T, 3 d)` as three `(B, h, T, d / h)` variables, q, k and v, in the
/// layout [`Tensor::packed_qkv`] reads: the twin of the packed attention's input views.
fn split_packed<T: Float>(packed: &Var<T>, n_head: usize) -> [Var<T>; 3] {
    let s = packed.shape();
    let (b, t, d) = (s[0], s[1], s[2] / 3);
    let head = |i: usize| packed.narrow(2, i * d, d).reshape(&[b, t, n_head, d / n_head]).permute(&[0, 2, 1, 3]);
    [head(0), head(1), head(2)]
}
