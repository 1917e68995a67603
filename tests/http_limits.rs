//! Limits and timeouts over real sockets: 414, 431 and 413 enforced
//! while reading, 408 for a slow head or body (deadlines, not per-read
//! timeouts), quiet close of idle connections, and a client that stops
//! reading cannot keep a worker.
//!
//! Tests that wait for a server timeout simply read until end-of-stream;
//! the client's failsafe timeout only bounds a broken server.

mod support;

use sockhttp::{Request, Response};
use std::io::{self, Write};
use std::iter;
use std::time::Duration;
use support::*;

/// The pause between two bytes of a slow client: the server's 300 ms
/// deadlines pass long before a dribbled request could be complete.
const DRIBBLE: Duration = Duration::from_millis(20);

/// A server with small limits and the default (patient) timeouts.
fn small_server(handler: impl sockhttp::Handler) -> TestServer {
    TestServer::with(server().threads(2).limits(small_limits()), handler)
}

/// A server with small limits and 300 ms head, body and write timeouts,
/// for the tests that provoke one. Waiting for a request stays patient,
/// so that a busy machine cannot turn a slow head into an idle close.
fn impatient_server(handler: impl sockhttp::Handler) -> TestServer {
    let mut timeouts = short_timeouts();
    timeouts.idle = sockhttp::Timeouts::default().idle;
    TestServer::with(
        server()
            .threads(2)
            .limits(small_limits())
            .timeouts(timeouts),
        handler,
    )
}

/// A server whose idle timeout (300 ms) is short.
fn idle_closing_server(handler: impl sockhttp::Handler) -> TestServer {
    TestServer::with(server().timeouts(short_timeouts()), handler)
}

/// Default timeouts, except a 300 ms write timeout.
fn short_write_timeout() -> sockhttp::Timeouts {
    let mut t = sockhttp::Timeouts::default();
    t.write = short_timeouts().write;
    t
}

/// Reads the body into memory and answers with its length.
fn body_len(req: &mut Request) -> sockhttp::Result<Response> {
    let body = req.body_bytes()?;
    Ok(Response::text(format!("{} bytes", body.len())))
}

/// Streams the body to nowhere (no in-memory limit) and answers with its
/// length.
fn stream_len(req: &mut Request) -> sockhttp::Result<Response> {
    let n = io::copy(req.body(), &mut io::sink())?;
    Ok(Response::text(format!("{n} bytes")))
}

#[test]
fn request_line_over_limit_gets_414_and_close() {
    let srv = small_server(body_len);
    let target = format!("/{}", "a".repeat(300));
    let reply = srv.exchange(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert_error_then_close("long target", &reply, "HTTP/1.1 414 URI Too Long");
}

#[test]
fn request_line_at_limit_is_served() {
    let srv = small_server(|req: &mut Request| Response::text(req.path().len().to_string()));
    // 256 bytes with "GET ", " HTTP/1.1" and CRLF.
    let target = format!("/{}", "a".repeat(256 - 4 - 9 - 2 - 1));
    let mut s = srv.connect();
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), target.len().to_string());
}

#[test]
fn unterminated_request_line_over_limit_gets_414_without_waiting_for_its_end() {
    // The line never ends: the server must answer from the limit alone.
    let srv = small_server(body_len);
    let mut s = srv.connect();
    s.write_all(format!("GET /{}", "a".repeat(2000)).as_bytes())
        .unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("unterminated line", &reply, "HTTP/1.1 414 URI Too Long");
}

