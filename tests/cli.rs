//! The `gradlab` program end to end, each test in a fresh temp dir.
//!
//! Bad input: a clear `error:` naming the offending file, flag or character, exit status 1 (2 for
//! clap's own usage errors), no panic, and nothing written: every file in the test's directory,
//! including a previous run's checkpoint, keeps its bytes. Happy paths: what `train` writes,
//! and that `sample`, `eval`, `export`, `gradcheck` and `graph` do what they say.

use std::collections::BTreeMap;
use std::path::Path;

use gradlab::autograd::no_grad;
use gradlab::checkpoint::load_model;
use gradlab::data::CharTokenizer;
use gradlab::transformer::Module;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

mod common;
use common::{
    TempDir, assert_error, fails, fails_with, generated_text, gradlab, logged_evaluations, parameter_bits, succeeds,
    text, train_args,
};

/// A tiny sort model trained in `dir/out` (the previous run that a failed command must not touch).
fn trained_task(dir: &Path) {
    succeeds(dir, &train_args(&["--task", "sort", "--out-dir", "out"]));
}

/// `dir/words.txt` and a tiny character model of it in `dir/out` (block size 16).
fn trained_text(dir: &Path) {
    std::fs::write(dir.join("words.txt"), generated_text(2024)).unwrap();
    succeeds(dir, &train_args(&["--data", "words.txt", "--block-size", "16", "--out-dir", "out"]));
}

/// `train --resume` of a text model with block size 16 (as [`trained_text`] makes) in `dir/<out>`,
/// on the text `data`, up to step `max_iters`, with the further flags `extra`.
fn resume_text<'a>(data: &'a str, out: &'a str, max_iters: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--data", data, "--block-size", "16", "--out-dir", out, "--resume", "--max-iters", max_iters];
    args.extend_from_slice(extra);
    train_args(&args)
}

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

