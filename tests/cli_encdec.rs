//! `gradlab train --model encdec` and the commands on its checkpoints, end to end, each test in a
//! fresh temp dir: what training writes, `--resume` bit for bit, `sample` (greedy, probabilities,
//! beam), `eval`, `gradcheck --model encdec`, `export` refused, and clear errors for every flag or
//! checkpoint of the other model, with nothing overwritten.

use std::path::Path;

use gradlab::checkpoint::{ModelKind, load_encdec, model_kind};
use gradlab::transformer::Module;

mod common;
use common::{TempDir, assert_error, fails, gradlab, logged_evaluations, parameter_bits, succeeds, text, train_args};

/// A small, fast encoder-decoder run on the reverse task (well under a second of training).
const TINY: [&str; 20] = [
    "train",
    "--model",
    "encdec",
    "--task",
    "reverse",
    "--n-embd",
    "16",
    "--n-head",
    "2",
    "--d-ff",
    "32",
    "--n-encoder-layers",
    "1",
    "--n-decoder-layers",
    "1",
    "--batch-size",
    "8",
    "--no-progress",
    "--eval-iters",
    "2",
];

fn train(dir: &Path, out: &str, extra: &[&str]) -> String {
    let mut args = TINY.to_vec();
    args.extend(["--out-dir", out]);
    args.extend_from_slice(extra);
    succeeds(dir, &args)
}

#[test]
fn train_writes_checkpoint_logs_loss_curve_and_three_attention_maps() {
    let dir = TempDir::new("encdec-train");
    let out = train(dir.path(), "out", &["--max-iters", "20", "--eval-interval", "10"]);
    assert!(out.contains("held-out exact match:") && out.contains("of 200 prompts"), "{out}");
    for f in [
        "model.safetensors",
        "train_state.safetensors",
        "metrics.jsonl",
        "losses.jsonl",
        "loss.svg",
        "attention_encoder.svg",
        "attention_decoder.svg",
        "attention_cross.svg",
    ] {
        assert!(dir.join("out").join(f).is_file(), "{f} missing");
    }
    assert_eq!(model_kind(&dir.join("out")).unwrap(), ModelKind::EncDec);
    let (model, meta) = load_encdec(&dir.join("out")).unwrap();
    assert_eq!((meta.step, meta.source.as_str(), model.config.d_model), (20, "task:reverse", 16));
    assert_eq!(std::fs::read_to_string(dir.join("out/metrics.jsonl")).unwrap().lines().count(), 3);
    assert_eq!(std::fs::read_to_string(dir.join("out/losses.jsonl")).unwrap().lines().count(), 20);
    // Cross-attention is (decoder positions x source positions): 6 x 6 cells per panel here, and
    // its title names the held-out prompt.
    let cross = std::fs::read_to_string(dir.join("out/attention_cross.svg")).unwrap();
    assert!(cross.contains("cross-attention on") && cross.contains("layer 0 head 1"));
}

#[test]
fn resume_is_bit_exact() {
    let dir = TempDir::new("encdec-resume");
    let run = |out: &str, iters: &str, resume: bool| {
        let mut extra = vec!["--max-iters", iters, "--eval-interval", "10", "--threads", "1"];
        if resume {
            extra.push("--resume");
        }
        train(dir.path(), out, &extra);
    };
    run("straight", "30", false);
    run("resumed", "10", false);
    run("resumed", "30", true);
    let weights = |out: &str| {
        let (model, meta) = load_encdec(&dir.join(out)).unwrap();
        (meta.step, parameter_bits(&model))
    };
    assert_eq!(weights("resumed"), weights("straight"));
    let read = |out: &str, f: &str| std::fs::read_to_string(dir.join(out).join(f)).unwrap();
    assert_eq!(read("resumed", "losses.jsonl"), read("straight", "losses.jsonl"));
    let evals = |out: &str| logged_evaluations(&dir.join(out).join("metrics.jsonl"));
    assert_eq!(evals("resumed"), evals("straight"));
    assert_eq!(evals("straight").len(), 4);
}

