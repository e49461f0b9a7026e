//! Encoder and decoder layers: attention and feed-forward sublayers, each wrapped in a residual
//! connection and a layer norm, with either placement:
//!
//! - post-LN (the paper): `x = LN(x + Dropout(Sublayer(x)))`
//! - pre-LN (GPT-2):      `x = x + Dropout(Sublayer(LN(x)))`
//!
//! A GPT block is an encoder layer with a causal mask: self-attention and a feed-forward network.
//! Shapes: `x: (B, T, d) -> (B, T, d)` throughout.

use std::rc::Rc;

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

use crate::dropout::{Dropout, DropoutState};
use crate::feedforward::{Activation, FeedForward};
use crate::layernorm::LayerNorm;
use crate::linear::Init;
use crate::mha::{CrossKv, KvCache, MultiHeadAttention};
use crate::module::{Module, prefixed};

/// Where each sublayer's layer norm sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormPlacement {
    /// After the residual addition, as "Attention Is All You Need".
    Post,
    /// Before the sublayer, inside the residual branch, as GPT-2.
    Pre,
}

/// The sizes and choices shared by every layer of a stack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerConfig {
    /// Model width `d_model`.
    pub d_model: usize,
    /// Number of attention heads.
    pub n_head: usize,
    /// Hidden width of the feed-forward network.
    pub d_ff: usize,
    /// Dropout probability on attention weights and residual branches.
    pub dropout: f64,
    /// Whether linear layers and layer norms have biases.
    pub bias: bool,
    /// Feed-forward nonlinearity.
    pub activation: Activation,
    /// Layer norm placement.
    pub norm: NormPlacement,
    /// Initialisation of the linear layers.
    pub init: Init,
    /// Initialisation of the projections that write into the residual stream (attention output,
    /// second feed-forward layer); GPT-2 scales their std by `1 / sqrt(2 n_layer)`.
    pub residual_init: Init,
}

/// A residual sublayer: `x + Dropout(f(LN(x)))` (pre-LN) or `LN(x + Dropout(f(x)))` (post-LN).
fn residual<T: Float>(
    x: &Var<T>,
    norm: NormPlacement,
    ln: &LayerNorm<T>,
    drop: &Dropout,
    f: impl FnOnce(&Var<T>) -> Var<T>,
) -> Var<T> {
    match norm {
        NormPlacement::Pre => x.add(&drop.forward(&f(&ln.forward(x)))),
        NormPlacement::Post => ln.forward(&x.add(&drop.forward(&f(x)))),
    }
}

/// Self-attention then feed-forward (the encoder layer; with a causal mask, the GPT block).
pub struct EncoderLayer<T: Float> {
    /// Self-attention.
    pub attn: MultiHeadAttention<T>,
    /// Norm of the attention sublayer.
    pub ln_1: LayerNorm<T>,
    /// Position-wise feed-forward network.
    pub mlp: FeedForward<T>,
    /// Norm of the feed-forward sublayer.
    pub ln_2: LayerNorm<T>,
    norm: NormPlacement,
    resid_dropout: Dropout,
}

impl<T: Float> EncoderLayer<T> {
    /// A layer drawing its weights from `rng` and dropout masks from `state`.
    pub fn new(c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        EncoderLayer {
            attn: MultiHeadAttention::new(c.d_model, c.n_head, c.bias, c.init, c.residual_init, c.dropout, state, rng),
            ln_1: LayerNorm::new(c.d_model, c.bias),
            mlp: FeedForward::new(c.d_model, c.d_ff, c.activation, c.bias, c.init, c.residual_init, rng),
            ln_2: LayerNorm::new(c.d_model, c.bias),
            norm: c.norm,
            resid_dropout: Dropout::new(c.dropout, state),
        }
    }

    /// `x: (B, T, d) -> (B, T, d)`; `mask` broadcasts to `(B, h, T, T)`.
    pub fn forward(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        let x = residual(x, self.norm, &self.ln_1, &self.resid_dropout, |h| self.attn.forward(h, h, mask));
        residual(&x, self.norm, &self.ln_2, &self.resid_dropout, |h| self.mlp.forward(h))
    }

    /// Causal self-attention over new positions with a KV cache (generation).
    pub fn forward_cached(&self, x: &Var<T>, cache: &mut KvCache<T>) -> Var<T> {
        let x = residual(x, self.norm, &self.ln_1, &self.resid_dropout, |h| self.attn.forward_cached(h, cache));
        residual(&x, self.norm, &self.ln_2, &self.resid_dropout, |h| self.mlp.forward(h))
    }
}

