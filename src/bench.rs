//! `gradlab bench`: the project's training benchmark, and where its time goes.
//!
//! The workload is nanoGPT's CPU configuration (`train_shakespeare_char` on a laptop): vocabulary
//! 65, block 64, batch 12, 4 layers, 4 heads, `n_embd` 128, no dropout, no biases, LM head tied to
//! the token embedding. One step is exactly a step of the training loop ([`crate::train`]): sample
//! a batch, forward and loss ([`batch_loss`](crate::train::batch_loss)), backward, clip the global
//! gradient norm to 1.0 ([`clip_grad_norm`](transformer::optim::clip_grad_norm)), one AdamW update
//! (lr 1e-3, betas 0.9 and 0.99, weight decay 0.1). Each step is timed with `std::time::Instant`;
//! the median is reported.
//!
//! # FLOPs
//!
//! Only matrix products are counted (they are nearly all the arithmetic; elementwise work is a
//! few FLOPs per element). A product `(m, k) @ (k, n)` costs `2 m n k` (a multiply and an add
//! per term). With `N = B T` tokens, model width `d`, `L` layers, `h` heads, vocabulary `V`, and
//! the MLP's hidden width `4d`, the forward pass makes, per layer:
//!
//! ```text
//! q, k, v, o projections   4 x (N, d) @ (d, d)                     4 * 2 N d d   =  8 N d^2
//! attention scores         B h x (T, d/h) @ (d/h, T)                 2 B h T T d/h =  2 N T d
//! weighted sum of values   B h x (T, T) @ (T, d/h)                   2 N T d
//! MLP fc, proj             (N, d) @ (d, 4d), (N, 4d) @ (4d, d)      2 * 2 N d 4d  = 16 N d^2
//! ```
//! and once, the LM head `(N, d) @ (d, V)`: `2 N d V`. So
//!
//! ```text
//! forward  = L (24 N d^2 + 4 N T d) + 2 N d V
//! backward = 2 x forward    (each product C = A B sends back dA = dC B^T and dB = A^T dC,
//!                            two products of the same size; every operand here needs a gradient)
//! total    = 3 x forward
//! ```
//! The attention products are counted at full `T x T`: the causal mask blanks the upper triangle
//! but the GEMM still computes it. For the reference workload (N = 768, d = 128, T = 64, L = 4,
//! V = 65) that is 1.321 GFLOP forward and 3.964 GFLOP per step. (`6 x parameters x tokens`
//! would miss the attention products and overcount nothing else; it is not used.)
//!
//! # Profile
//!
//! `--profile` records every timed step with [`autograd::profile::record`] and prints each kind's
//! share of the step (see that module for how time is attributed). The hooks read the clock
//! about twice per op, forward and backward (some two thousand times per step), so a profiled
//! step is slightly slower than an unprofiled one: the speed to quote is a run without `--profile`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use autograd::profile::{self, Profile};
use rand::Rng;
use tensor::{TensorRng, rng_from_seed};
use transformer::optim::AdamW;
use transformer::{Gpt, GptConfig, Module};

use crate::data::{CharTokenizer, Dataset, TextData, Tokenizer};
use crate::error::{Error, Result};
use crate::round_trip;
use crate::train::{StepBatches, apply_update, step_gradients, with_workers_spinning};

/// What one benchmark step trains: the model, the batch, and the optimizer's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// The model (its `vocab_size` is replaced by the data's when a text file is given).
    pub model: GptConfig,
    /// Sequences per step; each is `model.block_size` tokens long.
    pub batch_size: usize,
    /// AdamW learning rate (constant: no schedule).
    pub learning_rate: f64,
    /// AdamW beta1.
    pub beta1: f64,
    /// AdamW beta2.
    pub beta2: f64,
    /// AdamW weight decay on weight matrices.
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// Seed of the initialisation, the random tokens and the batches.
    pub seed: u64,
}

impl Workload {
    /// nanoGPT's CPU configuration, trained as the `train` command trains it.
    pub fn reference() -> Self {
        Workload {
            model: GptConfig {
                vocab_size: 65,
                block_size: 64,
                n_layer: 4,
                n_head: 4,
                n_embd: 128,
                dropout: 0.0,
                bias: false,
            },
            batch_size: 12,
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.1,
            grad_clip: 1.0,
            seed: 1337,
        }
    }

    /// Tokens per step, `B T`.
    pub fn tokens_per_step(&self) -> usize {
        self.batch_size * self.model.block_size
    }
}

