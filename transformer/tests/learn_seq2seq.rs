//! The encoder-decoder Transformer learns to copy and to reverse random digit sequences
//! (vocabulary 10 plus start/end symbols, lengths 5 to 10), judged by exact match of greedy
//! decoding on held-out sequences.

use std::collections::HashSet;

use rand::Rng;
use tensor::rng_from_seed;
use transformer::optim::{AdamW, LrSchedule, Optimizer};
use transformer::{Module, NormPlacement, Transformer, TransformerConfig};

const START: usize = 10;
const END: usize = 11;
const PAD: usize = 12;
const MAX_LEN: usize = 10;

fn random_seq(rng: &mut tensor::TensorRng) -> Vec<usize> {
    let len = rng.random_range(5..=MAX_LEN);
    (0..len).map(|_| rng.random_range(0..10)).collect()
}

/// A padded batch: sources `(B, MAX_LEN)` with pad flags, decoder inputs `START ++ tgt` and
/// targets `tgt ++ END`, both `(B, MAX_LEN + 1)`, padded with PAD (ignored in the loss).
struct Batch {
    src: Vec<usize>,
    src_pad: Vec<bool>,
    dec_in: Vec<usize>,
    dec_out: Vec<usize>,
    b: usize,
}

fn make_batch(pairs: &[(Vec<usize>, Vec<usize>)]) -> Batch {
    let t = MAX_LEN + 1;
    let mut batch = Batch { src: vec![], src_pad: vec![], dec_in: vec![], dec_out: vec![], b: pairs.len() };
    for (s, tgt) in pairs {
        for i in 0..MAX_LEN {
            batch.src.push(s.get(i).copied().unwrap_or(PAD));
            batch.src_pad.push(i >= s.len());
        }
        let dec_in: Vec<usize> = std::iter::once(START).chain(tgt.iter().copied()).collect();
        let dec_out: Vec<usize> = tgt.iter().copied().chain(std::iter::once(END)).collect();
        for i in 0..t {
            batch.dec_in.push(dec_in.get(i).copied().unwrap_or(PAD));
            batch.dec_out.push(dec_out.get(i).copied().unwrap_or(PAD));
        }
    }
    batch
}

fn learn(task: fn(&[usize]) -> Vec<usize>, seed: u64) -> f64 {
    let mut rng = rng_from_seed(seed);
    let mut held_out: Vec<Vec<usize>> = Vec::new();
    let mut seen = HashSet::new();
    while held_out.len() < 200 {
        let s = random_seq(&mut rng);
        if seen.insert(s.clone()) {
            held_out.push(s);
        }
    }
    let config = TransformerConfig {
        src_vocab: 13,
        tgt_vocab: 13,
        d_model: 64,
        n_head: 4,
        d_ff: 128,
        n_encoder_layers: 2,
        n_decoder_layers: 2,
        max_len: MAX_LEN + 1,
        dropout: 0.0,
        tie_weights: false,
        norm: NormPlacement::Post,
    };
    let model = Transformer::<f32>::new(config, seed);
    let iters = 600;
    let schedule = LrSchedule::WarmupCosine { max_lr: 2e-3, min_lr: 1e-4, warmup_iters: 50, decay_iters: iters };
    let mut opt = AdamW::new(model.named_parameters(), 2e-3, 0.0).with_betas(0.9, 0.98);
    let start = std::time::Instant::now();
    for it in 0..iters {
        let pairs: Vec<(Vec<usize>, Vec<usize>)> = (0..64)
            .map(|_| {
                loop {
                    let s = random_seq(&mut rng);
                    if !seen.contains(&s) {
                        let t = task(&s);
                        break (s, t);
                    }
                }
            })
            .collect();
        let batch = make_batch(&pairs);
        let t = MAX_LEN + 1;
        let logits = model.forward(&batch.src, [batch.b, MAX_LEN], &batch.dec_in, [batch.b, t], Some(&batch.src_pad));
        let loss = logits.reshape(&[batch.b * t, 13]).cross_entropy(&batch.dec_out, Some(PAD));
        opt.set_learning_rate(schedule.lr_at(it));
        opt.step(&loss.backward());
        if it % 100 == 0 {
            eprintln!("iter {it} loss {:.4} ({:.1}s)", loss.item(), start.elapsed().as_secs_f64());
        }
    }
    let pairs: Vec<(Vec<usize>, Vec<usize>)> = held_out.iter().map(|s| (s.clone(), task(s))).collect();
    let batch = make_batch(&pairs);
    model.set_training(false);
    let decoded = model.greedy_decode(&batch.src, [batch.b, MAX_LEN], Some(&batch.src_pad), START, END, MAX_LEN + 1);
    let correct = decoded.iter().zip(&pairs).filter(|(d, (_, t))| d[..] == [&t[..], &[END]].concat()[..]).count();
    let acc = correct as f64 / pairs.len() as f64;
    eprintln!("held-out exact match {acc:.3} after {:.1}s", start.elapsed().as_secs_f64());
    acc
}

#[test]
fn transformer_learns_to_copy() {
    let acc = learn(|s| s.to_vec(), 11);
    assert!(acc >= 0.99, "copy: held-out exact match {acc}");
}

#[test]
fn transformer_learns_to_reverse() {
    let acc = learn(|s| s.iter().rev().copied().collect(), 12);
    assert!(acc >= 0.99, "reverse: held-out exact match {acc}");
}
