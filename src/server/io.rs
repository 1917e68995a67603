//! Socket reads and writes with deadlines, and the `Date` cache.
//!
//! `std` offers only a per-read timeout (`SO_RCVTIMEO`), which a client
//! sending a byte a second resets forever. These helpers turn it into a
//! deadline: before each read the timeout is set to what is left, and a
//! read that times out early is retried until the deadline passes. The
//! last value set is cached, so a steady phase costs no extra system call.

use crate::error::{Error, Phase, Result};
use crate::proto::conn::Conn;
use crate::types::HttpDate;
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const CLOSED: u8 = 2;
use std::time::{Duration, Instant, SystemTime};

/// The most response bytes held back for pipelined requests before they
/// are sent anyway.
const MAX_HELD_BYTES: usize = 64 * 1024;

/// Link is an accepted socket shared between the worker serving it, a
/// request body being read, and the shutdown logic that may need to wake
/// it.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) stream: TcpStream,
    /// Who owns the connection between requests: [`BUSY`] while a
    /// request is being served, [`IDLE`] while it waits for the next one
    /// (blocked on, or parked), [`CLOSED`] once a shutdown has claimed it.
    /// The worker and the shutdown each claim an idle connection with a
    /// compare-and-swap, so exactly one of them wins: either the request
    /// that just arrived is served, or the shutdown closes the connection
    /// and that request is never run (a proxy may then retry it safely).
    state: AtomicU8,
    /// The read timeout last set on the socket, in microseconds (0: none).
    read_timeout_us: AtomicU64,
    /// Responses to pipelined requests, held back so that a pipeline's
    /// answers leave in one write: sent before the next read, before any
    /// other write, and before a close (see [`Link::write_or_hold`]).
    held: Mutex<Vec<u8>>,
    /// Whether `held` has bytes: the common path takes no lock.
    has_held: AtomicBool,
    /// Whether the socket is in the poller's epoll set (it stays there
    /// until closed).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) registered: AtomicBool,
    /// Whether the last read filled all the space it was given: more
    /// bytes may be waiting, which an edge-triggered poller would not
    /// report again.
    full_read: AtomicBool,
    /// Whether the poller saw the peer close its side (or the socket
    /// fail): the connection is not parked again.
    peer_closed: AtomicBool,
}

impl Link {
    pub(crate) fn new(stream: TcpStream) -> Link {
        Link {
            stream,
            state: AtomicU8::new(BUSY),
            read_timeout_us: AtomicU64::new(0),
            held: Mutex::new(Vec::new()),
            has_held: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            full_read: AtomicBool::new(false),
            peer_closed: AtomicBool::new(false),
        }
    }

