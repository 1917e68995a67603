//! One connection's TLS: rustls's `ServerConnection` driven by hand over
//! the link's socket (`read_tls`, `process_new_packets`, `write_tls`),
//! so that it behaves as a socket whose bytes are plaintext.
//!
//! - A read returns plaintext, or `WouldBlock` once the socket is empty
//!   and rustls holds none: only then may the connection park, since the
//!   edge-triggered poller reports new bytes on the socket, never bytes
//!   rustls has already taken from it ([`TlsStream::has_buffered_input`]).
//! - A write takes plaintext only when the ciphertext of earlier writes
//!   has left (at most [`SEND_BUFFER`] waits, like a socket's send
//!   buffer), encrypts it and sends what the socket takes; the rest waits
//!   in rustls ([`TlsStream::has_pending_output`]) for the connection to
//!   park until writable and [`TlsStream::flush`] it.
//!
//! `StreamOwned`/`complete_io` are not used: they loop until the peer
//! answers, which is a blocking wait the server cannot bound or park.
//!
//! [`SEND_BUFFER`]: crate::tls::SEND_BUFFER
//!
//! The connection's lock is taken by one thread at a time in practice:
//! the one serving the connection reads and writes it (the worker, or a
//! handler streaming its body), so a read that blocks (the blocking
//! fallback) never holds up a write. It is there because the link is
//! shared; a shutdown only tries it ([`TlsStream::close_notify`]).

