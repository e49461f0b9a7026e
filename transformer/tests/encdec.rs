//! The encoder-decoder model's pieces that the other tests don't reach: scaled embeddings,
//! evaluation mode, and greedy decoding against a step-by-step argmax.

mod common;

use autograd::no_grad;
use common::{randomize, small_transformer_config};
use tensor::Tensor;
use transformer::{Module, NormPlacement, Transformer};

fn model(tie_weights: bool) -> Transformer<f64> {
    let m = Transformer::new(small_transformer_config((7, 6), 0.3, tie_weights, NormPlacement::Post), 3);
    randomize(&m.named_parameters(), 0.5, 4);
    m
}

#[test]
fn embeddings_are_scaled_by_sqrt_d() {
    let m = model(true);
    let e = m.src_embed.forward(&[4], &[1]).value().to_vec();
    let row = m.src_embed.weight.value().narrow(0, 4, 1).to_vec();
    let want: Vec<f64> = row.iter().map(|x| x * 8f64.sqrt()).collect();
    assert_eq!(e, want);
}

#[test]
fn evaluation_mode_is_deterministic_and_training_is_not() {
    let m = model(false);
    let (src, tgt) = ([1, 2, 3, 4, 5, 6], [0, 1, 2, 3]);
    let run = || no_grad(|| m.forward(&src, [2, 3], &tgt, [2, 2], None).value().to_vec());
    m.set_training(false);
    assert_eq!(run(), run());
    m.set_training(true);
    assert_ne!(run(), run());
}

/// The index of the largest value (first on ties, as argmax).
fn argmax(v: &[f64]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

#[test]
fn greedy_decode_matches_stepwise_argmax() {
    for tie in [true, false] {
        let m = model(tie);
        m.set_training(false);
        let src = [1, 2, 3, 4, 6, 5, 0, 0];
        let pad = [false, false, false, false, false, false, true, true];
        let (start, end, max_len) = (0, 5, 6);
        let got = m.greedy_decode(&src, [2, 4], Some(&pad), start, end, max_len);
        for (b, seq) in got.iter().enumerate() {
            // Reference: decode this sequence alone, one argmax at a time.
            let src_b = &src[b * 4..b * 4 + 4];
            let pad_b = &pad[b * 4..b * 4 + 4];
            let mut prefix = vec![start];
            let mut want = Vec::new();
            for _ in 0..max_len {
                let t = prefix.len();
                let logits: Tensor<f64> = no_grad(|| m.forward(src_b, [1, 4], &prefix, [1, t], Some(pad_b)).value());
                let next = argmax(&logits.narrow(1, t - 1, 1).to_vec());
                want.push(next);
                prefix.push(next);
                if next == end {
                    break;
                }
            }
            assert_eq!(seq, &want, "tie {tie}, sequence {b}");
            assert!(seq.len() <= max_len);
            assert!(
                seq.iter().position(|&x| x == end).is_none_or(|p| p == seq.len() - 1),
                "nothing follows the end token"
            );
        }
    }
}
