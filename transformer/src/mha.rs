//! Multi-head attention, for self-attention (queries, keys and values from one sequence) and
//! cross-attention (queries from the decoder, keys and values from the encoder output).
//!
//! `MultiHead(Xq, Xkv) = Concat(head_1, ..., head_h) W_O^T`, `head_i = Attention(Xq W_Qi, Xkv W_Ki, Xkv W_Vi)`.
//!
//! All heads are computed at once: one projection each for Q, K and V to `d_model` features,
//! then a reshape `(B, T, d) -> (B, T, h, d_head)` and a permute to `(B, h, T, d_head)` — both
//! views. Without attention dropout (`p = 0`, or evaluation) the heads go through the fused
//! [`Var::attention`] op, which reads them in place and writes its output laid out as
//! `(B, T, h, d_head)`, so merging the heads back (permute, reshape) is a view too. For
//! self-attention the three projections are one product with the stacked weights, and
//! [`Var::attention_packed`] takes its `(B, T, 3 d)` output whole. With dropout on
//! the attention weights, the composed path runs instead ([`attention_weights`], dropout, one
//! batched matmul), and merging copies once (that permuted layout cannot be flattened as a view).

use std::cell::RefCell;
use std::rc::Rc;

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

use crate::attention::{attention_weights, causal_mask};
use crate::dropout::{Dropout, DropoutState};
use crate::linear::{Init, Linear};
use crate::module::{Module, prefixed};

/// Keys and values of earlier positions, kept during generation so each new token costs one
/// position of work instead of recomputing the prefix. Shapes `(B, h, T_past, d_head)`.
#[derive(Clone, Default)]
pub struct KvCache<T: Float> {
    /// Cached keys.
    pub k: Option<Tensor<T>>,
    /// Cached values.
    pub v: Option<Tensor<T>>,
}

impl<T: Float> KvCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        KvCache { k: None, v: None }
    }

    /// How many positions are cached.
    pub fn len(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.shape()[2])
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Multi-head attention with separate `q_proj`, `k_proj`, `v_proj` and `out_proj` (all `d -> d`).
pub struct MultiHeadAttention<T: Float> {
    /// Query projection.
    pub q_proj: Linear<T>,
    /// Key projection.
    pub k_proj: Linear<T>,
    /// Value projection.
    pub v_proj: Linear<T>,
    /// Output projection `W_O`.
    pub out_proj: Linear<T>,
    /// Number of heads `h`; `d_head = d / h`.
    pub n_head: usize,
    attn_dropout: Dropout,
    last_weights: RefCell<Option<Tensor<T>>>,
}

/// `(B, T, d) -> (B, h, T, d_head)`, as views.
fn split_heads<T: Float>(x: &Var<T>, h: usize) -> Var<T> {
    let s = x.shape();
    let (b, t, d) = (s[0], s[1], s[2]);
    x.reshape(&[b, t, h, d / h]).permute(&[0, 2, 1, 3])
}

/// `(B, h, T, d_head) -> (B, T, d)`; the reshape copies unless the heads are a permuted view of a
/// `(B, T, h, d_head)` buffer (see the module doc).
fn merge_heads<T: Float>(x: &Var<T>) -> Var<T> {
    let s = x.shape();
    let (b, h, t, dh) = (s[0], s[1], s[2], s[3]);
    x.permute(&[0, 2, 1, 3]).reshape(&[b, t, h * dh])
}

impl<T: Float> MultiHeadAttention<T> {
    /// `h` heads over `d` features (`d % h == 0`); `out_init` lets GPT-2 scale the residual
    /// projection; dropout on the attention weights draws from `dropout_state`.
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn new(
        d: usize,
        n_head: usize,
        bias: bool,
        init: Init,
        out_init: Init,
        attn_dropout: f64,
        dropout_state: &Rc<DropoutState>,
        rng: &mut TensorRng,
    ) -> Self {
        if n_head == 0 || d % n_head != 0 {
            tensor::op_panic("MultiHeadAttention", format!("d_model {d} is not divisible by n_head {n_head}"));
        }
        MultiHeadAttention {
            q_proj: Linear::new(d, d, bias, init, rng),
            k_proj: Linear::new(d, d, bias, init, rng),
            v_proj: Linear::new(d, d, bias, init, rng),
            out_proj: Linear::new(d, d, bias, out_init, rng),
            n_head,
            attn_dropout: Dropout::new(attn_dropout, dropout_state),
            last_weights: RefCell::new(None),
        }
    }

