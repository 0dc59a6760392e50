//! Fuzz target `decode`: see `govern::fuzzing::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::decode(data) {
        panic!("{bug}");
    }
});
