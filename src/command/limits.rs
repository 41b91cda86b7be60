//! The language's limits: what a statement returns when it names no `LIMIT`, and the most it
//! may ask for. The parser refuses a larger `LIMIT`; the executor applies the defaults.

/// Pairs `SCAN` lists when no `LIMIT` is given: a screenful or two, cheap to show.
pub const DEFAULT_SCAN_LIMIT: u64 = 100;
/// The most pairs one `SCAN` returns: it bounds the memory one statement holds. Larger listings
/// page with `FROM`.
pub const MAX_SCAN_LIMIT: u64 = 1_000_000;
/// Pages `PAGES` lists when no `LIMIT` is given.
pub const DEFAULT_PAGES_LIMIT: u64 = 100;
/// The most pages one `PAGES` lists (each one is read and decoded).
pub const MAX_PAGES_LIMIT: u64 = 100_000;
