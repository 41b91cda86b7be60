//! Finding keys: the key filter (prefix, substring or glob), the work that counts its matches,
//! and the search in values. Counting and searching run a slice at a time between events (see
//! [`Job`]), so a store of millions of keys stays responsive, shows progress, and Esc stops them.

use std::ops::Bound;
use std::time::{Duration, Instant};

use crate::{KVStore, Result};

/// How the filter's pattern is matched against keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FilterMode {
    /// Keys starting with the pattern: one descent of the tree.
    #[default]
    Prefix,
    /// Keys containing the pattern anywhere.
    Substring,
    /// The whole key matches the pattern, `*` standing for any bytes and `?` for one.
    Glob,
}

impl FilterMode {
    pub(crate) fn next(self) -> FilterMode {
        match self {
            FilterMode::Prefix => FilterMode::Substring,
            FilterMode::Substring => FilterMode::Glob,
            FilterMode::Glob => FilterMode::Prefix,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            FilterMode::Prefix => "prefix",
            FilterMode::Substring => "contains",
            FilterMode::Glob => "glob",
        }
    }
}

/// The filter in force: a mode and a pattern (empty: every key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Filter {
    pub mode: FilterMode,
    pub pattern: Vec<u8>,
}

impl Filter {
    pub(crate) fn is_empty(&self) -> bool {
        self.pattern.is_empty()
    }

    /// The prefix every matching key has: the pattern (prefix mode), the part of a glob before
    /// its first wildcard, nothing for a substring.
    pub(crate) fn range_prefix(&self) -> &[u8] {
        match self.mode {
            FilterMode::Prefix => &self.pattern,
            FilterMode::Substring => &[],
            FilterMode::Glob => {
                let end =
                    self.pattern.iter().position(|b| matches!(b, b'*' | b'?')).unwrap_or(self.pattern.len());
                &self.pattern[..end]
            }
        }
    }

    /// Whether `key` matches (keys outside [`Filter::range_prefix`] are never offered).
    pub(crate) fn matches(&self, key: &[u8]) -> bool {
        match self.mode {
            FilterMode::Prefix => key.starts_with(&self.pattern),
            FilterMode::Substring => contains(key, &self.pattern),
            FilterMode::Glob => glob_match(&self.pattern, key),
        }
    }

    /// Whether every key in the range matches, so no key needs testing.
    pub(crate) fn range_is_exact(&self) -> bool {
        match self.mode {
            FilterMode::Prefix => true,
            FilterMode::Substring => self.pattern.is_empty(),
            FilterMode::Glob => false,
        }
    }

    /// The range of keys with [`Filter::range_prefix`].
    pub(crate) fn bounds(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let prefix = self.range_prefix();
        let start = if prefix.is_empty() { Bound::Unbounded } else { Bound::Included(prefix.to_vec()) };
        (start, prefix_end(prefix))
    }
}

