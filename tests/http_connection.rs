//! Connection management over real sockets: persistence on HTTP/1.1 and
//! HTTP/1.0, pipelining, `Connection: close` both ways, what happens to
//! an unread body, `Expect: 100-continue`, response framing (HEAD, 204,
//! 304, chunked, close-delimited, a wrong length from the handler), and
//! handler panics.
//!
//! "Kept open" is always shown by a second request on the same socket,
//! "closed" by end-of-stream after the response.

mod support;

use sockhttp::{Body, Request, Response, Router, StatusCode};
use std::io::{Cursor, Read, Write};
use support::*;

/// Answers with the method, path and the whole body it read.
fn echo(req: &mut Request) -> sockhttp::Result<Response> {
    let body = req.body_bytes()?;
    Ok(Response::text(format!(
        "{} {} {}",
        req.method(),
        req.path(),
        String::from_utf8_lossy(&body)
    )))
}

fn app() -> Router {
    Router::new()
        .any("/echo", echo)
        .any("/ignore", |_req: &mut Request| Response::text("ignored"))
        .get("/hello", |_req: &mut Request| Response::text("hello"))
        .get("/stream", |_req: &mut Request| {
            Response::stream(Cursor::new(b"hello world".to_vec()))
        })
        .get("/lines", |_req: &mut Request| {
            Response::writer(|w| {
                for i in 1..=2 {
                    writeln!(w, "line {i}")?;
                    w.flush()?;
                }
                Ok(())
            })
        })
        .get("/sized-stream", |_req: &mut Request| {
            Response::new(StatusCode::OK).with_body(Body::Reader {
                reader: Box::new(Cursor::new(b"hello world".to_vec())),
                len: Some(11),
            })
        })
        .get("/short", |_req: &mut Request| {
            Response::stream(Cursor::new(b"hello".to_vec())).with_header("Content-Length", "10")
        })
        .get("/long", |_req: &mut Request| {
            Response::stream(Cursor::new(b"hello world".to_vec()))
                .with_header("Content-Length", "5")
        })
        .get("/framing-headers", |_req: &mut Request| {
            Response::text("hello")
                .with_header("Content-Length", "99")
                .with_header("Transfer-Encoding", "chunked")
        })
        .get("/close", |_req: &mut Request| {
            Response::text("bye").with_header("Connection", "close")
        })
        .get("/no-content", |_req: &mut Request| {
            Response::text("must not be sent").with_status(StatusCode::NO_CONTENT)
        })
        .get("/not-modified", |_req: &mut Request| {
            Response::text("must not be sent")
                .with_status(StatusCode::NOT_MODIFIED)
                .with_header("ETag", "\"v1\"")
        })
        .post("/echo-stream", |req: &mut Request| {
            Response::stream(req.take_body())
        })
        .post("/echo-sized", |req: &mut Request| {
            let len = req.content_length();
            Response::new(StatusCode::OK).with_body(Body::Reader {
                reader: Box::new(req.take_body()),
                len,
            })
        })
        .any("/panic", |_req: &mut Request| -> Response {
            panic!("handler bug")
        })
        .get("/panic-before-output", |_req: &mut Request| {
            Response::stream(PanickingReader)
        })
        .get("/panic-before-flush", |_req: &mut Request| {
            Response::writer(|w| {
                w.write_all(b"buffered, never sent")?;
                panic!("body bug")
            })
        })
        .get("/fail-before-output", |_req: &mut Request| {
            Response::writer(|_w| Err(std::io::Error::other("backend down")))
        })
        .get("/fail-mid-stream", |_req: &mut Request| {
            Response::writer(|w| {
                w.write_all(b"partial")?;
                w.flush()?;
                Err(std::io::Error::other("backend down"))
            })
        })
        .get(
            "/inject",
            |req: &mut Request| -> sockhttp::Result<Response> {
                // A value taken from the peer, percent-decoded: CR and LF in it
                // must not start a new header line. The fallible setter refuses
                // it (`with_header` would panic).
                let value = req.query_param("v").unwrap_or_default();
                Ok(Response::text("safe").try_with_header("X-Echo", value)?)
            },
        )
        .post(
            "/count",
            |req: &mut Request| -> sockhttp::Result<Response> {
                // Streams the body: nothing of it is held in memory.
                let n = std::io::copy(req.body(), &mut std::io::sink())?;
                Ok(Response::text(n.to_string()))
            },
        )
        .get("/status/{code}", |req: &mut Request| {
            let code = req.param("code").and_then(|c| c.parse().ok());
            let status = code.and_then(StatusCode::new).unwrap_or(StatusCode::OK);
            Response::text("must not be sent").with_status(status)
        })
        .get(
            "/upstream-timeout",
            |_req: &mut Request| -> sockhttp::Result<Response> {
                // The handler's own I/O timed out (an upstream, a database).
                Err(std::io::Error::from(std::io::ErrorKind::TimedOut))?
            },
        )
        .get("/panic-mid-stream", |_req: &mut Request| {
            Response::writer(|w| {
                w.write_all(b"partial")?;
                w.flush()?;
                panic!("body bug")
            })
        })
}