/// How to run the benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Timed steps.
    pub iters: usize,
    /// Untimed steps first (caches, allocator, thread pool).
    pub warmup: usize,
    /// Size of the rayon pool the steps run in (None: one thread per core).
    pub threads: Option<usize>,
    /// A text file to draw batches from (None: random tokens).
    pub data: Option<PathBuf>,
    /// Record where the time of each timed step goes.
    pub profile: bool,
}

impl Default for BenchOptions {
    /// 50 timed steps after 5 warmup steps, random tokens, all cores, no profile.
    fn default() -> Self {
        BenchOptions { iters: 50, warmup: 5, threads: None, data: None, profile: false }
    }
}

/// Matrix-product FLOPs of one training step, by product (forward pass; see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlopCount {
    /// q, k, v and output projections, all layers.
    pub projections: u64,
    /// `Q K^T`, all layers and heads.
    pub attention_scores: u64,
    /// Attention weights times values, all layers and heads.
    pub attention_values: u64,
    /// MLP `fc` and `proj`, all layers.
    pub mlp: u64,
    /// The (tied) LM head.
    pub lm_head: u64,
}

impl FlopCount {
    /// The forward pass: the sum of the parts.
    pub fn forward(&self) -> u64 {
        self.projections + self.attention_scores + self.attention_values + self.mlp + self.lm_head
    }

    /// The backward pass: two products the size of each forward one.
    pub fn backward(&self) -> u64 {
        2 * self.forward()
    }

    /// Forward plus backward.
    pub fn total(&self) -> u64 {
        self.forward() + self.backward()
    }
}

/// Matrix-product FLOPs of one step of `model` on `batch` sequences of `model.block_size` tokens
/// (the formula of the module doc; the MLP is `4 n_embd` wide, as in [`Gpt`]).
///
/// ```
/// use gradlab::bench::{Workload, matmul_flops};
/// let w = Workload::reference();
/// let f = matmul_flops(&w.model, w.batch_size);
/// assert_eq!(f.forward(), 1_321_402_368);
/// assert_eq!(f.total(), 3 * f.forward());
/// ```
pub fn matmul_flops(model: &GptConfig, batch: usize) -> FlopCount {
    let (t, d, l, v) = (model.block_size as u64, model.n_embd as u64, model.n_layer as u64, model.vocab_size as u64);
    let n = batch as u64 * t;
    FlopCount {
        projections: l * 4 * 2 * n * d * d,
        attention_scores: l * 2 * n * t * d,
        attention_values: l * 2 * n * t * d,
        mlp: l * 2 * 2 * n * d * (4 * d),
        lm_head: 2 * n * d * v,
    }
}

/// What a benchmark run measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// The workload (with the data's vocabulary).
    pub workload: Workload,
    /// Where batches came from ("random tokens" or the file).
    pub data: String,
    /// Threads in the pool the steps ran in.
    pub threads: usize,
    /// Learnable parameters of the model.
    pub num_parameters: usize,
    /// Warmup steps taken before the timed ones.
    pub warmup: usize,
    /// Wall time of each timed step.
    pub step_times: Vec<Duration>,
    /// Training loss of every step, warmup included, in order.
    pub losses: Vec<f32>,
    /// Matrix-product FLOPs per step.
    pub flops: FlopCount,
    /// The timed steps' profiles added together, with `--profile`.
    pub profile: Option<Profile>,
    /// With two threads or more, the round trip between two threads in nanoseconds
    /// ([`crate::round_trip`]), measured before the steps.
    pub round_trip_ns: Option<f64>,
}

impl BenchReport {
    /// Median wall time of a timed step, in milliseconds.
    pub fn median_ms(&self) -> f64 {
        let mut t: Vec<f64> = self.step_times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        t.sort_by(f64::total_cmp);
        let n = t.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 { t[n / 2] } else { 0.5 * (t[n / 2 - 1] + t[n / 2]) }
    }

    /// Tokens trained per second at the median step time.
    pub fn tokens_per_sec(&self) -> f64 {
        self.workload.tokens_per_step() as f64 / (self.median_ms() / 1e3)
    }

    /// Achieved matrix-product GFLOP/s at the median step time.
    pub fn gflops(&self) -> f64 {
        self.flops.total() as f64 / 1e9 / (self.median_ms() / 1e3)
    }

