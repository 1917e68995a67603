//! The connections waiting for a streaming permit.
//!
//! A body too large to read before the handler runs streams to the
//! handler, which then waits on the peer (under the body deadline). So
//! that slow or endless uploads cannot hold every worker, a connection
//! must hold a permit to stream (`config::Permits`), and there are only so
//! many: one that finds none waits here, costing no worker, and the
//! worker that returns a permit hands it on, first come first served.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Waiters queues the connections (`T`) waiting for a permit.
pub(crate) struct Waiters<T> {
    queue: Mutex<VecDeque<T>>,
    /// How many wait: looked at without the lock.
    len: AtomicUsize,
}

impl<T> Default for Waiters<T> {
    fn default() -> Waiters<T> {
        Waiters {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }
}

impl<T> Waiters<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a connection until a permit is free.
    pub(crate) fn push(&self, item: T) {
        let mut queue = self.lock();
        queue.push_back(item);
        self.len.store(queue.len(), Ordering::SeqCst);
    }

    /// Returns the first waiting connection when `free` says a permit is
    /// free now (it takes the permit itself, when served again).
    pub(crate) fn next(&self, free: impl FnOnce() -> bool) -> Option<T> {
        if self.len.load(Ordering::SeqCst) == 0 || !free() {
            return None;
        }
        let mut queue = self.lock();
        let item = queue.pop_front();
        self.len.store(queue.len(), Ordering::SeqCst);
        item
    }

    /// Takes every waiting connection out (the server is stopping).
    pub(crate) fn drain(&self) -> Vec<T> {
        let mut queue = self.lock();
        self.len.store(0, Ordering::SeqCst);
        queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_served_in_order_and_only_when_a_permit_is_free() {
        let w = Waiters::default();
        assert_eq!(w.next(|| true), None::<u8>);
        w.push(1);
        w.push(2);
        assert_eq!(w.next(|| false), None);
        assert_eq!(w.next(|| true), Some(1));
        w.push(3);
        assert_eq!(w.drain(), vec![2, 3]);
        assert_eq!(w.next(|| true), None);
    }
}
