//! Serving one connection: read a head, run the handler, write the
//! response, and again, until the connection ends.
//!
//! The life of a connection (after Go's `conn.serve`):
//! 1. Wait for a request with the idle deadline; a timeout or end of
//!    stream here closes quietly. With the poller (Linux), an idle
//!    connection is not waited for here: once answered, with nothing more
//!    buffered, it is parked, and the worker moves on to the next ready
//!    connection. Once bytes arrive, the head deadline runs; a timeout
//!    then is a 408.
//! 2. A protocol error (400, 414, 431, 505, …) is answered by
//!    [`Response::from_error`] and the connection closed.
//! 3. The handler runs under `catch_unwind`; the body reads through the
//!    lent [`Conn`] (see `wire`).
//! 4. After the handler, unread body is drained up to
//!    `max_drain_bytes`, or the connection will close: whatever remains on
//!    the wire must never be parsed as another request. When the response
//!    closes the connection anyway (`Connection: close` from either side,
//!    an error such as 413, a shutdown), nothing is drained first, so an
//!    early answer to an upload is not delayed by the upload.
//! 5. The response is written (`writer`); `Conn` decides whether the
//!    connection goes on.
//! 6. Closing after an error is lingering: `shutdown(Write)`, a bounded
//!    read, then close, so the response is not destroyed by a reset.

use super::Shared;
use super::io::{Link, coarse_ms, millis};
use super::state::{ConnState, Registration};
use super::wire::{Slot, WireBody};
use super::writer::{Outcome, write_response};
use crate::error::{Error, Phase, Result};
use crate::limits::Timeouts;
use crate::proto::conn::{Conn, Event, Reading};
use crate::proto::head::RequestHead;
use crate::request::{Request, RequestBody};
use crate::response::Response;
use crate::types::{StatusCode, Version};
use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long and how much a lingering close reads before giving up.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
/// A deadline that never comes in practice (a century).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Serves a connection until it closes (`None`) or goes idle between
/// requests (`Some`: park it).
pub(crate) fn serve(shared: &Shared, state: ConnState) -> Option<ConnState> {
    let ConnState {
        registration,
        link,
        conn,
        peer,
        idle_since,
        configured,
        waiting,
    } = state;
    // Taken by a worker: no longer waiting for one.
    drop(waiting);
    if !configured {
        if let Err(e) = configure(&link.stream, &shared.timeouts) {
            log::debug!("{peer}: set_write_timeout: {e}");
            return None;
        }
    }
    let mut c = Connection {
        shared,
        link,
        peer,
        conn: Some(conn),
        slot: None,
        registration,
        idle_since,
        answered: false,
    };
    match c.run() {
        End::Park => c.into_state(),
        End::Close(linger) => {
            c.close(linger);
            None
        }
    }
}

/// Sets the options every accepted socket gets once: `TCP_NODELAY`, so
/// a small response leaves at once instead of waiting for the peer's
/// delayed ACK (Nagle), and `SO_SNDTIMEO`, so a client that stops reading
/// frees its worker. Only the write timeout is required.
fn configure(stream: &TcpStream, timeouts: &Timeouts) -> std::io::Result<()> {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("set_nodelay: {e}");
    }
    stream.set_write_timeout(Some(timeouts.write))
}

struct Connection<'a> {
    shared: &'a Shared,
    link: Arc<Link>,
    peer: SocketAddr,
    /// `None` while the state is lent to a request body.
    conn: Option<Box<Conn>>,
    /// Where a request body gives the state back; made for the first
    /// body read from the wire.
    slot: Option<Slot>,
    registration: Registration,
    /// On the [`coarse_ms`] clock.
    idle_since: u64,
    /// Whether this worker has answered a request on the connection: its
    /// next request cannot be here yet unless it was pipelined. (A
    /// connection handed over by the accept loop or the poller has bytes.)
    answered: bool,
}

/// End is why [`Connection::run`] stopped.
enum End {
    /// Close, lingering if the peer may still be sending.
    Close(bool),
    /// Idle: hand the connection to the poller.
    Park,
}

