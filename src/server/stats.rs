//! Live statistics: what a server counts as it serves ([`Counter`]), and
//! the snapshot a program reads ([`Stats`], through a [`StatsHandle`]).
//!
//! Counting must cost the hot path nothing measurable, so no two threads
//! ever write the same cache line. Each thread that serves (every worker,
//! and the accept loop) owns a [`Shard`]: one cache-line-aligned block of
//! counters of which it is the only writer, so a count is a relaxed load
//! and store on a line no other core writes (no locked instruction, no
//! line bouncing between cores). A reader sums the shards. The code that
//! counts finds its thread's shard through a thread-local, set once when
//! the thread starts serving ([`Board::enter`]), so the socket code counts
//! bytes where it learns them without carrying the server around; a
//! thread that serves no server counts nothing.
//!
//! The gauges cost nothing per request: how many connections are open,
//! parked or WebSocket sessions is counted when a snapshot is taken, by
//! walking the registry and the parker ([`Census`]); only "busy" (a worker
//! serving a connection) is kept, by each worker in its own shard.
//!
//! Every event is counted once, where it is decided: a connection in the
//! accept loop, a refusal in `worker::refuse`, an answered request where
//! its access-log line is written, a panic where it is caught, a timeout
//! where the deadline is found to have passed ([`timed_out`] makes the
//! error that says so), bytes where the socket reports them.
//!
//! This module performs no I/O.

use crate::error::{Error, Phase};
use crate::types::StatusCode;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Counter names one number a shard keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// A connection was accepted.
    Accepted,
    /// A connection was answered `503` and closed unserved.
    Refused,
    /// A request was answered with a status of class `n`xx (1 to 5).
    Answered(u8),
    /// Bytes were read from a client's socket.
    Received,
    /// Bytes were written to a client's socket (`sendfile` included).
    Sent,
    /// A deadline passed in this phase.
    Timeout(Phase),
    /// A TLS handshake did not finish within its deadline.
    HandshakeTimeout,
    /// Application code panicked, and the panic was caught.
    Panic,
    /// A worker took a connection to serve (a gauge: the worker takes it
    /// back when it is done, [`Serving`]).
    Busy,
}

/// How many numbers a shard keeps: 16 of 8 bytes, one 128-byte block.
const SLOTS: usize = 16;

impl Counter {
    /// Returns the counter of an answer with `status`.
    pub(crate) fn answered(status: StatusCode) -> Counter {
        // A status code is 100 to 999 (`StatusCode` checks); 6xx to 9xx
        // are not classes of RFC 9110, and are counted as 5xx.
        Counter::Answered((status.as_u16() / 100).clamp(1, 5) as u8)
    }

    /// Returns the slot of the counter in a shard.
    fn slot(self) -> usize {
        match self {
            Counter::Accepted => 0,
            Counter::Refused => 1,
            Counter::Answered(class) => 1 + usize::from(class.clamp(1, 5)),
            Counter::Received => 7,
            Counter::Sent => 8,
            Counter::Timeout(Phase::Idle) => 9,
            Counter::Timeout(Phase::Head) => 10,
            Counter::Timeout(Phase::Body) => 11,
            Counter::Timeout(Phase::Write) => 12,
            Counter::Panic => 13,
            Counter::Busy => 14,
            Counter::HandshakeTimeout => 15,
        }
    }
}

/// Shard is the counters of one thread: written by that thread alone,
/// read by anyone. Aligned to 128 bytes, the unit some CPUs fetch lines
/// in pairs of, so that no other shard shares its lines.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Shard {
    slots: [AtomicU64; SLOTS],
}

