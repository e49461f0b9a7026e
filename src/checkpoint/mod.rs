//! Checkpoints: a trained GPT's weights and tokenizer in one safetensors file, and in a second
//! file beside it the optimizer and random-stream state that lets training resume bit for bit.
//!
//! ```text
//! out/model.safetensors        every parameter (F32, named as model.named_parameters())
//!                              + metadata: config, tokenizer, step, seed, source
//! out/train_state.safetensors  Adam's m.<param> and v.<param> + step counts and RNG states
//! ```
//! Both files are written atomically ([`write_atomic`]): a crash mid-save leaves the previous
//! checkpoint readable. Loading checks everything and returns [`Error::Checkpoint`] for any file
//! it cannot use, whatever its bytes. [`export_nanogpt`] writes the weights in nanoGPT's layout;
//! [`import_hf_gpt2`] and [`import_nanogpt`] read GPT-2's weights in Hugging Face's layout and
//! nanoGPT's checkpoints back in (see [Import](#import) below, and `gradlab import`).
//!
//! # Import
//! An imported GPT-2 computes its GELU with the tanh approximation: the model records that in its
//! [`transformer::GptStyle`], and its weights file in the metadata entry `"activation"` (written
//! only when not nanoGPT's default, so every other checkpoint is unchanged).
//!
//! ```
//! use gradlab::checkpoint::{ModelMeta, load_model, save};
//! use gradlab::transformer::{Gpt, GptConfig};
//! let config = GptConfig { vocab_size: 3, block_size: 4, n_layer: 1, n_head: 1, n_embd: 4, dropout: 0.0, bias: true };
//! let model = Gpt::<f32>::new(config, 0);
//! let tokenizer = gradlab::data::Tokenizer::Char(gradlab::data::CharTokenizer::from_corpus("abc"));
//! let meta = ModelMeta { config, tokenizer, step: 10, seed: 0, source: "task:sort".into() };
//! let dir = std::env::temp_dir().join(format!("gradlab-doc-ckpt-{}", std::process::id()));
//! save(&dir, &model, &meta, None)?;
//! let (loaded, loaded_meta) = load_model(&dir)?;
//! assert_eq!(loaded_meta, meta);
//! assert_eq!(loaded.wte.weight.value().to_vec(), model.wte.weight.value().to_vec());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), gradlab::Error>(())
//! ```

mod atomic;
mod encdec;
mod export;
mod format;
pub mod import;
mod meta;
mod model;
mod state;

use std::path::{Path, PathBuf};

use transformer::Gpt;

pub(crate) use atomic::commit_new;
use atomic::write_temp_with;
pub use atomic::{commit_temp, write_atomic, write_temp};
pub(crate) use encdec::norm_name;
pub use encdec::{EncDecMeta, ModelKind, load_encdec, model_kind, save_encdec, validate_encdec_config};
pub use export::export_nanogpt;
pub use import::{HF_GPT2_FILES, import_hf_gpt2, import_nanogpt};
pub use meta::ModelMeta;
pub use model::load_model;
pub(crate) use model::model_bytes;
pub use state::{RngState, TrainState, load_train_state};

use crate::error::{Error, Result};

/// Refuses to read the weights file `path` when `copies` copies of its size (its bytes, the model
/// built from them, and whatever else the caller keeps at once) do not fit in the memory
/// available; `what` says what is being done with it, for the message. Checked from the file's
/// size alone, before a byte is read, so a model too large for the machine is refused up front
/// instead of aborting in the allocator. A file whose size cannot be read is left to the read
/// to report.
///
/// # Errors
/// [`Error::TooLarge`], saying how much it would need and how much the machine has.
pub(crate) fn check_read_memory(path: &Path, copies: usize, what: &str) -> Result<()> {
    let Ok(len) = std::fs::metadata(path).map(|m| m.len()) else {
        return Ok(());
    };
    let bytes = usize::try_from(len).ok().and_then(|len| len.checked_mul(copies));
    crate::train::check_memory(bytes.map(|bytes| crate::train::MemoryEstimate { parameters: 0, bytes }), || {
        format!(
            "{what} {} ({} on disk, held {copies} times over: the file's bytes, the model built from them{})",
            path.display(),
            crate::error::human_bytes(len),
            if copies > 2 { " and the checkpoint written" } else { "" }
        )
    })
}

/// The weights file in a run's output directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// The train-state file, beside the weights.
pub const STATE_FILE: &str = "train_state.safetensors";

/// Saves `model` with `meta` to `out_dir/`[`MODEL_FILE`] and, when given, `state` to
/// `out_dir/`[`STATE_FILE`], creating `out_dir` if needed.
///
/// Both files are serialized before either is replaced, and the weights are replaced last: a
/// crash in between leaves the previous weights with a new train state, which
/// [`load_train_state`] recognises as not theirs. Returns [`Error::Config`] if `meta` does not
/// describe `model` or `state` does not fit it, and [`Error::Io`] if a file cannot be written.
pub fn save(out_dir: &Path, model: &Gpt<f32>, meta: &ModelMeta, state: Option<&TrainState>) -> Result<()> {
    let weights = model::model_bytes(model, meta)?;
    save_files(out_dir, model, weights, state)
}

/// Writes the weights file's `weights` and, given a `state`, the train-state file tied to them,
/// each atomically, the weights last (the part [`save`] and [`save_encdec`] share).
pub(crate) fn save_files(
    out_dir: &Path,
    model: &dyn transformer::Module<f32>,
    weights: Vec<u8>,
    state: Option<&TrainState>,
) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io("cannot create directory", out_dir, e))?;
    if let Some(s) = state {
        state::check_state(model, s)?;
    }
    let fingerprint = format::fingerprint(&weights);
    let model_path = out_dir.join(MODEL_FILE);
    let model_temp = write_temp(&model_path, &weights)?;
    // The weights are on disk: let their bytes go before the larger train state is written, which
    // goes out one tensor at a time (a 124M model's moments are 1 GB; holding them serialized
    // would put the save's peak memory far above training's).
    drop(weights);
    if let Some(s) = state {
        let state_path = out_dir.join(STATE_FILE);
        let committed = write_temp_with(&state_path, |out| state::write_state(out, model, s, fingerprint))
            .and_then(|temp| commit_temp(&temp, &state_path));
        if let Err(e) = committed {
            let _ = std::fs::remove_file(&model_temp);
            return Err(e);
        }
    }
    commit_temp(&model_temp, &model_path)
}

/// The weights file that `--ckpt <ckpt>` names: `ckpt/`[`MODEL_FILE`] if `ckpt` is a directory
/// (a run's output), `ckpt` itself if it is a file. An error if neither exists.
pub fn resolve(ckpt: &Path) -> Result<PathBuf> {
    if ckpt.is_dir() {
        let file = ckpt.join(MODEL_FILE);
        if file.is_file() {
            return Ok(file);
        }
        return Err(Error::checkpoint(
            ckpt,
            format!("the directory has no {MODEL_FILE} (is it a run's output directory?)"),
        ));
    }
    if ckpt.is_file() {
        return Ok(ckpt.to_path_buf());
    }
    Err(Error::checkpoint(ckpt, "no such file or directory"))
}
