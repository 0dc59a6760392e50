//! What `govern mcp-proxy --upstream` adds to a tool call over HTTP: one client, one kept-alive
//! connection, sequential `tools/call` POSTs (2026-07-28, answered with one JSON body) to a
//! minimal Streamable HTTP server in the same process (it answers every POST with the same
//! result at once), straight (`direct`) and through the proxy (`through_proxy`: the call and
//! its result decided, the server reached over the proxy's pooled connection). The proxy's
//! cost per call is the difference of the medians: its own work plus one more HTTP round trip
//! on loopback (the kernel's and the wake-ups').
//!
//! The floor no proxy escapes is measured beside it: two null relays on the same layout as
//! one of the proxy's workers (a single-threaded runtime on a thread of its own, one upstream
//! connection per client connection), `null_relay_bytes` passing bytes both ways unread and
//! `null_relay_http` reading each request and answer whole with hyper (server and client
//! sides, as the proxy does) and passing them on, deciding nothing. What the HTTP relay adds
//! to `direct` is the network's and HTTP's; what `through_proxy` adds beyond the relay is
//! govern's own.
//!
//! `proxy_cpu` is the proxy's own share: the CPU time (user and kernel, from the scheduler's
//! accounting of the proxy's threads) it spends per call through it. After the criterion
//! figures, a plain run of 20,000 calls each way prints the CPU time per call of the client,
//! the proxy and the server, and the wall time, to see where a round trip goes.
//!
//! `MCP_HTTP_CALLS=N` sets the calls of that plain run (fewer, to run it under callgrind).
//!
//! `cargo bench --bench mcp_http`; figures in docs/performance.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govern::commands::mcp_proxy::PointDecider;
use govern::mcp::gateway::{Config as GatewayConfig, DenyWith};
use govern::mcp_http::{Config, Upstream};
use govern::point::log::Log;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"fx rates"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"support-agent","version":"0.1"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#;
const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"results for fx rates"}],"structuredContent":{"result":"results for fx rates"},"isError":false}}"#;

/// The minimal server: every POST is answered with `RESULT`.
async fn server(listener: TcpListener) {
    loop {
        let Ok((s, _)) = listener.accept().await else {
            return;
        };
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(s),
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        let mut r = Response::new(Full::new(Bytes::from_static(RESULT)));
                        r.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }),
                )
                .await;
        });
    }
}

/// How a null relay forwards: the floor of what a proxy in front of an HTTP server adds.
#[derive(Clone, Copy)]
enum Relay {
    /// Bytes both ways, unread (`copy_bidirectional` over one upstream connection per client
    /// connection): what a relay costs that looks at nothing (it could not decide a call).
    Bytes,
    /// HTTP both ways with hyper, as the proxy speaks it: the request's head and whole body
    /// read, sent on over one upstream connection per client connection (its headers as
    /// they came), the answer's head and whole body read and sent back. No decision, no
    /// JSON: what any HTTP proxy that reads a message before passing it on pays.
    Http,
}

/// Starts a null relay in front of the server at `upstream` on a thread of its own (named
/// `bench-relay`, a single-threaded runtime, as each of the proxy's workers is); returns
/// its port.
fn relay(kind: Relay, upstream: u16) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    std::thread::Builder::new()
        .name("bench-relay".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = TcpListener::from_std(l).unwrap();
                loop {
                    let (mut c, _) = l.accept().await.unwrap();
                    c.set_nodelay(true).unwrap();
                    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await.unwrap();
                    up.set_nodelay(true).unwrap();
                    match kind {
                        Relay::Bytes => {
                            tokio::spawn(async move {
                                let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
                            });
                        }
                        Relay::Http => {
                            let (sender, conn) =
                                hyper::client::conn::http1::handshake(TokioIo::new(up))
                                    .await
                                    .unwrap();
                            tokio::spawn(conn);
                            let sender = Arc::new(tokio::sync::Mutex::new(sender));
                            tokio::spawn(async move {
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(
                                        TokioIo::new(c),
                                        hyper::service::service_fn(
                                            move |req: Request<hyper::body::Incoming>| {
                                                let sender = Arc::clone(&sender);
                                                async move { forward(&sender, req).await }
                                            },
                                        ),
                                    )
                                    .await;
                            });
                        }
                    }
                }
            });
        })
        .unwrap();
    port
}

