//! The proxy's own HTTP/1.1 client for a plain `http://` upstream: a request written with one
//! write on a kept connection, the answer's head read with `httparse` on the task that sent
//! it, its body read from the same connection as the task polls it. No connection task, no
//! channel between the request's task and the connection's, no wake-up of another task: what
//! hyper's client spends per exchange beyond the reading and writing itself.
//!
//! What it speaks of HTTP/1.1 (RFC 9112), as hyper's client does for the proxy:
//! - the answer's body framed by `Transfer-Encoding: chunked` (chunk extensions and trailers
//!   read and dropped), by `Content-Length` (several that differ, or one that is not a number,
//!   refused), or by the connection's end (a body of unknown length; the connection is then
//!   not kept); none for a `HEAD`, a `204` or a `304`. A `Transfer-Encoding` with any other
//!   last coding is read to the connection's end, as RFC 9112 says.
//! - `1xx` informational heads (`100 Continue`, `103 Early Hints`) skipped; `101` refused.
//! - keep-alive: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
//!   `Connection: keep-alive`; a connection goes back to its pool once its answer's body was
//!   read to its end, and only with no byte left over. A kept connection the server has
//!   closed meanwhile (its end seen by the runtime before the request is written) is left,
//!   and the request sent on another connection, or a new one.
//! - limits as hyper's: a head of at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers, a
//!   chunk-size line or a trailer of at most [`MAX_LINE`] bytes.
//!
//! A body dropped before its end closes its connection (what is left of it is never read).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use hyper::body::{Bytes, Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest head of an answer (hyper's default read buffer).
pub const MAX_HEAD: usize = 408 * 1024;
/// The most headers in a head (hyper's default).
pub const MAX_HEADERS: usize = 100;
/// The longest chunk-size line, or trailer line, of a chunked body.
pub const MAX_LINE: usize = 8 * 1024;
/// The room a read has at least.
const READ_ROOM: usize = 8 * 1024;

/// A connection to the server.
#[derive(Debug)]
pub struct Conn {
    io: TcpStream,
    /// What was read and not yet taken.
    buf: BytesMut,
    /// When it went back to its pool.
    pub used: Instant,
}

/// Kept connections, ready for a request.
pub type Pool = Arc<Mutex<Vec<Conn>>>;

