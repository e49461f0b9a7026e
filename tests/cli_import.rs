//! `import`: GPT-2 weights in Hugging Face's layout and nanoGPT checkpoints in, as checkpoints
//! that `sample`, `eval`, `export` and `train --init-from` take.
//!
//! The tests write the Hugging Face directory themselves (nothing is downloaded): `config.json`,
//! `model.safetensors` in GPT-2's `Conv1D` layout (weights `(in, out)`, q, k, v side by side in
//! `c_attn`), and `vocab.json` + `merges.txt` from this program's BPE trainer, all from a model
//! with known random weights. After the import the logits must be those of that model, and of an
//! independent GPT-2 forward pass written here in f64 straight from the Hugging Face tensors (so a
//! mistake in the mapping cannot hide behind the same mistake in the test). Then each kind of bad
//! input gets its error, naming what is wrong, and no file is written.

use std::collections::HashMap;
use std::path::Path;

use gradlab::checkpoint::{export_nanogpt, load_model};
use gradlab::data::Tokenizer;
use gradlab::tokenizer::BpeTokenizer;
use gradlab::transformer::{Activation, Gpt, GptConfig, GptStyle, Module};
use safetensors::tensor::{Dtype, TensorView};

mod common;
use common::{TempDir, assert_error, fails, generated_text, gradlab, parameter_bits, succeeds, train_args};

/// A tensor to write: name, dtype, shape, little-endian bytes.
type Raw = (String, Dtype, Vec<usize>, Vec<u8>);

fn f32_raw(name: &str, shape: Vec<usize>, values: &[f32]) -> Raw {
    (name.to_string(), Dtype::F32, shape, values.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn write_safetensors(path: &Path, tensors: &[Raw], metadata: Option<HashMap<String, String>>) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dtype, shape, bytes)| (n.clone(), TensorView::new(*dtype, shape.clone(), bytes).unwrap()))
        .collect();
    std::fs::write(path, safetensors::tensor::serialize(views, metadata).unwrap()).unwrap();
}

/// `(rows, cols)` row-major to `(cols, rows)`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// Sets every parameter of `model` to values from a fixed LCG started at `seed`, of scale
/// about 0.3 (layer-norm gains around 1), so that biases and gains matter too.
fn randomize(model: &Gpt<f32>, seed: u64) {
    let mut state = seed;
    for (name, p) in model.named_parameters() {
        let n = p.value().to_vec().len();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5; // [-0.5, 0.5)
                if name.contains("ln") && name.ends_with("weight") { 1.0 + 0.4 * u } else { 0.6 * u }
            })
            .collect();
        p.set_value(gradlab::tensor::Tensor::from_vec(values, &p.shape()));
    }
}

/// The tensors of `model` under Hugging Face's GPT-2 names (each prefixed by `prefix`), linear
/// weights transposed into `Conv1D`'s `(in, out)`.
fn hf_tensors(model: &Gpt<f32>, prefix: &str) -> Vec<Raw> {
    let c = model.config;
    let d = c.n_embd;
    let v = |p: &gradlab::autograd::Var<f32>| p.value().to_vec();
    let mut out = vec![
        f32_raw(&format!("{prefix}wte.weight"), vec![c.vocab_size, d], &v(&model.wte.weight)),
        f32_raw(&format!("{prefix}wpe.weight"), vec![c.block_size, d], &v(&model.wpe.weight)),
    ];
    for (i, b) in model.blocks.iter().enumerate() {
        let h = format!("{prefix}h.{i}");
        let ln = |name: &str, ln: &gradlab::transformer::LayerNorm<f32>| {
            [
                f32_raw(&format!("{h}.{name}.weight"), vec![d], &v(&ln.weight)),
                f32_raw(&format!("{h}.{name}.bias"), vec![d], &v(ln.bias.as_ref().unwrap())),
            ]
        };
        out.extend(ln("ln_1", &b.ln_1));
        let a = &b.attn;
        let stacked: Vec<f32> = [&a.q_proj, &a.k_proj, &a.v_proj].iter().flat_map(|l| v(&l.weight)).collect();
        out.push(f32_raw(&format!("{h}.attn.c_attn.weight"), vec![d, 3 * d], &transpose(&stacked, 3 * d, d)));
        let bias: Vec<f32> =
            [&a.q_proj, &a.k_proj, &a.v_proj].iter().flat_map(|l| v(l.bias.as_ref().unwrap())).collect();
        out.push(f32_raw(&format!("{h}.attn.c_attn.bias"), vec![3 * d], &bias));
        let conv = |name: &str, l: &gradlab::transformer::Linear<f32>, o: usize, i: usize| {
            [
                f32_raw(&format!("{h}.{name}.weight"), vec![i, o], &transpose(&v(&l.weight), o, i)),
                f32_raw(&format!("{h}.{name}.bias"), vec![o], &v(l.bias.as_ref().unwrap())),
            ]
        };
        out.extend(conv("attn.c_proj", &a.out_proj, d, d));
        out.extend(ln("ln_2", &b.ln_2));
        out.extend(conv("mlp.c_fc", &b.mlp.fc, 4 * d, d));
        out.extend(conv("mlp.c_proj", &b.mlp.proj, d, 4 * d));
    }
    out.push(f32_raw(&format!("{prefix}ln_f.weight"), vec![d], &v(&model.ln_f.weight)));
    out.push(f32_raw(&format!("{prefix}ln_f.bias"), vec![d], &v(model.ln_f.bias.as_ref().unwrap())));
    out
}

