//! A request body that fails (bad framing, over a limit, too slow) gets
//! the body error's own status, wherever the failure surfaces: before the
//! handler runs (a prebuffered body), inside a handler that reads it, or
//! inside a response body that streams it back (`echo_api`'s `/echo`, a
//! `Body::Writer` that copies it). Never a `500`: the server did nothing
//! wrong. Once the head of an answer is out, the connection is closed
//! without the last chunk, so the client sees the answer is incomplete.

#[path = "../examples/echo_api/app.rs"]
mod app;
mod support;

use sockhttp::{Request, Response, Server};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use support::*;

const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request";
const TOO_LARGE: &str = "HTTP/1.1 413 Content Too Large";
const FIELDS_TOO_LARGE: &str = "HTTP/1.1 431 Request Header Fields Too Large";
const TIMEOUT: &str = "HTTP/1.1 408 Request Timeout";

/// A chunked request body that fails, and how.
struct Case {
    name: &'static str,
    /// The body, after a head with `Transfer-Encoding: chunked`.
    body: Vec<u8>,
    /// The status line of the answer.
    want: &'static str,
    /// The body data that precedes the error. An echo that streams sends
    /// it before it meets the error, so its answer is `200` cut short;
    /// a body read before the handler runs gets `want`.
    echoed: &'static [u8],
}

fn cases() -> Vec<Case> {
    let case = |name, body: &[u8], want, echoed| Case {
        name,
        body: body.to_vec(),
        want,
        echoed,
    };
    let mut long_extension = b"5;".to_vec();
    long_extension.extend(std::iter::repeat_n(b'a', 5000));
    long_extension.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    let mut long_trailers = b"0\r\n".to_vec();
    for i in 0..40 {
        long_trailers.extend_from_slice(format!("X-T-{i}: {}\r\n", "v".repeat(500)).as_bytes());
    }
    long_trailers.extend_from_slice(b"\r\n");
    vec![
        case("not hex", b"zz\r\nhello\r\n0\r\n\r\n", BAD_REQUEST, b""),
        case("hex prefix", b"0x5\r\nhello\r\n0\r\n\r\n", BAD_REQUEST, b""),
        case(
            "2^80",
            b"100000000000000000000\r\nhello\r\n0\r\n\r\n",
            BAD_REQUEST,
            b"",
        ),
        case("minus sign", b"-5\r\nhello\r\n0\r\n\r\n", BAD_REQUEST, b""),
        case("empty size", b"\r\nhello\r\n0\r\n\r\n", BAD_REQUEST, b""),
        case(
            "bare LF after the size",
            b"5\nhello\r\n0\r\n\r\n",
            BAD_REQUEST,
            b"",
        ),
        case(
            "control character in an extension",
            b"5;a\x01b\r\nhello\r\n0\r\n\r\n",
            BAD_REQUEST,
            b"",
        ),
        case(
            "too long chunk extension",
            &long_extension,
            BAD_REQUEST,
            b"",
        ),
        // The default `max_body_bytes` is 1 GiB.
        case(
            "a chunk over the body limit",
            b"40000001\r\nhello\r\n0\r\n\r\n",
            TOO_LARGE,
            b"",
        ),
        case(
            "chunks that add up to more than the body limit",
            b"5\r\nhello\r\n3ffffffc\r\nhello\r\n0\r\n\r\n",
            TOO_LARGE,
            b"hello",
        ),
        case(
            "trailer without a colon",
            b"0\r\nX-Test\r\n\r\n",
            BAD_REQUEST,
            b"",
        ),
        case(
            "trailers over their limit",
            &long_trailers,
            FIELDS_TOO_LARGE,
            b"",
        ),
        case(
            "missing CRLF after chunk data",
            b"5\r\nhelloXX0\r\n\r\n",
            BAD_REQUEST,
            b"hello",
        ),
        case(
            "data longer than the size",
            b"3\r\nhello\r\n0\r\n\r\n",
            BAD_REQUEST,
            b"hel",
        ),
        case(
            "a bad size after a good chunk",
            b"5\r\nhello\r\nzz\r\n0\r\n\r\n",
            BAD_REQUEST,
            b"hello",
        ),
    ]
}

