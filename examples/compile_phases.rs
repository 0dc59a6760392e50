//! Where compile time goes, phase by phase, for the benchmark bundle of N rules, and what the
//! resulting diagram looks like. `cargo run --release --example compile_phases -- 10000`, or
//! with the path of a `.gov` file instead of a number, for that file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[path = "../benches/common.rs"]
mod common;

use std::time::Instant;

use govern::bytecode::model::NodeDef;

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let (n, text) = match arg.parse::<usize>() {
        Ok(n) => (n, common::policy(n)),
        Err(_) if !arg.is_empty() => (0, std::fs::read_to_string(&arg).unwrap()),
        Err(_) => (1000, common::policy(1000)),
    };
    let total = Instant::now();
    let t = Instant::now();
    let file = govern::diag::SourceFile::new("bench.gov", text);
    let ast = govern::syntax::parse_file(&file).unwrap();
    println!("parse    {:>10.2?}", t.elapsed());
    let t = Instant::now();
    let bundle = govern::check::check(vec![file], vec![ast]).unwrap();
    println!("check    {:>10.2?}", t.elapsed());
    let t = Instant::now();
    let model = govern::compile::compile(&bundle).unwrap();
    println!("compile  {:>10.2?}", t.elapsed());
    let t = Instant::now();
    let bytes = govern::bytecode::encode(&model);
    println!("encode   {:>10.2?}", t.elapsed());
    let t = Instant::now();
    let program = govern::vm::Program::load(&bytes).unwrap();
    println!(
        "load     {:>10.2?}  (decode, verify, build tables)",
        t.elapsed()
    );
    println!("total    {:>10.2?}", total.elapsed());
    let m = &program.model;
    let forks = m
        .nodes
        .iter()
        .filter(|n| matches!(n, NodeDef::Fork { .. }))
        .count();
    let items: usize = m.leaves.iter().map(Vec::len).sum();
    let (tests, leaves) = govern::bytecode::worst_case(&m.nodes, &m.roots);
    println!(
        "{} rules: {} bytes, {} nodes ({forks} forks), {} leaves ({items} items); worst case {tests} tests, {leaves} leaves per decision",
        if n > 0 { n } else { m.rules.len() },
        bytes.len(),
        m.nodes.len(),
        m.leaves.len()
    );
}