/// `config.json` as `transformers` writes it for `model`, with `eps` and `activation`.
fn hf_config(c: &GptConfig, eps: f64, activation: &str) -> serde_json::Value {
    serde_json::json!({
        "activation_function": activation,
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1,
        "bos_token_id": c.vocab_size - 1, "eos_token_id": c.vocab_size - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": eps,
        "model_type": "gpt2",
        "n_ctx": c.block_size, "n_embd": c.n_embd, "n_head": c.n_head, "n_inner": null,
        "n_layer": c.n_layer, "n_positions": c.block_size,
        "reorder_and_upcast_attn": false, "scale_attn_by_inverse_layer_idx": false, "scale_attn_weights": true,
        "tie_word_embeddings": true, "use_cache": true, "vocab_size": c.vocab_size
    })
}

/// A Hugging Face GPT-2 directory: its tokenizer, learned from the test text, and a model with
/// random weights over it, in the GPT-2 style with layer-norm epsilon `EPS`.
struct HfDir {
    dir: TempDir,
    model: Gpt<f32>,
    tokens: Vec<usize>,
}

const EPS: f64 = 2e-5;

impl HfDir {
    fn new(name: &str) -> Self {
        let dir = TempDir::new(name);
        let text = generated_text(5);
        let mut tok = BpeTokenizer::train(&text, 300).unwrap();
        tok.add_special_token("<|endoftext|>").unwrap();
        let hf = dir.join("gpt2");
        tok.save_hf(&hf).unwrap();
        let config = GptConfig {
            vocab_size: tok.vocab_size(),
            block_size: 24,
            n_layer: 2,
            n_head: 2,
            n_embd: 16,
            dropout: 0.0,
            bias: true,
        };
        let model = Gpt::<f32>::with_style(config, GptStyle { layer_norm_eps: EPS, ..GptStyle::GPT2 }, 0);
        randomize(&model, 7);
        write_safetensors(&hf.join("model.safetensors"), &hf_tensors(&model, "transformer."), None);
        std::fs::write(hf.join("config.json"), hf_config(&config, EPS, "gelu_new").to_string()).unwrap();
        let tokens = tok.encode(&text[..200]).into_iter().take(config.block_size).collect();
        HfDir { dir, model, tokens }
    }

    fn hf(&self) -> std::path::PathBuf {
        self.dir.join("gpt2")
    }

    /// Rewrites `config.json` with `edit`.
    fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
        let path = self.hf().join("config.json");
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(json.as_object_mut().unwrap());
        std::fs::write(path, json.to_string()).unwrap();
    }

    /// Rewrites `model.safetensors` as `edit` changes its tensor list.
    fn edit_tensors(&self, edit: impl FnOnce(&mut Vec<Raw>)) {
        let mut tensors = hf_tensors(&self.model, "transformer.");
        edit(&mut tensors);
        write_safetensors(&self.hf().join("model.safetensors"), &tensors, None);
    }

    /// `import --format hf-gpt2 --from gpt2 --out-dir ckpt`.
    fn import_args(&self) -> [&'static str; 7] {
        ["import", "--format", "hf-gpt2", "--from", "gpt2", "--out-dir", "ckpt"]
    }
}

fn logits(model: &Gpt<f32>, tokens: &[usize]) -> Vec<f32> {
    model.set_training(false);
    model.forward(tokens, [1, tokens.len()]).value().to_vec()
}