/// How a case is sent to the echo.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Bodies are read whole before the handler runs (the default).
    Prebuffered,
    /// Every body streams to the handler (`prebuffer_body_bytes = 0`).
    Streamed,
    /// The client waits for `100 Continue` before it sends the body, so
    /// the body streams even though prebuffering is on.
    Continue,
}

const HEAD: &str = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n";

/// Sends `case` to the echo at `s` in `mode`, and checks everything the
/// server sends until it closes the connection.
fn check(s: &mut TcpStream, case: &Case, mode: Mode) {
    let name = format!("{} ({mode:?})", case.name);
    let expect = if mode == Mode::Continue {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    s.write_all(format!("{HEAD}{expect}\r\n").as_bytes())
        .unwrap();
    if mode == Mode::Continue {
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n", "{name}");
    }
    s.write_all(&case.body).unwrap();
    // A request after the body, which must never be answered.
    s.write_all(&get("/smuggled")).unwrap();
    let raw = read_to_end(s);
    if mode == Mode::Prebuffered || case.echoed.is_empty() {
        assert_error_then_close(&name, &raw, case.want);
        return;
    }
    // The head went out with the first data: the answer is cut short,
    // with no last chunk, and the connection closed.
    let reply = parse_one(&raw);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{name}");
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"), "{name}");
    let mut want = format!("{:x}\r\n", case.echoed.len()).into_bytes();
    want.extend_from_slice(case.echoed);
    want.extend_from_slice(b"\r\n");
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        String::from_utf8_lossy(&want),
        "{name}: the body ends without `0\\r\\n\\r\\n`"
    );
}

fn echo(server: Server) -> TestServer {
    TestServer::with_app(server, app::app)
}

#[test]
fn a_prebuffered_malformed_body_gets_its_status_and_close() {
    let srv = echo(server());
    for case in cases() {
        check(&mut srv.connect(), &case, Mode::Prebuffered);
    }
}

#[test]
fn a_streamed_malformed_body_gets_its_status_and_close() {
    let srv = echo(server().limits(streaming_limits()));
    for case in cases() {
        check(&mut srv.connect(), &case, Mode::Streamed);
    }
}

#[test]
fn a_malformed_body_after_100_continue_gets_its_status_and_close() {
    let srv = echo(server());
    for case in cases() {
        check(&mut srv.connect(), &case, Mode::Continue);
    }
}

