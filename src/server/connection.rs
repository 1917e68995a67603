//! Advancing one connection: read, handle, write, until it must wait on
//! its peer (→ park) or is done.
//!
//! A connection is a value, [`ConnState`], whose [`Stage`] says where it
//! is; [`advance`] moves it on without ever waiting on the peer (on a
//! blocking socket, the reads and writes themselves wait, under the same
//! deadlines). The life of a request (after Go's `conn.serve`):
//! 1. `Idle`: waiting for the first byte of a request, under the idle
//!    deadline; a timeout or end of stream here closes quietly.
//! 2. `Head`: the head has begun; it must be complete by the head
//!    deadline, or the answer is `408`. A protocol error (400, 414, 431,
//!    505, …) is answered by [`Response::from_error`] and the connection
//!    closed.
//! 3. `Body`: a body of up to [`Limits::prebuffer_body_bytes`] is read
//!    before the handler runs, under the body deadline, so the handler
//!    never waits on the peer. A larger one (or one whose client waits for
//!    `100 Continue`) streams to the handler: `Stream` waits for one of
//!    the few streaming permits, so that slow uploads can hold only a
//!    share of the workers.
//! 4. The handler runs under `catch_unwind`; a streamed body reads
//!    through the lent [`Conn`] (see `wire`). Unread body is drained up to
//!    `max_drain_bytes`, or the connection will close: whatever remains on
//!    the wire must never be parsed as another request.
//! 5. The response is queued on the link (`writer`); `Flush` sends it as
//!    the peer reads, under the minimum send rate, then goes back to 1
//!    (or to a pipelined request already buffered) or closes.
//! 6. Closing after an error lingers (`Linger`): our side is shut, and
//!    what the peer still sends is read and dropped for a moment, so the
//!    answer is not destroyed by a reset.
//!
//! [`Limits::prebuffer_body_bytes`]: crate::Limits::prebuffer_body_bytes

use super::clock::{coarse_ms, millis};
use super::config::Config;
use super::link::{Filled, Link};
use super::park::{Interest, Wait};
use super::registry::{Registration, Waiting};
use super::session::{Session, Turn};
use super::socket::Socket;
use super::stats::{self, Counter, timed_out};
use super::wire::{Lease, Prebuffered, body_deadline};
use super::writer::{Answer, Outcome, ResponseWriter};
use crate::error::{Error, Phase};
use crate::limits::Timeouts;
use crate::peer::Peer;
use crate::proto::BodyKind;
use crate::proto::conn::{Conn, Event, Reading, Writing};
use crate::proto::head::RequestHead;
use crate::request::{Request, RequestBody};
use crate::response::{Body, Response};
use crate::types::StatusCode;
use crate::upgrade::{UpgradeKind, Upgraded};
use crate::ws;
use bytes::{Bytes, BytesMut};
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long and how much a lingering close reads before giving up.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
/// How many requests one connection is served in a row, while more of
/// its pipeline is buffered, before the others get their turn.
const TURN_REQUESTS: u32 = 32;

/// ConnState is one connection, wherever it waits: boxed, so that it
/// moves between the worker, the parker and the queues as a pointer.
pub(crate) type ConnState = Box<Connection>;

/// Connection is what a connection is: its socket, its protocol state
/// ([`Conn`], with any pipelined bytes), its peer, its registration with
/// the server, and its [`Stage`].
pub(crate) struct Connection {
    /// Dropped first: unregisters the connection from the server.
    pub(crate) registration: Registration,
    pub(crate) config: Arc<Config>,
    pub(crate) link: Arc<Link>,
    /// `None` only while it is lent to a request body.
    conn: Option<Box<Conn>>,
    /// Lends the state to a request body that streams, and takes it back.
    lease: Lease,
    /// Who is at the other end: a TCP address, or a Unix socket's peer.
    pub(crate) peer: Peer,
    pub(crate) stage: Stage,
    /// When the connection last became idle, on the coarse clock: its
    /// idle deadline counts from here.
    idle_since: u64,
    /// Whether the per-connection socket options are set.
    configured: bool,
    /// The timeouts the handler of the last request set for it
    /// ([`Request::set_timeouts`]): its response is sent under them, until
    /// the output has gone. `None` (the common case): the server's.
    send_timeouts: Option<Box<Timeouts>>,
    /// Held from accept until a worker first takes the connection: it
    /// counts the new connections waiting for a worker.
    pub(crate) waiting: Option<Waiting>,
}

