//! `train --model encdec`: the encoder-decoder of [`crate::seq2seq`] trained on a built-in task
//! the way `train` trains the GPT: evaluations in `metrics.jsonl`, every step's loss in
//! `losses.jsonl`, a checkpoint (weights and train state) at each evaluation so `--resume`
//! continues bit for bit, then held-out exact match, `loss.svg` and the three kinds of attention
//! as heatmaps ([`crate::report::ENCDEC_ATTENTION_PLOTS`]) for one held-out example. The logs,
//! clocks and divergence message are the GPT loop's (`RunRecords`); the plots are drawn
//! by [`crate::report`] from the numbers and maps this loop hands it.

use std::path::{Path, PathBuf};

use autograd::no_grad;
use tensor::{TensorRng, rng_from_seed};
use transformer::optim::{AdamW, Optimizer, clip_grad_norm};
use transformer::{Module, Transformer, TransformerConfig};

use super::{EvalRecord, Graded, RunRecords, loss_history, with_workers_spinning};
use crate::checkpoint::{self, EncDecMeta, TrainState, load_encdec, load_train_state, save_encdec};
use crate::data::{Split, Task, TaskData};
use crate::error::{Error, Result};
use crate::report::{write_encdec_attention_plots, write_loss_plot};
use crate::seq2seq::{Seq2SeqConfig, grade_seq2seq, seq2seq_loss};

/// Everything `train --model encdec` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct EncDecRunConfig {
    /// The task.
    pub task: Task,
    /// Model and optimizer settings.
    pub model: Seq2SeqConfig,
    /// Where checkpoints, logs and plots go.
    pub out_dir: PathBuf,
    /// Evaluate (and checkpoint) every this many steps.
    pub eval_interval: usize,
    /// Batches averaged per evaluation.
    pub eval_iters: usize,
    /// Continue from the checkpoint in `out_dir`.
    pub resume: bool,
    /// Show a progress line per evaluation.
    pub progress: bool,
}

/// What a run produced.
pub struct EncDecRunReport {
    /// Step the run started from (0, or the resumed checkpoint's).
    pub start_step: usize,
    /// The evaluations of this run.
    pub evals: Vec<EvalRecord>,
    /// Greedy answers to 200 held-out prompts.
    pub graded: Vec<Graded>,
    /// Parameters in the model.
    pub num_parameters: usize,
    /// Seconds of the whole run.
    pub elapsed_s: f64,
    /// The plots written.
    pub plots: Vec<PathBuf>,
}

impl EncDecRunReport {
    /// Exact-match accuracy on the held-out prompts.
    pub fn accuracy(&self) -> f64 {
        super::eval::exact_match(&self.graded).unwrap_or(0.0)
    }
}

fn source(task: Task) -> String {
    format!("task:{}", task.name())
}

/// The model's configuration for `cfg` over `vocab` symbols.
pub fn model_config(cfg: &EncDecRunConfig, data: &TaskData) -> TransformerConfig {
    let (s, t) = data.seq2seq_lengths();
    let m = &cfg.model;
    let vocab = data.tokenizer.vocab_size();
    TransformerConfig {
        src_vocab: vocab,
        tgt_vocab: vocab,
        d_model: m.d_model,
        n_head: m.n_head,
        d_ff: m.d_ff,
        n_encoder_layers: m.n_encoder_layers,
        n_decoder_layers: m.n_decoder_layers,
        max_len: s.max(t),
        dropout: m.dropout,
        tie_weights: false,
        norm: m.norm,
    }
}

struct Run {
    model: Transformer<f32>,
    opt: AdamW<f32>,
    data_rng: TensorRng,
    step: usize,
    meta: EncDecMeta,
}

fn new_optimizer(model: &Transformer<f32>) -> AdamW<f32> {
    // The paper's Adam: beta1 0.9, beta2 0.98; the learning rate comes from the Noam schedule.
    AdamW::new(model.named_parameters(), 0.0, 0.0).with_betas(0.9, 0.98)
}

