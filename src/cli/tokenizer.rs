//! `tokenizer`: learn a byte-level BPE vocabulary from a text and write it in Hugging Face's
//! layout (`vocab.json` + `merges.txt`), which [`BpeTokenizer::load_hf_dir`] and Hugging Face's
//! `tokenizers` both read.
//!
//! The two files are new files: one already in the out dir is never written over. Each is written
//! to a temp file beside it, flushed, then linked to its name; the link fails if the name exists
//! (so a file that appears meanwhile is not replaced either), and a reader never sees half a file.

use std::path::Path;
use std::time::Instant;

use super::args::TokenizerArgs;
use crate::checkpoint::{commit_new, write_temp};
use crate::data::read_text_and_warn;
use crate::error::{Error, Result};
use crate::tokenizer::BpeTokenizer;

/// The files the command writes, in its out dir.
const FILES: [&str; 2] = ["vocab.json", "merges.txt"];

/// The refusal for an out dir that already has `name`.
fn exists_error(out: &Path, name: &str) -> Error {
    Error::Config(format!(
        "--out {} already has {name}, which this command never writes over; choose another directory or remove it",
        out.display()
    ))
}

/// `tokenizer`: reads the text, trains, adds the special tokens, writes the two files and says
/// how well the vocabulary compresses the text.
pub fn run_tokenizer(a: &TokenizerArgs) -> Result<()> {
    // Refuse before the work, and again when writing (the link never replaces a file).
    for name in FILES {
        if a.out.join(name).symlink_metadata().is_ok() {
            return Err(exists_error(&a.out, name));
        }
    }
    let loaded = read_text_and_warn(&a.input)?;
    let start = Instant::now();
    let mut tok = BpeTokenizer::train(&loaded.text, a.vocab_size)?;
    let learned = tok.vocab_size();
    for text in &a.special_tokens {
        tok.add_special_token(text)?;
    }
    let seconds = start.elapsed().as_secs_f64();

    std::fs::create_dir_all(&a.out).map_err(|e| Error::io("cannot create", &a.out, e))?;
    write_new_files(&a.out, &[tok.vocab_json(), tok.merges_txt()])?;

    println!("learned {learned} tokens ({} merges) from {} in {seconds:.2} s", tok.merges().len(), loaded.name);
    if learned < a.vocab_size {
        println!("  (fewer than the {} asked for: no pair of tokens occurs twice any more)", a.vocab_size);
    }
    if !tok.special_tokens().is_empty() {
        let specials: Vec<String> = tok.special_tokens().iter().map(|(t, id)| format!("{t} = {id}")).collect();
        println!("special tokens: {}", specials.join(", "));
    }
    let tokens = tok.encode(&loaded.text).len();
    let bytes = loaded.text.len();
    println!(
        "the text's {bytes} bytes are {tokens} tokens ({:.2} bytes per token)",
        bytes as f64 / tokens.max(1) as f64
    );
    println!("wrote {} and {}", a.out.join(FILES[0]).display(), a.out.join(FILES[1]).display());
    Ok(())
}

/// Writes `contents[i]` to `out/FILES[i]`, each a new file: all temp files first, then each is
/// linked to its name. If a name is taken, the files this call linked are removed again and the
/// error says which name.
fn write_new_files(out: &Path, contents: &[String; 2]) -> Result<()> {
    let mut temps = Vec::new();
    for (name, text) in FILES.iter().zip(contents) {
        match write_temp(&out.join(name), text.as_bytes()) {
            Ok(temp) => temps.push(temp),
            Err(e) => {
                for temp in &temps {
                    let _ = std::fs::remove_file(temp);
                }
                return Err(e);
            }
        }
    }
    let mut linked = Vec::new();
    let mut result = Ok(());
    for (name, temp) in FILES.iter().zip(&temps) {
        let path = out.join(name);
        match commit_new(temp, &path) {
            Ok(true) => linked.push(path),
            Ok(false) => {
                result = Err(exists_error(out, name));
                break;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // `commit_new` removed the temp files it linked; these are the ones a failure left.
    for temp in &temps {
        let _ = std::fs::remove_file(temp);
    }
    if result.is_err() {
        for path in &linked {
            let _ = std::fs::remove_file(path);
        }
        return result;
    }
    Ok(())
}
