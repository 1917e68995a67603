//! The request body as it arrives on the socket.
//!
//! A small body is read before the handler runs, while the connection is
//! parked ([`Prebuffered`]): the handler reads it from memory and never
//! waits on the peer. A larger one streams to the handler
//! ([`WireBody`]): while the handler runs, the connection's protocol state ([`Conn`]) is
//! lent to the request's body: reading the body drives the state machine
//! and the socket directly, with the body deadline. When the body is
//! dropped (with the request, or after a response that streamed it, as
//! an echo does), the state goes back to the connection through a slot,
//! so the connection resumes exactly where the body left it, pipelined
//! bytes included.

use super::clock::{coarse_ms, millis};
use super::link::Link;
use super::outbound::Part;
use crate::error::{Error, Phase, Result};
use crate::limits::Timeouts;
use crate::proto::conn::{Conn, Event};
use crate::request::WireSource;
use crate::types::Headers;
use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// Slot is where a lent [`Conn`] comes back to.
type Slot = Arc<Mutex<Option<Box<Conn>>>>;

/// Lease lends a connection's protocol state to a request body that
/// streams from the socket, and takes it back once the body is dropped
/// (with the request, or after a response that streamed it): the one way
/// the state leaves its connection and comes home.
#[derive(Default)]
pub(crate) struct Lease(Option<Slot>);

impl Lease {
    /// Lends `conn` to a body whose first `prefix` bytes were read already,
    /// since `start` (on the coarse clock).
    pub(crate) fn lend(
        &mut self,
        conn: Box<Conn>,
        link: Arc<Link>,
        timeouts: Timeouts,
        start: u64,
        prefix: Bytes,
    ) -> WireBody {
        // Made for the first body lent, and kept for the next.
        let slot = Arc::clone(self.0.get_or_insert_with(Slot::default));
        WireBody {
            conn: Some(conn),
            link,
            slot,
            timeouts,
            start,
            prefix: (!prefix.is_empty()).then_some(prefix),
        }
    }

    /// Takes the state back, if the body has given it back.
    pub(crate) fn take_back(&self) -> Option<Box<Conn>> {
        self.0
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// The bytes that tell a client waiting on `Expect: 100-continue` to send
/// its body.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// WireBody reads a request body from the connection it arrived on.
pub(crate) struct WireBody {
    conn: Option<Box<Conn>>,
    link: Arc<Link>,
    slot: Slot,
    /// The server's, or those the handler set for its request.
    timeouts: Timeouts,
    /// When the head was complete, or `100 Continue` was sent, on the
    /// coarse clock: the body deadline counts from here.
    start: u64,
    /// Body bytes read before the handler ran, handed out first.
    prefix: Option<Bytes>,
}

impl WireBody {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("WireBody holds its Conn until dropped")
    }
}

/// Reads and discards the rest of a body, at most `limit` bytes, without
/// sending `100 Continue` (a client still waiting for it has not sent the
/// body). Returns true if the body ended, so the connection can go on.
pub(crate) fn drain(
    conn: &mut Conn,
    link: &Link,
    timeouts: &Timeouts,
    start: u64,
    limit: u64,
) -> bool {
    if conn.continue_unsent() {
        return false;
    }
    let mut drained: u64 = 0;
    loop {
        match conn.next_event() {
            Ok(Event::Data(d)) => {
                drained += d.len() as u64;
                if drained > limit {
                    return false;
                }
            }
            Ok(Event::End | Event::Paused) => return true,
            Ok(Event::NeedData) => {
                if let Some(left) = conn.body_decoder().and_then(|d| d.remaining()) {
                    if drained.saturating_add(left) > limit {
                        return false;
                    }
                }
                let received = conn.body_decoder().map_or(0, |d| d.received());
                let deadline = body_deadline(timeouts, start, received);
                if link.read_waiting(conn, deadline, Phase::Body).is_err() {
                    conn.close();
                    return false;
                }
            }
            Ok(Event::Head(_) | Event::Closed) | Err(_) => return false,
        }
    }
}

impl WireSource for WireBody {
    fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if let Some(prefix) = self.prefix.take() {
            return Ok(Some(prefix));
        }
        loop {
            let event = self.conn().next_event()?;
            match event {
                Event::Data(d) => return Ok(Some(d)),
                Event::End | Event::Paused | Event::Closed => return Ok(None),
                Event::Head(_) => {
                    // Conn never yields a head while a body is being read.
                    return Err(Error::Malformed("unexpected request head in body"));
                }
                Event::NeedData => {
                    if self.conn().take_continue() {
                        self.link.send(&[Part::Copy(CONTINUE)], false)?;
                        // The connection holds a streaming permit already.
                        self.link.push_waiting(&self.timeouts, None)?;
                        // The client could not send before it was asked
                        // to: the body deadline counts from here, however
                        // long the handler took to start reading.
                        self.start = coarse_ms();
                    }
                    let received = self.conn().body_decoder().map_or(0, |d| d.received());
                    let deadline = body_deadline(&self.timeouts, self.start, received);
                    let link = Arc::clone(&self.link);
                    let result = link.read_waiting(self.conn(), deadline, Phase::Body);
                    if let Err(e) = result {
                        self.conn().close();
                        return Err(e);
                    }
                }
            }
        }
    }

    fn trailers(&self) -> Headers {
        self.conn
            .as_ref()
            .map(|c| c.trailers().clone())
            .unwrap_or_default()
    }

    fn set_timeouts(&mut self, timeouts: &Timeouts) {
        // Each read computes its deadline from these: the rest of the
        // body goes under the handler's timeouts, still counted from the
        // end of the head (or the `100 Continue`).
        self.timeouts = *timeouts;
    }

    fn drain(&mut self, limit: u64) -> bool {
        let (link, timeouts, start) = (Arc::clone(&self.link), self.timeouts, self.start);
        let prefix = self.prefix.take().map_or(0, |p| p.len() as u64);
        drain(
            self.conn(),
            &link,
            &timeouts,
            start,
            limit.saturating_sub(prefix),
        )
    }
}

impl Drop for WireBody {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        }
    }
}

/// Returns when a body that began arriving at `start` (on the coarse
/// clock) must have delivered more than `received` bytes: the body
/// timeout, plus a second for every `body_min_bytes_per_sec` bytes.
pub(crate) fn body_deadline(timeouts: &Timeouts, start: u64, received: u64) -> u64 {
    start.saturating_add(millis(timeouts.body_allowance(received)))
}

/// Prebuffered is a body read whole before the handler ran.
pub(crate) struct Prebuffered {
    body: Option<Bytes>,
    trailers: Headers,
}

impl Prebuffered {
    pub(crate) fn new(body: Bytes, trailers: Headers) -> Prebuffered {
        Prebuffered {
            body: (!body.is_empty()).then_some(body),
            trailers,
        }
    }
}

impl WireSource for Prebuffered {
    fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        Ok(self.body.take())
    }

    fn trailers(&self) -> Headers {
        self.trailers.clone()
    }

    fn drain(&mut self, _limit: u64) -> bool {
        self.body = None;
        true
    }
}
