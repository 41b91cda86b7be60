//! `wkstore-tui` as a user starts it, without a terminal: config mistakes are refused with the
//! line named, a missing terminal is a usage error, and the hidden measurement mode runs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wkstore-tui");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("wkstore-tui runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).to_string_lossy().into_owned()
}

#[test]
fn a_bad_config_file_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("c.db");
    let db = db.to_str().expect("utf-8");

    let out = run(&[db, "--config", &fixture("tui-bad-key.toml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("tui-bad-key.toml: line 5: 'ctrl-' is not a key"), "{err}");

    let out = run(&[db, "--config", &fixture("tui-unknown-setting.toml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("line 2") && err.contains("colour"), "{err}");

    let out = run(&[db, "--config", "/nonexistent/tui.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read it"), "{}", stderr(&out));
    // Nothing was created on the way.
    assert!(!Path::new(db).exists());
}

#[test]
fn the_browser_needs_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("t.db");
    let out = run(&[db.to_str().expect("utf-8"), "--config", &fixture("tui-good.toml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs a terminal"), "{}", stderr(&out));
    assert!(!db.exists(), "no store is created when the browser cannot start");
}

#[test]
fn the_measurement_mode_draws_a_first_frame_off_screen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("m.db");
    {
        let store = wind_kvstore::KVStore::open(&db, None).expect("open");
        let mut batch = wind_kvstore::WriteBatch::new();
        for i in 0..2_000u32 {
            batch.put(format!("k{i:05}"), format!("v{i}"));
        }
        store.write(batch).expect("write");
        store.close().expect("close");
    }
    let out = run(&[db.to_str().expect("utf-8"), "--bench-first-frame"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("keys in store:                  2000"), "{text}");
    assert!(text.contains("first frame"), "{text}");
}
