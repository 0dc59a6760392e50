//! The channel that carries the messages for one client request (or the GET stream) to the
//! answer that sends them: any task may deliver to it (the POST's own exchange, a held
//! request sent later, the server's SSE stream, another stream's response of that id), and
//! the POST or its SSE body takes them in order.
//!
//! It behaves as tokio's bounded `mpsc` channel of [`CAP`] messages does for the proxy: a
//! send waits for room when [`CAP`] messages wait (the server's stream is then read no
//! further: back-pressure), senders waiting for room go in the order they came, a send after
//! the receiver is gone fails with its message, and the receiver sees the end once every
//! sender is gone and the messages are taken. What it spares is the making and dropping of
//! tokio's channel for each POST: one allocation (a message waiting alone is kept in place)
//! and one lock, where tokio's channel allocates a block of slots and a semaphore's state.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The most messages that wait; a sender past it waits for room.
pub const CAP: usize = 64;

struct State<T> {
    /// The first message waiting (none waits when this is empty): kept in place, so a
    /// request's one answer takes no allocation of its own.
    first: Option<T>,
    /// The messages after it.
    rest: VecDeque<T>,
    senders: usize,
    /// The receiver is gone.
    closed: bool,
    /// The receiver, waiting for a message or the end.
    rx: Option<Waker>,
    /// The senders waiting for room, first come first: each one's ticket and waker.
    waiting: VecDeque<(u64, Waker)>,
    next_ticket: u64,
}

impl<T> State<T> {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn push(&mut self, v: T) {
        if self.first.is_none() {
            self.first = Some(v);
        } else {
            self.rest.push_back(v);
        }
    }

    fn pop(&mut self) -> Option<T> {
        let v = self.first.take()?;
        self.first = self.rest.pop_front();
        Some(v)
    }

    /// Wakes the first sender waiting for room, when there is room (or the receiver is gone).
    fn wake_waiting(&self) {
        if (self.closed || self.len() < CAP)
            && let Some((_, w)) = self.waiting.front()
        {
            w.wake_by_ref();
        }
    }
}

type Chan<T> = Mutex<State<T>>;

/// Nothing runs under the lock that could panic but dropping messages: a poisoned lock's
/// state is whole.
fn lock<T>(c: &Chan<T>) -> MutexGuard<'_, State<T>> {
    c.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A channel of at most [`CAP`] waiting messages.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let c = Arc::new(Mutex::new(State {
        first: None,
        rest: VecDeque::new(),
        senders: 1,
        closed: false,
        rx: None,
        waiting: VecDeque::new(),
        next_ticket: 0,
    }));
    (Sender(Arc::clone(&c)), Receiver(c))
}

pub struct Sender<T>(Arc<Chan<T>>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.0).senders += 1;
        Sender(Arc::clone(&self.0))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let rx = {
            let mut s = lock(&self.0);
            s.senders -= 1;
            if s.senders == 0 { s.rx.take() } else { None }
        };
        if let Some(w) = rx {
            w.wake();
        }
    }
}

impl<T> Sender<T> {
    /// Sends `v` once there is room: `Err(v)` when the receiver is gone (before or while it
    /// waits).
    pub fn send(&self, v: T) -> Send<'_, T> {
        Send {
            chan: &self.0,
            v: Some(v),
            ticket: None,
        }
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        lock(&self.0).closed
    }

    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A send waiting for room ([`Sender::send`]).
pub struct Send<'a, T> {
    chan: &'a Chan<T>,
    v: Option<T>,
    /// Its place among the senders waiting for room, once it waits.
    ticket: Option<u64>,
}

