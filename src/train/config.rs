//! Training settings, named after nanoGPT's configuration keys, and their validation.

use std::path::{Path, PathBuf};

use transformer::GptConfig;

use crate::data::{Task, builtin_text};
use crate::error::{Error, Result};

/// How a text is cut into tokens (`train --tokenizer`). Tasks are always characters.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum TokenizerChoice {
    /// One token per character of the text (nanoGPT's `shakespeare_char`; the default).
    #[default]
    Char,
    /// Byte-level BPE of `vocab_size` tokens, learned from the training split only (the first
    /// 90% of the text): the validation split stays unseen, as it is by the model, so its loss
    /// measures generalisation of the tokenizer too.
    Bpe {
        /// Tokens to learn (at least the 256 byte tokens).
        vocab_size: usize,
    },
    /// A saved byte-level BPE: `vocab.json` and `merges.txt` in this directory (as `gradlab
    /// tokenizer` or Hugging Face write them).
    Dir(PathBuf),
}

/// Where the training text comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A UTF-8 text file: a language model of its characters or its BPE tokens.
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

    /// True when a checkpoint that recorded its source as `recorded` ([`Source::describe`]) was
    /// trained on this source: the same task, the same built-in text, or a path to the same file
    /// however it is spelled (`./x.txt` and `x.txt`, a symbolic link and its target), compared by
    /// what the paths point at now. A built-in name such as `shakespeare` is not a path: it matches
    /// only itself, never a file of that name.
    pub fn is_recorded_as(&self, recorded: &str) -> bool {
        if recorded == self.describe() {
            return true;
        }
        let (Source::Text(path), Some(then)) = (self, recorded.strip_prefix("data:")) else {
            return false;
        };
        let then = Path::new(then);
        if builtin_text(path).is_some() || builtin_text(then).is_some() {
            return false;
        }
        match (std::fs::canonicalize(path), std::fs::canonicalize(then)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
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
    /// How a text is tokenized (tasks: characters only). On resume the checkpoint's tokenizer is
    /// used and this must agree with it; with `init_from` it is not consulted.
    pub tokenizer: TokenizerChoice,
    /// Fine-tune (nanoGPT's `init_from`): start from the weights of this GPT checkpoint (a run's
    /// out dir or its weights file) instead of random ones, on a text that its tokenizer
    /// encodes. The checkpoint's model settings (`block_size` unless
    /// [`TrainConfig::init_block_size`] crops it, `n_layer`, `n_head`, `n_embd`, `bias`) and
    /// tokenizer replace this config's; `dropout` and every optimizer and schedule
    /// setting are this config's, and the step counter, the learning-rate schedule, AdamW's
    /// moments and the random streams (from `seed`) all start fresh. The new checkpoint records
    /// this run's text as its source. Not with `resume`, nor on a task.
    pub init_from: Option<PathBuf>,
    /// With `init_from`: fine-tune at this shorter context, the checkpoint's learned positions
    /// cropped to their first `init_block_size` rows (nanoGPT's `crop_block_size`); the new
    /// checkpoint records it as its block size. At most the checkpoint's block size; `None`
    /// keeps the checkpoint's.
    pub init_block_size: Option<usize>,
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
            tokenizer: TokenizerChoice::Char,
            init_from: None,
            init_block_size: None,
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

    /// This config with the model settings of a checkpoint's `config` (its block size, layers,
    /// heads, width and biases), as a run with [`TrainConfig::init_from`] uses; dropout and the
    /// rest stay this config's, and the block size is [`TrainConfig::init_block_size`] when set.
    pub fn with_model_of(&self, config: &GptConfig) -> Self {
        TrainConfig {
            block_size: self.init_block_size.unwrap_or(config.block_size),
            n_layer: config.n_layer,
            n_head: config.n_head,
            n_embd: config.n_embd,
            bias: config.bias,
            ..self.clone()
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
        if product(&[self.batch_size, self.block_size, self.gradient_accumulation_steps]).is_none() {
            return bad(format!(
                "--batch-size {} x --block-size {} x --gradient-accumulation-steps {} tokens per step \
                 overflows a {}-bit count",
                self.batch_size,
                self.block_size,
                self.gradient_accumulation_steps,
                usize::BITS
            ));
        }
        if let Some(from) = &self.init_from {
            if self.resume {
                return bad(format!(
                    "--init-from {} starts a new run from a checkpoint's weights, --resume continues the run in \
                     --out-dir: choose one",
                    from.display()
                ));
            }
            if let Source::Task(task) = &self.source {
                return bad(format!(
                    "--init-from {} fine-tunes a GPT on a text (--data), not on task {}",
                    from.display(),
                    task.name()
                ));
            }
        }
        match (self.init_block_size, &self.init_from) {
            (Some(0), _) => return bad("--block-size must be at least 1".into()),
            (Some(n), None) => {
                return bad(format!(
                    "a fine-tuning block size ({n}) crops the positions of an --init-from checkpoint: there is none"
                ));
            }
            _ => {}
        }
        if self.threads == Some(0) {
            return bad("--threads must be at least 1".into());
        }
        if let (Source::Task(task), TokenizerChoice::Bpe { .. } | TokenizerChoice::Dir(_)) =
            (&self.source, &self.tokenizer)
        {
            return bad(format!(
                "--tokenizer is for text (--data): task {} is written in its own characters",
                task.name()
            ));
        }
        if let TokenizerChoice::Bpe { vocab_size } = self.tokenizer
            && vocab_size < 256
        {
            return bad(format!(
                "--vocab-size {vocab_size} is too small: a byte-level BPE starts with the 256 byte tokens"
            ));
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

/// What a run needs in memory, worked out from its sizes before anything is allocated, so a size
/// that cannot fit is refused with an error instead of aborting in the allocator.
///
/// An estimate meant as an upper bound of the right order of magnitude, in `f32` (4 bytes):
///
/// - training: every parameter four times (its value, its gradient, and Adam's two moments), plus
///   the activations of one micro-batch twice (the forward values the tape keeps for backward, and
///   their gradients). Per block of a GPT, with `N = batch x block` tokens of width `d`, `h` heads
///   and context `T`: `26 N d` (layer norms, q/k/v and their heads, attention output, residuals,
///   the 4d-wide MLP before and after GELU, dropout masks) and `3 B h T^2` (scores, weights, their
///   dropout mask); then `3 N d + 2 N vocab` for the embeddings, the final norm and the logits
///   with their softmax. The encoder-decoder counts its encoder, decoder and cross-attention the
///   same way.
/// - evaluation: the parameters once and the activations of one batch once (no gradients kept).
///
/// Against the peak resident memory of real runs it reads 1.4 to 2.2 times high (GPTs of width 128
/// to 1024 at batch x block from 12 x 64 to 64 x 64 and 32 x 128, and the encoder-decoder at
/// batch 2048: 1.1 to 1.4 GiB measured where 1.8 to 2.2 GiB was estimated). [`check_memory`]
/// refuses only what exceeds the memory available, so a run is refused only when it would come
/// within that factor of the machine's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Parameters of the model.
    pub parameters: usize,
    /// Bytes the run needs, all told.
    pub bytes: usize,
}

/// Bytes of one `f32`.
const F32: usize = 4;

/// `a * b * ...`, `None` on overflow.
fn product(factors: &[usize]) -> Option<usize> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// `a + b + ...`, `None` on overflow.
fn sum(terms: &[Option<usize>]) -> Option<usize> {
    terms.iter().try_fold(0usize, |acc, t| acc.checked_add((*t)?))
}

impl MemoryEstimate {
    /// Training a GPT of `config` on batches of `batch_size` sequences of `seq_len` tokens (the
    /// block size, or a task's line); `None` if a size overflows a `usize`.
    pub fn gpt_training(config: &GptConfig, batch_size: usize, seq_len: usize) -> Option<Self> {
        let parameters = gpt_parameters(config)?;
        let activations = gpt_activations(config, batch_size, seq_len)?;
        let floats = sum(&[parameters.checked_mul(4), activations.checked_mul(2)])?;
        Some(MemoryEstimate { parameters, bytes: floats.checked_mul(F32)? })
    }

    /// Running a GPT of `config` forward, without gradients, on `batch_size` sequences of
    /// `seq_len` tokens (what `eval` does); `None` on overflow.
    pub fn gpt_evaluation(config: &GptConfig, batch_size: usize, seq_len: usize) -> Option<Self> {
        let parameters = gpt_parameters(config)?;
        let floats = parameters.checked_add(gpt_activations(config, batch_size, seq_len)?)?;
        Some(MemoryEstimate { parameters, bytes: floats.checked_mul(F32)? })
    }

    /// Training the encoder-decoder of `config` on batches of `batch_size` pairs of a source of
    /// `src_len` and a target of `tgt_len` tokens; `None` on overflow.
    pub fn encdec_training(
        config: &transformer::TransformerConfig,
        batch_size: usize,
        src_len: usize,
        tgt_len: usize,
    ) -> Option<Self> {
        let c = config;
        let (d, ff, h, v) = (c.d_model, c.d_ff, c.n_head, c.src_vocab.max(c.tgt_vocab));
        let (ns, nt) = (product(&[batch_size, src_len])?, product(&[batch_size, tgt_len])?);
        // Per layer: attention 4 d^2 + 4 d, feed-forward 2 d ff + ff + d, norms 2 d each.
        let attention = sum(&[product(&[4, d, d]), product(&[4, d])]);
        let feed_forward = sum(&[product(&[2, d, ff]), Some(ff), Some(d)]);
        let encoder_layer = sum(&[attention, feed_forward, product(&[4, d])])?;
        let decoder_layer = sum(&[attention, attention, feed_forward, product(&[6, d])])?;
        let parameters = sum(&[
            product(&[3, v, d]), // two embeddings and the generator
            Some(v),
            product(&[c.n_encoder_layers, encoder_layer]),
            product(&[c.n_decoder_layers, decoder_layer]),
            product(&[4, d]),
        ])?;
        let encoder_acts =
            sum(&[product(&[16, ns, d]), product(&[3, ns, ff]), product(&[3, batch_size, h, src_len, src_len])])?;
        let decoder_acts = sum(&[
            product(&[26, nt, d]),
            product(&[4, ns, d]), // cross-attention keys and values of the memory
            product(&[3, nt, ff]),
            product(&[3, batch_size, h, tgt_len, tgt_len]),
            product(&[3, batch_size, h, tgt_len, src_len]),
        ])?;
        let activations = sum(&[
            product(&[c.n_encoder_layers, encoder_acts]),
            product(&[c.n_decoder_layers, decoder_acts]),
            product(&[3, ns.checked_add(nt)?, d]),
            product(&[3, nt, v]),
        ])?;
        let floats = sum(&[
            parameters.checked_mul(4),
            activations.checked_mul(2),
            product(&[c.max_len, d]), // the sinusoidal table
        ])?;
        Some(MemoryEstimate { parameters, bytes: floats.checked_mul(F32)? })
    }
}

/// Parameters of a GPT, counted from its configuration (the LM head shares the token embedding).
fn gpt_parameters(c: &GptConfig) -> Option<usize> {
    let d = c.n_embd;
    // Per block: q, k, v, out (4 d^2), MLP (8 d^2), two norm gains (2 d); with biases, 4 d + 5 d
    // for the linear layers and 2 d for the norms.
    let per_block = sum(&[product(&[12, d, d]), product(&[if c.bias { 13 } else { 2 }, d])])?;
    sum(&[
        product(&[c.vocab_size, d]),
        product(&[c.block_size, d]),
        product(&[c.n_layer, per_block]),
        product(&[if c.bias { 2 } else { 1 }, d]),
    ])
}

/// Floats of one forward pass's activations (see [`MemoryEstimate`]).
fn gpt_activations(c: &GptConfig, batch_size: usize, seq_len: usize) -> Option<usize> {
    let n = product(&[batch_size, seq_len])?;
    let per_block = sum(&[product(&[26, n, c.n_embd]), product(&[3, batch_size, c.n_head, seq_len, seq_len])])?;
    sum(&[product(&[c.n_layer, per_block]), product(&[3, n, c.n_embd]), product(&[2, n, c.vocab_size])])
}

/// Bytes of memory available to a new allocation: `MemAvailable` in `/proc/meminfo` (Linux), or
/// `None` where that cannot be read.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// Refuses a run whose [`MemoryEstimate`] exceeds the memory available ([`available_memory`]),
/// or whose sizes overflow (`estimate` is `None`); `what` describes the run and its sizes for the
/// message. Where the available memory cannot be read, only an overflow is refused.
///
/// # Errors
/// [`Error::TooLarge`], saying how much the run needs and how much the machine has.
pub fn check_memory(estimate: Option<MemoryEstimate>, what: impl FnOnce() -> String) -> Result<()> {
    let available = available_memory();
    let fits = match (estimate, available) {
        (None, _) => false,
        (Some(e), Some(a)) => (e.bytes as u64) <= a,
        (Some(_), None) => true,
    };
    if fits {
        return Ok(());
    }
    Err(Error::TooLarge { what: what(), needed: estimate.map(|e| e.bytes), available })
}