    /// The one-line JSON summary: `ms_per_step`, `tokens_per_sec`, `gflops` (achieved GFLOP/s),
    /// `threads`, and context (`gflop_per_step`, `min_ms`, `max_ms`, `iters`, `warmup`, `data`,
    /// `final_loss`, and with a profile `profile_ms`: each kind's mean ms per step).
    pub fn json(&self) -> serde_json::Value {
        let ms: Vec<f64> = self.step_times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let mut v = serde_json::json!({
            "ms_per_step": self.median_ms(),
            "tokens_per_sec": self.tokens_per_sec(),
            "gflops": self.gflops(),
            "threads": self.threads,
            "gflop_per_step": self.flops.total() as f64 / 1e9,
            "tokens_per_step": self.workload.tokens_per_step(),
            "min_ms": ms.iter().copied().fold(f64::INFINITY, f64::min),
            "max_ms": ms.iter().copied().fold(0.0, f64::max),
            "iters": self.step_times.len(),
            "warmup": self.warmup,
            "data": self.data,
            "final_loss": self.losses.last().map(|&l| l as f64),
            "profiled": self.profile.is_some(),
            "round_trip_ns": self.round_trip_ns,
        });
        if let Some(p) = &self.profile {
            let runs = p.runs.max(1) as f64;
            let kinds: serde_json::Map<String, serde_json::Value> = profile::KINDS
                .iter()
                .map(|k| (k.to_string(), serde_json::json!(p.get(k).time.as_secs_f64() * 1e3 / runs)))
                .collect();
            v["profile_ms"] = serde_json::Value::Object(kinds);
        }
        v
    }
}

/// Random tokens over a 65-character vocabulary, drawn from `seed`: the data when no file is given.
fn random_tokens(vocab: usize, seed: u64) -> TextData {
    let chars: Vec<char> = (0..vocab as u32).map(|i| char::from_u32(0x21 + i).unwrap_or('?')).collect();
    let mut rng = rng_from_seed(seed);
    let mut draw = |n: usize| (0..n).map(|_| rng.random_range(0..vocab)).collect::<Vec<usize>>();
    TextData {
        tokenizer: Tokenizer::Char(CharTokenizer::from_chars(chars)),
        train: draw(100_000),
        val: draw(10_000),
        name: format!("random tokens (vocab {vocab}, seed {seed})"),
    }
}

/// The model, optimizer and data of a run, and the batch stream's position.
struct Bench {
    model: Gpt<f32>,
    params: Vec<autograd::Var<f32>>,
    opt: AdamW<f32>,
    data: Dataset,
    rng: TensorRng,
    workload: Workload,
}

impl Bench {
    fn new(mut workload: Workload, data: Option<&PathBuf>) -> Result<Self> {
        let block = workload.model.block_size;
        let text = match data {
            Some(path) => TextData::load(path, block)?,
            None => random_tokens(workload.model.vocab_size, workload.seed),
        };
        workload.model.vocab_size = text.tokenizer.vocab_size();
        workload.model.validate().map_err(Error::Config)?;
        let model = Gpt::<f32>::new(workload.model, workload.seed);
        let opt = AdamW::new(model.named_parameters(), workload.learning_rate, workload.weight_decay)
            .with_betas(workload.beta1, workload.beta2);
        Ok(Bench {
            params: model.parameters(),
            model,
            opt,
            data: Dataset::Text(text),
            // Batches draw from their own stream, as in the training loop.
            rng: rng_from_seed(workload.seed.wrapping_add(1)),
            workload,
        })
    }

    /// One training step, as `train` takes it (gradient accumulation 1, the same two functions);
    /// returns the loss.
    fn step(&mut self) -> f32 {
        let w = &self.workload;
        let batches = StepBatches {
            data: &self.data,
            batch_size: w.batch_size,
            block_size: w.model.block_size,
            micro_batches: 1,
        };
        with_workers_spinning(|| {
            let (loss, grads) = step_gradients(&self.model, &batches, &mut self.rng);
            apply_update(&mut self.opt, grads, &self.params, w.grad_clip);
            loss
        })
    }
}

/// Runs the benchmark: `warmup` untimed steps, then `iters` timed ones, inside a rayon pool of
/// `threads` (and with `profile`, each timed step recorded by the profiler).
pub fn run(workload: &Workload, opts: &BenchOptions) -> Result<BenchReport> {
    if opts.iters == 0 {
        return Err(Error::Config("--iters must be at least 1".into()));
    }
    thread_pool(opts.threads)?.install(|| run_in_pool(workload, opts))
}

