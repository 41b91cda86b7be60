//! The markdown table, the issue-2 checks and the JSON file.

use std::fmt::Write as _;

use serde::Serialize;

use crate::probe::Fsync;
use crate::results::{EngineRun, Figure};
use crate::workloads::{BATCHES, INDIVIDUAL_WRITES, Plan};

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub filesystem: String,
    pub memory: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub keys: u64,
    pub key_bytes: usize,
    pub value_bytes: usize,
    pub cache_bytes: usize,
    pub fsync: Fsync,
    pub engines: Vec<EngineRun>,
    /// Per workload: our figure over the best peer's (above 1.0: we are slower or bigger).
    pub ratios: Vec<(String, Option<f64>)>,
}

fn fmt_secs(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.1} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

fn fmt_rate(per_sec: f64, unit: &str) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M {unit}/s", per_sec / 1e6)
    } else if per_sec >= 1e4 {
        format!("{:.0} k {unit}/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} {unit}/s")
    }
}

pub fn fmt_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}

fn fmt_figure(f: &Figure) -> String {
    match f {
        Figure::Time { secs, count: Some(count), unit: Some(unit), .. } => {
            format!("{} ({})", fmt_secs(*secs), fmt_rate(count / secs, unit))
        }
        Figure::Time { secs, .. } => fmt_secs(*secs),
        Figure::Bytes { bytes } => fmt_bytes(*bytes),
        Figure::NotApplicable { why } => format!("n/a ({why})"),
    }
}

impl Report {
    pub fn ratio_rows(plan: &Plan, engines: &[EngineRun]) -> Vec<(String, Option<f64>)> {
        plan.workloads()
            .into_iter()
            .map(|w| {
                let ours = engines.iter().find(|e| e.engine == "ours").and_then(|e| e.figure(&w)?.value());
                let best_peer = engines
                    .iter()
                    .filter(|e| e.engine != "ours")
                    .filter_map(|e| e.figure(&w)?.value())
                    .min_by(f64::total_cmp);
                let ratio = match (ours, best_peer) {
                    (Some(o), Some(p)) if p > 0.0 => Some(o / p),
                    _ => None,
                };
                (w, ratio)
            })
            .collect()
    }

