//! `wkshell`: a line shell over the command language.
//!
//! On a terminal it edits lines with rustyline (history under the user's data directory,
//! completion of keywords and dot commands) and keeps reading lines, with the continuation prompt
//! `. . . > `, until a statement ends with `;`. Fed through a pipe it prints no prompt and no
//! banner, only the answers (and `Error: ...` lines on stderr), so a script of the original
//! shell's statements gives the original answers.

mod complete;
mod dot;

use std::io::{self, BufRead, IsTerminal as _, Write};
use std::path::{Path, PathBuf};

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};

use self::complete::ShellHelper;
use self::dot::{DOT_COMMANDS, DotCommand};
use crate::OpenOptions;
use crate::cli::{EXIT_FAILED, EXIT_LOCKED, EXIT_OK, recovery_notice};
use crate::command::{CommandError, Console, Output, Position, ScriptRunner, is_complete, statements_at};

/// The prompt while no store is open.
pub const PROMPT: &str = "KVStore > ";
/// The prompt for the further lines of an unfinished statement.
pub const CONTINUATION_PROMPT: &str = ". . . > ";
/// The question `.open` asks about a file that does not exist.
pub const CREATE_QUESTION: &str = "Database does not exist. Create new database? (y/n)";

/// Runs the shell on the process's terminal or pipes, opening `db` first when given. Returns the
/// exit status: 0, or when fed through a pipe 1 if any statement failed (4 if `db` is locked).
pub fn run(db: Option<PathBuf>) -> u8 {
    let stdin = io::stdin();
    let stdout = io::stdout();
    if stdin.is_terminal() {
        let styled = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        run_interactive(db, styled)
    } else {
        let mut out = io::BufWriter::new(stdout.lock());
        let status = run_piped(db.as_deref(), &mut stdin.lock(), &mut out, &mut io::stderr());
        let _ = out.flush();
        status
    }
}

/// What the loop should do after a dot command.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    Continue,
    Quit,
    ClearScreen,
}

/// The session and how its answers are printed; shared by the terminal and the pipe loops.
struct Shell<'a> {
    session: Console,
    runner: ScriptRunner,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    /// On a terminal the line editor shows questions as prompts; through a pipe the shell
    /// prints them with the answers.
    interactive: bool,
    failed: bool,
}

impl<'a> Shell<'a> {
    fn new(out: &'a mut dyn Write, err: &'a mut dyn Write, interactive: bool) -> Shell<'a> {
        // The shell reports a failed statement and goes on, like the original.
        Shell {
            session: Console::new(),
            runner: ScriptRunner::new(true),
            out,
            err,
            interactive,
            failed: false,
        }
    }

    fn answer(&mut self, output: &Output) {
        let _ = writeln!(self.out, "{output}");
    }

    fn error(&mut self, message: &dyn std::fmt::Display) {
        self.failed = true;
        let _ = self.out.flush();
        let _ = writeln!(self.err, "Error: {message}");
        let _ = self.err.flush();
    }

    fn report(&mut self, result: Result<Output, CommandError>) {
        match result {
            Ok(output) => self.answer(&output),
            Err(e) => self.error(&e),
        }
    }

    fn prompt(&self) -> String {
        match self.session.store().and_then(|s| s.path().file_name()) {
            Some(name) => format!("{} > ", name.to_string_lossy()),
            None => PROMPT.to_owned(),
        }
    }

    /// Runs the statements of `text`, whose first line is line `first_line` of the input.
    fn statements(&mut self, text: &str, first_line: u32) {
        for item in statements_at(text, Position { line: first_line, column: 1 }) {
            for outcome in self.runner.feed(&mut self.session, item) {
                self.report(outcome.result);
            }
        }
    }

    /// Commits batched writes and prints their answers.
    fn finish(&mut self) {
        for outcome in self.runner.finish(&mut self.session) {
            self.report(outcome.result);
        }
    }

    /// Opens `path`; a file that does not exist is created only when `ask` answers yes.
    fn open(&mut self, path: &str, ask: &mut dyn FnMut(&str) -> Option<String>) -> Result<(), CommandError> {
        let path = Path::new(path);
        let mut options = OpenOptions::new();
        if path.exists() {
            options.create(false);
        } else {
            if !self.interactive {
                let _ = writeln!(self.out, "{CREATE_QUESTION}");
            }
            let answer = ask(CREATE_QUESTION).unwrap_or_default();
            if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                let _ = writeln!(self.out, "Database not opened");
                return Ok(());
            }
        }
        let opened = self.session.open(path, &options)?;
        self.answer(&opened);
        self.recovery();
        Ok(())
    }

    /// What the open of the current store recovered from its log, on stderr; nothing when the
    /// report is quiet.
    fn recovery(&mut self) {
        let Some(store) = self.session.store() else { return };
        let lines = recovery_notice(store.recovery_report());
        if lines.is_empty() {
            return;
        }
        let _ = self.out.flush();
        for line in lines {
            let _ = writeln!(self.err, "{line}");
        }
        let _ = self.err.flush();
    }

    fn dot(&mut self, line: &str, ask: &mut dyn FnMut(&str) -> Option<String>) -> Control {
        self.finish();
        let command = match dot::parse(line) {
            Ok(command) => command,
            Err(message) => {
                self.error(&message);
                return Control::Continue;
            }
        };
        match command {
            DotCommand::Open(path) => {
                if let Err(e) = self.open(&path, ask) {
                    self.error(&e);
                }
            }
            DotCommand::Close => {
                let result = self.session.close();
                self.report(result);
            }
            DotCommand::Help => {
                let _ = writeln!(self.out, "Shell commands:");
                for command in DOT_COMMANDS {
                    let usage = format!("{} {}", command.name, command.args);
                    let _ = writeln!(self.out, "  {:<38} {}", usage.trim_end(), command.summary);
                }
                self.answer(&Output::Help { topic: None });
            }
            DotCommand::Quit => return Control::Quit,
            DotCommand::Clear => return Control::ClearScreen,
            DotCommand::Title => {
                let _ = writeln!(self.out, "{}", banner(false));
            }
        }
        Control::Continue
    }

    /// Commits, closes the store cleanly and flushes.
    fn quit(&mut self) {
        self.finish();
        if self.session.is_open()
            && let Err(e) = self.session.close()
        {
            self.error(&e);
        }
        let _ = self.out.flush();
    }
}

