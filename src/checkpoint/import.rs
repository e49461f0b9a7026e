//! Import: GPT-2's weights in Hugging Face's layout, and nanoGPT's checkpoints (the reverse of
//! [`export_nanogpt`](super::export_nanogpt)), as this program's [`Gpt`].
//!
//! Both sources name their tensors as nanoGPT's `model.py` (which copied GPT-2's names), so one
//! mapping serves both:
//!
//! ```text
//! source (Hugging Face / nanoGPT)        ours                                   HF shape      nanoGPT shape
//! wte.weight                             wte.weight                             (V, d)        (V, d)
//! wpe.weight                             wpe.weight                             (P, d)        (P, d)
//! h.i.ln_1.{weight,bias}                 blocks.i.ln_1.{weight,bias}            (d)           (d)
//! h.i.attn.c_attn.weight                 blocks.i.attn.{q,k,v}_proj.weight      (d, 3d)       (3d, d)
//! h.i.attn.c_attn.bias                   blocks.i.attn.{q,k,v}_proj.bias        (3d)          (3d)
//! h.i.attn.c_proj.{weight,bias}          blocks.i.attn.out_proj.{weight,bias}   (d, d), (d)   (d, d), (d)
//! h.i.ln_2.{weight,bias}                 blocks.i.ln_2.{weight,bias}            (d)           (d)
//! h.i.mlp.c_fc.{weight,bias}             blocks.i.mlp.fc.{weight,bias}          (d, 4d)       (4d, d)
//! h.i.mlp.c_proj.{weight,bias}           blocks.i.mlp.proj.{weight,bias}        (4d, d)       (d, 4d)
//! ln_f.{weight,bias}                     ln_f.{weight,bias}                     (d)           (d)
//! lm_head.weight (optional)              (tied to wte.weight)                   (V, d)        (V, d)
//! ```
//!
//! - **Hugging Face** (`--format hf-gpt2`): GPT-2's `Conv1D` stores a weight as `(in, out)`, so
//!   each is transposed into our `(out, in)`; `c_attn`'s output columns are q, k, v in that order.
//!   The names may carry `transformer.` (as `save_pretrained` of a `GPT2LMHeadModel` writes
//!   them) or not (as OpenAI's `openai-community/gpt2` file has them). The `attn.bias` and
//!   `attn.masked_bias` buffers (causal masks, in older files) are skipped. `config.json` gives
//!   the sizes (`n_layer`, `n_head`, `n_embd`, `n_positions` or else `n_ctx`, `vocab_size`), the
//!   layer-norm epsilon (`layer_norm_epsilon`, default 1e-5) and the GELU (`activation_function`:
//!   `gelu_new` and `gelu_pytorch_tanh` are the tanh approximation, `gelu` the erf form; anything
//!   else is refused). Options this program's GPT cannot compute are refused by name: `n_inner`
//!   other than `4 n_embd`, `tie_word_embeddings: false`, `scale_attn_weights: false`,
//!   `scale_attn_by_inverse_layer_idx: true`, `add_cross_attention: true`. Biases are on; dropout
//!   is 0 (fine-tuning sets its own with `--dropout`). `vocab.json` and `merges.txt` are the
//!   tokenizer, which must have exactly `vocab_size` tokens.
//! - **nanoGPT** (`--format nanogpt`): a safetensors file of `model.state_dict()`, every name
//!   under `transformer.` except `lm_head.weight`, as [`export_nanogpt`](super::export_nanogpt)
//!   writes it, with the `_orig_mod.` prefix of a `torch.compile`d model accepted too. Nothing is
//!   transposed; `c_attn`'s rows are q, k, v. The shapes cannot tell `n_head`, so the file's
//!   metadata must hold `"config"`, nanoGPT's `GPTConfig` as JSON (`block_size`, `vocab_size`,
//!   `n_layer`, `n_head`, `n_embd`, and optionally `dropout` and `bias`, default 0 and true); the
//!   tensors must agree with it. The `"activation"` and `"layer_norm_eps"` entries that export
//!   writes for a GPT-2 style model are read back. The tokenizer is not in the file: the
//!   command takes it from `--tokenizer DIR` or `--chars TEXT`.
//!
//! `lm_head.weight`, when present, must equal `wte.weight` exactly: this program's GPT ties its
//! head to the embedding, as GPT-2 and nanoGPT do, and has no way to hold a different one.
//!
//! Tensors may be F32, F16 or BF16 (widened to `f32`, exactly). Every problem with the files is
//! an [`Error::Checkpoint`] naming the file and the problem: a missing file, a file that is not
//! safetensors or is truncated, a missing tensor or one of another shape (expected and found,
//! with the configuration they come from), an unexpected tensor, another dtype, NaN or infinite
//! values, a config that is not valid or asks for what this program cannot compute.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use safetensors::tensor::Dtype;
use serde_json::{Map, Value};
use transformer::{Activation, Gpt, GptConfig, GptStyle, Module};

