//! Encoder-decoder checkpoints: the same two files as a GPT's ([`super::save`]), with the weights
//! file marked `"format": "gradlab-encdec"` and the model's own configuration.
//!
//! ```text
//! "format": "gradlab-encdec"   "version": "1"
//! "config": {"src_vocab":11,"tgt_vocab":11,"d_model":64,"n_head":4,"d_ff":256,
//!            "n_encoder_layers":2,"n_decoder_layers":2,"max_len":6,"dropout":"0.1",
//!            "tie_weights":false,"norm":"post"}
//! "vocab", "step", "seed", "source"   as for a GPT
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use transformer::{Module, NormPlacement, Transformer, TransformerConfig};

use super::format;
use super::meta::{check_describes, metadata_entries, vocab_from_file};
use super::{TrainState, resolve, save_files};
use crate::error::{Error, Result};

/// The weights file's format name for an encoder-decoder.
pub(crate) const FORMAT: &str = "gradlab-encdec";
const VERSION: &str = "1";

/// Which model a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// The decoder-only GPT (`train`, the default).
    Gpt,
    /// The encoder-decoder Transformer (`train --model encdec`).
    EncDec,
}

impl ModelKind {
    /// `gpt` or `encdec`, as `train --model` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gpt => "gpt",
            ModelKind::EncDec => "encdec",
        }
    }
}

/// Which model the checkpoint `ckpt` (a run's out dir or its weights file) holds, from its
/// metadata alone.
///
/// # Errors
/// [`Error::Checkpoint`] if the file is missing, not a safetensors file, or of neither format.
pub fn model_kind(ckpt: &Path) -> Result<ModelKind> {
    let path = resolve(ckpt)?;
    // Its callers load the model next: refuse one that cannot fit before reading it once.
    super::check_read_memory(&path, 2, "loading the checkpoint")?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    let file = format::parse(&bytes, &path)?;
    match file.format_name() {
        Some(super::meta::FORMAT) => Ok(ModelKind::Gpt),
        Some(FORMAT) => Ok(ModelKind::EncDec),
        other => Err(file.error(format!("not a gradlab checkpoint (format {other:?})"))),
    }
}

/// What an encoder-decoder weights file says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct EncDecMeta {
    /// The model's hyperparameters.
    pub config: TransformerConfig,
    /// The tokenizer's characters in id order (source and target share it).
    pub vocab: String,
    /// Optimizer steps taken when the checkpoint was written.
    pub step: usize,
    /// The seed the run started from.
    pub seed: u64,
    /// What the model was trained on: `"task:<name>"`.
    pub source: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigJson {
    src_vocab: usize,
    tgt_vocab: usize,
    d_model: usize,
    n_head: usize,
    d_ff: usize,
    n_encoder_layers: usize,
    n_decoder_layers: usize,
    max_len: usize,
    /// Shortest decimal string of the f64 (`str::parse` reads it back exactly).
    dropout: String,
    tie_weights: bool,
    norm: String,
}

fn config_json(c: &TransformerConfig) -> String {
    let j = ConfigJson {
        src_vocab: c.src_vocab,
        tgt_vocab: c.tgt_vocab,
        d_model: c.d_model,
        n_head: c.n_head,
        d_ff: c.d_ff,
        n_encoder_layers: c.n_encoder_layers,
        n_decoder_layers: c.n_decoder_layers,
        max_len: c.max_len,
        dropout: c.dropout.to_string(),
        tie_weights: c.tie_weights,
        norm: norm_name(c.norm).into(),
    };
    serde_json::to_string(&j).expect("a struct of numbers and strings always serializes")
}

/// `pre` or `post`, as the configuration JSON and `train --norm` spell a norm placement.
pub(crate) fn norm_name(norm: NormPlacement) -> &'static str {
    match norm {
        NormPlacement::Pre => "pre",
        NormPlacement::Post => "post",
    }
}