/// GPT-2's forward pass in f64, written straight from the Hugging Face tensors as `transformers`'
/// `GPT2LMHeadModel` computes it (Conv1D: `x W + b` with `W` `(in, out)`; the tanh GELU; a
/// causal softmax; the head tied to `wte`), sharing no code with the library's model.
fn reference_logits(tensors: &[Raw], c: &GptConfig, eps: f64, tokens: &[usize]) -> Vec<f64> {
    let get = |name: &str| -> Vec<f64> {
        let (_, _, _, bytes) = tensors.iter().find(|t| t.0 == format!("transformer.{name}")).unwrap();
        bytes.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect()
    };
    let (d, t, nh) = (c.n_embd, tokens.len(), c.n_head);
    let hs = d / nh;
    let layer_norm = |x: &[Vec<f64>], g: &[f64], b: &[f64]| -> Vec<Vec<f64>> {
        x.iter()
            .map(|row| {
                let mean = row.iter().sum::<f64>() / d as f64;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d as f64;
                row.iter().enumerate().map(|(i, v)| (v - mean) / (var + eps).sqrt() * g[i] + b[i]).collect()
            })
            .collect()
    };
    // x (t, in) times w (in, out) plus b (out).
    let conv1d = |x: &[Vec<f64>], w: &[f64], b: &[f64]| -> Vec<Vec<f64>> {
        let out = b.len();
        x.iter()
            .map(|row| {
                (0..out).map(|o| b[o] + row.iter().enumerate().map(|(i, v)| v * w[i * out + o]).sum::<f64>()).collect()
            })
            .collect()
    };
    let (wte, wpe) = (get("wte.weight"), get("wpe.weight"));
    let mut x: Vec<Vec<f64>> =
        tokens.iter().enumerate().map(|(p, &id)| (0..d).map(|j| wte[id * d + j] + wpe[p * d + j]).collect()).collect();
    for l in 0..c.n_layer {
        let p = |n: &str| get(&format!("h.{l}.{n}"));
        let h = layer_norm(&x, &p("ln_1.weight"), &p("ln_1.bias"));
        let qkv = conv1d(&h, &p("attn.c_attn.weight"), &p("attn.c_attn.bias")); // (t, 3d)
        let mut att = vec![vec![0.0; d]; t];
        for head in 0..nh {
            for i in 0..t {
                let q = &qkv[i][head * hs..(head + 1) * hs];
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        let k = &qkv[j][d + head * hs..d + (head + 1) * hs];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hs as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                for (j, e) in exps.iter().enumerate() {
                    for k in 0..hs {
                        att[i][head * hs + k] += e / sum * qkv[j][2 * d + head * hs + k];
                    }
                }
            }
        }
        let att = conv1d(&att, &p("attn.c_proj.weight"), &p("attn.c_proj.bias"));
        x = x.iter().zip(&att).map(|(a, b)| a.iter().zip(b).map(|(u, v)| u + v).collect()).collect();
        let h = layer_norm(&x, &p("ln_2.weight"), &p("ln_2.bias"));
        let gelu_new =
            |v: f64| 0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh());
        let fc: Vec<Vec<f64>> = conv1d(&h, &p("mlp.c_fc.weight"), &p("mlp.c_fc.bias"))
            .into_iter()
            .map(|r| r.into_iter().map(gelu_new).collect())
            .collect();
        let mlp = conv1d(&fc, &p("mlp.c_proj.weight"), &p("mlp.c_proj.bias"));
        x = x.iter().zip(&mlp).map(|(a, b)| a.iter().zip(b).map(|(u, v)| u + v).collect()).collect();
    }
    let x = layer_norm(&x, &get("ln_f.weight"), &get("ln_f.bias"));
    x.iter()
        .flat_map(|row| {
            (0..c.vocab_size)
                .map(|v| row.iter().enumerate().map(|(j, a)| a * wte[v * d + j]).sum::<f64>())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_hugging_face_gpt2_imports_with_its_logits() {
    let src = HfDir::new("import-hf");
    let out = succeeds(src.dir.path(), &src.import_args());
    assert!(out.contains("imported gpt2 (2 layers, 2 heads, width 16, 24 positions"), "{out}");
    assert!(out.contains("tanh GELU"), "{out}");
    let (model, meta) = load_model(&src.dir.join("ckpt")).unwrap();
    assert_eq!(model.config, src.model.config);
    assert_eq!(model.style(), GptStyle { activation: Activation::GeluTanh, layer_norm_eps: EPS });
    assert_eq!(meta.source, "hf-gpt2:gpt2");
    let Tokenizer::Bpe(tok) = &meta.tokenizer else { panic!("a GPT-2 has a BPE tokenizer") };
    assert_eq!(**tok, BpeTokenizer::load_hf_dir(&src.hf()).unwrap());
    // Bit for bit the weights of the model the files were written from, hence its logits.
    assert_eq!(parameter_bits(&model), parameter_bits(&src.model));
    let ours = logits(&model, &src.tokens);
    assert_eq!(ours, logits(&src.model, &src.tokens));
    // And GPT-2's computation from the files themselves, in f64.
    let reference = reference_logits(&hf_tensors(&src.model, "transformer."), &model.config, EPS, &src.tokens);
    let worst = ours.iter().zip(&reference).map(|(a, b)| (f64::from(*a) - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-4, "largest difference from the f64 reference: {worst}");
    // The erf GELU would be another function: the style is what makes them equal.
    let erf = Gpt::<f32>::with_style(model.config, GptStyle { activation: Activation::GeluErf, ..model.style() }, 0);
    for ((_, a), (_, b)) in erf.named_parameters().iter().zip(model.named_parameters()) {
        a.set_value(b.value().clone());
    }
    let erf_worst =
        logits(&erf, &src.tokens).iter().zip(&reference).map(|(a, b)| (f64::from(*a) - b).abs()).fold(0.0, f64::max);
    assert!(erf_worst > 10.0 * worst, "erf {erf_worst} vs tanh {worst}");
}

#[test]
fn names_without_the_transformer_prefix_buffers_and_a_tied_head_are_accepted() {
    let src = HfDir::new("import-hf-bare");
    let mut tensors = hf_tensors(&src.model, "");
    let c = src.model.config;
    // The causal-mask buffers of older files, and the head tied to wte.
    let mask = vec![1.0f32; c.block_size * c.block_size];
    for i in 0..c.n_layer {
        tensors.push(f32_raw(&format!("h.{i}.attn.bias"), vec![1, 1, c.block_size, c.block_size], &mask));
        tensors.push(f32_raw(&format!("h.{i}.attn.masked_bias"), vec![], &[-1e4]));
    }
    tensors.push(f32_raw("lm_head.weight", vec![c.vocab_size, c.n_embd], &src.model.wte.weight.value().to_vec()));
    write_safetensors(&src.hf().join("model.safetensors"), &tensors, None);
    succeeds(src.dir.path(), &src.import_args());
    assert_eq!(parameter_bits(&load_model(&src.dir.join("ckpt")).unwrap().0), parameter_bits(&src.model));
}

#[test]
fn bf16_and_f16_tensors_are_widened() {
    let src = HfDir::new("import-hf-half");
    // BF16: the top half of each f32's bits; F16: the same values, all exactly representable in
    // half precision when they are multiples of 2^-10 below 2.
    let to_bf16 = |raw: &Raw| -> Raw {
        let bytes: Vec<u8> = raw.3.chunks_exact(4).flat_map(|b| [b[2], b[3]]).collect();
        (raw.0.clone(), Dtype::BF16, raw.2.clone(), bytes)
    };
    src.edit_tensors(|t| *t = t.iter().map(to_bf16).collect());
    succeeds(src.dir.path(), &src.import_args());
    let (model, _) = load_model(&src.dir.join("ckpt")).unwrap();
    let wte = model.wte.weight.value().to_vec();
    let want: Vec<f32> =
        src.model.wte.weight.value().to_vec().iter().map(|x| f32::from_bits(x.to_bits() & 0xffff_0000)).collect();
    assert_eq!(wte, want);

    let src = HfDir::new("import-hf-f16");
    src.edit_tensors(|t| {
        // 0.5 = 0x3800, -0.25 = 0xb400 in half precision.
        for raw in t.iter_mut() {
            let n = raw.3.len() / 4;
            let bytes: Vec<u8> =
                (0..n).flat_map(|i| if i % 2 == 0 { 0x3800u16 } else { 0xb400 }.to_le_bytes()).collect();
            *raw = (raw.0.clone(), Dtype::F16, raw.2.clone(), bytes);
        }
    });
    succeeds(src.dir.path(), &src.import_args());
    let (model, _) = load_model(&src.dir.join("ckpt")).unwrap();
    assert_eq!(&model.wpe.weight.value().to_vec()[..4], [0.5, -0.25, 0.5, -0.25]);
}

#[test]
fn an_imported_gpt2_samples_evaluates_fine_tunes_and_exports() {
    let src = HfDir::new("import-hf-use");
    let dir = src.dir.path();
    succeeds(dir, &src.import_args());
    std::fs::write(dir.join("text.txt"), generated_text(6)).unwrap();
    let sample = ["sample", "--ckpt", "ckpt", "--temperature", "0", "--prompt", "the fox", "--max-new-tokens", "5"];
    let first = succeeds(dir, &sample);
    assert_eq!(first, succeeds(dir, &sample), "greedy decoding is deterministic");
    let eval = succeeds(dir, &["eval", "--ckpt", "ckpt", "--data", "text.txt"]);
    assert!(eval.contains("loss"), "{eval}");

    // Fine-tuning keeps the GPT-2 style.
    let ft = [
        "train",
        "--no-progress",
        "--init-from",
        "ckpt",
        "--data",
        "text.txt",
        "--out-dir",
        "ft",
        "--max-iters",
        "2",
        "--eval-interval",
        "2",
        "--eval-iters",
        "1",
        "--batch-size",
        "2",
    ];
    let out = succeeds(dir, &ft);
    assert!(out.contains("initialised from ckpt (imported from gpt2 (hf-gpt2))"), "{out}");
    let (tuned, _) = load_model(&dir.join("ft")).unwrap();
    assert_eq!(tuned.style(), GptStyle { layer_norm_eps: EPS, ..GptStyle::GPT2 });

    // Export says what nanoGPT computes differently; importing the export gives the model back.
    let out = succeeds(dir, &["export", "--ckpt", "ckpt", "--out", "nano.safetensors"]);
    assert!(out.contains("note: this model computes GPT-2's tanh GELU"), "{out}");
    succeeds(
        dir,
        &["import", "--format", "nanogpt", "--from", "nano.safetensors", "--out-dir", "back", "--tokenizer", "gpt2"],
    );
    let ((a, a_meta), (b, b_meta)) = (load_model(&dir.join("ckpt")).unwrap(), load_model(&dir.join("back")).unwrap());
    assert_eq!(parameter_bits(&a), parameter_bits(&b));
    assert_eq!((a.style(), a_meta.config, a_meta.tokenizer), (b.style(), b_meta.config, b_meta.tokenizer));
}

#[test]
fn a_nanogpt_export_imports_back_with_the_same_weights_and_logits() {
    let dir = TempDir::new("import-nano");
    let text = generated_text(8);
    std::fs::write(dir.join("text.txt"), &text).unwrap();
    succeeds(
        dir.path(),
        &train_args(&["--data", "text.txt", "--block-size", "16", "--out-dir", "run", "--max-iters", "4", "--bias"]),
    );
    succeeds(dir.path(), &["export", "--ckpt", "run", "--out", "nano.safetensors"]);
    let out = succeeds(
        dir.path(),
        &["import", "--format", "nanogpt", "--from", "nano.safetensors", "--out-dir", "back", "--chars", "text.txt"],
    );
    assert!(out.contains("erf GELU"), "{out}");
    let ((a, a_meta), (b, b_meta)) = (load_model(&dir.join("run")).unwrap(), load_model(&dir.join("back")).unwrap());
    assert_eq!(parameter_bits(&a), parameter_bits(&b));
    assert_eq!((a_meta.config, &a_meta.tokenizer), (b_meta.config, &b_meta.tokenizer));
    assert_eq!(b.style(), GptStyle::default());
    let ids = a_meta.tokenizer.encode("the quick brown").unwrap();
    assert_eq!(logits(&a, &ids), logits(&b, &ids));
    // The default style writes no style entries: the imported checkpoint's file is the original's
    // but for its provenance.
    let meta_of = |p: &str| {
        let bytes = std::fs::read(dir.join(p).join("model.safetensors")).unwrap();
        safetensors::SafeTensors::read_metadata(&bytes).unwrap().1.metadata().clone().unwrap()
    };
    let (m_a, m_b) = (meta_of("run"), meta_of("back"));
    assert!(!m_b.contains_key("activation") && !m_b.contains_key("layer_norm_eps"));
    assert_eq!(m_a.keys().collect::<std::collections::BTreeSet<_>>(), m_b.keys().collect());

    // A model without biases, and the `_orig_mod.` names of a compiled model, with nanoGPT's mask buffers.
    let model = Gpt::<f32>::new(GptConfig { bias: false, ..a.config }, 3);
    export_nanogpt(&model, &dir.join("nobias.safetensors")).unwrap();
    let bytes = std::fs::read(dir.join("nobias.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let meta = safetensors::SafeTensors::read_metadata(&bytes).unwrap().1.metadata().clone();
    let mut tensors: Vec<Raw> = file
        .tensors()
        .into_iter()
        .map(|(n, t)| (format!("_orig_mod.{n}"), t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    tensors.push(f32_raw("_orig_mod.transformer.h.0.attn.bias", vec![1, 1, 16, 16], &[1.0; 256]));
    write_safetensors(&dir.join("compiled.safetensors"), &tensors, meta);
    succeeds(
        dir.path(),
        &["import", "--format", "nanogpt", "--from", "compiled.safetensors", "--out-dir", "c", "--chars", "text.txt"],
    );
    assert_eq!(parameter_bits(&load_model(&dir.join("c")).unwrap().0), parameter_bits(&model));
}

#[test]
fn a_missing_tensor_is_named() {
    let src = HfDir::new("import-bad-missing");
    src.edit_tensors(|t| t.retain(|r| r.0 != "transformer.h.1.mlp.c_fc.bias"));
    fails(src.dir.path(), &src.import_args(), &["model.safetensors", "\"transformer.h.1.mlp.c_fc.bias\" is missing"]);
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    let src = HfDir::new("import-bad-shape");
    src.edit_tensors(|t| {
        let r = t.iter_mut().find(|r| r.0 == "transformer.h.0.attn.c_proj.weight").unwrap();
        *r = f32_raw(&r.0, vec![16, 17], &[0.0; 16 * 17]);
    });
    fails(
        src.dir.path(),
        &src.import_args(),
        &["\"transformer.h.0.attn.c_proj.weight\" has shape [16, 17], expected [16, 16]", "n_embd 16"],
    );
}

#[test]
fn a_config_that_does_not_match_the_tensors_is_refused() {
    let src = HfDir::new("import-bad-config");
    src.edit_config(|c| {
        c.insert("n_layer".into(), 3.into());
    });
    fails(src.dir.path(), &src.import_args(), &["\"transformer.h.2.ln_1.weight\" is missing", "n_layer 3"]);
    src.edit_config(|c| {
        c.insert("n_layer".into(), 1.into());
    });
    fails(src.dir.path(), &src.import_args(), &["unexpected tensor \"transformer.h.1.", "n_layer 1"]);
    src.edit_config(|c| {
        c.insert("n_layer".into(), 2.into());
        c.insert("n_embd".into(), 32.into());
        c.insert("n_head".into(), 4.into());
    });
    fails(
        src.dir.path(),
        &src.import_args(),
        &["\"transformer.wte.weight\" has shape [", ", 16], expected [", ", 32]"],
    );
    src.edit_config(|c| {
        c.insert("n_embd".into(), 16.into());
        c.insert("n_head".into(), 3.into());
    });
    fails(src.dir.path(), &src.import_args(), &["config.json", "n_embd 16 is not divisible by n_head 3"]);
    src.edit_config(|c| {
        c.insert("n_head".into(), 2.into());
        c.remove("n_positions");
        c.remove("n_ctx");
    });
    fails(src.dir.path(), &src.import_args(), &["config.json", "n_positions"]);
    src.edit_config(|c| {
        c.insert("n_positions".into(), 24.into());
        c.insert("n_inner".into(), 20.into());
    });
    fails(src.dir.path(), &src.import_args(), &["config.json", "\"n_inner\" is 20"]);
    src.edit_config(|c| {
        c.remove("n_inner");
        c.insert("tie_word_embeddings".into(), false.into());
    });
    fails(src.dir.path(), &src.import_args(), &["\"tie_word_embeddings\" is false"]);
    std::fs::write(src.hf().join("config.json"), "{\"n_layer\": 2,").unwrap();
    fails(src.dir.path(), &src.import_args(), &["config.json", "not valid JSON"]);
}

#[test]
fn a_vocabulary_of_another_size_is_refused() {
    let src = HfDir::new("import-bad-vocab");
    let v = src.model.config.vocab_size;
    src.edit_config(|c| {
        c.insert("vocab_size".into(), (v + 1).into());
    });
    src.edit_tensors(|t| {
        let r = t.iter_mut().find(|r| r.0 == "transformer.wte.weight").unwrap();
        *r = f32_raw(&r.0, vec![v + 1, 16], &vec![0.1; (v + 1) * 16]);
    });
    fails(
        src.dir.path(),
        &src.import_args(),
        &["vocab.json", &format!("{v} tokens"), &format!("vocab_size {}", v + 1)],
    );
}

#[test]
fn a_truncated_or_corrupt_safetensors_file_is_refused() {
    let src = HfDir::new("import-bad-truncated");
    let path = src.hf().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    fails(src.dir.path(), &src.import_args(), &["model.safetensors", "truncated"]);
    std::fs::write(&path, &bytes[..5]).unwrap();
    fails(src.dir.path(), &src.import_args(), &["model.safetensors", "not a valid safetensors file"]);
    std::fs::write(&path, b"\x10\0\0\0\0\0\0\0{not json at all").unwrap();
    fails(src.dir.path(), &src.import_args(), &["model.safetensors", "not a valid safetensors file"]);
}

#[test]
fn an_unsupported_activation_is_refused() {
    let src = HfDir::new("import-bad-activation");
    src.edit_config(|c| {
        c.insert("activation_function".into(), "relu".into());
    });
    fails(src.dir.path(), &src.import_args(), &["config.json", "unsupported \"activation_function\" \"relu\""]);
    // "gelu" is the erf form, which this program also computes.
    src.edit_config(|c| {
        c.insert("activation_function".into(), "gelu".into());
    });
    let out = succeeds(src.dir.path(), &src.import_args());
    assert!(out.contains("erf GELU"), "{out}");
}

#[test]
fn another_dtype_is_refused() {
    let src = HfDir::new("import-bad-dtype");
    src.edit_tensors(|t| {
        let r = t.iter_mut().find(|r| r.0 == "transformer.ln_f.bias").unwrap();
        *r = (r.0.clone(), Dtype::F64, r.2.clone(), vec![0; 16 * 8]);
    });
    fails(src.dir.path(), &src.import_args(), &["\"transformer.ln_f.bias\" has dtype F64", "F32, F16 and BF16"]);
}

#[test]
fn non_finite_values_and_an_untied_head_are_refused() {
    let src = HfDir::new("import-bad-values");
    src.edit_tensors(|t| {
        let r = t.iter_mut().find(|r| r.0 == "transformer.h.0.ln_2.weight").unwrap();
        r.3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    fails(src.dir.path(), &src.import_args(), &["\"transformer.h.0.ln_2.weight\" contains NaN"]);
    let c = src.model.config;
    src.edit_tensors(|t| {
        t.push(f32_raw("lm_head.weight", vec![c.vocab_size, c.n_embd], &vec![0.0; c.vocab_size * c.n_embd]))
    });
    fails(src.dir.path(), &src.import_args(), &["\"lm_head.weight\" differs from \"transformer.wte.weight\"", "ties"]);
}

#[test]
fn missing_files_are_named() {
    let src = HfDir::new("import-bad-files");
    fails(
        src.dir.path(),
        &["import", "--format", "hf-gpt2", "--from", "nowhere", "--out-dir", "ckpt"],
        &["nowhere", "no such directory"],
    );
    for name in ["merges.txt", "model.safetensors", "config.json", "vocab.json"] {
        let path = src.hf().join(name);
        let saved = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        fails(src.dir.path(), &src.import_args(), &[&format!("has no {name}")]);
        std::fs::write(&path, saved).unwrap();
    }
    let merges = src.hf().join("merges.txt");
    std::fs::write(&merges, "#version: 0.2\nnot-a-merge\n").unwrap();
    fails(src.dir.path(), &src.import_args(), &["merges.txt line 2"]);
}

#[test]
fn an_existing_checkpoint_is_never_written_over() {
    let src = HfDir::new("import-bad-exists");
    std::fs::create_dir_all(src.dir.join("ckpt")).unwrap();
    std::fs::write(src.dir.join("ckpt/model.safetensors"), b"precious").unwrap();
    fails(src.dir.path(), &src.import_args(), &["--out-dir ckpt already has model.safetensors"]);
    std::fs::remove_file(src.dir.join("ckpt/model.safetensors")).unwrap();
    std::fs::write(src.dir.join("ckpt/train_state.safetensors"), b"precious").unwrap();
    fails(src.dir.path(), &src.import_args(), &["already has train_state.safetensors"]);
}

#[test]
fn nanogpt_import_needs_a_tokenizer_of_the_right_size_and_its_config() {
    let dir = TempDir::new("import-bad-nano");
    std::fs::write(dir.join("text.txt"), generated_text(9)).unwrap();
    let config = GptConfig { vocab_size: 5, block_size: 8, n_layer: 1, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
    export_nanogpt(&Gpt::<f32>::new(config, 0), &dir.join("nano.safetensors")).unwrap();
    let base = ["import", "--format", "nanogpt", "--from", "nano.safetensors", "--out-dir", "out"];
    fails(dir.path(), &base, &["--tokenizer DIR", "--chars TEXT"]);
    let with_chars: Vec<&str> = base.iter().copied().chain(["--chars", "text.txt"]).collect();
    fails(dir.path(), &with_chars, &["--chars text.txt", "tokens but the checkpoint's vocab_size is 5"]);
    let hf = ["import", "--format", "hf-gpt2", "--from", "x", "--out-dir", "out", "--chars", "text.txt"];
    fails(dir.path(), &hf, &["--tokenizer and --chars are for --format nanogpt"]);

    // No "config" metadata: the shapes cannot tell n_head.
    let bytes = std::fs::read(dir.join("nano.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<Raw> =
        file.tensors().into_iter().map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())).collect();
    write_safetensors(&dir.join("bare.safetensors"), &tensors, None);
    std::fs::write(dir.join("five.txt"), "abcde").unwrap();
    let args =
        ["import", "--format", "nanogpt", "--from", "bare.safetensors", "--out-dir", "out", "--chars", "five.txt"];
    fails(dir.path(), &args, &["bare.safetensors", "no \"config\" entry"]);
    // A config that disagrees with the tensors.
    let meta = HashMap::from([(
        "config".to_string(),
        r#"{"block_size":8,"vocab_size":5,"n_layer":1,"n_head":2,"n_embd":16}"#.to_string(),
    )]);
    write_safetensors(&dir.join("bare.safetensors"), &tensors, Some(meta));
    fails(dir.path(), &args, &["\"transformer.wte.weight\" has shape [5, 8], expected [5, 16]", "n_embd 16"]);
    // The program's own checkpoint is not a nanoGPT one.
    succeeds(
        dir.path(),
        &train_args(&["--data", "text.txt", "--block-size", "4", "--out-dir", "own", "--max-iters", "1"]),
    );
    let own =
        ["import", "--format", "nanogpt", "--from", "own/model.safetensors", "--out-dir", "out", "--chars", "five.txt"];
    fails(dir.path(), &own, &["\"gradlab-gpt\"", "need no import"]);
}

/// A weights file too large for this machine's memory is refused from its size, before a byte of
/// it is read, by `import` and by every command that loads a checkpoint (`sample` here), saying
/// how much it would need. The file is sparse: a terabyte long, no disk used, never read (the
/// usual no-files-changed check would read it, so the status and message are checked directly).
#[test]
fn a_model_too_large_for_memory_is_refused_before_it_is_read() {
    const TIB: u64 = 1 << 40;
    let Some(available) = gradlab::train::available_memory() else {
        return; // no MemAvailable to compare with: the check cannot refuse anything here
    };
    if available >= TIB {
        return; // a machine with a terabyte free would read the file
    }
    let src = HfDir::new("import-too-large");
    let sparse = |path: &Path| std::fs::File::create(path).unwrap().set_len(TIB).unwrap();
    sparse(&src.hf().join("model.safetensors"));
    let args = src.import_args();
    let out = gradlab(src.dir.path(), &args);
    let mentions = ["not enough memory", "importing", "model.safetensors", "1.0 TiB on disk", "needs about 3.0 TiB"];
    assert_error(1, &args, &out, &mentions);
    assert!(!src.dir.join("ckpt").exists());

    std::fs::create_dir(src.dir.join("huge")).unwrap();
    sparse(&src.dir.join("huge/model.safetensors"));
    let args = ["sample", "--ckpt", "huge", "--max-new-tokens", "5"];
    let out = gradlab(src.dir.path(), &args);
    assert_error(1, &args, &out, &["not enough memory", "loading the checkpoint", "needs about 2.0 TiB", "available"]);
}
