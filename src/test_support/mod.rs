//! Support for the crash tests and the fuzzers (feature `fault-injection`): nothing in a normal
//! build has it. The fault-injecting file system itself is [`crate::io::faulty`].

pub mod fuzz_harness;
