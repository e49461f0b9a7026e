//! The blocks of both models and their stacks: attention and feed-forward sublayers, each
//! wrapped in a residual connection and a layer norm, with either placement:
//!
//! - post-LN (the paper): `x = LN(x + Dropout(Sublayer(x)))`
//! - pre-LN (GPT-2):      `x = x + Dropout(Sublayer(LN(x)))`
//!
//! [`Block`] (self-attention, feed-forward) is the encoder's layer without a mask and the GPT's
//! block with a causal one; [`DecoderBlock`] adds cross-attention over the encoder's output.
//! Shapes: `x: (B, T, d) -> (B, T, d)` throughout.
//!
//! Each forward pass has a `forward_with_attention` twin that also returns the attention weights
//! the pass computed, for plots; `forward` is that twin without them.

use std::rc::Rc;

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

use crate::dropout::{Dropout, DropoutState};
use crate::feedforward::{Activation, FeedForward};
use crate::layernorm::LayerNorm;
use crate::linear::Init;
use crate::mha::{AttentionConfig, CrossKv, KvCache, MultiHeadAttention};
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

impl LayerConfig {
    /// The configuration of the layer's attention sublayers: its width, heads, biases, dropout
    /// (on the attention weights) and initialisations, `residual_init` for the output projection.
    pub fn attention(&self) -> AttentionConfig {
        AttentionConfig {
            d_model: self.d_model,
            n_head: self.n_head,
            bias: self.bias,
            dropout: self.dropout,
            init: self.init,
            out_init: self.residual_init,
        }
    }

    /// A feed-forward sublayer `d_model -> d_ff -> d_model` as this configuration says.
    fn feed_forward<T: Float>(&self, rng: &mut TensorRng) -> FeedForward<T> {
        FeedForward::new(self.d_model, self.d_ff, self.activation, self.bias, self.init, self.residual_init, rng)
    }
}

/// How a block wraps each of its sublayers: the norm placement, and the dropout on the sublayer's
/// output before the residual addition.
struct Residual {
    norm: NormPlacement,
    dropout: Dropout,
}

impl Residual {
    fn new(c: &LayerConfig, state: &Rc<DropoutState>) -> Self {
        Residual { norm: c.norm, dropout: Dropout::new(c.dropout, state) }
    }

    /// `x + Dropout(f(LN(x)))` (pre-LN) or `LN(x + Dropout(f(x)))` (post-LN); `f` maps
    /// `(B, T, d)` to `(B, T, d)`.
    fn apply<T: Float>(&self, x: &Var<T>, ln: &LayerNorm<T>, f: impl FnOnce(&Var<T>) -> Var<T>) -> Var<T> {
        match self.norm {
            NormPlacement::Pre => x.add(&self.dropout.forward(&f(&ln.forward(x)))), // x + Dropout(f(LN(x)))
            NormPlacement::Post => ln.forward(&x.add(&self.dropout.forward(&f(x)))), // LN(x + Dropout(f(x)))
        }
    }

    /// [`Residual::apply`] around an attention sublayer `f`, which returns its weights beside its
    /// output: returns the residual's output and those weights.
    fn apply_attention<T: Float>(
        &self,
        x: &Var<T>,
        ln: &LayerNorm<T>,
        f: impl FnOnce(&Var<T>) -> (Var<T>, Tensor<T>),
    ) -> (Var<T>, Tensor<T>) {
        let mut weights = None;
        let y = self.apply(x, ln, |h| {
            let (out, w) = f(h);
            weights = Some(w);
            out
        });
        (y, weights.expect("apply calls the sublayer once"))
    }
}

/// A transformer block: self-attention then feed-forward, each in a residual; the GPT's block
/// with a causal mask, the encoder's layer without.
pub struct Block<T: Float> {
    /// Self-attention.
    pub attn: MultiHeadAttention<T>,
    /// Norm of the attention sublayer.
    pub ln_1: LayerNorm<T>,
    /// Position-wise feed-forward network.
    pub mlp: FeedForward<T>,
    /// Norm of the feed-forward sublayer.
    pub ln_2: LayerNorm<T>,
    residual: Residual,
}

