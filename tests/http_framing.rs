//! Message framing over real sockets: request smuggling payloads, invalid
//! `Content-Length` and chunk sizes, header syntax the parser must refuse,
//! `Host` rules, versions and methods, and the bodies that must be
//! accepted (repeated equal lengths, chunk extensions, trailers).
//!
//! Every refused request must get exactly one error response with
//! `Connection: close`, then end-of-stream, and must never reach the
//! handler: whatever follows on the wire is not parsed as a request.

mod support;

use sockhttp::{Request, Response, Router, Server};
use std::io::Write;
use std::sync::mpsc::{Receiver, channel};
use support::*;

/// A server whose handler reports each request target on a channel and
/// answers with the method, target and body it read.
fn echo_server() -> (TestServer, Receiver<String>) {
    let (tx, rx) = channel();
    let handler = move |req: &mut Request| -> sockhttp::Result<Response> {
        let _ = tx.send(req.target().to_owned());
        let body = req.body_bytes()?;
        let mut text = format!(
            "{} {} {}",
            req.method(),
            req.target(),
            String::from_utf8_lossy(&body)
        );
        for (name, value) in req.trailers().iter() {
            text.push_str(&format!(" [{name}: {}]", String::from_utf8_lossy(value)));
        }
        Ok(Response::text(text))
    };
    (TestServer::start(handler), rx)
}

struct Refused {
    name: &'static str,
    request: &'static [u8],
    want: &'static str,
}

const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request";

