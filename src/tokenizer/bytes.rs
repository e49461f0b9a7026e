//! GPT-2's map between bytes and printable characters.
//!
//! A byte-level BPE works on bytes, but its vocabulary files (`vocab.json`, `merges.txt`) are text,
//! one token per string, and `merges.txt` separates a pair's two tokens with a space. A token
//! whose bytes were written as they are could contain a space, a newline or half a UTF-8
//! character, and the files would no longer parse. GPT-2's answer (`bytes_to_unicode` in OpenAI's
//! `encoder.py`) is to show every byte as one printable, non-space character:
//!
//! - the 188 bytes that already print as themselves in Latin-1 (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) keep
//!   their own character;
//! - the other 68 (the controls 0..=32, which include the space, 127..=160, and 173, the soft
//!   hyphen) are given the characters U+0100, U+0101, ... in byte order: byte 0 is `Ā`, the
//!   space (byte 32) is `Ġ`, the newline (byte 10) is `Ċ`.
//!
//! So the token for `" the"` is written `Ġthe`, and the one for `"\n\n"` is `ĊĊ`. The map is a
//! bijection between the 256 bytes and 256 characters, so a token's string gives back its bytes.
//!
//! GPT-2's vocabulary also lists its 256 byte tokens in the order of these characters (ids 0..=93
//! are `!`..`~`, ..., the space `Ġ` is id 220), and Hugging Face's trainer sorts its alphabet the
//! same way; [`GPT2_BYTE_ORDER`] is that order, which [`BpeTokenizer::train`] uses for the ids of
//! its byte tokens.
//!
//! [`BpeTokenizer::train`]: super::BpeTokenizer::train

/// Whether GPT-2 shows byte `b` as its own Latin-1 character.
const fn prints_as_itself(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The table behind [`BYTE_TO_CHAR`], computed at compile time.
const fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    // The next stand-in character for a byte that does not print as itself.
    let mut next = 0x100;
    let mut b = 0;
    while b < 256 {
        table[b] = if prints_as_itself(b as u8) {
            b as u8 as char
        } else {
            let c = match char::from_u32(next) {
                Some(c) => c,
                None => panic!("U+0100..U+0143 are all characters"),
            };
            next += 1;
            c
        };
        b += 1;
    }
    table
}

/// The printable character GPT-2 shows for each byte: `BYTE_TO_CHAR[b]` (OpenAI's
/// `bytes_to_unicode()`, as an array).
///
/// ```
/// use gradlab::tokenizer::bytes::BYTE_TO_CHAR;
/// assert_eq!(BYTE_TO_CHAR[b'a' as usize], 'a');
/// assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
/// assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
/// assert_eq!(BYTE_TO_CHAR[0], 'Ā');
/// ```
pub const BYTE_TO_CHAR: [char; 256] = byte_to_char_table();

/// The highest character in [`BYTE_TO_CHAR`]: U+0100 plus the 68 stand-ins, minus one.
const LAST_CHAR: usize = 0x143;

/// The inverse table, indexed by character (`None` for characters that stand for no byte),
/// with a compile-time check that no two bytes got the same character.
const fn char_to_byte_table() -> [Option<u8>; LAST_CHAR + 1] {
    let mut table = [None; LAST_CHAR + 1];
    let mut b = 0;
    while b < 256 {
        let c = BYTE_TO_CHAR[b] as usize;
        assert!(table[c].is_none(), "the byte map is a bijection");
        table[c] = Some(b as u8);
        b += 1;
    }
    table
}

/// `CHAR_TO_BYTE[c]`: the byte that character `c` stands for.
const CHAR_TO_BYTE: [Option<u8>; LAST_CHAR + 1] = char_to_byte_table();

/// The byte that `c` stands for, or `None` if `c` is not one of GPT-2's 256 byte characters.
///
/// ```
/// use gradlab::tokenizer::bytes::char_to_byte;
/// assert_eq!(char_to_byte('Ġ'), Some(b' '));
/// assert_eq!(char_to_byte('é'), Some(0xE9)); // Latin-1 characters stand for their own byte
/// assert_eq!(char_to_byte(' '), None); // the space itself is never used
/// assert_eq!(char_to_byte('日'), None);
/// ```
pub fn char_to_byte(c: char) -> Option<u8> {
    CHAR_TO_BYTE.get(c as usize).copied().flatten()
}

