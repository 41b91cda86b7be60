//! Runs statements against a store.

use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use super::ast::Statement;
use super::error::CommandError;
use super::export;
use super::help;
use super::output::{Output, PageList, PageRow, ScanPage};
use crate::{KVStore, OpenOptions, WriteBatch};

/// Pairs `SCAN` lists when no `LIMIT` is given: a screenful or two, cheap to show.
pub const DEFAULT_SCAN_LIMIT: u64 = 100;
/// The most pairs one `SCAN` returns: it bounds the memory one statement holds. Larger listings
/// page with `FROM`.
pub const MAX_SCAN_LIMIT: u64 = 1_000_000;
/// Pages `PAGES` lists when no `LIMIT` is given.
pub const DEFAULT_PAGES_LIMIT: u64 = 100;
/// The most pages one `PAGES` lists (each one is read and decoded).
pub const MAX_PAGES_LIMIT: u64 = 100_000;

/// Where `EXPORT` and `IMPORT` may read and write files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FileAccess {
    /// Any path the process may open, relative ones from the working directory (the shell and
    /// `--exec`).
    #[default]
    Anywhere,
    /// No file access: `EXPORT` and `IMPORT` fail (for front-ends serving untrusted callers).
    Denied,
    /// Only relative paths without `..`, taken inside this directory (the server's data
    /// directory).
    Within(PathBuf),
}

impl FileAccess {
    /// The path a statement's file name stands for, or why it may not be used.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, CommandError> {
        match self {
            FileAccess::Anywhere => Ok(PathBuf::from(name)),
            FileAccess::Denied => {
                Err(CommandError::FileAccessDenied("EXPORT and IMPORT are not available here".to_owned()))
            }
            FileAccess::Within(root) => {
                let path = Path::new(name);
                let plain = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
                if plain {
                    Ok(root.join(path))
                } else {
                    Err(CommandError::FileAccessDenied(format!(
                        "'{name}': only relative file names without '..' are allowed here"
                    )))
                }
            }
        }
    }
}

/// Runs `statement`, including `IDENTIFIER SET`, which needs the store exclusively.
pub fn execute(store: &mut KVStore, statement: &Statement, files: &FileAccess) -> Result<Output, CommandError> {
    if let Statement::IdentifierSet { identifier } = statement {
        store.set_identifier(identifier)?;
        return Ok(Output::IdentifierSet { identifier: identifier.clone() });
    }
    execute_shared(store, statement, files)
}

/// Runs `statement` on a shared store; `IDENTIFIER SET` fails with
/// [`CommandError::NeedsExclusive`] (check [`Statement::needs_exclusive`] first and use
/// [`execute`] for it).
pub fn execute_shared(store: &KVStore, statement: &Statement, files: &FileAccess) -> Result<Output, CommandError> {
    Ok(match statement {
        Statement::Put { pairs } => {
            let mut batch = WriteBatch::new();
            for (key, value) in pairs {
                batch.put(key, value);
            }
            store.write(batch)?;
            Output::Inserted { count: pairs.len() }
        }
        Statement::Get { key } => match store.get(key)? {
            Some(value) => Output::Value { key: key.clone(), value },
            None => Output::NotFound { key: key.clone() },
        },
        Statement::GetAll => Output::Pairs { pairs: store.iter().collect::<Result<Vec<_>, _>>()? },
        Statement::Del { key } => {
            if store.delete(key)? {
                Output::Deleted { key: key.clone() }
            } else {
                Output::NotFound { key: key.clone() }
            }
        }
        Statement::Compact => {
            store.compact()?;
            Output::Compacted
        }
        Statement::IdentifierGet => Output::Identifier { identifier: store.get_identifier().to_owned() },
        Statement::IdentifierSet { .. } => return Err(CommandError::NeedsExclusive("IDENTIFIER SET")),
        Statement::Scan { prefix, from, limit } => {
            Output::Scan(scan(store, prefix.as_deref(), from.as_deref(), limit.unwrap_or(DEFAULT_SCAN_LIMIT))?)
        }
        Statement::Count => Output::Count { keys: store.len() },
        Statement::Stats => Output::Stats(store.stats()),
        Statement::Pages { from, limit } => {
            Output::Pages(pages(store, from.unwrap_or(0), limit.unwrap_or(DEFAULT_PAGES_LIMIT))?)
        }
        Statement::Page { number } => Output::Page(store.page_info(*number)?),
        Statement::Freelist => Output::FreeList { pages: store.free_pages()? },
        Statement::Check => Output::Check(store.check()?),
        Statement::Export { path } => {
            let resolved = files.resolve(path)?;
            let pairs = export::export(store, &resolved)?;
            Output::Exported { path: resolved, pairs }
        }
        Statement::Import { path } => {
            let resolved = files.resolve(path)?;
            let (pairs, identifier) = export::import(store, &resolved)?;
            Output::Imported { path: resolved, pairs, identifier }
        }
        Statement::Help { topic } => Output::Help { topic: topic.and_then(help::find_topic) },
    })
}

