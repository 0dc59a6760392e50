//! What `govern mcp-proxy --upstream` adds to a tool call over HTTP: one client, one kept-alive
//! connection, sequential `tools/call` POSTs (2026-07-28, answered with one JSON body) to a
//! minimal Streamable HTTP server in the same process (it answers every POST with the same
//! result at once), straight (`direct`) and through the proxy (`through_proxy`: the call and
//! its result decided, the server reached over the proxy's pooled connection). The proxy's
//! cost per call is the difference of the medians: its own work plus one more HTTP round trip
//! on loopback (the kernel's and the wake-ups').
//!
//! `proxy_cpu` is the proxy's own share: the CPU time (user and kernel, from the scheduler's
//! accounting of the proxy's threads) it spends per call through it. After the criterion
//! figures, a plain run of 20,000 calls each way prints the CPU time per call of the client,
//! the proxy and the server, and the wall time, to see where a round trip goes.
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

/// The CPU time (ns) the scheduler accounted to this process's threads whose name starts
/// with `prefix` (`/proc/self/task/*/schedstat`: user and kernel time on a CPU).
fn cpu_of(prefix: &str) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
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
    // Where a round trip goes: CPU per call of each party, and wall time.
    const N: u64 = 20_000;
    for (name, port) in [("direct", server_port), ("through_proxy", proxy_port)] {
        let mut sender = rt.block_on(connect(port));
        let (c0, p0, s0) = (
            cpu_here(),
            cpu_of("govern-mcp-http"),
            cpu_of("bench-server"),
        );
        let t0 = std::time::Instant::now();
        for _ in 0..N {
            black_box(rt.block_on(call(&mut sender, port)));
        }
        let wall = t0.elapsed().as_nanos() as u64;
        let (c1, p1, s1) = (
            cpu_here(),
            cpu_of("govern-mcp-http"),
            cpu_of("bench-server"),
        );
        let us = |ns: u64| ns as f64 / N as f64 / 1000.0;
        eprintln!(
            "mcp_http/{name}: per call {:.1} us wall; CPU {:.1} us client, {:.1} us proxy, {:.1} us server",
            us(wall),
            us(c1 - c0),
            us(p1 - p0),
            us(s1 - s0),
        );
    }
    stop.notify_one();
    let _ = proxy.join();
}

criterion_group!(benches, http);
criterion_main!(benches);