fn start(cfg: &EncDecRunConfig, data: &TaskData) -> Result<Run> {
    let config = model_config(cfg, data);
    checkpoint::validate_encdec_config(&config).map_err(Error::Config)?;
    if !cfg.resume {
        let model = Transformer::<f32>::new(config, cfg.model.seed);
        let meta = EncDecMeta {
            config,
            vocab: data.tokenizer.vocab_string(),
            step: 0,
            seed: cfg.model.seed,
            source: source(cfg.task),
        };
        let opt = new_optimizer(&model);
        return Ok(Run { model, opt, data_rng: rng_from_seed(cfg.model.seed.wrapping_add(1)), step: 0, meta });
    }
    let dir = &cfg.out_dir;
    let (model, meta) = load_encdec(dir)?;
    if meta.source != source(cfg.task) {
        return Err(Error::Config(format!(
            "cannot resume: the checkpoint in {} was trained on {}, not {}",
            dir.display(),
            meta.source,
            source(cfg.task)
        )));
    }
    if meta.config != config || meta.seed != cfg.model.seed {
        return Err(Error::Config(format!(
            "cannot resume: the checkpoint in {} has a different model or seed ({:?}, seed {}); pass its settings",
            dir.display(),
            meta.config,
            meta.seed
        )));
    }
    let state = load_train_state(dir, &model)?;
    if state.step > cfg.model.max_iters {
        return Err(Error::Config(format!(
            "cannot resume: the checkpoint in {} is at step {}, past --max-iters {}",
            dir.display(),
            state.step,
            cfg.model.max_iters
        )));
    }
    let mut opt = new_optimizer(&model);
    opt.set_state(state.adam_step, state.m, state.v);
    *model.dropout_state().rng().borrow_mut() = state.dropout_rng.restore();
    Ok(Run { model, opt, data_rng: state.data_rng.restore(), step: state.step, meta })
}

fn save(cfg: &EncDecRunConfig, run: &Run) -> Result<()> {
    let state = TrainState::capture(run.step, &run.opt, &run.data_rng, &run.model.dropout_state().rng().borrow());
    let meta = EncDecMeta { step: run.step, ..run.meta.clone() };
    save_encdec(&cfg.out_dir, &run.model, &meta, Some(&state))
}

/// Mean loss of `eval_iters` batches of each split, in evaluation mode, from a generator seeded
/// by `seed` (so an evaluation never disturbs the training batches).
fn estimate(run: &Run, data: &TaskData, cfg: &EncDecRunConfig, seed: u64) -> (f64, f64) {
    run.model.set_training(false);
    let mut rng = rng_from_seed(seed);
    let mut mean = |split: Split| {
        let total: f64 = (0..cfg.eval_iters)
            .map(|_| {
                let b = data.seq2seq_batch(split, cfg.model.batch_size, &mut rng);
                no_grad(|| f64::from(seq2seq_loss(&run.model, &b, cfg.model.label_smoothing).item()))
            })
            .sum();
        total / cfg.eval_iters as f64
    };
    let train = mean(Split::Train);
    let val = mean(Split::Val);
    run.model.set_training(true);
    (train, val)
}