/// Stage is where a connection is in its life (see the module docs).
pub(crate) enum Stage {
    /// The TLS handshake, begun at `since` (coarse clock).
    #[cfg(feature = "tls")]
    Handshake { since: u64 },
    /// Waiting for the first byte of a request.
    Idle,
    /// A request head has begun arriving, at `since` (coarse clock).
    Head { since: u64 },
    /// A small body is being read before the handler runs.
    Body {
        head: Box<RequestHead>,
        got: BytesMut,
        since: u64,
    },
    /// A large body waits for a streaming permit; `got` is what was read
    /// of it already.
    Stream {
        head: Box<RequestHead>,
        got: Bytes,
        since: u64,
    },
    /// Output waits for the peer to read it; then the connection goes on
    /// (`close` is `None`) or closes, lingering if `Some(true)`.
    Flush { close: Option<bool> },
    /// Our side is shut; what the peer still sends is dropped until it
    /// closes, `LINGER_BYTES` or `until`.
    Linger { until: u64, dropped: usize },
    /// The connection was upgraded to a WebSocket session (see
    /// `session`): no more requests, its own timers.
    Session(Box<Session>),
}

/// Step is where [`advance`] left a connection.
pub(crate) enum Step {
    /// It waits on its peer: park it.
    Park(ConnState, Wait),
    /// It is ready, but has been served long enough in a row: let the
    /// others go first.
    Requeue(ConnState),
    /// Its body must stream, and every streaming permit is taken.
    Permit(ConnState),
    /// It is closed.
    Closed,
}

impl Connection {
    /// Makes the state of a connection just accepted.
    pub(crate) fn new(
        registration: Registration,
        config: Arc<Config>,
        link: Arc<Link>,
        peer: Peer,
        conn: Box<Conn>,
    ) -> ConnState {
        let now = coarse_ms();
        #[cfg(feature = "tls")]
        let stage = if link.is_tls() {
            Stage::Handshake { since: now }
        } else {
            Stage::Idle
        };
        #[cfg(not(feature = "tls"))]
        let stage = Stage::Idle;
        Box::new(Connection {
            registration,
            config,
            link,
            conn: Some(conn),
            lease: Lease::default(),
            peer,
            stage,
            idle_since: now,
            configured: false,
            send_timeouts: None,
            waiting: None,
        })
    }

    /// Returns the key the connection is registered under.
    pub(crate) fn id(&self) -> u64 {
        self.registration.id
    }

    /// Says what the connection waits for while parked, and until when.
    /// Output waiting for the peer comes first: a client may wait for its
    /// answers before it sends more.
    pub(crate) fn wait(&self) -> Wait {
        let t = &self.config.timeouts;
        let (read_deadline, idle) = match &self.stage {
            #[cfg(feature = "tls")]
            Stage::Handshake { since } => (since.saturating_add(millis(t.handshake)), false),
            Stage::Idle => (self.idle_since.saturating_add(millis(t.idle)), true),
            Stage::Head { since } => (since.saturating_add(millis(t.head)), false),
            Stage::Body { since, got, .. } => (body_deadline(t, *since, got.len() as u64), false),
            Stage::Stream { since, .. } => (body_deadline(t, *since, 0), false),
            Stage::Linger { until, .. } => (*until, false),
            Stage::Flush { .. } => (u64::MAX, false),
            Stage::Session(s) => (s.deadline(), false),
        };
        if self.link.has_output() {
            Wait {
                on: Interest::Write,
                deadline: read_deadline.min(self.link.send_deadline(self.send_timeouts())),
                idle: false,
            }
        } else {
            Wait {
                on: Interest::Read,
                deadline: read_deadline,
                idle,
            }
        }
    }

    fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("Conn is home between requests")
    }

    /// Returns the timeouts the waiting output goes under: those the last
    /// handler set for its request, or the server's.
    fn send_timeouts(&self) -> &Timeouts {
        self.send_timeouts
            .as_deref()
            .unwrap_or(&self.config.timeouts)
    }

    /// Takes the connection state back from the body it was lent to, if
    /// the body gave it back.
    fn reclaim(&mut self) {
        if self.conn.is_none() {
            self.conn = self.lease.take_back();
        }
    }
}

/// Advances `st` as far as it goes without waiting on its peer.
pub(crate) fn advance(mut st: ConnState) -> Step {
    // Taken by a worker: no longer waiting for one.
    st.waiting = None;
    if !st.configured {
        if let Err(e) = st.link.configure(&st.config.timeouts) {
            log::debug!("{}: configuring the socket: {e}", st.peer);
            return Step::Closed;
        }
        st.configured = true;
    }
    let mut served: u32 = 0;
    loop {
        let stage = std::mem::replace(&mut st.stage, Stage::Idle);
        let next = match stage {
            #[cfg(feature = "tls")]
            Stage::Handshake { since } => handshake(&mut st, since),
            Stage::Idle => read_head(&mut st, None, served > 0),
            Stage::Head { since } => read_head(&mut st, Some(since), false),
            Stage::Body { head, got, since } => read_body(&mut st, head, got, since),
            Stage::Stream { head, got, since } => {
                if !st.config.permits.acquire() {
                    st.stage = Stage::Stream { head, got, since };
                    return Step::Permit(st);
                }
                st.link.set_holds_permit(true);
                let body = lend_body(&mut st, got, since);
                let next = exchange(&mut st, head, body);
                st.link.set_holds_permit(false);
                st.config.permits.release();
                next
            }
            // Output queued by an exchange in this same turn was queued
            // just now (`idle_since`); after a park, the clock says when.
            Stage::Flush { close } => {
                let now = if served > 0 {
                    st.idle_since
                } else {
                    coarse_ms()
                };
                flush(&mut st, close, now)
            }
            Stage::Linger { until, dropped } => linger(&mut st, until, dropped),
            Stage::Session(mut session) => {
                let turn = session.turn(&st.link, &st.config);
                end_turn(&mut st, session, turn)
            }
        };
        match next {
            Next::Go => {}
            Next::Park => {
                // A parked connection keeps no empty buffer.
                if let Some(conn) = st.conn.as_mut() {
                    conn.release_idle_buffer();
                }
                let wait = st.wait();
                return Step::Park(st, wait);
            }
            Next::Served => {
                served += 1;
                if served >= TURN_REQUESTS && st.conn.as_ref().is_some_and(|c| c.buffered() > 0) {
                    return Step::Requeue(st);
                }
            }
            Next::Closed => return Step::Closed,
            Next::TakeOver(f, read_ahead) => return take_over(st, f, read_ahead),
        }
    }
}

