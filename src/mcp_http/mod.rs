//! `govern mcp-proxy --upstream URL --listen ADDR`: the MCP gateway ([`crate::mcp::gateway`])
//! in front of a Streamable HTTP server (MCP 2025-06-18, 2025-11-25 and 2026-07-28), on
//! tokio and hyper. This module is only a transport: every message goes through the same
//! [`Gateway`] as on stdio, which decides `tools/call` and results, answers denials, asks for
//! approvals and filters tool lists; here the lines it emits are carried over HTTP.
//!
//! - **POST** carries one client message. A request is forwarded (when the gateway lets it
//!   through) as a POST of the same body with the client's MCP headers; the server's answer,
//!   JSON or an SSE stream, is read message by message through the gateway, and what the
//!   gateway sends the client goes back on the client's POST: as one JSON body when the first
//!   message for it is its response, else as an SSE stream that ends with the response.
//!   A notification or a response is forwarded and acknowledged `202` once the server took it.
//! - **Routing.** A response goes to the POST that carried its request (the gateway's own
//!   answers too: a denial after the user declined goes on the stream of the call, not on
//!   the POST that carried the user's answer); anything else goes to the stream it arose on
//!   (the client's POST, the server's answer to a request, or the GET stream).
//! - **GET** opens the server's stream for messages of its own, passed through the gateway
//!   the same way. **DELETE** ends the session at the server and here.
//! - **Sessions.** Each `Mcp-Session-Id` the server gives (in its answer to `initialize`) is a
//!   gateway session of its own, named `SESSION-N` (`--session`, and a number counting from
//!   1): events carry that name, stateful rules count per session, and the log pairs it with
//!   the `Mcp-Session-Id`. A request naming a session the proxy does not know is answered
//!   `404` (the client starts a new one). Traffic without a session (2026-07-28, or a server
//!   without sessions) is the session `SESSION` (or, behind a server without sessions, that
//!   of the last `initialize`); its requests in flight must carry distinct ids.
//! - **Bounds.** A body is at most [`crate::commands::mcp_proxy::MAX_MESSAGE`] bytes and
//!   must arrive within the body timeout; request heads within the header timeout (a late
//!   one is found by the connection's watch within half as long again, with no timer set per
//!   request: [`crate::serve::io::Activity::idle_or_slow`]); a client
//!   connection idle (no byte and no request in flight, or a write waiting) for the idle
//!   timeout is closed ([`crate::serve::io`]); the server
//!   must accept the connection and answer a request's head within the upstream timeout;
//!   one SSE event from the server is at most a message's size; at most `max_sessions`
//!   sessions and `max_connections` client connections at once.
//! - **Origins.** A request a browser page of another site could send (DNS rebinding, a
//!   cross-origin `Origin`) is refused with `403` ([`foreign`]): the server behind cannot
//!   check this itself, since the proxy names the server's own host to it.
//! - **Failures** of the server (no connection, no answer in time, an HTTP error, a stream
//!   that ends before the response) answer the request with a JSON-RPC error (code
//!   [`gateway::SERVER_GONE`]): never an allow.

pub mod capture;
mod chan;
pub mod h1;
pub mod headers;
pub mod sse;
pub mod upstream;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::mcp::Direction;
use crate::mcp::gateway::{self, Decider, Gateway, Level, Note, Output, Send};
use crate::mcp::message::{Id, RawMessage};
use crate::point::log::Log;
use crate::serve::io::{Held, StdStream, Watched};
pub use upstream::{UpBody, Upstream};

/// The header that names a session.
pub const SESSION_HEADER: &str = "mcp-session-id";
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";
/// The JSON-RPC error code of a request whose `Mcp-Method` or `Mcp-Name` header says
/// something else than its body (the protocol's `HEADER_MISMATCH`).
pub const HEADER_MISMATCH: i64 = -32020;

/// How the HTTP gateway runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// `host:port` to listen on (port 0: any free port, logged).
    pub listen: String,
    pub upstream: Upstream,
    /// The gateway of each session; its `session` names the traffic without a session.
    pub gateway: gateway::Config,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// A client connection that moves no byte for this long with no request in flight, or
    /// whose reader takes no byte for this long, is closed (see [`crate::serve::io`]).
    pub idle_timeout: Duration,
    pub max_sessions: usize,
    pub max_connections: usize,
}

/// Something for the client: a message, or the response that ends its POST.
enum Out {
    Line(Vec<u8>),
    Last(Vec<u8>),
}

/// Where the messages for one client request go, and the headers it came with.
struct Route {
    to: chan::Sender<Out>,
    /// The headers to send its request to the server with ([`Upstream::passed_in`]), when
    /// it is held (an escalation): a request sent at once takes its POST's own.
    headers: Option<Arc<HeaderMap>>,
    /// Which request of that id this is: a client may use an id again once its request is
    /// answered, and the exchange of the first must not take the second for its own.
    serial: u64,
}

#[derive(Default)]
struct Routes {
    by_id: FxHashMap<Id, Route>,
    get: Option<chan::Sender<Out>>,
    next: u64,
}

/// One MCP session: its gateway and where its answers go.
struct Sess<D> {
    /// The gateway's session name (fixed when it is made), shared by the session's tasks.
    name: Arc<str>,
    gateway: Mutex<Gateway<D>>,
    routes: Mutex<Routes>,
    /// The `x-mcp-header` declarations of the tools listed in this session.
    declared: Mutex<headers::Declared>,
}

/// A place for a trace of what the gateway sees (see [`Tap`]).
pub type Tap = Arc<dyn Fn(&str, Direction, &[u8]) + std::marker::Send + Sync>;

struct Shared<D> {
    cfg: Config,
    decider: Box<dyn Fn() -> D + std::marker::Send + Sync>,
    log: Arc<Log>,
    sessions: Mutex<FxHashMap<String, Arc<Sess<D>>>>,
    sessionless: Mutex<Arc<Sess<D>>>,
    /// The number of the next session.
    next: std::sync::atomic::AtomicU64,
    /// Whether the proxy listens on a loopback address (then only loopback names may reach it).
    loopback: bool,
    tap: Option<Tap>,
    /// The connections to the server of each worker ([`Shared::upstream`]).
    pools: Vec<Upstream>,
}

