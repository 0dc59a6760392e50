//! The HTTP API (docs/serve.md, docs/schemas/serve-openapi.json): routes, bodies within
//! their limits, and answers. Every refusal carries a deny decision with the reason.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http_body_util::{BodyExt, Full};
use hyper::body::{Buf, Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::Shared;
use crate::bytecode::model::Verdict;
use crate::point::{Answer, AuditFailure, BadRequest, Failure, Scratch, Status};

thread_local! {
    /// Scratch space of the thread deciding (no allocation per decision once grown).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    /// Answers' buffers, back from the answers sent on this thread (see [`Out`]).
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// Header maps of requests read on this thread, emptied: the next answers' maps. hyper
    /// reads a connection's next request into the map of the answer it just sent, so one
    /// map goes round a connection instead of one being made for every answer.
    static HEADERS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// The largest header map kept (entries it has room for): a request with many headers
/// does not leave a large map behind.
const HEADERS_KEPT_ROOM: usize = 32;

/// Keeps a request's header map, emptied (its values, which point into hyper's read
/// buffer, are dropped now), for an answer.
fn keep_headers(mut h: HeaderMap) {
    h.clear();
    if h.capacity() > HEADERS_KEPT_ROOM {
        return;
    }
    HEADERS.with(|k| {
        if let Ok(mut k) = k.try_borrow_mut()
            && k.len() < BUFFERS_KEPT
        {
            k.push(h);
        }
    });
}

/// An empty header map for an answer: one kept by [`keep_headers`], or a new one.
fn answer_headers() -> HeaderMap {
    HEADERS
        .with(|k| k.try_borrow_mut().ok().and_then(|mut k| k.pop()))
        .unwrap_or_default()
}

/// Buffers kept for reuse on a thread, and the largest kept (at most 1 MiB held per
/// thread): one per connection in flight is enough; a batch's large answer is freed, not
/// kept.
const BUFFERS_KEPT: usize = 64;
const BUFFER_KEPT_BYTES: usize = 16 << 10;

/// A buffer for an answer: one sent before on this thread, or a new one.
fn buffer() -> String {
    let v = BUFFERS
        .with(|b| b.try_borrow_mut().ok().and_then(|mut b| b.pop()))
        .unwrap_or_else(|| Vec::with_capacity(512));
    // Kept buffers are emptied: an empty buffer is valid UTF-8.
    String::from_utf8(v).unwrap_or_default()
}

/// The bytes of an answer's body, handed to hyper without a copy; its buffer goes back to
/// the thread's [`BUFFERS`] once hyper has written it, so that an answer allocates nothing
/// once a few have been sent.
pub(crate) struct Out {
    bytes: Vec<u8>,
    at: usize,
}

impl From<String> for Out {
    fn from(s: String) -> Out {
        Out {
            bytes: s.into_bytes(),
            at: 0,
        }
    }
}

impl Buf for Out {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn chunk(&self) -> &[u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    fn advance(&mut self, n: usize) {
        self.at = self.at.saturating_add(n).min(self.bytes.len());
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if self.bytes.capacity() > BUFFER_KEPT_BYTES {
            return;
        }
        let mut v = std::mem::take(&mut self.bytes);
        v.clear();
        BUFFERS.with(|b| {
            if let Ok(mut b) = b.try_borrow_mut()
                && b.len() < BUFFERS_KEPT
            {
                b.push(v);
            }
        });
    }
}

/// The decision's header: the verdict, for proxies and clients that read no body.
const GOVERN_DECISION: HeaderName = HeaderName::from_static("govern-decision");
const ALLOW: HeaderName = HeaderName::from_static("allow");
const CONNECTION: HeaderName = HeaderName::from_static("connection");

// Header values made at compile time: `HeaderValue::from_static` called at run time checks
// each byte of its text, for every answer.
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const JSONL: HeaderValue = HeaderValue::from_static("application/x-ndjson");
const METRICS: HeaderValue =
    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
const CLOSE: HeaderValue = HeaderValue::from_static("close");
const DENY: HeaderValue = HeaderValue::from_static("deny");

/// The `govern-decision` header's value for a verdict.
fn verdict_value(v: Verdict) -> HeaderValue {
    const ALLOWED: HeaderValue = HeaderValue::from_static("allow");
    const ESCALATE: HeaderValue = HeaderValue::from_static("escalate");
    match v {
        Verdict::Allow => ALLOWED,
        Verdict::Escalate => ESCALATE,
        Verdict::Deny => DENY,
    }
}

pub(crate) type Body = Full<Out>;

/// Where a request goes, told from its method and path without copying them.
enum Route {
    Decide,
    Batch,
    Bundle,
    Health,
    Ready,
    Metrics,
    /// A known path with a method it does not take: the methods it takes.
    Method(&'static str),
    NotFound,
}

fn route(method: &Method, path: &str) -> Route {
    let read = *method == Method::GET || *method == Method::HEAD;
    match path {
        "/v1/decide" if *method == Method::POST => Route::Decide,
        "/v1/decide/batch" if *method == Method::POST => Route::Batch,
        "/v1/bundle" if read => Route::Bundle,
        "/healthz" if read => Route::Health,
        "/readyz" if read => Route::Ready,
        "/metrics" if read => Route::Metrics,
        "/v1/decide" | "/v1/decide/batch" => Route::Method("POST"),
        "/v1/bundle" | "/healthz" | "/readyz" | "/metrics" => Route::Method("GET, HEAD"),
        _ => Route::NotFound,
    }
}

/// Answers one request. `shared` is the connection's own handle on what requests share:
/// cloned per request, it is a counter only this connection's worker touches.
// The second allocation is the point: one counter per connection instead of one that every
// worker's requests write.
#[allow(clippy::redundant_allocation)]
pub(crate) async fn handle(req: Request<Incoming>, shared: Arc<Arc<Shared>>) -> Response<Body> {
    let shared: &Arc<Shared> = &shared;
    let mut resp = match route(req.method(), req.uri().path()) {
        Route::Decide => decide(req, shared, false).await,
        Route::Batch => decide(req, shared, true).await,
        Route::Bundle => respond(StatusCode::OK, JSON, shared.point.bundle_info().to_string()),
        Route::Health => respond(StatusCode::OK, JSON, json!({"status": "ok"}).to_string()),
        Route::Ready => ready(shared),
        Route::Metrics => respond(StatusCode::OK, METRICS, shared.point.metrics.text()),
        Route::Method(allow) => {
            let mut r = refuse(
                shared,
                StatusCode::METHOD_NOT_ALLOWED,
                BadRequest::NotFound,
                &format!(
                    "`{}` is not allowed on `{}`",
                    req.method(),
                    req.uri().path()
                ),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            r
        }
        Route::NotFound => refuse(
            shared,
            StatusCode::NOT_FOUND,
            BadRequest::NotFound,
            &format!(
                "no such endpoint: `{}`; decide with `POST /v1/decide`",
                crate::source::printable(req.uri().path())
            ),
        ),
    };
    if shared.draining.load(Ordering::Relaxed) {
        // Draining: this connection's last request.
        resp.headers_mut().insert(CONNECTION, CLOSE);
    }
    resp
}

fn respond(status: StatusCode, ctype: HeaderValue, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Out::from(body)));
    *r.headers_mut() = answer_headers();
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, ctype);
    r
}

/// A refusal: `status`, with a deny decision saying why.
fn refuse(shared: &Shared, status: StatusCode, why: BadRequest, message: &str) -> Response<Body> {
    let mut body = buffer();
    shared.point.refuse(why, message, &mut body);
    let mut r = respond(status, JSON, body);
    r.headers_mut().insert(GOVERN_DECISION, DENY);
    r
}

fn ready(shared: &Shared) -> Response<Body> {
    if shared.draining.load(Ordering::Relaxed) {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            JSON,
            json!({"status": "draining"}).to_string(),
        );
    }
    match shared.point.ready() {
        Ok(()) => respond(
            StatusCode::OK,
            JSON,
            json!({"status": "ready", "bundle": shared.point.in_force().loaded.program.digest})
                .to_string(),
        ),
        Err(why) => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            JSON,
            json!({"status": "not ready", "reason": why}).to_string(),
        ),
    }
}