/// A response body whose first read panics.
struct PanickingReader;

impl Read for PanickingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        panic!("reader bug")
    }
}

fn app_server() -> TestServer {
    TestServer::with(server().threads(2).limits(small_limits()), app())
}

/// A one-worker server: a test can show the worker survived.
fn one_worker() -> TestServer {
    TestServer::with(server().threads(1), app())
}

/// Asserts that a new request on `s` is served: the connection was kept
/// open and is in a clean state.
fn assert_reusable(s: &mut std::net::TcpStream) {
    s.write_all(&get("/hello")).unwrap();
    let reply = read_reply(s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "hello");
}

#[test]
fn http11_connection_stays_open_by_default() {
    let srv = app_server();
    let mut s = srv.connect();
    for _ in 0..3 {
        s.write_all(&get("/hello")).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
        assert_eq!(reply.header("content-length"), Some("5"));
        assert_eq!(reply.header("connection"), None);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(reply.text(), "hello");
    }
}

#[test]
fn http10_without_keep_alive_gets_close_and_eof() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(reply.header("content-length"), Some("5"));
    assert_eq!(reply.text(), "hello");
    assert_closed(&mut s);
}

#[test]
fn http10_keep_alive_is_honoured_when_asked() {
    let srv = app_server();
    let mut s = srv.connect();
    for _ in 0..2 {
        s.write_all(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
        assert_eq!(reply.header("content-length"), Some("5"));
        assert_eq!(reply.text(), "hello");
    }
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(
        b"GET /echo?1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo\
          PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n\
          HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nfive\
          GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\
          GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "GET /echo ");
    assert_eq!(read_reply(&mut s, false).text(), "POST /echo two");
    assert_eq!(read_reply(&mut s, false).text(), "PUT /echo three");
    let head = read_reply(&mut s, true);
    assert_eq!(head.header("content-length"), Some("5"));
    assert_eq!(read_reply(&mut s, false).text(), "ignored");
    let last = read_reply(&mut s, false);
    assert_eq!(last.text(), "GET /echo ");
    assert_eq!(last.header("connection"), Some("close"));
    // The request after `Connection: close` is not answered.
    assert_closed(&mut s);
}

#[test]
fn many_pipelined_requests_in_one_write_are_all_answered() {
    let srv = app_server();
    let mut s = srv.connect();
    let mut raw = Vec::new();
    for i in 0..50 {
        raw.extend_from_slice(format!("GET /echo?{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    s.write_all(&raw).unwrap();
    for _ in 0..50 {
        assert_eq!(read_reply(&mut s, false).text(), "GET /echo ");
    }
    assert_reusable(&mut s);
}

/// A pipeline's answers are held back while more of it is buffered, and
/// leave together: while the second request's handler runs, the first
/// answer has not been sent; both arrive once it returns.
#[test]
fn pipelined_answers_are_held_until_the_pipeline_is_answered() {
    let (gate, control) = gate();
    let app = app().get("/gated", move |_req: &mut Request| {
        gate.enter();
        Response::text("gated")
    });
    let srv = TestServer::with(server().threads(1), app);
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /gated HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    control.wait_entered();
    // The first answer was written or held before the second handler
    // started; on loopback a written one would be readable by now.
    s.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let peeked = s.peek(&mut byte);
    control.release();
    assert!(
        matches!(&peeked, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the first answer left before the pipeline was answered: {peeked:?}"
    );
    s.set_nonblocking(false).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    assert_eq!(read_reply(&mut s, false).text(), "gated");
    assert_reusable(&mut s);
}

/// Held answers are never stranded: they go out before the server waits
/// for the rest of a request, before a streamed body, before `100
/// Continue`, before an error answer, and before a close.
#[test]
fn held_pipelined_answers_go_out_before_anything_that_follows() {
    let srv = app_server();
    let hello = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";

    // A pipeline that ends in half a request: the answers come before the
    // server waits for the other half (or client and server would wait
    // for each other).
    let mut s = srv.connect();
    s.write_all(format!("{hello}{hello}GET /hel").as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    s.write_all(b"lo HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");

    // Then a streamed body, then a request that expects 100 Continue.
    s.write_all(
        format!(
            "{hello}GET /stream HTTP/1.1\r\nHost: x\r\n\r\n{hello}\
             POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    assert_eq!(read_reply(&mut s, false).text(), "hello world");
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    assert_eq!(read_head(&mut s), "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"abc").unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "POST /echo abc");

    // An error answer, then the close.
    s.write_all(format!("{hello}{hello}GET / HTTP/9.9\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    let refused = read_reply(&mut s, false);
    assert_eq!(
        refused.status_line(),
        "HTTP/1.1 505 HTTP Version Not Supported"
    );
    assert_closed(&mut s);

    // A pipeline whose last request closes the connection.
    let mut s = srv.connect();
    s.write_all(
        format!("{hello}{hello}GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(read_reply(&mut s, false).text(), "hello");
    }
    assert_closed(&mut s);
}

#[test]
fn client_connection_close_gets_close_and_eof() {
    let srv = app_server();
    for value in ["close", "Close", "keep-alive, close", "upgrade,close"] {
        let mut s = srv.connect();
        s.write_all(
            format!("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: {value}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        s.write_all(&get("/hello")).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.text(), "hello", "{value}");
        assert_eq!(reply.header("connection"), Some("close"), "{value}");
        assert_closed(&mut s);
    }
}

#[test]
fn connection_tokens_are_not_matched_as_substrings() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: closed, x-close\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("connection"), None);
    assert_reusable(&mut s);
}

#[test]
fn handler_connection_close_closes_after_the_response() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/close")).unwrap();
    s.write_all(&get("/hello")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.text(), "bye");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(reply.count("connection"), 1);
    assert_closed(&mut s);
}

#[test]
fn unread_small_body_is_drained_and_the_connection_reused() {
    let srv = app_server();
    let mut s = srv.connect();
    // Both bodies are under the drain limit (64 bytes); their bytes look
    // like requests and must not be parsed as such.
    s.write_all(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\nGET /echo HTTP/1")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.text(), "ignored");
    assert_eq!(reply.header("connection"), None);
    assert_reusable(&mut s);
    s.write_all(
        b"POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nGET /\r\n0\r\nX-T: 1\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "ignored");
    assert_reusable(&mut s);
}

#[test]
fn partly_read_body_is_drained_and_the_connection_reused() {
    let srv = TestServer::with(
        server().limits(small_limits()),
        |req: &mut Request| -> sockhttp::Result<Response> {
            let mut first = [0u8; 4];
            req.body().read_exact(&mut first)?;
            Ok(Response::text(String::from_utf8_lossy(&first).into_owned()))
        },
    );
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\nabcdefghijklmnopqrst")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "abcd");
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nwxyz")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "wxyz");
}

#[test]
fn unread_large_body_closes_the_connection() {
    let srv = app_server();
    for framing in ["Content-Length: 1000", "Transfer-Encoding: chunked"] {
        let mut s = srv.connect();
        let body = if framing.starts_with("Content") {
            "b".repeat(1000)
        } else {
            format!("3e8\r\n{}\r\n0\r\n\r\n", "b".repeat(1000))
        };
        s.write_all(
            format!("POST /ignore HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n{body}").as_bytes(),
        )
        .unwrap();
        s.write_all(&get("/hello")).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.text(), "ignored", "{framing}");
        assert_eq!(reply.header("connection"), Some("close"), "{framing}");
        assert_closed(&mut s);
    }
}

#[test]
fn expect_continue_gets_100_before_the_body_is_read() {
    let srv = app_server();
    let mut s = srv.connect();
    for framing in ["Content-Length: 5", "Transfer-Encoding: chunked"] {
        s.write_all(
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n{framing}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        // The client waits for the interim response before sending the body.
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n", "{framing}");
        let body: &[u8] = if framing.starts_with("Content") {
            b"hello"
        } else {
            b"5\r\nhello\r\n0\r\n\r\n"
        };
        s.write_all(body).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{framing}");
        assert_eq!(reply.text(), "POST /echo hello", "{framing}");
        assert_eq!(reply.header("connection"), None, "{framing}");
    }
    assert_reusable(&mut s);
}

#[test]
fn expect_continue_is_not_sent_when_the_handler_answers_without_reading() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(
        b"POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    // The final response comes first and alone; the client may or may
    // not send the body now, so the connection cannot be reused.
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "ignored");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn expect_continue_is_ignored_for_http10() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "POST /echo hello");
}

#[test]
fn head_response_has_the_get_length_but_no_body() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, true);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("content-length"), Some("5"));
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // Had a body been sent, this reply would start with it.
    assert_reusable(&mut s);
}

#[test]
fn head_of_a_stream_has_no_body_and_no_chunked_framing() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, true);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_reusable(&mut s);
}

#[test]
fn no_content_and_not_modified_have_no_body_and_no_framing() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/no-content")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 204 No Content");
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_reusable(&mut s);

    s.write_all(&get("/not-modified")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 304 Not Modified");
    assert_eq!(reply.header("etag"), Some("\"v1\""));
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_reusable(&mut s);
}

#[test]
fn stream_of_unknown_length_is_chunked_for_http11() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/stream")).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(!head.contains("Content-Length"), "{head}");
    let want = b"b\r\nhello world\r\n0\r\n\r\n";
    let mut body = vec![0u8; want.len()];
    s.read_exact(&mut body).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(want)
    );
    assert_reusable(&mut s);
}

#[test]
fn writer_flushes_become_chunks() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/lines")).unwrap();
    let head = read_head(&mut s);
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    let want = b"7\r\nline 1\n\r\n7\r\nline 2\n\r\n0\r\n\r\n";
    let mut body = vec![0u8; want.len()];
    s.read_exact(&mut body).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(want)
    );
    assert_reusable(&mut s);
}

#[test]
fn stream_of_unknown_length_is_close_delimited_for_http10() {
    let srv = app_server();
    let mut s = srv.connect();
    // Even when the client asked for keep-alive: HTTP/1.0 has no chunked.
    s.write_all(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let raw = read_to_end(&mut s);
    let reply = parse_one(&raw);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(reply.text(), "hello world");
}

#[test]
fn stream_of_known_length_uses_content_length() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/sized-stream")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("content-length"), Some("11"));
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.text(), "hello world");
    assert_reusable(&mut s);
}

#[test]
fn framing_headers_from_the_handler_are_replaced_by_the_real_framing() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/framing-headers")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.count("content-length"), 1);
    assert_eq!(reply.header("content-length"), Some("5"));
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.text(), "hello");
    assert_reusable(&mut s);
}

