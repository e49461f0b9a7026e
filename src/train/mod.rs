//! The training loop: batches, forward, backward, clipping, AdamW with a warmup-cosine
//! schedule, periodic evaluation with metrics and checkpoints, bit-exact resume, and fine-tuning
//! from a checkpoint's weights (`init_from`).
//!
//! The loop owns the model, the data and the logs of its run. At the end it draws the plots:
//! it reads the logs into plain numbers, asks the model for the attention maps of one sample and
//! hands both to [`crate::report`], which only draws (see there). `RunRecords`, the logs and
//! clocks of a run, is shared with the encoder-decoder's loop in [`encdec`].

mod config;
pub mod encdec;
mod eval;
mod metrics;
mod spin;
mod step;

pub use config::{MemoryEstimate, Source, TokenizerChoice, TrainConfig, available_memory, check_memory};
pub use eval::{Graded, batch_loss, estimate_loss, exact_match, grade_task};
pub use metrics::{EvalRecord, LOSSES_FILE, LossLog, METRICS_FILE, MetricsLog, StepLoss};
pub use spin::with_workers_spinning;
pub use step::{StepBatches, apply_update, step_gradients};

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tensor::{TensorRng, rng_from_seed};
use transformer::optim::{AdamW, LrSchedule, Optimizer};
use transformer::{Gpt, GptConfig, Module};

use crate::checkpoint::{self, ModelMeta, TrainState};
use crate::data::{Dataset, Split, TaskData, TextData, Tokenizer};
use crate::error::{Error, Result};
use crate::plot::LossPoint;
use crate::report::{LossHistory, write_attention_plot, write_loss_plot};
use crate::tokenizer::BpeTokenizer;

/// What a run did, for the caller to print or test.
#[derive(Clone, Debug, Default)]
pub struct TrainReport {
    /// The step this process started at (0, or the checkpoint's step when resuming).
    pub start_step: usize,
    /// Training loss of each step taken by this process, in order (`losses[i]` is step `start_step + i`).
    pub losses: Vec<f32>,
    /// The evaluations of this process.
    pub evals: Vec<EvalRecord>,
    /// For a task: greedy answers to held-out prompts.
    pub graded: Vec<Graded>,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
    /// Parameters in the model.
    pub num_parameters: usize,
    /// The plot files written at the end.
    pub plots: Vec<PathBuf>,
}

impl TrainReport {
    /// Exact-match accuracy on the held-out prompts (tasks only).
    pub fn accuracy(&self) -> Option<f64> {
        eval::exact_match(&self.graded)
    }
}

/// Loads what `cfg.source` names, tokenized by `tokenizer` (a resumed checkpoint's) or else as
/// `cfg.tokenizer` says. A task forces its own block size (one line minus one).
pub fn load_dataset(cfg: &TrainConfig, tokenizer: Option<&Tokenizer>) -> Result<Dataset> {
    match &cfg.source {
        Source::Task(task) => Ok(Dataset::Task(TaskData::new(*task, cfg.block_size)?)),
        Source::Text(path) => {
            let loaded = crate::data::read_text_and_warn(path)?; // a file, or a built-in text by name
            let (text, name) = (&loaded.text, &loaded.name);
            let tokenizer = match (tokenizer, &cfg.tokenizer) {
                (Some(tok), _) => tok.clone(),
                (None, TokenizerChoice::Char) => {
                    return Ok(Dataset::Text(TextData::from_text(text, name, cfg.block_size)?));
                }
                (None, TokenizerChoice::Bpe { vocab_size }) => {
                    // Learned from the training split only (the cut TextData makes, on characters
                    // rather than tokens): the validation text stays unseen.
                    let cut = text.char_indices().nth(text.chars().count() * 9 / 10).map_or(text.len(), |(i, _)| i);
                    Tokenizer::Bpe(Box::new(BpeTokenizer::train(&text[..cut], *vocab_size)?))
                }
                (None, TokenizerChoice::Dir(dir)) => Tokenizer::Bpe(Box::new(BpeTokenizer::load_hf_dir(dir)?)),
            };
            Ok(Dataset::Text(TextData::with_tokenizer(text, name, tokenizer, cfg.block_size)?))
        }
    }
}