/// The rayon pool a benchmark runs in: `threads` workers, or one per core when `None`.
/// `Some(0)` is an error naming `--threads`.
pub(crate) fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    if threads == Some(0) {
        return Err(Error::Config("--threads must be at least 1".into()));
    }
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    builder.build().map_err(|e| Error::Config(format!("cannot start {} threads: {e}", threads.unwrap_or(0))))
}

fn run_in_pool(workload: &Workload, opts: &BenchOptions) -> Result<BenchReport> {
    let mut bench = Bench::new(*workload, opts.data.as_ref())?;
    // Measured while the pool's workers are idle, so the two threads have the cores to themselves.
    let round_trip_ns = (rayon::current_num_threads() >= 2).then(|| round_trip::round_trip_ns(5, 20_000));
    let mut losses = Vec::with_capacity(opts.warmup + opts.iters);
    for _ in 0..opts.warmup {
        losses.push(bench.step());
    }
    let mut step_times = Vec::with_capacity(opts.iters);
    let mut total_profile: Option<Profile> = opts.profile.then(Profile::default);
    for _ in 0..opts.iters {
        let start = Instant::now();
        let loss = match &mut total_profile {
            Some(acc) => {
                let (loss, p) = profile::record(|| bench.step());
                acc.add(&p);
                loss
            }
            None => bench.step(),
        };
        step_times.push(start.elapsed());
        losses.push(loss);
    }
    Ok(BenchReport {
        workload: bench.workload,
        data: bench.data.name(),
        threads: rayon::current_num_threads(),
        num_parameters: bench.model.num_parameters(),
        warmup: opts.warmup,
        step_times,
        losses,
        flops: matmul_flops(&bench.workload.model, bench.workload.batch_size),
        profile: total_profile,
        round_trip_ns,
    })
}

/// `gradlab bench`: runs the reference workload and prints the figures, then the JSON line.
pub fn main(opts: &BenchOptions) -> Result<()> {
    let r = run(&Workload::reference(), opts)?;
    let (w, m, f) = (&r.workload, &r.workload.model, &r.flops);
    println!(
        "workload: GPT {} layers x {} heads, n_embd {}, block {}, batch {}, vocab {} ({} parameters), no dropout, no bias, tied head",
        m.n_layer, m.n_head, m.n_embd, m.block_size, w.batch_size, m.vocab_size, r.num_parameters
    );
    println!(
        "step: batch + forward + backward + clip {} + AdamW (lr {:e}, betas {}/{}, weight decay {}); {} tokens; data: {}",
        w.grad_clip,
        w.learning_rate,
        w.beta1,
        w.beta2,
        w.weight_decay,
        w.tokens_per_step(),
        r.data
    );
    println!(
        "matmul FLOPs per step: forward {:.3} GFLOP (projections {:.3}, attention {:.3}, mlp {:.3}, lm head {:.3}) + backward {:.3} GFLOP = {:.3} GFLOP",
        f.forward() as f64 / 1e9,
        f.projections as f64 / 1e9,
        (f.attention_scores + f.attention_values) as f64 / 1e9,
        f.mlp as f64 / 1e9,
        f.lm_head as f64 / 1e9,
        f.backward() as f64 / 1e9,
        f.total() as f64 / 1e9
    );
    let json = r.json();
    println!(
        "threads {}: {} warmup + {} timed steps{}",
        r.threads,
        r.warmup,
        r.step_times.len(),
        if r.profile.is_some() { ", profiled" } else { "" }
    );
    if let Some(ns) = r.round_trip_ns {
        println!("two threads pass a value back and forth in {ns:.0} ns (the cost of a hand-off between cores)");
    }
    println!(
        "median {:.2} ms/step (min {:.2}, max {:.2}), {:.0} tokens/s, {:.2} GFLOP/s; loss {:.4} -> {:.4}",
        r.median_ms(),
        json["min_ms"].as_f64().unwrap_or(f64::NAN),
        json["max_ms"].as_f64().unwrap_or(f64::NAN),
        r.tokens_per_sec(),
        r.gflops(),
        r.losses.first().copied().unwrap_or(f32::NAN),
        r.losses.last().copied().unwrap_or(f32::NAN),
    );
    if let Some(p) = &r.profile {
        let mean_ms = r.step_times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / r.step_times.len() as f64;
        println!(
            "\nwhere a profiled step's time goes (mean over {} steps, measured {mean_ms:.2} ms; the kinds add up to the total):",
            p.runs
        );
        println!("{p}");
        println!("(profiling reads the clock around every op: an unprofiled step is a little faster)\n");
    }
    println!("{json}");
    Ok(())
}