/// Whether a content type is one the decision endpoints read (absent counts as JSON).
fn json_type(content_type: Option<&HeaderValue>) -> Result<bool, String> {
    let Some(v) = content_type else {
        return Ok(false);
    };
    // What nearly every client sends, told at once.
    if v.as_bytes().eq_ignore_ascii_case(b"application/json") {
        return Ok(false);
    }
    let t = v
        .to_str()
        .map_err(|_| "the content type is not text".to_string())?;
    let base = t.split(';').next().unwrap_or("").trim();
    let is = |name: &str| base.eq_ignore_ascii_case(name);
    let suffix = base
        .len()
        .checked_sub("+json".len())
        .and_then(|i| base.get(i..))
        .is_some_and(|s| s.eq_ignore_ascii_case("+json"));
    match () {
        () if is("application/json") || is("text/json") => Ok(false),
        () if is("application/x-ndjson")
            || is("application/jsonl")
            || is("application/x-jsonlines")
            || is("application/jsonlines") =>
        {
            Ok(true)
        }
        () if suffix => Ok(false),
        () => Err(format!(
            "content type `{}` is not JSON: send `application/json` (or JSON lines to the batch endpoint)",
            crate::source::printable(t)
        )),
    }
}

async fn decide(req: Request<Incoming>, shared: &Arc<Shared>, batch: bool) -> Response<Body> {
    let limit = if batch {
        shared.config.max_batch_body
    } else {
        shared.config.max_body
    };
    // The two headers read, found in one pass over the few a request has (the first of
    // each, as `HeaderMap::get` gives), instead of two lookups by hash.
    let (mut ctype, mut clen) = (None, None);
    for (name, value) in req.headers() {
        if *name == CONTENT_TYPE {
            ctype = ctype.or(Some(value));
        } else if *name == CONTENT_LENGTH {
            clen = clen.or(Some(value));
        }
    }
    let jsonl = match json_type(ctype) {
        Ok(j) => j,
        Err(m) => {
            return refuse(
                shared,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                BadRequest::Header,
                &m,
            );
        }
    };
    if let Some(len) = clen {
        match len.to_str().ok().and_then(|l| l.parse::<u64>().ok()) {
            Some(n) if n > limit as u64 => {
                return refuse(
                    shared,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    BadRequest::TooLarge,
                    &format!("the body is {n} bytes, over the limit of {limit} bytes"),
                );
            }
            Some(_) => {}
            None => {
                return refuse(
                    shared,
                    StatusCode::BAD_REQUEST,
                    BadRequest::Header,
                    "the content length is not a number",
                );
            }
        }
    }
    // Bounded in time by a timer only when the body is not all there at once (a timer set
    // and cancelled per request otherwise).
    let (parts, body) = req.into_parts();
    keep_headers(parts.headers);
    let mut reading = std::pin::pin!(read_body(body, limit));
    let read = match futures_now(reading.as_mut()) {
        Some(r) => r,
        None => match tokio::time::timeout(shared.config.body_timeout, reading).await {
            Ok(r) => r,
            Err(_) => {
                return refuse(
                    shared,
                    StatusCode::REQUEST_TIMEOUT,
                    BadRequest::Timeout,
                    "the body did not arrive in time",
                );
            }
        },
    };
    let bytes = match read {
        Err(BodyError::TooLarge) => {
            return refuse(
                shared,
                StatusCode::PAYLOAD_TOO_LARGE,
                BadRequest::TooLarge,
                &format!("the body is over the limit of {limit} bytes"),
            );
        }
        Err(BodyError::Read(e)) => {
            return refuse(
                shared,
                StatusCode::BAD_REQUEST,
                BadRequest::Malformed,
                &format!("the body could not be read: {e}"),
            );
        }
        Ok(b) => b,
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            return refuse(
                shared,
                StatusCode::BAD_REQUEST,
                BadRequest::Malformed,
                &format!("the body is not valid UTF-8 (byte {})", e.valid_up_to() + 1),
            );
        }
    };
    if !batch {
        return one(shared, text).await;
    }
    let items: Vec<&str> = if jsonl || !text.trim_start().starts_with('[') {
        text.lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.trim().is_empty())
            .collect()
    } else {
        match serde_json::from_str::<Vec<&serde_json::value::RawValue>>(text) {
            Ok(v) => v.into_iter().map(|r| r.get()).collect(),
            Err(e) => {
                return refuse(
                    shared,
                    StatusCode::BAD_REQUEST,
                    BadRequest::Malformed,
                    &format!("the batch is not a JSON array of events: {e}"),
                );
            }
        }
    };
    if items.len() > shared.config.max_batch {
        return refuse(
            shared,
            StatusCode::PAYLOAD_TOO_LARGE,
            BadRequest::TooLarge,
            &format!(
                "the batch holds {} events, over the limit of {}",
                items.len(),
                shared.config.max_batch
            ),
        );
    }
    many(shared, items, jsonl).await
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Read(hyper::Error),
}

