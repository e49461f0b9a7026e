//! `gradlab`: a from-scratch reverse-mode autodiff engine and a transformer library, for studying
//! backprop, gradient-checking your own ops and layers, and training toy language models on a CPU.
//!
//! This root crate re-exports the workspace's crates and carries the command-line program:
//! - [`tensor`]: the n-dimensional strided tensor, its kernels and matmul;
//! - [`autograd`]: the reverse-mode engine over it, with the numerical gradient checker;
//! - [`transformer`]: layers and models composed from autograd primitives, and optimizers;
//! - [`data`], [`checkpoint`], [`sample`], [`train`]: what the `gradlab` program is made of;
//! - [`beam`]: beam search, for the GPT and for any decoder with a next-token step;
//! - [`bench`](mod@bench): the training benchmark and its per-kind profile;
//! - [`bench_generate`]: the generation benchmark of the KV cache, token speed by context length;
//! - [`buildup`]: from bigram to GPT, six models each adding one idea, trained alike;
//! - [`seq2seq`]: the encoder-decoder trained on a task with the paper's recipe;
//! - [`tokenizer`]: GPT-2's byte-level BPE, trained here or read from Hugging Face's files;
//! - [`guide`]: the learner's guide, every code block compiled and run as a doctest;
//! - [`figures`]: the guide's generated figures, each one function of the code it shows.

// Every `unsafe` block and impl says why it is sound, in a `SAFETY:` comment the lint checks.
#![deny(clippy::undocumented_unsafe_blocks)]

/// The README's Rust examples, compiled and run as doctests so they cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use autograd;
pub use tensor;
pub use transformer;

pub mod beam;
pub mod bench;
pub mod bench_generate;
pub mod buildup;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod error;
pub mod figures;
pub mod guide;
pub mod plot;
pub mod report;
pub mod round_trip;
pub mod sample;
pub mod seq2seq;
pub mod tokenizer;
pub mod train;

pub use error::{Error, Result};
