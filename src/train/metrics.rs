//! What a run logs as it goes: one JSON line per evaluation in `OUT_DIR/metrics.jsonl`, and one
//! per optimizer step (its training loss) in `OUT_DIR/losses.jsonl`.
//!
//! Both are written when the loop evaluates, just before it saves the checkpoint, and both
//! survive `--resume` the same way: the lines up to the checkpoint's step are kept byte for byte,
//! the rest (written by a run that stopped before saving its checkpoint, or torn by a crash) are
//! dropped, and the resumed run appends from there. A resumed run therefore leaves the same loss
//! data as one that never stopped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the metrics log inside the out dir.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the per-step training loss log inside the out dir.
pub const LOSSES_FILE: &str = "losses.jsonl";

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
        let file = open_log(&path, append, "cannot open metrics log")?;
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
        keep_lines(&path, "cannot read metrics log", |line| {
            EvalRecord::from_json(line).is_some_and(|r| r.step <= step)
        })?;
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

/// The training loss of one optimizer step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLoss {
    /// Optimizer steps taken before this one: the loss is the model's after `step` updates, on the
    /// batch the next update is computed from (so `step` runs from 0 to `max_iters - 1`).
    pub step: usize,
    /// Mean training loss of the step's batch (over its micro-batches), as the optimizer saw it.
    pub loss: f32,
}

impl StepLoss {
    /// The JSON line `{"step":12,"loss":2.0871}`: the loss in the shortest form that reads back
    /// to the same `f32` bits (a non-finite loss as `null`).
    pub fn to_json(&self) -> String {
        let loss = serde_json::to_string(&self.loss).expect("a float always serializes");
        format!("{{\"step\":{},\"loss\":{loss}}}", self.step)
    }

    /// Parses a line written by [`StepLoss::to_json`] (`null` reads as NaN).
    pub fn from_json(line: &str) -> Option<StepLoss> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let loss = match v.get("loss")? {
            serde_json::Value::Null => f32::NAN,
            x => x.as_f64()? as f32,
        };
        Some(StepLoss { step: v.get("step")?.as_u64()? as usize, loss })
    }
}

/// Appends per-step training losses to the loss log, one line per optimizer step.
///
/// The losses are held in memory and written with each checkpoint ([`LossLog::flush`], called
/// when the loop evaluates), so the file always ends at a checkpoint: a run that stops, or
/// diverges, between two checkpoints leaves no lines that its resumed run would take again.
pub struct LossLog {
    file: File,
    path: PathBuf,
    pending: Vec<StepLoss>,
}

impl LossLog {
    /// Opens the log of a new run, truncated.
    pub fn open(out_dir: &Path) -> Result<Self> {
        let path = out_dir.join(LOSSES_FILE);
        let file = open_log(&path, false, "cannot open loss log")?;
        Ok(LossLog { file, path, pending: Vec::new() })
    }

    /// Opens the log of a run resuming at checkpoint step `step`, to append to it.
    ///
    /// The losses of steps `0..step` led to the checkpoint and are kept byte for byte; lines of
    /// step `step` or later (written by a run stopped after flushing them but before saving its
    /// checkpoint) and a line torn by a crash are dropped, since the resumed run takes those
    /// steps again. The file is rewritten (atomically) only when something must go, and created
    /// if missing.
    pub fn open_resumed(out_dir: &Path, step: usize) -> Result<Self> {
        let path = out_dir.join(LOSSES_FILE);
        keep_lines(&path, "cannot read loss log", |line| StepLoss::from_json(line).is_some_and(|r| r.step < step))?;
        let file = open_log(&path, true, "cannot open loss log")?;
        Ok(LossLog { file, path, pending: Vec::new() })
    }

    /// Holds one step's loss until the next [`LossLog::flush`] (dropped if there is none).
    pub fn push(&mut self, record: StepLoss) {
        self.pending.push(record);
    }

    /// Appends the held losses to the file, one line each, in a single write.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let lines: String = self.pending.drain(..).map(|r| r.to_json() + "\n").collect();
        self.file.write_all(lines.as_bytes()).map_err(|e| Error::io("cannot write loss log", &self.path, e))
    }

    /// Every record in a loss log, in file order (lines that do not parse are skipped).
    pub fn read_all(out_dir: &Path) -> Result<Vec<StepLoss>> {
        let path = out_dir.join(LOSSES_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read loss log", &path, e))?;
        Ok(text.lines().filter_map(StepLoss::from_json).collect())
    }
}

/// Opens a log file for writing: appended to, or truncated (`what` if it cannot be opened).
fn open_log(path: &Path, append: bool, what: &'static str) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| Error::io(what, path, e))
}

/// Keeps the complete lines of the log at `path` that `keep` accepts (given the line without its
/// newline), dropping the rest; rewrites the file atomically, and only if a line must go. A
/// missing file is left missing; one that cannot be read is the error `read_error`.
fn keep_lines(path: &Path, read_error: &'static str, keep: impl Fn(&str) -> bool) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(read_error, path, e))?;
    let kept: String =
        text.split_inclusive('\n').filter(|line| line.ends_with('\n') && keep(line.trim_end())).collect();
    if kept.len() != text.len() {
        crate::checkpoint::write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
}
