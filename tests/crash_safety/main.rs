//! Crash safety: a fault-injecting file system under the store (crash at every sync point,
//! failing syncs, a full disk), a SIGKILL loop on a real child process, torn and damaged logs
//! and data files, and bounded forms of the fuzz targets. See docs/DURABILITY.md.
//!
//! `WK_CRASH_LONG=1` runs the long campaign; `WK_CRASH_KILLS=n` sets the number of kills.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

mod common;
mod crash_points;
mod damage;
mod faults;
mod fuzz_props;
mod resealed;
mod sigkill;
