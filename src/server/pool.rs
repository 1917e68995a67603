//! A fixed pool of worker threads fed from a bounded queue.
//!
//! This is the Rust Book's `ThreadPool` (chapter 21), hardened: the queue
//! is a bounded `sync_channel`, so a flood of connections cannot grow
//! memory; threads are started with `thread::Builder`, so failing to start
//! one is an error rather than a panic; and every job runs under
//! `catch_unwind`, so a panic costs one job, never a worker. Shutdown is
//! the Book's: drop the sender, then join every worker.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// Job is one unit of work: serving one connection.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// ThreadPool runs jobs on a fixed set of named worker threads.
pub(crate) struct ThreadPool {
    sender: Option<Submitter>,
    workers: Vec<JoinHandle<()>>,
    queued: Arc<AtomicUsize>,
}

/// Submitter queues jobs on a pool from any thread (the accept loop, the
/// poller). The pool's workers stop once every submitter is gone.
#[derive(Clone)]
pub(crate) struct Submitter {
    sender: SyncSender<Job>,
    queued: Arc<AtomicUsize>,
}

impl Submitter {
    /// Queues `job` if there is room; gives it back if the queue is full.
    pub(crate) fn try_submit(&self, job: Job) -> Result<(), Job> {
        // Count first, so a worker never sees the job before the count.
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.sender.try_send(job).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            match e {
                TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
            }
        })
    }
}

impl ThreadPool {
    /// Starts `threads` workers sharing a queue of `queue` waiting jobs.
    ///
    /// # Errors
    /// The operating system refused to start a thread; the workers already
    /// started are stopped and joined first.
    pub(crate) fn new(threads: usize, queue: usize) -> io::Result<ThreadPool> {
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut pool = ThreadPool {
            sender: Some(Submitter {
                sender,
                queued: Arc::clone(&queued),
            }),
            workers: Vec::with_capacity(threads),
            queued,
        };
        for id in 0..threads {
            let rx = Arc::clone(&receiver);
            let queued = Arc::clone(&pool.queued);
            let spawned = thread::Builder::new()
                .name(format!("sockhttp-worker-{id}"))
                .spawn(move || work(&rx, &queued));
            match spawned {
                Ok(handle) => pool.workers.push(handle),
                Err(e) => {
                    pool.join();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Returns a submitter for other threads, while the pool runs.
    pub(crate) fn submitter(&self) -> Option<Submitter> {
        self.sender.clone()
    }

    /// Returns the counter of jobs waiting in the queue.
    pub(crate) fn queued(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.queued)
    }

    /// Stops taking jobs, lets the workers finish the queue, and joins them.
    pub(crate) fn join(&mut self) {
        drop(self.sender.take());
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                log::error!("a worker thread panicked outside a job");
            }
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.join();
    }
}

fn work(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize) {
    loop {
        // The lock is held only while waiting for a job, never while
        // running one; poisoning cannot happen (recv does not panic), but
        // is survived anyway.
        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(job) = job else {
            return;
        };
        queued.fetch_sub(1, Ordering::SeqCst);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
            log::error!("connection job panicked: {}", panic_message(&payload));
        }
    }
}

/// Returns the message of a panic payload, if it is text.
pub(crate) fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn panicking_job_does_not_kill_the_worker() {
        let mut pool = ThreadPool::new(1, 4).unwrap();
        let (tx, rx) = channel();
        assert!(
            pool.submitter()
                .unwrap()
                .try_submit(Box::new(|| panic!("boom")))
                .is_ok()
        );
        assert!(
            pool.submitter()
                .unwrap()
                .try_submit(Box::new(move || tx.send(7).unwrap()))
                .is_ok()
        );
        assert_eq!(rx.recv().unwrap(), 7);
        pool.join();
    }

    #[test]
    fn full_queue_gives_the_job_back() {
        let mut pool = ThreadPool::new(1, 1).unwrap();
        let (started_tx, started_rx) = channel();
        let (release_tx, release_rx) = channel::<()>();
        assert!(
            pool.submitter()
                .unwrap()
                .try_submit(Box::new(move || {
                    started_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                }))
                .is_ok()
        );
        started_rx.recv().unwrap();
        assert!(
            pool.submitter()
                .unwrap()
                .try_submit(Box::new(|| {}))
                .is_ok(),
            "one job fits the queue"
        );
        assert!(
            pool.submitter()
                .unwrap()
                .try_submit(Box::new(|| {}))
                .is_err(),
            "the next is refused"
        );
        release_tx.send(()).unwrap();
        pool.join();
    }
}
