//! Transformer layers and models, every one composed from autograd primitives (no layer writes
//! its own backward), generic over `f32` and `f64`, each gradient-checked numerically.
//!
//! - Layers: [`Linear`], [`Embedding`], [`SinusoidalEncoding`], [`LearnedPositional`],
//!   [`scaled_dot_product_attention`] with [`causal_mask`] and [`padding_mask`],
//!   [`AttentionHead`], [`MultiHeadAttention`] (self and cross), [`FeedForward`], [`LayerNorm`],
//!   [`Dropout`], [`Block`] (the GPT's block and the encoder's layer), [`DecoderBlock`],
//!   [`Encoder`], [`Decoder`].
//! - Models: the encoder-decoder [`Transformer`] of "Attention Is All You Need" and the
//!   decoder-only [`Gpt`]; cached generation with [`KvCache`] (and [`DecodeState`], [`CrossKv`]
//!   for the encoder-decoder).
//! - Attention maps are asked for, not left behind: `forward_with_attention` (on blocks, stacks
//!   and both models) returns the weights a pass computed next to its output, and
//!   [`Gpt::attention_maps`] and [`Transformer::attention_maps`] compute them for given tokens.
//! - Every layer lists its parameters with stable dotted names ([`Module::named_parameters`]);
//!   [`parameter_summary`] prints them by group.

// Every `unsafe` block and impl says why it is sound, in a `SAFETY:` comment the lint checks.
#![deny(clippy::undocumented_unsafe_blocks)]

mod attention;
mod block;
mod dropout;
mod embedding;
mod encdec;
mod feedforward;
mod gpt;
pub mod init;
mod layernorm;
mod linear;
mod mha;
mod module;
pub mod optim;
mod positional;
mod summary;

pub use attention::{AttentionHead, causal_mask, combine_masks, padding_mask, scaled_dot_product_attention};
pub use block::{Block, Decoder, DecoderBlock, Encoder, LayerConfig, NormPlacement};
pub use dropout::{Dropout, DropoutState};
pub use embedding::Embedding;
pub use encdec::{AttentionMaps, DecodeState, Transformer, TransformerConfig};
pub use feedforward::{Activation, FeedForward};
pub use gpt::{Gpt, GptConfig, GptStyle};
pub use layernorm::LayerNorm;
pub use linear::{Init, Linear};
pub use mha::{AttentionConfig, CrossKv, KvCache, MultiHeadAttention};
pub use module::{Module, named, prefixed};
pub use positional::{LearnedPositional, SinusoidalEncoding};
pub use summary::{parameter_group, parameter_summary};