thread_local! {
    /// The number of the worker running on this thread.
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl<D> Shared<D> {
    /// The server, over the connections of the worker running this: an exchange never
    /// waits for a connection task on another thread.
    fn upstream(&self) -> &Upstream {
        let i = WORKER.with(std::cell::Cell::get);
        self.pools.get(i).unwrap_or(&self.cfg.upstream)
    }
}

/// Writes the gateway's notes to the log (both transports).
pub fn log_notes(log: &Log, notes: Vec<Note>) {
    for n in notes {
        let fields: Vec<(&str, Value)> = n.fields.into_iter().collect();
        match n.level {
            Level::Info => log.info(n.event, &n.message, &fields),
            Level::Warn => log.warn(n.event, &n.message, &fields),
            Level::Error => log.error(n.event, &n.message, &fields),
        }
    }
}

/// Runs the gateway until SIGTERM or SIGINT, or until `stop` is notified. Each session gets
/// a decider from `decider`; `tap` sees every message the gateway takes in or sends, with its
/// session, before it goes on.
///
/// The thread calling this accepts connections; each is handed to the worker (one per core,
/// a single-threaded runtime on a thread of its own) with the fewest open, and lives there to
/// its end, with everything it starts: reading a request, deciding it, the exchange with the
/// server over the worker's own pooled connections, and the answer run on one thread, with no
/// wake-up of another (see docs/performance.md).
pub fn run<D: Decider + std::marker::Send + 'static>(
    cfg: Config,
    decider: impl Fn() -> D + std::marker::Send + Sync + 'static,
    log: Arc<Log>,
    tap: Option<Tap>,
    stop: Option<Arc<Notify>>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    rt.block_on(serve(cfg, Box::new(decider), log, tap, stop, threads))
}

/// A connection on its way to a worker, with its place among `max_connections`.
struct Handoff {
    stream: StdStream,
    permit: tokio::sync::OwnedSemaphorePermit,
}

