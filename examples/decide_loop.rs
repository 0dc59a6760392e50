//! Decides the benchmark events in a loop, for profilers: `cargo run --release --example
//! decide_loop -- N ITERATIONS`.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::indexing_slicing)]

#[path = "../benches/common.rs"]
mod common;

use govern::diag::SourceFile;
use govern::vm::{Event, Outcome};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let iterations: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let built =
        govern::pipeline::build_sources(vec![SourceFile::new("bench.gov", common::policy(n))])
            .unwrap();
    let p = &built.program;
    let texts = common::events(n);
    let events: Vec<Event> = texts
        .iter()
        .map(|t| {
            let mut e = Event::default();
            p.read_event(t, &mut e).unwrap();
            e
        })
        .collect();
    let mut state = p.new_state();
    let mut out = Outcome::default();
    let mut denies = 0usize;
    let start = std::time::Instant::now();
    for i in 0..iterations {
        p.eval(&events[i & 63], &mut state, &mut out);
        denies += usize::from(out.verdict == Some(govern::check::Verdict::Deny));
    }
    let per = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{n} rules: {per:.1} ns per decision ({denies} denies)");
}
