//! Connections: TCP or Unix sockets, with a note of when each last moved a byte so that
//! idle ones (a client that stopped reading or writing) are closed. Shared by `govern serve`
//! and `govern mcp-proxy --upstream`.
//!
//! A connection is idle when it has moved no byte for the idle time with no request in
//! flight ([`Activity::busy`]: a request being answered, an SSE stream open, may rightly be
//! quiet for long, waiting for a slow tool or the server's next event), or when a write to
//! it has waited that long (its reader stopped taking bytes, request in flight or not).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A TCP or Unix stream.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
        }
    }
}

/// An accepted connection between the thread that accepted it and the worker that serves
/// it (a tokio stream belongs to the runtime it was registered with).
pub enum StdStream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl StdStream {
    /// Registers the connection with the runtime running this.
    pub fn into_tokio(self) -> std::io::Result<Stream> {
        match self {
            StdStream::Tcp(s) => TcpStream::from_std(s).map(Stream::Tcp),
            StdStream::Unix(s) => UnixStream::from_std(s).map(Stream::Unix),
        }
    }
}

/// When a connection last moved a byte, in milliseconds since it was accepted; how many of
/// its requests are in flight; since when a write to it waits; since when the head of its
/// next request is arriving.
#[derive(Clone)]
pub struct Activity(Arc<Times>);

struct Times {
    start: Instant,
    last: AtomicU64,
    busy: AtomicUsize,
    /// When a write first found the connection full (milliseconds since `start`, plus one),
    /// 0 when the last write went through.
    blocked: AtomicU64,
    /// When bytes of a request arrived with no request in flight (milliseconds since
    /// `start`, plus one): its head is being read until [`Activity::busy`] marks it
    /// answered. 0 otherwise.
    head: AtomicU64,
    /// The clock of the current wake of the connection's task ([`Activity::woken`]): 0 when
    /// no wake is marked (the clock is read at each note), 1 when one is and the clock has
    /// not been read in it yet, `t + 2` once it was read at `t` (milliseconds since
    /// `start`). The reads, writes and request ends of one wake are noted at the time the
    /// first of them was: one clock read per wake instead of one per note.
    wake: AtomicU64,
}

/// A wake of a connection's task ([`Activity::woken`]) until it is dropped.
pub struct Woken<'a>(&'a Activity);

impl Drop for Woken<'_> {
    fn drop(&mut self) {
        self.0.0.wake.store(0, Ordering::Relaxed);
    }
}