#[test]
fn stream_shorter_than_its_declared_length_closes_the_connection() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/short")).unwrap();
    s.write_all(&get("/hello")).unwrap();
    let raw = read_to_end(&mut s);
    let reply = parse_one(&raw);
    assert_eq!(reply.header("content-length"), Some("10"));
    // Fewer bytes than announced, then the end: the client can tell.
    assert_eq!(reply.text(), "hello");
}

#[test]
fn stream_longer_than_its_declared_length_gets_500_and_close() {
    // The excess shows in the first piece, before anything was sent: the
    // client gets a 500 rather than a complete-looking wrong response.
    let srv = app_server();
    let raw = srv.exchange(&[get("/long"), get("/hello")].concat());
    assert_error_then_close("long", &raw, "HTTP/1.1 500 Internal Server Error");
}

#[test]
fn request_body_streamed_into_the_response_is_echoed_and_the_connection_reused() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"POST /echo-stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.text(), "hello world");
    s.write_all(b"POST /echo-sized HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("content-length"), Some("5"));
    assert_eq!(reply.text(), "hello");
    assert_reusable(&mut s);
}

#[test]
fn request_body_streamed_into_the_response_gets_100_continue_first() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"POST /echo-sized HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    assert_reusable(&mut s);
}

#[test]
fn request_body_streamed_into_the_response_of_http10_announces_the_close() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"POST /echo-sized HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.text(), "hello");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn request_body_streamed_into_the_response_honours_connection_close() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"POST /echo-sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.text(), "hello");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn requests_followed_by_a_half_close_are_all_answered() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "GET /echo ");
    assert_eq!(read_reply(&mut s, false).text(), "POST /echo abc");
    assert_closed(&mut s);
}

