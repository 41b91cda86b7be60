//! Turns statement text into tokens, each with the line and column where it starts.
//!
//! Literals:
//! - `"text"`: a string; its bytes are the UTF-8 text with the escapes `\"`, `\\`, `\n`, `\t`,
//!   `\r`, `\0` and `\xNN` (any byte) replaced. A string may span lines.
//! - `x'00ff'` (or `X'...'`): a hex literal, two hex digits per byte.
//! - `123`: an unsigned decimal number.
//!
//! `--` starts a comment that runs to the end of the line. Words are ASCII letters, digits and `_`
//! starting with a letter or `_`; keywords among them are recognised case-insensitively.

use std::fmt;

use super::error::ParseError;
use super::position::Position;

/// The reserved words of the language. Completion and help read this list, so a keyword added
/// here is completed everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `PUT`
    Put,
    /// `GET`
    Get,
    /// `DEL`
    Del,
    /// `WHERE`
    Where,
    /// `KEY`
    Key,
    /// `COMPACT`
    Compact,
    /// `IDENTIFIER`
    Identifier,
    /// `SET`
    Set,
    /// `SCAN`
    Scan,
    /// `PREFIX`
    Prefix,
    /// `FROM`
    From,
    /// `LIMIT`
    Limit,
    /// `COUNT`
    Count,
    /// `STATS`
    Stats,
    /// `PAGES`
    Pages,
    /// `PAGE`
    Page,
    /// `FREELIST`
    Freelist,
    /// `CHECK`
    Check,
    /// `EXPORT`
    Export,
    /// `IMPORT`
    Import,
    /// `HELP`
    Help,
    /// `SALVAGE`
    Salvage,
    /// `TO`
    To,
    /// `READERS`
    Readers,
}

impl Keyword {
    /// Every keyword, in declaration order.
    pub const ALL: [Keyword; 24] = [
        Keyword::Put,
        Keyword::Get,
        Keyword::Del,
        Keyword::Where,
        Keyword::Key,
        Keyword::Compact,
        Keyword::Identifier,
        Keyword::Set,
        Keyword::Scan,
        Keyword::Prefix,
        Keyword::From,
        Keyword::Limit,
        Keyword::Count,
        Keyword::Stats,
        Keyword::Pages,
        Keyword::Page,
        Keyword::Freelist,
        Keyword::Check,
        Keyword::Export,
        Keyword::Import,
        Keyword::Help,
        Keyword::Salvage,
        Keyword::To,
        Keyword::Readers,
    ];

    /// The keyword as written in documentation (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Put => "PUT",
            Keyword::Get => "GET",
            Keyword::Del => "DEL",
            Keyword::Where => "WHERE",
            Keyword::Key => "KEY",
            Keyword::Compact => "COMPACT",
            Keyword::Identifier => "IDENTIFIER",
            Keyword::Set => "SET",
            Keyword::Scan => "SCAN",
            Keyword::Prefix => "PREFIX",
            Keyword::From => "FROM",
            Keyword::Limit => "LIMIT",
            Keyword::Count => "COUNT",
            Keyword::Stats => "STATS",
            Keyword::Pages => "PAGES",
            Keyword::Page => "PAGE",
            Keyword::Freelist => "FREELIST",
            Keyword::Check => "CHECK",
            Keyword::Export => "EXPORT",
            Keyword::Import => "IMPORT",
            Keyword::Help => "HELP",
            Keyword::Salvage => "SALVAGE",
            Keyword::To => "TO",
            Keyword::Readers => "READERS",
        }
    }

    /// The keyword spelled by `word`, in any case.
    pub fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Word(String),
    /// A string or hex literal, already decoded.
    Bytes(Vec<u8>),
    Number(u64),
    Colon,
    Comma,
    Equals,
    Star,
    Semicolon,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub pos: Position,
}

