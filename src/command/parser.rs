//! Statements from tokens.
//!
//! ```text
//! script     := (statement? ';')* statement?      the last ';' may be left out
//! statement  := PUT pair (',' pair)*
//!             | GET WHERE KEY '=' (bytes | '*')
//!             | DEL WHERE KEY '=' bytes
//!             | COMPACT | COUNT | STATS | FREELIST | CHECK | READERS
//!             | IDENTIFIER GET | IDENTIFIER SET bytes
//!             | SCAN (PREFIX bytes | FROM bytes | LIMIT number)*    each clause at most once
//!             | PAGES (FROM number | LIMIT number)*                 each clause at most once
//!             | PAGE number
//!             | EXPORT bytes | IMPORT bytes
//!             | HELP (word | bytes)?
//! pair       := bytes ':' bytes
//! bytes      := string literal | hex literal
//! ```

use super::ast::{Located, Statement};
use super::error::ParseError;
use super::help;
use super::lexer::{Keyword, Lexer, Token, TokenKind};
use super::limits::{MAX_PAGES_LIMIT, MAX_SCAN_LIMIT};
use super::position::Position;

/// Parses exactly one statement; its `;` may be left out.
pub fn parse_statement(text: &str) -> Result<Statement, ParseError> {
    let mut statements = statements(text);
    let first = match statements.next() {
        Some(result) => result?,
        None => return Err(ParseError::new(Position::START, "expected a statement")),
    };
    match statements.next() {
        None => Ok(first.statement),
        Some(Ok(extra)) => Err(ParseError::new(extra.position, "expected only one statement")),
        Some(Err(e)) => Err(e),
    }
}

/// Parses a whole script, or returns the first error.
pub fn parse_script(text: &str) -> Result<Vec<Statement>, ParseError> {
    statements(text).map(|r| r.map(|located| located.statement)).collect()
}

/// The statements of `text` one by one, each with its position. After an error the iterator
/// resumes at the next `;`, so a caller can report every bad statement and run the good ones.
pub fn statements(text: &str) -> Statements<'_> {
    statements_at(text, Position::START)
}

/// Like [`statements`], for text whose first character is at `start` of a longer input, so
/// positions name the line of that input.
pub fn statements_at(text: &str, start: Position) -> Statements<'_> {
    Statements { parser: Parser { lexer: Lexer::starting_at(text, start), peeked: None }, done: false }
}

/// Iterator returned by [`statements`].
pub struct Statements<'a> {
    parser: Parser<'a>,
    done: bool,
}

