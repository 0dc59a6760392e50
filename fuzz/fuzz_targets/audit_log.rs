//! Fuzz target `audit_log`: see `govern::fuzzing::audit_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = govern::fuzzing::audit_log(data) {
        panic!("{bug}");
    }
});