/// Next is what one stage of [`advance`] leads to.
enum Next {
    /// Go on with the stage it set.
    Go,
    /// A request was answered; go on with the stage it set.
    Served,
    /// Wait on the peer, in the stage it set.
    Park,
    /// The connection is closed.
    Closed,
    /// The connection goes to a function that owns it from now on, with
    /// the bytes read past the request head.
    TakeOver(Box<dyn FnOnce(Upgraded) + Send>, Bytes),
}

/// Handles a connection whose deadline passed while it was parked:
/// quietly closed when idle or when its peer stopped reading; `408` and a
/// lingering close in the middle of a request.
pub(crate) fn expire(mut st: ConnState) -> Step {
    st.waiting = None;
    if let Stage::Session(session) = &mut st.stage {
        // A session runs its own timers; then it is served as usual,
        // which sends the ping they may have queued and parks again.
        let Some(turn) = session.expire(&st.link, &st.config) else {
            return advance(st);
        };
        let Stage::Session(session) = std::mem::replace(&mut st.stage, Stage::Idle) else {
            unreachable!("matched just above");
        };
        return match end_turn(&mut st, session, turn) {
            Next::Closed => Step::Closed,
            _ => advance(st),
        };
    }
    if st.link.has_output() && coarse_ms() >= st.link.send_deadline(st.send_timeouts()) {
        // What it did receive stays whole: our side is shut after it, and
        // what the peer sent meanwhile is read and dropped, so the close
        // does not become a reset that would destroy it.
        log::debug!("{}: the peer stopped reading; closing", st.peer);
        stats::count(Counter::Timeout(Phase::Write));
        st.link.drop_output();
        st.stage = Stage::Flush { close: Some(true) };
        return advance(st);
    }
    let phase = match &st.stage {
        #[cfg(feature = "tls")]
        Stage::Handshake { .. } => {
            log::debug!("{}: TLS handshake timeout; closing", st.peer);
            stats::count(Counter::HandshakeTimeout);
            return Step::Closed;
        }
        Stage::Head { .. } => Phase::Head,
        Stage::Body { .. } | Stage::Stream { .. } => Phase::Body,
        Stage::Idle => {
            log::trace!("{}: idle timeout; closing", st.peer);
            stats::count(Counter::Timeout(Phase::Idle));
            return Step::Closed;
        }
        Stage::Flush { .. } | Stage::Linger { .. } | Stage::Session(_) => return Step::Closed,
    };
    answer_error(&mut st, &timed_out(phase));
    st.stage = Stage::Flush { close: Some(true) };
    advance(st)
}