    pub fn markdown(&self, plan: &Plan) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "{} keys of {} random bytes, values of {} random bytes, fixed seed; cache budget {} per engine.\n",
            crate::workloads::thousands(self.keys),
            self.key_bytes,
            self.value_bytes,
            fmt_bytes(self.cache_bytes as u64)
        );
        let _ = writeln!(
            s,
            "Machine: {} CPUs ({}), {} memory, Linux {}, {}.\n",
            m.cpus, m.cpu_model, m.memory, m.kernel, m.filesystem
        );
        let f = &self.fsync;
        let _ = writeln!(
            s,
            "fsync floor ({} rounds of a 4 KiB write + fdatasync): append median {}, p99 {}; overwrite in place median {}, p99 {}.\n",
            f.rounds,
            fmt_secs(f.append_median_us / 1e6),
            fmt_secs(f.append_p99_us / 1e6),
            fmt_secs(f.overwrite_median_us / 1e6),
            fmt_secs(f.overwrite_p99_us / 1e6)
        );
        let mut header = "| workload |".to_string();
        let mut rule = "|---|".to_string();
        for e in &self.engines {
            let _ = write!(header, " {} |", e.engine);
            rule.push_str("---:|");
        }
        header.push_str(" ours / best peer | fsync floor (probe at start) |");
        rule.push_str("---:|---|");
        let _ = writeln!(s, "{header}\n{rule}");
        let workloads = plan.workloads();
        for (i, w) in workloads.iter().enumerate() {
            let best = self.engines.iter().filter_map(|e| e.figure(w)?.value()).min_by(f64::total_cmp);
            let _ = write!(s, "| {w} |");
            for e in &self.engines {
                let cell = match e.figure(w) {
                    Some(f) => {
                        let text = fmt_figure(f);
                        if f.value().is_some() && f.value() == best { format!("**{text}**") } else { text }
                    }
                    None => "failed".into(),
                };
                let _ = write!(s, " {cell} |");
            }
            let ratio = self.ratios.get(i).and_then(|(_, r)| *r).map_or("–".into(), |r| format!("{r:.2}"));
            let floor = if w.starts_with("individual writes") {
                format!(
                    "{} x fsync = {}",
                    INDIVIDUAL_WRITES,
                    fmt_secs(INDIVIDUAL_WRITES as f64 * f.append_median_us / 1e6)
                )
            } else if w.starts_with("batch writes") {
                format!("{BATCHES} x fsync = {}", fmt_secs(BATCHES as f64 * f.append_median_us / 1e6))
            } else {
                String::new()
            };
            let _ = writeln!(s, " {ratio} | {floor} |");
        }
        let _ = writeln!(
            s,
            "\nBest of each row in bold. Ratio: our figure over the best other engine's (above 1.0: slower or bigger).\n"
        );
        let _ = writeln!(s, "Set-up:\n");
        for e in &self.engines {
            let compaction = crate::engines::Kind::parse(&e.engine).map_or("", |k| k.compaction());
            let _ = writeln!(s, "- {}: {}; compaction: {compaction}", e.engine, e.setup);
        }
        let _ = writeln!(
            s,
            "\nDurable single commits, each paired with an fsync probe (4 KiB append + fdatasync) taken just before it; \
             the row above counts the commits only:\n"
        );
        let _ = writeln!(
            s,
            "| engine | commit median | commit p99 | commit mean | paired fsync median | paired fsync p99 | commit / fsync (medians) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for e in &self.engines {
            if e.error.is_none() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {:.2} |",
                    e.engine,
                    fmt_secs(e.individual_write_median_us / 1e6),
                    fmt_secs(e.individual_write_p99_us / 1e6),
                    fmt_secs(e.individual_write_mean_us / 1e6),
                    fmt_secs(e.paired_fsync_median_us / 1e6),
                    fmt_secs(e.paired_fsync_p99_us / 1e6),
                    e.individual_write_median_us / e.paired_fsync_median_us
                );
            }
        }
        let _ = writeln!(s, "\nRecovery after kill -9:\n");
        for e in &self.engines {
            if e.error.is_none() {
                let _ = writeln!(s, "- {}: {}", e.engine, e.recovery_check);
            }
        }
        if self.engines.iter().any(|e| !e.notes.is_empty()) {
            let _ = writeln!(s, "\nThe engine's own statistics during the run:\n");
            for e in &self.engines {
                for note in &e.notes {
                    let _ = writeln!(s, "- {} {note}", e.engine);
                }
            }
        }
        let _ = writeln!(s, "\nWall time per engine:\n");
        for e in &self.engines {
            match &e.error {
                None => {
                    let _ = writeln!(s, "- {}: {}", e.engine, fmt_secs(e.total_secs));
                }
                Some(err) => {
                    let _ = writeln!(s, "- {}: FAILED: {err}", e.engine);
                }
            }
        }
        let slower: Vec<_> = self.ratios.iter().filter(|(_, r)| r.is_some_and(|r| r > 1.0)).collect();
        if !slower.is_empty() {
            let _ = writeln!(s, "\nWhere ours is behind the best peer:\n");
            for (w, r) in slower {
                let _ = writeln!(s, "- {w}: {:.2}x", r.unwrap_or_default());
            }
        }
        if let Some(issue2) = self.issue2(plan) {
            s.push_str(&issue2);
        }
        s
    }

    /// Issue 2's three figures, when ours and redb ran.
    fn issue2(&self, plan: &Plan) -> Option<String> {
        let ours = self.engines.iter().find(|e| e.engine == "ours" && e.error.is_none())?;
        let redb = self.engines.iter().find(|e| e.engine == "redb" && e.error.is_none())?;
        let w = plan.workloads();
        let value = |e: &EngineRun, i: usize| e.figure(&w[i]).and_then(Figure::value);
        let (reads_o, reads_r) = (value(ours, 5)?, value(redb, 5)?);
        let (bulk_o, bulk_r) = (value(ours, 0)?, value(redb, 0)?);
        let fsync = ours.paired_fsync_median_us;
        let per_put = ours.individual_write_median_us;
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nIssue 2 performance figures ({} keys, same run as redb):\n",
            crate::workloads::thousands(self.keys)
        );
        let _ = writeln!(
            s,
            "- random get: ours {} vs redb {} per get, ratio {:.2} (goal <= 1.00: {})",
            fmt_secs(reads_o / plan.keys as f64),
            fmt_secs(reads_r / plan.keys as f64),
            reads_o / reads_r,
            verdict(reads_o <= reads_r)
        );
        let _ = writeln!(
            s,
            "- bulk load in one WriteBatch: ours {} vs redb {}, ratio {:.2} (goal <= 1.00: {})",
            fmt_secs(bulk_o),
            fmt_secs(bulk_r),
            bulk_o / bulk_r,
            verdict(bulk_o <= bulk_r)
        );
        let _ = writeln!(
            s,
            "- durable single put: ours median {} (mean {}) vs one log fsync measured beside it (4 KiB append + fdatasync) \
             median {} (mean {}): ratio {:.2} of medians, {:.2} of means (goal <= 1.20: {})",
            fmt_secs(per_put / 1e6),
            fmt_secs(ours.individual_write_mean_us / 1e6),
            fmt_secs(fsync / 1e6),
            fmt_secs(ours.paired_fsync_mean_us / 1e6),
            per_put / fsync,
            ours.individual_write_mean_us / ours.paired_fsync_mean_us,
            verdict(per_put / fsync <= 1.2)
        );
        Some(s)
    }
}

fn first_line_value(text: &str, key: &str) -> Option<String> {
    text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split(':').nth(1)).map(|v| v.trim().to_owned())
}

/// What this machine is: CPUs, model, kernel, the file system under `dir`, memory.
pub fn machine(dir: &std::path::Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = first_line_value(&meminfo, "MemTotal")
        .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or("unknown".into(), |kib| format!("{:.1} GiB", kib as f64 / (1 << 20) as f64));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let filesystem = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && dir.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} on {} ({})", f[2], f[1], f[0])))
        })
        .max_by_key(|(len, _)| *len)
        .map_or("unknown file system".into(), |(_, fs)| fs);
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: first_line_value(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".into()),
        kernel,
        filesystem,
        memory,
    }
}
