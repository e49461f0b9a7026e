//! Command-line arguments. Flag names follow nanoGPT's configuration keys in kebab case.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Train and study small GPTs with a from-scratch autodiff engine.
///
/// With no subcommand, trains the embedded default: a small GPT learning to sort digits.
#[derive(Parser, Debug)]
#[command(name = "gradlab", version, about, allow_negative_numbers = true)]
pub struct Cli {
    /// What to do (default: train).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a GPT on a text file (--data) or a synthetic task (--task).
    Train(Box<TrainArgs>),
    /// Generate text from a checkpoint.
    Sample(SampleArgs),
    /// Mean cross-entropy of a checkpoint over every block of a text's split.
    Eval(EvalArgs),
    /// Export a checkpoint's weights under nanoGPT's parameter names.
    Export(ExportArgs),
    /// Import GPT-2's weights in Hugging Face's layout (a directory with config.json,
    /// model.safetensors, vocab.json and merges.txt) or a nanoGPT checkpoint (a .safetensors file)
    /// as a checkpoint that sample, eval, export and train --init-from take.
    Import(ImportArgs),
    /// From bigram to GPT: train six models on the built-in tiny-shakespeare, each adding one idea
    /// (averaging the past, an attention head, several heads, a feed-forward layer, residuals and
    /// layer norm), with the same steps, batches and seed, and print their validation losses.
    Buildup(BuildupArgs),
    /// Gradient-check a whole tiny GPT in f64 and print the table.
    Gradcheck(GradcheckArgs),
    /// Write the Graphviz DOT graph of one forward and backward pass of a tiny GPT.
    Graph(GraphArgs),
    /// Time training steps of nanoGPT's CPU configuration: ms/step, tokens/s, GFLOP/s, then a JSON line
    /// (with --generate: KV-cached generation, tokens/s by context length).
    Bench(BenchArgs),
    /// Learn a byte-level BPE vocabulary (GPT-2's kind of tokenizer) from a text and write it as
    /// Hugging Face's vocab.json and merges.txt.
    Tokenizer(TokenizerArgs),
}

