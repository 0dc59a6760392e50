//! Writes the 1,000-rule bundle of `benches/lint.rs` and `benches/diff.rs` (in
//! `benches/common.rs`) to a file, for whole-command timings:
//! `cargo run --release --example lint_bundle -- out.gov`.
#![allow(clippy::unwrap_used, clippy::print_stdout, dead_code)]

#[path = "../benches/common.rs"]
mod common;

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "lint-bench.gov".into());
    std::fs::write(&out, common::bundle_source(100)).unwrap();
    println!("wrote {out}");
}
