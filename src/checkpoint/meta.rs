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
//!
//! A model trained on byte-level BPE tokens carries its tokenizer whole, as the two files
//! Hugging Face and `gradlab tokenizer` write, in place of `"vocab"`:
//!
//! ```text
//! "tokenizer":  "bpe"
//! "bpe_vocab":  "{\"!\":0,\"\\\"\":1,...}"   (the text of vocab.json)
//! "bpe_merges": "#version: 0.2\nĠ t\n..."   (the text of merges.txt)
//! ```
//!
//! A file without `"tokenizer"` is a character model, so checkpoints written before BPE load
//! unchanged, and a character model's file is exactly what it was.
//!
//! A model that computes otherwise than nanoGPT's (its [`GptStyle`], e.g. an imported GPT-2)
//! says so in two entries, each written only when it differs from [`GptStyle::default`], so every
//! other checkpoint is byte for byte what it was and one without them loads as the default:
//!
//! ```text
//! "activation":     "gelu_tanh"   (GPT-2's "gelu_new"; absent means "gelu_erf", nanoGPT's nn.GELU())
//! "layer_norm_eps": "0.00001"     (shortest decimal; absent means 1e-5)
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use transformer::{Activation, GptConfig, GptStyle};

use super::format::Parsed;
use crate::data::{CharTokenizer, Tokenizer};
use crate::error::{Error, Result};
use crate::tokenizer::BpeTokenizer;

/// The weights file's format name and version.
pub(crate) const FORMAT: &str = "gradlab-gpt";
pub(crate) const VERSION: &str = "1";

/// Everything needed to rebuild the model and its tokenizer, plus provenance.
///
/// ```
/// use gradlab::checkpoint::ModelMeta;
/// use gradlab::data::{CharTokenizer, Tokenizer};
/// use gradlab::transformer::GptConfig;
/// let config = GptConfig { vocab_size: 3, block_size: 8, n_layer: 1, n_head: 1, n_embd: 4, dropout: 0.0, bias: true };
/// let tokenizer = Tokenizer::Char(CharTokenizer::from_corpus("abc"));
/// let meta = ModelMeta { config, tokenizer, step: 0, seed: 1, source: "task:sort".into() };
/// assert_eq!(meta.tokenizer.vocab_size(), meta.config.vocab_size);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    /// The model's hyperparameters.
    pub config: GptConfig,
    /// The tokenizer (`config.vocab_size` tokens): characters, or byte-level BPE.
    pub tokenizer: Tokenizer,
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
        match &self.tokenizer {
            Tokenizer::Char(tok) => {
                metadata_entries((FORMAT, VERSION), config, &tok.vocab_string(), self.step, self.seed, &self.source)
            }
            Tokenizer::Bpe(tok) => {
                let mut entries = metadata_entries((FORMAT, VERSION), config, "", self.step, self.seed, &self.source);
                entries.remove("vocab");
                entries.insert("tokenizer".into(), "bpe".into());
                entries.insert("bpe_vocab".into(), tok.vocab_json());
                entries.insert("bpe_merges".into(), tok.merges_txt());
                entries
            }
        }
    }

    /// Reads and checks the metadata of a weights file: format, version, a valid configuration
    /// and a tokenizer of `vocab_size` tokens (distinct characters, or a BPE that parses).
    pub(crate) fn from_file(file: &Parsed<'_>) -> Result<Self> {
        file.check_format(FORMAT, VERSION)?;
        let config = parse_config(file)?;
        let tokenizer = tokenizer_from_file(file, config.vocab_size)?;
        Ok(ModelMeta {
            config,
            tokenizer,
            step: file.meta_parse("step")?,
            seed: file.meta_parse("seed")?,
            source: file.meta("source")?.to_string(),
        })
    }
}

/// The tokenizer a GPT's weights file records: characters (no `"tokenizer"` entry, or `"char"`)
/// or byte-level BPE (`"bpe"`, with `"bpe_vocab"` and `"bpe_merges"`), of `vocab_size` tokens.
fn tokenizer_from_file(file: &Parsed<'_>, vocab_size: usize) -> Result<Tokenizer> {
    let kind = file.meta_optional("tokenizer").unwrap_or("char");
    match kind {
        "char" => {
            let vocab = vocab_from_file(file, &[("vocab_size", vocab_size)])?;
            Ok(Tokenizer::Char(CharTokenizer::from_chars(vocab.chars().collect())))
        }
        "bpe" => {
            let tok = BpeTokenizer::from_hf_text(file.meta("bpe_vocab")?, file.meta("bpe_merges")?).map_err(|e| {
                file.error(format!("metadata \"bpe_vocab\" and \"bpe_merges\" are not a BPE tokenizer: {e}"))
            })?;
            if tok.vocab_size() != vocab_size {
                return Err(file.error(format!(
                    "the BPE tokenizer has {} tokens but the config says vocab_size {vocab_size}",
                    tok.vocab_size()
                )));
            }
            Ok(Tokenizer::Bpe(Box::new(tok)))
        }
        other => Err(file.error(format!("metadata \"tokenizer\" is {other:?}, expected \"char\" or \"bpe\""))),
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

/// The metadata entries that record `style`: `"activation"` and `"layer_norm_eps"`, each only
/// when it differs from [`GptStyle::default`] (see the module documentation).
pub(crate) fn style_entries(style: &GptStyle) -> Vec<(String, String)> {
    let default = GptStyle::default();
    let mut entries = Vec::new();
    if style.activation != default.activation {
        entries.push(("activation".to_string(), activation_name(style.activation).to_string()));
    }
    if style.layer_norm_eps != default.layer_norm_eps {
        entries.push(("layer_norm_eps".to_string(), style.layer_norm_eps.to_string()));
    }
    entries
}

/// The name of a GPT's activation in checkpoint metadata.
pub(crate) fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::GeluErf => "gelu_erf",
        Activation::GeluTanh => "gelu_tanh",
        Activation::Relu => "relu",
    }
}

/// The [`GptStyle`] a weights file records in its optional `"activation"` and `"layer_norm_eps"`
/// entries, the default where one is absent; an error for a value this program cannot compute.
pub(crate) fn style_from_file(file: &Parsed<'_>) -> Result<GptStyle> {
    let mut style = GptStyle::default();
    if let Some(name) = file.meta_optional("activation") {
        style.activation = match name {
            "gelu_erf" => Activation::GeluErf,
            "gelu_tanh" => Activation::GeluTanh,
            other => {
                return Err(
                    file.error(format!("metadata \"activation\" is {other:?}, expected \"gelu_erf\" or \"gelu_tanh\""))
                );
            }
        };
    }
    if let Some(text) = file.meta_optional("layer_norm_eps") {
        style.layer_norm_eps = text
            .parse()
            .map_err(|_| file.error(format!("metadata \"layer_norm_eps\" is {text:?}, expected a number")))?;
    }
    style.validate().map_err(|e| file.error(format!("invalid metadata: {e}")))?;
    Ok(style)
}
