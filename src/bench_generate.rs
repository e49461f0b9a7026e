//! `gradlab bench --generate`: the speed of generation with the KV cache as the context grows.
//!
//! The claim measured: with the KV cache, tokens/s stays flat as the context grows to the block
//! size. Each new token runs one position through the model; only its attention reads all the
//! cached keys and values, which is a small part of the work at this size, so the cost per token
//! should hardly rise from the first position to the last.
//!
//! **One sweep.** The model is the training bench's reference ([`Workload::reference`]: 4 layers,
//! 4 heads, `n_embd` 128, block 64, vocabulary 65), initialised from its seed, in eval mode. A
//! [`CachedContext`] starts from a 1-token prompt (untimed), then tokens are pushed one at a time,
//! each the greedy argmax of the logits before it, until the context holds `block_size` tokens.
//! Each [`CachedContext::push`] is timed with `std::time::Instant`; the push that brings the
//! context to `L` tokens is *position* `L` (2 to `block_size`: the cache never has to be rebuilt).
//! Picking the token is not timed. As a reference, each position `L` of the same token sequence is
//! then run without a cache, as [`crate::sample::generate_uncached`] does: one [`Gpt::forward`]
//! of the whole `L`-token window, then its last row of logits (that is timed too). The uncached
//! passes come after all the pushes of the sweep, not between them, so they cannot disturb them.
//!
//! **Figures.** `warmup` untimed sweeps, then `iters` timed ones, all inside a rayon pool of
//! `threads`. Per position, the median over the timed sweeps; per bucket of [`BUCKET`] positions
//! (1-16, 17-32, ...; the first bucket has no position 1, which is the prompt), the median of its
//! positions' medians, as ms per token and tokens/s. *Flatness* is the last bucket's tokens/s over
//! the first's: 1.0 is perfectly flat, 0.5 means the last tokens come at half the speed.

use std::time::{Duration, Instant};

use autograd::no_grad;
use transformer::{DecodeState, Gpt, Module, NormPlacement, Transformer, TransformerConfig};

use crate::bench::{Workload, thread_pool};
use crate::error::{Error, Result};
use crate::sample::{CachedContext, SampleConfig, pick_token};

/// Positions per bucket of the report.
pub const BUCKET: usize = 16;

/// How to run the generation benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Timed sweeps (each one 1-token prompt grown to `block_size` tokens).
    pub iters: usize,
    /// Untimed sweeps first.
    pub warmup: usize,
    /// Size of the rayon pool the sweeps run in (None: one thread per core).
    pub threads: Option<usize>,
}

/// The timings of one position: the token that brings the context to `context_len` tokens.
#[derive(Clone, Debug)]
pub struct PositionTimes {
    /// Tokens in the context once this position is in (2 to `block_size`).
    pub context_len: usize,
    /// One [`CachedContext::push`] per timed sweep.
    pub cached: Vec<Duration>,
    /// One uncached forward of the whole `context_len`-token window per timed sweep.
    pub uncached: Vec<Duration>,
}

/// One bucket of positions, with the median ms per token of each path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// First position the bucket covers (the label's lower end: 1, 17, 33, ...).
    pub first: usize,
    /// Last position it covers.
    pub last: usize,
    /// Median over its positions of the median ms of a cached push.
    pub cached_ms: f64,
    /// Median over its positions of the median ms of an uncached forward.
    pub uncached_ms: f64,
}

impl Bucket {
    /// Cached tokens per second at the bucket's median.
    pub fn tokens_per_sec(&self) -> f64 {
        1e3 / self.cached_ms
    }

    /// Uncached tokens per second at the bucket's median.
    pub fn uncached_tokens_per_sec(&self) -> f64 {
        1e3 / self.uncached_ms
    }
}

/// What a generation benchmark run measured.
#[derive(Clone, Debug)]
pub struct GenerateReport {
    /// The model timed, in words (kind, sizes, parameters).
    pub model: String,
    /// The longest context: positions run from 2 to this.
    pub block_size: usize,
    /// Its learnable parameters.
    pub num_parameters: usize,
    /// Threads in the pool the sweeps ran in.
    pub threads: usize,
    /// Untimed sweeps before the timed ones.
    pub warmup: usize,
    /// Timed sweeps.
    pub iters: usize,
    /// Every timed position, in order of context length (2 to `block_size`).
    pub positions: Vec<PositionTimes>,
}

