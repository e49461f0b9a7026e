//! The byte-level BPE tokenizer: encoding by merges applied in rank order, decoding, and training
//! a vocabulary on a text (Karpathy's minbpe `RegexTokenizer` is the readable model).
//!
//! **Tokens.** Every token is a byte string. The first 256 are the single bytes, so any text can be
//! encoded, whatever its language or however broken its UTF-8. Each further token is made by a
//! *merge* of two earlier tokens, learned in order: merge number `r` (its *rank*) says "where
//! token `left` is followed by token `right`, write token `result` instead".
//!
//! **Encoding** one word (the pre-tokenizer has cut the text into words, see
//! [`pretokenize`](super::pretokenize)):
//!
//! ```text
//! " lower"   bytes:            Ġ l o w e r
//! rank 3:    "l" "o" -> "lo"   Ġ lo w e r
//! rank 7:    "Ġ" "lo" -> "Ġlo" Ġlo w e r
//! rank 9:    "e" "r" -> "er"   Ġlo w er
//! rank 12:   "Ġlo" "w" -> ...  Ġlow er        no adjacent pair has a merge: done
//! ```
//!
//! At each step, among the adjacent pairs that have a merge, the one of lowest rank (learned
//! first) is merged, at all its places from left to right, as in GPT-2's `encoder.py` and minbpe.
//! (Hugging Face's `tokenizers` merges one place at a time with a priority queue ordered by rank
//! and then position; on merges where each result's parts were learned before it, as a trainer
//! writes them, the two give the same tokens.) Each step costs a pass over the word and a word
//! takes at most one step per distinct merge it uses, so a long word is slow only if it uses many
//! merges. Words repeat, so [`BpeTokenizer::encode`] keeps the tokens of each distinct word it has
//! seen in a cache for the length of the call.
//!
//! **Decoding** concatenates the tokens' bytes; the bytes of any ids are not always UTF-8 (a token
//! can end inside a character), so [`BpeTokenizer::decode`] replaces invalid bytes with U+FFFD, as
//! GPT-2's decoder does (`errors="replace"`), and [`BpeTokenizer::decode_bytes`] gives them as
//! they are. Encoding then decoding gives the text back exactly.
//!
//! **Training** ([`BpeTokenizer::train`]) learns the merges from a text:
//!
//! 1. cut the text into words and count each distinct word;
//! 2. count every adjacent pair of tokens within words (a pair is counted once per occurrence,
//!    times the count of its word; pairs never straddle two words);
//! 3. merge the most frequent pair into a new token everywhere, update the pair counts, repeat
//!    until the vocabulary has the size asked for (or no pair occurs twice).
//!
//! Recounting every pair after each merge (as minbpe does) costs a pass over all words per merge.
//! Here only the words holding the merged pair are recounted: `where_pair` remembers which words
//! a pair was seen in, and the most frequent pair comes off a max-heap. A merge lowers the counts
//! of the pairs around the merged places and raises those of the pairs it creates; a raised count
//! is pushed as a new heap entry, a lowered one is left stale. So every pair has an entry at or
//! above its true count: an entry that comes to the top with an out-of-date count is put back
//! with its true count, and the first entry at the top whose count is true is the most frequent
//! pair (the lazy-deletion heap of Hugging Face's trainer).
//!
//! Ties are broken towards the pair with the smaller ids (smaller first id, then smaller second).
//! The byte tokens have GPT-2's ids ([`GPT2_BYTE_ORDER`]: the order of their printable
//! characters), as in Hugging Face's trainer, and a merged token whose bytes are already a token
//! reuses that token's id, as there too; so both learn the same merges from the same text.

use std::collections::{BinaryHeap, HashMap, HashSet};

use super::bytes::GPT2_BYTE_ORDER;
use super::pretokenize::pretokenize;
use crate::error::{Error, Result};

/// One learned merge: where token `left` is followed by token `right`, write token `result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Merge {
    /// The first token of the pair.
    pub left: usize,
    /// The second token of the pair.
    pub right: usize,
    /// The token they become; its bytes are `left`'s followed by `right`'s.
    pub result: usize,
}

