//! Hostile clients over real loopback sockets: slowloris, slow bodies,
//! clients that never read, half-closed clients, connection floods and
//! random garbage. After each scenario the server must still answer a
//! normal request, and once it is shut down it must have left nothing
//! behind: no thread, no open descriptor, no panic on a server thread
//! (see [`Census`]).
//!
//! Every test takes [`serial`]: the census counts the process's open
//! descriptors and threads, which another test's server would disturb.
//! The slow clients sleep between bytes because being slow is what they
//! test; nothing else waits on a clock. Tests synchronise on replies and
//! channels, and client read timeouts ([`FAILSAFE`]) only turn a hang
//! into a failure.

mod support;

use sockhttp::_internals::BodyKind;
use sockhttp::{Handler, Request, Response, Server};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};
use support::driver::{self, Answer, Feed, Step};
use support::rng::Rng;
use support::{
    FAILSAFE, Reply, TestServer, assert_closed, find, read_reply, short_timeouts, small_limits,
    wait_past,
};

/// A request that every handler here answers `200 ok`, then closes.
const NORMAL: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// The pause between two bytes of a slow client. With `short_timeouts`
/// (300 ms deadlines) and the payloads below, a slow client would need
/// about ten seconds to finish: only a deadline, never a per-read timeout
/// (which every byte resets), can stop it, and a worker that starts late
/// still has a wide margin.
const DRIBBLE_GAP: Duration = Duration::from_millis(10);

/// The name of every client thread a test starts (see [`our_threads`]).
const CLIENT_THREAD: &str = "hostile-client";

// ---------------------------------------------------------------------
// 1. Slowloris
// ---------------------------------------------------------------------

/// A valid head of about 940 bytes (under the 1 KiB head limit of
/// `small_limits`): dribbled at one byte per DRIBBLE_GAP it takes over
/// nine seconds, so a server that answers it `200` has no head deadline.
fn slow_head() -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec();
    head.extend_from_slice(&[b'a'; 900]);
    head.extend_from_slice(b"\r\n\r\n");
    head
}

