//! What the programs share on the command line: their exit statuses, and running statements
//! from scripts (`wkstore-tui --exec`, piped `wkshell`).

pub mod headless;
pub mod salvage;

/// Every statement succeeded.
pub const EXIT_OK: u8 = 0;
/// A statement failed (or the store could not be opened, for another reason than a lock).
pub const EXIT_FAILED: u8 = 1;
/// The command line was wrong, or the script could not be read.
pub const EXIT_USAGE: u8 = 2;
/// `CHECK` found damage (and no statement failed).
pub const EXIT_DAMAGED: u8 = 3;
/// Another process holds the store's write lock.
pub const EXIT_LOCKED: u8 = 4;
