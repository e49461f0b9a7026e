//! `Gpt::with_style`: GPT-2's tanh GELU and another layer-norm epsilon reach every block, the
//! parameters are drawn exactly as `Gpt::new` draws them, the KV cache computes the same
//! function, and an invalid style panics naming the problem.

mod common;

use autograd::no_grad;
use common::{max_diff, randomize};
use transformer::{Activation, Gpt, GptConfig, GptStyle, Module};

fn config() -> GptConfig {
    GptConfig { vocab_size: 11, block_size: 6, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true }
}

#[test]
fn the_style_reaches_every_layer_and_changes_only_the_computation() {
    let style = GptStyle { activation: Activation::GeluTanh, layer_norm_eps: 1e-3 };
    let (plain, styled) = (Gpt::<f64>::new(config(), 5), Gpt::<f64>::with_style(config(), style, 5));
    assert_eq!(plain.style(), GptStyle::default());
    assert_eq!(styled.style(), style);
    for b in &styled.blocks {
        assert_eq!((b.mlp.activation, b.ln_1.eps, b.ln_2.eps), (Activation::GeluTanh, 1e-3, 1e-3));
    }
    assert_eq!(styled.ln_f.eps, 1e-3);
    for ((n, p), (_, q)) in plain.named_parameters().iter().zip(styled.named_parameters()) {
        assert_eq!(p.value().to_vec(), q.value().to_vec(), "{n}");
    }
    randomize(&plain.named_parameters(), 0.5, 1);
    for ((_, p), (_, q)) in plain.named_parameters().iter().zip(styled.named_parameters()) {
        q.set_value(p.value().clone());
    }
    let ids = [1, 4, 2, 9, 3, 0];
    let a = plain.forward(&ids, [1, 6]).value();
    let b = styled.forward(&ids, [1, 6]).value();
    assert!(max_diff(&a, &b) > 1e-6, "a different GELU and epsilon give different logits");
    // The cache computes the styled model's function.
    let cached = no_grad(|| {
        let mut caches = styled.new_caches();
        let first = styled.forward_cached(&ids[..4], [1, 4], &mut caches).value().to_vec();
        let rest = styled.forward_cached(&ids[4..], [1, 2], &mut caches).value().to_vec();
        [first, rest].concat()
    });
    let full = b.to_vec();
    assert!(cached.iter().zip(&full).all(|(x, y)| (x - y).abs() < 1e-12));
}

#[test]
fn an_invalid_style_panics_by_name() {
    for (style, message) in [
        (GptStyle { activation: Activation::Relu, ..GptStyle::GPT2 }, "GeluErf or GeluTanh"),
        (GptStyle { layer_norm_eps: 0.0, ..GptStyle::GPT2 }, "layer_norm_eps must be finite and positive"),
    ] {
        let err = std::panic::catch_unwind(|| Gpt::<f32>::with_style(config(), style, 0)).err().unwrap();
        let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("Gpt") && text.contains(message), "{text}");
    }
}