#[test]
fn slowloris_head_gets_408_and_close_while_another_client_is_served() {
    let _serial = serial();
    let census = Census::take();
    let srv = start(2, ok);
    let (started_tx, started_rx) = mpsc::channel();
    let slow = SlowClient::start(srv.connect(), Vec::new(), slow_head(), started_tx);
    started_rx
        .recv_timeout(FAILSAFE)
        .expect("the slow client started");
    // One worker is held by the slow client; the other one answers.
    assert_serves(&srv);

    let got = slow
        .finish()
        .expect("the slow client's connection was closed");
    assert_only_408(&got);
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

/// Slowloris proper: more dribbling connections than workers. Each holds
/// a worker only until its head deadline, so every one of them gets its
/// 408 and a normal request queued behind them is answered too.
#[test]
fn slowloris_on_more_connections_than_workers_all_get_408_and_a_normal_request_is_served() {
    let _serial = serial();
    let census = Census::take();
    let srv = start(2, ok);
    let mut slow = Vec::new();
    let (started_tx, started_rx) = mpsc::channel();
    for _ in 0..6 {
        let client = SlowClient::start(srv.connect(), Vec::new(), slow_head(), started_tx.clone());
        slow.push(client);
    }
    for _ in 0..slow.len() {
        started_rx
            .recv_timeout(FAILSAFE)
            .expect("a slow client started");
    }
    // Queued behind the slow clients, served once deadlines free workers.
    assert_serves(&srv);
    for client in slow {
        let got = client
            .finish()
            .expect("the slow client's connection was closed");
        assert_only_408(&got);
    }
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

// ---------------------------------------------------------------------
// 2. Slow body
// ---------------------------------------------------------------------

/// Slow bodies, whole: 1,000 body bytes (under the 1 KiB body limit),
/// framed by `Content-Length` and chunked, each dribbled at one byte per
/// DRIBBLE_GAP. The body deadline (300 ms, plus 2 ms per byte received
/// at 500 bytes/s) passes long before the ten seconds or more that
/// sending them takes.
fn slow_bodies() -> [(&'static str, Vec<u8>, Vec<u8>); 2] {
    let length = (
        "Content-Length",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".to_vec(),
        vec![b'b'; 1000],
    );
    let mut chunks = b"a\r\nbbbbbbbbbb\r\n".repeat(100);
    chunks.extend_from_slice(b"0\r\n\r\n");
    let chunked = (
        "chunked",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        chunks,
    );
    [length, chunked]
}

#[test]
fn slow_body_gets_408_and_close_and_frees_the_only_worker() {
    let _serial = serial();
    let census = Census::take();
    let srv = start(1, upload);
    for (name, head, body) in slow_bodies() {
        let (started_tx, started_rx) = mpsc::channel();
        let slow = SlowClient::start(srv.connect(), head, body, started_tx);
        started_rx
            .recv_timeout(FAILSAFE)
            .unwrap_or_else(|_| panic!("{name}: the slow client started"));
        let got = slow
            .finish()
            .unwrap_or_else(|e| panic!("{name}: the connection was not closed cleanly: {e}"));
        assert_only_408(&got);
        // The only worker is free again.
        assert_serves(&srv);
    }
    census.assert_clean_after(srv);
}

// ---------------------------------------------------------------------
// 3. A client that never reads
// ---------------------------------------------------------------------

/// 64 MiB: far more than the loopback socket buffers of both ends hold.
const BIG: u64 = 64 * 1024 * 1024;

#[test]
fn client_that_never_reads_is_cut_off_by_the_write_timeout() {
    let _serial = serial();
    let census = Census::take();
    let (called_tx, called_rx) = mpsc::channel();
    let handler = move |req: &mut Request| {
        if req.path() == "/big" {
            let _ = called_tx.send(());
            Response::stream(io::repeat(b'x').take(BIG))
        } else {
            Response::text("ok")
        }
    };
    let srv = start(1, handler);
    let mut stuck = srv.connect();
    stuck
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    called_rx
        .recv_timeout(FAILSAFE)
        .expect("the handler was called");

    // The only worker is writing to a client that does not read: only the
    // write timeout can free it for this second client.
    assert_serves(&srv);

    // The stuck client's response was cut short, and its connection closed.
    let got = read_len_to_end(&mut stuck);
    assert!(got > 0, "the response started");
    assert!(
        got < BIG,
        "all {got} bytes arrived: the response was not cut off"
    );
    drop(stuck);
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

/// 1 MiB answers to pipelined requests, 64 of them: far more than the
/// socket buffers hold, so a client that sends them all and never reads
/// stalls the server's writes.
const PIPELINED: usize = 64;

#[test]
fn pipelining_client_that_never_reads_is_cut_off_and_its_later_requests_are_not_run() {
    let _serial = serial();
    let census = Census::take();
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = {
        let runs = Arc::clone(&runs);
        move |req: &mut Request| {
            if req.path() == "/large" {
                runs.fetch_add(1, Ordering::SeqCst);
                Response::bytes("application/octet-stream", large_body())
            } else {
                Response::text("ok")
            }
        }
    };
    let srv = start(1, handler);
    let mut stuck = srv.connect();
    let pipeline = b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n".repeat(PIPELINED);
    stuck.write_all(&pipeline).unwrap();

    // The stuck client holds no worker.
    assert_serves(&srv);
    // It is cut off once its writes have stalled past the write timeout.
    wait_past(short_timeouts().write);

    // What arrived is whole responses, in order, then at most one cut
    // short; and once the write timed out, no later request ran.
    let want = large_body();
    let mut complete = 0;
    let mut rest = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stuck.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the cut-off responses: {e} after {complete} responses"),
        }
        while let Ok((r, used)) = parse_response(&rest) {
            assert_eq!(r.status, 200);
            assert!(r.body == want, "response {complete} is intact");
            rest.drain(..used);
            complete += 1;
        }
    }
    let ran = runs.load(Ordering::SeqCst);
    assert!(
        complete < PIPELINED,
        "all {PIPELINED} responses arrived: the writes were not cut off"
    );
    // The handler of the cut-off response ran; none after it.
    assert_eq!(
        ran,
        complete + 1,
        "handlers run for {complete} complete responses and one cut short"
    );
    drop(stuck);
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

// ---------------------------------------------------------------------
// 4. Half-closed clients
// ---------------------------------------------------------------------

/// 1 MiB: a response that takes the server many writes.
const LARGE: usize = 1024 * 1024;

fn large_body() -> Vec<u8> {
    (0..LARGE).map(|i| (i % 251) as u8).collect()
}

#[test]
fn half_closed_client_gets_its_full_responses_then_close() {
    let _serial = serial();
    let census = Census::take();
    let handler = |req: &mut Request| {
        if req.path() == "/large" {
            Response::bytes("application/octet-stream", large_body())
        } else {
            Response::text("ok")
        }
    };
    let srv = start(2, handler);
    let mut s = srv.connect();
    // Two pipelined requests, neither asking to close, then end-of-stream.
    s.write_all(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(r.status, 200);
    assert!(r.body == large_body(), "the large body arrived intact");
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
    assert_closed(&mut s);
    drop(s);
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

#[test]
fn half_closed_client_with_a_partial_head_is_closed_without_a_response() {
    let _serial = serial();
    let census = Census::take();
    let srv = start(2, ok);
    for sent in [
        &b""[..],
        b"G",
        b"\r\n",
        b"GET / HTTP/1.1\r\nHo",
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        // A complete request, then part of a second one.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT",
    ] {
        let mut s = srv.connect();
        s.write_all(sent).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = read_all(&mut s).expect("the server closed the connection");
        let replies = parse_responses(&got).unwrap_or_else(|e| panic!("{e}: {}", lossy(&got)));
        let complete = usize::from(sent.starts_with(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(
            statuses(&replies),
            vec![200; complete],
            "{}: answered {}",
            lossy(sent),
            lossy(&got)
        );
    }
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

#[test]
fn half_closed_client_with_a_partial_body_is_closed_without_a_response() {
    let _serial = serial();
    let census = Census::take();
    let srv = start(2, upload);
    for sent in [
        &b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"[..],
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut s = srv.connect();
        s.write_all(sent).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = read_all(&mut s).expect("the server closed the connection");
        // `Error::UnexpectedEof`: "No response: nobody is there to read it."
        assert!(got.is_empty(), "{}: answered {}", lossy(sent), lossy(&got));
    }
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

// ---------------------------------------------------------------------
// 5. Connection flood
// ---------------------------------------------------------------------

/// The flood, twice (two waves): this many client threads, each opening
/// this many connections and keeping them all open until the wave ends.
const FLOOD_THREADS: usize = 10;
const FLOOD_PER_THREAD: usize = 50;
/// How many connections one flood client leaves unanswered at most.
const FLOOD_WINDOW: usize = 10;
/// Wave 1 holds the workers until this many 503s have arrived (where the
/// server queues connections for its workers)...
const FLOOD_503S_BEFORE_RELEASE: usize = 50;
/// ...or until every flood client has its window of unanswered
/// connections full (on Linux, where a saturated server stops accepting
/// and the clients wait in the listen backlog instead of getting 503).
const FLOOD_WAITING_BEFORE_RELEASE: usize = FLOOD_THREADS * FLOOD_WINDOW;

/// The flood test's acceptance rule, per connection attempt:
///
/// - accepted: the connection must end cleanly (end-of-stream, not a
///   reset) carrying exactly one complete response, either
///   `200` with the handler's body, or the overload answer `503` with
///   `Retry-After` and `Connection: close`. Nothing else: no empty
///   answer, no partial response, no hang (a read outliving
///   [`FAILSAFE`]), no bytes after the response;
/// - refused by the kernel: `connect` fails with `ECONNREFUSED` or times
///   out (the listen backlog overflowed). Allowed and counted; any other
///   connect error fails the test. (The clients keep the listen backlog
///   from overflowing, see [`flood_client`], so this does not happen in
///   practice; the test prints the count.)
///
/// A request write that fails (`EPIPE`, `ECONNRESET`) is allowed: the
/// server may have answered 503 and closed before reading the request;
/// the connection is still judged by what it received.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    overloaded: usize,
    refused: usize,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.overloaded += other.overloaded;
        self.refused += other.refused;
        self.failures.extend(other.failures);
    }
}

#[test]
fn connection_flood_is_answered_or_refused_and_leaks_no_fd_or_thread() {
    support::raise_fd_limit();
    let _serial = serial();
    let census = Census::take();
    let latch = Latch::default();
    let (entered_tx, entered_rx) = mpsc::channel();
    let handler = {
        let latch = latch.clone();
        move |req: &mut Request| {
            if req.path() == "/hold" {
                let _ = entered_tx.send(());
                latch.wait();
            }
            Response::text("ok")
        }
    };
    // Each flood client sends its request right after connecting. A long
    // idle timeout makes sure that a client thread paused by the scheduler
    // between the two is not closed as idle: a correct, silent close that
    // the acceptance rule would count as a failure.
    let mut timeouts = short_timeouts();
    timeouts.idle = FAILSAFE / 4;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(2)
        .queue(8)
        .timeouts(timeouts)
        .limits(small_limits());
    let srv = TestServer::with(server, handler);
    // Declared after the server so it is dropped first: a failing test
    // releases the held workers, and the server's shutdown can join them.
    let _release = OpenOnDrop(latch.clone());
    // The baseline is taken once the server has answered a request, so
    // every descriptor it keeps for its life (the listener, the poller's
    // epoll and eventfd) is already open.
    assert_serves(&srv);
    let fds_before = open_fds();

    // Wave 1, overload for sure: both workers are held by a request each.
    // With the poller (Linux), once 8 new connections wait, the server
    // stops accepting and the others wait in the listen backlog; the
    // workers are released when every client's window is full, and serve
    // them all. Without it, the first 8 flood connections fill the queue
    // and the others are refused with 503 until FLOOD_503S_BEFORE_RELEASE
    // have arrived; then the workers are released and serve the queued
    // connections.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = srv.connect();
        s.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        holders.push(s);
    }
    for _ in 0..2 {
        entered_rx
            .recv_timeout(FAILSAFE)
            .expect("both workers hold a request");
    }
    // The accept loop and both workers are running (and named) by now.
    let server_threads = our_threads();
    let wave1 = flood(srv.addr(), Some(&latch));
    for mut h in holders {
        let r = read_reply(&mut h, false);
        assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
        assert_closed(&mut h);
    }

    // Wave 2, free running: whatever mix of 200 and 503 the race gives.
    let wave2 = flood(srv.addr(), None);

    let attempts = 2 * FLOOD_THREADS * FLOOD_PER_THREAD;
    eprintln!("flood wave 1 (workers held): {wave1:?}");
    eprintln!("flood wave 2 (free running): {wave2:?}");
    assert!(wave1.failures.is_empty(), "wave 1: {:#?}", wave1.failures);
    assert!(wave2.failures.is_empty(), "wave 2: {:#?}", wave2.failures);
    if cfg!(all(target_os = "linux", not(sockhttp_no_epoll))) {
        assert_eq!(
            (wave1.ok, wave1.overloaded),
            (FLOOD_THREADS * FLOOD_PER_THREAD, 0),
            "a saturated server stops accepting, and serves the clients in turn: {wave1:?}"
        );
    } else {
        assert!(
            wave1.overloaded >= FLOOD_503S_BEFORE_RELEASE,
            "the held workers made the server refuse: {wave1:?}"
        );
    }
    assert!(
        wave1.ok >= 8,
        "the 8 queued connections were served: {wave1:?}"
    );
    let mut total = Tally::default();
    total.add(wave1);
    total.add(wave2);
    assert_eq!(total.ok + total.overloaded + total.refused, attempts);

    // Every client is closed. The server closes its side an instant after
    // the client sees end-of-stream, so poll with real requests, a
    // bounded number of times, until the count is back.
    let mut polls = 0;
    let fds_after = loop {
        assert_serves(&srv);
        polls += 1;
        let fds = open_fds();
        // Fewer is fine: the baseline may include the server's side of
        // the readiness request, closing an instant after its answer.
        if fds <= fds_before || polls == 100 {
            break fds;
        }
    };
    eprintln!(
        "flood: {attempts} connections, {} × 200, {} × 503, {} refused at connect; \
         open fds {fds_before} before, {fds_after} after {polls} polling requests",
        total.ok, total.overloaded, total.refused
    );
    assert!(
        fds_after <= fds_before,
        "descriptors leaked by the flood: {fds_before} before, {fds_after} after"
    );
    // A fixed pool: the accept loop, the poller and the two workers, the
    // same threads as before the flood (none per connection); the client
    // threads are gone.
    let threads_after_flood = wait_for_threads(&server_threads);
    eprintln!(
        "flood: server threads {:?} before the flood, {:?} after it",
        server_threads, threads_after_flood
    );
    assert_eq!(
        threads_after_flood, server_threads,
        "the flood changed the server's threads"
    );
    census.assert_clean_after(srv);
}

/// Opens FLOOD_THREADS × FLOOD_PER_THREAD connections to `addr` and
/// returns how they ended (see [`Tally`]). Every client socket stays open
/// until the whole wave is over. With a `latch`, the
/// FLOOD_503S_BEFORE_RELEASE-th 503 opens it, or on Linux the
/// FLOOD_WAITING_BEFORE_RELEASE-th connection.
fn flood(addr: SocketAddr, latch: Option<&Latch>) -> Tally {
    let overloaded = Arc::new(AtomicUsize::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..FLOOD_THREADS)
        .map(|_| {
            let latch = latch.cloned();
            let overloaded = Arc::clone(&overloaded);
            let connected = Arc::clone(&connected);
            spawn_client(move || flood_client(addr, latch.as_ref(), &overloaded, &connected))
        })
        .collect();
    let mut tally = Tally::default();
    let mut sockets = Vec::new();
    for c in clients {
        let (t, s) = c.join().expect("flood client thread");
        tally.add(t);
        sockets.extend(s);
    }
    drop(sockets);
    tally
}

/// One flood client: connects FLOOD_PER_THREAD times, sending a request
/// right after each connect, and judges each answer. It keeps at most
/// FLOOD_WINDOW connections unanswered: before the next connect it reads
/// the oldest answer. All threads together then never have more than
/// FLOOD_THREADS × FLOOD_WINDOW (100) connections that the server may
/// not have accepted yet, which keeps the kernel's listen backlog (128)
/// from overflowing: an overflow drops the SYN and the client retries it
/// a second later, which slows the test without testing the server.
fn flood_client(
    addr: SocketAddr,
    latch: Option<&Latch>,
    overloaded: &AtomicUsize,
    connected: &AtomicUsize,
) -> (Tally, Vec<TcpStream>) {
    let mut tally = Tally::default();
    let mut unanswered = VecDeque::with_capacity(FLOOD_WINDOW);
    let mut answered = Vec::with_capacity(FLOOD_PER_THREAD);
    for _ in 0..FLOOD_PER_THREAD {
        if unanswered.len() == FLOOD_WINDOW {
            let mut s = unanswered.pop_front().expect("the window is full");
            judge_flood_answer(&mut s, &mut tally, latch, overloaded);
            answered.push(s);
        }
        match TcpStream::connect_timeout(&addr, FAILSAFE) {
            Ok(mut s) => {
                s.set_read_timeout(Some(FAILSAFE)).unwrap();
                s.set_write_timeout(Some(FAILSAFE)).unwrap();
                // A failed write is judged by what the connection received.
                let _ = s.write_all(NORMAL);
                unanswered.push_back(s);
                let n = connected.fetch_add(1, Ordering::SeqCst) + 1;
                if cfg!(target_os = "linux") && n == FLOOD_WAITING_BEFORE_RELEASE {
                    if let Some(g) = latch {
                        g.open();
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
                ) =>
            {
                tally.refused += 1;
            }
            Err(e) => tally.failures.push(format!("connect: {e}")),
        }
    }
    for mut s in unanswered {
        judge_flood_answer(&mut s, &mut tally, latch, overloaded);
        answered.push(s);
    }
    (tally, answered)
}

/// Reads one flood connection's answer to its end and counts it.
fn judge_flood_answer(
    s: &mut TcpStream,
    tally: &mut Tally,
    latch: Option<&Latch>,
    overloaded: &AtomicUsize,
) {
    let got = match read_all(s) {
        Ok(got) => got,
        Err(e) => {
            tally.failures.push(format!("read: {e}"));
            return;
        }
    };
    match parse_responses(&got).as_deref() {
        Ok([r]) if r.status == 200 && r.body == b"ok" => tally.ok += 1,
        Ok([r])
            if r.status == 503
                && r.header("retry-after").is_some()
                && r.header("connection") == Some("close") =>
        {
            tally.overloaded += 1;
            let n = overloaded.fetch_add(1, Ordering::SeqCst) + 1;
            if !cfg!(target_os = "linux") && n == FLOOD_503S_BEFORE_RELEASE {
                if let Some(g) = latch {
                    g.open();
                }
            }
        }
        Ok(_) => tally
            .failures
            .push(format!("unexpected answer: {}", lossy(&got))),
        Err(e) => tally.failures.push(format!("{e}: {}", lossy(&got))),
    }
}

// ---------------------------------------------------------------------
// 6. Random garbage
// ---------------------------------------------------------------------

const GARBAGE_CONNECTIONS: usize = 200;
const GARBAGE_THREADS: usize = 4;
const GARBAGE_SEED: u64 = 0x5EED_0BAD_F00D_CAFE;

#[test]
fn random_garbage_on_many_connections_gets_the_answers_the_protocol_core_predicts() {
    let _serial = serial();
    let census = Census::take();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(8)
        .queue(GARBAGE_CONNECTIONS)
        .timeouts(short_timeouts())
        .limits(small_limits());
    let srv = TestServer::with(server, ok);
    let mut rng = Rng::new(GARBAGE_SEED);
    let cases: Vec<Garbage> = (0..GARBAGE_CONNECTIONS)
        .map(|_| Garbage::new(&mut rng))
        .collect();

    let addr = srv.addr();
    let per_thread = GARBAGE_CONNECTIONS / GARBAGE_THREADS;
    let clients: Vec<_> = cases
        .chunks(per_thread)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            spawn_client(move || garbage_client(addr, &chunk))
        })
        .collect();
    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.extend(c.join().expect("garbage client thread"));
    }

    let mut failures = Vec::new();
    let mut exact = 0;
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (case, got) in cases.iter().zip(&outcomes) {
        let prediction = predict(case);
        exact += usize::from(prediction.exact.is_some());
        match got
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|got| judge_garbage_answer(got, case, &prediction))
        {
            Ok(statuses) => {
                for s in statuses {
                    *by_status.entry(s).or_default() += 1;
                }
            }
            Err(e) => failures.push(format!(
                "{e}\n  sent: {}\n  half-closed: {}, core: {prediction:?}",
                lossy(&case.bytes),
                case.half_close
            )),
        }
    }
    eprintln!(
        "garbage: {exact} of {GARBAGE_CONNECTIONS} answers predicted exactly; \
         answers by status: {by_status:?}"
    );
    assert!(
        failures.is_empty(),
        "{} bad answers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The prediction is exact for most cases (only bodies and
    // `Expect` make the answer depend on the handler and the timing).
    assert!(
        exact >= GARBAGE_CONNECTIONS / 2,
        "only {exact} exact predictions"
    );
    assert_serves(&srv);
    census.assert_clean_after(srv);
}

/// One connection's worth of garbage, and whether the client half-closes
/// after sending it (otherwise the server's deadlines must end it).
#[derive(Clone, Debug)]
struct Garbage {
    bytes: Vec<u8>,
    half_close: bool,
}

/// Valid requests: whole, truncated, mutated, or as a prefix of noise.
const VALID: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a?b=c HTTP/1.0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"PUT /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
];

/// Pieces of HTTP that noise is made of, so that some of it gets past
/// the first checks of the parser.
const TOKENS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"OPTIONS",
    b" ",
    b"  ",
    b"/",
    b"/a",
    b"*",
    b"?",
    b"%00",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b":",
    b": ",
    b"Host",
    b"x",
    b"Content-Length",
    b"Transfer-Encoding",
    b"chunked",
    b"gzip",
    b",",
    b"0",
    b"5",
    b"-1",
    b"99999999999999999999",
    b"\t",
    b"Connection",
    b"close",
    b"keep-alive",
    b"Expect",
    b"100-continue",
    b"\0",
    b"\xff",
];

impl Garbage {
    fn new(rng: &mut Rng) -> Garbage {
        let bytes = match rng.below(5) {
            // Pure noise.
            0 => {
                let n = 1 + rng.below(1500);
                (0..n).map(|_| rng.next() as u8).collect()
            }
            // A valid request, then noise.
            1 => {
                let mut b = rng.pick(VALID).to_vec();
                let n = rng.below(300);
                b.extend((0..n).map(|_| rng.next() as u8));
                b
            }
            // A valid request with a few bytes replaced.
            2 => {
                let mut b = rng.pick(VALID).to_vec();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                b
            }
            // A valid request cut short.
            3 => {
                let b = *rng.pick(VALID);
                b[..rng.below(b.len())].to_vec()
            }
            // HTTP-shaped noise.
            _ => {
                let n = 1 + rng.below(60);
                (0..n)
                    .flat_map(|_| rng.pick(TOKENS).iter().copied())
                    .collect()
            }
        };
        Garbage {
            bytes,
            half_close: rng.below(8) != 0,
        }
    }
}

/// Sends each case on its own connection, all open at once, and returns
/// everything each connection received before it was closed. Each client
/// socket is closed as soon as its answer is read, so the server's
/// lingering close after an error ends then rather than at its time limit.
fn garbage_client(addr: SocketAddr, cases: &[Garbage]) -> Vec<io::Result<Vec<u8>>> {
    let mut conns = Vec::with_capacity(cases.len());
    for case in cases {
        let mut s = TcpStream::connect_timeout(&addr, FAILSAFE).expect("connect");
        s.set_read_timeout(Some(FAILSAFE)).unwrap();
        s.set_write_timeout(Some(FAILSAFE)).unwrap();
        // The server may answer and close before reading everything; what
        // it sent is judged below.
        let _ = s.write_all(&case.bytes);
        if case.half_close {
            let _ = s.shutdown(Shutdown::Write);
        }
        conns.push(s);
    }
    conns.into_iter().map(|mut s| read_all(&mut s)).collect()
}

/// What the protocol core makes of one garbage connection's bytes: the
/// oracle for what the server may answer.
#[derive(Debug)]
struct Prediction {
    /// Complete request heads, in order, as the core reads them (it stops
    /// after a request that does not keep the connection open).
    heads: usize,
    /// How the bytes end after the last head.
    end: Ending,
    /// The exact statuses the server must send, when they do not depend
    /// on the handler or on timing: every head had no body, no `Expect`
    /// and was not `HEAD`.
    exact: Option<Vec<u16>>,
}

#[derive(Debug, PartialEq)]
enum Ending {
    /// The connection ends cleanly after the last request.
    Closed,
    /// A protocol error with the status it answers with (`None`: closed
    /// without an answer, such as end-of-stream mid-request).
    Error(Option<u16>),
    /// The core waits for more bytes, holding this many: the server's
    /// deadlines end the connection (quietly when idle, else 408).
    NeedMore(usize),
}

/// Runs `case` through the model of the server's connection driver
/// with the server's limits: the bytes arrive at once, end-of-stream
/// follows only if the client half-closes, and every request is answered
/// with keep-alive allowed.
fn predict(case: &Garbage) -> Prediction {
    let run = if case.half_close {
        driver::run
    } else {
        driver::run_then_silence
    };
    let steps = run(&case.bytes, small_limits(), Feed::Whole, Answer::Plain).steps;
    let mut heads = 0;
    let mut simple = true;
    for step in &steps {
        if let Step::Head {
            method,
            body,
            expect_continue,
            ..
        } = step
        {
            heads += 1;
            simple &= *body == BodyKind::Empty && !expect_continue && method != "HEAD";
        }
    }
    let end = match steps.last() {
        Some(Step::Closed) => Ending::Closed,
        Some(Step::Error(status)) => Ending::Error(*status),
        Some(Step::Waiting(held)) => Ending::NeedMore(*held),
        other => unreachable!("a run ends closed, in an error or waiting: {other:?}"),
    };
    let exact = simple.then(|| {
        let mut want = vec![200; heads];
        match end {
            Ending::Error(Some(status)) => want.push(status),
            Ending::NeedMore(held) if held > 0 => want.push(408),
            _ => {}
        }
        want
    });
    Prediction { heads, end, exact }
}

/// Checks what a garbage connection received before its clean close
/// (see [`read_all`]) against the core's [`Prediction`]: complete,
/// well-formed HTTP/1.1 responses, never more `200 ok` than complete
/// requests, and at most one error, last, announcing `Connection: close`,
/// which is either the core's own answer to these bytes (after an answer
/// to every request before it) or a 408 for a client that went quiet.
/// Where the prediction is exact, the statuses must be exactly it.
/// Returns the statuses.
fn judge_garbage_answer(got: &[u8], case: &Garbage, want: &Prediction) -> Result<Vec<u16>, String> {
    let replies = parse_responses(got).map_err(|e| format!("{e}: {}", lossy(got)))?;
    let mut answered = 0;
    for (i, r) in replies.iter().enumerate() {
        let last = i + 1 == replies.len();
        match r.status {
            100 => {}
            200 if r.body == b"ok" => answered += 1,
            400..=599 if last && r.header("connection") == Some("close") => {}
            _ => return Err(format!("unexpected answer #{i}: {}", lossy(got))),
        }
    }
    let statuses = statuses(&replies);
    if answered > want.heads {
        return Err(format!(
            "{answered} answers to {} complete requests: {statuses:?}",
            want.heads
        ));
    }
    match replies.last().map(|r| r.status) {
        Some(408) if case.half_close || !matches!(want.end, Ending::NeedMore(1..)) => {
            return Err(format!(
                "408 for a client that was not waiting: {statuses:?}"
            ));
        }
        Some(408) | None => {}
        Some(s @ 400..=599) => {
            if want.end != Ending::Error(Some(s)) || answered != want.heads {
                return Err(format!(
                    "error answer {statuses:?} that the core does not give"
                ));
            }
        }
        Some(_) => {}
    }
    if let Some(exact) = &want.exact {
        if &statuses != exact {
            return Err(format!(
                "answered {statuses:?}, the core predicts {exact:?}"
            ));
        }
    }
    Ok(statuses)
}

// ---------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of this file one at a time (a failed test poisons the
/// lock; the next one goes on).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts a server with `threads` workers, short timeouts and small limits.
fn start(threads: usize, handler: impl Handler) -> TestServer {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(threads)
        .timeouts(short_timeouts())
        .limits(small_limits());
    TestServer::with(server, handler)
}

fn ok(_req: &mut Request) -> Response {
    Response::text("ok")
}

/// Reads the whole body as it arrives (never holding it in memory), then
/// says how long it was.
fn upload(req: &mut Request) -> sockhttp::Result<Response> {
    if req.path() != "/upload" {
        return Ok(Response::text("ok"));
    }
    let mut len = 0;
    while let Some(chunk) = req.body().next_chunk()? {
        len += chunk.len();
    }
    Ok(Response::text(format!("{len} bytes")))
}

/// Asserts that `got`, everything a slow client received before the
/// server closed its connection, is exactly one `408` that announced the
/// close.
fn assert_only_408(got: &[u8]) {
    let replies = parse_responses(got).unwrap_or_else(|e| panic!("{e}: {}", lossy(got)));
    assert_eq!(statuses(&replies), [408], "{}", lossy(got));
    assert_eq!(replies[0].header("connection"), Some("close"));
    assert_eq!(replies[0].body, b"408 Request Timeout\n");
}

/// Reads until the server closes `s` (or resets it); returns how many
/// bytes arrived.
fn read_len_to_end(s: &mut TcpStream) -> u64 {
    let mut got: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("reading a cut-off response: {e} after {got} bytes"),
        }
    }
}

/// Asserts that the server answers a normal request on a new connection,
/// then closes it as asked.
fn assert_serves(srv: &TestServer) {
    let mut s = srv.connect();
    s.write_all(NORMAL).unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
    assert_closed(&mut s);
}

fn spawn_client<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(CLIENT_THREAD.to_owned())
        .spawn(f)
        .expect("start a client thread")
}

