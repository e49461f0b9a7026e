//! Generation: the cached path against the uncached reference, the cost of the cache, and the
//! sampling rule (greedy, top-k, top-p, temperature) against its definition.

use std::collections::BTreeSet;

use autograd::no_grad;
use gradlab::Error;
use gradlab::sample::{CachedContext, SampleConfig, generate, generate_uncached, pick_token, validate};
use rand::Rng;
use tensor::{Tensor, rng_from_seed};
use transformer::{Gpt, GptConfig, Module};

const VOCAB: usize = 11;
const BLOCK: usize = 8;

/// A small random GPT. GPT-2's init (std 0.02) gives nearly uniform logits, where a rounding
/// difference between the two paths could flip a near-tie; scaling every parameter up makes the
/// logits spread out, so agreement of the token streams is a sharp test rather than luck.
fn small_gpt(seed: u64) -> Gpt<f32> {
    let config =
        GptConfig { vocab_size: VOCAB, block_size: BLOCK, n_layer: 2, n_head: 2, n_embd: 16, dropout: 0.0, bias: true };
    let model = Gpt::new(config, seed);
    for (_, p) in model.named_parameters() {
        p.update_value(|v| *v = v.mul_scalar(25.0));
    }
    model.set_training(false);
    model
}

fn greedy(n: usize) -> SampleConfig {
    SampleConfig { max_new_tokens: n, temperature: 0.0, top_k: None, top_p: None }
}

fn prompt(len: usize) -> Vec<usize> {
    (0..len).map(|i| (3 * i + 1) % VOCAB).collect()
}

#[test]
fn cached_and_uncached_agree_greedy() {
    let model = small_gpt(1);
    // Shorter than, equal to and longer than block_size; 20 new tokens always run past it.
    for len in [1, 3, BLOCK, BLOCK + 5] {
        let p = prompt(len);
        let cached = generate(&model, &p, &greedy(20), &mut rng_from_seed(0));
        let uncached = generate_uncached(&model, &p, &greedy(20), &mut rng_from_seed(0));
        assert_eq!(cached.len(), 20);
        assert_eq!(cached, uncached, "prompt length {len}");
        // Random weights should not collapse to one repeated token, or the test would prove little.
        assert!(cached.iter().collect::<BTreeSet<_>>().len() > 1, "degenerate stream {cached:?}");
    }
}

#[test]
fn cached_and_uncached_agree_sampled() {
    let model = small_gpt(2);
    let configs = [
        SampleConfig { max_new_tokens: 25, temperature: 1.0, top_k: None, top_p: None },
        SampleConfig { max_new_tokens: 25, temperature: 0.7, top_k: Some(5), top_p: None },
        SampleConfig { max_new_tokens: 25, temperature: 1.3, top_k: Some(6), top_p: Some(0.9) },
    ];
    for cfg in &configs {
        for (len, seed) in [(2, 10), (BLOCK, 11), (BLOCK + 3, 12)] {
            let p = prompt(len);
            let cached = generate(&model, &p, cfg, &mut rng_from_seed(seed));
            let uncached = generate_uncached(&model, &p, cfg, &mut rng_from_seed(seed));
            assert_eq!(cached, uncached, "{cfg:?}, prompt length {len}");
            assert!(cached.iter().all(|&t| t < VOCAB));
        }
    }
    // A different seed gives a different stream (else the rng would not be used).
    let cfg = &configs[0];
    let a = generate(&model, &prompt(2), cfg, &mut rng_from_seed(1));
    let b = generate(&model, &prompt(2), cfg, &mut rng_from_seed(2));
    assert_ne!(a, b);
}

#[test]
fn cached_logits_match_full_forward_at_every_step() {
    let model = small_gpt(3);
    let mut ctx = CachedContext::new(&model, &prompt(3));
    for step in 0..2 * BLOCK {
        let tokens = ctx.tokens();
        let window = &tokens[tokens.len().saturating_sub(BLOCK)..];
        let full = no_grad(|| model.forward(window, [1, window.len()])).value(); // (1, T, vocab)
        let expected = full.narrow(1, window.len() - 1, 1).to_vec();
        let got = ctx.logits();
        assert_eq!(got.len(), VOCAB);
        let diff = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let scale = expected.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-5 * scale.max(1.0), "step {step}: max |diff| {diff} (logits up to {scale})");
        ctx.push((step * 7 + 2) % VOCAB);
    }
}

