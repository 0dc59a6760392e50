//! `govern diff` on a generated 1,000-rule bundle and on the policy library, each against a
//! version with one rule changed, and the 1,000-rule bundle against a version with many
//! changes.
//!
//! Run: `cargo bench --bench diff -- --warm-up-time 1 --measurement-time 5`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use criterion::{Criterion, criterion_group, criterion_main};
use govern::diag::SourceFile;
use govern::diff::{Options, Side, Status, diff};

mod common;

fn side(label: &str, files: Vec<SourceFile>) -> Side {
    Side::from_sources(label, files).unwrap_or_else(|_| panic!("{label} compiles"))
}

fn bench(c: &mut Criterion) {
    let opts = Options::default();
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);

    // 1,003 rules; one deny bound raised (requests in between are now escalated).
    let (src, widened) = common::diff_pair();
    let old = side("old", vec![SourceFile::new("bench.gov", src.clone())]);
    let new = side("new", vec![SourceFile::new("bench.gov", widened.clone())]);
    let r = diff(&old, &new, &opts);
    let shown = govern::diff::output::human(&r, false);
    assert!(r.complete() && !r.groups.is_empty(), "{shown}");
    assert!(r.count(Status::Differs) > 0, "{shown}");
    g.bench_function("1000_rules_one_rule_changed", |b| {
        b.iter(|| diff(&old, &new, &opts))
    });
    // Compiling both sides as well, as the command does.
    g.bench_function("1000_rules_one_rule_changed_with_compile", |b| {
        b.iter(|| {
            let o = side("old", vec![SourceFile::new("bench.gov", src.clone())]);
            let n = side("new", vec![SourceFile::new("bench.gov", widened.clone())]);
            diff(&o, &n, &opts)
        })
    });
    // The same bundle, proved equivalent to itself with every rule-level change looked for.
    let all = Options {
        all: true,
        ..Options::default()
    };
    let same = side("same", vec![SourceFile::new("bench.gov", src.clone())]);
    assert!(diff(&old, &same, &all).equivalent());
    g.bench_function("1000_rules_equivalent", |b| {
        b.iter(|| diff(&old, &same, &all))
    });

    // Many changes: the `action` guards dropped from all 100 policies (requests of other
    // actions are now decided by the tool rules) and every escalation turned into a deny.
    let many = side(
        "many",
        vec![SourceFile::new("bench.gov", common::many_changes(&src))],
    );
    // Grouped piece by piece (docs/performance.md, "govern diff"): complete.
    let r = diff(&old, &many, &opts);
    assert!(r.complete() && !r.groups.is_empty(), "{:?}", r.unproved);
    g.bench_function("1000_rules_many_changes", |b| {
        b.iter(|| diff(&old, &many, &opts))
    });

    // The policy library against itself with one rule narrowed.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let lib = govern::source::load(&[root]).unwrap();
    let changed: Vec<SourceFile> = lib
        .iter()
        .map(|f| SourceFile::new(f.name.clone(), common::library_changed(&f.name, &f.text)))
        .collect();
    let a = side("library", lib);
    let b = side("changed", changed);
    let r = diff(&a, &b, &opts);
    let shown = govern::diff::output::human(&r, false);
    assert!(r.complete() && !r.groups.is_empty(), "{shown}");
    g.bench_function("library_one_rule_changed", |bch| {
        bch.iter(|| diff(&a, &b, &opts))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