#[test]
fn the_echo_api_binary_answers_a_malformed_streamed_body_with_its_status() {
    for (flag, mode) in [("0", Mode::Streamed), ("65536", Mode::Prebuffered)] {
        let args = ["--addr", "127.0.0.1:0", "--prebuffer-body-bytes", flag];
        let mut bin = Example::start("echo_api", &args, None);
        for case in cases() {
            check(&mut bin.connect(), &case, mode);
        }
        let (status, _, _) = bin.stop("-TERM");
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn a_streamed_body_too_slow_for_its_deadline_gets_408() {
    for limits in [sockhttp::Limits::default(), streaming_limits()] {
        let srv = echo(server().limits(limits).timeouts(short_timeouts()));
        let length = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n";
        for (head, body) in [(HEAD, &b""[..]), (HEAD, b"5\r\n"), (length, b"")] {
            let mut s = srv.connect();
            s.write_all(format!("{head}\r\n").as_bytes()).unwrap();
            s.write_all(body).unwrap();
            // The server's deadline ends the wait: nothing else is sent.
            let raw = read_to_end(&mut s);
            let name = format!(
                "{head:?} {body:?}, prebuffer {}",
                limits.prebuffer_body_bytes
            );
            assert_error_then_close(&name, &raw, TIMEOUT);
        }
    }
}

#[test]
fn a_peer_that_closes_mid_body_gets_no_answer() {
    // Nobody is there to read an answer, and a 5xx would let any client
    // fake server errors.
    for limits in [sockhttp::Limits::default(), streaming_limits()] {
        let srv = echo(server().limits(limits));
        let mut s = srv.connect();
        s.write_all(format!("{HEAD}\r\n5\r\n").as_bytes()).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let raw = read_to_end(&mut s);
        assert_eq!(
            String::from_utf8_lossy(&raw),
            "",
            "prebuffer {}",
            limits.prebuffer_body_bytes
        );
    }
}

/// Serves `handler` with every body streaming to it, sends it a chunked
/// body that fails with `bad` after `5\r\nhello\r\n`, and returns the bytes
/// the server sends until it closes. With `fin`, the client shuts its side
/// after the request, as a client that has nothing more to say may.
fn exchange_with(handler: impl sockhttp::Handler, bad: &[u8], fin: bool) -> Vec<u8> {
    let srv = TestServer::with(server().limits(streaming_limits()), handler);
    let mut s = srv.connect();
    let mut raw =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec();
    raw.extend_from_slice(bad);
    s.write_all(&raw).unwrap();
    if fin {
        s.shutdown(Shutdown::Write).unwrap();
    }
    read_to_end(&mut s)
}

#[test]
fn a_body_writer_that_copies_a_malformed_body_gets_its_status() {
    // The writer buffers what it copies: nothing has gone out when the
    // body fails, so the answer is still the error's.
    let copy = |req: &mut Request| {
        let mut body = req.take_body();
        Response::writer(move |w| {
            io::copy(&mut body, w)?;
            Ok(())
        })
    };
    for fin in [false, true] {
        let raw = exchange_with(copy, b"zz\r\n0\r\n\r\n", fin);
        assert_error_then_close(&format!("fin {fin}"), &raw, BAD_REQUEST);
    }
}

#[test]
fn a_body_writer_that_flushed_before_the_error_is_cut_short() {
    let copy = |req: &mut Request| {
        let mut body = req.take_body();
        Response::writer(move |w| {
            let mut buf = [0u8; 5];
            body.read_exact(&mut buf)?;
            w.write_all(&buf)?;
            w.flush()?;
            io::copy(&mut body, w)?;
            Ok(())
        })
    };
    let raw = exchange_with(copy, b"zz\r\n0\r\n\r\n", false);
    let reply = parse_one(&raw);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(String::from_utf8_lossy(&reply.body), "5\r\nhello\r\n");
}

#[test]
fn a_handler_that_returns_the_body_error_gets_its_status() {
    // With `?` into `sockhttp::Error`, into `io::Error`, and into a boxed
    // error: each keeps the body error's status.
    let as_error = |req: &mut Request| -> sockhttp::Result<Response> {
        let body = req.body_bytes()?;
        Ok(Response::text(format!("{} bytes", body.len())))
    };
    let as_io = |req: &mut Request| -> io::Result<Response> {
        let mut body = Vec::new();
        req.body().read_to_end(&mut body)?;
        Ok(Response::text(format!("{} bytes", body.len())))
    };
    type Boxed = Box<dyn std::error::Error + Send + Sync>;
    let as_boxed = |req: &mut Request| -> Result<Response, Boxed> {
        let mut body = Vec::new();
        req.body().read_to_end(&mut body)?;
        Ok(Response::text(format!("{} bytes", body.len())))
    };
    let as_boxed_error = |req: &mut Request| -> Result<Response, Boxed> {
        let body = req.body_bytes()?;
        Ok(Response::text(format!("{} bytes", body.len())))
    };
    for fin in [false, true] {
        for (name, raw) in [
            ("sockhttp::Error", exchange_with(as_error, b"zz\r\n", fin)),
            ("io::Error", exchange_with(as_io, b"zz\r\n", fin)),
            ("boxed io::Error", exchange_with(as_boxed, b"zz\r\n", fin)),
            (
                "boxed sockhttp::Error",
                exchange_with(as_boxed_error, b"zz\r\n", fin),
            ),
        ] {
            assert_error_then_close(&format!("{name}, fin {fin}"), &raw, BAD_REQUEST);
        }
    }
}

#[test]
fn a_handler_that_answers_before_a_malformed_rest_keeps_its_answer_and_closes() {
    // The rest of the body is drained after the handler; its error closes
    // the connection, and does not replace the handler's answer.
    let partial = |req: &mut Request| -> sockhttp::Result<Response> {
        let mut first = [0u8; 5];
        req.body().read_exact(&mut first)?;
        Ok(Response::text(String::from_utf8_lossy(&first).into_owned()))
    };
    for fin in [false, true] {
        let raw = exchange_with(
            partial,
            b"zz\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
            fin,
        );
        let reply = parse_one(&raw);
        assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "fin {fin}");
        assert_eq!(reply.header("connection"), Some("close"), "fin {fin}");
        assert_eq!(String::from_utf8_lossy(&reply.body), "hello", "fin {fin}");
    }
}
