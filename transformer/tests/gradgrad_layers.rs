//! Second-order gradient checks (`autograd::GradGradCheck`, PyTorch's `gradgradcheck`) of every
//! layer that `gradcheck_layers.rs` and `gradcheck_models.rs` check at first order, in f64 with
//! the default tolerances, against the layer's parameters (by their `named_parameters` names), its
//! inputs and the random output gradient (`grad_output`).
//!
//! What is checked: with `create_graph`, the backward of every layer is itself recorded, and its
//! gradients are differentiated again. Fused ops (layer norm, the attention kernels, softmax,
//! cross-entropy, the GELUs) keep fast first-order kernels; for higher orders the engine
//! differentiates their composed twins. So each check compares the twins' recorded backward
//! (analytic) with finite differences of the fast kernels' first-order gradients (numeric).
//!
//! Covered: `Linear` (with and without bias, 2-D and 3-D, on a transposed and on a sliced input),
//! `Embedding` (plain and scaled, repeated ids), both positional encodings, `LayerNorm` (with and
//! without bias, and on a broadcast (stride-0) input), `FeedForward` with ReLU (away from its
//! kink) and both GELUs, `scaled_dot_product_attention` (unmasked, causal, padding, both masks;
//! its output and its weights), `AttentionHead` (self and cross), `MultiHeadAttention` on each
//! kernel path `mha.rs` can take (packed self-attention with and without biases, fused self- and
//! cross-attention, composed attention when the weights are dropped out, and the fused kernel
//! over precomputed constant keys and values, as in cached generation; each test asserts which
//! kernel ran), with causal, padding (broadcast over heads and queries) and combined masks,
//! `Block` and `DecoderBlock` in post- and pre-norm, `Encoder` and `Decoder` stacks, and a tiny
//! `Gpt` and a tiny encoder-decoder `Transformer` with their cross-entropy loss on top.
//!
//! No check may pass vacuously. For every variable the test states how the function depends on
//! it at second order ([`Second`]), and [`gradgradcheck`] asserts it on the checker's own random
//! draws:
//! - [`Second::Curved`]: the variable's own second derivative (its diagonal block of the Hessian,
//!   times the output gradient) is nonzero, e.g. every input of a layer with a nonlinearity;
//! - [`Second::Affine`]: the function is affine in the variable alone, e.g. a linear layer's
//!   weight: its own second derivative is exactly 0, so the check can only test its mixed second
//!   derivatives (its gradient `v^T x` moves with `x`), which must be nonzero;
//! - [`Second::Zero`]: no gradient depends on the variable, e.g. an output bias, which only
//!   shifts the output: its whole second-order gradient is 0 (checked to be ~0 numerically too).
//!
//! And the `grad_output` column (the backward is linear in the output gradient) must be nonzero.
//! Parameters are re-randomised to O(1) values (`common::randomize`); dropout is 0 except where a
//! test needs the composed attention, and there its random stream is reset before every forward,
//! so the checked function stays deterministic.

mod common;

use autograd::{GradCheckReport, GradGradCheck, Var, grad, grad_with, graph_nodes, no_grad};
use common::{
    PLACEMENTS, assert_pre_activations_away_from_kink, assert_relu_inputs_away_from_kink, embedding, input,
    is_key_bias, layer_config, randn, random_block, random_decoder, random_decoder_block, random_encoder,
    random_feed_forward, random_head, random_layer_norm, random_linear, random_mha, randomize, sdpa_inputs,
    seq2seq_loss, small_transformer_config, tiny_gpt, tiny_transformer, with_inputs,
};
use tensor::{Tensor, rng_from_seed};
use transformer::{
    Activation, AttentionConfig, Block, DropoutState, KvCache, LearnedPositional, Module, MultiHeadAttention,
    NormPlacement, SinusoidalEncoding, TransformerConfig, causal_mask, combine_masks, padding_mask,
    scaled_dot_product_attention,
};

/// The smallest largest-element a second-order gradient that must be nonzero may have: 100 x the
/// checker's absolute tolerance, so a missing term cannot hide inside it.
const MIN: f64 = 1e-3;
/// The same for a variable's own part of it (see [`Second::Curved`]), which is one term of what
/// the checker compares: 10 x its absolute tolerance, so a backward that dropped the term would
/// still be caught. (Attention's own second derivatives in its keys are a few 1e-4 at these sizes.)
const OWN_MIN: f64 = 1e-4;
/// The largest a second-order gradient that is 0 in exact arithmetic may be (rounding only).
const TINY: f64 = 1e-10;

