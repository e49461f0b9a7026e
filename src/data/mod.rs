//! Training data: a character tokenizer and the [`Tokenizer`] text uses (characters or BPE), text files split as nanoGPT splits them, built-in
//! synthetic tasks, and batches of token ids.

mod seq2seq;
mod tasks;
mod text;
mod tokenizer;

pub use seq2seq::{Seq2SeqBatch, Seq2SeqExample};
pub use tasks::{Task, TaskData};
pub use text::{
    BUILTIN_TEXTS, BuiltinText, LoadedText, TextData, builtin_text, read_text, read_text_and_warn, read_text_file,
};
pub use tokenizer::{CharTokenizer, Tokenizer};

use tensor::TensorRng;

/// A target id that the loss ignores (prompt positions of a synthetic task).
pub const IGNORE: usize = usize::MAX;

/// Which part of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training split.
    Train,
    /// The validation (held-out) split.
    Val,
}

impl Split {
    /// `"train"` or `"val"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

/// Inputs and next-token targets, both `(B, T)` row-major.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Input ids.
    pub x: Vec<usize>,
    /// Target ids (or [`IGNORE`]).
    pub y: Vec<usize>,
    /// Sequence length `T`.
    pub block_size: usize,
}

impl Batch {
    /// An empty batch ready for `batch_size` rows of `block_size`.
    pub fn with_capacity(batch_size: usize, block_size: usize) -> Self {
        Batch {
            x: Vec::with_capacity(batch_size * block_size),
            y: Vec::with_capacity(batch_size * block_size),
            block_size,
        }
    }

    /// `[B, T]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.x.len() / self.block_size.max(1), self.block_size]
    }
}

/// What a model trains on: a text file or a synthetic task.
#[derive(Clone, Debug)]
pub enum Dataset {
    /// A language model over a text.
    Text(TextData),
    /// A built-in synthetic task.
    Task(TaskData),
}

impl Dataset {
    /// The tokenizer (a task's characters, or the text's tokenizer), as a checkpoint stores it.
    pub fn tokenizer(&self) -> Tokenizer {
        match self {
            Dataset::Text(t) => t.tokenizer.clone(),
            Dataset::Task(t) => Tokenizer::Char(t.tokenizer.clone()),
        }
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        match self {
            Dataset::Text(t) => t.tokenizer.vocab_size(),
            Dataset::Task(t) => t.tokenizer.vocab_size(),
        }
    }

    /// The text of a sequence of ids (see [`Tokenizer::decode`]).
    pub fn decode(&self, ids: &[usize]) -> String {
        match self {
            Dataset::Text(t) => t.tokenizer.decode(ids),
            Dataset::Task(t) => t.tokenizer.decode(ids),
        }
    }

    /// A random training or validation batch.
    pub fn batch(&self, split: Split, batch_size: usize, block_size: usize, rng: &mut TensorRng) -> Batch {
        match self {
            Dataset::Text(t) => t.batch(split, batch_size, block_size, rng),
            Dataset::Task(t) => t.batch(split, batch_size, rng),
        }
    }

    /// A short description ("tinyshakespeare.txt" or "task sort").
    pub fn name(&self) -> String {
        match self {
            Dataset::Text(t) => t.name.clone(),
            Dataset::Task(t) => format!("task {}", t.task.name()),
        }
    }
}