/// Trains as `cfg` says. Nothing is written before every input has been checked.
///
/// # Errors
/// [`Error::Config`] for settings that make no model or a resume that does not match its
/// checkpoint; [`Error::Diverged`] for a loss that stops being finite; checkpoint and I/O errors
/// as `train`.
pub fn train_encdec(cfg: &EncDecRunConfig) -> Result<EncDecRunReport> {
    if cfg.eval_interval == 0 || cfg.eval_iters == 0 {
        return Err(Error::Config("--eval-interval and --eval-iters must be at least 1".into()));
    }
    if cfg.model.batch_size == 0 || cfg.model.max_iters == 0 {
        return Err(Error::Config("--batch-size and --max-iters must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&cfg.model.label_smoothing) {
        return Err(Error::Config(format!("--label-smoothing must be in [0, 1), got {}", cfg.model.label_smoothing)));
    }
    if !(cfg.model.lr_factor.is_finite() && cfg.model.lr_factor > 0.0) || cfg.model.warmup_iters == 0 {
        return Err(Error::Config("--lr-factor must be positive and --warmup-iters at least 1".into()));
    }
    let data = TaskData::new(cfg.task, cfg.task.line_len())?;
    let mut run = start(cfg, &data)?;
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| Error::io("cannot create out dir", &cfg.out_dir, e))?;
    let params = run.model.parameters();
    let schedule = cfg.model.schedule();
    let (src_len, tgt_len) = data.seq2seq_lengths();
    let tokens_per_step = cfg.model.batch_size * (src_len + tgt_len);
    let hint = format!(
        "Try a lower --lr-factor (it was {:?}) or a --grad-clip (it was {:?})",
        cfg.model.lr_factor, cfg.model.grad_clip
    );
    let mut records = RunRecords::open(&cfg.out_dir, cfg.resume.then_some(run.step), tokens_per_step, hint)?;
    let mut report = EncDecRunReport {
        start_step: run.step,
        evals: Vec::new(),
        graded: Vec::new(),
        num_parameters: run.model.num_parameters(),
        elapsed_s: 0.0,
        plots: Vec::new(),
    };
    if cfg.progress {
        println!(
            "training an encoder-decoder ({} + {} layers, {} parameters) on task {} for {} steps",
            cfg.model.n_encoder_layers,
            cfg.model.n_decoder_layers,
            report.num_parameters,
            cfg.task.name(),
            cfg.model.max_iters
        );
    }
    loop {
        let step = run.step;
        let lr = schedule.lr_at(step);
        let last = step == cfg.model.max_iters;
        let resumed_here = cfg.resume && step == report.start_step;
        if (step % cfg.eval_interval == 0 || last) && !resumed_here {
            let (train_loss, val_loss) = estimate(&run, &data, cfg, cfg.model.seed ^ step as u64);
            if !(train_loss.is_finite() && val_loss.is_finite()) {
                let loss = if train_loss.is_finite() { val_loss } else { train_loss };
                return Err(records.diverged(step, "evaluation loss", loss));
            }
            if cfg.progress {
                println!("step {step}: train loss {train_loss:.4}, val loss {val_loss:.4}");
            }
            report.evals.push(records.evaluation(step, train_loss, val_loss, lr)?);
            save(cfg, &run)?;
            records.saved(step);
        }
        if last {
            break;
        }
        let batch = data.seq2seq_batch(Split::Train, cfg.model.batch_size, &mut run.data_rng);
        let (value, grads) = with_workers_spinning(|| {
            let loss = seq2seq_loss(&run.model, &batch, cfg.model.label_smoothing);
            (loss.item(), loss.backward())
        });
        if !value.is_finite() {
            return Err(records.diverged(step, "training loss", value.into()));
        }
        let mut grads = grads;
        if cfg.model.grad_clip > 0.0 {
            clip_grad_norm(&mut grads, &params, cfg.model.grad_clip);
        }
        run.opt.set_learning_rate(lr);
        with_workers_spinning(|| run.opt.step(&grads));
        records.step(step, value);
        run.step += 1;
    }
    run.model.set_training(false);
    report.graded = grade_seq2seq(&run.model, &data, 200, cfg.model.seed);
    report.elapsed_s = records.elapsed_s();
    let title = format!("loss: encoder-decoder, task {}", cfg.task.name());
    let mut plots = vec![write_loss_plot(&cfg.out_dir, &loss_history(&cfg.out_dir)?, &title)?];
    plots.extend(attention_plots(&cfg.out_dir, &run.model, &data, cfg.model.seed)?);
    report.plots = plots;
    Ok(report)
}

/// Teacher-forces one held-out example through `model` (dropout off), asks it for the
/// example's encoder self-attention, decoder (masked) self-attention and cross-attention, every
/// layer and head, and draws them ([`write_encdec_attention_plots`]). Returns the paths.
pub fn attention_plots(dir: &Path, model: &Transformer<f32>, data: &TaskData, seed: u64) -> Result<Vec<PathBuf>> {
    let digits = data.held_out_examples(1, &mut rng_from_seed(seed))[0].clone();
    let ex = data.seq2seq_example(&digits);
    let tgt_in: Vec<usize> =
        std::iter::once(ex.start).chain(ex.answer[..ex.answer.len() - 1].iter().copied()).collect();
    model.set_training(false);
    let maps = model.attention_maps(&ex.src, [1, ex.src.len()], &tgt_in, [1, tgt_in.len()], None);
    let label = |ids: &[usize]| ids.iter().map(|&i| data.tokenizer.decode(&[i])).collect::<Vec<String>>();
    write_encdec_attention_plots(dir, &maps, &label(&ex.src), &label(&tgt_in), &data.task.prompt(&digits))
}
