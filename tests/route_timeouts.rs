//! Per-route timeouts: a route wrapped in `with_timeouts` reads a body
//! that streams to it, and sends its answer, under deadlines of its own,
//! longer than the server's, while the server's other routes keep the
//! server's. The clients here stop for longer than the server allows, in
//! the middle of a body or of an answer; no event tells a client when the
//! server gave up on it, so they wait past the server's deadline
//! (`wait_past`), then look at what the server did.
//!
//! They pass with epoll and with the blocking fallback, whose writes wait
//! under `SO_SNDTIMEO` (set to the route's write timeout for its answer).

mod support;

use bytes::Bytes;
use sockhttp::{HandlerResult, Request, Response, Router, Server, Timeouts, with_timeouts};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use support::*;

/// A body longer than `Limits::prebuffer_body_bytes` (64 KiB): it streams
/// to its handler, which routing has chosen.
const BODY: usize = 128 * 1024;
/// An answer longer than the socket buffers of both ends hold (a
/// receive buffer may grow to `net.ipv4.tcp_rmem`'s maximum, 32 MiB on
/// some systems, a send buffer to 4 MiB): the server waits for the reader
/// to take the rest.
const BIG: usize = 64 * 1024 * 1024;

/// The server's: 300 ms for a body (however much of it has arrived) and
/// for an answer the peer takes nothing of.
fn server_timeouts() -> Timeouts {
    let mut t = short_timeouts();
    // The body deadline is the base timeout alone, whatever arrived.
    t.body_min_bytes_per_sec = u64::MAX;
    // A client that has read a long answer goes on at its own pace.
    t.idle = FAILSAFE;
    t
}

/// The long routes': the server's, with body and write deadlines no
/// client here comes near.
fn route_timeouts() -> Timeouts {
    let mut t = server_timeouts();
    t.body = FAILSAFE;
    t.write = FAILSAFE;
    t.send_grace = FAILSAFE;
    t
}

fn upload(req: &mut Request) -> HandlerResult {
    let n = std::io::copy(req.body(), &mut std::io::sink())?;
    Ok(Response::text(format!("{n} bytes")))
}

fn big(_req: &mut Request) -> Response {
    // One buffer, shared by every answer.
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let body = BODY.get_or_init(|| Bytes::from(vec![b'x'; BIG]));
    Response::bytes("application/octet-stream", body.clone())
}

fn stream(_req: &mut Request) -> Response {
    Response::writer(|w| {
        let line = [b'x'; 1024];
        for _ in 0..BIG / line.len() {
            w.write_all(&line)?;
        }
        Ok(())
    })
}

fn start() -> TestServer {
    let long = route_timeouts();
    let app = Router::new()
        .get("/hello", |_req| Response::text("hello"))
        .post("/upload", with_timeouts(long, upload))
        .post("/upload-default", upload)
        .get("/big", with_timeouts(long, big))
        .get("/big-default", big)
        .get("/stream", with_timeouts(long, stream))
        .get("/stream-default", stream);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(4)
        .timeouts(server_timeouts());
    TestServer::with(server, app)
}

/// Sends the head of a `POST` to `path` with a `len`-byte body, and the
/// first `first` bytes of it.
fn begin_upload(s: &mut TcpStream, path: &str, len: usize, first: usize, expect: bool) {
    let expect = if expect {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n{expect}\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&vec![b'u'; first]).unwrap();
}

/// Asserts that the server has sent nothing on `s` (no `408`) and not
/// closed it, without waiting.
fn assert_nothing_sent(s: &TcpStream) {
    s.set_nonblocking(true).unwrap();
    let peeked = s.peek(&mut [0u8; 1]);
    s.set_nonblocking(false).unwrap();
    match peeked {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the server answered or closed while the client paused: {other:?}"),
    }
}

/// Reads what the server sends until it closes the connection; returns
/// how many bytes that was.
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

/// Reads `len` bytes of body, each an `x`, a piece at a time.
fn read_body(s: &mut TcpStream, len: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = s.read(&mut buf[..left.min(64 * 1024)]).unwrap();
        assert!(n > 0, "closed with {left} bytes of the body to come");
        assert!(buf[..n].iter().all(|&b| b == b'x'));
        left -= n;
    }
}

/// Reads a chunked body, each byte an `x`, to its end; returns its
/// length.
fn read_chunked(s: &mut TcpStream) -> usize {
    let mut r = BufReader::new(s);
    let mut len = 0;
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim_end(), 16)
            .unwrap_or_else(|_| panic!("a chunk-size line, not {line:?}, after {len} bytes"));
        let mut data = vec![0u8; size + 2];
        r.read_exact(&mut data).unwrap();
        if size == 0 {
            assert_eq!(data, b"\r\n", "the last chunk ends the body");
            return len;
        }
        assert!(data[..size].iter().all(|&b| b == b'x'));
        assert_eq!(&data[size..], b"\r\n");
        len += size;
    }
}

