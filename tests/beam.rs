//! Beam search (`gradlab::beam`) and the probabilities `sample --show-probs` shows.
//!
//! Beam search must find a better sequence than greedy where greedy is fooled (a constructed
//! case), find the most likely sequence outright when the beam is wide enough to hold every
//! candidate (checked by brute force on a tiny GPT), equal greedy decoding at width 1, and stop a
//! beam at the end token.

use gradlab::beam::{Beam, beam_search, beam_search_encdec, beam_search_gpt, log_probs};
use gradlab::sample::{CachedContext, SampleConfig, generate, generate_watching, top_candidates};
use tensor::rng_from_seed;
use transformer::{Gpt, GptConfig, Module, NormPlacement, Transformer, TransformerConfig};

/// A toy "model" over 4 tokens whose state is the sequence so far. Greedy takes token 0 (p 0.5),
/// after which every token is equally likely (p 0.25); the best sequence starts with token 1
/// (p 0.3) and continues with token 2 (p 0.95). (It takes `&Vec`, not a slice: `beam_search`
/// calls it with a reference to its state type, here `Vec<usize>`.)
#[allow(clippy::ptr_arg)]
fn fooling_logits(seq: &Vec<usize>) -> Vec<f32> {
    let p: [f32; 4] = match seq.first() {
        None => [0.5, 0.3, 0.2, 0.0],
        Some(0) => [0.25; 4],
        _ => [0.02, 0.02, 0.95, 0.01],
    };
    p.iter().map(|p| p.ln()).collect()
}

fn push(seq: &mut Vec<usize>, t: usize) {
    seq.push(t);
}

#[test]
fn beam_search_beats_greedy_where_greedy_is_fooled() {
    let greedy = beam_search(Vec::new(), fooling_logits, push, 1, 2, None);
    let beam = beam_search(Vec::new(), fooling_logits, push, 2, 2, None);
    assert_eq!(greedy.tokens[0], 0);
    assert!((greedy.log_prob - (0.5f64 * 0.25).ln()).abs() < 1e-6, "{greedy:?}");
    assert_eq!(beam.tokens, vec![1, 2]);
    assert!((beam.log_prob - (0.3f64 * 0.95).ln()).abs() < 1e-6, "{beam:?}");
}

#[test]
fn a_beam_that_produces_the_end_token_stops_and_keeps_its_score() {
    // Token 3 is the end token here; after [1] it has probability 0.01, after [2] ... never reached.
    let logits = |seq: &Vec<usize>| -> Vec<f32> {
        let p: [f32; 4] = match seq.len() {
            0 => [0.1, 0.1, 0.1, 0.7],
            _ => [0.25; 4],
        };
        p.iter().map(|p| p.ln()).collect()
    };
    let found = beam_search(Vec::new(), logits, push, 3, 5, Some(3));
    assert_eq!(found.tokens, vec![3]); // 0.7 beats any longer sequence (at most 0.1 * 0.25)
    assert!((found.log_prob - 0.7f64.ln()).abs() < 1e-6);
}

