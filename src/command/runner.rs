//! Runs a script's statements in order, committing runs of consecutive `PUT` and `DEL`
//! statements together so a file of many writes does not pay one sync per statement.
//!
//! The promise, as `docs/COMMANDS.md` states it:
//! - Every statement answers exactly what it would answer run alone, in script order.
//! - Up to [`BATCH_MAX_STATEMENTS`] consecutive `PUT`/`DEL` statements (or
//!   [`BATCH_MAX_BYTES`] of keys and values) are committed as one atomic batch. Their answers are
//!   released only after that commit returned, so every answer a front-end has printed is
//!   durable (in the store's durability mode).
//! - Any other statement, a parse error and the end of the script first commit the writes
//!   before them, so reads see them and a failure leaves everything before it durable.
//! - If a batch commit fails, its statements are run again one by one, so the failing statement
//!   is found and reported exactly; the ones before it are committed, the run stops at it (or
//!   goes on past it with `keep_going`).
//! - A crash loses at most the uncommitted batch: a suffix of the writes whose answers were not
//!   yet released, never part of one statement.

use std::collections::HashMap;

use super::ast::{Located, Statement};
use super::error::{CommandError, ParseError};
use super::exec::Console;
use super::output::Output;
use super::position::Position;
use crate::WriteBatch;

/// Most write statements committed together: 100,000 statements then take 100 commits.
pub const BATCH_MAX_STATEMENTS: usize = 1000;
/// Most key and value bytes committed together, bounding the memory a batch holds.
pub const BATCH_MAX_BYTES: usize = 8 << 20;

/// The final answer for one statement (or for text that did not parse).
#[derive(Debug)]
pub struct Outcome {
    /// Where the statement starts (for parse errors, where the error is).
    pub position: Position,
    /// The statement's answer, or why it (or the text) failed.
    pub result: Result<Output, CommandError>,
}

struct Pending {
    located: Located,
    /// The answer it will have once committed.
    output: Output,
}

/// Feeds statements to a [`Console`] with write batching; see the module documentation.
pub struct ScriptRunner {
    keep_going: bool,
    stopped: bool,
    pending: Vec<Pending>,
    pending_bytes: usize,
    /// Whether each key written by the pending statements exists after them.
    overlay: HashMap<Vec<u8>, bool>,
}

impl ScriptRunner {
    /// `keep_going`: run on after a failed statement instead of stopping.
    pub fn new(keep_going: bool) -> ScriptRunner {
        ScriptRunner {
            keep_going,
            stopped: false,
            pending: Vec::new(),
            pending_bytes: 0,
            overlay: HashMap::new(),
        }
    }

    /// A statement failed and `keep_going` is off: later input is ignored.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Runs (or queues) one parsed item and returns the outcomes that are now final, in order.
    pub fn feed(&mut self, session: &mut Console, item: Result<Located, ParseError>) -> Vec<Outcome> {
        if self.stopped {
            return Vec::new();
        }
        let mut outcomes = Vec::new();
        let located = match item {
            Ok(located) => located,
            Err(e) => {
                self.commit(session, &mut outcomes);
                if !self.stopped {
                    outcomes.push(Outcome { position: e.position(), result: Err(CommandError::Parse(e)) });
                    self.stopped = !self.keep_going;
                }
                return outcomes;
            }
        };
        if let Some(output) = self.predict(session, &located.statement) {
            self.queue(located, output);
            if self.pending.len() >= BATCH_MAX_STATEMENTS || self.pending_bytes >= BATCH_MAX_BYTES {
                self.commit(session, &mut outcomes);
            }
            return outcomes;
        }
        self.commit(session, &mut outcomes);
        if !self.stopped {
            self.run_one(session, located, &mut outcomes);
        }
        outcomes
    }

