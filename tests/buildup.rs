//! The build-up from bigram to GPT (`gradlab buildup`): every stage is causal, and the recorded
//! run (`docs/buildup.json`) is what the code gives today. The test re-runs all six stages with
//! the recorded settings and compares each final validation loss with the record; the chart
//! (`docs/img/buildup.svg`) and the tables in `docs/results.md` and the guide's chapter 11 must be
//! exactly what the record renders to.
//!
//! To update the record after changing a stage:
//! `cargo run --release -- buildup --out-dir docs && mv docs/buildup.svg docs/img/buildup.svg`,
//! then paste the printed table into `docs/results.md` and the chapter.

use std::path::Path;

use gradlab::buildup::{self, BuildupConfig, BuildupResults, STAGES, Stage, averaging_matrix};
use gradlab::tensor::rng_from_seed;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn recorded() -> BuildupResults {
    let text = std::fs::read_to_string(repo("docs/buildup.json")).expect("docs/buildup.json exists");
    serde_json::from_str(&text).expect("docs/buildup.json parses")
}

/// Changing the token at position `p` changes no logit before `p`, in every stage: no stage can
/// see the future (the averaging matrix and every attention mask are lower-triangular).
#[test]
fn every_stage_is_causal() {
    let (vocab, t) = (11, 8);
    for stage in STAGES {
        let model = stage.model(vocab, t, 16, 4, &mut rng_from_seed(3));
        let ids: Vec<usize> = (0..t).map(|i| (i * 7 + 2) % vocab).collect();
        let base = model.forward(&ids, [1, t]).value().to_vec();
        for p in 0..t {
            let mut changed = ids.clone();
            changed[p] = (changed[p] + 1) % vocab;
            let out = model.forward(&changed, [1, t]).value().to_vec();
            assert_eq!(&out[..p * vocab], &base[..p * vocab], "stage {} sees position {p} early", stage.number());
            assert_ne!(&out[p * vocab..], &base[p * vocab..], "stage {} ignores position {p}", stage.number());
        }
    }
}

#[test]
fn the_averaging_matrix_averages_the_past() {
    let w = averaging_matrix(4).to_vec();
    assert_eq!(&w[..4], &[1.0, 0.0, 0.0, 0.0]);
    assert_eq!(&w[4..8], &[0.5, 0.5, 0.0, 0.0]);
    assert_eq!(&w[12..], &[0.25; 4]);
}

#[test]
fn stage_numbers_round_trip() {
    for (i, stage) in STAGES.iter().enumerate() {
        assert_eq!(stage.number(), i + 1);
        assert_eq!(Stage::from_number(i + 1), Some(*stage));
    }
    assert_eq!(Stage::from_number(0), None);
    assert_eq!(Stage::from_number(7), None);
}

/// The recorded final losses reproduce. The tolerance covers only floating-point differences
/// between CPUs (another vector width sums in another order, and training amplifies the last
/// bits); any change to a model, the data or the settings moves a loss by far more.
#[test]
fn the_recorded_run_reproduces() {
    let record = recorded();
    assert_eq!(record.config, BuildupConfig::default(), "docs/buildup.json was made with other settings");
    let fresh = buildup::run(&STAGES, &record.config, false).unwrap();
    assert_eq!(fresh.stages.len(), record.stages.len());
    for (f, r) in fresh.stages.iter().zip(&record.stages) {
        assert_eq!((f.stage, &f.name, f.parameters), (r.stage, &r.name, r.parameters));
        let (now, then) = (f.final_val(), r.final_val());
        assert!((now - then).abs() < 0.03, "stage {}: val loss {now:.4} now, {then:.4} recorded", f.stage);
    }
}

#[test]
fn the_chart_is_drawn_from_the_record() {
    let drawn = buildup::chart_svg(&recorded()).unwrap();
    let committed = std::fs::read_to_string(repo("docs/img/buildup.svg")).unwrap();
    assert!(
        drawn == committed,
        "docs/img/buildup.svg is not the chart of docs/buildup.json: regenerate it (see the top of this file)"
    );
}

#[test]
fn the_results_page_and_the_guide_quote_the_record() {
    let table = buildup::markdown_table(&recorded());
    for page in ["docs/results.md", "docs/guide/11-from-bigram-to-gpt.md"] {
        let text = std::fs::read_to_string(repo(page)).unwrap();
        assert!(text.contains(&table), "{page} does not hold the recorded table:\n{table}");
    }
}

/// What chapter 11 says of the record: averaging with fixed weights is worse than the bigram;
/// from one attention head on, each stage beats the one before; the GPT block leads from the
/// first evaluation after step 0 on.
#[test]
fn the_chapter_claims_hold_in_the_record() {
    let record = recorded();
    let last: Vec<f64> = record.stages.iter().map(|s| s.final_val()).collect();
    assert!(last[1] > last[0], "averaging should be worse than the bigram: {last:?}");
    assert!(last[2] < last[0] && last[2] < last[1], "{last:?}");
    assert!(last[3] < last[2] && last[4] < last[3] && last[5] < last[4], "{last:?}");
    for i in 1..record.stages[5].val_curve.len() {
        let block = record.stages[5].val_curve[i].1;
        for other in &record.stages[..5] {
            assert!(block < other.val_curve[i].1, "stage {} beats the block at evaluation {i}", other.stage);
        }
    }
}