use rustls::ServerConnection;
use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The answer to a plain HTTP request sent to the TLS port (nginx's
/// words).
pub(crate) const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 47\r\n\
Connection: close\r\n\
\r\n\
The plain HTTP request was sent to HTTPS port.\n";

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// TlsStream is the TLS state of one connection.
pub(crate) struct TlsStream {
    conn: Mutex<ServerConnection>,
    /// Whether the last read of ciphertext found the socket empty: until
    /// then, bytes may wait there that no new edge will report.
    drained: AtomicBool,
    /// Whether the first bytes have been looked at (a plain HTTP request
    /// is told apart from a ClientHello).
    sniffed: AtomicBool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

/// Handshake is where a handshake stands after [`TlsStream::handshake`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Done: application data may flow.
    Done,
    /// It waits for the peer to send more.
    WantRead,
    /// Its reply waits for the socket to take it.
    WantWrite,
    /// The peer sent a plain HTTP request to the TLS port.
    PlainHttp,
}

impl TlsStream {
    /// Wraps the server side of a new connection.
    pub(crate) fn new(conn: ServerConnection) -> TlsStream {
        TlsStream {
            conn: Mutex::new(conn),
            // Nothing read yet: whatever is on the socket, the poller
            // reports.
            drained: AtomicBool::new(true),
            sniffed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the handshake on as far as it goes without waiting.
    ///
    /// # Errors
    /// The socket failed, the peer closed, or it broke the protocol (the
    /// alert rustls queued for it is sent first, as far as the socket
    /// takes it).
    pub(crate) fn handshake<S: Read + Write>(&self, sock: &mut S) -> io::Result<Handshake> {
        let mut conn = self.lock();
        loop {
            if conn.wants_write() {
                match write_out(&mut conn, sock) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Handshake::WantWrite);
                    }
                    Err(e) => return Err(e),
                }
            }
            if !conn.is_handshaking() {
                return Ok(Handshake::Done);
            }
            let first = !self.sniffed.load(Ordering::Relaxed);
            let mut sniff = Sniff {
                sock: &mut *sock,
                first: None,
            };
            match conn.read_tls(&mut sniff) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => self.drained.store(false, Ordering::Relaxed),
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.drained.store(true, Ordering::Relaxed);
                        return Ok(Handshake::WantRead);
                    }
                    return Err(e);
                }
            }
            if first {
                self.sniffed.store(true, Ordering::Relaxed);
                if sniff
                    .first
                    .is_some_and(|b| b != HANDSHAKE_RECORD && b.is_ascii_alphabetic())
                {
                    return Ok(Handshake::PlainHttp);
                }
            }
            process(&mut conn, sock)?;
        }
    }

    /// Reads plaintext into `buf`: what rustls holds, or else ciphertext
    /// from the socket until a record yields some or the socket is empty
    /// (`WouldBlock`). `Ok(0)` is the end of the stream (with or without
    /// the peer's `close_notify`: HTTP frames its own messages).
    ///
    /// # Errors
    /// As the socket's read; `InvalidData` when the peer broke the
    /// protocol (after the alert was sent, as far as the socket took it).
    pub(crate) fn read<S: Read + Write>(&self, sock: &mut S, buf: &mut [u8]) -> io::Result<usize> {
        let mut conn = self.lock();
        loop {
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if conn.wants_write() {
                // A key update's answer, or the rest of a handshake: sent
                // as far as the socket takes it; the rest goes with the
                // next write or flush.
                match write_out(&mut conn, sock) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            match conn.read_tls(sock) {
                Ok(0) => return Ok(0),
                Ok(_) => self.drained.store(false, Ordering::Relaxed),
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.drained.store(true, Ordering::Relaxed);
                    }
                    return Err(e);
                }
            }
            process(&mut conn, sock)?;
        }
    }

    /// Encrypts as much of `bufs` as may wait and sends what the socket
    /// takes; returns how many plaintext bytes were taken. While the
    /// ciphertext of earlier writes still waits, nothing is taken
    /// (`WouldBlock`).
    ///
    /// # Errors
    /// As the socket's write.
    pub(crate) fn write_vectored<S: Read + Write>(
        &self,
        sock: &mut S,
        bufs: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        let mut conn = self.lock();
        if conn.wants_write() {
            write_out(&mut conn, sock)?;
        }
        let n = conn.writer().write_vectored(bufs)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match write_out(&mut conn, sock) {
            Ok(()) => Ok(n),
            // Taken, encrypted and waiting: `flush` sends it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(e),
        }
    }

    /// Sends the ciphertext that waits.
    ///
    /// # Errors
    /// `WouldBlock` when the socket took only some of it; as the socket's
    /// write.
    pub(crate) fn flush<S: Read + Write>(&self, sock: &mut S) -> io::Result<()> {
        let mut conn = self.lock();
        write_out(&mut conn, sock)
    }

    /// Reports whether ciphertext waits for the socket.
    pub(crate) fn has_pending_output(&self) -> bool {
        self.lock().wants_write()
    }

    /// Reports whether input may wait that the poller will not report:
    /// plaintext rustls holds, or bytes left on the socket since the last
    /// read that found it non-empty.
    pub(crate) fn has_buffered_input(&self) -> bool {
        if !self.drained.load(Ordering::Relaxed) {
            return true;
        }
        let mut conn = self.lock();
        conn.process_new_packets()
            .is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
    }

    /// Queues the `close_notify` alert and sends it as far as the socket
    /// takes it at once: our side of the session is over. False when the
    /// session is in use: a shutdown that closes a connection whose worker
    /// is blocked in a read (the blocking fallback) must not wait for it.
    pub(crate) fn close_notify<S: Read + Write>(&self, sock: &mut S) -> bool {
        let Ok(mut conn) = self.conn.try_lock() else {
            return false;
        };
        if !conn.is_handshaking() {
            conn.send_close_notify();
            let _ = write_out(&mut conn, sock);
        }
        true
    }
}

/// Processes the records read; on a protocol error sends the alert rustls
/// queued, as far as the socket takes it at once.
fn process<S: Read + Write>(conn: &mut ServerConnection, sock: &mut S) -> io::Result<()> {
    if let Err(e) = conn.process_new_packets() {
        let _ = write_out(conn, sock);
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    Ok(())
}

/// Sends waiting ciphertext until none is left.
///
/// # Errors
/// `WouldBlock` when the socket is full; as the socket's write.
fn write_out<S: Read + Write>(conn: &mut ServerConnection, sock: &mut S) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sniff reads from the socket and remembers the first byte read.
struct Sniff<'a, S> {
    sock: &'a mut S,
    first: Option<u8>,
}

impl<S: Read> Read for Sniff<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        if n > 0 && self.first.is_none() {
            self.first = Some(buf[0]);
        }
        Ok(n)
    }
}
