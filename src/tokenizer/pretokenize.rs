//! GPT-2's pre-tokenizer: the text is cut into words before BPE sees it, and merges never cross
//! a cut, so no token spans a letter and a punctuation mark, or two words.
//!
//! GPT-2 cuts with one regular expression, tried at each position, whose first alternative that
//! matches wins (alternatives are numbered for the code below):
//!
//! ```text
//! 1  's|'t|'re|'ve|'m|'ll|'d     an English contraction (lowercase only, as in GPT-2)
//! 2  ' ?\p{L}+'                  letters, with at most one space before them
//! 3  ' ?\p{N}+'                  digits and other numbers, likewise
//! 4  ' ?[^\s\p{L}\p{N}]+'        anything else (punctuation, symbols, marks), likewise
//! 5  '\s+(?!\S)'                 whitespace not followed by a non-space: a whitespace run
//!                                minus its last character when a word follows
//! 6  '\s+'                       whitespace (only reached by one lone whitespace character)
//! ```
//!
//! Alternative 5 is why `"  hello"` splits as `" "`, `" hello"`: the run keeps its last space
//! back for the word after it, so `" hello"` is tokenized alike wherever it appears. Rust's
//! `regex` crate has no lookahead `(?!...)`, so this module is a small hand-written scanner that
//! does what the expression does; each step says which alternative it is.
//!
//! Character classes, as the expression means them (and as Hugging Face's `tokenizers`, whose
//! `ByteLevel` pre-tokenizer runs this expression with the Oniguruma engine, classifies them):
//! - `\p{L}`: Unicode general category L (Lu, Ll, Lt, Lm, Lo). Not [`char::is_alphabetic`],
//!   which also takes combining marks (Mn, Mc) and letter numbers (Nl): the combining accent in
//!   `"e\u{301}"` is not a letter here, so it goes to alternative 4 and is cut from its `e`.
//! - `\p{N}`: general category N (Nd, Nl, No): `7`, `Ⅻ`, `½`.
//! - `\s`: Unicode White_Space, which is what [`char::is_whitespace`] tests (the ASCII separators
//!   U+001C..U+001F are not in it, unlike Python's `str.isspace`).
//!
//! The L and N tables are read once, as sorted ranges, from `regex-syntax` (the parser behind
//! Rust's `regex` crate; Unicode 16.0 in version 0.8.11) by parsing `\p{L}` and `\p{N}`; lookup is
//! a binary search, after an ASCII fast path. A character assigned in a Unicode version newer
//! than the one Hugging Face's Oniguruma knows may be classified differently there.

use std::sync::LazyLock;

/// What the expression sees in a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    /// `\p{L}`: a letter.
    Letter,
    /// `\p{N}`: a number.
    Number,
    /// `\s`: whitespace.
    Space,
    /// Anything else: `[^\s\p{L}\p{N}]`.
    Other,
}

/// The sorted, disjoint ranges of a Unicode class written as a regex (`\p{L}`), from
/// `regex-syntax`'s tables.
fn unicode_ranges(class: &str) -> Vec<(char, char)> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::parse(class).expect("a valid Unicode class");
    match hir.kind() {
        HirKind::Class(Class::Unicode(set)) => set.ranges().iter().map(|r| (r.start(), r.end())).collect(),
        other => unreachable!("{class} parses to a class, not {other:?}"),
    }
}

/// `\p{L}` as sorted ranges.
static LETTERS: LazyLock<Vec<(char, char)>> = LazyLock::new(|| unicode_ranges(r"\p{L}"));
/// `\p{N}` as sorted ranges.
static NUMBERS: LazyLock<Vec<(char, char)>> = LazyLock::new(|| unicode_ranges(r"\p{N}"));

/// Whether `c` lies in one of the sorted, disjoint `ranges`.
fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    // The first range that ends at or after `c` is the only one that can hold it.
    let i = ranges.partition_point(|&(_, end)| end < c);
    i < ranges.len() && ranges[i].0 <= c
}

/// How GPT-2's expression classifies `c`.
///
/// ```
/// use gradlab::tokenizer::pretokenize::{CharClass, char_class};
/// assert_eq!(char_class('é'), CharClass::Letter);
/// assert_eq!(char_class('日'), CharClass::Letter);
/// assert_eq!(char_class('\u{301}'), CharClass::Other); // a combining accent is a mark (Mn)
/// assert_eq!(char_class('½'), CharClass::Number);
/// assert_eq!(char_class('\u{3000}'), CharClass::Space); // the ideographic space
/// ```
pub fn char_class(c: char) -> CharClass {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => CharClass::Letter,
            '0'..='9' => CharClass::Number,
            // The ASCII White_Space characters: tab, newline, vertical tab, form feed, return, space.
            '\t' | '\n' | '\x0B' | '\x0C' | '\r' | ' ' => CharClass::Space,
            _ => CharClass::Other,
        };
    }
    if c.is_whitespace() {
        CharClass::Space
    } else if in_ranges(&LETTERS, c) {
        CharClass::Letter
    } else if in_ranges(&NUMBERS, c) {
        CharClass::Number
    } else {
        CharClass::Other
    }
}