/// `train`: unset flags take the defaults of the chosen source (a task or nanoGPT's CPU config for text).
#[derive(Args, Debug, Default)]
#[command(allow_negative_numbers = true, after_help = encdec_defaults_help())]
pub struct TrainArgs {
    /// The model: `gpt`, the decoder-only GPT, or `encdec`, the encoder-decoder Transformer of
    /// "Attention Is All You Need" (built-in tasks only: the encoder reads the prompt, the decoder
    /// writes the answer).
    #[arg(long, value_enum, default_value_t = ModelArg::Gpt)]
    pub model: ModelArg,
    /// Encoder layers (--model encdec).
    #[arg(long)]
    pub n_encoder_layers: Option<usize>,
    /// Decoder layers (--model encdec).
    #[arg(long)]
    pub n_decoder_layers: Option<usize>,
    /// Feed-forward width (--model encdec).
    #[arg(long)]
    pub d_ff: Option<usize>,
    /// Label smoothing of the loss, in [0, 1) (--model encdec; the paper's 0.1).
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Layer-norm placement (--model encdec): post, as the paper, or pre, as GPT-2.
    #[arg(long, value_enum)]
    pub norm: Option<NormArg>,
    /// The Noam schedule's overall factor (--model encdec): the learning rate is
    /// factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5).
    #[arg(long)]
    pub lr_factor: Option<f64>,
    /// A UTF-8 text file, or `shakespeare` for the built-in tiny-shakespeare: train a
    /// language model on it (on characters, or the tokens of --tokenizer). The bare name `shakespeare` always means the built-in
    /// text (a note says so if a file of that name is also here; `./shakespeare` reads the file).
    #[arg(long, conflicts_with = "task")]
    pub data: Option<PathBuf>,
    /// A synthetic task: copy, reverse, sort or add (default: sort).
    #[arg(long)]
    pub task: Option<String>,
    /// Where checkpoints, metrics.jsonl, losses.jsonl and plots go.
    #[arg(long, default_value = "out")]
    pub out_dir: PathBuf,
    /// Context length.
    #[arg(long, help = train_default("Context length", "", |c| c.block_size))]
    pub block_size: Option<usize>,
    /// Sequences per step.
    #[arg(long, help = train_default("Sequences per step", "", |c| c.batch_size))]
    pub batch_size: Option<usize>,
    /// Micro-batches accumulated into one step.
    #[arg(long, help = train_default("Micro-batches accumulated into one step", "", |c| c.gradient_accumulation_steps))]
    pub gradient_accumulation_steps: Option<usize>,
    /// Transformer blocks.
    #[arg(long, help = train_default("Transformer blocks", "", |c| c.n_layer))]
    pub n_layer: Option<usize>,
    /// Attention heads.
    #[arg(long, help = train_default("Attention heads", "", |c| c.n_head))]
    pub n_head: Option<usize>,
    /// Model width.
    #[arg(long, help = train_default("Model width", "", |c| c.n_embd))]
    pub n_embd: Option<usize>,
    /// Dropout probability.
    #[arg(long, help = train_default("Dropout probability", "", |c| c.dropout))]
    pub dropout: Option<f64>,
    /// Use biases in linear layers and layer norms.
    #[arg(long)]
    pub bias: bool,
    /// Optimizer steps.
    #[arg(long, help = train_default("Optimizer steps", "", |c| c.max_iters))]
    pub max_iters: Option<usize>,
    /// Peak learning rate.
    #[arg(long, help = train_default("Peak learning rate", "", |c| c.learning_rate))]
    pub learning_rate: Option<f64>,
    /// Final learning rate.
    #[arg(long, help = train_default("Final learning rate", "", |c| c.min_lr))]
    pub min_lr: Option<f64>,
    /// Linear warmup steps.
    #[arg(long, help = train_default(
        "Linear warmup steps",
        "lowered to a tenth of --lr-decay-iters when that is smaller",
        |c| c.warmup_iters,
    ))]
    pub warmup_iters: Option<usize>,
    /// Step where the cosine decay reaches --min-lr.
    #[arg(long, help = train_default(
        "Step where the cosine decay reaches --min-lr",
        "--max-iters when only that is set",
        |c| c.lr_decay_iters,
    ))]
    pub lr_decay_iters: Option<usize>,
    /// AdamW weight decay on weight matrices.
    #[arg(long, help = train_default("AdamW weight decay on weight matrices", "", |c| c.weight_decay))]
    pub weight_decay: Option<f64>,
    /// AdamW beta1.
    #[arg(long, help = train_default("AdamW beta1", "", |c| c.beta1))]
    pub beta1: Option<f64>,
    /// AdamW beta2.
    #[arg(long, help = train_default("AdamW beta2", "", |c| c.beta2))]
    pub beta2: Option<f64>,
    /// Clip the global gradient norm (0: off).
    #[arg(long, help = train_default("Clip the global gradient norm (0: off)", "", |c| c.grad_clip))]
    pub grad_clip: Option<f64>,
    /// Evaluate and checkpoint every N steps.
    #[arg(long, help = train_default("Evaluate and checkpoint every N steps", "", |c| c.eval_interval))]
    pub eval_interval: Option<usize>,
    /// Batches per evaluation.
    #[arg(long, help = train_default("Batches per evaluation", "", |c| c.eval_iters))]
    pub eval_iters: Option<usize>,
    /// Random seed.
    #[arg(long, help = train_default("Random seed", "", |c| c.seed))]
    pub seed: Option<u64>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Continue from the checkpoint in --out-dir.
    #[arg(long)]
    pub resume: bool,
    /// Fine-tune: start from the weights of this checkpoint (a run's out dir or its weights
    /// file) on --data, with a fresh step counter, learning-rate schedule and optimizer
    /// (nanoGPT's `init_from`). The checkpoint fixes the model and its tokenizer, so
    /// --n-layer, --n-head, --n-embd, --bias, --tokenizer and --vocab-size are refused;
    /// --dropout applies to this run, and --block-size N (at most the checkpoint's) fine-tunes
    /// at a shorter context, its learned positions cropped to the first N. Not with --resume,
    /// --task or --model encdec.
    #[arg(long, value_name = "CKPT")]
    pub init_from: Option<PathBuf>,
    /// How --data is cut into tokens: `char` (one token per character, the default), `bpe`
    /// (byte-level BPE of --vocab-size tokens, learned from the training split), or a directory
    /// holding a saved BPE's vocab.json and merges.txt (from `gradlab tokenizer` or Hugging Face;
    /// write `./bpe` for a directory called bpe). The checkpoint carries the tokenizer.
    #[arg(long, value_name = "char|bpe|DIR")]
    pub tokenizer: Option<String>,
    /// Tokens a `--tokenizer bpe` learns (at least 256, the byte tokens).
    #[arg(long)]
    pub vocab_size: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Which model `train` trains.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModelArg {
    /// The decoder-only GPT.
    #[default]
    Gpt,
    /// The encoder-decoder Transformer.
    Encdec,
}

