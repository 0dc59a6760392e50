//! Fuzz target `parse`: see `govern::fuzzing::parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::parse(data) {
        panic!("{bug}");
    }
});
