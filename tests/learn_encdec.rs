//! The encoder-decoder learns a built-in task with the paper's recipe: `train --model encdec --task
//! reverse` with its defaults ([`Seq2SeqConfig::default`]) reverses six digits it never saw in
//! training, at least 99% exact match over 200 held-out prompts. (Run in release, like every
//! learning test.)

use gradlab::data::Task;
use gradlab::seq2seq::Seq2SeqConfig;
use gradlab::train::encdec::{EncDecRunConfig, train_encdec};
use gradlab::train::{LossLog, StepLoss};

mod common;
use common::TempDir;

#[test]
fn the_encoder_decoder_learns_to_reverse() {
    let dir = TempDir::new("learn-encdec");
    let cfg = EncDecRunConfig {
        task: Task::Reverse,
        model: Seq2SeqConfig::default(),
        out_dir: dir.join("out"),
        eval_interval: 250,
        eval_iters: 10,
        resume: false,
        progress: false,
    };
    let report = train_encdec(&cfg).unwrap();
    let losses: Vec<f32> = LossLog::read_all(&cfg.out_dir).unwrap().iter().map(|l: &StepLoss| l.loss).collect();
    assert_eq!(losses.len(), cfg.model.max_iters);
    let first = losses[..20].iter().sum::<f32>() / 20.0;
    let last = losses[losses.len() - 20..].iter().sum::<f32>() / 20.0;
    eprintln!(
        "reverse: loss {first:.3} -> {last:.3}, held-out exact match {:.1}% after {:.1} s",
        100.0 * report.accuracy(),
        report.elapsed_s
    );
    for g in report.graded.iter().filter(|g| !g.correct()).take(5) {
        eprintln!("  wrong: {}{} (expected {})", g.prompt, g.output, g.expected);
    }
    assert!(last < first, "the loss did not fall: {first} -> {last}");
    assert!(report.accuracy() >= 0.99, "held-out exact match {:.3}", report.accuracy());
}
