//! `wkstore-tui DB --exec` through the real binary: answers on stdout, diagnostics on stderr,
//! exit codes.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use wind_kvstore::command::{hex_literal, quote};
use wind_kvstore::{KVStore, PageType, WriteBatch};

const BIN: &str = env!("CARGO_BIN_EXE_wkstore-tui");

fn tui(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wkstore-tui starts");
    // A run that stops early (a locked store) may close its input first: not a failure.
    match child.stdin.take().expect("stdin").write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.expect("stdin written"),
    }
    child.wait_with_output().expect("wkstore-tui ends")
}

fn exec(db: &Path, script: &str, extra: &[&str]) -> Output {
    let mut args = vec![db.to_str().expect("utf-8 path"), "--exec", script];
    args.extend_from_slice(extra);
    tui(&args, "")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

const ORIGINAL_SCRIPT: &str = r#"PUT "k":"v", "k2":"v2";
GET WHERE KEY="k";
get where key="missing";
GET WHERE KEY=*;
DEL WHERE KEY="k";
DEL WHERE KEY="k";
COMPACT;
IDENTIFIER GET;
IDENTIFIER SET "UserDatabase";
IDENTIFIER GET;
PUT "bin":x'00ff10';
GET WHERE KEY="bin";
DEL WHERE KEY="bin";
GET WHERE KEY=*;
"#;

const ORIGINAL_ANSWERS: &str = "Inserted 2 key-value pairs
v
Key not found
Found 2 key-value pairs:
\"k\": \"v\"
\"k2\": \"v2\"
Key deleted
Key not found
Database compacted
KVStore
Identifier set to 'UserDatabase'
UserDatabase
Inserted 1 key-value pairs
<BINARY DATA: 00 FF 10>
Key deleted
Found 1 key-value pairs:
\"k2\": \"v2\"
";

#[test]
fn the_original_statements_give_the_original_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let out = exec(&db, ORIGINAL_SCRIPT, &[]);
    assert_eq!(stderr(&out), "");
    assert_eq!(stdout(&out), ORIGINAL_ANSWERS);
    assert_eq!(status(&out), 0);
    // An empty store answers the listing as the original did.
    let out = exec(&dir.path().join("empty.db"), "GET WHERE KEY=*;", &[]);
    assert_eq!((stdout(&out).as_str(), status(&out)), ("No data found\n", 0));
}

#[test]
fn exec_file_and_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let script = dir.path().join("script.kvs");
    std::fs::write(&script, ORIGINAL_SCRIPT).unwrap();
    let out = tui(&[db.to_str().unwrap(), "--exec-file", script.to_str().unwrap()], "");
    assert_eq!((stdout(&out).as_str(), status(&out)), (ORIGINAL_ANSWERS, 0));
    let out = tui(&[dir.path().join("g.db").to_str().unwrap(), "--exec-file", "-"], ORIGINAL_SCRIPT);
    assert_eq!((stdout(&out).as_str(), status(&out)), (ORIGINAL_ANSWERS, 0));
}

#[test]
fn json_output_parses_for_every_statement() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let export = dir.path().join("e.jsonl");
    let script = format!(
        "PUT \"a\":\"1\", \"b\":\"2\", x'ff':x'00'; GET WHERE KEY=\"a\"; GET WHERE KEY=\"zz\"; GET WHERE KEY=*; \
         DEL WHERE KEY=\"a\"; DEL WHERE KEY=\"a\"; COMPACT; IDENTIFIER GET; IDENTIFIER SET \"J\"; \
         SCAN LIMIT 1; COUNT; STATS; PAGES; PAGE 0; FREELIST; CHECK; READERS; EXPORT {path}; IMPORT {path}; HELP; HELP SCAN;",
        path = quote(export.to_str().unwrap().as_bytes())
    );
    let out = exec(&db, &script, &["--format", "json"]);
    assert_eq!(stderr(&out), "");
    assert_eq!(status(&out), 0);
    let kinds: Vec<String> = stdout(&out)
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            value["kind"].as_str().expect("kind").to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "inserted",
            "value",
            "not_found",
            "pairs",
            "deleted",
            "not_found",
            "compacted",
            "identifier",
            "identifier_set",
            "scan",
            "count",
            "stats",
            "pages",
            "page",
            "freelist",
            "check",
            "readers",
            "exported",
            "imported",
            "help",
            "help",
        ]
    );
    let lines: Vec<serde_json::Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[3]["pairs"][2], serde_json::json!({"key": {"base64": "/w=="}, "value": "\u{0}"}));
    assert_eq!(lines[9]["next"], serde_json::json!({"base64": "/w=="}));
    assert_eq!(lines[15]["ok"], true);

    // Errors are JSON on stderr in this format.
    let out = exec(&db, "COUNT; GET WHERE KEY \"a\";", &["--format", "json"]);
    assert_eq!(status(&out), 1);
    let error: serde_json::Value = serde_json::from_str(stderr(&out).trim()).expect("error is JSON");
    assert_eq!(error["kind"], "error");
    assert_eq!((error["line"].as_u64(), error["column"].as_u64()), (Some(1), Some(22)));
    assert_eq!(error["message"], "expected '=' after KEY");
}

