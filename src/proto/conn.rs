//! The connection state machine: every rule about what may happen next on
//! one HTTP/1.1 connection lives here.
//!
//! [`Conn`] owns the read buffer and the reading state; it is fed bytes
//! (or end-of-stream) and asked for the next [`Event`]. The server writes
//! responses and tells `Conn` when one is finished, and `Conn` says
//! whether the connection goes on. Nothing here performs I/O, so a `Conn`
//! can be parked between requests, driven from a fuzzer, or unit tested
//! one byte at a time.
//!
//! The life of a request on a connection:
//! 1. `ReadingHead`: bytes accumulate until a complete head parses
//!    ([`Event::Head`]). An empty buffer here means the connection is idle.
//! 2. `ReadingBody`: the body decoder yields [`Event::Data`] until
//!    [`Event::End`]. A request without a body goes straight to 3.
//! 3. `Responding`: the request is read; the server writes the response.
//!    [`Event::Paused`] until [`Conn::finish_exchange`], which moves to 1
//!    (keep-alive; pipelined bytes already buffered are parsed next) or 4.
//! 4. `Closed`: after `Connection: close`, an error or end-of-stream.

use super::body::{BodyDecoder, Decoded};
use super::head::{RequestHead, limit_error, parse_head};
use super::{BodyKind, is_tchar};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::types::{Headers, Method, StatusCode, Version};
use bytes::{Bytes, BytesMut};

/// How many bytes the server reads from the socket at most at once.
pub const READ_CHUNK: usize = 16 * 1024;

/// How many bytes the first read of a request head takes: most heads are
/// smaller, and the space is allocated and zeroed for each read (the
/// buffer of an idle connection is given back). A longer head, or a
/// pipeline, is read on in `READ_CHUNK`s.
pub const FIRST_READ: usize = 4 * 1024;

/// Event is what [`Conn::next_event`] found in the bytes received so far.
#[derive(Debug)]
pub enum Event {
    /// A complete, validated request head.
    Head(Box<RequestHead>),
    /// A piece of the current request's body (never empty).
    Data(Bytes),
    /// The current request's body is complete (or it had none).
    End,
    /// More bytes are needed; see [`Conn::read_hint`].
    NeedData,
    /// The request is fully read; waiting for [`Conn::finish_exchange`].
    Paused,
    /// The connection is finished: the peer closed it between requests,
    /// or the last exchange closed it.
    Closed,
}

/// Reading is where the connection is in reading the peer's bytes.
#[derive(Clone, Debug)]
pub enum Reading {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Reading a request body.
    Body(BodyDecoder),
    /// The request is read; the response is being produced.
    Responding,
    /// No more requests will be read.
    Closed,
}

/// Writing is where the connection is in answering the current request,
/// beside where it is in reading it ([`Reading`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    /// No response head decided yet: nothing of an answer is under way,
    /// or the state was lent to a request body while the head left.
    Idle,
    /// A response is being written; its head announced whether the
    /// connection goes on.
    Response {
        /// What the head announced.
        keep_alive: bool,
    },
}

/// Continue is the state of an `Expect: 100-continue` exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continue {
    /// The client did not ask, or it has been dealt with.
    None,
    /// The client waits for `100 Continue` before sending the body.
    Pending,
    /// `100 Continue` was sent.
    Sent,
}

/// Conn is one HTTP/1.1 connection's protocol state: the read buffer and
/// where the connection is in the exchange.
///
/// # Examples
/// ```
/// use sockhttp::_internals::conn::{Conn, Event};
/// use sockhttp::Limits;
/// let mut conn = Conn::new(Limits::default());
/// conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
/// let Event::Head(head) = conn.next_event().unwrap() else { panic!() };
/// assert_eq!(head.path(), "/");
/// // No body: the request is complete, waiting for the response.
/// assert!(matches!(conn.next_event().unwrap(), Event::Paused));
/// assert!(conn.decide_keep_alive(true));
/// assert!(conn.finish_exchange(true)); // keep-alive: the pipelined request is next
/// let Event::Head(head) = conn.next_event().unwrap() else { panic!() };
/// assert_eq!(head.path(), "/2");
/// ```
#[derive(Debug)]
pub struct Conn {
    buf: BytesMut,
    reading: Reading,
    limits: Limits,
    /// Bytes of `buf` known to hold no line end (so no complete head):
    /// httparse is re-run only when a new LF arrives, which keeps a
    /// byte-at-a-time head linear instead of quadratic.
    scanned: usize,
    /// Length of the run of empty lines at the front of `buf` (see
    /// [`blank_lines`]).
    blank: usize,
    eof: bool,
    /// Whether the current exchange may be followed by another.
    keep_alive: bool,
    writing: Writing,
    expect: Continue,
    trailers: Headers,
    requests: u64,
    /// Whether the head the last error refused began `HEAD `.
    refused_head: bool,
}