/// How a checked function depends on one variable at second order (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Second {
    /// Its own second derivative is nonzero.
    Curved,
    /// Affine in it alone: its own second derivative is 0, its mixed ones are not.
    Affine,
    /// No gradient depends on it: its whole second-order gradient is 0.
    Zero,
}
use Second::{Affine, Curved, Zero};

/// Largest |element| of an optional gradient (0 when there is none).
fn max_abs(g: &Option<Var<f64>>) -> f64 {
    g.as_ref().map_or(0.0, |g| g.value().to_vec().iter().fold(0.0f64, |m, x| m.max(x.abs())))
}

/// The random output gradient `v` and reduction weights `R_i` that `GradGradCheck::check_vars`
/// draws for these variables, drawn the same way (if the checker ever draws differently, these
/// are still a generic random draw, for which the same terms must be zero or nonzero).
fn checker_draws(vars: &[(String, Var<f64>)], out_shape: &[usize]) -> (Tensor<f64>, Vec<Tensor<f64>>) {
    let mut rng = rng_from_seed(GradGradCheck::default().seed ^ 0x9e37_79b9_7f4a_7c15);
    let v = Tensor::<f64>::rand_uniform_with(out_shape, -1.0, 1.0, &mut rng);
    let r = vars.iter().map(|(_, x)| Tensor::<f64>::rand_uniform_with(&x.shape(), 0.5, 1.5, &mut rng)).collect();
    (v, r)
}

/// `sum_i sum(g_i * R_i)`: the scalar whose gradients the checker checks.
fn reduce(grads: &[Option<Var<f64>>], weights: &[Tensor<f64>], start: Var<f64>) -> Var<f64> {
    grads.iter().zip(weights).fold(start, |total, (g, w)| match g {
        Some(g) => total.add(&g.mul(&Var::constant(w.clone())).sum_all()),
        None => total,
    })
}

/// For each variable, then for `grad_output`: the largest element of the checker's analytic
/// second-order gradient (the gradient of `sum_i sum(g_i * R_i)`, `g_i = v^T dy/dx_i`), and, for
/// each variable, of its own part (the gradient of `sum(g_i * R_i)` with respect to `x_i` only).
///
/// One recorded backward (`create_graph`) gives every `g_i`; the second derivatives are plain
/// backwards through those recorded graphs, one for the whole sum and one per variable.
fn second_order_scales(vars: &[(String, Var<f64>)], f: &impl Fn() -> Var<f64>) -> (Vec<f64>, Vec<f64>) {
    let y = f();
    let (v, weights) = checker_draws(vars, &y.shape());
    let inputs: Vec<&Var<f64>> = vars.iter().map(|(_, x)| x).collect();
    let v = Var::parameter(v);
    let g = grad_with(&[&y], &[&v], &inputs, true);

    let total = reduce(&g, &weights, v.mul_scalar(0.0).sum_all());
    let mut all = inputs.clone();
    all.push(&v);
    let full: Vec<f64> = grad(&[&total], &all, false).iter().map(max_abs).collect();

    let own = g
        .iter()
        .zip(&weights)
        .zip(&inputs)
        .map(|((gi, w), x)| {
            let s = reduce(std::slice::from_ref(gi), std::slice::from_ref(w), Var::constant(Tensor::scalar(0.0)));
            if s.requires_grad() { max_abs(&grad(&[&s], &[x], false)[0]) } else { 0.0 }
        })
        .collect();
    (full, own)
}

/// Second-order gradient check of `f` against every named variable and the output gradient, with
/// `GradGradCheck::default()` tolerances, then the non-vacuity assertions of the module doc.
///
/// `expected` lists the variables that are not [`Second::Curved`], by exact name; key biases
/// (`common::is_key_bias`) are [`Second::Zero`] without being listed: softmax ignores them, so no
/// gradient depends on them at any order.
#[track_caller]
fn gradgradcheck(
    vars: &[(String, Var<f64>)],
    expected: &[(&str, Second)],
    f: impl Fn() -> Var<f64>,
) -> GradCheckReport {
    for (name, _) in expected {
        assert!(vars.iter().any(|(n, _)| n == name), "{name} has an expectation but is not checked");
    }
    let report = match GradGradCheck::default().check_vars(vars, &f) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(report.order, 2);
    let names: Vec<&str> = report.inputs.iter().map(|i| i.name.as_str()).collect();
    let mut want: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    want.push("grad_output");
    assert_eq!(names, want);

    let (full, own) = second_order_scales(vars, &f);
    for (i, (name, _)) in vars.iter().enumerate() {
        let class = if is_key_bias(name) {
            Zero
        } else {
            expected.iter().find(|(n, _)| *n == name.as_str()).map_or(Curved, |&(_, c)| c)
        };
        let (full, own) = (full[i], own[i]);
        let why = format!("{name} ({class:?}): second-order gradient up to {full:e}, its own part up to {own:e}");
        match class {
            Curved => {
                assert!(own >= OWN_MIN, "{why}; its own second derivative must be nonzero\n{report}");
                assert!(full >= MIN, "{why}; the check would be vacuous\n{report}");
            }
            Affine => {
                assert!(own < TINY, "{why}; the output is affine in it, so its own part must be 0\n{report}");
                assert!(full >= MIN, "{why}; its mixed second derivatives must be nonzero\n{report}");
            }
            Zero => assert!(full < TINY, "{why}; no gradient depends on it, so this must be 0\n{report}"),
        }
    }
    let g_out = full[vars.len()];
    assert!(g_out >= MIN, "grad_output: second-order gradient up to {g_out:e}, the check would be vacuous\n{report}");
    report
}