/// Step 0, over TLS: the handshake, under its own deadline from the
/// accept. Once done, the connection is idle (its idle and head deadlines
/// count from here). A peer that speaks plain HTTP is told so in plain
/// HTTP, as nginx does; any other failure closes without a word.
#[cfg(feature = "tls")]
fn handshake(st: &mut ConnState, since: u64) -> Next {
    use super::tls::{Handshake, PLAIN_HTTP_ANSWER};
    let deadline = since.saturating_add(millis(st.config.timeouts.handshake));
    loop {
        if st.link.has_output() {
            match st.link.push() {
                Ok(true) => {}
                Ok(false) => {
                    st.stage = Stage::Handshake { since };
                    return Next::Park;
                }
                Err(e) => {
                    log::debug!("{}: TLS handshake: {e}", st.peer);
                    return Next::Closed;
                }
            }
        }
        match st.link.read_until(deadline) {
            Ok(true) => {}
            Ok(false) => {
                log::debug!("{}: TLS handshake timeout; closing", st.peer);
                stats::count(Counter::HandshakeTimeout);
                return Next::Closed;
            }
            Err(e) => {
                log::debug!("{}: TLS handshake: {e}", st.peer);
                return Next::Closed;
            }
        }
        match st.link.handshake() {
            Ok(Handshake::Done) => {
                log::trace!("{}: TLS handshake done", st.peer);
                st.idle_since = coarse_ms();
                st.stage = Stage::Idle;
                return Next::Go;
            }
            Ok(Handshake::WantRead) if st.link.is_nonblocking() => {
                st.stage = Stage::Handshake { since };
                return Next::Park;
            }
            // A blocking read timed out short of the deadline: again.
            Ok(Handshake::WantRead) => {}
            Ok(Handshake::WantWrite) if st.link.is_nonblocking() => st.link.hold_tls_output(),
            Ok(Handshake::WantWrite) => {
                log::debug!("{}: TLS handshake: the peer reads nothing", st.peer);
                return Next::Closed;
            }
            Ok(Handshake::PlainHttp) => {
                log::debug!("{}: plain HTTP on the TLS port", st.peer);
                st.link.write_raw(PLAIN_HTTP_ANSWER);
                st.link.shutdown(Shutdown::Write);
                return Next::Closed;
            }
            Err(e) => {
                log::debug!("{}: TLS handshake: {e}", st.peer);
                return Next::Closed;
            }
        }
    }
}

/// Steps 1 and 2: reads until a request head is complete, and hands it
/// on. `since` is when the head began (`None`: idle); `answered` says a
/// request was just answered here, so its successor cannot have arrived
/// unless it was pipelined.
fn read_head(st: &mut ConnState, mut since: Option<u64>, answered: bool) -> Next {
    let t = st.config.timeouts;
    loop {
        let event = st.conn().next_event();
        match event {
            Ok(Event::Head(head)) => return start_request(st, head),
            Ok(Event::Closed) => return close(st, false),
            Ok(Event::NeedData) if st.conn().is_idle() => {
                // Mark idle *before* checking the shutdown flag; the
                // shutdown sets the flag before closing idle links, so one
                // of the two always sees the other.
                st.link.mark_idle();
                let idle_deadline = st.idle_since.saturating_add(millis(t.idle));
                let expired = !answered && coarse_ms() >= idle_deadline;
                if st.config.is_shutting_down() || expired {
                    // Serve a request that is already here; otherwise
                    // close. (A request that waited past the idle deadline
                    // for a worker has arrived: it is served.)
                    if !st.link.read_ready(home(&mut st.conn)) {
                        log::trace!("{}: closing idle connection", st.peer);
                        if expired {
                            stats::count(Counter::Timeout(Phase::Idle));
                        }
                        return close(st, false);
                    }
                } else if answered && st.link.is_nonblocking() && !st.link.tls_buffered() {
                    // Park at once: a read now, just after the answer,
                    // would almost always find nothing (the client has yet
                    // to see it), and the poller reports bytes that are
                    // already here.
                    st.stage = Stage::Idle;
                    return Next::Park;
                } else {
                    match st.link.read(home(&mut st.conn), idle_deadline, Phase::Idle) {
                        Ok(Filled::Data) => {}
                        Ok(Filled::WouldBlock) => {
                            st.stage = Stage::Idle;
                            return Next::Park;
                        }
                        Err(e) => {
                            log::trace!("{}: closing idle connection: {e}", st.peer);
                            return close(st, false);
                        }
                    }
                }
                if !st.link.claim() {
                    // A graceful shutdown closed the connection as the
                    // request arrived: it is dropped unrun, so the client
                    // (or proxy) can safely send it elsewhere.
                    log::debug!(
                        "{}: request arrived as the server shut down; not served",
                        st.peer
                    );
                    return close(st, false);
                }
                since = Some(coarse_ms());
            }
            Ok(Event::NeedData) => {
                let begun = *since.get_or_insert_with(coarse_ms);
                let deadline = begun.saturating_add(millis(t.head));
                match st.link.read(home(&mut st.conn), deadline, Phase::Head) {
                    Ok(Filled::Data) => {}
                    Ok(Filled::WouldBlock) if coarse_ms() < deadline => {
                        st.stage = Stage::Head { since: begun };
                        return Next::Park;
                    }
                    Ok(Filled::WouldBlock) => return fail(st, &timed_out(Phase::Head)),
                    Err(e) => return fail(st, &e),
                }
            }
            Ok(Event::Data(_) | Event::End | Event::Paused) => {
                // Conn yields these only after a head was returned.
                log::error!("connection state out of order; closing");
                return close(st, false);
            }
            Err(e) => return fail(st, &e),
        }
    }
}

/// Returns the connection's protocol state, which is home except while a
/// request body holds it: a field borrow, so the link can be used beside
/// it without a reference count.
fn home(conn: &mut Option<Box<Conn>>) -> &mut Conn {
    conn.as_deref_mut().expect("Conn is home between requests")
}

