//! The train-state file: what a resumed run needs beyond the weights to continue bit for bit as if
//! it had never stopped, namely Adam's moments and step count and the two random streams.
//!
//! ```text
//! tensors:  m.<param>, v.<param>    (the shape of <param>, F32)
//! metadata: "format": "gradlab-train-state", "version": "1", "step", "adam_step",
//!           "data_rng.seed" (64 hex digits), "data_rng.stream", "data_rng.word_pos" (decimal),
//!           "dropout_rng.*" likewise, "weights_fnv1a64" (fingerprint of the weights file)
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use tensor::{Tensor, TensorRng};
use transformer::Module;

use super::format::{self, Parsed};
use super::{STATE_FILE, resolve};
use crate::error::{Error, Result};

const FORMAT: &str = "gradlab-train-state";
const VERSION: &str = "1";

/// Serializable state of a ChaCha8 generator ([`TensorRng`]): its key, stream and position.
///
/// ```
/// use gradlab::checkpoint::RngState;
/// use rand::Rng;
/// let mut rng = gradlab::tensor::rng_from_seed(7);
/// let _: u32 = rng.random(); // an odd number of words: mid-block
/// let saved = RngState::capture(&rng);
/// let mut resumed = saved.restore();
/// assert_eq!(rng.random::<u64>(), resumed.random::<u64>());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RngState {
    /// The 256-bit key.
    pub seed: [u8; 32],
    /// The stream (nonce).
    pub stream: u64,
    /// Position in the stream, in 32-bit words (a 68-bit number).
    pub word_pos: u128,
}

impl RngState {
    /// The state of `rng`, from which [`RngState::restore`] continues the same sequence.
    pub fn capture(rng: &TensorRng) -> Self {
        RngState { seed: rng.get_seed(), stream: rng.get_stream(), word_pos: rng.get_word_pos() }
    }

    /// A generator that produces exactly what the captured one would have produced next.
    pub fn restore(&self) -> TensorRng {
        let mut rng = TensorRng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }

    fn to_metadata(&self, prefix: &str, out: &mut HashMap<String, String>) {
        let hex: String = self.seed.iter().map(|b| format!("{b:02x}")).collect();
        out.insert(format!("{prefix}.seed"), hex);
        out.insert(format!("{prefix}.stream"), self.stream.to_string());
        out.insert(format!("{prefix}.word_pos"), self.word_pos.to_string());
    }