// ---------------------------------------------------------------- Linear

/// `y = x W^T + b` is affine in `x` and in `W` separately (each one's own second derivative is 0)
/// but bilinear in the pair, and `b` only shifts it.
const LINEAR: [(&str, Second); 3] = [("weight", Affine), ("bias", Zero), ("input", Affine)];

fn check_linear(bias: bool, x: Tensor<f64>) {
    let lin = random_linear(4, 3, bias, 1);
    let params = lin.named_parameters();
    assert_eq!(params.len(), if bias { 2 } else { 1 });
    let x = Var::parameter(x);
    let vars = with_inputs(params, &[("input", &x)]);
    let expected: Vec<(&str, Second)> = LINEAR.into_iter().filter(|(n, _)| bias || *n != "bias").collect();
    gradgradcheck(&vars, &expected, || lin.forward(&x));
}

#[test]
fn linear_with_and_without_bias() {
    for bias in [true, false] {
        check_linear(bias, randn(&[3, 4], 1.0, 3));
        check_linear(bias, randn(&[2, 3, 4], 1.0, 3));
    }
}

#[test]
fn linear_on_non_contiguous_inputs() {
    let transposed = randn(&[4, 3], 1.0, 3).mt(); // (3, 4), strides (1, 3)
    assert!(!transposed.is_contiguous());
    check_linear(true, transposed);
    let sliced = randn(&[2, 3, 7], 1.0, 4).narrow(2, 2, 4); // (2, 3, 4), every row a window of 7
    assert!(!sliced.is_contiguous());
    check_linear(true, sliced);
}

#[test]
fn linear_composed_with_a_nonlinearity() {
    // tanh(x W^T + b): now every input is curved, the bias too.
    let lin = random_linear(4, 3, true, 5);
    let x = input(&[2, 3, 4], 1.0, 7);
    let vars = with_inputs(lin.named_parameters(), &[("input", &x)]);
    gradgradcheck(&vars, &[], || lin.forward(&x).tanh());
}

/// `tanh` whose backward has the right value but reads its input detached: its first derivative
/// is right, its second derivative is lost (the kind of mistake this file exists to catch).
fn tanh_with_detached_backward(x: &Var<f64>) -> Var<f64> {
    Var::from_differentiable_op("tanh_detached", x.value().tanh(), &[x], |a| {
        let t = a.inputs[0].detach().tanh();
        vec![Some(a.grad.mul(&t.mul(&t).neg().add_scalar(1.0)))]
    })
}

#[test]
#[should_panic(expected = "second-order gradient check")]
fn a_lost_second_derivative_inside_a_layer_is_caught() {
    // The helper's own test: a layer whose nonlinearity has a first-order-only backward.
    let lin = random_linear(4, 3, true, 5);
    let x = input(&[2, 3, 4], 1.0, 7);
    let vars = with_inputs(lin.named_parameters(), &[("input", &x)]);
    common::gradcheck(&vars, 1e-3, || tanh_with_detached_backward(&lin.forward(&x))); // first order passes
    gradgradcheck(&vars, &[], || tanh_with_detached_backward(&lin.forward(&x)));
}

// ---------------------------------------------------------------- Embedding and positions

