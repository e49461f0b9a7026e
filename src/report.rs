//! What a training run leaves in its out dir besides checkpoints and logs: the loss curve and an
//! attention heatmap of one sample (every layer and head).

use std::path::PathBuf;

use autograd::no_grad;
use transformer::Gpt;

use crate::data::{Dataset, Split};
use crate::error::Result;
use crate::plot::{LossPoint, attention_heatmap, loss_curve};
use crate::train::{LossLog, MetricsLog, TrainConfig};

/// File name of the loss plot.
pub const LOSS_PLOT: &str = "loss.svg";
/// File name of the attention heatmap.
pub const ATTENTION_PLOT: &str = "attention.svg";

/// Draws `loss.svg` from the loss and metrics logs (every step's training loss, and the
/// evaluations) and `attention.svg` from one sample; returns their paths.
///
/// Both logs hold the whole run, a resumed one included, and nothing that depends on timing, so
/// a resumed run draws the same `loss.svg` as one that never stopped.
pub fn write_plots(cfg: &TrainConfig, model: &Gpt<f32>, data: &Dataset) -> Result<Vec<PathBuf>> {
    let steps: Vec<(usize, f64)> =
        LossLog::read_all(&cfg.out_dir)?.into_iter().map(|r| (r.step, f64::from(r.loss))).collect();
    let points: Vec<LossPoint> = MetricsLog::read_all(&cfg.out_dir)?
        .into_iter()
        .map(|r| LossPoint { step: r.step, train_loss: r.train_loss, val_loss: r.val_loss })
        .collect();
    let loss_path = cfg.out_dir.join(LOSS_PLOT);
    loss_curve(&loss_path, &steps, &points, &format!("loss: {}", data.name()))?;

    // One sample: a held-out line of the task, or the start of the validation text.
    let ids: Vec<usize> = match data {
        Dataset::Task(t) => {
            let digits = t.held_out_examples(1, &mut tensor::rng_from_seed(cfg.seed))[0].clone();
            let line = format!("{}{}", t.task.prompt(&digits), t.task.answer(&digits));
            let ids = t.tokenizer.encode(&line).expect("task alphabet covers its lines");
            ids[..ids.len() - 1].to_vec()
        }
        Dataset::Text(t) => t.tokens(Split::Val)[..cfg.block_size.min(32)].to_vec(),
    };
    model.set_training(false);
    no_grad(|| model.forward(&ids, [1, ids.len()]));
    model.set_training(true);
    let tokens: Vec<String> = ids.iter().map(|&i| data.tokenizer().decode(&[i])).collect();
    let attn_path = cfg.out_dir.join(ATTENTION_PLOT);
    attention_heatmap(
        &attn_path,
        &model.attention_maps(),
        &tokens,
        "attention weights (rows: queries, columns: keys)",
    )?;
    Ok(vec![loss_path, attn_path])
}