/// The words of `text` as GPT-2's pre-tokenizer cuts it; they concatenate back to `text`.
///
/// ```
/// use gradlab::tokenizer::pretokenize::pretokenize;
/// let words: Vec<&str> = pretokenize("I'll say  hello, world!!\n").collect();
/// assert_eq!(words, ["I", "'ll", " say", " ", " hello", ",", " world", "!!", "\n"]);
/// ```
pub fn pretokenize(text: &str) -> Pretokens<'_> {
    Pretokens { rest: text }
}

/// The iterator of [`pretokenize`]: each call cuts the next word off the front of the text.
#[derive(Clone, Debug)]
pub struct Pretokens<'a> {
    /// The text not yet cut.
    rest: &'a str,
}

impl<'a> Iterator for Pretokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let (word, rest) = self.rest.split_at(word_len(self.rest));
        self.rest = rest;
        Some(word)
    }
}

/// The length in bytes of the word at the start of the non-empty string `s`: the match of the
/// first alternative of the expression that matches there.
fn word_len(s: &str) -> usize {
    // 1: a contraction.
    for suffix in ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"] {
        if s.starts_with(suffix) {
            return suffix.len();
        }
    }
    // 2, 3, 4: ` ?` then a run of one class. Only a plain space (U+0020) can lead, and only when
    // a non-space follows it.
    let space = usize::from(s.starts_with(' '));
    if let Some(c) = s[space..].chars().next() {
        let class = char_class(c);
        if class != CharClass::Space {
            return space + run_len(&s[space..], class);
        }
    }
    // 5 and 6: a whitespace run. At the end of the text, all of it (5). Before a non-space,
    // all but its last character, which then leads the next word (5), unless it is the only
    // character (5 fails, 6 takes it).
    let run = run_len(s, CharClass::Space);
    if run == s.len() {
        return run;
    }
    let last = s[..run].chars().next_back().map_or(0, char::len_utf8);
    if run > last { run - last } else { run }
}

/// The length in bytes of the run of `class` characters at the start of `s`.
fn run_len(s: &str, class: CharClass) -> usize {
    s.char_indices().find(|&(_, c)| char_class(c) != class).map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        pretokenize(text).collect()
    }

    #[test]
    fn whitespace_runs_keep_one_space_for_the_next_word() {
        assert_eq!(words("  hello"), [" ", " hello"]);
        assert_eq!(words("a   b"), ["a", "  ", " b"]);
        assert_eq!(words("a\n\nb"), ["a", "\n", "\n", "b"]);
        assert_eq!(words("\n\n"), ["\n\n"]);
        assert_eq!(words("a  "), ["a", "  "]);
        assert_eq!(words("a\tb"), ["a", "\t", "b"]);
        assert_eq!(words(" \tb"), [" ", "\t", "b"]);
    }

    #[test]
    fn classes_follow_general_categories() {
        assert_eq!(char_class('\u{1c}'), CharClass::Other);
        assert_eq!(char_class('\u{a0}'), CharClass::Space);
        assert_eq!(char_class('Ⅻ'), CharClass::Number); // Nl: alphabetic, but a number here
        assert!('Ⅻ'.is_alphabetic());
        assert_eq!(char_class('\u{301}'), CharClass::Other); // Mn, a combining accent
        assert_eq!(char_class('\u{93F}'), CharClass::Other); // Mc, a Devanagari vowel sign:
        assert!('\u{93F}'.is_alphabetic()); // alphabetic, but not a letter
        assert_eq!(char_class('ǅ'), CharClass::Letter); // Lt
        assert_eq!(char_class('ʰ'), CharClass::Letter); // Lm
        assert_eq!(char_class('€'), CharClass::Other);
    }

    #[test]
    fn range_lookup_finds_the_edges() {
        let ranges = [('b', 'd'), ('x', 'x')];
        for (c, inside) in [('a', false), ('b', true), ('d', true), ('e', false), ('x', true), ('y', false)] {
            assert_eq!(in_ranges(&ranges, c), inside, "{c}");
        }
    }
}
