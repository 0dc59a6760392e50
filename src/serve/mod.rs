//! `govern serve`: a decision point over HTTP/1.1 (TCP or a Unix socket), on tokio and hyper.
//!
//! The point itself ([`crate::point`]) is synchronous; this module is its door: listening,
//! reading requests within their limits and time, answering, reloading on SIGHUP or when the
//! bundle files change, and draining on SIGTERM. See docs/serve.md.
//!
//! Slow or hostile clients cannot hold the server: request headers must arrive within
//! [`Config::header_timeout`], a body within [`Config::body_timeout`], a connection that
//! moves no byte for [`Config::idle_timeout`] is closed, connections beyond
//! [`Config::max_connections`] wait in the kernel's backlog, and bodies are bounded
//! ([`Config::max_body`], [`Config::max_batch_body`]).

mod api;
mod commit;
pub mod io;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use serde_json::json;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, Semaphore};

use crate::point::Point;
use crate::point::log::Log;

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp(String),
    Unix(PathBuf),
}

impl Listen {
    /// `unix:/path` or `host:port`.
    pub fn parse(s: &str) -> Result<Listen, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("`unix:` needs a socket path: `unix:/run/govern.sock`".into());
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if s.parse::<SocketAddr>().is_err() && !s.contains(':') {
            return Err(format!(
                "`{s}` is not an address to listen on: write `host:port` (`127.0.0.1:8787`) or `unix:/path`"
            ));
        }
        Ok(Listen::Tcp(s.to_string()))
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(a) => f.write_str(a),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: Vec<Listen>,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// The largest body of `POST /v1/decide`.
    pub max_body: usize,
    /// The largest body of `POST /v1/decide/batch`.
    pub max_batch_body: usize,
    /// The most events in one batch.
    pub max_batch: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long a decision may take once its request is read (waiting for the state and
    /// the audit log included) before it is denied.
    pub decision_timeout: Duration,
    /// How long SIGTERM waits for requests in flight.
    pub drain_timeout: Duration,
    pub max_connections: usize,
    /// Reload when the bundle files change (SIGHUP reloads in any case).
    pub watch: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: vec![Listen::Tcp(DEFAULT_LISTEN.into())],
            threads: 0,
            max_body: MAX_BODY,
            max_batch_body: MAX_BATCH_BODY,
            max_batch: MAX_BATCH,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            decision_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            watch: true,
        }
    }
}

/// The default address: loopback only (a sidecar's agent is on the same host).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// One event: the limit of an event everywhere in govern (docs/limits.md).
pub const MAX_BODY: usize = 32 << 20;
/// One batch: the limit of a trace document.
pub const MAX_BATCH_BODY: usize = 64 << 20;
/// Events in one batch.
pub const MAX_BATCH: usize = 100_000;

/// What request handlers share.
pub(crate) struct Shared {
    pub point: Arc<Point>,
    pub config: Config,
    pub log: Arc<Log>,
    /// Set when draining: `/readyz` says so, and connections close after their request.
    pub draining: AtomicBool,
    /// Writes the audit records off the workers (with an audit log that does not sync each
    /// record).
    pub commit: Option<commit::Committer>,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

/// Runs the server until SIGTERM or SIGINT (then drains and closes the point's audit log
/// cleanly), or until `stop` is notified (tests). Returns whether everything closed cleanly.
///
/// One thread accepts connections (and listens for signals and reloads); each connection is
/// handed to the worker with the fewest open connections and lives there to its end: a
/// worker is a single-threaded runtime, so a request's reads, its decision and its answer
/// run on one thread with no wake-up of another (see docs/performance.md).
pub fn run(
    point: Arc<Point>,
    config: Config,
    log: Arc<Log>,
    stop: Option<Arc<Notify>>,
) -> Result<bool, StartError> {
    let threads = if config.threads == 0 {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    } else {
        config.threads
    };
    let control = tokio::runtime::Builder::new_current_thread()
        .thread_name("govern-serve")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| StartError(format!("cannot start the runtime: {e}")))?;
    control.block_on(serve(point, config, log, stop, threads))
}

