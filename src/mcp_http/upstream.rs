//! The upstream Streamable HTTP server, as the proxy reaches it: over `http://` or `https://`
//! (rustls on ring, no OpenSSL), through a pool of kept-alive HTTP/1.1 connections per worker
//! (an exchange takes a connection of the pool that is ready for a request, else opens one;
//! a POST whose answer is a long SSE stream, or a GET stream, holds its connection until the
//! stream ends), the client's MCP headers passed on, and a time limit on connecting and on
//! the answer's head.
//!
//! A plain `http://` server is reached with the proxy's own HTTP/1.1 client ([`super::h1`]):
//! the request written and the answer's head read on the task that sends it, its body read
//! from the connection as it is polled, the connection back in the pool once the body was
//! read to its end. An `https://` server is reached with hyper's HTTP/1.1 client over rustls.
//!
//! The https pool is hyper's own connections in a list, not a general client: a request is written
//! on a connection taken from the list with no checkout future, no connection race and no
//! task spawned per request to watch the connection become ready again (a connection goes
//! back to the list with its answer's head, and is taken again once hyper says it is ready,
//! that is once that answer was read to its end). A request that a kept connection gives back
//! unsent (the server closed it meanwhile) is sent again on a new one, once. Connections
//! unused for [`POOL_IDLE`] are closed when the pool is next used; at most [`POOL_MAX_IDLE`]
//! are kept.
//!
//! **TLS** fails closed: the server's certificate must chain to a trusted root and name the
//! URL's host (a DNS name or an IP address); the roots are the system's (as `curl` finds them),
//! or, with `--upstream-ca FILE`, only the certificates of that PEM file (a private CA). A
//! certificate that does not verify ends the exchange with an error naming why, never a
//! request sent in clear or to an unverified server.

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::h1;

/// How long an unused pooled connection to the server stays open.
pub const POOL_IDLE: Duration = Duration::from_secs(60);
/// The most unused connections kept open to the server.
pub const POOL_MAX_IDLE: usize = 64;

/// Where the upstream server listens, and the pool of connections to it.
#[derive(Clone, Debug)]
pub struct Upstream {
    uri: Uri,
    /// The request target of every request: the URL's path and query (origin form).
    target: Uri,
    authority: HeaderValue,
    tls: bool,
    timeout: Duration,
    connector: HttpsConnector<HttpConnector>,
    /// The pool of https connections (shared by clones; [`Upstream::own_pool`] starts another).
    pool: Arc<Mutex<Vec<Kept>>>,
    /// Where a plain http server is connected to (`host:port`).
    addr: String,
    /// The pool of plain http connections (shared as `pool` is).
    lean: h1::Pool,
}

/// The body of the server's answer, read from its connection as it is polled.
#[derive(Debug)]
pub struct UpBody(Inner);

#[derive(Debug)]
enum Inner {
    /// From an https server, by hyper.
    Hyper(Incoming),
    /// From a plain http server, by the proxy's own client.
    Lean(h1::Body),
}

impl hyper::body::Body for UpBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + std::marker::Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut self.get_mut().0 {
            Inner::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Inner::Lean(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Hyper(b) => b.is_end_stream(),
            Inner::Lean(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Hyper(b) => b.size_hint(),
            Inner::Lean(b) => b.size_hint(),
        }
    }
}

/// A connection to the server in the pool: in use (its answer still being read) or ready
/// for a request.
#[derive(Debug)]
struct Kept {
    sender: SendRequest<Full<Bytes>>,
    /// When it was last given a request.
    used: Instant,
}

/// Why an exchange with the server failed, before it is put in words.
enum Failed {
    Connect(Box<dyn std::error::Error + std::marker::Send + Sync>),
    Exchange(hyper::Error),
}

/// The request headers passed on to the upstream server: content negotiation, the client's
/// credentials and every MCP header (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Mcp-Method`,
/// `Mcp-Name`, `Mcp-Param-*`), and `Last-Event-ID`. Hop-by-hop and `Host` are the proxy's.
pub fn passed_on(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "accept" | "content-type" | "authorization" | "last-event-id" | "user-agent"
    ) || n.starts_with("mcp-")
}