#[test]
fn embedding_with_repeated_ids() {
    // Ids 1 and 3 repeat (their rows receive sums of gradients); ids 2 and 4 are unused.
    let ids = [1, 3, 1, 0, 3, 3];
    for scaled in [false, true] {
        let emb = embedding(scaled);
        // A lookup is linear in the table and its gradient (the output gradient added into the
        // rows read) does not depend on the table: the second-order gradient is 0, and the check
        // tests the backward's own backward through `grad_output` (adding rows is linear in v).
        gradgradcheck(&emb.named_parameters(), &[("weight", Zero)], || emb.forward(&ids, &[2, 3]));
        // Through a nonlinearity the table is curved, and repeated rows add second derivatives.
        gradgradcheck(&emb.named_parameters(), &[], || emb.forward(&ids, &[2, 3]).tanh());
    }
}

#[test]
fn sinusoidal_encoding_input() {
    let pe = SinusoidalEncoding::<f64>::new(8, 6);
    let x = input(&[2, 3, 6], 1.0, 5);
    let vars = vec![("input".to_string(), x.clone())];
    // x + PE alone is affine with no parameter: x * (x + PE) makes the positions matter at second
    // order (d2/dx2 = 2, and the first derivative 2x + PE carries the table).
    gradgradcheck(&vars, &[], || pe.forward(&x, 2).mul(&x));
}

#[test]
fn learned_positional() {
    let pos = LearnedPositional::<f64>::new(6, 4, 1.0, &mut rng_from_seed(6));
    let x = input(&[2, 3, 4], 1.0, 7);
    let vars = with_inputs(pos.named_parameters(), &[("input", &x)]);
    gradgradcheck(&vars, &[], || pos.forward(&x, 1).tanh());
}

// ---------------------------------------------------------------- LayerNorm and FeedForward

#[test]
fn layer_norm() {
    for bias in [true, false] {
        let ln = random_layer_norm(5, bias, 8);
        let x = Var::parameter(randn(&[2, 3, 5], 1.5, 9).add_scalar(0.7)); // non-zero mean
        let vars = with_inputs(ln.named_parameters(), &[("input", &x)]);
        // y = x^ * gain + bias: affine in the gain, shifted by the bias; curved in x.
        let expected = [("weight", Affine), ("bias", Zero)];
        gradgradcheck(&vars, &expected[..if bias { 2 } else { 1 }], || ln.forward(&x));
    }
}

#[test]
fn layer_norm_on_a_broadcast_input() {
    // A stride-0 input: one (3, 5) sequence seen as a batch of two, every element read twice.
    let ln = random_layer_norm(5, true, 10);
    let x = randn(&[3, 5], 1.5, 11).broadcast_to(&[2, 3, 5]);
    assert_eq!(x.strides()[0], 0);
    let x = Var::parameter(x);
    let vars = with_inputs(ln.named_parameters(), &[("input", &x)]);
    gradgradcheck(&vars, &[], || ln.forward(&x).tanh());
}

#[test]
fn feed_forward_each_activation() {
    for act in [Activation::Relu, Activation::GeluTanh, Activation::GeluErf] {
        let ff = random_feed_forward(4, 8, act, 10);
        let x = input(&[2, 3, 4], 1.0, 12);
        let vars = with_inputs(ff.named_parameters(), &[("input", &x)]);
        let expected: &[(&str, Second)] = if act == Activation::Relu {
            assert_pre_activations_away_from_kink(&ff, &x);
            // ReLU is piecewise linear: away from the kink the network is affine in each of its
            // variables alone (zero own second derivatives), bilinear in pairs of them.
            &[
                ("fc.weight", Affine),
                ("fc.bias", Affine),
                ("proj.weight", Affine),
                ("proj.bias", Zero),
                ("input", Affine),
            ]
        } else {
            // act(x W1^T + b1) W2^T + b2: curved through the GELU, affine in W2, shifted by b2.
            &[("proj.weight", Affine), ("proj.bias", Zero)]
        };
        gradgradcheck(&vars, expected, || ff.forward(&x));
    }
}

// ---------------------------------------------------------------- Attention

fn check_sdpa(q_shape: &[usize], kv_len: usize, mask: Option<&Tensor<f64>>) {
    let ([q, k, v], vars) = sdpa_inputs(q_shape, kv_len);
    // softmax(q k^T / sqrt(d)) v: curved in q and k, linear in v.
    gradgradcheck(&vars, &[("v", Affine)], || scaled_dot_product_attention(&q, &k, &v, mask).0);
    // The weights are a differentiable output too.
    gradgradcheck(&vars[..2], &[], || scaled_dot_product_attention(&q, &k, &v, mask).1);
}

#[test]
fn sdpa_unmasked_cross_lengths() {
    check_sdpa(&[2, 2, 4], 3, None);
}

