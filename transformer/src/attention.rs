//! Scaled dot-product attention and its masks, and a single attention head.
//!
//! `Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V`
//!
//! Shapes: `Q: (..., Tq, d_k)`, `K: (..., Tk, d_k)`, `V: (..., Tk, d_v)` -> `(..., Tq, d_v)`;
//! the weights `softmax(...)` are `(..., Tq, Tk)`, one row per query summing to 1. Masks are
//! tensors of 1s (blocked) and 0s (allowed) broadcastable to `(..., Tq, Tk)`; a blocked score is
//! set to -inf before the softmax, so its weight is exactly 0.
//!
//! The formula itself is written once, in autograd ([`autograd::composed::attention`]);
//! [`scaled_dot_product_attention`] is that function under the paper's name, and
//! [`AttentionHead`] puts three projections in front of it.

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

use crate::linear::{Init, Linear};
use crate::module::{Module, prefixed};

/// The causal ("look-ahead") mask `(Tq, Tk)`: query `i` may not attend to key `j` when `j` is in
/// its future. With `Tk > Tq` (a KV cache holding `Tk - Tq` earlier positions) query `i` sits at
/// absolute position `i + Tk - Tq`.
///
/// ```
/// use transformer::causal_mask;
/// assert_eq!(causal_mask::<f32>(3, 3).to_vec(), vec![0., 1., 1., 0., 0., 1., 0., 0., 0.]);
/// ```
pub fn causal_mask<T: Float>(tq: usize, tk: usize) -> Tensor<T> {
    assert!(tk >= tq, "causal_mask: {tk} keys cannot precede {tq} queries");
    let offset = tk - tq;
    let data = (0..tq).flat_map(|i| (0..tk).map(move |j| if j > i + offset { T::ONE } else { T::ZERO })).collect();
    Tensor::from_vec(data, &[tq, tk])
}

/// A key-padding mask `(B, 1, 1, Tk)` from per-position flags `is_pad: (B, Tk)` (row-major):
/// no query attends to a padded key. It broadcasts over heads and queries.
pub fn padding_mask<T: Float>(is_pad: &[bool], batch: usize, tk: usize) -> Tensor<T> {
    assert_eq!(is_pad.len(), batch * tk, "padding_mask: {} flags for batch {batch} x {tk} keys", is_pad.len());
    let data = is_pad.iter().map(|&p| if p { T::ONE } else { T::ZERO }).collect();
    Tensor::from_vec(data, &[batch, 1, 1, tk])
}

/// Blocks a position when either mask blocks it (their elementwise maximum, broadcast).
pub fn combine_masks<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
    a.maximum(b)
}

/// `softmax(Q K^T / sqrt(d_k) + mask) V`, returning the output `(..., Tq, d_v)` and the attention
/// weights `(..., Tq, Tk)`, both differentiable: the paper's name for
/// [`autograd::composed::attention`], which writes the formula with one autograd op per step
/// (matmul, scale, masked fill, softmax, matmul). [`crate::MultiHeadAttention`] computes the same
/// numbers with a fused op when it does not need the weights as a node (see `mha.rs`).
///
/// ```
/// use autograd::Var;
/// use tensor::Tensor;
/// use transformer::{causal_mask, scaled_dot_product_attention};
/// let x = Var::constant(Tensor::<f64>::rand_normal(&[2, 3, 4], 0.0, 1.0, 0)); // (B, T, d_k)
/// let (out, w) = scaled_dot_product_attention(&x, &x, &x, Some(&causal_mask(3, 3)));
/// assert_eq!((out.shape(), w.shape()), (vec![2, 3, 4], vec![2, 3, 3]));
/// assert_eq!(w.value().get(&[0, 0, 1]), 0.0); // the first query cannot see the second key
/// ```
#[track_caller]
pub fn scaled_dot_product_attention<T: Float>(
    q: &Var<T>,
    k: &Var<T>,
    v: &Var<T>,
    mask: Option<&Tensor<T>>,
) -> (Var<T>, Var<T>) {
    let _scope = autograd::profile::enter(autograd::profile::ATTENTION);
    autograd::composed::attention(q, k, v, mask) // (..., Tq, d_v), (..., Tq, Tk)
}

/// One attention head: its own projections of `d_model` to `d_head` for queries, keys and
/// values, then [`scaled_dot_product_attention`]. [`crate::MultiHeadAttention`] computes all
/// heads at once with one projection each; this type is the one-head picture for study (and a
/// test checks that both agree).
pub struct AttentionHead<T: Float> {
    /// `d_model -> d_head`.
    pub query: Linear<T>,
    /// `d_model -> d_head`.
    pub key: Linear<T>,
    /// `d_model -> d_head`.
    pub value: Linear<T>,
}

impl<T: Float> AttentionHead<T> {
    /// A head reading `d_model` features and attending in `d_head` dimensions.
    pub fn new(d_model: usize, d_head: usize, bias: bool, init: Init, rng: &mut TensorRng) -> Self {
        AttentionHead {
            query: Linear::new(d_model, d_head, bias, init, rng),
            key: Linear::new(d_model, d_head, bias, init, rng),
            value: Linear::new(d_model, d_head, bias, init, rng),
        }
    }

    /// Queries from `x_q: (B, Tq, d_model)`, keys and values from `x_kv: (B, Tk, d_model)` (the
    /// same tensor for self-attention): returns the output `(B, Tq, d_head)` and the attention
    /// weights `(B, Tq, Tk)`, both differentiable. `mask` broadcasts to `(B, Tq, Tk)`.
    #[track_caller]
    pub fn forward(&self, x_q: &Var<T>, x_kv: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Var<T>) {
        let q = self.query.forward(x_q); // (B, Tq, d_head)
        let k = self.key.forward(x_kv); // (B, Tk, d_head)
        let v = self.value.forward(x_kv); // (B, Tk, d_head)
        scaled_dot_product_attention(&q, &k, &v, mask)
    }
}

impl<T: Float> Module<T> for AttentionHead<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("query", self.query.named_parameters());
        v.extend(prefixed("key", self.key.named_parameters()));
        v.extend(prefixed("value", self.value.named_parameters()));
        v
    }
}
