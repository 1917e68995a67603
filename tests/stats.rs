//! The live statistics over real sockets: every number moves by exactly
//! what the clients did (requests of each class and their bytes, a file
//! sent by `sendfile`, a 503 refusal, a timeout of each phase, a handler
//! panic), and the gauges follow connections that are idle, parked, busy
//! and upgraded to WebSocket sessions.
//!
//! The numbers are written by the server's threads and read here with no
//! event to wait for, so each check reads them in a bounded loop until
//! they are what the clients did, and fails with the last snapshot.

mod support;

use sockhttp::ws::{Message, Session, Upgrade};
use sockhttp::{
    HandlerError, HandlerResult, Request, Response, Router, StaticFiles, Stats, StatusCode,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// Whether connections wait in the epoll set (else each holds a worker).
const EPOLL: bool = cfg!(all(target_os = "linux", not(sockhttp_no_epoll)));

/// Reads the statistics until `want` holds, failing with the last
/// snapshot after [`FAILSAFE`].
fn settle(srv: &TestServer, what: &str, want: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + FAILSAFE;
    loop {
        let s = srv.stats();
        if want(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never came to be: {s:#?}"
        );
        // Nothing announces a count: look again shortly.
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reads the statistics until they are `want`, exactly.
fn settle_at(srv: &TestServer, what: &str, want: &Stats) {
    let deadline = Instant::now() + FAILSAFE;
    loop {
        let s = srv.stats();
        if s == *want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: got {s:#?}\nwant {want:#?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `raw` on a new connection and reads until the server closes it;
/// returns how many bytes went each way.
fn exchange(srv: &TestServer, raw: &[u8]) -> (u64, Vec<u8>) {
    let reply = srv.exchange(raw);
    (raw.len() as u64, reply)
}

fn status_of(reply: &[u8]) -> &str {
    std::str::from_utf8(&reply[9..12]).unwrap()
}

fn app(files: &TempDir) -> Router {
    Router::new()
        .get("/ok", |_req| Response::text("hello"))
        .get("/moved", |_req| {
            Response::redirect(StatusCode::MOVED_PERMANENTLY, "/ok")
        })
        .get("/unavailable", |_req| -> HandlerResult {
            Err(HandlerError::new(StatusCode::SERVICE_UNAVAILABLE))
        })
        .get("/panic", |_req| -> Response {
            panic!("/panic panics on purpose")
        })
        .get("/upgrade", |_req| {
            // The new owner closes the connection at once.
            Response::upgrade("test", drop)
        })
        .post("/echo", |req: &mut Request| -> HandlerResult {
            Ok(Response::bytes(
                "application/octet-stream",
                req.body_bytes()?,
            ))
        })
        .get("/big", |_req| {
            Response::bytes("application/octet-stream", vec![b'x'; BIG])
        })
        .get("/ws", |req: &mut Request| {
            Upgrade::new(req).accept(|session: &mut Session, msg: Message| {
                let _ = session.send(msg);
            })
        })
        .mount("/files", StaticFiles::new(&files.0))
}

/// An answer larger than the socket buffers of both ends hold.
const BIG: usize = 32 * 1024 * 1024;

/// A directory of files for `/files`, named after the test (`tag`).
fn files(tag: &str) -> TempDir {
    let dir = TempDir::new(&format!("stats-{tag}"));
    std::fs::write(dir.0.join("page.txt"), vec![b'p'; 100_000]).unwrap();
    dir
}

#[test]
fn requests_are_counted_by_class_with_every_byte_each_way() {
    let files = files("classes");
    let srv = TestServer::with(server().threads(2), app(&files));
    settle_at(&srv, "a server that has served nothing", &Stats::default());

    let requests: &[(&[u8], &str)] = &[
        (b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "200"),
        (b"GET /moved HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "301"),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "404"),
        (b"GET /ok HTTP/1.1\r\nHost : x\r\n\r\n", "400"),
        (b"GET /unavailable HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "503"),
        (b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", "500"),
        (
            b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n",
            "101",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            "200",
        ),
        // Sent by sendfile(2) on Linux.
        (b"GET /files/page.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "200"),
        // Two pipelined requests on one connection.
        (
            b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "200",
        ),
    ];
    let mut want = Stats::default();
    for (raw, status) in requests {
        let (up, reply) = exchange(&srv, raw);
        assert_eq!(
            status_of(&reply),
            *status,
            "{}",
            String::from_utf8_lossy(raw)
        );
        want.connections_accepted += 1;
        want.received_bytes += up;
        want.sent_bytes += reply.len() as u64;
    }
    want.requests_1xx = 1;
    want.requests_2xx = 5; // /ok, /echo, the file, the pipelined pair
    want.requests_3xx = 1;
    want.requests_4xx = 2;
    want.requests_5xx = 2;
    want.handler_panics = 1;
    assert!(want.sent_bytes > 100_000, "the file went: {want:?}");
    // Every connection is closed: the gauges are back to zero.
    settle_at(&srv, "after the requests", &want);
}

#[test]
fn a_refused_connection_is_counted_but_not_as_a_request() {
    let files = files("refused");
    let srv = TestServer::with(server().threads(2).max_connections(1), app(&files));
    let mut first = srv.connect();
    first.write_all(&get("/ok")).unwrap();
    assert_eq!(read_reply(&mut first, false).status, 200);

    let (_, refused) = exchange(&srv, &get("/ok"));
    assert_eq!(status_of(&refused), "503");
    let s = settle(&srv, "the refusal", |s| {
        s.connections_refused == 1 && s.open_connections == 1
    });
    assert_eq!(s.connections_accepted, 2);
    assert_eq!((s.requests_2xx, s.requests_5xx), (1, 0), "{s:#?}");
    drop(first);
    settle(&srv, "the first connection closed", |s| {
        s.open_connections == 0
    });
}

#[test]
fn timeouts_are_counted_by_phase() {
    let files = files("timeouts");
    let srv = TestServer::with(server().threads(2).timeouts(short_timeouts()), app(&files));
    // Idle: a connection that never sends, and one that sends no second
    // request; both are closed without an answer.
    let (_, silent) = exchange(&srv, b"");
    assert_eq!(silent, b"");
    let mut kept = srv.connect();
    kept.write_all(&get("/ok")).unwrap();
    assert_eq!(read_reply(&mut kept, false).status, 200);
    assert_eq!(read_to_end(&mut kept), b"");
    // Head and body: answered 408.
    let (_, head) = exchange(&srv, b"GET /ok HTTP/1.1\r\nHost:");
    assert_eq!(status_of(&head), "408");
    let (_, body) = exchange(
        &srv,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    );
    assert_eq!(status_of(&body), "408");
    // Write: an answer nobody reads. The server gives up on it by itself.
    let mut stuck = srv.connect();
    stuck.write_all(&get("/big")).unwrap();

    // (Without epoll, `/big` is counted once its write has failed.)
    let s = settle(&srv, "a write timeout", |s| {
        s.timeouts_write == 1 && s.requests_2xx == 2
    });
    assert_eq!(
        (s.timeouts_idle, s.timeouts_head, s.timeouts_body),
        (2, 1, 1),
        "{s:#?}"
    );
    assert_eq!(s.requests_4xx, 2, "the 408s: {s:#?}");
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    while let Ok(n @ 1..) = stuck.read(&mut buf) {
        got += n;
    }
    assert!(got < BIG, "cut off before the end");
    drop(stuck);
    let s = settle(&srv, "every connection closed", |s| s.open_connections == 0);
    assert_eq!(s.timeouts(sockhttp::Phase::Write), 1);
}

#[test]
fn gauges_follow_idle_busy_and_upgraded_connections() {
    let (gate, control) = gate();
    let app = Router::new()
        .get("/ok", |_req| Response::text("hello"))
        .get("/gate", move |_req| {
            gate.enter();
            Response::text("released")
        })
        .get("/ws", |req: &mut Request| {
            Upgrade::new(req).accept(|session: &mut Session, msg: Message| {
                let _ = session.send(msg);
            })
        });
    let srv = TestServer::with(server().threads(6), app);

    // Three connections, each served once and kept alive: parked with
    // epoll; without it, each holds a worker.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = srv.connect();
            s.write_all(&get("/ok")).unwrap();
            assert_eq!(read_reply(&mut s, false).status, 200);
            s
        })
        .collect();
    let (parked, busy) = if EPOLL { (3, 0) } else { (0, 3) };
    settle(&srv, "three idle connections", |s| {
        (s.open_connections, s.parked_connections, s.busy_connections) == (3, parked, busy)
    });

    // One more, in its handler.
    let mut held = srv.connect();
    held.write_all(b"GET /gate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    control.wait_entered();
    settle(&srv, "a request in its handler", |s| {
        (s.open_connections, s.parked_connections, s.busy_connections) == (4, parked, busy + 1)
    });
    control.release();
    assert_eq!(read_reply(&mut held, false).text(), "released");
    drop(held);

    // A WebSocket session between messages: parked like an idle
    // connection (without epoll it holds a worker).
    let (mut ws, resp) = tungstenite::connect(format!("ws://{}/ws", srv.addr())).unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hi"));
    let (parked, busy) = if EPOLL { (4, 0) } else { (0, 4) };
    let s = settle(&srv, "a WebSocket session", |s| {
        (
            s.open_connections,
            s.parked_connections,
            s.busy_connections,
            s.websocket_sessions,
        ) == (4, parked, busy, 1)
    });
    assert_eq!((s.requests_1xx, s.requests_2xx), (1, 4), "{s:#?}");

    drop(idle);
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    settle(&srv, "everything closed", |s| {
        (
            s.open_connections,
            s.parked_connections,
            s.busy_connections,
            s.websocket_sessions,
        ) == (0, 0, 0, 0)
    });
}

#[test]
fn a_handle_taken_before_serving_reads_the_running_server_and_keeps_its_counts() {
    let server = server().threads(2);
    let stats = server.stats_handle();
    let metrics = stats.clone();
    let app = Router::new().get("/count", move |_req| {
        Response::text(metrics.snapshot().requests().to_string())
    });
    assert_eq!(stats.snapshot(), Stats::default(), "nothing before serving");
    let srv = TestServer::with(server, app);
    let mut s = srv.connect();
    for want in ["0", "1", "2"] {
        s.write_all(&get("/count")).unwrap();
        assert_eq!(read_reply(&mut s, false).text(), want);
    }
    drop(s);
    settle(&srv, "closed", |s| s.open_connections == 0);
    srv.shutdown();
    let after = stats.snapshot();
    assert_eq!(
        after.requests_2xx, 3,
        "counts outlive the server: {after:#?}"
    );
    assert_eq!(after.connections_accepted, 1);
}