    fn from_file(file: &Parsed<'_>, prefix: &str) -> Result<Self> {
        let key = format!("{prefix}.seed");
        let hex = file.meta(&key)?;
        let seed = parse_hex32(hex).ok_or_else(|| file.error(format!("metadata \"{key}\" is not 64 hex digits")))?;
        Ok(RngState {
            seed,
            stream: file.meta_parse(&format!("{prefix}.stream"))?,
            word_pos: file.meta_parse(&format!("{prefix}.word_pos"))?,
        })
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let digits = s.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// Optimizer and RNG state for a bit-exact resume.
///
/// `m[i]` and `v[i]` are Adam's moments of the `i`-th parameter of `model.named_parameters()`,
/// with its shape (as [`transformer::optim::AdamW::moments`] returns them).
#[derive(Clone, Debug)]
pub struct TrainState {
    /// Training steps taken (the step to resume from).
    pub step: usize,
    /// Adam's step count `t` (for bias correction).
    pub adam_step: u64,
    /// First moments, one per parameter.
    pub m: Vec<Tensor<f32>>,
    /// Second moments, one per parameter.
    pub v: Vec<Tensor<f32>>,
    /// The batch sampler's generator.
    pub data_rng: RngState,
    /// The model's dropout generator.
    pub dropout_rng: RngState,
}

impl TrainState {
    /// The state of a run at optimizer step `step`: Adam's moments and step count, and the
    /// positions of its batch and dropout generators.
    pub fn capture(
        step: usize,
        opt: &transformer::optim::AdamW<f32>,
        data_rng: &TensorRng,
        dropout_rng: &TensorRng,
    ) -> Self {
        let groups = 0..opt.groups().len();
        TrainState {
            step,
            adam_step: opt.step_count(),
            m: groups.clone().map(|i| opt.moments(i).0.clone()).collect(),
            v: groups.map(|i| opt.moments(i).1.clone()).collect(),
            data_rng: RngState::capture(data_rng),
            dropout_rng: RngState::capture(dropout_rng),
        }
    }
}

/// The moment tensors' names and shapes for `model`: `m.<param>` for every parameter, then `v.<param>`.
fn expected_moments(model: &dyn Module<f32>) -> Vec<(String, Vec<usize>)> {
    let params = model.named_parameters();
    let named =
        |prefix: &str| params.iter().map(move |(n, p)| (format!("{prefix}.{n}"), p.shape())).collect::<Vec<_>>();
    let mut v = named("m");
    v.extend(named("v"));
    v
}

/// Writes the train-state file to `out`, one tensor at a time, tied to the weights file whose
/// bytes have `weights_fingerprint` ([`format::fingerprint`]). Call [`check_state`] first.
pub(crate) fn write_state(
    out: &mut impl std::io::Write,
    model: &dyn Module<f32>,
    state: &TrainState,
    weights_fingerprint: u64,
) -> std::io::Result<()> {
    let names = expected_moments(model);
    let moments = state.m.iter().chain(&state.v);
    let tensors: Vec<(String, &Tensor<f32>)> = names.into_iter().map(|(name, _)| name).zip(moments).collect();
    let mut meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("version", VERSION.to_string()),
        ("step", state.step.to_string()),
        ("adam_step", state.adam_step.to_string()),
        ("weights_fnv1a64", format!("{weights_fingerprint:016x}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    state.data_rng.to_metadata("data_rng", &mut meta);
    state.dropout_rng.to_metadata("dropout_rng", &mut meta);
    format::write_streamed(out, &tensors, meta)
}

/// Checks that `state` has one first and one second moment of the right shape for every parameter
/// of `model`, before [`write_state`] writes anything.
pub(crate) fn check_state(model: &dyn Module<f32>, state: &TrainState) -> Result<()> {
    let names = expected_moments(model);
    let moments: Vec<&Tensor<f32>> = state.m.iter().chain(&state.v).collect();
    if moments.len() != names.len() {
        return Err(Error::Config(format!(
            "train state has {} first and {} second moments for a model with {} parameters",
            state.m.len(),
            state.v.len(),
            names.len() / 2
        )));
    }
    if let Some(((name, shape), t)) = names.iter().zip(&moments).find(|((_, s), t)| t.shape() != s.as_slice()) {
        return Err(Error::Config(format!("train state tensor {name} has shape {:?}, expected {shape:?}", t.shape())));
    }
    Ok(())
}

/// Loads the train state saved beside the weights that `ckpt` resolves to (see [`resolve`]), for
/// `model` (the one [`super::load_model`] or [`super::load_encdec`] returned: it fixes the
/// moments' names and shapes).
///
/// The state must come from the same save as the weights: a state left over from another save
/// (say, an interrupted one) is refused rather than resumed with the wrong moments.
pub fn load_train_state(ckpt: &Path, model: &dyn Module<f32>) -> Result<TrainState> {
    let weights_path = resolve(ckpt)?;
    let path = state_path(&weights_path);
    if !path.is_file() {
        return Err(Error::checkpoint(
            &path,
            "no train state here: the run was saved without one, so it cannot resume",
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    let weights = std::fs::read(&weights_path).map_err(|e| Error::io("cannot read", &weights_path, e))?;
    let file = format::parse(&bytes, &path)?;
    file.check_format(FORMAT, VERSION)?;
    let expected_print = format!("{:016x}", format::fingerprint(&weights));
    if file.meta("weights_fnv1a64")? != expected_print {
        return Err(file.error(format!(
            "this train state was saved with other weights than {} (an interrupted save, or files from two runs)",
            weights_path.display()
        )));
    }
    let expected = expected_moments(model);
    file.check_tensors(&expected)?;
    let mut moments = expected.iter().map(|(name, _)| file.tensor(name)).collect::<Result<Vec<_>>>()?;
    let v = moments.split_off(moments.len() / 2);
    Ok(TrainState {
        step: file.meta_parse("step")?,
        adam_step: file.meta_parse("adam_step")?,
        m: moments,
        v,
        data_rng: RngState::from_file(&file, "data_rng")?,
        dropout_rng: RngState::from_file(&file, "dropout_rng")?,
    })
}

/// The train-state file beside a weights file.
pub(crate) fn state_path(weights: &Path) -> PathBuf {
    weights.parent().unwrap_or(Path::new(".")).join(STATE_FILE)
}