#[test]
fn sdpa_causal() {
    check_sdpa(&[2, 3, 4], 3, Some(&causal_mask(3, 3)));
    // Queries that follow a cached position.
    check_sdpa(&[1, 2, 4], 3, Some(&causal_mask(2, 3)));
}

#[test]
fn sdpa_padding() {
    // (B, h, T, d) with the second sequence's last key padded; the mask (B, 1, 1, Tk) broadcasts.
    let pad = padding_mask::<f64>(&[false, false, false, false, false, true], 2, 3);
    check_sdpa(&[2, 2, 3, 2], 3, Some(&pad));
    check_sdpa(&[2, 2, 3, 2], 3, Some(&combine_masks(&causal_mask(3, 3), &pad)));
}

#[test]
fn attention_head_self_and_cross() {
    let head = random_head(4, 3, 16);
    // Linear in the values; and since every row of weights sums to 1, the value bias only adds
    // itself to every output row: no gradient depends on it.
    let expected = [("value.weight", Affine), ("value.bias", Zero)];
    let xq = input(&[2, 2, 4], 1.0, 18);
    let xkv = input(&[2, 3, 4], 1.0, 19);
    let vars = with_inputs(head.named_parameters(), &[("x_q", &xq), ("x_kv", &xkv)]);
    gradgradcheck(&vars, &expected, || head.forward(&xq, &xkv, None).0);
    let x = input(&[2, 3, 4], 1.0, 20);
    let vars = with_inputs(head.named_parameters(), &[("x", &x)]);
    let mask = causal_mask(3, 3);
    gradgradcheck(&vars, &expected, || head.forward(&x, &x, Some(&mask)).0);
}

/// Which attention kernel a multi-head layer ran (see `mha.rs`).
#[derive(Debug, PartialEq, Eq)]
enum Kernel {
    /// `Var::attention_packed`: one `attention` node reading the `(B, T, 3d)` projection.
    Packed,
    /// `Var::attention`: one `attention` node reading q, k and v.
    Fused,
    /// `autograd::composed::attention`: its own `softmax` node, no `attention` node.
    Composed,
}

/// The kernels of the attention nodes in `y`'s graph, from the inputs forward.
fn kernels(y: &Var<f64>) -> Vec<Kernel> {
    graph_nodes(y)
        .iter()
        .filter_map(|n| match n.op_name() {
            Some("attention") if n.inputs().len() == 1 => Some(Kernel::Packed),
            Some("attention") => Some(Kernel::Fused),
            Some("softmax") => Some(Kernel::Composed),
            _ => None,
        })
        .collect()
}

/// Multi-head attention is linear in the values and the output projection, and its output bias
/// only shifts it; the value bias passes through the output projection, so it is affine but its
/// gradient moves with `out_proj.weight`. Everything else is curved (key biases are zero).
const MHA: [(&str, Second); 4] =
    [("v_proj.weight", Affine), ("v_proj.bias", Affine), ("out_proj.weight", Affine), ("out_proj.bias", Zero)];

/// [`MHA`] without the entries of parameters the layer does not have.
fn mha_expected(m: &MultiHeadAttention<f64>) -> Vec<(&'static str, Second)> {
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    MHA.into_iter().filter(|(n, _)| names.iter().any(|m| m == n)).collect()
}

#[test]
fn multi_head_self_attention_packed() {
    let pad = padding_mask(&[false, false, false, false, true, true], 2, 3); // (B, 1, 1, T), broadcast
    let causal = causal_mask(3, 3);
    let both = combine_masks(&causal, &pad);
    for bias in [true, false] {
        let (m, _) = random_mha(AttentionConfig { bias, ..AttentionConfig::new(4, 2) }, 20);
        let x = input(&[2, 3, 4], 1.0, 22);
        let vars = with_inputs(m.named_parameters(), &[("x", &x)]);
        for mask in [None, Some(&causal), Some(&pad), Some(&both)] {
            assert_eq!(kernels(&m.forward_self(&x, mask).0), [Kernel::Packed]);
            gradgradcheck(&vars, &mha_expected(&m), || m.forward_self(&x, mask).0);
        }
    }
}

#[test]
fn multi_head_self_attention_packed_on_a_transposed_input() {
    let (m, _) = random_mha(AttentionConfig::new(4, 2), 23);
    let x = randn(&[3, 2, 4], 1.0, 24).permute(&[1, 0, 2]); // (B, T, d) = (2, 3, 4), strided
    assert!(!x.is_contiguous());
    let x = Var::parameter(x);
    let vars = with_inputs(m.named_parameters(), &[("x", &x)]);
    let causal = causal_mask(3, 3);
    gradgradcheck(&vars, &mha_expected(&m), || m.forward_self(&x, Some(&causal)).0);
}