/// Step is what waiting for a request head found.
enum Step {
    Head(Box<RequestHead>),
    Close,
    Park,
}

impl Connection<'_> {
    /// Serves requests until the connection ends or goes idle.
    fn run(&mut self) -> End {
        loop {
            let head = match self.read_head() {
                Ok(Step::Head(head)) => head,
                Ok(Step::Close) => return End::Close(false),
                Ok(Step::Park) => return End::Park,
                Err(e) => {
                    self.answer_error(&e);
                    return End::Close(true);
                }
            };
            match self.exchange(head) {
                Next::KeepAlive => {
                    self.idle_since = coarse_ms();
                    self.answered = true;
                }
                Next::Close => {
                    return End::Close(self.conn.as_ref().is_some_and(|c| c.buffered() > 0));
                }
                Next::Linger => return End::Close(true),
            }
        }
    }

    /// Gives the connection back as a value, to be parked.
    fn into_state(self) -> Option<ConnState> {
        let mut conn = self.conn?;
        conn.release_idle_buffer();
        // Built whole: `ConnState::new` would read the clock for an
        // `idle_since` that is overwritten anyway.
        Some(ConnState {
            registration: self.registration,
            link: self.link,
            conn,
            peer: self.peer,
            idle_since: self.idle_since,
            configured: true,
            waiting: None,
        })
    }

    /// Step 1: waits for and parses the next request head.
    fn read_head(&mut self) -> Result<Step> {
        let timeouts = self.shared.timeouts;
        let mut head_deadline: Option<Instant> = None;
        let idle_deadline = self.idle_since.saturating_add(millis(timeouts.idle));
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Step::Close);
        };
        loop {
            match conn.next_event()? {
                Event::Head(head) => return Ok(Step::Head(head)),
                Event::Closed => return Ok(Step::Close),
                Event::NeedData if conn.is_idle() => {
                    // Mark idle *before* checking the shutdown flag; the
                    // shutdown sets the flag before closing idle links, so
                    // one of the two always sees the other.
                    self.link.mark_idle();
                    let ready = |link: &Link, conn: &mut Conn| {
                        if link.read_ready(conn) {
                            Ok(())
                        } else {
                            Err(Error::Timeout(Phase::Idle))
                        }
                    };
                    // Just answered, the idle deadline was just set: no
                    // need to read the clock.
                    let expired = self.shared.is_shutting_down()
                        || (!self.answered && coarse_ms() >= idle_deadline);
                    let r = if expired {
                        // Serve a request that is already here; otherwise
                        // close. (A request that waited in the queue past
                        // the idle deadline has arrived: it is served.)
                        ready(&self.link, conn)
                    } else if self.shared.poller.is_some() {
                        // Still idle: park (the link stays marked idle).
                        if self.answered {
                            // At once, and take the next ready connection.
                            // A read now, just after the answer, would
                            // almost always find nothing (the client has
                            // yet to see it), and the poller reports bytes
                            // that are already here.
                            self.link.flush()?;
                            return Ok(Step::Park);
                        }
                        // Handed over by the poller: the bytes are here
                        // (or the peer closed).
                        match ready(&self.link, conn) {
                            Err(Error::Timeout(_)) => return Ok(Step::Park),
                            other => other,
                        }
                    } else {
                        let left = Duration::from_millis(idle_deadline.saturating_sub(coarse_ms()));
                        let now = Instant::now();
                        // A timeout too long to add is as good as none.
                        let deadline = now.checked_add(left).unwrap_or(now + FOREVER);
                        self.link.read_into(conn, deadline, Phase::Idle)
                    };
                    if let Err(e) = r {
                        log::trace!("{}: closing idle connection: {e}", self.peer);
                        return Ok(Step::Close);
                    }
                    if !self.link.claim() {
                        // A graceful shutdown closed the connection as the
                        // request arrived: it is dropped unrun, so the
                        // client (or proxy) can safely send it elsewhere.
                        log::debug!(
                            "{}: request arrived as the server shut down; not served",
                            self.peer
                        );
                        return Ok(Step::Close);
                    }
                }
                Event::NeedData => {
                    let deadline =
                        *head_deadline.get_or_insert_with(|| Instant::now() + timeouts.head);
                    self.link.read_into(conn, deadline, Phase::Head)?;
                }
                Event::Data(_) | Event::End | Event::Paused => {
                    // Conn yields these only after a head was returned.
                    log::error!("connection state out of order; closing");
                    return Ok(Step::Close);
                }
            }
        }
    }

    /// Step 2: answers a request that failed before reaching a handler.
    fn answer_error(&mut self, e: &Error) {
        if e.status().is_none() {
            log::debug!("{}: {e}", self.peer);
            return;
        }
        let start = Instant::now();
        let resp = Response::from_error(e);
        let is_head = self.conn.as_deref().is_some_and(Conn::is_head_request);
        let outcome = write_response(
            &self.link,
            self.shared,
            resp,
            is_head,
            Version::Http11,
            true,
            None,
        );
        self.access_log(self.peer, "-", "-", "-", &outcome, Some(start));
    }

    /// Steps 3–5 for one request.
    fn exchange(&mut self, head: Box<RequestHead>) -> Next {
        // The clock is read for the access log only; a body drained after
        // the response counts its time from then.
        let start = access_log_enabled().then(Instant::now);
        let conn = self.conn.take().expect("Conn is home between requests");
        let body = if conn.body_finished() {
            self.conn = Some(conn);
            RequestBody::empty()
        } else {
            let wire = WireBody::new(
                conn,
                Arc::clone(&self.link),
                Arc::clone(self.slot.get_or_insert_with(Slot::default)),
                self.shared.timeouts,
            );
            RequestBody::from_wire(Box::new(wire))
        };
        let mut req = Request::new(
            head,
            Some(self.peer),
            body,
            self.shared.limits.max_buffered_body_bytes,
        );
        if !self.shared.trusted.is_empty() {
            req.set_forwarded(crate::forwarded::resolve(
                self.peer,
                req.headers(),
                &self.shared.trusted,
            ));
        }

        let called = catch_unwind(AssertUnwindSafe(|| self.shared.handler.call(&mut req)));
        let (resp, panicked) = match called {
            Ok(resp) => (resp, false),
            Err(payload) => {
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

        // Step 4: drain what the handler left of the body, then take the
        // connection state back (unless the body went into the response).
        // A response that closes the connection anyway is not held back
        // for bytes nobody will use: the lingering close takes care of
        // them, after the answer has gone out.
        let closing = panicked
            || !req.head().keep_alive
            || resp.headers().has_token("connection", "close")
            || self.shared.is_shutting_down();
        let mut body = req.take_body();
        if !closing {
            body.drain(self.shared.limits.max_drain_bytes);
        }
        drop(body);
        self.reclaim();
        if self
            .conn
            .as_ref()
            .is_some_and(|c| c.is_eof() && matches!(c.reading(), Reading::Closed))
        {
            // The peer closed its side in the middle of the request
            // (`Error::UnexpectedEof`): there is no request to answer, and
            // a 5xx here would let any client fake server errors.
            log::debug!(
                "{}: peer closed mid-request; closing without a response",
                self.peer
            );
            return Next::Close;
        }

        let head = req.head();
        let is_head = *req.method() == crate::Method::Head;
        // When the body was taken into the response, the state is lent and
        // cannot decide for itself: the client's own wish to close must
        // still be announced (`Connection: close`, never a keep-alive the
        // server will not honour).
        let force_close = panicked || !head.keep_alive;
        let outcome = write_response(
            &self.link,
            self.shared,
            resp,
            is_head,
            head.version,
            force_close,
            self.conn.as_deref_mut(),
        );
        self.reclaim();
        let client = req.client_addr().unwrap_or(self.peer);
        self.access_log(
            client,
            req.method().as_str(),
            req.target(),
            req.version().as_str(),
            &outcome,
            start,
        );

        let Some(conn) = self.conn.as_mut() else {
            log::debug!(
                "{}: request body was kept past the response; closing",
                self.peer
            );
            return Next::Close;
        };
        if !outcome.decided {
            // The state was lent during the head: decide now, at worst
            // closing a connection the response did not announce closing.
            // A body the response did not consume (a HEAD response drops
            // its stream) is drained first, as after any handler.
            if !conn.body_finished() {
                let limit = self.shared.limits.max_drain_bytes;
                let start = start.unwrap_or_else(Instant::now);
                super::wire::drain(conn, &self.link, &self.shared.timeouts, start, limit);
            }
            conn.decide_keep_alive(outcome.keep_alive);
        }
        // Whether the request was read to its end must be asked before
        // `finish_exchange`, which closes the state: unread body bytes mean
        // the close must linger, or they would turn it into a reset.
        // A response that failed to go out (a client that stopped reading
        // past the write timeout, a body stream that broke) has nothing
        // left to protect: lingering would only hold the worker longer.
        let request_read = matches!(conn.reading(), Reading::Responding);
        if conn.finish_exchange(outcome.result.is_ok()) {
            Next::KeepAlive
        } else if outcome.result.is_err() || request_read {
            Next::Close
        } else {
            Next::Linger
        }
    }

    /// Takes the connection state back from the slot a body returned it to.
    fn reclaim(&mut self) {
        if let (None, Some(slot)) = (&self.conn, &self.slot) {
            self.conn = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }

    /// Logs one access-log line: `client "METHOD target VERSION" status
    /// body-bytes duration`, with `via PROXY` when the client was resolved
    /// through a trusted proxy.
    fn access_log(
        &self,
        client: SocketAddr,
        method: &str,
        target: &str,
        version: &str,
        o: &Outcome,
        start: Option<Instant>,
    ) {
        let Some(start) = start.filter(|_| access_log_enabled()) else {
            return;
        };
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let status = o.status.as_u16();
        let via = if client == self.peer {
            String::new()
        } else {
            format!(" via {}", self.peer)
        };
        let aborted = match &o.result {
            Ok(()) => String::new(),
            Err(e) => format!(" (aborted: {e})"),
        };
        log::info!(
            target: "sockhttp::access",
            "{client}{via} \"{method} {target} {version}\" {status} {} {ms:.3}ms{aborted}",
            o.body_bytes
        );
    }

    /// Step 6: closes the connection, lingering if the peer may still be
    /// sending, so that our last response is not destroyed by a reset.
    fn close(self, linger: bool) {
        let stream = &self.link.stream;
        // Answers held back for a pipeline go out before the FIN.
        let _ = self.link.flush();
        let _ = stream.shutdown(Shutdown::Write);
        let peer_done = self.conn.as_deref().is_some_and(Conn::is_eof);
        if linger && !peer_done {
            let deadline = Instant::now() + LINGER_TIME;
            let mut scratch = [0u8; 4096];
            let mut total = 0;
            while total < LINGER_BYTES {
                let now = Instant::now();
                if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
                    break;
                }
                match (&*stream).read(&mut scratch) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        }
        // Dropping the stream closes it: no second `shutdown` (after the
        // peer's FIN it would only fail with ENOTCONN).
        log::trace!("{}: closed", self.peer);
    }
}

enum Next {
    KeepAlive,
    Close,
    Linger,
}

/// Reports whether access log lines are wanted (target `sockhttp::access`
/// at `info`).
fn access_log_enabled() -> bool {
    log::log_enabled!(target: "sockhttp::access", log::Level::Info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn accepted_sockets_get_nodelay_and_the_write_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(!accepted.nodelay().unwrap(), "off until configured");
        let timeouts = Timeouts {
            write: Duration::from_secs(7),
            ..Timeouts::default()
        };
        configure(&accepted, &timeouts).unwrap();
        assert!(accepted.nodelay().unwrap());
        assert_eq!(
            accepted.write_timeout().unwrap(),
            Some(Duration::from_secs(7))
        );
    }
}
