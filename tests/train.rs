//! The training loop called as a library: bit-exact resume (with dropout, with gradient
//! accumulation, on a task and on text), the metrics log across a resume, determinism across
//! thread counts, and the embedded default actually learning.

use std::path::Path;

use gradlab::Error;
use gradlab::checkpoint::{load_model, load_train_state};
use gradlab::cli::{TrainArgs, train_config};
use gradlab::data::Task;
use gradlab::report::LOSS_PLOT;
use gradlab::train::{
    EvalRecord, LOSSES_FILE, LossLog, METRICS_FILE, MemoryEstimate, MetricsLog, Source, StepLoss, TrainConfig, train,
};
use gradlab::transformer::Module;

mod common;
use common::{TempDir, generated_text};

/// Small fast settings over `c`: 40 steps, an evaluation (and checkpoint) every 10.
fn tiny(mut c: TrainConfig) -> TrainConfig {
    c.n_layer = 1;
    c.n_head = 2;
    c.n_embd = 16;
    c.batch_size = 8;
    c.max_iters = 40;
    c.lr_decay_iters = 40;
    c.warmup_iters = 4;
    c.eval_interval = 10;
    c.eval_iters = 2;
    c.progress = false;
    c.threads = Some(2);
    c
}

fn bits(losses: &[f32]) -> Vec<u32> {
    losses.iter().map(|l| l.to_bits()).collect()
}

