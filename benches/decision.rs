//! Decision latency and compile time at N = 1, 10, 100, 1000 rules; stateful decisions
//! against windows of 100 and 10,000 events.
//!
//! `cargo bench --bench decision`; figures in docs/performance.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use govern::diag::SourceFile;
use govern::vm::{Event, Outcome};

fn decide(c: &mut Criterion) {
    let mut g = c.benchmark_group("decide");
    for n in [1usize, 10, 100, 1000] {
        let built =
            govern::pipeline::build_sources(vec![SourceFile::new("bench.gov", common::policy(n))])
                .unwrap();
        let p = &built.program;
        let texts = common::events(n);
        let bytes: usize = texts.iter().map(String::len).sum();
        let parsed: Vec<Event> = texts
            .iter()
            .map(|t| {
                let mut e = Event::default();
                p.read_event(t, &mut e).unwrap();
                e
            })
            .collect();
        let mut state = p.new_state();
        let mut out = Outcome::default();
        g.throughput(Throughput::Elements(1));
        // A decision on an event already read.
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("parsed", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) & 63;
                p.eval(black_box(&parsed[i]), &mut state, &mut out);
                black_box(out.verdict)
            })
        });
        // Reading the JSON text and deciding (about 250 bytes an event).
        let mut ev = Event::default();
        let mut j = 0usize;
        g.bench_with_input(BenchmarkId::new("json", n), &n, |b, _| {
            b.iter(|| {
                j = (j + 1) & 63;
                p.read_event(black_box(&texts[j]), &mut ev).unwrap();
                p.eval(&ev, &mut state, &mut out);
                black_box(out.verdict)
            })
        });
        // Reading, deciding and writing the decision's JSON line.
        let mut line = String::with_capacity(512);
        let mut k = 0usize;
        g.bench_with_input(BenchmarkId::new("json_in_out", n), &n, |b, _| {
            b.iter(|| {
                k = (k + 1) & 63;
                p.read_event(black_box(&texts[k]), &mut ev).unwrap();
                p.eval(&ev, &mut state, &mut out);
                line.clear();
                p.write_json(&out, &mut line);
                black_box(line.len())
            })
        });
        eprintln!("decide/{n}: events average {} bytes", bytes / texts.len());
    }
    g.finish();
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for n in [1000usize, 10_000] {
        let text = common::policy(n);
        g.bench_with_input(
            BenchmarkId::new("source_to_loaded_bundle", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let built = govern::pipeline::build_sources(vec![SourceFile::new(
                        "bench.gov",
                        text.clone(),
                    )])
                    .unwrap();
                    black_box(built.bytes.len())
                })
            },
        );
    }
    g.finish();
}

/// Stream state: one key whose window holds `n` earlier events (one a millisecond, a window of
/// `n` ms), so each decision looks the tracker up, records the event and drops the one that
/// left the window. `sum` is exact and incremental: its cost does not grow with the window.
fn stateful(c: &mut Criterion) {
    let mut g = c.benchmark_group("stateful");
    for (name, rule) in [
        ("count", "count(true, within WINDOW) > 1000000000"),
        ("sum", "sum(cost, true, within WINDOW) > 1000000000"),
        (
            "sum_uncertain",
            "sum(cost, annotations.billed == true, within WINDOW) > 1000000000",
        ),
    ] {
        for n in [100usize, 10_000] {
            let rule = rule.replace("WINDOW", &format!("{n}ms"));
            let src = format!("default allow\npolicy p {{\n  rule r: deny when {rule}\n}}\n");
            let built =
                govern::pipeline::build_sources(vec![SourceFile::new("bench.gov", src)]).unwrap();
            let p = &built.program;
            let mut state = p.new_state();
            let mut out = Outcome::default();
            let mut ev = Event::default();
            // Events 1 ms apart; every third one's flag is not a boolean (uncertain).
            let text = |i: usize| {
                let flag = if i.is_multiple_of(3) {
                    "\"yes\""
                } else {
                    "true"
                };
                format!(
                    "{{\"ts\":\"{}\",\"session\":\"s\",\"cost\":{}.25,\"annotations\":{{\"billed\":{flag}}}}}",
                    govern::time::format_rfc3339(1_795_428_000_000_000_000 + i as i64 * 1_000_000),
                    i % 7
                )
            };
            let texts: Vec<String> = (0..4 * n + 1024).map(text).collect();
            // Fill the window.
            for t in texts.iter().take(2 * n) {
                p.read_event(t, &mut ev).unwrap();
                p.eval(&ev, &mut state, &mut out);
            }
            let parsed: Vec<Event> = texts
                .iter()
                .skip(2 * n)
                .map(|t| {
                    let mut e = Event::default();
                    p.read_event(t, &mut e).unwrap();
                    e
                })
                .collect();
            let mut i = 0usize;
            g.throughput(Throughput::Elements(1));
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    // Times only move forward: wrap around by starting a new stream.
                    if i == parsed.len() {
                        i = 0;
                        state = p.new_state();
                    }
                    p.eval(black_box(&parsed[i]), &mut state, &mut out);
                    i += 1;
                    black_box(out.verdict)
                })
            });
        }
    }
    g.finish();
}

/// For scale: a hash map from tool name to verdict, the least a lookup can cost.
fn baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");
    {
        let n = 100usize;
        let map: rustc_hash::FxHashMap<String, u8> = (0..n)
            .map(|i| (format!("tool_{i}"), (i % 3) as u8))
            .collect();
        let tools: Vec<String> = (0..64)
            .map(|k| format!("tool_{}", (k * 37) % (2 * n)))
            .collect();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("hashmap_lookup", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) & 63;
                black_box(map.get(black_box(tools[i].as_str())).copied().unwrap_or(1))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = decide, compile, stateful, baseline
}
criterion_main!(benches);