/// Bytes as GPT-2's printable string: one character per byte.
///
/// ```
/// use gradlab::tokenizer::bytes::to_printable;
/// assert_eq!(to_printable(" the".as_bytes()), "Ġthe");
/// assert_eq!(to_printable("é".as_bytes()), "Ã©"); // é is two bytes in UTF-8, 0xC3 0xA9
/// ```
pub fn to_printable(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| BYTE_TO_CHAR[b as usize]).collect()
}

/// The bytes a printable string stands for, or `None` if it has a character that stands for no
/// byte (then it was not written by [`to_printable`]).
///
/// ```
/// use gradlab::tokenizer::bytes::from_printable;
/// assert_eq!(from_printable("Ġthe"), Some(b" the".to_vec()));
/// assert_eq!(from_printable("Ã©"), Some("é".as_bytes().to_vec()));
/// assert_eq!(from_printable("the end"), None); // a real space stands for no byte
/// ```
pub fn from_printable(s: &str) -> Option<Vec<u8>> {
    s.chars().map(char_to_byte).collect()
}

/// The 256 bytes in the order of their printable characters: the order of the byte tokens in
/// GPT-2's vocabulary (ids 0..=255) and in the alphabet of Hugging Face's BPE trainer.
///
/// The bytes that print as themselves come first, in byte order (their characters are U+0021..
/// U+00FF), then the 68 others, in byte order (their characters are U+0100 onwards).
///
/// ```
/// use gradlab::tokenizer::bytes::GPT2_BYTE_ORDER;
/// assert_eq!(GPT2_BYTE_ORDER[0], b'!'); // id 0 in GPT-2's vocab.json is "!"
/// assert_eq!(GPT2_BYTE_ORDER[220], b' '); // and id 220 is "Ġ"
/// ```
pub const GPT2_BYTE_ORDER: [u8; 256] = gpt2_byte_order();

/// The table behind [`GPT2_BYTE_ORDER`].
const fn gpt2_byte_order() -> [u8; 256] {
    let mut order = [0u8; 256];
    let mut i = 0;
    let mut c = 0;
    while c <= LAST_CHAR {
        if let Some(b) = CHAR_TO_BYTE[c] {
            order[i] = b;
            i += 1;
        }
        c += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_a_bijection_onto_printable_non_space_characters() {
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            let c = BYTE_TO_CHAR[b as usize];
            assert!(!c.is_whitespace() && !c.is_control(), "byte {b} shows as {c:?}");
            assert!(seen.insert(c), "two bytes show as {c:?}");
            assert_eq!(char_to_byte(c), Some(b));
        }
    }

    #[test]
    fn stand_ins_follow_byte_order() {
        // The 68 bytes that do not print as themselves, as GPT-2's encoder.py numbers them.
        assert_eq!(BYTE_TO_CHAR[0], '\u{100}');
        assert_eq!(BYTE_TO_CHAR[32], '\u{120}');
        assert_eq!(BYTE_TO_CHAR[127], '\u{121}');
        assert_eq!(BYTE_TO_CHAR[160], '\u{142}');
        assert_eq!(BYTE_TO_CHAR[173], '\u{143}');
    }

    #[test]
    fn gpt2_order_is_sorted_by_character() {
        let chars: Vec<char> = GPT2_BYTE_ORDER.iter().map(|&b| BYTE_TO_CHAR[b as usize]).collect();
        assert!(chars.windows(2).all(|w| w[0] < w[1]));
        // A few ids of GPT-2's own vocab.json.
        assert_eq!(GPT2_BYTE_ORDER[94], 0xA1); // "¡"
        assert_eq!(GPT2_BYTE_ORDER[188], 0); // "Ā"
        assert_eq!(GPT2_BYTE_ORDER[198], b'\n'); // "Ċ"
    }

    #[test]
    fn printable_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(from_printable(&to_printable(&all)), Some(all));
    }
}
