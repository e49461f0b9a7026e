//! A table of a model's learnable parameters, grouped by kind.

use autograd::Var;
use tensor::Float;

/// The group a parameter belongs to, from its hierarchical name.
pub fn parameter_group(name: &str) -> &'static str {
    let has = |s: &str| name.split('.').any(|part| part == s);
    if has("wte") || has("wpe") || has("src_embed") || has("tgt_embed") || name.contains("embed") {
        "embeddings"
    } else if has("attn") || has("cross_attn") || has("query") || has("key") || has("value") {
        "attention projections"
    } else if has("mlp") || has("ff") {
        "feed-forward"
    } else if name.split('.').any(|p| p.starts_with("ln")) {
        "norms"
    } else if has("generator") || has("lm_head") {
        "output layer"
    } else {
        "other"
    }
}

/// The summary table: one row per group (parameter tensors, scalars, share of the total), then
/// the total. Groups appear in the order of their first parameter.
pub fn parameter_summary<T: Float>(params: &[(String, Var<T>)]) -> String {
    let mut groups: Vec<(&'static str, usize, usize)> = Vec::new();
    for (name, p) in params {
        let g = parameter_group(name);
        match groups.iter_mut().find(|(n, _, _)| *n == g) {
            Some(e) => {
                e.1 += 1;
                e.2 += p.numel();
            }
            None => groups.push((g, 1, p.numel())),
        }
    }
    let total: usize = groups.iter().map(|g| g.2).sum();
    let mut s = format!("{:<24} {:>8} {:>12} {:>7}\n", "group", "tensors", "parameters", "share");
    for (g, n, c) in &groups {
        s += &format!("{:<24} {:>8} {:>12} {:>6.1}%\n", g, n, c, 100.0 * *c as f64 / total.max(1) as f64);
    }
    s += &format!("{:<24} {:>8} {:>12} {:>6.1}%\n", "total", params.len(), total, 100.0);
    s
}