#[test]
fn readers_lists_a_read_only_handle_of_another_process_until_it_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let store = KVStore::open(&db, None).unwrap();
    store.put("k", "v").unwrap();
    store.close().unwrap();

    let reader = wind_kvstore::OpenOptions::new().read_only(true).open(&db).unwrap();
    let pinned = reader.stats().checkpoint_id;
    let pid = std::process::id();

    // A writable run: the test's handle is the one reader, with its pid and checkpoint.
    let out = exec(&db, "READERS;", &[]);
    assert_eq!((status(&out), stderr(&out)), (0, String::new()));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "{text}");
    let fields: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(&fields[1..3], [pid.to_string(), pinned.to_string()], "{text}");
    assert!(!rows[1].contains("(this process)"), "{text}");
    assert!(rows[2].starts_with(&format!("1 reader; checkpoint in force: {pinned}; ")), "{text}");
    // The --exec process is the writer.
    assert!(rows[2].contains("this handle: writable; writer: pid "), "{text}");
    assert!(rows[2].ends_with("(this process)"), "{text}");

    // A read-only run holds a slot of its own beside the test's.
    let out = exec(&db, "READERS;", &["--read-only", "--format", "json"]);
    assert_eq!((status(&out), stderr(&out)), (0, String::new()));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(json["kind"], "readers");
    assert_eq!(json["read_only"], true);
    let readers = json["readers"].as_array().expect("readers");
    assert_eq!(readers.len(), 2, "{json}");
    let ours = readers.iter().find(|r| r["pid"] == pid).expect("the test's reader");
    assert_eq!((ours["checkpoint_id"].as_u64(), ours["this_process"].as_bool()), (Some(pinned), Some(false)));
    assert!(readers.iter().any(|r| r["pid"] != pid && r["this_process"] == true), "{json}");
    assert_eq!(json["writer"], serde_json::Value::Null, "no writer has the store open");
    // With a writer open in this process, a read-only run names it.
    let writer = wind_kvstore::KVStore::open(&db, None).unwrap();
    let out = exec(&db, "READERS;", &["--read-only", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(json["writer"]["pid"], pid, "{json}");
    drop(writer);

    drop(reader);
    let out = exec(&db, "READERS;", &[]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.starts_with("No readers\n0 readers; "), "{text}");
    assert!(!text.contains(&pid.to_string()), "{text}");
}

#[test]
fn a_bad_statement_names_its_position_and_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let out = exec(&db, "PUT \"a\":\"1\";\nGET WHERE KEY\"a\";\nPUT \"b\":\"2\";", &[]);
    assert_eq!(status(&out), 1);
    assert_eq!(stdout(&out), "Inserted 1 key-value pairs\n");
    assert_eq!(stderr(&out), "Error: line 2, column 14: expected '=' after KEY\n");
    // The statement before the bad one is durable; the one after never ran.
    let out = exec(&db, "GET WHERE KEY=*;", &[]);
    assert_eq!(stdout(&out), "Found 1 key-value pairs:\n\"a\": \"1\"\n");

    let out = exec(&db, "GET WHERE KEY\"a\"; PUT \"c\":\"3\"; COUNT;", &["--keep-going"]);
    assert_eq!(status(&out), 1);
    assert_eq!(stdout(&out), "Inserted 1 key-value pairs\n2\n");
    assert_eq!(stderr(&out), "Error: line 1, column 14: expected '=' after KEY\n");
}

