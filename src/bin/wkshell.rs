//! `wkshell`: an interactive line shell for Wind-KVStore files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "wkshell",
    version,
    about = "A line shell for Wind-KVStore files: the original statements and more (.help inside)"
)]
struct Cli {
    /// A store to open at start (created when missing).
    db: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(wind_kvstore::shell::run(cli.db))
}
