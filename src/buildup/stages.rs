//! The six models of the build-up, from a bigram table to a GPT block, each adding one idea to
//! the one before. All map token ids `(B, T)` to next-token logits `(B, T, V)`, and all are made
//! of the project's own layers.
//!
//! ```text
//! 1 bigram       logits = table[id]                                   no context at all
//! 2 average      x = tok + pos;  h = mean of x over positions <= t     context, but every past
//!                logits = lm_head(h)                                   token weighs the same
//! 3 one head     h = AttentionHead(x)   (causal)                       weights that depend on
//!                                                                      the tokens
//! 4 multi-head   h = MultiHeadAttention(x)   (4 heads of 16)            several patterns at once
//! 5 + feed-fwd   h = FeedForward(MultiHeadAttention(x))                computation per position
//! 6 GPT block    h = ln_f(x + MHA(ln_1 x) ... + FFN(ln_2 .))           residual paths and layer
//!                                                                      norm: the GPT block
//! ```

use autograd::Var;
use tensor::{Tensor, TensorRng};
use transformer::{
    Activation, AttentionConfig, AttentionHead, Block, DropoutState, FeedForward, Init, LayerConfig, LayerNorm,
    LearnedPositional, Linear, Module, MultiHeadAttention, NormPlacement, causal_mask, prefixed,
};

/// The initial weights' standard deviation (GPT-2's).
const STD: f64 = 0.02;

/// One stage of the build-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A token's embedding is its logits.
    Bigram,
    /// Averaging the past with a fixed lower-triangular weight matrix.
    Average,
    /// One self-attention head.
    OneHead,
    /// Multi-head attention.
    MultiHead,
    /// Multi-head attention, then a position-wise feed-forward network.
    FeedForward,
    /// Residual connections and layer norm around both: the GPT block.
    Block,
}

/// Every stage, in order.
pub const STAGES: [Stage; 6] =
    [Stage::Bigram, Stage::Average, Stage::OneHead, Stage::MultiHead, Stage::FeedForward, Stage::Block];

impl Stage {
    /// 1 to 6.
    pub fn number(self) -> usize {
        STAGES.iter().position(|&s| s == self).expect("every stage is listed") + 1
    }

    /// The stage with this number (1 to 6).
    pub fn from_number(n: usize) -> Option<Stage> {
        n.checked_sub(1).and_then(|i| STAGES.get(i)).copied()
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Bigram => "bigram",
            Stage::Average => "average the past",
            Stage::OneHead => "one attention head",
            Stage::MultiHead => "multi-head attention",
            Stage::FeedForward => "+ feed-forward",
            Stage::Block => "+ residual + layer norm",
        }
    }

    /// Builds the stage's model with fresh weights from `rng`.
    pub fn model(
        self,
        vocab: usize,
        block_size: usize,
        n_embd: usize,
        n_head: usize,
        rng: &mut TensorRng,
    ) -> StageModel {
        let d = n_embd;
        let body = match self {
            Stage::Bigram => Body::Bigram(transformer::Embedding::new(vocab, vocab, STD, rng)),
            _ => {
                let tok = transformer::Embedding::new(vocab, d, STD, rng);
                let pos = LearnedPositional::new(block_size, d, STD, rng);
                let mixer = match self {
                    Stage::Average => Mixer::Average,
                    Stage::OneHead => Mixer::OneHead(AttentionHead::new(d, d, false, Init::Normal(STD), rng)),
                    Stage::MultiHead => Mixer::MultiHead(mha(d, n_head, rng)),
                    Stage::FeedForward => Mixer::MultiHeadFeedForward(mha(d, n_head, rng), ffn(d, rng)),
                    Stage::Block => Mixer::Block(Box::new(block(d, n_head, rng)), LayerNorm::new(d, false)),
                    Stage::Bigram => unreachable!("handled above"),
                };
                let lm_head = Linear::new(d, vocab, false, Init::Normal(STD), rng);
                Body::Context(Box::new(ContextModel { tok, pos, mixer, lm_head }))
            }
        };
        StageModel { stage: self, body }
    }
}

fn mha(d: usize, n_head: usize, rng: &mut TensorRng) -> MultiHeadAttention<f32> {
    let config = AttentionConfig {
        bias: false,
        init: Init::Normal(STD),
        out_init: Init::Normal(STD),
        ..AttentionConfig::new(d, n_head)
    };
    MultiHeadAttention::new(&config, &DropoutState::new(0), rng)
}

fn ffn(d: usize, rng: &mut TensorRng) -> FeedForward<f32> {
    FeedForward::new(d, 4 * d, Activation::GeluErf, false, Init::Normal(STD), Init::Normal(STD), rng)
}

