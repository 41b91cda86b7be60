//! `wkstore-tui`: browse a Wind-KVStore file, or run statements on it headless with `--exec`.

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wind_kvstore::cli::headless::{Format, Headless, Script};
use wind_kvstore::cli::{EXIT_STATUS_HELP, EXIT_USAGE};

#[derive(Debug, Parser)]
#[command(
    name = "wkstore-tui",
    version,
    about = "Browse a Wind-KVStore file, or run statements on it headless",
    after_help = EXIT_STATUS_HELP
)]
struct Cli {
    /// The store file.
    #[arg(required_unless_present = "demo")]
    db: Option<PathBuf>,

    /// Run these statements (separated by ';') and exit instead of opening the browser.
    #[arg(long, value_name = "STATEMENTS", conflicts_with = "exec_file")]
    exec: Option<String>,

    /// Run the statements in FILE ('-' reads standard input) and exit.
    #[arg(long, value_name = "FILE")]
    exec_file: Option<PathBuf>,

    /// How --exec prints answers: text for people, or one JSON object per statement.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Copy every key the (damaged) store file still holds into a new store at OUT, print what
    /// was recovered and lost, and exit. OUT must not exist; the store file is only read.
    #[arg(long, value_name = "OUT", conflicts_with_all = ["exec", "exec_file", "demo"])]
    salvage: Option<PathBuf>,

    /// Open the store read-only (writes fail; the store must exist).
    #[arg(long)]
    read_only: bool,

    /// With --exec: run on after a failed statement (the exit status is still 1).
    #[arg(long)]
    keep_going: bool,

    /// Open the browser on a demo store (built in the data directory the first time).
    #[arg(long, conflicts_with_all = ["exec", "exec_file", "db"])]
    demo: bool,

    /// The browser's config file (key map, colours, cache size) in place of the default one.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let (Some(out), Some(db)) = (&cli.salvage, &cli.db) {
        let status = wind_kvstore::cli::salvage::run(
            db,
            out,
            cli.format,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr(),
        );
        return ExitCode::from(status);
    }
    let script = match (&cli.exec, &cli.exec_file) {
        (Some(text), _) => Script::Inline(text.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => Script::Stdin,
        (None, Some(path)) => Script::File(path.clone()),
        (None, None) => return run_browser(&cli),
    };
    let Some(db) = cli.db else {
        eprintln!("Error: --exec needs the store file");
        return ExitCode::from(EXIT_USAGE);
    };
    let headless =
        Headless { db, script, format: cli.format, read_only: cli.read_only, keep_going: cli.keep_going };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let status = headless.run(&mut std::io::stdin(), &mut out, &mut std::io::stderr());
    let _ = out.flush();
    ExitCode::from(status)
}

/// The full-screen browser (and `--demo`).
fn run_browser(cli: &Cli) -> ExitCode {
    let options = wind_kvstore::tui::Options {
        db: cli.db.clone(),
        demo: cli.demo,
        config: cli.config.clone(),
        read_only: cli.read_only,
    };
    ExitCode::from(wind_kvstore::tui::run(&options))
}