#[test]
fn a_failing_statement_is_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    exec(&db, "PUT \"a\":\"1\";", &[]);
    let out = exec(&db, "GET WHERE KEY=\"a\";\nPUT \"b\":\"2\";\nCOUNT;", &["--read-only"]);
    assert_eq!(status(&out), 1);
    assert_eq!(stdout(&out), "1\n");
    assert_eq!(stderr(&out), "Error: line 2: the store is open read-only\n");
    let out = exec(&dir.path().join("missing.db"), "COUNT;", &["--read-only"]);
    assert_eq!(status(&out), 1);
    assert!(
        stderr(&out).starts_with("Error: ") && stderr(&out).contains("no such store"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("missing.db").exists());
}

#[test]
fn a_locked_store_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let holder = KVStore::open(&db, None).unwrap();
    let out = exec(&db, "COUNT;", &[]);
    assert_eq!(status(&out), 4);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("locked by another process"), "{}", stderr(&out));
    let out = exec(&db, "COUNT;", &["--format", "json"]);
    assert_eq!(status(&out), 4);
    let error: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(error["locked"], true);
    holder.close().unwrap();
    assert_eq!(status(&exec(&db, "COUNT;", &[])), 0);
}

#[test]
fn check_finding_damage_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let (victim, page_size) = {
        let store = KVStore::open(&db, None).unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..3000u32 {
            batch.put(format!("key{i:05}"), format!("value {i}"));
        }
        store.write(batch).unwrap();
        store.checkpoint().unwrap();
        let leaves: Vec<u64> = (0..store.page_count())
            .filter(|n| store.page_info(*n).map(|p| p.page_type == PageType::Leaf).unwrap_or(false))
            .collect();
        assert!(leaves.len() > 2);
        let page_size = store.page_size();
        store.close().unwrap();
        (leaves[leaves.len() / 2], page_size)
    };
    let mut bytes = std::fs::read(&db).unwrap();
    let at = (victim * u64::from(page_size)) as usize + 200;
    bytes[at] ^= 0x5a;
    std::fs::write(&db, bytes).unwrap();

    let out = exec(&db, "CHECK;", &[]);
    assert_eq!(status(&out), 3, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("DAMAGED: "), "{text}");
    assert!(text.contains(&format!("page {victim}")), "{text}");
    let out = exec(&db, "CHECK;", &["--format", "json", "--read-only"]);
    assert_eq!(status(&out), 3);
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["ok"], false);
    assert!(report["damaged_pages"].as_array().unwrap().contains(&serde_json::json!(victim)));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.db");
    let db = db.to_str().unwrap();
    let out = tui(&[db, "--exec", "COUNT;", "--exec-file", "x"], "");
    assert_eq!(status(&out), 2);
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
    assert_eq!(status(&tui(&["--exec", "COUNT;"], "")), 2);
    assert_eq!(status(&tui(&[db, "--format", "xml", "--exec", "COUNT;"], "")), 2);
    let out = tui(&[db, "--exec-file", dir.path().join("none.kvs").to_str().unwrap()], "");
    assert_eq!(status(&out), 2);
    assert!(stderr(&out).starts_with("Error: cannot read "), "{}", stderr(&out));
    // The browser needs a terminal: without one (here stdout is a pipe), a clear message, status 2.
    let out = tui(&[db], "");
    assert_eq!(status(&out), 2);
    assert!(stderr(&out).contains("--exec"), "{}", stderr(&out));
    assert_eq!(status(&tui(&["--demo"], "")), 2);
}

