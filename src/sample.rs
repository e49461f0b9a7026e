//! Text generation: continue a prompt one token at a time, as nanoGPT's `generate`.
//!
//! ```text
//! context (prompt ids) -> model -> logits of the last position (vocab)
//!     -> / temperature -> keep top_k -> keep the top_p nucleus -> renormalise -> draw one id
//!     -> append it to the context, repeat
//! ```
//!
//! [`generate`] keeps a KV cache ([`transformer::KvCache`]) per block, so after the prompt each
//! new token costs one position of work; [`generate_uncached`] recomputes the whole window every
//! step and is the reference the cached path is tested against.
//!
//! **Context longer than `block_size`.** As nanoGPT does, the next token is always conditioned on the
//! last `block_size` tokens of the context. The model's positions are learned and absolute: once the
//! window slides, every cached key was computed at a position that has changed, so the cache cannot
//! be reused. When the cache is full, [`CachedContext::push`] therefore rebuilds it from the cropped
//! window (`block_size` positions of work). The cache saves work only until the window fills; past
//! that, each step costs as much as the uncached path — and computes the same logits.

use autograd::no_grad;
use rand::Rng;
use tensor::TensorRng;
use transformer::{Gpt, KvCache};

use crate::{Error, Result};

/// How to generate: how many tokens, and how to turn logits into a draw.
#[derive(Clone, Debug)]
pub struct SampleConfig {
    /// Stop after this many new tokens.
    pub max_new_tokens: usize,
    /// Divides the logits before the softmax: below 1 sharpens, above 1 flattens; 0 means greedy (argmax).
    pub temperature: f64,
    /// Keep only the `k` most likely tokens (at least 1; larger than the vocabulary keeps all).
    pub top_k: Option<usize>,
    /// Keep only the smallest set of most likely tokens whose probability reaches `p`, in `(0, 1]`.
    pub top_p: Option<f64>,
}

/// Checks a configuration: temperature finite and `>= 0`, `top_k >= 1`, `0 < top_p <= 1`.
///
/// ```
/// use gradlab::sample::{SampleConfig, validate};
/// let cfg = SampleConfig { max_new_tokens: 10, temperature: 0.8, top_k: Some(0), top_p: None };
/// assert!(validate(&cfg).is_err());
/// ```
pub fn validate(cfg: &SampleConfig) -> Result<()> {
    if !(cfg.temperature.is_finite() && cfg.temperature >= 0.0) {
        return Err(Error::Config(format!(
            "temperature must be a finite number >= 0 (0 means greedy), got {}",
            cfg.temperature
        )));
    }
    if cfg.top_k == Some(0) {
        return Err(Error::Config("top_k must be at least 1, got 0".into()));
    }
    if let Some(p) = cfg.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(Error::Config(format!("top_p must be in (0, 1], got {p}")));
    }
    Ok(())
}

#[track_caller]
fn check_config(op: &str, cfg: &SampleConfig) {
    if let Err(e) = validate(cfg) {
        tensor::op_panic(op, format!("{e} (call sample::validate on outside input first)"));
    }
}