use super::format::{self, Parsed};
use super::meta::style_from_file;
use crate::error::{Error, Result};
use crate::tokenizer::BpeTokenizer;

/// The files of a Hugging Face GPT-2 directory that [`import_hf_gpt2`] reads.
pub const HF_GPT2_FILES: [&str; 4] = ["config.json", "model.safetensors", "vocab.json", "merges.txt"];

/// Reads a GPT-2 from a directory in Hugging Face's layout ([`HF_GPT2_FILES`]): the model, with
/// [`Activation::GeluTanh`] for `gelu_new` and the config's layer-norm epsilon, and its
/// tokenizer. See the [module documentation](self) for the mapping and what is checked.
///
/// ```no_run
/// let (model, tokenizer) = gradlab::checkpoint::import_hf_gpt2("gpt2".as_ref())?;
/// assert_eq!(model.config.vocab_size, tokenizer.vocab_size());
/// # Ok::<(), gradlab::Error>(())
/// ```
pub fn import_hf_gpt2(dir: &Path) -> Result<(Gpt<f32>, BpeTokenizer)> {
    if !dir.is_dir() {
        return Err(Error::checkpoint(dir, "no such directory (expected a Hugging Face GPT-2 model directory)"));
    }
    for name in HF_GPT2_FILES {
        if !dir.join(name).is_file() {
            return Err(Error::checkpoint(
                dir,
                format!(
                    "the directory has no {name}; a Hugging Face GPT-2 directory holds {}",
                    HF_GPT2_FILES.join(", ")
                ),
            ));
        }
    }
    let config_path = dir.join("config.json");
    let (config, style, origin) = read_hf_config(&config_path)?;
    let weights_path = dir.join("model.safetensors");
    super::check_read_memory(&weights_path, 3, "importing")?;
    let bytes = std::fs::read(&weights_path).map_err(|e| Error::io("cannot read", &weights_path, e))?;
    let file = format::parse(&bytes, &weights_path)?;
    let body = if file.tensors.names().contains(&"transformer.wte.weight") { "transformer." } else { "" };
    let mut reader = Reader { file: &file, outer: "", body, origin, taken: BTreeSet::new() };
    let values = reader.read(&config, Layout::Conv1d)?;
    reader.check_rest(|name| name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"))?;
    let model = build(config, style, values);

    let tokenizer = BpeTokenizer::load_hf_dir(dir)?;
    if tokenizer.vocab_size() != config.vocab_size {
        return Err(Error::checkpoint(
            dir.join("vocab.json"),
            format!(
                "the tokenizer has {} tokens but config.json says vocab_size {} (the rows of wte.weight)",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        ));
    }
    Ok((model, tokenizer))
}

/// Reads a nanoGPT checkpoint (a safetensors file of `model.state_dict()` with nanoGPT's
/// `GPTConfig` as JSON in the metadata entry `"config"`, as
/// [`export_nanogpt`](super::export_nanogpt) writes it). See the [module documentation](self).
///
/// ```no_run
/// let model = gradlab::checkpoint::import_nanogpt("nanogpt.safetensors".as_ref())?;
/// println!("{} layers", model.config.n_layer);
/// # Ok::<(), gradlab::Error>(())
/// ```
pub fn import_nanogpt(path: &Path) -> Result<Gpt<f32>> {
    super::check_read_memory(path, 3, "importing")?;
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    let file = format::parse(&bytes, path)?;
    if let Some(f) = file.format_name()
        && f != "nanogpt"
    {
        return Err(file.error(format!(
            "metadata \"format\" is {f:?}, not a nanoGPT checkpoint{}",
            if f.starts_with("gradlab") { " (this program's own checkpoints need no import)" } else { "" }
        )));
    }
    let (config, origin) = nanogpt_config(&file)?;
    let style = style_from_file(&file)?;
    let outer = if file.tensors.names().contains(&"_orig_mod.transformer.wte.weight") { "_orig_mod." } else { "" };
    let mut reader = Reader { file: &file, outer, body: "transformer.", origin, taken: BTreeSet::new() };
    let values = reader.read(&config, Layout::Linear)?;
    // nanoGPT's non-flash attention keeps its causal mask as the buffer `attn.bias`.
    reader.check_rest(|name| name.ends_with(".attn.bias"))?;
    Ok(build(config, style, values))
}

/// How a source stores its linear layers' weights.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// GPT-2's `Conv1D`: `(in, out)`, transposed on the way in.
    Conv1d,
    /// PyTorch's `nn.Linear` (nanoGPT): `(out, in)`, as ours.
    Linear,
}

/// The tensors of a source file, read by name: `outer` + `lm_head.weight`, `outer` + `body` +
/// the rest; every name read is remembered, so that what is left can be checked.
struct Reader<'a> {
    file: &'a Parsed<'a>,
    outer: &'static str,
    body: &'static str,
    /// The configuration the expected shapes come from, for messages.
    origin: String,
    taken: BTreeSet<String>,
}

