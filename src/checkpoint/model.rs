//! The weights file: every parameter of a [`Gpt`] under its `named_parameters` name, and the
//! [`ModelMeta`] that rebuilds the model around them.

use std::path::Path;

use transformer::{Gpt, GptConfig, Module};

use super::format;
use super::meta::{ModelMeta, check_describes, style_entries, style_from_file};
use super::resolve;
use crate::error::{Error, Result};

/// The parameter names and shapes a GPT with configuration `c` has, in `named_parameters` order,
/// computed without building it; `None` if a size overflows.
///
/// Loading compares a file against this list *before* allocating the model, so a header that
/// claims a huge model cannot make the program allocate more than the file holds.
pub(crate) fn expected_parameters(c: &GptConfig) -> Option<Vec<(String, Vec<usize>)>> {
    let d = c.n_embd;
    let d_ff = d.checked_mul(4)?;
    let mut v =
        vec![("wte.weight".to_string(), vec![c.vocab_size, d]), ("wpe.weight".to_string(), vec![c.block_size, d])];
    for i in 0..c.n_layer {
        let b = format!("blocks.{i}");
        push_affine(&mut v, &format!("{b}.ln_1"), vec![d], c.bias);
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            push_affine(&mut v, &format!("{b}.attn.{proj}"), vec![d, d], c.bias);
        }
        push_affine(&mut v, &format!("{b}.ln_2"), vec![d], c.bias);
        push_affine(&mut v, &format!("{b}.mlp.fc"), vec![d_ff, d], c.bias);
        push_affine(&mut v, &format!("{b}.mlp.proj"), vec![d, d_ff], c.bias);
    }
    push_affine(&mut v, "ln_f", vec![d], c.bias);
    Some(v)
}

/// `prefix.weight` of `shape` (a layer norm's gain `(d)` or a linear layer's `(out, in)`), and
/// `prefix.bias` `(out)` when the model has biases.
fn push_affine(v: &mut Vec<(String, Vec<usize>)>, prefix: &str, shape: Vec<usize>, bias: bool) {
    let out = shape[0];
    v.push((format!("{prefix}.weight"), shape));
    if bias {
        v.push((format!("{prefix}.bias"), vec![out]));
    }
}

/// The bytes of the weights file for `model` with `meta`.
pub(crate) fn model_bytes(model: &Gpt<f32>, meta: &ModelMeta) -> Result<Vec<u8>> {
    check_describes(&meta.config, &model.config)?;
    let n = meta.tokenizer.vocab_size();
    if n != meta.config.vocab_size {
        return Err(Error::Config(format!(
            "checkpoint vocabulary has {n} {} tokens but vocab_size is {}",
            meta.tokenizer.kind(),
            meta.config.vocab_size
        )));
    }
    let mut metadata = meta.to_metadata();
    metadata.extend(style_entries(&model.style()));
    format::encode_parameters(model, metadata)
}

/// Loads a model and its metadata from a run directory or a weights file (see [`resolve`]).
///
/// Every way a file can be wrong is an [`Error::Checkpoint`] naming the file and the problem:
/// not a safetensors file, truncated, another format or version, missing metadata, an invalid
/// configuration, a vocabulary of the wrong size, a missing or extra tensor, a tensor of the
/// wrong dtype or shape. No byte sequence makes it panic.
///
/// ```no_run
/// let (model, meta) = gradlab::checkpoint::load_model("out".as_ref())?;
/// println!("step {} of {}, {} tokens", meta.step, meta.source, meta.tokenizer.vocab_size());
/// # Ok::<(), gradlab::Error>(())
/// ```
pub fn load_model(ckpt: &Path) -> Result<(Gpt<f32>, ModelMeta)> {
    let path = resolve(ckpt)?;
    super::check_read_memory(&path, 2, "loading the checkpoint")?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    model_from_bytes(&bytes, &path)
}

/// [`load_model`] on bytes already in memory; `path` names them in errors.
pub(crate) fn model_from_bytes(bytes: &[u8], path: &Path) -> Result<(Gpt<f32>, ModelMeta)> {
    let file = format::parse(bytes, path)?;
    if file.format_name() == Some(super::encdec::FORMAT) {
        return Err(file.error("this is an encoder-decoder checkpoint (train --model encdec), not a GPT one"));
    }
    let meta = ModelMeta::from_file(&file)?;
    let style = style_from_file(&file)?;
    // Each layer has tensors of its own: a layer count beyond the file's tensor count cannot fit,
    // and listing its names would take as long as the count is large.
    if meta.config.n_layer > file.tensors.len() {
        return Err(file.error(format!(
            "the config has {} layers but the file holds only {} tensors",
            meta.config.n_layer,
            file.tensors.len()
        )));
    }
    let expected = expected_parameters(&meta.config)
        .ok_or_else(|| file.error("the config's sizes overflow this machine's usize"))?;
    file.check_tensors(&expected)?;

    // Every tensor is in the file with the right shape, so building the model allocates no more
    // than the file holds.
    let model = Gpt::<f32>::with_style(meta.config, style, meta.seed);
    let params = model.named_parameters();
    let layout_matches = params.len() == expected.len()
        && params.iter().zip(&expected).all(|((n, p), (en, es))| n == en && p.shape() == *es);
    if !layout_matches {
        // Only a change to the transformer crate's parameter names can get here.
        return Err(file.error("this program's GPT no longer has the parameter layout of checkpoint format 1"));
    }
    file.set_parameters(&params)?;
    Ok((model, meta))
}
