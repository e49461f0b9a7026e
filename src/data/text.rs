//! A UTF-8 text file as a character-level language-modelling dataset, split as nanoGPT splits it:
//! the first 90% of the tokens for training, the last 10% for validation.

use std::path::Path;

use rand::Rng;
use tensor::TensorRng;

use super::{Batch, CharTokenizer, Split};
use crate::error::{Error, Result};

/// A tokenized text with its train and validation splits.
#[derive(Clone, Debug)]
pub struct TextData {
    /// The tokenizer built from the whole text.
    pub tokenizer: CharTokenizer,
    /// Training tokens (first 90%).
    pub train: Vec<usize>,
    /// Validation tokens (last 10%).
    pub val: Vec<usize>,
    /// Where the text came from (for messages).
    pub name: String,
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
    /// Loads and splits a text file; both splits must hold more than `block_size` tokens.
    pub fn load(path: &Path, block_size: usize) -> Result<Self> {
        let text = read_text_file(path)?;
        Self::from_text(&text, &path.display().to_string(), block_size)
    }

    /// Splits a text held in memory, building its tokenizer.
    pub fn from_text(text: &str, name: &str, block_size: usize) -> Result<Self> {
        let tokenizer = CharTokenizer::from_corpus(text);
        Self::with_tokenizer(text, name, tokenizer, block_size)
    }

    /// Splits a text with a given tokenizer (e.g. a checkpoint's); unknown characters are an error.
    pub fn with_tokenizer(text: &str, name: &str, tokenizer: CharTokenizer, block_size: usize) -> Result<Self> {
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
