//! What a training run draws in its out dir besides checkpoints and logs: the loss curve, and
//! heatmaps of the attention of one sample (every layer and head), under fixed file names.
//!
//! Who owns what: a training loop ([`crate::train::train`] for the GPT,
//! [`crate::train::encdec::train_encdec`] for the encoder-decoder) owns the model, the data and
//! the logs. When the run ends, the loop reads its logs into plain numbers ([`LossHistory`]),
//! picks a sample, asks the model for that sample's attention maps
//! ([`transformer::Gpt::attention_maps`], [`transformer::Transformer::attention_maps`]) and hands
//! numbers, maps and token labels to the functions here. This module only names the files and
//! draws them (through [`crate::plot`]): it knows neither the training loop nor its logs, so
//! the dependency runs one way, `train -> report -> plot`.

use std::path::{Path, PathBuf};

use tensor::Tensor;
use transformer::AttentionMaps;

use crate::error::Result;
use crate::plot::{LossPoint, attention_heatmap, attention_heatmap_qk, loss_curve};

/// File name of the loss plot.
pub const LOSS_PLOT: &str = "loss.svg";
/// File name of a GPT's attention heatmap.
pub const ATTENTION_PLOT: &str = "attention.svg";
/// File names of an encoder-decoder's three attention heatmaps: encoder self-attention, decoder
/// (masked) self-attention, cross-attention.
pub const ENCDEC_ATTENTION_PLOTS: [&str; 3] = ["attention_encoder.svg", "attention_decoder.svg", "attention_cross.svg"];

/// A run's losses as plain numbers: every step's training loss, and the evaluations.
#[derive(Clone, Debug, Default)]
pub struct LossHistory {
    /// `(step, training loss)` of every step taken.
    pub steps: Vec<(usize, f64)>,
    /// The evaluations: training and validation loss at some steps.
    pub evals: Vec<LossPoint>,
}

/// Draws [`LOSS_PLOT`] in `out_dir` from `history`, titled `title`; returns its path.
///
/// # Errors
/// As [`loss_curve`]: nothing finite to plot, or the file cannot be written.
pub fn write_loss_plot(out_dir: &Path, history: &LossHistory, title: &str) -> Result<PathBuf> {
    let path = out_dir.join(LOSS_PLOT);
    loss_curve(&path, &history.steps, &history.evals, title)?;
    Ok(path)
}

/// Draws [`ATTENTION_PLOT`] in `out_dir`: a GPT's self-attention on one sample, `maps[layer]` of
/// shape `(1, h, T, T)`, with the sample's `tokens` (`T` of them) as labels; returns its path.
///
/// # Errors
/// As [`attention_heatmap`].
pub fn write_attention_plot(out_dir: &Path, maps: &[Tensor<f32>], tokens: &[String]) -> Result<PathBuf> {
    let path = out_dir.join(ATTENTION_PLOT);
    attention_heatmap(&path, maps, tokens, "attention weights (rows: queries, columns: keys)")?;
    Ok(path)
}

/// Draws [`ENCDEC_ATTENTION_PLOTS`] in `out_dir`: an encoder-decoder's attention on one
/// teacher-forced example, `maps` with a batch of one, labelled with the `source` tokens (`S`)
/// and the decoder's `target` input tokens (`T`); `prompt` names the example in the titles.
/// Returns the three paths.
///
/// # Errors
/// As [`attention_heatmap_qk`].
pub fn write_encdec_attention_plots(
    out_dir: &Path,
    maps: &AttentionMaps<f32>,
    source: &[String],
    target: &[String],
    prompt: &str,
) -> Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = ENCDEC_ATTENTION_PLOTS.iter().map(|f| out_dir.join(f)).collect();
    attention_heatmap(&paths[0], &maps.encoder, source, &format!("encoder self-attention on {prompt}"))?;
    attention_heatmap(&paths[1], &maps.decoder, target, &format!("decoder masked self-attention on {prompt}"))?;
    attention_heatmap_qk(
        &paths[2],
        &maps.cross,
        target,
        source,
        &format!("cross-attention on {prompt} (rows: decoder positions, columns: source)"),
    )?;
    Ok(paths)
}