    /// Commits what is queued and returns the last outcomes. Call at the end of the input, and
    /// before anything else touches the session's store (a shell's `.close`).
    pub fn finish(&mut self, session: &mut Console) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        self.commit(session, &mut outcomes);
        outcomes
    }

    /// The answer `statement` will have when committed after the pending ones, when it can be
    /// batched: a `PUT` or `DEL` with a store open whose key lookups succeed.
    fn predict(&self, session: &Console, statement: &Statement) -> Option<Output> {
        let store = session.store()?;
        match statement {
            Statement::Put { pairs } => Some(Output::Inserted { count: pairs.len() }),
            Statement::Del { key } => {
                let exists = match self.overlay.get(key) {
                    Some(exists) => *exists,
                    None => store.contains_key(key).ok()?,
                };
                Some(if exists {
                    Output::Deleted { key: key.clone() }
                } else {
                    Output::NotFound { key: key.clone() }
                })
            }
            _ => None,
        }
    }

    fn queue(&mut self, located: Located, output: Output) {
        match &located.statement {
            Statement::Put { pairs } => {
                for (key, value) in pairs {
                    self.pending_bytes += key.len() + value.len();
                    self.overlay.insert(key.clone(), true);
                }
            }
            Statement::Del { key } => {
                self.pending_bytes += key.len();
                self.overlay.insert(key.clone(), false);
            }
            _ => {}
        }
        self.pending.push(Pending { located, output });
    }

    fn run_one(&mut self, session: &mut Console, located: Located, outcomes: &mut Vec<Outcome>) {
        let result = session.execute(&located.statement);
        if result.is_err() && !self.keep_going {
            self.stopped = true;
        }
        outcomes.push(Outcome { position: located.position, result });
    }

    fn commit(&mut self, session: &mut Console, outcomes: &mut Vec<Outcome>) {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.overlay.clear();
        if pending.is_empty() {
            return;
        }
        let mut batch = WriteBatch::new();
        for p in &pending {
            match &p.located.statement {
                Statement::Put { pairs } => {
                    for (key, value) in pairs {
                        batch.put(key, value);
                    }
                }
                Statement::Del { key } => {
                    batch.delete(key);
                }
                _ => {}
            }
        }
        let committed = match session.store() {
            Some(store) => store.write(batch).is_ok(),
            None => false,
        };
        if committed {
            outcomes.extend(
                pending.into_iter().map(|p| Outcome { position: p.located.position, result: Ok(p.output) }),
            );
            return;
        }
        // Find the failing statement: run them one by one.
        for p in pending {
            if self.stopped {
                break;
            }
            self.run_one(session, p.located, outcomes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::statements;
    use crate::{KVStore, OpenOptions};

    fn session(dir: &std::path::Path) -> Console {
        let mut session = Console::new();
        session.open(&dir.join("r.db"), &OpenOptions::new()).unwrap();
        session
    }

    /// Feeds the whole script and returns each outcome as text or `Error: ...`.
    fn run(session: &mut Console, keep_going: bool, script: &str) -> Vec<String> {
        let mut runner = ScriptRunner::new(keep_going);
        let mut outcomes = Vec::new();
        for item in statements(script) {
            outcomes.extend(runner.feed(session, item));
            if runner.stopped() {
                break;
            }
        }
        outcomes.extend(runner.finish(session));
        outcomes
            .into_iter()
            .map(|o| match o.result {
                Ok(output) => output.to_string(),
                Err(e) => format!("Error: {e}"),
            })
            .collect()
    }

    #[test]
    fn batched_deletes_answer_as_if_run_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        s.store().unwrap().put("old", "x").unwrap();
        let answers = run(
            &mut s,
            false,
            "PUT \"a\":\"1\"; DEL WHERE KEY=\"a\"; DEL WHERE KEY=\"a\"; DEL WHERE KEY=\"old\"; \
             DEL WHERE KEY=\"never\"; PUT \"a\":\"2\"; DEL WHERE KEY=\"a\"; GET WHERE KEY=\"a\"; COUNT;",
        );
        assert_eq!(
            answers,
            [
                "Inserted 1 key-value pairs",
                "Key deleted",
                "Key not found",
                "Key deleted",
                "Key not found",
                "Inserted 1 key-value pairs",
                "Key deleted",
                "Key not found",
                "0"
            ]
        );
    }

    #[test]
    fn many_writes_are_committed_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        let script: String = (0..2500).map(|i| format!("PUT \"k{i:05}\":\"v{i}\";\n")).collect();
        let before = s.store().unwrap().stats().last_commit_seq;
        let answers = run(&mut s, false, &script);
        assert_eq!(answers.len(), 2500);
        assert!(answers.iter().all(|a| a == "Inserted 1 key-value pairs"));
        let commits = s.store().unwrap().stats().last_commit_seq - before;
        assert_eq!(commits, 3, "2500 statements in batches of {BATCH_MAX_STATEMENTS}");
        assert_eq!(s.store().unwrap().len().unwrap(), 2500);
    }

    #[test]
    fn a_failing_write_stops_the_run_and_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        let big = "k".repeat(s.store().unwrap().max_key_bytes() + 1);
        let script =
            format!("PUT \"a\":\"1\"; PUT \"b\":\"2\"; PUT \"{big}\":\"3\"; PUT \"c\":\"4\"; COUNT;");
        let answers = run(&mut s, false, &script);
        assert_eq!(answers.len(), 3, "{answers:?}");
        assert!(answers[2].starts_with("Error: key is"), "{answers:?}");
        let store = s.take_store().unwrap();
        store.close().unwrap();
        let store = KVStore::open(dir.path().join("r.db"), None).unwrap();
        let keys: Vec<_> = store.iter().map(|r| r.unwrap().0).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn keep_going_runs_past_failures() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        let big = "k".repeat(s.store().unwrap().max_key_bytes() + 1);
        let script =
            format!("PUT \"a\":\"1\"; PUT \"{big}\":\"3\"; GET WHERE KEY \"a\"; PUT \"c\":\"4\"; COUNT;");
        let answers = run(&mut s, true, &script);
        assert_eq!(answers.len(), 5, "{answers:?}");
        assert!(answers[1].starts_with("Error: key is"));
        let column = "PUT \"a\":\"1\"; PUT \"".len() + big.len() + "\":\"3\"; GET WHERE KEY ".len() + 1;
        assert_eq!(answers[2], format!("Error: line 1, column {column}: expected '=' after KEY"));
        assert_eq!(&answers[3..], ["Inserted 1 key-value pairs", "2"]);
    }

    #[test]
    fn a_parse_error_commits_the_writes_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        let answers = run(&mut s, false, "PUT \"a\":\"1\";\nPUT \"b\" \"2\";\nPUT \"c\":\"3\";");
        assert_eq!(
            answers,
            ["Inserted 1 key-value pairs", "Error: line 2, column 9: expected ':' between key and value"]
        );
        assert_eq!(s.store().unwrap().len().unwrap(), 1);
    }

    #[test]
    fn without_a_store_writes_fail_like_other_statements() {
        let mut s = Console::new();
        let answers = run(&mut s, true, "PUT \"a\":\"1\"; HELP PUT; DEL WHERE KEY=\"a\";");
        assert_eq!(answers[0], "Error: No database open. Use .open first");
        assert!(answers[1].starts_with("PUT key:value"));
        assert_eq!(answers[2], "Error: No database open. Use .open first");
    }
}
