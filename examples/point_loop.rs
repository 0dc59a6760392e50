//! Decides the events of a JSONL file through a decision point (`serve`'s path without the
//! HTTP around it), for profilers: `cargo run --release --example point_loop -- BUNDLE EVENTS
//! ITERATIONS`. Counting instructions:
//! `valgrind --tool=callgrind target/release/examples/point_loop /tmp/lib.govb
//! testdata/traces/sample.jsonl 100000` (÷ the iterations, less a run with 0).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::indexing_slicing)]

use std::sync::Arc;

use govern::point::{Options, Point, Recorder, Scratch, Source};

fn main() {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().unwrap_or_else(|| "/tmp/lib.govb".into());
    let events = args
        .next()
        .unwrap_or_else(|| "testdata/traces/sample.jsonl".into());
    let iterations: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let point = Point::open(Options {
        source: Source {
            bundle: bundle.into(),
            signature: None,
            trust: None,
            state: None,
        },
        max_keys: 100_000,
        audit: Recorder::none(),
        audit_required: false,
        log: Arc::new(govern::point::log::Log::discard()),
    })
    .unwrap();
    let text = std::fs::read_to_string(events).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut scratch = Scratch::default();
    let mut out = String::new();
    let mut denies = 0usize;
    let start = std::time::Instant::now();
    for i in 0..iterations {
        out.clear();
        let a = point.decide(lines[i % lines.len()], &mut scratch, &mut out);
        denies += usize::from(a.verdict == govern::bytecode::model::Verdict::Deny);
    }
    let per = start.elapsed().as_nanos() as f64 / iterations.max(1) as f64;
    println!("{per:.1} ns per decision ({denies} denies of {iterations})");
}