    /// Reports whether the last read filled its buffer, so that more bytes
    /// may wait in the socket.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn may_have_more(&self) -> bool {
        self.full_read.load(Ordering::Relaxed)
    }

    /// Records that the poller saw the peer close its side.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn mark_peer_closed(&self) {
        self.peer_closed.store(true, Ordering::Relaxed);
    }

    /// Reports whether the poller saw the peer close its side.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed.load(Ordering::Relaxed)
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

    /// Shuts an idle connection down for a graceful shutdown; a
    /// connection serving a request is left to finish it.
    pub(crate) fn close_if_idle(&self) {
        if self
            .state
            .compare_exchange(IDLE, CLOSED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
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

    /// Reads what `conn` wants into its buffer, waiting at most until
    /// `deadline`. End-of-stream is recorded in `conn`.
    ///
    /// # Errors
    /// [`Error::Timeout`] with `phase` at the deadline; [`Error::Io`] if
    /// the socket fails.
    pub(crate) fn read_into(&self, conn: &mut Conn, deadline: Instant, phase: Phase) -> Result<()> {
        let want = conn.read_hint();
        if want == 0 {
            return Ok(());
        }
        // The client may be waiting for the held answers before it sends
        // more.
        self.flush()?;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(phase));
            }
            self.set_read_timeout(deadline - now)?;
            let got = read_for(conn, want, |buf| (&self.stream).read(buf));
            self.full_read
                .store(matches!(got, Ok(n) if n == want), Ordering::Relaxed);
            match got {
                Ok(n) => {
                    if n == 0 {
                        conn.receive_eof();
                    }
                    log::trace!("read {n} bytes");
                    return Ok(());
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => continue,
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(Error::Io(e)),
                },
            }
        }
    }

    /// Reads without blocking: true if bytes or end-of-stream were
    /// already there (used before parking, and when shutting down: a
    /// request already sent is served, an idle connection is closed).
    pub(crate) fn read_ready(&self, conn: &mut Conn) -> bool {
        if self.flush().is_err() {
            return false;
        }
        let want = conn.read_hint().max(1);
        let got = read_for(conn, want, |buf| self.read_nonblocking(buf));
        self.full_read
            .store(matches!(got, Ok(n) if n == want), Ordering::Relaxed);
        match got {
            Ok(n) => {
                if n == 0 {
                    conn.receive_eof();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// One read that does not block: `recv(MSG_DONTWAIT)` on Linux (one
    /// system call), a non-blocking toggle elsewhere.
    fn read_nonblocking(&self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            use rustix::net::{RecvFlags, recv};
            recv(&self.stream, buf, RecvFlags::DONTWAIT)
                .map(|(n, _)| n)
                .map_err(io::Error::from)
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.stream.set_nonblocking(true)?;
            let got = (&self.stream).read(buf);
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
    }

    /// Reads and discards what is already waiting, without blocking, so a
    /// close does not turn into a reset.
    pub(crate) fn discard_ready(&self) {
        let mut scratch = [0u8; 4096];
        for _ in 0..16 {
            match self.read_nonblocking(&mut scratch) {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Sends `buf` with `MSG_MORE`: the kernel holds it back until more
    /// data follows (a `sendfile` of the body), so head and body leave in
    /// one packet even with `TCP_NODELAY`.
    #[cfg(target_os = "linux")]
    pub(crate) fn send_more(&self, mut buf: &[u8]) -> Result<()> {
        use rustix::io::Errno;
        use rustix::net::{SendFlags, send};
        self.flush()?;
        while !buf.is_empty() {
            match send(&self.stream, buf, SendFlags::MORE | SendFlags::NOSIGNAL) {
                Ok(n) => buf = &buf[n..],
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Err(Error::Timeout(Phase::Write)),
                Err(e) => return Err(Error::Io(e.into())),
            }
        }
        Ok(())
    }

    /// Writes every byte of `bufs` (gathered into as few `writev` calls as
    /// the kernel allows). `SO_SNDTIMEO` bounds each call, so a client
    /// that stops reading frees the worker.
    ///
    /// # Errors
    /// [`Error::Timeout`]`(Write)` when a write makes no progress in time;
    /// [`Error::Io`] when the peer is gone.
    pub(crate) fn write_all(&self, bufs: &[&[u8]]) -> Result<()> {
        if self.has_held.load(Ordering::Relaxed) {
            let mut held = self.take_held();
            // The last answer of a pipeline joins the held ones: the
            // whole batch leaves in one buffer (one `send`).
            if append_held(&mut held, bufs) {
                return self.write_unheld(&[&held]);
            }
            let mut all = Vec::with_capacity(bufs.len() + 1);
            all.push(&held[..]);
            all.extend_from_slice(bufs);
            return self.write_unheld(&all);
        }
        self.write_unheld(bufs)
    }

    /// Holds `bufs` back when `hold` is true and they fit beside what is
    /// held already; otherwise writes them, after anything held, as
    /// [`Link::write_all`] does.
    ///
    /// A response is held when the next request of a pipeline is already
    /// buffered: the answers of a pipeline then go out together, in one
    /// `send`, when the connection next reads, writes anything else or
    /// closes. Only complete small responses are held, at most
    /// `MAX_HELD_BYTES` in all.
    pub(crate) fn write_or_hold(&self, bufs: &[&[u8]], hold: bool) -> Result<()> {
        if hold {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if append_held(&mut held, bufs) {
                self.has_held.store(!held.is_empty(), Ordering::Relaxed);
                return Ok(());
            }
        }
        self.write_all(bufs)
    }

    /// Sends what is held back, if anything.
    ///
    /// # Errors
    /// As [`Link::write_all`].
    pub(crate) fn flush(&self) -> Result<()> {
        if !self.has_held.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.write_unheld(&[&self.take_held()])
    }

    /// Takes the held bytes out, with their allocation: an idle
    /// connection keeps no buffer.
    fn take_held(&self) -> Vec<u8> {
        self.has_held.store(false, Ordering::Relaxed);
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Writes every byte of `bufs`, ignoring what is held.
    fn write_unheld(&self, bufs: &[&[u8]]) -> Result<()> {
        // A fixed array, so a response allocates nothing here; callers
        // pass at most six pieces (held bytes, head, chunk size, data,
        // CRLF, last chunk), and more are written in batches.
        const MAX: usize = 8;
        let mut array = [IoSlice::new(&[]); MAX];
        let mut n = 0;
        for (i, b) in bufs.iter().enumerate() {
            if b.is_empty() {
                continue;
            }
            if n == MAX {
                self.write_slices(&mut array)?;
                return self.write_unheld(&bufs[i..]);
            }
            array[n] = IoSlice::new(b);
            n += 1;
        }
        self.write_slices(&mut array[..n])
    }

    /// Writes every byte of `slices`.
    fn write_slices(&self, mut slices: &mut [IoSlice<'_>]) -> Result<()> {
        while !slices.is_empty() {
            // One piece goes by `write`, which std makes a `send`: a
            // shorter path through the kernel than `writev`.
            let written = match slices {
                [one] => (&self.stream).write(one),
                _ => (&self.stream).write_vectored(slices),
            };
            match written {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    log::trace!("wrote {n} bytes");
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        return Err(Error::Timeout(Phase::Write));
                    }
                    _ => return Err(Error::Io(e)),
                },
            }
        }
        Ok(())
    }
}

/// Appends `bufs` to the held bytes if all of them fit within
/// `MAX_HELD_BYTES`; reports whether they did (nothing is appended
/// otherwise).
fn append_held(held: &mut Vec<u8>, bufs: &[&[u8]]) -> bool {
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    if held.len() + len > MAX_HELD_BYTES {
        return false;
    }
    for b in bufs {
        held.extend_from_slice(b);
    }
    true
}

/// Reads at most `want` bytes for `conn` with `read`, and keeps them.
///
/// The first read of a request head, on a connection with nothing
/// buffered, lands in a per-thread scratch buffer and only the bytes read
/// are copied into the connection's buffer, at their exact size. Read in
/// place, it would allocate and clear `want` bytes (4 KiB) on every
/// request for a head of a few hundred. Later reads (the rest of a head, a
/// body, a pipeline) go straight into the connection's buffer.
fn read_for(
    conn: &mut Conn,
    want: usize,
    read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    if conn.is_idle() && want <= SCRATCH_LEN {
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

/// The size of the per-thread scratch buffer of [`read_for`].
const SCRATCH_LEN: usize = crate::proto::conn::FIRST_READ;

thread_local! {
    static SCRATCH: RefCell<Box<[u8; SCRATCH_LEN]>> = RefCell::new(Box::new([0; SCRATCH_LEN]));
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// Returns the current time as an IMF-fixdate, formatted at most once a
/// second per thread.
pub(crate) fn date_now() -> [u8; 29] {
    let now = HttpDate::from_system_time(coarse_now());
    DATE.with(|d| {
        let (secs, bytes) = d.get();
        if secs == now.unix_secs() {
            bytes
        } else {
            let bytes = now.to_bytes();
            d.set((now.unix_secs(), bytes));
            bytes
        }
    })
}

/// Returns a monotonic clock in milliseconds, read to its last tick (a few
/// milliseconds): the clock of idle deadlines, which need no more. On
/// Linux it is the coarse clock, read without the timestamp counter, so
/// noting when a connection went idle after each request costs next to
/// nothing.
pub(crate) fn coarse_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{ClockId, clock_gettime};
        let t = clock_gettime(ClockId::MonotonicCoarse);
        u64::try_from(t.tv_sec).unwrap_or(0) * 1000 + u64::from(t.tv_nsec as u32 / 1_000_000)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// Returns `d` in whole milliseconds, saturating: a span on the
/// [`coarse_ms`] clock.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Returns the wall-clock time to the last clock tick (a few
/// milliseconds), which is all a `Date` needs: on Linux the coarse clock,
/// read without the timestamp counter.
fn coarse_now() -> SystemTime {
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{ClockId, clock_gettime};
        let t = clock_gettime(ClockId::RealtimeCoarse);
        match u64::try_from(t.tv_sec) {
            Ok(secs) => SystemTime::UNIX_EPOCH + Duration::new(secs, t.tv_nsec as u32),
            Err(_) => SystemTime::now(),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        SystemTime::now()
    }
}
