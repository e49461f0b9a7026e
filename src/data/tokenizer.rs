//! Character-level tokenizer, built as nanoGPT's `prepare.py` builds it: the vocabulary is the
//! sorted set of the corpus's characters, and a character's id is its rank, so ids match nanoGPT's.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Maps characters to ids (`stoi`) and back (`itos`).
///
/// ```
/// use gradlab::data::CharTokenizer;
/// let tok = CharTokenizer::from_corpus("hello");
/// assert_eq!(tok.chars(), &['e', 'h', 'l', 'o']);
/// assert_eq!(tok.encode("hole").unwrap(), vec![1, 3, 2, 0]);
/// assert_eq!(tok.decode(&[1, 0, 2, 2, 3]), "hello");
/// assert!(tok.encode("help").is_err()); // 'p' is not in the vocabulary
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTokenizer {
    itos: Vec<char>,
    stoi: HashMap<char, usize>,
}

impl CharTokenizer {
    /// The vocabulary of a corpus: its distinct characters, sorted.
    pub fn from_corpus(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self::from_chars(chars)
    }

    /// A tokenizer with exactly these characters as ids `0..n` (as stored in a checkpoint).
    pub fn from_chars(chars: Vec<char>) -> Self {
        let stoi = chars.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        CharTokenizer { itos: chars, stoi }
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.itos
    }

    /// The vocabulary as one string (for checkpoints and messages).
    pub fn vocab_string(&self) -> String {
        self.itos.iter().collect()
    }

    /// Number of distinct tokens.
    pub fn vocab_size(&self) -> usize {
        self.itos.len()
    }

    /// Ids of each character, or an error naming the first character outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .enumerate()
            .map(|(position, ch)| {
                self.stoi.get(&ch).copied().ok_or_else(|| Error::UnknownChar {
                    ch,
                    position,
                    vocab: format!("{:?}", self.vocab_string()),
                })
            })
            .collect()
    }

    /// The text of a sequence of ids (ids outside the vocabulary become U+FFFD).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter().map(|&i| self.itos.get(i).copied().unwrap_or('\u{FFFD}')).collect()
    }
}
