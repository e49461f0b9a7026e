//! Hugging Face's files for a byte-level BPE, as GPT-2 ships them: `vocab.json` and `merges.txt`.
//!
//! ```text
//! vocab.json   {"!": 0, "\"": 1, ..., "Ġ": 220, ..., "Ġt": 256, ..., "<|endoftext|>": 50256}
//! merges.txt   #version: 0.2
//!              Ġ t
//!              Ġ a
//!              h e
//!              ...
//! ```
//!
//! Every token is written in GPT-2's printable form ([`bytes`](super::bytes)), so no token holds a
//! space and a `merges.txt` line is two tokens separated by one space, in rank order (line 2 is
//! rank 0). The ids come from `vocab.json` alone; a merge's result is the token whose string is
//! its two parts written one after the other, and it must be in `vocab.json`.
//!
//! Reading checks what a later step relies on, and reports the first problem as an error naming
//! the file (and the line of `merges.txt`): a `vocab.json` that is not a JSON object of tokens
//! and non-negative integer ids, a token listed twice, an id given twice, ids that are not exactly
//! `0..n`, a missing byte token, a `merges.txt` line that is not two tokens separated by one space
//! (`\r\n` endings are accepted, and so are empty lines, which are skipped; the first line is
//! skipped if it starts with `#version`), and a merge whose part or result is not in `vocab.json`.
//!
//! **Special tokens.** GPT-2's `vocab.json` has one token that no merge makes: `<|endoftext|>`, id
//! 50256. A token that is neither a byte nor part or result of a merge is read as a special token:
//! it keeps its id and decodes to its text. [`BpeTokenizer::encode`] reads its text as plain text,
//! as `tokenizers` does when it is given only these two files;
//! [`BpeTokenizer::encode_with_special`] reads it as the special token, as Hugging Face's GPT-2
//! tokenizers do by default (their `tokenizer.json` lists `<|endoftext|>` as an added special
//! token, and `transformers`' `GPT2Tokenizer` adds it from its arguments).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer, MapAccess, Visitor};

use super::bpe::{BpeTokenizer, Merge};
use super::bytes::{BYTE_TO_CHAR, char_to_byte, from_printable};
use crate::checkpoint::write_atomic;
use crate::error::{Error, Result};

/// The first line of a `merges.txt` as Hugging Face writes it.
const MERGES_HEADER: &str = "#version: 0.2";

impl BpeTokenizer {
    /// Reads a tokenizer from a `vocab.json` and a `merges.txt` in Hugging Face's layout (see the
    /// [module docs](self) for what is checked).
    pub fn load_hf(vocab_path: &Path, merges_path: &Path) -> Result<Self> {
        let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e));
        parse(&read(vocab_path)?, vocab_path, &read(merges_path)?, merges_path)
    }

    /// Reads `dir/vocab.json` and `dir/merges.txt` ([`load_hf`](Self::load_hf)).
    pub fn load_hf_dir(dir: &Path) -> Result<Self> {
        Self::load_hf(&dir.join("vocab.json"), &dir.join("merges.txt"))
    }

    /// Reads a tokenizer from the contents of a `vocab.json` and a `merges.txt`; errors call
    /// them by those names.
    ///
    /// ```
    /// use gradlab::tokenizer::BpeTokenizer;
    /// // The 256 byte tokens in GPT-2's order, then "Ġt", "Ġth" and "Ġthe", made by three merges.
    /// let mut vocab: Vec<String> = gradlab::tokenizer::bytes::GPT2_BYTE_ORDER
    ///     .iter()
    ///     .map(|&b| gradlab::tokenizer::bytes::to_printable(&[b]))
    ///     .collect();
    /// vocab.extend(["Ġt", "Ġth", "Ġthe"].map(String::from));
    /// let json = serde_json::to_string(
    ///     &vocab.iter().enumerate().map(|(id, t)| (t.clone(), id)).collect::<std::collections::HashMap<_, _>>(),
    /// )
    /// .unwrap();
    /// let tok = BpeTokenizer::from_hf_text(&json, "#version: 0.2\nĠ t\nĠt h\nĠth e\n").unwrap();
    /// assert_eq!(tok.encode(" the"), [258]);
    /// assert_eq!(tok.encode(" then"), [258, b'n' as usize - 33]); // "n" has GPT-2's id 77
    /// ```
    pub fn from_hf_text(vocab_json: &str, merges_txt: &str) -> Result<Self> {
        parse(vocab_json, Path::new("vocab.json"), merges_txt, Path::new("merges.txt"))
    }

    /// This tokenizer's `vocab.json`: one JSON object, tokens by id, on one line as Hugging
    /// Face writes it.
    pub fn vocab_json(&self) -> String {
        let entries: Vec<String> = (0..self.vocab_size())
            .filter_map(|id| Some(format!("{}:{id}", serde_json::Value::String(self.token_string(id)?))))
            .collect();
        format!("{{{}}}\n", entries.join(","))
    }

    /// This tokenizer's `merges.txt`: the `#version` line, then one merge per line, by rank.
    pub fn merges_txt(&self) -> String {
        let mut out = format!("{MERGES_HEADER}\n");
        for m in self.merges() {
            // Every merge's ids are tokens (`from_parts`' contract), so both strings exist.
            let [left, right] = [m.left, m.right].map(|id| self.token_string(id).unwrap_or_default());
            out.push_str(&format!("{left} {right}\n"));
        }
        out
    }

    /// Writes `dir/vocab.json` and `dir/merges.txt` (creating `dir` if needed), each atomically:
    /// a reader sees a whole old file or a whole new one.
    pub fn save_hf(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        write_atomic(&dir.join("vocab.json"), self.vocab_json().as_bytes())?;
        write_atomic(&dir.join("merges.txt"), self.merges_txt().as_bytes())
    }
}