/// Every command that reads the checkpoint in `dir/out` fails, naming `mentions`; for a text
/// model, `eval` reads `words.txt`.
fn every_reader_fails(dir: &Path, mentions: &[&str]) {
    fails(dir, &["sample", "--ckpt", "out", "--max-new-tokens", "5"], mentions);
    fails(dir, &["sample", "--ckpt", "out/model.safetensors", "--max-new-tokens", "5"], mentions);
    fails(dir, &["eval", "--ckpt", "out", "--data", "words.txt"], mentions);
    fails(dir, &["export", "--ckpt", "out", "--out", "out/nanogpt.safetensors"], mentions);
    fails(dir, &resume_text("words.txt", "out", "30", &[]), mentions);
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn missing_data_file() {
    let dir = TempDir::new("missing");
    trained_task(dir.path());
    fails(dir.path(), &train_args(&["--data", "nope.txt", "--out-dir", "out"]), &["nope.txt", "cannot read"]);
    fails(dir.path(), &["eval", "--ckpt", "out", "--data", "nope.txt"], &["nope.txt"]);
}

#[test]
fn empty_data_file() {
    let dir = TempDir::new("empty");
    trained_task(dir.path());
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    fails(dir.path(), &train_args(&["--data", "empty.txt", "--out-dir", "out"]), &["empty.txt", "empty"]);
}

#[test]
fn binary_data_file() {
    let dir = TempDir::new("binary");
    trained_task(dir.path());
    std::fs::write(dir.join("data.bin"), b"some text\0\x01\x02 then more").unwrap();
    fails(dir.path(), &train_args(&["--data", "data.bin", "--out-dir", "out"]), &["data.bin", "binary", "offset 9"]);
}

#[test]
fn non_utf8_data_file() {
    let dir = TempDir::new("latin1");
    trained_task(dir.path());
    // "caf\xe9": Latin-1, not UTF-8.
    let mut bytes = b"a long enough line of text about a caf".repeat(20);
    bytes.extend_from_slice(b"caf\xe9 au lait\n");
    std::fs::write(dir.join("latin1.txt"), &bytes).unwrap();
    fails(
        dir.path(),
        &train_args(&["--data", "latin1.txt", "--out-dir", "out"]),
        &["latin1.txt", "UTF-8", "offset 763"],
    );
}

/// Both splits (the first 90% and the last 10% of the tokens) must hold block_size + 1 tokens.
#[test]
fn text_shorter_than_one_block() {
    let dir = TempDir::new("short");
    trained_task(dir.path());
    let chars = |n: usize| "abcdefghij".chars().cycle().take(n).collect::<String>();
    // Shorter than one block in all.
    std::fs::write(dir.join("tiny.txt"), chars(10)).unwrap();
    fails(
        dir.path(),
        &train_args(&["--data", "tiny.txt", "--block-size", "16", "--out-dir", "out"]),
        &["tiny.txt", "train split", "block size 16", "17"],
    );
    // 160 characters: 144 to train on, but only 16 to validate on.
    std::fs::write(dir.join("short.txt"), chars(160)).unwrap();
    fails(
        dir.path(),
        &train_args(&["--data", "short.txt", "--block-size", "16", "--out-dir", "out"]),
        &["short.txt", "val split", "has 16 tokens", "17"],
    );
    // 161 characters: exactly 17 validation tokens is enough to train and evaluate.
    std::fs::write(dir.join("enough.txt"), chars(161)).unwrap();
    succeeds(
        dir.path(),
        &train_args(&["--data", "enough.txt", "--block-size", "16", "--out-dir", "ok", "--max-iters", "2"]),
    );
    let line = succeeds(dir.path(), &["eval", "--ckpt", "ok", "--data", "enough.txt"]);
    let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(json["tokens"], 16, "one block of the validation split: {line}");
    // Evaluating that model on the 160 characters finds one token too few.
    fails(dir.path(), &["eval", "--ckpt", "ok", "--data", "short.txt"], &["short.txt", "val split", "has 16 tokens"]);
}

#[test]
fn truncated_checkpoint() {
    let dir = TempDir::new("truncated");
    trained_text(dir.path());
    let model = dir.join("out/model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    for len in [bytes.len() - 1, bytes.len() / 2, 100, 4] {
        std::fs::write(&model, &bytes[..len]).unwrap();
        every_reader_fails(dir.path(), &["model.safetensors", "not a valid safetensors file"]);
    }
}

#[test]
fn corrupt_checkpoint() {
    let dir = TempDir::new("corrupt");
    trained_text(dir.path());
    let model = dir.join("out/model.safetensors");
    let len = std::fs::metadata(&model).unwrap().len() as usize;
    for seed in 0..3 {
        std::fs::write(&model, noise(len, seed)).unwrap();
        every_reader_fails(dir.path(), &["model.safetensors"]);
    }
    // Valid length header, garbage JSON.
    let mut bytes = 64u64.to_le_bytes().to_vec();
    bytes.extend(noise(64 + 100, 9));
    std::fs::write(&model, bytes).unwrap();
    every_reader_fails(dir.path(), &["model.safetensors", "not a valid safetensors file"]);
}

/// Rewrites the metadata of the safetensors file at `path` with `edit`, keeping its tensors.
fn edit_metadata(path: &Path, edit: impl FnOnce(&mut std::collections::HashMap<String, String>)) {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    edit(&mut meta);
    let out = safetensors::tensor::serialize(file.tensors(), Some(meta)).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn mismatched_checkpoint_metadata() {
    let dir = TempDir::new("mismatch-meta");
    trained_text(dir.path());
    // The metadata claims a wider model than the tensors hold.
    edit_metadata(&dir.join("out/model.safetensors"), |m| {
        let config = m.get_mut("config").unwrap();
        assert!(config.contains("\"n_embd\":16"), "{config}");
        *config = config.replace("\"n_embd\":16", "\"n_embd\":32");
    });
    every_reader_fails(dir.path(), &["model.safetensors", "wte.weight", "shape", "32"]);
}

#[test]
fn mismatched_checkpoint_weights() {
    let dir = TempDir::new("mismatch-weights");
    trained_text(dir.path());
    succeeds(
        dir.path(),
        &train_args(&["--data", "words.txt", "--block-size", "16", "--n-embd", "32", "--out-dir", "wide"]),
    );
    // The tensors of a wider model under the metadata of the narrow one.
    let narrow = std::fs::read(dir.join("out/model.safetensors")).unwrap();
    let wide = std::fs::read(dir.join("wide/model.safetensors")).unwrap();
    let meta = SafeTensors::read_metadata(&narrow).unwrap().1.metadata().clone().unwrap();
    let hybrid =
        safetensors::tensor::serialize(SafeTensors::deserialize(&wide).unwrap().tensors(), Some(meta)).unwrap();
    std::fs::write(dir.join("out/model.safetensors"), hybrid).unwrap();
    every_reader_fails(dir.path(), &["model.safetensors", "shape", "expected"]);

    // The whole weights file of the wide run copied over the narrow run's (its train state stays):
    // readable on its own, but resuming the narrow run from it must refuse.
    std::fs::copy(dir.join("wide/model.safetensors"), dir.join("out/model.safetensors")).unwrap();
    fails(dir.path(), &resume_text("words.txt", "out", "30", &[]), &["--n-embd 16", "checkpoint: 32"]);
    // With the wide model's flags, the train state is the one that does not match.
    let resume_wide = resume_text("words.txt", "out", "30", &["--n-embd", "32"]);
    fails(dir.path(), &resume_wide, &["train_state.safetensors", "other weights"]);
}

/// Resuming with model settings other than the checkpoint's used to train the checkpoint's model
/// silently (or, for a longer block, panic in the first batch): now an error naming the flag.
#[test]
fn resume_with_other_model_settings() {
    let dir = TempDir::new("resume-settings");
    trained_text(dir.path());
    let resume = |extra: &[&'static str]| {
        let mut args = vec!["--data", "words.txt", "--out-dir", "out", "--resume", "--max-iters", "30"];
        args.extend_from_slice(extra);
        train_args(&args)
    };
    fails(dir.path(), &resume(&["--block-size", "16", "--n-embd", "32"]), &["--n-embd 32", "checkpoint: 16"]);
    // Without --block-size, the text default (64) is longer than the checkpoint's 16 positions.
    fails(dir.path(), &resume(&[]), &["--block-size 64", "checkpoint: 16"]);
    fails(dir.path(), &resume(&["--block-size", "16", "--dropout", "0.2"]), &["--dropout 0.2"]);
    fails(dir.path(), &resume(&["--block-size", "16", "--n-layer", "2", "--bias"]), &["--n-layer 2", "--bias"]);
    // Another source.
    fails(
        dir.path(),
        &train_args(&["--task", "sort", "--out-dir", "out", "--resume", "--max-iters", "30"]),
        &["task:sort"],
    );
    // And the right settings resume.
    succeeds(dir.path(), &resume(&["--block-size", "16"]));
}

/// A learning rate far too high makes the loss NaN within a few steps. That used to go on to the
/// end, logging `null` losses, saving NaN weights, then panic when grading (a task) or sampling
/// (text) from them. Now the run stops with an error and leaves the last finite checkpoint.
#[test]
fn training_that_diverges() {
    let dir = TempDir::new("diverge");
    std::fs::write(dir.join("words.txt"), generated_text(2024)).unwrap();
    for source in [&["--task", "sort"][..], &["--data", "words.txt", "--block-size", "16"]] {
        let mut extra = vec!["--out-dir", "out", "--learning-rate", "1e30", "--eval-interval", "1"];
        extra.extend_from_slice(source);
        let args = train_args(&extra);
        let err = assert_error(1, &args, &gradlab(dir.path(), &args), &["diverged", "--learning-rate (it was 1e30)"]);
        // Its own kind of error, naming the step, the loss and the last finite one.
        assert!(err.starts_with("error: training diverged at step "), "{err}");
        assert!(!err.contains("invalid configuration"), "{err}");
        assert!(err.contains("the last finite training loss was ") || err.contains("no step had a finite"), "{err}");
        let metrics = std::fs::read_to_string(dir.join("out/metrics.jsonl")).unwrap();
        assert!(!metrics.contains("null") && !metrics.is_empty(), "{metrics}");
        let (model, meta) = load_model(&dir.join("out")).unwrap();
        assert_eq!(meta.step + 1, metrics.lines().count(), "the checkpoint is the last evaluation's");
        assert!(model.named_parameters().iter().all(|(_, p)| p.value().to_vec().iter().all(|x| x.is_finite())));
        succeeds(dir.path(), &["sample", "--ckpt", "out", "--max-new-tokens", "5"]);
    }
    // Resuming at that rate: stopped before anything is saved, so every file keeps its bytes.
    trained_task(dir.path());
    let resume =
        train_args(&["--task", "sort", "--out-dir", "out", "--resume", "--max-iters", "30", "--learning-rate", "1e30"]);
    let err = fails(dir.path(), &resume, &["diverged", "still the one of step 20"]);
    assert!(err.contains("the last finite training loss was "), "{err}");
}

/// Sizes that cannot fit in memory, asked for by a flag: refused before anything is allocated or
/// written (they used to abort in the allocator), saying how much the run needs and how much the
/// machine has; sizes whose byte count overflows a `usize` likewise.
#[test]
fn sizes_that_cannot_fit_in_memory() {
    let dir = TempDir::new("too-large");
    std::fs::write(dir.join("words.txt"), generated_text(7)).unwrap();
    for extra in [
        &["--n-embd", "10000000"][..],
        &["--batch-size", "1000000000"],
        &["--block-size", "1000000000"],
        &["--n-embd", "1024", "--n-layer", "1000000"],
        &["--data", "words.txt", "--block-size", "16", "--n-embd", "4000000"],
    ] {
        let size = format!("{} {}", extra[extra.len() - 2], extra[extra.len() - 1]);
        let mut extra = extra.to_vec();
        extra.extend(["--out-dir", "out"]);
        let mentions = ["not enough memory", "training a GPT", &size, "needs about "];
        let err = fails(dir.path(), &train_args(&extra), &mentions);
        if gradlab::train::available_memory().is_some() {
            assert!(err.contains(" available; ask for smaller sizes"), "{err}");
        }
        assert!(!dir.join("out").exists());
    }
    // A width whose square overflows: no number of bytes to print, still a clear refusal.
    let huge = train_args(&["--n-embd", "10000000000000", "--n-head", "1", "--out-dir", "out"]);
    fails(dir.path(), &huge, &["not enough memory", "overflow a 64-bit count"]);
    let accumulation = train_args(&["--gradient-accumulation-steps", "100000000000000000000", "--out-dir", "out"]);
    let out = gradlab(dir.path(), &accumulation);
    assert_eq!(out.status.code(), Some(2), "clap refuses a number past usize: {}", text(&out.stderr));
    let accumulation = train_args(&["--gradient-accumulation-steps", "10000000000000000000", "--out-dir", "out"]);
    fails(dir.path(), &accumulation, &["--gradient-accumulation-steps", "overflows"]);
    assert!(!dir.join("out").exists());
    // A beam so wide that its beams, each with its own KV cache, cannot fit; and one that can.
    trained_task(dir.path());
    let wide = ["sample", "--ckpt", "out", "--beam", "1000000000000", "--max-new-tokens", "12"];
    if gradlab::train::available_memory().is_some() {
        fails(dir.path(), &wide, &["not enough memory", "--beam 1000000000000", "needs about "]);
    }
    succeeds(dir.path(), &["sample", "--ckpt", "out", "--beam", "1000000000000", "--max-new-tokens", "2"]);
}

/// Copies the checkpoint in `dir/out` to `dir/huge` with every weight multiplied by 1e15: finite
/// `f32` numbers, but so large that the forward pass overflows to NaN logits. (Far larger, every
/// layer norm's variance overflows and its output collapses to finite zeros: garbage, not NaN.)
fn write_huge_checkpoint(dir: &Path) {
    let (model, meta) = load_model(&dir.join("out")).unwrap();
    for (_, p) in model.named_parameters() {
        p.update_value(|v| *v = v.mul_scalar(1e15));
        assert!(p.value().to_vec().iter().all(|x| x.is_finite()));
    }
    gradlab::checkpoint::save(&dir.join("huge"), &model, &meta, None).unwrap();
}

/// A checkpoint whose weights are finite but huge: every command that runs its forward pass used
/// to panic on its NaN logits (`sample`) or print a `null` loss (`eval`); each is now a clear
/// error naming the file and the weights. `export` runs no forward pass: it converts the numbers
/// as they are.
#[test]
fn checkpoint_with_finite_but_huge_weights() {
    let dir = TempDir::new("huge-weights");
    trained_text(dir.path());
    write_huge_checkpoint(dir.path());
    let mentions = ["huge/model.safetensors", "NaN", "weights are finite but so large", "overflows f32"];
    fails(dir.path(), &["sample", "--ckpt", "huge", "--max-new-tokens", "5"], &mentions);
    fails(dir.path(), &["sample", "--ckpt", "huge/model.safetensors", "--temperature", "0"], &mentions);
    fails(dir.path(), &["sample", "--ckpt", "huge", "--max-new-tokens", "5", "--show-probs", "3"], &mentions);
    fails(dir.path(), &["sample", "--ckpt", "huge", "--max-new-tokens", "5", "--beam", "3"], &mentions);
    let err = fails(dir.path(), &["eval", "--ckpt", "huge", "--data", "words.txt"], &mentions);
    assert!(err.contains("its loss on the val split of words.txt is NaN"), "{err}");
    assert!(err.contains("(up to ") && err.contains(", in "), "names the largest weight: {err}");
    succeeds(dir.path(), &["export", "--ckpt", "huge", "--out", "huge.safetensors"]);
}

/// `--resume` compares what the data paths point at, not how they are spelled: `./words.txt`,
/// `words.txt` and the absolute path are one file; another file with the same text is not, nor is
/// a file named like the built-in text.
#[test]
fn resume_with_the_same_data_file_spelled_differently() {
    let dir = TempDir::new("resume-same-file");
    trained_text(dir.path());
    succeeds(dir.path(), &resume_text("./words.txt", "out", "30", &[]));
    let absolute = dir.join("words.txt").display().to_string();
    succeeds(dir.path(), &resume_text(&absolute, "out", "40", &[]));
    std::fs::create_dir(dir.join("sub")).unwrap();
    succeeds(dir.path(), &resume_text("sub/../words.txt", "out", "50", &[]));
    let (_, meta) = load_model(&dir.join("out")).unwrap();
    assert_eq!((meta.step, meta.source.as_str()), (50, "data:words.txt"), "the checkpoint keeps its spelling");

    std::fs::write(dir.join("copy.txt"), generated_text(2024)).unwrap();
    fails(dir.path(), &resume_text("copy.txt", "out", "60", &[]), &["cannot resume", "data:words.txt", "copy.txt"]);
    fails(dir.path(), &resume_text("missing.txt", "out", "60", &[]), &["missing.txt"]);
    // The built-in text is not a path: a file called `shakespeare` is another source.
    std::fs::write(dir.join("shakespeare"), generated_text(2024)).unwrap();
    succeeds(dir.path(), &train_args(&["--data", "./shakespeare", "--block-size", "16", "--out-dir", "sh"]));
    let args = resume_text("shakespeare", "sh", "30", &[]);
    fails(dir.path(), &args, &["cannot resume", "data:./shakespeare", "data:shakespeare"]);
}

/// A valid file whose weights are NaN (a run that diverged before this fix, or another tool's).
#[test]
fn checkpoint_with_nan_weights() {
    let dir = TempDir::new("nan-weights");
    trained_task(dir.path());
    let path = dir.join("out/model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
        file.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec())).collect();
    let ln = tensors.iter_mut().find(|(n, _, _)| n == "blocks.0.ln_2.weight").unwrap();
    ln.2[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, shape, data)| (n.clone(), TensorView::new(Dtype::F32, shape.clone(), data).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::tensor::serialize(views, Some(meta)).unwrap()).unwrap();
    fails(dir.path(), &["sample", "--ckpt", "out"], &["model.safetensors", "blocks.0.ln_2.weight", "NaN"]);
}

/// `export --out` naming the checkpoint's own files would replace the checkpoint with a file in
/// nanoGPT's layout, which cannot be loaded back.
#[test]
fn export_over_the_checkpoint_itself() {
    let dir = TempDir::new("export-self");
    trained_task(dir.path());
    fails(dir.path(), &["export", "--ckpt", "out", "--out", "out/model.safetensors"], &["--out", "model.safetensors"]);
    fails(
        dir.path(),
        &["export", "--ckpt", "out/model.safetensors", "--out", "out/../out/train_state.safetensors"],
        &["train_state.safetensors"],
    );
}

#[test]
fn prompt_outside_the_vocabulary() {
    let dir = TempDir::new("prompt");
    trained_task(dir.path());
    fails(dir.path(), &["sample", "--ckpt", "out", "--prompt", "12z45>"], &["'z'", "position 2", "vocabulary"]);
    fails(dir.path(), &["sample", "--ckpt", "out", "--prompt", "12345é"], &["'é'", "position 5"]);
    fails(dir.path(), &["sample", "--ckpt", "out", "--prompt", ""], &["--prompt"]);
    // A text whose characters the checkpoint's vocabulary lacks.
    std::fs::write(dir.join("letters.txt"), "abc".repeat(100)).unwrap();
    fails(dir.path(), &["eval", "--ckpt", "out", "--data", "letters.txt"], &["'a'", "vocabulary"]);
}

#[test]
fn bad_sampling_settings() {
    let dir = TempDir::new("sampling");
    trained_task(dir.path());
    for (flag, value) in
        [("--temperature", "-1"), ("--temperature", "NaN"), ("--top-k", "0"), ("--top-p", "0"), ("--top-p", "1.5")]
    {
        fails(
            dir.path(),
            &["sample", "--ckpt", "out", flag, value],
            &[flag.trim_start_matches('-').replace('-', "_").as_str(), value],
        );
    }
}

/// Training settings no run can use, over a previous run's checkpoint: each refused with an error
/// naming the flag (and its value), and that checkpoint left as it was.
#[test]
fn bad_training_settings() {
    let dir = TempDir::new("bad-settings");
    trained_task(dir.path());
    let refused: [(&[&str], &[&str]); 8] = [
        (&["--n-embd", "15", "--n-head", "2"], &["--n-embd 15", "--n-head 2"]),
        (&["--n-layer", "0"], &["--n-layer"]),
        (&["--n-head", "0"], &["--n-head"]),
        (&["--batch-size", "0"], &["--batch-size"]),
        (&["--learning-rate", "-1"], &["--learning-rate", "-1"]),
        (&["--learning-rate=-1"], &["--learning-rate", "-1"]),
        (&["--learning-rate", "NaN"], &["--learning-rate", "NaN"]),
        // The checkpoint is at step 20; resuming to 10 used to train forever (the loop stops only
        // when the step equals max_iters).
        (&["--resume", "--max-iters", "10"], &["step 20", "--max-iters 10"]),
    ];
    for (flags, mentions) in refused {
        let mut extra = vec!["--task", "sort", "--out-dir", "out"];
        extra.extend_from_slice(flags);
        fails(dir.path(), &train_args(&extra), mentions);
    }
    let unknown_task = train_args(&["--task", "sorting", "--out-dir", "out"]);
    fails(dir.path(), &unknown_task, &["\"sorting\"", "copy, reverse, sort, add"]);
    let eval = ["eval", "--ckpt", "out", "--data", "out/metrics.jsonl", "--batch-size", "0"];
    fails(dir.path(), &eval, &["--batch-size"]);
}

#[test]
fn out_dir_is_a_file() {
    let dir = TempDir::new("out-file");
    std::fs::write(dir.join("taken"), "not a directory").unwrap();
    fails(
        dir.path(),
        &train_args(&["--task", "sort", "--out-dir", "taken"]),
        &["--out-dir", "taken", "not a directory"],
    );
    fails(dir.path(), &train_args(&["--task", "sort", "--out-dir", "taken/sub"]), &["taken/sub"]);
}

#[test]
fn data_and_task_together() {
    let dir = TempDir::new("data-and-task");
    trained_text(dir.path());
    fails_with(
        2,
        dir.path(),
        &train_args(&["--task", "sort", "--data", "words.txt", "--out-dir", "out"]),
        &["--task", "--data"],
    );
}

#[test]
fn resume_with_no_checkpoint() {
    let dir = TempDir::new("resume-nothing");
    // No out dir at all: it is not created either.
    fails(dir.path(), &train_args(&["--task", "sort", "--out-dir", "out", "--resume"]), &["--resume", "out"]);
    // An out dir without a checkpoint.
    std::fs::create_dir(dir.join("empty")).unwrap();
    fails(
        dir.path(),
        &train_args(&["--task", "sort", "--out-dir", "empty", "--resume"]),
        &["--resume", "empty", "model.safetensors"],
    );
    // Weights without a train state.
    trained_task(dir.path());
    std::fs::remove_file(dir.join("out/train_state.safetensors")).unwrap();
    fails(
        dir.path(),
        &train_args(&["--task", "sort", "--out-dir", "out", "--resume", "--max-iters", "30"]),
        &["train_state.safetensors", "cannot resume"],
    );
}

// ---------------------------------------------------------------------------------------------
// What works

#[test]
fn train_task_writes_checkpoint_metrics_and_plots() {
    let dir = TempDir::new("train-task");
    let stdout = succeeds(dir.path(), &train_args(&["--task", "sort", "--out-dir", "out"]));
    assert!(stdout.contains("held-out exact match"), "{stdout}");
    for file in ["model.safetensors", "train_state.safetensors", "metrics.jsonl", "loss.svg", "attention.svg"] {
        assert!(dir.join("out").join(file).is_file(), "out/{file} missing");
    }
    for svg in ["loss.svg", "attention.svg"] {
        let s = std::fs::read_to_string(dir.join("out").join(svg)).unwrap();
        assert!(s.contains("<svg") && s.trim_end().ends_with("</svg>"), "{svg} is not an SVG document");
    }
    let metrics = std::fs::read_to_string(dir.join("out/metrics.jsonl")).unwrap();
    let mut steps = Vec::new();
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["elapsed_s", "lr", "step", "tokens_per_sec", "train_loss", "val_loss"], "{line}");
        for key in ["train_loss", "val_loss", "lr", "tokens_per_sec", "elapsed_s"] {
            let x = obj[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number: {line}"));
            assert!(x.is_finite() && x >= 0.0, "{line}");
        }
        steps.push(obj["step"].as_u64().unwrap());
    }
    assert_eq!(steps, [0, 10, 20]);
}

