//! What can go wrong when a statement is parsed or run.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::position::Position;

/// A statement that could not be parsed. It displays as `line L, column C: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    position: Position,
    message: String,
    /// The text ended inside a string literal: more input could complete it.
    open_string: bool,
}

impl ParseError {
    pub(crate) fn new(position: Position, message: impl Into<String>) -> ParseError {
        ParseError { position, message: message.into(), open_string: false }
    }

    pub(crate) fn open_string(position: Position) -> ParseError {
        ParseError {
            position,
            message: "unterminated string: missing closing '\"'".to_owned(),
            open_string: true,
        }
    }

    pub(crate) fn is_open_string(&self) -> bool {
        self.open_string
    }

    /// Where the problem is.
    pub fn position(&self) -> Position {
        self.position
    }

    /// What the problem is, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Why a statement failed. `Display` gives the text front-ends print after `Error: `.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The text did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),

    /// A statement that needs a store ran while none was open.
    #[error("No database open. Use .open first")]
    NoDatabase,

    /// The store failed the operation (a key too large, a read-only store, damage, I/O, ...).
    #[error(transparent)]
    Store(#[from] crate::Error),

    /// A file named by `EXPORT` or `IMPORT` could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file that failed; for `EXPORT`, the `.partial` file it writes first, unless the
        /// final rename failed.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// An `IMPORT` file that is not in the export format.
    #[error("{}, line {line}: {message}", path.display())]
    BadImport {
        /// The file being imported.
        path: PathBuf,
        /// Line number of the bad line, from 1.
        line: u64,
        /// What is wrong with it.
        message: String,
    },

    /// The front-end does not let statements reach the file system here (see
    /// [`super::FileAccess`]).
    #[error("{0}")]
    FileAccessDenied(String),

    /// The statement needs exclusive use of the store (only `IDENTIFIER SET`), and the caller
    /// holds it shared.
    #[error("{0} needs exclusive access to the store")]
    NeedsExclusive(&'static str),
}

impl CommandError {
    /// Another process holds the store's write lock.
    pub fn is_locked(&self) -> bool {
        matches!(self, CommandError::Store(crate::Error::Locked { .. }))
    }

    /// The position of a parse error.
    pub fn position(&self) -> Option<Position> {
        match self {
            CommandError::Parse(e) => Some(e.position()),
            _ => None,
        }
    }
}