/// A worker as the acceptor sees it.
struct Worker {
    conns: mpsc::UnboundedSender<Handoff>,
    /// Its open connections.
    open: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts `n` workers; each serves the connections handed to it until the acceptor drops its
/// end of the channel, then cuts off whatever is still open.
fn workers<D: Decider + std::marker::Send + 'static>(
    n: usize,
    sh: &Arc<Shared<D>>,
) -> Result<Vec<Worker>, String> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let (conns, mut incoming) = mpsc::unbounded_channel::<Handoff>();
        let open = Arc::new(AtomicUsize::new(0));
        let (sh, count) = (Arc::clone(sh), Arc::clone(&open));
        let thread = std::thread::Builder::new()
            .name(format!("govern-mcp-http-{i}"))
            .spawn(move || {
                WORKER.with(|w| w.set(i));
                rt.block_on(async move {
                    while let Some(h) = incoming.recv().await {
                        connection(h, &sh, &count);
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(|e| format!("cannot start a worker thread: {e}"))?;
        all.push(Worker {
            conns,
            open,
            thread,
        });
    }
    Ok(all)
}

/// Serves one connection on the worker running this.
fn connection<D: Decider + std::marker::Send + 'static>(
    h: Handoff,
    sh: &Arc<Shared<D>>,
    open: &Arc<AtomicUsize>,
) {
    // Counted open on this worker, and its permit held, until the connection is dropped.
    let open = Open {
        count: Arc::clone(open),
        _permit: h.permit,
    };
    let stream = match h.stream.into_tokio() {
        Ok(s) => s,
        Err(e) => {
            sh.log
                .warn("accept", &format!("cannot serve a connection: {e}"), &[]);
            return;
        }
    };
    let io = Watched::new(stream);
    let activity = io.activity();
    let s = Arc::clone(sh);
    let a = activity.clone();
    // No timer in hyper: the head of a request is bounded by the connection's watch below
    // (as in `govern serve`), which marks the end of each head (`busy`). hyper's header
    // timeout set a timer for every request, earlier than any the worker waited for, and so
    // woke the worker's driver through its eventfd once per call.
    // Each answer written with one write (its body copied after its head, no queue of
    // buffers), as `govern serve` writes them.
    let conn = http1::Builder::new()
        .keep_alive(true)
        .writev(false)
        .serve_connection(
            io,
            service_fn(move |req| {
                let s = Arc::clone(&s);
                // In flight until its answer (an SSE stream too) is sent or dropped.
                let busy = a.busy();
                async move {
                    let r = handle(req, s).await;
                    Ok::<_, Infallible>(r.map(|b| BoxBody::new(Held::new(b, busy))))
                }
            }),
        );
    let idle = sh.cfg.idle_timeout;
    let head = sh.cfg.header_timeout;
    let log = Arc::clone(&sh.log);
    let watch = async move { activity.idle_or_slow(idle, Some(head)).await };
    watched(conn, open, watch, move || {
        log.info(
            "idle",
            "a client connection idle, not reading, or slow to send a request's head was closed",
            &[
                ("idle_timeout_s", json!(idle.as_secs_f64())),
                ("request_timeout_s", json!(head.as_secs_f64())),
            ],
        );
    });
}

/// Serves a connection (`conn`) in a task of its own, woken only by its own I/O, and its
/// `watch` in another, which cuts the connection off (and then calls `cut_off`) when it
/// fires first. Polled together in one task, the watch's timer was polled again at every
/// wake of the connection (three a call). `open` is dropped with the connection, ended or
/// cut off: it is counted out and its permit given back either way.
fn watched<C, W>(
    conn: C,
    open: Open,
    watch: W,
    cut_off: impl FnOnce() + std::marker::Send + 'static,
) where
    C: std::future::Future + std::marker::Send + 'static,
    W: std::future::Future<Output = ()> + std::marker::Send + 'static,
{
    let served = tokio::spawn(async move {
        let open = open;
        let _ = conn.await;
        drop(open);
    });
    let cut = served.abort_handle();
    tokio::spawn(async move {
        tokio::select! {
            _ = served => {}
            () = watch => {
                cut.abort();
                cut_off();
            }
        }
    });
}

/// A client connection counted open on its worker, with its permit: counted out, and the
/// permit given back, when the connection is dropped.
struct Open {
    count: Arc<AtomicUsize>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A new session, named after the proxy's (`--session`) and its number: known from its
/// first message on (before the server names it), the same in every run, and not the
/// server's to choose.
fn new_sess<D: Decider>(sh: &Shared<D>) -> Arc<Sess<D>> {
    let mut cfg = sh.cfg.gateway.clone();
    let n = sh.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    cfg.session = format!("{}-{n}", cfg.session);
    Arc::new(Sess {
        name: cfg.session.as_str().into(),
        gateway: Mutex::new(Gateway::new(cfg, (sh.decider)())),
        routes: Mutex::new(Routes::default()),
        declared: Mutex::new(headers::Declared::default()),
    })
}

async fn serve<D: Decider + std::marker::Send + 'static>(
    cfg: Config,
    decider: Box<dyn Fn() -> D + std::marker::Send + Sync>,
    log: Arc<Log>,
    tap: Option<Tap>,
    stop: Option<Arc<Notify>>,
    threads: usize,
) -> Result<(), String> {
    let listener = TcpListener::bind(cfg.listen.as_str())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| cfg.listen.clone());
    let sessionless = Arc::new(Sess {
        name: cfg.gateway.session.as_str().into(),
        gateway: Mutex::new(Gateway::new(cfg.gateway.clone(), decider())),
        routes: Mutex::new(Routes::default()),
        declared: Mutex::new(headers::Declared::default()),
    });
    let limit = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let threads = threads.max(1);
    let pools = (0..threads).map(|_| cfg.upstream.own_pool()).collect();
    let sh = Arc::new(Shared {
        cfg,
        decider,
        log: Arc::clone(&log),
        sessions: Mutex::new(FxHashMap::default()),
        sessionless: Mutex::new(sessionless),
        next: std::sync::atomic::AtomicU64::new(1),
        loopback: listener
            .local_addr()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(true),
        tap,
        pools,
    });
    let workers = workers(threads, &sh)?;
    // Listening for the signals before saying where the proxy listens: a SIGTERM sent as soon
    // as it is up stops it cleanly.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    log.info(
        "listening",
        &format!(
            "deciding the tool calls of {} on http://{addr}",
            sh.cfg.upstream.shown()
        ),
        &[
            ("address", json!(addr)),
            ("upstream", json!(sh.cfg.upstream.shown())),
        ],
    );
    let stopped = async move {
        tokio::select! {
            Some(()) = async { match term.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => "SIGTERM",
            Some(()) = async { match int.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => "SIGINT",
            () = async { match &stop { Some(n) => n.notified().await, None => std::future::pending().await } } => "stop",
        }
    };
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            why = &mut stopped => { log.info("stop", &format!("{why}: stopping"), &[]); break }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            why = &mut stopped => { log.info("stop", &format!("{why}: stopping"), &[]); break }
        };
        let stream = match accepted.and_then(|(s, _)| {
            let _ = s.set_nodelay(true);
            s.into_std()
        }) {
            Ok(s) => StdStream::Tcp(s),
            Err(e) => {
                log.warn("accept", &format!("cannot accept a connection: {e}"), &[]);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(worker) = workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
        else {
            break;
        };
        worker.open.fetch_add(1, Ordering::Relaxed);
        if worker.conns.send(Handoff { stream, permit }).is_err() {
            worker.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
    // The workers stop, cutting off the connections still open.
    let threads: Vec<_> = workers.into_iter().map(|w| w.thread).collect();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

type Body = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

fn answer(status: StatusCode, content_type: Option<&'static str>, body: Body) -> Response<Body> {
    answer_in(HeaderMap::new(), status, content_type, body)
}

/// [`answer`] with the header map `headers` (emptied): the client's request's own, whose room
/// hyper then reads the connection's next request into.
fn answer_in(
    mut headers: HeaderMap,
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Body,
) -> Response<Body> {
    headers.clear();
    let mut r = Response::new(body);
    *r.headers_mut() = headers;
    *r.status_mut() = status;
    if let Some(t) = content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(t));
    }
    r
}

/// A JSON-RPC error as an HTTP answer.
fn rpc_error(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response<Body> {
    let v = json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": {"code": code, "message": message}});
    answer(status, Some(JSON), full(v.to_string()))
}

async fn handle<D: Decider + std::marker::Send + 'static>(
    req: Request<Incoming>,
    sh: Arc<Shared<D>>,
) -> Response<Body> {
    if let Some(why) = foreign(&sh, req.headers()) {
        sh.log.warn("refused", &why, &[]);
        return rpc_error(StatusCode::FORBIDDEN, None, -32600, &why);
    }
    match *req.method() {
        Method::POST => post(req, sh).await,
        Method::GET => get(req, sh).await,
        Method::DELETE => delete(req, sh).await,
        _ => {
            let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, None, full(""));
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

/// The host of a `Host` header value or of an origin (`scheme://host[:port]`), lowercase,
/// without its port.
///
/// Found byte by byte (the parts are ASCII: each cut is at a character's boundary): a string
/// searcher for `://` costs more to make than these short values take to walk.
fn host_of(v: &str) -> std::borrow::Cow<'_, str> {
    let b = v.as_bytes();
    // After the first `://`.
    let from = b.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
    let v = v.get(from..).unwrap_or(v);
    // Up to the first `/`.
    let v = v
        .get(..v.bytes().position(|c| c == b'/').unwrap_or(v.len()))
        .unwrap_or(v);
    let host = if let Some(rest) = v.strip_prefix('[') {
        // Up to the first `]`.
        rest.get(..rest.bytes().position(|c| c == b']').unwrap_or(rest.len()))
            .unwrap_or(rest)
    } else {
        // Up to the last `:`.
        v.bytes()
            .rposition(|c| c == b':')
            .and_then(|i| v.get(..i))
            .unwrap_or(v)
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

fn is_loopback_name(host: &str) -> bool {
    // The usual loopback address said so before parsing (it parses as loopback).
    host == "127.0.0.1"
        || host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a request from a browser page of another site (DNS rebinding, cross-origin requests)
/// is refused, as the MCP transport requires of servers: on a loopback address the `Host`
/// must be a loopback name; an `Origin`, when sent, must be a loopback one there, and the
/// request's own host elsewhere.
fn foreign<D>(sh: &Shared<D>, headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(host_of);
    if sh.loopback && !host.as_deref().is_some_and(is_loopback_name) {
        return Some(format!(
            "the Host `{}` is not a loopback name: refused (DNS rebinding)",
            crate::source::printable(host.as_deref().unwrap_or(""))
        ));
    }
    let origin = headers.get(hyper::header::ORIGIN)?;
    let o = host_of(origin.to_str().unwrap_or("?"));
    let ok = if sh.loopback {
        is_loopback_name(&o)
    } else {
        host.as_deref() == Some(&*o)
    };
    (!ok).then(|| {
        format!(
            "a request from the origin `{}` is not accepted here",
            crate::source::printable(&o)
        )
    })
}

/// The session a request names: `Ok(None)` when it names none, `Err` (404) when the proxy
/// does not know it.
fn session_of<D>(sh: &Shared<D>, headers: &HeaderMap) -> Result<Option<Arc<Sess<D>>>, ()> {
    static SESSION: HeaderName = HeaderName::from_static(SESSION_HEADER);
    let Some(v) = headers.get(&SESSION) else {
        return Ok(None);
    };
    let key = v.to_str().map_err(|_| ())?;
    let sessions = sh.sessions.lock().map_err(|_| ())?;
    sessions.get(key).cloned().map(Some).ok_or(())
}

fn unknown_session() -> Response<Body> {
    rpc_error(
        StatusCode::NOT_FOUND,
        None,
        gateway::SERVER_GONE,
        "no such MCP session here (it ended, or the proxy restarted): start a new one",
    )
}

/// What the proxy reads of a client message before the gateway does.
struct Head<'a> {
    /// The id of a request (a string or a number).
    id: Option<Id>,
    method: Option<std::borrow::Cow<'a, str>>,
    /// The message's members, read without a tree ([`RawMessage::read`]), for the routing
    /// headers' check and the gateway; `None` when they could not be read so.
    read: Option<RawMessage<'a>>,
}

/// The method and id of a message, its top members read without a tree (as a tree when
/// they cannot be read so: a member twice).
fn head_of(body: &[u8]) -> Head<'_> {
    if let Some(m) = RawMessage::read(body) {
        let method = m.method();
        // Its own text when it is written as the serializer writes it (no value read).
        let id = match (&method, m.id) {
            (Some(_), Some(raw)) => Id::of_raw(raw),
            _ => None,
        };
        return Head {
            id,
            method,
            read: Some(m),
        };
    }
    let msg: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .map(|m| std::borrow::Cow::Owned(m.to_string()));
    Head {
        id: match (&method, msg.get("id")) {
            (Some(_), Some(id)) => Id::of(id),
            _ => None,
        },
        method,
        read: None,
    }
}

/// An id as a value, for an error that answers its request.
fn id_value(id: Option<&Id>) -> Option<Value> {
    id.and_then(|id| serde_json::from_str(id.as_json()).ok())
}

/// A body read whole, as `collect` and `to_bytes` read it (its data in order, trailers left
/// out): one that comes in one piece, as a message does, is that piece, with no list of
/// pieces made and dropped.
async fn whole<B: hyper::body::Body<Data = Bytes>>(body: B) -> Result<Bytes, B::Error> {
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut more = Vec::new();
    while let Some(f) = body.frame().await {
        let Ok(data) = f?.into_data() else {
            continue;
        };
        if first.is_empty() {
            first = data;
        } else {
            if more.is_empty() {
                more.extend_from_slice(&first);
            }
            more.extend_from_slice(&data);
        }
    }
    Ok(if more.is_empty() {
        first
    } else {
        Bytes::from(more)
    })
}

async fn read_body(body: Incoming, max: usize, within: Duration) -> Result<Bytes, Response<Body>> {
    match tokio::time::timeout(within, whole(Limited::new(body, max))).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            -32600,
            &format!("a message is over the limit of {max} bytes for an MCP message"),
        )),
        Ok(Err(e)) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            -32700,
            &format!("cannot read the request body: {e}"),
        )),
        Err(_) => Err(rpc_error(
            StatusCode::REQUEST_TIMEOUT,
            None,
            -32600,
            &format!(
                "the request body did not arrive within {} s",
                within.as_secs_f64()
            ),
        )),
    }
}