impl Shard {
    /// Adds `n` to `counter`. The thread owning the shard is its only
    /// writer, so a load and a store count exactly, without the locked
    /// read-modify-write a shared counter needs.
    fn add(&self, counter: Counter, n: u64) {
        let slot = &self.slots[counter.slot()];
        slot.store(
            slot.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
}

thread_local! {
    /// The shard of the server this thread serves, if any.
    static SHARD: RefCell<Option<Arc<Shard>>> = const { RefCell::new(None) };
}

/// Adds `n` to `counter` in the calling thread's shard; does nothing on a
/// thread that serves no server.
pub(crate) fn add(counter: Counter, n: u64) {
    // `try_with`: a count from a thread-local's destructor, at thread
    // exit, is dropped rather than a panic.
    let _ = SHARD.try_with(|shard| {
        if let Some(shard) = &*shard.borrow() {
            shard.add(counter, n);
        }
    });
}

/// Counts one `counter` event (see [`add`]).
pub(crate) fn count(counter: Counter) {
    add(counter, 1);
}

/// Counts bytes read from a client's socket.
pub(crate) fn received(n: usize) {
    add(Counter::Received, n as u64);
}

/// Counts bytes written to a client's socket.
pub(crate) fn sent(n: usize) {
    add(Counter::Sent, n as u64);
}

/// Counts a deadline that passed in `phase`, and returns the error that
/// says so: made where the deadline is found to have passed, so that each
/// timeout is counted once.
pub(crate) fn timed_out(phase: Phase) -> Error {
    count(Counter::Timeout(phase));
    Error::Timeout(phase)
}

/// Serving marks the calling worker busy with a connection while it
/// lives ([`serving`]).
#[derive(Debug)]
pub(crate) struct Serving(());

/// Marks the calling worker busy until the guard drops: it serves a
/// connection.
pub(crate) fn serving() -> Serving {
    count(Counter::Busy);
    Serving(())
}

impl Drop for Serving {
    fn drop(&mut self) {
        add(Counter::Busy, u64::MAX); // -1, wrapping
    }
}

/// Census is what counts the gauges a snapshot reports, when it is
/// taken: the running server (`worker::Shared`).
pub(crate) trait Census: Send + Sync {
    /// Counts the connections open, parked and upgraded to WebSocket
    /// sessions, now.
    fn census(&self) -> Gauges;
}

/// Gauges are what a [`Census`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Gauges {
    pub(crate) open: usize,
    pub(crate) parked: usize,
    pub(crate) sessions: usize,
}

/// Board is one server's statistics: the shards of the threads that
/// serve it, and, while it runs, the census of its connections.
#[derive(Default)]
pub(crate) struct Board {
    shards: Mutex<Vec<Arc<Shard>>>,
    census: Mutex<Option<Weak<dyn Census>>>,
}

/// Entered makes the calling thread count for a server while it lives
/// ([`Board::enter`]); dropping it gives the thread back its former shard.
#[derive(Debug)]
pub(crate) struct Entered {
    before: Option<Arc<Shard>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let before = self.before.take();
        let _ = SHARD.try_with(|shard| *shard.borrow_mut() = before);
    }
}

impl Board {
    fn shards(&self) -> MutexGuard<'_, Vec<Arc<Shard>>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the calling thread a shard of its own on this board, where
    /// what it counts goes until the guard drops. The shard stays on the
    /// board after that: what it counted is not lost when a thread ends.
    pub(crate) fn enter(&self) -> Entered {
        let shard = Arc::new(Shard::default());
        self.shards().push(Arc::clone(&shard));
        let before = SHARD.with(|s| s.borrow_mut().replace(shard));
        Entered { before }
    }

    /// Sets what counts the gauges while the server runs (held weakly:
    /// a handle kept after the server stopped reads them as zero).
    pub(crate) fn set_census(&self, census: Weak<dyn Census>) {
        *self.census.lock().unwrap_or_else(|p| p.into_inner()) = Some(census);
    }

    /// Takes a snapshot: sums the shards, and counts the gauges.
    fn snapshot(&self) -> Stats {
        let mut sums = [0u64; SLOTS];
        for shard in self.shards().iter() {
            for (sum, slot) in sums.iter_mut().zip(&shard.slots) {
                *sum = sum.wrapping_add(slot.load(Ordering::Relaxed));
            }
        }
        let sum = |c: Counter| sums[c.slot()];
        let census = self
            .census
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Weak::upgrade);
        let gauges = census.map(|c| c.census()).unwrap_or_default();
        Stats {
            open_connections: gauges.open as u64,
            parked_connections: gauges.parked as u64,
            busy_connections: sum(Counter::Busy),
            websocket_sessions: gauges.sessions as u64,
            connections_accepted: sum(Counter::Accepted),
            connections_refused: sum(Counter::Refused),
            requests_1xx: sum(Counter::Answered(1)),
            requests_2xx: sum(Counter::Answered(2)),
            requests_3xx: sum(Counter::Answered(3)),
            requests_4xx: sum(Counter::Answered(4)),
            requests_5xx: sum(Counter::Answered(5)),
            received_bytes: sum(Counter::Received),
            sent_bytes: sum(Counter::Sent),
            timeouts_handshake: sum(Counter::HandshakeTimeout),
            timeouts_idle: sum(Counter::Timeout(Phase::Idle)),
            timeouts_head: sum(Counter::Timeout(Phase::Head)),
            timeouts_body: sum(Counter::Timeout(Phase::Body)),
            timeouts_write: sum(Counter::Timeout(Phase::Write)),
            handler_panics: sum(Counter::Panic),
        }
    }

    #[cfg(test)]
    fn sum(&self, counter: Counter) -> u64 {
        self.shards()
            .iter()
            .map(|s| s.slots[counter.slot()].load(Ordering::Relaxed))
            .sum()
    }
}