/// The sequence length batches use: the configured block size, or a task's line length.
fn effective_block(cfg: &TrainConfig, data: &Dataset) -> usize {
    match data {
        Dataset::Task(t) => t.block_size(),
        Dataset::Text(_) => cfg.block_size,
    }
}

/// Trains as `cfg` says, inside a thread pool of `cfg.threads` workers.
///
/// # Errors
/// [`Error::Config`] for settings that make no run or a resume that does not match its
/// checkpoint; [`Error::TooLarge`] for sizes that cannot fit in memory (checked before anything
/// is allocated or written, see [`MemoryEstimate`]); [`Error::Diverged`] when a loss stops being
/// finite (nothing more is saved); data, checkpoint and I/O errors as they come.
pub fn train(cfg: &TrainConfig) -> Result<TrainReport> {
    cfg.validate()?;
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = cfg.threads {
        builder = builder.num_threads(n);
    }
    let pool = builder
        .build()
        .map_err(|e| Error::Config(format!("cannot start {} threads: {e}", cfg.threads.unwrap_or(0))))?;
    pool.install(|| train_in_pool(cfg))
}

struct Run {
    model: Gpt<f32>,
    opt: AdamW<f32>,
    data_rng: TensorRng,
    step: usize,
    meta: ModelMeta,
}

/// A fresh model and optimizer, or the checkpoint in the out dir when resuming, or, fine-tuning,
/// the weights of `init` (the `init_from` checkpoint, loaded) with a fresh optimizer.
fn start(cfg: &TrainConfig, data: &Dataset, init: Option<(Gpt<f32>, ModelMeta)>) -> Result<Run> {
    let block = effective_block(cfg, data);
    if let Some((loaded, from)) = init {
        // The checkpoint's model with this run's dropout and block size (`with_model_of`: at
        // most the checkpoint's), holding the checkpoint's weights, the learned positions
        // cropped to the block (nanoGPT's `crop_block_size`).
        let config = GptConfig { dropout: cfg.dropout, block_size: cfg.block_size, ..from.config };
        check_training_memory(cfg, &config, block)?;
        let model = Gpt::<f32>::with_style(config, loaded.style(), cfg.seed);
        for ((name, p), (_, q)) in model.named_parameters().iter().zip(loaded.named_parameters()) {
            let value = q.value();
            if p.shape() == value.shape() {
                p.set_value(value);
            } else {
                // Only the position table differs: its first `block_size` rows.
                debug_assert!(name.starts_with("wpe"), "{name}");
                p.set_value(value.narrow(0, 0, config.block_size).contiguous());
            }
        }
        drop(loaded);
        let opt = adamw(cfg, &model);
        let meta =
            ModelMeta { config, tokenizer: from.tokenizer, step: 0, seed: cfg.seed, source: cfg.source.describe() };
        return Ok(Run { model, opt, data_rng: rng_from_seed(cfg.seed.wrapping_add(1)), step: 0, meta });
    }
    if cfg.resume {
        let (model, meta) = checkpoint::load_model(&cfg.out_dir)?;
        // The checkpoint fixes the model; settings that disagree would be silently ignored, or
        // (a longer block) make batches the model cannot take.
        let differences = model_differences(&meta.config, &cfg.gpt_config(meta.config.vocab_size));
        if !differences.is_empty() {
            return Err(Error::Config(format!(
                "cannot resume: the checkpoint in {} has a different model: {}; pass the checkpoint's values",
                cfg.out_dir.display(),
                differences.join(", ")
            )));
        }
        check_training_memory(cfg, &meta.config, block)?;
        let state = checkpoint::load_train_state(&cfg.out_dir, &model)?;
        if state.step > cfg.max_iters {
            // The loop stops when the step equals max_iters: starting past it would never stop.
            return Err(Error::Config(format!(
                "cannot resume: the checkpoint in {} is at step {}, past --max-iters {}",
                cfg.out_dir.display(),
                state.step,
                cfg.max_iters
            )));
        }
        let mut opt = adamw(cfg, &model);
        opt.set_state(state.adam_step, state.m, state.v);
        *model.dropout_state().rng().borrow_mut() = state.dropout_rng.restore();
        return Ok(Run { model, opt, data_rng: state.data_rng.restore(), step: state.step, meta });
    }
    let config = cfg.gpt_config(data.vocab_size());
    config.validate().map_err(Error::Config)?;
    check_training_memory(cfg, &config, block)?;
    let model = Gpt::<f32>::new(config, cfg.seed);
    let opt = adamw(cfg, &model);
    let meta =
        ModelMeta { config, tokenizer: data.tokenizer(), step: 0, seed: cfg.seed, source: cfg.source.describe() };
    // Batches draw from their own stream, separate from initialisation and dropout.
    Ok(Run { model, opt, data_rng: rng_from_seed(cfg.seed.wrapping_add(1)), step: 0, meta })
}