/// The median of `xs` in milliseconds (NaN when empty).
fn median_ms(xs: &[Duration]) -> f64 {
    median(xs.iter().map(|d| d.as_secs_f64() * 1e3).collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

impl GenerateReport {
    /// The buckets of [`BUCKET`] positions, `ceil(block_size / BUCKET)` of them, in order.
    pub fn buckets(&self) -> Vec<Bucket> {
        let block = self.block_size;
        (0..block.div_ceil(BUCKET))
            .map(|b| {
                let (first, last) = (b * BUCKET + 1, ((b + 1) * BUCKET).min(block));
                let inside: Vec<&PositionTimes> =
                    self.positions.iter().filter(|p| (first..=last).contains(&p.context_len)).collect();
                Bucket {
                    first,
                    last,
                    cached_ms: median(inside.iter().map(|p| median_ms(&p.cached)).collect()),
                    uncached_ms: median(inside.iter().map(|p| median_ms(&p.uncached)).collect()),
                }
            })
            .collect()
    }

    /// The last bucket's cached tokens/s over the first's (1.0: perfectly flat).
    pub fn flatness(&self) -> f64 {
        let b = self.buckets();
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => last.tokens_per_sec() / first.tokens_per_sec(),
            _ => f64::NAN,
        }
    }

    /// The one-line JSON summary: `mode` ("generate"), `threads`, `block_size`,
    /// `tokens_per_sec_by_bucket`, `ms_per_token_by_bucket`, `flatness`, and for context
    /// `bucket_positions` (each bucket's first and last position), the uncached reference's
    /// `uncached_tokens_per_sec_by_bucket` and `uncached_ms_per_token_by_bucket`,
    /// `ms_per_token_by_position` (cached, positions 2 to `block_size`), `iters` and `warmup`.
    pub fn json(&self) -> serde_json::Value {
        let b = self.buckets();
        let col = |f: &dyn Fn(&Bucket) -> f64| b.iter().map(f).collect::<Vec<f64>>();
        serde_json::json!({
            "mode": "generate",
            "threads": self.threads,
            "model": self.model,
            "block_size": self.block_size,
            "tokens_per_sec_by_bucket": col(&Bucket::tokens_per_sec),
            "ms_per_token_by_bucket": col(&|b| b.cached_ms),
            "flatness": self.flatness(),
            "bucket_positions": b.iter().map(|b| [b.first, b.last]).collect::<Vec<_>>(),
            "uncached_tokens_per_sec_by_bucket": col(&Bucket::uncached_tokens_per_sec),
            "uncached_ms_per_token_by_bucket": col(&|b| b.uncached_ms),
            "ms_per_token_by_position": self.positions.iter().map(|p| median_ms(&p.cached)).collect::<Vec<_>>(),
            "iters": self.iters,
            "warmup": self.warmup,
        })
    }
}

/// Times of one sweep: per position (2 to `block_size`), the cached push and the uncached forward.
///
/// The cached pushes run first, all of them, and the uncached forwards after, over the same
/// tokens: run in between, the larger uncached passes slowed the pushes that followed them
/// (by up to a fifth at the last positions, measured), which would bias the flatness.
fn sweep(model: &Gpt<f32>) -> Vec<(Duration, Duration)> {
    let block = model.config.block_size;
    let greedy = SampleConfig { max_new_tokens: 1, temperature: 0.0, top_k: None, top_p: None };
    let mut rng = tensor::rng_from_seed(0); // greedy picks never draw from it
    let mut ctx = CachedContext::new(model, &[0]);
    let mut cached = Vec::with_capacity(block - 1);
    while ctx.tokens().len() < block {
        let token = pick_token(ctx.logits(), &greedy, &mut rng);
        let start = Instant::now();
        ctx.push(token);
        cached.push(start.elapsed());
    }
    let tokens = ctx.tokens();
    let uncached = (2..=block).map(|len| {
        let window = &tokens[..len];
        let start = Instant::now();
        let logits = no_grad(|| model.forward(window, [1, len])); // (1, len, vocab)
        let last = logits.value().narrow(1, len - 1, 1).to_vec();
        let elapsed = start.elapsed();
        std::hint::black_box(last);
        elapsed
    });
    cached.into_iter().zip(uncached).collect()
}

/// Runs the benchmark on `workload.model` initialised from `workload.seed`: `warmup` untimed
/// sweeps, then `iters` timed ones, inside a rayon pool of `threads`.
pub fn run(workload: &Workload, opts: &GenerateOptions) -> Result<GenerateReport> {
    if opts.iters == 0 {
        return Err(Error::Config("--iters must be at least 1".into()));
    }
    workload.model.validate().map_err(Error::Config)?;
    if workload.model.block_size < 2 {
        return Err(Error::Config("the generation benchmark needs a block size of at least 2".into()));
    }
    thread_pool(opts.threads)?.install(|| {
        let model = Gpt::<f32>::new(workload.model, workload.seed);
        model.set_training(false);
        for _ in 0..opts.warmup {
            sweep(&model);
        }
        let mut positions: Vec<PositionTimes> = (2..=workload.model.block_size)
            .map(|context_len| PositionTimes { context_len, cached: Vec::new(), uncached: Vec::new() })
            .collect();
        for _ in 0..opts.iters {
            for (p, (cached, uncached)) in positions.iter_mut().zip(sweep(&model)) {
                p.cached.push(cached);
                p.uncached.push(uncached);
            }
        }
        let m = &workload.model;
        Ok(GenerateReport {
            model: format!(
                "GPT {} layers x {} heads, n_embd {}, block {}, vocab {}",
                m.n_layer, m.n_head, m.n_embd, m.block_size, m.vocab_size
            ),
            block_size: m.block_size,
            num_parameters: model.num_parameters(),
            threads: rayon::current_num_threads(),
            warmup: opts.warmup,
            iters: opts.iters,
            positions,
        })
    })
}

/// `gradlab bench --generate`: runs the reference model and prints the table, then the JSON line.
pub fn main(opts: &GenerateOptions) -> Result<()> {
    print_report(&run(&Workload::reference(), opts)?, "1-token prompt, then greedy tokens pushed one at a time");
    Ok(())
}

/// `gradlab bench --generate --model encdec`: the reference encoder-decoder ([`run_encdec`]).
pub fn main_encdec(opts: &GenerateOptions) -> Result<()> {
    print_report(
        &run_encdec(&reference_encdec(), opts)?,
        "a 32-token source encoded once (untimed), the start token, then greedy target tokens decoded one at a time",
    );
    Ok(())
}

/// The encoder-decoder timed by `bench --generate --model encdec`: the GPT reference's sizes (width
/// 128, 4 heads, feed-forward 512, 64 positions, vocabulary 65) in 2 encoder and 2 decoder layers.
pub fn reference_encdec() -> TransformerConfig {
    TransformerConfig {
        src_vocab: 65,
        tgt_vocab: 65,
        d_model: 128,
        n_head: 4,
        d_ff: 512,
        n_encoder_layers: 2,
        n_decoder_layers: 2,
        max_len: 64,
        dropout: 0.0,
        tie_weights: false,
        norm: NormPlacement::Post,
    }
}

/// One encoder-decoder sweep: the source encoded once, then per target position (2 to
/// `max_len`) one timed [`DecodeState::step`]; then, as the reference, each position's uncached
/// decode of the whole prefix against the same memory (the encoder is not re-run: only the
/// decoder's cache is measured).
fn sweep_encdec(model: &Transformer<f32>, src: &[usize]) -> Vec<(Duration, Duration)> {
    let max_len = model.config.max_len;
    let mut state = DecodeState::new(model, src, [1, src.len()], None);
    let memory = no_grad(|| model.encode(src, [1, src.len()], None)); // (1, S, d)
    let argmax = |logits: &[f32]| (1..logits.len()).fold(0, |best, i| if logits[i] > logits[best] { i } else { best });
    let mut tokens = vec![0usize]; // the start token
    let mut next = argmax(&no_grad(|| state.step(model, &[0])).to_vec()); // position 1: untimed, as a prompt
    let mut cached = Vec::with_capacity(max_len - 1);
    while tokens.len() < max_len {
        tokens.push(next);
        let start = Instant::now();
        let logits = no_grad(|| state.step(model, &[next])); // (1, vocab)
        cached.push(start.elapsed());
        next = argmax(&logits.to_vec());
    }
    let uncached = (2..=max_len).map(|len| {
        let start = Instant::now();
        let logits = no_grad(|| model.decode(&tokens[..len], [1, len], &memory, None)); // (1, len, vocab)
        let last = logits.value().narrow(1, len - 1, 1).to_vec();
        let elapsed = start.elapsed();
        std::hint::black_box(last);
        elapsed
    });
    cached.into_iter().zip(uncached).collect()
}

/// The generation benchmark of an encoder-decoder `config` (random weights, seed 1337, eval mode),
/// with a fixed 32-token source: as [`run`], with target positions 2 to `max_len`.
pub fn run_encdec(config: &TransformerConfig, opts: &GenerateOptions) -> Result<GenerateReport> {
    if opts.iters == 0 {
        return Err(Error::Config("--iters must be at least 1".into()));
    }
    crate::checkpoint::validate_encdec_config(config).map_err(Error::Config)?;
    if config.max_len < 2 {
        return Err(Error::Config("the generation benchmark needs at least 2 positions".into()));
    }
    let src: Vec<usize> = (0..32.min(config.max_len)).map(|i| (7 * i + 3) % config.src_vocab).collect();
    thread_pool(opts.threads)?.install(|| {
        let model = Transformer::<f32>::new(*config, 1337);
        model.set_training(false);
        for _ in 0..opts.warmup {
            sweep_encdec(&model, &src);
        }
        let mut positions: Vec<PositionTimes> = (2..=config.max_len)
            .map(|context_len| PositionTimes { context_len, cached: Vec::new(), uncached: Vec::new() })
            .collect();
        for _ in 0..opts.iters {
            for (p, (cached, uncached)) in positions.iter_mut().zip(sweep_encdec(&model, &src)) {
                p.cached.push(cached);
                p.uncached.push(uncached);
            }
        }
        Ok(GenerateReport {
            model: format!(
                "encoder-decoder {} + {} layers x {} heads, d_model {}, d_ff {}, {} positions, vocab {}, source of {}",
                config.n_encoder_layers,
                config.n_decoder_layers,
                config.n_head,
                config.d_model,
                config.d_ff,
                config.max_len,
                config.tgt_vocab,
                src.len()
            ),
            block_size: config.max_len,
            num_parameters: model.num_parameters(),
            threads: rayon::current_num_threads(),
            warmup: opts.warmup,
            iters: opts.iters,
            positions,
        })
    })
}

/// Prints a report: the model, the sweep, the table by bucket, the flatness, the JSON line.
fn print_report(r: &GenerateReport, sweep: &str) {
    println!("model: {} ({} parameters), eval mode, random init", r.model, r.num_parameters);
    println!("sweep: {sweep}, to {} positions; each step timed, and the same prefix run uncached", r.block_size);
    println!(
        "threads {}: {} warmup + {} timed sweeps; per position the median, per bucket the median of those",
        r.threads, r.warmup, r.iters
    );
    println!();
    println!(
        "{:>9}  {:>10}  {:>9}  {:>12}  {:>11}  {:>7}",
        "positions", "ms/token", "tokens/s", "uncached ms", "uncached t/s", "speedup"
    );
    for b in r.buckets() {
        println!(
            "{:>9}  {:>10.3}  {:>9.0}  {:>12.3}  {:>11.0}  {:>6.1}x",
            format!("{}-{}", b.first, b.last),
            b.cached_ms,
            b.tokens_per_sec(),
            b.uncached_ms,
            b.uncached_tokens_per_sec(),
            b.uncached_ms / b.cached_ms
        );
    }
    println!(
        "(position 1 is the prompt and is not timed: the first bucket holds positions 2-{})",
        BUCKET.min(r.block_size)
    );
    println!("flatness (last bucket's tokens/s over the first's): {:.3}", r.flatness());
    println!();
    println!("{}", r.json());
}
