//! Parsed statements.

use std::fmt;

use super::literal::quote;
use super::position::Position;

/// One statement of the command language. `Display` writes it back as text that parses to the
/// same statement (binary keys and values as escaped strings).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Statement {
    /// `PUT "k":"v", "k2":"v2";`: all pairs in one atomic batch.
    Put {
        /// Keys and values in the order written; a later pair for the same key wins.
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `GET WHERE KEY="k";`
    Get {
        /// The key to read.
        key: Vec<u8>,
    },
    /// `GET WHERE KEY=*;`
    GetAll,
    /// `DEL WHERE KEY="k";`
    Del {
        /// The key to delete.
        key: Vec<u8>,
    },
    /// `COMPACT;`
    Compact,
    /// `IDENTIFIER GET;`
    IdentifierGet,
    /// `IDENTIFIER SET "id";`
    IdentifierSet {
        /// The new identifier; its length is checked when the statement runs.
        identifier: String,
    },
    /// `SCAN [PREFIX "p"] [FROM "k"] [LIMIT n];`. `None` fields take the defaults.
    Scan {
        /// Only keys starting with these bytes; `None`: every key.
        prefix: Option<Vec<u8>>,
        /// First key listed, if it exists; `None`: from the first key (of the prefix).
        from: Option<Vec<u8>>,
        /// Most pairs listed, 1 to [`MAX_SCAN_LIMIT`](crate::command::MAX_SCAN_LIMIT); `None`:
        /// [`DEFAULT_SCAN_LIMIT`](crate::command::DEFAULT_SCAN_LIMIT).
        limit: Option<u64>,
    },
    /// `COUNT;`
    Count,
    /// `STATS;`
    Stats,
    /// `PAGES [FROM n] [LIMIT n];`
    Pages {
        /// First page number listed; `None`: page 0.
        from: Option<u64>,
        /// Most pages listed, 1 to [`MAX_PAGES_LIMIT`](crate::command::MAX_PAGES_LIMIT); `None`:
        /// [`DEFAULT_PAGES_LIMIT`](crate::command::DEFAULT_PAGES_LIMIT).
        limit: Option<u64>,
    },
    /// `PAGE n;`
    Page {
        /// The page number.
        number: u64,
    },
    /// `FREELIST;`
    Freelist,
    /// `CHECK;`
    Check,
    /// `READERS;`: the store's reader table (read-only handles in any process and the
    /// checkpoints they pinned).
    Readers,
    /// `EXPORT "file";`
    Export {
        /// The file name as written; [`FileAccess`](crate::command::FileAccess) resolves it when
        /// the statement runs.
        path: String,
    },
    /// `IMPORT "file";`
    Import {
        /// The file name as written; [`FileAccess`](crate::command::FileAccess) resolves it when
        /// the statement runs.
        path: String,
    },
    /// `SALVAGE TO "file";`: every key the store's file still holds, read page by page, into a
    /// new store (see [`crate::salvage`]).
    Salvage {
        /// The new store's file name as written; [`FileAccess`](crate::command::FileAccess)
        /// resolves it when the statement runs.
        path: String,
    },
    /// `HELP [topic];`, the topic already checked against the help table.
    Help {
        /// The topic's [`HelpTopic::name`](crate::command::HelpTopic::name); `None`: every topic.
        topic: Option<&'static str>,
    },
}

impl Statement {
    /// The statement's name as help and JSON output spell it (`"PUT"`, `"IDENTIFIER SET"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Statement::Put { .. } => "PUT",
            Statement::Get { .. } | Statement::GetAll => "GET",
            Statement::Del { .. } => "DEL",
            Statement::Compact => "COMPACT",
            Statement::IdentifierGet => "IDENTIFIER GET",
            Statement::IdentifierSet { .. } => "IDENTIFIER SET",
            Statement::Scan { .. } => "SCAN",
            Statement::Count => "COUNT",
            Statement::Stats => "STATS",
            Statement::Pages { .. } => "PAGES",
            Statement::Page { .. } => "PAGE",
            Statement::Freelist => "FREELIST",
            Statement::Check => "CHECK",
            Statement::Readers => "READERS",
            Statement::Export { .. } => "EXPORT",
            Statement::Import { .. } => "IMPORT",
            Statement::Salvage { .. } => "SALVAGE",
            Statement::Help { .. } => "HELP",
        }
    }

    /// Whether running it changes the store (a front-end holding a read-only store can refuse it
    /// early).
    pub fn modifies_store(&self) -> bool {
        matches!(
            self,
            Statement::Put { .. }
                | Statement::Del { .. }
                | Statement::Compact
                | Statement::IdentifierSet { .. }
                | Statement::Import { .. }
        )
    }

    /// Whether it needs `&mut KVStore` (see [`super::execute_shared`]).
    pub fn needs_exclusive(&self) -> bool {
        matches!(self, Statement::IdentifierSet { .. })
    }

    /// Whether it needs an open store (everything but `HELP`).
    pub fn needs_store(&self) -> bool {
        !matches!(self, Statement::Help { .. })
    }

    /// Whether it touches the file system outside the store (`EXPORT`, `IMPORT`, `SALVAGE`).
    pub fn uses_files(&self) -> bool {
        matches!(self, Statement::Export { .. } | Statement::Import { .. } | Statement::Salvage { .. })
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Put { pairs } => {
                f.write_str("PUT ")?;
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}:{}", quote(key), quote(value))?;
                }
            }
            Statement::Get { key } => write!(f, "GET WHERE KEY={}", quote(key))?,
            Statement::GetAll => f.write_str("GET WHERE KEY=*")?,
            Statement::Del { key } => write!(f, "DEL WHERE KEY={}", quote(key))?,
            Statement::Compact => f.write_str("COMPACT")?,
            Statement::IdentifierGet => f.write_str("IDENTIFIER GET")?,
            Statement::IdentifierSet { identifier } => {
                write!(f, "IDENTIFIER SET {}", quote(identifier.as_bytes()))?;
            }
            Statement::Scan { prefix, from, limit } => {
                f.write_str("SCAN")?;
                if let Some(prefix) = prefix {
                    write!(f, " PREFIX {}", quote(prefix))?;
                }
                if let Some(from) = from {
                    write!(f, " FROM {}", quote(from))?;
                }
                if let Some(limit) = limit {
                    write!(f, " LIMIT {limit}")?;
                }
            }
            Statement::Count => f.write_str("COUNT")?,
            Statement::Stats => f.write_str("STATS")?,
            Statement::Pages { from, limit } => {
                f.write_str("PAGES")?;
                if let Some(from) = from {
                    write!(f, " FROM {from}")?;
                }
                if let Some(limit) = limit {
                    write!(f, " LIMIT {limit}")?;
                }
            }
            Statement::Page { number } => write!(f, "PAGE {number}")?,
            Statement::Freelist => f.write_str("FREELIST")?,
            Statement::Check => f.write_str("CHECK")?,
            Statement::Readers => f.write_str("READERS")?,
            Statement::Export { path } => write!(f, "EXPORT {}", quote(path.as_bytes()))?,
            Statement::Import { path } => write!(f, "IMPORT {}", quote(path.as_bytes()))?,
            Statement::Salvage { path } => write!(f, "SALVAGE TO {}", quote(path.as_bytes()))?,
            Statement::Help { topic: None } => f.write_str("HELP")?,
            Statement::Help { topic: Some(topic) } => write!(f, "HELP {topic}")?,
        }
        f.write_str(";")
    }
}

/// A statement and where it starts in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The statement.
    pub statement: Statement,
    /// Where its first token starts.
    pub position: Position,
}
