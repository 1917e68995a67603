//! Streaming permits: how many workers may wait on request bodies that
//! stream from the socket at once.
//!
//! A body too large to read before the handler runs streams to the
//! handler, which then waits on the peer (under the body deadline). So
//! that slow or endless uploads cannot hold every worker, a connection
//! must hold a permit to stream, and there are only so many: one that
//! finds none waits here, costing no worker, and the worker that returns
//! a permit hands it on, first come first served.

use super::connection::ConnState;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Streams counts the permits in use and queues the connections waiting
/// for one.
pub(crate) struct Streams {
    max: usize,
    used: AtomicUsize,
    waiting: Mutex<VecDeque<ConnState>>,
    /// How many wait: looked at without the lock.
    waiting_len: AtomicUsize,
}

impl Streams {
    /// Allows `max` streaming bodies at once (at least one).
    pub(crate) fn new(max: usize) -> Streams {
        Streams {
            max: max.max(1),
            used: AtomicUsize::new(0),
            waiting: Mutex::new(VecDeque::new()),
            waiting_len: AtomicUsize::new(0),
        }
    }

    /// Takes a permit if one is free.
    pub(crate) fn acquire(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a permit back.
    pub(crate) fn release(&self) {
        self.used.fetch_sub(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<ConnState>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a connection until a permit is free.
    pub(crate) fn wait(&self, st: ConnState) {
        let mut waiting = self.lock();
        waiting.push_back(st);
        self.waiting_len.store(waiting.len(), Ordering::SeqCst);
    }

    /// Returns the first waiting connection if a permit is free now, to
    /// be served again (it takes the permit itself).
    pub(crate) fn next_waiter(&self) -> Option<ConnState> {
        if self.waiting_len.load(Ordering::SeqCst) == 0
            || self.used.load(Ordering::SeqCst) >= self.max
        {
            return None;
        }
        let mut waiting = self.lock();
        let st = waiting.pop_front();
        self.waiting_len.store(waiting.len(), Ordering::SeqCst);
        st
    }

    /// Takes every waiting connection out (the server is stopping).
    pub(crate) fn drain(&self) -> Vec<ConnState> {
        let mut waiting = self.lock();
        self.waiting_len.store(0, Ordering::SeqCst);
        waiting.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_run_out_and_come_back() {
        let s = Streams::new(2);
        assert!(s.acquire());
        assert!(s.acquire());
        assert!(!s.acquire(), "two at most");
        s.release();
        assert!(s.acquire());
        assert!(Streams::new(0).acquire(), "at least one");
    }
}