/// A connection on its way to a worker.
struct Handoff {
    stream: io::StdStream,
    /// Watches the connection for the drain.
    graceful: hyper_util::server::graceful::Watcher,
    /// Its place among `max_connections`.
    permit: tokio::sync::OwnedSemaphorePermit,
}

/// A worker as the acceptor sees it.
struct Worker {
    conns: tokio::sync::mpsc::UnboundedSender<Handoff>,
    /// Its open connections.
    open: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts `n` workers; they serve the connections handed to them until `stop` turns true,
/// then cut off whatever is still open.
fn workers(
    n: usize,
    shared: &Arc<Shared>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<Worker>, StartError> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let s = Arc::clone(shared);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            // Out of work: the audit records of the requests decided meanwhile go to the
            // log in one write.
            .on_thread_park(move || {
                if let Some(c) = &s.commit {
                    c.kick();
                }
            })
            .build()
            .map_err(|e| StartError(format!("cannot start the runtime: {e}")))?;
        let (conns, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Handoff>();
        let open = Arc::new(AtomicUsize::new(0));
        let (shared, mut stop, count) = (Arc::clone(shared), stop.clone(), Arc::clone(&open));
        let thread = std::thread::Builder::new()
            .name(format!("govern-serve-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    if let Some(c) = &shared.commit {
                        c.relay();
                    }
                    let mut open = true;
                    loop {
                        tokio::select! {
                            biased;
                            _ = stop.wait_for(|s| *s) => break,
                            h = incoming.recv(), if open => match h {
                                Some(h) => connection(h, &shared, &count),
                                None => open = false,
                            },
                        }
                    }
                });
                // Connections still open past the drain are cut off here.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(|e| StartError(format!("cannot start a worker thread: {e}")))?;
        all.push(Worker {
            conns,
            open,
            thread,
        });
    }
    Ok(all)
}

