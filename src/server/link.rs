//! One accepted socket: reads, writes, and the output that waits for the
//! peer.
//!
//! A [`Link`] is shared (`Arc`) by the worker serving the connection, a
//! request body being read by a handler, and the shutdown logic. It works
//! in one of two modes, chosen once per server with the parker:
//! - **non-blocking** (the epoll parker): the socket is `O_NONBLOCK`. A
//!   read that finds nothing returns [`Filled::WouldBlock`] and the
//!   connection parks; output the socket does not take at once waits in
//!   the link's [`Outbound`] queue while the connection parks until the
//!   socket is writable. Only a handler that chose to stream (reading a
//!   large body, writing a `Body::Reader` or `Body::Writer`) waits on the
//!   socket, in `poll(2)`, under the same deadlines.
//! - **blocking** (the fallback): reads and writes block, bounded by
//!   `SO_RCVTIMEO` (set to what is left of the deadline before each read)
//!   and `SO_SNDTIMEO` (the write timeout). `std` offers only a per-read
//!   timeout, which a client sending a byte a second resets forever; a
//!   read that times out early is retried until the deadline passes.
//!
//! This module decides nothing about HTTP: it moves bytes and reports
//! what happened.

use super::clock::{coarse_ms, millis, until};
use super::config::Permits;
use super::outbound::{FileRange, Outbound, Part, Sink, send_file_now, write_now};
use super::socket::Socket;
use super::stats::{self, timed_out};
#[cfg(feature = "tls")]
use super::tls::{Handshake, TlsStream};
use crate::error::{Error, Phase, Result};
use crate::limits::Timeouts;
use crate::proto::conn::{Conn, Reading};
use crate::response::Segment;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest bytes of a segmented body copied into the queue rather
/// than kept by reference (as the writer copies a small body behind its
/// head).
const COPIED_SEGMENT_MAX: usize = 4 * 1024;

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const CLOSED: u8 = 2;
/// Upgraded to a WebSocket session, which the server still serves.
const SESSION: u8 = 3;
/// Upgraded and handed over to a function that owns it.
const TAKEN: u8 = 4;

/// Link is an accepted socket and its pending output.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) stream: Socket,
    /// Whether the socket is non-blocking (see the module docs).
    nonblocking: bool,
    /// Who owns the connection between requests: [`BUSY`] while a
    /// request is being served, [`IDLE`] while it waits for the next one
    /// (blocked on, or parked), [`CLOSED`] once a shutdown has claimed it.
    /// The worker and the shutdown each claim an idle connection with a
    /// compare-and-swap, so exactly one of them wins: either the request
    /// that just arrived is served, or the shutdown closes the connection
    /// and that request is never run (a proxy may then retry it safely).
    state: AtomicU8,
    /// The read timeout last set on a blocking socket, in microseconds
    /// (0: none).
    read_timeout_us: AtomicU64,
    /// Output not yet taken by the socket, or held back for a pipeline.
    out: Mutex<Outbound>,
    /// Whether `out` has bytes: the common path takes no lock.
    has_out: AtomicBool,
    /// Whether the socket is in the parker's epoll set (it stays there
    /// until closed), and whether it is registered for writability too.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) registered: AtomicBool,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) registered_out: AtomicBool,
    /// Whether the parker saw the peer close its side (or the socket
    /// fail): no edge will report its end of stream again.
    peer_closed: AtomicBool,
    /// Whether the worker serving the connection holds a streaming permit.
    holds_permit: AtomicBool,
    /// Whether the last read filled all the space it was given: more
    /// bytes may be waiting, which an edge-triggered poller would not
    /// report again.
    full_read: AtomicBool,
    /// The TLS session over the socket, if the server speaks TLS: every
    /// read and write goes through it, but for the plain-HTTP answer to a
    /// client that sent no handshake ([`Link::write_raw`]).
    #[cfg(feature = "tls")]
    tls: Option<Box<TlsStream>>,
}

/// Got is what one read of an upgraded connection found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// Bytes arrived.
    Data,
    /// The peer closed its side.
    Eof,
    /// Nothing yet: the socket would block (non-blocking mode), or the
    /// deadline passed (blocking mode).
    Nothing,
}

