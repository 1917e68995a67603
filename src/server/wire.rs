//! The request body as it arrives on the socket.
//!
//! While a handler runs, the connection's protocol state ([`Conn`]) is
//! lent to the request's body: reading the body drives the state machine
//! and the socket directly, with the body deadline. When the body is
//! dropped (with the request, or after a response that streamed it, as
//! an echo does), the state goes back to the connection through a slot,
//! so the connection resumes exactly where the body left it, pipelined
//! bytes included.

use super::io::Link;
use crate::error::{Error, Phase, Result};
use crate::limits::Timeouts;
use crate::proto::conn::{Conn, Event};
use crate::request::WireSource;
use crate::types::Headers;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Slot is where a lent [`Conn`] comes back to.
pub(crate) type Slot = Arc<Mutex<Option<Box<Conn>>>>;

/// The bytes that tell a client waiting on `Expect: 100-continue` to send
/// its body.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// WireBody reads a request body from the connection it arrived on.
pub(crate) struct WireBody {
    conn: Option<Box<Conn>>,
    link: Arc<Link>,
    slot: Slot,
    timeouts: Timeouts,
    /// When the head was complete, or `100 Continue` was sent: the body
    /// deadline counts from here.
    start: Instant,
}

impl WireBody {
    pub(crate) fn new(
        conn: Box<Conn>,
        link: Arc<Link>,
        slot: Slot,
        timeouts: Timeouts,
    ) -> WireBody {
        WireBody {
            conn: Some(conn),
            link,
            slot,
            timeouts,
            start: Instant::now(),
        }
    }

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
    start: Instant,
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
                let deadline = start + timeouts.body_allowance(received);
                if link.read_into(conn, deadline, Phase::Body).is_err() {
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
                        self.link.write_all(&[CONTINUE])?;
                        // The client could not send before it was asked
                        // to: the body deadline counts from here, however
                        // long the handler took to start reading.
                        self.start = Instant::now();
                    }
                    let received = self.conn().body_decoder().map_or(0, |d| d.received());
                    let deadline = self.start + self.timeouts.body_allowance(received);
                    let link = Arc::clone(&self.link);
                    let result = link.read_into(self.conn(), deadline, Phase::Body);
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

    fn drain(&mut self, limit: u64) -> bool {
        let (link, timeouts, start) = (Arc::clone(&self.link), self.timeouts, self.start);
        drain(self.conn(), &link, &timeouts, start, limit)
    }
}

impl Drop for WireBody {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        }
    }
}
