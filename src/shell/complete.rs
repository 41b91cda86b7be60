//! Tab completion: keywords of the language and dot commands, from the same tables the parser
//! and help use; file names after `.open`.

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use super::dot::DOT_COMMANDS;
use crate::command::{ends_inside_string, keywords_starting};

pub(crate) struct ShellHelper {
    files: FilenameCompleter,
}

impl ShellHelper {
    pub(crate) fn new() -> ShellHelper {
        ShellHelper { files: FilenameCompleter::new() }
    }
}

/// Completions for the word that ends at `pos`: where it starts, and the candidates. Nothing
/// inside a string literal.
pub(crate) fn complete_word(line: &str, pos: usize) -> (usize, Vec<String>) {
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let trimmed = before.trim_start();
    if trimmed.starts_with('.') && !trimmed.contains(char::is_whitespace) {
        let start = pos - trimmed.len();
        let lower = trimmed.to_ascii_lowercase();
        let names = DOT_COMMANDS.iter().map(|d| d.name).filter(|n| n.starts_with(&lower)).map(str::to_owned);
        return (start, names.collect());
    }
    if ends_inside_string(before) {
        return (pos, Vec::new());
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i);
    let word = &before[start..];
    if word.is_empty() {
        return (pos, Vec::new());
    }
    let lower_case = word.chars().all(|c| !c.is_ascii_uppercase());
    let candidates = keywords_starting(word)
        .map(|k| if lower_case { k.to_ascii_lowercase() } else { k.to_owned() })
        .collect();
    (start, candidates)
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        let open_path = trimmed.get(..5).is_some_and(|head| head.eq_ignore_ascii_case(".open"))
            && trimmed[5..].starts_with(' ');
        if open_path {
            return self.files.complete(line, pos, ctx);
        }
        let (start, words) = complete_word(line, pos);
        let pairs = words.into_iter().map(|w| Pair { display: w.clone(), replacement: w }).collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_complete_in_the_case_typed() {
        assert_eq!(complete_word("PU", 2), (0, vec!["PUT".to_owned()]));
        assert_eq!(complete_word("get wh", 6), (4, vec!["where".to_owned()]));
        let (start, mut words) = complete_word("SCAN P", 6);
        words.sort();
        assert_eq!(
            (start, words),
            (5, vec!["PAGE".to_owned(), "PAGES".to_owned(), "PREFIX".to_owned(), "PUT".to_owned()])
        );
        assert_eq!(complete_word("GET ", 4), (4, vec![]));
    }

    #[test]
    fn nothing_inside_strings() {
        assert_eq!(complete_word("PUT \"PU", 7), (7, vec![]));
        assert_eq!(complete_word("PUT \"a\\\"PU", 10), (10, vec![]));
        let line = "PUT \"a\":\"b\", \"c\":\"d\"; CO";
        assert_eq!(complete_word(line, line.len()).1, vec!["COMPACT".to_owned(), "COUNT".to_owned()]);
        assert_eq!(complete_word(line, line.len() + 5), (line.len() + 5, vec![]));
    }

    #[test]
    fn dot_commands_complete() {
        assert_eq!(complete_word(".cl", 3), (0, vec![".close".to_owned(), ".clear".to_owned()]));
        assert_eq!(complete_word("  .q", 4), (2, vec![".quit".to_owned()]));
    }
}