#[test]
fn head_over_limit_gets_431_and_close() {
    let srv = small_server(body_len);
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..8 {
        raw.extend_from_slice(format!("X-Big-{i}: {}\r\n", "v".repeat(150)).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    assert!(raw.len() > 1024);
    let reply = srv.exchange(&raw);
    assert_error_then_close(
        "head bytes",
        &reply,
        "HTTP/1.1 431 Request Header Fields Too Large",
    );
}

#[test]
fn head_at_limit_is_served() {
    let srv = small_server(|req: &mut Request| Response::text(req.headers().len().to_string()));
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Fill: ".to_vec();
    // Exactly 1024 bytes with the final CRLF CRLF.
    raw.resize(1024 - 4, b'f');
    raw.extend_from_slice(b"\r\n\r\n");
    let mut s = srv.connect();
    // Byte by byte as well as whole: the limit does not depend on the split.
    for piece in raw.chunks(1) {
        s.write_all(piece).unwrap();
    }
    assert_eq!(read_reply(&mut s, false).text(), "2");
    s.write_all(&raw).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "2");
}

#[test]
fn unterminated_head_over_limit_gets_431_without_waiting_for_its_end() {
    let srv = small_server(body_len);
    let mut s = srv.connect();
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    raw.extend_from_slice(format!("X-Big: {}", "v".repeat(4000)).as_bytes());
    s.write_all(&raw).unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close(
        "unterminated head",
        &reply,
        "HTTP/1.1 431 Request Header Fields Too Large",
    );
}

#[test]
fn header_count_over_limit_gets_431_and_close() {
    let srv = small_server(body_len);
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..10 {
        raw.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let reply = srv.exchange(&raw);
    assert_error_then_close(
        "header count",
        &reply,
        "HTTP/1.1 431 Request Header Fields Too Large",
    );
}

#[test]
fn header_count_at_limit_is_served() {
    let srv = small_server(|req: &mut Request| Response::text(req.headers().len().to_string()));
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..9 {
        raw.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let mut s = srv.connect();
    s.write_all(&raw).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "10");
}

#[test]
fn declared_body_over_limit_gets_413_before_the_handler_runs() {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = small_server(move |req: &mut Request| {
        let _ = tx.send(());
        body_len(req)
    });
    let mut s = srv.connect();
    // Only the head is sent: the answer cannot wait for the body.
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
        .unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("declared", &reply, "HTTP/1.1 413 Content Too Large");
    drop(srv);
    assert!(rx.try_recv().is_err(), "the handler never ran");
}

#[test]
fn declared_body_at_limit_is_accepted() {
    let srv = small_server(stream_len);
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n")
        .unwrap();
    s.write_all(&[b'b'; 1024]).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.text(), "1024 bytes");
}

#[test]
fn chunked_body_over_limit_gets_413_while_streaming() {
    let srv = small_server(stream_len);
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    // 700 + 700 bytes: the second chunk passes the 1024-byte limit. The
    // body never ends, so the answer cannot wait for its end.
    for _ in 0..2 {
        s.write_all(format!("2bc\r\n{}\r\n", "c".repeat(700)).as_bytes())
            .unwrap();
    }
    let reply = read_to_end(&mut s);
    assert_error_then_close("chunked", &reply, "HTTP/1.1 413 Content Too Large");
}

#[test]
fn chunk_size_over_limit_gets_413_before_its_data() {
    let srv = small_server(stream_len);
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n")
        .unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("chunk size", &reply, "HTTP/1.1 413 Content Too Large");
}

#[test]
fn body_over_the_in_memory_limit_gets_413_and_close() {
    let srv = small_server(body_len);
    let mut s = srv.connect();
    // 600 bytes: under max_body_bytes (1024), over max_buffered_body_bytes (512).
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n")
        .unwrap();
    s.write_all(&[b'm'; 600]).unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("in memory", &reply, "HTTP/1.1 413 Content Too Large");
}

#[test]
fn slowloris_head_gets_408_and_close() {
    let srv = impatient_server(body_len);
    let s = srv.connect();
    // A head that would never end, one byte at a time: each byte arrives
    // well within a per-read timeout, but the head deadline passes.
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .copied()
        .chain(iter::repeat(b'z'));
    let dribbler = Dribbler::start(&s, head, DRIBBLE);
    let reply = read_to_end(&mut s.try_clone().unwrap());
    drop(dribbler);
    assert_error_then_close("slowloris", &reply, "HTTP/1.1 408 Request Timeout");
}

#[test]
fn partial_head_then_silence_gets_408_and_close() {
    let srv = impatient_server(body_len);
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("stalled head", &reply, "HTTP/1.1 408 Request Timeout");
}

#[test]
fn partial_head_of_a_second_request_gets_408_and_close() {
    let srv = impatient_server(body_len);
    let mut s = srv.connect();
    s.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "0 bytes");
    // The next head starts but never ends: a 408, not a quiet idle close.
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close(
        "stalled second head",
        &reply,
        "HTTP/1.1 408 Request Timeout",
    );
}

#[test]
fn slow_body_gets_408_and_close() {
    let srv = impatient_server(stream_len);
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    // Each byte arrives well within a per-read timeout; the body deadline
    // (300 ms, plus a second per 500 bytes received) still passes.
    let dribbler = Dribbler::start(&s, iter::repeat_n(b'd', 1000), DRIBBLE);
    let reply = read_to_end(&mut s.try_clone().unwrap());
    drop(dribbler);
    assert_error_then_close("slow body", &reply, "HTTP/1.1 408 Request Timeout");
}