/// Why an exchange failed.
#[derive(Debug)]
pub enum Error {
    /// Connecting failed.
    Connect(io::Error),
    /// Writing the request or reading the answer failed.
    Io(io::Error),
    /// The connection ended before the answer did.
    Closed,
    /// The answer is not HTTP/1.x as it should be.
    Invalid(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "tcp connect error: {e}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Closed => f.write_str("connection closed before message completed"),
            Error::Invalid(why) => write!(f, "invalid HTTP answer: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl Conn {
    /// Opens a connection to `addr` (`host:port`; a name is resolved, each address tried).
    pub async fn open(addr: &str) -> Result<Conn, Error> {
        let io = TcpStream::connect(addr).await.map_err(Error::Connect)?;
        io.set_nodelay(true).map_err(Error::Connect)?;
        Ok(Conn {
            io,
            buf: BytesMut::new(),
            used: Instant::now(),
        })
    }

    /// Whether a kept connection can take a request: the server has not closed it, and it
    /// has sent nothing unasked. The runtime's readiness answers it without a system call
    /// when nothing came since the last answer was read (a read that filled less than its
    /// room left the socket empty and cleared it, [`Conn::poll_fill`]); an end or bytes the
    /// runtime has seen are read, and the connection is left.
    fn usable(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads what the connection has into the buffer; `Ok(0)` at its end. Read through the
    /// runtime's `AsyncRead`, which clears the socket's readiness when a read leaves room
    /// unfilled: the next read then waits for the socket to be readable again rather than
    /// asking the kernel first (a read that would only say `EAGAIN`).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_ROOM / 2 {
            self.buf.reserve(READ_ROOM);
        }
        // One read, or none: the future is made again at each poll and holds nothing.
        let read = std::pin::pin!(self.io.read_buf(&mut self.buf));
        read.poll(cx)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }
}

/// A connection of `pool` that can take a request; those the server closed, and those unused
/// since `idle_before`, are closed on the way.
pub fn take(pool: &Pool, idle_before: Instant) -> Option<Conn> {
    let mut p = pool.lock().ok()?;
    if p.is_empty() {
        return None;
    }
    p.retain(|c| c.used > idle_before);
    // The one used last first: the likeliest to be open still.
    while let Some(c) = p.pop() {
        if c.usable() {
            return Some(c);
        }
    }
    None
}

/// The room a request's line and headers usually take: the request's bytes are written into
/// one buffer made with this room beside the target and the body, grown only for a longer
/// head.
const HEAD_ROOM: usize = 512;

/// The request's bytes: its line, `headers` (each value as it is, in the map's order),
/// `Content-Length` unless the body is empty, and `body`: what hyper's client writes for the
/// same request. One pass over the headers, each written where the last ended.
pub fn request(method: &Method, target: &str, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD_ROOM + target.len() + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (n, v) in headers {
        let (n, v) = (n.as_str().as_bytes(), v.as_bytes());
        out.reserve(n.len() + v.len() + 4);
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(b"content-length: ");
        push_decimal(&mut out, body.len());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Writes `n` in decimal digits, as `{}` formats it.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let start = out.len();
    loop {
        // A digit: below 10.
        out.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if let Some(digits) = out.get_mut(start..) {
        digits.reverse();
    }
}

/// The head of an answer.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    /// Its headers, each value as it came (the map given, emptied first).
    pub headers: HeaderMap,
}

/// How the answer's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked, at this point of a chunk.
    Chunked(Chunk),
    /// At the connection's end.
    Close,
    /// Read to its end.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// A chunk-size line is next.
    Size,
    /// This many bytes of a chunk's data are left.
    Data(u64),
    /// The CRLF after a chunk's data is next.
    End,
    /// Trailer lines, up to an empty one, are next; this many bytes of them were read.
    Trailers(usize),
}

/// Writes `req` on `conn` and reads the answer's head into `headers` (emptied); the body is
/// read as it is polled, and gives the connection back to `pool` once read to its end.
pub async fn exchange(
    mut conn: Conn,
    pool: &Pool,
    req: &[u8],
    method: &Method,
    headers: HeaderMap,
) -> Result<(Head, Body), Error> {
    conn.io.write_all(req).await.map_err(Error::Io)?;
    let (head, framing, keep) = read_head(&mut conn, method, headers).await?;
    let mut body = Body {
        conn: Some(conn),
        framing,
        keep,
        pool: Arc::clone(pool),
    };
    if framing == Framing::Done {
        body.finish();
    }
    Ok((head, body))
}

/// Reads the head of the answer (skipping `1xx` heads), and how its body is framed.
async fn read_head(
    conn: &mut Conn,
    method: &Method,
    mut map: HeaderMap,
) -> Result<(Head, Framing, bool), Error> {
    map.clear();
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        let done = match parsed.parse(&conn.buf) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => Some(n),
            Ok(httparse::Status::Complete(_)) => {
                return Err(Error::Invalid(format!("its head is over {MAX_HEAD} bytes")));
            }
            Ok(httparse::Status::Partial) => None,
            Err(e) => return Err(Error::Invalid(format!("its head: {e}"))),
        };
        let Some(len) = done else {
            if conn.buf.len() >= MAX_HEAD {
                return Err(Error::Invalid(format!("its head is over {MAX_HEAD} bytes")));
            }
            match conn.fill().await {
                Ok(0) => return Err(Error::Closed),
                Ok(_) => continue,
                Err(e) => return Err(Error::Io(e)),
            }
        };
        let code = parsed.code.unwrap_or(0);
        let status =
            StatusCode::from_u16(code).map_err(|_| Error::Invalid(format!("its status {code}")))?;
        let version = if parsed.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(Error::Invalid("101 Switching Protocols".to_string()));
        }
        if status.is_informational() {
            conn.buf.advance(len);
            continue;
        }
        // Where each header's name and value are in the head.
        let base = conn.buf.as_ptr() as usize;
        let mut at = Vec::with_capacity(parsed.headers.len());
        for h in parsed.headers.iter() {
            let name = h.name.as_ptr() as usize - base;
            let value = h.value.as_ptr() as usize - base;
            at.push((name, h.name.len(), value, h.value.len()));
        }
        let head = conn.buf.split_to(len).freeze();
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut encoded = false;
        let mut close = version == Version::HTTP_10;
        for (name, name_len, value, value_len) in at {
            let n = head
                .get(name..name + name_len)
                .and_then(|n| HeaderName::from_bytes(n).ok())
                .ok_or_else(|| Error::Invalid("a header's name".to_string()))?;
            let v = HeaderValue::from_maybe_shared(head.slice(value..value + value_len))
                .map_err(|_| Error::Invalid(format!("the value of {n}")))?;
            if n == hyper::header::CONTENT_LENGTH {
                for part in v.as_bytes().split(|b| *b == b',') {
                    let part = part.trim_ascii();
                    let l = std::str::from_utf8(part)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| Error::Invalid("its Content-Length".to_string()))?;
                    if length.is_some_and(|k| k != l) {
                        return Err(Error::Invalid("its Content-Lengths differ".to_string()));
                    }
                    length = Some(l);
                }
            } else if n == hyper::header::TRANSFER_ENCODING {
                encoded = true;
                // Only the last coding tells whether the body is chunked.
                chunked = v
                    .as_bytes()
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if n == hyper::header::CONNECTION {
                for token in v.as_bytes().split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive")
                        && version == Version::HTTP_10
                    {
                        close = false;
                    }
                }
            }
            map.append(n, v);
        }
        let bodiless = *method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let (framing, keep) = if bodiless {
            (Framing::Done, !close)
        } else if encoded {
            // A length beside a transfer coding is not to be trusted: the connection ends
            // with this answer.
            if chunked {
                (Framing::Chunked(Chunk::Size), !close && length.is_none())
            } else {
                (Framing::Close, false)
            }
        } else {
            match length {
                Some(0) => (Framing::Done, !close),
                Some(l) => (Framing::Length(l), !close),
                None => (Framing::Close, false),
            }
        };
        return Ok((
            Head {
                status,
                version,
                headers: map,
            },
            framing,
            keep,
        ));
    }
}

