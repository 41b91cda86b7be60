//! The write lock across processes: this test binary re-runs itself as the second process.

use std::process::Command;

use wind_kvstore::{Error, KVStore, OpenOptions};

const CHILD_ENV: &str = "WK_LOCK_TEST_CHILD";

/// Entry point of the child process: open the store named by the environment and print what
/// happened. Ignored in normal runs; the parent runs it with `--ignored`.
#[test]
#[ignore = "run by second_process_is_locked_out as its child"]
fn child_opens_store() {
    let path = std::env::var(CHILD_ENV).expect("run by the parent test");
    let read_only = std::env::var("WK_LOCK_TEST_READ_ONLY").is_ok();
    let result = OpenOptions::new().read_only(read_only).open(&path);
    match result {
        Ok(store) => println!("CHILD: opened, k = {:?}", store.get(b"k").unwrap()),
        Err(Error::Locked { .. }) => println!("CHILD: locked"),
        Err(e) => println!("CHILD: error {e}"),
    }
}

fn run_child(path: &std::path::Path, read_only: bool) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_opens_store", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path);
    if read_only {
        cmd.env("WK_LOCK_TEST_READ_ONLY", "1");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.find("CHILD:") {
        Some(at) => stdout[at..].lines().next().unwrap_or_default().to_owned(),
        None => panic!("child said nothing: {stdout}"),
    }
}

#[test]
fn second_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let store = KVStore::open(&path, None).unwrap();
    store.put(b"k", b"v").unwrap();
    assert_eq!(run_child(&path, false), "CHILD: locked");
    assert_eq!(run_child(&path, true), "CHILD: opened, k = Some([118])", "a read-only open works alongside");
    drop(store);
    assert_eq!(run_child(&path, false), "CHILD: opened, k = Some([118])");
}

#[test]
fn lock_timeout_waits_for_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wait.db");
    let store = KVStore::open(&path, None).unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(store);
    });
    let second = OpenOptions::new().lock_timeout(std::time::Duration::from_secs(10)).open(&path);
    assert!(second.is_ok(), "{second:?}");
    holder.join().unwrap();
}
