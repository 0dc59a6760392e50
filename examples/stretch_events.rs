//! Repeats the events of a JSONL file into a long stream with fresh timestamps (one per
//! millisecond from 2026-11-23T10:00:00Z) and SESSIONS sessions, for whole-command timings:
//! `cargo run --release --example stretch_events -- testdata/events.jsonl 200000 500 > trace.jsonl`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .expect("usage: stretch_events FILE COUNT SESSIONS");
    let count: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let sessions: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
        .max(1);
    let events: Vec<serde_json::Map<String, serde_json::Value>> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty(), "{input} has no events");
    let start = govern::time::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for i in 0..count {
        let mut e = events[i % events.len()].clone();
        let ts = govern::time::format_rfc3339(start + i as i64 * 1_000_000);
        e.insert("ts".into(), ts.into());
        e.insert("session".into(), format!("s-{}", i % sessions).into());
        serde_json::to_writer(&mut out, &e).unwrap();
        out.write_all(b"\n").unwrap();
    }
}
