//! Logging over real sockets: one access-log line per request on target
//! `sockhttp::access`, a handler panic logged at `error` with its message,
//! a handler's error logged at `error` with its method and path, and a
//! hostile peer's protocol errors never logged above `debug` (so it
//! cannot flood the log).
//!
//! A process has one logger, so this file holds a single test that runs
//! its steps in order and reads only the records each step produced.

mod support;

use log::{Level, LevelFilter, Log, Metadata, Record};
use sockhttp::{HandlerResult, Request, Response, Router};
use std::io::Write;
use std::sync::Mutex;
use support::*;

struct Captured {
    level: Level,
    target: String,
    message: String,
}

struct Capture(Mutex<Vec<Captured>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        self.0.lock().unwrap().push(Captured {
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        });
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// Returns the records logged since the last call.
fn take_records() -> Vec<Captured> {
    std::mem::take(&mut *CAPTURE.0.lock().unwrap())
}

#[test]
fn requests_are_logged_at_the_right_levels() {
    log::set_logger(&CAPTURE).expect("the only logger of this process");
    log::set_max_level(LevelFilter::Trace);
    let app = Router::new()
        .get("/hello", |_req: &mut Request| Response::text("hello"))
        .get("/panic", |_req: &mut Request| -> Response {
            panic!("panic-marker-7f3a")
        })
        .get("/parse/{n}", |req| -> HandlerResult {
            let n: u32 = req.param("n").unwrap_or_default().parse()?;
            Ok(Response::text(n.to_string()))
        })
        .post("/small", |req| -> HandlerResult {
            req.set_max_buffered_body_bytes(1);
            Ok(Response::text(format!("{}", req.body_bytes()?.len())))
        });
    let srv = TestServer::start(app);

    // A hostile peer: every protocol error is a debug record at most.
    // Reading to the end of each connection means the server is done
    // with it, and so with its logging.
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        srv.exchange(raw);
    }
    let loud: Vec<String> = take_records()
        .into_iter()
        .filter(|r| r.level <= Level::Info && r.target != "sockhttp::access")
        .map(|r| format!("{} {}: {}", r.level, r.target, r.message))
        .collect();
    assert!(
        loud.is_empty(),
        "protocol errors logged above debug: {loud:?}"
    );

    // A panicking handler is logged at error, with its message.
    let raw = srv.exchange(&get("/panic"));
    assert_error_then_close("panic", &raw, "HTTP/1.1 500 Internal Server Error");
    let records = take_records();
    assert!(
        records
            .iter()
            .any(|r| r.level == Level::Error && r.message.contains("panic-marker-7f3a")),
        "panic not logged at error"
    );

    // A handler's own error, through `?`: a 500 logged at error with the
    // method, the path (not the query) and the error.
    let raw = srv
        .exchange(b"GET /parse/x1?token=secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
    let errors: Vec<String> = take_records()
        .into_iter()
        .filter(|r| r.level == Level::Error)
        .map(|r| r.message)
        .collect();
    assert_eq!(
        errors,
        ["handler error on GET /parse/x1: invalid digit found in string"],
        "handler error not logged with its request"
    );

    // The library's own error, through `?`: its status, logged at debug
    // as the peer's fault.
    let raw = srv.exchange(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    assert_error_then_close("over the limit", &raw, "HTTP/1.1 413 Content Too Large");
    let loud: Vec<String> = take_records()
        .into_iter()
        .filter(|r| r.level <= Level::Info && r.target != "sockhttp::access")
        .map(|r| r.message)
        .collect();
    assert!(
        loud.is_empty(),
        "the peer's error logged above debug: {loud:?}"
    );

    // One access-log line per request: peer, request line, status, bytes.
    let mut s = srv.connect();
    let peer = s.local_addr().unwrap().to_string();
    s.write_all(&get("/hello")).unwrap();
    s.write_all(b"GET /hello?again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_to_end(&mut s);
    let access: Vec<String> = take_records()
        .into_iter()
        .filter(|r| r.target == "sockhttp::access")
        .map(|r| r.message)
        .collect();
    assert_eq!(access.len(), 2, "{access:?}");
    assert!(
        access[0].starts_with(&format!("{peer} \"GET /hello HTTP/1.1\" 200 5 ")),
        "{access:?}"
    );
    assert!(
        access[1].starts_with(&format!("{peer} \"GET /hello?again HTTP/1.1\" 200 5 ")),
        "{access:?}"
    );
    for line in &access {
        assert!(line.ends_with("ms"), "a duration ends the line: {line}");
    }
}