/// The smallest key greater than every key starting with `prefix`, or `None` when there is none
/// (the prefix is empty or all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn scan(store: &KVStore, prefix: Option<&[u8]>, from: Option<&[u8]>, limit: u64) -> Result<ScanPage, CommandError> {
    let limit = limit.clamp(1, MAX_SCAN_LIMIT);
    let prefix_bytes = prefix.unwrap_or_default();
    let start = match from {
        Some(from) if from > prefix_bytes => from,
        _ => prefix_bytes,
    };
    let end = prefix_end(prefix_bytes);
    let mut page = ScanPage { pairs: Vec::new(), next: None, prefix: prefix.map(<[u8]>::to_vec), limit };
    if end.as_deref().is_some_and(|end| start >= end) {
        return Ok(page);
    }
    let start_bound = if start.is_empty() { Bound::Unbounded } else { Bound::Included(start.to_vec()) };
    let end_bound = end.map_or(Bound::Unbounded, Bound::Excluded);
    for item in store.range_bounds(start_bound, end_bound) {
        let (key, value) = item?;
        if !key.starts_with(prefix_bytes) {
            break;
        }
        if page.pairs.len() as u64 == limit {
            page.next = Some(key);
            break;
        }
        page.pairs.push((key, value));
    }
    Ok(page)
}

fn pages(store: &KVStore, from: u64, limit: u64) -> Result<PageList, CommandError> {
    let limit = limit.clamp(1, MAX_PAGES_LIMIT);
    let page_count = store.stats().page_count;
    let end = from.saturating_add(limit).min(page_count);
    let mut rows = Vec::new();
    for number in from..end {
        rows.push(PageRow::from(&store.page_info(number)?));
    }
    let next = (end < page_count).then_some(end);
    Ok(PageList { rows, page_count, next, limit })
}

/// One user's conversation with at most one store: what the shell, the browser's command bar and
/// a server session hold.
#[derive(Default)]
pub struct Session {
    store: Option<KVStore>,
    files: FileAccess,
}

impl Session {
    /// A session with no store open and [`FileAccess::Anywhere`].
    pub fn new() -> Session {
        Session::default()
    }

    /// A session over a store already open.
    pub fn with_store(store: KVStore) -> Session {
        Session { store: Some(store), files: FileAccess::default() }
    }

    pub fn set_file_access(&mut self, files: FileAccess) {
        self.files = files;
    }

    pub fn file_access(&self) -> &FileAccess {
        &self.files
    }

    pub fn store(&self) -> Option<&KVStore> {
        self.store.as_ref()
    }

    pub fn store_mut(&mut self) -> Option<&mut KVStore> {
        self.store.as_mut()
    }

    pub fn is_open(&self) -> bool {
        self.store.is_some()
    }

    /// Takes the store out, leaving the session closed.
    pub fn take_store(&mut self) -> Option<KVStore> {
        self.store.take()
    }

    /// Opens the store at `path` with `options`, closing the current one first. Answers
    /// [`Output::Opened`], `created` telling whether the file did not exist before.
    pub fn open(&mut self, path: &Path, options: &OpenOptions) -> Result<Output, CommandError> {
        if let Some(current) = self.store.take() {
            current.close()?;
        }
        let existed = path.exists();
        let store = options.open(path)?;
        self.store = Some(store);
        Ok(Output::Opened { path: path.to_path_buf(), created: !existed })
    }

    /// Closes the store cleanly (checkpoint, lock released). Fails with
    /// [`CommandError::NoDatabase`] when none is open.
    pub fn close(&mut self) -> Result<Output, CommandError> {
        let store = self.store.take().ok_or(CommandError::NoDatabase)?;
        store.close()?;
        Ok(Output::Closed)
    }

    /// Runs one statement.
    pub fn execute(&mut self, statement: &Statement) -> Result<Output, CommandError> {
        match (self.store.as_mut(), statement) {
            // HELP never reads the store, so it works before `.open`.
            (_, Statement::Help { topic }) => Ok(Output::Help { topic: topic.and_then(help::find_topic) }),
            (Some(store), statement) => execute(store, statement, &self.files),
            (None, _) => Err(CommandError::NoDatabase),
        }
    }

    /// Parses `text` and runs its statements in order, stopping after the first error (a parse
    /// error included). Each statement runs on its own, as typed in a command bar.
    pub fn run(&mut self, text: &str) -> Vec<Result<Output, CommandError>> {
        let mut results = Vec::new();
        for item in super::parser::statements(text) {
            let result = match item {
                Ok(located) => self.execute(&located.statement),
                Err(e) => Err(CommandError::Parse(e)),
            };
            let failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"abc"), Some(b"abd".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn file_access() {
        assert_eq!(FileAccess::Anywhere.resolve("/tmp/x").unwrap(), PathBuf::from("/tmp/x"));
        assert!(FileAccess::Denied.resolve("x").is_err());
        let within = FileAccess::Within(PathBuf::from("/data"));
        assert_eq!(within.resolve("a/b.jsonl").unwrap(), PathBuf::from("/data/a/b.jsonl"));
        assert!(within.resolve("../etc/passwd").is_err());
        assert!(within.resolve("/etc/passwd").is_err());
        assert!(within.resolve("a/../../x").is_err());
        assert!(within.resolve("").is_err());
    }

    #[test]
    fn a_session_without_a_store() {
        let mut session = Session::new();
        assert!(!session.is_open());
        assert!(matches!(session.execute(&Statement::Count), Err(CommandError::NoDatabase)));
        assert!(matches!(session.close(), Err(CommandError::NoDatabase)));
        assert_eq!(
            CommandError::NoDatabase.to_string(),
            "No database open. Use .open first"
        );
        let help = session.execute(&Statement::Help { topic: Some("PUT") }).unwrap();
        assert!(matches!(help, Output::Help { topic: Some(t) } if t.name == "PUT"));
        let results = session.run("HELP; COUNT; HELP;");
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(CommandError::NoDatabase)));
        let results = session.run("GET WHERE KEY \"k\";");
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].as_ref().err().and_then(CommandError::position).map(|p| p.column), Some(15));
    }
}
