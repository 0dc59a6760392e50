//! Audit log cost and throughput on the synthetic workload of the other benches: a 100-rule
//! bundle (`trace::generator::policy_source`) over ~250-byte events (`write_trace`).
//!
//! - `audit/decide`: one decision as `eval` makes it without a log (read the event, decide);
//! - `audit/decide+record/SYNC`: the same with the audit record written (the event
//!   canonicalized, the VM reading that text, the record hashed and written), with
//!   `--audit-sync batch` and `none`, records written in groups of 256 as `eval` writes them
//!   (`write-each`: one `write` per record); the difference to `audit/decide` is what writing
//!   adds per decision;
//! - `audit/verify+replay`: `replay-audit` over a 100,000-record log (parse, hash, chain,
//!   checkpoints, re-decide and compare every decision), in records per second.
//!
//! Run: `cargo bench --bench audit -- --warm-up-time 1 --measurement-time 5`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govern::audit::verify::{self, Bundles, Keys};
use govern::audit::{AuditLog, DecidedEvent, Options, SyncMode};
use govern::sign::PrivateKey;
use govern::trace::generator::{GenOptions, policy_source, write_trace};
use govern::vm::{Event, Outcome, Program};

const EVENTS: u64 = 100_000;

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-audit");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Decides `n` of `lines` (wrapping) into a fresh log, the records written in groups of
/// `group` (as `eval` does; 1: one `write` per record); returns the time taken.
fn write_log(
    path: &Path,
    program: &Program,
    lines: &[&str],
    n: u64,
    sync: SyncMode,
    key: Option<PrivateKey>,
    group: usize,
) -> Duration {
    for (_, p) in govern::audit::writer::segments(path).unwrap_or_default() {
        let _ = std::fs::remove_file(p);
    }
    let (mut log, _) = AuditLog::open(
        path,
        &program.digest,
        Options {
            sync,
            key,
            checkpoint_every: None,
            rotate: None,
            ..Options::default()
        },
    )
    .unwrap();
    let mut state = program.new_state_with(log.limits());
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    let mut e = DecidedEvent::default();
    let start = Instant::now();
    for i in 0..n as usize {
        e.set(lines[i % lines.len()], None).unwrap();
        program.read_event(e.as_str(), &mut ev).unwrap();
        program.eval(&ev, &mut state, &mut out);
        log.queue_outcome(&e, program, &out).unwrap();
        if (i + 1) % group == 0 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap();
    let took = start.elapsed();
    log.close().unwrap();
    took
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
    let text = String::from_utf8(trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let d = dir();

    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(1));
    let mut state = program.new_state();
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    let mut i = 0usize;
    g.bench_function("decide", |b| {
        b.iter(|| {
            i = (i + 1) % lines.len();
            program.read_event(black_box(lines[i]), &mut ev).unwrap();
            program.eval(&ev, &mut state, &mut out);
            black_box(out.verdict);
        })
    });
    for (name, sync, group) in [
        ("batch", SyncMode::Batch, 256),
        ("none", SyncMode::None, 256),
        ("batch,write-each", SyncMode::Batch, 1),
    ] {
        let path = d.join(format!("write-{}.jsonl", name.replace(',', "-")));
        g.bench_function(format!("decide+record/{name}"), |b| {
            b.iter_custom(|iters| write_log(&path, &program, &lines, iters, sync, None, group))
        });
    }

    // A log of EVENTS decisions with checkpoints every 1,000 records, verified and replayed.
    let key = PrivateKey::generate().unwrap();
    let public = key.public();
    let log = d.join("verify.jsonl");
    write_log(
        &log,
        &program,
        &lines,
        EVENTS,
        SyncMode::None,
        Some(key),
        256,
    );
    let store = d.join("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(
        store.join(format!("{}.govb", &program.digest["sha256:".len()..])),
        &built.bytes,
    )
    .unwrap();
    let opts = verify::Options {
        keys: Keys {
            keys: vec![public],
            trust: None,
        },
        bundles: Bundles::Dir(store),
        expect_head: None,
        expect_count: None,
        against: None,
    };
    let r = verify::verify(std::slice::from_ref(&log), &opts);
    assert_eq!(r.exit_code(), 0, "{:?}", r.findings);
    g.throughput(Throughput::Elements(r.records));
    g.sample_size(10);
    g.bench_function("verify+replay", |b| {
        b.iter(|| {
            let r = verify::verify(std::slice::from_ref(&log), &opts);
            assert_eq!(r.replayed, EVENTS);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