/// StatsHandle reads the live statistics of one server, from any thread:
/// a handler of that server (to serve them, as `echo_api`'s `/metrics`
/// does), or a thread of the program's own.
///
/// Take it from [`Server::stats_handle`] before the server serves (a
/// handler needs it before [`Server::serve`] takes the server), or from
/// [`RunningServer::stats_handle`]. Cloning is cheap, and every clone
/// reads the same server. Before the server serves, everything reads
/// zero; after it has stopped, the counters keep their last values and
/// the gauges read zero.
///
/// # Examples
/// ```
/// use sockhttp::{Response, Router, Server};
/// use std::io::{Read, Write};
///
/// let server = Server::bind("127.0.0.1:0")?.threads(2);
/// let stats = server.stats_handle();
/// let app = Router::new().get("/requests", move |_req| {
///     let s = stats.snapshot();
///     Response::text(format!("{} answered before this one", s.requests()))
/// });
/// let server = server.spawn(app)?;
///
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET /requests HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert!(reply.ends_with("\r\n\r\n0 answered before this one"));
/// assert_eq!(server.stats().connections_accepted, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// [`Server::stats_handle`]: crate::Server::stats_handle
/// [`Server::serve`]: crate::Server::serve
/// [`RunningServer::stats_handle`]: crate::RunningServer::stats_handle
#[derive(Clone)]
pub struct StatsHandle {
    board: Arc<Board>,
}

impl StatsHandle {
    /// Makes the handle of `board`.
    pub(crate) fn new(board: Arc<Board>) -> StatsHandle {
        StatsHandle { board }
    }

    /// Returns the statistics now.
    ///
    /// It sums the threads' counters without locking them, then counts
    /// the gauges by walking the server's open connections and its parked
    /// ones, each under the lock that guards them (the workers wait on
    /// those locks meanwhile): meant for a scrape every few seconds, not
    /// for every request.
    pub fn snapshot(&self) -> Stats {
        self.board.snapshot()
    }
}

impl fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsHandle").finish_non_exhaustive()
    }
}

