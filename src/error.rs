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
