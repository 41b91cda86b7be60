//! Runs statements against a store.

use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use super::ast::Statement;
use super::error::CommandError;
use super::export;
use super::help;
use super::limits::{DEFAULT_PAGES_LIMIT, DEFAULT_SCAN_LIMIT, MAX_PAGES_LIMIT, MAX_SCAN_LIMIT};
use super::output::{Output, PageList, PageRow, ReaderTable, ScanPage};
use crate::{KVStore, OpenOptions, SalvageOptions, WriteBatch};

/// Where `EXPORT`, `IMPORT` and `SALVAGE` may read and write files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FileAccess {
    /// Any path the process may open, relative ones from the working directory (the shell and
    /// `--exec`).
    #[default]
    Anywhere,
    /// No file access: `EXPORT` and `IMPORT` fail (for front-ends serving untrusted callers).
    Denied,
    /// Only relative paths without `..`, taken inside this directory (the server's data
    /// directory); `EXPORT` never replaces a file there.
    Within(PathBuf),
}

impl FileAccess {
    /// The path a statement's file name stands for, or why it may not be used.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, CommandError> {
        match self {
            FileAccess::Anywhere => Ok(PathBuf::from(name)),
            FileAccess::Denied => Err(CommandError::FileAccessDenied(
                "EXPORT, IMPORT and SALVAGE are not available here".to_owned(),
            )),
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
pub fn execute(
    store: &mut KVStore,
    statement: &Statement,
    files: &FileAccess,
) -> Result<Output, CommandError> {
    if let Statement::IdentifierSet { identifier } = statement {
        store.set_identifier(identifier)?;
        return Ok(Output::IdentifierSet { identifier: identifier.clone() });
    }
    execute_shared(store, statement, files)
}

/// Runs `statement` on a shared store; `IDENTIFIER SET` fails with
/// [`CommandError::NeedsExclusive`] (check [`Statement::needs_exclusive`] first and use
/// [`execute`] for it).
pub fn execute_shared(
    store: &KVStore,
    statement: &Statement,
    files: &FileAccess,
) -> Result<Output, CommandError> {
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
        Statement::Scan { prefix, from, limit } => Output::Scan(scan(
            store,
            prefix.as_deref(),
            from.as_deref(),
            limit.unwrap_or(DEFAULT_SCAN_LIMIT),
        )?),
        Statement::Count => Output::Count { keys: store.len()? },
        Statement::Stats => Output::Stats(store.stats()),
        Statement::Pages { from, limit } => {
            Output::Pages(pages(store, from.unwrap_or(0), limit.unwrap_or(DEFAULT_PAGES_LIMIT))?)
        }
        Statement::Page { number } => Output::Page(store.page_info(*number)?),
        Statement::Freelist => Output::FreeList { pages: store.free_pages()? },
        Statement::Check => Output::Check(store.check()?),
        Statement::Readers => Output::Readers(readers(store)?),
        Statement::Export { path } => {
            let resolved = files.resolve(path)?;
            let replace = !matches!(files, FileAccess::Within(_));
            let pairs = export::export(store, &resolved, replace)?;
            Output::Exported { path: resolved, pairs }
        }
        Statement::Import { path } => {
            let resolved = files.resolve(path)?;
            let (pairs, identifier) = export::import(store, &resolved)?;
            Output::Imported { path: resolved, pairs, identifier }
        }
        Statement::Salvage { path } => {
            let resolved = files.resolve(path)?;
            // What this handle acknowledged but only buffered goes to the log first, where salvage
            // reads it; a handle that cannot flush (poisoned) is salvaged as its files stand.
            if !store.is_read_only() {
                let _ = store.flush();
            }
            let report = crate::salvage(store.path(), &resolved, &SalvageOptions::new())?;
            Output::Salvaged { path: resolved, report }
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

fn scan(
    store: &KVStore,
    prefix: Option<&[u8]>,
    from: Option<&[u8]>,
    limit: u64,
) -> Result<ScanPage, CommandError> {
    Ok(scan_page(store, prefix, from, limit.clamp(1, MAX_SCAN_LIMIT), usize::MAX)?)
}

/// One page of `SCAN`: the pairs whose key starts with `prefix`, in key order from `from` (or
/// from the prefix), at most `limit` of them and at most `max_bytes` of keys and values (a first
/// pair larger than that ends the page before it: read it alone). `next` is the first key not
/// shown. The server pages its answers with it.
pub fn scan_page(
    store: &KVStore,
    prefix: Option<&[u8]>,
    from: Option<&[u8]>,
    limit: u64,
    max_bytes: usize,
) -> crate::Result<ScanPage> {
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
    let mut bytes = 0usize;
    for item in store.range_bounds(start_bound, end_bound) {
        let (key, value) = item?;
        if !key.starts_with(prefix_bytes) {
            break;
        }
        let size = key.len() + value.len();
        let full = u64::try_from(page.pairs.len()).unwrap_or(u64::MAX) >= limit
            || bytes.saturating_add(size) > max_bytes;
        if full {
            page.next = Some(key);
            break;
        }
        bytes = bytes.saturating_add(size);
        page.pairs.push((key, value));
    }
    Ok(page)
}

fn pages(store: &KVStore, from: u64, limit: u64) -> Result<PageList, CommandError> {
    let limit = limit.clamp(1, MAX_PAGES_LIMIT);
    let page_count = store.page_count();
    let end = from.saturating_add(limit).min(page_count);
    let mut rows = Vec::new();
    for number in from..end {
        rows.push(PageRow::from(&store.page_info(number)?));
    }
    let next = (end < page_count).then_some(end);
    Ok(PageList { rows, page_count, next, limit })
}

fn readers(store: &KVStore) -> Result<ReaderTable, CommandError> {
    let readers = store.readers()?;
    // Read after the table, so no age comes out negative for a reader that pinned meanwhile.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
    let stats = store.stats();
    // The free list says what every reader holds, as of the last checkpoint, also to a
    // read-only handle; the writer's own count covers only the part of the list it has read.
    let held = readers.iter().filter_map(|r| r.pages_held).max().unwrap_or(0);
    Ok(ReaderTable {
        now_ms,
        own_pid: std::process::id(),
        checkpoint_id: stats.checkpoint_id,
        pages_held_for_readers: held.max(stats.pages_held_for_readers),
        readers,
        read_only: store.is_read_only(),
        writer: store.writer()?,
    })
}

/// One user's conversation with at most one store: what the shell, the browser's command bar and
/// a server session hold.
#[derive(Default)]
pub struct Console {
    store: Option<KVStore>,
    files: FileAccess,
}

impl Console {
    /// A session with no store open and [`FileAccess::Anywhere`].
    pub fn new() -> Console {
        Console::default()
    }

    /// A session over a store already open.
    pub fn with_store(store: KVStore) -> Console {
        Console { store: Some(store), files: FileAccess::default() }
    }

    /// Sets where `EXPORT` and `IMPORT` may touch files from now on.
    pub fn set_file_access(&mut self, files: FileAccess) {
        self.files = files;
    }

    /// Where `EXPORT` and `IMPORT` may touch files.
    pub fn file_access(&self) -> &FileAccess {
        &self.files
    }

    /// The open store; `None` when none is open.
    pub fn store(&self) -> Option<&KVStore> {
        self.store.as_ref()
    }

    /// The open store, mutably (for [`KVStore::set_identifier`]); `None` when none is open.
    pub fn store_mut(&mut self) -> Option<&mut KVStore> {
        self.store.as_mut()
    }

    /// Whether a store is open.
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
    use crate::command::hex_literal;

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
        let mut session = Console::new();
        assert!(!session.is_open());
        assert!(matches!(session.execute(&Statement::Count), Err(CommandError::NoDatabase)));
        assert!(matches!(session.close(), Err(CommandError::NoDatabase)));
        assert_eq!(CommandError::NoDatabase.to_string(), "No database open. Use .open first");
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

    use crate::command::parse_statement;
    use proptest::prelude::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    fn session_in(dir: &Path) -> Console {
        let mut session = Console::new();
        let opened = session.open(&dir.join("t.db"), &OpenOptions::new()).unwrap();
        assert_eq!(opened.to_string(), "Database new opened successfully");
        session
    }

    /// Runs one statement and returns its text answer, or `Error: ...`.
    fn run(session: &mut Console, text: &str) -> String {
        match parse_statement(text) {
            Ok(statement) => match session.execute(&statement) {
                Ok(output) => output.to_string(),
                Err(e) => format!("Error: {e}"),
            },
            Err(e) => format!("Error: {e}"),
        }
    }

    #[test]
    fn the_original_statements() {
        let dir = temp();
        let mut s = session_in(dir.path());
        assert_eq!(run(&mut s, "GET WHERE KEY=*;"), "No data found");
        assert_eq!(run(&mut s, "PUT \"k\":\"v\", \"k2\":\"v2\";"), "Inserted 2 key-value pairs");
        assert_eq!(run(&mut s, "GET WHERE KEY=\"k\";"), "v");
        assert_eq!(run(&mut s, "get where key=\"nope\";"), "Key not found");
        assert_eq!(run(&mut s, "GET WHERE KEY=*;"), "Found 2 key-value pairs:\n\"k\": \"v\"\n\"k2\": \"v2\"");
        assert_eq!(run(&mut s, "DEL WHERE KEY=\"k\";"), "Key deleted");
        assert_eq!(run(&mut s, "DEL WHERE KEY=\"k\";"), "Key not found");
        assert_eq!(run(&mut s, "COMPACT;"), "Database compacted");
        assert_eq!(run(&mut s, "IDENTIFIER GET;"), "KVStore");
        assert_eq!(run(&mut s, "IDENTIFIER SET \"UserDatabase\";"), "Identifier set to 'UserDatabase'");
        assert_eq!(run(&mut s, "IDENTIFIER GET;"), "UserDatabase");
        assert_eq!(run(&mut s, "PUT x'00ff':x'ff00';"), "Inserted 1 key-value pairs");
        assert_eq!(run(&mut s, "GET WHERE KEY=x'00ff';"), "<BINARY DATA: FF 00>");
        assert_eq!(s.close().unwrap().to_string(), "Database closed");
        let reopened = s.open(&dir.path().join("t.db"), &OpenOptions::new()).unwrap();
        assert_eq!(reopened.to_string(), "Database existing opened successfully");
        assert_eq!(run(&mut s, "IDENTIFIER GET;"), "UserDatabase");
        assert_eq!(run(&mut s, "COUNT;"), "2");
    }

    #[test]
    fn salvage_copies_the_store_and_works_read_only() {
        let dir = temp();
        let mut s = session_in(dir.path());
        assert_eq!(run(&mut s, "PUT \"a\":\"1\", \"b\":\"2\";"), "Inserted 2 key-value pairs");
        let out = dir.path().join("out.db");
        let answer =
            run(&mut s, &format!("SALVAGE TO {};", crate::command::quote(out.to_str().unwrap().as_bytes())));
        assert!(answer.starts_with(&format!("Salvaged 2 keys into '{}'", out.display())), "{answer}");
        assert!(answer.contains("log records applied:  1"), "{answer}");
        // Again into the same file: refused, the first copy kept.
        let again =
            run(&mut s, &format!("SALVAGE TO {};", crate::command::quote(out.to_str().unwrap().as_bytes())));
        assert!(again.starts_with("Error:") && again.contains("already exists"), "{again}");
        let copy = KVStore::open(&out, None).unwrap();
        assert_eq!(copy.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
        copy.close().unwrap();

        s.close().unwrap();
        let mut read_only = OpenOptions::new();
        read_only.read_only(true);
        s.open(&dir.path().join("t.db"), &read_only).unwrap();
        let out2 = dir.path().join("out2.db");
        let statement = parse_statement(&format!(
            "SALVAGE TO {};",
            crate::command::quote(out2.to_str().unwrap().as_bytes())
        ))
        .unwrap();
        assert!(!statement.modifies_store() && statement.uses_files());
        let output = s.execute(&statement).unwrap();
        let json = output.to_json();
        assert_eq!(json["kind"], "salvaged");
        assert_eq!(json["keys_recovered"], 2);
        assert_eq!(json["tree_whole"], true);

        s.set_file_access(FileAccess::Denied);
        assert_eq!(
            run(&mut s, "SALVAGE TO \"x.db\";"),
            "Error: EXPORT, IMPORT and SALVAGE are not available here"
        );
    }

    #[test]
    fn errors_from_the_store_are_reported() {
        let dir = temp();
        let mut s = session_in(dir.path());
        let long = "x".repeat(100);
        assert_eq!(
            run(&mut s, &format!("IDENTIFIER SET \"{long}\";")),
            "Error: identifier is 100 bytes; the limit is 64 bytes"
        );
        let big_key = "k".repeat(s.store().unwrap().max_key_bytes() + 1);
        assert!(run(&mut s, &format!("PUT \"{big_key}\":\"v\";")).starts_with("Error: key is"));
        assert_eq!(run(&mut s, "COUNT;"), "0");
    }

    #[test]
    fn shared_execution_refuses_identifier_set_only() {
        let dir = temp();
        let store = KVStore::open(dir.path().join("s.db"), None).unwrap();
        let set = parse_statement("IDENTIFIER SET \"x\";").unwrap();
        assert!(set.needs_exclusive());
        assert!(matches!(
            execute_shared(&store, &set, &FileAccess::Anywhere),
            Err(CommandError::NeedsExclusive("IDENTIFIER SET"))
        ));
        let put = parse_statement("PUT \"a\":\"b\";").unwrap();
        assert!(put.modifies_store() && !put.needs_exclusive());
        assert_eq!(
            execute_shared(&store, &put, &FileAccess::Anywhere).unwrap(),
            Output::Inserted { count: 1 }
        );
    }

    fn scan_all(s: &mut Console, first: &str) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut statement = parse_statement(first).unwrap();
        for _ in 0..1000 {
            let Output::Scan(page) = s.execute(&statement).unwrap() else { panic!("not a scan") };
            keys.extend(page.pairs.iter().map(|(k, _)| k.clone()));
            match page.next_statement() {
                Some(next) => statement = next,
                None => return keys,
            }
        }
        panic!("scan did not end");
    }

    #[test]
    fn scan_pages_through_every_key_once() {
        let dir = temp();
        let mut s = session_in(dir.path());
        let store = s.store().unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..250u32 {
            batch.put(format!("user:{i:03}"), "u");
            batch.put(format!("item:{i:03}"), "i");
        }
        batch.put(b"user", "no colon").put(b"\xff\xff", "high");
        store.write(batch).unwrap();

        let users = scan_all(&mut s, "SCAN PREFIX \"user:\" LIMIT 7;");
        let expected: Vec<Vec<u8>> = (0..250u32).map(|i| format!("user:{i:03}").into_bytes()).collect();
        assert_eq!(users, expected);
        assert_eq!(scan_all(&mut s, "SCAN;").len(), 502);
        assert_eq!(scan_all(&mut s, "SCAN PREFIX x'ff';"), vec![b"\xff\xff".to_vec()]);
        assert_eq!(scan_all(&mut s, "SCAN PREFIX \"user:\" FROM \"user:248\";").len(), 2);
        // FROM before the prefix starts at the prefix; FROM after it lists nothing.
        assert_eq!(scan_all(&mut s, "SCAN PREFIX \"user:\" FROM \"a\" LIMIT 1000;").len(), 250);
        assert_eq!(run(&mut s, "SCAN PREFIX \"user:\" FROM \"zzz\";"), "No data found");
        assert_eq!(run(&mut s, "SCAN PREFIX \"nothing\";"), "No data found");
        let text = run(&mut s, "SCAN PREFIX \"item:\" LIMIT 2;");
        assert_eq!(
            text,
            "Found 2 key-value pairs:\n\"item:000\": \"i\"\n\"item:001\": \"i\"\n\
             Next page: SCAN PREFIX \"item:\" FROM \"item:002\" LIMIT 2;"
        );
        let Output::Scan(page) = s.execute(&parse_statement("SCAN;").unwrap()).unwrap() else { panic!() };
        assert_eq!((page.pairs.len() as u64, page.limit), (DEFAULT_SCAN_LIMIT, DEFAULT_SCAN_LIMIT));
    }

    #[test]
    fn inspection_statements() {
        let dir = temp();
        let mut s = session_in(dir.path());
        let store = s.store().unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..3000u32 {
            batch.put(format!("key{i:05}"), vec![b'v'; 40]);
        }
        batch.put(b"big", vec![7u8; 20_000]);
        store.write(batch).unwrap();
        for i in 0..1000u32 {
            store.delete(format!("key{i:05}")).unwrap();
        }
        store.checkpoint().unwrap();
        assert_eq!(run(&mut s, "COUNT;"), "2001");

        let Output::Stats(stats) = s.execute(&Statement::Stats).unwrap() else { panic!() };
        assert_eq!(stats.key_count, 2001);
        assert!(stats.overflow_pages > 0);

        let Output::Pages(list) = s.execute(&parse_statement("PAGES LIMIT 5;").unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(list.rows.len(), 5);
        assert_eq!(list.rows[0].page_type, crate::PageType::Meta);
        assert_eq!(list.next, Some(5));
        assert_eq!(list.page_count, stats.page_count);
        let last = parse_statement(&format!("PAGES FROM {};", stats.page_count - 1)).unwrap();
        let Output::Pages(tail) = s.execute(&last).unwrap() else { panic!() };
        assert_eq!((tail.rows.len(), tail.next), (1, None));
        let beyond = parse_statement(&format!("PAGES FROM {};", stats.page_count + 10)).unwrap();
        let Output::Pages(none) = s.execute(&beyond).unwrap() else { panic!() };
        assert!(none.rows.is_empty());

        let leaf = (0..stats.page_count)
            .find(|n| s.store().unwrap().page_info(*n).unwrap().page_type == crate::PageType::Leaf)
            .expect("a leaf page");
        let page = run(&mut s, &format!("PAGE {leaf};"));
        assert!(page.starts_with(&format!("Page {leaf}\n  type:        leaf")), "{page}");
        assert!(page.contains("Items:\n"), "{page}");
        assert!(run(&mut s, "PAGE 99999999;").starts_with("Error: "));

        let Output::FreeList { pages } = s.execute(&Statement::Freelist).unwrap() else { panic!() };
        assert_eq!(pages, s.store().unwrap().free_pages().unwrap());
        let check = s.execute(&Statement::Check).unwrap();
        assert!(!check.found_damage());
        assert!(check.to_string().starts_with("OK: "));
    }

    #[test]
    fn readers_lists_read_only_handles_on_writable_and_read_only_stores() {
        let dir = temp();
        let path = dir.path().join("t.db");
        let mut s = session_in(dir.path());
        assert_eq!(run(&mut s, "PUT \"a\":\"1\";"), "Inserted 1 key-value pairs");
        s.store().unwrap().checkpoint().unwrap();
        let checkpoint = s.store().unwrap().stats().checkpoint_id;
        assert_eq!(
            run(&mut s, "READERS;"),
            format!(
                "No readers\n0 readers; checkpoint in force: {checkpoint}; pages held for readers: 0; \
                 this handle: writable; writer: pid {} (this process)",
                std::process::id()
            )
        );

        let reader = OpenOptions::new().read_only(true).open(&path).unwrap();
        let Output::Readers(table) = s.execute(&Statement::Readers).unwrap() else { panic!("not readers") };
        assert_eq!(table.readers.len(), 1);
        let row = &table.readers[0];
        assert_eq!((row.pid, row.checkpoint_id), (Some(std::process::id()), Some(checkpoint)));
        assert!(table.age_ms(row).is_some_and(|age| age < 60_000), "{table:?}");
        assert!(!table.read_only);
        let text = run(&mut s, "READERS;");
        assert!(text.contains(&format!("{}  {checkpoint:>10}", std::process::id())), "{text}");
        assert!(text.contains("(this process)") && text.contains("\n1 reader; "), "{text}");

        // Run on the read-only handle: it lists itself, and says what it is.
        let mut other = Console::with_store(reader);
        let Output::Readers(own) = other.execute(&Statement::Readers).unwrap() else { panic!("not readers") };
        assert!(own.read_only);
        assert_eq!(
            own.writer,
            Some(Some(std::process::id())),
            "the console's writable handle holds the lock"
        );
        assert_eq!(own.checkpoint_id, checkpoint);
        assert_eq!(own.readers.len(), 1);
        assert!(Statement::Readers.needs_store() && !Statement::Readers.modifies_store());

        drop(other);
        assert!(run(&mut s, "READERS;").starts_with("No readers\n"));
    }

    #[test]
    fn export_and_import_round_trip() {
        let dir = temp();
        let mut s = session_in(dir.path());
        let store = s.store().unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..300u32 {
            batch.put(i.to_be_bytes(), format!("value {i}"));
        }
        batch
            .put("text", "héllo \"quoted\"\n")
            .put(b"", b"\x00empty key\xff")
            .put(b"large", vec![0xab; 100_000]);
        store.write(batch).unwrap();
        let file = dir.path().join("out.jsonl");
        let export = format!("EXPORT {};", crate::command::quote(file.to_str().unwrap().as_bytes()));
        assert_eq!(run(&mut s, &export), format!("Exported 303 key-value pairs to '{}'", file.display()));
        assert!(!dir.path().join("out.jsonl.partial").exists());

        let mut other = Console::new();
        other.open(&dir.path().join("copy.db"), &OpenOptions::new()).unwrap();
        let import = format!("IMPORT {};", crate::command::quote(file.to_str().unwrap().as_bytes()));
        let Output::Imported { pairs, identifier, .. } =
            other.execute(&parse_statement(&import).unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!((pairs, identifier.as_str()), (303, "KVStore"));
        let a: Vec<_> = s.store().unwrap().iter().map(Result::unwrap).collect();
        let b: Vec<_> = other.store().unwrap().iter().map(Result::unwrap).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn a_bad_import_writes_nothing() {
        let dir = temp();
        let mut s = session_in(dir.path());
        let file = dir.path().join("bad.jsonl");
        std::fs::write(
            &file,
            "{\"format\":\"wind-kvstore-export\",\"version\":1,\"identifier\":\"x\"}\n\
             {\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"b\"}\n",
        )
        .unwrap();
        let answer =
            run(&mut s, &format!("IMPORT {};", crate::command::quote(file.to_str().unwrap().as_bytes())));
        assert_eq!(answer, format!("Error: {}, line 3: the record has no \"value\"", file.display()));
        assert_eq!(run(&mut s, "COUNT;"), "0");
        let missing = run(&mut s, "IMPORT \"/nonexistent/dir/x.jsonl\";");
        assert!(missing.starts_with("Error: /nonexistent/dir/x.jsonl: "), "{missing}");
    }

    #[test]
    fn file_access_is_enforced() {
        let dir = temp();
        let mut s = session_in(dir.path());
        run(&mut s, "PUT \"a\":\"b\";");
        s.set_file_access(FileAccess::Denied);
        assert_eq!(
            run(&mut s, "EXPORT \"x.jsonl\";"),
            "Error: EXPORT, IMPORT and SALVAGE are not available here"
        );
        s.set_file_access(FileAccess::Within(dir.path().to_path_buf()));
        assert_eq!(
            run(&mut s, "EXPORT \"../x.jsonl\";"),
            "Error: '../x.jsonl': only relative file names without '..' are allowed here"
        );
        assert!(run(&mut s, "EXPORT \"inside.jsonl\";").starts_with("Exported 1 key-value pairs"));
        assert!(dir.path().join("inside.jsonl").exists());
        // Inside a directory, an export never replaces a file, nor a `.partial` file beside it.
        std::fs::write(dir.path().join("kept.jsonl"), "mine").unwrap();
        assert!(run(&mut s, "EXPORT \"kept.jsonl\";").ends_with("the file exists"));
        assert_eq!(std::fs::read_to_string(dir.path().join("kept.jsonl")).unwrap(), "mine");
        std::fs::write(dir.path().join("new.jsonl.partial"), "also mine").unwrap();
        assert!(run(&mut s, "EXPORT \"new.jsonl\";").starts_with("Error: "));
        assert_eq!(std::fs::read_to_string(dir.path().join("new.jsonl.partial")).unwrap(), "also mine");
        assert!(!dir.path().join("new.jsonl").exists());
    }

    #[test]
    fn opening_a_locked_store_says_so() {
        let dir = temp();
        let path = dir.path().join("l.db");
        let _holder = KVStore::open(&path, None).unwrap();
        let mut s = Console::new();
        let error = s.open(&path, &OpenOptions::new()).unwrap_err();
        assert!(error.is_locked(), "{error}");
        assert!(!s.is_open());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_round_trip_through_hex_literals_and_export(
            pairs in proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..48),
                proptest::collection::vec(any::<u8>(), 0..300),
                1..12,
            )
        ) {
            let dir = temp();
            let mut s = session_in(dir.path());
            for (key, value) in &pairs {
                let put = format!("PUT {}:{};", hex_literal(key), hex_literal(value));
                prop_assert_eq!(run(&mut s, &put), "Inserted 1 key-value pairs");
                let get = parse_statement(&format!("GET WHERE KEY={};", hex_literal(key))).unwrap();
                prop_assert_eq!(s.execute(&get).unwrap(), Output::Value { key: key.clone(), value: value.clone() });
            }
            s.set_file_access(FileAccess::Within(dir.path().to_path_buf()));
            prop_assert!(run(&mut s, "EXPORT \"e.jsonl\";").starts_with("Exported"));
            let mut copy = Console::new();
            copy.open(&dir.path().join("copy.db"), &OpenOptions::new()).unwrap();
            copy.set_file_access(FileAccess::Within(dir.path().to_path_buf()));
            prop_assert!(run(&mut copy, "IMPORT \"e.jsonl\";").starts_with("Imported"));
            let Output::Pairs { pairs: read } = copy.execute(&Statement::GetAll).unwrap() else { panic!() };
            prop_assert_eq!(read, pairs.into_iter().collect::<Vec<_>>());
        }
    }
}
