//! `wkstore-tui`'s full-screen browser: key list, value viewer, statistics, page map, free list,
//! integrity check and a command bar running the command language.
//!
//! The parts follow the usual shape of a ratatui program: `app.rs` holds the state and turns
//! events into actions (`action.rs`) through the key map, handing them to the overlay on top of one stack
//! (`overlay.rs`) or to the screen; `ui.rs` draws the state and cannot change it; `layout.rs`
//! places the parts for both; one file per pane (`key_list.rs`, `value_view.rs`, `stats_pane.rs`,
//! `page_view.rs`, `free_list.rs`, `command_bar.rs`, `editor.rs`, `help.rs`, `dialogs.rs`);
//! `input.rs` reads the terminal and the signals; `terminal.rs` takes and restores the terminal;
//! `live.rs` follows the commits of the application writing the store, `readers.rs` shows who
//! has it open, `salvage.rs` salvages it into a new store on a thread;
//! `search.rs` (filters, counting, search in values), `decode.rs` (value decoders), `hexdump.rs`
//! and `external.rs` ($PAGER, $EDITOR, clipboard, export) do the work behind some keys;
//! `config.rs` reads the key map and colours; `demo.rs` builds the demo store. This file is the
//! entry point and the event loop. The screens, keys and config file are described in
//! `docs/TUI.md`.

mod action;
mod app;
mod bench;
mod command_bar;
mod config;
mod decode;
mod demo;
mod dialogs;
mod editor;
mod external;
mod free_list;
mod help;
mod hexdump;
mod input;
mod key_list;
mod layout;
mod live;
mod overlay;
mod page_view;
mod readers;
mod salvage;
mod search;
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
use std::time::Duration;

pub use bench::{FirstFrameReport, measure_first_frame};
pub use config::ConfigError;

use app::App;
use config::Config;
use dialogs::Progress;
use input::{Input, Signal};
use terminal::{Term, TerminalGuard};

use crate::cli::{EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE};
use crate::{Error, KVStore, OpenOptions};

/// How often the screen shows the check's progress while it runs.
const CHECK_REDRAW: Duration = Duration::from_millis(100);
/// How often the loop wakes with nothing to do: the tick where live follow polls the store
/// (`App::tick`, at most every `live::POLL_EVERY`).
const TICK: Duration = live::POLL_EVERY;

/// What the browser was asked to open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The store file (the browser asks before creating one that is missing, unless read-only).
    pub db: Option<PathBuf>,
    /// Open the demo store in the data directory, building it first if missing.
    pub demo: bool,
    /// A config file in place of `<config dir>/wind-kvstore/tui.toml`.
    pub config: Option<PathBuf>,
    /// Open without the write lock; edits are refused.
    pub read_only: bool,
}

/// Runs the browser until the user quits; returns the exit status (0 on a normal quit, the
/// `headless` exit codes otherwise). Diagnostics go to stderr.
pub fn run(options: &Options) -> u8 {
    let config = match Config::load(options.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_USAGE;
        }
    };
    // Checked before anything is done: a script that forgot --exec must not build a demo or
    // take a terminal.
    if !io::stdout().is_terminal() {
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
    // The demo builds its own store; a store named on the command line is created only when
    // the user says so.
    let may_create = options.demo;
    let store = match open(&path, options.read_only, may_create, config.cache_bytes, &mut ask_on_terminal) {
        Ok(store) => store,
        Err((status, message)) => {
            eprintln!("{message}");
            return status;
        }
    };
    let name = file_name(&path);
    let history = history_path();
    let mut app = App::new(store, name, config, history);

    let mut input = match Input::new() {
        Ok(input) => input,
        Err(e) => {
            eprintln!("Error: cannot read the terminal: {e}");
            return EXIT_FAILED;
        }
    };
    let mut guard = match TerminalGuard::enter(app.config.mouse) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("Error: cannot set up the terminal: {e}");
            return EXIT_FAILED;
        }
    };
    let result = event_loop(&mut guard, &mut input, &mut app);
    drop(guard);
    drop(input);
    let closed = app.store.close();
    match (result, closed) {
        (Err(e), _) => {
            eprintln!("Error: the terminal failed: {e}");
            EXIT_FAILED
        }
        (Ok(_), Err(e)) => {
            eprintln!("Error: closing the store: {e}");
            EXIT_FAILED
        }
        // Ended by a signal: the shell's convention, 128 + its number.
        (Ok(Some(signal)), Ok(())) => u8::try_from(128 + signal).unwrap_or(EXIT_FAILED),
        (Ok(None), Ok(())) => EXIT_OK,
    }
}

/// The file name shown in the header.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Why the store could not be opened, said once: the store's own errors already name the file.
fn open_error(path: &Path, how: &str, e: &Error) -> String {
    let text = e.to_string();
    if text.contains(&path.display().to_string()) {
        format!("Error: cannot open {how}{text}")
    } else {
        format!("Error: cannot open {}{how}: {text}", path.display())
    }
}

/// The question asked before a store is created.
fn create_question(path: &Path) -> String {
    format!("{} does not exist. Create a new store there? [y/N] ", path.display())
}