#[test]
fn sample_eval_gradcheck_and_export_on_an_encoder_decoder() {
    let dir = TempDir::new("encdec-commands");
    train(dir.path(), "out", &["--max-iters", "10", "--eval-interval", "10"]);
    let greedy = succeeds(dir.path(), &["sample", "--ckpt", "out", "--prompt", "123456<", "--temperature", "0"]);
    assert!(greedy.starts_with("123456<") && greedy.contains("(correct answer: 654321)"), "{greedy}");
    let answer: String = greedy.lines().next().unwrap().split_whitespace().next().unwrap()[7..].to_string();
    assert_eq!(answer.chars().count(), 6, "{greedy}");

    let probs = succeeds(
        dir.path(),
        &["sample", "--ckpt", "out", "--prompt", "123456<", "--temperature", "0", "--show-probs", "2"],
    );
    let rows: Vec<&str> = probs.lines().skip_while(|l| !l.starts_with("step  picked")).skip(1).collect();
    assert_eq!(rows.len(), 6, "{probs}");
    let picked: String =
        rows.iter().map(|r| r.split_whitespace().nth(1).unwrap().trim_matches('"').to_string()).collect();
    assert_eq!(picked, answer, "the table's picks are the greedy answer");

    let beam = succeeds(dir.path(), &["sample", "--ckpt", "out", "--prompt", "123456<", "--beam", "3"]);
    assert!(beam.contains("(beam width 3: log-probability -"), "{beam}");

    let eval = succeeds(dir.path(), &["eval", "--ckpt", "out"]);
    let v: serde_json::Value = serde_json::from_str(eval.trim()).unwrap();
    assert!(
        v["loss"].as_f64().unwrap().is_finite() && (0.0..=1.0).contains(&v["exact_match_held_out"].as_f64().unwrap())
    );

    let check = succeeds(dir.path(), &["gradcheck", "--model", "encdec"]);
    assert!(check.contains("every parameter of both passes") && check.contains("post-LN") && check.contains("pre-LN"));

    fails(
        dir.path(),
        &["export", "--ckpt", "out", "--format", "nanogpt", "--out", "gpt.safetensors"],
        &["encoder-decoder", "decoder-only"],
    );
    assert!(!dir.join("gpt.safetensors").exists());
    fails(dir.path(), &["eval", "--ckpt", "out", "--data", "shakespeare"], &["--data", "own task"]);
    fails(
        dir.path(),
        &["sample", "--ckpt", "out", "--prompt", "1234567890<"],
        &["at most 6 positions", "source of 10"],
    );
    fails(dir.path(), &["sample", "--ckpt", "out", "--prompt", "12a456<"], &["'a'"]);
}