/// Reads until the server closes the connection cleanly (end-of-stream).
/// Anything else is an error: a timeout means the server hung, and a
/// reset means it closed with our bytes unread, which can destroy its
/// answer in flight (the server lingers after an error, and the overload
/// answer reads the request first, to avoid exactly that).
fn read_all(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e} after receiving {}", lossy(&out)),
                ));
            }
        }
    }
}

/// A slow client: sends `prefix` at once, then `slow` one byte per
/// DRIBBLE_GAP, while another thread reads the answer; it stops sending
/// once the server has closed the connection.
struct SlowClient {
    reader: thread::JoinHandle<io::Result<Vec<u8>>>,
    writer: thread::JoinHandle<()>,
}

impl SlowClient {
    /// Starts the client; `started` hears when the first slow byte is out.
    fn start(
        stream: TcpStream,
        prefix: Vec<u8>,
        slow: Vec<u8>,
        started: mpsc::Sender<()>,
    ) -> SlowClient {
        let closed = Arc::new(AtomicBool::new(false));
        let mut rd = stream.try_clone().expect("clone the client socket");
        let reader = {
            let closed = Arc::clone(&closed);
            spawn_client(move || {
                let got = read_all(&mut rd);
                closed.store(true, Ordering::SeqCst);
                got
            })
        };
        let mut wr = stream;
        let writer = spawn_client(move || {
            if wr.write_all(&prefix).is_err() {
                return;
            }
            for (i, b) in slow.into_iter().enumerate() {
                if closed.load(Ordering::SeqCst) || wr.write_all(&[b]).is_err() {
                    return;
                }
                if i == 0 {
                    let _ = started.send(());
                }
                // Slow on purpose: being slow is what this client tests.
                thread::sleep(DRIBBLE_GAP);
            }
        });
        SlowClient { reader, writer }
    }