#[test]
fn stalled_body_gets_408_and_close() {
    let srv = impatient_server(stream_len);
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("stalled body", &reply, "HTTP/1.1 408 Request Timeout");
}

#[test]
fn idle_connection_is_closed_quietly() {
    let srv = idle_closing_server(body_len);
    let mut s = srv.connect();
    // Nothing was ever sent: no response, just the end of the stream.
    assert_eq!(read_to_end(&mut s), b"");
}

#[test]
fn idle_keep_alive_connection_is_closed_quietly_after_a_response() {
    let srv = idle_closing_server(body_len);
    let mut s = srv.connect();
    s.write_all(&get("/")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("connection"), None);
    assert_eq!(read_to_end(&mut s), b"", "no bytes before the close");
}

#[test]
fn client_that_never_reads_does_not_hold_the_only_worker() {
    let srv = TestServer::with(
        server().threads(1).timeouts(short_write_timeout()),
        |req: &mut Request| {
            if req.path() == "/endless" {
                Response::stream(io::repeat(b'x'))
            } else {
                Response::text("served")
            }
        },
    );
    // The first client asks for an endless body and never reads it; it
    // stays connected until the end of the test.
    let mut stuck = srv.connect();
    stuck.write_all(&get("/endless")).unwrap();
    // The second client waits for the only worker, which the write
    // timeout frees.
    let mut next = srv.connect();
    next.write_all(&get("/")).unwrap();
    let reply = read_reply(&mut next, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "served");
    drop(stuck);
}

#[test]
fn client_that_never_reads_a_large_fixed_body_does_not_hold_the_worker() {
    // Far more than the socket buffers of both ends can hold.
    let srv = TestServer::with(
        server().threads(1).timeouts(short_write_timeout()),
        |req: &mut Request| {
            if req.path() == "/big" {
                Response::bytes("application/octet-stream", vec![b'y'; 64 * 1024 * 1024])
            } else {
                Response::text("served")
            }
        },
    );
    let mut stuck = srv.connect();
    stuck.write_all(&get("/big")).unwrap();
    let mut next = srv.connect();
    next.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut next, false).text(), "served");
    drop(stuck);
}

#[test]
fn head_request_over_a_limit_or_too_slow_gets_an_error_head_without_a_body() {
    let srv = impatient_server(body_len);
    let cases = [
        (
            format!("HEAD /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300)),
            "HTTP/1.1 414 URI Too Long",
        ),
        (
            format!(
                "HEAD / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                "v".repeat(2000)
            ),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            "HEAD / HTTP/1.1\r\nHo".to_owned(),
            "HTTP/1.1 408 Request Timeout",
        ),
    ];
    for (request, want) in cases {
        let reply = parse_one(&srv.exchange(request.as_bytes()));
        assert_eq!(reply.status_line(), want);
        assert_eq!(reply.body, b"", "{want}: no body after the head");
        assert_eq!(reply.header("connection"), Some("close"), "{want}");
    }
}

#[test]
fn declared_body_over_the_in_memory_limit_gets_413_before_100_continue() {
    let srv = small_server(body_len);
    let mut s = srv.connect();
    // 600 bytes: under max_body_bytes (1024), over max_buffered_body_bytes
    // (512). The client waits for `100 Continue`, which never comes.
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 600\r\n\r\n",
    )
    .unwrap();
    let reply = read_to_end(&mut s);
    assert_error_then_close("in memory", &reply, "HTTP/1.1 413 Content Too Large");
}

#[test]
fn body_deadline_after_100_continue_counts_from_the_100() {
    // The handler works for longer than the whole body timeout before it
    // reads the body; the client, waiting for `100 Continue`, could not
    // have sent it any sooner, so it is not too slow.
    let mut timeouts = sockhttp::Timeouts::default();
    timeouts.body = Duration::from_secs(1);
    let srv = TestServer::with(
        server().timeouts(timeouts),
        |req: &mut Request| -> sockhttp::Result<Response> {
            // Simulated work, not synchronisation: it must outlast the
            // body timeout.
            std::thread::sleep(Duration::from_millis(1500));
            body_len(req)
        },
    );
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let interim = read_head(&mut s);
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "5 bytes");
}