#[test]
fn any_byte_string_round_trips_through_hex_literals_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut samples: Vec<Vec<u8>> = vec![vec![], (0..=255).collect(), b"plain".to_vec(), "é\"\\\n".into()];
    // A fixed pseudo-random spread of lengths and bytes (the proptest beside the executor covers
    // more cases in process).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [1usize, 7, 64, 1000, 5000] {
        let bytes = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        samples.push(bytes);
    }
    // Keys have a size limit (a third of a page); values do not.
    let key =
        |i: usize, bytes: &[u8]| [b"key".as_slice(), &[i as u8], &bytes[..bytes.len().min(1000)]].concat();
    let puts = samples
        .iter()
        .enumerate()
        .map(|(i, b)| format!("PUT {}:{};\n", hex_literal(&key(i, b)), hex_literal(b)));
    let gets =
        samples.iter().enumerate().map(|(i, b)| format!("GET WHERE KEY={};\n", hex_literal(&key(i, b))));
    let script: String = puts.chain(gets).collect();
    let out = exec(&db, &script, &["--format", "json"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let values: Vec<Vec<u8>> = stdout(&out)
        .lines()
        .skip(samples.len())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            wind_kvstore::command::bytes_from_json(&value["value"]).unwrap()
        })
        .collect();
    assert_eq!(values, samples);

    let export = dir.path().join("all.jsonl");
    let export_lit = quote(export.to_str().unwrap().as_bytes());
    let out = exec(&db, &format!("EXPORT {export_lit};"), &[]);
    assert_eq!(
        stdout(&out),
        format!("Exported {} key-value pairs to '{}'\n", samples.len(), export.display())
    );
    let copy = dir.path().join("copy.db");
    let out = exec(&copy, &format!("IMPORT {export_lit};"), &[]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let a: Vec<_> = KVStore::open(&db, None).unwrap().iter().map(Result::unwrap).collect();
    let b: Vec<_> = KVStore::open(&copy, None).unwrap().iter().map(Result::unwrap).collect();
    assert_eq!(a.len(), samples.len());
    assert_eq!(a, b);
}

#[test]
fn thousands_of_statements_load_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("many.db");
    let script: String =
        (0..5000).map(|i| format!("PUT \"key:{i:06}\":\"value {i}\";\n")).collect::<String>()
            + "DEL WHERE KEY=\"key:000000\";\nDEL WHERE KEY=\"key:000000\";\nCOUNT;\n";
    let out = tui(&[db.to_str().unwrap(), "--exec-file", "-"], &script);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5003);
    assert!(lines[..5000].iter().all(|l| *l == "Inserted 1 key-value pairs"));
    assert_eq!(&lines[5000..], ["Key deleted", "Key not found", "4999"]);
    let store = KVStore::open(&db, None).unwrap();
    assert_eq!(store.len().unwrap(), 4999);
    assert!(store.check().unwrap().is_ok());
}

// ------------------------------------------------------------------ the recovery report

/// Writes a store at `path` with three commits left in its log (as a crash leaves them: copied
/// while the store was open), then `damage`s that log, whose three records are each
/// `record_bytes` long and end it.
fn store_with_damaged_log(path: &Path, damage: fn(&mut Vec<u8>, usize)) {
    let live = path.with_extension("live");
    let store = KVStore::open(&live, None).unwrap();
    for key in ["k1", "k2", "k3"] {
        store.put(key.as_bytes(), b"v").unwrap();
    }
    std::fs::copy(&live, path).unwrap();
    let mut log = std::fs::read(wind_kvstore::log_path(&live)).unwrap();
    drop(store);
    // The records' ends (docs/FORMAT.md: a 512-byte header, then records of a 16-byte header
    // and a body whose length leads it), up to the zeros the writer wrote ahead: cut there.
    let mut ends = Vec::new();
    let mut at = 512;
    while log.get(at..at + 16).is_some_and(|h| h != [0; 16]) {
        at += 16 + u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at);
    }
    log.truncate(at);
    assert_eq!(ends.len(), 3, "three records");
    let record_bytes = ends[2] - ends[1];
    assert_eq!(ends[1] - ends[0], record_bytes, "records of one size");
    damage(&mut log, record_bytes);
    std::fs::write(wind_kvstore::log_path(path), log).unwrap();
}

/// The last byte of the last record flipped: replay stops there, after the first two commits.
#[allow(clippy::ptr_arg, reason = "every damage in DAMAGE_CASES has one type; others cut or splice the log")]
fn flip_last_byte(log: &mut Vec<u8>, _record_bytes: usize) {
    let last = log.len() - 1;
    log[last] ^= 0xff;
}