/// The banner `.title` shows; bold on a terminal that takes colour.
fn banner(styled: bool) -> String {
    let title = format!("Wind-KVStore v{}", env!("CARGO_PKG_VERSION"));
    let title = if styled { format!("\x1b[1m{title}\x1b[0m") } else { title };
    format!(
        "{title}\nEnter statements ending with ';' (HELP; lists them), .help for shell commands, .quit to leave."
    )
}

/// Opens the store named on the command line (creating it when missing, like `KVStore::open`).
fn open_argument(shell: &mut Shell<'_>, db: &Path, announce: bool) -> Result<(), CommandError> {
    let opened = shell.session.open(db, &OpenOptions::new())?;
    if announce {
        shell.answer(&opened);
    }
    shell.recovery();
    Ok(())
}

/// The pipe loop: no prompts, answers only. Returns 1 when any statement failed.
fn run_piped(db: Option<&Path>, input: &mut dyn BufRead, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut shell = Shell::new(out, err, false);
    if let Some(db) = db
        && let Err(e) = open_argument(&mut shell, db, false)
    {
        shell.error(&e);
        return if e.is_locked() { EXIT_LOCKED } else { EXIT_FAILED };
    }
    let mut buffer = String::new();
    let mut buffer_line = 1u32;
    let mut line_no = 0u32;
    loop {
        let line = match next_line(input) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                shell.error(&format!("cannot read input: {e}"));
                break;
            }
        };
        line_no = line_no.saturating_add(1);
        if buffer.trim().is_empty() && line.trim_start().starts_with('.') {
            buffer.clear();
            let control = shell.dot(&line, &mut |_question: &str| next_line(input).ok().flatten());
            if control == Control::Quit {
                break;
            }
            continue;
        }
        if buffer.trim().is_empty() {
            buffer.clear();
            buffer_line = line_no;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if is_complete(&buffer) {
            shell.statements(&buffer, buffer_line);
            buffer.clear();
        }
    }
    // The last statement may end without ';' at the end of the input.
    if !buffer.trim().is_empty() {
        shell.statements(&buffer, buffer_line);
    }
    shell.quit();
    if shell.failed { EXIT_FAILED } else { EXIT_OK }
}

/// One line of input without its line ending; `None` at the end.
fn next_line(input: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if input.read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a line is not UTF-8 text"))
}

/// Where the shell keeps its history: `<data dir>/wind-kvstore/wkshell_history`.
fn history_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "wind-kvstore")?;
    let dir = dirs.data_dir();
    std::fs::create_dir_all(dir).ok()?;
    Some(dir.join("wkshell_history"))
}

/// The terminal loop.
fn run_interactive(db: Option<PathBuf>, styled: bool) -> u8 {
    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_or_else(|_| Config::default(), |b| b.build());
    let mut editor: Editor<ShellHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("Error: cannot set up the terminal: {e}");
            return EXIT_FAILED;
        }
    };
    editor.set_helper(Some(ShellHelper::new()));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }

    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut err = io::stderr();
    let mut shell = Shell::new(&mut out, &mut err, true);
    let _ = writeln!(shell.out, "{}", banner(styled));
    if let Some(db) = db
        && let Err(e) = open_argument(&mut shell, &db, true)
    {
        shell.error(&e);
    }

    let mut buffer = String::new();
    loop {
        let _ = shell.out.flush();
        let prompt = if buffer.is_empty() { shell.prompt() } else { CONTINUATION_PROMPT.to_owned() };
        match editor.readline(&prompt) {
            Ok(line) => {
                if buffer.is_empty() && line.trim_start().starts_with('.') {
                    let _ = editor.add_history_entry(line.trim());
                    let control =
                        shell.dot(&line, &mut |question: &str| editor.readline(&format!("{question} ")).ok());
                    match control {
                        Control::Quit => break,
                        Control::ClearScreen => {
                            let _ = editor.clear_screen();
                        }
                        Control::Continue => {}
                    }
                    continue;
                }
                if buffer.is_empty() && line.trim().is_empty() {
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if is_complete(&buffer) {
                    let _ = editor.add_history_entry(buffer.trim_end());
                    shell.statements(&buffer, 1);
                    shell.finish();
                    buffer.clear();
                }
            }
            // Ctrl-C drops the statement being typed.
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                shell.error(&e);
                break;
            }
        }
    }
    shell.quit();
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    EXIT_OK
}