/// The tokenizer of a `vocab.json` and a `merges.txt` (their contents and their paths, for errors).
fn parse(vocab_json: &str, vocab_path: &Path, merges_txt: &str, merges_path: &Path) -> Result<BpeTokenizer> {
    let strings = read_vocab(vocab_json, vocab_path)?;
    let id_of: std::collections::HashMap<&str, usize> =
        strings.iter().enumerate().map(|(id, s)| (s.as_str(), id)).collect();

    // The byte tokens: one character standing for one byte.
    let mut byte_ids = [None; 256];
    for (id, s) in strings.iter().enumerate() {
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next())
            && let Some(b) = char_to_byte(c)
        {
            byte_ids[b as usize] = Some(id);
        }
    }
    let mut byte_id = [0; 256];
    for b in 0..256 {
        byte_id[b] = byte_ids[b].ok_or_else(|| Error::MissingByteToken {
            path: vocab_path.to_path_buf(),
            byte: b as u8,
            ch: BYTE_TO_CHAR[b],
        })?;
    }

    // The merges, by rank.
    let mut merges = Vec::new();
    let mut in_merge = vec![false; strings.len()];
    for (i, line) in merges_txt.lines().enumerate() {
        if (i == 0 && line.starts_with("#version")) || line.is_empty() {
            continue;
        }
        let merge = read_merge(line, i + 1, merges_path, &id_of)?;
        for id in [merge.left, merge.right, merge.result] {
            in_merge[id] = true;
        }
        merges.push(merge);
    }

    // Each token's bytes; a token that is no byte and in no merge is a special token.
    let mut tokens = Vec::with_capacity(strings.len());
    let mut special = Vec::new();
    for (id, s) in strings.into_iter().enumerate() {
        match from_printable(&s) {
            Some(bytes) if in_merge[id] || bytes.len() == 1 => tokens.push(bytes),
            _ => {
                tokens.push(s.as_bytes().to_vec());
                special.push((s, id));
            }
        }
    }
    Ok(BpeTokenizer::from_parts(tokens, byte_id, merges, special))
}

/// One line of `merges.txt` (line number `line`) as a merge of tokens of the vocabulary.
fn read_merge(text: &str, line: usize, path: &Path, id_of: &std::collections::HashMap<&str, usize>) -> Result<Merge> {
    let malformed =
        |reason: String| Error::MalformedMerge { path: path.to_path_buf(), line, text: text.to_string(), reason };
    let parts: Vec<&str> = text.split(' ').collect();
    let [left, right] = parts[..] else {
        return Err(malformed(format!("expected two tokens separated by one space, not {} parts", parts.len())));
    };
    if left.is_empty() || right.is_empty() {
        return Err(malformed("expected two tokens separated by one space, and a token cannot be empty".into()));
    }
    let result = format!("{left}{right}");
    let find = |token: &str, role: &'static str| {
        id_of.get(token).copied().ok_or_else(|| Error::MergeNotInVocab {
            path: path.to_path_buf(),
            line,
            text: text.to_string(),
            missing: token.to_string(),
            role,
        })
    };
    let merge =
        Merge { left: find(left, "first part")?, right: find(right, "second part")?, result: find(&result, "result")? };
    for part in [left, right] {
        if from_printable(part).is_none() {
            return Err(malformed(format!(
                "the token {part:?} is not byte-level: it has a character that stands for no byte"
            )));
        }
    }
    Ok(merge)
}

/// The token strings of a `vocab.json`, by id, after checking that each token is listed once and
/// the ids are exactly `0..n`, each once.
fn read_vocab(json: &str, path: &Path) -> Result<Vec<String>> {
    let bad_json = |source| Error::BadVocabJson { path: path.to_path_buf(), source };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let entries = deserializer.deserialize_map(EntriesVisitor).map_err(bad_json)?;
    deserializer.end().map_err(bad_json)?;

    let mut first_id: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut by_id: std::collections::HashMap<u64, &str> = std::collections::HashMap::new();
    for (token, id) in &entries {
        if let Some(&first) = first_id.get(token.as_str()) {
            return Err(Error::DuplicateToken { path: path.to_path_buf(), token: token.clone(), first, second: *id });
        }
        first_id.insert(token, *id);
        if let Some(&first) = by_id.get(id) {
            return Err(Error::DuplicateTokenId {
                path: path.to_path_buf(),
                id: *id,
                first: first.to_string(),
                second: token.clone(),
            });
        }
        by_id.insert(*id, token);
    }
    let count = entries.len();
    (0..count)
        .map(|id| {
            by_id.get(&(id as u64)).map(|t| t.to_string()).ok_or_else(|| Error::VocabIdsNotContiguous {
                path: PathBuf::from(path),
                count,
                missing: id,
            })
        })
        .collect()
}

/// Reads a JSON object into its (key, id) entries in file order, keeping repeated keys (which
/// a map would silently merge) so that [`read_vocab`] can report them.
struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Vec<(String, u64)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object mapping each token to a non-negative integer id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(entry) = map.next_entry::<String, u64>()? {
            entries.push(entry);
        }
        Ok(entries)
    }
}