// Nothing of it is pinned in place.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), T>> {
        let this = &mut *self;
        let mut s = lock(this.chan);
        if s.closed {
            if let Some(t) = this.ticket.take() {
                s.waiting.retain(|(x, _)| *x != t);
                s.wake_waiting();
            }
            drop(s);
            // Polled again after it was done: nothing to send.
            return this.v.take().map_or(Poll::Pending, |v| Poll::Ready(Err(v)));
        }
        let turn = match this.ticket {
            None => s.waiting.is_empty(),
            Some(t) => s.waiting.front().is_some_and(|(x, _)| *x == t),
        };
        if turn && s.len() < CAP {
            let Some(v) = this.v.take() else {
                return Poll::Pending;
            };
            if this.ticket.take().is_some() {
                s.waiting.pop_front();
            }
            s.push(v);
            let rx = s.rx.take();
            // The next sender waiting, if room is left for it.
            s.wake_waiting();
            drop(s);
            if let Some(w) = rx {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        match this.ticket {
            None => {
                let t = s.next_ticket;
                s.next_ticket += 1;
                s.waiting.push_back((t, cx.waker().clone()));
                this.ticket = Some(t);
            }
            Some(t) => {
                if let Some((_, w)) = s.waiting.iter_mut().find(|(x, _)| *x == t)
                    && !w.will_wake(cx.waker())
                {
                    *w = cx.waker().clone();
                }
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Send<'_, T> {
    /// A send given up while it waits leaves its place to the next.
    fn drop(&mut self) {
        if let Some(t) = self.ticket {
            let mut s = lock(self.chan);
            let first = s.waiting.front().is_some_and(|(x, _)| *x == t);
            s.waiting.retain(|(x, _)| *x != t);
            if first {
                s.wake_waiting();
            }
        }
    }
}

pub struct Receiver<T>(Arc<Chan<T>>);

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone and nothing waits.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.0);
        if let Some(v) = s.pop() {
            s.wake_waiting();
            return Poll::Ready(Some(v));
        }
        if s.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut s.rx {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next message, if one waits.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut s = lock(&self.0);
        let v = s.pop();
        if v.is_some() {
            s.wake_waiting();
        }
        v
    }
}

impl<T> Drop for Receiver<T> {
    /// The messages left are dropped, and the senders waiting fail.
    fn drop(&mut self) {
        let (first, rest, waiting) = {
            let mut s = lock(&self.0);
            s.closed = true;
            s.rx = None;
            (
                s.first.take(),
                std::mem::take(&mut s.rest),
                std::mem::take(&mut s.waiting),
            )
        };
        // Each wakes to find the receiver gone (and its place no longer held).
        for (_, w) in waiting {
            w.wake();
        }
        drop((first, rest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// Whether a future is ready at its first poll (it is dropped either way).
    fn ready_now<F: Future>(f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    /// A channel with its room filled by the numbers `0..CAP`.
    async fn full() -> (Sender<usize>, Receiver<usize>) {
        let (tx, rx) = channel::<usize>();
        for i in 0..CAP {
            tx.send(i).await.unwrap();
        }
        (tx, rx)
    }

    /// `v` sent on a task of its own by a clone of `tx`.
    fn send_later(tx: &Sender<usize>, v: usize) -> tokio::task::JoinHandle<Result<(), usize>> {
        let tx = tx.clone();
        tokio::spawn(async move { tx.send(v).await })
    }

    #[test]
    fn messages_come_in_order_and_the_end_after_the_last_sender() {
        let (tx, mut rx) = channel::<u32>();
        let tx2 = tx.clone();
        for i in 0..10 {
            assert_eq!(ready_now(tx.send(i)), Some(Ok(())));
        }
        assert_eq!(ready_now(tx2.send(10)), Some(Ok(())));
        assert!(tx.same_channel(&tx2));
        assert!(!tx.same_channel(&channel::<u32>().0));
        drop(tx);
        for i in 0..=10 {
            assert_eq!(rx.try_recv(), Some(i));
        }
        assert_eq!(rx.try_recv(), None);
        // A sender is left: no end yet.
        assert_eq!(ready_now(rx.recv()), None);
        drop(tx2);
        assert_eq!(ready_now(rx.recv()), Some(None));
    }

    #[test]
    fn a_full_channel_makes_senders_wait_in_turn() {
        rt().block_on(async {
            let (tx, mut rx) = full().await;
            // Full: three senders wait, on tasks of their own, in the order they came.
            let mut waits = Vec::new();
            for i in 0..3 {
                waits.push(send_later(&tx, CAP + i));
                tokio::task::yield_now().await;
            }
            assert!(
                ready_now(tx.send(99)).is_none(),
                "a send past the room waits"
            );
            for w in &waits {
                assert!(!w.is_finished());
            }
            let mut got = Vec::new();
            while got.len() < CAP + 3 {
                got.push(rx.recv().await.unwrap());
            }
            assert_eq!(got, (0..CAP + 3).collect::<Vec<_>>());
            for w in waits {
                assert_eq!(w.await.unwrap(), Ok(()));
            }
            drop(tx);
            assert_eq!(rx.recv().await, None);
        });
    }

    #[test]
    fn a_send_given_up_leaves_its_turn_to_the_next() {
        rt().block_on(async {
            let (tx, mut rx) = full().await;
            let first = send_later(&tx, 1000);
            tokio::task::yield_now().await;
            let second = send_later(&tx, 2000);
            tokio::task::yield_now().await;
            first.abort();
            assert!(first.await.unwrap_err().is_cancelled());
            assert_eq!(rx.recv().await, Some(0));
            assert_eq!(second.await.unwrap(), Ok(()));
            for i in 1..CAP {
                assert_eq!(rx.recv().await, Some(i));
            }
            assert_eq!(rx.recv().await, Some(2000));
        });
    }

    #[test]
    fn sends_fail_once_the_receiver_is_gone() {
        rt().block_on(async {
            let (tx, rx) = full().await;
            let waiting = send_later(&tx, 7);
            tokio::task::yield_now().await;
            assert!(!tx.is_closed());
            drop(rx);
            assert!(tx.is_closed());
            assert_eq!(waiting.await.unwrap(), Err(7));
            assert_eq!(tx.send(8).await, Err(8));
        });
    }

    #[test]
    fn messages_left_are_dropped_with_the_receiver() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = channel::<Counted>();
        for _ in 0..5 {
            assert!(matches!(
                ready_now(tx.send(Counted(Arc::clone(&dropped)))),
                Some(Ok(()))
            ));
        }
        drop(rx);
        assert_eq!(dropped.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn the_receiver_is_woken_by_a_send_and_by_the_end() {
        rt().block_on(async {
            let (tx, mut rx) = channel::<usize>();
            let got = tokio::spawn(async move {
                let a = rx.recv().await;
                let b = rx.recv().await;
                (a, b)
            });
            tokio::task::yield_now().await;
            tx.send(1).await.unwrap();
            tokio::task::yield_now().await;
            drop(tx);
            assert_eq!(got.await.unwrap(), (Some(1), None));
        });
    }
}