/// Reads a whole body of at most `limit` bytes: a body that comes in one piece (as a small
/// one does) is that piece, with no copy; a longer one is gathered into one buffer.
async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            // Trailers: not part of the event.
            continue;
        };
        len = len.saturating_add(data.len());
        if len > limit {
            return Err(BodyError::TooLarge);
        }
        match &mut first {
            None if rest.is_empty() => first = Some(data),
            Some(f) => {
                rest.reserve(len);
                rest.extend_from_slice(f);
                rest.extend_from_slice(&data);
                first = None;
            }
            None => rest.extend_from_slice(&data),
        }
        if hyper::body::Body::is_end_stream(&body) {
            break;
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(rest)))
}

/// Polls a future once: its output when it is ready at once.
fn futures_now<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Runs a decision on this thread, or on the blocking pool within the time budget when an
/// audit log may make it wait for the disk (`--audit-sync always`; other modes write to the
/// page cache, which costs about what deciding does).
async fn run_decision<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> T + Send + 'static,
) -> Option<T> {
    if !shared.point.waits_for_disk() {
        return Some(f(shared));
    }
    let s = Arc::clone(shared);
    let task = tokio::task::spawn_blocking(move || f(&s));
    match tokio::time::timeout(shared.config.decision_timeout, task).await {
        Ok(Ok(v)) => Some(v),
        _ => None,
    }
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

async fn one(shared: &Arc<Shared>, text: &str) -> Response<Body> {
    if !shared.point.waits_for_disk() {
        // The fast path: decided on this thread, bounded by the verifier's cost bounds; with
        // an audit log, the answer waits for its record's group commit while this thread
        // serves other connections.
        let mut out = buffer();
        let a = with_scratch(|scratch| shared.point.decide_one(text, scratch, &mut out));
        let a = match committed(shared, a.seq).await {
            Ok(()) => a,
            Err(why) => {
                out.clear();
                why.deny(shared, &mut out)
            }
        };
        return answered(a, out, JSON);
    }
    let text = text.to_string();
    let decided = run_decision(shared, move |s| {
        let mut out = String::with_capacity(256);
        let a = with_scratch(|scratch| s.point.decide(&text, scratch, &mut out));
        (a, out)
    })
    .await;
    let (a, body) = match decided {
        Some(d) => d,
        None => {
            let mut out = String::new();
            let a = shared.point.give_up(
                Failure::Budget,
                &format!(
                    "no decision within {} ms",
                    shared.config.decision_timeout.as_millis()
                ),
                &mut out,
            );
            (a, out)
        }
    };
    answered(a, body, JSON)
}

/// Why decisions could not be used: their audit record was not written.
enum NotCommitted {
    Audit(AuditFailure),
    /// Not within the decision's time budget.
    Late,
}

impl NotCommitted {
    /// Writes the denial the decisions waiting for the record get instead.
    fn deny(self, shared: &Shared, out: &mut String) -> Answer {
        match self {
            NotCommitted::Audit(f) => shared.point.denial(&f, out),
            NotCommitted::Late => shared.point.give_up(
                Failure::Budget,
                &format!(
                    "its audit record was not written within {} ms",
                    shared.config.decision_timeout.as_millis()
                ),
                out,
            ),
        }
    }
}

/// Waits until the audit record `seq` is written (see [`super::commit`]) within the
/// decision's time budget, this thread serving other connections meanwhile.
async fn committed(shared: &Shared, seq: Option<u64>) -> Result<(), NotCommitted> {
    let Some(seq) = seq else {
        return Ok(());
    };
    let Some(commit) = &shared.commit else {
        return shared.point.finish(Some(seq)).map_err(NotCommitted::Audit);
    };
    match tokio::time::timeout(shared.config.decision_timeout, commit.committed(seq)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(f)) => Err(NotCommitted::Audit(f)),
        Err(_) => Err(NotCommitted::Late),
    }
}

