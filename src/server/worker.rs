//! The worker loop: take a ready connection, advance it until it must
//! wait on its peer or is done, then park it or let it close; and the
//! parking implementation it was given ([`Parker`]).
//!
//! Every worker of the pool runs this, whatever the parker: with epoll,
//! [`poll_once`] waits on the parker itself for the next ready connection
//! (or for connections whose deadline passed); without, the pool's
//! queue hands each new connection to one worker ([`submit`]), which
//! serves it until it closes. Either way, one connection's path is:
//! `advance` (in `connection`) → a [`Step`] → park, requeue, wait for a
//! streaming permit, or close.

use super::clock::Throttle;
use super::config::Config;
use super::connection::{self, ConnState, Step};
use super::link::Link;
use super::park::Wait;
#[cfg(target_os = "linux")]
use super::park::epoll::{Parkable, Poller, Ready};
#[cfg(target_os = "linux")]
use super::park::slots::Refused;
use super::pool::{Job, Submitter};
use super::registry::{Owner, Registry, WaitingCount};
use super::stats::{self, Census, Counter, Gauges};
use super::streams::Waiters;
use super::writer::{Answer, ResponseWriter};
use crate::error::Error;
use crate::response::Response;
use crate::types::StatusCode;
use std::net::Shutdown;
use std::sync::Arc;
#[cfg(target_os = "linux")]
use std::sync::Weak;
#[cfg(target_os = "linux")]
use std::task::Wake;
use std::task::Waker;

/// Shared is what the workers and the accept loop of one server share.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Registry,
    pub(crate) parker: Parker,
    /// Connections waiting for a streaming permit.
    pub(crate) streams: Waiters<ConnState>,
    /// New connections no worker has taken yet (with epoll).
    pub(crate) waiting: Arc<WaitingCount>,
    /// How many of those may wait while every worker is busy.
    pub(crate) queue: usize,
    pub(crate) max_connections: usize,
}

impl Owner for Shared {
    fn unregister(&self, id: u64) {
        self.parker.forget(id);
        self.registry.remove(id);
    }

    fn waker(&self, id: u64) -> Waker {
        match &self.parker {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => Waker::from(Arc::new(SessionWake {
                poller: Arc::downgrade(poller),
                key: id,
            })),
            // A blocking session looks at its outbox between short reads.
            Parker::Blocking(_) => Waker::noop().clone(),
        }
    }

    fn detach(&self, link: &Link) {
        match &self.parker {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.detach(link),
            Parker::Blocking(_) => {}
        }
    }
}

impl Census for Shared {
    fn census(&self) -> Gauges {
        let (open, sessions) = self.registry.census();
        Gauges {
            open,
            parked: self.parker.parked(),
            sessions,
        }
    }
}

/// SessionWake makes a parked WebSocket session ready when another thread
/// has queued something for it. It holds the poller weakly: a sender kept
/// after the server stopped wakes nothing.
#[cfg(target_os = "linux")]
struct SessionWake {
    poller: Weak<Poller<ConnState>>,
    key: u64,
}

#[cfg(target_os = "linux")]
impl Wake for SessionWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(poller) = self.poller.upgrade() {
            poller.notify(self.key);
        }
    }
}

impl Shared {
    /// Tells the upgraded connections that the server is shutting down:
    /// each parked WebSocket session is made ready (it then closes with
    /// 1001), and a connection handed over has its reading side shut
    /// (its owner's read returns end of stream).
    pub(crate) fn tell_upgraded(&self) {
        for (id, link, session) in self.registry.upgraded() {
            if session {
                self.parker.notify(id);
            } else {
                let _ = link.stream.shutdown(Shutdown::Read);
            }
        }
    }

    /// Takes in a connection just accepted: parked until its first bytes
    /// arrive, or queued for a worker (a full queue answers `503`).
    pub(crate) fn admit(self: &Arc<Self>, st: ConnState) {
        match &self.parker {
            #[cfg(target_os = "linux")]
            Parker::Epoll(_) => {
                let wait = st.wait();
                if let Some(again) = self.parker.park(st, wait) {
                    // Not for a new connection, which has read nothing
                    // yet; closed rather than lost if it ever happens.
                    drop(again);
                }
            }
            Parker::Blocking(submitter) => submit(self, submitter, st),
        }
    }
}

/// Waits for the next ready connection (or expired ones) and serves it:
/// one turn of a worker's loop with epoll.
#[cfg(target_os = "linux")]
pub(crate) fn poll_once(shared: &Shared) {
    let Parker::Epoll(poller) = &shared.parker else {
        return;
    };
    match poller.take_ready() {
        Ready::Item(st) => serve(shared, st),
        Ready::Expired(due) => {
            for st in due {
                let _serving = stats::serving();
                settle(shared, connection::expire(st));
            }
        }
        Ready::Stopped => {}
    }
}

/// Serves `st` until it waits on its peer or closes.
pub(crate) fn serve(shared: &Shared, st: ConnState) {
    let _serving = stats::serving();
    settle(shared, connection::advance(st));
}

/// Carries out what advancing a connection came to.
fn settle(shared: &Shared, mut step: Step) {
    loop {
        step = match step {
            Step::Park(st, wait) => match shared.parker.park(st, wait) {
                Some(st) => connection::advance(st),
                None => break,
            },
            Step::Requeue(st) => match shared.parker.requeue(st) {
                Some(st) => connection::advance(st),
                None => break,
            },
            Step::Permit(st) => {
                shared.streams.push(st);
                break;
            }
            Step::Closed => break,
        };
    }
    // A streaming permit given back goes to the first connection waiting
    // for one.
    while let Some(st) = shared.streams.next(|| shared.config.permits.any_free()) {
        if let Some(st) = shared.parker.requeue(st) {
            settle(shared, connection::advance(st));
        }
    }
}

