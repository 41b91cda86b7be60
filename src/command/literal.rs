//! How byte strings are written back: as string literals of the language, as the original
//! shell's `<BINARY DATA: ..>`, and in JSON.
//!
//! JSON byte strings (output and the export format): a byte string that is valid UTF-8 is a JSON
//! string; any other is an object `{"base64": "..."}` holding the standard base64 alphabet with
//! padding. The two cases cannot be confused, and every byte string has exactly one encoding.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

/// `bytes` as a string literal that the lexer reads back to the same bytes: printable text stays
/// as it is, `"` and `\` are escaped, newline, tab and carriage return use `\n` `\t` `\r`, and
/// other control characters and bytes that are not UTF-8 use `\xNN`.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// `bytes` as a hex literal: `x'00ff'`.
pub fn hex_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("x'");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\'');
    out
}

/// The bytes as text a terminal can show as they are: valid UTF-8 without control characters
/// other than tab, newline and carriage return.
pub(crate) fn as_plain_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let plain = text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    plain.then_some(text)
}

/// The original shell's rendering of a binary value: `<BINARY DATA: 00 FF 10>`.
pub(crate) fn binary_data(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3 + 16);
    out.push_str("<BINARY DATA:");
    for b in bytes {
        let _ = write!(out, " {b:02X}");
    }
    out.push('>');
    out
}

/// A value as `GET` shows it in text: the text itself, or `<BINARY DATA: ..>`.
pub(crate) fn display_value(bytes: &[u8]) -> String {
    match as_plain_text(bytes) {
        Some(text) => text.to_owned(),
        None => binary_data(bytes),
    }
}

/// The JSON encoding of a byte string (see the module documentation).
pub fn bytes_to_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => {
            let mut object = serde_json::Map::with_capacity(1);
            object.insert("base64".to_owned(), Value::String(BASE64.encode(bytes)));
            Value::Object(object)
        }
    }
}

/// Decodes [`bytes_to_json`]'s encoding; the error says what is wrong.
pub fn bytes_from_json(value: &Value) -> Result<Vec<u8>, String> {
    match value {
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        Value::Object(object) if object.len() == 1 => match object.get("base64") {
            Some(Value::String(encoded)) => BASE64.decode(encoded).map_err(|e| format!("bad base64: {e}")),
            _ => Err("expected a string or {\"base64\": \"...\"}".to_owned()),
        },
        _ => Err("expected a string or {\"base64\": \"...\"}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::lexer::{Lexer, TokenKind};
    use proptest::prelude::*;

    fn lex_one(text: &str) -> Vec<u8> {
        match Lexer::new(text).next_token().expect("lexes").kind {
            TokenKind::Bytes(b) => b,
            other => panic!("not a literal: {other:?}"),
        }
    }

    #[test]
    fn quote_keeps_plain_text_plain() {
        assert_eq!(quote(b"hello world"), "\"hello world\"");
        assert_eq!(quote("héllo".as_bytes()), "\"héllo\"");
        assert_eq!(quote(b"a\"b\\c\nd\te\r"), r#""a\"b\\c\nd\te\r""#);
        assert_eq!(quote(b"\x00\xff\x1b"), r#""\x00\xff\x1b""#);
    }

    #[test]
    fn plain_text_and_binary_display() {
        assert_eq!(display_value(b"line1\nline2\t!"), "line1\nline2\t!");
        assert_eq!(display_value(b"\xff\x00\x10"), "<BINARY DATA: FF 00 10>");
        assert_eq!(display_value(b"esc\x1b[2J"), "<BINARY DATA: 65 73 63 1B 5B 32 4A>");
        assert_eq!(display_value(b""), "");
    }

    #[test]
    fn json_bytes() {
        assert_eq!(bytes_to_json(b"abc"), Value::String("abc".into()));
        assert_eq!(bytes_to_json(b"\xff\x00"), serde_json::json!({"base64": "/wA="}));
        assert_eq!(bytes_from_json(&serde_json::json!({"base64": "/wA="})).unwrap(), b"\xff\x00");
        assert!(bytes_from_json(&serde_json::json!({"base64": "!!"})).is_err());
        assert!(bytes_from_json(&serde_json::json!(12)).is_err());
        assert!(bytes_from_json(&serde_json::json!({"base64": "", "x": 1})).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip_through_string_literals(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(lex_one(&quote(&bytes)), bytes);
        }

        #[test]
        fn any_bytes_round_trip_through_hex_literals(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(lex_one(&hex_literal(&bytes)), bytes);
        }

        #[test]
        fn any_bytes_round_trip_through_json(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let json = serde_json::to_string(&bytes_to_json(&bytes)).unwrap();
            let value: Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(bytes_from_json(&value).unwrap(), bytes);
        }

        #[test]
        fn any_text_round_trips_through_string_literals(text in "\\PC*") {
            prop_assert_eq!(lex_one(&quote(text.as_bytes())), text.as_bytes().to_vec());
        }
    }
}