fn tiny_gpt(vocab: usize, seed: u64) -> Gpt<f32> {
    let config =
        GptConfig { vocab_size: vocab, block_size: 8, n_layer: 1, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
    let model = Gpt::new(config, seed);
    for (_, p) in model.named_parameters() {
        p.update_value(|v| *v = v.mul_scalar(40.0)); // sharper, more varied distributions
    }
    model.set_training(false);
    model
}

/// The log-probability of `continuation` after `prompt`, token by token with the model's cache.
fn sequence_log_prob(model: &Gpt<f32>, prompt: &[usize], continuation: &[usize]) -> f64 {
    let mut ctx = CachedContext::new(model, prompt);
    let mut total = 0.0;
    for &t in continuation {
        total += log_probs(ctx.logits())[t];
        ctx.push(t);
    }
    total
}

#[test]
fn a_beam_as_wide_as_every_candidate_finds_the_most_likely_sequence() {
    let (vocab, n) = (3, 3);
    for seed in 0..4 {
        let model = tiny_gpt(vocab, seed);
        let prompt = [1, 0];
        let mut best = (f64::NEG_INFINITY, vec![]);
        for code in 0..vocab.pow(n as u32) {
            let seq: Vec<usize> = (0..n).map(|i| code / vocab.pow(i as u32) % vocab).collect();
            let lp = sequence_log_prob(&model, &prompt, &seq);
            if lp > best.0 {
                best = (lp, seq);
            }
        }
        let Beam { tokens, log_prob } = beam_search_gpt(&model, &prompt, vocab.pow(n as u32), n, None);
        assert_eq!(tokens, best.1, "seed {seed}");
        assert!((log_prob - best.0).abs() < 1e-6, "seed {seed}: {log_prob} vs {}", best.0);
    }
}

#[test]
fn width_one_is_greedy_decoding() {
    let model = tiny_gpt(7, 9);
    let prompt = [3, 1, 4];
    let greedy = generate(
        &model,
        &prompt,
        &SampleConfig { max_new_tokens: 5, temperature: 0.0, top_k: None, top_p: None },
        &mut rng_from_seed(0),
    );
    let beam = beam_search_gpt(&model, &prompt, 1, 5, None);
    assert_eq!(beam.tokens, greedy);
    assert!((beam.log_prob - sequence_log_prob(&model, &prompt, &greedy)).abs() < 1e-6);
}

#[test]
fn the_watched_logits_are_those_each_token_was_picked_from() {
    let model = tiny_gpt(7, 2);
    let prompt = [2, 5];
    let cfg = SampleConfig { max_new_tokens: 4, temperature: 0.0, top_k: None, top_p: None };
    let mut seen = Vec::new();
    let out = generate_watching(&model, &prompt, &cfg, &mut rng_from_seed(0), |logits, t| {
        seen.push((top_candidates(logits, 7), t));
    });
    assert_eq!(out.len(), 4);
    for ((top, picked), &t) in seen.iter().zip(&out) {
        assert_eq!(*picked, t);
        assert_eq!(top[0].0, t, "greedy picks the most likely candidate");
        let total: f64 = top.iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-9, "all 7 candidates sum to 1: {total}");
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "most likely first");
    }
}

#[test]
fn probabilities_are_the_softmax_of_the_logits() {
    let model = tiny_gpt(5, 4);
    let ids = [1, 2, 3];
    let probs = model.probabilities(&ids, [1, 3]).value().to_vec(); // (1, 3, 5)
    let ctx = CachedContext::new(&model, &ids);
    let last = &probs[10..15]; // the distribution after the last position
    for (i, &(id, p)) in top_candidates(ctx.logits(), 5).iter().enumerate() {
        assert!((f64::from(last[id]) - p).abs() < 1e-5, "candidate {i}: {} vs {p}", last[id]);
    }
}

fn tiny_encdec(seed: u64) -> Transformer<f32> {
    let config = TransformerConfig {
        src_vocab: 4,
        tgt_vocab: 3,
        d_model: 8,
        n_head: 2,
        d_ff: 16,
        n_encoder_layers: 1,
        n_decoder_layers: 1,
        max_len: 8,
        dropout: 0.0,
        tie_weights: false,
        norm: NormPlacement::Post,
    };
    let model = Transformer::new(config, seed);
    for (_, p) in model.named_parameters() {
        p.update_value(|v| *v = v.mul_scalar(4.0)); // sharper distributions
    }
    model.set_training(false);
    model
}

/// The encoder-decoder's beam search: width 1 is its greedy decoding, and a beam wide enough to
/// hold every candidate finds the most likely output (brute force over all 27 outputs of length 3).
#[test]
fn encoder_decoder_beam_search_is_greedy_at_width_one_and_exact_when_wide() {
    let (src, start, n) = ([1, 3, 2, 0], 0, 3);
    for seed in 0..3 {
        let model = tiny_encdec(seed);
        let greedy = model.greedy_decode(&src, [1, 4], None, start, usize::MAX, n).remove(0);
        let beam1 = beam_search_encdec(&model, &src, start, None, 1, n);
        assert_eq!(beam1.tokens, greedy, "seed {seed}");

        // Every output's log-probability, by teacher forcing [start, y0, y1] through the model.
        let mut best = (f64::NEG_INFINITY, vec![]);
        for code in 0..27 {
            let y: Vec<usize> = (0..n).map(|i| code / 3usize.pow(i as u32) % 3).collect();
            let tgt = [start, y[0], y[1]];
            let logits = autograd::no_grad(|| model.forward(&src, [1, 4], &tgt, [1, 3], None)).value().to_vec(); // (1, 3, 3)
            let lp: f64 = (0..n).map(|i| log_probs(&logits[i * 3..i * 3 + 3])[y[i]]).sum();
            if lp > best.0 {
                best = (lp, y);
            }
        }
        let wide = beam_search_encdec(&model, &src, start, None, 27, n);
        assert_eq!(wide.tokens, best.1, "seed {seed}");
        assert!((wide.log_prob - best.0).abs() < 1e-5, "seed {seed}: {} vs {}", wide.log_prob, best.0);
    }
}