/// Admission is a connection on its way to a worker through the queue.
/// If it is dropped without being served (the queue was full), it answers
/// 503.
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

/// Makes the job that serves `st` on a worker of the queue.
fn job(shared: &Arc<Shared>, st: ConnState) -> Job {
    let mut admission = Admission { state: Some(st) };
    let shared = Arc::clone(shared);
    Box::new(move || {
        if let Some(st) = admission.state.take() {
            serve(&shared, st);
        }
    })
}

/// Queues `st` for a worker; a full queue answers it 503.
fn submit(shared: &Arc<Shared>, submitter: &Submitter, st: ConnState) {
    if let Err(job) = submitter.try_submit(job(shared, st)) {
        // Dropping the unrun job drops its Admission: 503 and close.
        drop(job);
    }
}

/// Answers 503 and closes, without blocking: the connection's send buffer
/// is empty (it is new), so the small response fits. Takes the connection
/// as it travels (boxed), and drops it.
#[allow(clippy::boxed_local)]
pub(crate) fn refuse(st: ConnState) {
    // Warned at most once a second: a flood must not flood the log.
    static WARNED: Throttle = Throttle::new();
    stats::count(Counter::Refused);
    let config = Arc::clone(&st.config);
    if WARNED.ready() {
        log::warn!("too many connections, or all workers busy and queue full; answering 503");
    }
    let link = &st.link;
    if link.stream.set_nonblocking(true).is_err() {
        return;
    }
    let resp = Response::from_error(&Error::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "all workers busy and queue full",
    ))
    .with_header("Retry-After", "1");
    let _ = ResponseWriter::new(link, &config).write(resp, Answer::closing(false), None);
    let _ = link.stream.shutdown(Shutdown::Write);
    // Read what the client already sent, so closing does not reset the
    // connection and destroy the answer before it is read.
    link.discard_ready(64 * 1024);
}

/// Parker is the server's parking implementation.
pub(crate) enum Parker {
    /// Connections wait in an epoll set (Linux). Never made when the
    /// build switches epoll off.
    #[cfg(target_os = "linux")]
    #[cfg_attr(sockhttp_no_epoll, allow(dead_code))]
    Epoll(Arc<Poller<ConnState>>),
    /// Connections wait in their own blocking calls; new ones queue for a
    /// worker.
    Blocking(Submitter),
}

#[cfg(target_os = "linux")]
impl Parkable for ConnState {
    fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

impl Parker {
    /// Reports whether sockets are non-blocking (connections park here
    /// rather than in their own reads and writes).
    pub(crate) fn is_nonblocking(&self) -> bool {
        !matches!(self, Parker::Blocking(_))
    }

    /// Parks `st` until `wait` is met or its deadline passes; gives it
    /// back when it should be served again at once (what it waits for may
    /// have happened already). A connection that cannot be parked is
    /// closed.
    pub(crate) fn park(&self, st: ConnState, wait: Wait) -> Option<ConnState> {
        if wait.idle {
            st.link.mark_idle();
        }
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => match poller.park(st.id(), st, wait) {
                Ok(()) => None,
                // (The poller tells the link itself that its peer closed.)
                Err(Refused::Ready(st) | Refused::PeerClosed(st)) => Some(st),
                Err(Refused::Close(st)) => {
                    log::trace!("{}: closed instead of parked", st.peer);
                    None
                }
            },
            Parker::Blocking(_) => {
                // A blocking socket waits in its own calls: a park here is
                // a bug, and the connection is closed rather than spun.
                log::error!("{}: a blocking connection asked to park; closing", st.peer);
                None
            }
        }
    }

    /// Makes `st` ready again behind the others; gives it back when the
    /// caller should go on serving it itself (a blocking connection keeps
    /// its worker).
    pub(crate) fn requeue(&self, st: ConnState) -> Option<ConnState> {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => {
                let wait = st.wait();
                poller.requeue(st.id(), st, wait);
                None
            }
            Parker::Blocking(_) => Some(st),
        }
    }

    /// Makes the parked connection `key` ready (see `Poller::notify`).
    pub(crate) fn notify(&self, key: u64) {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.notify(key),
            Parker::Blocking(_) => {}
        }
    }

    /// Forgets the connection `key`, which is closing.
    pub(crate) fn forget(&self, key: u64) {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.forget(key),
            Parker::Blocking(_) => {}
        }
    }

    /// Takes out the idle connections, to be closed by a graceful
    /// shutdown, and parks no idle one again.
    pub(crate) fn close_idle(&self) -> Vec<ConnState> {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.close_idle(),
            Parker::Blocking(_) => Vec::new(),
        }
    }

    /// Takes out every parked connection, to be closed: the server has
    /// stopped (and each of them holds the server's state).
    pub(crate) fn close_all(&self) -> Vec<ConnState> {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.close_all(),
            Parker::Blocking(_) => Vec::new(),
        }
    }

    /// Counts the connections parked now (none without epoll).
    pub(crate) fn parked(&self) -> usize {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.parked(),
            Parker::Blocking(_) => 0,
        }
    }

    /// Releases the workers waiting for a ready connection, for good.
    pub(crate) fn stop(&self) {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.stop(),
            Parker::Blocking(_) => {}
        }
    }

    /// Reports whether any worker waits for a ready connection (always,
    /// as far as the accept loop is concerned, without epoll: the queue
    /// answers for itself).
    pub(crate) fn has_idle_workers(&self) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(poller) => poller.has_idle_workers(),
            Parker::Blocking(_) => true,
        }
    }
}
