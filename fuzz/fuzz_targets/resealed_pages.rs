//! Change fields of one page of a real store and recompute that page's checksum, so the damage
//! gets past the checksum to the decoders' invariant checks; then open the store and use it:
//! errors are fine, a panic, a hang or an abort is a bug.
//! See `wind_kvstore::test_support::fuzz_harness::resealed_pages`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wind_kvstore::test_support::fuzz_harness::resealed_pages(data);
});