#[test]
fn multi_head_self_attention_fused() {
    // Only some projections with a bias: the three cannot be one product, so self-attention takes
    // the fused kernel on separate q, k and v.
    let (mut m, _) = random_mha(AttentionConfig::new(4, 2), 25);
    m.q_proj.bias = None;
    let x = input(&[2, 3, 4], 1.0, 27);
    let vars = with_inputs(m.named_parameters(), &[("x", &x)]);
    let causal = causal_mask(3, 3);
    for mask in [None, Some(&causal)] {
        assert_eq!(kernels(&m.forward_self(&x, mask).0), [Kernel::Fused]);
        gradgradcheck(&vars, &mha_expected(&m), || m.forward_self(&x, mask).0);
    }
}

#[test]
fn multi_head_cross_attention_fused() {
    let (m, _) = random_mha(AttentionConfig::new(4, 2), 28);
    let xq = input(&[2, 2, 4], 1.0, 30);
    let pad = padding_mask(&[false, false, false, false, true, true], 2, 3);
    // Memory as a plain input, and as a broadcast one (the same sequence for both batch rows).
    let memories = [randn(&[2, 3, 4], 1.0, 31), randn(&[1, 3, 4], 1.0, 32).broadcast_to(&[2, 3, 4])];
    for memory in memories {
        let mem = Var::parameter(memory);
        let vars = with_inputs(m.named_parameters(), &[("x_q", &xq), ("memory", &mem)]);
        for mask in [None, Some(&pad)] {
            assert_eq!(kernels(&m.forward_cross(&xq, &mem, mask).0), [Kernel::Fused]);
            gradgradcheck(&vars, &mha_expected(&m), || m.forward_cross(&xq, &mem, mask).0);
        }
    }
}

/// Runs `f` with the dropout stream reset to one seed, so each call drops the same weights and the
/// checked function is deterministic.
fn same_dropout<R>(state: &DropoutState, f: impl FnOnce() -> R) -> R {
    *state.rng().borrow_mut() = rng_from_seed(77);
    f()
}

#[test]
fn multi_head_attention_composed() {
    // Dropout on the attention weights needs them as a node: the composed attention, in training.
    let (m, state) = random_mha(AttentionConfig { dropout: 0.3, ..AttentionConfig::new(4, 2) }, 33);
    let x = input(&[2, 3, 4], 1.0, 35);
    let mem = input(&[2, 3, 4], 1.0, 36);
    let causal = causal_mask(3, 3);
    let pad = padding_mask(&[false, false, false, false, false, true], 2, 3);
    for training in [true, false] {
        state.set_training(training);
        let want = if training { Kernel::Composed } else { Kernel::Packed };
        assert_eq!(kernels(&same_dropout(&state, || m.forward_self(&x, Some(&causal)).0)), [want]);
    }
    state.set_training(true);
    // Dropout did drop something (else this would be the dropout-free function).
    let dropped = same_dropout(&state, || m.forward_self(&x, Some(&causal)).0.value());
    let kept = no_grad(|| {
        state.set_training(false);
        let y = m.forward_self(&x, Some(&causal)).0.value();
        state.set_training(true);
        y
    });
    assert!(common::max_diff(&dropped, &kept) > 1e-3);

    let vars = with_inputs(m.named_parameters(), &[("x", &x)]);
    gradgradcheck(&vars, &mha_expected(&m), || same_dropout(&state, || m.forward_self(&x, Some(&causal)).0));
    let vars = with_inputs(m.named_parameters(), &[("x_q", &x), ("memory", &mem)]);
    assert_eq!(kernels(&same_dropout(&state, || m.forward_cross(&x, &mem, Some(&pad)).0)), [Kernel::Composed]);
    gradgradcheck(&vars, &mha_expected(&m), || same_dropout(&state, || m.forward_cross(&x, &mem, Some(&pad)).0));
}

