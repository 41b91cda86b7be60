//! `wkstore-tui`'s full-screen browser: key list, value viewer, statistics, page map, free list,
//! integrity check and a command bar running the command language.
//!
//! The parts follow the usual shape of a ratatui program: `app.rs` holds the state and turns
//! events into [`action::Action`]s through the key map; `ui.rs` draws the state and cannot change
//! it; one file per pane (`key_list.rs`, `value_view.rs`, `stats_pane.rs`, `page_view.rs`,
//! `free_list.rs`, `command_bar.rs`, `editor.rs`, `help.rs`, `dialogs.rs`); `terminal.rs` takes
//! and restores the terminal; `config.rs` reads the key map and colours; `demo.rs` builds the
//! demo store. This file is the entry point and the event loop. The screens, keys and config
//! file are described in `docs/TUI.md`.

mod action;
mod app;
mod command_bar;
mod config;
mod demo;
mod dialogs;
mod editor;
mod free_list;
mod help;
mod key_list;
mod page_view;
mod stats_pane;
mod terminal;
mod text;
mod ui;
mod value_view;

#[cfg(test)]
mod tests;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event;

pub use config::ConfigError;

use app::App;
use config::Config;
use dialogs::Progress;
use terminal::{Term, TerminalGuard};

use crate::cli::{EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE};
use crate::{Error, KVStore, OpenOptions};

/// How often the screen shows the check's progress while it runs.
const CHECK_REDRAW: Duration = Duration::from_millis(100);

/// What the browser was asked to open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The store file (created when missing, unless read-only).
    pub db: Option<PathBuf>,
    /// Open the demo store in the data directory, building it first if missing.
    pub demo: bool,
    /// A config file in place of `<config dir>/wind-kvstore/tui.toml`.
    pub config: Option<PathBuf>,
    /// Open without the write lock; edits are refused.
    pub read_only: bool,
    /// Measure instead of browsing: open, draw the first frame off-screen and page down, then
    /// print the timings (see `docs/TUI.md`).
    pub bench_first_frame: bool,
}

/// Runs the browser until the user quits; returns the exit status (0 on a normal quit, the
/// `headless` exit codes otherwise). Diagnostics go to stderr.
pub fn run(options: &Options) -> u8 {
    let started = Instant::now();
    let config = match Config::load(options.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_USAGE;
        }
    };
    // Checked before anything is done: a script that forgot --exec must not build a demo or
    // take a terminal.
    if !options.bench_first_frame && !io::stdout().is_terminal() {
        eprintln!(
            "Error: the browser needs a terminal (standard output is not one); use --exec or --exec-file to run statements"
        );
        return EXIT_USAGE;
    }
    let path = match (&options.db, options.demo) {
        (Some(path), _) => path.clone(),
        (None, true) => {
            let Some(path) = demo::default_path() else {
                eprintln!("Error: no data directory for the demo store (is HOME set?)");
                return EXIT_FAILED;
            };
            if !path.exists() {
                eprintln!("Building the demo store at {} …", path.display());
            }
            if let Err(e) = demo::ensure(&path) {
                eprintln!("Error: cannot build the demo store at {}: {e}", path.display());
                return EXIT_FAILED;
            }
            path
        }
        (None, false) => {
            eprintln!("Error: name a store file, or use --demo");
            return EXIT_USAGE;
        }
    };
    let store = match open(&path, options.read_only, config.cache_bytes, &mut ask_on_terminal) {
        Ok(store) => store,
        Err(status) => return status,
    };
    let name =
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let history = history_path();
    if options.bench_first_frame {
        return bench(store, name, config, started);
    }
    let mut app = App::new(store, name, config, history);

    let mut guard = match TerminalGuard::enter(app.config.mouse) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("Error: cannot set up the terminal: {e}");
            return EXIT_FAILED;
        }
    };
    let result = event_loop(&mut guard.terminal, &mut app);
    drop(guard);
    let closed = app.store.close();
    match (result, closed) {
        (Err(e), _) => {
            eprintln!("Error: the terminal failed: {e}");
            EXIT_FAILED
        }
        (Ok(()), Err(e)) => {
            eprintln!("Error: closing the store: {e}");
            EXIT_FAILED
        }
        (Ok(()), Ok(())) => EXIT_OK,
    }
}

/// Opens the store; when another process holds it, says so and offers (through `ask_read_only`)
/// to open it read-only.
fn open(
    path: &Path,
    read_only: bool,
    cache_bytes: usize,
    ask_read_only: &mut dyn FnMut() -> bool,
) -> Result<KVStore, u8> {
    let mut options = OpenOptions::new();
    options.cache_bytes(cache_bytes);
    if read_only {
        options.read_only(true).create(false);
    }
    match options.open(path) {
        Ok(store) => Ok(store),
        Err(Error::Locked { .. }) => {
            eprintln!(
                "{} is locked by another process (a program holding it open for writing).",
                path.display()
            );
            if !ask_read_only() {
                eprintln!("Use --read-only to browse it while the other process runs.");
                return Err(EXIT_LOCKED);
            }
            options.read_only(true).create(false);
            options.open(path).map_err(|e| {
                eprintln!("Error: cannot open {} read-only: {e}", path.display());
                EXIT_FAILED
            })
        }
        Err(e) => {
            eprintln!("Error: cannot open {}: {e}", path.display());
            Err(EXIT_FAILED)
        }
    }
}

