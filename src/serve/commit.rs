//! Group commit off the workers: the audit records of decisions go to the log from a thread
//! of their own, while the worker that decided them goes on serving its other connections.
//!
//! A worker decides an event (its record queued in the point's serial section, see
//! [`crate::point::Point::decide_one`]), asks the committer for the record's seq, and the
//! response future waits until that record is written ([`Committer::committed`]); only then
//! does the decision leave. The committer thread writes everything queued meanwhile with one
//! `write` ([`crate::point::Point::finish`]) and wakes every request whose record it wrote:
//! the more requests arrive while it writes, the larger its next group. The guarantee is the
//! one of [`crate::point`]: no decision is answered before its record is written in the sync
//! mode's sense, and a record that could not be written (with `--audit-required`) turns the
//! decisions waiting for it into denials.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};

use tokio::sync::watch;

use crate::point::{AuditFailure, Point};

/// What the committer has done so far.
#[derive(Clone, Debug, Default)]
struct Committed {
    /// Every record below this seq is written.
    upto: u64,
    /// Records at or above `upto` cannot be written (with `--audit-required`).
    failed: Option<AuditFailure>,
}

/// Records waiting beyond which a request wakes the committer itself, without waiting for
/// its worker to run out of work.
const KICK_AT: u64 = 256;

/// The state a committer thread and its callers share.
struct Inner {
    point: Arc<Point>,
    /// One past the highest seq asked for.
    wanted: AtomicU64,
    /// One past the highest seq the committer has written or failed to write.
    written: AtomicU64,
    stop: AtomicBool,
    done: watch::Sender<Committed>,
}

thread_local! {
    /// A worker's copy of what the committer has done, kept up by the worker's relay task
    /// ([`Committer::relay`]): the requests waiting on a worker are woken by a task of their
    /// own thread, and the committer wakes each worker once per write, not each request.
    static LOCAL: RefCell<Option<watch::Receiver<Committed>>> = const { RefCell::new(None) };
}

