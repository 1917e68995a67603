//! Slow peers cost memory, not workers: with four times the pool of
//! clients stuck in the middle of a request (a partial head, a body that
//! dribbles, an endless upload, a download nobody reads, whole or in
//! `multipart/byteranges` parts), a normal client
//! is still served, and every one of them is closed in the end, with the
//! right status where one is due.
//!
//! Only the epoll parker parks a connection in the middle of a request;
//! the blocking fallback holds a worker per connection by design.
#![cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]

mod support;

use sockhttp::{Request, Response, Server, StaticFiles, StatusCode};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;
use support::*;

/// The pool, and four times as many attackers of each kind.
const WORKERS: usize = 2;
const ATTACKERS: usize = 4 * WORKERS;
/// The answer of `/big`: more than the socket buffers of both ends hold.
const BIG: usize = 32 * 1024 * 1024;
/// The largest body `/upload` takes.
const MAX_BODY: u64 = 256 * 1024;

fn app(req: &mut Request) -> sockhttp::Result<Response> {
    match req.path() {
        "/big" => Ok(Response::bytes("application/octet-stream", vec![b'x'; BIG])),
        "/stream" => Ok(Response::writer(|w| {
            let line = [b'x'; 1024];
            for _ in 0..BIG / line.len() {
                w.write_all(&line)?;
            }
            Ok(())
        })),
        "/upload" => {
            let body = req.body_bytes()?;
            Ok(Response::text(format!("{} bytes", body.len())))
        }
        _ => Ok(Response::text("hello")),
    }
}

fn slow_server() -> TestServer {
    let mut timeouts = short_timeouts();
    timeouts.send_grace = Duration::from_millis(300);
    let mut limits = sockhttp::Limits::default();
    limits.max_body_bytes = MAX_BODY;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(WORKERS)
        .timeouts(timeouts)
        .limits(limits);
    TestServer::with(server, app)
}

/// A normal client: one request, its answer.
fn assert_served(srv: &TestServer) {
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "hello");
}

/// Connects `ATTACKERS` clients that each send `raw` and stop there.
fn stuck_clients(srv: &TestServer, raw: &[u8]) -> Vec<TcpStream> {
    (0..ATTACKERS)
        .map(|_| {
            let mut s = srv.connect();
            s.write_all(raw).unwrap();
            s
        })
        .collect()
}

/// An endless upload: chunks as fast as the server takes them, until it
/// stops taking them; then what it answered, if anything.
fn endless_upload(srv: &TestServer) -> thread::JoinHandle<Option<u16>> {
    let mut s = srv.connect();
    thread::spawn(move || {
        s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let chunk = format!("1000\r\n{}\r\n", "u".repeat(0x1000));
        // Bounded: the server must stop it long before this.
        for _ in 0..100_000 {
            if s.write_all(chunk.as_bytes()).is_err() {
                break;
            }
        }
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        parse_status(&got)
    })
}

/// Reads what a stuck client was sent until the server closes the
/// connection; returns how many bytes that was.
fn read_until_closed(s: &mut TcpStream) -> usize {
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("after {got} bytes: {e}"),
        }
    }
}

fn parse_status(raw: &[u8]) -> Option<u16> {
    let line = raw.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line.get(9..12)?).ok()?.parse().ok()
}

#[test]
fn partial_heads_hold_no_worker_and_get_408() {
    let srv = slow_server();
    let mut stuck = stuck_clients(&srv, b"GET /hello HTTP/1.1\r\nHost: x\r\n");
    assert_served(&srv);
    for s in &mut stuck {
        let reply = read_reply(s, false);
        assert_eq!(reply.status, 408);
        assert_eq!(reply.header("connection"), Some("close"));
        assert_closed(s);
    }
}

#[test]
fn dribbling_bodies_hold_no_worker_and_get_408() {
    let srv = slow_server();
    let raw = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nfirst bytes";
    let mut stuck = stuck_clients(&srv, raw);
    assert_served(&srv);
    for s in &mut stuck {
        assert_eq!(read_reply(s, false).status, 408);
        assert_closed(s);
    }
}

#[test]
fn endless_uploads_hold_at_most_their_share_and_end_at_the_body_limit() {
    let srv = slow_server();
    let uploads: Vec<_> = (0..ATTACKERS).map(|_| endless_upload(&srv)).collect();
    assert_served(&srv);
    for upload in uploads {
        // The body limit's status, or a close the client saw as a reset
        // while it was still sending.
        let status = upload.join().unwrap();
        assert!(matches!(status, None | Some(413)), "{status:?}");
    }
    assert_served(&srv);
}

