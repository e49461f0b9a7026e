//! Whole-model gradient checks in f64: a tiny GPT and a tiny encoder-decoder Transformer, with the
//! cross-entropy loss as output, against every parameter the model lists.

mod common;

use common::{
    assert_relu_inputs_away_from_kink, gradcheck, randomize, seq2seq_loss, small_transformer_config, tiny_gpt,
    tiny_transformer,
};
use transformer::{Module, NormPlacement};

#[test]
fn gpt_loss_against_all_parameters() {
    for bias in [true, false] {
        let gpt = tiny_gpt(4, 8, bias);
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

#[test]
fn transformer_loss_against_all_parameters() {
    for tie in [true, false] {
        let model = tiny_transformer(small_transformer_config((6, 5), 0.0, tie, NormPlacement::Post));
        let params = model.named_parameters();
        assert_eq!(params.iter().any(|(n, _)| n.starts_with("generator")), !tie);
        randomize(&params, 0.4, 2);
        // ReLU has a kink at 0: make sure no unit sits within 1e-4 of it at this point.
        assert_relu_inputs_away_from_kink(&model, 1e-4);
        let report = gradcheck(&params, 1e-4, || seq2seq_loss(&model));
        assert_eq!(report.inputs.len(), params.len());
    }
}