/// The first key after every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Whether `needle` occurs in `haystack` (an empty needle always does).
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `*` any bytes (none too), `?` one byte, `\` takes the next byte literally; the whole of
/// `text` must match. Iterative, with one backtrack point: linear in practice.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                t += 1;
                continue;
            }
            Some(b'\\') if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                p += 2;
                t += 1;
                continue;
            }
            Some(&c) if c != b'\\' && c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Keys one slice of work reads at most.
const SLICE_KEYS: usize = 20_000;
/// Time one slice of work takes at most.
const SLICE_TIME: Duration = Duration::from_millis(15);
/// Values the search reads at most this much of (a match further in is not found).
pub(crate) const VALUE_SEARCH_BYTES: usize = 1 << 20;
/// Matches the search collects at most.
pub(crate) const VALUE_SEARCH_MAX_MATCHES: usize = 1_000;

/// Counting the filter's matches, and how many come before a key.
#[derive(Debug, Clone)]
pub(crate) struct CountJob {
    pub filter: Filter,
    /// The key whose position is wanted, if any.
    pub anchor: Option<Vec<u8>>,
    /// The total is wanted too; without it the count stops at the anchor.
    pub need_total: bool,
    resume: Bound<Vec<u8>>,
    pub counted: u64,
    pub before_anchor: u64,
    pub done: bool,
}

impl CountJob {
    pub(crate) fn new(filter: Filter, anchor: Option<Vec<u8>>, need_total: bool) -> CountJob {
        let resume = filter.bounds().0;
        CountJob { filter, anchor, need_total, resume, counted: 0, before_anchor: 0, done: false }
    }

    /// Counts on for one slice.
    pub(crate) fn step(&mut self, store: &KVStore) -> Result<()> {
        let started = Instant::now();
        let end = self.filter.bounds().1;
        let exact = self.filter.range_is_exact();
        let mut seen = 0;
        let mut last = None;
        for item in store.keys(self.resume.clone(), end) {
            let (key, _) = item?;
            if !self.need_total && self.anchor.as_ref().is_none_or(|a| key >= *a) {
                self.done = true;
                return Ok(());
            }
            if exact || self.filter.matches(&key) {
                self.counted += 1;
                if self.anchor.as_ref().is_some_and(|a| key < *a) {
                    self.before_anchor += 1;
                }
            }
            seen += 1;
            last = Some(key);
            if seen >= SLICE_KEYS || started.elapsed() >= SLICE_TIME {
                break;
            }
        }
        match last {
            Some(key) if seen >= SLICE_KEYS || started.elapsed() >= SLICE_TIME => {
                self.resume = Bound::Excluded(key);
            }
            _ => self.done = true,
        }
        Ok(())
    }
}

/// A search for bytes in the values of the keys the filter selects.
#[derive(Debug, Clone)]
pub(crate) struct ValueSearch {
    pub needle: Vec<u8>,
    pub filter: Filter,
    resume: Bound<Vec<u8>>,
    /// Keys looked at so far.
    pub searched: u64,
    pub matches: Vec<Vec<u8>>,
    /// More matches than [`VALUE_SEARCH_MAX_MATCHES`] exist.
    pub capped: bool,
    pub done: bool,
    pub error: Option<String>,
}

impl ValueSearch {
    pub(crate) fn new(needle: Vec<u8>, filter: Filter) -> ValueSearch {
        let resume = filter.bounds().0;
        ValueSearch {
            needle,
            filter,
            resume,
            searched: 0,
            matches: Vec::new(),
            capped: false,
            done: false,
            error: None,
        }
    }

    /// Searches on for one slice.
    pub(crate) fn step(&mut self, store: &KVStore) {
        if let Err(e) = self.try_step(store) {
            self.error = Some(e.to_string());
            self.done = true;
        }
    }

    fn try_step(&mut self, store: &KVStore) -> Result<()> {
        let started = Instant::now();
        let end = self.filter.bounds().1;
        let mut seen = 0usize;
        let mut last = None;
        let mut keys = store.keys(self.resume.clone(), end);
        for item in keys.by_ref() {
            let (key, _) = item?;
            seen += 1;
            self.searched += 1;
            if self.filter.matches(&key)
                && let Some(value) = store.get_prefix(&key, VALUE_SEARCH_BYTES)?
                && contains(&value, &self.needle)
            {
                if self.matches.len() >= VALUE_SEARCH_MAX_MATCHES {
                    self.capped = true;
                    self.done = true;
                    return Ok(());
                }
                self.matches.push(key.clone());
            }
            last = Some(key);
            if seen >= SLICE_KEYS / 4 || started.elapsed() >= SLICE_TIME {
                break;
            }
        }
        match last {
            Some(key) if seen >= SLICE_KEYS / 4 || started.elapsed() >= SLICE_TIME => {
                self.resume = Bound::Excluded(key);
            }
            _ => self.done = true,
        }
        Ok(())
    }
}

/// The value search overlay.
#[derive(Debug, Default)]
pub(crate) struct SearchView {
    /// What is being typed (before the search starts).
    pub text: String,
    /// The search, once started.
    pub job: Option<ValueSearch>,
    /// The selected match.
    pub selected: usize,
    /// The search was stopped with Esc before it ended.
    pub stopped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"user:*", b"user:0001"));
        assert!(glob_match(b"*:00?1", b"user:0011"));
        assert!(!glob_match(b"*:00?1", b"user:0012"));
        assert!(glob_match(b"a*b*c", b"axxbyyc"));
        assert!(!glob_match(b"a*b*c", b"axxbyy"));
        assert!(glob_match(b"\\*x", b"*x"));
        assert!(!glob_match(b"\\*x", b"ax"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"", b""));
        assert!(!glob_match(b"", b"a"));
    }

    #[test]
    fn ranges() {
        let glob = Filter { mode: FilterMode::Glob, pattern: b"city:*a".to_vec() };
        assert_eq!(glob.range_prefix(), b"city:");
        let sub = Filter { mode: FilterMode::Substring, pattern: b"ber".to_vec() };
        assert_eq!(sub.range_prefix(), b"");
        assert!(sub.matches(b"city:berlin") && !sub.matches(b"city:oslo"));
        assert_eq!(prefix_end(b"a\xff\xff"), Bound::Excluded(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), Bound::Unbounded);
    }
}
