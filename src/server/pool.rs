//! A fixed pool of worker threads fed from a bounded queue, or from a
//! poll function.
//!
//! This is the Rust Book's `ThreadPool` (chapter 21), hardened: the queue
//! is a bounded `sync_channel`, so a flood of connections cannot grow
//! memory; threads are started with `thread::Builder`, so failing to start
//! one is an error rather than a panic; and every job runs under
//! `catch_unwind`, so a panic costs one job, never a worker. Shutdown is
//! the Book's: drop the sender, then join every worker.
//!
//! With a poll function (Linux: the epoll set of parked connections), the
//! workers wait in it instead of on the queue, and each serves what it
//! finds there: the kernel hands each ready connection to one waiting
//! worker, with no other thread in between.

use super::stats::Board;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Job is one unit of work: serving one connection.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Poll waits for the next piece of work itself and does it, returning
/// when it has done one (or waited long enough); it must return soon once
/// the pool is being joined.
pub(crate) type Poll = Arc<dyn Fn() + Send + Sync + 'static>;

/// ThreadPool runs jobs on a fixed set of named worker threads.
pub(crate) struct ThreadPool {
    sender: Option<Submitter>,
    workers: Vec<JoinHandle<()>>,
    /// Set by `join`: polling workers return.
    joining: Arc<AtomicBool>,
}

/// Submitter queues jobs on a pool from any thread (the accept loop, the
/// poller). The pool's workers stop once every submitter is gone.
#[derive(Clone)]
pub(crate) struct Submitter {
    sender: SyncSender<Job>,
}

impl Submitter {
    /// Queues `job` if there is room; gives it back if the queue is full.
    pub(crate) fn try_submit(&self, job: Job) -> Result<(), Job> {
        self.sender.try_send(job).map_err(|e| match e {
            TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
        })
    }
}

impl ThreadPool {
    /// Starts `threads` workers sharing a queue of `queue` waiting jobs;
    /// with `poll`, the workers call it over and over instead, and the
    /// queue is not used.
    ///
    /// # Errors
    /// The operating system refused to start a thread; the workers already
    /// started are stopped and joined first.
    #[cfg(test)]
    pub(crate) fn new(threads: usize, queue: usize, poll: Option<Poll>) -> io::Result<ThreadPool> {
        let (submitter, jobs) = jobs(queue);
        ThreadPool::start(threads, submitter, jobs, poll, Arc::default())
    }

    /// Starts `threads` workers taking jobs from `jobs` (which `submitter`
    /// feeds), or calling `poll` over and over; each counts its work on a
    /// shard of its own of the server's `stats`.
    ///
    /// # Errors
    /// As [`ThreadPool::new`].
    pub(crate) fn start(
        threads: usize,
        submitter: Submitter,
        jobs: Jobs,
        poll: Option<Poll>,
        stats: Arc<Board>,
    ) -> io::Result<ThreadPool> {
        let receiver = Arc::new(Mutex::new(jobs.0));
        let mut pool = ThreadPool {
            sender: Some(submitter),
            workers: Vec::with_capacity(threads),
            joining: Arc::new(AtomicBool::new(false)),
        };
        for id in 0..threads {
            let rx = Arc::clone(&receiver);
            let poll = poll.clone();
            let joining = Arc::clone(&pool.joining);
            let stats = Arc::clone(&stats);
            let spawned = thread::Builder::new()
                .name(format!("sockhttp-worker-{id}"))
                .spawn(move || {
                    let _counting = stats.enter();
                    match poll {
                        None => work(&rx, &joining),
                        Some(poll) => {
                            while !joining.load(Ordering::SeqCst) {
                                run(&*poll);
                            }
                        }
                    }
                });
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
    #[cfg(test)]
    pub(crate) fn submitter(&self) -> Option<Submitter> {
        self.sender.clone()
    }

    /// Stops taking jobs, lets the workers finish the queue, and joins them.
    pub(crate) fn join(&mut self) {
        self.joining.store(true, Ordering::SeqCst);
        if let Some(sender) = self.sender.take() {
            // The worker waiting on the queue (the others wait for its
            // lock) is woken by an empty job, rather than at the end of
            // its wait: the queue stays open while other submitters live.
            let _ = sender.try_submit(Box::new(|| {}));
        }
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

/// How often a worker waiting on the queue looks whether the pool is
/// being joined (other holders of a submitter keep the queue open).
const JOIN_CHECK: Duration = Duration::from_millis(250);

/// Runs queued jobs until the pool is joined and the queue is empty.
fn work(rx: &Mutex<Receiver<Job>>, joining: &AtomicBool) {
    loop {
        // The lock is held only while waiting for a job, never while
        // running one; poisoning cannot happen (recv does not panic), but
        // is survived anyway. Once the pool is being joined, a worker
        // takes what is queued without waiting, and then returns: the
        // workers do not each wait out a `JOIN_CHECK` in turn.
        let queue = rx.lock().unwrap_or_else(|p| p.into_inner());
        let job = if joining.load(Ordering::SeqCst) {
            queue.try_recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            queue.recv_timeout(JOIN_CHECK)
        };
        drop(queue);
        match job {
            Ok(job) => run(job),
            Err(RecvTimeoutError::Timeout) if !joining.load(Ordering::SeqCst) => {}
            Err(_) => return,
        }
    }
}

/// Jobs is the receiving end of a pool's queue.
pub(crate) struct Jobs(Receiver<Job>);

/// Makes a queue of `queue` waiting jobs: the submitter that feeds it,
/// and the end a pool takes jobs from.
pub(crate) fn jobs(queue: usize) -> (Submitter, Jobs) {
    let (sender, receiver) = sync_channel::<Job>(queue);
    (Submitter { sender }, Jobs(receiver))
}

/// Runs a job; a panic is logged and costs only the job.
fn run(job: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
        log::error!("connection job panicked: {}", panic_message(&payload));
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
        let mut pool = ThreadPool::new(1, 4, None).unwrap();
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
        let mut pool = ThreadPool::new(1, 1, None).unwrap();
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