    /// `x_q: (B, Tq, d)` attends over `x_kv: (B, Tk, d)` -> `(B, Tq, d)`. Pass the same tensor
    /// twice for self-attention. `mask` broadcasts to `(B, h, Tq, Tk)`.
    pub fn forward(&self, x_q: &Var<T>, x_kv: &Var<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        if x_q.id() == x_kv.id() && self.attn_dropout.is_identity() {
            if let Some(qkv) = self.project_qkv(x_q) {
                let merged = autograd::profile::scope(autograd::profile::ATTENTION, || {
                    let (y, weights) = qkv.attention_packed(self.n_head, mask); // (B, h, T, dh)
                    *self.last_weights.borrow_mut() = Some(weights);
                    merge_heads(&y) // (B, T, d), a view
                });
                return self.out_proj.forward(&merged);
            }
        }
        let q = split_heads(&self.q_proj.forward(x_q), self.n_head); // (B, h, Tq, dh)
        let k = split_heads(&self.k_proj.forward(x_kv), self.n_head); // (B, h, Tk, dh)
        let v = split_heads(&self.v_proj.forward(x_kv), self.n_head); // (B, h, Tk, dh)
        self.attend(&q, &k, &v, mask)
    }

    /// Self-attention's three projections as one product: `x (B, T, d)` times the stacked weights
    /// `[W_Q; W_K; W_V]^T (d, 3d)` gives `(B, T, 3d)`, the same numbers as three separate
    /// projections side by side, in one wider GEMM forward and one each for the input's and the
    /// weights' gradients backward (instead of three products and two adds for the input's).
    /// `None` when only some of the three projections have a bias.
    fn project_qkv(&self, x: &Var<T>) -> Option<Var<T>> {
        let s = x.shape();
        let (b, t, d) = (s[0], s[1], s[2]);
        let w = Var::concat(&[&self.q_proj.weight, &self.k_proj.weight, &self.v_proj.weight], 0); // (3d, d)
        let y = x.reshape(&[b * t, d]).matmul(&w.mt()); // (B T, 3d)
        let y = match (&self.q_proj.bias, &self.k_proj.bias, &self.v_proj.bias) {
            (Some(bq), Some(bk), Some(bv)) => y.add(&Var::concat(&[bq, bk, bv], 0)),
            (None, None, None) => y,
            _ => return None,
        };
        Some(y.reshape(&[b, t, 3 * d]))
    }

    /// Causal self-attention over new positions `x: (B, T_new, d)`, reading and extending `cache`.
    /// Meant for generation under `no_grad`: cached keys and values are constants.
    pub fn forward_cached(&self, x: &Var<T>, cache: &mut KvCache<T>) -> Var<T> {
        let q = split_heads(&self.q_proj.forward(x), self.n_head); // (B, h, T_new, dh)
        let mut k = split_heads(&self.k_proj.forward(x), self.n_head).value();
        let mut v = split_heads(&self.v_proj.forward(x), self.n_head).value();
        if let (Some(pk), Some(pv)) = (&cache.k, &cache.v) {
            k = Tensor::concat(&[pk, &k], 2); // (B, h, T_past + T_new, dh)
            v = Tensor::concat(&[pv, &v], 2);
        }
        cache.k = Some(k.clone());
        cache.v = Some(v.clone());
        let (tq, tk) = (q.shape()[2], k.shape()[2]);
        let mask = causal_mask::<T>(tq, tk);
        self.attend(&q, &Var::constant(k), &Var::constant(v), Some(&mask))
    }

    fn attend(&self, q: &Var<T>, k: &Var<T>, v: &Var<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        // The profiler's "attention": the weights, the weighted sum of values, merging the heads.
        let merged = autograd::profile::scope(autograd::profile::ATTENTION, || {
            if self.attn_dropout.is_identity() {
                let (y, weights) = q.attention(k, v, mask); // (B, h, Tq, dh), (B, h, Tq, Tk)
                *self.last_weights.borrow_mut() = Some(weights);
                return merge_heads(&y); // (B, Tq, d), a view
            }
            let weights = attention_weights(q, k, mask); // (B, h, Tq, Tk)
            *self.last_weights.borrow_mut() = Some(weights.value());
            let y = self.attn_dropout.forward(&weights).matmul(v); // (B, h, Tq, dh)
            merge_heads(&y) // (B, Tq, d)
        });
        self.out_proj.forward(&merged) // (B, Tq, d)
    }

    /// The attention weights `(B, h, Tq, Tk)` of the last forward pass, for inspection and plots.
    pub fn last_attention(&self) -> Option<Tensor<T>> {
        self.last_weights.borrow().clone()
    }
}

impl<T: Float> Module<T> for MultiHeadAttention<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("q_proj", self.q_proj.named_parameters());
        v.extend(prefixed("k_proj", self.k_proj.named_parameters()));
        v.extend(prefixed("v_proj", self.v_proj.named_parameters()));
        v.extend(prefixed("out_proj", self.out_proj.named_parameters()));
        v
    }
}
