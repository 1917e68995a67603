//! What a connection is between two requests, and how it moves between
//! the worker pool and the poller.
//!
//! A [`ConnState`] owns everything a connection needs to go on: its
//! socket, its protocol state ([`Conn`], with any pipelined bytes), its
//! peer, and its registration with the server. A worker serves it while
//! it has a request; when it goes idle, the worker parks it in the poller
//! (Linux) and moves on; when its next request arrives, a worker waiting
//! on the poller takes it. The value moves; nothing is copied or
//! re-parsed.
//!
//! Queuing (where there is no poller) is guarded: a job the full queue
//! refuses is dropped unrun, and dropping an [`Admission`] that still holds
//! its connection answers `503 Service Unavailable` with `Retry-After: 1`
//! and closes it. Past `max_connections`, the accept loop refuses the
//! same way.

use super::Shared;
use super::connection;
use super::io::{Link, coarse_ms, millis};
use super::pool::{Job, Submitter};
use super::writer::write_response;
use crate::error::Error;
use crate::proto::conn::Conn;
use crate::response::Response;
use crate::types::{StatusCode, Version};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// ConnState is one connection between two requests.
pub(crate) struct ConnState {
    /// Dropped first: unregisters the connection from the server.
    pub(crate) registration: Registration,
    pub(crate) link: Arc<Link>,
    pub(crate) conn: Box<Conn>,
    pub(crate) peer: SocketAddr,
    /// When the connection last became idle, on the [`coarse_ms`] clock:
    /// its idle deadline counts from here, wherever it waits.
    pub(crate) idle_since: u64,
    /// Whether the per-connection socket options are set.
    pub(crate) configured: bool,
    /// Held from accept until a worker first takes the connection: it
    /// counts the new connections waiting for a worker (see
    /// [`Shared::waiting`](super::Shared)).
    pub(crate) waiting: Option<Waiting>,
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
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn count(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }

    /// Counts one more; the count drops when the ticket does.
    pub(crate) fn ticket(self: &Arc<Self>) -> Waiting {
        self.n.fetch_add(1, Ordering::SeqCst);
        Waiting(Arc::clone(self))
    }

    /// Waits until a waiting connection is taken, or `timeout` passes.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
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

impl ConnState {
    pub(crate) fn new(
        registration: Registration,
        link: Arc<Link>,
        peer: SocketAddr,
        conn: Box<Conn>,
    ) -> ConnState {
        ConnState {
            registration,
            link,
            conn,
            peer,
            idle_since: coarse_ms(),
            configured: false,
            waiting: None,
        }
    }

    /// Returns the key the connection is registered under.
    pub(crate) fn id(&self) -> u64 {
        self.registration.id
    }
}

/// Registration keeps a connection in the server's registry while it
/// lives, so a shutdown can find it; dropping it unregisters.
pub(crate) struct Registration {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(poller) = &self.shared.poller {
            poller.forget(self.id);
        }
        self.shared.registry.remove(self.id);
    }
}

/// Admission is a connection on its way to a worker. If it is dropped
/// without being served (the queue was full), it answers 503.
struct Admission {
    state: Option<ConnState>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            refuse(state);
        }
    }
}

/// Makes the job that serves `state` on a worker (see [`serve`]).
pub(crate) fn job(state: ConnState) -> Job {
    let mut admission = Admission { state: Some(state) };
    Box::new(move || {
        if let Some(state) = admission.state.take() {
            serve(state);
        }
    })
}

/// Serves `state` on this worker, and parks it afterwards if it went
/// idle.
pub(crate) fn serve(mut state: ConnState) {
    let shared = Arc::clone(&state.registration.shared);
    while let Some(idle) = connection::serve(&shared, state) {
        match park(&shared, idle) {
            Some(again) => state = again,
            None => return,
        }
    }
}

/// Queues `state` for a worker; a full queue answers it 503.
pub(crate) fn submit(submitter: &Submitter, state: ConnState) {
    if let Err(job) = submitter.try_submit(job(state)) {
        // Dropping the unrun job drops its Admission: 503 and close.
        drop(job);
    }
}

/// Hands an idle connection to the poller until its next request or its
/// idle deadline; closes it if it cannot be parked. Gives it back when
/// bytes may be waiting already: serve it again.
pub(crate) fn park(shared: &Shared, state: ConnState) -> Option<ConnState> {
    #[cfg(target_os = "linux")]
    if let Some(poller) = &shared.poller {
        state.link.mark_idle();
        let deadline = state
            .idle_since
            .saturating_add(millis(shared.timeouts.idle));
        let (key, link) = (state.id(), Arc::clone(&state.link));
        match poller.park(key, link, state, deadline) {
            Ok(()) => {}
            Err(super::poller::Refused::Ready(state)) => return Some(state),
            Err(super::poller::Refused::Close(state)) => close(state),
        }
        return None;
    }
    let _ = shared;
    close(state);
    None
}

/// Closes an idle connection (its deadline passed, or the server is
/// shutting down).
pub(crate) fn close(state: ConnState) {
    let _ = state.link.stream.shutdown(Shutdown::Both);
    log::trace!("{}: closed idle connection", state.peer);
}

/// Answers 503 and closes, without blocking: the connection's send buffer
/// is empty (it is new, or idle), so the small response fits.
fn refuse(state: ConnState) {
    static LAST_WARN: AtomicU64 = AtomicU64::new(0);
    let shared = Arc::clone(&state.registration.shared);
    // Warn at most once a second: a flood must not flood the log.
    let now = shared.started.elapsed().as_secs() + 1;
    if LAST_WARN.swap(now, Ordering::Relaxed) != now {
        log::warn!("all workers busy and queue full; answering 503");
    }
    let link = &state.link;
    if link.stream.set_nonblocking(true).is_err() {
        return;
    }
    let resp = Response::from_error(&Error::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "all workers busy and queue full",
    ))
    .with_header("Retry-After", "1");
    let _ = write_response(link, &shared, resp, false, Version::Http11, true, None);
    let _ = link.stream.shutdown(Shutdown::Write);
    // Read what the client already sent, so closing does not reset the
    // connection and destroy the answer before it is read.
    link.discard_ready();
}