/// Asserts that an answer the client stopped reading after its head was
/// cut off.
fn assert_cut_off(s: &mut TcpStream) {
    wait_past(server_timeouts().write);
    assert!(
        read_until_closed(s) < BIG,
        "cut off before the end of the answer"
    );
}

#[test]
fn an_upload_route_takes_a_body_that_pauses_past_the_servers_deadline() {
    let srv = start();
    let mut s = srv.connect();
    begin_upload(&mut s, "/upload", BODY, BODY / 2, false);
    wait_past(server_timeouts().body);
    assert_nothing_sent(&s);
    s.write_all(&vec![b'u'; BODY - BODY / 2]).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), format!("{BODY} bytes"));
    assert_eq!(reply.header("connection"), None);

    // The connection goes on under the server's deadlines.
    begin_upload(&mut s, "/upload-default", BODY, BODY / 2, false);
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 408);
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn the_servers_other_routes_answer_the_same_pause_with_408() {
    let srv = start();
    let mut s = srv.connect();
    begin_upload(&mut s, "/upload-default", BODY, BODY / 2, false);
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 408);
    assert_eq!(reply.text(), "408 Request Timeout\n");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn a_small_body_is_read_before_routing_under_the_servers_deadline() {
    // 1,000 bytes are read whole before the handler runs, so before the
    // route is known: the server's deadline is the one that counts.
    let srv = start();
    let mut s = srv.connect();
    begin_upload(&mut s, "/upload", 1000, 10, false);
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 408);
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn a_small_body_sent_after_100_continue_goes_under_the_routes_deadline() {
    // A client that waits for `100 Continue` sends nothing before the
    // handler asks for the body: its route is known by then.
    let srv = start();
    let mut s = srv.connect();
    begin_upload(&mut s, "/upload", 1000, 0, true);
    let interim = read_reply(&mut s, false);
    assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(&[b'u'; 10]).unwrap();
    wait_past(server_timeouts().body);
    assert_nothing_sent(&s);
    s.write_all(&[b'u'; 990]).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "1000 bytes");
}

#[test]
fn curl_uploads_slowly_to_the_upload_route() {
    let srv = start();
    let dir = TempDir::new("route-timeouts");
    let file = dir.0.join("body.bin");
    std::fs::write(&file, vec![b'u'; BODY]).unwrap();
    let data = format!("@{}", file.display());
    let url = format!("http://{}/upload", srv.addr());
    // 64 KiB a second: the body takes about two seconds, where the server
    // allows 300 ms.
    let Some(out) = curl(&[
        "--limit-rate",
        "64k",
        "--data-binary",
        &data,
        "-H",
        "Content-Type: application/octet-stream",
        "-w",
        " %{http_code}",
        &url,
    ]) else {
        return;
    };
    assert_eq!(String::from_utf8(out).unwrap(), format!("{BODY} bytes 200"));
}

#[test]
fn a_download_route_keeps_sending_to_a_reader_that_pauses_past_the_servers_write_timeout() {
    let srv = start();
    let mut s = srv.connect();
    s.write_all(&get("/big")).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {BIG}\r\n")),
        "{head}"
    );
    wait_past(server_timeouts().write);
    read_body(&mut s, BIG);

    // The connection goes on, and its next answer is under the server's
    // write timeout again.
    s.write_all(&get("/hello")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    s.write_all(&get("/big-default")).unwrap();
    read_head(&mut s);
    assert_cut_off(&mut s);
}

#[test]
fn the_servers_other_routes_cut_off_the_same_paused_reader() {
    let srv = start();
    let mut s = srv.connect();
    s.write_all(&get("/big-default")).unwrap();
    read_head(&mut s);
    assert_cut_off(&mut s);
}

#[test]
fn a_streamed_answer_keeps_going_to_a_reader_that_pauses_past_the_servers_write_timeout() {
    let srv = start();
    let mut s = srv.connect();
    s.write_all(&get("/stream")).unwrap();
    // The head leaves with the first piece of the stream; the rest waits
    // in the handler's worker, under the route's timeouts.
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    wait_past(server_timeouts().write);
    assert_eq!(read_chunked(&mut s), BIG);
}

#[test]
fn the_servers_other_routes_cut_off_the_same_paused_stream() {
    let srv = start();
    let mut s = srv.connect();
    s.write_all(&get("/stream-default")).unwrap();
    read_head(&mut s);
    assert_cut_off(&mut s);
}
