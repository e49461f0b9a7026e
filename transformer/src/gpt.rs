//! A decoder-only autoregressive language model, as GPT-2 and nanoGPT's `model.py`.
//!
//! ```text
//! ids (B, T) -> wte(ids) + wpe(0..T)          (B, T, d)
//!            -> dropout -> n_layer pre-LN blocks (causal self-attention, GELU (erf) MLP)
//!            -> ln_f -> lm_head                (B, T, vocab)
//! ```
//! The LM head shares its weight with the token embedding (weight tying), as nanoGPT does.
//!
//! Two details differ between nanoGPT and OpenAI's GPT-2 without changing a single parameter:
//! the MLP's GELU (nanoGPT's exact erf form, GPT-2's tanh approximation, "gelu_new") and the
//! layer norms' epsilon. [`GptStyle`] holds them; [`Gpt::new`] builds nanoGPT's
//! ([`GptStyle::default`]), [`Gpt::with_style`] any other, e.g. [`GptStyle::GPT2`] for imported
//! GPT-2 weights.

use std::rc::Rc;

use autograd::{Var, no_grad};
use tensor::{Float, Tensor, TensorRng, rng_from_seed};

use crate::attention::causal_mask;
use crate::block::{Block, LayerConfig, NormPlacement};
use crate::dropout::{Dropout, DropoutState};
use crate::embedding::Embedding;
use crate::feedforward::Activation;
use crate::layernorm::LayerNorm;
use crate::linear::{Init, Linear};
use crate::mha::KvCache;
use crate::module::{Module, prefixed};
use crate::positional::LearnedPositional;

/// GPT hyperparameters, named as nanoGPT's `GPTConfig`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GptConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest context (number of learned positions).
    pub block_size: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// Model width.
    pub n_embd: usize,
    /// Dropout probability (embeddings, attention weights, residual branches).
    pub dropout: f64,
    /// Biases in linear layers and layer norms.
    pub bias: bool,
}

impl GptConfig {
    /// Checks the configuration, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("block_size", self.block_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(format!("n_embd {} is not divisible by n_head {}", self.n_embd, self.n_head));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        Ok(())
    }
}

/// The computations of a GPT that have no parameters of their own: which GELU its MLPs use and
/// the epsilon of its layer norms. Kept apart from [`GptConfig`] (the sizes, named as nanoGPT's)
/// because every model trained here uses the default; only imported weights ask for another.
///
/// ```
/// use transformer::{Activation, GptStyle};
/// assert_eq!(GptStyle::default(), GptStyle { activation: Activation::GeluErf, layer_norm_eps: 1e-5 });
/// assert_eq!(GptStyle::GPT2.activation, Activation::GeluTanh);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GptStyle {
    /// The MLP's nonlinearity: [`Activation::GeluErf`] (nanoGPT's `nn.GELU()`) or
    /// [`Activation::GeluTanh`] (GPT-2's "gelu_new").
    pub activation: Activation,
    /// Added to the variance in every layer norm (`ln_1`, `ln_2`, `ln_f`).
    pub layer_norm_eps: f64,
}

impl GptStyle {
    /// OpenAI's GPT-2 as Hugging Face's `GPT2LMHeadModel` computes it: the tanh GELU, epsilon 1e-5.
    pub const GPT2: GptStyle = GptStyle { activation: Activation::GeluTanh, layer_norm_eps: 1e-5 };

    /// Checks the style, naming the first problem: the activation must be a GELU (the GPT's
    /// MLP has no ReLU variant in either source) and the epsilon finite and positive.
    pub fn validate(&self) -> Result<(), String> {
        if self.activation == Activation::Relu {
            return Err("a GPT's activation must be GeluErf or GeluTanh".into());
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!("layer_norm_eps must be finite and positive, got {}", self.layer_norm_eps));
        }
        Ok(())
    }
}

impl Default for GptStyle {
    /// nanoGPT's: the exact erf GELU and PyTorch's default layer-norm epsilon 1e-5.
    fn default() -> Self {
        GptStyle { activation: Activation::GeluErf, layer_norm_eps: 1e-5 }
    }
}

/// The GPT model.
pub struct Gpt<T: Float> {
    /// The configuration it was built with.
    pub config: GptConfig,
    style: GptStyle,
    /// Token embedding `(vocab, d)`, also the LM head's weight.
    pub wte: Embedding<T>,
    /// Learned positions `(block_size, d)`.
    pub wpe: LearnedPositional<T>,
    /// The blocks.
    pub blocks: Vec<Block<T>>,
    /// Final layer norm.
    pub ln_f: LayerNorm<T>,
    drop: Dropout,
    dropout_state: Rc<DropoutState>,
}