#[test]
fn downloads_nobody_reads_hold_no_worker_and_are_cut_off() {
    let srv = slow_server();
    let mut stuck = stuck_clients(&srv, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_served(&srv);
    wait_past(short_timeouts().write);
    for s in &mut stuck {
        assert!(
            read_until_closed(s) < BIG,
            "cut off before the end of the answer"
        );
    }
}

#[test]
fn multipart_answers_nobody_reads_hold_no_worker() {
    // The write timeout outlasts a client's failsafe: a worker held by a
    // stuck reader would not be free in time to serve anyone else.
    let root = TempDir::new("slow-multipart");
    std::fs::write(root.0.join("hello"), "hello").unwrap();
    // 64 MiB, sparse: no disk, and sent by `sendfile` all the same.
    std::fs::File::create(root.0.join("big.bin"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let mut timeouts = short_timeouts();
    timeouts.write = FAILSAFE * 2;
    timeouts.send_grace = FAILSAFE * 2;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(WORKERS)
        .timeouts(timeouts);
    let srv = TestServer::with(server, StaticFiles::new(&root.0));
    // Two parts of 16 MiB: more than the socket buffers of both ends hold.
    let raw = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\
        Range: bytes=0-16777215,33554432-50331647\r\n\r\n";
    let mut stuck = stuck_clients(&srv, raw);
    // Every answer has begun (its head is here), and none is read further.
    for s in &mut stuck {
        let head = read_head(s);
        assert!(
            head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nContent-Type: multipart/byteranges; boundary="));
    }
    for _ in 0..5 {
        assert_served(&srv);
    }
    drop(stuck);
    assert_served(&srv);
}

#[test]
fn streamed_answers_nobody_reads_hold_at_most_half_the_pool() {
    // A handler's stream waits for its reader on its worker; only half the
    // pool may, and a stream that would wait beyond that is cut off.
    let srv = slow_server();
    let mut stuck = stuck_clients(&srv, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    for _ in 0..5 {
        assert_served(&srv);
    }
    wait_past(short_timeouts().write);
    for s in &mut stuck {
        assert!(
            read_until_closed(s) < BIG,
            "cut off before the end of the stream"
        );
    }
}

#[test]
fn every_kind_of_slow_peer_at_once_leaves_the_server_serving() {
    let srv = slow_server();
    let heads = stuck_clients(&srv, b"GET /hello HTTP/1.1\r\nHost: x\r\n");
    let bodies = stuck_clients(
        &srv,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx",
    );
    let downloads = stuck_clients(&srv, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    let uploads: Vec<_> = (0..ATTACKERS).map(|_| endless_upload(&srv)).collect();
    for _ in 0..10 {
        assert_served(&srv);
    }
    for upload in uploads {
        let _ = upload.join().unwrap();
    }
    drop((heads, bodies, downloads));
    assert_served(&srv);
}

#[test]
fn a_slow_reader_of_a_small_answer_is_not_cut_off() {
    // The minimum send rate is about answers the peer does not take: one
    // that fits the socket buffers leaves at once, however slowly the
    // client reads it afterwards.
    let srv = slow_server();
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    wait_past(short_timeouts().write);
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, StatusCode::OK.as_u16());
    assert_eq!(reply.text(), "hello");
}

#[test]
fn a_slow_readers_connection_is_idle_from_the_end_of_its_answer() {
    // The client pauses in the middle of a long answer for longer than
    // the idle timeout, reads the rest, then thinks for a moment before
    // its next request: it was reading, not idle, until the answer had
    // gone, so the connection is still there.
    const HUGE: usize = 64 * 1024 * 1024; // more than both ends buffer
    let mut timeouts = short_timeouts();
    timeouts.idle = Duration::from_secs(1);
    timeouts.write = FAILSAFE;
    timeouts.send_grace = FAILSAFE;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(WORKERS)
        .timeouts(timeouts);
    let srv = TestServer::with(server, |req: &mut Request| match req.path() {
        "/huge" => Response::bytes("application/octet-stream", vec![b'x'; HUGE]),
        _ => Response::text("hello"),
    });
    let mut s = srv.connect();
    s.write_all(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let head = read_head(&mut s);
    assert!(
        head.contains(&format!("\r\nContent-Length: {HUGE}\r\n")),
        "{head}"
    );
    wait_past(timeouts.idle);
    let mut buf = vec![0u8; 1024 * 1024];
    let mut left = HUGE;
    while left > 0 {
        let n = s.read(&mut buf[..left.min(1024 * 1024)]).unwrap();
        assert!(n > 0, "closed with {left} bytes of the answer to come");
        left -= n;
    }
    // Thinking, for a tenth of the idle timeout.
    thread::sleep(timeouts.idle / 10);
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "hello");
}