/// A byte-level BPE tokenizer: 256 byte tokens, merges in rank order, and special tokens.
///
/// ```
/// use gradlab::tokenizer::BpeTokenizer;
/// let text = "the cat sat on the mat; the cat ate the rat";
/// let tok = BpeTokenizer::train(text, 262).unwrap();
/// assert_eq!(tok.vocab_size(), 262);
/// let ids = tok.encode(text);
/// assert!(ids.len() < text.len());
/// assert_eq!(tok.decode(&ids).unwrap(), text);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpeTokenizer {
    /// The bytes of each token, by id (a special token's are its text's).
    tokens: Vec<Vec<u8>>,
    /// The id of each byte's token: `byte_ids[b]`.
    byte_ids: [usize; 256],
    /// The merges, by rank.
    merges: Vec<Merge>,
    /// Each mergeable pair's rank and result. When a pair is listed twice, the later rank wins,
    /// as in GPT-2's `encoder.py` and Hugging Face's `tokenizers`.
    ranks: HashMap<(usize, usize), (usize, usize)>,
    /// The special tokens (text and id), in the order they were added.
    special: Vec<(String, usize)>,
}

impl BpeTokenizer {
    /// A tokenizer from its parts, which the caller has checked: `tokens[byte_ids[b]] == [b]`,
    /// every merge's ids are in `tokens` with `tokens[result] == tokens[left] ++ tokens[right]`,
    /// and every special token's id is in `tokens` with its text's bytes.
    pub(crate) fn from_parts(
        tokens: Vec<Vec<u8>>,
        byte_ids: [usize; 256],
        merges: Vec<Merge>,
        special: Vec<(String, usize)>,
    ) -> Self {
        let ranks = merges.iter().enumerate().map(|(rank, m)| ((m.left, m.right), (rank, m.result))).collect();
        BpeTokenizer { tokens, byte_ids, merges, ranks, special }
    }

    /// Learns a vocabulary of `vocab_size` tokens from `text`: the 256 byte tokens, then merges of
    /// the most frequent pair within the words of GPT-2's pre-tokenizer (see the [module
    /// docs](self) for the algorithm and how ties are broken). Stops early, with a smaller
    /// vocabulary, when no pair occurs twice. Special tokens in `text` are plain text here.
    ///
    /// An error if `vocab_size` is below 256.
    pub fn train(text: &str, vocab_size: usize) -> Result<Self> {
        if vocab_size < 256 {
            return Err(Error::Config(format!(
                "vocab size {vocab_size} is too small: a byte-level BPE starts with the 256 byte tokens"
            )));
        }
        // The byte tokens, with GPT-2's ids.
        let mut tokens: Vec<Vec<u8>> = GPT2_BYTE_ORDER.iter().map(|&b| vec![b]).collect();
        let mut byte_ids = [0; 256];
        for (id, &b) in GPT2_BYTE_ORDER.iter().enumerate() {
            byte_ids[b as usize] = id;
        }
        let mut token_ids: HashMap<Vec<u8>, usize> = tokens.iter().cloned().zip(0..).collect();

        // 1. The distinct words and their counts, each word as its byte tokens.
        let mut word_counts: HashMap<&str, usize> = HashMap::new();
        for word in pretokenize(text) {
            *word_counts.entry(word).or_default() += 1;
        }
        let mut words: Vec<Vec<usize>> = Vec::with_capacity(word_counts.len());
        let mut counts: Vec<usize> = Vec::with_capacity(word_counts.len());
        for (word, count) in word_counts {
            words.push(word.bytes().map(|b| byte_ids[b as usize]).collect());
            counts.push(count);
        }

        // 2. Every pair's count, and which words hold it.
        let mut pair_counts: HashMap<(usize, usize), usize> = HashMap::new();
        let mut where_pair: HashMap<(usize, usize), HashSet<usize>> = HashMap::new();
        for (w, word) in words.iter().enumerate() {
            for pair in word.windows(2) {
                let pair = (pair[0], pair[1]);
                *pair_counts.entry(pair).or_default() += counts[w];
                where_pair.entry(pair).or_default().insert(w);
            }
        }
        // The max-heap of candidates: the highest count on top, then the smallest pair (hence
        // `Reverse`). Entries may be out of date; see the module docs.
        let mut heap: BinaryHeap<(usize, std::cmp::Reverse<(usize, usize)>)> =
            pair_counts.iter().map(|(&pair, &count)| (count, std::cmp::Reverse(pair))).collect();

        // 3. Merge until the vocabulary is full.
        let mut merges = Vec::new();
        while tokens.len() < vocab_size {
            let Some((count, std::cmp::Reverse(pair))) = heap.pop() else { break };
            let true_count = pair_counts.get(&pair).copied().unwrap_or(0);
            if count != true_count {
                if true_count > 0 {
                    heap.push((true_count, std::cmp::Reverse(pair)));
                }
                continue;
            }
            if count < 2 {
                break; // a pair seen once is not worth a token
            }
            let bytes = [tokens[pair.0].as_slice(), tokens[pair.1].as_slice()].concat();
            let result = *token_ids.entry(bytes).or_insert_with_key(|bytes| {
                tokens.push(bytes.clone());
                tokens.len() - 1
            });
            merges.push(Merge { left: pair.0, right: pair.1, result });

            // Recount the words that hold the pair: take their pairs out, merge, put them back.
            let mut changes: HashMap<(usize, usize), isize> = HashMap::new();
            for w in where_pair.remove(&pair).unwrap_or_default() {
                let count = counts[w] as isize;
                let word = &mut words[w];
                if !word.windows(2).any(|p| (p[0], p[1]) == pair) {
                    continue; // the pair was here once, but an earlier merge took it
                }
                for p in word.windows(2) {
                    *changes.entry((p[0], p[1])).or_default() -= count;
                }
                *word = merge_pair(word, pair, result);
                for p in word.windows(2) {
                    *changes.entry((p[0], p[1])).or_default() += count;
                    where_pair.entry((p[0], p[1])).or_default().insert(w);
                }
            }
            for (p, change) in changes {
                let entry = pair_counts.entry(p).or_default();
                *entry = entry.checked_add_signed(change).expect("a pair count never goes below zero");
                if change > 0 {
                    heap.push((*entry, std::cmp::Reverse(p)));
                }
                if *entry == 0 {
                    pair_counts.remove(&p);
                }
            }
        }
        Ok(Self::from_parts(tokens, byte_ids, merges, Vec::new()))
    }