/// Serves one connection on the worker running this.
fn connection(h: Handoff, shared: &Arc<Shared>, open: &Arc<AtomicUsize>) {
    let stream = match h.stream.into_tokio() {
        Ok(s) => s,
        Err(e) => {
            shared
                .log
                .warn("accept", &format!("cannot serve a connection: {e}"), &[]);
            open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    };
    let io = io::Watched::new(stream);
    let activity = io.activity();
    // This connection's own handle: cloned per request, it is not a counter the other
    // workers write too.
    let s = Arc::new(Arc::clone(shared));
    let a = activity.clone();
    // No timer in hyper: the head of a request is bounded by the connection's watch below,
    // which marks the end of each head (`busy`), instead of a timer set and cancelled by
    // hyper for every request.
    // Half-close allowed: hyper then does not try a read while a request is being decided
    // (to notice a client that went away), a read for which it reserved a fresh 8 KiB
    // buffer per request, the current one still being held by the request; the next read
    // comes once the answer is written, into the same buffer. A client that shuts its
    // writing side after a request still gets its answer, and the connection closes after
    // it.
    let conn = http1::Builder::new()
        .keep_alive(true)
        .half_close(true)
        .writev(false)
        .serve_connection(
            io,
            service_fn(move |req| {
                let s = Arc::clone(&s);
                let busy = a.busy();
                async move {
                    let r = api::handle(req, s).await;
                    drop(busy);
                    Ok::<_, std::convert::Infallible>(r)
                }
            }),
        );
    let conn = h.graceful.watch(conn);
    let idle = shared.config.idle_timeout;
    let head = shared.config.header_timeout;
    let open = Arc::clone(open);
    let permit = h.permit;
    // The watch runs as a task of its own that wakes the connection's task only to cut it:
    // polled beside the connection, its timer was polled at every wake of the connection
    // (each read and each write of each request).
    let (cut, cut_off) = tokio::sync::oneshot::channel::<()>();
    let clock = activity.clone();
    let watch = tokio::spawn(async move {
        activity.idle_or_slow(idle, Some(head)).await;
        let _ = cut.send(());
    });
    tokio::spawn(async move {
        tokio::pin!(conn);
        // Each poll of the connection a wake of its own: its reads, writes and request ends
        // noted at one reading of the clock.
        let running = std::future::poll_fn(|cx| {
            let _wake = clock.woken();
            std::future::Future::poll(conn.as_mut(), cx)
        });
        tokio::select! {
            biased;
            _ = running => {}
            _ = cut_off => {}
        }
        watch.abort();
        open.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
    });
}

async fn serve(
    point: Arc<Point>,
    config: Config,
    log: Arc<Log>,
    stop: Option<Arc<Notify>>,
    threads: usize,
) -> Result<bool, StartError> {
    let commit = if point.audited() && !point.waits_for_disk() {
        Some(
            commit::Committer::start(Arc::clone(&point))
                .map_err(|e| StartError(format!("cannot start the audit writer: {e}")))?,
        )
    } else {
        None
    };
    let shared = Arc::new(Shared {
        point: Arc::clone(&point),
        config: config.clone(),
        log: Arc::clone(&log),
        draining: AtomicBool::new(false),
        commit,
    });
    let signals = Signals::take(&log);
    // Bind everything first: a server that cannot listen where asked does not start.
    let mut listeners = Vec::new();
    for l in &config.listen {
        listeners.push(bind(l).await?);
    }
    let (stop_workers, workers_stop) = tokio::sync::watch::channel(false);
    let workers = Arc::new(workers(threads.max(1), &shared, &workers_stop)?);
    let (shutdown, _) = tokio::sync::watch::channel(false);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let graceful_watchers = Arc::new(std::sync::Mutex::new(Some(graceful)));
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    // Watch before saying where we listen: a bundle replaced as soon as the server is up
    // is seen.
    // Reload requests (a signal, a file change): at most one waits, the rest join it.
    let (reloads, requests) = tokio::sync::mpsc::channel::<()>(1);
    if config.watch {
        watch(&point, reloads.clone(), &log);
    }
    let mut accepting = Vec::new();
    for l in listeners {
        let addr = l.shown();
        log.info(
            "listening",
            &format!("deciding on {addr}"),
            &[
                ("address", json!(addr)),
                ("bundle", json!(point.in_force().loaded.program.digest)),
            ],
        );
        accepting.push(tokio::spawn(accept_loop(
            l,
            Arc::clone(&shared),
            shutdown.subscribe(),
            Arc::clone(&graceful_watchers),
            Arc::clone(&limit),
            Arc::clone(&workers),
        )));
    }
    tokio::spawn(reloader(Arc::clone(&shared), requests));
    let signal = wait_for_stop(signals, &reloads, stop).await;
    // Draining: refuse readiness, stop accepting, let requests in flight finish.
    shared.draining.store(true, Ordering::Relaxed);
    log.info(
        "draining",
        &format!("{signal}: finishing requests in flight"),
        &[("signal", json!(signal))],
    );
    let _ = shutdown.send(true);
    for a in accepting {
        let _ = a.await;
    }
    for l in &config.listen {
        if let Listen::Unix(p) = l {
            let _ = std::fs::remove_file(p);
        }
    }
    let graceful = graceful_watchers.lock().ok().and_then(|mut g| g.take());
    let drained = match graceful {
        Some(g) => tokio::time::timeout(config.drain_timeout, g.shutdown())
            .await
            .is_ok(),
        None => false,
    };
    if !drained {
        log.warn(
            "drain",
            "requests still in flight when the drain timeout ran out were cut off",
            &[("timeout_s", json!(config.drain_timeout.as_secs_f64()))],
        );
    }
    // The workers stop (cutting off what the drain left) before the audit log closes: no
    // decision is taken after its last record.
    let _ = stop_workers.send(true);
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(ws) = Arc::try_unwrap(workers) {
            for w in ws {
                drop(w.conns);
                let _ = w.thread.join();
            }
        }
    })
    .await;
    let p = Arc::clone(&point);
    let s = Arc::clone(&shared);
    let closed = tokio::task::spawn_blocking(move || {
        if let Some(c) = &s.commit {
            c.stop();
        }
        p.close()
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    match &closed {
        Ok(None) => log.info("stopped", "stopped cleanly", &[]),
        Ok(Some(head)) => log.info(
            "stopped",
            "stopped cleanly; the audit log is closed",
            &[
                ("audit_seq", json!(head.seq)),
                ("audit_head", json!(head.hash)),
            ],
        ),
        Err(e) => log.error(
            "stopped",
            &format!("the audit log could not be closed cleanly: {e}"),
            &[],
        ),
    }
    Ok(closed.is_ok())
}

/// The signals the server answers to, taken before it binds or says where it listens: a
/// SIGTERM sent as soon as the server is up (by a supervisor that saw "listening") drains it
/// instead of killing it, since a signal that arrives before it is awaited waits in the stream.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn take(log: &Log) -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        };
        if signals.term.is_none() || signals.hup.is_none() {
            log.warn("signals", "cannot listen for signals", &[]);
        }
        signals
    }
}