#[test]
fn flags_and_checkpoints_of_the_other_model_are_refused() {
    let dir = TempDir::new("encdec-errors");
    train(dir.path(), "enc", &["--max-iters", "10", "--eval-interval", "10"]);
    let gpt = train_args(&["--task", "reverse", "--max-iters", "10", "--out-dir", "gpt"]);
    succeeds(dir.path(), &gpt);
    // An encoder-decoder flag on a GPT run, and a GPT flag on an encoder-decoder run.
    fails(
        dir.path(),
        &["train", "--task", "reverse", "--out-dir", "x", "--label-smoothing", "0.1", "--d-ff", "8"],
        &["--d-ff, --label-smoothing", "--model encdec"],
    );
    fails(
        dir.path(),
        &["train", "--model", "encdec", "--out-dir", "x", "--learning-rate", "0.1"],
        &["--learning-rate", "GPT"],
    );
    fails(dir.path(), &["train", "--model", "encdec", "--data", "shakespeare", "--out-dir", "x"], &["--data"]);
    // Settings no encoder-decoder can use, named in the error.
    for (flag, value, name) in
        [("--dropout", "1.5", "dropout"), ("--n-head", "3", "n_head"), ("--grad-clip", "-1", "--grad-clip")]
    {
        let args = ["train", "--model", "encdec", "--no-progress", "--out-dir", "x", flag, value];
        fails(dir.path(), &args, &[name, value]);
    }
    let out = gradlab(dir.path(), &["train", "--model", "transformer"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown --model");
    assert!(text(&out.stderr).contains("possible values: gpt, encdec"));
    // A GPT checkpoint resumed as an encoder-decoder, and the reverse.
    let mut resume_enc = TINY.to_vec();
    resume_enc.extend(["--out-dir", "gpt", "--resume", "--max-iters", "20"]);
    fails(dir.path(), &resume_enc, &["GPT checkpoint", "not an encoder-decoder"]);
    let resume_gpt = train_args(&["--task", "reverse", "--max-iters", "20", "--out-dir", "enc", "--resume"]);
    fails(dir.path(), &resume_gpt, &["encoder-decoder checkpoint", "not a GPT"]);
    assert!(!dir.join("x").exists());
}

/// The encoder-decoder's failures: a diverged run is its own error (step, last finite loss, the
/// checkpoint kept, the setting to lower); sizes that cannot fit in memory are refused before
/// anything is written; a checkpoint whose weights are finite but huge (NaN logits) is a clear
/// error for `sample` (every way of decoding) and `eval`, not a panic.
#[test]
fn divergence_sizes_and_huge_weights_are_clear_errors() {
    let dir = TempDir::new("encdec-failures");
    let mut diverging = TINY.to_vec();
    diverging.extend(["--out-dir", "div", "--lr-factor", "1e30", "--eval-interval", "1", "--max-iters", "50"]);
    let mentions = [
        "the last finite training loss was ",
        "the checkpoint in div is still the one of step ",
        "--lr-factor (it was 1e30)",
    ];
    let err = assert_error(1, &diverging, &gradlab(dir.path(), &diverging), &mentions);
    assert!(err.starts_with("error: training diverged at step "), "{err}");
    let (model, meta) = load_encdec(&dir.join("div")).unwrap();
    assert!(model.named_parameters().iter().all(|(_, p)| p.value().to_vec().iter().all(|x| x.is_finite())));
    assert!(err.contains(&format!("still the one of step {}.", meta.step)), "{err}");

    for (flag, value) in [("--n-embd", "10000000"), ("--batch-size", "100000000000"), ("--d-ff", "100000000000")] {
        let args =
            ["train", "--model", "encdec", "--task", "reverse", "--no-progress", "--out-dir", "big", flag, value];
        fails(dir.path(), &args, &["not enough memory", "training an encoder-decoder", value, "needs about "]);
        assert!(!dir.join("big").exists());
    }

    train(dir.path(), "out", &["--max-iters", "10", "--eval-interval", "10"]);
    let (model, meta) = load_encdec(&dir.join("out")).unwrap();
    for (_, p) in model.named_parameters() {
        p.update_value(|v| *v = v.mul_scalar(1e15)); // finite, but the forward pass overflows
        assert!(p.value().to_vec().iter().all(|x| x.is_finite()));
    }
    gradlab::checkpoint::save_encdec(&dir.join("huge"), &model, &meta, None).unwrap();
    let mentions = ["huge/model.safetensors", "NaN", "weights are finite but so large", "overflows f32"];
    for extra in [&["--temperature", "0"][..], &["--temperature", "1", "--show-probs", "2"], &["--beam", "3"]] {
        let mut args = vec!["sample", "--ckpt", "huge", "--prompt", "123456<"];
        args.extend_from_slice(extra);
        fails(dir.path(), &args, &mentions);
    }
    fails(dir.path(), &["eval", "--ckpt", "huge"], &["its loss on the val split of task reverse is NaN"]);
}
