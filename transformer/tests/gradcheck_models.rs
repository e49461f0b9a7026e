//! Whole-model gradient checks in f64: a tiny GPT and a tiny encoder-decoder Transformer, with the
//! cross-entropy loss as output, against every parameter the model lists.

mod common;

use common::{gradcheck, randomize, small_transformer_config};
use transformer::{Gpt, GptConfig, Module, NormPlacement, Transformer};

fn tiny_gpt(bias: bool) -> Gpt<f64> {
    let config = GptConfig { vocab_size: 5, block_size: 4, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias };
    Gpt::new(config, 7)
}

#[test]
fn gpt_loss_against_all_parameters() {
    for bias in [true, false] {
        let gpt = tiny_gpt(bias);
        gpt.set_training(false);
        let params = gpt.named_parameters();
        // wte, wpe, ln_f, and per block ln_1, ln_2 (1 or 2 each), 4 attention and 2 MLP linears (1 or 2 each).
        let per_block = if bias { 4 + 12 } else { 2 + 6 };
        assert_eq!(params.len(), 2 + 2 * per_block + if bias { 2 } else { 1 });
        randomize(&params, 0.4, 1);
        // B = 2, T = 4 = block_size, so every row of wpe is used; token 4 appears only as a target.
        let ids = [0, 1, 2, 3, 3, 2, 0, 0];
        let targets = [1, 2, 3, 4, 2, 0, 4, 1];
        let report = gradcheck(&params, 1e-4, || gpt.loss(&ids, &targets, [2, 4]));
        assert!(report.inputs.iter().any(|i| i.name == "blocks.1.attn.q_proj.weight"));
    }
}

fn tiny_transformer(tie_weights: bool) -> Transformer<f64> {
    Transformer::new(small_transformer_config((6, 5), 0.0, tie_weights, NormPlacement::Post), 11)
}

#[test]
fn transformer_loss_against_all_parameters() {
    for tie in [true, false] {
        let model = tiny_transformer(tie);
        model.set_training(false);
        let params = model.named_parameters();
        assert_eq!(params.iter().any(|(n, _)| n.starts_with("generator")), !tie);
        randomize(&params, 0.4, 2);
        // Source (B = 2, S = 3): the second sequence's last position is padding.
        let src = [1, 5, 2, 3, 4, 0];
        let src_pad = [false, false, false, false, false, true];
        let tgt = [0, 1, 2, 0, 3, 3];
        let targets = [1, 2, 4, 3, 3, 4];
        // ReLU has a kink at 0: make sure no unit sits near it at this point.
        let loss = || {
            let logits = model.forward(&src, [2, 3], &tgt, [2, 3], Some(&src_pad)); // (B, T, V)
            logits.reshape(&[6, 5]).cross_entropy(&targets, None)
        };
        assert_relu_inputs_away_from_kink(&model, &src, &src_pad, &tgt);
        let report = gradcheck(&params, 1e-4, loss);
        assert_eq!(report.inputs.len(), params.len());
    }
}

/// Recomputes every ReLU's input of the forward pass (each feed-forward's `fc` output) and checks
/// none is within 1e-4 of 0, where a finite difference would straddle the kink.
fn assert_relu_inputs_away_from_kink(model: &Transformer<f64>, src: &[usize], src_pad: &[bool], tgt: &[usize]) {
    use transformer::{causal_mask, padding_mask};
    let mask = padding_mask::<f64>(src_pad, 2, 3);
    let pe = |x: &autograd::Var<f64>| model.positions.forward(x, 0);
    let mut x = pe(&model.src_embed.forward(src, &[2, 3]));
    let mut closest = f64::INFINITY;
    let mut track = |h: &autograd::Var<f64>, ff: &transformer::FeedForward<f64>| {
        for v in ff.fc.forward(h).value().to_vec() {
            closest = closest.min(v.abs());
        }
    };
    for l in &model.encoder.layers {
        let a = l.ln_1.forward(&x.add(&l.attn.forward_self(&x, Some(&mask)).0));
        track(&a, &l.mlp);
        x = l.forward(&x, Some(&mask));
    }
    let memory = x;
    let causal = causal_mask::<f64>(3, 3);
    let mut y = pe(&model.tgt_embed.forward(tgt, &[2, 3]));
    for l in &model.decoder.layers {
        let a = l.ln_1.forward(&y.add(&l.attn.forward_self(&y, Some(&causal)).0));
        let b = l.ln_2.forward(&a.add(&l.cross_attn.forward_cross(&a, &memory, Some(&mask)).0));
        track(&b, &l.mlp);
        y = l.forward(&y, &memory, Some(&causal), Some(&mask));
    }
    assert!(closest > 1e-4, "a ReLU input is {closest:e} from the kink");
}