#[test]
fn cache_costs_one_position_per_token_until_the_window_fills() {
    let model = small_gpt(4);
    let prompt_len = 3;
    let mut ctx = CachedContext::new(&model, &prompt(prompt_len));
    assert_eq!(ctx.cache_len(), prompt_len);
    assert_eq!(ctx.positions_processed(), prompt_len);
    for i in 1..=BLOCK - prompt_len {
        ctx.push(i % VOCAB);
        assert_eq!(ctx.cache_len(), prompt_len + i, "the cache grows by one position per token");
        assert_eq!(ctx.positions_processed(), prompt_len + i, "one position of work per token");
    }
    // Uncached, the same tokens would have cost the sum of the window lengths.
    let uncached_cost: usize = (prompt_len..=BLOCK).sum();
    assert!(ctx.positions_processed() < uncached_cost);

    // Full: the window slides, learned positions shift, and the cache is rebuilt from the last BLOCK tokens.
    let before = ctx.positions_processed();
    ctx.push(5);
    assert_eq!(ctx.cache_len(), BLOCK);
    assert_eq!(ctx.positions_processed(), before + BLOCK);
    assert_eq!(ctx.tokens().len(), BLOCK + 1, "the context itself is never cropped");

    // A prompt longer than the block is cropped to its last BLOCK tokens.
    let long = CachedContext::new(&model, &prompt(BLOCK + 4));
    assert_eq!(long.cache_len(), BLOCK);
    assert_eq!(long.positions_processed(), BLOCK);
}

#[test]
fn generate_returns_only_new_tokens() {
    let model = small_gpt(5);
    let p = prompt(4);
    assert!(generate(&model, &p, &greedy(0), &mut rng_from_seed(0)).is_empty());
    assert!(generate_uncached(&model, &p, &greedy(0), &mut rng_from_seed(0)).is_empty());
    let out = generate(&model, &p, &greedy(3), &mut rng_from_seed(0));
    assert_eq!(out.len(), 3);
    // Greedy continuation is a prefix-consistent function of the context.
    let more = generate(&model, &p, &greedy(5), &mut rng_from_seed(0));
    assert_eq!(&more[..3], &out[..]);
}

#[test]
#[should_panic(expected = "prompt is empty")]
fn empty_prompt_panics() {
    generate(&small_gpt(6), &[], &greedy(3), &mut rng_from_seed(0));
}

#[test]
#[should_panic(expected = "outside the vocabulary")]
fn out_of_vocabulary_prompt_panics() {
    generate(&small_gpt(6), &[1, VOCAB], &greedy(3), &mut rng_from_seed(0));
}

fn sampling(temperature: f64, top_k: Option<usize>, top_p: Option<f64>) -> SampleConfig {
    SampleConfig { max_new_tokens: 1, temperature, top_k, top_p }
}

/// How often each token is drawn in `n` draws.
fn histogram(logits: &[f32], cfg: &SampleConfig, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rng_from_seed(seed);
    let mut counts = vec![0; logits.len()];
    for _ in 0..n {
        counts[pick_token(logits, cfg, &mut rng)] += 1;
    }
    counts
}

fn softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let t = Tensor::<f64>::from_vec(logits.iter().map(|&l| f64::from(l) / temperature).collect(), &[logits.len()]);
    t.softmax(-1).to_vec()
}

/// Pearson's chi-square statistic of observed counts against expected probabilities.
fn chi_square(counts: &[usize], probs: &[f64]) -> f64 {
    let n = counts.iter().sum::<usize>() as f64;
    counts.iter().zip(probs).filter(|(_, p)| **p > 0.0).map(|(&c, &p)| (c as f64 - n * p).powi(2) / (n * p)).sum()
}

const LOGITS: [f32; 6] = [0.3, -1.2, 2.0, 0.9, -0.4, 1.5];

#[test]
fn temperature_zero_is_argmax_first_on_ties_and_draws_nothing() {
    let mut rng = rng_from_seed(9);
    let untouched = rng.clone();
    assert_eq!(pick_token(&LOGITS, &sampling(0.0, None, None), &mut rng), 2);
    assert_eq!(pick_token(&[1.0, 3.0, 3.0, 2.0], &sampling(0.0, None, None), &mut rng), 1);
    assert_eq!(pick_token(&[f32::NEG_INFINITY, -5.0], &sampling(0.0, Some(1), Some(0.5)), &mut rng), 1);
    assert_eq!(rng.random::<u64>(), untouched.clone().random::<u64>(), "greedy must not consume randomness");
}

#[test]
fn top_k_one_is_argmax_at_any_temperature() {
    for temperature in [0.01, 1.0, 10.0, 1e6] {
        let counts = histogram(&LOGITS, &sampling(temperature, Some(1), None), 300, 1);
        assert_eq!(counts[2], 300, "temperature {temperature}: {counts:?}");
    }
}

#[test]
fn top_k_restricts_draws_to_the_k_largest() {
    // A high temperature flattens the distribution, so every kept token is drawn often.
    let counts = histogram(&LOGITS, &sampling(5.0, Some(3), None), 3000, 2);
    let support: BTreeSet<usize> = (0..LOGITS.len()).filter(|&i| counts[i] > 0).collect();
    assert_eq!(support, BTreeSet::from([2, 5, 3]), "{counts:?}");
    // Within the kept set the draw follows the renormalised softmax.
    let p = softmax(&LOGITS, 5.0);
    let kept: f64 = [2, 5, 3].iter().map(|&i| p[i]).sum();
    let renormalised: Vec<f64> =
        (0..LOGITS.len()).map(|i| if [2, 5, 3].contains(&i) { p[i] / kept } else { 0.0 }).collect();
    let chi2 = chi_square(&counts, &renormalised);
    assert!(chi2 < 18.5, "chi-square {chi2} for 2 degrees of freedom: {counts:?}"); // p ~ 1e-4
    // top_k larger than the vocabulary keeps everything.
    let all = histogram(&LOGITS, &sampling(5.0, Some(100), None), 3000, 3);
    assert!(all.iter().all(|&c| c > 0), "{all:?}");
}

