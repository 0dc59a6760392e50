//! Fuzz target `functions`: see `govern::fuzzing::functions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::functions(data) {
        panic!("{bug}");
    }
});
