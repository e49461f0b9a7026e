//! `gradlab tokenizer`: learns a byte-level BPE from a text and writes Hugging Face's
//! `vocab.json` + `merges.txt`, which load back to the tokenizer the library trains; refuses,
//! writing nothing, a vocabulary below 256 tokens, a missing input, a bad special token, and an
//! out dir that already has either file.

use gradlab::tokenizer::BpeTokenizer;

mod common;
use common::{TempDir, fails, generated_text, succeeds};

#[test]
fn writes_files_that_load_back_to_the_trained_tokenizer() {
    let dir = TempDir::new("cli-tok");
    let text = generated_text(7);
    std::fs::write(dir.join("words.txt"), &text).unwrap();
    let args = ["tokenizer", "--input", "words.txt", "--vocab-size", "300", "--out", "tok"];
    let stdout = succeeds(dir.path(), &[&args[..], &["--special-token", "<|endoftext|>"]].concat());
    assert!(stdout.contains("learned 300 tokens (44 merges) from words.txt"), "{stdout}");
    assert!(stdout.contains("special tokens: <|endoftext|> = 300"), "{stdout}");
    assert!(stdout.contains(&format!("the text's {} bytes are ", text.len())), "{stdout}");

    let loaded = BpeTokenizer::load_hf_dir(&dir.join("tok")).unwrap();
    let mut trained = BpeTokenizer::train(&text, 300).unwrap();
    trained.add_special_token("<|endoftext|>").unwrap();
    assert_eq!(loaded, trained);
    assert_eq!(loaded.decode(&loaded.encode_with_special(&text)).unwrap(), text);
    // Only the two files, no temp files left beside them.
    let mut names: Vec<String> = std::fs::read_dir(dir.join("tok"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["merges.txt", "vocab.json"]);
}

#[test]
fn never_writes_over_an_existing_file() {
    let dir = TempDir::new("cli-tok-exists");
    std::fs::write(dir.join("words.txt"), generated_text(1)).unwrap();
    std::fs::create_dir(dir.join("tok")).unwrap();
    for name in ["vocab.json", "merges.txt"] {
        std::fs::write(dir.join("tok").join(name), "keep me").unwrap();
        fails(
            dir.path(),
            &["tokenizer", "--input", "words.txt", "--vocab-size", "300", "--out", "tok"],
            &[&format!("--out tok already has {name}, which this command never writes over")],
        );
        std::fs::remove_file(dir.join("tok").join(name)).unwrap();
    }
    // The input itself, given as the out dir's file, is never written over either.
    std::fs::write(dir.join("tok/vocab.json"), generated_text(2)).unwrap();
    fails(
        dir.path(),
        &["tokenizer", "--input", "tok/vocab.json", "--vocab-size", "300", "--out", "tok"],
        &["already has vocab.json"],
    );
}

#[test]
fn bad_arguments_are_refused_and_nothing_is_written() {
    let dir = TempDir::new("cli-tok-bad");
    std::fs::write(dir.join("words.txt"), generated_text(3)).unwrap();
    let run = |extra: &[&str], mentions: &[&str]| {
        let args = [&["tokenizer", "--out", "tok"][..], extra].concat();
        fails(dir.path(), &args, mentions);
    };
    run(&["--input", "words.txt", "--vocab-size", "100"], &["vocab size 100 is too small"]);
    run(&["--input", "nope.txt", "--vocab-size", "300"], &["cannot read", "nope.txt"]);
    run(
        &["--input", "words.txt", "--vocab-size", "300", "--special-token", "<|x|>", "--special-token", "<|x|>"],
        &["cannot add the special token \"<|x|>\": it is already a special token"],
    );
    run(&["--input", "words.txt", "--vocab-size", "300", "--special-token", ""], &["it is empty"]);
    assert!(!dir.join("tok").exists());
}
