//! Training on byte-level BPE tokens: `train --tokenizer bpe --vocab-size N` (or `--tokenizer
//! DIR`, a saved tokenizer) writes a checkpoint that carries its tokenizer, so `sample`, `eval`
//! and `--resume` need nothing else; a corrupted tokenizer entry is a clear error naming the
//! file; flags that make no sense together are refused before anything is written; and a
//! character run, the default, writes exactly what it always did.

use std::collections::HashMap;
use std::path::Path;

use gradlab::checkpoint::load_model;
use gradlab::data::Tokenizer;
use gradlab::tokenizer::BpeTokenizer;
use safetensors::SafeTensors;

mod common;
use common::{TempDir, fails, generated_text, succeeds, train_args};

/// The test's text: the generated words, with some characters of two, three and four bytes so
/// that BPE tokens can end inside a character.
fn text() -> String {
    generated_text(11).replace("fox", "café").replace("dog", "naïve→日本🦀")
}

/// Tiny settings for a run on `text.txt` into `out`, except those that `extra` sets.
fn bpe_train<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let base = [("--data", "text.txt"), ("--block-size", "16"), ("--max-iters", "6"), ("--eval-interval", "3")];
    let mut args: Vec<&str> = base.iter().filter(|(f, _)| !extra.contains(f)).flat_map(|&(f, v)| [f, v]).collect();
    args.extend_from_slice(extra);
    train_args(&args)
}

fn metadata(path: &Path) -> HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    header.metadata().clone().unwrap()
}

/// Rewrites the metadata of the safetensors file at `path` with `edit`, keeping its tensors.
fn edit_metadata(path: &Path, edit: impl FnOnce(&mut HashMap<String, String>)) {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut meta = metadata(path);
    edit(&mut meta);
    std::fs::write(path, safetensors::tensor::serialize(file.tensors(), Some(meta)).unwrap()).unwrap();
}

/// The first 90% of the text's characters: what `train --tokenizer bpe` learns from.
fn training_split(text: &str) -> &str {
    let cut = text.char_indices().nth(text.chars().count() * 9 / 10).unwrap().0;
    &text[..cut]
}

#[test]
fn a_bpe_checkpoint_samples_evaluates_and_resumes_on_its_own() {
    let dir = TempDir::new("bpe-train");
    let text = text();
    std::fs::write(dir.join("text.txt"), &text).unwrap();
    let out = succeeds(dir.path(), &bpe_train(&["--tokenizer", "bpe", "--vocab-size", "300"]));
    assert!(out.contains("on text.txt (byte-level BPE, 300 tokens) for 6 steps"), "{out}");

    // The checkpoint carries the tokenizer learned from the training split, in place of "vocab".
    let model = dir.join("out/model.safetensors");
    let meta = metadata(&model);
    assert_eq!(meta["tokenizer"], "bpe");
    assert!(!meta.contains_key("vocab"));
    let (_, loaded) = load_model(&dir.join("out")).unwrap();
    let learned = BpeTokenizer::train(training_split(&text), 300).unwrap();
    assert_eq!(loaded.config.vocab_size, 300);
    assert_eq!(loaded.tokenizer, Tokenizer::Bpe(Box::new(learned.clone())));
    assert_eq!(meta["bpe_vocab"], learned.vocab_json());
    assert_eq!(meta["bpe_merges"], learned.merges_txt());

    // sample and eval need only the checkpoint (and, for eval, the text to score).
    let out = succeeds(dir.path(), &["sample", "--ckpt", "out", "--max-new-tokens", "40", "--prompt", "café naïve"]);
    assert!(out.starts_with("café naïve"), "{out}");
    succeeds(dir.path(), &["sample", "--ckpt", "out", "--max-new-tokens", "5", "--show-probs", "3"]);
    succeeds(dir.path(), &["sample", "--ckpt", "out", "--max-new-tokens", "5", "--beam", "2"]);
    let eval = succeeds(dir.path(), &["eval", "--ckpt", "out", "--data", "text.txt"]);
    let line: serde_json::Value = serde_json::from_str(eval.trim()).unwrap();
    assert!(line["loss"].as_f64().unwrap().is_finite(), "{eval}");

    // Resume keeps the tokenizer; asking for another one is refused.
    fails(
        dir.path(),
        &bpe_train(&["--max-iters", "9", "--resume"]),
        &["cannot resume with --tokenizer char", "BPE tokenizer of 300 tokens"],
    );
    succeeds(dir.path(), &bpe_train(&["--tokenizer", "bpe", "--vocab-size", "300", "--max-iters", "9", "--resume"]));
    assert_eq!(load_model(&dir.join("out")).unwrap().1.tokenizer, Tokenizer::Bpe(Box::new(learned)));

    // nanoGPT's export holds weights and config: a vocabulary of 300.
    succeeds(dir.path(), &["export", "--ckpt", "out", "--format", "nanogpt", "--out", "nano.safetensors"]);
}