/// Picks the next token id from one row of logits `(vocab)`.
///
/// Temperature 0 is greedy: the argmax, the first one on ties, and `rng` is not touched.
/// Otherwise the logits are divided by the temperature, cut to the `top_k` largest (ties broken
/// towards the lower id), then to the smallest set of most likely tokens whose probability mass
/// reaches `top_p` (always at least one), renormalised, and one id is drawn with exactly one
/// `rng.random::<f64>()` against the cumulative sum (in f64, in token-id order) — so a seed fixes
/// the draw. Logits of `-inf` are allowed (probability 0).
///
/// ```
/// use gradlab::sample::{SampleConfig, pick_token};
/// let mut rng = tensor::rng_from_seed(0);
/// let greedy = SampleConfig { max_new_tokens: 1, temperature: 0.0, top_k: None, top_p: None };
/// assert_eq!(pick_token(&[0.1, 2.0, -1.0, 2.0], &greedy, &mut rng), 1);
/// let only_two = SampleConfig { temperature: 1.0, top_k: Some(2), ..greedy };
/// assert!([1, 3].contains(&pick_token(&[0.1, 2.0, -1.0, 2.0], &only_two, &mut rng)));
/// ```
///
/// # Panics
/// On logits that [`unusable_logits`] refuses (empty, a NaN or `+inf` logit, every logit `-inf`:
/// check outside models with it, or generate with [`try_generate_watching`]), or on a
/// configuration that [`validate`] rejects.
#[track_caller]
pub fn pick_token(logits: &[f32], cfg: &SampleConfig, rng: &mut TensorRng) -> usize {
    check_config("pick_token", cfg);
    if let Some(reason) = unusable_logits(logits) {
        tensor::op_panic("pick_token", format!("{reason} (has the model diverged, or are its weights too large?)"));
    }
    // First max on ties: `>` only moves on a strictly larger value.
    let argmax = (1..logits.len()).fold(0, |best, i| if logits[i] > logits[best] { i } else { best });
    if cfg.temperature == 0.0 {
        return argmax;
    }
    // Subtracting the max before dividing keeps a tiny temperature from overflowing to inf - inf = NaN:
    // every scaled logit is <= 0 and the max is exactly 0, so the weights below are in [0, 1].
    let max = f64::from(logits[argmax]);
    let weights: Vec<f64> = logits.iter().map(|&l| ((f64::from(l) - max) / cfg.temperature).exp()).collect();

    let mut keep = vec![true; logits.len()];
    if cfg.top_k.is_some() || cfg.top_p.is_some() {
        // Most likely first; the stable sort keeps the lower id first among equal logits.
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let k = cfg.top_k.unwrap_or(order.len()).min(order.len());
        order.truncate(k);
        if let Some(p) = cfg.top_p {
            let total: f64 = order.iter().map(|&i| weights[i]).sum();
            // Keep a token while the mass before it is still short of p: the smallest prefix reaching p.
            let mut before = 0.0;
            let n = order
                .iter()
                .take_while(|&&i| {
                    let short = before < p * total;
                    before += weights[i];
                    short
                })
                .count();
            order.truncate(n.max(1));
        }
        keep.fill(false);
        for i in order {
            keep[i] = true;
        }
    }

    let total: f64 = weights.iter().zip(&keep).filter(|(_, k)| **k).map(|(w, _)| w).sum();
    let u = rng.random::<f64>() * total; // one draw per token, whatever the settings
    let mut cumulative = 0.0;
    let mut last_kept = argmax;
    for (i, (&w, &k)) in weights.iter().zip(&keep).enumerate() {
        if !k || w == 0.0 {
            continue;
        }
        cumulative += w;
        last_kept = i;
        if u < cumulative {
            return i;
        }
    }
    // Only reachable through rounding (u within an ulp of the total): the last token with mass.
    last_kept
}

/// Why no token can be drawn from `logits`, or `None` when one can: they are empty, a logit is
/// NaN or `+inf` (no probability can be computed next to it), or every logit is `-inf` (no token
/// has any probability). What a model with NaN weights, or finite weights so large that its
/// forward pass overflows, gives.
///
/// ```
/// use gradlab::sample::unusable_logits;
/// assert_eq!(unusable_logits(&[0.5, f32::NEG_INFINITY]), None);
/// assert_eq!(unusable_logits(&[0.5, f32::NAN]).unwrap(), "logit 1 is NaN");
/// assert_eq!(unusable_logits(&[f32::NEG_INFINITY; 2]).unwrap(), "every logit is -inf");
/// ```
pub fn unusable_logits(logits: &[f32]) -> Option<String> {
    if logits.is_empty() {
        return Some("the logits are empty (a vocabulary of size 0)".into());
    }
    if let Some(i) = logits.iter().position(|l| l.is_nan() || *l == f32::INFINITY) {
        return Some(format!("logit {i} is {}", logits[i]));
    }
    if logits.iter().all(|&l| l == f32::NEG_INFINITY) {
        return Some("every logit is -inf".into());
    }
    None
}

/// Logits from which no token can be drawn (see [`unusable_logits`]), met while generating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusableLogits {
    /// Which new token they were for: 1 for the first.
    pub token: usize,
    /// What is wrong with them (`"logit 3 is NaN"`).
    pub reason: String,
}

impl std::fmt::Display for UnusableLogits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the logits for new token {} cannot be sampled from: {}", self.token, self.reason)
    }
}

impl std::error::Error for UnusableLogits {}

/// The logits of the last position of `logits (1, T, vocab)`.
fn last_row(logits: &autograd::Var<f32>) -> Vec<f32> {
    let value = logits.value();
    let t = value.shape()[1];
    value.narrow(1, t - 1, 1).to_vec()
}