/// Asks on the terminal whether to open a locked store read-only; no terminal, no.
fn ask_on_terminal() -> bool {
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return false;
    }
    eprint!("Open it read-only instead? [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y")
}

/// `<data dir>/wind-kvstore/wkstore-tui_history`, created when missing.
fn history_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "wind-kvstore")?;
    let dir = dirs.data_dir();
    std::fs::create_dir_all(dir).ok()?;
    Some(dir.join("wkstore-tui_history"))
}

/// Draws when something changed, then waits for the next event; events already waiting are
/// handled together before the next draw.
fn event_loop(terminal: &mut Term, app: &mut App) -> io::Result<()> {
    let size = terminal.size()?;
    app.resize(size.width, size.height);
    let mut dirty = true;
    while !app.quit {
        if dirty {
            terminal.draw(|frame| ui::render(app, frame))?;
            dirty = false;
        }
        dirty |= app.handle_event(event::read()?);
        while !app.quit && event::poll(Duration::ZERO)? {
            dirty |= app.handle_event(event::read()?);
        }
        if let Some(progress) = app.take_check_request() {
            run_check(terminal, app, progress)?;
            dirty = true;
        }
    }
    Ok(())
}

/// Runs the integrity check on a second thread while this one draws its progress.
fn run_check(terminal: &mut Term, app: &mut App, progress: Arc<Progress>) -> io::Result<()> {
    let shown: &App = app;
    let mut quit_after = false;
    let result = std::thread::scope(|scope| -> io::Result<Result<crate::CheckReport, String>> {
        let store = &shown.store;
        let worker_progress = progress.clone();
        let worker = scope
            .spawn(move || store.check_with_progress(&mut |done, total| worker_progress.set(done, total)));
        while !worker.is_finished() {
            terminal.draw(|frame| ui::render(shown, frame))?;
            // The check cannot be stopped halfway: keys typed meanwhile are dropped, except a
            // quit, which is carried out when it ends.
            if event::poll(CHECK_REDRAW)?
                && let event::Event::Key(key) = event::read()?
                && shown.config.keys.action(&key) == Some(action::Action::Quit)
            {
                quit_after = true;
            }
        }
        Ok(match worker.join() {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the check stopped on an internal error".to_owned()),
        })
    })?;
    app.finish_check(result);
    app.quit |= quit_after;
    Ok(())
}

/// `--bench-first-frame`: the timings `docs/TUI.md` reports, measured on the real code path with
/// an off-screen terminal of 120 × 40.
fn bench(store: KVStore, name: String, config: Config, started: Instant) -> u8 {
    use ratatui::backend::TestBackend;
    const PAGE_DOWNS: u32 = 1000;
    let opened = started.elapsed();
    let Ok(mut terminal) = ratatui::Terminal::new(TestBackend::new(120, 40));
    let before_app = Instant::now();
    let mut app = App::new(store, name, config, None);
    app.resize(120, 40);
    if terminal.draw(|frame| ui::render(&app, frame)).is_err() {
        return EXIT_FAILED;
    }
    let first_frame = started.elapsed();
    let app_and_frame = before_app.elapsed();
    let fetched_before = app.keys.fetched;
    let t = Instant::now();
    for _ in 0..PAGE_DOWNS {
        app.apply(action::Action::PageDown);
    }
    let engine = t.elapsed();
    let t = Instant::now();
    for _ in 0..PAGE_DOWNS {
        app.apply(action::Action::PageDown);
        let _ = terminal.draw(|frame| ui::render(&app, frame));
    }
    let with_draw = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(PAGE_DOWNS);
    println!("keys in store:                  {}", app.store.len());
    println!("open (config, store):           {:.2} ms", opened.as_secs_f64() * 1e3);
    println!("first frame (window, value, draw): {:.2} ms", app_and_frame.as_secs_f64() * 1e3);
    println!("start to first frame:           {:.2} ms", first_frame.as_secs_f64() * 1e3);
    println!("page-down, engine and state:    {:.1} µs", per(engine));
    println!("page-down with a full redraw:   {:.1} µs", per(with_draw));
    println!(
        "keys read per page-down:        {:.1} (window of {} rows)",
        (app.keys.fetched - fetched_before) as f64 / f64::from(2 * PAGE_DOWNS),
        app.keys.height
    );
    println!("peak memory after browsing:     {}", peak_memory());
    // The heaviest thing the browser does: the integrity check reads every page once.
    app.apply(action::Action::Check);
    let t = Instant::now();
    app.run_requested_check();
    println!("integrity check (every page):   {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    println!("peak memory after the check:    {}", peak_memory());
    EXIT_OK
}

/// Peak resident memory of the process (Linux `VmHWM`): heap, page cache of the store, and the
/// pages of the memory-mapped file that were touched.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc)".to_owned())
}