/// Layer-norm placement.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormArg {
    /// Norm after each residual add (the paper).
    Post,
    /// Norm before each sublayer (GPT-2).
    Pre,
}

/// The end of `train --help`: the encoder-decoder's defaults, from the code that applies them.
fn encdec_defaults_help() -> String {
    let m = crate::seq2seq::Seq2SeqConfig::default();
    let r = crate::cli::encdec::ENCDEC_EVAL_DEFAULTS;
    format!(
        "With --model encdec, unset flags take the encoder-decoder's defaults: --n-embd {} (d_model), \
         --n-head {}, --d-ff {}, --n-encoder-layers {}, --n-decoder-layers {}, --dropout {}, \
         --label-smoothing {}, --norm {}, --batch-size {}, --max-iters {}, --warmup-iters {} and \
         --lr-factor {} (the Noam schedule), --grad-clip {}, --eval-interval {}, --eval-iters {}, --seed {}. \
         The GPT's --data, --block-size, --n-layer, --bias, --gradient-accumulation-steps, \
         --learning-rate, --min-lr, --lr-decay-iters, --weight-decay, --beta1, --beta2, --tokenizer and --vocab-size do not apply \
         and are refused; so are the encoder-decoder's flags without --model encdec.",
        m.d_model,
        m.n_head,
        m.d_ff,
        m.n_encoder_layers,
        m.n_decoder_layers,
        m.dropout,
        m.label_smoothing,
        crate::checkpoint::norm_name(m.norm),
        m.batch_size,
        m.max_iters,
        m.warmup_iters,
        m.lr_factor,
        m.grad_clip,
        r.0,
        r.1,
        m.seed
    )
}

/// The help of a `train` flag: `what`, then the flag's default as [`crate::train::TrainConfig::for_text`]
/// (`--data`) and [`crate::train::TrainConfig::for_task`] (`--task`, or neither) set it, one value
/// where all agree (`Attention heads [default: 4]`), else one per source (`Transformer blocks
/// [default: 4 with --data; 2 with --task]`, tasks named where they differ), then `note` if any.
/// Computed from those configurations, so the help says what the code does.
fn train_default<T: PartialEq + std::fmt::Display>(
    what: &str,
    note: &str,
    field: fn(&crate::train::TrainConfig) -> T,
) -> String {
    use crate::data::Task;
    use crate::train::TrainConfig;
    let text = field(&TrainConfig::for_text(PathBuf::new()));
    // The tasks grouped by their value, in the order of `Task::ALL`.
    let mut tasks: Vec<(T, Vec<&str>)> = Vec::new();
    for task in Task::ALL {
        let value = field(&TrainConfig::for_task(task));
        match tasks.iter_mut().find(|(v, _)| *v == value) {
            Some((_, names)) => names.push(task.name()),
            None => tasks.push((value, vec![task.name()])),
        }
    }
    let mut parts = Vec::new();
    match tasks.as_slice() {
        [(value, _)] if *value == text => parts.push(text.to_string()),
        [(value, _)] => parts.extend([format!("{text} with --data"), format!("{value} with --task")]),
        _ => {
            parts.push(format!("{text} with --data"));
            for (value, names) in &tasks {
                let (last, rest) = names.split_last().expect("a group has a task");
                let names = if rest.is_empty() { last.to_string() } else { format!("{} or {last}", rest.join(", ")) };
                parts.push(format!("{value} with --task {names}"));
            }
        }
    }
    if !note.is_empty() {
        parts.push(note.to_string());
    }
    format!("{what} [default: {}]", parts.join("; "))
}

