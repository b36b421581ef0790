//! Percent-encoding (RFC 3986 §2.1) for request paths and template literals.
//!
//! Validation and comparison work on borrowed text without allocating, so the matcher can
//! check and compare segments per request; only [`decode`] builds a `String`.

use std::fmt;

/// RFC 6570 reserved characters: a multi-segment variable keeps their escapes as received.
const RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=";

/// Why percent-encoded text could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The `%` at this byte offset is not followed by two hex digits.
    MalformedEscape(usize),
    /// The decoded bytes are not UTF-8.
    InvalidUtf8,
}

/// Which escapes [`decode`] resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Every `%XX`.
    All,
    /// Every `%XX` except those of RFC 6570 reserved characters, which stay exactly as
    /// received (so a decoded `%2F` can never pass for a segment separator).
    KeepReserved,
}

/// Decodes `raw`.
///
/// Fails on a `%` not followed by two hex digits, or when the result is not UTF-8.
pub fn decode(raw: &str, mode: Decode) -> Result<String, DecodeError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte != b'%' {
            out.push(byte);
            at += 1;
            continue;
        }
        let decoded = escape_at(bytes, at).ok_or(DecodeError::MalformedEscape(at))?;
        match bytes.get(at..at + 3) {
            Some(escape) if mode == Decode::KeepReserved && RESERVED.contains(&decoded) => {
                out.extend_from_slice(escape);
            }
            _ => out.push(decoded),
        }
        at += 3;
    }
    String::from_utf8(out).map_err(|_| DecodeError::InvalidUtf8)
}

/// Checks that every escape in `raw` is well formed and that the decoded bytes are UTF-8.
pub fn validate(raw: &str) -> Result<(), DecodeError> {
    let mut utf8 = Utf8Check::default();
    for byte in DecodedBytes::new(raw) {
        if !utf8.push(byte.map_err(DecodeError::MalformedEscape)?) {
            return Err(DecodeError::InvalidUtf8);
        }
    }
    if utf8.is_complete() {
        Ok(())
    } else {
        Err(DecodeError::InvalidUtf8)
    }
}

/// Whether `raw`, fully decoded, is exactly `expected`; false when `raw` is malformed.
pub fn decoded_eq(raw: &str, expected: &str) -> bool {
    let mut expected = expected.bytes();
    DecodedBytes::new(raw).all(|byte| byte.ok().is_some_and(|b| Some(b) == expected.next()))
        && expected.next().is_none()
}

/// Whether `raw` is `.` or `..`, also when written percent-encoded (`%2e%2E`).
pub fn is_dot_segment(raw: &str) -> bool {
    decoded_eq(raw, ".") || decoded_eq(raw, "..")
}

/// The byte encoded by the escape starting at `at`, or `None` when `bytes[at..]` does not
/// start with `%` and two hex digits.
pub fn escape_at(bytes: &[u8], at: usize) -> Option<u8> {
    match bytes.get(at..at.checked_add(3)?)? {
        [b'%', high, low] => Some(hex_value(*high)? << 4 | hex_value(*low)?),
        _ => None,
    }
}

/// A byte a template literal may hold unescaped: RFC 3986 `pchar` minus `%` (escapes are
/// handled apart) and `*` (a wildcard in templates).
pub fn is_literal_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()+,;=:@".contains(&byte)
}

/// Writes `text` with every byte that is not a literal byte percent-encoded; `:` is also
/// encoded unless `keep_colon`, for places where it would read as the verb separator.
pub fn encode(out: &mut impl fmt::Write, text: &str, keep_colon: bool) -> fmt::Result {
    for byte in text.bytes() {
        if is_literal_byte(byte) && (keep_colon || byte != b':') {
            out.write_char(char::from(byte))?;
        } else {
            write!(out, "%{byte:02X}")?;
        }
    }
    Ok(())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The decoded bytes of percent-encoded text; a malformed escape yields `Err(offset)` and ends
/// the iteration.
struct DecodedBytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> DecodedBytes<'a> {
    fn new(raw: &'a str) -> Self {
        DecodedBytes {
            bytes: raw.as_bytes(),
            at: 0,
        }
    }
}

impl Iterator for DecodedBytes<'_> {
    type Item = Result<u8, usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let &byte = self.bytes.get(self.at)?;
        if byte != b'%' {
            self.at += 1;
            return Some(Ok(byte));
        }
        let start = self.at;
        match escape_at(self.bytes, start) {
            Some(decoded) => {
                self.at += 3;
                Some(Ok(decoded))
            }
            None => {
                self.at = self.bytes.len();
                Some(Err(start))
            }
        }
    }
}

/// Streaming UTF-8 validation, so decoded text can be checked without being buffered.
#[derive(Default)]
struct Utf8Check {
    /// Continuation bytes still expected for the current character.
    pending: u8,
    code: u32,
    /// Smallest code point the current sequence length may encode (rejects overlong forms).
    min: u32,
}

