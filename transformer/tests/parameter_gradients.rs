//! Every parameter of each model receives a finite, non-zero gradient from the loss, in f32 and
//! f64, at the models' own initialisation (zero biases, unit gains, small weights): a parameter left
//! out of the graph, or detached on the way, shows up here as a missing or all-zero gradient.
//! (Key biases are the documented exception: their exact gradient is 0, see below.)

mod common;

use autograd::Var;
use tensor::Float;
use transformer::{Gpt, GptConfig, Module, NormPlacement, Transformer};

/// Gradients this far below the others' scale (about 1e-5 at initialisation) are rounding noise.
const NOISE: f64 = 1e-7;

/// Asserts that `loss`'s gradient reaches every parameter with a finite, non-zero value.
///
/// The one exception is a key bias (`k_proj.bias`): it adds the same `q . b` to every score of a
/// query's row and softmax ignores a constant shift of its row, so its exact gradient is 0 (as in
/// PyTorch). It must still be reached by backward, with only rounding noise in it.
fn assert_every_parameter_learns<T: Float>(params: &[(String, Var<T>)], loss: Var<T>) {
    assert!(loss.item().to_f64().is_finite());
    let grads = loss.backward();
    for (name, p) in params {
        let g = grads.get(p).unwrap_or_else(|| panic!("{} ({}): no gradient", name, T::NAME));
        assert_eq!(g.shape(), p.shape().as_slice(), "{name}");
        let v = g.to_vec();
        assert!(v.iter().all(|x| x.to_f64().is_finite()), "{name} ({}): non-finite gradient", T::NAME);
        let largest = v.iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
        if common::is_key_bias(name) {
            assert!(
                largest < NOISE,
                "{name} ({}): a key bias cannot change softmax, yet its gradient is {largest:e}",
                T::NAME
            );
        } else {
            assert!(largest > NOISE, "{name} ({}): gradient {largest:e} is zero or rounding noise", T::NAME);
        }
    }
}

fn gpt_case<T: Float>(bias: bool) {
    let config = GptConfig { vocab_size: 7, block_size: 5, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.1, bias };
    let gpt = Gpt::<T>::new(config, 3);
    // Training mode, with dropout: gradients flow through the dropout masks too.
    let ids = [0, 1, 2, 3, 4, 6, 5, 4, 3, 2]; // (2, 5): T = block_size so every position row is used
    let targets = [1, 2, 3, 4, 5, 5, 4, 3, 2, 1];
    let params = gpt.named_parameters();
    assert_every_parameter_learns(&params, gpt.loss(&ids, &targets, [2, 5]));
}

#[test]
fn gpt_every_parameter_gets_a_gradient() {
    for bias in [true, false] {
        gpt_case::<f32>(bias);
        gpt_case::<f64>(bias);
    }
}

fn transformer_case<T: Float>(tie_weights: bool, norm: NormPlacement) {
    let model = Transformer::<T>::new(common::small_transformer_config((6, 5), 0.1, tie_weights, norm), 4);
    let src = [1, 5, 2, 3, 4, 0, 1, 2];
    let src_pad = [false, false, false, false, false, false, false, true];
    let tgt = [0, 1, 2, 0, 3, 3];
    let targets = [1, 2, 4, 3, 3, 4];
    let logits = model.forward(&src, [2, 4], &tgt, [2, 3], Some(&src_pad));
    let loss = logits.reshape(&[6, 5]).cross_entropy(&targets, None);
    assert_every_parameter_learns(&model.named_parameters(), loss);
}

#[test]
fn transformer_every_parameter_gets_a_gradient() {
    for tie in [true, false] {
        for norm in [NormPlacement::Post, NormPlacement::Pre] {
            transformer_case::<f32>(tie, norm);
            transformer_case::<f64>(tie, norm);
        }
    }
}
