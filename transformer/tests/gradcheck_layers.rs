//! Finite-difference gradient checks of every layer, in f64 with `GradCheck::default()` tolerances,
//! against all of the layer's parameters (by their `named_parameters` names) and its input.
//!
//! Parameters are re-randomised to O(1) values first (see `common::randomize`), and each check
//! also asserts that every gradient is far above the absolute tolerance, so none passes vacuously.
//! Dropout is 0 everywhere (the checked function must be deterministic).

mod common;

use autograd::Var;
use common::{
    PLACEMENTS, assert_pre_activations_away_from_kink, embedding, gradcheck, input, layer_config, randn, random_block,
    random_decoder, random_decoder_block, random_encoder, random_feed_forward, random_head, random_layer_norm,
    random_linear, random_mha, sdpa_inputs, with_inputs,
};
use tensor::{Tensor, rng_from_seed};
use transformer::{
    Activation, AttentionConfig, LearnedPositional, Module, NormPlacement, SinusoidalEncoding, causal_mask,
    combine_masks, padding_mask, scaled_dot_product_attention,
};

const MIN: f64 = 1e-3; // 100 x the checker's atol

// ---------------------------------------------------------------- Linear

fn check_linear(bias: bool, x_shape: &[usize]) {
    let lin = random_linear(4, 3, bias, 1);
    let params = lin.named_parameters();
    assert_eq!(params.len(), if bias { 2 } else { 1 });
    let x = input(x_shape, 1.0, 3);
    let vars = with_inputs(params, &[("input", &x)]);
    gradcheck(&vars, MIN, || lin.forward(&x));
}

#[test]
fn linear_with_bias_2d() {
    check_linear(true, &[3, 4]);
}

#[test]
fn linear_with_bias_3d() {
    check_linear(true, &[2, 3, 4]);
}

#[test]
fn linear_without_bias_2d() {
    check_linear(false, &[3, 4]);
}

#[test]
fn linear_without_bias_3d() {
    check_linear(false, &[2, 3, 4]);
}

#[test]
fn linear_on_a_transposed_input() {
    // A non-contiguous input (a transposed view) must give the same gradients as a contiguous one.
    let lin = random_linear(4, 3, true, 1);
    let x = Var::parameter(randn(&[4, 3], 1.0, 3).mt()); // (3, 4), strided
    let vars = with_inputs(lin.named_parameters(), &[("input", &x)]);
    gradcheck(&vars, MIN, || lin.forward(&x));
}

// ---------------------------------------------------------------- Embedding and positions

#[test]
fn embedding_with_repeated_ids() {
    for scaled in [false, true] {
        let emb = embedding(scaled);
        // Ids 1 and 3 repeat (their rows must receive the sum of the gradients), id 2 and 4 are unused.
        let ids = [1, 3, 1, 0, 3, 3];
        gradcheck(&emb.named_parameters(), MIN, || emb.forward(&ids, &[2, 3]));
        let out = emb.forward(&ids, &[2, 3]);
        let g = out.backward_with_grad(&Tensor::ones(&[2, 3, 4]));
        let g = g.get(&emb.weight).unwrap();
        let s = if scaled { 2.0 } else { 1.0 }; // sqrt(d) = 2
        let row_sums: Vec<f64> = (0..5).map(|r| (0..4).map(|c| g.get(&[r, c])).sum::<f64>()).collect();
        // Each use of a row contributes d * s to the row's sum of gradients.
        assert_eq!(row_sums, vec![4.0 * s, 8.0 * s, 0.0, 12.0 * s, 0.0]);
    }
}

#[test]
fn sinusoidal_encoding_input() {
    let pe = SinusoidalEncoding::<f64>::new(8, 6);
    let x = input(&[2, 3, 6], 1.0, 5);
    let vars = vec![("input".to_string(), x.clone())];
    gradcheck(&vars, MIN, || pe.forward(&x, 2).mul(&x)); // x * (x + PE): not just the identity
    let out = pe.forward(&x, 2).value();
    assert_eq!(out.get(&[1, 0, 1]), x.value().get(&[1, 0, 1]) + pe.table().get(&[2, 1]));
}

