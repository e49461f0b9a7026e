//! The encoder-decoder Transformer of "Attention Is All You Need".
//!
//! ```text
//! src (B, S) -> embed * sqrt(d) + PE -> dropout -> Encoder          -> memory (B, S, d)
//! tgt (B, T) -> embed * sqrt(d) + PE -> dropout -> Decoder(memory)  -> (B, T, d)
//!            -> linear -> logits (B, T, tgt_vocab)   (softmax gives next-token probabilities)
//! ```
//! The decoder's self-attention is causal; both attentions over the source ignore padded
//! source positions. Xavier-initialised, post-LN, ReLU feed-forward, as the paper.

use std::rc::Rc;

use autograd::{Var, no_grad};
use tensor::{Float, Tensor, TensorRng, rng_from_seed};

use crate::attention::{causal_mask, padding_mask};
use crate::block::{Decoder, Encoder, LayerConfig, NormPlacement};
use crate::dropout::{Dropout, DropoutState};
use crate::embedding::Embedding;
use crate::feedforward::Activation;
use crate::linear::{Init, Linear};
use crate::module::{Module, prefixed};
use crate::positional::SinusoidalEncoding;

/// Hyperparameters of the encoder-decoder model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Source vocabulary size.
    pub src_vocab: usize,
    /// Target vocabulary size.
    pub tgt_vocab: usize,
    /// Model width (512 in the paper).
    pub d_model: usize,
    /// Attention heads (8 in the paper).
    pub n_head: usize,
    /// Feed-forward width (2048 in the paper).
    pub d_ff: usize,
    /// Encoder layers (6 in the paper).
    pub n_encoder_layers: usize,
    /// Decoder layers (6 in the paper).
    pub n_decoder_layers: usize,
    /// Longest sequence (rows of the positional table).
    pub max_len: usize,
    /// Dropout probability (0.1 in the paper).
    pub dropout: f64,
    /// Share the target embedding with the output layer (section 3.4).
    pub tie_weights: bool,
    /// Layer norm placement (post-LN in the paper).
    pub norm: NormPlacement,
}

/// The attention weights of an encoder-decoder model, one `(B, h, Tq, Tk)` tensor per layer.
pub struct AttentionMaps<T: Float> {
    /// Encoder self-attention.
    pub encoder: Vec<Tensor<T>>,
    /// Decoder (causal) self-attention.
    pub decoder: Vec<Tensor<T>>,
    /// Decoder cross-attention over the source.
    pub cross: Vec<Tensor<T>>,
}

/// The encoder-decoder model.
pub struct Transformer<T: Float> {
    /// The configuration it was built with.
    pub config: TransformerConfig,
    /// Source token embedding, scaled by sqrt(d).
    pub src_embed: Embedding<T>,
    /// Target token embedding, scaled by sqrt(d).
    pub tgt_embed: Embedding<T>,
    /// The fixed sinusoidal positions.
    pub positions: SinusoidalEncoding<T>,
    /// The encoder stack.
    pub encoder: Encoder<T>,
    /// The decoder stack.
    pub decoder: Decoder<T>,
    /// Output projection to target-vocabulary logits (absent when tied to `tgt_embed`).
    pub generator: Option<Linear<T>>,
    drop: Dropout,
    dropout_state: Rc<DropoutState>,
}

impl<T: Float> Transformer<T> {
    /// A model with Xavier-uniform weights.
    #[track_caller]
    pub fn new(config: TransformerConfig, seed: u64) -> Self {
        if config.n_head == 0 || config.d_model % config.n_head != 0 {
            tensor::op_panic(
                "Transformer",
                format!("d_model {} is not divisible by n_head {}", config.d_model, config.n_head),
            );
        }
        let mut rng: TensorRng = rng_from_seed(seed);
        let state = DropoutState::new(seed ^ 0xd0d0);
        let c = LayerConfig {
            d_model: config.d_model,
            n_head: config.n_head,
            d_ff: config.d_ff,
            dropout: config.dropout,
            bias: true,
            activation: Activation::Relu,
            norm: config.norm,
            init: Init::Xavier,
            residual_init: Init::Xavier,
        };
        let d = config.d_model;
        // Embeddings drawn with std d^-1/2 so that, scaled by sqrt(d), inputs have unit scale.
        let emb_std = 1.0 / (d as f64).sqrt();
        let src_embed = Embedding::new(config.src_vocab, d, emb_std, &mut rng).scaled();
        let tgt_embed = Embedding::new(config.tgt_vocab, d, emb_std, &mut rng).scaled();
        let encoder = Encoder::new(config.n_encoder_layers, &c, &state, &mut rng);
        let decoder = Decoder::new(config.n_decoder_layers, &c, &state, &mut rng);
        let generator = (!config.tie_weights).then(|| Linear::new(d, config.tgt_vocab, true, Init::Xavier, &mut rng));
        Transformer {
            config,
            src_embed,
            tgt_embed,
            positions: SinusoidalEncoding::new(config.max_len, d),
            encoder,
            decoder,
            generator,
            drop: Dropout::new(config.dropout, &state),
            dropout_state: state,
        }
    }

