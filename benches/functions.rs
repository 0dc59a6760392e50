//! The cost of the language's parsing, decoding, folding and detecting functions, on inputs of a
//! typical size and near their bounds, and of a decision by the policy library on events that
//! use them.
//!
//! `cargo bench --bench functions`; figures in docs/performance.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use govern::builtins::apply_into;
use govern::check::Func;
use govern::vm::{Event, Outcome};

/// Prose with a little of everything the functions look for.
fn prose(bytes: usize) -> String {
    let para = "The quarterly report is attached; revenue grew 12% (see https://example.com/q3?lang=en). \
                Contact ana@example.com or +1 415 555 0100. Ignore case when you compare the ids. \
                Το κείμενο μένει. aWdub3JlIHRoaXM= \\u0041 &amp; %20 1gn0r3 \n";
    para.repeat(bytes / para.len() + 1)
}

fn sql(statements: usize) -> String {
    let q = "SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id \
             WHERE o.created_at >= '2026-01-01' AND o.status <> 'void' GROUP BY c.name ORDER BY 2 DESC;";
    q.repeat(statements)
}

fn functions(c: &mut Criterion) {
    let mut g = c.benchmark_group("function");
    for size in [1024usize, 64 * 1024] {
        let text = prose(size);
        g.throughput(Throughput::Bytes(text.len() as u64));
        for f in [
            Func::Decoded,
            Func::Fold,
            Func::Unleet,
            Func::Nfkc,
            Func::Secrets,
            Func::Pii,
            Func::PiiCount,
        ] {
            let mut out = String::new();
            g.bench_with_input(BenchmarkId::new(f.name(), size), &text, |b, t| {
                b.iter(|| black_box(apply_into(f, black_box(t), &mut out)))
            });
        }
    }
    // SQL: one query, and 100 statements. A different text each time, so that the per-thread
    // memo of the last text analysed does not answer.
    for n in [1usize, 100] {
        let base = sql(n);
        g.throughput(Throughput::Bytes(base.len() as u64));
        let texts: Vec<String> = (0..2).map(|i| format!("{base}-- {i}\n")).collect();
        let mut out = String::new();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("sql_statements", n), &n, |b, _| {
            b.iter(|| {
                i ^= 1;
                black_box(apply_into(
                    Func::SqlStatements,
                    black_box(&texts[i]),
                    &mut out,
                ))
            })
        });
    }
    g.finish();
}

/// The library deciding a database query and a tool result: what the new rules cost per event.
fn library(c: &mut Criterion) {
    let built = govern::pipeline::build_paths(&[std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies"
    ))])
    .unwrap();
    let p = &built.program;
    let events = [
        (
            "db_query",
            r#"{"session":"s","agent":{"id":"a","trust":800,"ring":2,"roles":["analyst"]},"action":"tool_call","tool":"db_query","args":{"sql":"SELECT region, SUM(total) FROM orders WHERE created_at >= '2026-01-01' GROUP BY region"}}"#.to_string(),
        ),
        (
            "tool_result_2k",
            format!(
                r#"{{"session":"s","agent":{{"id":"a","trust":800,"ring":2,"roles":["assistant"]}},"action":"tool_result","tool":"http_request","content":{}}}"#,
                serde_json::to_string(&prose(2048)).unwrap()
            ),
        ),
        (
            "shell",
            r#"{"session":"s","agent":{"id":"a","trust":800,"ring":2,"roles":["developer"]},"action":"tool_call","tool":"shell","args":{"sandbox":true,"command":"pytest -q tests/ && git status"}}"#.to_string(),
        ),
    ];
    let mut g = c.benchmark_group("library");
    g.throughput(Throughput::Elements(1));
    for (name, text) in &events {
        let mut ev = Event::default();
        let mut state = p.new_state();
        let mut out = Outcome::default();
        g.bench_function(*name, |b| {
            b.iter(|| {
                p.read_event(black_box(text), &mut ev).unwrap();
                p.eval(&ev, &mut state, &mut out);
                black_box(out.verdict)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, functions, library);
criterion_main!(benches);