#[test]
fn learned_positional() {
    let pos = LearnedPositional::<f64>::new(6, 4, 1.0, &mut rng_from_seed(6));
    let x = input(&[2, 3, 4], 1.0, 7);
    let vars = with_inputs(pos.named_parameters(), &[("input", &x)]);
    // Rows 1..4 are read; the others must get an exact zero gradient (checked numerically too).
    gradcheck(&vars, MIN, || pos.forward(&x, 1).tanh());
    let g = pos.forward(&x, 1).sum_all().backward();
    let g = g.get(&pos.weight).unwrap();
    for r in [0, 4, 5] {
        assert!((0..4).all(|c| g.get(&[r, c]) == 0.0), "row {r} was not read but has a gradient");
    }
    assert!((1..4).all(|r| (0..4).all(|c| g.get(&[r, c]) == 2.0)));
}

// ---------------------------------------------------------------- LayerNorm and FeedForward

#[test]
fn layer_norm() {
    for bias in [true, false] {
        let ln = random_layer_norm(5, bias, 8);
        let x = Var::parameter(randn(&[2, 3, 5], 1.5, 9).add_scalar(0.7)); // non-zero mean
        let vars = with_inputs(ln.named_parameters(), &[("input", &x)]);
        gradcheck(&vars, MIN, || ln.forward(&x));
    }
}

#[test]
fn feed_forward_each_activation() {
    for act in [Activation::Relu, Activation::GeluTanh, Activation::GeluErf] {
        let ff = random_feed_forward(4, 8, act, 10);
        let x = input(&[2, 3, 4], 1.0, 12);
        if act == Activation::Relu {
            assert_pre_activations_away_from_kink(&ff, &x);
        }
        let vars = with_inputs(ff.named_parameters(), &[("input", &x)]);
        gradcheck(&vars, MIN, || ff.forward(&x));
    }
}

// ---------------------------------------------------------------- Attention

fn check_sdpa(q_shape: &[usize], kv_len: usize, mask: Option<&Tensor<f64>>) {
    let ([q, k, v], vars) = sdpa_inputs(q_shape, kv_len);
    gradcheck(&vars, MIN, || scaled_dot_product_attention(&q, &k, &v, mask).0);
    // The weights are a differentiable output too.
    gradcheck(&vars[..2], MIN, || scaled_dot_product_attention(&q, &k, &v, mask).1);
}

#[test]
fn sdpa_unmasked_cross_lengths() {
    check_sdpa(&[2, 3, 4], 4, None);
}

#[test]
fn sdpa_causal() {
    check_sdpa(&[2, 4, 4], 4, Some(&causal_mask(4, 4)));
    // Queries that follow two cached positions.
    check_sdpa(&[1, 2, 4], 4, Some(&causal_mask(2, 4)));
}

#[test]
fn sdpa_padding() {
    // (B, h, T, d) with the second sequence's last key padded.
    let pad = padding_mask::<f64>(&[false, false, false, false, false, true], 2, 3);
    check_sdpa(&[2, 2, 3, 4], 3, Some(&pad));
    check_sdpa(&[2, 2, 3, 4], 3, Some(&combine_masks(&causal_mask(3, 3), &pad)));
}

#[test]
fn attention_head_self_and_cross() {
    let head = random_head(6, 4, 16);
    let xq = input(&[2, 3, 6], 1.0, 18);
    let xkv = input(&[2, 4, 6], 1.0, 19);
    let vars = with_inputs(head.named_parameters(), &[("x_q", &xq), ("x_kv", &xkv)]);
    gradcheck(&vars, MIN, || head.forward(&xq, &xkv, None).0);
    let vars = with_inputs(head.named_parameters(), &[("x", &xq)]);
    let mask = causal_mask(3, 3);
    gradcheck(&vars, MIN, || head.forward(&xq, &xq, Some(&mask)).0);
}

