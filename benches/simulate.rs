//! `govern simulate` throughput on a deterministic synthetic workload: a 100-rule bundle
//! (`trace::generator::policy_source`) over ~250-byte events (`trace::generator::write_trace`).
//!
//! - `simulate/read_event`: scanning one event line into slots (the reader's share);
//! - `simulate/engine/jobs=N`: the whole replay (read, parse, decide, count, compare with the
//!   recorded decisions) of 100,000 events held in memory, with N parsing threads;
//! - `simulate/engine_jsonl/jobs=N`: the same, also writing one decision line per event.
//!
//! Run: `cargo bench --bench simulate -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govern::commands::simulate::engine::{self, NoSink, Options, Sink};
use govern::trace::generator::{GenOptions, policy_source, write_trace};
use govern::trace::{Input, InputFormat};
use govern::vm::{Event, Paths};

const EVENTS: u64 = 100_000;

struct Count(usize);
impl Sink for Count {
    fn decisions(&mut self, lines: &str) {
        self.0 += lines.len();
    }
    fn wants_decisions(&self) -> bool {
        true
    }
}

fn bench(c: &mut Criterion) {
    let built = govern::pipeline::build_sources(vec![govern::diag::SourceFile::new(
        "bench.gov",
        policy_source(100),
    )])
    .map_err(|d| d.len())
    .unwrap();
    let program = built.program;
    let mut trace = Vec::new();
    write_trace(
        &GenOptions {
            events: EVENTS,
            ..GenOptions::default()
        },
        &mut trace,
    )
    .unwrap();
    let text = String::from_utf8(trace.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let mut g = c.benchmark_group("simulate");
    g.throughput(Throughput::Elements(1));
    let paths = Paths::new(&program.model.slots);
    let mut ev = Event::default();
    let mut i = 0usize;
    g.bench_function("read_event", |b| {
        b.iter(|| {
            i = (i + 1) % lines.len();
            paths.read(black_box(lines[i]), &mut ev).unwrap();
        })
    });

    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10);
    let inputs = [Input::Bytes {
        name: "bench.jsonl".into(),
        data: Arc::from(trace.as_slice()),
    }];
    for jobs in [1usize, 2] {
        let opts = Options {
            policy: &program,
            baseline: None,
            format: InputFormat::Jsonl,
            jobs,
            max_errors: 0,
            counters: None,
            limits: govern::vm::StreamLimits::default(),
        };
        g.bench_function(format!("engine/jobs={jobs}"), |b| {
            b.iter(|| {
                let (r, _) = engine::run(&opts, &inputs, &mut NoSink).unwrap();
                assert_eq!(r.events, EVENTS);
            })
        });
        g.bench_function(format!("engine_jsonl/jobs={jobs}"), |b| {
            b.iter(|| {
                let mut sink = Count(0);
                engine::run(&opts, &inputs, &mut sink).unwrap();
                black_box(sink.0);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