/// `sample`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct SampleArgs {
    /// The out dir of a training run, or the weights file in it.
    #[arg(long, default_value = "out")]
    pub ckpt: PathBuf,
    /// Text to continue (default: a held-out prompt for a task, a newline for text).
    #[arg(long)]
    pub prompt: Option<String>,
    /// Tokens to generate (default: a task's answer length, 500 for text).
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample only among the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Sample from the smallest set of tokens whose probability reaches p.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Random seed.
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
    /// Number of samples.
    #[arg(long, default_value_t = 1)]
    pub num_samples: usize,
    /// After each sample, show the K most likely next tokens at every step with their
    /// probabilities (the model's softmax at temperature 1), and the token that was picked.
    #[arg(long, value_name = "K")]
    pub show_probs: Option<usize>,
    /// Decode with beam search of this width instead of sampling: the most likely continuation
    /// among those the beams explore (width 1 is greedy). Takes no --temperature, --top-k or --top-p.
    #[arg(long, value_name = "WIDTH", conflicts_with_all = ["top_k", "top_p", "show_probs"])]
    pub beam: Option<usize>,
}

/// Which split `eval` reads.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    /// The first 90% of the text.
    Train,
    /// The last 10% of the text.
    Val,
}

/// `eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The out dir of a training run, or the weights file in it.
    #[arg(long, default_value = "out")]
    pub ckpt: PathBuf,
    /// The text file to evaluate a GPT on, or `shakespeare` for the built-in tiny-shakespeare
    /// (required for a GPT; an encoder-decoder checkpoint is evaluated on its own task).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which split.
    #[arg(long, value_enum, default_value_t = SplitArg::Val)]
    pub split: SplitArg,
    /// Blocks per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

/// Export formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// nanoGPT's `model.py` parameter names and layouts.
    Nanogpt,
}

/// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The out dir of a training run, or the weights file in it.
    #[arg(long, default_value = "out")]
    pub ckpt: PathBuf,
    /// Target naming scheme.
    #[arg(long, value_enum, default_value_t = ExportFormat::Nanogpt)]
    pub format: ExportFormat,
    /// Output file (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
}

/// Import formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// A GPT-2 model directory in Hugging Face's layout: config.json, model.safetensors,
    /// vocab.json, merges.txt (as `save_pretrained` writes it, or `openai-community/gpt2`).
    #[value(name = "hf-gpt2")]
    HfGpt2,
    /// A nanoGPT checkpoint: its state_dict as a .safetensors file, with nanoGPT's GPTConfig as
    /// JSON in the metadata entry "config" (what `gradlab export` writes).
    Nanogpt,
}

