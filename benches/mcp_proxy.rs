//! What `govern mcp-proxy` adds to a tool call: the gateway reading the client's `tools/call`,
//! deciding it with a decision point and passing it on, then reading the server's result,
//! deciding it and passing it on; and what it adds to any other message.
//!
//! `cargo bench --bench mcp_proxy`; figures in docs/performance.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govern::commands::mcp_proxy::PointDecider;
use govern::mcp::gateway::{Config, DenyWith, Gateway, Output};

fn gateway() -> Gateway<PointDecider> {
    let point = common::gateway_point();
    let mut g = Gateway::new(
        Config {
            agent: None,
            session: "bench".into(),
            deny_with: DenyWith::ToolError,
            hide_denied: false,
            max_message: 32 << 20,
        },
        PointDecider::new(Arc::new(point)),
    );
    let mut out = Output::default();
    g.from_client(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"support-agent","version":"0.1"}}}"#, &mut out);
    g.from_server(br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"demo-bank","version":"1.0.0"}}}"#, &mut out);
    g
}

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"transfer_funds","arguments":{"amount":250,"to":"ACME"},"_meta":{"progressToken":7}}}"#;
const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"sent 250 to ACME"}],"structuredContent":{"result":"sent 250 to ACME"},"isError":false}}"#;
const NOTE: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":0.5,"total":1.0,"message":"half way"}}"#;

fn proxy(c: &mut Criterion) {
    let mut g = c.benchmark_group("mcp_proxy");
    g.throughput(Throughput::Elements(1));
    let mut gw = gateway();
    let mut out = Output::default();
    // A call and its result, both decided (allow) and passed on.
    g.bench_function("call_and_result", |b| {
        b.iter(|| {
            out.sends.clear();
            gw.from_client(black_box(CALL), &mut out);
            gw.from_server(black_box(RESULT), &mut out);
            black_box(out.sends.len())
        })
    });
    // Any other message: read, checked, passed on.
    g.bench_function("other_message", |b| {
        b.iter(|| {
            out.sends.clear();
            gw.from_server(black_box(NOTE), &mut out);
            black_box(out.sends.len())
        })
    });
    g.finish();
}

criterion_group!(benches, proxy);
criterion_main!(benches);