/// A cursor over the text. Every call to [`Lexer::next_token`] consumes at least one character or
/// returns `End`, so loops over it terminate, also after errors.
pub(crate) struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Position,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer::starting_at(text, Position::START)
    }

    /// A lexer whose first character is at `start` (for text cut out of a longer input).
    pub(crate) fn starting_at(text: &'a str, start: Position) -> Lexer<'a> {
        Lexer { chars: text.chars().peekable(), pos: start }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(c)
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// The character after the next one, without consuming anything.
    fn peek_second(&self) -> Option<char> {
        let mut ahead = self.chars.clone();
        ahead.next();
        ahead.next()
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '-' && self.peek_second() == Some('-') {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, ParseError> {
        self.skip_blank();
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { kind: TokenKind::End, pos });
        };
        let kind = match c {
            ':' | ',' | '=' | '*' | ';' => {
                self.bump();
                match c {
                    ':' => TokenKind::Colon,
                    ',' => TokenKind::Comma,
                    '=' => TokenKind::Equals,
                    '*' => TokenKind::Star,
                    _ => TokenKind::Semicolon,
                }
            }
            '"' => TokenKind::Bytes(self.string(pos)?),
            'x' | 'X' if self.peek_second() == Some('\'') => TokenKind::Bytes(self.hex(pos)?),
            '0'..='9' => TokenKind::Number(self.number(pos)?),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut word = String::new();
                while let Some(c) = self.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    word.push(c);
                    self.bump();
                }
                TokenKind::Word(word)
            }
            other => {
                self.bump();
                return Err(ParseError::new(pos, format!("unexpected character '{}'", other.escape_debug())));
            }
        };
        Ok(Token { kind, pos })
    }

    /// A `"..."` literal. After a bad escape the rest of the literal is still consumed, so the
    /// next token starts after its closing quote.
    fn string(&mut self, start: Position) -> Result<Vec<u8>, ParseError> {
        self.bump();
        let mut bytes = Vec::new();
        let mut first_error: Option<ParseError> = None;
        loop {
            let at = self.pos;
            let Some(c) = self.bump() else {
                return Err(ParseError::open_string(start));
            };
            match c {
                '"' => break,
                '\\' => match self.escape(at) {
                    Ok(byte) => bytes.push(byte),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                },
                c => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(bytes),
        }
    }

    /// The byte an escape stands for; `at` is the position of its backslash.
    fn escape(&mut self, at: Position) -> Result<u8, ParseError> {
        match self.peek() {
            Some('"') | Some('\\') | Some('n') | Some('t') | Some('r') | Some('0') => {
                let c = self.bump().unwrap_or_default();
                Ok(match c {
                    'n' => b'\n',
                    't' => b'\t',
                    'r' => b'\r',
                    '0' => 0,
                    c => c as u8,
                })
            }
            Some('x') => {
                self.bump();
                let mut value = 0u8;
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            self.bump();
                            value = value * 16 + u8::try_from(d).unwrap_or(0);
                        }
                        None => return Err(ParseError::new(at, "'\\x' must be followed by two hex digits")),
                    }
                }
                Ok(value)
            }
            Some(other) => {
                self.bump();
                Err(ParseError::new(
                    at,
                    format!(
                        "unknown escape '\\{}' (use \\\" \\\\ \\n \\t \\r \\0 or \\xNN)",
                        other.escape_debug()
                    ),
                ))
            }
            None => Err(ParseError::open_string(at)),
        }
    }

    /// An `x'...'` literal. Consumed up to its closing quote (or the end of the line) even when
    /// a digit is bad.
    fn hex(&mut self, start: Position) -> Result<Vec<u8>, ParseError> {
        self.bump();
        self.bump();
        let mut digits = Vec::new();
        let mut first_error: Option<ParseError> = None;
        loop {
            let at = self.pos;
            match self.peek() {
                None | Some('\n') => {
                    return Err(ParseError::new(start, "unterminated hex literal: missing closing \"'\""));
                }
                Some('\'') => {
                    self.bump();
                    break;
                }
                Some(c) => {
                    self.bump();
                    match c.to_digit(16) {
                        Some(d) => digits.push(u8::try_from(d).unwrap_or(0)),
                        None => {
                            first_error.get_or_insert_with(|| {
                                ParseError::new(
                                    at,
                                    format!("'{}' is not a hex digit in a hex literal", c.escape_debug()),
                                )
                            });
                        }
                    }
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if digits.len() % 2 != 0 {
            return Err(ParseError::new(
                start,
                "a hex literal needs an even number of digits (two per byte)",
            ));
        }
        Ok(digits.chunks_exact(2).map(|pair| pair[0] * 16 + pair[1]).collect())
    }

    fn number(&mut self, start: Position) -> Result<u64, ParseError> {
        let mut value: Option<u64> = Some(0);
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.bump();
            value = value.and_then(|v| v.checked_mul(10)).and_then(|v| v.checked_add(u64::from(d)));
        }
        value.ok_or_else(|| ParseError::new(start, "number too large"))
    }
}

/// Whether `text` ends inside a `"..."` literal (for completion: nothing is completed there).
pub(crate) fn ends_inside_string(text: &str) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for c in text.chars() {
        if inside {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                inside = false;
            }
        } else if c == '"' {
            inside = true;
        }
    }
    inside
}

/// The keywords (upper case) that `word` starts, ignoring case, for completion.
pub(crate) fn keywords_starting(word: &str) -> impl Iterator<Item = &'static str> + '_ {
    Keyword::ALL.iter().map(|k| k.as_str()).filter(move |k| {
        k.len() >= word.len() && k.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    })
}