#[test]
fn body_failing_before_any_output_gets_500_and_close() {
    let srv = one_worker();
    for path in [
        "/panic-before-output",
        "/panic-before-flush",
        "/fail-before-output",
    ] {
        let mut s = srv.connect();
        s.write_all(&get(path)).unwrap();
        s.write_all(&get("/hello")).unwrap();
        let raw = read_to_end(&mut s);
        assert_error_then_close(path, &raw, "HTTP/1.1 500 Internal Server Error");
    }
    let mut s = srv.connect();
    assert_reusable(&mut s);
}

#[test]
fn large_upload_streams_through_the_body_reader() {
    let mut limits = small_limits();
    limits.max_body_bytes = 64 * 1024 * 1024;
    let srv = TestServer::with(server().limits(limits), app());
    let mut s = srv.connect();
    let size = 16 * 1024 * 1024;
    s.write_all(
        format!("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let piece = vec![b'u'; 64 * 1024];
    for _ in 0..size / piece.len() {
        s.write_all(&piece).unwrap();
    }
    assert_eq!(read_reply(&mut s, false).text(), size.to_string());
    // The same, chunked.
    s.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..size / piece.len() {
        s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .unwrap();
        s.write_all(&piece).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut s, false).text(), size.to_string());
    assert_reusable(&mut s);
}

#[test]
fn file_body_is_sent_with_its_length_never_chunked() {
    let path = std::env::temp_dir().join(format!("sockhttp-test-{}-file-body", std::process::id()));
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let file_path = path.clone();
    let app = Router::new()
        .get(
            "/whole",
            move |_req: &mut Request| -> sockhttp::Result<Response> {
                Ok(Response::file(std::fs::File::open(&file_path)?)?)
            },
        )
        .get("/range", {
            let file_path = path.clone();
            move |_req: &mut Request| -> sockhttp::Result<Response> {
                let file = std::fs::File::open(&file_path)?;
                Ok(
                    Response::new(StatusCode::PARTIAL_CONTENT).with_body(Body::File {
                        file,
                        offset: 1000,
                        len: 70_000,
                    }),
                )
            }
        });
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    s.write_all(&get("/whole")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("content-length"), Some("200000"));
    assert_eq!(reply.header("transfer-encoding"), None);
    assert!(reply.body == content, "whole file");
    s.write_all(&get("/range")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 206 Partial Content");
    assert_eq!(reply.header("content-length"), Some("70000"));
    assert!(reply.body == content[1000..71_000], "range");
    // An HTTP/1.0 client gets the length too, and keep-alive if it asks.
    s.write_all(b"GET /whole HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("content-length"), Some("200000"));
    assert_eq!(reply.header("connection"), Some("keep-alive"));
    assert!(reply.body == content, "whole file, HTTP/1.0");
    s.write_all(b"HEAD /whole HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, true);
    assert_eq!(reply.header("content-length"), Some("200000"));
    s.write_all(&get("/range")).unwrap();
    assert_eq!(read_reply(&mut s, false).body.len(), 70_000);
    drop(srv);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn header_values_from_the_handler_cannot_inject_fields() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/inject?v=a%0d%0aSet-Cookie:%20x=1%0d%0a%0d%0aextra"))
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 500 Internal Server Error");
    assert_eq!(reply.header("set-cookie"), None);
    assert_eq!(reply.count("x-echo"), 0);
    assert_eq!(reply.text(), "500 Internal Server Error\n");
    assert_reusable(&mut s);
    s.write_all(&get("/inject?v=a%09b")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("x-echo"), Some("a\tb"));
    assert_eq!(reply.text(), "safe");
}

#[test]
fn body_failing_mid_stream_closes_without_finishing_the_body() {
    let srv = app_server();
    let mut s = srv.connect();
    s.write_all(&get("/fail-mid-stream")).unwrap();
    s.write_all(&get("/hello")).unwrap();
    let reply = parse_one(&read_to_end(&mut s));
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.text(), "7\r\npartial\r\n");
}

#[test]
fn panic_mid_stream_closes_without_finishing_the_body() {
    let srv = one_worker();
    for _ in 0..2 {
        let mut s = srv.connect();
        s.write_all(&get("/panic-mid-stream")).unwrap();
        s.write_all(&get("/hello")).unwrap();
        let raw = read_to_end(&mut s);
        let reply = parse_one(&raw);
        assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
        assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
        // The sent chunk, and no last chunk: the client sees a truncated body.
        assert_eq!(reply.text(), "7\r\npartial\r\n");
    }
    // The only worker survived.
    let mut s = srv.connect();
    assert_reusable(&mut s);
}

#[test]
fn handler_panic_gets_500_and_the_worker_survives() {
    let srv = one_worker();
    for request in [
        get("/panic"),
        b"POST /panic HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
    ] {
        let mut s = srv.connect();
        s.write_all(&request).unwrap();
        s.write_all(&get("/hello")).unwrap();
        let raw = read_to_end(&mut s);
        assert_error_then_close("panic", &raw, "HTTP/1.1 500 Internal Server Error");
    }
    let mut s = srv.connect();
    assert_reusable(&mut s);
}

#[test]
fn every_response_has_a_date_and_the_configured_server_header() {
    let srv = TestServer::with(server().server_header(Some("test-server/1")), app());
    let mut s = srv.connect();
    for path in ["/hello", "/no-content", "/missing"] {
        s.write_all(&get(path)).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.header("server"), Some("test-server/1"), "{path}");
        assert_eq!(reply.count("server"), 1, "{path}");
        let date = reply
            .header("date")
            .unwrap_or_else(|| panic!("{path}: Date"));
        // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
        assert_eq!(date.len(), 29, "{path}: {date}");
        assert!(date.ends_with(" GMT"), "{path}: {date}");
    }
    let raw = srv.exchange(b"GET / HTTP/1.1\r\n\r\n");
    let reply = parse_one(&raw);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("server"), Some("test-server/1"));
    assert!(reply.header("date").is_some());

    let quiet = TestServer::with(server().server_header(None), app());
    let mut s = quiet.connect();
    s.write_all(&get("/hello")).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.header("server"), None);
    assert!(reply.header("date").is_some());
}

