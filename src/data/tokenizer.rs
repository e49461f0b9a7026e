//! Character-level tokenizer, built as nanoGPT's `prepare.py` builds it: the vocabulary is the
//! sorted set of the corpus's characters, and a character's id is its rank, so ids match nanoGPT's.
//! [`Tokenizer`] is what the text pipeline uses: this tokenizer or byte-level BPE
//! ([`crate::tokenizer`]).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::tokenizer::BpeTokenizer;

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

/// The tokenizer of a text model: characters ([`CharTokenizer`], the default, nanoGPT's
/// `shakespeare_char`) or byte-level BPE ([`BpeTokenizer`], GPT-2's). Training, checkpoints,
/// `sample` and `eval` go through this type, so a model trained on either works the same way.
///
/// ```
/// use gradlab::data::{CharTokenizer, Tokenizer};
/// let tok = Tokenizer::Char(CharTokenizer::from_corpus("hello"));
/// assert_eq!(tok.vocab_size(), 4);
/// assert_eq!(tok.decode(&tok.encode("hole").unwrap()), "hole");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tokenizer {
    /// One token per character.
    Char(CharTokenizer),
    /// Byte-level BPE: any text encodes, a token may hold part of a character. Boxed: its byte
    /// table makes it some thirty times larger than a character tokenizer.
    Bpe(Box<BpeTokenizer>),
}

impl Tokenizer {
    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        match self {
            Tokenizer::Char(t) => t.vocab_size(),
            Tokenizer::Bpe(t) => t.vocab_size(),
        }
    }

    /// The ids of `text`. Only a character tokenizer can fail (a character outside its
    /// vocabulary); byte-level BPE encodes any text.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        match self {
            Tokenizer::Char(t) => t.encode(text),
            Tokenizer::Bpe(t) => Ok(t.encode(text)),
        }
    }

    /// The bytes of a sequence of ids; ids outside the vocabulary become U+FFFD's bytes.
    pub fn decode_bytes(&self, ids: &[usize]) -> Vec<u8> {
        match self {
            Tokenizer::Char(t) => t.decode(ids).into_bytes(),
            Tokenizer::Bpe(t) => {
                let mut out = Vec::with_capacity(ids.len() * 4);
                for &id in ids {
                    match t.token_bytes(id) {
                        Some(b) => out.extend_from_slice(b),
                        None => out.extend_from_slice("\u{FFFD}".as_bytes()),
                    }
                }
                out
            }
        }
    }

    /// The text of a sequence of ids. Bytes that are not UTF-8 (a BPE sequence cut inside a
    /// character) and ids outside the vocabulary become U+FFFD.
    pub fn decode(&self, ids: &[usize]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// The text that `new` adds after `prompt`: decoded together, so a character whose bytes the
    /// two sequences share is not broken, then cut after the prompt's bytes. When `prompt` is
    /// the encoding of a text, that cut falls between characters.
    ///
    /// ```
    /// use gradlab::data::Tokenizer;
    /// use gradlab::tokenizer::BpeTokenizer;
    /// let tok = Tokenizer::Bpe(Box::new(BpeTokenizer::train("日本", 256).unwrap())); // the byte tokens only
    /// let ids = tok.encode("日本").unwrap(); // three bytes each
    /// assert_eq!(tok.decode(&ids[3..4]), "\u{FFFD}"); // a third of 本
    /// assert_eq!(tok.decode_after(&ids[..3], &ids[3..]), "本");
    /// ```
    pub fn decode_after(&self, prompt: &[usize], new: &[usize]) -> String {
        let all = self.decode_bytes(&[prompt, new].concat());
        let cut = self.decode_bytes(prompt).len();
        String::from_utf8_lossy(&all[cut..]).into_owned()
    }

    /// One token as a table shows it: its text quoted and escaped (`"e"`, `"\n"`), or, for a
    /// BPE token that holds part of a character, its bytes (`0xE6 0x97`).
    pub fn token_label(&self, id: usize) -> String {
        let bytes = self.decode_bytes(&[id]);
        match std::str::from_utf8(&bytes) {
            Ok(text) => format!("{text:?}"),
            Err(_) => bytes.iter().map(|b| format!("0x{b:02X}")).collect::<Vec<_>>().join(" "),
        }
    }

    /// `"char"` or `"bpe"`, for messages and the checkpoint's `"tokenizer"` entry.
    pub fn kind(&self) -> &'static str {
        match self {
            Tokenizer::Char(_) => "char",
            Tokenizer::Bpe(_) => "bpe",
        }
    }
}