/// Whether the `Content-Type` of `headers` is `t` (in any case, with or without parameters).
fn is_type(headers: &HeaderMap, t: &str) -> bool {
    type_is(headers.get(CONTENT_TYPE), t)
}

/// Whether the content type `v` is `t` (in any case, with or without parameters).
fn type_is(v: Option<&HeaderValue>, t: &str) -> bool {
    v.and_then(|v| v.as_bytes().get(..t.len()))
        .is_some_and(|p| p.eq_ignore_ascii_case(t.as_bytes()))
}

/// What the server's answer to the client's own request said in its head.
struct UpstreamHead {
    session: Option<HeaderValue>,
    /// The server answers with an SSE stream: so does the proxy, at once (a long call keeps
    /// the client's connection alive as the server's does).
    stream: bool,
    /// The map the answer's headers were read into, for the answer to the client (hyper
    /// reads the client's next request into it): one map goes round a call, none is made.
    headers: HeaderMap,
}

async fn post<D: Decider + std::marker::Send + 'static>(
    req: Request<Incoming>,
    sh: Arc<Shared<D>>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    let named = match session_of(&sh, &headers) {
        Ok(s) => s,
        Err(()) => return unknown_session(),
    };
    let max = sh.cfg.gateway.max_message;
    let body = match read_body(body, max, sh.cfg.body_timeout).await {
        Ok(b) => b,
        Err(r) => {
            sh.log.warn(
                "bad-message",
                "a request body over the limit or too slow was refused",
                &[("direction", json!(Direction::ClientToServer.as_str()))],
            );
            return r;
        }
    };
    let mut head = head_of(&body);
    let initialize = head.method.as_deref() == Some("initialize");
    let (sess, fresh) = match named {
        Some(s) => (s, false),
        None if initialize => (new_sess(&sh), true),
        None => match sh.sessionless.lock() {
            Ok(s) => (Arc::clone(&s), false),
            Err(_) => {
                return rpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    -32603,
                    "the proxy failed",
                );
            }
        },
    };
    // Routing headers that say something else than the body: refused before anything else.
    let mismatch = match sess.declared.lock() {
        Ok(d) => headers::disagree_read(&headers, &body, head.read.as_ref(), &d),
        Err(_) => Some("the proxy failed".to_string()),
    };
    if let Some(why) = mismatch {
        sh.log.warn(
            "bad-message",
            &format!("{why} (from the client, refused)"),
            &[],
        );
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id_value(head.id.as_ref()).as_ref(),
            HEADER_MISMATCH,
            &why,
        );
    }
    let session_name = Arc::clone(&sess.name);
    let id = head.id.take();
    let (tx, mut rx) = chan::channel::<Out>();
    let mut serial = 0;
    if let Some(id) = &id {
        let Ok(mut r) = sess.routes.lock() else {
            return rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                -32603,
                "the proxy failed",
            );
        };
        if r.by_id.contains_key(id) {
            return rpc_error(
                StatusCode::CONFLICT,
                id_value(Some(id)).as_ref(),
                -32600,
                "a request with this id is in flight in this session: use another id",
            );
        }
        r.next += 1;
        serial = r.next;
        r.by_id.insert(
            id.clone(),
            Route {
                to: tx.clone(),
                headers: None,
                serial,
            },
        );
    }
    // The client's map, made the request's to the server in place.
    sh.upstream().passed_in(&mut headers);
    if let Some(tap) = &sh.tap {
        tap(&session_name, Direction::ClientToServer, &body);
    }
    let sends = {
        let mut out = Output::default();
        match sess.gateway.lock() {
            // A call is read without a tree; anything else as one, once, by the gateway.
            Ok(mut g) => g.from_client_read(&body, head.read, id.as_ref(), &mut out),
            Err(_) => {
                return rpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    -32603,
                    "the proxy failed",
                );
            }
        }
        log_notes(&sh.log, out.notes);
        out.sends
    };
    let mut own: Option<Own> = None;
    let (waits, left) = dispatch(
        &sh,
        &sess,
        &session_name,
        sends,
        Some(&tx),
        headers,
        id.as_ref().map(|i| (i, &body[..])),
        &mut own,
    )
    .await;
    drop(tx);
    if own.is_none()
        && let (Some(id), Some(left)) = (&id, left)
        && let Ok(mut r) = sess.routes.lock()
        && let Some(route) = r.by_id.get_mut(id).filter(|r| r.serial == serial)
    {
        // Held (an escalation): sent later, with these headers.
        route.headers = Some(Arc::new(left));
    }
    if id.is_none() {
        // A notification or a response: acknowledged once the server took it.
        let mut failed = None;
        for w in waits {
            match w.await {
                Ok(Ok(s)) if s.is_success() => {}
                Ok(Ok(s)) => {
                    failed = Some((s, format!("the MCP server answered HTTP {}", s.as_u16())))
                }
                Ok(Err(e)) => failed = Some((StatusCode::BAD_GATEWAY, e)),
                Err(e) => failed = Some((StatusCode::BAD_GATEWAY, e.to_string())),
            }
        }
        if let Some(Out::Line(l) | Out::Last(l)) = rx.try_recv() {
            // The gateway refused it (not JSON, not JSON-RPC): its error goes back.
            return answer(StatusCode::BAD_REQUEST, Some(JSON), full(l));
        }
        return match failed {
            None => answer(StatusCode::ACCEPTED, None, full("")),
            Some((s, why)) => {
                sh.log.error("upstream", &why, &[]);
                let status = if s == StatusCode::NOT_FOUND {
                    s
                } else {
                    StatusCode::BAD_GATEWAY
                };
                rpc_error(status, None, gateway::SERVER_GONE, &why)
            }
        };
    }
    let upstream_head = match own {
        Some(o) => own_exchange(&sh, &sess, &session_name, o).await,
        None => None,
    };
    let stream = upstream_head.as_ref().is_some_and(|h| h.stream);
    let (session_id, headers) = match upstream_head {
        Some(h) => (h.session, h.headers),
        None => (None, HeaderMap::new()),
    };
    if fresh {
        match session_id.as_ref().and_then(|v| v.to_str().ok()) {
            Some(sid) => {
                let mut sessions = match sh.sessions.lock() {
                    Ok(s) => s,
                    Err(_) => {
                        return rpc_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            None,
                            -32603,
                            "the proxy failed",
                        );
                    }
                };
                if sessions.contains_key(sid) {
                    drop(sessions);
                    let why = "the MCP server gave a session id already in use";
                    sh.log.error("upstream", why, &[]);
                    return rpc_error(
                        StatusCode::BAD_GATEWAY,
                        id_value(id.as_ref()).as_ref(),
                        gateway::SERVER_GONE,
                        why,
                    );
                }
                if sessions.len() >= sh.cfg.max_sessions {
                    drop(sessions);
                    sh.log.error(
                        "sessions",
                        "too many sessions: refused a new one",
                        &[("max", json!(sh.cfg.max_sessions))],
                    );
                    return rpc_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        id_value(id.as_ref()).as_ref(),
                        gateway::SERVER_BUSY,
                        &format!(
                            "{} MCP sessions are open: end some first",
                            sh.cfg.max_sessions
                        ),
                    );
                }
                sessions.insert(sid.to_string(), Arc::clone(&sess));
                sh.log.info(
                    "session",
                    "a new MCP session",
                    &[
                        ("session", json!(&*session_name)),
                        ("mcp_session_id", json!(sid)),
                    ],
                );
            }
            None => {
                // A server without sessions: this client's handshake is the session-less one.
                if let Ok(mut s) = sh.sessionless.lock() {
                    *s = Arc::clone(&sess);
                }
            }
        }
    }
    let first = if stream { None } else { Some(rx.recv().await) };
    let sse = matches!(first, None | Some(Some(Out::Line(_))));
    let mut resp = match first {
        None => answer(
            StatusCode::OK,
            Some(EVENT_STREAM),
            BoxBody::new(Events {
                first: None,
                rx,
                done: false,
            }),
        ),
        Some(first) => match first {
            None => rpc_error(
                StatusCode::BAD_GATEWAY,
                id_value(id.as_ref()).as_ref(),
                gateway::SERVER_GONE,
                "no answer to this request",
            ),
            Some(Out::Last(line)) => answer_in(headers, StatusCode::OK, Some(JSON), full(line)),
            Some(Out::Line(line)) => answer(
                StatusCode::OK,
                Some(EVENT_STREAM),
                BoxBody::new(Events {
                    first: Some(Bytes::from(sse::message(&line))),
                    rx,
                    done: false,
                }),
            ),
        },
    };
    if let Some(sid) = session_id {
        resp.headers_mut()
            .insert(HeaderName::from_static(SESSION_HEADER), sid);
    }
    if sse {
        resp.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    resp
}