impl<T: Float> Block<T> {
    /// A block drawing its weights from `rng` and dropout masks from `state`.
    pub fn new(c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        Block {
            attn: MultiHeadAttention::new(&c.attention(), state, rng),
            ln_1: LayerNorm::new(c.d_model, c.bias),
            mlp: c.feed_forward(rng),
            ln_2: LayerNorm::new(c.d_model, c.bias),
            residual: Residual::new(c, state),
        }
    }

    /// `x: (B, T, d) -> (B, T, d)`; `mask` broadcasts to `(B, h, T, T)`.
    pub fn forward(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        self.forward_with_attention(x, mask).0
    }

    /// [`Block::forward`], also returning the self-attention weights `(B, h, T, T)`.
    pub fn forward_with_attention(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Tensor<T>) {
        let (x, weights) = self.residual.apply_attention(x, &self.ln_1, |h| self.attn.forward_self(h, mask));
        (self.feed_forward(&x), weights)
    }

    /// Causal self-attention over new positions with a KV cache (generation).
    pub fn forward_cached(&self, x: &Var<T>, cache: &mut KvCache<T>) -> Var<T> {
        let x = self.residual.apply(x, &self.ln_1, |h| self.attn.forward_cached(h, cache));
        self.feed_forward(&x)
    }

    /// The feed-forward sublayer, in its residual.
    fn feed_forward(&self, x: &Var<T>) -> Var<T> {
        self.residual.apply(x, &self.ln_2, |h| self.mlp.forward(h))
    }
}

impl<T: Float> Module<T> for Block<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("ln_1", self.ln_1.named_parameters());
        v.extend(prefixed("attn", self.attn.named_parameters()));
        v.extend(prefixed("ln_2", self.ln_2.named_parameters()));
        v.extend(prefixed("mlp", self.mlp.named_parameters()));
        v
    }
}

/// The decoder's block: masked self-attention, cross-attention over the encoder output, then
/// feed-forward, each in a residual.
pub struct DecoderBlock<T: Float> {
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
    residual: Residual,
}

impl<T: Float> DecoderBlock<T> {
    /// A block drawing its weights from `rng` and dropout masks from `state`.
    pub fn new(c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        DecoderBlock {
            attn: MultiHeadAttention::new(&c.attention(), state, rng),
            ln_1: LayerNorm::new(c.d_model, c.bias),
            cross_attn: MultiHeadAttention::new(&c.attention(), state, rng),
            ln_2: LayerNorm::new(c.d_model, c.bias),
            mlp: c.feed_forward(rng),
            ln_3: LayerNorm::new(c.d_model, c.bias),
            residual: Residual::new(c, state),
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
        self.forward_with_attention(x, memory, self_mask, memory_mask).0
    }

    /// [`DecoderBlock::forward`], also returning the self-attention weights `(B, h, T, T)` and
    /// the cross-attention weights `(B, h, T, S)`.
    pub fn forward_with_attention(
        &self,
        x: &Var<T>,
        memory: &Var<T>,
        self_mask: Option<&Tensor<T>>,
        memory_mask: Option<&Tensor<T>>,
    ) -> (Var<T>, Tensor<T>, Tensor<T>) {
        let (x, self_weights) = self.residual.apply_attention(x, &self.ln_1, |h| self.attn.forward_self(h, self_mask));
        let (x, cross_weights) =
            self.residual.apply_attention(&x, &self.ln_2, |h| self.cross_attn.forward_cross(h, memory, memory_mask));
        (self.feed_forward(&x), self_weights, cross_weights)
    }

    /// [`DecoderBlock::forward`] for new target positions `x: (B, T_new, d)` that follow the
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
        let x = self.residual.apply(x, &self.ln_1, |h| self.attn.forward_cached(h, cache));
        let x = self.residual.apply(&x, &self.ln_2, |h| {
            self.cross_attn.forward_kv(h, memory_kv, memory_mask) // (B, T_new, d)
        });
        self.feed_forward(&x)
    }

