//! Fuzz target `mcp_log`: see `govern::fuzzing::mcp_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::mcp_log(data) {
        panic!("{bug}");
    }
});
