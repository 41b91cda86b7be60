//! `wkshell` fed through a pipe: no prompts, no banner, just the answers.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use wind_kvstore::KVStore;

const BIN: &str = env!("CARGO_BIN_EXE_wkshell");

fn shell(args: &[&str], cwd: &Path, input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wkshell starts");
    // A shell that stops early (a locked store) closes its input: a broken pipe is not a failure.
    match child.stdin.take().expect("stdin").write_all(input.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.expect("input written"),
    }
    child.wait_with_output().expect("wkshell ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

#[test]
fn the_original_session_gives_the_original_answers() {
    let dir = tempfile::tempdir().unwrap();
    let input = r#"GET WHERE KEY="k";
.open app.db
y
PUT "k":"v", "k2":"v2";
GET WHERE KEY="k";
GET WHERE KEY="nope";
GET WHERE KEY=*;
DEL WHERE KEY="k";
DEL WHERE KEY="k";
COMPACT;
IDENTIFIER GET;
IDENTIFIER SET "id";
IDENTIFIER GET;
.close
.open app.db
get where
  key = "k2";
.quit
COUNT;
"#;
    let out = shell(&[], dir.path(), input);
    assert_eq!(
        text(&out.stdout),
        "Database does not exist. Create new database? (y/n)
Database new opened successfully
Inserted 2 key-value pairs
v
Key not found
Found 2 key-value pairs:
\"k\": \"v\"
\"k2\": \"v2\"
Key deleted
Key not found
Database compacted
KVStore
Identifier set to 'id'
id
Database closed
Database existing opened successfully
v2
"
    );
    assert_eq!(text(&out.stderr), "Error: No database open. Use .open first\n");
    assert_eq!(out.status.code(), Some(1), "a failed statement makes a piped run exit 1");
    // .quit closed the store cleanly: it reopens at once, with everything in it.
    let store = KVStore::open(dir.path().join("app.db"), None).unwrap();
    assert_eq!(store.get_identifier(), "id");
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn no_prompts_or_escape_codes_through_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(&["p.db"], dir.path(), "PUT \"a\":\"1\";\nCOUNT;\n.title\n");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !stdout.contains("KVStore >") && !stdout.contains("p.db >") && !stdout.contains(". . . >"),
        "{stdout}"
    );
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(stdout.starts_with("Inserted 1 key-value pairs\n1\nWind-KVStore v"), "{stdout}");
}

#[test]
fn declining_to_create_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(&[], dir.path(), ".open new.db\nn\nCOUNT;\n");
    assert_eq!(
        text(&out.stdout),
        "Database does not exist. Create new database? (y/n)\nDatabase not opened\n"
    );
    assert_eq!(text(&out.stderr), "Error: No database open. Use .open first\n");
    assert!(!dir.path().join("new.db").exists());
}

#[test]
fn errors_name_the_input_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(&["e.db"], dir.path(), "COUNT;\n\nGET WHERE\n  KEY \"a\";\n.bogus\nCOUNT\n");
    assert_eq!(text(&out.stdout), "0\n0\n", "the last statement may end without ';' at the end of input");
    assert_eq!(
        text(&out.stderr),
        "Error: line 4, column 7: expected '=' after KEY\nError: Unknown command '.bogus'. Use .help for help\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn help_lists_dot_commands_and_statements() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(&[], dir.path(), ".help\nHELP DEL;\n");
    let stdout = text(&out.stdout);
    for needle in [
        ".open PATH",
        ".close",
        ".quit",
        ".clear",
        ".title",
        "PUT key:value",
        "SCAN [PREFIX p]",
        "DEL WHERE KEY=key;",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from {stdout}");
    }
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_locked_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _holder = KVStore::open(dir.path().join("l.db"), None).unwrap();
    let out = shell(&["l.db"], dir.path(), "COUNT;\n");
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("locked by another process"), "{}", text(&out.stderr));
    let out = shell(&[], dir.path(), ".open l.db\nCOUNT;\n");
    assert!(
        text(&out.stderr).starts_with("Error: l.db is locked by another process"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn binary_values_and_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let input = "PUT x'00ff':x'ff00', \"tab\\there\":\"line1\\nline2\";\nGET WHERE KEY=x'00ff';\nGET WHERE KEY=\"tab\\there\";\nGET WHERE KEY=*;\n";
    let out = shell(&["b.db"], dir.path(), input);
    assert_eq!(
        text(&out.stdout),
        "Inserted 2 key-value pairs\n<BINARY DATA: FF 00>\nline1\nline2\nFound 2 key-value pairs:\n\"\\x00\\xff\": \"\\xff\\x00\"\n\"tab\\there\": \"line1\\nline2\"\n"
    );
}

/// Writes a store at `path` whose log holds three commits, the last one damaged (its last byte
/// flipped), as a crash and a bad sector would leave it.
fn store_with_replay_stop(path: &Path) {
    let live = path.with_extension("live");
    let store = KVStore::open(&live, None).unwrap();
    for key in ["k1", "k2", "k3"] {
        store.put(key.as_bytes(), b"v").unwrap();
    }
    std::fs::copy(&live, path).unwrap();
    let mut log = std::fs::read(wind_kvstore::log_path(&live)).unwrap();
    drop(store);
    // The last record's last byte: records (docs/FORMAT.md) up to the zeros the writer wrote
    // ahead of them.
    let mut at = 512;
    while log.get(at..at + 16).is_some_and(|h| h != [0; 16]) {
        at += 16 + u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
    }
    log[at - 1] ^= 0xff;
    std::fs::write(wind_kvstore::log_path(path), log).unwrap();
}

/// Whether `stderr` is the one line of the report of a store made by `store_with_replay_stop`
/// (the byte offset depends on the log header's size).
fn is_replay_stop(stderr: &str) -> bool {
    stderr.lines().count() == 1
        && stderr.starts_with("Recovery: log replay stopped at byte ")
        && stderr.ends_with(": record checksum mismatch (2 commit(s) replayed before it)\n")
}

#[test]
fn the_recovery_report_is_printed_on_open_and_on_dot_open() {
    let dir = tempfile::tempdir().unwrap();
    // The DB argument.
    store_with_replay_stop(&dir.path().join("a.db"));
    let out = shell(&["a.db"], dir.path(), "COUNT;\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "2\n");
    assert!(is_replay_stop(&text(&out.stderr)), "{}", text(&out.stderr));
    // `.open`, after a store whose open was quiet.
    store_with_replay_stop(&dir.path().join("b.db"));
    let out = shell(&[], dir.path(), ".open a.db\n.open b.db\nCOUNT;\n");
    assert_eq!(
        text(&out.stdout),
        "Database existing opened successfully\nDatabase existing opened successfully\n2\n"
    );
    assert!(is_replay_stop(&text(&out.stderr)), "once, for b.db only: {}", text(&out.stderr));
}
