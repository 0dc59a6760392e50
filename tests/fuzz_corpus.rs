//! Every saved fuzzing input replays here, through the same entry points the fuzzers call.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

fn replay(target: &str, run: fn(&[u8]) -> Result<(), String>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{target}: corpus too small");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if let Err(bug) = run(&data) {
            panic!("{}: {bug}", f.display());
        }
    }
}

#[test]
fn parse_corpus() {
    replay("parse", govern::fuzzing::parse);
}

#[test]
fn decode_corpus() {
    replay("decode", govern::fuzzing::decode);
}

#[test]
fn event_corpus() {
    replay("event", govern::fuzzing::event);
}

#[test]
fn functions_corpus() {
    replay("functions", govern::fuzzing::functions);
}

#[test]
fn mcp_log_corpus() {
    replay("mcp_log", govern::fuzzing::mcp_log);
}

#[test]
fn mcp_import_corpus() {
    replay("mcp_import", govern::fuzzing::mcp_import);
}

#[test]
fn otel_trace_corpus() {
    replay("otel_trace", govern::fuzzing::otel_trace);
}

#[test]
fn audit_log_corpus() {
    replay("audit_log", govern::fuzzing::audit_log);
}

#[test]
fn mcp_scan_corpus() {
    replay("mcp_scan", govern::fuzzing::mcp_scan);
}
