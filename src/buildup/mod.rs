//! From bigram to GPT, one idea at a time: six character-level models of tiny-shakespeare
//! (`stages.rs`, [`Stage`]), each adding one idea to the previous, trained with the same steps, batches, seed
//! and learning rate and evaluated on the whole validation split, so that the difference in their
//! losses is what the idea buys.
//!
//! `gradlab buildup` runs them (`--stage N` for one); `--out-dir` writes `buildup.json` and the
//! chart `buildup.svg`. The recorded run is `docs/buildup.json`, its chart `docs/img/buildup.svg`,
//! its table in `docs/results.md` and in the guide's chapter 11; `tests/buildup.rs` re-runs the six
//! stages and checks the record against them.

mod chart;
mod stages;

pub use chart::chart_svg;
pub use stages::{STAGES, Stage, StageModel, averaging_matrix};

use std::time::Instant;

use autograd::no_grad;
use serde::{Deserialize, Serialize};
use tensor::rng_from_seed;
use transformer::optim::{AdamW, Optimizer, clip_grad_norm};

use crate::data::{Batch, Split, TextData, builtin_text};
use crate::error::{Error, Result};

/// The settings every stage shares.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildupConfig {
    /// Context length `T`.
    pub block_size: usize,
    /// Sequences per step `B`.
    pub batch_size: usize,
    /// Model width `d` (stages 2-6).
    pub n_embd: usize,
    /// Attention heads (stages 4-6).
    pub n_head: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Adam's learning rate, constant.
    pub learning_rate: f64,
    /// Steps between validation losses on the curve.
    pub eval_interval: usize,
    /// Seeds the weights (`seed`) and the batches (`seed + 1`).
    pub seed: u64,
}

impl Default for BuildupConfig {
    /// The recorded run's settings.
    fn default() -> Self {
        BuildupConfig {
            block_size: 32,
            batch_size: 32,
            n_embd: 64,
            n_head: 4,
            steps: 3000,
            learning_rate: 3e-3,
            eval_interval: 250,
            seed: 1337,
        }
    }
}

/// One stage's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// 1 to 6.
    pub stage: usize,
    /// The stage's name.
    pub name: String,
    /// Its number of parameters.
    pub parameters: usize,
    /// `(step, validation loss)` every `eval_interval` steps and at the end.
    pub val_curve: Vec<(usize, f64)>,
}

impl StageResult {
    /// The validation loss after the last step.
    pub fn final_val(&self) -> f64 {
        self.val_curve.last().map_or(f64::NAN, |&(_, v)| v)
    }
}

/// A whole build-up: the settings and each stage's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildupResults {
    /// The shared settings.
    pub config: BuildupConfig,
    /// One entry per stage run, in order.
    pub stages: Vec<StageResult>,
}

/// tiny-shakespeare, split 90/10 as everywhere in the program.
pub fn shakespeare(block_size: usize) -> Result<TextData> {
    let text = builtin_text("shakespeare".as_ref()).expect("the program has tiny-shakespeare built in");
    TextData::from_text(text.text, text.name, block_size)
}

/// Mean cross-entropy of a stage's logits on one batch.
fn batch_loss(model: &StageModel, batch: &Batch, vocab: usize) -> autograd::Var<f32> {
    let [b, t] = batch.shape();
    model.forward(&batch.x, [b, t]).reshape(&[b * t, vocab]).cross_entropy(&batch.y, None)
}

/// Mean loss over every non-overlapping block of the validation split, in order (deterministic).
pub fn validation_loss(model: &StageModel, data: &TextData, cfg: &BuildupConfig) -> f64 {
    let vocab = data.tokenizer.vocab_size();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for batch in data.sequential_batches(Split::Val, cfg.batch_size, cfg.block_size) {
        let n = batch.y.len();
        sum += no_grad(|| batch_loss(model, &batch, vocab).item() as f64) * n as f64;
        count += n;
    }
    sum / count as f64
}

/// Trains one stage from its initial weights and returns its result; `progress` hears each
/// evaluation as `(step, val)`.
pub fn run_stage(
    stage: Stage,
    data: &TextData,
    cfg: &BuildupConfig,
    mut progress: impl FnMut(usize, f64),
) -> StageResult {
    let vocab = data.tokenizer.vocab_size();
    let model = stage.model(vocab, cfg.block_size, cfg.n_embd, cfg.n_head, &mut rng_from_seed(cfg.seed));
    let params: Vec<_> = model.named_parameters().into_iter().map(|(_, p)| p).collect();
    let mut opt = AdamW::adam(params.clone(), cfg.learning_rate);
    let mut batches = rng_from_seed(cfg.seed + 1); // the same batches for every stage
    let mut val_curve = Vec::new();
    for step in 0..=cfg.steps {
        if step % cfg.eval_interval.max(1) == 0 || step == cfg.steps {
            let val = validation_loss(&model, data, cfg);
            progress(step, val);
            val_curve.push((step, val));
        }
        if step == cfg.steps {
            break;
        }
        let batch = data.batch(Split::Train, cfg.batch_size, cfg.block_size, &mut batches);
        let mut grads = batch_loss(&model, &batch, vocab).backward();
        clip_grad_norm(&mut grads, &params, 1.0);
        opt.step(&grads);
    }
    StageResult { stage: stage.number(), name: stage.name().into(), parameters: model.num_parameters(), val_curve }
}

/// Runs `stages` in order on tiny-shakespeare, printing a line per evaluation when `verbose`.
pub fn run(stages: &[Stage], cfg: &BuildupConfig, verbose: bool) -> Result<BuildupResults> {
    if cfg.block_size == 0 || cfg.batch_size == 0 || cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
        return Err(Error::Config(format!(
            "the build-up needs positive sizes and n_embd divisible by n_head, got {cfg:?}"
        )));
    }
    let data = shakespeare(cfg.block_size)?;
    let mut results = BuildupResults { config: *cfg, stages: Vec::new() };
    for &stage in stages {
        let start = Instant::now();
        let r = run_stage(stage, &data, cfg, |step, val| {
            if verbose {
                println!("stage {} ({}), step {step:>5}: val loss {val:.4}", stage.number(), stage.name());
            }
        });
        if verbose {
            println!("stage {}: {:.1} s\n", stage.number(), start.elapsed().as_secs_f64());
        }
        results.stages.push(r);
    }
    Ok(results)
}

/// The results as a Markdown table: stage, what it adds, parameters, final validation loss.
pub fn markdown_table(results: &BuildupResults) -> String {
    let mut s = String::from("| stage | model | parameters | val loss |\n|---:|---|---:|---:|\n");
    for r in &results.stages {
        s.push_str(&format!("| {} | {} | {} | {:.3} |\n", r.stage, r.name, group_digits(r.parameters), r.final_val()));
    }
    s
}

/// `12345` -> `12,345`.
fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