/// Whether `text` holds only whole statements: it ends with `;` (comments and blanks aside) and
/// no string is left open. Empty text is complete. A line shell keeps reading lines until this
/// holds. Other lexical errors count as complete, so the parser can report them.
pub fn is_complete(text: &str) -> bool {
    let mut lexer = Lexer::new(text);
    let mut last = None;
    loop {
        match lexer.next_token() {
            Ok(Token { kind: TokenKind::End, .. }) => break,
            Ok(token) => last = Some(token.kind),
            Err(e) if e.is_open_string() => return false,
            Err(_) => last = None,
        }
    }
    matches!(last, None | Some(TokenKind::Semicolon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token().expect("lexes");
            if token.kind == TokenKind::End {
                return out;
            }
            out.push(token.kind);
        }
    }

    fn first_error(text: &str) -> ParseError {
        let mut lexer = Lexer::new(text);
        loop {
            match lexer.next_token() {
                Ok(Token { kind: TokenKind::End, .. }) => panic!("no error in {text:?}"),
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn punctuation_words_numbers() {
        assert_eq!(
            kinds("put \"k\":\"v\", 12 * = ;"),
            vec![
                TokenKind::Word("put".into()),
                TokenKind::Bytes(b"k".to_vec()),
                TokenKind::Colon,
                TokenKind::Bytes(b"v".to_vec()),
                TokenKind::Comma,
                TokenKind::Number(12),
                TokenKind::Star,
                TokenKind::Equals,
                TokenKind::Semicolon,
            ]
        );
    }

    #[test]
    fn escapes_decode_to_bytes() {
        assert_eq!(
            kinds(r#""a\"b\\c\nd\te\r\0\x00\xFFé""#),
            vec![TokenKind::Bytes(b"a\"b\\c\nd\te\r\0\x00\xff\xc3\xa9".to_vec())]
        );
    }

    #[test]
    fn hex_literals() {
        assert_eq!(
            kinds("x'00ff' X'' x'AbCd'"),
            vec![
                TokenKind::Bytes(vec![0, 255]),
                TokenKind::Bytes(vec![]),
                TokenKind::Bytes(vec![0xab, 0xcd]),
            ]
        );
        // A word starting with x is still a word.
        assert_eq!(kinds("xy"), vec![TokenKind::Word("xy".into())]);
    }

    #[test]
    fn comments_and_lines() {
        let mut lexer = Lexer::new("-- note\n  GET -- more\n;");
        let get = lexer.next_token().unwrap();
        assert_eq!(get.kind, TokenKind::Word("GET".into()));
        assert_eq!(get.pos, Position { line: 2, column: 3 });
        let semi = lexer.next_token().unwrap();
        assert_eq!(semi.pos, Position { line: 3, column: 1 });
    }

    #[test]
    fn columns_count_characters() {
        let mut lexer = Lexer::new("\"é\" ;");
        lexer.next_token().unwrap();
        assert_eq!(lexer.next_token().unwrap().pos, Position { line: 1, column: 5 });
    }

    #[test]
    fn lexical_errors_name_their_position() {
        let e = first_error("GET \"abc");
        assert_eq!(
            (e.position(), e.message()),
            (Position { line: 1, column: 5 }, "unterminated string: missing closing '\"'")
        );
        let e = first_error("PUT \"a\\qb\"");
        assert_eq!(e.position(), Position { line: 1, column: 7 });
        assert!(e.message().contains("unknown escape '\\q'"), "{}", e.message());
        let e = first_error("x'0g'");
        assert_eq!(e.position(), Position { line: 1, column: 4 });
        let e = first_error("x'abc'");
        assert!(e.message().contains("even number"));
        let e = first_error("\"\\x4\"");
        assert!(e.message().contains("two hex digits"));
        let e = first_error("99999999999999999999999");
        assert_eq!(e.message(), "number too large");
        let e = first_error("  @");
        assert_eq!((e.position().column, e.message()), (3, "unexpected character '@'"));
    }

    #[test]
    fn bad_escape_consumes_the_rest_of_the_string() {
        let mut lexer = Lexer::new("\"a\\qb\" ;");
        assert!(lexer.next_token().is_err());
        assert_eq!(lexer.next_token().unwrap().kind, TokenKind::Semicolon);
    }

    #[test]
    fn completeness() {
        assert!(is_complete(""));
        assert!(is_complete("  -- only a comment"));
        assert!(is_complete("GET WHERE KEY=\"a\";"));
        assert!(is_complete("GET WHERE KEY=\"a\"; -- trailing note"));
        assert!(!is_complete("GET WHERE KEY=\"a\""));
        assert!(!is_complete("PUT \"a;\":\"b"));
        assert!(!is_complete("PUT \"a\":\"b\"; GET"));
        assert!(is_complete("PUT \"a\":\"b\nc\";"));
        // A hex literal cannot span lines: the parser reports it instead of waiting for more.
        assert!(is_complete("PUT x'00"));
        assert!(is_complete("PUT x'00\n;"));
    }

    #[test]
    fn keywords_round_trip() {
        for k in Keyword::ALL {
            assert_eq!(Keyword::parse(k.as_str()), Some(k));
            assert_eq!(Keyword::parse(&k.as_str().to_lowercase()), Some(k));
        }
        assert_eq!(Keyword::parse("nope"), None);
    }
}