/// The last byte of the second record flipped: replay stops there, with a whole record after.
#[allow(clippy::ptr_arg, reason = "every damage in DAMAGE_CASES has one type; others cut or splice the log")]
fn flip_a_byte_of_the_second_record(log: &mut Vec<u8>, record_bytes: usize) {
    let at = log.len() - record_bytes - 1;
    log[at] ^= 0xff;
}

/// One kind of damage and what `--exec` must say about it: a stop a crash could leave (status as
/// the statements earn it), and a stop with a whole commit after it (acknowledged commits may be
/// missing: `EXIT_DATA_MAY_BE_MISSING`, whatever the statements did). The status mapping itself
/// is unit-tested in `src/cli/mod.rs`.
struct DamageCase {
    what: &'static str,
    damage: fn(&mut Vec<u8>, usize),
    status: i32,
    /// The first line on stderr starts with the first and ends with the second (the byte offset
    /// between them depends on the log header's size).
    first_stderr_line: (&'static str, &'static str),
    answers: &'static str,
}

const DAMAGE_CASES: [DamageCase; 2] = [
    DamageCase {
        what: "the last record damaged",
        damage: flip_last_byte,
        status: 0,
        first_stderr_line: (
            "Recovery: log replay stopped at byte ",
            ": record checksum mismatch (2 commit(s) replayed before it)",
        ),
        answers: "2\nv\nKey not found\n",
    },
    DamageCase {
        what: "a middle record damaged",
        damage: flip_a_byte_of_the_second_record,
        status: 5,
        first_stderr_line: (
            "Warning: acknowledged commits may be missing: the log holds commit 3 after",
            ".damaged",
        ),
        answers: "1\nKey not found\nKey not found\n",
    },
];

#[test]
fn the_recovery_report_comes_first_on_stderr_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in DAMAGE_CASES.iter().enumerate() {
        let db = dir.path().join(format!("damaged{i}.db"));
        store_with_damaged_log(&db, case.damage);
        let out = exec(&db, "COUNT; GET WHERE KEY=\"k2\"; GET WHERE KEY=\"k3\";", &[]);
        assert_eq!(status(&out), case.status, "{}: {}", case.what, stderr(&out));
        assert_eq!(stdout(&out), case.answers, "{}", case.what);
        let err = stderr(&out);
        let (starts, ends) = case.first_stderr_line;
        let first = err.lines().next().unwrap_or_default();
        assert!(first.starts_with(starts) && first.ends_with(ends), "{}: {err}", case.what);

        // The same report as one JSON object, with the same status.
        let db = dir.path().join(format!("damaged{i}.json.db"));
        store_with_damaged_log(&db, case.damage);
        let out = exec(&db, "COUNT;", &["--format", "json"]);
        assert_eq!(status(&out), case.status, "{}", case.what);
        let err = stderr(&out);
        let report: serde_json::Value = serde_json::from_str(err.lines().next().unwrap()).unwrap();
        assert_eq!(report["kind"], "recovery");
        assert_eq!(report["data_may_be_missing"], case.status == 5);
        let label = starts.split(": ").next().unwrap();
        let labelled = format!("{label}: {}", report["lines"][0].as_str().unwrap());
        assert!(labelled.starts_with(starts) && labelled.ends_with(ends), "{err}");
    }
    // Reopened, the store is whole again: nothing more to report.
    let out = exec(&dir.path().join("damaged0.db"), "COUNT;", &[]);
    assert_eq!((status(&out), stderr(&out).as_str()), (0, ""));
}

#[test]
fn help_lists_every_exit_status() {
    let out = tui(&["--help"], "");
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    for line in [
        "0  every statement succeeded",
        "4  another process holds",
        "5  the open found that acknowledged commits",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
}

#[test]
fn salvage_to_an_empty_path_is_refused_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("s.db");
    assert_eq!(status(&exec(&db, "PUT \"a\":\"1\";", &[])), 0);
    let before: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["s.db", "--exec", "SALVAGE TO \"\";"])
        .output()
        .expect("wkstore-tui runs");
    assert_ne!(out.status.code(), Some(0), "an empty destination is refused");
    assert!(stderr(&out).contains("path is empty"), "{}", stderr(&out));
    let after: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(before, after, "nothing was made beside the store (before: a file named .wal)");
}