    /// The number of tokens: bytes, merged tokens and special tokens.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The merges, by rank (the first was learned first and is applied first).
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// The bytes of token `id` (a special token's are its text's), or `None` past the vocabulary.
    pub fn token_bytes(&self, id: usize) -> Option<&[u8]> {
        self.tokens.get(id).map(Vec::as_slice)
    }

    /// The id of the token of the single byte `b`.
    pub fn byte_token(&self, b: u8) -> usize {
        self.byte_ids[b as usize]
    }

    /// The special tokens (text and id), in the order they were added.
    pub fn special_tokens(&self) -> &[(String, usize)] {
        &self.special
    }

    /// The id of the special token with this text, if there is one.
    pub fn special_token_id(&self, text: &str) -> Option<usize> {
        self.special.iter().find(|(t, _)| t == text).map(|&(_, id)| id)
    }

    /// Adds a special token with the next id (GPT-2's `<|endoftext|>` is its last token, 50256)
    /// and returns the id. It decodes to its text; [`encode`](Self::encode) still reads its text
    /// as plain text, [`encode_with_special`](Self::encode_with_special) as this token.
    ///
    /// An error if the text is empty, is already a special token, or would be written in
    /// `vocab.json` as an existing token is (the file could not tell the two apart).
    ///
    /// ```
    /// use gradlab::tokenizer::BpeTokenizer;
    /// let mut tok = BpeTokenizer::train("", 256).unwrap();
    /// let eot = tok.add_special_token("<|endoftext|>").unwrap();
    /// assert_eq!(eot, 256);
    /// assert_eq!(tok.encode_with_special("hi<|endoftext|>"), [tok.byte_token(b'h'), tok.byte_token(b'i'), eot]);
    /// assert_eq!(tok.encode("<|endoftext|>").len(), 13); // plain text: one byte token each
    /// assert_eq!(tok.decode(&[eot]).unwrap(), "<|endoftext|>");
    /// ```
    pub fn add_special_token(&mut self, text: &str) -> Result<usize> {
        let refuse = |reason: &str| Error::BadSpecialToken { text: text.to_string(), reason: reason.to_string() };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        if self.special_token_id(text).is_some() {
            return Err(refuse("it is already a special token"));
        }
        if (0..self.tokens.len()).any(|id| self.token_string(id).as_deref() == Some(text)) {
            return Err(refuse("vocab.json already writes a token this way"));
        }
        self.tokens.push(text.as_bytes().to_vec());
        let id = self.tokens.len() - 1;
        self.special.push((text.to_string(), id));
        Ok(id)
    }