/// Refuses a run of a GPT of `config` on batches of `block` tokens that cannot fit in memory
/// (see [`MemoryEstimate`]), before the model, its optimizer or a batch is allocated.
fn check_training_memory(cfg: &TrainConfig, config: &GptConfig, block: usize) -> Result<()> {
    let estimate = MemoryEstimate::gpt_training(config, cfg.batch_size, block);
    check_memory(estimate, || {
        let parameters = match estimate {
            Some(e) => format!("{} parameters, each with its gradient and Adam's two moments", e.parameters),
            None => "more parameters and activations than a usize can count".to_string(),
        };
        format!(
            "training a GPT with --n-layer {} --n-head {} --n-embd {} --block-size {} over a vocabulary of {} \
             ({parameters}) on --batch-size {} sequences of {block} tokens",
            config.n_layer, config.n_head, config.n_embd, config.block_size, config.vocab_size, cfg.batch_size
        )
    })
}

/// Each model setting where `wanted` differs from the checkpoint's `ckpt`, as
/// `"--n-embd 32 (checkpoint: 16)"`.
fn model_differences(ckpt: &GptConfig, wanted: &GptConfig) -> Vec<String> {
    let mut out = Vec::new();
    for (flag, c, w) in [
        ("--block-size", ckpt.block_size, wanted.block_size),
        ("--n-layer", ckpt.n_layer, wanted.n_layer),
        ("--n-head", ckpt.n_head, wanted.n_head),
        ("--n-embd", ckpt.n_embd, wanted.n_embd),
    ] {
        if c != w {
            out.push(format!("{flag} {w} (checkpoint: {c})"));
        }
    }
    if ckpt.dropout != wanted.dropout {
        out.push(format!("--dropout {} (checkpoint: {})", wanted.dropout, ckpt.dropout));
    }
    if ckpt.bias != wanted.bias {
        out.push(format!("--bias {} (checkpoint: {})", wanted.bias, ckpt.bias));
    }
    out
}

fn adamw(cfg: &TrainConfig, model: &Gpt<f32>) -> AdamW<f32> {
    AdamW::new(model.named_parameters(), cfg.learning_rate, cfg.weight_decay).with_betas(cfg.beta1, cfg.beta2)
}

fn save(cfg: &TrainConfig, run: &Run) -> Result<()> {
    let state = TrainState::capture(run.step, &run.opt, &run.data_rng, &run.model.dropout_state().rng().borrow());
    let meta = ModelMeta { step: run.step, ..run.meta.clone() };
    checkpoint::save(&cfg.out_dir, &run.model, &meta, Some(&state))
}