/// The roots an https server's certificate must chain to: the certificates of the PEM file
/// `ca`, or else the system's.
fn roots(ca: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let shown = crate::source::display(path);
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read the CA file {shown}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("the CA file {shown} is not PEM: {e}"))?;
            if certs.is_empty() {
                return Err(format!(
                    "the CA file {shown} holds no certificate (`-----BEGIN CERTIFICATE-----`)"
                ));
            }
            for (i, c) in certs.into_iter().enumerate() {
                store.add(c).map_err(|e| {
                    format!(
                        "certificate {} of the CA file {shown} is not usable: {e}",
                        i + 1
                    )
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), ToString::to_string);
                return Err(format!(
                    "no trusted root certificates on this system ({why}): give the server's CA with `--upstream-ca FILE`"
                ));
            }
        }
    }
    Ok(store)
}

impl Upstream {
    /// Reads `http://host[:port][/path]` or `https://…`; for https, the roots are those of
    /// the PEM file `ca`, else the system's (`ca` with an http URL is refused: it would
    /// protect nothing).
    pub fn parse(url: &str, timeout: Duration, ca: Option<&Path>) -> Result<Upstream, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("`{url}` is not an http:// or https:// URL")),
        };
        if !tls && ca.is_some() {
            return Err(format!(
                "`{url}` is plain http: `--upstream-ca` only applies to an https:// upstream"
            ));
        }
        let Some(auth) = uri.authority() else {
            return Err(format!("`{url}` names no host"));
        };
        if auth.as_str().contains('@') {
            return Err(format!(
                "`{url}`: credentials in the URL are not sent; the client's `Authorization` header is passed on"
            ));
        }
        let authority = HeaderValue::from_str(auth.as_str())
            .map_err(|_| format!("`{url}`: the host is not a valid header value"))?;
        // ring, not aws-lc-rs: no C toolchain beyond a compiler, and a fraction of the build
        // time; its key exchange is classical (X25519, P-256, P-384), not post-quantum.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = if tls {
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(roots(ca)?)
                .with_no_client_auth()
        } else {
            // Never used (plain http goes without TLS), but the connector wants one.
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config);
        let connector = if tls {
            builder.https_only()
        } else {
            builder.https_or_http()
        }
        .enable_http1()
        .wrap_connector(http);
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = uri.host().unwrap_or_default();
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let target = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("`{url}`: the path is not usable: {e}"))?;
        Ok(Upstream {
            uri,
            target,
            authority,
            tls,
            timeout,
            connector,
            pool: Arc::new(Mutex::new(Vec::new())),
            addr,
            lean: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The same server over a pool of connections of its own (a clone shares the pool). A
    /// pooled connection is served by a task on the runtime that opened it: a worker with a
    /// pool of its own never hands its exchanges to another thread.
    pub fn own_pool(&self) -> Upstream {
        Upstream {
            pool: Arc::new(Mutex::new(Vec::new())),
            lean: Arc::new(Mutex::new(Vec::new())),
            ..self.clone()
        }
    }

    /// The URL, for logs.
    pub fn shown(&self) -> String {
        self.uri.to_string()
    }

    /// The headers of a request to the server from a client's `headers`: those
    /// [`passed_on`], and `Host`. The client's map is left as it is.
    pub fn passed(&self, headers: &HeaderMap) -> HeaderMap {
        // Room for every header at once: a map grown as they come is copied on the way.
        let mut h = HeaderMap::with_capacity(headers.len() + 1);
        for (name, value) in headers {
            if passed_on(name) {
                h.append(name, value.clone());
            }
        }
        h.insert(HOST, self.authority.clone());
        h
    }

    /// The client's `headers` made those of a request to the server in place: the headers
    /// not [`passed_on`] removed, `Host` set. Nothing is copied (a copy of a header name or
    /// value hyper has just read allocates) and no map is made. The client's `Host` is not
    /// removed but replaced (every value of it) in its place: one lookup, not two.
    pub fn passed_in(&self, headers: &mut HeaderMap) {
        while let Some(name) = headers
            .keys()
            .find(|n| *n != HOST && !passed_on(n))
            .cloned()
        {
            headers.remove(&name);
        }
        headers.insert(HOST, self.authority.clone());
    }

    /// Sends one request with the client's `headers` ([`Upstream::passed`] of them).
    pub async fn send(
        &self,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<UpBody>, String> {
        self.send_passed(method, self.passed(headers), body).await
    }

    /// Sends one request with the headers `h` ([`Upstream::passed`] or
    /// [`Upstream::passed_in`]); returns the answer's head (its body streams from the
    /// connection, which goes back to the pool once the body is read to its end).
    /// Connecting (with the TLS handshake) and the head have the time limit.
    pub async fn send_passed(
        &self,
        method: Method,
        h: HeaderMap,
        body: Bytes,
    ) -> Result<Response<UpBody>, String> {
        if !self.tls {
            return self.send_lean(method, h, body).await;
        }
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = self.target.clone();
        *req.headers_mut() = h;
        match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(Ok(r)) => Ok(r.map(|b| UpBody(Inner::Hyper(b)))),
            Ok(Err(Failed::Connect(e))) => Err(self.failure(&*e, true)),
            Ok(Err(Failed::Exchange(e))) => Err(self.failure(&e, false)),
            Err(_) => Err(format!(
                "the MCP server did not answer within {} s",
                self.timeout.as_secs_f64()
            )),
        }
    }

    /// [`Upstream::send_passed`] to a plain http server: the request written on a kept
    /// connection the server has not closed (one seen closed is left, and the next tried),
    /// else on a new one; the time limit on connecting and on the answer's head.
    async fn send_lean(
        &self,
        method: Method,
        h: HeaderMap,
        body: Bytes,
    ) -> Result<Response<UpBody>, String> {
        let target = self.target.path_and_query().map_or("/", |p| p.as_str());
        let req = h1::request(&method, target, &h, &body);
        let go = async {
            let idle_before = Instant::now()
                .checked_sub(POOL_IDLE)
                .unwrap_or_else(Instant::now);
            let conn = match h1::take(&self.lean, idle_before) {
                Some(c) => c,
                None => h1::Conn::open(&self.addr).await?,
            };
            h1::exchange(conn, &self.lean, &req, &method, h).await
        };
        match tokio::time::timeout(self.timeout, go).await {
            Ok(Ok((head, body))) => {
                let mut r = Response::new(UpBody(Inner::Lean(body)));
                *r.status_mut() = head.status;
                *r.version_mut() = head.version;
                *r.headers_mut() = head.headers;
                Ok(r)
            }
            Ok(Err(e)) => Err(self.failure(&e, matches!(e, h1::Error::Connect(_)))),
            Err(_) => Err(format!(
                "the MCP server did not answer within {} s",
                self.timeout.as_secs_f64()
            )),
        }
    }

    /// Writes `req` on a connection of the pool that is ready, else on a new one; a kept
    /// connection that gives the request back unsent (closed by the server meanwhile) is
    /// left, and the request sent on a new connection.
    async fn exchange(&self, mut req: Request<Full<Bytes>>) -> Result<Response<Incoming>, Failed> {
        loop {
            let (mut sender, kept) = match self.take() {
                Some(s) => (s, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(r) => {
                    self.keep(sender);
                    return Ok(r);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if kept => req = unsent,
                    _ => return Err(Failed::Exchange(e.into_error())),
                },
            }
        }
    }

    /// A kept connection ready for a request; the closed ones, and the ready ones unused for
    /// [`POOL_IDLE`], are closed on the way.
    fn take(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut pool = self.pool.lock().ok()?;
        if pool.is_empty() {
            return None;
        }
        let now = Instant::now();
        pool.retain(|k| {
            let unused = k.sender.is_ready() && now.saturating_duration_since(k.used) >= POOL_IDLE;
            !(k.sender.is_closed() || unused)
        });
        let i = pool.iter().rposition(|k| k.sender.is_ready())?;
        Some(pool.swap_remove(i).sender)
    }

    /// Puts a connection back in the pool, with the request it was given (it is ready for
    /// another once that answer is read); beyond [`POOL_MAX_IDLE`] it is let go (closed
    /// once its answer is read).
    fn keep(&self, sender: SendRequest<Full<Bytes>>) {
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < POOL_MAX_IDLE
        {
            pool.push(Kept {
                sender,
                used: Instant::now(),
            });
        }
    }

    /// Opens a connection to the server (with the TLS handshake for https), served by a task
    /// on the runtime running this.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failed> {
        use tower_service::Service;
        let mut c = self.connector.clone();
        std::future::poll_fn(|cx| c.poll_ready(cx))
            .await
            .map_err(Failed::Connect)?;
        let io = c.call(self.uri.clone()).await.map_err(Failed::Connect)?;
        // Each request written with one write: its body copied after its head.
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .writev(false)
            .handshake(io)
            .await
            .map_err(|e| Failed::Connect(Box::new(e)))?;
        tokio::spawn(async move {
            // Its end (the server closed it, or the pool let it go) is seen by the pool.
            let _ = conn.await;
        });
        // Ready once its task runs: a request written before is refused.
        sender
            .ready()
            .await
            .map_err(|e| Failed::Connect(Box::new(e)))?;
        Ok(sender)
    }

    /// Why an exchange failed (`connect`: while connecting), in words: the TLS errors (a
    /// certificate that does not verify) named with what to do.
    fn failure(&self, e: &(dyn std::error::Error + 'static), connect: bool) -> String {
        let mut chain = Vec::new();
        let mut tls = None;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            let shown = err.to_string();
            if !chain.iter().any(|c: &String| c.contains(&shown)) {
                chain.push(shown);
            }
            // rustls's error travels inside I/O errors (nested: their `source` skips it).
            let mut inner = Some(err);
            while let Some(i) = inner {
                if let Some(r) = i.downcast_ref::<rustls::Error>() {
                    tls = Some(r.clone());
                    break;
                }
                inner = i
                    .downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref)
                    .map(|e| e as &(dyn std::error::Error + 'static));
            }
            cur = err.source();
        }
        let what = chain.join(": ");
        match tls {
            Some(rustls::Error::InvalidCertificate(c)) => {
                let hint = match c {
                    rustls::CertificateError::UnknownIssuer
                    | rustls::CertificateError::BadSignature => {
                        " (its certificate does not chain to a trusted root: give the server's CA with `--upstream-ca FILE`)"
                    }
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. } => {
                        " (its certificate is for another host: use the host the certificate names in --upstream)"
                    }
                    rustls::CertificateError::Expired
                    | rustls::CertificateError::ExpiredContext { .. } => {
                        " (its certificate has expired)"
                    }
                    _ => "",
                };
                format!(
                    "the MCP server's TLS certificate was refused: {c:?}{hint}; nothing was sent"
                )
            }
            Some(other) => format!("the TLS handshake with the MCP server failed: {other}"),
            None if connect && self.tls => {
                format!("cannot connect to the MCP server over TLS: {what}")
            }
            None if connect => format!("cannot connect to the MCP server: {what}"),
            None => format!("the MCP server did not answer: {what}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Duration::from_secs(1);
        let u = Upstream::parse("http://127.0.0.1:8000/mcp", t, None).unwrap();
        assert_eq!(u.shown(), "http://127.0.0.1:8000/mcp");
        assert!(!u.tls);
        let u = Upstream::parse("http://[::1]/", t, None).unwrap();
        assert_eq!(u.authority, "[::1]");
        assert!(Upstream::parse("ftp://x/", t, None).is_err());
        assert!(Upstream::parse("not a url", t, None).is_err());
        assert!(Upstream::parse("http://user:pw@x/", t, None).is_err());
        // A CA for plain http protects nothing.
        let e = Upstream::parse("http://x/", t, Some(Path::new("ca.pem"))).unwrap_err();
        assert!(e.contains("only applies to an https"), "{e}");
        let e =
            Upstream::parse("https://x/", t, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("cannot read the CA file"), "{e}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("govern-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let e = Upstream::parse("https://x/", Duration::from_secs(1), Some(&p)).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A server on a thread that answers each request with `{}`, keeping its connections
    /// open (`close`: closing each after one answer, without saying so); returns its URL, the
    /// count of connections it accepted and the count it has closed.
    #[allow(clippy::type_complexity)]
    fn server(
        close: bool,
    ) -> (
        String,
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        const ANSWER: &[u8] =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        server_of(vec![(ANSWER, 0)], close)
    }

    /// A server that answers each request with the pieces of `answer`, each written after
    /// its pause in milliseconds (`close`: closing the connection after each answer).
    #[allow(clippy::type_complexity)]
    fn server_of(
        answer: Vec<(&'static [u8], u64)>,
        close: bool,
    ) -> (
        String,
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/mcp", l.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let gone = Arc::clone(&closed);
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let gone = Arc::clone(&gone);
                let answer = answer.clone();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        // One whole request: its head, then its body by its length.
                        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
                        if let Some(end) = head_end {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map_or(0, |v| v.trim().parse().unwrap());
                            if buf.len() >= end + 4 + len {
                                buf.drain(..end + 4 + len);
                                let mut failed = false;
                                for (piece, pause) in &answer {
                                    std::thread::sleep(Duration::from_millis(*pause));
                                    failed |= s.write_all(piece).is_err();
                                }
                                if failed || close {
                                    drop(s);
                                    gone.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    return;
                                }
                                continue;
                            }
                        }
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        (url, accepted, closed)
    }

    /// Sends `n` requests one after the other, each answer read to its end; with `closed`,
    /// each next request waits until the server has closed that many connections.
    fn exchanges(url: &str, n: usize, closed: Option<&std::sync::atomic::AtomicUsize>) {
        use http_body_util::BodyExt;
        let u = Upstream::parse(url, Duration::from_secs(10), None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..n {
                if let Some(closed) = closed {
                    // The server's close is on the socket before the next request is sent
                    // (on a slow machine the server's thread may not have run yet); the
                    // sleeps let the connection's task see it, as a later request would.
                    while closed.load(std::sync::atomic::Ordering::SeqCst) < i {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let r = u
                    .send(Method::POST, &HeaderMap::new(), Bytes::from_static(b"{}"))
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let body = r.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"{}");
            }
        });
    }

    #[test]
    fn a_kept_connection_is_used_again() {
        let (url, accepted, _) = server(false);
        exchanges(&url, 5, None);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_connection_the_server_closed_is_replaced() {
        let (url, accepted, closed) = server(true);
        exchanges(&url, 5, Some(&closed));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 5);
    }

    /// Sends one POST to `url` with the time limit `within`; the answer's status, its
    /// `Content-Type`, and its body read whole (at most `max` bytes), or why either failed.
    fn one(url: &str, within: Duration, max: usize) -> Result<(u16, String, Vec<u8>), String> {
        let u = Upstream::parse(url, within, None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut out = Vec::new();
            for _ in 0..2 {
                out.push(exchange_once(&u, max).await?);
            }
            // The same answer on a kept connection (or a new one) as on the first.
            assert_eq!(out[0], out[1]);
            Ok(out.swap_remove(0))
        })
    }

    async fn exchange_once(u: &Upstream, max: usize) -> Result<(u16, String, Vec<u8>), String> {
        use http_body_util::{BodyExt, Limited};
        let r = u
            .send(Method::POST, &HeaderMap::new(), Bytes::from_static(b"{}"))
            .await?;
        let status = r.status().as_u16();
        let t = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = Limited::new(r.into_body(), max)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, t, body.to_vec()))
    }

    const SECOND: Duration = Duration::from_secs(5);

    #[test]
    fn a_chunked_answer_is_read_and_its_connection_kept() {
        let (url, accepted, _) = server_of(
            vec![
                (b"HTTP/1.1 100 Continue\r\n\r\n", 0),
                (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
                (b"4\r\n{\"a", 20),
                (b"\"\r\n6;ext=1\r\n:[1,2]\r\nA\r\n, \"b\":true", 20),
                (b"\r\n1\r\n}\r\n0\r\nx-trailer: 1\r\n\r\n", 20),
            ],
            false,
        );
        let (status, t, body) = one(&url, SECOND, 1 << 20).unwrap();
        assert_eq!((status, t.as_str()), (200, "application/json"));
        assert_eq!(body, br#"{"a":[1,2], "b":true}"#);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn an_sse_stream_is_read_as_it_comes() {
        use http_body_util::BodyExt;
        let (url, _, _) = server_of(
            vec![
                (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n", 0),
                (b"f\r\ndata: {\"a\":1}\n\n\r\n", 0),
                // The second event comes only after the first was read.
                (b"f\r\ndata: {\"b\":2}\n\n\r\n0\r\n\r\n", 300),
            ],
            false,
        );
        let u = Upstream::parse(&url, SECOND, None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = u
                .send(Method::POST, &HeaderMap::new(), Bytes::new())
                .await
                .unwrap();
            assert_eq!(r.headers()["content-type"], "text/event-stream");
            let mut body = r.into_body();
            let started = Instant::now();
            let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(&first[..], b"data: {\"a\":1}\n\n");
            assert!(started.elapsed() < Duration::from_millis(250));
            let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(&second[..], b"data: {\"b\":2}\n\n");
            assert!(body.frame().await.is_none());
        });
    }

    #[test]
    fn an_answer_without_a_length_ends_with_its_connection() {
        let (url, accepted, _) = server_of(
            vec![
                (
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"a\"",
                    0,
                ),
                (b":1}", 20),
            ],
            true,
        );
        let (status, _, body) = one(&url, SECOND, 1 << 20).unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, br#"{"a":1}"#);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_slow_answer_is_read_and_a_late_one_fails() {
        let slow: Vec<(&'static [u8], u64)> = vec![
            (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n", 50),
            (b"content-length: 7\r\n\r\n{\"a\"", 50),
            (b":1}", 50),
        ];
        let (url, _, _) = server_of(slow.clone(), false);
        assert_eq!(one(&url, SECOND, 1 << 20).unwrap().2, br#"{"a":1}"#);
        // The head's time limit.
        let (url, _, _) = server_of(slow, false);
        let e = one(&url, Duration::from_millis(60), 1 << 20).unwrap_err();
        assert!(e.contains("did not answer within 0.06 s"), "{e}");
    }

    #[test]
    fn oversized_and_malformed_answers_fail() {
        // A body over the limit of the reader.
        let (url, _, _) = server_of(
            vec![(
                b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789",
                0,
            )],
            false,
        );
        let e = one(&url, SECOND, 10).unwrap_err();
        assert!(e.contains("length limit exceeded"), "{e}");
        // A head over the limit.
        let huge: &'static [u8] = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n",
                "a".repeat(h1::MAX_HEAD)
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let (url, _, _) = server_of(vec![(huge, 0)], false);
        let e = one(&url, SECOND, 1 << 20).unwrap_err();
        assert!(e.contains("its head is over"), "{e}");
        for (answer, says) in [
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}"[..],
                "Content-Lengths differ",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\n{}",
                "Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "a chunk's size",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}xx",
                "a chunk's end",
            ),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
            (b"SSH-2.0-OpenSSH\r\n\r\n", "invalid HTTP answer"),
        ] {
            let (url, _, _) = server_of(vec![(answer, 0)], false);
            let e = one(&url, SECOND, 1 << 20).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn an_answer_cut_short_fails() {
        for answer in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\ncontent-le",
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n",
        ] {
            let (url, _, _) = server_of(vec![(answer, 0)], true);
            let e = one(&url, SECOND, 1 << 20).unwrap_err();
            assert!(
                e.contains("connection closed before message completed"),
                "{e}"
            );
        }
    }

    /// What hyper's client writes for a request of `method` with `headers` and `body` to
    /// `target`, as a server reads it.
    fn hyper_writes(
        method: Method,
        target: &str,
        headers: &HeaderMap,
        body: &'static [u8],
    ) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let io = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
                .writev(false)
                .handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut req = Request::new(Full::new(Bytes::from_static(body)));
            *req.method_mut() = method;
            *req.uri_mut() = target.parse().unwrap();
            *req.headers_mut() = headers.clone();
            tokio::spawn(async move {
                let _ = sender.send_request(req).await;
            });
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, and then the body by its length.
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
                    && got.len() >= end + 4 + body.len()
                {
                    return got;
                }
            }
        })
    }

    #[test]
    fn requests_are_written_as_hyper_writes_them() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-param-region", "eu"),
            ("mcp-param-region", "us"),
            ("authorization", "Bearer x"),
            ("host", "127.0.0.1:8000"),
        ] {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let body: &'static [u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#;
        for (method, body) in [
            (Method::POST, body),
            (Method::POST, &b""[..]),
            (Method::GET, &b""[..]),
            (Method::DELETE, &b""[..]),
        ] {
            let ours = h1::request(&method, "/mcp?x=1", &h, body);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&hyper_writes(method.clone(), "/mcp?x=1", &h, body)),
                "{method}"
            );
        }
    }

    #[test]
    fn request_bytes() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("x:1"));
        h.append("mcp-param-a", HeaderValue::from_static("1"));
        h.append("mcp-param-a", HeaderValue::from_static("2"));
        let r = h1::request(&Method::POST, "/mcp?a=1", &h, b"{}");
        assert_eq!(
            r,
            b"POST /mcp?a=1 HTTP/1.1\r\nhost: x:1\r\nmcp-param-a: 1\r\nmcp-param-a: 2\r\ncontent-length: 2\r\n\r\n{}"
        );
        let r = h1::request(&Method::GET, "/", &HeaderMap::new(), b"");
        assert_eq!(r, b"GET / HTTP/1.1\r\n\r\n");
        let r = h1::request(&Method::DELETE, "/", &HeaderMap::new(), b"");
        assert_eq!(r, b"DELETE / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn headers_made_in_place_are_those_passed_on() {
        let u = Upstream::parse("http://127.0.0.1:8000/mcp", Duration::from_secs(1), None).unwrap();
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("host", "127.0.0.1:9000"),
            ("content-length", "12"),
            ("accept", "application/json"),
            ("mcp-param-region", "eu"),
            ("cookie", "a=1"),
            ("mcp-param-region", "us"),
            ("connection", "keep-alive"),
            ("mcp-method", "tools/call"),
            ("cookie", "b=2"),
            ("authorization", "Bearer x"),
        ] {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let copied = u.passed(&h);
        u.passed_in(&mut h);
        // The same headers as a copy has, each name's values in their order.
        let all = |m: &HeaderMap| {
            let mut v: Vec<(String, Vec<String>)> = m
                .keys()
                .map(|k| {
                    let values = m.get_all(k).iter();
                    (
                        k.to_string(),
                        values.map(|x| x.to_str().unwrap().to_string()).collect(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(all(&h), all(&copied));
        let names: Vec<String> = all(&h).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "accept",
                "authorization",
                "host",
                "mcp-method",
                "mcp-param-region"
            ]
        );
        assert_eq!(h.get(HOST).unwrap(), "127.0.0.1:8000");
        let regions: Vec<_> = h.get_all("mcp-param-region").iter().collect();
        assert_eq!(regions, ["eu", "us"]);
    }

    #[test]
    fn headers_passed_on() {
        for h in [
            "mcp-session-id",
            "mcp-protocol-version",
            "mcp-name",
            "mcp-param-region",
            "accept",
            "authorization",
        ] {
            assert!(passed_on(&HeaderName::from_static(h)), "{h}");
        }
        for h in [
            "host",
            "connection",
            "transfer-encoding",
            "content-length",
            "cookie",
        ] {
            assert!(!passed_on(&HeaderName::from_static(h)), "{h}");
        }
    }
}
