//! The floor under every durable commit on this machine: how long one small write plus
//! `fdatasync` takes, appended to a growing file (like a log) and overwritten in place.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::results::{median, percentile};

const PROBE_BYTES: usize = 4096;
const PROBE_ROUNDS: u64 = 300;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fsync {
    pub append_median_us: f64,
    pub append_p99_us: f64,
    pub overwrite_median_us: f64,
    pub overwrite_p99_us: f64,
    pub rounds: u64,
}

pub fn fsync_probe(dir: &Path) -> Result<Fsync> {
    let path = dir.join("fsync-probe");
    let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path)?;
    let buf = vec![0x5au8; PROBE_BYTES];
    let mut append = Vec::new();
    for i in 0..PROBE_ROUNDS {
        let start = Instant::now();
        file.write_all_at(&buf, i * PROBE_BYTES as u64)?;
        file.sync_data()?;
        append.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let mut overwrite = Vec::new();
    for _ in 0..PROBE_ROUNDS {
        let start = Instant::now();
        file.write_all_at(&buf, 0)?;
        file.sync_data()?;
        overwrite.push(start.elapsed().as_secs_f64() * 1e6);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Fsync {
        append_median_us: median(&append),
        append_p99_us: percentile(&append, 0.99),
        overwrite_median_us: median(&overwrite),
        overwrite_p99_us: percentile(&overwrite, 0.99),
        rounds: PROBE_ROUNDS,
    })
}

/// A file written the way a log is: 4 KiB appended, then fdatasync.
pub struct AppendProbe {
    path: std::path::PathBuf,
    file: std::fs::File,
    offset: u64,
    buf: Vec<u8>,
}

impl AppendProbe {
    pub fn create(path: &Path) -> Result<AppendProbe> {
        let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path)?;
        Ok(AppendProbe { path: path.to_owned(), file, offset: 0, buf: vec![0x5a; PROBE_BYTES] })
    }

    /// One append + fdatasync; its time in microseconds.
    pub fn append_and_sync(&mut self) -> Result<f64> {
        let start = Instant::now();
        self.file.write_all_at(&self.buf, self.offset)?;
        self.file.sync_data()?;
        self.offset += PROBE_BYTES as u64;
        Ok(start.elapsed().as_secs_f64() * 1e6)
    }

    pub fn remove(self) -> Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)?;
        Ok(())
    }
}