    /// The string that stands for token `id` in `vocab.json` and `merges.txt`: a special token's
    /// text, or the printable form of the token's bytes ([`to_printable`](super::bytes::to_printable));
    /// `None` past the vocabulary.
    ///
    /// ```
    /// use gradlab::tokenizer::BpeTokenizer;
    /// let tok = BpeTokenizer::train("", 256).unwrap();
    /// assert_eq!(tok.token_string(tok.byte_token(b' ')).as_deref(), Some("Ġ"));
    /// assert_eq!(tok.token_string(256), None);
    /// ```
    pub fn token_string(&self, id: usize) -> Option<String> {
        let bytes = self.tokens.get(id)?;
        Some(match self.special.iter().find(|&&(_, special)| special == id) {
            Some((text, _)) => text.clone(),
            None => super::bytes::to_printable(bytes),
        })
    }

    /// The ids of `text`, special tokens' texts included as plain text (what `tokenizers` does
    /// with GPT-2's `vocab.json` and `merges.txt` alone; tiktoken's `encode_ordinary`).
    ///
    /// ```
    /// use gradlab::tokenizer::BpeTokenizer;
    /// let tok = BpeTokenizer::train("", 256).unwrap(); // bytes only
    /// assert_eq!(tok.encode("hé"), [tok.byte_token(b'h'), tok.byte_token(0xC3), tok.byte_token(0xA9)]);
    /// ```
    pub fn encode(&self, text: &str) -> Vec<usize> {
        let mut ids = Vec::with_capacity(text.len() / 2);
        // The tokens of each distinct word of this text.
        let mut cache: HashMap<&str, Vec<usize>> = HashMap::new();
        for word in pretokenize(text) {
            let tokens = cache.entry(word).or_insert_with(|| self.encode_word(word.as_bytes()));
            ids.extend_from_slice(tokens);
        }
        ids
    }

    /// The ids of `text`, where each occurrence of a special token's text is that token (at each
    /// place the leftmost occurrence wins, then the longest); the text between is encoded by
    /// [`encode`](Self::encode). This is what Hugging Face's GPT-2 tokenizers do by default,
    /// because `<|endoftext|>` is an added special token in their `tokenizer.json`.
    pub fn encode_with_special(&self, text: &str) -> Vec<usize> {
        // Where each special token next occurs, at or after `done` (`None`: nowhere). Each is
        // searched for again only once the text before it has been consumed.
        let find = |from: usize, t: &str| text[from..].find(t).map(|at| from + at);
        let mut next: Vec<Option<usize>> = self.special.iter().map(|(t, _)| find(0, t)).collect();
        let mut ids = Vec::new();
        let mut done = 0;
        loop {
            // The leftmost special token, the longest of those that start there.
            let first = (0..self.special.len())
                .filter_map(|i| next[i].map(|at| (at, std::cmp::Reverse(self.special[i].0.len()), i)))
                .min();
            let Some((at, std::cmp::Reverse(len), i)) = first else { break };
            ids.extend(self.encode(&text[done..at]));
            ids.push(self.special[i].1);
            done = at + len;
            for (j, (t, _)) in self.special.iter().enumerate() {
                if next[j].is_some_and(|at| at < done) {
                    next[j] = find(done, t);
                }
            }
        }
        ids.extend(self.encode(&text[done..]));
        ids
    }