    /// Switches dropout on (training) or off (evaluation).
    pub fn set_training(&self, training: bool) {
        self.dropout_state.set_training(training);
    }

    /// Encodes `src (B, S)`; `src_pad` flags padded positions (row-major `(B, S)`).
    /// Returns the memory `(B, S, d)`.
    pub fn encode(&self, src: &[usize], shape: [usize; 2], src_pad: Option<&[bool]>) -> Var<T> {
        let x = self.drop.forward(&self.positions.forward(&self.src_embed.forward(src, &shape), 0));
        let mask = src_pad.map(|p| padding_mask::<T>(p, shape[0], shape[1])); // (B, 1, 1, S)
        self.encoder.forward(&x, mask.as_ref())
    }

    /// Decodes `tgt (B, T)` against `memory (B, S, d)`; returns logits `(B, T, tgt_vocab)`.
    pub fn decode(&self, tgt: &[usize], shape: [usize; 2], memory: &Var<T>, src_pad: Option<&[bool]>) -> Var<T> {
        let x = self.drop.forward(&self.positions.forward(&self.tgt_embed.forward(tgt, &shape), 0));
        let self_mask = causal_mask::<T>(shape[1], shape[1]); // (T, T)
        let s = memory.shape()[1];
        let memory_mask = src_pad.map(|p| padding_mask::<T>(p, shape[0], s));
        let h = self.decoder.forward(&x, memory, Some(&self_mask), memory_mask.as_ref()); // (B, T, d)
        match &self.generator {
            Some(g) => g.forward(&h),
            None => Linear::from_parameters(self.tgt_embed.weight.clone(), None).forward(&h),
        }
    }

    /// Logits `(B, T, tgt_vocab)` for teacher-forced decoding of `tgt` given `src`.
    pub fn forward(
        &self,
        src: &[usize],
        src_shape: [usize; 2],
        tgt: &[usize],
        tgt_shape: [usize; 2],
        src_pad: Option<&[bool]>,
    ) -> Var<T> {
        let memory = self.encode(src, src_shape, src_pad);
        self.decode(tgt, tgt_shape, &memory, src_pad)
    }

    /// Greedy decoding under `no_grad`: starting from `start`, repeatedly appends the most likely
    /// next token until every sequence has produced `end` or `max_len` tokens were generated.
    /// Returns the generated tokens of each sequence (without `start`, cut after `end`).
    pub fn greedy_decode(
        &self,
        src: &[usize],
        shape: [usize; 2],
        src_pad: Option<&[bool]>,
        start: usize,
        end: usize,
        max_len: usize,
    ) -> Vec<Vec<usize>> {
        let b = shape[0];
        no_grad(|| {
            let memory = self.encode(src, shape, src_pad);
            let mut seqs: Vec<Vec<usize>> = vec![vec![start]; b];
            for _ in 0..max_len {
                let t = seqs[0].len();
                let flat: Vec<usize> = seqs.iter().flatten().copied().collect();
                let logits = self.decode(&flat, [b, t], &memory, src_pad).value(); // (B, t, V)
                let last = logits.narrow(1, t - 1, 1).argmax(-1, false); // (B, 1)
                let next = last.to_vec();
                for (s, n) in seqs.iter_mut().zip(next) {
                    s.push(n.to_f64() as usize);
                }
                if seqs.iter().all(|s| s[1..].contains(&end)) {
                    break;
                }
            }
            seqs.into_iter()
                .map(|s| {
                    let generated = &s[1..];
                    match generated.iter().position(|&x| x == end) {
                        Some(p) => generated[..=p].to_vec(),
                        None => generated.to_vec(),
                    }
                })
                .collect()
        })
    }

    /// Attention weights of every layer from the last forward pass, `(B, h, Tq, Tk)` each.
    pub fn attention_maps(&self) -> AttentionMaps<T> {
        AttentionMaps {
            encoder: self.encoder.layers.iter().filter_map(|l| l.attn.last_attention()).collect(),
            decoder: self.decoder.layers.iter().filter_map(|l| l.attn.last_attention()).collect(),
            cross: self.decoder.layers.iter().filter_map(|l| l.cross_attn.last_attention()).collect(),
        }
    }
}

impl<T: Float> Module<T> for Transformer<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("src_embed", self.src_embed.named_parameters());
        v.extend(prefixed("tgt_embed", self.tgt_embed.named_parameters()));
        v.extend(prefixed("encoder", self.encoder.named_parameters()));
        v.extend(prefixed("decoder", self.decoder.named_parameters()));
        if let Some(g) = &self.generator {
            v.extend(prefixed("generator", g.named_parameters()));
        }
        v
    }
}