/// Every parameter of the checkpoint in `dir`, by name, as bit patterns.
fn parameter_bits(dir: &Path) -> Vec<(String, Vec<u32>)> {
    let (model, _) = load_model(dir).unwrap();
    model
        .named_parameters()
        .into_iter()
        .map(|(name, p)| (name, p.value().to_vec().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

fn steps(records: &[EvalRecord]) -> Vec<usize> {
    records.iter().map(|r| r.step).collect()
}

/// The checks shared by every resume test: the resumed losses, final parameters and evaluations
/// equal the uninterrupted run's, and the metrics log was appended to, without a repeated step.
fn assert_resume_is_bit_exact(cfg: &TrainConfig, name: &str) {
    let (dir_a, dir_b) = (TempDir::new(&format!("{name}-a")), TempDir::new(&format!("{name}-b")));
    let a = train(&TrainConfig { out_dir: dir_a.path().to_path_buf(), ..cfg.clone() }).unwrap();
    let b1 = train(&TrainConfig { out_dir: dir_b.path().to_path_buf(), max_iters: 20, ..cfg.clone() }).unwrap();
    let log_before = std::fs::read(dir_b.path().join(METRICS_FILE)).unwrap();
    let losses_before = std::fs::read(dir_b.path().join(LOSSES_FILE)).unwrap();
    let b2 = train(&TrainConfig { out_dir: dir_b.path().to_path_buf(), resume: true, ..cfg.clone() }).unwrap();

    assert_eq!(a.losses.len(), 40);
    assert_eq!(bits(&b1.losses), bits(&a.losses[..20]), "{name}: the same seed gives the same first 20 steps");
    assert_eq!((b2.start_step, b2.losses.len()), (20, 20), "{name}: the resumed run takes steps 20..40");
    assert_eq!(
        bits(&b2.losses),
        bits(&a.losses[20..]),
        "{name}: resumed losses {:?} vs {:?}",
        b2.losses,
        &a.losses[20..]
    );
    assert!(a.losses.iter().all(|l| l.is_finite()));
    // Dropout must really draw from its stream, or the test would not exercise restoring it.
    let (model, _) = load_model(dir_b.path()).unwrap();
    let state = load_train_state(dir_b.path(), &model).unwrap();
    assert!(
        state.dropout_rng.word_pos > 0 && state.data_rng.word_pos > 0,
        "{name}: word positions {} and {}",
        state.dropout_rng.word_pos,
        state.data_rng.word_pos
    );
    assert_eq!(parameter_bits(dir_b.path()), parameter_bits(dir_a.path()), "{name}: final parameters");

    // Appended, not truncated: the first run's lines are still there, byte for byte.
    let log_after = std::fs::read(dir_b.path().join(METRICS_FILE)).unwrap();
    assert!(log_after.starts_with(&log_before), "{name}: the metrics log was rewritten on resume");
    let (log_a, log_b) = (MetricsLog::read_all(dir_a.path()).unwrap(), MetricsLog::read_all(dir_b.path()).unwrap());
    assert_eq!(steps(&log_b), [0, 10, 20, 30, 40], "{name}: one record per evaluation, none repeated");
    assert_eq!(steps(&log_a), steps(&log_b));
    for (ra, rb) in log_a.iter().zip(&log_b) {
        let key = |r: &EvalRecord| (r.step, r.train_loss.to_bits(), r.val_loss.to_bits(), r.lr.to_bits());
        assert_eq!(key(ra), key(rb), "{name}: evaluation at step {}", ra.step);
    }
    assert_eq!(steps(&b2.evals), [30, 40], "{name}: the resumed run does not evaluate step 20 again");

    // Every step's loss is on disk, the resumed run's appended: the same bytes as the
    // uninterrupted run's, so the two draw the same loss curve.
    let losses_after = std::fs::read(dir_b.path().join(LOSSES_FILE)).unwrap();
    assert!(losses_after.starts_with(&losses_before), "{name}: the loss log was rewritten on resume");
    assert_eq!(losses_after, std::fs::read(dir_a.path().join(LOSSES_FILE)).unwrap(), "{name}: losses.jsonl");
    let logged = LossLog::read_all(dir_a.path()).unwrap();
    assert_eq!(logged.iter().map(|r| r.step).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>(), "{name}");
    assert_eq!(logged.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>(), bits(&a.losses), "{name}: logged losses");
    let plot = |dir: &Path| std::fs::read_to_string(dir.join(LOSS_PLOT)).unwrap();
    assert!(plot(dir_b.path()) == plot(dir_a.path()), "{name}: the resumed run drew another loss.svg");
}

#[test]
fn resume_is_bit_exact_with_dropout_on_a_task() {
    let cfg = TrainConfig { dropout: 0.1, ..tiny(TrainConfig::for_task(Task::Sort)) };
    assert_resume_is_bit_exact(&cfg, "task");
}

#[test]
fn resume_is_bit_exact_with_gradient_accumulation_on_text() {
    let data = TempDir::new("text-data");
    let path = data.path().join("words.txt");
    std::fs::write(&path, generated_text(12345)).unwrap();
    let cfg = TrainConfig {
        dropout: 0.1,
        gradient_accumulation_steps: 2,
        block_size: 16,
        ..tiny(TrainConfig::for_text(path))
    };
    assert_resume_is_bit_exact(&cfg, "text-accum");
}

/// A run stopped after logging an evaluation but before saving its checkpoint leaves a record
/// past the checkpoint's step (and perhaps a torn line): resuming must not repeat that step.
#[test]
fn resume_replaces_metrics_logged_after_the_checkpoint() {
    let dir = TempDir::new("stale-metrics");
    let cfg = TrainConfig { out_dir: dir.path().to_path_buf(), ..tiny(TrainConfig::for_task(Task::Copy)) };
    train(&TrainConfig { max_iters: 20, ..cfg.clone() }).unwrap();
    let log = dir.path().join(METRICS_FILE);
    let kept = std::fs::read(&log).unwrap();
    let mut text = String::from_utf8(kept.clone()).unwrap();
    let stale = EvalRecord { step: 30, train_loss: 9.0, val_loss: 9.0, lr: 0.0, tokens_per_sec: 0.0, elapsed_s: 0.0 };
    text.push_str(&format!("{}\n{{\"step\":4", stale.to_json()));
    std::fs::write(&log, text).unwrap();

    let resumed = train(&TrainConfig { resume: true, ..cfg }).unwrap();
    let records = MetricsLog::read_all(dir.path()).unwrap();
    assert_eq!(steps(&records), [0, 10, 20, 30, 40]);
    assert_eq!(records[3], resumed.evals[0], "step 30 is the resumed run's evaluation, not the stale one");
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(after.as_bytes().starts_with(&kept), "records up to the checkpoint are kept byte for byte");
    assert_eq!(after.lines().count(), 5, "no torn line left behind:\n{after}");
}

/// Rayon splits large matrix products by rows only, never a reduction, so the thread count must
/// not change a single bit. The model is big enough that its MLP products are split.
#[test]
fn losses_are_identical_with_one_and_two_threads() {
    let data = TempDir::new("threads-data");
    let path = data.path().join("words.txt");
    std::fs::write(&path, generated_text(12345)).unwrap();
    let run = |threads: usize| {
        let dir = TempDir::new(&format!("threads-{threads}"));
        let cfg = TrainConfig {
            n_embd: 64,
            n_head: 4,
            batch_size: 16,
            block_size: 32,
            dropout: 0.1,
            max_iters: 6,
            lr_decay_iters: 6,
            warmup_iters: 2,
            eval_interval: 6,
            eval_iters: 1,
            threads: Some(threads),
            out_dir: dir.path().to_path_buf(),
            ..tiny(TrainConfig::for_text(path.clone()))
        };
        // (B*T, d) x (d, 4d) = 2 * 512 * 64 * 256 flops: above the tensor crate's parallel threshold.
        assert!(2 * cfg.batch_size * cfg.block_size * cfg.n_embd * 4 * cfg.n_embd > 1 << 22);
        let report = train(&cfg).unwrap();
        (bits(&report.losses), parameter_bits(dir.path()))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.0.len(), 6);
    assert_eq!(one.0, two.0, "losses with 1 and 2 threads");
    assert_eq!(one.1, two.1, "final parameters with 1 and 2 threads");
}

/// `gradlab` with no arguments trains `TrainConfig::for_task(Task::Sort)` (about 35 s): check that
/// the command line gives exactly it and that it validates, then run its first 200 steps.
#[test]
fn the_default_validates_and_learns_in_its_first_200_steps() {
    let default = TrainConfig::for_task(Task::Sort);
    default.validate().unwrap();
    default.gpt_config(Task::Sort.alphabet().chars().count()).validate().unwrap();
    let from_cli = train_config(&TrainArgs { out_dir: "out".into(), ..Default::default() }).unwrap();
    assert_eq!(from_cli, default, "the no-argument command line trains the documented default");

    let dir = TempDir::new("default");
    let cfg = TrainConfig { out_dir: dir.path().to_path_buf(), max_iters: 200, progress: false, ..default };
    let report = train(&cfg).unwrap();
    let first = report.evals.first().unwrap();
    let last = report.evals.last().unwrap();
    assert_eq!((first.step, last.step), (0, 200));
    // Eleven symbols: about ln 11 = 2.4 at the start. Guessing answer digits by frequency alone
    // stays near ln 10 = 2.3; this run reaches about 0.07 (and 87% held-out exact match).
    assert!(first.val_loss > 2.0, "initial val loss {}", first.val_loss);
    assert!(last.val_loss < 0.3, "val loss after 200 steps {} (from {})", last.val_loss, first.val_loss);
    assert!(last.train_loss < 0.3, "train loss after 200 steps {}", last.train_loss);
    let accuracy = report.accuracy().unwrap();
    assert!(accuracy > 0.5, "held-out exact match after 200 steps {accuracy}");
}

/// A run stopped after its last checkpoint has logged the losses of steps past it (perhaps the
/// last line torn): resuming takes those steps again, so their lines go, and the log ends up as
/// an uninterrupted run's. An out dir without a loss log gets one, from the resumed step on.
#[test]
fn resume_replaces_step_losses_logged_after_the_checkpoint() {
    let (dir, straight) = (TempDir::new("stale-losses"), TempDir::new("stale-losses-straight"));
    let cfg = TrainConfig { out_dir: dir.path().to_path_buf(), ..tiny(TrainConfig::for_task(Task::Copy)) };
    train(&TrainConfig { out_dir: straight.path().to_path_buf(), ..cfg.clone() }).unwrap();
    train(&TrainConfig { max_iters: 20, ..cfg.clone() }).unwrap();
    let log = dir.path().join(LOSSES_FILE);
    let kept = std::fs::read(&log).unwrap();
    let mut text = String::from_utf8(kept.clone()).unwrap();
    for step in 20..24 {
        text.push_str(&format!("{}\n", StepLoss { step, loss: 9.0 }.to_json()));
    }
    text.push_str("{\"step\":24,\"lo");
    std::fs::write(&log, text).unwrap();

    let resumed = train(&TrainConfig { resume: true, ..cfg.clone() }).unwrap();
    let after = std::fs::read(&log).unwrap();
    assert!(after.starts_with(&kept), "the losses up to the checkpoint are kept byte for byte");
    assert_eq!(after, std::fs::read(straight.path().join(LOSSES_FILE)).unwrap(), "as if it had never stopped");
    let records = LossLog::read_all(dir.path()).unwrap();
    assert_eq!(records[20].loss, resumed.losses[0], "step 20 is the resumed run's, not the stale one");

    // No loss log (removed here): the resumed run starts one; the plot draws what there is.
    std::fs::remove_file(&log).unwrap();
    train(&TrainConfig { resume: true, max_iters: 50, lr_decay_iters: 50, ..cfg }).unwrap();
    let records = LossLog::read_all(dir.path()).unwrap();
    assert_eq!(records.iter().map(|r| r.step).collect::<Vec<_>>(), (40..50).collect::<Vec<_>>());
    assert!(dir.path().join(LOSS_PLOT).is_file());
}

/// The loss log is written with each checkpoint, so it always ends at the checkpoint's step: a
/// run that diverges leaves the finite losses of the steps up to it, never a `null`, and a
/// resumed run that diverges before its first checkpoint changes nothing.
#[test]
fn a_diverging_run_leaves_the_losses_up_to_its_checkpoint() {
    let dir = TempDir::new("diverge-losses");
    let cfg = TrainConfig { out_dir: dir.path().to_path_buf(), ..tiny(TrainConfig::for_task(Task::Sort)) };
    let diverging = TrainConfig { learning_rate: 1e30, eval_interval: 1, ..cfg.clone() };
    let ends_at_the_checkpoint = || {
        let text = std::fs::read_to_string(dir.path().join(LOSSES_FILE)).unwrap();
        assert!(!text.contains("null"), "{text}");
        let records = LossLog::read_all(dir.path()).unwrap();
        assert_eq!(records.len(), text.lines().count(), "every line parses:\n{text}");
        assert!(records.iter().all(|r| r.loss.is_finite()), "{records:?}");
        let (_, meta) = load_model(dir.path()).unwrap();
        assert_eq!(records.iter().map(|r| r.step).collect::<Vec<_>>(), (0..meta.step).collect::<Vec<_>>());
        text
    };

    match train(&diverging).unwrap_err() {
        Error::Diverged { step, loss, last_finite, saved, out_dir, .. } => {
            assert!(!loss.is_finite());
            assert_eq!(out_dir, dir.path());
            // The checkpoint of the last evaluation before the step that diverged is kept.
            assert!(saved.is_some_and(|s| s <= step), "{saved:?} {step}");
            if let Some((s, l)) = last_finite {
                assert!(s < step && l.is_finite());
            }
        }
        other => panic!("not a divergence: {other}"),
    }
    ends_at_the_checkpoint();

    train(&TrainConfig { max_iters: 20, ..cfg.clone() }).unwrap();
    let before = ends_at_the_checkpoint();
    assert_eq!(before.lines().count(), 20);
    // The next checkpoint would be at step 30: the run diverges before it.
    let err = train(&TrainConfig { resume: true, max_iters: 30, learning_rate: 1e30, ..cfg }).unwrap_err().to_string();
    assert!(err.contains("diverged"), "{err}");
    assert_eq!(ends_at_the_checkpoint(), before, "a resumed run that diverged changed the loss log");
}

/// A loss log line reads back to the same `f32` bits, however small the loss; a non-finite loss
/// is written as `null` (valid JSON) and reads back as NaN.
#[test]
fn step_loss_lines_round_trip() {
    for loss in [2.3336706f32, 1.0, 0.1, 8.802016e-5, 1e-30, f32::MIN_POSITIVE, 3.4e38] {
        let line = StepLoss { step: 7, loss }.to_json();
        let back = StepLoss::from_json(&line).unwrap();
        assert_eq!((back.step, back.loss.to_bits()), (7, loss.to_bits()), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2, "{line}");
    }
    assert_eq!(StepLoss { step: 0, loss: 2.5 }.to_json(), r#"{"step":0,"loss":2.5}"#);
    let nan = StepLoss { step: 3, loss: f32::NAN }.to_json();
    assert_eq!(nan, r#"{"step":3,"loss":null}"#);
    assert!(StepLoss::from_json(&nan).unwrap().loss.is_nan());
    // An evaluation record is not a step loss, nor is a torn line.
    assert!(StepLoss::from_json(r#"{"step":3,"train_loss":1.0}"#).is_none());
    assert!(StepLoss::from_json(r#"{"step":3,"lo"#).is_none());
}

/// The memory estimate counts exactly the parameters the models have (with and without biases),
/// grows with every size, and says `None` instead of overflowing.
#[test]
fn memory_estimate_counts_the_models_parameters_and_never_overflows() {
    use gradlab::transformer::{Gpt, GptConfig, NormPlacement, Transformer, TransformerConfig};
    for bias in [false, true] {
        let c = GptConfig { vocab_size: 13, block_size: 9, n_layer: 3, n_head: 2, n_embd: 8, dropout: 0.1, bias };
        let e = MemoryEstimate::gpt_training(&c, 4, 9).unwrap();
        assert_eq!(e.parameters, Gpt::<f32>::new(c, 0).num_parameters(), "bias {bias}");
        // Weights, gradients and Adam's two moments at the least.
        assert!(e.bytes > 16 * e.parameters);
        let eval = MemoryEstimate::gpt_evaluation(&c, 4, 9).unwrap();
        assert!(eval.bytes < e.bytes && eval.parameters == e.parameters);
        for bigger in [
            MemoryEstimate::gpt_training(&c, 5, 9),
            MemoryEstimate::gpt_training(&GptConfig { n_layer: 4, ..c }, 4, 9),
            MemoryEstimate::gpt_training(&GptConfig { n_embd: 10, ..c }, 4, 9),
        ] {
            assert!(bigger.unwrap().bytes > e.bytes);
        }
    }
    for norm in [NormPlacement::Post, NormPlacement::Pre] {
        let c = TransformerConfig {
            src_vocab: 13,
            tgt_vocab: 13,
            d_model: 8,
            n_head: 2,
            d_ff: 12,
            n_encoder_layers: 2,
            n_decoder_layers: 3,
            max_len: 7,
            dropout: 0.1,
            tie_weights: false,
            norm,
        };
        let e = MemoryEstimate::encdec_training(&c, 4, 7, 6).unwrap();
        let actual = Transformer::<f32>::new(c, 0).num_parameters();
        // Pre-LN has a final norm on each side (4 d), post-LN none: counted either way.
        assert!(e.parameters >= actual && e.parameters <= actual + 4 * 8, "{} vs {actual}", e.parameters);
    }
    let huge =
        GptConfig { vocab_size: 65, block_size: 64, n_layer: 4, n_head: 1, n_embd: 1 << 33, dropout: 0.0, bias: false };
    assert_eq!(MemoryEstimate::gpt_training(&huge, 12, 64), None, "(2^33)^2 x 12 overflows 64 bits");
    let wide = GptConfig { n_embd: 64, ..huge };
    assert_eq!(MemoryEstimate::gpt_training(&wide, usize::MAX, 64), None);
    assert!(MemoryEstimate::gpt_training(&wide, 1 << 30, 64).unwrap().bytes > 1 << 40);
}

/// A checkpoint's recorded data source matches the same file however the path is spelled, and
/// never a file standing in for a built-in text.
#[test]
fn a_source_matches_the_same_file_however_spelled() {
    let dir = TempDir::new("source-paths");
    std::fs::write(dir.join("a.txt"), "text").unwrap();
    std::fs::write(dir.join("b.txt"), "text").unwrap();
    let a = dir.join("a.txt");
    let recorded = Source::Text(a.clone()).describe();
    let dotted = dir.path().join(".").join("a.txt");
    assert!(Source::Text(dotted).is_recorded_as(&recorded));
    std::fs::create_dir(dir.join("sub")).unwrap();
    assert!(Source::Text(dir.path().join("sub").join("..").join("a.txt")).is_recorded_as(&recorded));
    assert!(!Source::Text(dir.join("b.txt")).is_recorded_as(&recorded));
    assert!(!Source::Text(dir.join("missing.txt")).is_recorded_as(&recorded));
    assert!(!Source::Task(Task::Sort).is_recorded_as(&recorded));
    assert!(Source::Task(Task::Sort).is_recorded_as("task:sort"));
    assert!(Source::Text("shakespeare".into()).is_recorded_as("data:shakespeare"));
    assert!(!Source::Text("shakespeare".into()).is_recorded_as("data:./shakespeare"));
    assert!(!Source::Text("./shakespeare".into()).is_recorded_as("data:shakespeare"));
}
