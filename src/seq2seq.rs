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
//! [`train_seq2seq`] trains and then grades greedy decoding (with the decoder's KV cache,
//! [`transformer::DecodeState`]) on prompts held out from training, as the GPT tasks are graded.

use std::time::Instant;

use autograd::no_grad;
use tensor::{TensorRng, rng_from_seed};
use transformer::optim::{AdamW, LrSchedule, Optimizer, clip_grad_norm};
use transformer::{Module, NormPlacement, Transformer, TransformerConfig};

use crate::data::{Seq2SeqBatch, Split, Task, TaskData};
use crate::error::{Error, Result};
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

/// What a run produced.
pub struct Seq2SeqReport {
    /// The trained model (dropout off).
    pub model: Transformer<f32>,
    /// The training loss of every step.
    pub losses: Vec<f32>,
    /// Greedy answers to 200 held-out prompts.
    pub graded: Vec<Graded>,
    /// Seconds of training (not grading).
    pub train_seconds: f64,
}

impl Seq2SeqReport {
    /// Exact-match accuracy on the held-out prompts.
    pub fn accuracy(&self) -> f64 {
        self.graded.iter().filter(|g| g.correct()).count() as f64 / self.graded.len().max(1) as f64
    }
}

/// Mean loss of one batch: teacher-forced logits against the answers, with label smoothing.
pub fn seq2seq_loss(model: &Transformer<f32>, b: &Seq2SeqBatch, label_smoothing: f64) -> autograd::Var<f32> {
    let logits = model.forward(&b.src, [b.batch_size, b.src_len], &b.tgt_in, [b.batch_size, b.tgt_len], None); // (B, T, V)
    logits.cross_entropy_smoothed(&b.tgt_out, None, label_smoothing)
}

/// Trains an encoder-decoder on `task` and grades it on 200 held-out prompts.
///
/// # Errors
/// [`Error::Config`] for sizes that do not make a model (zero layers or heads, `d_model` not
/// divisible by `n_head`), a zero batch, or smoothing or dropout outside `[0, 1)`.
pub fn train_seq2seq(task: Task, cfg: &Seq2SeqConfig) -> Result<Seq2SeqReport> {
    let bad = |why: String| Err(Error::Config(why));
    if cfg.n_head == 0 || !cfg.d_model.is_multiple_of(cfg.n_head) {
        return bad(format!("d_model {} must be a positive multiple of n_head {}", cfg.d_model, cfg.n_head));
    }
    if cfg.n_encoder_layers == 0 || cfg.n_decoder_layers == 0 || cfg.batch_size == 0 || cfg.d_ff == 0 {
        return bad("layers, d_ff and the batch size must be at least 1".into());
    }
    if !(0.0..1.0).contains(&cfg.label_smoothing) || !(0.0..1.0).contains(&cfg.dropout) {
        return bad(format!(
            "label smoothing and dropout must be in [0, 1), got {} and {}",
            cfg.label_smoothing, cfg.dropout
        ));
    }
    let data = TaskData::new(task, task.line_len())?;
    let (src_len, tgt_len) = data.seq2seq_lengths();
    let vocab = data.tokenizer.vocab_size();
    let config = TransformerConfig {
        src_vocab: vocab,
        tgt_vocab: vocab,
        d_model: cfg.d_model,
        n_head: cfg.n_head,
        d_ff: cfg.d_ff,
        n_encoder_layers: cfg.n_encoder_layers,
        n_decoder_layers: cfg.n_decoder_layers,
        max_len: src_len.max(tgt_len),
        dropout: cfg.dropout,
        tie_weights: false,
        norm: cfg.norm,
    };
    let model = Transformer::<f32>::new(config, cfg.seed);
    let params = model.parameters();
    // The paper's Adam: beta1 0.9, beta2 0.98 (its eps is 1e-9; ours is the optimizer's default).
    let mut opt = AdamW::new(model.named_parameters(), 0.0, 0.0).with_betas(0.9, 0.98);
    let schedule = cfg.schedule();
    let mut batches: TensorRng = rng_from_seed(cfg.seed.wrapping_add(1));
    let started = Instant::now();
    let mut losses = Vec::with_capacity(cfg.max_iters);
    for step in 0..cfg.max_iters {
        let batch = data.seq2seq_batch(Split::Train, cfg.batch_size, &mut batches);
        let loss = seq2seq_loss(&model, &batch, cfg.label_smoothing);
        let value = loss.item();
        if !value.is_finite() {
            return Err(Error::Config(format!("training diverged at step {step}: the loss is {value}")));
        }
        let mut grads = loss.backward();
        if cfg.grad_clip > 0.0 {
            clip_grad_norm(&mut grads, &params, cfg.grad_clip);
        }
        opt.set_learning_rate(schedule.lr_at(step));
        opt.step(&grads);
        losses.push(value);
    }
    let train_seconds = started.elapsed().as_secs_f64();
    model.set_training(false);
    let graded = grade_seq2seq(&model, &data, 200, cfg.seed);
    Ok(Seq2SeqReport { model, losses, graded, train_seconds })
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
