//! Training the encoder-decoder Transformer of "Attention Is All You Need" on a built-in task,
//! with the paper's recipe scaled to a toy: post-LN, sinusoidal positions, embeddings scaled by
//! `sqrt(d_model)`, Adam with `beta2 = 0.98` and `eps = 1e-9` under the Noam schedule (linear
//! warmup, then `1 / sqrt(step)` decay), label smoothing 0.1 and dropout 0.1.
//!
//! ```text
//! source digits (B, S) -> encoder -> memory (B, S, d)
//! start token + answer[..T-1] (B, T) -> decoder(memory) -> logits (B, T, V)
//!     -> cross-entropy with label smoothing against the answer (B, T)
//! ```
//!
//! This module holds the recipe ([`Seq2SeqConfig`]), the loss ([`seq2seq_loss`]) and the grading
//! of greedy decoding (with the decoder's KV cache, [`transformer::DecodeState`]) on prompts held
//! out from training ([`grade_seq2seq`]); [`crate::train::encdec`] is the training loop
//! (`train --model encdec`).

use autograd::no_grad;
use tensor::rng_from_seed;
use transformer::optim::LrSchedule;
use transformer::{NormPlacement, Transformer};

use crate::data::{Seq2SeqBatch, TaskData};
use crate::train::Graded;

/// The settings of an encoder-decoder run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seq2SeqConfig {
    /// Model width `d_model`.
    pub d_model: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Encoder layers.
    pub n_encoder_layers: usize,
    /// Decoder layers.
    pub n_decoder_layers: usize,
    /// Dropout on embeddings, attention weights and sublayer outputs.
    pub dropout: f64,
    /// Label smoothing of the loss (the paper's 0.1).
    pub label_smoothing: f64,
    /// Layer-norm placement (the paper's post-LN).
    pub norm: NormPlacement,
    /// Examples per step.
    pub batch_size: usize,
    /// Optimizer steps.
    pub max_iters: usize,
    /// Noam warmup steps.
    pub warmup_iters: usize,
    /// Noam's overall factor.
    pub lr_factor: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    pub grad_clip: f64,
    /// Seed of weights, dropout and batches.
    pub seed: u64,
}

impl Default for Seq2SeqConfig {
    fn default() -> Self {
        Seq2SeqConfig {
            d_model: 64,
            n_head: 4,
            d_ff: 256,
            n_encoder_layers: 2,
            n_decoder_layers: 2,
            dropout: 0.1,
            label_smoothing: 0.1,
            norm: NormPlacement::Post,
            batch_size: 64,
            max_iters: 1000,
            warmup_iters: 200,
            lr_factor: 0.5,
            grad_clip: 1.0,
            seed: 1337,
        }
    }
}

impl Seq2SeqConfig {
    /// The learning-rate schedule: Noam over `d_model` and `warmup_iters`.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule::Noam { d_model: self.d_model, warmup: self.warmup_iters, factor: self.lr_factor }
    }
}

/// Mean loss of one batch: teacher-forced logits against the answers, with label smoothing.
pub fn seq2seq_loss(model: &Transformer<f32>, b: &Seq2SeqBatch, label_smoothing: f64) -> autograd::Var<f32> {
    let logits = model.forward(&b.src, [b.batch_size, b.src_len], &b.tgt_in, [b.batch_size, b.tgt_len], None); // (B, T, V)
    logits.cross_entropy_smoothed(&b.tgt_out, None, label_smoothing)
}

/// Greedy answers (decoded with the cache) to `n` held-out prompts, in one batch.
pub fn grade_seq2seq(model: &Transformer<f32>, data: &TaskData, n: usize, seed: u64) -> Vec<Graded> {
    let digits = data.held_out_examples(n, &mut rng_from_seed(seed));
    let examples: Vec<_> = digits.iter().map(|d| data.seq2seq_example(d)).collect();
    let (s, t) = data.seq2seq_lengths();
    let src: Vec<usize> = examples.iter().flat_map(|e| e.src.iter().copied()).collect();
    let start = examples[0].start; // every example of a task starts from the same separator
    let decoded = no_grad(|| model.greedy_decode(&src, [n, s], None, start, usize::MAX, t));
    digits
        .iter()
        .zip(decoded)
        .map(|(d, out)| Graded {
            prompt: data.task.prompt(d),
            output: data.tokenizer.decode(&out),
            expected: data.task.answer(d),
        })
        .collect()
}
