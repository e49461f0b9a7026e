//! Fine-tuning: `train --init-from CKPT --data TEXT` starts from a saved GPT's weights on a new
//! text, with the checkpoint's model and tokenizer and a fresh step counter, schedule and
//! optimizer; flags that contradict the checkpoint, a character the checkpoint's tokenizer
//! lacks, `--resume` and tasks are refused before anything is written.

use gradlab::checkpoint::load_model;
use gradlab::data::Tokenizer;

mod common;
use common::{TempDir, fails, generated_text, logged_evaluations, parameter_bits, succeeds, train_args};

/// Tiny settings that do not touch the model's shape: a fine-tuning run of `--init-from a` on
/// `b.txt` into `ft`, except the flags `extra` sets.
fn fine_tune<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let base = [
        ("--init-from", "a"),
        ("--data", "b.txt"),
        ("--out-dir", "ft"),
        ("--max-iters", "6"),
        ("--eval-interval", "3"),
        ("--eval-iters", "2"),
        ("--batch-size", "8"),
    ];
    let mut args = vec!["train", "--no-progress"];
    args.extend(base.iter().filter(|(f, _)| !extra.contains(f)).flat_map(|&(f, v)| [f, v]));
    args.extend_from_slice(extra);
    args
}

/// A directory with `a.txt` and `b.txt` (different texts over the same characters) and a tiny
/// character model trained on `a.txt` in `a`.
fn trained_on_a(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    std::fs::write(dir.join("a.txt"), generated_text(3)).unwrap();
    std::fs::write(dir.join("b.txt"), generated_text(4)).unwrap();
    succeeds(dir.path(), &train_args(&["--data", "a.txt", "--block-size", "16", "--out-dir", "a", "--max-iters", "8"]));
    dir
}