/// Checks a configuration the way `Transformer::new` needs it, naming the first problem.
pub fn validate_encdec_config(c: &TransformerConfig) -> std::result::Result<(), String> {
    let positive = [
        ("src_vocab", c.src_vocab),
        ("tgt_vocab", c.tgt_vocab),
        ("d_model", c.d_model),
        ("n_head", c.n_head),
        ("d_ff", c.d_ff),
        ("n_encoder_layers", c.n_encoder_layers),
        ("n_decoder_layers", c.n_decoder_layers),
        ("max_len", c.max_len),
    ];
    if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(format!("{name} must be at least 1"));
    }
    if !c.d_model.is_multiple_of(c.n_head) {
        return Err(format!("d_model {} is not divisible by n_head {}", c.d_model, c.n_head));
    }
    if !(0.0..1.0).contains(&c.dropout) {
        return Err(format!("dropout must be in [0, 1), got {}", c.dropout));
    }
    Ok(())
}

fn to_metadata(meta: &EncDecMeta) -> HashMap<String, String> {
    let config = config_json(&meta.config);
    metadata_entries((FORMAT, VERSION), config, &meta.vocab, meta.step, meta.seed, &meta.source)
}

/// Saves an encoder-decoder and (optionally) its train state into `out_dir`, atomically, as
/// [`super::save`] does for a GPT.
///
/// # Errors
/// [`Error::Config`] if `meta` does not describe `model`; I/O errors as [`super::save`].
pub fn save_encdec(
    out_dir: &Path,
    model: &Transformer<f32>,
    meta: &EncDecMeta,
    state: Option<&TrainState>,
) -> Result<()> {
    check_describes(&meta.config, &model.config)?;
    let weights = format::encode_parameters(model, to_metadata(meta))?;
    save_files(out_dir, model, weights, state)
}

/// Loads an encoder-decoder checkpoint (a run's out dir or its weights file), checking the format,
/// the configuration, the vocabulary and every tensor's name, shape and values.
///
/// # Errors
/// [`Error::Checkpoint`] naming the file and what is wrong with it (a GPT checkpoint included).
pub fn load_encdec(ckpt: &Path) -> Result<(Transformer<f32>, EncDecMeta)> {
    let path = resolve(ckpt)?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    let file = format::parse(&bytes, &path)?;
    if file.format_name() == Some(super::meta::FORMAT) {
        return Err(file.error("this is a GPT checkpoint, not an encoder-decoder one (train --model encdec)"));
    }
    file.check_format(FORMAT, VERSION)?;
    let j: ConfigJson = serde_json::from_str(file.meta("config")?)
        .map_err(|e| file.error(format!("metadata \"config\" is not a valid encoder-decoder config: {e}")))?;
    let dropout: f64 = j.dropout.trim().parse().map_err(|_| file.error("config \"dropout\" is not a number"))?;
    let norm = match j.norm.as_str() {
        "pre" => NormPlacement::Pre,
        "post" => NormPlacement::Post,
        other => return Err(file.error(format!("config \"norm\" is {other:?}, expected \"pre\" or \"post\""))),
    };
    let config = TransformerConfig {
        src_vocab: j.src_vocab,
        tgt_vocab: j.tgt_vocab,
        d_model: j.d_model,
        n_head: j.n_head,
        d_ff: j.d_ff,
        n_encoder_layers: j.n_encoder_layers,
        n_decoder_layers: j.n_decoder_layers,
        max_len: j.max_len,
        dropout,
        tie_weights: j.tie_weights,
        norm,
    };
    validate_encdec_config(&config).map_err(|e| file.error(format!("invalid config: {e}")))?;
    // A layer count far beyond the tensors in the file would only build a huge model to refuse it.
    if config.n_encoder_layers + config.n_decoder_layers > file.tensors.len() {
        return Err(file.error(format!(
            "the config has {} layers but the file holds only {} tensors",
            config.n_encoder_layers + config.n_decoder_layers,
            file.tensors.len()
        )));
    }
    let vocab = vocab_from_file(&file, &[("src_vocab", config.src_vocab), ("tgt_vocab", config.tgt_vocab)])?;
    let seed = file.meta_parse("seed")?;
    let model = Transformer::<f32>::new(config, seed);
    let params = model.named_parameters();
    let expected: Vec<(String, Vec<usize>)> = params.iter().map(|(n, p)| (n.clone(), p.shape())).collect();
    file.check_tensors(&expected)?;
    file.set_parameters(&params)?;
    let meta =
        EncDecMeta { config, vocab, step: file.meta_parse("step")?, seed, source: file.meta("source")?.to_string() };
    Ok((model, meta))
}