/// Waits for SIGTERM, SIGINT or `stop`; SIGHUP asks for a reload meanwhile. Returns what
/// stopped the server.
async fn wait_for_stop(
    signals: Signals,
    reloads: &tokio::sync::mpsc::Sender<()>,
    stop: Option<Arc<Notify>>,
) -> &'static str {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            Some(()) = async { match term.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => return "SIGTERM",
            Some(()) = async { match int.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => return "SIGINT",
            Some(()) = async { match hup.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                let _ = reloads.try_send(());
            }
            () = async { match &stop { Some(n) => n.notified().await, None => std::future::pending().await } } => return "stop",
        }
    }
}

/// Reloads each time it is asked (signals and file changes), one reload at a time; a burst
/// of changes (a bundle and its signature written one after the other) is one reload.
async fn reloader(shared: Arc<Shared>, mut requests: tokio::sync::mpsc::Receiver<()>) {
    while requests.recv().await.is_some() {
        // Let the rest of a burst of writes land; the requests they made are this reload.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while requests.try_recv().is_ok() {}
        let point = Arc::clone(&shared.point);
        let result = tokio::task::spawn_blocking(move || point.reload()).await;
        let log = &shared.log;
        match result {
            Ok(Ok(crate::point::Reloaded::Changed { old, new })) => log.info(
                "reload",
                "a new bundle is in force",
                &[("bundle", json!(new)), ("previous", json!(old))],
            ),
            Ok(Ok(crate::point::Reloaded::Unchanged(d))) => log.info(
                "reload",
                "the bundle files hold the bundle already in force",
                &[("bundle", json!(d))],
            ),
            Ok(Err(diags)) => {
                let why: Vec<String> = diags.iter().map(|d| d.short()).collect();
                log.error(
                    "reload_refused",
                    "the new bundle was refused; the bundle in force stays",
                    &[
                        (
                            "bundle",
                            json!(shared.point.in_force().loaded.program.digest),
                        ),
                        ("errors", json!(why)),
                    ],
                );
            }
            Err(e) => log.error("reload_refused", &format!("reload failed: {e}"), &[]),
        }
    }
}

/// Watches the bundle files (their folders, so that a file replaced by a rename is seen).
fn watch(point: &Point, reloads: tokio::sync::mpsc::Sender<()>, log: &Log) {
    use notify::{RecursiveMode, Watcher};
    let files: Vec<PathBuf> = point
        .source()
        .watched()
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let names: Vec<std::ffi::OsString> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
        .collect();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Only changes: reading the files (as a reload does) must not set off another one.
        if let Ok(ev) = res
            && !matches!(ev.kind, notify::EventKind::Access(_))
            && ev
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| names.iter().any(|w| w == n)))
        {
            // Full: a reload is pending already and will read the files after this change.
            let _ = reloads.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            log.warn(
                "watch",
                &format!("cannot watch the bundle files ({e}); reload with SIGHUP"),
                &[],
            );
            return;
        }
    };
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|p| p.parent().map(|d| d.to_path_buf()))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            log.warn(
                "watch",
                &format!("cannot watch {} ({e}); reload with SIGHUP", d.display()),
                &[],
            );
        }
    }
    // The watcher lives as long as the process.
    std::mem::forget(watcher);
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    fn shown(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "?".into()),
            Listener::Unix(_, p) => format!("unix:{}", p.display()),
        }
    }
}