/// An SSE body from the messages for one request (ends after its response) or the GET stream.
struct Events {
    first: Option<Bytes>,
    rx: chan::Receiver<Out>,
    done: bool,
}

impl hyper::body::Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Out::Line(l))) => {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(sse::message(&l))))))
            }
            Poll::Ready(Some(Out::Last(l))) => {
                self.done = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(sse::message(&l))))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The exchange of the client's own request with the server, left to the client's POST to
/// carry out ([`own_exchange`]).
struct Own {
    line: Vec<u8>,
    headers: HeaderMap,
    id: Id,
    serial: Option<u64>,
}

/// Carries out what the gateway asked: lines for the client go where they belong
/// ([`deliver`]); a request for the server becomes an exchange of its own (its answers go
/// to the client's request of that id), a notification or response a POST whose outcome is
/// returned to wait for. The exchange of the POST's own request (`own_id`, whose body was
/// `own_line`) is left in `own` for the POST to carry out on its own task.
#[allow(clippy::too_many_arguments)]
async fn dispatch<D: Decider + std::marker::Send + 'static>(
    sh: &Arc<Shared<D>>,
    sess: &Arc<Sess<D>>,
    session_name: &str,
    sends: Vec<Send>,
    ctx: Option<&chan::Sender<Out>>,
    headers: HeaderMap,
    own_id: Option<(&Id, &[u8])>,
    own: &mut Option<Own>,
) -> (
    Vec<tokio::task::JoinHandle<Result<StatusCode, String>>>,
    Option<HeaderMap>,
) {
    let mut waits = Vec::new();
    // The POST's headers ([`Upstream::passed_in`]) go with the last request that takes
    // them, moved; any before it get a copy. Whatever no request took is returned.
    let mut headers = Some(headers);
    let mut servers = sends
        .iter()
        .filter(|s| matches!(s, Send::Server(_)))
        .count();
    let mut post_headers = |headers: &mut Option<HeaderMap>| {
        servers = servers.saturating_sub(1);
        if servers == 0 {
            headers.take().unwrap_or_default()
        } else {
            headers.clone().unwrap_or_default()
        }
    };
    for s in sends {
        match s {
            Send::Client(line) => deliver(sh, sess, session_name, line, None, ctx).await,
            Send::Server(line) => {
                // The client's request passed on as it came: its id is known, not read again.
                let id = match own_id {
                    Some((id, body)) if trim(body) == line.as_slice() => Some(id.clone()),
                    _ => head_of(&line).id,
                };
                match id {
                    Some(id) => {
                        let route =
                            sess.routes.lock().ok().and_then(|r| {
                                r.by_id.get(&id).map(|r| (r.headers.clone(), r.serial))
                            });
                        let serial = route.as_ref().map(|r| r.1);
                        // A held request's own headers; else the POST's.
                        let route_headers = match route.and_then(|r| r.0) {
                            Some(h) => Arc::unwrap_or_clone(h),
                            None => post_headers(&mut headers),
                        };
                        if own.is_none() && own_id.is_some_and(|(o, _)| *o == id) {
                            *own = Some(Own {
                                line,
                                headers: route_headers,
                                id,
                                serial,
                            });
                            continue;
                        }
                        tokio::spawn(exchange(
                            Arc::clone(sh),
                            Arc::clone(sess),
                            Arc::clone(&sess.name),
                            line,
                            route_headers,
                            id,
                            serial,
                        ));
                    }
                    None => {
                        let sh = Arc::clone(sh);
                        let headers = post_headers(&mut headers);
                        waits.push(tokio::spawn(async move {
                            let r = sh
                                .upstream()
                                .send_passed(Method::POST, headers, Bytes::from(line))
                                .await?;
                            let status = r.status();
                            // The body of an acknowledgement: read (bounded) and dropped.
                            let _ = Limited::new(r.into_body(), 1 << 20).collect().await;
                            Ok(status)
                        }));
                    }
                }
            }
        }
    }
    (waits, headers)
}