#[test]
fn fine_tuning_starts_from_the_checkpoint_with_a_fresh_run() {
    let dir = trained_on_a("init-from");
    let (a, a_meta) = load_model(&dir.join("a")).unwrap();
    assert_eq!(a_meta.step, 8);

    // No step at all: the new checkpoint holds exactly the weights it started from.
    let out = succeeds(dir.path(), &fine_tune(&["--max-iters", "0", "--out-dir", "zero"]));
    assert!(out.contains("initialised from a (step 8 of a run on a.txt)"), "{out}");
    let (zero, zero_meta) = load_model(&dir.join("zero")).unwrap();
    assert_eq!(parameter_bits(&zero), parameter_bits(&a));
    assert_eq!(zero_meta.config, a_meta.config);
    assert_eq!(zero_meta.tokenizer, a_meta.tokenizer);
    assert_eq!((zero_meta.step, zero_meta.source.as_str()), (0, "data:b.txt"));
    let start = logged_evaluations(&dir.join("zero/metrics.jsonl"));
    assert_eq!(start.len(), 1);

    // Six steps, with dropout: the step counter starts at 0, the first evaluation is of the
    // checkpoint's weights (the same as above), the schedule starts from its beginning, and the
    // weights move.
    let out = succeeds(dir.path(), &fine_tune(&["--dropout", "0.1"]));
    assert!(out.contains("training a 1-layer GPT"), "{out}");
    let evals = logged_evaluations(&dir.join("ft/metrics.jsonl"));
    assert_eq!(evals.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 3, 6]);
    assert_eq!(evals[0], start[0]);
    let losses = std::fs::read_to_string(dir.join("ft/losses.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(losses.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], 0);
    let lr_at = |metrics: &str| -> f64 {
        let line = std::fs::read_to_string(dir.join(metrics)).unwrap();
        serde_json::from_str::<serde_json::Value>(line.lines().next().unwrap()).unwrap()["lr"].as_f64().unwrap()
    };
    assert_eq!(lr_at("ft/metrics.jsonl"), lr_at("a/metrics.jsonl"));
    let (ft, ft_meta) = load_model(&dir.join("ft")).unwrap();
    assert_eq!(ft_meta.step, 6);
    assert_eq!(ft_meta.config.dropout, 0.1);
    assert_eq!(ft_meta.config, gradlab::transformer::GptConfig { dropout: 0.1, ..a_meta.config });
    assert_ne!(parameter_bits(&ft), parameter_bits(&a));
    // The checkpoint it started from is untouched.
    assert_eq!(parameter_bits(&load_model(&dir.join("a")).unwrap().0), parameter_bits(&a));

    // The result samples, evaluates, and resumes as any run does.
    let sample = succeeds(dir.path(), &["sample", "--ckpt", "ft", "--max-new-tokens", "30", "--prompt", "the"]);
    assert!(sample.starts_with("the"), "{sample}");
    succeeds(dir.path(), &["eval", "--ckpt", "ft", "--data", "b.txt"]);
    let resume = [
        "train",
        "--no-progress",
        "--data",
        "b.txt",
        "--out-dir",
        "ft",
        "--resume",
        "--max-iters",
        "9",
        "--eval-interval",
        "3",
        "--eval-iters",
        "2",
        "--batch-size",
        "8",
        "--n-layer",
        "1",
        "--n-embd",
        "16",
        "--n-head",
        "2",
        "--block-size",
        "16",
        "--dropout",
        "0.1",
    ];
    succeeds(dir.path(), &resume);
    assert_eq!(load_model(&dir.join("ft")).unwrap().1.step, 9);
}

#[test]
fn flags_that_contradict_the_checkpoint_are_refused() {
    let dir = trained_on_a("init-from-flags");
    let refused: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (fine_tune(&["--n-layer", "2"]), vec!["--n-layer is fixed by the checkpoint of --init-from a"]),
        (
            fine_tune(&["--n-embd", "32", "--n-head", "4", "--block-size", "8", "--bias"]),
            vec!["--n-head, --n-embd, --bias are fixed", "--dropout and a shorter --block-size may be set"],
        ),
        (fine_tune(&["--tokenizer", "bpe", "--vocab-size", "300"]), vec!["--tokenizer, --vocab-size are fixed"]),
        (fine_tune(&["--resume"]), vec!["--init-from a", "--resume", "choose one"]),
        (fine_tune(&["--out-dir", "a"]), vec!["--init-from a is the checkpoint in --out-dir a", "write over"]),
        (fine_tune(&["--out-dir", "./a/"]), vec!["write over"]),
        (fine_tune(&["--init-from", "nowhere"]), vec!["nowhere"]),
        (fine_tune(&["--data", "missing.txt"]), vec!["missing.txt"]),
    ];
    for (args, mentions) in &refused {
        fails(dir.path(), args, mentions);
    }
    // A task, the encoder-decoder, or no text at all.
    let task = ["train", "--init-from", "a", "--task", "sort", "--out-dir", "ft"];
    fails(dir.path(), &task, &["--init-from a fine-tunes a GPT on a text", "--task"]);
    let encdec = ["train", "--model", "encdec", "--init-from", "a", "--data", "b.txt", "--out-dir", "ft"];
    fails(dir.path(), &encdec, &["--model encdec"]);
    fails(dir.path(), &["train", "--init-from", "a", "--out-dir", "ft"], &["needs --data"]);
}

#[test]
fn a_character_the_checkpoint_does_not_know_is_refused() {
    let dir = trained_on_a("init-from-unknown");
    std::fs::write(dir.join("cafe.txt"), generated_text(4).replacen("fox", "café", 3)).unwrap();
    fails(
        dir.path(),
        &fine_tune(&["--data", "cafe.txt"]),
        &["cannot fine-tune a on cafe.txt", "'é'", "not in the vocabulary"],
    );
}