/// A request in flight on a connection (see [`Activity::busy`]); the connection may be
/// quiet until it is dropped.
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(Times {
            start: Instant::now(),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            blocked: AtomicU64::new(0),
            head: AtomicU64::new(0),
            wake: AtomicU64::new(0),
        }))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The time to note a read, a write or a request's end at: the time of the wake's first
    /// note within a wake marked by [`Activity::woken`], the clock's otherwise.
    fn note_ms(&self) -> u64 {
        match self.0.wake.load(Ordering::Relaxed) {
            0 => self.now_ms(),
            1 => {
                let now = self.now_ms();
                self.0.wake.store(now.saturating_add(2), Ordering::Relaxed);
                now
            }
            t => t - 2,
        }
    }

    /// Marks a wake of the connection's task until the guard is dropped: the reads, writes
    /// and request ends noted meanwhile are noted at one time, read from the clock at the
    /// first of them (a wake is one poll of the connection: its reads, the requests it
    /// decides and the answers it writes). A connection is then found idle or its head slow
    /// at most one wake's length early, never late.
    pub fn woken(&self) -> Woken<'_> {
        self.0.wake.store(1, Ordering::Relaxed);
        Woken(self)
    }

    fn touch(&self) {
        self.0.last.store(self.note_ms(), Ordering::Relaxed);
    }

    /// Bytes were read: noted, and when no request is in flight they begin the head of the
    /// next one.
    fn read(&self) {
        let now = self.note_ms();
        self.0.last.store(now, Ordering::Relaxed);
        if self.0.busy.load(Ordering::Relaxed) == 0 && self.0.head.load(Ordering::Relaxed) == 0 {
            self.0.head.store(now.saturating_add(1), Ordering::Relaxed);
        }
    }

    fn written(&self) {
        self.0.blocked.store(0, Ordering::Relaxed);
        self.touch();
    }

    fn write_waits(&self) {
        let now = self.note_ms().saturating_add(1);
        let _ = self
            .0
            .blocked
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Marks a request in flight until the guard is dropped (hold it in the response body
    /// to cover a streamed answer); its head has arrived whole.
    pub fn busy(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::Relaxed);
        self.0.head.store(0, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Resolves once the connection is idle for `idle`: no byte moved and no request in
    /// flight, or a write waiting, for that long.
    pub async fn idle(&self, idle: Duration) {
        self.idle_or_slow(idle, None).await;
    }

    /// Like [`Activity::idle`], and also once the head of a request has been arriving for
    /// `head` without being whole (a client sending its headers a byte at a time), when the
    /// door marks each request it answers with [`Activity::busy`]. A slow head is found
    /// between `head` and one and a half times `head` after its first byte.
    pub async fn idle_or_slow(&self, idle: Duration, head: Option<Duration>) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let idle_ms = ms(idle);
        let head_ms = head.map(ms);
        let t = &self.0;
        loop {
            let now = self.now_ms();
            let blocked = t.blocked.load(Ordering::Relaxed);
            let stuck = if blocked == 0 {
                0
            } else {
                now.saturating_sub(blocked - 1)
            };
            if stuck >= idle_ms {
                return;
            }
            let mut wait = if blocked == 0 {
                idle_ms
            } else {
                idle_ms - stuck
            };
            if t.busy.load(Ordering::Relaxed) == 0 {
                let quiet = now.saturating_sub(t.last.load(Ordering::Relaxed));
                if quiet >= idle_ms {
                    return;
                }
                wait = wait.min(idle_ms - quiet);
            }
            if let Some(head_ms) = head_ms {
                let since = t.head.load(Ordering::Relaxed);
                if since != 0 && now.saturating_sub(since - 1) >= head_ms {
                    return;
                }
                // Not woken when a head begins: looked at every half `head` instead.
                wait = wait.min((head_ms / 2).max(1));
            }
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// A response body that keeps its request marked in flight ([`Activity::busy`]) until it
/// has been sent or dropped.
pub struct Held<B> {
    body: B,
    _busy: Busy,
}

impl<B> Held<B> {
    pub fn new(body: B, busy: Busy) -> Held<B> {
        Held { body, _busy: busy }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Held<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A stream whose reads and writes are noted in its [`Activity`].
pub struct Watched {
    inner: TokioIo<Stream>,
    activity: Activity,
}

impl Watched {
    pub fn new(s: Stream) -> Watched {
        Watched {
            inner: TokioIo::new(s),
            activity: Activity::new(),
        }
    }

    pub fn activity(&self) -> Activity {
        self.activity.clone()
    }
}

impl hyper::rt::Read for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if r.is_ready() {
            this.activity.read();
        }
        r
    }
}

impl hyper::rt::Write for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        match r {
            Poll::Ready(Ok(n)) if n > 0 => this.activity.written(),
            Poll::Pending => this.activity.write_waits(),
            _ => {}
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        match r {
            Poll::Ready(Ok(n)) if n > 0 => this.activity.written(),
            Poll::Pending => this.activity.write_waits(),
            _ => {}
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within a wake, reads, writes and request ends are noted at the wake's first reading
    /// of the clock; outside one, each at its own.
    #[test]
    fn notes_of_one_wake_share_one_clock_reading() {
        let a = Activity::new();
        let last = |a: &Activity| a.0.last.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(3));
        let first = {
            let _wake = a.woken();
            a.read();
            let first = last(&a);
            assert!(first >= 3);
            assert_eq!(a.0.head.load(Ordering::Relaxed), first + 1);
            std::thread::sleep(Duration::from_millis(5));
            a.written();
            assert_eq!(last(&a), first);
            drop(a.busy());
            assert_eq!(last(&a), first);
            first
        };
        assert_eq!(a.0.wake.load(Ordering::Relaxed), 0);
        std::thread::sleep(Duration::from_millis(5));
        a.written();
        assert!(last(&a) >= first + 5);
        // A new wake reads the clock again.
        std::thread::sleep(Duration::from_millis(5));
        let _wake = a.woken();
        a.written();
        assert!(last(&a) >= first + 10);
    }
}