#[test]
fn multi_head_attention_over_precomputed_keys_and_values() {
    // The generation paths: keys and values are constants (a memory projected once, a KV cache),
    // so gradients reach only the queries' side; the kernel is the fused one with constant k, v.
    let (m, _) = random_mha(AttentionConfig::new(4, 2), 37);
    let q_side: Vec<(String, Var<f64>)> = m
        .named_parameters()
        .into_iter()
        .filter(|(n, _)| n.starts_with("q_proj") || n.starts_with("out_proj"))
        .collect();
    let expected = [("out_proj.weight", Affine), ("out_proj.bias", Zero)];

    let mem = input(&[2, 3, 4], 1.0, 39);
    let kv = m.project_kv(&mem);
    let xq = input(&[2, 2, 4], 1.0, 40);
    let pad = padding_mask(&[false, false, false, false, false, true], 2, 3);
    let vars = with_inputs(q_side.clone(), &[("x_q", &xq)]);
    assert_eq!(kernels(&m.forward_kv(&xq, &kv, Some(&pad))), [Kernel::Fused]);
    gradgradcheck(&vars, &expected, || m.forward_kv(&xq, &kv, Some(&pad)));

    // Two new positions after two cached ones (a causal mask (2, 4)). The new positions' own keys
    // and values are projected from them as constants too, so their input cannot be checked (a
    // finite difference would move those keys, which the graph does not see): the queries'
    // projection, and the output's, are.
    let prefix = randn(&[2, 2, 4], 1.0, 41);
    let x_new = randn(&[2, 2, 4], 1.0, 42);
    let cached = || {
        let mut cache = KvCache::new();
        no_grad(|| m.forward_cached(&Var::constant(prefix.clone()), &mut cache));
        let y = m.forward_cached(&Var::constant(x_new.clone()), &mut cache);
        assert_eq!(cache.len(), 4);
        y
    };
    assert_eq!(kernels(&cached()), [Kernel::Fused]);
    gradgradcheck(&q_side, &expected, cached);
}

// ---------------------------------------------------------------- Layers and stacks

/// What a stack ending in a feed-forward sublayer does with its last parameters: pre-norm adds the
/// feed-forward's output to the residual (affine in its last weight, shifted by its last bias);
/// post-norm ends in a layer norm (affine in its gain, shifted by its bias). With a final norm
/// (pre-norm stacks), that norm is the end.
fn stack_end(norm: NormPlacement, last: &str, last_norm: &str, final_norm: bool) -> Vec<(String, Second)> {
    let names = match (norm, final_norm) {
        (_, true) => ["ln_f.weight".to_string(), "ln_f.bias".to_string()],
        (NormPlacement::Pre, false) => [format!("{last}mlp.proj.weight"), format!("{last}mlp.proj.bias")],
        (NormPlacement::Post, false) => [format!("{last}{last_norm}.weight"), format!("{last}{last_norm}.bias")],
    };
    let [w, b] = names;
    vec![(w, Affine), (b, Zero)]
}

/// `stack_end` as the borrowed list [`gradgradcheck`] takes.
fn borrowed(v: &[(String, Second)]) -> Vec<(&str, Second)> {
    v.iter().map(|(n, c)| (n.as_str(), *c)).collect()
}

#[test]
fn block_post_and_pre() {
    for norm in PLACEMENTS {
        let c = layer_config(4, 2, 8, norm, Activation::GeluTanh);
        let layer = random_block(&c, 27);
        let x = input(&[2, 3, 4], 1.0, 29);
        let pad = padding_mask(&[false, false, false, false, false, true], 2, 3);
        let both = combine_masks(&causal_mask(3, 3), &pad);
        let vars = with_inputs(layer.named_parameters(), &[("x", &x)]);
        let expected = stack_end(norm, "", "ln_2", false);
        for mask in [&pad, &both] {
            gradgradcheck(&vars, &borrowed(&expected), || layer.forward(&x, Some(mask)));
        }
    }
}

#[test]
fn block_with_dropout_takes_the_composed_attention() {
    // Training with dropout 0.2 on the attention weights and on both residual branches, each
    // forward drawing the same masks.
    let state = DropoutState::new(0);
    let c = layer_config(4, 2, 8, NormPlacement::Pre, Activation::GeluErf);
    let layer = Block::<f64>::new(&transformer::LayerConfig { dropout: 0.2, ..c }, &state, &mut rng_from_seed(43));
    randomize(&layer.named_parameters(), 0.5, 44);
    let x = input(&[2, 3, 4], 1.0, 45);
    let causal = causal_mask(3, 3);
    let f = || same_dropout(&state, || layer.forward(&x, Some(&causal)));
    assert_eq!(kernels(&f()), [Kernel::Composed]);
    let vars = with_inputs(layer.named_parameters(), &[("x", &x)]);
    gradgradcheck(&vars, &borrowed(&stack_end(NormPlacement::Pre, "", "ln_2", false)), f);
}