/// Answers an error (if it has an answer) and closes, lingering.
fn fail(st: &mut ConnState, e: &Error) -> Next {
    if e.status().is_none() {
        log::debug!("{}: {e}", st.peer);
        return close(st, false);
    }
    answer_error(st, e);
    close(st, true)
}

/// Sets the connection to close once its output has gone.
fn close(st: &mut ConnState, linger: bool) -> Next {
    st.stage = Stage::Flush {
        close: Some(linger),
    };
    Next::Go
}

/// Closes without an answer; lingering when more of a pipeline was
/// received, so that the answers already sent are not destroyed by a
/// reset.
fn close_after_pipeline(st: &mut ConnState) -> Next {
    let pipelined = st.conn.as_ref().is_some_and(|c| c.buffered() > 0);
    close(st, pipelined)
}

/// Step 3: decides how the body of a request with a complete head is read.
fn start_request(st: &mut ConnState, head: Box<RequestHead>) -> Next {
    let limit = st.config.limits.prebuffer_body_bytes;
    let conn = st.conn();
    if conn.body_finished() {
        return exchange(st, head, RequestBody::empty());
    }
    let now = coarse_ms();
    let small = match head.body {
        BodyKind::Length(n) => n <= limit as u64,
        _ => limit > 0,
    };
    // A client waiting for `100 Continue` sends nothing until the handler
    // asks for the body.
    st.stage = if small && !conn.continue_unsent() {
        Stage::Body {
            head,
            got: BytesMut::new(),
            since: now,
        }
    } else {
        Stage::Stream {
            head,
            got: Bytes::new(),
            since: now,
        }
    };
    Next::Go
}

/// Step 3, a small body: reads it whole, then runs the handler.
fn read_body(st: &mut ConnState, head: Box<RequestHead>, mut got: BytesMut, since: u64) -> Next {
    let limit = st.config.limits.prebuffer_body_bytes;
    let t = st.config.timeouts;
    loop {
        match st.conn().next_event() {
            Ok(Event::Data(d)) => {
                got.extend_from_slice(&d);
                if got.len() > limit {
                    // Longer than it looked (chunked): it streams.
                    st.stage = Stage::Stream {
                        head,
                        got: got.freeze(),
                        since,
                    };
                    return Next::Go;
                }
            }
            Ok(Event::End | Event::Paused) => {
                let trailers = st.conn().trailers().clone();
                let body = Prebuffered::new(got.freeze(), trailers);
                return exchange(st, head, RequestBody::from_wire(Box::new(body)));
            }
            Ok(Event::NeedData) => {
                let deadline = body_deadline(&t, since, got.len() as u64);
                match st.link.read(home(&mut st.conn), deadline, Phase::Body) {
                    Ok(Filled::Data) => {}
                    Ok(Filled::WouldBlock) if coarse_ms() < deadline => {
                        st.stage = Stage::Body { head, got, since };
                        return Next::Park;
                    }
                    Ok(Filled::WouldBlock) => return fail(st, &timed_out(Phase::Body)),
                    Err(e) => return fail(st, &e),
                }
            }
            Ok(Event::Head(_) | Event::Closed) => return close(st, false),
            Err(Error::UnexpectedEof) => {
                // The peer closed in the middle of the body: nobody is
                // there to answer, and a 5xx here would let any client
                // fake server errors.
                log::debug!("{}: peer closed mid-request", st.peer);
                return close(st, false);
            }
            Err(e) => return fail(st, &e),
        }
    }
}

/// Step 3, a large body: lends the connection state to a body that
/// streams from the socket, `got` first.
fn lend_body(st: &mut ConnState, got: Bytes, since: u64) -> RequestBody {
    let conn = st.conn.take().expect("Conn is home between requests");
    let link = Arc::clone(&st.link);
    let wire = st.lease.lend(conn, link, st.config.timeouts, since, got);
    RequestBody::from_wire(Box::new(wire))
}

/// Step 1 again, or 6: sends waiting output, then goes on or closes.
/// Answers held back for a pipeline stay held while more of it is
/// buffered; but the next request is not handled while the peer is not
/// reading the answers already made.
fn flush(st: &mut ConnState, close: Option<bool>, now: u64) -> Next {
    let pipelined = close.is_none() && st.conn().buffered() > 0 && !st.link.is_blocked();
    if pipelined {
        st.stage = Stage::Head { since: now };
        return Next::Go;
    }
    match st.link.push() {
        // Everything has gone: the connection is idle from now, not from
        // when the answer was queued (a long download is not the client's
        // idle time), and the next output is under the server's timeouts
        // again, unless its handler sets its own.
        Ok(true) => {
            st.idle_since = now;
            st.send_timeouts = None;
        }
        Ok(false) => {
            st.stage = Stage::Flush { close };
            return Next::Park;
        }
        Err(e) => {
            log::debug!("{}: response aborted: {e}", st.peer);
            return Next::Closed;
        }
    }
    let Some(linger) = close else {
        st.stage = if st.conn().is_idle() {
            Stage::Idle
        } else {
            Stage::Head { since: now }
        };
        return Next::Go;
    };
    st.link.shutdown(Shutdown::Write);
    let peer_done = st.conn.as_deref().is_none_or(Conn::is_eof);
    if !linger || peer_done {
        // Dropping the stream closes it: no second `shutdown` (after the
        // peer's FIN it would only fail with ENOTCONN).
        log::trace!("{}: closed", st.peer);
        return Next::Closed;
    }
    let until = coarse_ms().saturating_add(millis(LINGER_TIME));
    if !st.link.is_nonblocking() {
        st.link.discard_waiting(LINGER_BYTES, until);
        return Next::Closed;
    }
    st.stage = Stage::Linger { until, dropped: 0 };
    Next::Go
}

