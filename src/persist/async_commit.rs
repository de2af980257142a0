//! Waiting for a journal commit from async code without blocking its thread.
//!
//! A [`Committer`] owns one thread that makes lines durable for async writers: a writer
//! registers its line's sequence number and its task's waker, the thread calls
//! [`Journal::commit`] for the highest number asked (joining the journal's group commit like
//! any blocking writer), then wakes every writer whose line that made durable. The async
//! writer's thread only ever takes a short mutex.
//!
//! Works with any executor: nothing here knows of tokio.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::Journal;
use crate::StoreError;

/// The thread that commits for async writers. Stopped and joined on drop.
#[derive(Debug)]
pub(crate) struct Committer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when `wanted` grows or `stop` is set.
    work: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Lines up to here are committed.
    done: u64,
    /// The highest line a writer waits for.
    wanted: u64,
    /// Set when a commit failed: every line not yet `done` fails with this.
    failed: Option<String>,
    /// Writers waiting, with the line each waits for.
    waiters: Vec<(u64, Waker)>,
    stop: bool,
}

impl Committer {
    /// Starts the thread, committing `journal`.
    pub(crate) fn start(journal: Arc<Journal>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("agent-sessions-commit".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&shared, &journal)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Completes once line `seq` is committed, or with the error that stopped it.
    pub(crate) fn commit(&self, seq: u64) -> Commit {
        Commit {
            shared: Arc::clone(&self.shared),
            seq,
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.work.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared, journal: &Journal) {
    loop {
        let target = {
            let mut s = shared.state.lock();
            while s.wanted <= s.done && !s.stop {
                shared.work.wait(&mut s);
            }
            if s.wanted <= s.done {
                return; // stopped, nobody waiting
            }
            s.wanted
        };
        let result = journal.commit(target);
        let woken = {
            let mut s = shared.state.lock();
            match result {
                Ok(()) => s.done = s.done.max(target),
                Err(e) => {
                    s.failed.get_or_insert_with(|| e.to_string());
                }
            }
            let done = s.done;
            let failed = s.failed.is_some();
            let (ready, waiting) = std::mem::take(&mut s.waiters)
                .into_iter()
                .partition(|(seq, _)| *seq <= done || failed);
            s.waiters = waiting;
            if failed {
                s.wanted = s.done; // nothing more to try: every waiter was told
            }
            ready
        };
        // Woken outside the lock.
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

/// The future of [`Committer::commit`].
#[derive(Debug)]
pub(crate) struct Commit {
    shared: Arc<Shared>,
    seq: u64,
}

impl Future for Commit {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.shared.state.lock();
        if s.done >= self.seq {
            return Poll::Ready(Ok(()));
        }
        if let Some(reason) = &s.failed {
            return Poll::Ready(Err(StoreError::Poisoned {
                reason: reason.clone(),
            }));
        }
        match s.waiters.iter_mut().find(|(seq, _)| *seq == self.seq) {
            Some((_, waker)) if waker.will_wake(cx.waker()) => {}
            _ => s.waiters.push((self.seq, cx.waker().clone())),
        }
        if self.seq > s.wanted {
            s.wanted = self.seq;
            self.shared.work.notify_one();
        }
        Poll::Pending
    }
}