#[test]
fn multi_head_self_attention() {
    let (m, _) = random_mha(AttentionConfig::new(8, 2), 20);
    let x = input(&[2, 3, 8], 1.0, 22);
    let vars = with_inputs(m.named_parameters(), &[("x", &x)]);
    gradcheck(&vars, MIN, || m.forward_self(&x, None).0);
    let mask = causal_mask(3, 3);
    gradcheck(&vars, MIN, || m.forward_self(&x, Some(&mask)).0);
}

#[test]
fn multi_head_cross_attention() {
    let (m, _) = random_mha(AttentionConfig::new(8, 2), 23);
    let xq = input(&[2, 2, 8], 1.0, 25);
    let mem = input(&[2, 4, 8], 1.0, 26);
    let vars = with_inputs(m.named_parameters(), &[("x_q", &xq), ("memory", &mem)]);
    gradcheck(&vars, MIN, || m.forward_cross(&xq, &mem, None).0);
    let pad = padding_mask(&[false, false, false, false, false, false, true, true], 2, 4);
    gradcheck(&vars, MIN, || m.forward_cross(&xq, &mem, Some(&pad)).0);
}

// ---------------------------------------------------------------- Layers and stacks

#[test]
fn block_post_and_pre() {
    for norm in PLACEMENTS {
        let c = layer_config(8, 2, 16, norm, Activation::GeluTanh);
        let layer = random_block(&c, 27);
        let x = input(&[2, 3, 8], 1.0, 29);
        let pad = padding_mask(&[false, false, false, false, false, true], 2, 3);
        let vars = with_inputs(layer.named_parameters(), &[("x", &x)]);
        gradcheck(&vars, MIN, || layer.forward(&x, Some(&pad)));
    }
}

#[test]
fn decoder_block_post_and_pre() {
    for norm in PLACEMENTS {
        let c = layer_config(8, 2, 16, norm, Activation::GeluErf);
        let layer = random_decoder_block(&c, 30);
        let x = input(&[2, 3, 8], 1.0, 32);
        let mem = input(&[2, 4, 8], 1.0, 33);
        let causal = causal_mask(3, 3);
        let pad = padding_mask(&[false, false, false, false, false, false, false, true], 2, 4);
        let vars = with_inputs(layer.named_parameters(), &[("x", &x), ("memory", &mem)]);
        gradcheck(&vars, MIN, || layer.forward(&x, &mem, Some(&causal), Some(&pad)));
    }
}

#[test]
fn encoder_stack() {
    for norm in PLACEMENTS {
        let c = layer_config(8, 2, 16, norm, Activation::GeluTanh);
        let enc = random_encoder(2, &c, 34);
        assert_eq!(enc.ln_f.is_some(), norm == NormPlacement::Pre);
        let x = input(&[1, 3, 8], 1.0, 36);
        let vars = with_inputs(enc.named_parameters(), &[("x", &x)]);
        gradcheck(&vars, MIN, || enc.forward(&x, None));
    }
}

#[test]
fn decoder_stack() {
    for norm in PLACEMENTS {
        let c = layer_config(8, 2, 16, norm, Activation::GeluTanh);
        let dec = random_decoder(2, &c, 37);
        assert_eq!(dec.ln_f.is_some(), norm == NormPlacement::Pre);
        let x = input(&[1, 3, 8], 1.0, 39);
        let mem = input(&[1, 2, 8], 1.0, 40);
        let causal = causal_mask(3, 3);
        let vars = with_inputs(dec.named_parameters(), &[("x", &x), ("memory", &mem)]);
        gradcheck(&vars, MIN, || dec.forward(&x, &mem, Some(&causal), None));
    }
}