#[test]
fn head_request_whose_body_was_streamed_into_the_response_is_drained_and_kept_alive() {
    let app = sockhttp::Router::new()
        .any("/e", |req: &mut sockhttp::Request| {
            sockhttp::Response::stream(req.take_body())
        })
        .get("/ok", |_req: &mut sockhttp::Request| "ok");
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    s.write_all(b"HEAD /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let head = read_reply(&mut s, true);
    assert_eq!(head.status, 200);
    let ok = read_reply(&mut s, false);
    assert_eq!((ok.status, &ok.body[..]), (200, &b"ok"[..]));
}

#[test]
fn informational_status_from_a_handler_gets_500_and_the_connection_stays_usable() {
    // A 1xx is never a final response: sent as one, the client would wait
    // for the real response forever.
    let srv = app_server();
    let mut s = srv.connect();
    for code in [100, 101, 103, 199] {
        s.write_all(&get(&format!("/status/{code}"))).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(
            reply.status_line(),
            "HTTP/1.1 500 Internal Server Error",
            "{code}"
        );
        assert_eq!(reply.text(), "500 Internal Server Error\n", "{code}");
        assert_eq!(reply.header("connection"), None, "{code}");
    }
    assert_reusable(&mut s);
}

#[test]
fn handler_io_timeout_gets_500_not_408() {
    // 408 says the client was too slow; an upstream's timeout is not its fault.
    let srv = app_server();
    let raw = srv.exchange(&get("/upstream-timeout"));
    assert_error_then_close("upstream", &raw, "HTTP/1.1 500 Internal Server Error");
}

#[test]
fn closing_answer_to_an_upload_is_sent_without_waiting_for_the_rest_of_the_body() {
    // The body deadline is far past the client's failsafe: only an answer
    // that does not wait for the unsent rest of the body can arrive.
    let mut timeouts = sockhttp::Timeouts::default();
    timeouts.body = std::time::Duration::from_secs(3600);
    let mut limits = streaming_limits();
    limits.max_buffered_body_bytes = 512;
    let app = Router::new()
        .post("/refuse", |_req: &mut Request| {
            Response::text("no uploads here")
                .with_status(StatusCode::FORBIDDEN)
                .with_header("Connection", "close")
        })
        .post("/buffer", echo);
    let srv = TestServer::with(server().timeouts(timeouts).limits(limits), app);
    // Half of a 1000-byte body (under the 256 KiB drain limit), then
    // nothing: the client waits for the answer before sending more.
    for (path, status_line) in [
        ("/refuse", "HTTP/1.1 403 Forbidden"),
        ("/buffer", "HTTP/1.1 413 Content Too Large"),
    ] {
        let mut s = srv.connect();
        s.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").as_bytes(),
        )
        .unwrap();
        s.write_all(&[b'u'; 600]).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.status_line(), status_line, "{path}");
        assert_eq!(reply.header("connection"), Some("close"), "{path}");
        assert_closed(&mut s);
    }
}