/// The body of an answer, read from its connection as it is polled.
#[derive(Debug)]
pub struct Body {
    conn: Option<Conn>,
    framing: Framing,
    keep: bool,
    pool: Pool,
}

impl Body {
    /// The body is read: its connection goes back to the pool if it may be kept (and nothing
    /// is left over), else is closed.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let Some(mut c) = self.conn.take()
            && self.keep
            && c.buf.is_empty()
            && let Ok(mut p) = self.pool.lock()
            && p.len() < super::upstream::POOL_MAX_IDLE
        {
            c.used = Instant::now();
            p.push(c);
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match self.framing {
                Framing::Done => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Framing::Length(left) | Framing::Chunked(Chunk::Data(left))
                    if !conn.buf.is_empty() =>
                {
                    let n = conn
                        .buf
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let data = conn.buf.split_to(n).freeze();
                    let left = left - n as u64;
                    match self.framing {
                        Framing::Length(_) if left == 0 => self.finish(),
                        Framing::Length(_) => self.framing = Framing::Length(left),
                        _ if left == 0 => self.framing = Framing::Chunked(Chunk::End),
                        _ => self.framing = Framing::Chunked(Chunk::Data(left)),
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Framing::Close if !conn.buf.is_empty() => {
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(data)));
                }
                Framing::Chunked(Chunk::Size) => match httparse::parse_chunk_size(&conn.buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        conn.buf.advance(used);
                        self.framing = Framing::Chunked(if size == 0 {
                            Chunk::Trailers(0)
                        } else {
                            Chunk::Data(size)
                        });
                        continue;
                    }
                    Ok(httparse::Status::Partial) if conn.buf.len() < MAX_LINE => {}
                    _ => {
                        return Poll::Ready(Some(Err(Error::Invalid(
                            "a chunk's size".to_string(),
                        ))));
                    }
                },
                Framing::Chunked(Chunk::End) if conn.buf.len() >= 2 => {
                    if conn.buf.get(..2) != Some(&b"\r\n"[..]) {
                        return Poll::Ready(Some(Err(Error::Invalid("a chunk's end".to_string()))));
                    }
                    conn.buf.advance(2);
                    self.framing = Framing::Chunked(Chunk::Size);
                    continue;
                }
                Framing::Chunked(Chunk::Trailers(read)) => {
                    if let Some(at) = memchr::memmem::find(&conn.buf, b"\r\n") {
                        conn.buf.advance(at + 2);
                        if at == 0 {
                            self.finish();
                            return Poll::Ready(None);
                        }
                        let read = read + at + 2;
                        if read > MAX_HEAD {
                            return Poll::Ready(Some(Err(Error::Invalid(
                                "its trailers are too long".to_string(),
                            ))));
                        }
                        self.framing = Framing::Chunked(Chunk::Trailers(read));
                        continue;
                    }
                    if conn.buf.len() >= MAX_LINE {
                        return Poll::Ready(Some(Err(Error::Invalid(
                            "a trailer is too long".to_string(),
                        ))));
                    }
                }
                _ => {}
            }
            // More is needed.
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if self.framing == Framing::Close => {
                    self.keep = false;
                    self.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(Error::Closed)));
                }
                Ok(_) => {}
                Err(e) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(Error::Io(e))));
                }
            }
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.get_mut()
            .poll_next(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(l) => SizeHint::with_exact(l),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn lengths_are_written_as_format_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 408 * 1024, 1 << 32, usize::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}
