//! The byte-level BPE tokenizer: GPT-2's pre-tokenizer on hand-worked strings, `decode(encode(s))
//! == s` for any string, training that is deterministic and compresses, Hugging Face's
//! `vocab.json` + `merges.txt` written here and read with the ids worked out by hand, and a clear
//! error for each kind of bad file.

use std::path::Path;
use std::sync::LazyLock;

use gradlab::Error;
use gradlab::tokenizer::bytes::{GPT2_BYTE_ORDER, to_printable};
use gradlab::tokenizer::pretokenize::pretokenize;
use gradlab::tokenizer::{BpeTokenizer, Merge};
use proptest::prelude::*;

mod common;
use common::TempDir;

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer

/// The words GPT-2's pattern cuts `text` into.
fn words(text: &str) -> Vec<&str> {
    pretokenize(text).collect()
}

#[test]
fn pretokenizer_splits_as_gpt2s_pattern() {
    // Each case worked out by hand from the pattern (alternatives numbered as in the module docs);
    // Hugging Face's ByteLevel pre-tokenizer gives the same.
    let cases: &[(&str, &[&str])] = &[
        // 1: contractions, lowercase only; a space before the apostrophe takes it into 4.
        (
            "don't you'll we've they're I'd she's it'S 'll",
            &[
                "don", "'t", " you", "'ll", " we", "'ve", " they", "'re", " I", "'d", " she", "'s", " it", "'", "S",
                " '", "ll",
            ],
        ),
        // 5: a whitespace run gives its last space to the word after it.
        ("  hello", &[" ", " hello"]),
        ("a   b", &["a", "  ", " b"]),
        // 5 at the end of the text: the whole run.
        ("hi  ", &["hi", "  "]),
        ("hi  \n", &["hi", "  \n"]),
        ("\n\n", &["\n\n"]),
        // 5 then 6: a run of two newlines before a word is cut in two.
        ("a\n\nb", &["a", "\n", "\n", "b"]),
        // 6: only a plain space can lead a word; a tab is a word of its own.
        ("tab\tthen", &["tab", "\t", "then"]),
        ("x \u{a0}y", &["x", " ", "\u{a0}", "y"]),
        // 3: numbers, each run separately from the punctuation (4) between them.
        ("in 2024, 3.14 and 1,000,000", &["in", " 2024", ",", " 3", ".", "14", " and", " 1", ",", "000", ",", "000"]),
        ("Ⅻ½ 42x", &["Ⅻ½", " 42", "x"]),
        // 4: punctuation runs, with one leading space.
        ("wait... what?!", &["wait", "...", " what", "?!"]),
        (" ...  !!", &[" ...", " ", " !!"]),
        ("emoji 😀👍🏽!", &["emoji", " 😀👍🏽!"]),
        // 2: letters of any script.
        ("café naïve", &["café", " naïve"]),
        ("日本語のテキスト", &["日本語のテキスト"]),
        // A combining accent (Mn) is not a letter: 4 cuts it from its base.
        ("e\u{301} x\u{301}y", &["e", "\u{301}", " x", "\u{301}", "y"]),
        ("", &[]),
    ];
    for (text, expected) in cases {
        assert_eq!(words(text), *expected, "{text:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip

/// A text with letters, numbers, punctuation and some non-ASCII, to train on.
const SAMPLE: &str = "It was the best of times, it was the worst of times; it was the age of wisdom, \
    it was the age of foolishness. Naïve café owners said: « déjà vu! » 日本語のテキスト、日本語の文。 \
    Numbers 1, 22, 333 and 4444... Emoji 😀😀 and 👍🏽👍🏽. The end.\n\n  The  end  again.\n";

/// A tokenizer with a few hundred merges, learned on [`SAMPLE`] repeated.
static TRAINED: LazyLock<BpeTokenizer> = LazyLock::new(|| BpeTokenizer::train(&SAMPLE.repeat(3), 400).unwrap());

/// Characters that stress the pre-tokenizer and the byte map.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![' ', ' ', '\n', '\t', '\r', '\u{a0}', '\u{3000}', '\u{2028}', '\u{85}']),
        prop::sample::select(vec!['\'', 's', 't', 'l', 'd', 'e', 'A', '.', '!', '0', '9']),
        prop::sample::select(vec!['\u{301}', '\u{308}', '\u{93F}', '\u{200d}', '\u{fe0f}']), // marks, joiners
        prop::sample::select(vec!['😀', '👍', '🏽', '🇫', '🇷', '日', '本', 'é', 'ß', 'Ⅻ', '½', '€']),
        prop::sample::select(vec!['\0', '\u{1}', '\u{1b}', '\u{1c}', '\u{7f}', '\u{ad}', '\u{fffd}', '\u{10ffff}']),
        any::<char>(),
    ]
}

/// Strings of tricky characters, arbitrary strings, and arbitrary bytes made UTF-8 lossily.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(tricky_char(), 0..60).prop_map(|cs| cs.into_iter().collect()),
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        prop::collection::vec(prop::sample::select(vec!["the", " the", "  ", "\n", "'s", "日本", "😀", ","]), 0..30)
            .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_inverts_encode(text in any_text()) {
        let ids = TRAINED.encode(&text);
        prop_assert_eq!(TRAINED.decode(&ids).unwrap(), text.clone());
        prop_assert!(ids.len() <= text.len());
        // With special tokens in play too.
        let mut with_eot = TRAINED.clone();
        with_eot.add_special_token("<|endoftext|>").unwrap();
        let joined = format!("{text}<|endoftext|>{text}");
        prop_assert_eq!(with_eot.decode(&with_eot.encode_with_special(&joined)).unwrap(), joined.clone());
        prop_assert_eq!(with_eot.decode(&with_eot.encode(&joined)).unwrap(), joined);
    }

    #[test]
    fn words_cover_the_text(text in any_text()) {
        let words = words(&text);
        prop_assert!(words.iter().all(|w| !w.is_empty()));
        prop_assert_eq!(words.concat(), text);
    }

    #[test]
    fn encoding_a_text_is_encoding_its_words(text in any_text()) {
        let by_word: Vec<usize> = pretokenize(&text).flat_map(|w| TRAINED.encode(w)).collect();
        prop_assert_eq!(TRAINED.encode(&text), by_word);
    }
}