#[test]
fn a_saved_tokenizer_dir_trains_and_travels_with_the_checkpoint() {
    let dir = TempDir::new("bpe-dir");
    std::fs::write(dir.join("text.txt"), text()).unwrap();
    succeeds(dir.path(), &["tokenizer", "--input", "text.txt", "--vocab-size", "280", "--out", "tok"]);
    succeeds(dir.path(), &bpe_train(&["--tokenizer", "tok"]));
    let saved = BpeTokenizer::load_hf_dir(&dir.join("tok")).unwrap();
    let (_, meta) = load_model(&dir.join("out")).unwrap();
    assert_eq!(meta.tokenizer, Tokenizer::Bpe(Box::new(saved)));
    // The files are not needed any more.
    std::fs::remove_dir_all(dir.join("tok")).unwrap();
    let out = succeeds(dir.path(), &["sample", "--ckpt", "out", "--max-new-tokens", "20", "--prompt", "the"]);
    assert!(out.starts_with("the"), "{out}");
}

#[test]
fn a_corrupted_tokenizer_entry_is_a_clear_error() {
    let dir = TempDir::new("bpe-corrupt");
    std::fs::write(dir.join("text.txt"), text()).unwrap();
    succeeds(dir.path(), &bpe_train(&["--tokenizer", "bpe", "--vocab-size", "300"]));
    let model = dir.join("out/model.safetensors");
    let good = std::fs::read(&model).unwrap();
    let smaller = BpeTokenizer::train(training_split(&text()), 290).unwrap();
    type Edit = Box<dyn Fn(&mut HashMap<String, String>)>;
    let cases: Vec<(Edit, &[&str])> = vec![
        (Box::new(|m| drop(m.insert("bpe_merges".into(), "#version: 0.2\nzq xj\n".into()))), &["bpe_merges"]),
        (Box::new(|m| drop(m.insert("bpe_vocab".into(), "{not json".into()))), &["bpe_vocab"]),
        (Box::new(|m| drop(m.remove("bpe_vocab"))), &["no \"bpe_vocab\" entry"]),
        (Box::new(|m| drop(m.insert("tokenizer".into(), "wordpiece".into()))), &["\"wordpiece\""]),
        (
            Box::new(move |m| {
                m.insert("bpe_vocab".into(), smaller.vocab_json());
                m.insert("bpe_merges".into(), smaller.merges_txt());
            }),
            &["290 tokens", "vocab_size 300"],
        ),
    ];
    for (edit, mentions) in cases {
        std::fs::write(&model, &good).unwrap();
        edit_metadata(&model, edit);
        let mentions = [&["model.safetensors"], mentions].concat();
        fails(dir.path(), &["sample", "--ckpt", "out"], &mentions);
        fails(dir.path(), &["eval", "--ckpt", "out", "--data", "text.txt"], &mentions);
    }
}

#[test]
fn bad_tokenizer_flags_are_refused() {
    let dir = TempDir::new("bpe-flags");
    std::fs::write(dir.join("text.txt"), text()).unwrap();
    let refused: [(&[&str], &[&str]); 4] = [
        (&["--tokenizer", "bpe"], &["--tokenizer bpe needs --vocab-size"]),
        (&["--vocab-size", "300"], &["--vocab-size", "goes with --tokenizer bpe"]),
        (&["--tokenizer", "char", "--vocab-size", "300"], &["goes with --tokenizer bpe"]),
        (&["--tokenizer", "bpe", "--vocab-size", "100"], &["--vocab-size 100 is too small", "256"]),
    ];
    for (flags, mentions) in refused {
        fails(dir.path(), &bpe_train(flags), mentions);
    }
    fails(dir.path(), &bpe_train(&["--tokenizer", "no-such-dir"]), &["no-such-dir", "vocab.json"]);
    fails(
        dir.path(),
        &train_args(&["--task", "sort", "--tokenizer", "bpe", "--vocab-size", "300"]),
        &["--tokenizer", "--data"],
    );
    fails(
        dir.path(),
        &["train", "--model", "encdec", "--tokenizer", "bpe", "--vocab-size", "300"],
        &["--tokenizer, --vocab-size are the GPT's", "--model encdec"],
    );
}

#[test]
fn a_character_run_is_unchanged() {
    let dir = TempDir::new("bpe-char");
    std::fs::write(dir.join("text.txt"), text()).unwrap();
    succeeds(dir.path(), &bpe_train(&[]));
    succeeds(dir.path(), &bpe_train(&["--tokenizer", "char", "--out-dir", "out-char"]));
    // The same metadata and tensors (the file's bytes differ only in the order of the metadata's
    // keys, which safetensors writes from a hash map).
    let [default, char] = ["out", "out-char"].map(|d| {
        let bytes = std::fs::read(dir.join(d).join("model.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<(String, Vec<u8>)> =
            file.tensors().into_iter().map(|(n, t)| (n, t.data().to_vec())).collect();
        tensors.sort();
        (metadata(&dir.join(d).join("model.safetensors")), tensors)
    });
    assert!(default == char, "--tokenizer char wrote another checkpoint than the default");
    // The metadata a character checkpoint has always had, and no more.
    let mut keys: Vec<String> = metadata(&dir.join("out/model.safetensors")).into_keys().collect();
    keys.sort();
    assert_eq!(keys, ["config", "format", "seed", "source", "step", "version", "vocab"]);
}
