//! `wkstore-tui DB --exec "..."`: runs statements without a screen. Answers go to stdout, one
//! per statement; diagnostics go to stderr; the exit status says how it went (see the `EXIT_`
//! constants). Writes are batched as [`crate::command::ScriptRunner`] documents.

use std::io::{Read, Write};
use std::path::PathBuf;

use super::{
    EXIT_DAMAGED, EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, recovery_notice, status_after_recovery,
};
use crate::OpenOptions;
use crate::command::{CommandError, Console, Outcome, ScriptRunner, error_to_json, statements};

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// The shell's text, as people read it.
    #[default]
    Text,
    /// One JSON object per line, per statement.
    Json,
}

/// Where the statements come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// `--exec "STMT; STMT"`.
    Inline(String),
    /// `--exec-file FILE`.
    File(PathBuf),
    /// `--exec-file -`.
    Stdin,
}

/// What `--exec` was asked to do.
#[derive(Debug, Clone)]
pub struct Headless {
    /// The store to open; created if missing, unless `read_only`.
    pub db: PathBuf,
    /// Where the statements come from.
    pub script: Script,
    /// How answers and diagnostics are printed.
    pub format: Format,
    /// Open the store read-only; a missing store is then an error, not created.
    pub read_only: bool,
    /// Run on after a failed statement instead of stopping.
    pub keep_going: bool,
}

/// Prints answers and diagnostics in the chosen format and remembers what the exit status needs.
struct Printer<'a> {
    format: Format,
    stdout: &'a mut dyn Write,
    stderr: &'a mut dyn Write,
    failed: bool,
    damaged: bool,
    /// stdout could not be written (a closed pipe): stop running statements.
    broken: bool,
}

impl Printer<'_> {
    fn error(&mut self, error: &CommandError, at: Option<crate::command::Position>) {
        self.failed = true;
        // Keep answers and diagnostics in order on a shared terminal.
        let _ = self.stdout.flush();
        let _ = match self.format {
            Format::Text => match (error, at) {
                (CommandError::Parse(_), _) | (_, None) => writeln!(self.stderr, "Error: {error}"),
                (_, Some(at)) => writeln!(self.stderr, "Error: line {}: {error}", at.line),
            },
            Format::Json => writeln!(self.stderr, "{}", error_to_json(error, at)),
        };
        let _ = self.stderr.flush();
    }

    fn outcome(&mut self, outcome: Outcome) {
        match outcome.result {
            Ok(output) => {
                self.damaged |= output.found_damage();
                let written = match self.format {
                    Format::Text => writeln!(self.stdout, "{output}"),
                    Format::Json => writeln!(self.stdout, "{}", output.to_json()),
                };
                if written.is_err() {
                    self.broken = true;
                    self.failed = true;
                }
            }
            Err(error) => self.error(&error, Some(outcome.position)),
        }
    }

    /// What the open recovered from the log, before any answer; nothing when it is quiet.
    fn recovery(&mut self, report: &crate::RecoveryReport) {
        if report.is_quiet() {
            return;
        }
        let _ = match self.format {
            Format::Text => {
                recovery_notice(report).iter().try_for_each(|line| writeln!(self.stderr, "{line}"))
            }
            Format::Json => writeln!(
                self.stderr,
                "{}",
                serde_json::json!({
                    "kind": "recovery",
                    "data_may_be_missing": report.may_have_lost_data(),
                    "lines": report.lines(),
                })
            ),
        };
        let _ = self.stderr.flush();
    }

    fn usage(&mut self, message: &str) -> u8 {
        let _ = match self.format {
            Format::Text => writeln!(self.stderr, "Error: {message}"),
            Format::Json => {
                writeln!(self.stderr, "{}", serde_json::json!({"kind": "error", "message": message}))
            }
        };
        EXIT_USAGE
    }
}

fn read_script(script: &Script, stdin: &mut dyn Read) -> Result<String, String> {
    match script {
        Script::Inline(text) => Ok(text.clone()),
        Script::File(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display())).and_then(
                |bytes| String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display())),
            )
        }
        Script::Stdin => {
            let mut bytes = Vec::new();
            stdin.read_to_end(&mut bytes).map_err(|e| format!("cannot read standard input: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "standard input is not UTF-8 text".to_owned())
        }
    }
}

impl Headless {
    /// Runs the script and returns the exit status.
    pub fn run(&self, stdin: &mut dyn Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8 {
        let mut printer =
            Printer { format: self.format, stdout, stderr, failed: false, damaged: false, broken: false };
        let text = match read_script(&self.script, stdin) {
            Ok(text) => text,
            Err(message) => return printer.usage(&message),
        };

        let mut options = OpenOptions::new();
        if self.read_only {
            options.read_only(true).create(false);
        }
        let mut session = Console::new();
        if let Err(error) = session.open(&self.db, &options) {
            printer.error(&error, None);
            return if error.is_locked() { EXIT_LOCKED } else { EXIT_FAILED };
        }
        let report = session.store().map(|store| store.recovery_report().clone()).unwrap_or_default();
        printer.recovery(&report);

        let mut runner = ScriptRunner::new(self.keep_going);
        for item in statements(&text) {
            for outcome in runner.feed(&mut session, item) {
                printer.outcome(outcome);
            }
            if runner.stopped() || printer.broken {
                break;
            }
        }
        for outcome in runner.finish(&mut session) {
            printer.outcome(outcome);
        }
        if let Err(error) = session.close() {
            printer.error(&error, None);
        }
        if printer.stdout.flush().is_err() {
            printer.failed = true;
        }
        let status = if printer.failed {
            EXIT_FAILED
        } else if printer.damaged {
            EXIT_DAMAGED
        } else {
            EXIT_OK
        };
        status_after_recovery(&report, status)
    }
}