impl Conn {
    /// Makes the state for a new connection, waiting for its first request.
    pub fn new(limits: Limits) -> Conn {
        Conn {
            buf: BytesMut::new(),
            reading: Reading::Head,
            limits,
            scanned: 0,
            blank: 0,
            eof: false,
            keep_alive: true,
            writing: Writing::Idle,
            expect: Continue::None,
            trailers: Headers::new(),
            requests: 0,
            refused_head: false,
        }
    }

    /// Returns the limits this connection enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Returns where the connection is.
    pub fn reading(&self) -> &Reading {
        &self.reading
    }

    /// Returns the number of bytes received and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Returns how many requests have started on this connection.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Reports whether the connection is between requests with nothing
    /// buffered: the moment it may be parked, or closed by a shutdown.
    pub fn is_idle(&self) -> bool {
        matches!(self.reading, Reading::Head) && self.buf.is_empty()
    }

    /// Reports whether a request head has started to arrive but is not
    /// complete (a timeout now is a 408, not a quiet close).
    pub fn is_mid_head(&self) -> bool {
        matches!(self.reading, Reading::Head) && !self.buf.is_empty()
    }

    /// Frees the read buffer's memory if it holds nothing, so a parked
    /// connection costs no buffer (a kept 16 KiB each would make 10,000
    /// idle connections cost 160 MiB). The next read allocates again.
    pub fn release_idle_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.scanned = 0;
            self.blank = 0;
        }
    }

    /// Returns how many bytes the connection wants to read now; 0 means
    /// "do not read" (a response is pending, or it is closed).
    pub fn read_hint(&self) -> usize {
        match self.reading {
            Reading::Head => {
                // Never buffer past the head limit (+1 to see it exceeded).
                let room = self.limits.max_head_bytes.saturating_add(1);
                let chunk = if self.buf.is_empty() {
                    FIRST_READ
                } else {
                    READ_CHUNK
                };
                room.saturating_sub(self.buf.len()).clamp(1, chunk)
            }
            Reading::Body(_) => READ_CHUNK,
            Reading::Responding | Reading::Closed => 0,
        }
    }

    /// Appends received bytes (a copy; see [`Conn::spare`] to read in place).
    pub fn receive(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns `n` bytes of writable space at the end of the buffer to
    /// read into; follow with [`Conn::filled`] to keep what was read.
    pub fn spare(&mut self, n: usize) -> &mut [u8] {
        let start = self.buf.len();
        self.buf.resize(start + n, 0);
        &mut self.buf[start..]
    }

    /// Keeps `n` bytes of the space handed out by [`Conn::spare`] (of
    /// size `asked`) and drops the rest.
    pub fn filled(&mut self, asked: usize, n: usize) {
        let len = self.buf.len() - asked + n.min(asked);
        self.buf.truncate(len);
    }

    /// Records that the peer closed its sending side.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Reports whether the peer has closed its sending side.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Returns the next event from the bytes received so far.
    ///
    /// # Errors
    /// Any error of [`parse_head`] or [`BodyDecoder::decode`], and
    /// [`Error::UnexpectedEof`] when the peer closes mid-request. After an
    /// error the connection is `Closed`.
    pub fn next_event(&mut self) -> Result<Event> {
        // Each error path of the step notes whether it refused a `HEAD`
        // request (see `Conn::is_head_request`).
        let result = self.step();
        if result.is_err() {
            self.close();
        }
        result
    }

    fn step(&mut self) -> Result<Event> {
        match &mut self.reading {
            Reading::Closed => Ok(Event::Closed),
            Reading::Responding => Ok(Event::Paused),
            Reading::Head => {
                if self.buf.is_empty() && self.eof {
                    self.reading = Reading::Closed;
                    return Ok(Event::Closed);
                }
                // Only re-parse when a line end arrived since last time.
                let new = &self.buf[self.scanned.min(self.buf.len())..];
                // A byte loop, not `contains` (memchr): the line end of a
                // request line is a few bytes in, and the library call's
                // set-up cost more than the search, on every request.
                #[allow(clippy::manual_contains)]
                let no_line_end = !new.iter().any(|&b| b == b'\n');
                if no_line_end {
                    self.scanned = self.buf.len();
                    self.check_incomplete_head()?;
                    return self.need_data();
                }
                // Empty lines before a request line (RFC 9112 §2.2 lets a
                // server ignore them; httparse skips them) are the only
                // lines no limit counts, so re-parsing at each would be
                // quadratic. While the buffer holds nothing else, httparse
                // could only say "need more".
                self.blank = blank_lines(&self.buf, self.blank);
                if self.blank == self.buf.len() || &self.buf[self.blank..] == b"\r" {
                    self.scanned = self.buf.len();
                    self.check_incomplete_head()?;
                    return self.need_data();
                }
                // Noted now: a refused head may be consumed by its parse.
                let head_request = self.buf[self.blank..].starts_with(b"HEAD ");
                let parsed = parse_head(&mut self.buf, &self.limits);
                if parsed.is_err() {
                    self.refused_head = head_request;
                }
                match parsed? {
                    None => {
                        self.scanned = self.buf.len();
                        self.need_data()
                    }
                    Some(head) => {
                        self.scanned = 0;
                        self.blank = 0;
                        self.requests += 1;
                        self.keep_alive = head.keep_alive;
                        self.trailers = Headers::new();
                        self.expect = Continue::None;
                        self.reading = match head.body {
                            BodyKind::Empty => Reading::Responding,
                            kind => {
                                if head.expect_continue && self.buf.is_empty() {
                                    self.expect = Continue::Pending;
                                }
                                Reading::Body(BodyDecoder::new(kind, &self.limits))
                            }
                        };
                        Ok(Event::Head(Box::new(head)))
                    }
                }
            }
            Reading::Body(dec) => match dec.decode(&mut self.buf)? {
                Decoded::Data(d) => {
                    self.expect = Continue::None;
                    Ok(Event::Data(d))
                }
                Decoded::End(trailers) => {
                    self.trailers = trailers;
                    self.expect = Continue::None;
                    self.reading = Reading::Responding;
                    Ok(Event::End)
                }
                Decoded::NeedData => self.need_data(),
            },
        }
    }

    /// Reports whether the request whose head is being read, or whose
    /// head the last error refused, is a `HEAD` request: an error response
    /// to it (a 408 for a head that never ended, a 413 for a declared
    /// length over the limit) must have no body (RFC 9112 §6.3).
    pub fn is_head_request(&self) -> bool {
        match self.reading {
            Reading::Head => {
                let start = blank_lines(&self.buf, self.blank.min(self.buf.len()));
                self.buf[start..].starts_with(b"HEAD ")
            }
            Reading::Closed => self.refused_head,
            Reading::Body(_) | Reading::Responding => false,
        }
    }

    /// A head that has not completed may already break a limit.
    fn check_incomplete_head(&mut self) -> Result<()> {
        // The same judgement as `parse_head`'s, so that whichever of the two
        // sees a limit first gives the same answer.
        match limit_error(&self.buf, self.buf.len(), &self.limits) {
            Some(e) => {
                self.refused_head = self.is_head_request();
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn need_data(&mut self) -> Result<Event> {
        if self.eof {
            // A head cut short may still have been a `HEAD` request's.
            self.refused_head = self.is_head_request();
            return Err(Error::UnexpectedEof);
        }
        Ok(Event::NeedData)
    }

    /// Returns true exactly once if the client is waiting for
    /// `100 Continue` and nothing of the body has arrived: the caller must
    /// then send `HTTP/1.1 100 Continue\r\n\r\n` before reading the body.
    pub fn take_continue(&mut self) -> bool {
        if self.expect == Continue::Pending && self.buf.is_empty() {
            self.expect = Continue::Sent;
            true
        } else {
            false
        }
    }

    /// Reports whether a `100 Continue` was expected and never sent, so the
    /// client may or may not send the body: the connection cannot be
    /// reused (Go closes it too).
    pub fn continue_unsent(&self) -> bool {
        self.expect == Continue::Pending
    }

    /// Returns the trailer fields of the last chunked body (empty until
    /// its end).
    pub fn trailers(&self) -> &Headers {
        &self.trailers
    }

    /// Reports whether the body of the current request has been read to
    /// its end (true for requests without a body).
    pub fn body_finished(&self) -> bool {
        !matches!(self.reading, Reading::Body(_))
    }

    /// Returns the body decoder of the current request, if it is unfinished.
    pub fn body_decoder(&self) -> Option<&BodyDecoder> {
        match &self.reading {
            Reading::Body(d) => Some(d),
            _ => None,
        }
    }

    /// Returns where the connection is in answering the current request.
    pub fn writing(&self) -> Writing {
        self.writing
    }

    /// Decides whether the response now being written may leave the
    /// connection open, and starts writing it: the client asked for it,
    /// the request's body was read to its end, no pending `100 Continue`
    /// was skipped, and the caller (`allow`) has no reason of its own to
    /// close (a handler's `Connection: close`, a shutdown, a
    /// close-delimited body). This is the one place the decision is made;
    /// [`Conn::finish_exchange`] carries it out. When the state was lent
    /// to a request body while the response head left, the server calls
    /// it once the state is back, with what the head announced.
    pub fn decide_keep_alive(&mut self, allow: bool) -> bool {
        self.keep_alive = self.keep_alive
            && allow
            && self.body_finished()
            && !self.continue_unsent()
            && !self.eof
            && !matches!(self.reading, Reading::Closed);
        self.writing = Writing::Response {
            keep_alive: self.keep_alive,
        };
        self.keep_alive
    }

    /// Ends the current exchange after its response was written
    /// completely (`ok`) or not. Returns true if the connection goes on
    /// to read the next request, which may already be buffered.
    pub fn finish_exchange(&mut self, ok: bool) -> bool {
        self.writing = Writing::Idle;
        if ok && self.keep_alive && matches!(self.reading, Reading::Responding) {
            self.reading = Reading::Head;
            self.scanned = 0;
            self.blank = 0;
            true
        } else {
            self.close();
            false
        }
    }

    /// Stops reading requests (after an error, or to shut down).
    pub fn close(&mut self) {
        self.reading = Reading::Closed;
        self.keep_alive = false;
    }

    /// Hands the connection over to another protocol, for a `101
    /// Switching Protocols` answer to `head` (RFC 9110 §7.8): returns the
    /// bytes received past the head, which are the new protocol's, and
    /// reads no more requests.
    ///
    /// Only a `GET` over HTTP/1.1 that lists `upgrade` in `Connection`
    /// and names a protocol in `Upgrade`, without a body, can switch:
    /// the bytes of a body would be taken for the new protocol's. Bytes
    /// that begin like a request (a method's token character) are a
    /// request pipelined behind the upgrade, which would never be
    /// answered: refused too. (A WebSocket client sends nothing before
    /// the `101`, RFC 6455 §4.1, and a frame's first byte is never a
    /// token character.)
    ///
    /// # Errors
    /// [`Error::Status`]-like errors with status 400 for each refusal;
    /// the connection is then closed.
    pub fn switch_protocols(&mut self, head: &RequestHead) -> Result<Bytes> {
        let refuse = |detail| Err(Error::with_status(StatusCode::BAD_REQUEST, detail));
        let checked = if head.method != Method::Get {
            refuse("only GET can be upgraded")
        } else if head.version != Version::Http11 {
            refuse("only HTTP/1.1 can be upgraded")
        } else if !head.headers.has_token("connection", "upgrade")
            || !head.headers.contains("upgrade")
        {
            refuse("upgrade without Connection: upgrade and Upgrade")
        } else if !matches!(head.body, BodyKind::Empty) || !self.body_finished() {
            refuse("a request with a body cannot be upgraded")
        } else if self.buf.first().is_some_and(|&b| is_tchar(b)) {
            refuse("a request pipelined behind an upgrade")
        } else {
            Ok(self.buf.split().freeze())
        };
        self.close();
        checked
    }
}

/// Extends `n`, the length of a run of empty lines (CRLF or a bare LF) at
/// the front of `buf`, over the bytes that arrived since it was measured.
fn blank_lines(buf: &[u8], mut n: usize) -> usize {
    loop {
        match buf.get(n..).unwrap_or_default() {
            [b'\n', ..] => n += 1,
            [b'\r', b'\n', ..] => n += 2,
            _ => return n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(input: &[u8], step: usize) -> Vec<std::result::Result<String, u16>> {
        let mut conn = Conn::new(Limits::default());
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match conn.next_event() {
                Ok(Event::Head(h)) => out.push(Ok(format!("{} {}", h.method, h.target))),
                Ok(Event::Data(_)) | Ok(Event::End) => {}
                Ok(Event::Paused) => {
                    conn.decide_keep_alive(true);
                    conn.finish_exchange(true);
                }
                Ok(Event::NeedData) => {
                    if fed == input.len() {
                        conn.receive_eof();
                        continue;
                    }
                    let n = step.min(input.len() - fed);
                    conn.receive(&input[fed..fed + n]);
                    fed += n;
                }
                Ok(Event::Closed) => return out,
                Err(e) => {
                    out.push(Err(e.status().map_or(0, |s| s.as_u16())));
                    return out;
                }
            }
        }
    }

    #[test]
    fn pipelined_requests_come_out_in_order_at_every_split() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\n\r\n";
        let want: Vec<_> = ["GET /a", "POST /b", "PUT /c", "GET /d"]
            .iter()
            .map(|s| Ok(s.to_string()))
            .collect();
        for step in 1..=input.len() {
            assert_eq!(heads(input, step), want, "step {step}");
        }
    }

    #[test]
    fn connection_close_stops_reading() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(heads(input, input.len()), vec![Ok("GET /a".to_string())]);
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let input = b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
        assert_eq!(heads(input, 7).len(), 1);
        let input = b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
        assert_eq!(heads(input, 7).len(), 2);
    }

    #[test]
    fn eof_mid_head_is_unexpected_eof() {
        assert_eq!(heads(b"GET / HTTP/1.1\r\nHo", 4), vec![Err(0)]);
    }

    #[test]
    fn buffer_never_grows_past_the_head_limit() {
        let limits = Limits::default();
        let mut conn = Conn::new(limits);
        let mut sent = 0;
        loop {
            let n = conn.read_hint();
            assert!(conn.buffered() <= limits.max_head_bytes + 1);
            let space = conn.spare(n);
            space.fill(b'a');
            conn.filled(n, n);
            sent += n;
            match conn.next_event() {
                Ok(Event::NeedData) => assert!(sent < 10 * limits.max_head_bytes),
                Err(e) => {
                    assert!(matches!(e, Error::UriTooLong));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn expect_continue_is_pending_until_taken() {
        let mut conn = Conn::new(Limits::default());
        conn.receive(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        );
        assert!(matches!(conn.next_event(), Ok(Event::Head(_))));
        assert!(conn.continue_unsent());
        assert!(conn.take_continue());
        assert!(!conn.take_continue());
        assert!(!conn.continue_unsent());
    }

    #[test]
    fn refused_head_requests_are_known_to_be_head_requests() {
        for (input, want) in [
            (
                &b"\r\nHEAD / HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..],
                true,
            ),
            (b"HEAD / HTTP/1.1\r\nHost: x\r\nExpect: y\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", false),
            (b"HEADER / HTTP/1.1\r\n\r\n", false),
        ] {
            let mut conn = Conn::new(Limits::default());
            conn.receive(input);
            assert!(conn.next_event().is_err(), "{input:?}");
            assert_eq!(conn.is_head_request(), want, "{input:?}");
        }
        // A request line over its limit, not even complete.
        let mut conn = Conn::new(Limits::default());
        conn.receive(format!("HEAD /{}", "a".repeat(9000)).as_bytes());
        assert!(matches!(conn.next_event(), Err(Error::UriTooLong)));
        assert!(conn.is_head_request());
        // A head still arriving (about to time out, say).
        let mut conn = Conn::new(Limits::default());
        conn.receive(b"\r\nHEAD / HTTP/1.1\r\nHo");
        assert!(matches!(conn.next_event(), Ok(Event::NeedData)));
        assert!(conn.is_head_request());
        // A served HEAD request does not make the next error bodiless.
        let mut conn = Conn::new(Limits::default());
        conn.receive(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert!(matches!(conn.next_event(), Ok(Event::Head(_))));
        assert!(!conn.is_head_request());
        assert!(matches!(conn.next_event(), Ok(Event::Paused)));
        conn.decide_keep_alive(true);
        assert!(conn.finish_exchange(true));
        assert!(conn.next_event().is_err(), "no Host");
        assert!(!conn.is_head_request());
    }

    #[test]
    fn the_writing_state_follows_the_response() {
        let mut conn = Conn::new(Limits::default());
        conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(matches!(conn.next_event(), Ok(Event::Head(_))));
        assert_eq!(conn.writing(), Writing::Idle, "no head decided yet");
        assert!(conn.decide_keep_alive(true));
        assert_eq!(conn.writing(), Writing::Response { keep_alive: true });
        assert!(conn.finish_exchange(true));
        assert_eq!(conn.writing(), Writing::Idle);
        // The client's own close is announced, whatever the caller allows.
        assert!(matches!(conn.next_event(), Ok(Event::Head(_))));
        assert!(!conn.decide_keep_alive(true));
        assert_eq!(conn.writing(), Writing::Response { keep_alive: false });
        assert!(!conn.finish_exchange(true));
    }

    #[test]
    fn unread_body_prevents_keep_alive() {
        let mut conn = Conn::new(Limits::default());
        conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n");
        assert!(matches!(conn.next_event(), Ok(Event::Head(_))));
        assert!(!conn.decide_keep_alive(true));
        assert!(!conn.finish_exchange(true));
    }
}