impl Reader<'_> {
    /// Our parameters' values by name, from the source's tensors for a GPT of `config`.
    fn read(&mut self, config: &GptConfig, layout: Layout) -> Result<HashMap<String, Vec<f32>>> {
        let c = *config;
        // Each layer has tensors of its own: a count beyond the file's cannot fit (and would
        // make the loop below as long as the count is large).
        if c.n_layer > self.file.tensors.len() {
            return Err(self.file.error(format!(
                "{} has n_layer {} but the file holds only {} tensors",
                self.origin,
                c.n_layer,
                self.file.tensors.len()
            )));
        }
        let overflow = || self.file.error(format!("the sizes of {} overflow this machine's usize", self.origin));
        let d = c.n_embd;
        let d3 = d.checked_mul(3).ok_or_else(overflow)?;
        let d4 = d.checked_mul(4).ok_or_else(overflow)?;
        // A linear layer's weight `(out, in)` as the source stores it.
        let stored = |out: usize, inp: usize| match layout {
            Layout::Conv1d => [inp, out],
            Layout::Linear => [out, inp],
        };
        let mut v: HashMap<String, Vec<f32>> = HashMap::new();
        let body = self.body;
        let wte = self.take(&format!("{body}wte.weight"), &[c.vocab_size, d])?;
        v.insert("wpe.weight".into(), self.take(&format!("{body}wpe.weight"), &[c.block_size, d])?);
        for i in 0..c.n_layer {
            let (h, b) = (format!("{body}h.{i}"), format!("blocks.{i}"));
            self.affine(&mut v, (&format!("{h}.ln_1"), &format!("{b}.ln_1")), &[d], None, c.bias)?;
            // c_attn: q, k, v side by side (columns, Conv1D) or stacked (rows, Linear).
            let qkv = self.take(&format!("{h}.attn.c_attn.weight"), &stored(d3, d))?;
            let qkv = match layout {
                Layout::Conv1d => transpose(&qkv, d, d3), // (3d, d)
                Layout::Linear => qkv,
            };
            let bias = if c.bias { Some(self.take(&format!("{h}.attn.c_attn.bias"), &[d3])?) } else { None };
            for (j, name) in ["q_proj", "k_proj", "v_proj"].into_iter().enumerate() {
                v.insert(format!("{b}.attn.{name}.weight"), qkv[j * d * d..(j + 1) * d * d].to_vec());
                if let Some(bias) = &bias {
                    v.insert(format!("{b}.attn.{name}.bias"), bias[j * d..(j + 1) * d].to_vec());
                }
            }
            let linears = [("attn.c_proj", "attn.out_proj", d, d), ("mlp.c_fc", "mlp.fc", d4, d)];
            for (theirs, ours, out, inp) in linears {
                let names = (&format!("{h}.{theirs}") as &str, &format!("{b}.{ours}") as &str);
                self.affine(&mut v, names, &stored(out, inp), Some((layout, out, inp)), c.bias)?;
            }
            self.affine(&mut v, (&format!("{h}.ln_2"), &format!("{b}.ln_2")), &[d], None, c.bias)?;
            let names = (&format!("{h}.mlp.c_proj") as &str, &format!("{b}.mlp.proj") as &str);
            self.affine(&mut v, names, &stored(d, d4), Some((layout, d, d4)), c.bias)?;
        }
        // The insertion order above does not matter: `build` sets parameters by name.
        self.affine(&mut v, (&format!("{body}ln_f"), "ln_f"), &[d], None, c.bias)?;
        let head = format!("{}lm_head.weight", self.outer);
        if self.file.tensors.names().contains(&head.as_str()) {
            let lm_head = self.take("lm_head.weight", &[c.vocab_size, d])?;
            if lm_head != wte {
                return Err(self.file.error(format!(
                    "tensor {head:?} differs from {:?}: this program's GPT ties its output head to the token \
                     embedding (as GPT-2 and nanoGPT do), so an untied head cannot be imported",
                    format!("{}{body}wte.weight", self.outer)
                )));
            }
        }
        v.insert("wte.weight".into(), wte);
        Ok(v)
    }

    /// `theirs.weight` (of stored shape `shape`; transposed from `(in, out)` when `linear` says
    /// Conv1D) and, with biases, `theirs.bias` `(out)`, as `ours.weight` and `ours.bias`.
    fn affine(
        &mut self,
        v: &mut HashMap<String, Vec<f32>>,
        (theirs, ours): (&str, &str),
        shape: &[usize],
        linear: Option<(Layout, usize, usize)>,
        bias: bool,
    ) -> Result<()> {
        let mut weight = self.take(&format!("{theirs}.weight"), shape)?;
        let mut out = shape[0];
        if let Some((layout, o, inp)) = linear {
            out = o;
            if layout == Layout::Conv1d {
                weight = transpose(&weight, inp, o); // (in, out) -> (out, in)
            }
        }
        v.insert(format!("{ours}.weight"), weight);
        if bias {
            v.insert(format!("{ours}.bias"), self.take(&format!("{theirs}.bias"), &[out])?);
        }
        Ok(())
    }

    /// The values of tensor `outer` + `name`, checked to have `shape`, widened to `f32` and
    /// finite.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.outer);
        let view = self.file.tensors.tensor(&full).map_err(|_| {
            let other = if self.body.is_empty() { format!(" (nor \"transformer.{name}\")") } else { String::new() };
            self.file.error(format!("tensor {full:?}{other} is missing, and {} needs it", self.origin))
        })?;
        if view.shape() != shape {
            return Err(self.file.error(format!(
                "tensor {full:?} has shape {:?}, expected {shape:?} for {}",
                view.shape(),
                self.origin
            )));
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            // The container checks that the data is exactly numel * the dtype's size.
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            other => {
                return Err(self
                    .file
                    .error(format!("tensor {full:?} has dtype {other:?}; import reads F32, F16 and BF16 tensors")));
            }
        };
        if values.iter().any(|x| !x.is_finite()) {
            return Err(self.file.error(format!("tensor {full:?} contains NaN or infinite values")));
        }
        self.taken.insert(full);
        Ok(values)
    }

    /// Refuses a tensor that was not read, unless `ignored` says it is a buffer to skip.
    fn check_rest(&self, ignored: impl Fn(&str) -> bool) -> Result<()> {
        let mut rest: Vec<&str> =
            self.file.tensors.names().into_iter().filter(|n| !self.taken.contains(*n) && !ignored(n)).collect();
        rest.sort_unstable();
        match rest.first() {
            Some(name) => Err(self.file.error(format!(
                "unexpected tensor {name:?} ({} in all), not part of a GPT of {}",
                rest.len(),
                self.origin
            ))),
            None => Ok(()),
        }
    }
}