    /// Waits for the server to close the connection; returns what it sent.
    fn finish(self) -> io::Result<Vec<u8>> {
        let got = self.reader.join().expect("reader thread");
        self.writer.join().expect("writer thread");
        got
    }
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status).collect()
}

/// Parses `raw` as a sequence of complete HTTP/1.1 responses, each framed
/// by `Content-Length` or chunked encoding (1xx, 204 and 304 have no
/// body). Fails on anything else: a bad status line or header, a
/// response cut short, bytes left over.
fn parse_responses(raw: &[u8]) -> Result<Vec<Reply>, String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let (resp, used) =
            parse_response(rest).map_err(|e| format!("response #{}: {e}", out.len()))?;
        out.push(resp);
        rest = &rest[used..];
    }
    Ok(out)
}

fn parse_response(raw: &[u8]) -> Result<(Reply, usize), String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("incomplete head")? + 4;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "head is not UTF-8")?;
    let mut lines = head[..head_end - 4].split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3).filter(|_| s.as_bytes().get(3) == Some(&b' ')))
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("bad header name {name:?}"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut resp = Reply {
        status,
        head: head.to_owned(),
        headers,
        body: Vec::new(),
    };
    let body = &raw[head_end..];
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok((resp, head_end));
    }
    if let Some(te) = resp.header("transfer-encoding") {
        if te != "chunked" {
            return Err(format!("unexpected transfer-encoding {te:?}"));
        }
        let (decoded, used) = parse_chunked(body)?;
        resp.body = decoded;
        return Ok((resp, head_end + used));
    }
    let len: usize = resp
        .header("content-length")
        .ok_or("neither Content-Length nor chunked")?
        .parse()
        .map_err(|_| "bad Content-Length")?;
    if body.len() < len {
        return Err(format!("body cut short: {} of {len} bytes", body.len()));
    }
    resp.body = body[..len].to_vec();
    Ok((resp, head_end + len))
}

