//! Fuzz target `mcp_scan`: see `govern::fuzzing::mcp_scan`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::mcp_scan(data) {
        panic!("{bug}");
    }
});
