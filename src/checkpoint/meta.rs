//! What a weights file says about itself: the model's configuration, its tokenizer and where it
//! came from, stored as strings in the safetensors metadata. The GPT's format is here, with the
//! entries and checks that the encoder-decoder's format ([`super::encdec`]) shares.
//!
//! ```text
//! "format":  "gradlab-gpt"          "version": "1"
//! "config":  {"vocab_size":65,"block_size":64,"n_layer":4,"n_head":4,"n_embd":128,"dropout":"0.1","bias":true}
//! "vocab":   "\n !$&',-.3:;?ABC..."  (a JSON string: the tokenizer's characters in id order)
//! "step": "5000"   "seed": "1337"   "source": "data:input.txt"
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use transformer::GptConfig;

use super::format::Parsed;
use crate::error::{Error, Result};

/// The weights file's format name and version.
pub(crate) const FORMAT: &str = "gradlab-gpt";
pub(crate) const VERSION: &str = "1";

/// Everything needed to rebuild the model and its tokenizer, plus provenance.
///
/// ```
/// use gradlab::checkpoint::ModelMeta;
/// use gradlab::transformer::GptConfig;
/// let config = GptConfig { vocab_size: 3, block_size: 8, n_layer: 1, n_head: 1, n_embd: 4, dropout: 0.0, bias: true };
/// let meta = ModelMeta { config, vocab: "abc".into(), step: 0, seed: 1, source: "task:sort".into() };
/// assert_eq!(meta.vocab.chars().count(), meta.config.vocab_size);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    /// The model's hyperparameters.
    pub config: GptConfig,
    /// The tokenizer's characters in id order (`config.vocab_size` of them, all distinct).
    pub vocab: String,
    /// Optimizer steps taken when the checkpoint was written.
    pub step: usize,
    /// The seed the run started from.
    pub seed: u64,
    /// What the model was trained on: `"task:<name>"` or `"data:<path>"`.
    pub source: String,
}

/// The JSON form of [`GptConfig`], named as nanoGPT's `GPTConfig` (the transformer crate stays
/// free of serde).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigJson {
    vocab_size: usize,
    block_size: usize,
    n_layer: usize,
    n_head: usize,
    n_embd: usize,
    dropout: ExactF64,
    bias: bool,
}

/// An `f64` written as its shortest decimal string. serde_json's default number parser is not
/// correctly rounded (its `float_roundtrip` feature is off), so about one random f64 in ten
/// would come back one ulp off; `str::parse` is exact. A plain JSON number is accepted too, for
/// hand-written files.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ExactF64 {
    Text(String),
    Number(f64),
}

impl ExactF64 {
    fn value(&self) -> Option<f64> {
        match self {
            ExactF64::Text(s) => s.trim().parse().ok(),
            ExactF64::Number(x) => Some(*x),
        }
    }
}

/// The configuration as one line of JSON.
pub(crate) fn config_to_json(c: &GptConfig) -> String {
    let j = ConfigJson {
        vocab_size: c.vocab_size,
        block_size: c.block_size,
        n_layer: c.n_layer,
        n_head: c.n_head,
        n_embd: c.n_embd,
        dropout: ExactF64::Text(c.dropout.to_string()),
        bias: c.bias,
    };
    serde_json::to_string(&j).expect("a struct of numbers and strings always serializes")
}

/// The metadata entries of a weights file of format `format`, version `version`: the model's
/// configuration `config` (one line of JSON), then what every checkpoint records besides it, the
/// tokenizer's characters `vocab` and the provenance (`step`, `seed`, `source`).
pub(crate) fn metadata_entries(
    (format, version): (&str, &str),
    config: String,
    vocab: &str,
    step: usize,
    seed: u64,
    source: &str,
) -> HashMap<String, String> {
    let vocab = serde_json::to_string(vocab).expect("a string always serializes");
    [
        ("format", format.to_string()),
        ("version", version.to_string()),
        ("config", config),
        ("vocab", vocab),
        ("step", step.to_string()),
        ("seed", seed.to_string()),
        ("source", source.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The tokenizer's characters from the `"vocab"` entry of a weights file (a JSON string), checked
/// to be as many as each of `sizes` (the configuration's name for a vocabulary size, and its
/// value) and all distinct.
pub(crate) fn vocab_from_file(file: &Parsed<'_>, sizes: &[(&str, usize)]) -> Result<String> {
    let vocab: String = serde_json::from_str(file.meta("vocab")?)
        .map_err(|e| file.error(format!("metadata \"vocab\" is not a JSON string: {e}")))?;
    let n = vocab.chars().count();
    if sizes.iter().any(|&(_, size)| size != n) {
        let said: Vec<String> = sizes.iter().map(|(name, size)| format!("{name} {size}")).collect();
        return Err(file.error(format!("the vocabulary has {n} characters but the config says {}", said.join(" and "))));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(c) = vocab.chars().find(|c| !seen.insert(*c)) {
        return Err(file.error(format!("the vocabulary lists character {c:?} twice")));
    }
    Ok(vocab)
}

/// Checks that checkpoint metadata describing a model of configuration `described` is saved with a
/// model that was `built` with that configuration.
pub(crate) fn check_describes<C: PartialEq + std::fmt::Debug>(described: &C, built: &C) -> Result<()> {
    if described != built {
        return Err(Error::Config(format!(
            "checkpoint metadata describes {described:?} but the model was built with {built:?}"
        )));
    }
    Ok(())
}

impl ModelMeta {
    /// The metadata entries of a weights file.
    pub(crate) fn to_metadata(&self) -> HashMap<String, String> {
        let config = config_to_json(&self.config);
        metadata_entries((FORMAT, VERSION), config, &self.vocab, self.step, self.seed, &self.source)
    }

    /// Reads and checks the metadata of a weights file: format, version, a valid configuration
    /// and a vocabulary of `vocab_size` distinct characters.
    pub(crate) fn from_file(file: &Parsed<'_>) -> Result<Self> {
        file.check_format(FORMAT, VERSION)?;
        let config = parse_config(file)?;
        let vocab = vocab_from_file(file, &[("vocab_size", config.vocab_size)])?;
        Ok(ModelMeta {
            config,
            vocab,
            step: file.meta_parse("step")?,
            seed: file.meta_parse("seed")?,
            source: file.meta("source")?.to_string(),
        })
    }
}

fn parse_config(file: &Parsed<'_>) -> Result<GptConfig> {
    let text = file.meta("config")?;
    let j: ConfigJson = serde_json::from_str(text)
        .map_err(|e| file.error(format!("metadata \"config\" is not a valid config: {e}")))?;
    let dropout = j.dropout.value().ok_or_else(|| file.error("config \"dropout\" is not a number"))?;
    let config = GptConfig {
        vocab_size: j.vocab_size,
        block_size: j.block_size,
        n_layer: j.n_layer,
        n_head: j.n_head,
        n_embd: j.n_embd,
        dropout,
        bias: j.bias,
    };
    config.validate().map_err(|e| file.error(format!("invalid config: {e}")))?;
    Ok(config)
}