/// The group-commit thread of a point with an audit log. See the module documentation.
pub(crate) struct Committer {
    inner: Arc<Inner>,
    /// The thread, to wake it.
    thread: Thread,
    /// To wait for its end.
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer thread of `point`.
    pub(crate) fn start(point: Arc<Point>) -> std::io::Result<Committer> {
        let (done, _) = watch::channel(Committed::default());
        let inner = Arc::new(Inner {
            point,
            wanted: AtomicU64::new(0),
            written: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            done,
        });
        let i = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("govern-commit".into())
            .spawn(move || commit_loop(&i))?;
        Ok(Committer {
            inner,
            thread: handle.thread().clone(),
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Starts, on the runtime of the worker thread calling it, the task that keeps the
    /// worker's copy of the committer's progress (see `LOCAL`).
    pub(crate) fn relay(&self) {
        let mut from = self.inner.done.subscribe();
        let (to, local) = watch::channel(from.borrow_and_update().clone());
        LOCAL.with(|l| *l.borrow_mut() = Some(local));
        tokio::spawn(async move {
            while from.changed().await.is_ok() {
                let now = from.borrow_and_update().clone();
                to.send_replace(now);
            }
        });
    }

    /// Resolves once the record `seq` (and every one before it) is written, or with why it
    /// cannot be.
    pub(crate) async fn committed(&self, seq: u64) -> Result<(), AuditFailure> {
        let want = seq.saturating_add(1);
        let mut done = LOCAL
            .with(|l| l.borrow().clone())
            .unwrap_or_else(|| self.inner.done.subscribe());
        if done.borrow().upto >= want {
            return Ok(());
        }
        let before = self.inner.wanted.fetch_max(want, Ordering::AcqRel);
        // A worker wakes the committer when it runs out of work ([`Committer::kick`]), so
        // that every request it decided meanwhile is in one write; elsewhere, or when many
        // records wait, the committer is woken now.
        let on_worker = LOCAL.with(|l| l.borrow().is_some());
        let backlog = before.saturating_sub(self.inner.written.load(Ordering::Acquire));
        if !on_worker || backlog >= KICK_AT {
            self.thread.unpark();
        }
        let seen = done
            .wait_for(|c| c.upto >= want || c.failed.is_some())
            .await
            .map(|c| (c.upto >= want, c.failed.clone()));
        match seen {
            Ok((true, _)) => Ok(()),
            Ok((false, Some(f))) => Err(f),
            // The committer stopped before writing it (the server is stopping).
            Ok((false, None)) | Err(_) => Err(AuditFailure("the audit log is closed".into())),
        }
    }

    /// Wakes the committer if records wait to be written: called by a worker about to wait
    /// for work (the runtime's `on_thread_park`), once for all it decided meanwhile.
    pub(crate) fn kick(&self) {
        if self.inner.wanted.load(Ordering::Acquire) > self.inner.written.load(Ordering::Acquire) {
            self.thread.unpark();
        }
    }

    /// Writes what was asked for and stops the thread (then every request still waiting
    /// is told the log is closed). Call it before the point's audit log closes.
    pub(crate) fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.thread.unpark();
        let handle = self.handle.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn commit_loop(inner: &Inner) {
    let mut written = 0u64;
    loop {
        let want = inner.wanted.load(Ordering::Acquire);
        if want > written {
            match inner.point.finish(Some(want - 1)) {
                Ok(()) => {
                    inner.written.store(want, Ordering::Release);
                    inner.done.send_modify(|c| c.upto = want);
                }
                Err(f) => {
                    inner.written.store(want, Ordering::Release);
                    inner.done.send_modify(|c| {
                        c.failed.get_or_insert(f);
                    });
                }
            }
            written = want;
        } else if inner.stop.load(Ordering::Acquire) {
            // Whoever asks from now on is told the log is closed.
            inner.done.send_modify(|c| {
                c.failed
                    .get_or_insert(AuditFailure("the audit log is closed".into()));
            });
            return;
        } else {
            // An `unpark` between the load above and here makes this return at once.
            std::thread::park();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::point::{Options, Recorder, Scratch, Source};

    fn point(dir: &std::path::Path) -> Arc<Point> {
        let built = crate::pipeline::build_sources(vec![crate::diag::SourceFile::new(
            "p.gov",
            "default allow\npolicy p { rule r: deny when tool == \"rm\" }",
        )])
        .unwrap();
        let bundle = dir.join("p.govb");
        std::fs::write(&bundle, &built.bytes).unwrap();
        let point = Point::open(Options {
            source: Source {
                bundle,
                signature: None,
                trust: None,
                state: None,
            },
            max_keys: 1000,
            audit: Recorder::to(dir.join("audit.jsonl"), crate::audit::Options::default()),
            audit_required: true,
            log: Arc::new(crate::point::log::Log::discard()),
        });
        Arc::new(point.unwrap_or_else(|_| unreachable!("the bundle opens")))
    }

    /// The records of decisions are queued, not written, until a decision waits for its
    /// own: then the committer writes them all, and only then does the wait end; once it
    /// has stopped, a wait ends in a failure (a denial), never in an answer.
    #[test]
    fn an_answer_waits_until_its_record_is_in_the_file() {
        let dir = std::env::temp_dir().join(format!("govern-commit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let point = point(&dir);
        let lines = || {
            std::fs::read_to_string(dir.join("audit.jsonl"))
                .unwrap()
                .lines()
                .count()
        };
        let committer = Committer::start(Arc::clone(&point)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (mut scratch, mut out) = (Scratch::default(), String::new());
        let before = lines();
        let seqs: Vec<u64> = ["rm", "ls", "rm"]
            .iter()
            .map(|t| {
                let event = format!("{{\"tool\":\"{t}\"}}");
                point
                    .decide_one(&event, &mut scratch, &mut out)
                    .seq
                    .unwrap()
            })
            .collect();
        assert_eq!(lines(), before, "queued records are not written yet");
        rt.block_on(committer.committed(seqs[2])).unwrap();
        assert_eq!(lines(), before + 3);
        // Written already: no wait.
        rt.block_on(committer.committed(seqs[0])).unwrap();
        committer.stop();
        let seq = point
            .decide_one("{\"tool\":\"ls\"}", &mut scratch, &mut out)
            .seq
            .unwrap();
        assert!(rt.block_on(committer.committed(seq)).is_err());
        drop(point);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