/// `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// What --from holds.
    #[arg(long, value_enum)]
    pub format: ImportFormat,
    /// The model directory (hf-gpt2) or the .safetensors file (nanogpt).
    #[arg(long, value_name = "DIR|FILE")]
    pub from: PathBuf,
    /// The checkpoint directory to write model.safetensors in (created if needed). A checkpoint
    /// already there is never written over: the command refuses.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// nanogpt: the model's byte-level BPE tokenizer, a directory holding vocab.json and
    /// merges.txt (from `gradlab tokenizer` or Hugging Face). A nanoGPT checkpoint has no
    /// tokenizer, so nanogpt needs this or --chars. (hf-gpt2 reads the model directory's own.)
    #[arg(long, value_name = "DIR", conflicts_with = "chars")]
    pub tokenizer: Option<PathBuf>,
    /// nanogpt: a character model's tokenizer, the sorted distinct characters of this text (as
    /// nanoGPT's shakespeare_char/prepare.py builds it); `shakespeare` for the built-in text.
    #[arg(long, value_name = "TEXT")]
    pub chars: Option<PathBuf>,
}

/// `gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// Which model to check: a tiny GPT, or a tiny encoder-decoder (post- and pre-LN).
    #[arg(long, value_enum, default_value_t = ModelArg::Gpt)]
    pub model: ModelArg,
    /// Seed of the tiny model and its inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `tokenizer`.
#[derive(Args, Debug)]
pub struct TokenizerArgs {
    /// A UTF-8 text file to learn from, or `shakespeare` for the built-in tiny-shakespeare.
    #[arg(long)]
    pub input: PathBuf,
    /// Tokens wanted: the 256 byte tokens, then one per merge learned (fewer if no pair of tokens
    /// occurs twice any more). Special tokens come on top.
    #[arg(long)]
    pub vocab_size: usize,
    /// The directory to write vocab.json and merges.txt in (created if needed). A file of either
    /// name already there is never written over: the command refuses.
    #[arg(long)]
    pub out: PathBuf,
    /// A special token to add after the learned ones, as GPT-2's `<|endoftext|>` (repeatable).
    #[arg(long = "special-token", value_name = "TEXT")]
    pub special_tokens: Vec<String>,
}

/// `graph`.
#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Output DOT file.
    #[arg(long, default_value = "graph.dot")]
    pub out: PathBuf,
}

/// `bench`: the reference workload (see [`crate::bench`]), or with `--generate` its model
/// generating with the KV cache (see [`crate::bench_generate`]).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Time generation with the KV cache instead of training: ms/token and tokens/s by context
    /// length, from a 1-token prompt to the block size (random weights; --data and --profile do
    /// not apply and are refused).
    #[arg(long)]
    pub generate: bool,
    /// With --generate: time the GPT (default) or the encoder-decoder's cached decoding
    /// (`encdec`: the source encoded once, then one target position per step).
    #[arg(long, value_enum, default_value_t = ModelArg::Gpt)]
    pub model: ModelArg,
    /// A text file (or `shakespeare`, built in) to draw batches from (default: random tokens over a
    /// 65-character vocabulary).
    /// Training only: refused with --generate.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run the steps in a pool of this many threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed steps (with --generate: timed sweeps from 1 token to the block size).
    #[arg(long, default_value_t = 50)]
    pub iters: usize,
    /// Untimed steps first (with --generate: untimed sweeps).
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Print where each step's time goes, by kind of op. Training only: refused with --generate.
    #[arg(long)]
    pub profile: bool,
}

/// `buildup`: the six stages of [`crate::buildup`], with the recorded run's settings unless a
/// flag says otherwise.
#[derive(Args, Debug)]
pub struct BuildupArgs {
    /// Run only this stage (1 bigram, 2 average, 3 one head, 4 multi-head, 5 + feed-forward,
    /// 6 + residual + layer norm); repeat the flag for several. Default: all six.
    #[arg(long = "stage")]
    pub stages: Vec<usize>,
    /// Optimizer steps per stage.
    #[arg(long, default_value_t = crate::buildup::BuildupConfig::default().steps)]
    pub steps: usize,
    /// Write `buildup.json` (the results) and `buildup.svg` (the chart) into this directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Run in a pool of this many threads (default: one per core); the results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}
