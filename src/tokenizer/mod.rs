//! Byte-level BPE, the tokenizer of GPT-2: text to token ids and back, trained on a text or read
//! from Hugging Face's `vocab.json` and `merges.txt`.
//!
//! ```text
//! "Hello  world!"
//!   pre-tokenize ──▶ "Hello" " " " world" "!"          (pretokenize: GPT-2's split pattern)
//!   to bytes     ──▶ [72 101 108 108 111] [32] ...     (UTF-8)
//!   merge by rank──▶ [Hello] [Ġ] [Ġworld] [!]          (bpe: merges learned by training)
//!   ids          ──▶ [15496, 220, 995, 0]              (GPT-2's ids for these tokens)
//! ```
//!
//! One file per idea:
//! - [`bytes`]: GPT-2's map from the 256 bytes to printable characters, in which the vocabulary
//!   files write tokens (`Ġ` is the space);
//! - [`pretokenize`]: GPT-2's pre-tokenizer, which cuts text into words that merges never cross;
//! - [`bpe`] ([`BpeTokenizer`]): encoding by merges in rank order, decoding, and training;
//! - [`hf`]: reading and writing Hugging Face's `vocab.json` + `merges.txt`
//!   ([`BpeTokenizer::load_hf`], [`BpeTokenizer::save_hf`]).
//!
//! `train --tokenizer bpe` trains a GPT on these tokens; [`Tokenizer`](crate::data::Tokenizer) is
//! where the text pipeline chooses between them and characters
//! ([`CharTokenizer`](crate::data::CharTokenizer), the default).

pub mod bpe;
pub mod bytes;
pub mod hf;
pub mod pretokenize;

pub use bpe::{BpeTokenizer, Merge};