async fn bind(l: &Listen) -> Result<Listener, StartError> {
    match l {
        Listen::Tcp(addr) => TcpListener::bind(addr.as_str())
            .await
            .map(Listener::Tcp)
            .map_err(|e| StartError(format!("cannot listen on {addr}: {e}"))),
        Listen::Unix(path) => {
            // A socket left by a server that did not stop cleanly is replaced; any other
            // file is not.
            use std::os::unix::fs::FileTypeExt;
            if let Ok(m) = std::fs::symlink_metadata(path) {
                if m.file_type().is_socket() {
                    let _ = std::fs::remove_file(path);
                } else {
                    return Err(StartError(format!(
                        "cannot listen on unix:{}: a file that is not a socket is there",
                        path.display()
                    )));
                }
            }
            UnixListener::bind(path)
                .map(|u| Listener::Unix(u, path.clone()))
                .map_err(|e| StartError(format!("cannot listen on unix:{}: {e}", path.display())))
        }
    }
}

async fn accept_loop(
    listener: Listener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    graceful: Arc<std::sync::Mutex<Option<hyper_util::server::graceful::GracefulShutdown>>>,
    limit: Arc<Semaphore>,
    workers: Arc<Vec<Worker>>,
) {
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                shared
                    .log
                    .warn("accept", &format!("cannot accept a connection: {e}"), &[]);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Watched from now on: a drain starting meanwhile waits for this connection.
        let Some(watcher) = graceful
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|g| g.watcher()))
        else {
            return;
        };
        let mut handoff = Handoff {
            stream,
            graceful: watcher,
            permit,
        };
        // To the live worker with the fewest open connections; a worker whose thread ended
        // (its receiver is gone) gets none, and the next one is tried.
        loop {
            let Some(worker) = least_loaded(&workers) else {
                shared
                    .log
                    .error("accept", "no worker is left to serve connections", &[]);
                return;
            };
            worker.open.fetch_add(1, Ordering::Relaxed);
            match worker.conns.send(handoff) {
                Ok(()) => break,
                Err(back) => {
                    worker.open.fetch_sub(1, Ordering::Relaxed);
                    handoff = back.0;
                }
            }
        }
    }
}

/// The live worker with the fewest open connections.
fn least_loaded(workers: &[Worker]) -> Option<&Worker> {
    workers
        .iter()
        .filter(|w| !w.conns.is_closed())
        .min_by_key(|w| w.open.load(Ordering::Relaxed))
}

/// Accepts a connection and takes it off this thread's runtime, for a worker's.
async fn accept(l: &Listener) -> std::io::Result<io::StdStream> {
    match l {
        Listener::Tcp(t) => {
            let (s, _) = t.accept().await?;
            let _ = s.set_nodelay(true);
            Ok(io::StdStream::Tcp(s.into_std()?))
        }
        Listener::Unix(u, _) => {
            let (s, _) = u.accept().await?;
            Ok(io::StdStream::Unix(s.into_std()?))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn worker(
        open: usize,
        alive: bool,
    ) -> (
        Worker,
        Option<tokio::sync::mpsc::UnboundedReceiver<Handoff>>,
    ) {
        let (conns, incoming) = tokio::sync::mpsc::unbounded_channel::<Handoff>();
        let w = Worker {
            conns,
            open: Arc::new(AtomicUsize::new(open)),
            thread: std::thread::spawn(|| {}),
        };
        (w, alive.then_some(incoming))
    }

    /// Connections go to the worker with the fewest, but never to one whose thread ended
    /// (its receiver gone), however few it holds.
    #[test]
    fn connections_go_to_the_least_loaded_live_worker() {
        let (a, _ra) = worker(5, true);
        let (b, _rb) = worker(2, true);
        let (c, _rc) = worker(0, false);
        let all = vec![a, b, c];
        let chosen = least_loaded(&all).unwrap();
        assert_eq!(chosen.open.load(Ordering::Relaxed), 2);
        let (d, _rd) = worker(0, false);
        assert!(least_loaded(&[d]).is_none());
    }
}
