//! One JSON line per evaluation in `OUT_DIR/metrics.jsonl`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the metrics log inside the out dir.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// One evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRecord {
    /// Optimizer steps taken.
    pub step: usize,
    /// Mean training loss over the evaluation batches.
    pub train_loss: f64,
    /// Mean validation loss over the evaluation batches.
    pub val_loss: f64,
    /// Learning rate at this step.
    pub lr: f64,
    /// Training throughput since the previous evaluation.
    pub tokens_per_sec: f64,
    /// Seconds since training started (this process).
    pub elapsed_s: f64,
}

impl EvalRecord {
    /// The JSON line (keys `step`, `train_loss`, `val_loss`, `lr`, `tokens_per_sec`, `elapsed_s`).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "step": self.step,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "lr": self.lr,
            "tokens_per_sec": self.tokens_per_sec,
            "elapsed_s": self.elapsed_s,
        })
        .to_string()
    }

    /// Parses a line written by [`EvalRecord::to_json`].
    pub fn from_json(line: &str) -> Option<EvalRecord> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        Some(EvalRecord {
            step: v["step"].as_u64()? as usize,
            train_loss: v["train_loss"].as_f64()?,
            val_loss: v["val_loss"].as_f64()?,
            lr: v["lr"].as_f64()?,
            tokens_per_sec: v["tokens_per_sec"].as_f64()?,
            elapsed_s: v["elapsed_s"].as_f64()?,
        })
    }
}

/// Appends evaluation records to the metrics file.
pub struct MetricsLog {
    file: File,
    path: PathBuf,
}

impl MetricsLog {
    /// Opens the log: truncated for a new run, appended to when resuming.
    pub fn open(out_dir: &Path, append: bool) -> Result<Self> {
        let path = out_dir.join(METRICS_FILE);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .map_err(|e| Error::io("cannot open metrics log", &path, e))?;
        Ok(MetricsLog { file, path })
    }

    /// Opens the log of a run resuming at checkpoint step `step`, to append to it.
    ///
    /// Records past `step` come from a run stopped after logging an evaluation but before saving
    /// its checkpoint; the resumed run evaluates those steps again, so they are dropped (as is a
    /// line torn by a crash mid-write) rather than duplicated. The records up to `step` are kept
    /// byte for byte; the file is rewritten (atomically) only when something must go.
    pub fn open_resumed(out_dir: &Path, step: usize) -> Result<Self> {
        let path = out_dir.join(METRICS_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read metrics log", &path, e))?;
            let kept: String = text
                .split_inclusive('\n')
                .filter(|line| {
                    line.ends_with('\n') && EvalRecord::from_json(line.trim_end()).is_some_and(|r| r.step <= step)
                })
                .collect();
            if kept.len() != text.len() {
                crate::checkpoint::write_atomic(&path, kept.as_bytes())?;
            }
        }
        Self::open(out_dir, true)
    }

    /// Writes one line and flushes it.
    pub fn write(&mut self, record: &EvalRecord) -> Result<()> {
        writeln!(self.file, "{}", record.to_json()).map_err(|e| Error::io("cannot write metrics log", &self.path, e))
    }

    /// Every record in a metrics file (lines that do not parse are skipped).
    pub fn read_all(out_dir: &Path) -> Result<Vec<EvalRecord>> {
        let path = out_dir.join(METRICS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read metrics log", &path, e))?;
        Ok(text.lines().filter_map(EvalRecord::from_json).collect())
    }
}