/// The row-major `(cols, rows)` transpose of a row-major `(rows, cols)` matrix.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for (r, row) in m.chunks_exact(cols).enumerate().take(rows) {
        for (c, &x) in row.iter().enumerate() {
            t[c * rows + r] = x;
        }
    }
    t
}

/// An IEEE half-precision value, widened exactly.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    if exp == 0 {
        // Zero or subnormal: mant * 2^-24, exact in f32.
        let v = mant as f32 / 16_777_216.0;
        return if sign != 0 { -v } else { v };
    }
    let bits = if exp == 0x1f { sign | 0x7f80_0000 | (mant << 13) } else { sign | ((exp + 112) << 23) | (mant << 13) };
    f32::from_bits(bits)
}

/// A GPT of `config` and `style` holding `values` (one per parameter name, checked to the
/// right length by [`Reader::read`]).
fn build(config: GptConfig, style: GptStyle, mut values: HashMap<String, Vec<f32>>) -> Gpt<f32> {
    let model = Gpt::<f32>::with_style(config, style, 0);
    for (name, p) in model.named_parameters() {
        let v = values.remove(&name).expect("the reader gives every parameter of the configuration");
        p.set_value(tensor::Tensor::from_vec(v, &p.shape()));
    }
    model
}

/// The sizes and style of a Hugging Face `config.json`, and a description of it for messages.
fn read_hf_config(path: &Path) -> Result<(GptConfig, GptStyle, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let err = |reason: String| Error::checkpoint(path, reason);
    let json: Value = serde_json::from_str(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| err("not a JSON object".into()))?;
    if let Some(t) = obj.get("model_type")
        && t != "gpt2"
    {
        return Err(err(format!("\"model_type\" is {t}, expected \"gpt2\"")));
    }
    let n_layer = required_size(obj, "n_layer", &err)?;
    let n_head = required_size(obj, "n_head", &err)?;
    let n_embd = required_size(obj, "n_embd", &err)?;
    let vocab_size = required_size(obj, "vocab_size", &err)?;
    let (block_size, positions_key) = match (size(obj, "n_positions", &err)?, size(obj, "n_ctx", &err)?) {
        (Some(p), _) => (p, "n_positions"),
        (None, Some(c)) => (c, "n_ctx"),
        (None, None) => return Err(err("has neither \"n_positions\" nor \"n_ctx\" (the number of positions)".into())),
    };
    if let Some(inner) = size(obj, "n_inner", &err)?
        && Some(inner) != n_embd.checked_mul(4)
    {
        return Err(err(format!(
            "\"n_inner\" is {inner}; this program's GPT has an MLP of 4 n_embd = {} units",
            n_embd.saturating_mul(4)
        )));
    }
    for (key, default, needed, why) in [
        ("tie_word_embeddings", true, true, "this program's GPT ties its output head to the token embedding"),
        ("scale_attn_weights", true, true, "this program's attention always scales by 1/sqrt(head size)"),
        ("scale_attn_by_inverse_layer_idx", false, false, "this program's attention does not scale by layer"),
        ("add_cross_attention", false, false, "this program's GPT has no cross-attention"),
    ] {
        let value = match obj.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(err(format!("\"{key}\" is {v}, expected true or false"))),
        };
        if value != needed {
            return Err(err(format!("\"{key}\" is {value}, which cannot be imported: {why}")));
        }
    }
    let activation = match obj.get("activation_function") {
        None => Activation::GeluTanh,
        Some(Value::String(s)) if s == "gelu_new" || s == "gelu_pytorch_tanh" => Activation::GeluTanh,
        Some(Value::String(s)) if s == "gelu" => Activation::GeluErf,
        Some(v) => {
            return Err(err(format!(
                "unsupported \"activation_function\" {v}: this program computes \"gelu_new\" (or \
                 \"gelu_pytorch_tanh\", the same tanh approximation) and \"gelu\" (erf)"
            )));
        }
    };
    let layer_norm_eps = match obj.get("layer_norm_epsilon") {
        None | Some(Value::Null) => 1e-5,
        Some(v) => v.as_f64().ok_or_else(|| err(format!("\"layer_norm_epsilon\" is {v}, expected a number")))?,
    };
    let style = GptStyle { activation, layer_norm_eps };
    style.validate().map_err(|e| err(format!("invalid config: {e}")))?;
    let config = GptConfig { vocab_size, block_size, n_layer, n_head, n_embd, dropout: 0.0, bias: true };
    config.validate().map_err(|e| err(format!("invalid config: {e}")))?;
    let origin = format!(
        "{} (n_layer {n_layer}, n_head {n_head}, n_embd {n_embd}, {positions_key} {block_size}, vocab_size {vocab_size})",
        path.display()
    );
    Ok((config, style, origin))
}

