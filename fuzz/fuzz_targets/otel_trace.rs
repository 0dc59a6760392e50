//! Fuzz target `otel_trace`: see `govern::fuzzing::otel_trace`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::otel_trace(data) {
        panic!("{bug}");
    }
});