/// The greedy continuation computed here from the model directly: the argmax (first on ties) of
/// the last position's logits over the last block_size tokens, one token at a time.
fn greedy_reference(ckpt: &Path, prompt: &str, n: usize) -> String {
    let (model, meta) = load_model(ckpt).unwrap();
    model.set_training(false);
    let tok = meta.tokenizer;
    let mut ids = tok.encode(prompt).unwrap();
    let (vocab, block) = (meta.config.vocab_size, meta.config.block_size);
    for _ in 0..n {
        let window = &ids[ids.len().saturating_sub(block)..];
        let logits = no_grad(|| model.forward(window, [1, window.len()])).value().to_vec();
        let last = &logits[logits.len() - vocab..];
        let argmax = (0..vocab).fold(0, |best, i| if last[i] > last[best] { i } else { best });
        ids.push(argmax);
    }
    tok.decode(&ids)
}

#[test]
fn sample_from_dir_or_file_greedy_and_seeded() {
    let dir = TempDir::new("sample");
    trained_text(dir.path());
    let sample = |ckpt: &str, extra: &[&str]| {
        let mut args = vec!["sample", "--ckpt", ckpt, "--prompt", "the ", "--max-new-tokens", "40"];
        args.extend_from_slice(extra);
        succeeds(dir.path(), &args)
    };
    // 40 new tokens after a 4-token prompt run past the 16-token block: the window slides.
    let greedy = sample("out", &["--temperature", "0", "--seed", "1"]);
    assert_eq!(greedy, format!("{}\n", greedy_reference(&dir.join("out"), "the ", 40)));
    assert_eq!(sample("out", &["--temperature", "0", "--seed", "2"]), greedy, "greedy ignores the seed");
    assert_eq!(sample("out/model.safetensors", &["--temperature", "0"]), greedy, "--ckpt names the file");

    let a = sample("out", &["--temperature", "1", "--seed", "7"]);
    assert_eq!(a.chars().count(), "the ".len() + 40 + 1);
    assert_eq!(sample("out/model.safetensors", &["--temperature", "1", "--seed", "7"]), a, "same seed, same text");
    assert_ne!(sample("out", &["--temperature", "1", "--seed", "8"]), a, "another seed, another text");

    // A task model's default: a held-out prompt and its answer's length, with the correct answer.
    trained_task(dir.path());
    let out = succeeds(dir.path(), &["sample", "--ckpt", "out", "--num-samples", "2"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("correct answer")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        let (prompt, rest) = line.split_once('>').unwrap();
        assert_eq!((prompt.len(), rest.find(' ')), (6, Some(6)), "{line}");
    }
}

/// Training 40 steps at once, or 20 and then `--resume` to 40, gives the same weights and the
/// same evaluations (with the schedule pinned: by default it spans each invocation's --max-iters).
#[test]
fn resume_through_the_command_line_is_bit_exact() {
    let dir = TempDir::new("cli-resume");
    let run = |out: &'static str, max_iters: &'static str, resume: bool| {
        let mut extra = vec!["--task", "reverse", "--out-dir", out, "--max-iters", max_iters, "--dropout", "0.1"];
        extra.extend(["--lr-decay-iters", "40", "--warmup-iters", "4", "--threads", "1"]);
        if resume {
            extra.push("--resume");
        }
        succeeds(dir.path(), &train_args(&extra));
    };
    run("straight", "40", false);
    run("resumed", "20", false);
    run("resumed", "40", true);
    let params = |out: &str| {
        let (model, meta) = load_model(&dir.join(out)).unwrap();
        (meta.step, parameter_bits(&model))
    };
    assert_eq!(params("resumed"), params("straight"));
    let losses = |out: &str| logged_evaluations(&dir.join(out).join("metrics.jsonl"));
    assert_eq!(losses("resumed"), losses("straight"));
    assert_eq!(losses("straight").len(), 5);
}

#[test]
fn eval_prints_the_same_json_line_twice() {
    let dir = TempDir::new("eval");
    trained_text(dir.path());
    let args = ["eval", "--ckpt", "out", "--data", "words.txt", "--split", "val"];
    let first = succeeds(dir.path(), &args);
    assert_eq!(first.lines().count(), 1, "{first}");
    let json: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    let loss = json["loss"].as_f64().unwrap();
    // A barely trained character model: below uniform over the vocabulary, above zero.
    let vocab = CharTokenizer::from_corpus(&generated_text(2024)).vocab_size();
    assert!(loss > 0.5 && loss < (vocab as f64).ln() + 0.1, "loss {loss}, vocabulary {vocab}");
    assert_eq!(json["split"], "val");
    // Every whole block of the last 10% of the text, none twice.
    let n = generated_text(2024).chars().count();
    let val = n - n * 9 / 10;
    assert_eq!(json["tokens"].as_u64().unwrap() as usize, (val - 1) / 16 * 16, "{first}");
    assert_eq!(succeeds(dir.path(), &args), first, "eval is deterministic");
    let train =
        succeeds(dir.path(), &["eval", "--ckpt", "out/model.safetensors", "--data", "words.txt", "--split", "train"]);
    assert_ne!(train, first);
}

#[test]
fn export_writes_nanogpt_names() {
    let dir = TempDir::new("export");
    trained_task(dir.path());
    let stdout = succeeds(dir.path(), &["export", "--ckpt", "out", "--format", "nanogpt", "--out", "x.safetensors"]);
    assert!(stdout.contains("x.safetensors"), "{stdout}");
    let bytes = std::fs::read(dir.join("x.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (model, meta) = load_model(&dir.join("out")).unwrap();
    let wte = file.tensor("transformer.wte.weight").unwrap();
    assert_eq!(wte.shape(), [meta.config.vocab_size, 16]);
    let values: Vec<f32> = wte.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(values, model.wte.weight.value().to_vec());
    assert!(file.names().contains(&"transformer.h.0.attn.c_attn.weight"));
}

#[test]
fn gradcheck_prints_every_parameter() {
    let dir = TempDir::new("gradcheck");
    let stdout = succeeds(dir.path(), &["gradcheck"]);
    // The tiny model: 2 blocks with biases.
    let names = [
        "wte.weight",
        "wpe.weight",
        "blocks.0.ln_1.weight",
        "blocks.1.attn.q_proj.bias",
        "blocks.1.mlp.proj.bias",
        "ln_f.bias",
    ];
    for name in names {
        assert!(stdout.lines().any(|l| l.starts_with(name) && l.ends_with("yes")), "{name} missing:\n{stdout}");
    }
    let rows = stdout
        .lines()
        .filter(|l| {
            l.starts_with("wte.") || l.starts_with("wpe.") || l.starts_with("blocks.") || l.starts_with("ln_f.")
        })
        .count();
    // wte, wpe; per block 2 layer norms and 6 linear layers (q, k, v, out, fc, proj), each with
    // a weight and a bias; ln_f's weight and bias.
    assert_eq!(rows, 2 + 2 * 16 + 2, "{stdout}");
    assert!(stdout.contains(&format!("all {rows} parameters pass")), "{stdout}");
}

#[test]
fn graph_writes_dot() {
    let dir = TempDir::new("graph");
    succeeds(dir.path(), &["graph", "--out", "g.dot"]);
    let dot = std::fs::read_to_string(dir.join("g.dot")).unwrap();
    assert!(dot.starts_with("digraph"), "{}", &dot[..dot.len().min(200)]);
    assert!(dot.trim_end().ends_with('}'));
    assert!(dot.contains("->"));
}

/// The built-in tiny-shakespeare: `--data shakespeare` needs no file (65 characters), `eval` takes
/// the same name, and the model samples afterwards.
#[test]
fn builtin_shakespeare() {
    let dir = TempDir::new("shakespeare");
    let args = ["--data", "shakespeare", "--block-size", "32", "--out-dir", "out", "--max-iters", "10"];
    let out = gradlab(dir.path(), &train_args(&[&args[..], &["--eval-interval", "5"]].concat()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("note:"), "no file named shakespeare here: {}", text(&out.stderr));
    let (_, meta) = load_model(&dir.join("out")).unwrap();
    assert_eq!(meta.config.vocab_size, 65);
    let line = succeeds(dir.path(), &["eval", "--ckpt", "out", "--data", "shakespeare", "--split", "val"]);
    assert!(line.contains("\"loss\""), "{line}");
    let out = succeeds(dir.path(), &["sample", "--ckpt", "out", "--prompt", "ROMEO:", "--max-new-tokens", "20"]);
    assert!(out.starts_with("ROMEO:"), "{out}");
}

/// A file named `shakespeare` in the working directory is not silently ignored: the bare name
/// still means the built-in text, and a note says so and how to read the file (`./shakespeare`),
/// which then trains on the file's own 3-letter vocabulary.
#[test]
fn a_file_named_like_the_builtin_text_is_named_in_a_note() {
    let dir = TempDir::new("shadowed");
    std::fs::write(dir.join("shakespeare"), "abc".repeat(400)).unwrap();
    let out =
        gradlab(dir.path(), &train_args(&["--data", "shakespeare", "--block-size", "16", "--out-dir", "builtin"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(note.contains("built-in") && note.contains("./shakespeare"), "{note}");
    assert_eq!(load_model(&dir.join("builtin")).unwrap().1.config.vocab_size, 65);
    let out = gradlab(dir.path(), &train_args(&["--data", "./shakespeare", "--block-size", "16", "--out-dir", "file"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("note:"), "{}", text(&out.stderr));
    assert_eq!(load_model(&dir.join("file")).unwrap().1.config.vocab_size, 3);
}

/// `sample --show-probs K`: a line per generated token with the token picked and the K most likely
/// candidates, probabilities in (0, 1] and most likely first; with greedy decoding the picked token
/// is the first candidate.
#[test]
fn sample_shows_the_most_likely_tokens_at_each_step() {
    let dir = TempDir::new("show-probs");
    trained_task(dir.path());
    let out = succeeds(
        dir.path(),
        &["sample", "--ckpt", "out", "--temperature", "0", "--show-probs", "3", "--max-new-tokens", "4"],
    );
    let lines: Vec<&str> = out.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("step  picked")).expect("a table header");
    let rows = &lines[header + 1..];
    assert_eq!(rows.len(), 4, "{out}");
    for row in rows {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let picked = fields[1];
        assert_eq!(fields[2], picked, "greedy picks the most likely: {row}");
        let probs: Vec<f64> = fields[3..].iter().step_by(2).map(|p| p.parse().unwrap()).collect();
        assert_eq!(probs.len(), 3, "{row}");
        assert!(probs.iter().all(|&p| p > 0.0 && p <= 1.0) && probs.windows(2).all(|w| w[0] >= w[1]), "{row}");
    }
}

/// `sample --beam W` decodes with beam search and says the log-probability it found; width 0, or
/// sampling flags next to --beam, are refused.
#[test]
fn sample_with_beam_search() {
    let dir = TempDir::new("beam");
    trained_task(dir.path());
    let out = succeeds(dir.path(), &["sample", "--ckpt", "out", "--beam", "3"]);
    assert!(out.contains("(beam width 3: log-probability -"), "{out}");
    fails(dir.path(), &["sample", "--ckpt", "out", "--beam", "0"], &["--beam", "at least 1"]);
    fails_with(2, dir.path(), &["sample", "--ckpt", "out", "--beam", "2", "--top-k", "3"], &["--beam", "--top-k"]);
}

/// `train --help` states every training setting's default as the code sets it when the flag is
/// left out: with `--data`, with each `--task`, and with neither (the sort task). Read from the
/// real help text and checked against `train_config`, so the help cannot drift from the code.
#[test]
fn train_help_states_the_defaults_the_code_uses() {
    use gradlab::cli::{TrainArgs, train_config};
    use gradlab::data::Task;
    use gradlab::train::TrainConfig;

    let dir = TempDir::new("train-help");
    let help = succeeds(dir.path(), &["train", "--help"]);
    // Each option's help text, its lines joined: "--n-layer" -> "Transformer blocks [default: ...]".
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("--").or_else(|| line.strip_prefix("-h, --")) {
            let (flag, after) = rest.split_once(' ').unwrap_or((rest, ""));
            let after = after.trim_start();
            let after = if after.starts_with('<') { after.split_once('>').map_or("", |(_, h)| h) } else { after };
            entries.insert(format!("--{flag}"), after.trim().to_string());
            current = Some(format!("--{flag}"));
        } else if let Some(flag) = &current {
            let entry = entries.get_mut(flag).unwrap();
            entry.push(' ');
            entry.push_str(line);
        }
    }

    let out = dir.join("out").display().to_string();
    let config = |extra: &[&str]| -> TrainConfig {
        let mut args = TrainArgs { out_dir: out.clone().into(), ..Default::default() };
        match extra {
            ["--data", path] => args.data = Some(path.into()),
            ["--task", name] => args.task = Some(name.to_string()),
            [] => {}
            other => panic!("{other:?}"),
        }
        train_config(&args).unwrap()
    };
    let mut sources = vec![("--data".to_string(), config(&["--data", "words.txt"]))];
    sources.extend(Task::ALL.map(|t| (t.name().to_string(), config(&["--task", t.name()]))));
    let neither = config(&[]);
    assert_eq!(neither, sources.iter().find(|(s, _)| s == "sort").unwrap().1, "no flag trains the sort task");

    type Setting = (&'static str, fn(&TrainConfig) -> f64);
    let settings: [Setting; 19] = [
        ("--block-size", |c| c.block_size as f64),
        ("--batch-size", |c| c.batch_size as f64),
        ("--gradient-accumulation-steps", |c| c.gradient_accumulation_steps as f64),
        ("--n-layer", |c| c.n_layer as f64),
        ("--n-head", |c| c.n_head as f64),
        ("--n-embd", |c| c.n_embd as f64),
        ("--dropout", |c| c.dropout),
        ("--max-iters", |c| c.max_iters as f64),
        ("--learning-rate", |c| c.learning_rate),
        ("--min-lr", |c| c.min_lr),
        ("--warmup-iters", |c| c.warmup_iters as f64),
        ("--lr-decay-iters", |c| c.lr_decay_iters as f64),
        ("--weight-decay", |c| c.weight_decay),
        ("--beta1", |c| c.beta1),
        ("--beta2", |c| c.beta2),
        ("--grad-clip", |c| c.grad_clip),
        ("--eval-interval", |c| c.eval_interval as f64),
        ("--eval-iters", |c| c.eval_iters as f64),
        ("--seed", |c| c.seed as f64),
    ];
    for (flag, field) in settings {
        let entry = entries.get(flag).unwrap_or_else(|| panic!("no {flag} in the help:\n{help}"));
        let defaults = entry
            .split_once("[default: ")
            .and_then(|(_, rest)| rest.split_once(']'))
            .unwrap_or_else(|| panic!("{flag} states no default: {entry}"))
            .0;
        // "4", "4 with --data; 2 with --task", "12 with --task copy, reverse or sort", or a note.
        let mut stated: BTreeMap<String, f64> = BTreeMap::new();
        for part in defaults.split("; ") {
            let (value, source) = part.split_once(" with ").unwrap_or((part, ""));
            let Ok(value) = value.parse::<f64>() else { continue };
            let named: Vec<String> = match source {
                "" => sources.iter().map(|(s, _)| s.clone()).collect(),
                "--data" => vec!["--data".into()],
                "--task" => Task::ALL.map(|t| t.name().to_string()).to_vec(),
                tasks => tasks
                    .strip_prefix("--task ")
                    .unwrap_or_else(|| panic!("{flag}: {part:?}"))
                    .split(", ")
                    .flat_map(|s| s.split(" or "))
                    .map(String::from)
                    .collect(),
            };
            for source in named {
                assert!(stated.insert(source.clone(), value).is_none(), "{flag}: two defaults for {source}: {entry}");
            }
        }
        for (source, cfg) in &sources {
            let value = stated.get(source).unwrap_or_else(|| panic!("{flag}: no default for {source}: {entry}"));
            assert_eq!(*value, field(cfg), "{flag} with {source}: the help says {value}, the code uses {}", field(cfg));
        }
    }

    // The two defaults that follow another flag say so, and do.
    let only = |args: TrainArgs| train_config(&TrainArgs { out_dir: out.clone().into(), ..args }).unwrap();
    assert_eq!(only(TrainArgs { max_iters: Some(300), ..Default::default() }).lr_decay_iters, 300);
    assert!(entries["--lr-decay-iters"].contains("--max-iters when only that is set"), "{help}");
    assert_eq!(only(TrainArgs { lr_decay_iters: Some(50), ..Default::default() }).warmup_iters, 5);
    assert!(entries["--warmup-iters"].contains("a tenth of --lr-decay-iters when that is smaller"), "{help}");
}
