//! Helpers shared by the transformer crate's integration tests: seeded inputs, parameter
//! re-randomisation, a gradient check that names every parameter and refuses to pass vacuously,
//! and the layers, models, inputs and ReLU-kink checks the first- and second-order gradient checks
//! (`gradcheck_layers.rs`, `gradcheck_models.rs`, `gradgrad_layers.rs`) share.

#![allow(dead_code)] // each test binary uses a different subset

use std::rc::Rc;

use autograd::{GradCheck, GradCheckReport, Var, no_grad};
use tensor::{Tensor, rng_from_seed};
use transformer::{
    Activation, AttentionConfig, AttentionHead, Block, Decoder, DecoderBlock, DropoutState, Embedding, Encoder,
    FeedForward, Gpt, GptConfig, Init, LayerConfig, LayerNorm, Linear, Module, MultiHeadAttention, NormPlacement,
    Transformer, TransformerConfig, causal_mask, padding_mask,
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

// ---------------------------------------------------------------- Layers with O(1) parameters

/// Both places of the layer norms in a layer.
pub const PLACEMENTS: [NormPlacement; 2] = [NormPlacement::Post, NormPlacement::Pre];

/// A `Linear` from `d_in` to `d_out` features, with or without `bias`, Xavier weights from `seed`,
/// its parameters then re-randomised (std 0.7) from `seed + 1`.
pub fn random_linear(d_in: usize, d_out: usize, bias: bool, seed: u64) -> Linear<f64> {
    let lin = Linear::new(d_in, d_out, bias, Init::Xavier, &mut rng_from_seed(seed));
    randomize(&lin.named_parameters(), 0.7, seed + 1);
    lin
}

/// An `Embedding` of 5 symbols by 4 features, Normal(0, 1) from seed 4, `scaled` by sqrt(4) or not.
pub fn embedding(scaled: bool) -> Embedding<f64> {
    let emb = Embedding::new(5, 4, 1.0, &mut rng_from_seed(4));
    if scaled { emb.scaled() } else { emb }
}

/// A `LayerNorm` over `d` features, with or without `bias`, its parameters re-randomised (std 0.8)
/// from `seed`.
pub fn random_layer_norm(d: usize, bias: bool, seed: u64) -> LayerNorm<f64> {
    let ln = LayerNorm::new(d, bias);
    randomize(&ln.named_parameters(), 0.8, seed);
    ln
}

/// A `FeedForward` `d_model -> d_ff -> d_model` with `activation` and biases, Xavier weights from
/// `seed`, its parameters then re-randomised (std 0.6) from `seed + 1`.
pub fn random_feed_forward(d_model: usize, d_ff: usize, activation: Activation, seed: u64) -> FeedForward<f64> {
    let ff = FeedForward::new(d_model, d_ff, activation, true, Init::Xavier, Init::Xavier, &mut rng_from_seed(seed));
    randomize(&ff.named_parameters(), 0.6, seed + 1);
    ff
}

/// An `AttentionHead` from `d_model` features to `d_head`, with biases, Xavier weights from `seed`,
/// its parameters then re-randomised (std 0.5) from `seed + 1`.
pub fn random_head(d_model: usize, d_head: usize, seed: u64) -> AttentionHead<f64> {
    let head = AttentionHead::new(d_model, d_head, true, Init::Xavier, &mut rng_from_seed(seed));
    randomize(&head.named_parameters(), 0.5, seed + 1);
    head
}

/// Multi-head attention of `config` from `seed` (as [`mha`]), its parameters then re-randomised
/// (std 0.5) from `seed + 1`, and its dropout state (in evaluation mode).
pub fn random_mha(config: AttentionConfig, seed: u64) -> (MultiHeadAttention<f64>, Rc<DropoutState>) {
    let state = eval_state();
    let m = MultiHeadAttention::new(&config, &state, &mut rng_from_seed(seed));
    randomize(&m.named_parameters(), 0.5, seed + 1);
    (m, state)
}

/// An encoder `Block` of `config` from `seed`, without dropout, its parameters then re-randomised
/// (std 0.5) from `seed + 1`.
pub fn random_block(config: &LayerConfig, seed: u64) -> Block<f64> {
    let layer = Block::new(config, &eval_state(), &mut rng_from_seed(seed));
    randomize(&layer.named_parameters(), 0.5, seed + 1);
    layer
}

/// A `DecoderBlock` of `config` from `seed`, without dropout, its parameters then re-randomised
/// (std 0.5) from `seed + 1`.
pub fn random_decoder_block(config: &LayerConfig, seed: u64) -> DecoderBlock<f64> {
    let layer = DecoderBlock::new(config, &eval_state(), &mut rng_from_seed(seed));
    randomize(&layer.named_parameters(), 0.5, seed + 1);
    layer
}

/// An `Encoder` of `n_layer` blocks of `config` from `seed`, without dropout, its parameters then
/// re-randomised (std 0.5) from `seed + 1`.
pub fn random_encoder(n_layer: usize, config: &LayerConfig, seed: u64) -> Encoder<f64> {
    let enc = Encoder::new(n_layer, config, &eval_state(), &mut rng_from_seed(seed));
    randomize(&enc.named_parameters(), 0.5, seed + 1);
    enc
}

/// A `Decoder` of `n_layer` blocks of `config` from `seed`, without dropout, its parameters then
/// re-randomised (std 0.5) from `seed + 1`.
pub fn random_decoder(n_layer: usize, config: &LayerConfig, seed: u64) -> Decoder<f64> {
    let dec = Decoder::new(n_layer, config, &eval_state(), &mut rng_from_seed(seed));
    randomize(&dec.named_parameters(), 0.5, seed + 1);
    dec
}

/// Variables with their names, as `check_vars` takes them.
pub type NamedVars = Vec<(String, Var<f64>)>;

/// The inputs of a scaled dot-product attention check: q of `q_shape`, k and v of the same shape
/// with `kv_len` positions (the second-to-last axis), Normal(0, 1) from seeds 13, 14 and 15; and
/// the three named `q`, `k`, `v` for `check_vars`.
pub fn sdpa_inputs(q_shape: &[usize], kv_len: usize) -> ([Var<f64>; 3], NamedVars) {
    let mut k_shape = q_shape.to_vec();
    let n = k_shape.len();
    k_shape[n - 2] = kv_len;
    let q = input(q_shape, 1.0, 13);
    let k = input(&k_shape, 1.0, 14);
    let v = input(&k_shape, 1.0, 15);
    let vars = with_inputs(vec![], &[("q", &q), ("k", &k), ("v", &v)]);
    ([q, k, v], vars)
}

/// Asserts that no input of `ff`'s activation at `x` is within 1e-3 of 0: finite differences are
/// only valid away from ReLU's kink.
pub fn assert_pre_activations_away_from_kink(ff: &FeedForward<f64>, x: &Var<f64>) {
    let pre = ff.fc.forward(x).value().to_vec();
    assert!(pre.iter().all(|v| v.abs() > 1e-3), "{:?}: a pre-activation sits on the kink", ff.activation);
}

// ---------------------------------------------------------------- Tiny models

/// A tiny GPT in evaluation mode: 5 symbols, `block_size` positions, 2 layers of 2 heads over
/// `n_embd` features, without dropout, from seed 7.
pub fn tiny_gpt(block_size: usize, n_embd: usize, bias: bool) -> Gpt<f64> {
    let config = GptConfig { vocab_size: 5, block_size, n_layer: 2, n_head: 2, n_embd, dropout: 0.0, bias };
    let gpt = Gpt::new(config, 7);
    gpt.set_training(false);
    gpt
}

/// A tiny encoder-decoder of `config` (over the 6 source and 5 target symbols of [`SRC`] and
/// [`TGT`]) from seed 11, in evaluation mode.
pub fn tiny_transformer(config: TransformerConfig) -> Transformer<f64> {
    let model = Transformer::new(config, 11);
    model.set_training(false);
    model
}

/// The source ids `(B, S) = (2, 3)` the encoder-decoder loss checks run on.
pub const SRC: [usize; 6] = [1, 5, 2, 3, 4, 0];
/// Which source positions are padding: the second sequence's last.
pub const SRC_PAD: [bool; 6] = [false, false, false, false, false, true];
/// The target input ids `(B, T) = (2, 3)`.
pub const TGT: [usize; 6] = [0, 1, 2, 0, 3, 3];
/// The next-token targets of [`TGT`].
pub const TARGETS: [usize; 6] = [1, 2, 4, 3, 3, 4];

/// The cross-entropy of `model`'s next-token logits on [`SRC`] (padded as [`SRC_PAD`] says) and
/// [`TGT`] against [`TARGETS`].
pub fn seq2seq_loss(model: &Transformer<f64>) -> Var<f64> {
    let logits = model.forward(&SRC, [2, 3], &TGT, [2, 3], Some(&SRC_PAD)); // (B, T, V)
    logits.reshape(&[6, 5]).cross_entropy(&TARGETS, None)
}

/// Recomputes every ReLU's input of `model`'s forward pass on [`SRC`] and [`TGT`] (each
/// feed-forward's `fc` output, post- or pre-norm) and checks none is within `min` of 0, where a
/// finite difference could straddle the kink.
pub fn assert_relu_inputs_away_from_kink(model: &Transformer<f64>, min: f64) {
    let pre = model.config.norm == NormPlacement::Pre;
    let mask = padding_mask::<f64>(&SRC_PAD, 2, 3);
    let causal = causal_mask::<f64>(3, 3);
    // One residual sublayer, as `block.rs` wraps them.
    let residual = |x: &Var<f64>, ln: &LayerNorm<f64>, f: &dyn Fn(&Var<f64>) -> Var<f64>| {
        if pre { x.add(&f(&ln.forward(x))) } else { ln.forward(&x.add(&f(x))) }
    };
    let mut closest = f64::INFINITY;
    let mut track = |x: &Var<f64>, ln: &LayerNorm<f64>, fc: &Linear<f64>| {
        let h = if pre { ln.forward(x) } else { x.clone() };
        for v in fc.forward(&h).value().to_vec() {
            closest = closest.min(v.abs());
        }
    };
    no_grad(|| {
        let mut x = model.positions.forward(&model.src_embed.forward(&SRC, &[2, 3]), 0);
        for l in &model.encoder.layers {
            let a = residual(&x, &l.ln_1, &|h| l.attn.forward_self(h, Some(&mask)).0);
            track(&a, &l.ln_2, &l.mlp.fc);
            x = l.forward(&x, Some(&mask));
        }
        let memory = model.encode(&SRC, [2, 3], Some(&SRC_PAD));
        let mut y = model.positions.forward(&model.tgt_embed.forward(&TGT, &[2, 3]), 0);
        for l in &model.decoder.layers {
            let a = residual(&y, &l.ln_1, &|h| l.attn.forward_self(h, Some(&causal)).0);
            let b = residual(&a, &l.ln_2, &|h| l.cross_attn.forward_cross(h, &memory, Some(&mask)).0);
            track(&b, &l.ln_3, &l.mlp.fc);
            y = l.forward(&y, &memory, Some(&causal), Some(&mask));
        }
    });
    assert!(closest > min, "a ReLU input is {closest:e} from the kink");
}