impl Utf8Check {
    /// Feeds one byte; false once the input cannot be UTF-8.
    fn push(&mut self, byte: u8) -> bool {
        if self.pending == 0 {
            let (pending, min, bits) = match byte {
                0x00..=0x7F => return true,
                0xC0..=0xDF => (1, 0x80, byte & 0x1F),
                0xE0..=0xEF => (2, 0x800, byte & 0x0F),
                0xF0..=0xF7 => (3, 0x1_0000, byte & 0x07),
                _ => return false,
            };
            self.pending = pending;
            self.min = min;
            self.code = u32::from(bits);
            return true;
        }
        if byte & 0xC0 != 0x80 {
            return false;
        }
        self.code = self.code << 6 | u32::from(byte & 0x3F);
        self.pending -= 1;
        // `char::from_u32` rejects surrogates and anything past U+10FFFF.
        self.pending > 0 || (self.code >= self.min && char::from_u32(self.code).is_some())
    }

    fn is_complete(&self) -> bool {
        self.pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_all_and_keep_reserved() {
        let cases = [
            // (raw, Decode::All, Decode::KeepReserved)
            ("plain", "plain", "plain"),
            ("a%20b", "a b", "a b"),
            ("a%2Fb", "a/b", "a%2Fb"),
            ("a%2fb", "a/b", "a%2fb"),
            (
                "%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D",
                ":@!$&'()*+,;=",
                "%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D",
            ),
            ("%3F%23%5B%5D", "?#[]", "%3F%23%5B%5D"),
            ("%25", "%", "%"),
            ("%7E%2D%2e%5f", "~-._", "~-._"),
            ("caf%C3%A9", "café", "café"),
            ("+", "+", "+"),
            ("", "", ""),
        ];
        for (raw, all, keep) in cases {
            assert_eq!(decode(raw, Decode::All).as_deref(), Ok(all), "{raw}");
            assert_eq!(
                decode(raw, Decode::KeepReserved).as_deref(),
                Ok(keep),
                "{raw}"
            );
        }
    }

    #[test]
    fn decode_errors() {
        let cases = [
            ("%", DecodeError::MalformedEscape(0)),
            ("ab%", DecodeError::MalformedEscape(2)),
            ("a%2", DecodeError::MalformedEscape(1)),
            ("%zz", DecodeError::MalformedEscape(0)),
            ("%2g", DecodeError::MalformedEscape(0)),
            ("%%41", DecodeError::MalformedEscape(0)),
            ("%FF", DecodeError::InvalidUtf8),
            ("%C3", DecodeError::InvalidUtf8),
            ("%C3%28", DecodeError::InvalidUtf8),
            ("%ED%A0%80", DecodeError::InvalidUtf8),
            ("%C0%AF", DecodeError::InvalidUtf8),
        ];
        for (raw, error) in cases {
            for mode in [Decode::All, Decode::KeepReserved] {
                assert_eq!(decode(raw, mode), Err(error), "{raw} {mode:?}");
            }
            assert_eq!(validate(raw), Err(error), "{raw}");
        }
    }

    #[test]
    fn escape_at_never_reads_past_the_end() {
        assert_eq!(escape_at(b"%41", 0), Some(b'A'));
        assert_eq!(escape_at(b"x%4", 1), None);
        assert_eq!(escape_at(b"%41", 1), None);
        assert_eq!(escape_at(b"%41", usize::MAX), None);
    }

    #[test]
    fn decoded_eq_compares_decoded_text() {
        assert!(decoded_eq("m%65ssages", "messages"));
        assert!(decoded_eq("a%2Fb", "a/b"));
        assert!(!decoded_eq("a%2Fb", "a%2Fb"));
        assert!(!decoded_eq("a%", "a"));
        assert!(!decoded_eq("ab", "a"));
        assert!(!decoded_eq("a", "ab"));
        assert!(decoded_eq("", ""));
    }

    #[test]
    fn dot_segments() {
        for raw in [".", "..", "%2e", "%2E", "%2e%2E", ".%2e", "%2E."] {
            assert!(is_dot_segment(raw), "{raw}");
        }
        for raw in ["", "...", ".a", "%2e%2e%2e", "%2", "%"] {
            assert!(!is_dot_segment(raw), "{raw}");
        }
    }

    #[test]
    fn encode_escapes_what_a_literal_cannot_hold() {
        let mut out = String::new();
        encode(&mut out, "a b/c*%é:x", true).unwrap();
        assert_eq!(out, "a%20b%2Fc%2A%25%C3%A9:x");
        out.clear();
        encode(&mut out, "a:b", false).unwrap();
        assert_eq!(out, "a%3Ab");
    }

    #[test]
    fn utf8_check_agrees_with_std() {
        let agrees = |bytes: &[u8]| {
            let mut check = Utf8Check::default();
            let ours = bytes.iter().all(|&b| check.push(b)) && check.is_complete();
            ours == std::str::from_utf8(bytes).is_ok()
        };
        for a in 0..=255u8 {
            assert!(agrees(&[a]), "{a:02X}");
            for b in 0..=255u8 {
                assert!(agrees(&[a, b]), "{a:02X} {b:02X}");
            }
        }
        for a in 0xE0..=0xF4u8 {
            for b in 0..=255u8 {
                for c in [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF] {
                    assert!(agrees(&[a, b, c]), "{a:02X} {b:02X} {c:02X}");
                    assert!(agrees(&[a, b, c, 0x80]), "{a:02X} {b:02X} {c:02X} 80");
                }
            }
        }
    }
}
