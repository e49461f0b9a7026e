//! Parameter names, groups and counts: the summary table, unique and stable names, and the GPT
//! parameter count against the number nanoGPT prints.

mod common;

use std::collections::{BTreeMap, HashSet};

use transformer::{Gpt, GptConfig, Module, NormPlacement, Transformer, parameter_group, parameter_summary};

/// The rows of a summary table: group -> (tensors, parameters). The header is skipped; the
/// "total" row is kept under its name.
fn parse_summary(table: &str) -> BTreeMap<String, (usize, usize)> {
    let mut rows = BTreeMap::new();
    for line in table.lines().skip(1) {
        // Group names contain spaces ("attention projections"): read the numbers from the right.
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let share = words.pop().unwrap();
        assert!(share.ends_with('%'), "{line}");
        let params: usize = words.pop().unwrap().parse().unwrap();
        let tensors: usize = words.pop().unwrap().parse().unwrap();
        rows.insert(words.join(" "), (tensors, params));
    }
    rows
}

/// The parameter count of a GPT from first principles (nanoGPT's layout, tied LM head):
///
/// - `wte`: vocab * d, shared with the LM head, counted once; `wpe`: block * d;
/// - per block: 2 layer norms of d gains (+ d shifts with bias); attention q, k, v, out of
///   d * d each (+ d bias each) = 4 d^2 (+ 4 d); MLP d -> 4d -> d = 8 d^2 (+ 4d + d bias);
/// - final layer norm: d (+ d).
fn gpt_count(c: &GptConfig) -> usize {
    let (d, b) = (c.n_embd, c.bias as usize);
    let norm = d + b * d;
    let block = 2 * norm + (4 * d * d + b * 4 * d) + (8 * d * d + b * 5 * d);
    c.vocab_size * d + c.block_size * d + c.n_layer * block + norm
}

fn shakespeare_char_cpu() -> GptConfig {
    // nanoGPT's `config/train_shakespeare_char.py` with its README's CPU overrides.
    GptConfig { vocab_size: 65, block_size: 64, n_layer: 4, n_head: 4, n_embd: 128, dropout: 0.0, bias: false }
}

#[test]
fn nanogpt_cpu_config_parameter_count() {
    let config = shakespeare_char_cpu();
    let gpt = Gpt::<f32>::new(config, 0);
    // wte 65*128 = 8,320; wpe 64*128 = 8,192;
    // per block: ln_1 128 + attention 4*128^2 = 65,536 + ln_2 128 + MLP 8*128^2 = 131,072 -> 196,864;
    // 4 blocks = 787,456; ln_f 128.
    // Total 8,320 + 8,192 + 787,456 + 128 = 804,096.
    assert_eq!(gpt.num_parameters(), 804_096);
    assert_eq!(gpt_count(&config), 804_096);
    // nanoGPT's `get_num_params()` leaves out the position embeddings (and counts the tied head
    // once): 804,096 - 8,192 = 795,904, which it prints as "number of parameters: 0.80M".
    let reported = gpt.num_parameters() - gpt.wpe.weight.numel();
    assert_eq!(reported, 795_904);
    assert_eq!(format!("{:.2}M", reported as f64 / 1e6), "0.80M");
}

#[test]
fn parameter_count_formula_matches_models_and_gpt2() {
    for bias in [false, true] {
        for (n_layer, n_embd) in [(1, 4), (2, 8), (3, 12)] {
            let config = GptConfig { vocab_size: 11, block_size: 5, n_layer, n_head: 2, n_embd, dropout: 0.0, bias };
            assert_eq!(Gpt::<f32>::new(config, 0).num_parameters(), gpt_count(&config), "{config:?}");
        }
    }
    // The same arithmetic for GPT-2 small (too big to build in a test) gives nanoGPT's "123.65M".
    let gpt2 = GptConfig {
        vocab_size: 50257,
        block_size: 1024,
        n_layer: 12,
        n_head: 12,
        n_embd: 768,
        dropout: 0.0,
        bias: true,
    };
    assert_eq!(gpt_count(&gpt2) - 1024 * 768, 123_653_376);
}

