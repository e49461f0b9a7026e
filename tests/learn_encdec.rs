//! The encoder-decoder learns a built-in task with the paper's recipe (`gradlab::seq2seq`): with
//! the default settings it reverses six digits it never saw in training, at least 99% exact match
//! over 200 held-out prompts. (Run in release, like every learning test.)

use gradlab::data::Task;
use gradlab::seq2seq::{Seq2SeqConfig, train_seq2seq};

#[test]
fn the_encoder_decoder_learns_to_reverse() {
    let report = train_seq2seq(Task::Reverse, &Seq2SeqConfig::default()).unwrap();
    let first = report.losses[..20].iter().sum::<f32>() / 20.0;
    let last = report.losses[report.losses.len() - 20..].iter().sum::<f32>() / 20.0;
    eprintln!(
        "reverse: loss {first:.3} -> {last:.3}, held-out exact match {:.1}% after {:.1} s of training",
        100.0 * report.accuracy(),
        report.train_seconds
    );
    for g in report.graded.iter().filter(|g| !g.correct()).take(5) {
        eprintln!("  wrong: {}{} (expected {})", g.prompt, g.output, g.expected);
    }
    assert!(last < first, "the loss did not fall: {first} -> {last}");
    assert!(report.accuracy() >= 0.99, "held-out exact match {:.3}", report.accuracy());
}
