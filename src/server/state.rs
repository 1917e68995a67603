//! What a connection is between two requests, and how it moves between
//! the worker pool and the poller.
//!
//! A [`ConnState`] owns everything a connection needs to go on: its
//! socket, its protocol state ([`Conn`], with any pipelined bytes), its
//! peer, and its registration with the server. A worker serves it while
//! it has a request; when it goes idle, the worker hands it to the poller
//! (Linux) and moves on; when its next request arrives, the poller queues
//! it for a worker again. The value moves; nothing is copied or re-parsed.
//!
//! Queuing is guarded: a job the full queue refuses is dropped unrun, and
//! dropping an [`Admission`] that still holds its connection answers `503
//! Service Unavailable` with `Retry-After: 1` and closes it. So the
//! overload policy is the same whether the connection came from the accept
//! loop or from the poller.

use super::Shared;
use super::connection;
use super::io::Link;
use super::pool::{Job, Submitter};
use super::writer::write_response;
use crate::error::Error;
use crate::proto::conn::Conn;
use crate::response::Response;
use crate::types::{StatusCode, Version};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// ConnState is one connection between two requests.
pub(crate) struct ConnState {
    /// Dropped first: unregisters the connection from the server.
    pub(crate) registration: Registration,
    pub(crate) link: Arc<Link>,
    pub(crate) conn: Conn,
    pub(crate) peer: SocketAddr,
    /// When the connection last became idle: its idle deadline counts
    /// from here, wherever it waits.
    pub(crate) idle_since: Instant,
    /// Whether the per-connection socket options are set.
    pub(crate) configured: bool,
}

impl ConnState {
    pub(crate) fn new(
        registration: Registration,
        link: Arc<Link>,
        peer: SocketAddr,
        conn: Conn,
    ) -> ConnState {
        ConnState {
            registration,
            link,
            conn,
            peer,
            idle_since: Instant::now(),
            configured: false,
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

/// Makes the job that serves `state` on a worker and parks it afterwards
/// if it went idle.
pub(crate) fn job(state: ConnState) -> Job {
    let mut admission = Admission { state: Some(state) };
    Box::new(move || {
        let Some(state) = admission.state.take() else {
            return;
        };
        let shared = Arc::clone(&state.registration.shared);
        if let Some(idle) = connection::serve(&shared, state) {
            park(&shared, idle);
        }
    })
}

/// Queues `state` for a worker; a full queue answers it 503.
pub(crate) fn submit(submitter: &Submitter, state: ConnState) {
    if let Err(job) = submitter.try_submit(job(state)) {
        // Dropping the unrun job drops its Admission: 503 and close.
        drop(job);
    }
}

/// Hands an idle connection to the poller until its next request or its
/// idle deadline; closes it if it cannot be parked.
pub(crate) fn park(shared: &Shared, state: ConnState) {
    #[cfg(target_os = "linux")]
    if let Some(poller) = &shared.poller {
        state.link.mark_idle();
        let deadline = state.idle_since + shared.timeouts.idle;
        let (key, link) = (state.id(), Arc::clone(&state.link));
        if let Err(state) = poller.park(key, link, state, deadline) {
            close(state);
        }
        return;
    }
    let _ = shared;
    close(state);
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
