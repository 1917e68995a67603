//! The parking interface: where a connection waits on its peer without
//! holding a worker, and where workers find the next ready connection.
//!
//! Two implementations, chosen once per server:
//! - [`Parker::Epoll`] (Linux): connections wait in one epoll set (see
//!   `epoll`), as a pure state machine of slots (`slots`), with a wake
//!   policy of its own (`wake`); workers wait on the same set.
//! - [`Parker::Blocking`] (elsewhere, or with epoll switched off): the
//!   socket is blocking, so a connection "parks" inside its own read or
//!   write, under the same deadlines, and holds its worker while it does;
//!   new connections reach the workers through a bounded queue.
//!
//! The worker loop does not know which one it has: it takes a ready
//! connection, advances it, and parks, requeues or drops it.

#[cfg(target_os = "linux")]
pub(crate) mod epoll;
#[cfg(target_os = "linux")]
pub(crate) mod slots;
#[cfg(target_os = "linux")]
pub(crate) mod wake;

use super::connection::ConnState;
use super::pool::Submitter;
#[cfg(target_os = "linux")]
use slots::Refused;
#[cfg(target_os = "linux")]
use std::sync::Arc;

/// Interest is what a parked connection waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Its peer to send (a request, the rest of one, or its close).
    Read,
    /// Its peer to read what the server sent.
    Write,
}

/// Wait is what a connection waits for, until when (on the coarse
/// clock), and whether it is idle between requests (a graceful shutdown
/// closes those at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) on: Interest,
    pub(crate) deadline: u64,
    pub(crate) idle: bool,
}

/// Parker is the server's parking implementation.
pub(crate) enum Parker {
    /// Connections wait in an epoll set (Linux).
    #[cfg(target_os = "linux")]
    Epoll(Arc<epoll::Poller<ConnState>>),
    /// Connections wait in their own blocking calls; new ones queue for a
    /// worker.
    Blocking(Submitter),
}

#[cfg(target_os = "linux")]
impl epoll::Parkable for ConnState {
    fn link(&self) -> &Arc<super::link::Link> {
        &self.link
    }
}

impl Parker {
    /// Reports whether sockets are non-blocking (connections park here
    /// rather than in their own reads and writes).
    pub(crate) fn is_nonblocking(&self) -> bool {
        !matches!(self, Parker::Blocking(_))
    }

    /// Takes in a connection just accepted: parked until its first bytes
    /// arrive, or queued for a worker (a full queue answers `503`).
    pub(crate) fn admit(&self, st: ConnState) {
        match self {
            #[cfg(target_os = "linux")]
            Parker::Epoll(_) => {
                let wait = st.wait();
                if let Some(again) = self.park(st, wait) {
                    // Not for a new connection, which has read nothing
                    // yet; closed rather than lost if it ever happens.
                    drop(again);
                }
            }
            Parker::Blocking(submitter) => super::worker::submit(submitter, st),
        }
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
                Err(Refused::Ready(st)) => Some(st),
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