#[test]
fn any_bytes_decode_through_the_byte_tokens() {
    let tok = &*TRAINED;
    // Invalid UTF-8 (a lone continuation byte, a cut 3-byte character) stays exact as bytes.
    let bytes = [b'a', 0x80, 0xE6, 0x97, b' ', 0xFF];
    let ids: Vec<usize> = bytes.iter().map(|&b| tok.byte_token(b)).collect();
    assert_eq!(tok.decode_bytes(&ids).unwrap(), bytes);
    assert_eq!(tok.decode(&ids).unwrap(), "a\u{fffd}\u{fffd} \u{fffd}");
}

// ---------------------------------------------------------------------------------------------
// Training

/// The id of byte `b` in GPT-2's order, which training gives the byte tokens.
fn gpt2_id(b: u8) -> usize {
    GPT2_BYTE_ORDER.iter().position(|&x| x == b).unwrap()
}

#[test]
fn training_learns_the_merges_worked_out_by_hand() {
    // Words: "ab" once, " cd" twice, " ab" once. Pairs: (a,b) 2, (c,d) 2, (Ġ,c) 2, (Ġ,a) 1.
    // Three pairs tie at 2; the smallest ids win: a=64, b=65 before c=66, d=67, before Ġ=220.
    // After "ab" and "cd": (Ġ,cd) 2, (Ġ,ab) 1; then nothing occurs twice.
    let tok = BpeTokenizer::train("ab cd ab cd", 1000).unwrap();
    let (a, b, c, d, space) = (gpt2_id(b'a'), gpt2_id(b'b'), gpt2_id(b'c'), gpt2_id(b'd'), gpt2_id(b' '));
    assert_eq!((a, b, c, d, space), (64, 65, 66, 67, 220));
    assert_eq!(
        tok.merges(),
        [
            Merge { left: a, right: b, result: 256 },
            Merge { left: c, right: d, result: 257 },
            Merge { left: space, right: 257, result: 258 },
        ]
    );
    assert_eq!(tok.vocab_size(), 259);
    assert_eq!(tok.encode("ab cd ab cd"), [256, 258, space, 256, 258]);
    assert_eq!(tok.token_bytes(258), Some(&b" cd"[..]));
}

#[test]
fn training_is_deterministic_and_compresses() {
    let text = SAMPLE.repeat(3);
    let first = BpeTokenizer::train(&text, 400).unwrap();
    let second = BpeTokenizer::train(&text, 400).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.vocab_json(), second.vocab_json());
    assert_eq!(first.merges_txt(), second.merges_txt());
    assert!(first.vocab_size() > 300, "learned only {} tokens", first.vocab_size());
    let ids = first.encode(&text);
    assert!(ids.len() * 2 < text.len(), "{} tokens for {} bytes", ids.len(), text.len());
    // Never more tokens than bytes, on text it was not trained on either.
    let other = "Completely different words: zebra, quixotic, 12345.";
    assert!(first.encode(other).len() <= other.len());
}