impl<T: Float> Module<T> for EncoderLayer<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("ln_1", self.ln_1.named_parameters());
        v.extend(prefixed("attn", self.attn.named_parameters()));
        v.extend(prefixed("ln_2", self.ln_2.named_parameters()));
        v.extend(prefixed("mlp", self.mlp.named_parameters()));
        v
    }
}

/// Masked self-attention, cross-attention over the encoder output, then feed-forward.
pub struct DecoderLayer<T: Float> {
    /// Masked (causal) self-attention.
    pub attn: MultiHeadAttention<T>,
    /// Norm of the self-attention sublayer.
    pub ln_1: LayerNorm<T>,
    /// Cross-attention: queries from the decoder, keys and values from the encoder output.
    pub cross_attn: MultiHeadAttention<T>,
    /// Norm of the cross-attention sublayer.
    pub ln_2: LayerNorm<T>,
    /// Position-wise feed-forward network.
    pub mlp: FeedForward<T>,
    /// Norm of the feed-forward sublayer.
    pub ln_3: LayerNorm<T>,
    norm: NormPlacement,
    resid_dropout: Dropout,
}

impl<T: Float> DecoderLayer<T> {
    /// A layer drawing its weights from `rng` and dropout masks from `state`.
    pub fn new(c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        DecoderLayer {
            attn: MultiHeadAttention::new(c.d_model, c.n_head, c.bias, c.init, c.residual_init, c.dropout, state, rng),
            ln_1: LayerNorm::new(c.d_model, c.bias),
            cross_attn: MultiHeadAttention::new(
                c.d_model,
                c.n_head,
                c.bias,
                c.init,
                c.residual_init,
                c.dropout,
                state,
                rng,
            ),
            ln_2: LayerNorm::new(c.d_model, c.bias),
            mlp: FeedForward::new(c.d_model, c.d_ff, c.activation, c.bias, c.init, c.residual_init, rng),
            ln_3: LayerNorm::new(c.d_model, c.bias),
            norm: c.norm,
            resid_dropout: Dropout::new(c.dropout, state),
        }
    }

    /// `x: (B, T, d)` with encoder output `memory: (B, S, d)` -> `(B, T, d)`.
    /// `self_mask` (usually causal) broadcasts to `(B, h, T, T)`, `memory_mask` (source padding)
    /// to `(B, h, T, S)`.
    pub fn forward(
        &self,
        x: &Var<T>,
        memory: &Var<T>,
        self_mask: Option<&Tensor<T>>,
        memory_mask: Option<&Tensor<T>>,
    ) -> Var<T> {
        let x = residual(x, self.norm, &self.ln_1, &self.resid_dropout, |h| self.attn.forward(h, h, self_mask));
        let x = residual(&x, self.norm, &self.ln_2, &self.resid_dropout, |h| {
            self.cross_attn.forward(h, memory, memory_mask)
        });
        residual(&x, self.norm, &self.ln_3, &self.resid_dropout, |h| self.mlp.forward(h))
    }

    /// [`DecoderLayer::forward`] for new target positions `x: (B, T_new, d)` that follow the
    /// positions already in `cache` (generation, under `no_grad`): the causal self-attention
    /// reads and extends `cache`, and the cross-attention reads `memory_kv`, the keys and values
    /// `(B, h, S, d_head)` of `cross_attn.project_kv(memory)`, computed once per memory.
    /// `memory_mask` (source padding) broadcasts to `(B, h, T_new, S)`. Returns `(B, T_new, d)`.
    pub fn forward_cached(
        &self,
        x: &Var<T>,
        cache: &mut KvCache<T>,
        memory_kv: &CrossKv<T>,
        memory_mask: Option<&Tensor<T>>,
    ) -> Var<T> {
        let x = residual(x, self.norm, &self.ln_1, &self.resid_dropout, |h| self.attn.forward_cached(h, cache));
        let x = residual(&x, self.norm, &self.ln_2, &self.resid_dropout, |h| {
            self.cross_attn.forward_kv(h, memory_kv, memory_mask) // (B, T_new, d)
        });
        residual(&x, self.norm, &self.ln_3, &self.resid_dropout, |h| self.mlp.forward(h))
    }
}

impl<T: Float> Module<T> for DecoderLayer<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("ln_1", self.ln_1.named_parameters());
        v.extend(prefixed("attn", self.attn.named_parameters()));
        v.extend(prefixed("ln_2", self.ln_2.named_parameters()));
        v.extend(prefixed("cross_attn", self.cross_attn.named_parameters()));
        v.extend(prefixed("ln_3", self.ln_3.named_parameters()));
        v.extend(prefixed("mlp", self.mlp.named_parameters()));
        v
    }
}

