//! Open a store from arbitrary bytes (a data file, a log, or a real store mutated with its
//! checksums recomputed) and use it: errors are fine, a panic, a hang or an abort is a bug.
//! See `wind_kvstore::test_support::fuzz_harness::open_bytes`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wind_kvstore::test_support::fuzz_harness::open_bytes(data);
});
