//! A load generator for `govern serve`, and a round-trip timer for `govern eval` as a
//! coprocess (docs/performance.md).
//!
//! ```text
//! serve_load http  ADDR EVENTS [--connections N] [--seconds S] [--batch N] [--rate R] [--rss PID]
//! serve_load eval  GOVERN BUNDLE EVENTS [--rounds N]
//! ```
//!
//! `http`: N keep-alive connections (one thread each), each sending `POST /v1/decide` (or
//! `/v1/decide/batch` with N events) with the events of EVENTS (JSONL) in turn and waiting for
//! each answer before the next; after one second of warm-up, counts decisions for S seconds
//! and prints decisions/s and the latency percentiles of the requests (`--rate`: at most R
//! requests a second in all, evenly paced: a steady load for a soak; `--rss PID`: prints the
//! resident memory of process PID, the server, when the warm-up ends, every 10 s, and at the
//! end, read from `/proc/PID/status`). `eval`: starts
//! `GOVERN eval --bundle BUNDLE`, writes one event line and reads its decision line, N times,
//! and prints the percentiles of the round trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    match args.first().map(String::as_str) {
        Some("http") if args.len() >= 3 => http(
            &args[1],
            &read_events(&args[2]),
            opt("--connections", 32) as usize,
            opt("--seconds", 10),
            opt("--batch", 1) as usize,
            opt("--rate", 0),
            opt("--rss", 0),
        ),
        Some("eval") if args.len() >= 4 => eval(
            &args[1],
            &args[2],
            &read_events(&args[3]),
            opt("--rounds", 20_000) as usize,
        ),
        _ => {
            eprintln!(
                "usage: serve_load http ADDR EVENTS [--connections N] [--seconds S] [--batch N] [--rate R] [--rss PID]\n       serve_load eval GOVERN BUNDLE EVENTS [--rounds N]"
            );
            std::process::exit(2);
        }
    }
}

fn read_events(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("the events file");
    let events: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    assert!(!events.is_empty(), "no events in {path}");
    events
}

/// Latencies in nanoseconds, summarised.
fn percentiles(mut ns: Vec<u64>) -> String {
    ns.sort_unstable();
    let at = |q: f64| {
        let i = ((ns.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_nanos(ns[i])
    };
    format!(
        "p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    )
}

/// The resident memory of process `pid`, as `/proc/PID/status` gives it (`VmRSS`).
fn rss(pid: u64) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "?".into())
}

fn http(
    addr: &str,
    events: &[String],
    connections: usize,
    seconds: u64,
    batch: usize,
    rate: u64,
    pid: u64,
) {
    // Each connection's interval between requests, when paced.
    let every = (rate > 0).then(|| Duration::from_secs_f64(connections as f64 / rate as f64));
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(if batch <= 1 {
        events
            .iter()
            .map(|e| request("/v1/decide", "application/json", e))
            .collect()
    } else {
        events
            .chunks(batch)
            .map(|c| request("/v1/decide/batch", "application/x-ndjson", &c.join("\n")))
            .collect()
    });
    let per_request = batch.max(1) as u64;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let bodies = Arc::clone(&bodies);
            let measuring = Arc::clone(&measuring);
            let stop = Arc::clone(&stop);
            let addr = addr.to_string();
            std::thread::spawn(move || {
                let s = TcpStream::connect(&addr).expect("connect");
                s.set_nodelay(true).unwrap();
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::with_capacity(1 << 16, s);
                let mut lat = Vec::with_capacity(1 << 16);
                let mut failed = 0u64;
                let mut i = c;
                let mut line = String::new();
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(every) = every {
                        next += every;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let body = &bodies[i % bodies.len()];
                    i += 1;
                    let t = Instant::now();
                    w.write_all(body).unwrap();
                    // Status line, headers, body.
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    let ok = line.split_whitespace().nth(1) == Some("200");
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut skip = (&mut r).take(len as u64);
                    std::io::copy(&mut skip, &mut std::io::sink()).unwrap();
                    if measuring.load(Ordering::Relaxed) {
                        lat.push(t.elapsed().as_nanos() as u64);
                        if !ok {
                            failed += 1;
                        }
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    if pid == 0 {
        std::thread::sleep(Duration::from_secs(seconds));
    } else {
        // Resident memory now, every 10 s, and at the end.
        let end = started + Duration::from_secs(seconds);
        let mut at = 0;
        loop {
            println!("rss at {at:>4} s: {}", rss(pid));
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep((end - now).min(Duration::from_secs(10)));
            at = started.elapsed().as_secs();
        }
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failed = 0;
    for t in threads {
        let (lat, f) = t.join().unwrap();
        all.extend(lat);
        failed += f;
    }
    let requests = all.len() as u64;
    println!(
        "{connections} connections, {} event(s) per request, {:.1} s: {} requests, {} decisions, {:.0} decisions/s, {failed} not 200",
        per_request,
        elapsed.as_secs_f64(),
        requests,
        requests * per_request,
        (requests * per_request) as f64 / elapsed.as_secs_f64()
    );
    println!("request latency: {}", percentiles(all));
}

fn request(path: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: govern\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn eval(govern: &str, bundle: &str, events: &[String], rounds: usize) {
    let mut child = Command::new(govern)
        .args(["eval", "--bundle", bundle])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("govern eval");
    let mut w = child.stdin.take().unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds + 1000 {
        let e = &events[i % events.len()];
        let t = Instant::now();
        w.write_all(e.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with('{'), "not a decision: {line:?}");
        // The first thousand warm up.
        if i >= 1000 {
            lat.push(t.elapsed().as_nanos() as u64);
        }
    }
    drop(w);
    let _ = child.wait();
    println!("eval coprocess, {rounds} round trips: {}", percentiles(lat));
}