/// Stats is a snapshot of one server's live statistics
/// ([`StatsHandle::snapshot`], [`RunningServer::stats`]).
///
/// The counters (`connections_*`, `requests_*`, `*_bytes`, `timeouts_*`,
/// `handler_panics`) count from the start of the server and only grow;
/// the gauges (`*_connections`, `websocket_sessions`) say what is now.
/// Each number is exact, but they are read one after the other while the
/// server runs: two of them may differ by what happened in between (a
/// request counted whose bytes are not yet, say).
///
/// A connection that a handler took over with [`Response::upgrade`]
/// (not a WebSocket session, which the server serves) is counted until
/// its `101` has gone; what its owner reads and writes after that is not.
///
/// [`RunningServer::stats`]: crate::RunningServer::stats
/// [`Response::upgrade`]: crate::Response::upgrade
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Gauge: connections open now: accepted and not yet closed, whatever
    /// they are doing (waiting for a request, being served, waiting for a
    /// worker or for the peer, upgraded).
    pub open_connections: u64,
    /// Gauge: open connections parked now: waiting on their peer (for a
    /// request, the rest of one, or to read an answer) in the epoll set,
    /// holding no worker; this includes those found ready that a worker
    /// is about to take. Always 0 without epoll (other platforms than
    /// Linux), where a connection waits in its worker's blocking calls.
    pub parked_connections: u64,
    /// Gauge: connections a worker is serving now, which is how many
    /// workers are busy. Without epoll a worker serves its connection for
    /// the connection's whole life, waits between requests included.
    pub busy_connections: u64,
    /// Gauge: open connections upgraded to WebSocket sessions that the
    /// server serves (parked or busy, they are counted there too).
    pub websocket_sessions: u64,
    /// Counter: connections accepted, refused ones included; the
    /// connection a graceful shutdown makes to wake the accept loop is
    /// not counted.
    pub connections_accepted: u64,
    /// Counter: connections answered `503 Service Unavailable` with
    /// `Retry-After: 1` and closed without reading a request, because
    /// [`Server::max_connections`] were open, or (without epoll) the
    /// queue of connections waiting for a worker was full. They are not
    /// counted as requests.
    ///
    /// [`Server::max_connections`]: crate::Server::max_connections
    pub connections_refused: u64,
    /// Counter: requests answered with a `1xx` status: `101 Switching
    /// Protocols` (a WebSocket handshake, an upgrade). An interim `100
    /// Continue` is not an answer and is not counted.
    ///
    /// Every `requests_*` counter counts a request once its response has
    /// been written to the connection, at the moment its access-log line
    /// is written: a small response once the socket has taken it or it
    /// is queued to leave as the peer reads, a streamed one once its last
    /// piece has gone. Responses the server makes by itself count as any
    /// other: a `400` to a malformed request, a `408` when a head or body
    /// deadline passes (counted in `timeouts_head` or `timeouts_body`
    /// too), a `500` after a handler panic (in `handler_panics` too). A
    /// response cut short (the peer left, or stopped reading) is counted
    /// by the status it was sent with.
    pub requests_1xx: u64,
    /// Counter: requests answered with a `2xx` status (see `requests_1xx`).
    pub requests_2xx: u64,
    /// Counter: requests answered with a `3xx` status (see `requests_1xx`).
    pub requests_3xx: u64,
    /// Counter: requests answered with a `4xx` status (see `requests_1xx`).
    pub requests_4xx: u64,
    /// Counter: requests answered with a `5xx` status (see `requests_1xx`).
    pub requests_5xx: u64,
    /// Counter: bytes read from client sockets, as the socket returned
    /// them: request heads and bodies, WebSocket frames, and what a
    /// closing connection reads and drops. Over TLS, the plaintext: the
    /// handshake and the records' own bytes are not counted.
    pub received_bytes: u64,
    /// Counter: bytes written to client sockets, as the socket took them
    /// (framing and `sendfile` included): responses, `100 Continue`,
    /// WebSocket frames. Over TLS, the plaintext, as for
    /// [`received_bytes`](Stats::received_bytes).
    pub sent_bytes: u64,
    /// Counter: TLS handshakes that did not finish within
    /// [`Timeouts::handshake`]: closed without a word (always 0 without
    /// the `tls` feature).
    ///
    /// [`Timeouts::handshake`]: crate::Timeouts::handshake
    pub timeouts_handshake: u64,
    /// Counter: connections closed because no request came within
    /// [`Timeouts::idle`] of the last one (or of the connection), without
    /// an answer. A graceful shutdown's closing of idle connections is not
    /// a timeout.
    ///
    /// [`Timeouts::idle`]: crate::Timeouts::idle
    pub timeouts_idle: u64,
    /// Counter: request heads that did not arrive within
    /// [`Timeouts::head`]: answered `408` (counted in `requests_4xx` too)
    /// and closed.
    ///
    /// [`Timeouts::head`]: crate::Timeouts::head
    pub timeouts_head: u64,
    /// Counter: request bodies that did not arrive in time
    /// ([`Timeouts::body`], [`Timeouts::body_min_bytes_per_sec`]), read
    /// by the server or by a handler, or drained after it: answered `408`
    /// where nothing of the answer had gone yet, and closed.
    ///
    /// [`Timeouts::body`]: crate::Timeouts::body
    /// [`Timeouts::body_min_bytes_per_sec`]: crate::Timeouts::body_min_bytes_per_sec
    pub timeouts_body: u64,
    /// Counter: answers the peer did not read in time ([`Timeouts::write`],
    /// [`Timeouts::send_min_bytes_per_sec`]): the connection was closed,
    /// or the WebSocket session closed with 1008.
    ///
    /// [`Timeouts::write`]: crate::Timeouts::write
    /// [`Timeouts::send_min_bytes_per_sec`]: crate::Timeouts::send_min_bytes_per_sec
    pub timeouts_write: u64,
    /// Counter: panics caught in application code: a handler (answered
    /// `500`, or its connection closed if its answer had begun), the code
    /// of a response body (`Body::Writer`, a `Body::Reader`), a WebSocket
    /// handler (its session closed with 1011). The owner of a connection
    /// taken over by [`Response::upgrade`] runs on a thread of its own, and
    /// its panics are not counted.
    ///
    /// [`Response::upgrade`]: crate::Response::upgrade
    pub handler_panics: u64,
}