/// Decodes a chunked body; returns it and how many bytes it took.
fn parse_chunked(raw: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + find(&raw[at..], b"\r\n").ok_or("chunk size cut short")?;
        let size_text = std::str::from_utf8(&raw[at..line_end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        at = line_end + 2;
        if size == 0 {
            // No trailers are sent: the body ends with an empty line.
            return match raw.get(at..at + 2) {
                Some(b"\r\n") => Ok((body, at + 2)),
                _ => Err("last chunk cut short".to_owned()),
            };
        }
        let data = raw.get(at..at + size).ok_or("chunk cut short")?;
        body.extend_from_slice(data);
        at += size;
        if raw.get(at..at + 2) != Some(b"\r\n") {
            return Err("chunk not followed by CRLF".to_owned());
        }
        at += 2;
    }
}

/// Shows bytes for a failure message: escaped, and cut if long.
fn lossy(b: &[u8]) -> String {
    let shown = &b[..b.len().min(300)];
    let mut s: String = shown.escape_ascii().to_string();
    if b.len() > shown.len() {
        s.push_str(&format!("… ({} bytes)", b.len()));
    }
    s
}

/// Latch holds handlers until it is opened (at most FAILSAFE, so that a
/// failing test cannot leave a worker blocked forever).
#[derive(Clone, Default)]
struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    fn open(&self) {
        *self.0.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0.1.notify_all();
    }

    fn wait(&self) {
        let open = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.0.1.wait_timeout_while(open, FAILSAFE, |open| !*open);
    }
}

