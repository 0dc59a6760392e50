//! `govern lint` on a generated 1,000-rule bundle, every lint on (semantic ones included).
//!
//! Run: `cargo bench --bench lint -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{Criterion, criterion_group, criterion_main};
use govern::diag::SourceFile;

mod common;
use common::bundle_source;

fn bench(c: &mut Criterion) {
    let src = bundle_source(100);
    let bundle = govern::check::check_sources(vec![SourceFile::new("bench.gov", src.clone())])
        .expect("the generated bundle checks");
    assert!(bundle.rules.len() >= 1000);
    let levels = govern::lint::Levels::default();
    let mut g = c.benchmark_group("lint");
    g.sample_size(10);
    g.bench_function("all_lints_1000_rules", |b| {
        b.iter(|| govern::lint::run(&bundle, &levels).unwrap())
    });
    // The same bundle without the `action` guards and with touching ranges: 700 findings,
    // each semantic one with an example request confirmed by the VM and the reference.
    let findings_src = src
        .replace("action == \"tool_call\" and tool ==", "tool ==")
        .replace("rule big: escalate when", "rule big: deny when")
        .replace(" and args.amount > ", " and args.amount >= ");
    let noisy = govern::check::check_sources(vec![SourceFile::new("bench.gov", findings_src)])
        .expect("the generated bundle checks");
    let found = govern::lint::run(&noisy, &levels).unwrap().len();
    assert!(found >= 500, "{found} findings");
    g.bench_function("all_lints_1000_rules_700_findings", |b| {
        b.iter(|| govern::lint::run(&noisy, &levels).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
