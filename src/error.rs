//! Errors from outside input: files, command-line arguments, checkpoints, text data.
//!
//! Every variant says what was expected and what was found, in words a user can act on; the
//! command-line program prints it after `error:` and exits with status 1, never a panic.

use std::path::PathBuf;

/// Anything that can go wrong with input the program does not control.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The data file has nothing in it.
    #[error("data file {0} is empty")]
    EmptyData(PathBuf),
    /// The data file is not text.
    #[error("data file {path} looks binary (a NUL byte at offset {offset}); expected UTF-8 text")]
    BinaryData {
        /// The file.
        path: PathBuf,
        /// Where the first NUL byte is.
        offset: usize,
    },
    /// The data file is not valid UTF-8.
    #[error("data file {path} is not valid UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The text is too short for the requested block size.
    #[error("{what} has {found} tokens, but block size {block_size} needs at least {needed}")]
    TooShort {
        /// Which text or split ("the training split of data.txt").
        what: String,
        /// Tokens available.
        found: usize,
        /// The requested block size.
        block_size: usize,
        /// Tokens needed.
        needed: usize,
    },
    /// A character that the tokenizer's vocabulary does not contain.
    #[error("character {ch:?} at position {position} is not in the vocabulary ({vocab})")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its position (in characters) in the input.
        position: usize,
        /// The vocabulary, printed for the user.
        vocab: String,
    },
    /// A checkpoint that cannot be used.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad combination of settings.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A plot that cannot be drawn (no data, inconsistent shapes, or a drawing error).
    #[error("cannot draw plot: {0}")]
    Plot(String),
    /// A training run whose loss stopped being a finite number. The run stops there and saves
    /// nothing more: the checkpoint in `out_dir` (if any) is the last one with finite weights.
    #[error(
        "training diverged at step {step}: the {what} is {loss} ({}); {}. {hint}",
        last_finite_text(.last_finite),
        kept_text(.out_dir, .saved)
    )]
    Diverged {
        /// The step at which the loss was not finite.
        step: usize,
        /// Which loss: `"training loss"` or `"evaluation loss"`.
        what: &'static str,
        /// That loss: NaN or infinite.
        loss: f64,
        /// The last finite training loss and its step, if a step had one.
        last_finite: Option<(usize, f32)>,
        /// The run's out dir.
        out_dir: PathBuf,
        /// The step of the checkpoint left in `out_dir`, if there is one.
        saved: Option<usize>,
        /// What to try instead, naming the settings to change and their values.
        hint: String,
    },
    /// Sizes that cannot fit in this machine's memory, refused before anything is allocated.
    #[error("not enough memory: {what} needs {}; ask for smaller sizes", memory_text(.needed, .available))]
    TooLarge {
        /// What was asked for, naming the sizes (`"training a GPT with --n-embd 10000000 ..."`).
        what: String,
        /// Estimated bytes (see [`crate::train::MemoryEstimate`]); `None` when the count
        /// overflows a `usize`.
        needed: Option<usize>,
        /// Bytes available (`MemAvailable` in `/proc/meminfo`), if known.
        available: Option<u64>,
    },
    /// A line of a `merges.txt` that is not two byte-level tokens separated by one space.
    #[error("{path} line {line}: {reason}, found {text:?}")]
    MalformedMerge {
        /// The merges file.
        path: PathBuf,
        /// The line number, counting from 1 (the `#version` line is line 1).
        line: usize,
        /// The line as read.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A merge of a `merges.txt` whose part, or whose result, is not a token of the `vocab.json`.
    #[error(
        "{path} line {line}: the merge {text:?} needs the token {missing:?} (its {role}), which is not in the vocabulary"
    )]
    MergeNotInVocab {
        /// The merges file.
        path: PathBuf,
        /// The line number, counting from 1.
        line: usize,
        /// The line as read: the merge's two parts.
        text: String,
        /// The token that is missing.
        missing: String,
        /// Which one it is: `"first part"`, `"second part"` or `"result"`.
        role: &'static str,
    },
    /// A `vocab.json` whose ids are not exactly `0..n`.
    #[error("{path}: its {count} tokens must have the ids 0..{count} with no gap, but no token has id {missing}")]
    VocabIdsNotContiguous {
        /// The vocabulary file.
        path: PathBuf,
        /// How many tokens it has.
        count: usize,
        /// The smallest id in `0..count` that no token has.
        missing: usize,
    },
    /// A `vocab.json` that gives one id to two tokens.
    #[error("{path}: the tokens {first:?} and {second:?} both have id {id}")]
    DuplicateTokenId {
        /// The vocabulary file.
        path: PathBuf,
        /// The id given twice.
        id: u64,
        /// The first token with it, in file order.
        first: String,
        /// The second.
        second: String,
    },
    /// A `vocab.json` that lists one token twice.
    #[error("{path}: the token {token:?} is listed twice (ids {first} and {second})")]
    DuplicateToken {
        /// The vocabulary file.
        path: PathBuf,
        /// The token.
        token: String,
        /// Its first id, in file order.
        first: u64,
        /// Its second.
        second: u64,
    },
    /// A `vocab.json` that is not a JSON object of tokens and ids.
    #[error("{path} is not a vocabulary (a JSON object mapping each token to its id): {source}")]
    BadVocabJson {
        /// The vocabulary file.
        path: PathBuf,
        /// The parser's reason, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A byte-level vocabulary without the token of one of the 256 bytes.
    #[error(
        "{path}: no token for byte 0x{byte:02X} (written {ch:?}); a byte-level BPE vocabulary needs all \
         256 byte tokens, so that any text can be encoded"
    )]
    MissingByteToken {
        /// The vocabulary file.
        path: PathBuf,
        /// The byte.
        byte: u8,
        /// Its printable character, as `vocab.json` would write it.
        ch: char,
    },
    /// A token id outside the vocabulary (in ids given to decode).
    #[error("token id {id} is not in the vocabulary ({vocab_size} tokens, ids 0..{vocab_size})")]
    UnknownTokenId {
        /// The id.
        id: usize,
        /// The vocabulary's size.
        vocab_size: usize,
    },
    /// A special token that cannot be added to a tokenizer.
    #[error("cannot add the special token {text:?}: {reason}")]
    BadSpecialToken {
        /// The token's text.
        text: String,
        /// Why not.
        reason: String,
    },
}

