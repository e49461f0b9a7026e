//! Misusing a layer or model panics with `layer '<name>': ...`, naming the layer the caller called
//! (not an op inside it) and the sizes involved, located at the caller's line (`#[track_caller]`).
//!
//! One test in its own binary: it installs a panic hook to read each panic's location, and a
//! hook is global to the process.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use autograd::Var;
use tensor::{Tensor, rng_from_seed};
use transformer::{
    AttentionConfig, Dropout, DropoutState, Embedding, Gpt, GptConfig, Init, LearnedPositional, Linear,
    MultiHeadAttention, SinusoidalEncoding, Transformer, TransformerConfig,
};

fn gpt_config() -> GptConfig {
    GptConfig { vocab_size: 5, block_size: 4, n_layer: 1, n_head: 2, n_embd: 8, dropout: 0.0, bias: false }
}

fn encdec_config() -> TransformerConfig {
    TransformerConfig {
        src_vocab: 5,
        tgt_vocab: 5,
        d_model: 8,
        n_head: 2,
        d_ff: 16,
        n_encoder_layers: 1,
        n_decoder_layers: 1,
        max_len: 6,
        dropout: 0.0,
        tie_weights: false,
        norm: transformer::NormPlacement::Post,
    }
}

#[test]
fn layers_name_themselves_at_the_callers_line() {
    // (message, file) of the last panic.
    let seen: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let hook_seen = seen.clone();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let file = info.location().map(|l| l.file().to_string()).unwrap_or_default();
        *hook_seen.lock().unwrap() = Some((msg, file));
    }));
    // Runs `f`, which must panic with `expected`, located in this file (the caller's line).
    let check = |f: &mut dyn FnMut(), expected: &str| {
        assert!(catch_unwind(AssertUnwindSafe(f)).is_err(), "should panic with {expected:?}");
        let (msg, file) = seen.lock().unwrap().take().expect("the hook saw the panic");
        assert_eq!(msg, expected);
        assert_eq!(file, file!(), "{msg} is located in {file}, not at the caller's line");
    };

    let gpt = Gpt::<f64>::new(gpt_config(), 0);
    let mut rng = rng_from_seed(0);
    let x = |shape: &[usize]| Var::constant(Tensor::<f64>::zeros(shape));

    let mut f = || drop(gpt.forward(&[0; 5], [1, 5]));
    check(&mut f, "layer 'Gpt': sequence length 5 exceeds block_size 4");
    let mut f = || drop(Gpt::<f64>::new(GptConfig { n_head: 3, ..gpt_config() }, 0));
    check(&mut f, "layer 'Gpt': n_embd 8 is not divisible by n_head 3");
    let linear = Linear::<f64>::new(3, 2, true, Init::Xavier, &mut rng);
    let mut f = || drop(linear.forward(&x(&[4, 5])));
    check(&mut f, "layer 'Linear': input shape [4, 5] does not end in in_features 3 (weight shape [2, 3])");
    let embedding = Embedding::<f64>::new(5, 4, 1.0, &mut rng);
    let mut f = || drop(embedding.forward(&[1, 7], &[1, 2]));
    check(&mut f, "layer 'Embedding': token id 7 is outside the vocabulary of 5 (table shape [5, 4])");
    let mut f = || drop(embedding.forward(&[1, 2, 3], &[1, 2]));
    check(&mut f, "layer 'Embedding': 3 ids given for shape [1, 2]");
    let sinusoidal = SinusoidalEncoding::<f64>::new(4, 8);
    let mut f = || drop(sinusoidal.forward(&x(&[1, 3, 8]), 2));
    check(&mut f, "layer 'SinusoidalEncoding': positions 2..5 exceed max_len 4");
    let learned = LearnedPositional::<f64>::new(4, 8, 1.0, &mut rng);
    let mut f = || drop(learned.positions(3, 2));
    check(&mut f, "layer 'LearnedPositional': positions 3..5 exceed max_len 4");
    let state = DropoutState::new(0);
    let mut f = || drop(Dropout::new(1.0, &state));
    check(&mut f, "layer 'Dropout': p must be in [0, 1), got 1");
    let mut f = || drop(MultiHeadAttention::<f64>::new(&AttentionConfig::new(8, 3), &state, &mut rng));
    check(&mut f, "layer 'MultiHeadAttention': d_model 8 is not divisible by n_head 3");
    let mha = MultiHeadAttention::<f64>::new(&AttentionConfig::new(8, 2), &state, &mut rng);
    let mut f = || drop(mha.forward_self(&x(&[2, 3, 6]), None));
    check(&mut f, "layer 'MultiHeadAttention::forward_self': input [2, 3, 6] is not (B, T, d) with d = d_model 8");
    let mut f = || drop(mha.forward_cross(&x(&[2, 3, 8]), &x(&[1, 4, 8]), None));
    check(
        &mut f,
        "layer 'MultiHeadAttention::forward_cross': memory [1, 4, 8] is not (B, T, d) with d = d_model 8, \
         B = the queries' batch 2",
    );
    let mut f = || drop(gpt.attention_maps(&[0; 5], [1, 5]));
    check(&mut f, "layer 'Gpt': sequence length 5 exceeds block_size 4");
    let mut f = || drop(Transformer::<f64>::new(TransformerConfig { n_head: 3, ..encdec_config() }, 0));
    check(&mut f, "layer 'Transformer': d_model 8 is not divisible by n_head 3");
    let _ = std::panic::take_hook();
}