#[track_caller]
fn check_prompt(op: &str, model: &Gpt<f32>, prompt: &[usize]) {
    if prompt.is_empty() {
        tensor::op_panic(op, "the prompt is empty; generation needs at least one token to condition on".into());
    }
    let vocab = model.config.vocab_size;
    if let Some(&id) = prompt.iter().find(|&&id| id >= vocab) {
        tensor::op_panic(op, format!("prompt token id {id} is outside the vocabulary of size {vocab}"));
    }
}

/// The `k` most likely next tokens after `logits (vocab)` with their probabilities
/// `softmax(logits)` (temperature 1: what the model itself says, before any sampling setting),
/// most likely first, ties to the lower id. The model's last step is a softmax over the vocabulary;
/// this is that softmax, read off for display.
///
/// ```
/// use gradlab::sample::top_candidates;
/// let top = top_candidates(&[0.0, 2f32.ln(), 0.0, 0.0], 2); // probabilities 0.2, 0.4, 0.2, 0.2
/// assert_eq!(top[0].0, 1);
/// assert!((top[0].1 - 0.4).abs() < 1e-7 && top[1] == (0, top[1].1) && (top[1].1 - 0.2).abs() < 1e-7);
/// ```
pub fn top_candidates(logits: &[f32], k: usize) -> Vec<(usize, f64)> {
    let probs: Vec<f64> = crate::beam::log_probs(logits).into_iter().map(f64::exp).collect();
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a])); // stable: lower id first on ties
    order.into_iter().take(k).map(|i| (i, probs[i])).collect()
}

/// A growing context with a KV cache per block: the state [`generate`] steps through.
///
/// Exposed so a caller can watch generation token by token, or check what it costs: after the
/// prompt, each [`push`](CachedContext::push) runs one position through the model until the cache
/// holds `block_size` positions, then rebuilds it from the last `block_size` tokens (see the module
/// docs for why).
#[derive(Clone)]
pub struct CachedContext<'m> {
    model: &'m Gpt<f32>,
    caches: Vec<KvCache<f32>>,
    tokens: Vec<usize>,
    logits: Vec<f32>,
    positions_processed: usize,
}

impl<'m> CachedContext<'m> {
    /// Runs `prompt` (cropped to its last `block_size` tokens) through the model, under `no_grad`.
    ///
    /// # Panics
    /// On an empty prompt or a token id outside the vocabulary.
    #[track_caller]
    pub fn new(model: &'m Gpt<f32>, prompt: &[usize]) -> Self {
        check_prompt("CachedContext", model, prompt);
        let mut ctx = CachedContext {
            model,
            caches: model.new_caches(),
            tokens: prompt.to_vec(),
            logits: Vec::new(),
            positions_processed: 0,
        };
        ctx.rebuild();
        ctx
    }

    /// Appends `token` and computes the logits that follow it: one position of work, or a rebuild
    /// of the cache from the last `block_size` tokens when the cache is full.
    ///
    /// # Panics
    /// On a token id outside the vocabulary.
    #[track_caller]
    pub fn push(&mut self, token: usize) {
        check_prompt("CachedContext::push", self.model, &[token]);
        self.tokens.push(token);
        if self.cache_len() >= self.model.config.block_size {
            self.rebuild();
            return;
        }
        let logits = no_grad(|| self.model.forward_cached(&[token], [1, 1], &mut self.caches)); // (1, 1, vocab)
        self.positions_processed += 1;
        self.logits = last_row(&logits);
    }

    /// Empties the caches and runs the last `block_size` tokens of the context through them.
    fn rebuild(&mut self) {
        let block_size = self.model.config.block_size;
        let window = &self.tokens[self.tokens.len().saturating_sub(block_size)..];
        self.caches = self.model.new_caches();
        let logits = no_grad(|| self.model.forward_cached(window, [1, window.len()], &mut self.caches)); // (1, T, vocab)
        self.positions_processed += window.len();
        self.logits = last_row(&logits);
    }

    /// Logits `(vocab)` for the token that follows the context.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// The whole context so far: the prompt and every pushed token (not cropped).
    pub fn tokens(&self) -> &[usize] {
        &self.tokens
    }

    /// How many positions the KV caches hold (at most `block_size`).
    pub fn cache_len(&self) -> usize {
        self.caches.first().map_or(0, KvCache::len)
    }

    /// Positions run through the model so far: the measure of work that the cache saves.
    pub fn positions_processed(&self) -> usize {
        self.positions_processed
    }
}

