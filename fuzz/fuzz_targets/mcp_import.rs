//! Fuzz target `mcp_import`: see `govern::fuzzing::mcp_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::mcp_import(data) {
        panic!("{bug}");
    }
});