/// Requests whose head alone must be refused. Each one is followed on
/// the wire by a request for `/smuggled`, which must never be answered.
const REFUSED_HEADS: &[Refused] = &[
    // Request smuggling: ambiguous or untrustworthy body framing.
    Refused {
        name: "Content-Length and Transfer-Encoding",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Transfer-Encoding and Content-Length",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "differing duplicate Content-Length fields",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        want: BAD_REQUEST,
    },
    Refused {
        name: "differing Content-Length list",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        want: BAD_REQUEST,
    },
    Refused {
        name: "final transfer coding not chunked",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "transfer coding gzip alone",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "transfer coding identity",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "transfer coding xchunked",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "chunked applied twice",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "empty Transfer-Encoding",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "gzip then chunked is not implemented",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        want: "HTTP/1.1 501 Not Implemented",
    },
    Refused {
        name: "gzip then chunked in two fields is not implemented",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        want: "HTTP/1.1 501 Not Implemented",
    },
    Refused {
        name: "Transfer-Encoding in HTTP/1.0",
        request: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    // Invalid Content-Length syntax.
    Refused {
        name: "Content-Length with a plus sign",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Content-Length with a minus sign",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Content-Length with inner space",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  5 5\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Content-Length in hex",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Content-Length with a decimal point",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5.0\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Content-Length overflowing u64",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "empty Content-Length",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\nhello",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Content-Length list with an empty member",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,\r\n\r\nhello",
        want: BAD_REQUEST,
    },
    // Header syntax.
    Refused {
        name: "whitespace before the colon",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test : 1\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "whitespace before the colon of Transfer-Encoding",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "tab before the colon",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test\t: 1\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "obs-fold continuation line",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test: a\r\n b\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "obs-fold with a tab",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test: a\r\n\tb\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "whitespace before the first field",
        request: b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "bare CR in a value",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test: a\rb\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "NUL in a value",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test: a\0b\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "control byte in a value",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test: a\x01b\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "DEL in a value",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test: a\x7fb\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "field without a colon",
        request: b"GET / HTTP/1.1\r\nHost: x\r\nX-Test\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "empty field name",
        request: b"GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n",
        want: BAD_REQUEST,
    },
    // Host.
    Refused {
        name: "HTTP/1.1 without Host",
        request: b"GET / HTTP/1.1\r\nX-Test: 1\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "two Host fields",
        request: b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "two Host fields in HTTP/1.0",
        request: b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Host with a space",
        request: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "Host with a slash",
        request: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        want: BAD_REQUEST,
    },
    // Request line.
    Refused {
        name: "HTTP/2.0",
        request: b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        want: "HTTP/1.1 505 HTTP Version Not Supported",
    },
    Refused {
        name: "HTTP/1.2",
        request: b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
        want: "HTTP/1.1 505 HTTP Version Not Supported",
    },
    Refused {
        name: "HTTP/0.9",
        request: b"GET / HTTP/0.9\r\nHost: x\r\n\r\n",
        want: "HTTP/1.1 505 HTTP Version Not Supported",
    },
    Refused {
        name: "lower-case protocol name",
        request: b"GET / http/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "version without a minor digit",
        request: b"GET / HTTP/1.\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "method with a delimiter",
        request: b"GE(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "method with a space inside",
        request: b"GE T / HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "method with a NUL",
        request: b"GE\0T / HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "empty method",
        request: b" / HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "two spaces after the method",
        request: b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "target that is not a path",
        request: b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "target with a fragment",
        request: b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "target with a NUL",
        request: b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "target that is not UTF-8",
        request: b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "asterisk target without OPTIONS",
        request: b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    Refused {
        name: "missing version",
        request: b"GET /\r\nHost: x\r\n\r\n",
        want: BAD_REQUEST,
    },
    // Expectations.
    Refused {
        name: "unknown expectation",
        request: b"POST / HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\nContent-Length: 5\r\n\r\nhello",
        want: "HTTP/1.1 417 Expectation Failed",
    },
];

#[test]
fn refused_heads_get_one_error_response_and_close() {
    let (srv, seen) = echo_server();
    for case in REFUSED_HEADS {
        let mut raw = case.request.to_vec();
        raw.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let reply = srv.exchange(&raw);
        assert_error_then_close(case.name, &reply, case.want);
        if let Ok(target) = seen.try_recv() {
            panic!("{}: the handler saw {target:?}", case.name);
        }
    }
}

#[test]
fn smuggled_request_after_refused_framing_is_never_answered() {
    // The CL.TE classic: a front end that trusts Content-Length would
    // forward "0\r\n\r\nG" as the body; one that trusts chunked would see
    // "GPOST" as the start of the next request. Neither may happen here.
    let (srv, seen) = echo_server();
    let raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGPOST / HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = srv.exchange(raw);
    assert_error_then_close("CL.TE", &reply, BAD_REQUEST);
    drop(srv);
    assert_eq!(seen.try_iter().count(), 0, "no request reached the handler");
}

struct Accepted {
    name: &'static str,
    request: &'static [u8],
    body: &'static str,
}

const ACCEPTED: &[Accepted] = &[
    Accepted {
        name: "Content-Length list of equal values",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
        body: "POST /a hello",
    },
    Accepted {
        name: "repeated equal Content-Length fields",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        body: "POST /a hello",
    },
    Accepted {
        name: "Content-Length with leading zeros",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello",
        body: "POST /a hello",
    },
    Accepted {
        name: "Content-Length zero",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        body: "POST /a ",
    },
    Accepted {
        name: "chunked, case-insensitive",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        body: "POST /a hello",
    },
    Accepted {
        name: "chunked with empty list members",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        body: "POST /a hello",
    },
    Accepted {
        name: "chunk extensions are ignored",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nhel\r\n2 ; quoted=\"a b\"\r\nlo\r\n0;last\r\n\r\n",
        body: "POST /a hello",
    },
    Accepted {
        name: "hex chunk sizes with leading zeros",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n",
        body: "POST /a 0123456789",
    },
    Accepted {
        name: "trailers are read",
        request: b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 42\r\n\r\n",
        body: "POST /a hello [X-Checksum: 42]",
    },
    Accepted {
        name: "HTTP/1.0 without Host",
        request: b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        body: "GET /a ",
    },
    Accepted {
        name: "absolute-form target without Host",
        request: b"GET http://example.com/a?b HTTP/1.1\r\n\r\n",
        body: "GET http://example.com/a?b ",
    },
    Accepted {
        name: "OPTIONS with an asterisk target",
        request: b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        body: "OPTIONS * ",
    },
    Accepted {
        name: "an empty line before the request line",
        request: b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        body: "GET /a ",
    },
    Accepted {
        name: "obs-text in a value",
        request: b"GET /a HTTP/1.1\r\nHost: x\r\nX-Test: caf\xc3\xa9\r\n\r\n",
        body: "GET /a ",
    },
];

#[test]
fn well_framed_bodies_are_read_and_the_connection_reused() {
    let (srv, _seen) = echo_server();
    for case in ACCEPTED {
        let mut s = srv.connect();
        s.write_all(case.request).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{}", case.name);
        assert_eq!(reply.text(), case.body, "{}", case.name);
        // The same connection frames a next request.
        s.write_all(&get("/next")).unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.text(), "GET /next ", "{}: second request", case.name);
    }
}

#[test]
fn invalid_chunk_sizes_get_400_and_close() {
    let cases: &[(&str, &[u8])] = &[
        ("hex prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
        ("minus sign", b"-5\r\nhello\r\n0\r\n\r\n"),
        ("plus sign", b"+5\r\nhello\r\n0\r\n\r\n"),
        ("not hex", b"zz\r\nhello\r\n0\r\n\r\n"),
        ("empty size", b"\r\nhello\r\n0\r\n\r\n"),
        (
            "overflowing size",
            b"10000000000000000\r\nhello\r\n0\r\n\r\n",
        ),
        ("space inside the size", b"5 5\r\nhello\r\n0\r\n\r\n"),
        ("space after the size", b"5 \r\nhello\r\n0\r\n\r\n"),
        ("bare LF after the size", b"5\nhello\r\n0\r\n\r\n"),
        ("bare CR in an extension", b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
        ("data longer than the size", b"3\r\nhello\r\n0\r\n\r\n"),
        ("data without CRLF", b"5\r\nhello0\r\n\r\n"),
        ("data ended by bare LF", b"5\r\nhello\n0\r\n\r\n"),
        (
            "trailer without a colon",
            b"5\r\nhello\r\n0\r\nX-Test\r\n\r\n",
        ),
        (
            "obs-fold in a trailer",
            b"5\r\nhello\r\n0\r\nX-Test: a\r\n b\r\n\r\n",
        ),
    ];
    let (srv, _seen) = echo_server();
    for &(name, body) in cases {
        let mut raw = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(body);
        raw.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let reply = srv.exchange(&raw);
        assert_error_then_close(name, &reply, BAD_REQUEST);
    }
}

#[test]
fn invalid_chunk_size_closes_even_when_the_handler_ignores_the_body() {
    // The body streams, so the handler answers before the bad chunk is read.
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .limits(streaming_limits());
    let srv = TestServer::with(server, |_req: &mut Request| Response::text("ignored"));
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut s);
}

#[test]
fn body_bytes_never_become_a_request() {
    // A GET with a body whose bytes look like a request: they are body.
    let (srv, seen) = echo_server();
    let inner = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut raw = format!(
        "GET /first HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        inner.len()
    )
    .into_bytes();
    raw.extend_from_slice(inner);
    raw.extend_from_slice(&get("/second"));
    let mut s = srv.connect();
    s.write_all(&raw).unwrap();
    let first = read_reply(&mut s, false);
    assert_eq!(
        first.text(),
        format!("GET /first {}", String::from_utf8_lossy(inner))
    );
    let second = read_reply(&mut s, false);
    assert_eq!(second.text(), "GET /second ");
    drop(s);
    drop(srv);
    let targets: Vec<String> = seen.try_iter().collect();
    assert_eq!(targets, ["/first", "/second"]);
}

#[test]
fn trailers_over_their_limit_get_431_and_close() {
    let mut limits = small_limits();
    limits.max_trailer_bytes = 64;
    let handler = |req: &mut Request| -> sockhttp::Result<Response> {
        let body = req.body_bytes()?;
        Ok(Response::text(format!("{} bytes", body.len())))
    };
    let srv = TestServer::with(server().limits(limits), handler);
    let mut raw =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n".to_vec();
    for i in 0..10 {
        raw.extend_from_slice(format!("X-Trailer-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let reply = srv.exchange(&raw);
    assert_error_then_close(
        "trailers",
        &reply,
        "HTTP/1.1 431 Request Header Fields Too Large",
    );
}

#[test]
fn unknown_method_on_a_router_gets_501_and_the_connection_stays_open() {
    let app = Router::new().get("/", |_req: &mut Request| Response::text("home"));
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    for method in ["BREW", "get", "PROPFIND"] {
        s.write_all(format!("{method} / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(
            reply.status_line(),
            "HTTP/1.1 501 Not Implemented",
            "{method}"
        );
        assert_eq!(reply.text(), "501 Not Implemented\n");
        assert_eq!(reply.header("connection"), None, "{method}");
    }
    s.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "home");
}

#[test]
fn lf_only_line_endings_are_accepted() {
    // RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line
    // terminator and ignore any preceding CR."
    let (srv, _seen) = echo_server();
    let mut s = srv.connect();
    s.write_all(b"GET /lf HTTP/1.1\nHost: x\n\n").unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.text(), "GET /lf ");
}

#[test]
fn an_extra_crlf_after_a_body_does_not_break_the_next_request() {
    // Some old clients end a body with a CRLF the length does not count;
    // RFC 9112 §2.2 asks a server to ignore an empty line before a
    // request line.
    let (srv, _seen) = echo_server();
    let mut s = srv.connect();
    s.write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "POST /a hello");
    assert_eq!(read_reply(&mut s, false).text(), "GET /b ");
}

#[test]
fn refused_head_requests_get_the_error_head_without_its_body() {
    // A response to HEAD never has content (RFC 9112 §6.3), errors included.
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "declared body over the limit",
            b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
            "HTTP/1.1 413 Content Too Large",
        ),
        (
            "two Host fields",
            b"HEAD / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "after an empty line",
            b"\r\nHEAD / HTTP/1.1\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "unknown expectation",
            b"HEAD / HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n",
            "HTTP/1.1 417 Expectation Failed",
        ),
        (
            "gzip then chunked",
            b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 501 Not Implemented",
        ),
    ];
    let (srv, seen) = echo_server();
    for &(name, request, want) in cases {
        let raw = srv.exchange(request);
        let reply = parse_one(&raw);
        assert_eq!(reply.status_line(), want, "{name}");
        assert_eq!(reply.body, b"", "{name}: no body after the head");
        let code_and_reason = want.strip_prefix("HTTP/1.1 ").unwrap();
        assert_eq!(
            reply.header("content-length"),
            Some((code_and_reason.len() + 1).to_string().as_str()),
            "{name}: the length a GET would get"
        );
        assert_eq!(reply.header("connection"), Some("close"), "{name}");
    }
    drop(srv);
    assert_eq!(seen.try_iter().count(), 0, "no request reached the handler");
}

/// Bodies below, at and above the size the writer copies behind the head
/// (4 KiB, sent in one `send`) and larger ones (sent uncopied beside the
/// head) arrive byte for byte, one by one and pipelined, with the right
/// `Content-Length`; a `HEAD` gets the length and no body.
#[test]
fn in_memory_bodies_of_every_size_arrive_byte_exact() {
    const SIZES: [usize; 8] = [0, 1, 5, 4000, 4096, 4097, 10_000, 70_000];
    let pattern = |n: usize| -> Vec<u8> { (0..n).map(|i| b'a' + (i % 23) as u8).collect() };
    let app = Router::new().get("/{n}", move |req: &mut Request| {
        let n: usize = req.param("n").unwrap().parse().unwrap();
        Response::bytes("application/octet-stream", pattern(n))
    });
    let server = TestServer::start(app);

    // One at a time on one connection, GET then HEAD.
    let mut s = server.connect();
    for n in SIZES {
        write!(s, "GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.status, 200, "GET /{n}");
        assert_eq!(reply.header("content-length"), Some(&*n.to_string()));
        assert!(reply.body == pattern(n), "GET /{n}: body differs");
        write!(s, "HEAD /{n} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let reply = read_reply(&mut s, true);
        assert_eq!(reply.header("content-length"), Some(&*n.to_string()));
    }

    // All pipelined in one write: the answers come back in order.
    let mut s = server.connect();
    let mut burst = Vec::new();
    for n in SIZES {
        write!(burst, "GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    s.write_all(&burst).unwrap();
    for n in SIZES {
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.header("content-length"), Some(&*n.to_string()));
        assert!(reply.body == pattern(n), "pipelined GET /{n}: body differs");
    }

    // HTTP/1.0 without keep-alive: the body, then the close.
    for n in [5, 4096, 4097] {
        let raw = server.exchange(format!("GET /{n} HTTP/1.0\r\n\r\n").as_bytes());
        let reply = parse_one(&raw);
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(reply.body == pattern(n), "HTTP/1.0 GET /{n}: body differs");
    }
}