/// Filled is what one read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filled {
    /// Bytes arrived, or the end of the stream (recorded in the `Conn`).
    Data,
    /// Nothing yet (non-blocking mode): park until readable.
    WouldBlock,
}

impl Link {
    /// Wraps an accepted socket; `nonblocking` makes it `O_NONBLOCK`.
    ///
    /// # Errors
    /// The socket refused the mode.
    pub(crate) fn new(stream: Socket, nonblocking: bool) -> io::Result<Link> {
        if nonblocking {
            stream.set_nonblocking(true)?;
        }
        Ok(Link {
            stream,
            nonblocking,
            state: AtomicU8::new(BUSY),
            read_timeout_us: AtomicU64::new(0),
            out: Mutex::new(Outbound::default()),
            has_out: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            registered_out: AtomicBool::new(false),
            full_read: AtomicBool::new(false),
            holds_permit: AtomicBool::new(false),
            peer_closed: AtomicBool::new(false),
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Makes every read and write of the link go through `tls`.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(mut self, tls: TlsStream) -> Link {
        self.tls = Some(Box::new(tls));
        self
    }

    /// Reports whether the connection speaks TLS.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Returns where output goes.
    fn sink(&self) -> Sink<'_> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Sink::Tls(&self.stream, tls);
        }
        Sink::Plain(&self.stream)
    }

    /// Reports whether output waits inside the TLS session (encrypted,
    /// not yet taken by the socket).
    fn tls_pending(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.as_ref().is_some_and(|t| t.has_pending_output());
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Reads once: plaintext, through the TLS session if there is one.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_on(&mut &self.stream, buf)
    }

    /// Reads once from `sock` (the link's socket, as it is or wrapped):
    /// plaintext, through the TLS session if there is one.
    fn recv_on<S: Read + std::io::Write>(&self, sock: &mut S, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.read(sock, buf);
        }
        sock.read(buf)
    }

    /// Moves the TLS handshake on as far as it goes without waiting (a
    /// blocking socket: until its read timeout).
    ///
    /// # Errors
    /// As [`TlsStream::handshake`].
    #[cfg(feature = "tls")]
    pub(crate) fn handshake(&self) -> io::Result<Handshake> {
        match &self.tls {
            Some(tls) => tls.handshake(&mut &self.stream),
            None => Ok(Handshake::Done),
        }
    }

    /// Sets the read timeout of a blocking socket to what is left until
    /// `deadline` (coarse clock); false when nothing is left.
    #[cfg(feature = "tls")]
    pub(crate) fn read_until(&self, deadline: u64) -> io::Result<bool> {
        if self.nonblocking {
            return Ok(coarse_ms() < deadline);
        }
        let left = deadline.saturating_sub(coarse_ms());
        if left == 0 {
            return Ok(false);
        }
        self.set_read_timeout(Duration::from_millis(left))?;
        Ok(true)
    }

    /// Marks output waiting inside the TLS session (a handshake reply the
    /// socket did not take): the connection parks until writable, and
    /// [`Link::push`] sends it, under the send deadline.
    #[cfg(feature = "tls")]
    pub(crate) fn hold_tls_output(&self) {
        let mut out = self.out();
        out.queue_rest(&[], 0);
        out.mark_blocked();
        self.has_out.store(true, Ordering::Relaxed);
    }

    /// Writes `bytes` to the socket itself, once, as far as it takes them:
    /// a plain answer on a TLS port.
    #[cfg(feature = "tls")]
    pub(crate) fn write_raw(&self, bytes: &[u8]) {
        use std::io::Write;
        let _ = (&self.stream).write(bytes);
    }

