//! A load generator for `govern serve`, and a round-trip timer for `govern eval` as a
//! coprocess (docs/performance.md).
//!
//! ```text
//! serve_load http  ADDR EVENTS [--connections N] [--threads T] [--seconds S] [--batch N] [--rate R] [--rss PID]
//! serve_load eval  GOVERN BUNDLE EVENTS [--rounds N]
//! ```
//!
//! `http`: N keep-alive connections (all on one thread by default, a single-threaded tokio
//! runtime, so that the generator takes as little of the CPU it shares with the server as it
//! can; `--threads T` spreads them over T such threads), each sending `POST /v1/decide` (or
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

use std::io::{BufRead, BufReader, Write};
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
            opt("--threads", 1) as usize,
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
                "usage: serve_load http ADDR EVENTS [--connections N] [--threads T] [--seconds S] [--batch N] [--rate R] [--rss PID]\n       serve_load eval GOVERN BUNDLE EVENTS [--rounds N]"
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

// The command line's options, one for one.
#[allow(clippy::too_many_arguments)]
fn http(
    addr: &str,
    events: &[String],
    connections: usize,
    threads: usize,
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
    // Each thread a single-threaded runtime, each connection a task.
    let addr = addr.to_string();
    let (m, s) = (Arc::clone(&measuring), Arc::clone(&stop));
    // Connection c runs on thread c % threads.
    let drivers: Vec<_> = (0..threads.clamp(1, connections.max(1)))
        .map(|t| {
            let (addr, bodies, m, s) = (
                addr.clone(),
                Arc::clone(&bodies),
                Arc::clone(&m),
                Arc::clone(&s),
            );
            let mine: Vec<usize> = (0..connections)
                .filter(|c| c % threads.max(1) == t)
                .collect();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let tasks: Vec<_> = mine
                        .into_iter()
                        .map(|c| {
                            tokio::spawn(connection(
                                addr.clone(),
                                Arc::clone(&bodies),
                                c,
                                every,
                                Arc::clone(&m),
                                Arc::clone(&s),
                            ))
                        })
                        .collect();
                    let mut all = Vec::new();
                    let mut failed = 0;
                    for t in tasks {
                        let (lat, f) = t.await.unwrap();
                        all.extend(lat);
                        failed += f;
                    }
                    (all, failed)
                })
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
    for d in drivers {
        let (lat, f) = d.join().unwrap();
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

/// One keep-alive connection: a request, its whole answer, the next request. Per request one
/// `write` (the request, built once) and, as a rule, one `read` (the whole answer, parsed in
/// place in a buffer allocated once); nothing is allocated per request but the latency
/// vector's growth.
async fn connection(
    addr: String,
    bodies: Arc<Vec<Vec<u8>>>,
    c: usize,
    every: Option<Duration>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> (Vec<u64>, u64) {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut lat = Vec::with_capacity(1 << 16);
    let mut failed = 0u64;
    let mut i = c;
    let mut next = tokio::time::Instant::now();
    let head_end = memchr::memmem::Finder::new(b"\r\n\r\n");
    while !stop.load(Ordering::Relaxed) {
        if let Some(every) = every {
            next += every;
            tokio::time::sleep_until(next).await;
        }
        let body = &bodies[i % bodies.len()];
        i += 1;
        let t = Instant::now();
        s.write_all(body).await.unwrap();
        // Status line and headers, then as many bytes of body as they announce.
        let mut have = 0;
        let (ok, end) = loop {
            if let Some(head) = head_end.find(&buf[..have]) {
                let h = &buf[..head];
                let ok = h.get(9..12) == Some(b"200");
                break (ok, head + 4 + content_length(h));
            }
            have += read_more(&mut s, &mut buf, have).await;
        };
        while have < end {
            have += read_more(&mut s, &mut buf, have).await;
        }
        assert_eq!(have, end, "bytes after the answer");
        if measuring.load(Ordering::Relaxed) {
            lat.push(t.elapsed().as_nanos() as u64);
            if !ok {
                failed += 1;
            }
        }
    }
    (lat, failed)
}

/// Reads more of an answer into `buf` after its first `have` bytes (growing it when full).
async fn read_more(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, have: usize) -> usize {
    use tokio::io::AsyncReadExt;
    if buf.len() - have < 4096 {
        buf.resize(buf.len() * 2, 0);
    }
    let n = s.read(&mut buf[have..]).await.unwrap();
    assert!(n > 0, "the server closed the connection");
    n
}

/// The `content-length` of a response head (0 without one).
fn content_length(head: &[u8]) -> usize {
    head.split(|b| *b == b'\n')
        .find_map(|line| {
            let (k, v) = line.split_at(line.iter().position(|b| *b == b':')?);
            k.eq_ignore_ascii_case(b"content-length").then(|| {
                std::str::from_utf8(&v[1..])
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
        })
        .unwrap_or(0)
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
