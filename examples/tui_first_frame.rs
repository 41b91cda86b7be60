//! The browser's first frame and page-down timings, as `docs/TUI.md` reports them:
//!
//! ```sh
//! cargo run --release --example make_store -- /tmp/s1m.db 1000000
//! cargo run --release --example tui_first_frame -- /tmp/s1m.db
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(db) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: tui_first_frame STORE [PAGE_DOWNS]");
        return ExitCode::from(2);
    };
    let page_downs = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(1_000);
    match wind_kvstore::tui::measure_first_frame(&db, page_downs) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