impl Stats {
    /// Returns the requests answered, of every class.
    pub fn requests(&self) -> u64 {
        self.requests_by_class().iter().map(|(_, n)| n).sum()
    }

    /// Returns the requests answered by status class, `"1xx"` to
    /// `"5xx"` (a label for a metrics exporter), in that order.
    pub fn requests_by_class(&self) -> [(&'static str, u64); 5] {
        [
            ("1xx", self.requests_1xx),
            ("2xx", self.requests_2xx),
            ("3xx", self.requests_3xx),
            ("4xx", self.requests_4xx),
            ("5xx", self.requests_5xx),
        ]
    }

    /// Returns the timeouts of `phase` (see the `timeouts_*` fields).
    pub fn timeouts(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Idle => self.timeouts_idle,
            Phase::Head => self.timeouts_head,
            Phase::Body => self.timeouts_body,
            Phase::Write => self.timeouts_write,
        }
    }

    /// Returns the timeouts by phase, named `"handshake"` (TLS), `"idle"`,
    /// `"head"`, `"body"` and `"write"` (a label for a metrics exporter),
    /// in that order.
    pub fn timeouts_by_phase(&self) -> [(&'static str, u64); 5] {
        [
            ("handshake", self.timeouts_handshake),
            ("idle", self.timeouts_idle),
            ("head", self.timeouts_head),
            ("body", self.timeouts_body),
            ("write", self.timeouts_write),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_a_slot_of_its_own() {
        let mut counters = vec![
            Counter::Accepted,
            Counter::Refused,
            Counter::Received,
            Counter::Sent,
            Counter::Panic,
            Counter::Busy,
            Counter::HandshakeTimeout,
        ];
        counters.extend((1..=5).map(Counter::Answered));
        counters
            .extend([Phase::Idle, Phase::Head, Phase::Body, Phase::Write].map(Counter::Timeout));
        let mut slots: Vec<usize> = counters.iter().map(|c| c.slot()).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), counters.len(), "{counters:?}");
        assert!(slots.iter().all(|&s| s < SLOTS), "{slots:?}");
    }

    #[test]
    fn statuses_count_by_class() {
        let table = [(101, 1), (200, 2), (204, 2), (304, 3), (408, 4), (503, 5)];
        for (code, class) in table {
            let status = StatusCode::new(code).unwrap();
            assert_eq!(
                Counter::answered(status),
                Counter::Answered(class),
                "{code}"
            );
        }
    }

    #[test]
    fn shards_are_a_cache_line_pair_each() {
        assert_eq!(std::mem::align_of::<Shard>(), 128);
        assert_eq!(std::mem::size_of::<Shard>(), 128);
    }

    #[test]
    fn a_thread_counts_on_the_board_it_entered_and_only_while_inside() {
        let board = Arc::new(Board::default());
        count(Counter::Accepted); // no board yet: dropped
        let b = Arc::clone(&board);
        std::thread::spawn(move || {
            let _entered = b.enter();
            count(Counter::Accepted);
            add(Counter::Sent, 10);
            {
                let _serving = serving();
                assert_eq!(b.sum(Counter::Busy), 1);
            }
            assert_eq!(b.sum(Counter::Busy), 0);
            let e = timed_out(Phase::Head);
            assert!(matches!(e, Error::Timeout(Phase::Head)));
        })
        .join()
        .unwrap();
        let inner = Board::default();
        {
            let _entered = board.enter();
            count(Counter::Refused);
            {
                let _nested = inner.enter();
                count(Counter::Refused);
            }
            count(Counter::Refused);
        }
        count(Counter::Refused); // left: dropped
        let s = board.snapshot();
        assert_eq!(s.connections_accepted, 1);
        assert_eq!(s.sent_bytes, 10);
        assert_eq!(s.timeouts_head, 1);
        assert_eq!(s.connections_refused, 2);
        assert_eq!(inner.snapshot().connections_refused, 1);
        assert_eq!(s.open_connections, 0, "no census: gauges read zero");
    }
}