impl<T: Float> Gpt<T> {
    /// A model initialised as GPT-2: Normal(0, 0.02) weights, residual projections
    /// Normal(0, 0.02 / sqrt(2 n_layer)), zero biases, unit layer-norm gains.
    ///
    /// Uses nanoGPT's [`GptStyle::default`] (erf GELU, epsilon 1e-5).
    ///
    /// # Panics
    /// On an invalid configuration (see [`GptConfig::validate`]).
    #[track_caller]
    pub fn new(config: GptConfig, seed: u64) -> Self {
        Self::with_style(config, GptStyle::default(), seed)
    }

    /// [`Gpt::new`] computing as `style` says: the same parameters, drawn the same way from
    /// `seed`, with another GELU or layer-norm epsilon.
    ///
    /// ```
    /// use transformer::{Gpt, GptConfig, GptStyle};
    /// let config = GptConfig { vocab_size: 5, block_size: 4, n_layer: 1, n_head: 1, n_embd: 8, dropout: 0.0, bias: true };
    /// let (erf, tanh) = (Gpt::<f64>::new(config, 0), Gpt::<f64>::with_style(config, GptStyle::GPT2, 0));
    /// assert_eq!(erf.wte.weight.value().to_vec(), tanh.wte.weight.value().to_vec());
    /// let (a, b) = (erf.forward(&[1, 2], [1, 2]).value().to_vec(), tanh.forward(&[1, 2], [1, 2]).value().to_vec());
    /// assert!(a.iter().zip(&b).any(|(x, y)| x != y)); // close, but not the same function
    /// ```
    ///
    /// # Panics
    /// On an invalid configuration or style (see [`GptConfig::validate`], [`GptStyle::validate`]).
    #[track_caller]
    pub fn with_style(config: GptConfig, style: GptStyle, seed: u64) -> Self {
        if let Err(e) = config.validate().and_then(|()| style.validate()) {
            tensor::layer_panic("Gpt", e);
        }
        let mut rng: TensorRng = rng_from_seed(seed);
        let dropout_state = DropoutState::new(seed ^ 0xd0d0);
        let c = LayerConfig {
            d_model: config.n_embd,
            n_head: config.n_head,
            d_ff: 4 * config.n_embd,
            dropout: config.dropout,
            bias: config.bias,
            // By default nanoGPT's nn.GELU(), the exact erf form; matching it keeps exported logits equal.
            activation: style.activation,
            norm: NormPlacement::Pre,
            init: Init::Normal(0.02),
            residual_init: Init::Normal(0.02 / (2.0 * config.n_layer as f64).sqrt()),
        };
        let mut gpt = Gpt {
            config,
            style,
            wte: Embedding::new(config.vocab_size, config.n_embd, 0.02, &mut rng),
            wpe: LearnedPositional::new(config.block_size, config.n_embd, 0.02, &mut rng),
            blocks: (0..config.n_layer).map(|_| Block::new(&c, &dropout_state, &mut rng)).collect(),
            ln_f: LayerNorm::new(config.n_embd, config.bias),
            drop: Dropout::new(config.dropout, &dropout_state),
            dropout_state,
        };
        for block in &mut gpt.blocks {
            block.ln_1.eps = style.layer_norm_eps;
            block.ln_2.eps = style.layer_norm_eps;
        }
        gpt.ln_f.eps = style.layer_norm_eps;
        gpt
    }

    /// Its GELU and layer-norm epsilon, fixed at construction ([`Gpt::with_style`]).
    pub fn style(&self) -> GptStyle {
        self.style
    }

    /// Switches dropout on (training) or off (evaluation).
    pub fn set_training(&self, training: bool) {
        self.dropout_state.set_training(training);
    }

    /// The shared dropout state (its RNG is part of a resumable checkpoint).
    pub fn dropout_state(&self) -> &Rc<DropoutState> {
        &self.dropout_state
    }

    fn lm_head(&self, x: &Var<T>) -> Var<T> {
        Linear::from_parameters(self.wte.weight.clone(), None).forward(x)
    }

    /// Logits `(B, T, vocab)` for token ids `(B, T)` given row-major.
    #[track_caller]
    pub fn forward(&self, ids: &[usize], shape: [usize; 2]) -> Var<T> {
        self.forward_with_attention(ids, shape).0
    }

