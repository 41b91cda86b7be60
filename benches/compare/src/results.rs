//! What one engine's run measured, as it travels from the child process to the report.

use serde::{Deserialize, Serialize};

/// One figure of one workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Figure {
    /// A duration; `count` things of `unit` were done in it (for the rate), if it has a rate.
    Time { secs: f64, count: Option<f64>, unit: Option<String>, runs: Vec<f64> },
    /// A size on disk or in memory.
    Bytes { bytes: u64 },
    /// The workload does not apply to the engine.
    NotApplicable { why: String },
}

impl Figure {
    pub fn time(secs: f64, count: f64, unit: &str) -> Figure {
        Figure::Time { secs, count: Some(count), unit: Some(unit.to_owned()), runs: Vec::new() }
    }

    pub fn duration(secs: f64) -> Figure {
        Figure::Time { secs, count: None, unit: None, runs: Vec::new() }
    }

    /// The value compared across engines: seconds or bytes, smaller is better.
    pub fn value(&self) -> Option<f64> {
        match self {
            Figure::Time { secs, .. } => Some(*secs),
            Figure::Bytes { bytes } => Some(*bytes as f64),
            Figure::NotApplicable { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub workload: String,
    pub figure: Figure,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineRun {
    pub engine: String,
    pub setup: String,
    pub rows: Vec<Row>,
    /// Per-commit latencies of the individual durable writes, in microseconds.
    pub individual_write_median_us: f64,
    pub individual_write_p99_us: f64,
    pub individual_write_mean_us: f64,
    /// The fsync probe taken just before each of those commits (4 KiB append + fdatasync).
    pub paired_fsync_median_us: f64,
    pub paired_fsync_p99_us: f64,
    pub paired_fsync_mean_us: f64,
    /// What the engine showed after the kill -9: keys before, keys after, and whether every
    /// acknowledged write survived.
    pub recovery_check: String,
    /// Wall time of the whole run of this engine.
    pub total_secs: f64,
    pub error: Option<String>,
    /// The engine's own statistics at a few points of the run, where it has them.
    pub notes: Vec<String>,
}

impl EngineRun {
    pub fn note_stats(&mut self, when: &str, store: &dyn crate::engines::Store) {
        if let Some(stats) = store.stats() {
            eprintln!("[{}] stats {when}: {stats}", self.engine);
            self.notes.push(format!("{when}: {stats}"));
        }
    }

    pub fn figure(&self, workload: &str) -> Option<&Figure> {
        self.rows.iter().find(|r| r.workload == workload).map(|r| &r.figure)
    }
}

/// Median of a non-empty list.
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// The `p`-quantile (0..=1) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