struct OpenOnDrop(Latch);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Census is what a test must find again once its server has shut down:
/// the server and client threads (see [`our_threads`]), the process's
/// open descriptors, and the number of panics on server threads. A
/// server job that panics is caught by the pool and its connection just
/// closes, which a client cannot tell from a deliberate close, so panics
/// are counted by a panic hook instead.
struct Census {
    threads: Vec<String>,
    fds: usize,
    panics: usize,
}

/// Panics on threads named `sockhttp…` since the hook was installed.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

impl Census {
    /// Takes the census before a test starts its server.
    fn take() -> Census {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if thread::current()
                    .name()
                    .is_some_and(|n| n.starts_with("sockhttp"))
                {
                    SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
                }
                previous(info);
            }));
        });
        Census {
            threads: our_threads(),
            fds: open_fds(),
            panics: SERVER_PANICS.load(Ordering::SeqCst),
        }
    }

    /// Shuts `srv` down (every client socket must be closed by then) and
    /// asserts that the server left nothing behind: every thread it or
    /// the test's clients started is gone, every descriptor it opened is
    /// closed, and none of its threads panicked.
    fn assert_clean_after(self, srv: TestServer) {
        srv.shutdown();
        let threads = wait_for_threads(&self.threads);
        assert_eq!(threads, self.threads, "threads left after shutdown");
        let fds = open_fds();
        // Fewer is fine: something opened before the census may have
        // closed since.
        assert!(
            fds <= self.fds,
            "descriptors leaked: {} before the server started, {fds} after it stopped",
            self.fds
        );
        assert_eq!(
            SERVER_PANICS.load(Ordering::SeqCst),
            self.panics,
            "a server thread panicked (its message is in the test output)"
        );
    }
}

/// Counts the descriptors this process has open (the server runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Lists the names of this process's threads that belong to a server or
/// to a test client: `sockhttp-…` (the accept loop and the workers) and
/// CLIENT_THREAD. A thread started without a name inherits its creator's,
/// so threads these start are counted too. The test harness's own
/// threads are not: it starts one per test whenever another test ends,
/// which would make a total count of `/proc/self/task` race.
fn our_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|task| {
            let task = task.ok()?;
            // A thread may exit between listing and reading: skip it.
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let comm = comm.trim_end().to_owned();
            (comm.starts_with("sockhttp") || comm == CLIENT_THREAD).then_some(comm)
        })
        .collect();
    names.sort();
    names
}

/// Waits until the census of [`our_threads`] equals `want`, bounded by
/// FAILSAFE. A joined thread has finished its work, but the kernel
/// removes it from `/proc/self/task` an instant later, so this polls.
fn wait_for_threads(want: &[String]) -> Vec<String> {
    let deadline = Instant::now() + FAILSAFE;
    loop {
        let now = our_threads();
        if now == want || Instant::now() >= deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(1));
    }
}