/// Step 6: drops what the peer still sends, until it closes.
fn linger(st: &mut ConnState, until: u64, dropped: usize) -> Next {
    let (n, done) = st.link.discard_ready(LINGER_BYTES - dropped);
    let dropped = dropped + n;
    if done || dropped >= LINGER_BYTES || coarse_ms() >= until {
        return Next::Closed;
    }
    st.stage = Stage::Linger { until, dropped };
    Next::Park
}

/// Answers a request that failed before reaching a handler.
fn answer_error(st: &mut ConnState, e: &Error) {
    let start = access_log_enabled().then(Instant::now);
    let resp = Response::from_error(e);
    let is_head = st.conn.as_deref().is_some_and(Conn::is_head_request);
    let outcome =
        ResponseWriter::new(&st.link, &st.config).write(resp, Answer::closing(is_head), None);
    answered(st, st.peer, "-", "-", "-", &outcome, start);
}

/// Step 4: runs the handler on a request and queues its response.
fn exchange(st: &mut ConnState, head: Box<RequestHead>, body: RequestBody) -> Next {
    // The clock is read for the access log only.
    let start = access_log_enabled().then(Instant::now);
    let config = Arc::clone(&st.config);
    let mut req = Request::new(
        head,
        Some(st.peer),
        body,
        config.limits.max_buffered_body_bytes,
    );
    if st.link.is_tls() {
        req.set_tls();
    }
    if !config.trusted.is_empty() {
        req.set_forwarded(crate::forwarded::resolve_peer(
            st.peer,
            req.headers(),
            &config.trusted,
        ));
    }

    let called = catch_unwind(AssertUnwindSafe(|| config.handler.call(&mut req)));
    let (resp, panicked) = match called {
        Ok(resp) => (resp, false),
        Err(payload) => {
            stats::count(Counter::Panic);
            log::error!(
                "handler panicked on {} {}: {}",
                req.method(),
                req.target(),
                super::pool::panic_message(&payload)
            );
            let resp = Response::from_error(&Error::with_status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "handler panicked",
            ));
            (resp.with_header("Connection", "close"), true)
        }
    };

    if !panicked && matches!(resp.body(), Body::Upgrade(_)) {
        return switch(st, &mut req, resp, start);
    }

    // Drain what the handler left of the body, then take the connection
    // state back (unless the body went into the response). A response
    // that closes the connection anyway is not held back for bytes nobody
    // will use: the lingering close takes care of them, after the answer
    // has gone out.
    let closing = panicked
        || !req.head().keep_alive
        || resp.headers().has_token("connection", "close")
        || config.is_shutting_down();
    let mut body = req.take_body();
    if !closing {
        body.drain(config.limits.max_drain_bytes);
    }
    drop(body);
    st.reclaim();
    if st
        .conn
        .as_ref()
        .is_some_and(|c| c.is_eof() && matches!(c.reading(), Reading::Closed))
    {
        // The peer closed its side in the middle of the request
        // (`Error::UnexpectedEof`): there is no request to answer, and a
        // 5xx here would let any client fake server errors.
        log::debug!(
            "{}: peer closed mid-request; closing without a response",
            st.peer
        );
        return close_after_pipeline(st);
    }

    // The handler may have set timeouts of its own for this request: its
    // response goes out under them. A blocking socket's writes wait under
    // `SO_SNDTIMEO`, set back to the server's once they have.
    let own = req.take_timeouts();
    let timeouts = own.as_deref().unwrap_or(&config.timeouts);
    if own.is_some() {
        set_write_timeout(st, timeouts);
    }
    let head = req.head();
    // When the body was taken into the response, the state is lent and
    // cannot decide for itself: the client's own wish to close must still
    // be announced (`Connection: close`, never a keep-alive the server
    // will not honour).
    let answer = Answer {
        is_head: *req.method() == crate::Method::Head,
        version: head.version,
        close: panicked || !head.keep_alive,
    };
    let writer = ResponseWriter::new(&st.link, &config).timeouts(timeouts);
    let outcome = writer.write(resp, answer, st.conn.as_deref_mut());
    if own.is_some() {
        set_write_timeout(st, &config.timeouts);
    }
    // What did not go at once waits under them too.
    st.send_timeouts = own;
    st.reclaim();
    let client = req.client().unwrap_or(st.peer);
    answered(
        st,
        client,
        req.method().as_str(),
        req.target(),
        req.version().as_str(),
        &outcome,
        start,
    );

    let Some(conn) = st.conn.as_mut() else {
        log::debug!(
            "{}: request body was kept past the response; closing",
            st.peer
        );
        return close_after_pipeline(st);
    };
    if conn.writing() == Writing::Idle {
        // The state was lent while the head left: decide now, at worst
        // closing a connection the response did not announce closing. A
        // body the response did not consume (a HEAD response drops its
        // stream) is drained first, as after any handler.
        if !conn.body_finished() {
            let limit = config.limits.max_drain_bytes;
            let timeouts = st.send_timeouts.as_deref().unwrap_or(&config.timeouts);
            super::wire::drain(conn, &st.link, timeouts, coarse_ms(), limit);
        }
        conn.decide_keep_alive(outcome.keep_alive);
    }
    // Whether the request was read to its end must be asked before
    // `finish_exchange`, which closes the state: unread body bytes mean the
    // close must linger, or they would turn it into a reset. A response
    // that failed to go out has nothing left to protect.
    let request_read = matches!(conn.reading(), Reading::Responding);
    st.idle_since = coarse_ms();
    st.stage = if conn.finish_exchange(outcome.result.is_ok()) {
        Stage::Flush { close: None }
    } else if outcome.result.is_err() {
        st.link.drop_output();
        let pipelined = conn.buffered() > 0;
        Stage::Flush {
            close: Some(pipelined),
        }
    } else {
        Stage::Flush {
            close: Some(!request_read),
        }
    };
    Next::Served
}