/// `"the last finite training loss was 2.3716, at step 11"`, or that no step had one.
fn last_finite_text(last: &Option<(usize, f32)>) -> String {
    match last {
        Some((step, loss)) => format!("the last finite training loss was {loss:.4}, at step {step}"),
        None => "no step had a finite training loss".to_string(),
    }
}

/// Which checkpoint a diverged run left behind.
fn kept_text(out_dir: &std::path::Path, saved: &Option<usize>) -> String {
    match saved {
        Some(s) => format!("the checkpoint in {} is still the one of step {s}", out_dir.display()),
        None => "no checkpoint was written".to_string(),
    }
}

/// `"about 4.4 TiB (4837158312345 bytes), but this machine has 7.6 GiB available"`, or the same
/// for a count that overflows.
fn memory_text(needed: &Option<usize>, available: &Option<u64>) -> String {
    let needed = match needed {
        Some(n) => format!("about {} ({n} bytes)", human_bytes(*n as u64)),
        None => {
            format!("more than {} (its sizes overflow a {}-bit count)", human_bytes(usize::MAX as u64), usize::BITS)
        }
    };
    match available {
        Some(a) => format!("{needed}, but this machine has {} available", human_bytes(*a)),
        None => format!("{needed}, more than any machine has"),
    }
}

/// Bytes in binary units with one decimal: `"512 B"`, `"1.5 KiB"`, `"4.4 TiB"`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Shorthand for results with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error with its path and what was being done.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// A checkpoint error.
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), reason: reason.into() }
    }
}
