//! Compile time and decision latency at the size of real lists and conditions: a set of
//! 1,000,000 hosts read from a data file, `tool in [200,000 names]`, and `or` chains of
//! 40,000 equality tests (on one attribute, and on 40,000 different ones).
//!
//! Loading the million-host bundle (what `eval` and `serve` do at start) is measured too.
//!
//! `cargo bench --bench scale`; figures in docs/performance.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use govern::diag::SourceFile;
use govern::vm::{Event, Outcome};

/// `n` host names, one a line, as a data file.
fn hosts(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 24);
    for i in 0..n {
        s.push_str(&format!("host-{i:07}.example.com\n"));
    }
    s.into_bytes()
}

const SET_POLICY: &str = r#"set blocked = file("data/hosts.txt")
policy egress {
  rule blocked: deny when url_host(args.url) in blocked because "blocked host"
  rule fetch: allow when tool == "fetch"
}
"#;

fn build_set(n: usize) -> govern::pipeline::Built {
    let data = BTreeMap::from([("data/hosts.txt".to_string(), hosts(n))]);
    govern::pipeline::build_sources_with(vec![SourceFile::new("p.gov", SET_POLICY)], &data).unwrap()
}

fn or_chain(n: usize, distinct: bool) -> String {
    let tests: Vec<String> = (0..n)
        .map(|i| {
            if distinct {
                format!("args.a{i} == \"x\"")
            } else {
                format!("tool == \"t{i}\"")
            }
        })
        .collect();
    format!(
        "policy p {{\n  rule r: deny when {} because \"x\"\n}}\n",
        tests.join(" or ")
    )
}

fn in_list(n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!("\"t{i}\"")).collect();
    format!(
        "policy p {{\n  rule r: allow when tool in [{}]\n}}\n",
        names.join(", ")
    )
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile_large");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    // Data file → checked → diagram → bytes → loaded and verified program: all of `build`.
    g.bench_function("set_1m_hosts", |b| {
        b.iter(|| black_box(build_set(1_000_000)))
    });
    for (name, text) in [
        ("in_list_200k", in_list(200_000)),
        ("or_chain_40k_one_attribute", or_chain(40_000, false)),
        ("or_chain_40k_attributes", or_chain(40_000, true)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                govern::pipeline::build_sources(vec![SourceFile::new("p.gov", text.as_str())])
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn decide(c: &mut Criterion) {
    // The same policy with 10 and with 1,000,000 hosts: a decision is one hash lookup either
    // way (after `url_host`), so the two should take the same time.
    let mut g = c.benchmark_group("decide_large_set");
    for n in [10usize, 1_000_000] {
        let built = build_set(n);
        let p = &built.program;
        let texts = [
            r#"{"tool":"fetch","args":{"url":"https://host-0000003.example.com/x"}}"#,
            r#"{"tool":"fetch","args":{"url":"https://example.org/x"}}"#,
        ];
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
        for (name, ev) in ["listed", "unlisted"].iter().zip(&parsed) {
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| {
                    p.eval(black_box(ev), &mut state, &mut out);
                    black_box(out.verdict)
                })
            });
        }
    }
    g.finish();
}

fn load(c: &mut Criterion) {
    // What `eval`, `serve` and `simulate` do at start with the million-host bundle: verify the
    // bytes and build the tables (the switch's hash table over a million hosts).
    let mut g = c.benchmark_group("load_large_set");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let bytes = build_set(1_000_000).bytes;
    g.bench_function("1m_hosts", |b| {
        b.iter(|| black_box(govern::vm::Program::load(black_box(&bytes)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, compile, load, decide);
criterion_main!(benches);
