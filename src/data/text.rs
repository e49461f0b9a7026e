//! A UTF-8 text file as a language-modelling dataset, split as nanoGPT splits it: the first 90%
//! of the tokens for training, the last 10% for validation. Tokens are characters unless a
//! [`Tokenizer`] is given ([`TextData::with_tokenizer`]), e.g. byte-level BPE.
//!
//! Texts built into the program are chosen by name where a path is expected (`--data
//! shakespeare`), so a fresh clone trains on tiny-shakespeare with no download; see
//! [`read_text`].

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rand::Rng;
use tensor::TensorRng;

use super::{Batch, CharTokenizer, Split, Tokenizer};
use crate::error::{Error, Result};

/// A tokenized text with its train and validation splits.
#[derive(Clone, Debug)]
pub struct TextData {
    /// The tokenizer: by default the characters of the whole text.
    pub tokenizer: Tokenizer,
    /// Training tokens (first 90%).
    pub train: Vec<usize>,
    /// Validation tokens (last 10%).
    pub val: Vec<usize>,
    /// Where the text came from (for messages).
    pub name: String,
}

/// A text that ships inside the program.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinText {
    /// The name that selects it (`--data NAME`).
    pub name: &'static str,
    /// What it is, for `--help` and messages.
    pub about: &'static str,
    /// The text itself.
    pub text: &'static str,
}

/// The built-in texts. tiny-shakespeare is the public-domain 1.1 MB selection of Shakespeare's
/// plays that nanoGPT and char-rnn train on; it is stored in `src/data/tinyshakespeare.txt`.
pub const BUILTIN_TEXTS: &[BuiltinText] = &[BuiltinText {
    name: "shakespeare",
    about: "tiny-shakespeare, 1,115,394 characters of Shakespeare's plays (public domain)",
    text: include_str!("tinyshakespeare.txt"),
}];

/// The built-in text called `name`, if there is one. Only a bare name matches: `./shakespeare`
/// or `data/shakespeare` is always a path.
pub fn builtin_text(name: &Path) -> Option<&'static BuiltinText> {
    let name = name.to_str()?;
    BUILTIN_TEXTS.iter().find(|b| b.name == name)
}

/// A text to train or evaluate on, read from a file or taken from the program.
#[derive(Clone, Debug)]
pub struct LoadedText {
    /// The text.
    pub text: Cow<'static, str>,
    /// Where it came from, for messages: the path, or `shakespeare (built in)`.
    pub name: String,
    /// When a built-in name was chosen and a file of that name also exists in the working
    /// directory: that file, which was not read. Callers tell the user.
    pub shadowed_file: Option<PathBuf>,
}

/// Reads what `--data` names. A bare built-in name (`shakespeare`) selects the built-in text, even
/// when a file of that name exists in the working directory: the result then names that file in
/// [`LoadedText::shadowed_file`] so the caller can say so (`./shakespeare` reads the file). Anything
/// else is a path, read with [`read_text_file`].
pub fn read_text(spec: &Path) -> Result<LoadedText> {
    if let Some(builtin) = builtin_text(spec) {
        return Ok(LoadedText {
            text: Cow::Borrowed(builtin.text),
            name: format!("{} (built in)", builtin.name),
            shadowed_file: spec.is_file().then(|| spec.to_path_buf()),
        });
    }
    Ok(LoadedText { text: Cow::Owned(read_text_file(spec)?), name: spec.display().to_string(), shadowed_file: None })
}

/// [`read_text`], then the note about a shadowed file printed on standard error.
pub fn read_text_and_warn(spec: &Path) -> Result<LoadedText> {
    let loaded = read_text(spec)?;
    if loaded.shadowed_file.is_some() {
        eprintln!(
            "note: `{0}` is the built-in text {1}; the file `{0}` in the working directory is not read \
             (pass `./{0}` to train on the file)",
            spec.display(),
            loaded.name
        );
    }
    Ok(loaded)
}

/// Reads a text file, rejecting a missing, empty, binary or non-UTF-8 file with a clear error.
pub fn read_text_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read data file", path, e))?;
    if bytes.is_empty() {
        return Err(Error::EmptyData(path.to_path_buf()));
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::BinaryData { path: path.to_path_buf(), offset });
    }
    String::from_utf8(bytes)
        .map_err(|e| Error::NotUtf8 { path: path.to_path_buf(), offset: e.utf8_error().valid_up_to() })
}

impl TextData {
    /// Loads and splits a text file or a built-in text ([`read_text`]); both splits must hold
    /// more than `block_size` tokens.
    pub fn load(path: &Path, block_size: usize) -> Result<Self> {
        let loaded = read_text_and_warn(path)?;
        Self::from_text(&loaded.text, &loaded.name, block_size)
    }

    /// Splits a text held in memory, building its character tokenizer.
    pub fn from_text(text: &str, name: &str, block_size: usize) -> Result<Self> {
        let tokenizer = Tokenizer::Char(CharTokenizer::from_corpus(text));
        Self::with_tokenizer(text, name, tokenizer, block_size)
    }

    /// Splits a text with a given tokenizer (e.g. a checkpoint's); characters outside a character
    /// tokenizer's vocabulary are an error.
    pub fn with_tokenizer(text: &str, name: &str, tokenizer: Tokenizer, block_size: usize) -> Result<Self> {
        let ids = tokenizer.encode(text)?;
        let n = ids.len();
        let cut = n * 9 / 10; // nanoGPT: data[:int(n*0.9)], data[int(n*0.9):]
        let data = TextData { tokenizer, train: ids[..cut].to_vec(), val: ids[cut..].to_vec(), name: name.to_string() };
        for split in [Split::Train, Split::Val] {
            let found = data.tokens(split).len();
            if found < block_size + 1 {
                return Err(Error::TooShort {
                    what: format!("the {} split of {name}", split.name()),
                    found,
                    block_size,
                    needed: block_size + 1,
                });
            }
        }
        Ok(data)
    }

    /// The tokens of one split.
    pub fn tokens(&self, split: Split) -> &[usize] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// `batch_size` random contiguous blocks, as nanoGPT's `get_batch`: a start `i` drawn
    /// uniformly from `0..len - block_size`, `x = data[i..i+block]`, `y = data[i+1..i+1+block]`.
    pub fn batch(&self, split: Split, batch_size: usize, block_size: usize, rng: &mut TensorRng) -> Batch {
        let data = self.tokens(split);
        let mut batch = Batch::with_capacity(batch_size, block_size);
        for _ in 0..batch_size {
            let i = rng.random_range(0..data.len() - block_size);
            batch.x.extend_from_slice(&data[i..i + block_size]);
            batch.y.extend_from_slice(&data[i + 1..i + 1 + block_size]);
        }
        batch
    }

    /// Every non-overlapping block of a split, in order, grouped into batches of up to
    /// `batch_size` (deterministic evaluation: no sampling).
    pub fn sequential_batches(&self, split: Split, batch_size: usize, block_size: usize) -> Vec<Batch> {
        let data = self.tokens(split);
        let starts: Vec<usize> = (0..).map(|k| k * block_size).take_while(|&i| i + block_size < data.len()).collect();
        starts
            .chunks(batch_size.max(1))
            .map(|chunk| {
                let mut b = Batch::with_capacity(chunk.len(), block_size);
                for &i in chunk {
                    b.x.extend_from_slice(&data[i..i + block_size]);
                    b.y.extend_from_slice(&data[i + 1..i + 1 + block_size]);
                }
                b
            })
            .collect()
    }
}