/// The null HTTP relay's exchange: the request read whole and sent on as it came, the
/// answer read whole and sent back.
async fn forward(
    sender: &tokio::sync::Mutex<SendRequest<Full<Bytes>>>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let up = Request::from_parts(parts, Full::new(body));
    let answer = sender.lock().await.send_request(up).await?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn connect(port: u16) -> SendRequest<Full<Bytes>> {
    let s = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    s.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn call(sender: &mut SendRequest<Full<Bytes>>, port: u16) -> usize {
    let req = Request::post("/mcp")
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "web_search")
        .body(Full::new(Bytes::from_static(CALL)))
        .unwrap();
    let r = sender.send_request(req).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let b = r.into_body().collect().await.unwrap().to_bytes();
    assert!(
        b.windows(11).any(|w| w == b"results for"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    b.len()
}

/// What the scheduler accounted to one thread of this process so far.
#[derive(Clone, Copy, Default)]
struct Acct {
    /// CPU time (ns), user and kernel (`schedstat`).
    cpu: u64,
    /// Of which in the kernel, in clock ticks (`stat`: coarse, read over many calls).
    sys_ticks: u64,
    user_ticks: u64,
    /// Times it went to sleep waiting for something (each ends in a wake-up by another).
    sleeps: u64,
    /// Times it was put off a core for another thread.
    preempted: u64,
}

/// Every thread of this process: its id, name (`comm`) and accounting.
fn threads() -> Vec<(String, String, Acct)> {
    let mut all = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
        let comm = read("comm").trim().to_string();
        let cpu = read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let stat = read("stat");
        let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<u64> = after
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let status = read("status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        all.push((
            t.file_name().to_string_lossy().into_owned(),
            comm,
            Acct {
                cpu,
                user_ticks: f.get(11).copied().unwrap_or(0),
                sys_ticks: f.get(12).copied().unwrap_or(0),
                sleeps: field("voluntary_ctxt_switches:"),
                preempted: field("nonvoluntary_ctxt_switches:"),
            },
        ));
    }
    all
}

/// The CPU time (ns) the scheduler accounted to this process's threads whose name starts
/// with `prefix` (`/proc/self/task/*/schedstat`: user and kernel time on a CPU).
fn cpu_of(prefix: &str) -> u64 {
    threads()
        .iter()
        .filter(|(_, comm, _)| comm.starts_with(prefix))
        .map(|(_, _, a)| a.cpu)
        .sum()
}

/// The CPU time (ns) of the thread running this.
fn cpu_here() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// What each thread that ran spent per call between two snapshots, printed as a table: the
/// accounting checked thread by thread (which threads are the proxy's, whether idle ones
/// wake, whether a call hops between workers).
fn per_thread(name: &str, middle: &str, before: &[(String, String, Acct)], n: u64) -> f64 {
    let after = threads();
    let mut proxy = 0.0;
    for (tid, comm, a) in &after {
        let b = before
            .iter()
            .find(|(t, _, _)| t == tid)
            .map(|(_, _, b)| *b)
            .unwrap_or_default();
        let cpu = (a.cpu - b.cpu) as f64 / n as f64 / 1000.0;
        let (user, sys) = (a.user_ticks - b.user_ticks, a.sys_ticks - b.sys_ticks);
        let sleeps = (a.sleeps - b.sleeps) as f64 / n as f64;
        let preempted = (a.preempted - b.preempted) as f64 / n as f64;
        if cpu < 0.05 && sleeps < 0.001 {
            continue;
        }
        if comm.starts_with(middle) {
            proxy += cpu;
        }
        let kernel = if user + sys > 0 {
            format!("{:.0}%", 100.0 * sys as f64 / (user + sys) as f64)
        } else {
            "-".into()
        };
        eprintln!(
            "mcp_http/{name}:   thread {tid:>7} {comm:<16} {cpu:>6.1} us CPU per call ({kernel} in the kernel), {sleeps:.2} sleeps, {preempted:.2} preemptions per call"
        );
    }
    proxy
}

/// The cost of a loopback round trip on this machine without HTTP: two threads, each on a
/// single-threaded runtime as the proxy's workers are, echo a 300-byte message back and
/// forth over a kept TCP connection. Each side's CPU time per round trip is what one hop of
/// the proxy (a message received after a wait, one sent that wakes the peer) costs in the
/// kernel and the runtime; the proxy makes two such hops per call.
fn loopback(n: u64) -> (f64, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let echo = std::thread::Builder::new()
        .name("bench-echo".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (s, _) = l.accept().unwrap();
                s.set_nonblocking(true).unwrap();
                let mut s = TcpStream::from_std(s).unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = [0u8; 300];
                let c0 = cpu_here();
                for _ in 0..n {
                    s.read_exact(&mut buf).await.unwrap();
                    s.write_all(&buf).await.unwrap();
                }
                cpu_here() - c0
            })
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mine = rt.block_on(async move {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [7u8; 300];
        let c0 = cpu_here();
        for _ in 0..n {
            s.write_all(&buf).await.unwrap();
            s.read_exact(&mut buf).await.unwrap();
        }
        cpu_here() - c0
    });
    let theirs = echo.join().unwrap();
    let us = |ns: u64| ns as f64 / n as f64 / 1000.0;
    (us(mine), us(theirs))
}