    /// Shuts the socket down; a TLS session first says `close_notify`
    /// when our side stops writing. When another thread is using the
    /// session (a worker blocked in a read, without epoll), only the
    /// reading side is shut: the read ends, and that thread closes the
    /// connection, `close_notify` first.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) {
        #[cfg(feature = "tls")]
        if let (Some(tls), std::net::Shutdown::Write | std::net::Shutdown::Both) = (&self.tls, how)
        {
            if !tls.close_notify(&mut &self.stream) {
                let _ = self.stream.shutdown(std::net::Shutdown::Read);
                return;
            }
        }
        let _ = self.stream.shutdown(how);
    }

    /// Sets the options every accepted socket gets once: `TCP_NODELAY`, so
    /// a small response leaves at once instead of waiting for the peer's
    /// delayed ACK (Nagle), and, on a blocking socket, `SO_SNDTIMEO`, so a
    /// client that stops reading frees its worker.
    pub(crate) fn configure(&self, timeouts: &Timeouts) -> io::Result<()> {
        if let Err(e) = self.stream.set_nodelay(true) {
            log::debug!("set_nodelay: {e}");
        }
        if self.nonblocking {
            return Ok(());
        }
        self.stream.set_write_timeout(Some(timeouts.write))
    }

    /// Sets how long a blocking socket's write may make no progress
    /// (`SO_SNDTIMEO`): for a response sent under timeouts of its own,
    /// and back to the server's after it. A non-blocking socket has
    /// nothing to set: its waits take their deadline from the timeouts
    /// they are given ([`Link::send_deadline`]).
    pub(crate) fn set_write_timeout(&self, write: Duration) -> io::Result<()> {
        if self.nonblocking {
            return Ok(());
        }
        // A zero timeout would mean none at all (and `std` refuses it).
        self.stream
            .set_write_timeout(Some(write.max(Duration::from_millis(1))))
    }

    /// Reports whether more input may wait that the poller will not
    /// report: the last read filled its buffer (more may wait in the
    /// socket), or the TLS session holds some.
    pub(crate) fn may_have_more(&self) -> bool {
        self.full_read.load(Ordering::Relaxed) || self.tls_buffered()
    }

    /// Reports whether input may wait inside the TLS session, where the
    /// poller cannot see it.
    pub(crate) fn tls_buffered(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.as_ref().is_some_and(|t| t.has_buffered_input());
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Records that the parker saw the peer close its side.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn mark_peer_closed(&self) {
        self.peer_closed.store(true, Ordering::Relaxed);
    }

    /// Reports whether the parker saw the peer close its side.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed.load(Ordering::Relaxed)
    }

    /// Reports whether output waits because the socket refused it (not
    /// merely held back for a pipeline).
    pub(crate) fn is_blocked(&self) -> bool {
        self.has_output() && self.out().is_blocked()
    }

    /// Marks the connection idle: waiting for its next request.
    pub(crate) fn mark_idle(&self) {
        self.state.store(IDLE, Ordering::SeqCst);
    }

    /// Claims an idle connection for the request that arrived on it;
    /// false if a shutdown claimed it first (then the request must not
    /// run).
    pub(crate) fn claim(&self) -> bool {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            || self.state.load(Ordering::SeqCst) == BUSY
    }

    /// Marks the connection upgraded (a `101` went): to a WebSocket
    /// session the server serves (`session`), or handed over. It is never
    /// idle again, so a shutdown does not close it as such.
    pub(crate) fn mark_upgraded(&self, session: bool) {
        let state = if session { SESSION } else { TAKEN };
        self.state.store(state, Ordering::SeqCst);
    }

    /// Returns whether the connection was upgraded: `Some(true)` to a
    /// session the server serves, `Some(false)` handed over.
    pub(crate) fn upgraded(&self) -> Option<bool> {
        match self.state.load(Ordering::SeqCst) {
            SESSION => Some(true),
            TAKEN => Some(false),
            _ => None,
        }
    }

    /// Shuts an idle connection down for a graceful shutdown; a
    /// connection serving a request is left to finish it.
    pub(crate) fn close_if_idle(&self) {
        if self
            .state
            .compare_exchange(IDLE, CLOSED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Reads what `conn` wants into its buffer. On a non-blocking socket
    /// this never waits ([`Filled::WouldBlock`]); on a blocking one it
    /// waits at most until `deadline` (on the coarse clock). Output still
    /// queued is pushed first: the client may be waiting for it before it
    /// sends more.
    ///
    /// # Errors
    /// [`Error::Timeout`] with `phase` at the deadline (blocking mode);
    /// [`Error::Io`] if the socket fails.
    pub(crate) fn read(&self, conn: &mut Conn, deadline: u64, phase: Phase) -> Result<Filled> {
        let want = conn.read_hint();
        if want == 0 {
            return Ok(Filled::Data);
        }
        if self.has_output() {
            self.push()?;
        }
        loop {
            if !self.nonblocking {
                let left = deadline.saturating_sub(coarse_ms());
                if left == 0 {
                    return Err(timed_out(phase));
                }
                self.set_read_timeout(Duration::from_millis(left))?;
            }
            match self.read_once(conn, want, |buf| self.recv(buf)) {
                Ok(n) => {
                    log::trace!("read {n} bytes");
                    return Ok(Filled::Data);
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock if self.nonblocking => return Ok(Filled::WouldBlock),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {}
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(Error::Io(e)),
                },
            }
        }
    }

    /// Reads what `conn` wants, waiting for the peer until `deadline`
    /// whatever the mode: for a handler that reads a body as a stream.
    ///
    /// # Errors
    /// As [`Link::read`].
    pub(crate) fn read_waiting(&self, conn: &mut Conn, deadline: u64, phase: Phase) -> Result<()> {
        loop {
            match self.read(conn, deadline, phase)? {
                Filled::Data => return Ok(()),
                Filled::WouldBlock => self.wait(false, deadline, phase)?,
            }
        }
    }

    /// Sets `SO_RCVTIMEO` to about `remaining` unless the value already
    /// set is close enough (within 10% below, or 10 ms above).
    fn set_read_timeout(&self, remaining: Duration) -> io::Result<()> {
        let want = remaining.max(Duration::from_millis(1));
        let want_us = want.as_micros().min(u128::from(u64::MAX)) as u64;
        let have = self.read_timeout_us.load(Ordering::Relaxed);
        if have != 0 && have <= want_us + 10_000 && have >= want_us - want_us / 10 {
            return Ok(());
        }
        self.stream.set_read_timeout(Some(want))?;
        self.read_timeout_us.store(want_us, Ordering::Relaxed);
        Ok(())
    }

    /// Waits in `poll(2)` until the socket is readable (or writable, with
    /// `write`) or `deadline` passes. Only a non-blocking socket waits
    /// here; a blocking one waits in the read or write itself.
    ///
    /// # Errors
    /// [`Error::Timeout`] with `phase` at the deadline.
    fn wait(&self, write: bool, deadline: u64, phase: Phase) -> Result<()> {
        if coarse_ms() >= deadline {
            return Err(timed_out(phase));
        }
        #[cfg(target_os = "linux")]
        {
            use rustix::event::{PollFd, PollFlags, poll};
            let flags = if write { PollFlags::OUT } else { PollFlags::IN };
            let left = until(deadline);
            let timeout = rustix::event::Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(&self.stream, flags)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
                Err(e) => Err(Error::Io(e.into())),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (write, until(deadline));
            Ok(())
        }
    }

    /// Reads what has arrived into `buf`, for a connection that speaks
    /// another protocol now (a WebSocket session): at most
    /// [`SCRATCH_LEN`] bytes, through the per-thread scratch buffer, so a
    /// parked session holds no empty buffer. A blocking socket waits
    /// until `deadline` (coarse clock) at most.
    ///
    /// # Errors
    /// [`Error::Io`] if the socket fails.
    pub(crate) fn read_into(&self, buf: &mut bytes::BytesMut, deadline: u64) -> Result<Got> {
        loop {
            if !self.nonblocking {
                let left = deadline.saturating_sub(coarse_ms());
                if left == 0 {
                    return Ok(Got::Nothing);
                }
                self.set_read_timeout(Duration::from_millis(left))?;
            }
            let got = SCRATCH.with_borrow_mut(|scratch| {
                let got = self.recv(&mut scratch[..]);
                if let Ok(n) = got {
                    stats::received(n);
                    buf.extend_from_slice(&scratch[..n]);
                }
                got
            });
            self.full_read
                .store(matches!(got, Ok(SCRATCH_LEN)), Ordering::Relaxed);
            match got {
                Ok(0) => return Ok(Got::Eof),
                Ok(_) => return Ok(Got::Data),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock if self.nonblocking => return Ok(Got::Nothing),
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {}
                    _ => return Err(Error::Io(e)),
                },
            }
        }
    }

    /// Reads without blocking, whatever the mode: true if bytes or the
    /// end of stream were already there (an idle connection past its
    /// deadline, or at a shutdown: a request already sent is served).
    pub(crate) fn read_ready(&self, conn: &mut Conn) -> bool {
        if self.push().is_err() {
            return false;
        }
        let want = conn.read_hint().max(1);
        self.read_once(conn, want, |buf| self.read_nonblocking(buf))
            .is_ok()
    }

    /// Reads at most `want` bytes for `conn` with `read`: keeps them,
    /// records the end of stream, and notes whether the read filled its
    /// space (more may be waiting).
    fn read_once(
        &self,
        conn: &mut Conn,
        want: usize,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let got = read_for(conn, want, read);
        if let Ok(n) = got {
            stats::received(n);
        }
        self.full_read
            .store(matches!(got, Ok(n) if n == want), Ordering::Relaxed);
        if let Ok(0) = got {
            conn.receive_eof();
        }
        got
    }

    /// Reads and discards what is already waiting, without blocking;
    /// returns how many bytes, and whether the peer's end of stream (or an
    /// error) was seen.
    pub(crate) fn discard_ready(&self, limit: usize) -> (usize, bool) {
        let mut scratch = [0u8; 4096];
        let mut total = 0;
        while total < limit {
            match self.read_nonblocking(&mut scratch) {
                Ok(0) => return (total, true),
                Ok(n) => {
                    stats::received(n);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (total, e.kind() != io::ErrorKind::WouldBlock),
            }
        }
        (total, false)
    }

    /// Reads and discards what the peer sends until it closes, `limit`
    /// bytes, or `deadline`, blocking: the lingering close of a blocking
    /// socket.
    pub(crate) fn discard_waiting(&self, limit: usize, deadline: u64) {
        let mut scratch = [0u8; 4096];
        let mut total = 0;
        while total < limit {
            let left = deadline.saturating_sub(coarse_ms());
            if left == 0
                || self
                    .stream
                    .set_read_timeout(Some(Duration::from_millis(left)))
                    .is_err()
            {
                return;
            }
            match self.recv(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    stats::received(n);
                    total += n;
                }
            }
        }
    }

    /// Reports whether the socket is non-blocking (parked connections).
    pub(crate) fn is_nonblocking(&self) -> bool {
        self.nonblocking
    }

    /// One read that does not block, whatever the mode.
    fn read_nonblocking(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.nonblocking {
            return self.recv(buf);
        }
        #[cfg(target_os = "linux")]
        {
            self.recv_on(&mut DontWait(&self.stream), buf)
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.stream.set_nonblocking(true)?;
            let got = self.recv(buf);
            self.stream.set_nonblocking(false)?;
            got
        }
    }

    /// Reports whether bytes (or end-of-stream) are waiting to be read,
    /// without consuming them.
    #[cfg(target_os = "linux")]
    pub(crate) fn has_bytes(&self) -> bool {
        use rustix::net::{RecvFlags, recv};
        let mut one = [0u8; 1];
        recv(
            &self.stream,
            &mut one,
            RecvFlags::DONTWAIT | RecvFlags::PEEK,
        )
        .is_ok()
            || self.tls_buffered()
    }

    /// Reports whether output waits for the socket.
    pub(crate) fn has_output(&self) -> bool {
        self.has_out.load(Ordering::Relaxed)
    }

    fn out(&self) -> std::sync::MutexGuard<'_, Outbound> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `parts` (a response, or a piece of one). With `hold`, they
    /// are held back, if they fit, to leave with the answers of the
    /// requests pipelined behind (sent when the connection next reads,
    /// parks or closes). Otherwise they go after what is queued, as far
    /// as the socket takes them now; a non-blocking socket queues the
    /// rest (see [`Link::push`]).
    ///
    /// # Errors
    /// [`Error::Timeout`]`(Write)` when a blocking write makes no progress
    /// in time; [`Error::Io`] when the peer is gone.
    pub(crate) fn send(&self, parts: &[Part<'_>], hold: bool) -> Result<()> {
        if !self.has_output() && !hold {
            // The common case: straight to the socket, nothing queued.
            let sent = write_now(self.sink(), parts, self.nonblocking)?;
            let total: usize = parts.iter().map(Part::len).sum();
            if sent < total || self.tls_pending() {
                let mut out = self.out();
                out.queue_rest(parts, sent);
                out.mark_blocked();
                self.has_out.store(true, Ordering::Relaxed);
            }
            return Ok(());
        }
        let mut out = self.out();
        if hold && out.hold(parts) {
            self.has_out.store(true, Ordering::Relaxed);
            return Ok(());
        }
        out.queue_rest(parts, 0);
        self.has_out.store(true, Ordering::Relaxed);
        drop(out);
        self.push().map(drop)
    }

    /// Queues `len` bytes of `file` from `offset` after `head`, and sends
    /// as much as the socket takes (with `sendfile(2)` on Linux: the
    /// kernel copies from the page cache, never through user space; over
    /// TLS the file is read and encrypted in pieces instead).
    ///
    /// # Errors
    /// As [`Link::send`].
    pub(crate) fn send_file(&self, head: &[u8], file: File, offset: u64, len: u64) -> Result<()> {
        let mut range = FileRange::new(file, offset, len);
        if !self.has_output() {
            // The common case: straight to the socket, nothing queued.
            let sent = send_file_now(self.sink(), head, &mut range, self.nonblocking)?;
            if sent == head.len() && range.is_done() && !self.tls_pending() {
                return Ok(());
            }
            let mut out = self.out();
            out.queue_rest(&[Part::Copy(head)], sent);
            out.queue_file(range);
            out.mark_blocked();
            self.has_out.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let mut out = self.out();
        out.queue_rest(&[Part::Copy(head)], 0);
        out.queue_file(range);
        self.has_out.store(true, Ordering::Relaxed);
        drop(out);
        self.push().map(drop)
    }

    /// Queues `segments` after `head` (bytes, and ranges of `file`, which
    /// they share) and sends as much as the socket takes, the ranges as
    /// [`Link::send_file`] sends its one. Small bytes are copied into the
    /// queue, where they join the head or the bytes before them, so a part
    /// head leaves with `MSG_MORE` in one piece before its range.
    ///
    /// # Errors
    /// As [`Link::send`].
    pub(crate) fn send_segments(
        &self,
        head: &[u8],
        file: File,
        segments: &[Segment],
    ) -> Result<()> {
        let file = Arc::new(file);
        let mut out = self.out();
        out.queue_rest(&[Part::Copy(head)], 0);
        for segment in segments {
            match segment {
                Segment::Bytes(b) if b.len() <= COPIED_SEGMENT_MAX => {
                    out.queue_rest(&[Part::Copy(b)], 0);
                }
                Segment::Bytes(b) => out.queue_rest(&[Part::Shared(b)], 0),
                Segment::File { offset, len } => {
                    out.queue_file(FileRange::shared(&file, *offset, *len));
                }
            }
        }
        self.has_out.store(true, Ordering::Relaxed);
        drop(out);
        self.push().map(drop)
    }

    /// Sends what is queued, as far as the socket takes it now; true when
    /// nothing is left. A blocking socket sends everything or fails.
    ///
    /// # Errors
    /// As [`Link::send`]; also a file that shrank while it was sent.
    pub(crate) fn push(&self) -> Result<bool> {
        if !self.has_output() {
            return Ok(true);
        }
        let mut out = self.out();
        let done = out.push(self.sink(), self.nonblocking)?;
        self.has_out.store(!done, Ordering::Relaxed);
        Ok(done)
    }

    /// Sends everything queued, waiting for the socket under the minimum
    /// send rate: for a handler that streams its response, and for the
    /// few bytes the server must send before it goes on reading.
    ///
    /// # Errors
    /// [`Error::Timeout`]`(Write)` when the peer reads too slowly.
    ///
    /// A worker waits here holding one of the server's streaming
    /// `permits` (unless its connection holds one already, for a body, or
    /// `permits` is `None`): so at most that share of the pool waits on
    /// slow readers. When none is free, the response is cut off at once
    /// rather than wait.
    pub(crate) fn push_waiting(
        &self,
        timeouts: &Timeouts,
        permits: Option<&Permits>,
    ) -> Result<()> {
        let mut taken = false;
        let result = loop {
            match self.push() {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
            if let Some(permits) = permits.filter(|_| !taken) {
                if !self.holds_permit.load(Ordering::Relaxed) {
                    if !permits.acquire() {
                        log::debug!("every streaming permit is taken; a slow reader is cut off");
                        break Err(Error::Timeout(Phase::Write));
                    }
                    taken = true;
                }
            }
            let deadline = self.send_deadline(timeouts);
            if coarse_ms() >= deadline {
                break Err(timed_out(Phase::Write));
            }
            if let Err(e) = self.wait(true, deadline, Phase::Write) {
                break Err(e);
            }
        };
        if let Some(permits) = permits.filter(|_| taken) {
            permits.release();
        }
        result
    }

    /// Records whether the connection's worker holds a streaming permit
    /// (for a request body that streams to its handler).
    pub(crate) fn set_holds_permit(&self, holds: bool) {
        self.holds_permit.store(holds, Ordering::Relaxed);
    }

    /// Returns when the queued output must have gone (on the coarse
    /// clock): see [`Outbound::deadline`].
    pub(crate) fn send_deadline(&self, timeouts: &Timeouts) -> u64 {
        self.out().deadline(
            millis(timeouts.write),
            millis(timeouts.send_grace),
            timeouts.send_min_bytes_per_sec,
        )
    }

    /// Drops queued output (the connection is closing on an error).
    pub(crate) fn drop_output(&self) {
        if self.has_output() {
            *self.out() = Outbound::default();
            self.has_out.store(false, Ordering::Relaxed);
        }
    }
}

/// Reads at most `want` bytes for `conn` with `read`, and keeps them.
///
/// A read of a request head lands in a per-thread scratch buffer, and only
/// the bytes read are copied into the connection's buffer, at their exact
/// size. Read in place, it would allocate and clear `want` bytes (4 KiB for
/// a first read, 16 KiB after) for a head of a few hundred, on every
/// request, and a connection parked with a partial head would hold all of
/// it. Body reads (a pipeline's, or a body streaming to its handler) go
/// straight into the connection's buffer.
fn read_for(
    conn: &mut Conn,
    want: usize,
    read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    if matches!(conn.reading(), Reading::Head) && want <= SCRATCH_LEN {
        return SCRATCH.with_borrow_mut(|scratch| {
            let buf = &mut scratch[..want];
            let got = read(buf);
            if let Ok(n) = got {
                conn.receive(&buf[..n.min(want)]);
            }
            got
        });
    }
    let got = read(conn.spare(want));
    conn.filled(want, *got.as_ref().unwrap_or(&0));
    got
}

/// The size of the per-thread scratch buffer of [`read_for`]: the most a
/// head read asks for.
const SCRATCH_LEN: usize = crate::proto::conn::READ_CHUNK;

/// DontWait reads from a blocking socket without waiting
/// (`MSG_DONTWAIT`), through the TLS session or not.
#[cfg(target_os = "linux")]
struct DontWait<'a>(&'a Socket);

#[cfg(target_os = "linux")]
impl Read for DontWait<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use rustix::net::{RecvFlags, recv};
        recv(self.0, buf, RecvFlags::DONTWAIT)
            .map(|(n, _)| n)
            .map_err(io::Error::from)
    }
}

#[cfg(target_os = "linux")]
impl std::io::Write for DontWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut &*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    static SCRATCH: RefCell<Box<[u8; SCRATCH_LEN]>> = RefCell::new(Box::new([0; SCRATCH_LEN]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

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
        let link = Link::new(Socket::Tcp(accepted), false).unwrap();
        link.configure(&timeouts).unwrap();
        assert!(link.stream.nodelay().unwrap());
        assert_eq!(
            link.stream.write_timeout().unwrap(),
            Some(Duration::from_secs(7))
        );
    }
}
