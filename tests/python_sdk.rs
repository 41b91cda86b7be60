//! Runs the Python client's tests (`sdk/python/tests`, the standard library's `unittest`)
//! against the `wkserver` binary cargo built for this run. Nothing is installed: the package is
//! imported from `sdk/python/src`.
//!
//! They need `python3`, version 3.9 or later, on the path; without it this test fails and says
//! so, unless `WK_SKIP_PYTHON=1` asks to skip it.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// Set to `1` to skip the Python tests (a machine without Python).
const SKIP_ENV: &str = "WK_SKIP_PYTHON";
/// The oldest Python the client supports (`requires-python` in `sdk/python/pyproject.toml`).
const MIN_PYTHON: (u32, u32) = (3, 9);
const PYTHON: &str = "python3";

#[test]
fn the_python_client_passes_its_tests() {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        println!("skipped: {SKIP_ENV}=1");
        return;
    }
    check_python_version();

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut python_path = vec![root.join("sdk/python/src").into_os_string()];
    python_path.extend(std::env::var_os("PYTHONPATH"));
    let output = Command::new(PYTHON)
        .args(["-m", "unittest", "discover", "-s", "sdk/python/tests", "-v"])
        .current_dir(root)
        .env("WKSERVER_BIN", env!("CARGO_BIN_EXE_wkserver"))
        .env("PYTHONPATH", join(python_path))
        // The tests' servers get their token from the tests alone.
        .env_remove("WKSERVER_TOKEN")
        // No __pycache__ folders left in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("running python3");
    let report =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the Python client's tests failed ({}):\n{report}", output.status);
    // unittest says "Ran N tests"; a discovery that found nothing must not pass.
    let ran = report
        .lines()
        .find_map(|line| line.strip_prefix("Ran ")?.split(' ').next()?.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(ran > 0, "no Python test ran:\n{report}");
    println!("{report}");
}

/// Fails with a clear message when `python3` is missing or older than [`MIN_PYTHON`].
fn check_python_version() {
    let help = format!(
        "the Python client's tests need {PYTHON} {}.{} or later on the path; install it, or set \
         {SKIP_ENV}=1 to skip them",
        MIN_PYTHON.0, MIN_PYTHON.1
    );
    let output = Command::new(PYTHON)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON} ({e}): {help}"));
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .trim()
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
    match version {
        Some(version) if output.status.success() && version >= MIN_PYTHON => {}
        _ => panic!("{PYTHON} reports version {:?}: {help}", text.trim()),
    }
}

fn join(paths: Vec<OsString>) -> OsString {
    std::env::join_paths(paths).expect("a path with a separator in it")
}