/// The trailing line ends of a message, cut (as the gateway cuts them).
fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let [rest @ .., b'\n' | b'\r'] = l {
        l = rest;
    }
    l
}

/// Sends a line to the client: a response to the stream of its request (which it ends),
/// anything else to the stream it arose on, else to the GET stream. `known` is the id of a
/// server's response the gateway passed on as it came (it is not read again, unless it may
/// be a `tools/list` result, whose declarations are noted).
async fn deliver<D>(
    sh: &Shared<D>,
    sess: &Sess<D>,
    session_name: &str,
    line: Vec<u8>,
    known: Option<Id>,
    ctx: Option<&chan::Sender<Out>>,
) {
    let known = known.filter(|_| !may_list_tools(&line));
    let (response, id) = match known.map(|id| (true, Some(id))).or_else(|| peek(&line)) {
        Some(p) => p,
        None => {
            let v: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
            let response = v.get("method").is_none()
                && (v.get("result").is_some() || v.get("error").is_some());
            if response && let Ok(mut d) = sess.declared.lock() {
                // A tools/list result: the arguments its tools mirror into headers, to check
                // calls by.
                d.note(&v);
            }
            (response, v.get("id").and_then(Id::of))
        }
    };
    let routed = match id {
        Some(id) if response => sess
            .routes
            .lock()
            .ok()
            .and_then(|mut r| r.by_id.remove(&id)),
        _ => None,
    };
    if let Some(tap) = &sh.tap {
        tap(session_name, Direction::ServerToClient, &line);
    }
    let sent = match (routed, ctx) {
        (Some(route), _) => route.to.send(Out::Last(line)).await.is_ok(),
        (None, Some(c)) => c.send(Out::Line(line)).await.is_ok(),
        (None, None) => {
            let get = sess.routes.lock().ok().and_then(|r| r.get.clone());
            match get {
                Some(g) => g.send(Out::Line(line)).await.is_ok(),
                None => false,
            }
        }
    };
    if !sent {
        sh.log.warn(
            "client",
            "a message for the client was dropped: the stream it belonged to is closed",
            &[],
        );
    }
}

/// The top of a message for the client, as [`deliver`] routes it: which of its members are
/// there (whatever their value) and its id. A tool result's content is skipped over, not
/// built as a tree.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(default, deserialize_with = "present")]
    method: bool,
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
    #[serde(default, borrow)]
    id: Option<&'a serde_json::value::RawValue>,
}

fn present<'de, De: serde::Deserializer<'de>>(d: De) -> Result<bool, De::Error> {
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(d).map(|_| true)
}

/// Whether a message for the client may be a `tools/list` result (it has a `"tools"` key).
fn may_list_tools(line: &[u8]) -> bool {
    // The searcher made once: making it is most of the work for a short message.
    static TOOLS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"tools\""));
    TOOLS.find(line).is_some()
}

/// Whether a message for the client is a response, and its id, read without building the
/// message; `None` when the whole message must be read: it may be a `tools/list` result
/// (whose declarations are noted), or it is not plain (a member twice, escapes in keys).
fn peek(line: &[u8]) -> Option<(bool, Option<Id>)> {
    if may_list_tools(line) || memchr::memmem::find(line, b"\\u").is_some() {
        return None;
    }
    let p: Peek = serde_json::from_slice(line).ok()?;
    let id = match p.id {
        Some(raw) => Id::of(&serde_json::from_str(raw.get()).ok()?),
        None => None,
    };
    Some((!p.method && (p.result || p.error), id))
}

/// Answers the client's request `id` with an error from the gateway's side, through the
/// gateway (so that the call is closed there and the error decided as its result).
async fn fail<D: Decider>(sh: &Shared<D>, sess: &Sess<D>, session_name: &str, id: &Id, why: &str) {
    sh.log.error("upstream", why, &[]);
    let id_value: Value = serde_json::from_str(id.as_json()).unwrap_or(Value::Null);
    let v = json!({"jsonrpc": "2.0", "id": id_value, "error": {"code": gateway::SERVER_GONE, "message": format!("the MCP server failed: {why}")}});
    let (out, passed) = from_server(sh, sess, v.to_string().as_bytes());
    for (i, s) in out.into_iter().enumerate() {
        if let Send::Client(line) = s {
            deliver(sh, sess, session_name, line, passed.known(i), None).await;
        }
    }
}

/// The server's response the gateway passed on as it came, among the sends of one message:
/// its place and id ([`Output::passed_response`]).
struct Passed(Option<(usize, Id)>);

impl Passed {
    /// The id of the `i`th send, when it is that response.
    fn known(&self, i: usize) -> Option<Id> {
        match &self.0 {
            Some((at, id)) if *at == i => Some(id.clone()),
            _ => None,
        }
    }
}

fn from_server<D: Decider>(sh: &Shared<D>, sess: &Sess<D>, line: &[u8]) -> (Vec<Send>, Passed) {
    let mut out = Output::default();
    if let Ok(mut g) = sess.gateway.lock() {
        g.from_server(line, &mut out);
    }
    log_notes(&sh.log, out.notes);
    (out.sends, Passed(out.passed_response))
}

/// Reads the server's SSE stream `body`: each message goes through the gateway, and what it
/// sends the client is delivered on `to`. Stops when the stream ends or breaks, when an event
/// is over `max` bytes, or when `done` says nobody waits for more (asked after each message).
async fn events<D: Decider>(
    sh: &Shared<D>,
    sess: &Sess<D>,
    session_name: &str,
    mut body: UpBody,
    max: usize,
    to: Option<&chan::Sender<Out>>,
    done: impl Fn() -> bool,
) {
    let mut reader = sse::Reader::new(max);
    let mut events = Vec::new();
    loop {
        let frame = match body.frame().await {
            None => return,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                sh.log.warn(
                    "upstream",
                    &format!("the MCP server's stream broke: {e}"),
                    &[],
                );
                return;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if let Err(e) = reader.feed(&data, &mut events) {
            sh.log.error(
                "bad-message",
                &format!(
                    "an event over the limit of {} bytes from the server: the stream is dropped",
                    e.limit
                ),
                &[("direction", json!(Direction::ServerToClient.as_str()))],
            );
            return;
        }
        for ev in events.drain(..) {
            if !ev.is_message() {
                continue;
            }
            let (sends, passed) = from_server(sh, sess, &ev.data);
            for (i, s) in sends.into_iter().enumerate() {
                if let Send::Client(l) = s {
                    deliver(sh, sess, session_name, l, passed.known(i), to).await;
                }
            }
            if done() {
                return;
            }
        }
    }
}

/// Whether the client's request `id` (the one numbered `serial`, not a later one that uses
/// the id again) still waits for its response.
fn waiting<D>(sess: &Sess<D>, id: &Id, serial: Option<u64>) -> bool {
    sess.routes
        .lock()
        .map(|r| r.by_id.get(id).is_some_and(|r| Some(r.serial) == serial))
        .unwrap_or(false)
}

/// POSTs a request to the server; when that fails, the client's request `id` is answered
/// with an error and there is no answer to read.
async fn request<D: Decider>(
    sh: &Shared<D>,
    sess: &Sess<D>,
    session_name: &str,
    line: Vec<u8>,
    headers: HeaderMap,
    id: &Id,
) -> Option<Response<UpBody>> {
    match sh
        .upstream()
        .send_passed(Method::POST, headers, Bytes::from(line))
        .await
    {
        Ok(r) => Some(r),
        Err(e) => {
            fail(sh, sess, session_name, id, &e).await;
            None
        }
    }
}

/// One forwarded request: POSTed to the server, its answer (JSON or SSE) read through the
/// gateway message by message. A request left without a response is answered with an error.
async fn exchange<D: Decider + std::marker::Send + 'static>(
    sh: Arc<Shared<D>>,
    sess: Arc<Sess<D>>,
    session_name: Arc<str>,
    line: Vec<u8>,
    headers: HeaderMap,
    id: Id,
    serial: Option<u64>,
) {
    if let Some(resp) = request(&sh, &sess, &session_name, line, headers, &id).await {
        let kind = Kind::of(resp.status(), resp.headers());
        answer_of(sh, sess, session_name, kind, resp.into_body(), id, serial).await;
    }
}

