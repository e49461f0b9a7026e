//! `import`: GPT-2's weights in Hugging Face's layout, or a nanoGPT checkpoint, written as this
//! program's checkpoint (`--out-dir`/model.safetensors, with the tokenizer in its metadata), which
//! `sample`, `eval`, `export` and `train --init-from` take like any other.
//!
//! ```text
//! gradlab import --format hf-gpt2 --from gpt2/ --out-dir gpt2-ckpt
//! gradlab import --format nanogpt --from ckpt.safetensors --out-dir ckpt --tokenizer bpe/   (or --chars input.txt)
//! ```
//! The mapping and the checks are [`crate::checkpoint::import_hf_gpt2`]'s and
//! [`crate::checkpoint::import_nanogpt`]'s. The checkpoint is a new file: an `--out-dir` that
//! already holds a checkpoint is refused before anything is read, and the weights are written to
//! a temp file and linked to their name, which fails rather than replace a file that appeared
//! meanwhile.

use std::path::Path;

use super::args::{ImportArgs, ImportFormat};
use crate::checkpoint::{self, MODEL_FILE, ModelMeta, STATE_FILE};
use crate::data::{CharTokenizer, Tokenizer, read_text_and_warn};
use crate::error::{Error, Result};
use crate::tokenizer::BpeTokenizer;

/// The refusal for an out dir that already has `name`.
fn exists_error(out: &Path, name: &str) -> Error {
    Error::Config(format!(
        "--out-dir {} already has {name}, which import never writes over; choose another directory or remove it",
        out.display()
    ))
}

/// `import`: reads the source, checks it, and writes the checkpoint.
pub fn run_import(a: &ImportArgs) -> Result<()> {
    for name in [MODEL_FILE, STATE_FILE] {
        if a.out_dir.join(name).symlink_metadata().is_ok() {
            return Err(exists_error(&a.out_dir, name));
        }
    }
    let (model, tokenizer, what) = match a.format {
        ImportFormat::HfGpt2 => {
            if a.tokenizer.is_some() || a.chars.is_some() {
                return Err(Error::Config(
                    "--tokenizer and --chars are for --format nanogpt; a Hugging Face GPT-2 directory has its own \
                     vocab.json and merges.txt"
                        .into(),
                ));
            }
            let (model, tok) = checkpoint::import_hf_gpt2(&a.from)?;
            (model, Tokenizer::Bpe(Box::new(tok)), "hf-gpt2")
        }
        ImportFormat::Nanogpt => {
            let tokenizer = match (&a.tokenizer, &a.chars) {
                (Some(dir), None) => Tokenizer::Bpe(Box::new(BpeTokenizer::load_hf_dir(dir)?)),
                (None, Some(text)) => {
                    let loaded = read_text_and_warn(text)?;
                    Tokenizer::Char(CharTokenizer::from_corpus(&loaded.text))
                }
                _ => {
                    return Err(Error::Config(
                        "--format nanogpt needs the model's tokenizer, which a nanoGPT checkpoint does not hold: \
                         --tokenizer DIR (a byte-level BPE's vocab.json and merges.txt) or --chars TEXT (the \
                         characters of the text a character model was trained on)"
                            .into(),
                    ));
                }
            };
            let model = checkpoint::import_nanogpt(&a.from)?;
            if tokenizer.vocab_size() != model.config.vocab_size {
                let from = match (&a.tokenizer, &a.chars) {
                    (Some(dir), _) => format!("--tokenizer {}", dir.display()),
                    (_, Some(text)) => format!("--chars {}", text.display()),
                    _ => unreachable!("one of the two was given"),
                };
                return Err(Error::Config(format!(
                    "the {} tokenizer of {from} has {} tokens but the checkpoint's vocab_size is {} (the rows of \
                     transformer.wte.weight); give the tokenizer the model was trained with",
                    tokenizer.kind(),
                    tokenizer.vocab_size(),
                    model.config.vocab_size
                )));
            }
            (model, tokenizer, "nanogpt")
        }
    };
    let meta =
        ModelMeta { config: model.config, tokenizer, step: 0, seed: 0, source: format!("{what}:{}", a.from.display()) };
    let bytes = checkpoint::model_bytes(&model, &meta)?;
    std::fs::create_dir_all(&a.out_dir).map_err(|e| Error::io("cannot create", &a.out_dir, e))?;
    let path = a.out_dir.join(MODEL_FILE);
    let temp = checkpoint::write_temp(&path, &bytes)?;
    if !checkpoint::commit_new(&temp, &path)? {
        return Err(exists_error(&a.out_dir, MODEL_FILE));
    }
    let c = model.config;
    println!(
        "imported {} ({} layers, {} heads, width {}, {} positions, {} {} tokens; {} parameters, {} GELU, \
         layer-norm eps {})",
        a.from.display(),
        c.n_layer,
        c.n_head,
        c.n_embd,
        c.block_size,
        c.vocab_size,
        meta.tokenizer.kind(),
        transformer::Module::num_parameters(&model),
        match model.style().activation {
            transformer::Activation::GeluTanh => "tanh",
            _ => "erf",
        },
        model.style().layer_norm_eps
    );
    println!("wrote {}", path.display());
    Ok(())
}