    /// The tokens of one word: its bytes, then merges by rank until no adjacent pair has one.
    fn encode_word(&self, word: &[u8]) -> Vec<usize> {
        let mut parts: Vec<usize> = word.iter().map(|&b| self.byte_ids[b as usize]).collect();
        while parts.len() > 1 {
            // The adjacent pair with the lowest rank.
            let best = parts
                .windows(2)
                .filter_map(|p| self.ranks.get(&(p[0], p[1])).map(|&(rank, result)| (rank, (p[0], p[1]), result)))
                .min();
            let Some((_, pair, result)) = best else { break };
            parts = merge_pair(&parts, pair, result);
        }
        parts
    }

    /// The bytes of a sequence of ids, concatenated. An error names the first id past the
    /// vocabulary.
    pub fn decode_bytes(&self, ids: &[usize]) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let token = self.tokens.get(id).ok_or(Error::UnknownTokenId { id, vocab_size: self.tokens.len() })?;
            bytes.extend_from_slice(token);
        }
        Ok(bytes)
    }

    /// The text of a sequence of ids: [`decode_bytes`](Self::decode_bytes) read as UTF-8, with
    /// U+FFFD for bytes that are not (a sequence cut inside a character). `decode(encode(s)) == s`.
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }
}

/// `word` with every occurrence of `pair`, from left to right, replaced by `result`.
///
/// Occurrences do not overlap: in `a a a` the pair `(a, a)` is merged once, at the left.
fn merge_pair(word: &[usize], pair: (usize, usize), result: usize) -> Vec<usize> {
    let mut merged = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            merged.push(result);
            i += 2;
        } else {
            merged.push(word[i]);
            i += 1;
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_pair_is_left_to_right_without_overlap() {
        assert_eq!(merge_pair(&[1, 1, 1], (1, 1), 9), [9, 1]);
        assert_eq!(merge_pair(&[1, 1, 1, 1], (1, 1), 9), [9, 9]);
        assert_eq!(merge_pair(&[2, 1, 3, 1, 3], (1, 3), 9), [2, 9, 9]);
        assert_eq!(merge_pair(&[], (1, 3), 9), Vec::<usize>::new());
    }

    /// The pair counts of all words, recounted from scratch.
    fn recount(tok: &BpeTokenizer, text: &str) -> HashMap<(usize, usize), usize> {
        let mut counts = HashMap::new();
        for word in pretokenize(text) {
            for p in tok.encode(word).windows(2) {
                *counts.entry((p[0], p[1])).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn training_merges_the_most_frequent_pair_of_a_full_recount() {
        // minbpe's way, merge by merge: after k merges, merge k+1 must be the most frequent pair
        // of a full recount of the text encoded with the first k (ties: smaller ids).
        let text = "low lower lowest newer wider new news; a aaa aaaa banana bandana! ".repeat(2);
        let text = text.as_str();
        let tok = BpeTokenizer::train(text, 330).unwrap();
        assert!(tok.merges.len() > 20, "only {} merges", tok.merges.len());
        for k in 0..tok.merges.len() {
            let mut first_k = tok.clone();
            first_k.merges.truncate(k);
            let known = first_k.merges.iter().map(|m| m.result + 1).max().unwrap_or(0).max(256);
            first_k.tokens.truncate(known);
            first_k.ranks =
                first_k.merges.iter().enumerate().map(|(rank, m)| ((m.left, m.right), (rank, m.result))).collect();
            let counts = recount(&first_k, text);
            let best = counts.iter().map(|(&pair, &count)| (count, std::cmp::Reverse(pair))).max().unwrap();
            let merge = tok.merges[k];
            assert_eq!((merge.left, merge.right), best.1.0, "merge {k}");
        }
    }

    #[test]
    fn a_merged_token_has_the_bytes_of_its_parts() {
        let tok = BpeTokenizer::train("hello hello hello world world", 270).unwrap();
        for m in tok.merges() {
            let parts = [tok.token_bytes(m.left).unwrap(), tok.token_bytes(m.right).unwrap()].concat();
            assert_eq!(tok.token_bytes(m.result).unwrap(), parts);
        }
    }

    #[test]
    fn training_stops_when_no_pair_repeats() {
        let tok = BpeTokenizer::train("abc", 1000).unwrap();
        assert_eq!(tok.vocab_size(), 256);
        assert!(BpeTokenizer::train("abc", 255).is_err());
    }
}