/// The exchange of the client's own request, on the task of its POST: the answer's head
/// says how the proxy answers. A JSON answer is read here too, so a call and its result
/// take no other task; an SSE stream is read by a task of its own while the POST streams.
async fn own_exchange<D: Decider + std::marker::Send + 'static>(
    sh: &Arc<Shared<D>>,
    sess: &Arc<Sess<D>>,
    session_name: &str,
    o: Own,
) -> Option<UpstreamHead> {
    let resp = request(sh, sess, session_name, o.line, o.headers, &o.id).await?;
    let (mut parts, body) = resp.into_parts();
    let kind = Kind::of(parts.status, &parts.headers);
    let session = parts.headers.remove(SESSION_HEADER);
    let stream = parts.status.is_success() && kind.sse;
    let rest = answer_of(
        Arc::clone(sh),
        Arc::clone(sess),
        Arc::clone(&sess.name),
        kind,
        body,
        o.id,
        o.serial,
    );
    if stream {
        tokio::spawn(rest);
    } else {
        rest.await;
    }
    // The map hyper read the answer's head into goes on to answer the client.
    Some(UpstreamHead {
        session,
        stream,
        headers: parts.headers,
    })
}

/// What the head of the server's answer says of its body.
#[derive(Clone, Copy)]
struct Kind {
    status: StatusCode,
    sse: bool,
    json: bool,
}

impl Kind {
    fn of(status: StatusCode, headers: &HeaderMap) -> Kind {
        // One lookup for both.
        let t = headers.get(CONTENT_TYPE);
        Kind {
            status,
            sse: type_is(t, EVENT_STREAM),
            json: type_is(t, JSON),
        }
    }
}

/// Reads the server's answer to the client's request `id` (the one numbered `serial`)
/// through the gateway; a request left without a response is answered with an error.
async fn answer_of<D: Decider + std::marker::Send + 'static>(
    sh: Arc<Shared<D>>,
    sess: Arc<Sess<D>>,
    session_name: Arc<str>,
    kind: Kind,
    body: UpBody,
    id: Id,
    serial: Option<u64>,
) {
    let Kind { status, sse, json } = kind;
    let ctx = sess.routes.lock().ok().and_then(|r| {
        r.by_id
            .get(&id)
            .filter(|r| Some(r.serial) == serial)
            .map(|r| r.to.clone())
    });
    let max = sh.cfg.gateway.max_message;
    if status.is_success() && sse {
        events(&sh, &sess, &session_name, body, max, ctx.as_ref(), || {
            // The client went away (on 2026-07-28, its cancellation) or the answer is in:
            // closing the server's stream says so.
            ctx.as_ref().is_some_and(chan::Sender::is_closed) || !waiting(&sess, &id, serial)
        })
        .await;
    } else if json && status != StatusCode::ACCEPTED {
        match whole(Limited::new(body, max)).await {
            Ok(b) => {
                let (sends, passed) = from_server(&sh, &sess, &b);
                for (i, s) in sends.into_iter().enumerate() {
                    if let Send::Client(l) = s {
                        let known = passed.known(i);
                        deliver(&sh, &sess, &session_name, l, known, ctx.as_ref()).await;
                    }
                }
            }
            Err(e) => {
                sh.log.error(
                    "upstream",
                    &format!("the MCP server's answer could not be read: {e}"),
                    &[],
                );
            }
        }
    }
    if waiting(&sess, &id, serial) {
        let why = if status.is_success() {
            if status == StatusCode::ACCEPTED {
                "it answered a request with 202 Accepted".to_string()
            } else {
                "its answer ended without the response".to_string()
            }
        } else {
            format!("it answered HTTP {}", status.as_u16())
        };
        fail(&sh, &sess, &session_name, &id, &why).await;
    }
}