#[test]
fn gpt_summary_groups_add_up() {
    for bias in [false, true] {
        let config = GptConfig { bias, ..shakespeare_char_cpu() };
        let gpt = Gpt::<f32>::new(config, 0);
        let table = parameter_summary(&gpt.named_parameters());
        let rows = parse_summary(&table);
        let groups: Vec<&str> = rows.keys().map(String::as_str).collect();
        assert_eq!(groups, ["attention projections", "embeddings", "feed-forward", "norms", "total"], "{table}");
        let (d, l, b) = (128, 4, bias as usize);
        assert_eq!(rows["embeddings"], (2, 65 * d + 64 * d));
        assert_eq!(rows["attention projections"], (l * 4 * (1 + b), l * (4 * d * d + b * 4 * d)));
        assert_eq!(rows["feed-forward"], (l * 2 * (1 + b), l * (8 * d * d + b * 5 * d)));
        assert_eq!(rows["norms"], ((2 * l + 1) * (1 + b), (2 * l + 1) * d * (1 + b)));
        let sum: usize = rows.iter().filter(|(g, _)| *g != "total").map(|(_, r)| r.1).sum();
        assert_eq!(sum, gpt.num_parameters());
        assert_eq!(rows["total"], (gpt.named_parameters().len(), gpt.num_parameters()));
    }
}

fn tiny_transformer(tie_weights: bool, norm: NormPlacement) -> Transformer<f32> {
    Transformer::new(common::small_transformer_config((7, 6), 0.1, tie_weights, norm), 1)
}

#[test]
fn transformer_summary_groups_add_up() {
    for tie in [true, false] {
        let model = tiny_transformer(tie, NormPlacement::Post);
        let rows = parse_summary(&parameter_summary(&model.named_parameters()));
        let sum: usize = rows.iter().filter(|(g, _)| *g != "total").map(|(_, r)| r.1).sum();
        assert_eq!(sum, model.num_parameters());
        assert_eq!(rows.contains_key("output layer"), !tie);
        assert!(!rows.contains_key("other"));
        assert_eq!(rows["embeddings"].1, 7 * 8 + 6 * 8);
    }
}

#[test]
fn names_are_unique_and_stable() {
    let config =
        GptConfig { vocab_size: 11, block_size: 5, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
    let names = |seed| Gpt::<f64>::new(config, seed).named_parameters().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    let a = names(0);
    assert_eq!(a, names(99), "names must not depend on the seed");
    assert_eq!(a.iter().collect::<HashSet<_>>().len(), a.len(), "duplicate names: {a:?}");
    for expected in [
        "wte.weight",
        "wpe.weight",
        "blocks.0.ln_1.weight",
        "blocks.0.ln_1.bias",
        "blocks.0.attn.q_proj.weight",
        "blocks.0.attn.k_proj.bias",
        "blocks.0.attn.out_proj.weight",
        "blocks.1.mlp.fc.weight",
        "blocks.1.mlp.proj.bias",
        "blocks.1.ln_2.weight",
        "ln_f.weight",
        "ln_f.bias",
    ] {
        assert!(a.iter().any(|n| n == expected), "missing {expected} in {a:?}");
    }
    assert_eq!(a.first().map(String::as_str), Some("wte.weight"));
    assert!(a.iter().all(|n| !n.contains("lm_head")), "the tied head must not be listed twice");

    // Unique variables too, not just unique names: no parameter is listed twice.
    let gpt = Gpt::<f64>::new(config, 0);
    let ids: HashSet<_> = gpt.parameters().iter().map(|p| p.id()).collect();
    assert_eq!(ids.len(), gpt.parameters().len());

    for tie in [true, false] {
        for norm in [NormPlacement::Post, NormPlacement::Pre] {
            let model = tiny_transformer(tie, norm);
            let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
            assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
            let ids: HashSet<_> = model.parameters().iter().map(|p| p.id()).collect();
            assert_eq!(ids.len(), names.len());
            for expected in [
                "src_embed.weight",
                "tgt_embed.weight",
                "encoder.layers.1.attn.v_proj.weight",
                "decoder.layers.0.cross_attn.q_proj.bias",
                "decoder.layers.1.ln_3.weight",
            ] {
                assert!(names.iter().any(|n| n == expected), "missing {expected}");
            }
            assert_eq!(names.iter().any(|n| n == "generator.weight"), !tie);
            assert_eq!(names.iter().any(|n| n == "encoder.ln_f.weight"), norm == NormPlacement::Pre);
        }
    }
}

#[test]
fn groups_of_individual_names() {
    assert_eq!(parameter_group("wte.weight"), "embeddings");
    assert_eq!(parameter_group("blocks.3.attn.out_proj.bias"), "attention projections");
    assert_eq!(parameter_group("decoder.layers.0.cross_attn.k_proj.weight"), "attention projections");
    assert_eq!(parameter_group("query.weight"), "attention projections");
    assert_eq!(parameter_group("blocks.0.mlp.fc.weight"), "feed-forward");
    assert_eq!(parameter_group("blocks.0.ln_2.bias"), "norms");
    assert_eq!(parameter_group("ln_f.weight"), "norms");
    assert_eq!(parameter_group("generator.weight"), "output layer");
}