    /// [`Gpt::forward`], also returning each block's attention weights `(B, h, T, T)`, the
    /// numbers the pass computed anyway (before dropout).
    ///
    /// ```
    /// use transformer::{Gpt, GptConfig};
    /// let config = GptConfig { vocab_size: 5, block_size: 4, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
    /// let (logits, maps) = Gpt::<f32>::new(config, 0).forward_with_attention(&[1, 2, 3], [1, 3]);
    /// assert_eq!((logits.shape(), maps.len(), maps[1].shape()), (vec![1, 3, 5], 2, &[1, 2, 3, 3][..]));
    /// ```
    #[track_caller]
    pub fn forward_with_attention(&self, ids: &[usize], shape: [usize; 2]) -> (Var<T>, Vec<Tensor<T>>) {
        let [b, t] = shape;
        self.check_length(t);
        let x = self.wpe.forward(&self.wte.forward(ids, &[b, t]), 0); // (B, T, d)
        let mut x = self.drop.forward(&x);
        let mask = causal_mask::<T>(t, t);
        let mut maps = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (y, weights) = block.forward_with_attention(&x, Some(&mask));
            x = y; // (B, T, d)
            maps.push(weights); // (B, h, T, T)
        }
        (self.lm_head(&self.ln_f.forward(&x)), maps) // (B, T, vocab)
    }

    /// The attention weights `(B, h, T, T)` of every block on token ids `(B, T)`, computed under
    /// `no_grad` when asked (for inspection and plots). Dropout follows the model's switch: call
    /// `set_training(false)` first for the weights the model uses in evaluation.
    #[track_caller]
    pub fn attention_maps(&self, ids: &[usize], shape: [usize; 2]) -> Vec<Tensor<T>> {
        self.check_length(shape[1]); // here, where the panic points at the caller's line
        no_grad(|| self.forward_with_attention(ids, shape).1)
    }

    /// Panics unless a sequence of `t` tokens fits the learned positions.
    #[track_caller]
    fn check_length(&self, t: usize) {
        if t > self.config.block_size {
            tensor::layer_panic("Gpt", format!("sequence length {t} exceeds block_size {}", self.config.block_size));
        }
    }

    /// Next-token probabilities `(B, T, vocab)` for token ids `(B, T)`: the softmax over the
    /// vocabulary that ends the model (as in "Attention Is All You Need", Figure 1). Row `t` is
    /// the distribution of the token after position `t`. Training uses the logits of
    /// [`Gpt::forward`] directly (the fused cross-entropy applies the log-softmax itself).
    ///
    /// ```
    /// use transformer::{Gpt, GptConfig};
    /// let config = GptConfig { vocab_size: 5, block_size: 4, n_layer: 1, n_head: 1, n_embd: 8, dropout: 0.0, bias: true };
    /// let probs = Gpt::<f64>::new(config, 0).probabilities(&[1, 2, 3], [1, 3]).value(); // (1, 3, 5)
    /// let row_sums = probs.sum(&[-1], false).to_vec();
    /// assert!(row_sums.iter().all(|s| (s - 1.0).abs() < 1e-12));
    /// ```
    #[track_caller]
    pub fn probabilities(&self, ids: &[usize], shape: [usize; 2]) -> Var<T> {
        self.forward(ids, shape).softmax(-1) // (B, T, vocab)
    }

    /// Mean cross-entropy of next-token prediction: logits for `ids (B, T)` against `targets (B, T)`.
    #[track_caller]
    pub fn loss(&self, ids: &[usize], targets: &[usize], shape: [usize; 2]) -> Var<T> {
        let logits = self.forward(ids, shape);
        let v = self.config.vocab_size;
        logits.reshape(&[shape[0] * shape[1], v]).cross_entropy(targets, None)
    }

    /// Fresh KV caches, one per block, for [`Gpt::forward_cached`].
    pub fn new_caches(&self) -> Vec<KvCache<T>> {
        vec![KvCache::new(); self.blocks.len()]
    }

    /// Logits `(B, T_new, vocab)` for new tokens `(B, T_new)` that follow the positions already in
    /// `caches`: each new token costs one position of attention work, not a recompute of the prefix.
    ///
    /// # Panics
    /// Unless there is one cache per block (see [`Gpt::new_caches`]), or if the positions would
    /// pass `block_size`.
    #[track_caller]
    pub fn forward_cached(&self, ids: &[usize], shape: [usize; 2], caches: &mut [KvCache<T>]) -> Var<T> {
        let [b, t] = shape;
        // `zip` below would silently skip the blocks that have no cache.
        if caches.len() != self.blocks.len() {
            tensor::layer_panic("Gpt", format!("{} KV caches given for {} blocks", caches.len(), self.blocks.len()));
        }
        let start = caches.first().map_or(0, |c| c.len());
        if start + t > self.config.block_size {
            tensor::layer_panic(
                "Gpt",
                format!("cached length {start} + {t} new tokens exceeds block_size {}", self.config.block_size),
            );
        }
        let x = self.wpe.forward(&self.wte.forward(ids, &[b, t]), start); // (B, T_new, d)
        // The same dropout as `forward`, so both compute one function in training mode too.
        let mut x = self.drop.forward(&x);
        for (block, cache) in self.blocks.iter().zip(caches.iter_mut()) {
            x = block.forward_cached(&x, cache);
        }
        self.lm_head(&self.ln_f.forward(&x))
    }
}

impl<T: Float> Module<T> for Gpt<T> {
    /// Names follow this crate's layers; the LM head is tied to `wte.weight` and not listed twice.
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("wte", self.wte.named_parameters());
        v.extend(prefixed("wpe", self.wpe.named_parameters()));
        for (i, b) in self.blocks.iter().enumerate() {
            v.extend(prefixed(&format!("blocks.{i}"), b.named_parameters()));
        }
        v.extend(prefixed("ln_f", self.ln_f.named_parameters()));
        v
    }
}
