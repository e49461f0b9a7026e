//! Helpers shared by the transformer crate's integration tests: seeded inputs, parameter
//! re-randomisation, and a gradient check that names every parameter and refuses to pass vacuously.

#![allow(dead_code)] // each test binary uses a different subset

use std::rc::Rc;

use autograd::{GradCheck, GradCheckReport, Var};
use tensor::{Tensor, rng_from_seed};
use transformer::{
    Activation, AttentionConfig, DropoutState, Init, LayerConfig, MultiHeadAttention, NormPlacement, TransformerConfig,
};

/// A Normal(0, std) f64 tensor from `seed`.
pub fn randn(shape: &[usize], std: f64, seed: u64) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, std, seed)
}

/// A Normal(0, std) f64 parameter variable from `seed`: an input to gradient-check against.
pub fn input(shape: &[usize], std: f64, seed: u64) -> Var<f64> {
    Var::parameter(randn(shape, std, seed))
}

/// True for the gain of a layer norm (`ln_1.weight`, `ln_f.weight`, ...).
fn is_norm_gain(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 2 && parts[parts.len() - 1] == "weight" && parts[parts.len() - 2].starts_with("ln")
}

/// Gives every parameter a fresh random value: Normal(0, std), or 1 + Normal(0, std / 2) for
/// layer-norm gains.
///
/// Why: the default initialisations (std 0.02, zero biases, unit gains) make most gradients of a
/// fresh layer smaller than the checker's absolute tolerance (1e-5), so a wrong backward would
/// still pass. With O(1) parameters every gradient is well above it.
pub fn randomize(params: &[(String, Var<f64>)], std: f64, seed: u64) {
    let mut rng = rng_from_seed(seed);
    for (name, p) in params {
        let shape = p.shape();
        let value = if is_norm_gain(name) {
            Tensor::rand_normal_with(&shape, 1.0, std / 2.0, &mut rng)
        } else {
            Tensor::rand_normal_with(&shape, 0.0, std, &mut rng)
        };
        p.set_value(value);
    }
}

/// The named parameters, plus named extra variables (the inputs), as one list for `check_vars`.
pub fn with_inputs(params: Vec<(String, Var<f64>)>, inputs: &[(&str, &Var<f64>)]) -> Vec<(String, Var<f64>)> {
    let mut v = params;
    v.extend(inputs.iter().map(|(n, x)| (n.to_string(), (*x).clone())));
    v
}

/// Parameters whose gradient is exactly zero in theory: a key bias adds the same `q . b` to every
/// score of a query's row, and softmax ignores a constant shift of its row.
pub fn is_key_bias(name: &str) -> bool {
    name.ends_with("k_proj.bias") || name.ends_with("key.bias")
}

/// Largest |gradient| of each variable under the same random output weights the checker uses.
fn gradient_scales(vars: &[(String, Var<f64>)], f: &impl Fn() -> Var<f64>) -> Vec<f64> {
    let out = f();
    let w = Tensor::<f64>::rand_uniform_with(&out.shape(), 0.5, 1.5, &mut rng_from_seed(GradCheck::default().seed));
    let grads = out.backward_with_grad(&w);
    vars.iter()
        .map(|(_, v)| grads.get(v).map_or(0.0, |g| g.to_vec().iter().fold(0.0f64, |m, x| m.max(x.abs()))))
        .collect()
}

/// Gradient check of `f` against every named variable, with `GradCheck::default()` tolerances.
///
/// Besides the checker's verdict it asserts that the report names every variable and that the
/// check is not vacuous: each variable's largest gradient is at least `min_scale` (far above the
/// absolute tolerance), except key biases, whose gradient must be ~0 (see [`is_key_bias`]).
#[track_caller]
pub fn gradcheck(vars: &[(String, Var<f64>)], min_scale: f64, f: impl Fn() -> Var<f64>) -> GradCheckReport {
    let report = match GradCheck::default().check_vars(vars, &f) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(report.inputs.len(), vars.len());
    for ((name, _), check) in vars.iter().zip(&report.inputs) {
        assert_eq!(&check.name, name);
    }
    for ((name, _), scale) in vars.iter().zip(gradient_scales(vars, &f)) {
        if is_key_bias(name) {
            assert!(
                scale < 1e-12,
                "{name}: a key bias cannot change a softmax over keys, but its gradient is {scale:e}"
            );
        } else {
            assert!(
                scale >= min_scale,
                "{name}: largest gradient {scale:e} is below {min_scale:e}; the check would be vacuous\n{report}"
            );
        }
    }
    report
}

/// A small layer configuration without dropout (gradient checks need a deterministic function).
pub fn layer_config(
    d_model: usize,
    n_head: usize,
    d_ff: usize,
    norm: NormPlacement,
    activation: Activation,
) -> LayerConfig {
    LayerConfig {
        d_model,
        n_head,
        d_ff,
        dropout: 0.0,
        bias: true,
        activation,
        norm,
        init: Init::Normal(0.3),
        residual_init: Init::Normal(0.3),
    }
}

/// Multi-head attention over `d` features with `n_head` heads, biases and Xavier weights drawn
/// from `seed`, without dropout.
pub fn mha(d: usize, n_head: usize, seed: u64) -> MultiHeadAttention<f64> {
    MultiHeadAttention::new(&AttentionConfig::new(d, n_head), &eval_state(), &mut rng_from_seed(seed))
}

/// A small encoder-decoder configuration over `(src_vocab, tgt_vocab)` symbols: `d_model` 8, 2
/// heads, `d_ff` 16, 2 encoder and 2 decoder layers, 10 positions.
pub fn small_transformer_config(
    (src_vocab, tgt_vocab): (usize, usize),
    dropout: f64,
    tie_weights: bool,
    norm: NormPlacement,
) -> TransformerConfig {
    TransformerConfig {
        src_vocab,
        tgt_vocab,
        d_model: 8,
        n_head: 2,
        d_ff: 16,
        n_encoder_layers: 2,
        n_decoder_layers: 2,
        max_len: 10,
        dropout,
        tie_weights,
        norm,
    }
}

/// A dropout state in evaluation mode.
pub fn eval_state() -> Rc<DropoutState> {
    let s = DropoutState::new(0);
    s.set_training(false);
    s
}

/// Largest |a - b| over two equally shaped tensors.
pub fn max_diff<T: tensor::Float>(a: &Tensor<T>, b: &Tensor<T>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec().iter().zip(b.to_vec()).fold(0.0f64, |m, (x, y)| m.max((x.to_f64() - y.to_f64()).abs()))
}