#[test]
fn training_refuses_a_vocabulary_smaller_than_the_bytes() {
    let err = BpeTokenizer::train("abc", 100).unwrap_err();
    assert!(err.to_string().contains("vocab size 100 is too small"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Hugging Face's files

/// GPT-2's 256 byte tokens, in GPT-2's order, as `vocab.json` entries.
fn byte_entries() -> Vec<String> {
    GPT2_BYTE_ORDER.iter().map(|&b| to_printable(&[b])).collect()
}

/// A `vocab.json` with these tokens at ids 0, 1, 2, ...
fn vocab_json(tokens: &[String]) -> String {
    let entries: Vec<String> =
        tokens.iter().enumerate().map(|(id, t)| format!("{}: {id}", serde_json::Value::String(t.clone()))).collect();
    format!("{{\n  {}\n}}\n", entries.join(",\n  "))
}

/// GPT-2's bytes, then "Ġt", "he", "Ġthe", "<|endoftext|>", and the merges that make them.
fn small_vocab() -> (Vec<String>, &'static str) {
    let mut tokens = byte_entries();
    tokens.extend(["Ġt", "he", "Ġthe", "<|endoftext|>"].map(String::from));
    (tokens, "#version: 0.2\nĠ t\nh e\nĠt he\n")
}

/// Writes `vocab.json` and `merges.txt` into `dir` and reads them back.
fn load(dir: &Path, vocab: &str, merges: &str) -> gradlab::Result<BpeTokenizer> {
    std::fs::write(dir.join("vocab.json"), vocab).unwrap();
    std::fs::write(dir.join("merges.txt"), merges).unwrap();
    BpeTokenizer::load_hf(&dir.join("vocab.json"), &dir.join("merges.txt"))
}

#[test]
fn hf_files_give_the_ids_worked_out_by_hand() {
    let dir = TempDir::new("tok-hf");
    let (tokens, merges) = small_vocab();
    let tok = load(dir.path(), &vocab_json(&tokens), merges).unwrap();
    assert_eq!(tok.vocab_size(), 260);
    // GPT-2's ids for bytes: "t" is 116 - 33 = 83, "h" 71, "e" 68, "n" 77, the space 220.
    let (t, h, e, n, space) = (83, 71, 68, 77, 220);
    assert_eq!(tok.encode(" the"), [258]); // Ġ t -> Ġt (rank 0), h e -> he (1), Ġt he -> Ġthe (2)
    assert_eq!(tok.encode("the"), [t, 257]); // no space: "t" then "he"
    assert_eq!(tok.encode(" then the"), [258, n, 258]);
    // "h e" merges at every place in a word at once; "hehe" is one word, then " " and " the".
    assert_eq!(tok.encode("hehe  the"), [257, 257, space, 258]);
    assert_eq!(tok.encode("eh"), [e, h]);
    assert_eq!(tok.decode(&[258, n]).unwrap(), " then");

    // <|endoftext|> is made by no merge: a special token at its id, plain text to `encode`.
    assert_eq!(tok.special_tokens(), [("<|endoftext|>".to_string(), 259)]);
    assert_eq!(tok.encode_with_special(" the<|endoftext|>the"), [258, 259, t, 257]);
    assert_eq!(tok.encode("<|endoftext|>").len(), "<|endoftext|>".len());
    assert_eq!(tok.decode(&[259]).unwrap(), "<|endoftext|>");
}

#[test]
fn ids_come_from_vocab_json_not_from_its_order() {
    // The same tokens with the ids reversed, listed in a shuffled order: each token keeps its id.
    let (tokens, merges) = small_vocab();
    let last = tokens.len() - 1;
    let entries: Vec<String> = tokens
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| format!("{}:{}", serde_json::Value::String(t.clone()), last - i))
        .collect();
    let dir = TempDir::new("tok-hf-order");
    let tok = load(dir.path(), &format!("{{{}}}", entries.join(",")), merges).unwrap();
    assert_eq!(tok.encode(" the"), [last - 258]);
    assert_eq!(tok.encode("the"), [last - 83, last - 257]);
    assert_eq!(tok.byte_token(b' '), last - 220);
    assert_eq!(tok.special_tokens(), [("<|endoftext|>".to_string(), 0)]);
}

#[test]
fn saved_files_load_back_to_the_same_tokenizer() {
    let dir = TempDir::new("tok-save");
    let mut tok = TRAINED.clone();
    tok.add_special_token("<|endoftext|>").unwrap();
    tok.save_hf(&dir.join("tok")).unwrap();
    let merges = std::fs::read_to_string(dir.join("tok/merges.txt")).unwrap();
    assert!(merges.starts_with("#version: 0.2\n"));
    assert_eq!(merges.lines().count(), 1 + tok.merges().len());
    let back = BpeTokenizer::load_hf_dir(&dir.join("tok")).unwrap();
    assert_eq!(back, tok);
    assert_eq!(back.encode(SAMPLE), tok.encode(SAMPLE));
}

#[test]
fn a_gpt2_sized_special_token_decodes_to_its_text() {
    // GPT-2 puts <|endoftext|> last; here at 256, after the bytes.
    let mut tokens = byte_entries();
    tokens.push("<|endoftext|>".to_string());
    let tok = BpeTokenizer::from_hf_text(&vocab_json(&tokens), "#version: 0.2\n").unwrap();
    assert_eq!(tok.special_token_id("<|endoftext|>"), Some(256));
    assert_eq!(tok.decode(&[tok.byte_token(b'x'), 256]).unwrap(), "x<|endoftext|>");
}

// ---------------------------------------------------------------------------------------------
// Bad files: a clear error, never a panic

/// The error of loading these files, as its message.
fn load_error(vocab: &str, merges: &str) -> (Error, String) {
    let dir = TempDir::new("tok-bad");
    let err = load(dir.path(), vocab, merges).unwrap_err();
    let message = err.to_string().replace(&format!("{}/", dir.path().display()), "");
    (err, message)
}

#[test]
fn malformed_merge_lines_name_their_line() {
    let (tokens, _) = small_vocab();
    let vocab = vocab_json(&tokens);
    let (err, message) = load_error(&vocab, "#version: 0.2\nĠ t\nhe\n");
    assert!(matches!(err, Error::MalformedMerge { line: 3, .. }), "{err:?}");
    assert_eq!(message, "merges.txt line 3: expected two tokens separated by one space, not 1 parts, found \"he\"");
    let (_, message) = load_error(&vocab, "#version: 0.2\nĠ t h\n");
    assert_eq!(message, "merges.txt line 2: expected two tokens separated by one space, not 3 parts, found \"Ġ t h\"");
    let (_, message) = load_error(&vocab, "Ġ  t\n");
    assert!(message.starts_with("merges.txt line 1: expected two tokens separated by one space, not 3 parts"));
    let (_, message) = load_error(&vocab, "Ġ t\n h\n");
    assert_eq!(
        message,
        "merges.txt line 2: expected two tokens separated by one space, and a token cannot be empty, found \" h\""
    );
}

#[test]
fn merges_outside_the_vocabulary_are_named() {
    let (tokens, _) = small_vocab();
    let vocab = vocab_json(&tokens);
    let (err, message) = load_error(&vocab, "#version: 0.2\nĠ t\nĠt hx\n");
    assert!(matches!(err, Error::MergeNotInVocab { line: 3, role: "second part", .. }), "{err:?}");
    assert_eq!(
        message,
        "merges.txt line 3: the merge \"Ġt hx\" needs the token \"hx\" (its second part), which is not in the \
         vocabulary"
    );
    let (_, message) = load_error(&vocab, "#version: 0.2\nt h\n");
    assert_eq!(
        message,
        "merges.txt line 2: the merge \"t h\" needs the token \"th\" (its result), which is not in the vocabulary"
    );
    let (_, message) = load_error(&vocab, "#version: 0.2\nq Ġt\n");
    assert!(message.contains("needs the token \"qĠt\" (its result)"), "{message}");
}

#[test]
fn a_merge_of_text_that_is_not_byte_level_is_refused() {
    let mut tokens = byte_entries();
    tokens.extend(["€", "€€"].map(String::from));
    let (_, message) = load_error(&vocab_json(&tokens), "€ €\n");
    assert_eq!(
        message,
        "merges.txt line 1: the token \"€\" is not byte-level: it has a character that stands for no byte, found \
         \"€ €\""
    );
}

#[test]
fn vocabularies_with_bad_ids_are_refused() {
    let mut tokens = byte_entries();
    tokens.push("Ġt".to_string());
    let merges = "#version: 0.2\nĠ t\n";

    // A gap: ids 0..=255 and 257.
    let gap = vocab_json(&tokens).replace("\"Ġt\": 256", "\"Ġt\": 257");
    let (err, message) = load_error(&gap, merges);
    assert!(matches!(err, Error::VocabIdsNotContiguous { count: 257, missing: 256, .. }), "{err:?}");
    assert_eq!(message, "vocab.json: its 257 tokens must have the ids 0..257 with no gap, but no token has id 256");

    // One id twice.
    let twice = vocab_json(&tokens).replace("\"Ġt\": 256", "\"Ġt\": 5");
    let (err, message) = load_error(&twice, merges);
    assert!(matches!(err, Error::DuplicateTokenId { id: 5, .. }), "{err:?}");
    assert_eq!(message, "vocab.json: the tokens \"&\" and \"Ġt\" both have id 5");

    // One token twice (a JSON map would keep only the last).
    let repeated = vocab_json(&tokens).replace("\"Ġt\": 256", "\"!\": 256");
    let (err, message) = load_error(&repeated, merges);
    assert!(matches!(err, Error::DuplicateToken { .. }), "{err:?}");
    assert_eq!(message, "vocab.json: the token \"!\" is listed twice (ids 0 and 256)");

    // A byte missing: drop "Ā" (byte 0) and renumber.
    let mut without_byte_0 = tokens.clone();
    without_byte_0.retain(|t| t != "Ā");
    let (err, message) = load_error(&vocab_json(&without_byte_0), merges);
    assert!(matches!(err, Error::MissingByteToken { byte: 0, .. }), "{err:?}");
    assert!(message.starts_with("vocab.json: no token for byte 0x00 (written 'Ā')"), "{message}");
}

#[test]
fn vocabularies_that_are_not_json_objects_of_ids_are_refused() {
    for (vocab, expected) in [
        ("{\"a\": 0", "EOF while parsing an object at line 1 column 7"),
        ("[\"a\", \"b\"]", "invalid type: sequence, expected a JSON object mapping each token to a non-negative"),
        ("{\"a\": -1}", "invalid value: integer `-1`, expected u64"),
        ("{\"a\": \"0\"}", "invalid type: string \"0\", expected u64"),
        ("{\"a\": 0} x", "trailing characters at line 1 column 10"),
        ("", "EOF while parsing a value at line 1 column 0"),
    ] {
        let (err, message) = load_error(vocab, "");
        assert!(matches!(err, Error::BadVocabJson { .. }), "{vocab}: {err:?}");
        assert!(message.starts_with("vocab.json is not a vocabulary (a JSON object mapping each token to its id): "));
        assert!(message.contains(expected), "{vocab}: {message}");
    }
}

#[test]
fn missing_files_are_named() {
    let dir = TempDir::new("tok-missing");
    let err = BpeTokenizer::load_hf_dir(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("cannot read ") && message.contains("vocab.json"), "{message}");
    let (tokens, merges) = small_vocab();
    std::fs::write(dir.join("vocab.json"), vocab_json(&tokens)).unwrap();
    let message = BpeTokenizer::load_hf_dir(dir.path()).unwrap_err().to_string();
    assert!(message.starts_with("cannot read ") && message.contains("merges.txt"), "{message}");
    std::fs::write(dir.join("merges.txt"), merges).unwrap();
    assert!(BpeTokenizer::load_hf_dir(dir.path()).is_ok());
}

#[test]
fn merges_files_are_read_leniently_where_hf_is() {
    // No #version line, CRLF line endings, empty lines: all accepted.
    let (tokens, _) = small_vocab();
    let tok = BpeTokenizer::from_hf_text(&vocab_json(&tokens), "Ġ t\r\n\r\nh e\r\nĠt he\r\n\r\n").unwrap();
    assert_eq!(tok.encode(" the"), [258]);
}

#[test]
fn unknown_ids_and_bad_special_tokens_are_errors() {
    let mut tok = TRAINED.clone();
    let n = tok.vocab_size();
    let err = tok.decode(&[1, n]).unwrap_err();
    assert_eq!(err.to_string(), format!("token id {n} is not in the vocabulary ({n} tokens, ids 0..{n})"));
    assert_eq!(tok.add_special_token("").unwrap_err().to_string(), "cannot add the special token \"\": it is empty");
    assert_eq!(
        tok.add_special_token("Ġ").unwrap_err().to_string(),
        "cannot add the special token \"Ġ\": vocab.json already writes a token this way"
    );
    tok.add_special_token("<|endoftext|>").unwrap();
    assert_eq!(
        tok.add_special_token("<|endoftext|>").unwrap_err().to_string(),
        "cannot add the special token \"<|endoftext|>\": it is already a special token"
    );
}

#[test]
fn the_longest_special_token_wins_where_two_start() {
    let mut tok = BpeTokenizer::train("", 256).unwrap();
    let short = tok.add_special_token("<|a").unwrap();
    let long = tok.add_special_token("<|a|>").unwrap();
    let x = tok.byte_token(b'x');
    assert_eq!(tok.encode_with_special("x<|a|>x<|ax"), [x, long, x, short, x]);
}
