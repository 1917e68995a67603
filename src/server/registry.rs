//! Every open connection, so that a shutdown can find it, and the count
//! of new connections no worker has taken yet.
//!
//! A connection is registered when it is accepted and unregistered when
//! its [`Registration`] drops, wherever that happens. Nothing here reads
//! or writes a socket, except the shutdown's own `shutdown(2)` calls.

use super::link::Link;
use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Registry tracks every open connection, parked or served, so that a
/// shutdown can close idle ones and wait for the rest.
#[derive(Default)]
pub(crate) struct Registry {
    links: Mutex<HashMap<u64, Arc<Link>>>,
    changed: Condvar,
    next_id: AtomicU64,
}

impl Registry {
    /// Registers a connection; returns its key and how many are open.
    pub(crate) fn add(&self, link: Arc<Link>) -> (u64, usize) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut links = self.lock();
        links.insert(id, link);
        (id, links.len())
    }

    /// Unregisters the connection `id`.
    pub(crate) fn remove(&self, id: u64) {
        let mut links = self.lock();
        links.remove(&id);
        if links.is_empty() {
            self.changed.notify_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Link>>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the open connections, and those of them upgraded to a
    /// WebSocket session the server serves (for the statistics: a walk,
    /// so that serving pays nothing for it).
    pub(crate) fn census(&self) -> (usize, usize) {
        let links = self.lock();
        let sessions = links
            .values()
            .filter(|link| link.upgraded() == Some(true))
            .count();
        (links.len(), sessions)
    }

    /// Closes the connections waiting for a next request.
    pub(crate) fn close_idle(&self) {
        for link in self.lock().values() {
            link.close_if_idle();
        }
    }

    /// Returns the upgraded connections: key, link, and whether the
    /// server serves it as a session (else it was handed over).
    pub(crate) fn upgraded(&self) -> Vec<(u64, Arc<Link>, bool)> {
        self.lock()
            .iter()
            .filter_map(|(id, link)| Some((*id, Arc::clone(link), link.upgraded()?)))
            .collect()
    }

    /// Closes every connection (the shutdown deadline passed).
    pub(crate) fn close_all(&self) {
        for link in self.lock().values() {
            let _ = link.stream.shutdown(Shutdown::Both);
        }
    }

    /// Waits until no connection is open or `deadline` passes; true if none is.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> bool {
        let mut links = self.lock();
        while !links.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            links = self
                .changed
                .wait_timeout(links, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// Owner is what a connection is registered with: told when it closes.
pub(crate) trait Owner: Send + Sync {
    /// Forgets the connection `id`, which is closing.
    fn unregister(&self, id: u64);

    /// Returns the waker of the connection `id`: it makes a parked
    /// connection ready, for a WebSocket session to send what another
    /// thread queued.
    fn waker(&self, id: u64) -> std::task::Waker;

    /// Stops watching `link` for readiness: it was handed over, and its
    /// new owner reads it.
    fn detach(&self, link: &Link);
}

/// Registration keeps a connection registered while it lives, so a
/// shutdown can find it; dropping it unregisters.
pub(crate) struct Registration {
    pub(crate) owner: Arc<dyn Owner>,
    pub(crate) id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.owner.unregister(self.id);
    }
}

/// WaitingCount counts the new connections no worker has taken yet, and
/// wakes the accept loop, which may be waiting for one to be taken.
#[derive(Debug, Default)]
pub(crate) struct WaitingCount {
    n: AtomicUsize,
    /// Whether the accept loop waits: only then is it woken, so a taken
    /// connection costs no system call otherwise.
    sleeping: AtomicBool,
    lock: Mutex<()>,
    taken: Condvar,
}

impl WaitingCount {
    /// Returns how many new connections wait for a worker.
    pub(crate) fn count(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }

    /// Counts one more; the count drops when the ticket does.
    pub(crate) fn ticket(self: &Arc<Self>) -> Waiting {
        self.n.fetch_add(1, Ordering::SeqCst);
        Waiting(Arc::clone(self))
    }

    /// Waits until a waiting connection is taken, or `timeout` passes.
    pub(crate) fn wait(&self, timeout: Duration) {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.sleeping.store(true, Ordering::SeqCst);
        let (guard, _) = self
            .taken
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|p| p.into_inner());
        self.sleeping.store(false, Ordering::SeqCst);
        drop(guard);
    }
}

/// Waiting is one new connection that no worker has taken yet; dropping
/// it (the connection is taken, or closed) uncounts it.
pub(crate) struct Waiting(Arc<WaitingCount>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.n.fetch_sub(1, Ordering::SeqCst);
        // A wake-up missed between the accept loop's check and its wait
        // costs it one recheck period at most.
        if self.0.sleeping.load(Ordering::SeqCst) {
            self.0.taken.notify_one();
        }
    }
}