#[test]
fn decoder_block_post_and_pre() {
    for norm in PLACEMENTS {
        let c = layer_config(4, 2, 8, norm, Activation::GeluErf);
        let layer = random_decoder_block(&c, 30);
        let x = input(&[2, 3, 4], 1.0, 32);
        let mem = input(&[2, 2, 4], 1.0, 33);
        let causal = causal_mask(3, 3);
        let pad = padding_mask(&[false, false, false, true], 2, 2);
        let vars = with_inputs(layer.named_parameters(), &[("x", &x), ("memory", &mem)]);
        let f = || layer.forward(&x, &mem, Some(&causal), Some(&pad));
        assert_eq!(kernels(&f()), [Kernel::Packed, Kernel::Fused]);
        gradgradcheck(&vars, &borrowed(&stack_end(norm, "", "ln_3", false)), f);
    }
}

#[test]
fn encoder_stack() {
    for norm in PLACEMENTS {
        let c = layer_config(4, 2, 8, norm, Activation::GeluTanh);
        let enc = random_encoder(2, &c, 34);
        assert_eq!(enc.ln_f.is_some(), norm == NormPlacement::Pre);
        let x = input(&[2, 3, 4], 1.0, 36);
        let pad = padding_mask(&[false, false, false, false, true, true], 2, 3);
        let vars = with_inputs(enc.named_parameters(), &[("x", &x)]);
        let expected = stack_end(norm, "layers.1.", "ln_2", enc.ln_f.is_some());
        gradgradcheck(&vars, &borrowed(&expected), || enc.forward(&x, Some(&pad)));
    }
}

#[test]
fn decoder_stack() {
    for norm in PLACEMENTS {
        let c = layer_config(4, 2, 8, norm, Activation::GeluTanh);
        let dec = random_decoder(2, &c, 37);
        assert_eq!(dec.ln_f.is_some(), norm == NormPlacement::Pre);
        let x = input(&[1, 3, 4], 1.0, 39);
        let mem = input(&[1, 2, 4], 1.0, 40);
        let causal = causal_mask(3, 3);
        let vars = with_inputs(dec.named_parameters(), &[("x", &x), ("memory", &mem)]);
        let expected = stack_end(norm, "layers.1.", "ln_3", dec.ln_f.is_some());
        gradgradcheck(&vars, &borrowed(&expected), || dec.forward(&x, &mem, Some(&causal), None));
    }
}

// ---------------------------------------------------------------- Models with their loss

#[test]
fn gpt_loss_against_all_parameters() {
    for bias in [true, false] {
        let gpt = tiny_gpt(3, 4, bias);
        let params = gpt.named_parameters();
        randomize(&params, 0.4, 1);
        // B = 2, T = 3 = block_size, so every row of wpe is used; token 4 appears only as a target.
        let ids = [0, 1, 2, 3, 3, 2];
        let targets = [1, 2, 4, 2, 0, 4];
        // Every parameter is checked (fast enough at this size); the model's input is token ids, so
        // the embedding tables stand for it. The cross-entropy is curved in the logits, so every
        // parameter is curved (key biases aside).
        let report = gradgradcheck(&params, &[], || gpt.loss(&ids, &targets, [2, 3]));
        assert!(report.inputs.iter().any(|i| i.name == "blocks.1.attn.q_proj.weight"));
    }
}

/// A tiny encoder-decoder: `d_model` 4, 2 heads, `d_ff` 8, one encoder and one decoder layer.
fn tiny_config(tie_weights: bool, norm: NormPlacement) -> TransformerConfig {
    TransformerConfig {
        d_model: 4,
        d_ff: 8,
        n_encoder_layers: 1,
        n_decoder_layers: 1,
        max_len: 4,
        ..small_transformer_config((6, 5), 0.0, tie_weights, norm)
    }
}

#[test]
fn transformer_loss_against_all_parameters() {
    for (tie, norm) in [(true, NormPlacement::Post), (false, NormPlacement::Post), (false, NormPlacement::Pre)] {
        let model = tiny_transformer(tiny_config(tie, norm));
        let params = model.named_parameters();
        assert_eq!(params.iter().any(|(n, _)| n.starts_with("generator")), !tie);
        // Larger than the first-order sweep's 0.4: with 0.4 the encoder's query bias has an own
        // second derivative of only 6e-5 (attention scores near 0 make softmax nearly linear).
        randomize(&params, 0.6, 2);
        // A finite difference within 1e-3 of a ReLU's kink could straddle it.
        assert_relu_inputs_away_from_kink(&model, 1e-3);
        // Every parameter, as for the GPT.
        let report = gradgradcheck(&params, &[], || seq2seq_loss(&model));
        assert_eq!(report.inputs.len(), params.len() + 1);
    }
}