/// Sets a blocking socket's `SO_SNDTIMEO` to the write timeout of
/// `timeouts` (a non-blocking socket computes its deadlines from the
/// timeouts each wait is given). It only fails on a socket that is
/// failing anyway, whose next write will say so.
fn set_write_timeout(st: &ConnState, timeouts: &Timeouts) {
    if let Err(e) = st.link.set_write_timeout(timeouts.write) {
        log::debug!("{}: setting the write timeout: {e}", st.peer);
    }
}

/// Step 4, an upgrade: the handler answered with what runs on the
/// connection after its `101` (a WebSocket session, or a function that
/// takes the connection over). The request must allow it
/// ([`Conn::switch_protocols`]); otherwise the answer is a `400` and the
/// connection closes.
fn switch(st: &mut ConnState, req: &mut Request, resp: Response, start: Option<Instant>) -> Next {
    // A session runs its own timers, under the server's timeouts.
    st.send_timeouts = None;
    drop(req.take_body());
    st.reclaim();
    let (status, headers, body) = resp.into_parts();
    let Body::Upgrade(on) = body else {
        return close(st, false);
    };
    let switched = match st.conn.as_deref_mut() {
        Some(_) if status != StatusCode::SWITCHING_PROTOCOLS => Err(Error::handler(format!(
            "an upgrade answered {} instead of 101",
            status.as_u16()
        ))),
        Some(conn) => conn.switch_protocols(req.head()),
        None => Err(Error::with_status(
            StatusCode::BAD_REQUEST,
            "a request with a body cannot be upgraded",
        )),
    };
    // A session is set up (its handler's `on_open`) before its 101 goes.
    let (switched, on) = match (switched, on.kind) {
        (Ok(bytes), UpgradeKind::WebSocket(start)) => {
            let waker = st.registration.owner.waker(st.id());
            let max_queued = start.settings.max_queued_bytes;
            let shared = ws::Shared::new(st.id(), st.peer.addr(), max_queued, waker);
            let mut session = Session::new(*start, shared, bytes.clone());
            session.open();
            (Ok(bytes), Then::Session(Box::new(session)))
        }
        // `Upgraded` hands over a `TcpStream`: a connection to a Unix
        // socket cannot go that way, and is answered before its 101.
        (Ok(_), UpgradeKind::TakeOver(_)) if st.link.stream.is_unix() => (
            Err(Error::handler(
                "Response::upgrade hands over TCP connections only; this one is a Unix socket's",
            )),
            Then::Nothing,
        ),
        // Over TLS the socket carries ciphertext: it cannot be handed
        // over as it is.
        (Ok(_), UpgradeKind::TakeOver(_)) if st.link.is_tls() => (
            Err(Error::handler(
                "a connection over TLS cannot be taken over (Response::upgrade)",
            )),
            Then::Nothing,
        ),
        (switched, UpgradeKind::TakeOver(f)) => (switched, Then::TakeOver(f)),
        (Err(e), UpgradeKind::WebSocket(_)) => (Err(e), Then::Nothing),
    };
    let writer = ResponseWriter::new(&st.link, &st.config);
    let (read_ahead, outcome) = match switched {
        Ok(bytes) => (Some(bytes), writer.write_switch(&headers)),
        Err(e) => {
            let resp = Response::from_error(&e);
            (None, writer.write(resp, Answer::closing(false), None))
        }
    };
    let client = req.client().unwrap_or(st.peer);
    let (method, version) = (req.method().as_str(), req.version().as_str());
    answered(st, client, method, req.target(), version, &outcome, start);
    let Some(read_ahead) = read_ahead else {
        return close(st, true);
    };
    if outcome.result.is_err() {
        return Next::Closed;
    }
    match on {
        Then::Session(session) => {
            st.link.mark_upgraded(true);
            st.stage = Stage::Session(session);
            Next::Go
        }
        Then::TakeOver(f) => Next::TakeOver(f, read_ahead),
        Then::Nothing => Next::Closed,
    }
}