/// The GPT's block exactly (`transformer::Gpt` stacks these): pre-LN, GELU, no dropout.
fn block(d: usize, n_head: usize, rng: &mut TensorRng) -> Block<f32> {
    let config = LayerConfig {
        d_model: d,
        n_head,
        d_ff: 4 * d,
        dropout: 0.0,
        bias: false,
        activation: Activation::GeluErf,
        norm: NormPlacement::Pre,
        init: Init::Normal(STD),
        residual_init: Init::Normal(STD / 2f64.sqrt()), // GPT-2's 1 / sqrt(2 n_layer), one layer
    };
    Block::new(&config, &DropoutState::new(0), rng)
}

/// How positions exchange information, stage by stage.
enum Mixer {
    Average,
    OneHead(AttentionHead<f32>),
    MultiHead(MultiHeadAttention<f32>),
    MultiHeadFeedForward(MultiHeadAttention<f32>, FeedForward<f32>),
    Block(Box<Block<f32>>, LayerNorm<f32>),
}

enum Body {
    Bigram(transformer::Embedding<f32>),
    Context(Box<ContextModel>),
}

/// Stages 2-6: token and position embeddings, a mixer, a linear head.
struct ContextModel {
    tok: transformer::Embedding<f32>,
    pos: LearnedPositional<f32>,
    mixer: Mixer,
    lm_head: Linear<f32>,
}

/// A stage's model.
pub struct StageModel {
    /// Which stage it is.
    pub stage: Stage,
    body: Body,
}

/// `(T, T)`: row `t` holds `1 / (t + 1)` in columns `0..=t` and 0 after: multiplying by it
/// replaces each position by the mean of itself and everything before it.
pub fn averaging_matrix(t: usize) -> Tensor<f32> {
    let w = (0..t * t).map(|n| if n % t <= n / t { 1.0 / (n / t + 1) as f32 } else { 0.0 }).collect();
    Tensor::from_vec(w, &[t, t])
}

impl StageModel {
    /// Logits `(B, T, V)` for token ids `(B, T)` given row-major.
    pub fn forward(&self, ids: &[usize], shape: [usize; 2]) -> Var<f32> {
        let [_, t] = shape;
        match &self.body {
            Body::Bigram(table) => table.forward(ids, &shape), // (B, T, V)
            Body::Context(m) => {
                let ContextModel { tok, pos, mixer, lm_head } = m.as_ref();
                let x = pos.forward(&tok.forward(ids, &shape), 0); // (B, T, d)
                let mask = causal_mask::<f32>(t, t); // (T, T), 1 = blocked
                let h = match mixer {
                    Mixer::Average => Var::constant(averaging_matrix(t)).matmul(&x), // (T, T) @ (B, T, d)
                    Mixer::OneHead(head) => head.forward(&x, &x, Some(&mask)).0,     // (B, T, d)
                    Mixer::MultiHead(attn) => attn.forward_self(&x, Some(&mask)).0,  // (B, T, d)
                    Mixer::MultiHeadFeedForward(attn, ff) => ff.forward(&attn.forward_self(&x, Some(&mask)).0),
                    Mixer::Block(block, ln_f) => ln_f.forward(&block.forward(&x, Some(&mask))),
                };
                lm_head.forward(&h) // (B, T, V)
            }
        }
    }

    /// Every parameter with its name.
    pub fn named_parameters(&self) -> Vec<(String, Var<f32>)> {
        match &self.body {
            Body::Bigram(table) => prefixed("table", table.named_parameters()),
            Body::Context(m) => {
                let ContextModel { tok, pos, mixer, lm_head } = m.as_ref();
                let mut p = prefixed("tok", tok.named_parameters());
                p.extend(prefixed("pos", pos.named_parameters()));
                p.extend(match mixer {
                    Mixer::Average => vec![],
                    Mixer::OneHead(head) => prefixed("head", head.named_parameters()),
                    Mixer::MultiHead(attn) => prefixed("attn", attn.named_parameters()),
                    Mixer::MultiHeadFeedForward(attn, ff) => {
                        let mut v = prefixed("attn", attn.named_parameters());
                        v.extend(prefixed("ffn", ff.named_parameters()));
                        v
                    }
                    Mixer::Block(block, ln_f) => {
                        let mut v = prefixed("block", block.named_parameters());
                        v.extend(prefixed("ln_f", ln_f.named_parameters()));
                        v
                    }
                });
                p.extend(prefixed("lm_head", lm_head.named_parameters()));
                p
            }
        }
    }

    /// The number of parameters.
    pub fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, p)| p.numel()).sum()
    }
}
