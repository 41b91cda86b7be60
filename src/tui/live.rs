//! Live follow: the browser polls the store on the event loop's tick and, when a commit it has not
//! seen lands (another process's, through a read-only handle, or its own), moves the handle to
//! it and reads the screen again (`App::follow` in `app.rs`). This file holds what that needs
//! besides the screen: when to poll, whether the store moved on, which of the keys on screen
//! changed, and the badge in the header.
//!
//! Polling is cheap: [`KVStore::data_version`] reads a counter. Only when it moves does the
//! handle [`KVStore::refresh`] (for a read-only handle: open the newest commit on disk again, by
//! path, so a file replaced by a compaction is picked up). Until `data_version` notices other
//! processes' commits on a read-only handle, [`Live::fallback_refresh`] refreshes such a handle
//! at most once per [`FALLBACK_REFRESH`] and compares the newest commit before and after.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{KVStore, Result, Snapshot, Stats};

/// The most often the store is polled: four times a second keeps a commit's way to the screen
/// under a second without the browser doing anything measurable while nothing changes.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(250);
/// The most often a read-only handle is refreshed only to look for new commits (the fallback
/// below): a refresh opens the file again and replays its log, so not at every poll.
pub(crate) const FALLBACK_REFRESH: Duration = Duration::from_secs(1);
/// After a failed refresh, the next try waits this long, so a damaged or missing file is not
/// opened four times a second and its error not repeated as often.
pub(crate) const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);
/// How long a key that changed stays marked.
pub(crate) const MARK_FOR: Duration = Duration::from_secs(2);
/// Values of the same length are compared on at most this many bytes from their start: a
/// change beyond it, in a value that kept its length, is not marked (it is still shown).
pub(crate) const COMPARE_BYTES: usize = 16 * 1024;

/// What happened to a key on screen since the last commit the browser showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Updated,
}

/// The newest commit a handle reads, as its statistics tell it. A compaction replaces the file
/// without a new commit, so the file's shape is part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CommitMark {
    last_commit_seq: u64,
    checkpoint_seq: u64,
    key_count: u64,
    page_count: u64,
    file_bytes: u64,
}

impl CommitMark {
    fn of(stats: &Stats) -> CommitMark {
        CommitMark {
            last_commit_seq: stats.last_commit_seq,
            checkpoint_seq: stats.checkpoint_seq,
            key_count: stats.key_count,
            page_count: stats.page_count,
            file_bytes: stats.file_bytes,
        }
    }
}

/// What one poll found.
pub(crate) enum Poll {
    /// Nothing new (or it was not time to look).
    Same,
    /// The handle moved on; the snapshot is the state the screen shows, taken before it did
    /// (for the writable handle, which moves with its own commits, it is already the new one).
    Moved(Snapshot),
    /// The refresh failed; the handle still reads what it read before.
    Failed(String),
}

/// The state of live follow.
#[derive(Debug)]
pub(crate) struct Live {
    /// Following (the default) or paused by the user.
    pub following: bool,
    /// When the last commit was seen (wall clock), if one was since the browser opened.
    pub last_commit: Option<SystemTime>,
    /// The last refresh's error, until a refresh succeeds.
    pub error: Option<String>,
    /// Keys on screen that changed, with when they were marked.
    pub marks: BTreeMap<Vec<u8>, (Change, Instant)>,
    /// `data_version` when the screen was last read.
    seen_version: u64,
    last_poll: Option<Instant>,
    last_fallback: Option<Instant>,
    retry_at: Option<Instant>,
}

impl Live {
    pub(crate) fn new(store: &KVStore) -> Live {
        Live {
            following: true,
            last_commit: None,
            error: None,
            marks: BTreeMap::new(),
            seen_version: store.data_version(),
            last_poll: None,
            last_fallback: None,
            retry_at: None,
        }
    }

    /// The screen was read again at `store`'s newest state (after the browser's own write or `r`).
    pub(crate) fn seen(&mut self, store: &KVStore) {
        self.seen_version = store.data_version();
    }

