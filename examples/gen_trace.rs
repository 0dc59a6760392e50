//! Writes a deterministic synthetic trace (JSONL) or the matching benchmark policy.
//!
//! ```text
//! cargo run --release --example gen_trace -- --events 1000000 > /tmp/trace.jsonl
//! cargo run --release --example gen_trace -- --policy 100 > /tmp/bench.gov
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use govern::trace::generator::{GenOptions, policy_source, write_trace};

fn main() -> std::process::ExitCode {
    let mut opts = GenOptions::default();
    let mut policy: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        let num = value.as_deref().and_then(|v| v.parse::<f64>().ok());
        match (a.as_str(), num) {
            ("--events", Some(n)) => opts.events = n as u64,
            ("--seed", Some(n)) => opts.seed = n as u64,
            ("--agents", Some(n)) => opts.agents = n as u32,
            ("--session-len", Some(n)) => opts.session_len = n as u32,
            ("--recorded", Some(n)) => opts.recorded = n,
            ("--policy", Some(n)) => policy = Some(n as usize),
            _ => {
                eprintln!(
                    "usage: gen_trace [--events N] [--seed N] [--agents N] [--session-len N] [--recorded 0..1] | --policy RULES"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let r = match policy {
        Some(n) => out.write_all(policy_source(n).as_bytes()),
        None => write_trace(&opts, &mut out),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
