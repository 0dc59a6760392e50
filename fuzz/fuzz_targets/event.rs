//! Fuzz target `event`: see `govern::fuzzing::event`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::event(data) {
        panic!("{bug}");
    }
});
