//! Wind-KVStore side by side with redb, LMDB (heed), fjall and SQLite (rusqlite), on the same
//! data in the same run.
//!
//! ```text
//! cargo run --release -p wind-compare -- [--keys N] [--engines ours,redb,lmdb,fjall,sqlite]
//!     [--cache-mib M] [--dir DIR] [--json FILE] [--md FILE]
//! ```
//!
//! Each engine runs in a child process of its own (this program again, with `--child`), so its
//! peak memory is its own and a crash or a leak of one cannot disturb the next. The parent
//! measures the fsync floor, runs the children one after another, and prints the table.

mod engines;
mod map_read;
mod probe;
mod profile;
mod report;
mod results;
mod workloads;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use engines::Kind;
use report::Report;
use results::EngineRun;
use workloads::{KEY_BYTES, Plan, VALUE_BYTES};

const USAGE: &str = "usage: wind-compare [--keys N] [--engines ours,redb,lmdb,fjall,sqlite] [--cache-mib M] \
                     [--dir DIR] [--json FILE] [--md FILE]\n       \
                     wind-compare --profile WORKLOAD [--engines ENGINE] [--keys N]   (one workload, for a profiler)\n       \
                     wind-compare --map-read [--dir DIR]   (reads through a map, by the size of the writes before)";

struct Args {
    keys: u64,
    engines: Vec<Kind>,
    cache_bytes: usize,
    dir: Option<PathBuf>,
    json: PathBuf,
    md: Option<PathBuf>,
    /// Internal: run one engine's workloads and write its results to `out`.
    child: Option<(Kind, PathBuf)>,
    /// Internal: write durable batches into `dir` until killed.
    crash_writer: Option<Kind>,
    /// Run one workload on the first engine only, for a profiler.
    profile: Option<String>,
    /// Time reads through a memory map by the size of the writes that filled the file.
    map_read: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        keys: 1_000_000,
        engines: Kind::ALL.to_vec(),
        cache_bytes: wind_kvstore::DEFAULT_CACHE_BYTES,
        dir: None,
        json: PathBuf::from("compare-results.json"),
        md: None,
        child: None,
        crash_writer: None,
        profile: None,
        map_read: false,
    };
    let mut it = std::env::args().skip(1);
    let mut out = None;
    let mut child = None;
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--keys" => args.keys = value()?.replace('_', "").parse().context("--keys")?,
            "--engines" => {
                args.engines = value()?.split(',').map(|n| Kind::parse(n.trim())).collect::<Result<_>>()?;
            }
            "--cache-mib" => args.cache_bytes = value()?.parse::<usize>().context("--cache-mib")? << 20,
            "--cache-bytes" => args.cache_bytes = value()?.parse().context("--cache-bytes")?,
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--json" => args.json = PathBuf::from(value()?),
            "--md" => args.md = Some(PathBuf::from(value()?)),
            "--child" => child = Some(Kind::parse(&value()?)?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--crash-writer" => args.crash_writer = Some(Kind::parse(&value()?)?),
            "--profile" => args.profile = Some(value()?),
            "--map-read" => args.map_read = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if let Some(kind) = child {
        args.child = Some((kind, out.context("--child needs --out")?));
    }
    if args.keys < 10_000 && args.profile.is_none() {
        bail!("--keys must be at least 10,000");
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    if args.map_read {
        let dir = args
            .dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("wind-map-read-{}", std::process::id()));
        let result = map_read::run(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if let Some(kind) = args.crash_writer {
        return workloads::crash_writer(
            kind,
            args.dir.context("--crash-writer needs --dir")?,
            args.cache_bytes,
        );
    }
    if let Some(workload) = &args.profile {
        let dir = args
            .dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("wind-profile-{}", std::process::id()));
        let result = profile::run(args.engines[0], workload, args.keys, &dir, args.cache_bytes);
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    let plan = Plan::new(args.keys);
    if let Some((kind, out)) = &args.child {
        let dir = args.dir.clone().context("--child needs --dir")?;
        let run = workloads::run(*kind, plan, &dir, args.cache_bytes)?;
        std::fs::write(out, serde_json::to_vec_pretty(&run)?)?;
        return Ok(());
    }
    drive(&args, plan)
}

/// The parent: probe, run each engine in a child, report.
fn drive(args: &Args, plan: Plan) -> Result<()> {
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("wind-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let machine = report::machine(&dir);
    eprintln!("measuring the fsync floor in {}", dir.display());
    let fsync = probe::fsync_probe(&dir)?;
    eprintln!(
        "fsync floor: append median {:.0} µs, p99 {:.0} µs",
        fsync.append_median_us, fsync.append_p99_us
    );

    let started = Instant::now();
    let mut runs = Vec::new();
    for kind in &args.engines {
        let engine_dir = dir.join(kind.name());
        let out = dir.join(format!("{}.json", kind.name()));
        let status = Command::new(std::env::current_exe()?)
            .arg("--child")
            .arg(kind.name())
            .arg("--out")
            .arg(&out)
            .arg("--dir")
            .arg(&engine_dir)
            .arg("--keys")
            .arg(args.keys.to_string())
            .arg("--cache-bytes")
            .arg(args.cache_bytes.to_string())
            .status()?;
        let run = if status.success() {
            serde_json::from_slice(&std::fs::read(&out)?)?
        } else {
            EngineRun {
                engine: kind.name().into(),
                setup: kind.setup().into(),
                error: Some(format!("the child process failed ({status})")),
                ..EngineRun::default()
            }
        };
        let _ = std::fs::remove_dir_all(&engine_dir);
        runs.push(run);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let report = Report {
        machine,
        keys: args.keys,
        key_bytes: KEY_BYTES,
        value_bytes: VALUE_BYTES,
        cache_bytes: args.cache_bytes,
        fsync,
        ratios: Report::ratio_rows(&plan, &runs),
        engines: runs,
    };
    let md = report.markdown(&plan);
    println!("\n{md}");
    println!("Total time: {:.1} s", started.elapsed().as_secs_f64());
    std::fs::write(&args.json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    eprintln!("figures written to {}", args.json.display());
    if let Some(path) = &args.md {
        std::fs::write(path, &md).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
