//! Live follow: the browser polls the store on the event loop's tick and, when a commit it has not
//! seen lands (another process's, through a read-only handle, or its own), moves the handle to
//! it and reads the screen again (`App::follow` in `app.rs`). This file holds what that needs
//! besides the screen: when to poll, whether the store moved on, which of the keys on screen
//! changed, and the badge in the header.
//!
//! Polling is cheap: [`KVStore::data_version`] reads a counter. Only when it moves is a
//! read-only handle refreshed: the newest commit on disk is opened again by path, as
//! [`KVStore::refresh`] does (so a file replaced by a compaction is picked up), but on a thread
//! of its own, since replaying a long log takes seconds; the screen goes on meanwhile and the new
//! handle is swapped in when it is ready. On a read-only handle `data_version` moves whenever any
//! process commits, checkpoints or compacts (it looks at the files), so nothing is refreshed
//! while nothing changes.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{KVStore, OpenOptions, Result, Snapshot};

/// The most often the store is polled: four times a second keeps a commit's way to the screen
/// under a second without the browser doing anything measurable while nothing changes.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(250);
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

/// What one poll found.
pub(crate) enum Poll {
    /// Nothing new (or it was not time to look, or a refresh is still running).
    Same,
    /// The handle moved on; `shown` is the state the screen shows, taken before it did (for the
    /// writable handle, which moves with its own commits, it is already the new one). `by_hand`:
    /// `r` asked for it.
    Moved { shown: Snapshot, by_hand: bool },
    /// The refresh failed; the handle still reads what it read before.
    Failed(String),
}

/// A refresh running on a thread of its own: opening the newest commit replays the log after
/// the last checkpoint, which takes seconds when the writer has not checkpointed for a while
/// (up to 64 MiB of log by default), so the screen goes on with the old handle meanwhile.
#[derive(Debug)]
struct Pending {
    handle: mpsc::Receiver<std::result::Result<KVStore, String>>,
    started: Instant,
    /// `data_version` said the store moved on (without it, the fallback compares commits).
    version_moved: bool,
    by_hand: bool,
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
    /// A refresh has been running longer than [`SLOW_REFRESH`] (the badge says so).
    pub slow: bool,
    /// How long a poll that starts a refresh waits for it before leaving it to run: most
    /// refreshes take a millisecond, and showing them at once saves a tick.
    pub wait_for_refresh: Duration,
    /// The page cache of the handles refreshes open.
    cache_bytes: usize,
    /// `data_version` when the screen was last read.
    seen_version: u64,
    last_poll: Option<Instant>,
    retry_at: Option<Instant>,
    pending: Option<Pending>,
}

/// How long a refresh runs before the badge says it is catching up.
pub(crate) const SLOW_REFRESH: Duration = Duration::from_millis(500);
/// The default of [`Live::wait_for_refresh`].
const WAIT_FOR_REFRESH: Duration = Duration::from_millis(20);

impl Live {
    /// Following `store`; refreshes open read-only handles with a cache of `cache_bytes`.
    pub(crate) fn new(store: &KVStore, cache_bytes: usize) -> Live {
        Live {
            following: true,
            last_commit: None,
            error: None,
            marks: BTreeMap::new(),
            slow: false,
            wait_for_refresh: WAIT_FOR_REFRESH,
            cache_bytes,
            seen_version: store.data_version(),
            last_poll: None,
            retry_at: None,
            pending: None,
        }
    }

    /// Whether a refresh is running or a poll is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.pending.is_some()
            || (self.following
                && self.last_poll.is_none_or(|t| now.saturating_duration_since(t) >= POLL_EVERY)
                && self.retry_at.is_none_or(|t| now >= t))
    }

    /// `r`: read the newest commit now, following or not. A read-only handle is refreshed as a
    /// poll does it (the answer comes from [`Live::poll`]); the writable handle reads its own
    /// commits already: `Some(shown)` at once.
    pub(crate) fn reload_by_hand(&mut self, store: &KVStore, now: Instant) -> Option<Snapshot> {
        if !store.is_read_only() {
            self.seen_version = store.data_version();
            return Some(store.snapshot());
        }
        match &mut self.pending {
            Some(pending) => pending.by_hand = true,
            None => self.start_refresh(store, now, true, true),
        }
        None
    }

    /// Looks for a commit the screen does not show: starts a refresh when the store moved on
    /// (or the fallback says to look), and hands over a refresh that finished. Call when
    /// [`Live::due`].
    pub(crate) fn poll(&mut self, store: &mut KVStore, now: Instant) -> Poll {
        if self.pending.is_none() {
            self.last_poll = Some(now);
            let version_moved = store.data_version() != self.seen_version;
            if !store.is_read_only() {
                // Nothing but the browser writes beside its writable handle, which reads its
                // own commits at once.
                self.seen_version = store.data_version();
                return if version_moved {
                    Poll::Moved { shown: store.snapshot(), by_hand: false }
                } else {
                    Poll::Same
                };
            }
            if !version_moved {
                return Poll::Same;
            }
            self.start_refresh(store, now, version_moved, false);
        }
        self.finish_refresh(store, now)
    }

    /// Opens the newest commit on a thread of its own, by path, as [`KVStore::refresh`] does (so
    /// a file a compaction replaced is the one opened).
    fn start_refresh(&mut self, store: &KVStore, now: Instant, version_moved: bool, by_hand: bool) {
        let (send, handle) = mpsc::channel();
        let path = store.path().to_owned();
        let cache_bytes = self.cache_bytes;
        std::thread::spawn(move || {
            let opened =
                OpenOptions::new().read_only(true).create(false).cache_bytes(cache_bytes).open(&path);
            let opened = opened.map_err(|e| e.to_string());
            // The browser may have quit meanwhile: nobody to tell.
            let _ = send.send(opened);
        });
        self.pending = Some(Pending { handle, started: now, version_moved, by_hand });
    }

    /// Swaps in the handle a refresh opened, once it is there.
    fn finish_refresh(&mut self, store: &mut KVStore, now: Instant) -> Poll {
        let Some(pending) = &self.pending else { return Poll::Same };
        let opened = match pending.handle.recv_timeout(self.wait_for_refresh) {
            Ok(opened) => opened,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.slow = now.saturating_duration_since(pending.started) >= SLOW_REFRESH;
                return Poll::Same;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("the refresh stopped".to_owned()),
        };
        let Some(pending) = self.pending.take() else { return Poll::Same };
        self.slow = false;
        match opened {
            Ok(newer) => {
                let shown = store.snapshot();
                *store = newer;
                self.seen_version = store.data_version();
                self.retry_at = None;
                self.error = None;
                if pending.by_hand || pending.version_moved {
                    Poll::Moved { shown, by_hand: pending.by_hand }
                } else {
                    Poll::Same
                }
            }
            Err(text) => {
                self.retry_at = Some(now + RETRY_AFTER_ERROR);
                self.error = Some(text.clone());
                Poll::Failed(text)
            }
        }
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
        self.retry_at = None;
        if self.following { "following commits again" } else { "paused: r reloads by hand" }
    }

    /// The header's badge: `live`, with the time of the last commit seen, `paused`, catching up
    /// with a long log, or the refresh error.
    pub(crate) fn badge(&self) -> (String, BadgeKind) {
        if !self.following {
            return (" ‖ paused ".to_owned(), BadgeKind::Paused);
        }
        if self.error.is_some() {
            return (" ● live: refresh failed ".to_owned(), BadgeKind::Error);
        }
        if self.slow {
            return (" ● live: reading the newest commit… ".to_owned(), BadgeKind::Live);
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