    /// Whether a poll is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.following
            && self.last_poll.is_none_or(|t| now.saturating_duration_since(t) >= POLL_EVERY)
            && self.retry_at.is_none_or(|t| now >= t)
    }

    /// Looks for a commit the screen does not show and moves the handle to it. Call when
    /// [`Live::due`].
    pub(crate) fn poll(&mut self, store: &mut KVStore, now: Instant) -> Poll {
        self.last_poll = Some(now);
        let result = if store.data_version() == self.seen_version {
            self.fallback_refresh(store, now)
        } else {
            let shown = store.snapshot();
            store.refresh().map(|()| Some(shown))
        };
        match result {
            Ok(moved) => {
                self.seen_version = store.data_version();
                self.retry_at = None;
                self.error = None;
                moved.map_or(Poll::Same, Poll::Moved)
            }
            Err(e) => {
                self.retry_at = Some(now + RETRY_AFTER_ERROR);
                let text = e.to_string();
                self.error = Some(text.clone());
                Poll::Failed(text)
            }
        }
    }

    /// FALLBACK, to go when `data_version` changes on a read-only handle whenever any process
    /// commits: today it changes only when this handle's state does, so a read-only handle is
    /// refreshed at most once per [`FALLBACK_REFRESH`] and the newest commit compared before
    /// and after. `Some(shown)` when the handle moved on; a writable handle is never refreshed
    /// here (nothing but the browser can write beside it).
    fn fallback_refresh(&mut self, store: &mut KVStore, now: Instant) -> Result<Option<Snapshot>> {
        if !store.is_read_only()
            || self.last_fallback.is_some_and(|t| now.saturating_duration_since(t) < FALLBACK_REFRESH)
        {
            return Ok(None);
        }
        self.last_fallback = Some(now);
        let before = CommitMark::of(&store.stats());
        let shown = store.snapshot();
        store.refresh()?;
        Ok((CommitMark::of(&store.stats()) != before).then_some(shown))
    }

    /// Drops the marks older than [`MARK_FOR`]; `true` when one went.
    pub(crate) fn expire(&mut self, now: Instant) -> bool {
        let before = self.marks.len();
        self.marks.retain(|_, (_, at)| now.saturating_duration_since(*at) < MARK_FOR);
        self.marks.len() != before
    }

    pub(crate) fn mark(&self, key: &[u8]) -> Option<Change> {
        self.marks.get(key).map(|(change, _)| *change)
    }

    /// Pauses or resumes; returns the message that says which.
    pub(crate) fn toggle(&mut self) -> &'static str {
        self.following = !self.following;
        // Resuming polls at once.
        self.last_poll = None;
        self.last_fallback = None;
        self.retry_at = None;
        if self.following { "following commits again" } else { "paused: r reloads by hand" }
    }

    /// The header's badge: `live`, with the time of the last commit seen, `paused`, or the
    /// refresh error.
    pub(crate) fn badge(&self) -> (String, BadgeKind) {
        if !self.following {
            return (" ‖ paused ".to_owned(), BadgeKind::Paused);
        }
        if self.error.is_some() {
            return (" ● live: refresh failed ".to_owned(), BadgeKind::Error);
        }
        match self.last_commit {
            Some(at) => (format!(" ● live {} ", clock_utc(at)), BadgeKind::Live),
            None => (" ● live ".to_owned(), BadgeKind::Live),
        }
    }
}

/// How the badge is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadgeKind {
    Live,
    Paused,
    Error,
}

/// What happened to `key` (whose value is now `value_len` bytes long) between `shown` and
/// `store`'s state: added, updated, or nothing.
pub(crate) fn change(
    shown: &Snapshot,
    store: &KVStore,
    key: &[u8],
    value_len: u64,
) -> Result<Option<Change>> {
    Ok(match shown.value_len(key)? {
        None => Some(Change::Added),
        Some(len) if len != value_len => Some(Change::Updated),
        Some(_) => {
            let before = shown.get_prefix(key, COMPARE_BYTES)?;
            let after = store.get_prefix(key, COMPARE_BYTES)?;
            (before != after).then_some(Change::Updated)
        }
    })
}

/// `at` as `HH:MM:SS UTC` (the browser has no time-zone database).
pub(crate) fn clock_utc(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_time_of_day() {
        let at = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 16 * 3600 + 51 * 60 + 3);
        assert_eq!(clock_utc(at), "16:51:03 UTC");
        assert_eq!(clock_utc(UNIX_EPOCH), "00:00:00 UTC");
    }
}
