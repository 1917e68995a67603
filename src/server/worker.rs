//! The worker loop: take a ready connection, advance it until it must
//! wait on its peer or is done, then park it or let it close.
//!
//! Every worker of the pool runs this, whatever the parker: with epoll,
//! [`poll_once`] waits on the parker itself for the next ready connection
//! (or for connections whose deadline passed); without, the pool's
//! queue hands each new connection to one worker ([`submit`]), which
//! serves it until it closes. Either way, one connection's path is:
//! `advance` (in `connection`) → a [`Step`] → park, requeue, wait for a
//! streaming permit, or close.

use super::connection::{self, ConnState, Step};
#[cfg(target_os = "linux")]
use super::park::epoll::Ready;
use super::pool::{Job, Submitter};
use super::writer::{Answer, write_response};
use crate::error::Error;
use crate::response::Response;
use crate::types::StatusCode;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Waits for the next ready connection (or expired ones) and serves it:
/// one turn of a worker's loop with epoll.
#[cfg(target_os = "linux")]
pub(crate) fn poll_once(poller: &super::park::epoll::Poller<ConnState>) {
    match poller.take_ready() {
        Ready::Item(st) => serve(st),
        Ready::Expired(due) => {
            for st in due {
                let shared = Arc::clone(&st.registration.shared);
                settle(&shared, connection::expire(st));
            }
        }
        Ready::Stopped => {}
    }
}

/// Serves `st` until it waits on its peer or closes.
pub(crate) fn serve(st: ConnState) {
    let shared = Arc::clone(&st.registration.shared);
    settle(&shared, connection::advance(st));
}

/// Carries out what advancing a connection came to.
fn settle(shared: &super::Shared, mut step: Step) {
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
                shared.streams.wait(st);
                break;
            }
            Step::Closed => break,
        };
    }
    // A streaming permit given back goes to the first connection waiting
    // for one.
    while let Some(st) = shared.streams.next_waiter() {
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
fn job(st: ConnState) -> Job {
    let mut admission = Admission { state: Some(st) };
    Box::new(move || {
        if let Some(st) = admission.state.take() {
            serve(st);
        }
    })
}

/// Queues `st` for a worker; a full queue answers it 503.
pub(crate) fn submit(submitter: &Submitter, st: ConnState) {
    if let Err(job) = submitter.try_submit(job(st)) {
        // Dropping the unrun job drops its Admission: 503 and close.
        drop(job);
    }
}

/// Answers 503 and closes, without blocking: the connection's send buffer
/// is empty (it is new), so the small response fits.
pub(crate) fn refuse(st: ConnState) {
    static LAST_WARN: AtomicU64 = AtomicU64::new(0);
    let shared = Arc::clone(&st.registration.shared);
    // Warn at most once a second: a flood must not flood the log.
    let now = shared.started.elapsed().as_secs() + 1;
    if LAST_WARN.swap(now, Ordering::Relaxed) != now {
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
    let _ = write_response(link, &shared, resp, Answer::closing(false), None);
    let _ = link.stream.shutdown(Shutdown::Write);
    // Read what the client already sent, so closing does not reset the
    // connection and destroy the answer before it is read.
    link.discard_ready(64 * 1024);
}