fn answered(a: Answer, body: String, ctype: HeaderValue) -> Response<Body> {
    let status = match a.status {
        Status::Decided => StatusCode::OK,
        Status::BadEvent => StatusCode::BAD_REQUEST,
        Status::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut r = respond(status, ctype, body);
    r.headers_mut()
        .insert(GOVERN_DECISION, verdict_value(a.verdict));
    r
}

/// Decides a batch in order: the decisions as a JSON array (or JSON lines), the worst
/// verdict, and the seq of the last audit record, to be written before any of them is used.
fn decide_batch(
    point: &crate::point::Point,
    items: &[&str],
    jsonl: bool,
) -> (Verdict, String, Option<u64>) {
    let mut out = String::with_capacity(256 * items.len() + 2);
    let mut last = None;
    let mut worst = Verdict::Allow;
    if !jsonl {
        out.push('[');
    }
    with_scratch(|scratch| {
        for (i, item) in items.iter().enumerate() {
            if i > 0 && !jsonl {
                out.push(',');
            }
            let a = point.decide_one(item, scratch, &mut out);
            if jsonl {
                out.push('\n');
            }
            last = a.seq.or(last);
            worst = worse(worst, a.verdict);
        }
    });
    if !jsonl {
        out.push(']');
    }
    (worst, out, last)
}

/// Decides a batch and writes its records; an error when they could not be written (none
/// of its decisions may then be used).
fn decide_many(
    point: &crate::point::Point,
    items: &[&str],
    jsonl: bool,
) -> Result<(Verdict, String), crate::point::AuditFailure> {
    let (worst, out, last) = decide_batch(point, items, jsonl);
    point.finish(last).map(|()| (worst, out))
}

async fn many(shared: &Arc<Shared>, items: Vec<&str>, jsonl: bool) -> Response<Body> {
    let n = items.len();
    let ctype = if jsonl { JSONL } else { JSON };
    let decided = if shared.point.waits_for_disk() {
        let owned: Vec<String> = items.into_iter().map(str::to_string).collect();
        run_decision(shared, move |s| {
            let items: Vec<&str> = owned.iter().map(String::as_str).collect();
            decide_many(&s.point, &items, jsonl)
        })
        .await
    } else {
        let (worst, out, last) = decide_batch(&shared.point, &items, jsonl);
        match committed(shared, last).await {
            Ok(()) => Some(Ok((worst, out))),
            Err(why) => {
                let mut one = String::new();
                let a = why.deny(shared, &mut one);
                return denied_batch(a, &one, n, jsonl, ctype);
            }
        }
    };
    match decided {
        Some(Ok((worst, out))) => {
            let mut r = respond(StatusCode::OK, ctype, out);
            r.headers_mut()
                .insert(GOVERN_DECISION, verdict_value(worst));
            r
        }
        failed => {
            // Not one of them may be used: every event of the batch is denied.
            let mut one = String::new();
            let a = match failed {
                Some(Err(f)) => shared.point.denial(&f, &mut one),
                _ => shared.point.give_up(
                    Failure::Budget,
                    &format!(
                        "no decision within {} ms",
                        shared.config.decision_timeout.as_millis()
                    ),
                    &mut one,
                ),
            };
            denied_batch(a, &one, n, jsonl, ctype)
        }
    }
}

/// The answer to a batch of `n` events none of whose decisions may be used: `one`, the
/// denial, for each.
fn denied_batch(a: Answer, one: &str, n: usize, jsonl: bool, ctype: HeaderValue) -> Response<Body> {
    let mut out = String::with_capacity((one.len() + 1) * n + 2);
    if !jsonl {
        out.push('[');
    }
    for i in 0..n {
        if i > 0 && !jsonl {
            out.push(',');
        }
        out.push_str(one);
        if jsonl {
            out.push('\n');
        }
    }
    if !jsonl {
        out.push(']');
    }
    answered(a, out, ctype)
}

fn worse(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (Verdict::Deny, _) | (_, Verdict::Deny) => Verdict::Deny,
        (Verdict::Escalate, _) | (_, Verdict::Escalate) => Verdict::Escalate,
        _ => Verdict::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer's buffer goes back to its thread once sent, emptied, and the next answer
    /// is written into it; what hyper reads of it is the answer, from where it got to.
    #[test]
    fn answers_reuse_their_buffers() {
        let mut s = buffer();
        s.push_str(r#"{"decision":"allow"}"#);
        let at = s.as_ptr();
        let mut out = Out::from(s);
        assert_eq!(out.remaining(), 20);
        assert_eq!(out.chunk(), br#"{"decision":"allow"}"#);
        out.advance(12);
        assert_eq!((out.remaining(), out.chunk()), (8, &br#""allow"}"#[..]));
        out.advance(100);
        assert_eq!((out.remaining(), out.chunk()), (0, &b""[..]));
        drop(out);
        let again = buffer();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), at);
        // A large answer's buffer is not kept.
        let mut big = again;
        big.reserve(BUFFER_KEPT_BYTES + 1);
        drop(Out::from(big));
        assert!(BUFFERS.with(|b| b.borrow().is_empty()));
    }

    #[test]
    fn routes_by_method_and_path() {
        let r = |m: Method, p: &str| match route(&m, p) {
            Route::Decide => "decide".to_string(),
            Route::Batch => "batch".into(),
            Route::Bundle => "bundle".into(),
            Route::Health => "health".into(),
            Route::Ready => "ready".into(),
            Route::Metrics => "metrics".into(),
            Route::Method(allow) => format!("405 {allow}"),
            Route::NotFound => "404".into(),
        };
        assert_eq!(r(Method::POST, "/v1/decide"), "decide");
        assert_eq!(r(Method::POST, "/v1/decide/batch"), "batch");
        assert_eq!(r(Method::HEAD, "/v1/bundle"), "bundle");
        assert_eq!(r(Method::GET, "/healthz"), "health");
        assert_eq!(r(Method::GET, "/readyz"), "ready");
        assert_eq!(r(Method::GET, "/metrics"), "metrics");
        assert_eq!(r(Method::GET, "/v1/decide"), "405 POST");
        assert_eq!(r(Method::PUT, "/v1/decide/batch"), "405 POST");
        assert_eq!(r(Method::POST, "/metrics"), "405 GET, HEAD");
        assert_eq!(r(Method::DELETE, "/v1/bundle"), "405 GET, HEAD");
        assert_eq!(r(Method::POST, "/v1/decide/"), "404");
        assert_eq!(r(Method::GET, "/"), "404");
    }

    #[test]
    fn content_types_are_told_apart_whatever_their_case() {
        let t = |v: &str| json_type(Some(&HeaderValue::from_str(v).unwrap()));
        assert_eq!(json_type(None), Ok(false));
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " text/json ",
            "application/vnd.api+JSON",
            "+json",
        ] {
            assert_eq!(t(json), Ok(false), "{json}");
        }
        for lines in [
            "application/x-ndjson",
            "APPLICATION/JSONL",
            "application/x-jsonlines; charset=utf-8",
            "application/jsonlines",
        ] {
            assert_eq!(t(lines), Ok(true), "{lines}");
        }
        for other in ["text/html", "application/jsonx", "json", ""] {
            assert!(t(other).is_err(), "{other}");
        }
        let bytes = HeaderValue::from_bytes(b"application/\xffjson").unwrap();
        assert!(json_type(Some(&bytes)).is_err());
    }
}