/// Continues `prompt` (token ids, non-empty) by `cfg.max_new_tokens` tokens and returns only the
/// new ones. Runs under `no_grad` with a KV cache: after the prompt, each new token costs one
/// position, not a recompute of the prefix. The next token is conditioned on the last `block_size`
/// tokens of the context (nanoGPT's crop); once the context is that long, the cache is rebuilt from
/// the cropped window each step (module docs). Dropout should be off (`model.set_training(false)`).
///
/// Gives the same tokens as [`generate_uncached`] for the same seed.
///
/// # Panics
/// On an empty prompt, a token id outside the vocabulary, a configuration [`validate`] rejects, or
/// logits no token can be drawn from ([`unusable_logits`]; a model from outside generates with
/// [`try_generate_watching`], which returns that as an error).
#[track_caller]
pub fn generate(model: &Gpt<f32>, prompt: &[usize], cfg: &SampleConfig, rng: &mut TensorRng) -> Vec<usize> {
    generate_watching(model, prompt, cfg, rng, |_, _| {})
}

/// [`generate`], calling `watch(logits, token)` at every step with the logits the token was
/// picked from (`vocab`) and the token picked: how `sample --show-probs` shows each step's most
/// likely candidates ([`top_candidates`]).
///
/// # Panics
/// As [`generate`], and on logits no token can be drawn from (see [`try_generate_watching`]).
#[track_caller]
pub fn generate_watching(
    model: &Gpt<f32>,
    prompt: &[usize],
    cfg: &SampleConfig,
    rng: &mut TensorRng,
    watch: impl FnMut(&[f32], usize),
) -> Vec<usize> {
    check_config("generate", cfg);
    check_prompt("generate", model, prompt);
    match try_generate_watching(model, prompt, cfg, rng, watch) {
        Ok(out) => out,
        Err(e) => tensor::op_panic("generate", format!("{e} (has the model diverged, or are its weights too large?)")),
    }
}

/// [`generate_watching`] for a model from outside (a checkpoint): logits that no token can be
/// drawn from ([`unusable_logits`]: NaN from weights so large that the forward pass overflows)
/// stop generation with an [`UnusableLogits`] instead of a panic. The tokens and the draws from
/// `rng` are otherwise those of [`generate_watching`].
///
/// # Panics
/// On an empty prompt, a token id outside the vocabulary, or a configuration [`validate`] rejects
/// (all checked by the caller for outside input).
#[track_caller]
pub fn try_generate_watching(
    model: &Gpt<f32>,
    prompt: &[usize],
    cfg: &SampleConfig,
    rng: &mut TensorRng,
    mut watch: impl FnMut(&[f32], usize),
) -> std::result::Result<Vec<usize>, UnusableLogits> {
    check_config("generate", cfg);
    check_prompt("generate", model, prompt);
    // Not `with_capacity(max_new_tokens)`: that many may be asked for and never fit in memory.
    let mut out = Vec::new();
    if cfg.max_new_tokens == 0 {
        return Ok(out);
    }
    let mut ctx = CachedContext::new(model, prompt);
    loop {
        if let Some(reason) = unusable_logits(ctx.logits()) {
            return Err(UnusableLogits { token: out.len() + 1, reason });
        }
        let token = pick_token(ctx.logits(), cfg, rng);
        watch(ctx.logits(), token);
        out.push(token);
        if out.len() == cfg.max_new_tokens {
            return Ok(out); // the last token's successor is never needed: skip its forward pass
        }
        ctx.push(token);
    }
}

/// [`generate`] without a cache: every step runs the whole window (the last `block_size` tokens)
/// through [`Gpt::forward`]. Quadratically more work; kept as the reference for tests.
///
/// # Panics
/// As [`generate`].
#[track_caller]
pub fn generate_uncached(model: &Gpt<f32>, prompt: &[usize], cfg: &SampleConfig, rng: &mut TensorRng) -> Vec<usize> {
    check_config("generate_uncached", cfg);
    check_prompt("generate_uncached", model, prompt);
    let block_size = model.config.block_size;
    let mut context = prompt.to_vec();
    let mut out = Vec::new();
    for _ in 0..cfg.max_new_tokens {
        let window = &context[context.len().saturating_sub(block_size)..];
        let logits = no_grad(|| model.forward(window, [1, window.len()])); // (1, T, vocab)
        let token = pick_token(&last_row(&logits), cfg, rng);
        out.push(token);
        context.push(token);
    }
    out
}