/// The last step of a stack: its final layer norm, if it has one (pre-LN stacks do).
fn final_norm<T: Float>(ln_f: &Option<LayerNorm<T>>, x: Var<T>) -> Var<T> {
    match ln_f {
        Some(ln) => ln.forward(&x),
        None => x,
    }
}

/// A stack's parameters: `layers.{i}.*` in order, then `ln_f.*`.
fn stack_parameters<T: Float, L: Module<T>>(layers: &[L], ln_f: &Option<LayerNorm<T>>) -> Vec<(String, Var<T>)> {
    let mut v = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        v.extend(prefixed(&format!("layers.{i}"), l.named_parameters()));
    }
    if let Some(ln) = ln_f {
        v.extend(prefixed("ln_f", ln.named_parameters()));
    }
    v
}

/// A stack of encoder layers, with a final layer norm when pre-LN (whose last residual sum is
/// otherwise unnormalised).
pub struct Encoder<T: Float> {
    /// The layers, applied in order.
    pub layers: Vec<EncoderLayer<T>>,
    /// Final norm (pre-LN only).
    pub ln_f: Option<LayerNorm<T>>,
}

impl<T: Float> Encoder<T> {
    /// `n_layer` layers.
    pub fn new(n_layer: usize, c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        Encoder {
            layers: (0..n_layer).map(|_| EncoderLayer::new(c, state, rng)).collect(),
            ln_f: (c.norm == NormPlacement::Pre).then(|| LayerNorm::new(c.d_model, c.bias)),
        }
    }

    /// `x: (B, S, d) -> (B, S, d)`.
    pub fn forward(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, mask);
        }
        final_norm(&self.ln_f, x)
    }
}

impl<T: Float> Module<T> for Encoder<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        stack_parameters(&self.layers, &self.ln_f)
    }
}

/// A stack of decoder layers, with a final layer norm when pre-LN.
pub struct Decoder<T: Float> {
    /// The layers, applied in order.
    pub layers: Vec<DecoderLayer<T>>,
    /// Final norm (pre-LN only).
    pub ln_f: Option<LayerNorm<T>>,
}

impl<T: Float> Decoder<T> {
    /// `n_layer` layers.
    pub fn new(n_layer: usize, c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        Decoder {
            layers: (0..n_layer).map(|_| DecoderLayer::new(c, state, rng)).collect(),
            ln_f: (c.norm == NormPlacement::Pre).then(|| LayerNorm::new(c.d_model, c.bias)),
        }
    }

    /// `x: (B, T, d)`, `memory: (B, S, d)` -> `(B, T, d)`.
    pub fn forward(
        &self,
        x: &Var<T>,
        memory: &Var<T>,
        self_mask: Option<&Tensor<T>>,
        memory_mask: Option<&Tensor<T>>,
    ) -> Var<T> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, memory, self_mask, memory_mask);
        }
        final_norm(&self.ln_f, x)
    }

    /// Each layer's cross-attention keys and values over `memory: (B, S, d)`, one
    /// [`CrossKv`] `(B, h, S, d_head)` per layer, for [`Decoder::forward_cached`].
    pub fn project_memory(&self, memory: &Var<T>) -> Vec<CrossKv<T>> {
        self.layers.iter().map(|l| l.cross_attn.project_kv(memory)).collect()
    }

    /// [`Decoder::forward`] for new positions `x: (B, T_new, d)` following those in `caches`
    /// (one [`KvCache`] per layer, extended here), with the cross-attention keys and values of
    /// [`Decoder::project_memory`] instead of the memory. Returns `(B, T_new, d)`.
    ///
    /// # Panics
    /// Unless there is one cache and one `memory_kv` per layer.
    #[track_caller]
    pub fn forward_cached(
        &self,
        x: &Var<T>,
        caches: &mut [KvCache<T>],
        memory_kv: &[CrossKv<T>],
        memory_mask: Option<&Tensor<T>>,
    ) -> Var<T> {
        // `zip` below would silently skip the layers that have no cache.
        if caches.len() != self.layers.len() || memory_kv.len() != self.layers.len() {
            tensor::layer_panic(
                "Decoder::forward_cached",
                format!(
                    "{} KV caches and {} cross keys/values given for {} layers",
                    caches.len(),
                    memory_kv.len(),
                    self.layers.len()
                ),
            );
        }
        let mut x = x.clone();
        for ((layer, cache), kv) in self.layers.iter().zip(caches.iter_mut()).zip(memory_kv) {
            x = layer.forward_cached(&x, cache, kv, memory_mask); // (B, T_new, d)
        }
        final_norm(&self.ln_f, x)
    }
}

impl<T: Float> Module<T> for Decoder<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        stack_parameters(&self.layers, &self.ln_f)
    }
}