async fn get<D: Decider + std::marker::Send + 'static>(
    req: Request<Incoming>,
    sh: Arc<Shared<D>>,
) -> Response<Body> {
    let headers = req.headers().clone();
    let sess = match session_of(&sh, &headers) {
        Ok(Some(s)) => s,
        Ok(None) => match sh.sessionless.lock() {
            Ok(s) => Arc::clone(&s),
            Err(_) => return answer(StatusCode::INTERNAL_SERVER_ERROR, None, full("")),
        },
        Err(()) => return unknown_session(),
    };
    let resp = match sh
        .upstream()
        .send(Method::GET, &headers, Bytes::new())
        .await
    {
        Ok(r) => r,
        Err(e) => {
            sh.log.error("upstream", &e, &[]);
            return rpc_error(StatusCode::BAD_GATEWAY, None, gateway::SERVER_GONE, &e);
        }
    };
    let status = resp.status();
    let is_stream = is_type(resp.headers(), EVENT_STREAM);
    if !status.is_success() || !is_stream {
        // 405 (no stream offered) and the like: passed on, without a body to read.
        return answer(status, None, Empty::new().boxed());
    }
    let session_name = Arc::clone(&sess.name);
    let (tx, rx) = chan::channel::<Out>();
    if let Ok(mut r) = sess.routes.lock() {
        r.get = Some(tx.clone());
    }
    let max = sh.cfg.gateway.max_message;
    tokio::spawn(async move {
        let body = resp.into_body();
        events(&sh, &sess, &session_name, body, max, Some(&tx), || {
            tx.is_closed()
        })
        .await;
        if let Ok(mut r) = sess.routes.lock()
            && r.get.as_ref().is_some_and(|g| g.same_channel(&tx))
        {
            r.get = None;
        }
    });
    let mut r = answer(
        StatusCode::OK,
        Some(EVENT_STREAM),
        BoxBody::new(Events {
            first: None,
            rx,
            done: false,
        }),
    );
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

async fn delete<D: Decider + std::marker::Send + 'static>(
    req: Request<Incoming>,
    sh: Arc<Shared<D>>,
) -> Response<Body> {
    let headers = req.headers().clone();
    let Some(key) = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            -32600,
            "DELETE names no Mcp-Session-Id",
        );
    };
    if session_of(&sh, &headers).is_err() {
        return unknown_session();
    }
    let status = match sh
        .upstream()
        .send(Method::DELETE, &headers, Bytes::new())
        .await
    {
        Ok(r) => {
            let s = r.status();
            let _ = Limited::new(r.into_body(), 1 << 20).collect().await;
            s
        }
        Err(e) => {
            sh.log.error("upstream", &e, &[]);
            return rpc_error(StatusCode::BAD_GATEWAY, None, gateway::SERVER_GONE, &e);
        }
    };
    if status.is_success()
        && let Ok(mut s) = sh.sessions.lock()
    {
        s.remove(&key);
        sh.log.info(
            "session",
            "the MCP session ended",
            &[("mcp_session_id", json!(key))],
        );
    }
    answer(status, None, Empty::new().boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of the frames given, each frame polled once.
    struct Pieces(std::collections::VecDeque<Frame<Bytes>>);

    impl hyper::body::Body for Pieces {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    #[test]
    fn bodies_are_read_whole_as_collect_reads_them() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let data = |s: &'static str| Frame::data(Bytes::from_static(s.as_bytes()));
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", HeaderValue::from_static("1"));
        let cases: Vec<Vec<Frame<Bytes>>> = vec![
            vec![],
            vec![data("")],
            vec![data("{\"a\":1}")],
            vec![data(""), data("ab"), data(""), data("cd")],
            vec![data("ab"), Frame::trailers(trailers.clone()), data("cd")],
            vec![data("a"), data("b"), data("c"), Frame::trailers(trailers)],
        ];
        for frames in cases {
            let copy = || {
                Pieces(
                    frames
                        .iter()
                        .map(|f| match f.data_ref() {
                            Some(d) => Frame::data(d.clone()),
                            None => Frame::trailers(f.trailers_ref().cloned().unwrap_or_default()),
                        })
                        .collect(),
                )
            };
            let collected = rt.block_on(copy().collect()).unwrap().to_bytes();
            assert_eq!(rt.block_on(whole(copy())).unwrap(), collected);
            // Over the limit: refused as before.
            if collected.len() > 1 {
                let e = rt
                    .block_on(whole(Limited::new(copy(), collected.len() - 1)))
                    .unwrap_err();
                assert!(e.is::<http_body_util::LengthLimitError>());
            }
        }
        // A body in one piece is that piece, not a copy.
        let one = Bytes::from_static(b"{}");
        let got = rt
            .block_on(whole(Pieces([Frame::data(one.clone())].into())))
            .unwrap();
        assert_eq!(got.as_ptr(), one.as_ptr());
    }

    /// `host_of` finds the host as the string splits it found it before.
    #[test]
    fn hosts_are_found_as_splits_found_them() {
        fn by_splits(v: &str) -> String {
            let v = v.split_once("://").map_or(v, |(_, rest)| rest);
            let v = v.split('/').next().unwrap_or(v);
            let host = if let Some(rest) = v.strip_prefix('[') {
                rest.split(']').next().unwrap_or(rest)
            } else {
                v.rsplit_once(':').map_or(v, |(h, _)| h)
            };
            host.to_ascii_lowercase()
        }
        let pieces = [
            "", "a", "É", "é", ":", "://", ":/", "/", "[", "]", "::1", "80", "X",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in ["", ":", "/", "]", "://"] {
                        let v = format!("{a}{b}{c}{d}");
                        assert_eq!(host_of(&v), by_splits(&v), "{v:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn hosts_and_origins() {
        assert_eq!(host_of("127.0.0.1:8788"), "127.0.0.1");
        assert_eq!(host_of("http://LocalHost:3000"), "localhost");
        assert_eq!(host_of("[::1]:8788"), "::1");
        assert_eq!(host_of("http://[::1]:80/x"), "::1");
        assert_eq!(host_of("evil.example"), "evil.example");
        for h in [
            "localhost",
            "127.0.0.1",
            "::1",
            "app.localhost",
            "127.1.2.3",
        ] {
            assert!(is_loopback_name(h), "{h}");
        }
        for h in [
            "evil.example",
            "0.0.0.0",
            "10.0.0.1",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_name(h), "{h}");
        }
    }

    /// A connection cut off by its watch, or ended, is counted out of its worker and gives
    /// its permit back; one its watch has not cut off is still counted.
    #[test]
    fn connections_cut_off_or_ended_are_counted_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let limit = Arc::new(Semaphore::new(2));
            let count = Arc::new(AtomicUsize::new(0));
            let open = || {
                count.fetch_add(1, Ordering::Relaxed);
                Open {
                    count: Arc::clone(&count),
                    _permit: Arc::clone(&limit).try_acquire_owned().unwrap(),
                }
            };
            // Waits until `n` connections are counted open and hold permits.
            let settled = |n: usize| {
                let (count, limit) = (Arc::clone(&count), Arc::clone(&limit));
                async move {
                    for _ in 0..200 {
                        if count.load(Ordering::Relaxed) == n && limit.available_permits() == 2 - n
                        {
                            return true;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    false
                }
            };
            let (cut_tx, cut_rx) = tokio::sync::oneshot::channel();
            // Never ends; its watch fires at once.
            watched(std::future::pending::<()>(), open(), async {}, move || {
                let _ = cut_tx.send(());
            });
            cut_rx.await.unwrap();
            assert!(settled(0).await, "a connection cut off was not counted out");
            // Ends; its watch never fires.
            let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
            watched(end_rx, open(), std::future::pending(), || {
                panic!("cut off though it ended")
            });
            assert!(settled(1).await);
            drop(end_tx);
            assert!(
                settled(0).await,
                "a connection that ended was not counted out"
            );
            // Neither ended nor cut off: still counted, its permit held.
            watched(
                std::future::pending::<()>(),
                open(),
                std::future::pending(),
                || {},
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(count.load(Ordering::Relaxed), 1);
            assert_eq!(limit.available_permits(), 1);
        });
    }

    #[test]
    fn heads() {
        let h = head_of(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a"}}"#);
        assert_eq!(h.id, Id::of(&json!(3)));
        assert_eq!(id_value(h.id.as_ref()), Some(json!(3)));
        assert_eq!(h.method.as_deref(), Some("tools/call"));
        // An id written with an escape is the id of its value.
        let h = head_of(br#"{"jsonrpc":"2.0","id":"a\u0062","method":"ping"}"#);
        assert_eq!(h.id, Id::of(&json!("ab")));
        assert_eq!(id_value(h.id.as_ref()), Some(json!("ab")));
        // A response or a notification has no id to route by.
        assert_eq!(head_of(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#).id, None);
        assert_eq!(head_of(br#"{"jsonrpc":"2.0","method":"x"}"#).id, None);
        assert_eq!(head_of(b"junk").id, None);
    }
}
