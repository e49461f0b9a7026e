//! A GPT learns to sort short digit sequences (minGPT's demo), checked on held-out inputs.
//!
//! The model reads `inp ++ sorted(inp)` shifted by one and is trained only on the positions
//! that predict the sorted half (the rest are ignored in the loss, as minGPT's `-1` targets).
//! Evaluation feeds each held-out input and decodes the sorted half greedily with the KV cache.

use std::collections::HashSet;

use autograd::no_grad;
use rand::Rng;
use tensor::{Float, rng_from_seed};
use transformer::optim::{AdamW, LrSchedule, Optimizer};
use transformer::{Gpt, GptConfig, Module};

const LEN: usize = 6;
const DIGITS: usize = 4;

fn encode(seq: &[usize]) -> usize {
    seq.iter().fold(0, |acc, &d| acc * DIGITS + d)
}

/// Greedy continuation of `prompt` by `n` tokens using the KV cache.
fn generate(model: &Gpt<f32>, prompt: &[usize], n: usize) -> Vec<usize> {
    no_grad(|| {
        let mut caches = model.new_caches();
        let mut logits = model.forward_cached(prompt, [1, prompt.len()], &mut caches).value();
        let mut out = Vec::new();
        for i in 0..n {
            let t = logits.shape()[1];
            let next = logits.narrow(1, t - 1, 1).argmax(-1, false).to_vec()[0].to_f64() as usize;
            out.push(next);
            if i + 1 < n {
                logits = model.forward_cached(&[next], [1, 1], &mut caches).value();
            }
        }
        out
    })
}

#[test]
fn gpt_learns_to_sort() {
    let mut rng = rng_from_seed(7);
    let all = DIGITS.pow(LEN as u32);
    // A fixed held-out set of 200 sequences that never appear in training.
    let mut held_out = HashSet::new();
    while held_out.len() < 200 {
        held_out.insert(rng.random_range(0..all));
    }
    let config = GptConfig {
        vocab_size: DIGITS,
        block_size: 2 * LEN - 1,
        n_layer: 2,
        n_head: 2,
        n_embd: 48,
        dropout: 0.0,
        bias: false,
    };
    let model = Gpt::<f32>::new(config, 1);
    let iters = 1500;
    let mut opt = AdamW::new(model.named_parameters(), 5e-3, 0.1);
    let schedule = LrSchedule::WarmupCosine { max_lr: 5e-3, min_lr: 5e-4, warmup_iters: 50, decay_iters: iters };
    let batch = 64;
    let t = 2 * LEN - 1;
    let start = std::time::Instant::now();
    for it in 0..iters {
        let (mut ids, mut targets) = (Vec::with_capacity(batch * t), Vec::with_capacity(batch * t));
        for _ in 0..batch {
            let inp: Vec<usize> = loop {
                let s: Vec<usize> = (0..LEN).map(|_| rng.random_range(0..DIGITS)).collect();
                if !held_out.contains(&encode(&s)) {
                    break s;
                }
            };
            let mut sorted = inp.clone();
            sorted.sort();
            let full: Vec<usize> = inp.iter().chain(&sorted).copied().collect();
            ids.extend_from_slice(&full[..t]);
            // Only predictions of the sorted half count.
            targets.extend((1..=t).map(|i| if i >= LEN { full[i] } else { usize::MAX }));
        }
        let logits = model.forward(&ids, [batch, t]);
        let loss = logits.reshape(&[batch * t, DIGITS]).cross_entropy(&targets, Some(usize::MAX));
        opt.set_learning_rate(schedule.lr_at(it));
        opt.step(&loss.backward());
        if it % 100 == 0 {
            eprintln!("iter {it} loss {:.4} ({:.1}s)", loss.item(), start.elapsed().as_secs_f64());
        }
    }
    let mut correct = 0;
    for &code in &held_out {
        let inp: Vec<usize> = (0..LEN).rev().map(|k| code / DIGITS.pow(k as u32) % DIGITS).collect();
        let mut sorted = inp.clone();
        sorted.sort();
        if generate(&model, &inp, LEN) == sorted {
            correct += 1;
        }
    }
    let acc = correct as f64 / held_out.len() as f64;
    eprintln!("held-out exact match {acc:.3} after {:.1}s", start.elapsed().as_secs_f64());
    assert!(acc >= 0.99, "held-out exact match {acc}");
}
