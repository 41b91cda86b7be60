//! Bounded forms of the fuzz targets in `fuzz/`: the same entry points, on inputs proptest
//! makes. `PROPTEST_CASES` (or `WK_CRASH_LONG=1`) runs more.

use proptest::prelude::*;
use wind_kvstore::test_support::fuzz_harness;

use crate::common::long_run;

fn cases(short: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(if long_run() {
        short * 20
    } else {
        short
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn open_arbitrary_bytes(mode in 0u8..=255, body in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut input = vec![mode];
        input.extend(body);
        fuzz_harness::open_bytes(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(150), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_operations_over_failing_io(input in prop::collection::vec(any::<u8>(), 1..400)) {
        fuzz_harness::model_ops(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(200), failure_persistence: None, ..ProptestConfig::default() })]

    /// One page of a real store changed at random (bytes, boundary values in its fields,
    /// swapped slots) with its checksum recomputed: errors, never a panic.
    #[test]
    fn resealed_page_damage(input in prop::collection::vec(any::<u8>(), 6..40)) {
        fuzz_harness::resealed_pages(&input);
    }
}