/// An optional non-negative integer entry of a JSON object (`null` counts as absent).
fn size(obj: &Map<String, Value>, key: &str, err: &impl Fn(String) -> Error) -> Result<Option<usize>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| err(format!("\"{key}\" is {v}, expected a non-negative integer"))),
    }
}

/// A required non-negative integer entry of a JSON object.
fn required_size(obj: &Map<String, Value>, key: &str, err: &impl Fn(String) -> Error) -> Result<usize> {
    size(obj, key, err)?.ok_or_else(|| err(format!("has no \"{key}\"")))
}

/// The configuration in a nanoGPT file's `"config"` metadata entry, and a description of it.
fn nanogpt_config(file: &Parsed<'_>) -> Result<(GptConfig, String)> {
    let text = file.meta_optional("config").ok_or_else(|| {
        file.error(
            "metadata has no \"config\" entry: nanoGPT's GPTConfig as JSON, which import needs (the shapes \
             cannot tell n_head); write it with safetensors.torch.save_file(model.state_dict(), path, \
             metadata={\"config\": json.dumps(model_args)})",
        )
    })?;
    let err = |reason: String| file.error(format!("metadata \"config\": {reason}"));
    let json: Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| err("not a JSON object".into()))?;
    let dropout = match obj.get("dropout") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v.as_f64().ok_or_else(|| err(format!("\"dropout\" is {v}, expected a number")))?,
    };
    let bias = match obj.get("bias") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(err(format!("\"bias\" is {v}, expected true or false"))),
    };
    let config = GptConfig {
        vocab_size: required_size(obj, "vocab_size", &err)?,
        block_size: required_size(obj, "block_size", &err)?,
        n_layer: required_size(obj, "n_layer", &err)?,
        n_head: required_size(obj, "n_head", &err)?,
        n_embd: required_size(obj, "n_embd", &err)?,
        dropout,
        bias,
    };
    config.validate().map_err(|e| err(format!("invalid config: {e}")))?;
    let c = config;
    let origin = format!(
        "the config in its metadata (n_layer {}, n_head {}, n_embd {}, block_size {}, vocab_size {}, bias {})",
        c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size, c.bias
    );
    Ok((config, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_widens_exactly() {
        let cases = [
            (0x0000, 0.0),
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8),
            (0x8400, -6.103_515_6e-5),
        ];
        for (bits, want) in cases {
            assert_eq!(f16_to_f32(bits), want, "{bits:#06x}");
        }
        assert!(f16_to_f32(0x7c00).is_infinite() && f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        // (2, 3) -> (3, 2)
        assert_eq!(transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
