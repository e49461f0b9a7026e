//! Export to nanoGPT: the same weights under nanoGPT's parameter names and layouts, so that
//! `GPT(GPTConfig(**config)).load_state_dict(...)` in PyTorch gives the same logits.
//!
//! ```text
//! ours                                         nanoGPT                                   shape
//! wte.weight                                   transformer.wte.weight, lm_head.weight    (V, d)
//! wpe.weight                                   transformer.wpe.weight                    (block, d)
//! blocks.i.ln_1.{weight,bias}                  transformer.h.i.ln_1.{weight,bias}        (d)
//! blocks.i.attn.{q,k,v}_proj.weight, stacked   transformer.h.i.attn.c_attn.weight        (3d, d)
//! blocks.i.attn.{q,k,v}_proj.bias, stacked     transformer.h.i.attn.c_attn.bias          (3d)
//! blocks.i.attn.out_proj.{weight,bias}         transformer.h.i.attn.c_proj.{weight,bias} (d, d), (d)
//! blocks.i.ln_2.{weight,bias}                  transformer.h.i.ln_2.{weight,bias}        (d)
//! blocks.i.mlp.fc.{weight,bias}                transformer.h.i.mlp.c_fc.{weight,bias}    (4d, d), (4d)
//! blocks.i.mlp.proj.{weight,bias}              transformer.h.i.mlp.c_proj.{weight,bias}  (d, 4d), (d)
//! ln_f.{weight,bias}                           transformer.ln_f.{weight,bias}            (d)
//! ```
//! Both libraries store a linear layer's weight as `(out, in)`, so nothing is transposed; nanoGPT
//! splits `c_attn`'s output into q, k, v in that order, so the rows are stacked in that order.
//! Biases are written only when `config.bias`. The metadata entry `"config"` holds nanoGPT's
//! `GPTConfig` fields as JSON. The header of `tests/checkpoint.rs` has a PyTorch loader.
//!
//! A model whose [`transformer::GptStyle`] is not nanoGPT's (an imported GPT-2 computes its
//! GELU with the tanh approximation) is exported all the same, with the metadata entries
//! `"activation"` and `"layer_norm_eps"` of our own checkpoints, which `import --format nanogpt`
//! reads back. nanoGPT's `model.py` ignores them and computes the erf GELU, as it does after its
//! own `GPT.from_pretrained('gpt2')`: logits close to ours but not equal (`gradlab export` prints
//! a note saying so).
//!
//! The tokenizer is not exported, as nanoGPT keeps it apart from the weights (its `meta.pkl`);
//! `config.vocab_size` says how many tokens the weights expect. A character model's vocabulary
//! is the sorted characters of its text, as nanoGPT's `prepare.py` builds it; a BPE model's
//! tokenizer is the `vocab.json` + `merges.txt` of `gradlab tokenizer` or the checkpoint's
//! `"bpe_vocab"` and `"bpe_merges"` entries, which Hugging Face's `GPT2Tokenizer` reads (not
//! tiktoken's GPT-2 encoding, which nanoGPT's `sample.py` falls back to).

use std::collections::HashMap;
use std::path::Path;

use transformer::Gpt;

use super::format::{self, F32Blob};
use super::write_atomic;
use crate::error::Result;

/// Writes `model`'s weights to `out` (a safetensors file, written atomically) in nanoGPT's
/// naming and layout; see the module documentation for the mapping.
///
/// ```no_run
/// use gradlab::checkpoint::{export_nanogpt, load_model};
/// let (model, _meta) = load_model("out".as_ref())?;
/// export_nanogpt(&model, "out/nanogpt.safetensors".as_ref())?;
/// # Ok::<(), gradlab::Error>(())
/// ```
pub fn export_nanogpt(model: &Gpt<f32>, out: &Path) -> Result<()> {
    let c = model.config;
    let mut tensors: Vec<(String, F32Blob)> = Vec::new();
    let mut put =
        |name: String, shape: Vec<usize>, values: Vec<f32>| tensors.push((name, F32Blob::from_values(shape, &values)));
    let wte = model.wte.weight.value().to_vec();
    put("transformer.wte.weight".into(), vec![c.vocab_size, c.n_embd], wte.clone());
    // nanoGPT ties lm_head to wte; its state_dict lists both names, so both are written.
    put("lm_head.weight".into(), vec![c.vocab_size, c.n_embd], wte);
    put("transformer.wpe.weight".into(), model.wpe.weight.shape(), model.wpe.weight.value().to_vec());
    for (i, block) in model.blocks.iter().enumerate() {
        let h = format!("transformer.h.{i}");
        let attn = &block.attn;
        let qkv = [&attn.q_proj, &attn.k_proj, &attn.v_proj];
        // Stacking (d, d) row blocks: row-major concatenation of q, k, v gives (3d, d).
        let weight: Vec<f32> = qkv.iter().flat_map(|l| l.weight.value().to_vec()).collect();
        put(format!("{h}.attn.c_attn.weight"), vec![3 * c.n_embd, c.n_embd], weight);
        if c.bias {
            let bias = qkv.iter().filter_map(|l| l.bias.as_ref()).flat_map(|b| b.value().to_vec()).collect();
            put(format!("{h}.attn.c_attn.bias"), vec![3 * c.n_embd], bias);
        }
        let renamed = [
            ("ln_1", &block.ln_1.weight, block.ln_1.bias.as_ref()),
            ("attn.c_proj", &attn.out_proj.weight, attn.out_proj.bias.as_ref()),
            ("ln_2", &block.ln_2.weight, block.ln_2.bias.as_ref()),
            ("mlp.c_fc", &block.mlp.fc.weight, block.mlp.fc.bias.as_ref()),
            ("mlp.c_proj", &block.mlp.proj.weight, block.mlp.proj.bias.as_ref()),
        ];
        for (name, w, b) in renamed {
            put(format!("{h}.{name}.weight"), w.shape(), w.value().to_vec());
            if let Some(b) = b {
                put(format!("{h}.{name}.bias"), b.shape(), b.value().to_vec());
            }
        }
    }
    put("transformer.ln_f.weight".into(), model.ln_f.weight.shape(), model.ln_f.weight.value().to_vec());
    if let Some(b) = &model.ln_f.bias {
        put("transformer.ln_f.bias".into(), b.shape(), b.value().to_vec());
    }

    let config = serde_json::json!({
        "block_size": c.block_size,
        "vocab_size": c.vocab_size,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_embd": c.n_embd,
        "dropout": c.dropout,
        "bias": c.bias,
    });
    let mut metadata =
        HashMap::from([("format".to_string(), "nanogpt".to_string()), ("config".to_string(), config.to_string())]);
    metadata.extend(super::meta::style_entries(&model.style()));
    write_atomic(out, &format::encode(&tensors, metadata)?)
}