#[test]
fn a_bpe_checkpoint_fine_tunes_on_any_text() {
    let dir = TempDir::new("init-from-bpe");
    std::fs::write(dir.join("a.txt"), generated_text(3)).unwrap();
    // Characters the training text never had: byte-level BPE encodes them all.
    std::fs::write(dir.join("b.txt"), generated_text(4).replace("fox", "café🦀")).unwrap();
    let train_a = ["--data", "a.txt", "--block-size", "16", "--out-dir", "a", "--max-iters", "4"];
    succeeds(dir.path(), &train_args(&[&train_a[..], &["--tokenizer", "bpe", "--vocab-size", "280"]].concat()));
    let (_, a_meta) = load_model(&dir.join("a")).unwrap();
    assert!(matches!(a_meta.tokenizer, Tokenizer::Bpe(_)));

    let out = succeeds(dir.path(), &fine_tune(&[]));
    assert!(out.contains("on b.txt (byte-level BPE, 280 tokens) for 6 steps"), "{out}");
    let (_, ft_meta) = load_model(&dir.join("ft")).unwrap();
    assert_eq!(ft_meta.tokenizer, a_meta.tokenizer);
    assert_eq!((ft_meta.step, ft_meta.source.as_str()), (6, "data:b.txt"));
    let sample = succeeds(dir.path(), &["sample", "--ckpt", "ft", "--max-new-tokens", "20", "--prompt", "café🦀"]);
    assert!(sample.starts_with("café🦀"), "{sample}");
}

#[test]
fn a_shorter_block_size_crops_the_learned_positions() {
    use gradlab::transformer::Module;
    let dir = trained_on_a("init-from-crop");
    let (a, a_meta) = load_model(&dir.join("a")).unwrap();
    assert_eq!(a_meta.config.block_size, 16);

    // No step: the cropped checkpoint holds the first 8 positions and every other weight as is,
    // and records its new context.
    succeeds(dir.path(), &fine_tune(&["--max-iters", "0", "--out-dir", "crop", "--block-size", "8"]));
    let (crop, crop_meta) = load_model(&dir.join("crop")).unwrap();
    assert_eq!(crop_meta.config, gradlab::transformer::GptConfig { block_size: 8, ..a_meta.config });
    for ((name, p), (_, q)) in crop.named_parameters().iter().zip(a.named_parameters()) {
        let (p, q) = (p.value().to_vec(), q.value().to_vec());
        if name.starts_with("wpe") {
            assert_eq!(p.len() * 2, q.len(), "{name}");
            assert_eq!(p, q[..p.len()], "{name}");
        } else {
            assert_eq!(p, q, "{name}");
        }
    }
    // The same logits as the original model for an input that fits the shorter context.
    a.set_training(false);
    crop.set_training(false);
    let ids: Vec<usize> = (0..6).map(|i| (i * 5 + 1) % a_meta.config.vocab_size).collect();
    let logits = |m: &gradlab::transformer::Gpt<f32>| m.forward(&ids, [1, ids.len()]).value().to_vec();
    assert_eq!(logits(&crop), logits(&a));

    // It fine-tunes, samples and evaluates at the new context.
    let out = succeeds(dir.path(), &fine_tune(&["--block-size", "8"]));
    assert!(out.contains("initialised from a"), "{out}");
    assert_eq!(load_model(&dir.join("ft")).unwrap().1.config.block_size, 8);
    let sample = succeeds(dir.path(), &["sample", "--ckpt", "ft", "--max-new-tokens", "20", "--prompt", "the"]);
    assert!(sample.starts_with("the"), "{sample}");
    succeeds(dir.path(), &["eval", "--ckpt", "ft", "--data", "b.txt"]);

    // The whole context is allowed; a longer one is refused before anything is written.
    succeeds(dir.path(), &fine_tune(&["--max-iters", "0", "--out-dir", "same", "--block-size", "16"]));
    assert_eq!(parameter_bits(&load_model(&dir.join("same")).unwrap().0), parameter_bits(&a));
    fails(
        dir.path(),
        &fine_tune(&["--out-dir", "long", "--block-size", "17"]),
        &["--block-size 17 is longer than the context", "--init-from a (16 positions)", "--block-size 16 or less"],
    );
    assert!(!dir.join("long").exists());
    fails(dir.path(), &fine_tune(&["--out-dir", "none", "--block-size", "0"]), &["--block-size must be at least 1"]);
}