#[test]
fn top_p_keeps_the_smallest_nucleus() {
    let probs = [0.05f64, 0.5, 0.15, 0.3];
    let logits: Vec<f32> = probs.iter().map(|p| p.ln() as f32).collect();
    // A tiny p keeps only the most likely token.
    assert_eq!(histogram(&logits, &sampling(1.0, None, Some(1e-9)), 300, 4)[1], 300);
    // 0.5 < 0.75 <= 0.5 + 0.3: tokens 1 and 3, renormalised to 0.625 / 0.375.
    let counts = histogram(&logits, &sampling(1.0, None, Some(0.75)), 4000, 5);
    assert_eq!(counts[0] + counts[2], 0, "{counts:?}");
    let chi2 = chi_square(&counts, &[0.0, 0.625, 0.0, 0.375]);
    assert!(chi2 < 15.1, "chi-square {chi2} for 1 degree of freedom: {counts:?}"); // p ~ 1e-4
    // 0.8 < 0.85: the third most likely joins; the least likely never does.
    let counts = histogram(&logits, &sampling(1.0, None, Some(0.85)), 4000, 6);
    assert!(counts[0] == 0 && counts[1] > 0 && counts[2] > 0 && counts[3] > 0, "{counts:?}");
    // p = 1 keeps everything.
    assert!(histogram(&logits, &sampling(1.0, None, Some(1.0)), 4000, 7).iter().all(|&c| c > 0));
    // top_k first, then top_p within what is left: k = 2 leaves {1: 0.625, 3: 0.375}; p = 0.6 keeps token 1.
    assert_eq!(histogram(&logits, &sampling(1.0, Some(2), Some(0.6)), 300, 8)[1], 300);
}

#[test]
fn frequencies_follow_softmax_of_logits_over_temperature() {
    for (temperature, seed) in [(1.0, 10), (0.7, 11), (2.5, 12)] {
        let n = 20_000;
        let counts = histogram(&LOGITS, &sampling(temperature, None, None), n, seed);
        let chi2 = chi_square(&counts, &softmax(&LOGITS, temperature));
        // 5 degrees of freedom: P(chi2 > 25.7) ~ 1e-4 under the right distribution.
        assert!(chi2 < 25.7, "temperature {temperature}: chi-square {chi2}, counts {counts:?}");
    }
    // The wrong temperature is rejected by the same bound: the test has teeth.
    let counts = histogram(&LOGITS, &sampling(1.0, None, None), 20_000, 13);
    assert!(chi_square(&counts, &softmax(&LOGITS, 1.3)) > 25.7);
}

#[test]
fn draws_are_deterministic_and_skip_impossible_tokens() {
    let logits = [1.0, f32::NEG_INFINITY, 0.5, f32::NEG_INFINITY];
    let cfg = sampling(1.0, None, None);
    let a = histogram(&logits, &cfg, 2000, 14);
    assert_eq!(a, histogram(&logits, &cfg, 2000, 14));
    assert_eq!(a[1] + a[3], 0, "{a:?}");
    assert!(a[0] > a[2] && a[2] > 0, "{a:?}");
    // A temperature so small that every non-max weight underflows is greedy, without NaN.
    assert_eq!(histogram(&LOGITS, &sampling(1e-300, None, Some(0.5)), 100, 15)[2], 100);
}

#[test]
#[should_panic(expected = "NaN")]
fn nan_logits_panic() {
    pick_token(&[0.0, f32::NAN], &sampling(1.0, None, None), &mut rng_from_seed(0));
}

#[test]
#[should_panic(expected = "top_k")]
fn pick_token_rejects_an_invalid_config() {
    pick_token(&LOGITS, &sampling(1.0, Some(0), None), &mut rng_from_seed(0));
}

#[test]
fn validate_rejects_bad_values() {
    let bad = [
        sampling(-0.1, None, None),
        sampling(f64::NAN, None, None),
        sampling(f64::INFINITY, None, None),
        sampling(1.0, Some(0), None),
        sampling(1.0, None, Some(0.0)),
        sampling(1.0, None, Some(-0.5)),
        sampling(1.0, None, Some(1.01)),
        sampling(1.0, None, Some(f64::NAN)),
    ];
    for cfg in &bad {
        match validate(cfg) {
            Err(Error::Config(msg)) => assert!(!msg.is_empty()),
            other => panic!("{cfg:?} gave {other:?}"),
        }
    }
    let good = [sampling(0.0, None, None), sampling(0.8, Some(1), Some(1.0)), sampling(3.0, Some(50), Some(1e-6))];
    for cfg in &good {
        assert!(validate(cfg).is_ok(), "{cfg:?}");
    }
}
