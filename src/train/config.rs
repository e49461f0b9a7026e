//! Training settings, named after nanoGPT's configuration keys, and their validation.

use std::path::PathBuf;

use transformer::GptConfig;

use crate::data::Task;
use crate::error::{Error, Result};

/// Where the training text comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A UTF-8 text file: a character-level language model.
    Text(PathBuf),
    /// A built-in synthetic task.
    Task(Task),
}

impl Source {
    /// How a checkpoint records the source: `data:<path>` or `task:<name>`.
    pub fn describe(&self) -> String {
        match self {
            Source::Text(p) => format!("data:{}", p.display()),
            Source::Task(t) => format!("task:{}", t.name()),
        }
    }
}

/// Everything a training run needs. [`TrainConfig::for_task`] and [`TrainConfig::for_text`]
/// give the defaults; the command line overrides any field.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// What to train on.
    pub source: Source,
    /// Where checkpoints, metrics and plots go.
    pub out_dir: PathBuf,
    /// Context length (for a task: at least one line minus one character).
    pub block_size: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Micro-batches whose gradients are accumulated into one step.
    pub gradient_accumulation_steps: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Model width.
    pub n_embd: usize,
    /// Dropout probability.
    pub dropout: f64,
    /// Biases in linear layers and layer norms.
    pub bias: bool,
    /// Optimizer steps.
    pub max_iters: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Final learning rate of the cosine decay.
    pub min_lr: f64,
    /// Linear warmup steps.
    pub warmup_iters: usize,
    /// Step at which the cosine decay reaches `min_lr`.
    pub lr_decay_iters: usize,
    /// AdamW weight decay (weight matrices only).
    pub weight_decay: f64,
    /// AdamW beta1.
    pub beta1: f64,
    /// AdamW beta2.
    pub beta2: f64,
    /// Clip the global gradient norm to this (0 disables clipping).
    pub grad_clip: f64,
    /// Evaluate (and checkpoint) every this many steps.
    pub eval_interval: usize,
    /// Batches averaged per evaluation.
    pub eval_iters: usize,
    /// Seed of initialisation, batches and dropout.
    pub seed: u64,
    /// Worker threads (None: one per core).
    pub threads: Option<usize>,
    /// Continue from the checkpoint in `out_dir`.
    pub resume: bool,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

impl TrainConfig {
    /// The embedded default: a small GPT learning to sort six digits (`cargo run --release`).
    pub fn for_task(task: Task) -> Self {
        TrainConfig {
            source: Source::Task(task),
            out_dir: PathBuf::from("out"),
            block_size: task.line_len() - 1,
            batch_size: 64,
            gradient_accumulation_steps: 1,
            n_layer: 2,
            n_head: 4,
            n_embd: 64,
            dropout: 0.0,
            bias: false,
            max_iters: 1500,
            learning_rate: 3e-3,
            min_lr: 3e-4,
            warmup_iters: 100,
            lr_decay_iters: 1500,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            grad_clip: 1.0,
            eval_interval: 250,
            eval_iters: 20,
            seed: 1337,
            threads: None,
            resume: false,
            progress: true,
        }
    }

    /// nanoGPT's CPU configuration for a character-level model of a text file.
    pub fn for_text(path: PathBuf) -> Self {
        TrainConfig {
            source: Source::Text(path),
            block_size: 64,
            batch_size: 12,
            n_layer: 4,
            n_head: 4,
            n_embd: 128,
            max_iters: 2000,
            learning_rate: 1e-3,
            min_lr: 1e-4,
            warmup_iters: 100,
            lr_decay_iters: 2000,
            eval_interval: 250,
            eval_iters: 20,
            ..Self::for_task(Task::Sort)
        }
    }

    /// The model configuration for a vocabulary.
    pub fn gpt_config(&self, vocab_size: usize) -> GptConfig {
        GptConfig {
            vocab_size,
            block_size: self.block_size,
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_embd: self.n_embd,
            dropout: self.dropout,
            bias: self.bias,
        }
    }

    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        for (name, v) in [
            ("--block-size", self.block_size),
            ("--batch-size", self.batch_size),
            ("--gradient-accumulation-steps", self.gradient_accumulation_steps),
            ("--n-layer", self.n_layer),
            ("--n-head", self.n_head),
            ("--n-embd", self.n_embd),
            ("--eval-interval", self.eval_interval),
            ("--eval-iters", self.eval_iters),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if self.threads == Some(0) {
            return bad("--threads must be at least 1".into());
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return bad(format!("--n-embd {} is not divisible by --n-head {}", self.n_embd, self.n_head));
        }
        for (name, v) in [
            ("--learning-rate", self.learning_rate),
            ("--min-lr", self.min_lr),
            ("--weight-decay", self.weight_decay),
            ("--grad-clip", self.grad_clip),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name} must be a finite number >= 0, got {v}"));
            }
        }
        if self.learning_rate == 0.0 {
            return bad("--learning-rate must be positive".into());
        }
        for (name, v) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} must be in [0, 1), got {v}"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.lr_decay_iters < self.warmup_iters {
            return bad(format!(
                "--lr-decay-iters {} is shorter than --warmup-iters {}",
                self.lr_decay_iters, self.warmup_iters
            ));
        }
        if self.out_dir.exists() && !self.out_dir.is_dir() {
            return bad(format!("--out-dir {} exists and is not a directory", self.out_dir.display()));
        }
        Ok(())
    }
}