    /// The feed-forward sublayer, in its residual.
    fn feed_forward(&self, x: &Var<T>) -> Var<T> {
        self.residual.apply(x, &self.ln_3, |h| self.mlp.forward(h))
    }
}

impl<T: Float> Module<T> for DecoderBlock<T> {
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

/// The final layer norm of a stack as `c` says: present when pre-LN (whose last residual sum is
/// otherwise unnormalised), absent when post-LN (every sublayer already ends in one).
fn final_norm_layer<T: Float>(c: &LayerConfig) -> Option<LayerNorm<T>> {
    (c.norm == NormPlacement::Pre).then(|| LayerNorm::new(c.d_model, c.bias))
}

/// The encoder: a stack of [`Block`]s without a causal mask, with a final layer norm when pre-LN.
pub struct Encoder<T: Float> {
    /// The layers, applied in order.
    pub layers: Vec<Block<T>>,
    /// Final norm (pre-LN only).
    pub ln_f: Option<LayerNorm<T>>,
}

impl<T: Float> Encoder<T> {
    /// `n_layer` layers.
    pub fn new(n_layer: usize, c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        Encoder { layers: (0..n_layer).map(|_| Block::new(c, state, rng)).collect(), ln_f: final_norm_layer(c) }
    }

    /// `x: (B, S, d) -> (B, S, d)`; `mask` (source padding) broadcasts to `(B, h, S, S)`.
    pub fn forward(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        self.forward_with_attention(x, mask).0
    }

    /// [`Encoder::forward`], also returning each layer's self-attention weights `(B, h, S, S)`.
    pub fn forward_with_attention(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Vec<Tensor<T>>) {
        let mut x = x.clone();
        let mut maps = Vec::new();
        for layer in &self.layers {
            let (y, weights) = layer.forward_with_attention(&x, mask);
            x = y; // (B, S, d)
            maps.push(weights); // (B, h, S, S)
        }
        (final_norm(&self.ln_f, x), maps)
    }
}

impl<T: Float> Module<T> for Encoder<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        stack_parameters(&self.layers, &self.ln_f)
    }
}

/// The decoder: a stack of [`DecoderBlock`]s, with a final layer norm when pre-LN.
pub struct Decoder<T: Float> {
    /// The layers, applied in order.
    pub layers: Vec<DecoderBlock<T>>,
    /// Final norm (pre-LN only).
    pub ln_f: Option<LayerNorm<T>>,
}

impl<T: Float> Decoder<T> {
    /// `n_layer` layers.
    pub fn new(n_layer: usize, c: &LayerConfig, state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        Decoder { layers: (0..n_layer).map(|_| DecoderBlock::new(c, state, rng)).collect(), ln_f: final_norm_layer(c) }
    }

    /// `x: (B, T, d)`, `memory: (B, S, d)` -> `(B, T, d)`; the masks as [`DecoderBlock::forward`].
    pub fn forward(
        &self,
        x: &Var<T>,
        memory: &Var<T>,
        self_mask: Option<&Tensor<T>>,
        memory_mask: Option<&Tensor<T>>,
    ) -> Var<T> {
        self.forward_with_attention(x, memory, self_mask, memory_mask).0
    }

    /// [`Decoder::forward`], also returning each layer's self-attention weights `(B, h, T, T)`
    /// and, after them, each layer's cross-attention weights `(B, h, T, S)`.
    pub fn forward_with_attention(
        &self,
        x: &Var<T>,
        memory: &Var<T>,
        self_mask: Option<&Tensor<T>>,
        memory_mask: Option<&Tensor<T>>,
    ) -> (Var<T>, Vec<Tensor<T>>, Vec<Tensor<T>>) {
        let mut x = x.clone();
        let (mut self_maps, mut cross_maps) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            let (y, self_weights, cross_weights) = layer.forward_with_attention(&x, memory, self_mask, memory_mask);
            x = y; // (B, T, d)
            self_maps.push(self_weights); // (B, h, T, T)
            cross_maps.push(cross_weights); // (B, h, T, S)
        }
        (final_norm(&self.ln_f, x), self_maps, cross_maps)
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