impl Iterator for Statements<'_> {
    type Item = Result<Located, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.parser.peek_kind() {
                Ok(TokenKind::End) => {
                    self.done = true;
                    return None;
                }
                // Empty statements are skipped.
                Ok(TokenKind::Semicolon) => {
                    self.parser.take();
                }
                Ok(_) => break,
                Err(e) => {
                    self.parser.recover();
                    return Some(Err(e));
                }
            }
        }
        match self.parser.located() {
            Ok(located) => Some(Ok(located)),
            Err(e) => {
                self.parser.recover();
                Some(Err(e))
            }
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        // Just filled when it was empty.
        self.peeked.as_ref().ok_or_else(|| ParseError::new(Position::START, "internal: no token"))
    }

    fn peek_kind(&mut self) -> Result<&TokenKind, ParseError> {
        Ok(&self.peek()?.kind)
    }

    fn position(&mut self) -> Position {
        match self.peek() {
            Ok(token) => token.pos,
            Err(e) => e.position(),
        }
    }

    /// Consumes the peeked token.
    fn take(&mut self) -> Option<Token> {
        self.peeked.take()
    }

    /// Skips to just after the next `;` (or to the end).
    fn recover(&mut self) {
        loop {
            match self.peek_kind() {
                Ok(TokenKind::End) => return,
                Ok(TokenKind::Semicolon) => {
                    self.take();
                    return;
                }
                Ok(_) => {
                    self.take();
                }
                // The lexer has moved past the bad text; keep going.
                Err(_) => {}
            }
        }
    }

    fn error(&mut self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.position(), message)
    }

    fn is_keyword(&mut self, keyword: Keyword) -> Result<bool, ParseError> {
        Ok(matches!(self.peek_kind()?, TokenKind::Word(w) if Keyword::parse(w) == Some(keyword)))
    }

    fn expect_keyword(&mut self, keyword: Keyword, after: &str) -> Result<(), ParseError> {
        if self.is_keyword(keyword)? {
            self.take();
            Ok(())
        } else {
            Err(self.error(format!("expected {keyword} after {after}")))
        }
    }

    fn expect_punct(&mut self, punct: TokenKind, message: &str) -> Result<(), ParseError> {
        if *self.peek_kind()? == punct {
            self.take();
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn bytes(&mut self, what: &str) -> Result<Vec<u8>, ParseError> {
        if let TokenKind::Bytes(_) = self.peek_kind()?
            && let Some(Token { kind: TokenKind::Bytes(bytes), .. }) = self.take()
        {
            return Ok(bytes);
        }
        Err(self.error(format!("expected {what}")))
    }

    fn text(&mut self, what: &str) -> Result<String, ParseError> {
        let pos = self.position();
        let bytes = self.bytes(what)?;
        String::from_utf8(bytes).map_err(|_| ParseError::new(pos, format!("{what} must be UTF-8 text")))
    }

    fn number(&mut self, what: &str) -> Result<u64, ParseError> {
        if let TokenKind::Number(n) = *self.peek_kind()? {
            self.take();
            Ok(n)
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    /// A `LIMIT` value, from 1 to `max`.
    fn limit(&mut self, max: u64) -> Result<u64, ParseError> {
        let pos = self.position();
        let n = self.number("a number after LIMIT")?;
        if (1..=max).contains(&n) {
            Ok(n)
        } else {
            Err(ParseError::new(pos, format!("LIMIT must be from 1 to {max}")))
        }
    }

    fn located(&mut self) -> Result<Located, ParseError> {
        let position = self.position();
        let statement = self.statement()?;
        match self.peek_kind()? {
            TokenKind::Semicolon => {
                self.take();
            }
            TokenKind::End => {}
            _ => return Err(self.error(format!("expected ';' after the {} statement", statement.name()))),
        }
        Ok(Located { statement, position })
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let start = self.position();
        let keyword = match self.peek_kind()? {
            TokenKind::Word(word) => match Keyword::parse(word) {
                Some(k) => k,
                None => {
                    let message = format!("unknown statement '{word}' (HELP lists the statements)");
                    return Err(self.error(message));
                }
            },
            _ => return Err(self.error("expected a statement")),
        };
        self.take();
        match keyword {
            Keyword::Put => self.put(),
            Keyword::Get => {
                self.where_key("GET")?;
                if *self.peek_kind()? == TokenKind::Star {
                    self.take();
                    Ok(Statement::GetAll)
                } else {
                    Ok(Statement::Get { key: self.bytes("a key string or '*' after KEY=")? })
                }
            }
            Keyword::Del => {
                self.where_key("DEL")?;
                Ok(Statement::Del { key: self.bytes("a key string after KEY=")? })
            }
            Keyword::Compact => Ok(Statement::Compact),
            Keyword::Count => Ok(Statement::Count),
            Keyword::Stats => Ok(Statement::Stats),
            Keyword::Freelist => Ok(Statement::Freelist),
            Keyword::Check => Ok(Statement::Check),
            Keyword::Readers => Ok(Statement::Readers),
            Keyword::Identifier => {
                if self.is_keyword(Keyword::Get)? {
                    self.take();
                    Ok(Statement::IdentifierGet)
                } else if self.is_keyword(Keyword::Set)? {
                    self.take();
                    Ok(Statement::IdentifierSet { identifier: self.text("the new identifier after SET")? })
                } else {
                    Err(self.error("expected GET or SET after IDENTIFIER"))
                }
            }
            Keyword::Scan => self.scan(),
            Keyword::Pages => self.pages(),
            Keyword::Page => Ok(Statement::Page { number: self.number("a page number after PAGE")? }),
            Keyword::Export => Ok(Statement::Export { path: self.text("a file name after EXPORT")? }),
            Keyword::Import => Ok(Statement::Import { path: self.text("a file name after IMPORT")? }),
            Keyword::Salvage => {
                self.expect_keyword(Keyword::To, "SALVAGE")?;
                Ok(Statement::Salvage { path: self.text("a file name after SALVAGE TO")? })
            }
            Keyword::Help => self.help(),
            Keyword::Where
            | Keyword::Key
            | Keyword::Set
            | Keyword::Prefix
            | Keyword::From
            | Keyword::Limit
            | Keyword::To => Err(ParseError::new(
                start,
                format!("{keyword} cannot start a statement (HELP lists the statements)"),
            )),
        }
    }

    fn where_key(&mut self, statement: &str) -> Result<(), ParseError> {
        self.expect_keyword(Keyword::Where, statement)?;
        self.expect_keyword(Keyword::Key, "WHERE")?;
        self.expect_punct(TokenKind::Equals, "expected '=' after KEY")
    }

    fn put(&mut self) -> Result<Statement, ParseError> {
        let mut pairs = Vec::new();
        loop {
            let key = self.bytes(if pairs.is_empty() {
                "a key string after PUT"
            } else {
                "a key string after ','"
            })?;
            self.expect_punct(TokenKind::Colon, "expected ':' between key and value")?;
            let value = self.bytes("a value string after ':'")?;
            pairs.push((key, value));
            if *self.peek_kind()? == TokenKind::Comma {
                self.take();
            } else {
                return Ok(Statement::Put { pairs });
            }
        }
    }

    fn scan(&mut self) -> Result<Statement, ParseError> {
        let (mut prefix, mut from, mut limit) = (None, None, None);
        loop {
            let pos = self.position();
            if self.is_keyword(Keyword::Prefix)? {
                self.take();
                set_once(&mut prefix, self.bytes("a prefix string after PREFIX")?, pos, "PREFIX")?;
            } else if self.is_keyword(Keyword::From)? {
                self.take();
                set_once(&mut from, self.bytes("a key string after FROM")?, pos, "FROM")?;
            } else if self.is_keyword(Keyword::Limit)? {
                self.take();
                set_once(&mut limit, self.limit(MAX_SCAN_LIMIT)?, pos, "LIMIT")?;
            } else {
                return Ok(Statement::Scan { prefix, from, limit });
            }
        }
    }

    fn pages(&mut self) -> Result<Statement, ParseError> {
        let (mut from, mut limit) = (None, None);
        loop {
            let pos = self.position();
            if self.is_keyword(Keyword::From)? {
                self.take();
                set_once(&mut from, self.number("a page number after FROM")?, pos, "FROM")?;
            } else if self.is_keyword(Keyword::Limit)? {
                self.take();
                set_once(&mut limit, self.limit(MAX_PAGES_LIMIT)?, pos, "LIMIT")?;
            } else {
                return Ok(Statement::Pages { from, limit });
            }
        }
    }

    fn help(&mut self) -> Result<Statement, ParseError> {
        let pos = self.position();
        let name = match self.peek_kind()? {
            TokenKind::Word(word) => word.clone(),
            TokenKind::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => return Ok(Statement::Help { topic: None }),
        };
        self.take();
        match help::find_topic(&name) {
            Some(topic) => Ok(Statement::Help { topic: Some(topic.name) }),
            None => Err(ParseError::new(pos, format!("no help for '{name}' (HELP lists the topics)"))),
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, pos: Position, clause: &str) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::new(pos, format!("{clause} given twice")));
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::literal::{hex_literal, quote};
    use proptest::prelude::*;

    fn one(text: &str) -> Statement {
        parse_statement(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// The error for `text`, as `line, column: message`.
    fn error(text: &str) -> String {
        match parse_script(text) {
            Ok(statements) => panic!("{text:?} parsed: {statements:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn b(text: &str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    #[test]
    fn put() {
        assert_eq!(one("PUT \"k\":\"v\";"), Statement::Put { pairs: vec![(b("k"), b("v"))] });
        assert_eq!(
            one("put \"k\" : \"v\" , \"k2\":\"v2\";"),
            Statement::Put { pairs: vec![(b("k"), b("v")), (b("k2"), b("v2"))] }
        );
        assert_eq!(one("PUT x'00ff':\"a\\nb\""), Statement::Put { pairs: vec![(vec![0, 255], b("a\nb"))] });
        assert_eq!(one("PUT \"\":\"\";"), Statement::Put { pairs: vec![(vec![], vec![])] });
    }

    #[test]
    fn get_and_del() {
        assert_eq!(one("GET WHERE KEY=\"k\";"), Statement::Get { key: b("k") });
        assert_eq!(one("get where key = \"k\";"), Statement::Get { key: b("k") });
        assert_eq!(one("GET WHERE KEY=*;"), Statement::GetAll);
        assert_eq!(one("Get Where Key = * ;"), Statement::GetAll);
        assert_eq!(one("GET WHERE KEY=x'ff';"), Statement::Get { key: vec![255] });
        assert_eq!(one("DEL WHERE KEY=\"k\";"), Statement::Del { key: b("k") });
        assert_eq!(one("del where key=\"k\""), Statement::Del { key: b("k") });
    }

    #[test]
    fn simple_statements() {
        assert_eq!(one("COMPACT;"), Statement::Compact);
        assert_eq!(one("compact"), Statement::Compact);
        assert_eq!(one("COUNT;"), Statement::Count);
        assert_eq!(one("STATS;"), Statement::Stats);
        assert_eq!(one("FREELIST;"), Statement::Freelist);
        assert_eq!(one("CHECK;"), Statement::Check);
        assert_eq!(one("READERS;"), Statement::Readers);
        assert_eq!(one("readers"), Statement::Readers);
        assert_eq!(one("IDENTIFIER GET;"), Statement::IdentifierGet);
        assert_eq!(
            one("identifier set \"UserDatabase\";"),
            Statement::IdentifierSet { identifier: "UserDatabase".into() }
        );
        assert_eq!(one("PAGE 7;"), Statement::Page { number: 7 });
        assert_eq!(one("EXPORT \"out.jsonl\";"), Statement::Export { path: "out.jsonl".into() });
        assert_eq!(one("salvage to \"out.db\";"), Statement::Salvage { path: "out.db".into() });
        assert_eq!(one("IMPORT \"in.jsonl\";"), Statement::Import { path: "in.jsonl".into() });
    }

    #[test]
    fn scan_clauses_in_any_order() {
        assert_eq!(one("SCAN;"), Statement::Scan { prefix: None, from: None, limit: None });
        assert_eq!(
            one("SCAN PREFIX \"user:\" FROM \"user:5\" LIMIT 10;"),
            Statement::Scan { prefix: Some(b("user:")), from: Some(b("user:5")), limit: Some(10) }
        );
        assert_eq!(
            one("scan limit 3 prefix x'00';"),
            Statement::Scan { prefix: Some(vec![0]), from: None, limit: Some(3) }
        );
        assert_eq!(
            one("SCAN FROM \"m\";"),
            Statement::Scan { prefix: None, from: Some(b("m")), limit: None }
        );
    }

    #[test]
    fn pages() {
        assert_eq!(one("PAGES;"), Statement::Pages { from: None, limit: None });
        assert_eq!(one("PAGES FROM 10 LIMIT 5;"), Statement::Pages { from: Some(10), limit: Some(5) });
        assert_eq!(one("pages limit 5;"), Statement::Pages { from: None, limit: Some(5) });
    }

    #[test]
    fn help() {
        assert_eq!(one("HELP;"), Statement::Help { topic: None });
        assert_eq!(one("help scan;"), Statement::Help { topic: Some("SCAN") });
        assert_eq!(one("HELP \"identifier\";"), Statement::Help { topic: Some("IDENTIFIER") });
        assert_eq!(one("HELP syntax"), Statement::Help { topic: Some("SYNTAX") });
    }

    #[test]
    fn scripts_span_lines_and_skip_empty_statements() {
        let script = "PUT \"a\":\"1\",\n    \"b\":\"2\";\n;;\n-- a comment\nGET WHERE\nKEY=\"a\";\nCOUNT";
        let located: Vec<Located> = statements(script).collect::<Result<_, _>>().unwrap();
        assert_eq!(located.len(), 3);
        assert_eq!(located[0].position, Position { line: 1, column: 1 });
        assert_eq!(located[1].position, Position { line: 5, column: 1 });
        assert_eq!(located[1].statement, Statement::Get { key: b("a") });
        assert_eq!(located[2].statement, Statement::Count);
        assert_eq!(parse_script("").unwrap(), vec![]);
        assert_eq!(parse_script(" ; -- nothing").unwrap(), vec![]);
    }

    #[test]
    fn errors_name_their_position() {
        assert_eq!(error("GET WHERE KEY\"k\";"), "line 1, column 14: expected '=' after KEY");
        assert_eq!(error("DEL WHERE KEY \"k\";"), "line 1, column 15: expected '=' after KEY");
        assert_eq!(error("GET KEY=\"k\";"), "line 1, column 5: expected WHERE after GET");
        assert_eq!(error("GET WHERE \"k\";"), "line 1, column 11: expected KEY after WHERE");
        assert_eq!(error("GET WHERE KEY=k;"), "line 1, column 15: expected a key string or '*' after KEY=");
        assert_eq!(error("DEL WHERE KEY=*;"), "line 1, column 15: expected a key string after KEY=");
        assert_eq!(error("PUT;"), "line 1, column 4: expected a key string after PUT");
        assert_eq!(error("PUT \"k\" \"v\";"), "line 1, column 9: expected ':' between key and value");
        assert_eq!(error("PUT \"k\":;"), "line 1, column 9: expected a value string after ':'");
        assert_eq!(error("PUT \"k\":\"v\",;"), "line 1, column 13: expected a key string after ','");
        assert_eq!(
            error("PUT \"k\":\"v\" \"x\";"),
            "line 1, column 13: expected ';' after the PUT statement"
        );
        assert_eq!(error("FROB;"), "line 1, column 1: unknown statement 'FROB' (HELP lists the statements)");
        assert_eq!(
            error("WHERE;"),
            "line 1, column 1: WHERE cannot start a statement (HELP lists the statements)"
        );
        assert_eq!(error("\"k\";"), "line 1, column 1: expected a statement");
        assert_eq!(error("COMPACT now;"), "line 1, column 9: expected ';' after the COMPACT statement");
        assert_eq!(error("READERS 3;"), "line 1, column 9: expected ';' after the READERS statement");
        assert_eq!(error("IDENTIFIER;"), "line 1, column 11: expected GET or SET after IDENTIFIER");
        assert_eq!(
            error("IDENTIFIER SET x'ff';"),
            "line 1, column 16: the new identifier after SET must be UTF-8 text"
        );
        assert_eq!(error("IDENTIFIER SET;"), "line 1, column 15: expected the new identifier after SET");
        assert_eq!(error("SCAN LIMIT \"x\";"), "line 1, column 12: expected a number after LIMIT");
        assert_eq!(error("SCAN PREFIX;"), "line 1, column 12: expected a prefix string after PREFIX");
        assert_eq!(error("SCAN LIMIT 1 LIMIT 2;"), "line 1, column 14: LIMIT given twice");
        assert_eq!(
            error("SCAN LIMIT 0;"),
            format!("line 1, column 12: LIMIT must be from 1 to {MAX_SCAN_LIMIT}")
        );
        assert_eq!(
            error("PAGES LIMIT 1000000000;"),
            format!("line 1, column 13: LIMIT must be from 1 to {MAX_PAGES_LIMIT}")
        );
        assert_eq!(error("PAGES FROM x;"), "line 1, column 12: expected a page number after FROM");
        assert_eq!(error("PAGE;"), "line 1, column 5: expected a page number after PAGE");
        assert_eq!(error("EXPORT;"), "line 1, column 7: expected a file name after EXPORT");
        assert_eq!(error("IMPORT 5;"), "line 1, column 8: expected a file name after IMPORT");
        assert_eq!(error("SALVAGE \"out.db\";"), "line 1, column 9: expected TO after SALVAGE");
        assert_eq!(error("SALVAGE TO;"), "line 1, column 11: expected a file name after SALVAGE TO");
        assert_eq!(error("HELP FROB;"), "line 1, column 6: no help for 'FROB' (HELP lists the topics)");
        assert_eq!(
            error("GET WHERE KEY=\"k"),
            "line 1, column 15: unterminated string: missing closing '\"'"
        );
        assert_eq!(
            error("PUT \"a\":\"b\";\n\n  GET WHERE KEY=\"a\\q\";"),
            "line 3, column 19: unknown escape '\\q' (use \\\" \\\\ \\n \\t \\r \\0 or \\xNN)"
        );
        assert_eq!(
            error("COUNT;\nGET\n WHERE KEY\n  = ;"),
            "line 4, column 5: expected a key string or '*' after KEY="
        );
    }

    #[test]
    fn exactly_one_statement() {
        assert_eq!(parse_statement("").unwrap_err().to_string(), "line 1, column 1: expected a statement");
        assert_eq!(
            parse_statement("COUNT; STATS;").unwrap_err().to_string(),
            "line 1, column 8: expected only one statement"
        );
    }

    #[test]
    fn recovery_resumes_after_the_next_semicolon() {
        let items: Vec<_> =
            statements("COUNT; GET KEY; STATS; PUT \"a\\q\":\"b\"; CHECK; FROB\nLIMIT 3; HELP").collect();
        let shape: Vec<Result<&'static str, u32>> = items
            .iter()
            .map(|r| r.as_ref().map(|l| l.statement.name()).map_err(|e| e.position().column))
            .collect();
        assert_eq!(shape, vec![Ok("COUNT"), Err(12), Ok("STATS"), Err(30), Ok("CHECK"), Err(46), Ok("HELP")]);
        // An error on the ';' itself does not swallow the next statement.
        let items: Vec<_> = statements("GET; COUNT;").collect();
        assert!(items[0].is_err());
        assert_eq!(items[1].as_ref().map(|l| &l.statement), Ok(&Statement::Count));
        // An open string eats the rest of the input.
        let items: Vec<_> = statements("COUNT; PUT \"a:\"b\"; COUNT;").collect();
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn positions_can_start_later_in_a_longer_input() {
        let items: Vec<_> = statements_at("GET WHERE KEY \"a\";", Position { line: 7, column: 1 }).collect();
        assert_eq!(items[0].as_ref().unwrap_err().to_string(), "line 7, column 15: expected '=' after KEY");
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..24)
    }

    fn arb_statement() -> impl Strategy<Value = Statement> {
        prop_oneof![
            proptest::collection::vec((arb_bytes(), arb_bytes()), 1..4)
                .prop_map(|pairs| Statement::Put { pairs }),
            arb_bytes().prop_map(|key| Statement::Get { key }),
            Just(Statement::GetAll),
            arb_bytes().prop_map(|key| Statement::Del { key }),
            Just(Statement::Compact),
            Just(Statement::IdentifierGet),
            "\\PC{0,12}".prop_map(|identifier| Statement::IdentifierSet { identifier }),
            (
                proptest::option::of(arb_bytes()),
                proptest::option::of(arb_bytes()),
                proptest::option::of(1..=MAX_SCAN_LIMIT)
            )
                .prop_map(|(prefix, from, limit)| Statement::Scan { prefix, from, limit }),
            Just(Statement::Count),
            Just(Statement::Stats),
            (proptest::option::of(any::<u64>()), proptest::option::of(1..=MAX_PAGES_LIMIT))
                .prop_map(|(from, limit)| Statement::Pages { from, limit }),
            any::<u64>().prop_map(|number| Statement::Page { number }),
            Just(Statement::Freelist),
            Just(Statement::Check),
            Just(Statement::Readers),
            "\\PC{1,12}".prop_map(|path| Statement::Export { path }),
            "\\PC{1,12}".prop_map(|path| Statement::Import { path }),
            "\\PC{1,12}".prop_map(|path| Statement::Salvage { path }),
            Just(Statement::Help { topic: None }),
            Just(Statement::Help { topic: Some("SCAN") }),
        ]
    }

    proptest! {
        #[test]
        fn display_parses_back(statement in arb_statement()) {
            prop_assert_eq!(parse_statement(&statement.to_string()).unwrap(), statement);
        }

        #[test]
        fn any_bytes_round_trip_through_hex_literals_in_put(key in arb_bytes(), value in arb_bytes()) {
            let text = format!("PUT {}:{};", hex_literal(&key), hex_literal(&value));
            prop_assert_eq!(parse_statement(&text).unwrap(), Statement::Put { pairs: vec![(key.clone(), value.clone())] });
            let text = format!("GET WHERE KEY={};", quote(&key));
            prop_assert_eq!(parse_statement(&text).unwrap(), Statement::Get { key });
        }

        #[test]
        fn no_input_panics(text in "\\PC{0,80}") {
            let _ = parse_script(&text);
            let _ = crate::command::is_complete(&text);
        }

        #[test]
        fn no_token_soup_panics(words in proptest::collection::vec(
            prop_oneof![
                Just("PUT"), Just("GET"), Just("DEL"), Just("WHERE"), Just("KEY"), Just("="), Just("*"),
                Just(":"), Just(","), Just(";"), Just("\"k\""), Just("x'00'"), Just("12"), Just("SCAN"),
                Just("LIMIT"), Just("FROM"), Just("PREFIX"), Just("PAGES"), Just("HELP"), Just("\n"),
                Just("IDENTIFIER"), Just("SET"), Just("\"\\"), Just("x'"),
            ],
            0..20,
        )) {
            let text = words.join(" ");
            let _ = parse_script(&text);
            let _ = statements(&text).count();
        }
    }
}