/// Opens the store. A missing file is created only when `may_create` or when `ask` (asked
/// [`create_question`]) says yes; when another process holds the store, says so and offers
/// (through `ask`) to open it read-only. The error is an exit status and its message.
fn open(
    path: &Path,
    read_only: bool,
    may_create: bool,
    cache_bytes: usize,
    ask: &mut dyn FnMut(&str) -> bool,
) -> Result<KVStore, (u8, String)> {
    let mut options = OpenOptions::new();
    options.cache_bytes(cache_bytes);
    if read_only {
        options.read_only(true).create(false);
    } else if !may_create && !path.exists() && !ask(&create_question(path)) {
        return Err((EXIT_FAILED, format!("Nothing was created: {} does not exist.", path.display())));
    }
    match options.open(path) {
        Ok(store) => Ok(store),
        Err(Error::Locked { .. }) => {
            eprintln!(
                "{} is locked by another process (a program holding it open for writing).",
                path.display()
            );
            if !ask("Open it read-only instead? [y/N] ") {
                return Err((
                    EXIT_LOCKED,
                    "Use --read-only to browse it while the other process runs.".to_owned(),
                ));
            }
            options.read_only(true).create(false);
            options.open(path).map_err(|e| (EXIT_FAILED, open_error(path, "read-only", &e)))
        }
        Err(e) => Err((EXIT_FAILED, open_error(path, "", &e))),
    }
}

/// Asks `question` on the terminal; no terminal, no.
fn ask_on_terminal(question: &str) -> bool {
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return false;
    }
    eprint!("{question}");
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

/// Draws when something changed, then waits for input, a signal or the tick; everything that
/// arrived together is handled before the next draw. Returns the signal that ended it, if one did.
fn event_loop(guard: &mut TerminalGuard, input: &mut Input, app: &mut App) -> io::Result<Option<i32>> {
    let size = guard.terminal.size()?;
    app.resize(size.width, size.height);
    let mut dirty = true;
    while !app.quit {
        if dirty {
            draw(&mut guard.terminal, app)?;
            dirty = false;
        }
        // Work in progress goes on between events; otherwise wait for the tick.
        let timeout = if app.busy() { Duration::ZERO } else { TICK };
        let batch = match input.wait(Some(timeout)) {
            Ok(batch) => batch,
            // The terminal went away (hung up): as SIGHUP.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(Some(signal_hook::consts::SIGHUP));
            }
            Err(e) => return Err(e),
        };
        for event in batch.events {
            dirty |= app.handle_event(event);
            if app.quit {
                break;
            }
        }
        match batch.signal {
            Some(Signal::Quit(number)) => return Ok(Some(number)),
            Some(Signal::Suspend) => app.suspend = true,
            None => {}
        }
        if std::mem::take(&mut app.suspend) {
            terminal::suspend(guard)?;
            input.reset();
            let size = guard.terminal.size()?;
            app.resize(size.width, size.height);
            dirty = true;
        }
        if let Some(external) = app.external.take() {
            let program = match &external {
                external::External::Pager { .. } => app.programs.pager.clone(),
                external::External::Edit { .. } => app.programs.editor.clone(),
            };
            let status = input
                .with_child(|| guard.release_while(|| external::run_program(&program, external.file())))?;
            app.finish_external(external, status);
            let size = guard.terminal.size()?;
            app.resize(size.width, size.height);
            dirty = true;
        }
        if let Some(progress) = app.take_check_request() {
            if let Some(signal) = run_check(&mut guard.terminal, input, app, progress)? {
                return Ok(Some(signal));
            }
            dirty = true;
        }
        dirty |= app.tick();
    }
    Ok(None)
}

/// Draws the screen, then writes what the app has for the terminal itself (a clipboard copy).
fn draw(terminal: &mut Term, app: &mut App) -> io::Result<()> {
    terminal.draw(|frame| ui::render(app, frame))?;
    if !app.terminal_output.is_empty() {
        let backend = terminal.backend_mut();
        backend.write_all(&std::mem::take(&mut app.terminal_output))?;
        backend.flush()?;
    }
    Ok(())
}

/// Runs the integrity check on a second thread while this one draws its progress. A quit typed
/// meanwhile is carried out when it ends; a signal that ends the browser is returned.
fn run_check(
    terminal: &mut Term,
    input: &mut Input,
    app: &mut App,
    progress: Arc<Progress>,
) -> io::Result<Option<i32>> {
    let shown: &App = app;
    let mut quit_after = false;
    let mut signal = None;
    let result = std::thread::scope(|scope| -> io::Result<Result<crate::CheckReport, String>> {
        let store = &shown.store;
        let worker_progress = progress.clone();
        let worker = scope
            .spawn(move || store.check_with_progress(&mut |done, total| worker_progress.set(done, total)));
        while !worker.is_finished() {
            terminal.draw(|frame| ui::render(shown, frame))?;
            // The check cannot be stopped halfway: keys typed meanwhile are dropped, except a
            // quit, which is carried out when it ends.
            let batch = input.wait(Some(CHECK_REDRAW))?;
            quit_after |= batch.events.iter().any(|event| {
                matches!(event, crossterm::event::Event::Key(key) if shown.config.keys.action(key) == Some(action::Action::Quit))
            });
            if let Some(Signal::Quit(number)) = batch.signal {
                signal = Some(number);
            }
        }
        Ok(match worker.join() {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the check stopped on an internal error".to_owned()),
        })
    })?;
    app.finish_check(result);
    app.quit |= quit_after;
    Ok(signal)
}