/// Refuses a resume whose `--tokenizer` disagrees with the checkpoint's tokenizer `ckpt`: a
/// resumed run keeps the tokenizer it started with, and never learns it again. `--tokenizer bpe
/// --vocab-size N` matches a BPE checkpoint of at most N tokens (learning stops early on a text
/// with too few repeated pairs); `--tokenizer DIR`, one whose files hold the same tokenizer.
fn check_resumed_tokenizer(cfg: &TrainConfig, ckpt: &Tokenizer) -> Result<()> {
    let agrees = match (&cfg.tokenizer, ckpt) {
        (TokenizerChoice::Char, Tokenizer::Char(_)) => true,
        (TokenizerChoice::Bpe { vocab_size }, Tokenizer::Bpe(t)) => t.vocab_size() <= *vocab_size,
        (TokenizerChoice::Dir(dir), Tokenizer::Bpe(t)) => BpeTokenizer::load_hf_dir(dir)? == **t,
        _ => false,
    };
    if agrees {
        return Ok(());
    }
    let wanted = match &cfg.tokenizer {
        TokenizerChoice::Char => "--tokenizer char".to_string(),
        TokenizerChoice::Bpe { vocab_size } => format!("--tokenizer bpe --vocab-size {vocab_size}"),
        TokenizerChoice::Dir(dir) => format!("--tokenizer {}", dir.display()),
    };
    let has = match ckpt {
        Tokenizer::Char(t) => format!("a character tokenizer of {} characters (--tokenizer char)", t.vocab_size()),
        Tokenizer::Bpe(t) => format!("a BPE tokenizer of {} tokens", t.vocab_size()),
    };
    Err(Error::Config(format!(
        "cannot resume with {wanted}: the checkpoint in {} has {has}; a resumed run keeps its tokenizer",
        cfg.out_dir.display()
    )))
}

/// The `init_from` checkpoint `from` of a fine-tuning run, loaded: a GPT (an encoder-decoder
/// checkpoint is refused), and not the checkpoint this run's out dir would write over.
fn load_init(cfg: &TrainConfig, from: &Path) -> Result<(Gpt<f32>, ModelMeta)> {
    let weights = checkpoint::resolve(from)?;
    let own = cfg.out_dir.join(checkpoint::MODEL_FILE);
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(&weights), std::fs::canonicalize(&own))
        && a == b
    {
        return Err(Error::Config(format!(
            "--init-from {} is the checkpoint in --out-dir {}, which this run would write over: choose another \
             --out-dir (to continue that run instead, use --resume)",
            from.display(),
            cfg.out_dir.display()
        )));
    }
    checkpoint::load_model(from)
}

