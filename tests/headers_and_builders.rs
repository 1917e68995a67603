//! The application API's contracts for header fields and builders, over
//! real sockets: an invalid field a handler sets is its bug (a `500`,
//! never a forged header line), a fallible setter turns it into an error
//! the handler can `?`, a redirect built from the request is encoded
//! rather than refused, and the `Server` builder's shortcuts and backlog
//! land where they say.

mod support;

use sockhttp::{Headers, Method, Request, Response, Server, StatusCode, Timeouts};
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;
use support::*;

/// Field values a handler may take from outside the program, and whether
/// they may be sent.
const VALUES: &[(&str, &str, bool)] = &[
    ("plain", "report.txt", true),
    ("HTAB and spaces", "a\tb c", true),
    ("non-ASCII", "café.txt", true),
    ("CR LF", "a\r\nSet-Cookie: evil=1", false),
    ("bare LF", "a\nb", false),
    ("NUL", "a\0b", false),
    ("other control", "a\x1bb", false),
    ("DEL", "a\x7fb", false),
];

/// Answers `GET /?i=N` with `X-Value` set to `VALUES[N]`, by the setter
/// named in the path.
fn app(req: &mut Request) -> sockhttp::Result<Response> {
    let i: usize = req
        .query_param("i")
        .and_then(|i| i.parse().ok())
        .unwrap_or(0);
    let (_, value, _) = VALUES[i];
    Ok(match req.path() {
        "/try" => Response::text("ok").try_with_header("X-Value", value)?,
        "/headers" => {
            let mut resp = Response::text("ok");
            resp.headers_mut().try_append("X-Value", value)?;
            resp
        }
        _ => Response::text("ok").with_header("X-Value", value),
    })
}

#[test]
fn invalid_field_values_from_a_handler_are_a_500_never_a_header_line() {
    let srv = TestServer::start(app);
    for path in ["/try", "/headers", "/panics"] {
        for (i, &(name, value, valid)) in VALUES.iter().enumerate() {
            let raw = srv.exchange(
                format!("GET {path}?i={i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let reply = parse_one(&raw);
            let name = format!("{path}, {name}");
            if valid {
                assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{name}");
                assert_eq!(reply.header("x-value"), Some(value), "{name}");
            } else {
                assert_error_then_close(&name, &raw, "HTTP/1.1 500 Internal Server Error");
                assert_eq!(reply.header("x-value"), None, "{name}");
                assert_eq!(reply.header("set-cookie"), None, "{name}");
            }
        }
    }
}

#[test]
fn a_redirect_built_from_the_request_is_encoded_not_refused() {
    let login = |req: &mut Request| {
        let next = req.query_param("next").unwrap_or_default();
        Response::redirect(StatusCode::SEE_OTHER, &format!("/login?next={next}"))
    };
    let srv = TestServer::start(login);
    let cases = [
        ("plain", "/a", "/login?next=/a"),
        (
            "CR LF",
            "/a%0D%0ASet-Cookie:%20x=1",
            "/login?next=/a%0D%0ASet-Cookie:%20x=1",
        ),
        ("NUL", "/a%00b", "/login?next=/a%00b"),
        ("space", "/a+b", "/login?next=/a%20b"),
        ("non-ASCII", "/caf%C3%A9", "/login?next=/caf%C3%A9"),
    ];
    for (name, next, want) in cases {
        let mut s = srv.connect();
        s.write_all(format!("GET /?next={next} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let reply = read_reply(&mut s, false);
        assert_eq!(reply.status_line(), "HTTP/1.1 303 See Other", "{name}");
        assert_eq!(reply.header("location"), Some(want), "{name}");
        assert_eq!(reply.header("set-cookie"), None, "{name}");
    }
}

#[test]
fn a_built_request_with_an_invalid_field_fails_as_the_parser_would() {
    for (name, field, value) in [
        ("space in the name", "Bad Name", "v"),
        ("empty name", "", "v"),
        ("CR LF in the value", "X-A", "a\r\nX-B: b"),
        ("NUL in the value", "X-A", "a\0b"),
    ] {
        let got = Request::builder(Method::Get, "/")
            .header(field, value)
            .build();
        let err = got.expect_err(name);
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{name}");
    }
    let req = Request::builder(Method::Get, "/")
        .header("X-A", "a\tb")
        .build()
        .unwrap();
    assert_eq!(req.header("x-a"), Some("a\tb"));
}

#[test]
fn headers_document_which_setters_panic() {
    let mut h = Headers::new();
    assert!(h.try_insert("X-A", "a\r\nb").is_err_and(|e| e.is_value()));
    assert!(h.try_insert("X A", "v").is_err_and(|e| !e.is_value()));
    assert!(h.is_empty());
    let panicked = std::panic::catch_unwind(|| Headers::new().insert("X-A", "a\r\nb"));
    assert!(panicked.is_err());
    let err: sockhttp::Error = h.try_append("X-A", "\0").unwrap_err().into();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
}

#[test]
fn every_timeout_has_a_server_shortcut() {
    let d = |ms| Duration::from_millis(ms);
    let server = server()
        .idle_timeout(d(1))
        .head_timeout(d(2))
        .body_timeout(d(3))
        .body_min_bytes_per_sec(4)
        .write_timeout(d(5))
        .send_min_bytes_per_sec(6)
        .send_grace(d(7))
        .shutdown_timeout(d(8));
    let mut want = Timeouts::default();
    want.idle = d(1);
    want.head = d(2);
    want.body = d(3);
    want.body_min_bytes_per_sec = 4;
    want.write = d(5);
    want.send_min_bytes_per_sec = 6;
    want.send_grace = d(7);
    want.shutdown = d(8);
    let shown = format!("{server:?}");
    assert!(
        shown.contains(&format!("timeouts: {want:?}")),
        "{shown} lacks {want:?}"
    );
}

#[test]
fn the_body_timeout_shortcut_answers_a_stalled_body_with_408() {
    let srv = TestServer::with(
        server().body_timeout(Duration::from_millis(200)),
        |req: &mut Request| -> sockhttp::Result<Response> {
            Ok(Response::text(format!("{} bytes", req.body_bytes()?.len())))
        },
    );
    let raw = srv.exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    assert_error_then_close("stalled body", &raw, "HTTP/1.1 408 Request Timeout");
}

#[test]
fn the_backlog_is_set_without_a_result_in_the_builder_chain() {
    let srv = TestServer::with(
        server().backlog(16).threads(2),
        |_req: &mut Request| "backlogged",
    );
    let mut s = srv.connect();
    s.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "backlogged");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::from_listener(listener).unwrap().backlog(64);
    let srv = TestServer::with(server, |_req: &mut Request| "inherited");
    let mut s = srv.connect();
    s.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "inherited");
}