/// Then is what runs after a `101`.
enum Then {
    Session(Box<Session>),
    TakeOver(Box<dyn FnOnce(Upgraded) + Send>),
    Nothing,
}

/// Carries out where a WebSocket session's turn left it.
fn end_turn(st: &mut ConnState, session: Box<Session>, turn: Turn) -> Next {
    match turn {
        Turn::Park => {
            st.stage = Stage::Session(session);
            Next::Park
        }
        Turn::Close { linger } => {
            // Dropped here: the handler hears how the session ended.
            drop(session);
            st.stage = Stage::Flush {
                close: Some(linger),
            };
            Next::Go
        }
        Turn::Gone => Next::Closed,
    }
}

/// Hands the connection to `f`, on a thread of its own, once its `101`
/// has gone: the socket (blocking, without timeouts), the bytes read past
/// the head, and the connection's registration, so that a shutdown still
/// reaches it (see [`Upgraded`]).
fn take_over(st: ConnState, f: Box<dyn FnOnce(Upgraded) + Send>, read_ahead: Bytes) -> Step {
    if let Err(e) = st.link.push_waiting(&st.config.timeouts, None) {
        log::debug!("{}: the 101 did not go: {e}", st.peer);
        return Step::Closed;
    }
    st.link.mark_upgraded(false);
    st.registration.owner.detach(&st.link);
    let stream = st.link.stream.try_clone().and_then(|s| {
        s.set_nonblocking(false)?;
        s.set_read_timeout(None)?;
        s.set_write_timeout(None)?;
        match s {
            Socket::Tcp(s) => Ok(s),
            // Refused before its 101 (see `switch`).
            #[cfg(unix)]
            Socket::Unix(_) => Err(std::io::Error::other(
                "a Unix socket connection cannot be handed over as a TcpStream",
            )),
        }
    });
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            log::error!("{}: cannot hand the connection over: {e}", st.peer);
            return Step::Closed;
        }
    };
    let (peer, config) = (st.peer, Arc::clone(&st.config));
    let upgraded = Upgraded {
        stream,
        read_ahead,
        _keep: Box::new(st),
        shutting_down: Box::new(move || config.is_shutting_down()),
    };
    let spawned = std::thread::Builder::new()
        .name("sockhttp-upgraded".to_owned())
        .spawn(move || {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(upgraded))) {
                log::error!(
                    "{peer}: the owner of an upgraded connection panicked: {}",
                    super::pool::panic_message(&payload)
                );
            }
        });
    if let Err(e) = spawned {
        log::error!("{peer}: cannot start the thread of an upgraded connection: {e}");
    }
    Step::Closed
}

/// Accounts for one answered request, once its response is written:
/// counts it by its status class in the server's statistics, and logs its
/// access-log line: `client "METHOD target VERSION" status body-bytes
/// duration`, with `via PROXY` when the client was resolved through a
/// trusted proxy, and `tls` before the request when it came over TLS. A
/// peer over a Unix socket is written `unix:` (as nginx writes its
/// `$remote_addr`): `203.0.113.9:0 via unix: "GET / HTTP/1.1" …` behind
/// nginx on a Unix socket.
fn answered(
    st: &Connection,
    client: Peer,
    method: &str,
    target: &str,
    version: &str,
    o: &Outcome,
    start: Option<Instant>,
) {
    stats::count(Counter::answered(o.status));
    let Some(start) = start.filter(|_| access_log_enabled()) else {
        return;
    };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let status = o.status.as_u16();
    let peer = st.peer;
    let via = if client == peer {
        String::new()
    } else {
        format!(" via {peer}")
    };
    let tls = if st.link.is_tls() { " tls" } else { "" };
    let aborted = match &o.result {
        Ok(()) => String::new(),
        Err(e) => format!(" (aborted: {e})"),
    };
    log::info!(
        target: "sockhttp::access",
        "{client}{via}{tls} \"{method} {target} {version}\" {status} {} {ms:.3}ms{aborted}",
        o.body_bytes
    );
}

/// Reports whether access log lines are wanted (target `sockhttp::access`
/// at `info`).
fn access_log_enabled() -> bool {
    log::log_enabled!(target: "sockhttp::access", log::Level::Info)
}
