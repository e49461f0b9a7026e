//! Properties of attention that a gradient check cannot see: causality, padding, permutation
//! equivariance, and the agreement of multi-head attention with the one-head picture.

mod common;

use autograd::{Var, no_grad};
use common::{eval_state, layer_config, max_diff, mha, randn, randomize, small_transformer_config};
use tensor::{Tensor, rng_from_seed};
use transformer::{
    Activation, AttentionConfig, AttentionHead, Block, Gpt, GptConfig, Init, Module, MultiHeadAttention, NormPlacement,
    SinusoidalEncoding, Transformer, causal_mask, padding_mask,
};

/// Logits `(B, T, V)` row `t` of batch `b`, as a vector.
fn row(logits: &Tensor<f64>, b: usize, t: usize) -> Vec<f64> {
    logits.narrow(0, b, 1).narrow(1, t, 1).to_vec()
}

// ---------------------------------------------------------------- Causality

#[test]
fn gpt_future_tokens_never_change_earlier_logits() {
    let config =
        GptConfig { vocab_size: 11, block_size: 6, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
    let gpt = Gpt::<f64>::new(config, 5);
    randomize(&gpt.named_parameters(), 0.4, 6); // O(1) weights: attention far from uniform
    let base = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
    let logits = no_grad(|| gpt.forward(&base, [2, 6]).value());
    for pos in 0..6 {
        let mut changed = base;
        changed[pos] = (changed[pos] + 1) % 11; // batch 0
        changed[6 + pos] = (changed[6 + pos] + 7) % 11; // batch 1
        let other = no_grad(|| gpt.forward(&changed, [2, 6]).value());
        for b in 0..2 {
            for t in 0..6 {
                if t < pos {
                    assert_eq!(row(&other, b, t), row(&logits, b, t), "token {pos} changed the logits of position {t}");
                } else {
                    assert!(
                        max_diff(
                            &Tensor::from_vec(row(&other, b, t), &[11]),
                            &Tensor::from_vec(row(&logits, b, t), &[11])
                        ) > 1e-6,
                        "token {pos} had no effect on position {t}"
                    );
                }
            }
        }
    }
}

fn small_transformer(norm: NormPlacement) -> Transformer<f64> {
    let model = Transformer::new(small_transformer_config((7, 6), 0.1, false, norm), 9);
    model.set_training(false);
    randomize(&model.named_parameters(), 0.4, 10);
    model
}

#[test]
fn transformer_decoder_is_causal() {
    for norm in [NormPlacement::Post, NormPlacement::Pre] {
        let model = small_transformer(norm);
        let src = [1, 2, 3, 4, 6, 5, 4, 0];
        let tgt = [0, 1, 2, 3, 4, 0, 5, 5, 1, 2];
        let logits = no_grad(|| model.forward(&src, [2, 4], &tgt, [2, 5], None).value());
        for pos in 0..5 {
            let mut changed = tgt;
            changed[pos] = (changed[pos] + 1) % 6;
            changed[5 + pos] = (changed[5 + pos] + 2) % 6;
            let other = no_grad(|| model.forward(&src, [2, 4], &changed, [2, 5], None).value());
            for b in 0..2 {
                for t in 0..pos {
                    assert_eq!(row(&other, b, t), row(&logits, b, t), "{norm:?}: target {pos} changed position {t}");
                }
                assert_ne!(row(&other, b, pos), row(&logits, b, pos));
            }
        }
        // Every decoder position does see the whole source.
        let mut src2 = src;
        src2[3] = 2;
        let other = no_grad(|| model.forward(&src2, [2, 4], &tgt, [2, 5], None).value());
        assert_ne!(row(&other, 0, 0), row(&logits, 0, 0));
    }
}

// ---------------------------------------------------------------- Padding

#[test]
fn padded_keys_get_exactly_zero_weight() {
    for norm in [NormPlacement::Post, NormPlacement::Pre] {
        let model = small_transformer(norm);
        // S = 4; sequence 0 unpadded, sequence 1 has its last two positions padded.
        let src = [1, 2, 3, 4, 6, 5, 0, 0];
        let pad = [false, false, false, false, false, false, true, true];
        let tgt = [0, 1, 2, 0, 3, 3];
        let (logits, maps) = no_grad(|| model.forward_with_attention(&src, [2, 4], &tgt, [2, 3], Some(&pad)));
        let logits = logits.value();
        let (enc, dec, cross) = (maps.encoder, maps.decoder, maps.cross);
        assert_eq!((enc.len(), dec.len(), cross.len()), (2, 2, 2));
        for w in enc.iter().chain(&cross) {
            let tq = w.shape()[2];
            assert_eq!(w.shape(), &[2, 2, tq, 4]);
            for h in 0..2 {
                for q in 0..tq {
                    assert_eq!(w.get(&[1, h, q, 2]), 0.0);
                    assert_eq!(w.get(&[1, h, q, 3]), 0.0);
                    assert!(w.get(&[1, h, q, 0]) > 0.0 && w.get(&[0, h, q, 3]) > 0.0);
                    let sum: f64 = (0..4).map(|k| w.get(&[1, h, q, k])).sum();
                    assert!((sum - 1.0).abs() < 1e-12);
                }
            }
        }
        // What sits at a padded position never matters.
        let mut src2 = src;
        src2[6] = 3;
        src2[7] = 5;
        let other = no_grad(|| model.forward(&src2, [2, 4], &tgt, [2, 3], Some(&pad)).value());
        assert_eq!(other.to_vec(), logits.to_vec());
    }
}

#[test]
fn multi_head_padding_mask() {
    let m = mha(8, 2, 1);
    let x = Var::constant(randn(&[2, 3, 8], 1.0, 2));
    let mask = padding_mask::<f64>(&[false, true, false, false, false, true], 2, 3);
    let (_, w) = m.forward_self(&x, Some(&mask)); // (B, h, Tq, Tk)
    for h in 0..2 {
        for q in 0..3 {
            assert_eq!(w.get(&[0, h, q, 1]), 0.0);
            assert_eq!(w.get(&[1, h, q, 2]), 0.0);
            assert!(w.get(&[0, h, q, 0]) > 0.0 && w.get(&[1, h, q, 1]) > 0.0);
        }
    }
}

// ---------------------------------------------------------------- Permutation equivariance

/// `x: (B, T, d)` with its tokens reordered: output token `i` is input token `perm[i]`.
fn permute_tokens(x: &Tensor<f64>, perm: &[usize]) -> Tensor<f64> {
    x.index_select(1, perm)
}

#[test]
fn self_attention_without_positions_is_permutation_equivariant() {
    let perm = [2, 0, 3, 1];
    let x = randn(&[2, 4, 8], 1.0, 3);
    let xp = permute_tokens(&x, &perm);

    let m = mha(8, 2, 4);
    randomize(&m.named_parameters(), 0.5, 5);
    let run = |x: &Tensor<f64>| m.forward_self(&Var::constant(x.clone()), None).0.value();
    let (y, yp) = (run(&x), run(&xp));
    assert!(max_diff(&yp, &permute_tokens(&y, &perm)) < 1e-12);

    for norm in [NormPlacement::Post, NormPlacement::Pre] {
        let layer =
            Block::<f64>::new(&layer_config(8, 2, 16, norm, Activation::Relu), &eval_state(), &mut rng_from_seed(6));
        randomize(&layer.named_parameters(), 0.5, 7);
        let run = |x: &Tensor<f64>| layer.forward(&Var::constant(x.clone()), None).value();
        let (y, yp) = (run(&x), run(&xp));
        assert!(max_diff(&yp, &permute_tokens(&y, &perm)) < 1e-12, "{norm:?}");

        // With positions added, order matters: the same comparison must fail.
        let pe = SinusoidalEncoding::<f64>::new(4, 8);
        let run = |x: &Tensor<f64>| layer.forward(&pe.forward(&Var::constant(x.clone()), 0), None).value();
        let (y, yp) = (run(&x), run(&xp));
        assert!(max_diff(&yp, &permute_tokens(&y, &perm)) > 1e-3, "{norm:?}");
    }
}

// ---------------------------------------------------------------- One head

#[test]
fn one_head_multi_head_attention_equals_an_attention_head_and_out_proj() {
    let d = 6;
    let m = mha(d, 1, 8);
    randomize(&m.named_parameters(), 0.5, 9);
    let head = AttentionHead::<f64>::new(d, d, true, Init::Xavier, &mut rng_from_seed(10));
    for (dst, src) in [(&head.query, &m.q_proj), (&head.key, &m.k_proj), (&head.value, &m.v_proj)] {
        dst.weight.set_value(src.weight.value());
        dst.bias.as_ref().unwrap().set_value(src.bias.as_ref().unwrap().value());
    }
    let xq = Var::constant(randn(&[2, 3, d], 1.0, 11));
    let xkv = Var::constant(randn(&[2, 5, d], 1.0, 12));
    let mask = padding_mask::<f64>(&[false, false, false, true, true, false, false, false, false, true], 2, 5);
    for mask in [None, Some(&mask)] {
        let (multi, wm) = m.forward_cross(&xq, &xkv, mask);
        // The head's weights are (B, Tq, Tk); a (B, 1, 1, Tk) mask needs its head axis dropped.
        let head_mask = mask.map(|t| t.squeeze(1));
        let (single, wh) = head.forward(&xq, &xkv, head_mask.as_ref());
        let single = m.out_proj.forward(&single);
        assert!(max_diff(&multi.value(), &single.value()) < 1e-12);
        assert!(max_diff(&wm.squeeze(1), &wh.value()) < 1e-12);
    }
}

// ---------------------------------------------------------------- Kernels

/// The packed, fused and composed kernels (`mha.rs`) compute one function: the same output and
/// weights for self-attention (packed), for cross-attention over the same numbers (fused), and,
/// for the weights, in training with dropout on them (composed; the weights returned are those
/// before dropout).
#[test]
fn the_three_attention_kernels_agree() {
    let state = eval_state();
    let config = AttentionConfig { dropout: 0.5, ..AttentionConfig::new(8, 2) };
    let m = MultiHeadAttention::<f64>::new(&config, &state, &mut rng_from_seed(13));
    randomize(&m.named_parameters(), 0.5, 14);
    let x = Var::constant(randn(&[2, 5, 8], 1.0, 15));
    let same_numbers = Var::constant(x.value());
    let mask = causal_mask::<f64>(5, 5);
    let (packed, w_packed) = m.forward_self(&x, Some(&mask));
    let (fused, w_fused) = m.forward_cross(&x, &same_numbers, Some(&mask));
    assert!(max_diff(&packed.value(), &fused.value()) < 1e-12);
    assert!(max_diff(&w_packed, &w_fused) < 1e-12);
    state.set_training(true);
    let (dropped, w_composed) = m.forward_self(&x, Some(&mask));
    assert!(max_diff(&w_packed, &w_composed) < 1e-12);
    assert!(max_diff(&packed.value(), &dropped.value()) > 1e-3, "dropout acted on the weights");
}