fn train_in_pool(cfg: &TrainConfig) -> Result<TrainReport> {
    // Fine-tuning: the checkpoint's model settings replace the config's.
    let init = cfg.init_from.as_deref().map(|from| load_init(cfg, from)).transpose()?;
    let adopted;
    let cfg = match &init {
        Some((_, meta)) => {
            if let Some(n) = cfg.init_block_size
                && n > meta.config.block_size
            {
                return Err(Error::Config(format!(
                    "--block-size {n} is longer than the context of the checkpoint of --init-from {} ({} \
                     positions): a fine-tuning run can crop its learned positions, not add to them; use \
                     --block-size {} or less",
                    cfg.init_from.as_deref().unwrap_or(Path::new("")).display(),
                    meta.config.block_size,
                    meta.config.block_size
                )));
            }
            adopted = cfg.with_model_of(&meta.config);
            adopted.validate()?;
            &adopted
        }
        None => cfg,
    };
    // A resumed or fine-tuned run encodes the data with the checkpoint's tokenizer.
    let ckpt_tokenizer = if let Some((_, meta)) = &init {
        Some(meta.tokenizer.clone())
    } else if cfg.resume {
        checkpoint::resolve(&cfg.out_dir).map_err(|e| {
            Error::Config(format!("--resume needs a checkpoint in --out-dir {}: {e}", cfg.out_dir.display()))
        })?;
        let (_, meta) = checkpoint::load_model(&cfg.out_dir)?;
        // Before the data is read: text of another source may not even fit the vocabulary.
        if !cfg.source.is_recorded_as(&meta.source) {
            return Err(Error::Config(format!(
                "cannot resume: the checkpoint in {} was trained on {}, not {}",
                cfg.out_dir.display(),
                meta.source,
                cfg.source.describe()
            )));
        }
        check_resumed_tokenizer(cfg, &meta.tokenizer)?;
        Some(meta.tokenizer)
    } else {
        None
    };
    let data = load_dataset(cfg, ckpt_tokenizer.as_ref()).map_err(|e| match (e, &cfg.init_from) {
        (e @ Error::UnknownChar { .. }, Some(from)) => Error::Config(format!(
            "cannot fine-tune {} on {}: {e}; a character tokenizer knows only the characters it was trained \
             on (the model has no token for another)",
            from.display(),
            cfg.source.describe().trim_start_matches("data:")
        )),
        (e, _) => e,
    })?;
    let init_note = init.as_ref().map(|(_, meta)| {
        // An imported checkpoint's source is "<format>:<path>" (`gradlab import`).
        let origin = match meta.source.split_once(':') {
            Some((format @ ("hf-gpt2" | "nanogpt"), path)) => format!("imported from {path} ({format})"),
            _ => format!(
                "step {} of a run on {}",
                meta.step,
                meta.source.strip_prefix("data:").map_or_else(|| meta.source.replace(':', " "), str::to_string)
            ),
        };
        format!(
            "initialised from {} ({origin}); the step counter, the learning-rate schedule and the optimizer start \
             fresh",
            cfg.init_from.as_deref().unwrap_or(Path::new("")).display(),
        )
    });
    let mut run = start(cfg, &data, init)?;
    // Only now, with every input checked, is anything created or written.
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| Error::io("cannot create out dir", &cfg.out_dir, e))?;
    let block = effective_block(cfg, &data);
    let schedule = LrSchedule::WarmupCosine {
        max_lr: cfg.learning_rate,
        min_lr: cfg.min_lr,
        warmup_iters: cfg.warmup_iters,
        decay_iters: cfg.lr_decay_iters,
    };
    let params = run.model.parameters();
    let mut report =
        TrainReport { start_step: run.step, num_parameters: run.model.num_parameters(), ..Default::default() };
    let tokens_per_step = cfg.batch_size * block * cfg.gradient_accumulation_steps;
    let hint = format!("Try a lower --learning-rate (it was {:?}) or a --grad-clip", cfg.learning_rate);
    let mut records = RunRecords::open(&cfg.out_dir, cfg.resume.then_some(run.step), tokens_per_step, hint)?;

    let bar = progress_bar(cfg, run.step);
    // Character runs print what they always did; a BPE run says what its tokens are.
    let tokens = match &data {
        Dataset::Text(TextData { tokenizer: Tokenizer::Bpe(t), .. }) => {
            format!(" (byte-level BPE, {} tokens)", t.vocab_size())
        }
        _ => String::new(),
    };
    if let Some(note) = init_note {
        say(&bar, note);
    }
    say(
        &bar,
        format!(
            "training a {}-layer GPT ({} parameters) on {}{tokens} for {} steps, {} tokens per step",
            cfg.n_layer,
            report.num_parameters,
            data.name(),
            cfg.max_iters,
            tokens_per_step
        ),
    );
    loop {
        let step = run.step;
        let lr = schedule.lr_at(step);
        let last = step == cfg.max_iters;
        let resumed_here = cfg.resume && step == report.start_step;
        if (step % cfg.eval_interval == 0 || last) && !resumed_here {
            let (train_loss, val_loss) =
                estimate_loss(&run.model, &data, cfg.batch_size, block, cfg.eval_iters, cfg.seed ^ step as u64);
            if !(train_loss.is_finite() && val_loss.is_finite()) {
                bar.finish_and_clear();
                let loss = if train_loss.is_finite() { val_loss } else { train_loss };
                return Err(records.diverged(step, "evaluation loss", loss));
            }
            say(&bar, format!("step {step}: train loss {train_loss:.4}, val loss {val_loss:.4}"));
            report.evals.push(records.evaluation(step, train_loss, val_loss, lr)?);
            save(cfg, &run)?;
            records.saved(step);
        }
        if last {
            break;
        }

        // One optimizer step: forward and backward over each micro-batch, then clip and update.
        run.opt.set_learning_rate(lr);
        let batches = StepBatches {
            data: &data,
            batch_size: cfg.batch_size,
            block_size: block,
            micro_batches: cfg.gradient_accumulation_steps,
        };
        let (loss, grads) = with_workers_spinning(|| step_gradients(&run.model, &batches, &mut run.data_rng));
        if !loss.is_finite() {
            bar.finish_and_clear();
            return Err(records.diverged(step, "training loss", loss.into()));
        }
        with_workers_spinning(|| apply_update(&mut run.opt, grads, &params, cfg.grad_clip));
        records.step(step, loss);
        report.losses.push(loss);
        run.step += 1;
        bar.set_message(format!("loss {loss:.4}  lr {lr:.2e}  {:.0} tok/s", records.tokens_per_sec()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Dataset::Task(t) = &data {
        report.graded = grade_task(&run.model, t, 200, cfg.seed);
    }
    report.elapsed_s = records.elapsed_s();
    report.plots = write_plots(cfg, &run.model, &data)?;
    Ok(report)
}

/// The plots of a finished run (see [`crate::report`]): the loss curve of the whole run (a
/// resumed one included: the logs hold it all, and nothing that depends on timing, so a resumed
/// run draws the same `loss.svg` as one that never stopped), and the attention of one sample, a
/// held-out line of the task or the start of the validation text. Returns the paths.
fn write_plots(cfg: &TrainConfig, model: &Gpt<f32>, data: &Dataset) -> Result<Vec<PathBuf>> {
    let loss = write_loss_plot(&cfg.out_dir, &loss_history(&cfg.out_dir)?, &format!("loss: {}", data.name()))?;
    let ids: Vec<usize> = match data {
        Dataset::Task(t) => {
            let digits = t.held_out_examples(1, &mut rng_from_seed(cfg.seed))[0].clone();
            let line = format!("{}{}", t.task.prompt(&digits), t.task.answer(&digits));
            let ids = t.tokenizer.encode(&line).expect("task alphabet covers its lines");
            ids[..ids.len() - 1].to_vec() // the model's input: the line without its last character
        }
        Dataset::Text(t) => t.tokens(Split::Val)[..cfg.block_size.min(32)].to_vec(),
    };
    model.set_training(false);
    let maps = model.attention_maps(&ids, [1, ids.len()]); // per layer (1, h, T, T)
    model.set_training(true);
    let tokens: Vec<String> = ids.iter().map(|&i| data.decode(&[i])).collect();
    let attention = write_attention_plot(&cfg.out_dir, &maps, &tokens)?;
    Ok(vec![loss, attention])
}

/// Every step's training loss and every evaluation in the logs of `out_dir`, as plain numbers
/// for the loss plot.
pub(crate) fn loss_history(out_dir: &Path) -> Result<LossHistory> {
    Ok(LossHistory {
        steps: LossLog::read_all(out_dir)?.into_iter().map(|r| (r.step, f64::from(r.loss))).collect(),
        evals: MetricsLog::read_all(out_dir)?
            .into_iter()
            .map(|r| LossPoint { step: r.step, train_loss: r.train_loss, val_loss: r.val_loss })
            .collect(),
    })
}

/// What a training loop records as it goes, the same for the GPT's loop and the
/// encoder-decoder's: the metrics and loss logs, the clocks for elapsed time and throughput, and
/// what the message needs if the loss stops being finite.
pub(crate) struct RunRecords {
    metrics: MetricsLog,
    losses: LossLog,
    out_dir: PathBuf,
    started: Instant,
    /// Start of the throughput window (since the last evaluation) and the steps taken in it.
    window: (Instant, usize),
    tokens_per_step: usize,
    /// The last finite training loss and its step.
    last_finite: Option<(usize, f32)>,
    /// The step of the checkpoint on disk.
    saved: Option<usize>,
    /// How the message for a diverged run ends: what to try instead.
    hint: String,
}

impl RunRecords {
    /// The records of a run in `out_dir` taking `tokens_per_step` tokens per step: new logs, or,
    /// resuming at a checkpoint's step, the logs so far (see [`MetricsLog::open_resumed`] and
    /// [`LossLog::open_resumed`]); `hint` ends the message if the run diverges.
    pub(crate) fn open(
        out_dir: &Path,
        resumed_at: Option<usize>,
        tokens_per_step: usize,
        hint: String,
    ) -> Result<Self> {
        let (metrics, losses) = match resumed_at {
            Some(step) => (MetricsLog::open_resumed(out_dir, step)?, LossLog::open_resumed(out_dir, step)?),
            None => (MetricsLog::open(out_dir, false)?, LossLog::open(out_dir)?),
        };
        Ok(RunRecords {
            metrics,
            losses,
            out_dir: out_dir.to_path_buf(),
            started: Instant::now(),
            window: (Instant::now(), 0),
            tokens_per_step,
            // A resumed run that diverges before a step of its own names the last logged loss.
            last_finite: resumed_at.and_then(|_| last_logged_loss(out_dir)),
            saved: resumed_at,
            hint,
        })
    }

    /// Records an evaluation at `step` and returns it: the losses of the steps since the last
    /// one go to disk (with the checkpoint they lead to, which the caller saves next and reports
    /// with [`RunRecords::saved`]), the record goes to the metrics log, and a new throughput
    /// window starts.
    pub(crate) fn evaluation(&mut self, step: usize, train_loss: f64, val_loss: f64, lr: f64) -> Result<EvalRecord> {
        let record = EvalRecord {
            step,
            train_loss,
            val_loss,
            lr,
            tokens_per_sec: self.tokens_per_sec(),
            elapsed_s: self.elapsed_s(),
        };
        self.losses.flush()?;
        self.metrics.write(&record)?;
        self.window = (Instant::now(), 0);
        Ok(record)
    }

    /// The checkpoint of `step` is on disk.
    pub(crate) fn saved(&mut self, step: usize) {
        self.saved = Some(step);
    }

    /// Records the finite training loss of `step`, taken.
    pub(crate) fn step(&mut self, step: usize, loss: f32) {
        self.last_finite = Some((step, loss));
        self.losses.push(StepLoss { step, loss });
        self.window.1 += 1;
    }

    /// Tokens per second over the steps since the last evaluation (0 before the first step).
    pub(crate) fn tokens_per_sec(&self) -> f64 {
        let (since, steps) = self.window;
        if steps == 0 { 0.0 } else { (steps * self.tokens_per_step) as f64 / since.elapsed().as_secs_f64().max(1e-9) }
    }

    /// Seconds since the run started.
    pub(crate) fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The error for a `loss` (the `what` of `step`) that is no longer a finite number. A
    /// diverged model never recovers, and its weights would only overwrite the last good
    /// checkpoint (and make sampling fail), so the run stops before saving anything more.
    pub(crate) fn diverged(&self, step: usize, what: &'static str, loss: f64) -> Error {
        Error::Diverged {
            step,
            what,
            loss,
            last_finite: self.last_finite,
            out_dir: self.out_dir.clone(),
            saved: self.saved,
            hint: self.hint.clone(),
        }
    }
}

/// The last finite loss in the loss log of `out_dir` and its step, if there is one: where a
/// resumed run starts from, for the message if it diverges before a step of its own.
fn last_logged_loss(out_dir: &Path) -> Option<(usize, f32)> {
    LossLog::read_all(out_dir).ok()?.into_iter().rev().find(|r| r.loss.is_finite()).map(|r| (r.step, r.loss))
}

fn progress_bar(cfg: &TrainConfig, start: usize) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(cfg.max_iters as u64);
    bar.set_position(start as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}  ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Prints a line above the progress bar, or plainly when there is no bar (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() { println!("{line}") } else { bar.println(line) }
}
