//! What leaves the browser: the whole value in `$PAGER` or `$EDITOR` (through a private temporary
//! file), a copy to the clipboard with OSC 52 (which works over SSH: the terminal holds the
//! clipboard), and an export of the keys the filter selects to a JSON-lines file.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use super::search::Filter;
use crate::KVStore;
use crate::command::{EXPORT_FORMAT, EXPORT_VERSION, bytes_to_json};

/// Clipboard copies above this are refused: terminals cap what OSC 52 may carry.
pub(crate) const COPY_MAX_BYTES: usize = 1 << 20;

/// The programs `v` and `E` start, from the environment when the browser starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Programs {
    /// `$PAGER`, else `less`.
    pub pager: String,
    /// `$VISUAL`, else `$EDITOR`, else `vi`.
    pub editor: String,
}

impl Programs {
    pub(crate) fn from_env() -> Programs {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Programs {
            pager: var("PAGER").unwrap_or_else(|| "less".to_owned()),
            editor: var("VISUAL").or_else(|| var("EDITOR")).unwrap_or_else(|| "vi".to_owned()),
        }
    }
}

/// A temporary file readable by its owner only, removed when dropped unless kept.
#[derive(Debug)]
pub(crate) struct TempFile {
    pub path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// A new file holding `contents`, named `wkstore-tui-<pid>-<n>.<extension>`.
    pub(crate) fn with(contents: &[u8], extension: &str) -> io::Result<TempFile> {
        use std::os::unix::fs::OpenOptionsExt as _;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("wkstore-tui-{}-{n}.{extension}", std::process::id()));
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        Ok(TempFile { path, keep: false })
    }

    /// Keeps the file (its path is told to the user).
    pub(crate) fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A program to run with the terminal given to it.
#[derive(Debug)]
pub(crate) enum External {
    /// The whole value (or its hex dump) in the pager.
    Pager { file: TempFile },
    /// The whole value (or its hex dump) in the editor; written back if changed, and only if the
    /// stored value is still `original`.
    Edit { key: Vec<u8>, original: Vec<u8>, hex: bool, file: TempFile },
}

impl External {
    pub(crate) fn file(&self) -> &Path {
        match self {
            External::Pager { file } | External::Edit { file, .. } => &file.path,
        }
    }
}

/// Runs `command` (a shell command line, as `$EDITOR` may hold arguments) on `path`, waiting for
/// it to end.
pub(crate) fn run_program(command: &str, path: &Path) -> io::Result<ExitStatus> {
    Command::new("sh").arg("-c").arg(format!("{command} \"$1\"")).arg("wkstore-tui").arg(path).status()
}

/// The OSC 52 sequence that puts `bytes` on the clipboard.
pub(crate) fn osc52(bytes: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(encoded.len() + 8);
    out.extend_from_slice(b"\x1b]52;c;");
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(b"\x07");
    out
}

/// Pairs one slice of the export writes at most.
const EXPORT_SLICE_PAIRS: usize = 5_000;
/// Time one slice of the export takes at most.
const EXPORT_SLICE_TIME: Duration = Duration::from_millis(20);

/// Writing the pairs the filter selects to a JSON-lines file, in the format of `EXPORT` (so
/// `IMPORT` reads it), a slice at a time. The file is written as `<name>.partial` and renamed
/// when complete.
#[derive(Debug)]
pub(crate) struct ExportJob {
    pub path: PathBuf,
    partial: PathBuf,
    out: Option<BufWriter<File>>,
    filter: Filter,
    resume: Bound<Vec<u8>>,
    pub count: u64,
    pub done: bool,
    pub error: Option<String>,
}

impl ExportJob {
    /// Starts an export to `path`, which must not exist.
    pub(crate) fn start(store: &KVStore, path: PathBuf, filter: Filter) -> Result<ExportJob, String> {
        if path.exists() {
            return Err(format!("{} exists already; choose another name", path.display()));
        }
        let Some(name) = path.file_name() else {
            return Err(format!("{} is not a file name", path.display()));
        };
        let mut partial_name = name.to_os_string();
        partial_name.push(".partial");
        let partial = path.with_file_name(partial_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let mut out = BufWriter::new(file);
        let header =
            json!({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "identifier": store.get_identifier()});
        let written = serde_json::to_writer(&mut out, &header)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(format!("cannot write {}: {e}", partial.display()));
        }
        let resume = filter.bounds().0;
        Ok(ExportJob { path, partial, out: Some(out), filter, resume, count: 0, done: false, error: None })
    }

    /// Writes on for one slice.
    pub(crate) fn step(&mut self, store: &KVStore) {
        if let Err(e) = self.try_step(store) {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: String) {
        self.out = None;
        let _ = std::fs::remove_file(&self.partial);
        self.error = Some(e);
        self.done = true;
    }

    fn try_step(&mut self, store: &KVStore) -> Result<(), String> {
        let Some(out) = &mut self.out else { return Ok(()) };
        let started = Instant::now();
        let end = self.filter.bounds().1;
        let mut seen = 0;
        let mut last = None;
        let write_error = |e: io::Error| e.to_string();
        for item in store.range_bounds(self.resume.clone(), end) {
            let (key, value) = item.map_err(|e| e.to_string())?;
            if self.filter.matches(&key) {
                let line = json!({"key": bytes_to_json(&key), "value": bytes_to_json(&value)});
                serde_json::to_writer(&mut *out, &line).map_err(|e| e.to_string())?;
                out.write_all(b"\n").map_err(write_error)?;
                self.count += 1;
            }
            seen += 1;
            last = Some(key);
            if seen >= EXPORT_SLICE_PAIRS || started.elapsed() >= EXPORT_SLICE_TIME {
                break;
            }
        }
        match last {
            Some(key) if seen >= EXPORT_SLICE_PAIRS || started.elapsed() >= EXPORT_SLICE_TIME => {
                self.resume = Bound::Excluded(key);
            }
            _ => {
                let out = self.out.take().ok_or("the export was closed")?;
                let file = out.into_inner().map_err(|e| e.error().to_string())?;
                file.sync_all().map_err(write_error)?;
                std::fs::rename(&self.partial, &self.path).map_err(write_error)?;
                self.done = true;
            }
        }
        Ok(())
    }

    /// Stops the export and removes what was written.
    pub(crate) fn cancel(&mut self) {
        self.fail("cancelled".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_carries_base64() {
        assert_eq!(osc52(b"hi"), b"\x1b]52;c;aGk=\x07".to_vec());
    }

    #[test]
    fn temp_files_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt as _;
        let file = TempFile::with(b"secret", "txt").expect("temp file");
        let path = file.path.clone();
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn programs_run_through_the_shell_with_arguments() {
        let file = TempFile::with(b"abc", "txt").expect("temp file");
        let status = run_program("sed -i s/b/X/", &file.path).expect("runs");
        assert!(status.success());
        assert_eq!(std::fs::read(&file.path).expect("read"), b"aXc");
    }
}