fn http(c: &mut Criterion) {
    // The server, on a runtime of its own.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .unwrap();
    let listener = server_rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let server_port = listener.local_addr().unwrap().port();
    server_rt.spawn(server(listener));
    // The null relays, the floor of any proxy.
    let bytes_port = relay(Relay::Bytes, server_port);
    let relay_port = relay(Relay::Http, server_port);
    // The proxy, as `govern mcp-proxy --upstream` runs it.
    let point = common::gateway_point();
    let point = Arc::new(point);
    let proxy_port = free_port();
    let cfg = Config {
        listen: format!("127.0.0.1:{proxy_port}"),
        upstream: Upstream::parse(
            &format!("http://127.0.0.1:{server_port}/mcp"),
            Duration::from_secs(30),
            None,
        )
        .unwrap(),
        gateway: GatewayConfig {
            agent: None,
            session: "bench".into(),
            deny_with: DenyWith::ToolError,
            hide_denied: false,
            max_message: 32 << 20,
        },
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_sessions: 16,
        max_connections: 16,
    };
    let stop = Arc::new(Notify::new());
    let proxy = {
        let stop = Arc::clone(&stop);
        // Named as the proxy's workers are, to count its CPU time.
        std::thread::Builder::new()
            .name("govern-mcp-http".into())
            .spawn(move || {
                govern::mcp_http::run(
                    cfg,
                    move || PointDecider::new(Arc::clone(&point)),
                    // Warnings and errors are worth seeing; the bench stops at any failed call.
                    Arc::new(Log::new(
                        govern::point::log::LogFormat::Human,
                        Box::new(std::io::stderr()),
                    )),
                    None,
                    Some(stop),
                )
            })
            .unwrap()
    };
    // The client.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("mcp_http");
    g.throughput(Throughput::Elements(1));
    // Each connection is opened just before its measurement: one kept waiting longer than
    // the proxy's request timeout (10 s) for its next request is closed.
    let mut direct = rt.block_on(connect(server_port));
    g.bench_function("direct", |b| {
        b.iter(|| black_box(rt.block_on(call(&mut direct, server_port))))
    });
    let mut bytes = rt.block_on(connect(bytes_port));
    g.bench_function("null_relay_bytes", |b| {
        b.iter(|| black_box(rt.block_on(call(&mut bytes, bytes_port))))
    });
    let mut relayed = rt.block_on(connect(relay_port));
    g.bench_function("null_relay_http", |b| {
        b.iter(|| black_box(rt.block_on(call(&mut relayed, relay_port))))
    });
    let mut through = rt.block_on(connect(proxy_port));
    g.bench_function("through_proxy", |b| {
        b.iter(|| black_box(rt.block_on(call(&mut through, proxy_port))))
    });
    // The proxy's own CPU time per call (its threads only; the client and server are not
    // counted).
    g.bench_function("proxy_cpu", |b| {
        b.iter_custom(|iters| {
            let before = cpu_of("govern-mcp-http");
            for _ in 0..iters {
                black_box(rt.block_on(call(&mut through, proxy_port)));
            }
            Duration::from_nanos(cpu_of("govern-mcp-http") - before)
        })
    });
    g.finish();
    // Where a round trip goes: CPU per call of each party, and wall time; then thread by
    // thread.
    // `MCP_HTTP_CALLS` calls each way (20,000 unless set: fewer to run under callgrind).
    let n: u64 = std::env::var("MCP_HTTP_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut proxy_cpu = 0.0;
    let mut relay_cpu = 0.0;
    for (name, port, middle) in [
        ("direct", server_port, "-"),
        ("null_relay_bytes", bytes_port, "bench-relay"),
        ("null_relay_http", relay_port, "bench-relay"),
        ("through_proxy", proxy_port, "govern-mcp-http"),
    ] {
        let mut sender = rt.block_on(connect(port));
        let before = threads();
        let (c0, p0, s0) = (cpu_here(), cpu_of(middle), cpu_of("bench-server"));
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            black_box(rt.block_on(call(&mut sender, port)));
        }
        let wall = t0.elapsed().as_nanos() as u64;
        let (c1, p1, s1) = (cpu_here(), cpu_of(middle), cpu_of("bench-server"));
        let us = |ns: u64| ns as f64 / n as f64 / 1000.0;
        eprintln!(
            "mcp_http/{name}: per call {:.1} us wall; CPU {:.1} us client, {:.1} us in the middle, {:.1} us server",
            us(wall),
            us(c1 - c0),
            us(p1 - p0),
            us(s1 - s0),
        );
        let cpu = per_thread(name, middle, &before, n);
        match name {
            "through_proxy" => proxy_cpu = cpu,
            "null_relay_http" => relay_cpu = cpu,
            _ => {}
        }
    }
    let (a, b) = loopback(n);
    eprintln!(
        "mcp_http/loopback: a 300-byte TCP round trip between two runtimes costs {a:.1} us CPU on one side, {b:.1} us on the other"
    );
    eprintln!(
        "mcp_http/proxy_own: the proxy's threads {proxy_cpu:.1} us per call, of which two loopback hops {:.1} us: {:.1} us its own (HTTP both ways, the gateway, the runtime)",
        a + b,
        proxy_cpu - (a + b)
    );
    eprintln!(
        "mcp_http/beyond_relay: the proxy's threads {proxy_cpu:.1} us per call, the null HTTP relay's {relay_cpu:.1} us: {:.1} us govern's own beyond what any HTTP relay spends",
        proxy_cpu - relay_cpu
    );
    stop.notify_one();
    let _ = proxy.join();
}

criterion_group!(benches, http);
criterion_main!(benches);
