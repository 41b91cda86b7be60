//! Operations, reopens, power cuts and injected I/O faults against a `BTreeMap` model. See
//! `wind_kvstore::test_support::fuzz_harness::model_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wind_kvstore::test_support::fuzz_harness::model_ops(data);
});
