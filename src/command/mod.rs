//! The command language: one parser and one executor for every front-end (the browser's command
//! bar, `wkstore-tui --exec`, `wkshell` and the server's `/api/execute`).
//!
//! ```no_run
//! use wind_kvstore::command::{Console, parse_script};
//! use wind_kvstore::OpenOptions;
//!
//! let mut session = Console::new();
//! session.open("app.db".as_ref(), &OpenOptions::new())?;
//! for statement in parse_script("PUT \"k\":\"v\"; GET WHERE KEY=\"k\";")? {
//!     let output = session.execute(&statement)?;
//!     println!("{output}");                 // text for people
//!     println!("{}", output.to_json());     // JSON for programs
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The statements, their answers and the JSON shapes are documented in `docs/COMMANDS.md`.

mod ast;
mod error;
mod exec;
mod export;
mod help;
mod lexer;
mod limits;
mod literal;
mod output;
mod parser;
mod position;
mod runner;

pub use ast::{Located, Statement};
pub use error::{CommandError, ParseError};
pub use exec::{Console, FileAccess, execute, execute_shared, scan_page};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION};
pub use help::{HelpTopic, TOPICS, find_topic};
pub use lexer::{Keyword, is_complete};
pub(crate) use lexer::{ends_inside_string, keywords_starting};
pub use limits::{DEFAULT_PAGES_LIMIT, DEFAULT_SCAN_LIMIT, MAX_PAGES_LIMIT, MAX_SCAN_LIMIT};
pub use literal::{bytes_from_json, bytes_to_json, hex_literal, quote};
pub(crate) use output::human_age;
pub use output::{Output, PageList, PageRow, ReaderTable, ScanPage, error_to_json};
pub use parser::{Statements, parse_script, parse_statement, statements, statements_at};
pub use position::Position;
pub use runner::{BATCH_MAX_BYTES, BATCH_MAX_STATEMENTS, Outcome, ScriptRunner};
