//! The `echo_api` example's contract, over real sockets: every route and
//! status, concurrency, large streamed uploads, panics, `curl` as a real
//! client, and the example binary itself (its one stdout line, SIGTERM
//! and Ctrl-C, trusted proxies, flat memory while echoing).

#[path = "../examples/echo_api/app.rs"]
mod app;
mod support;

use serde_json::{Value, json};
use sockhttp::{Response, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use support::rng::{Pattern, pattern};
use support::*;

fn start() -> TestServer {
    TestServer::with_app(Server::bind("127.0.0.1:0").unwrap().threads(8), app::app)
}

/// Sends one request on `s` (keep-alive) and reads its reply.
fn send(
    s: &mut TcpStream,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut wire = req.into_bytes();
    wire.extend_from_slice(body);
    s.write_all(&wire).unwrap();
    read_reply(s, method == "HEAD")
}

/// Sends a JSON body with `Content-Type: application/json`.
fn send_json(s: &mut TcpStream, method: &str, target: &str, body: &Value) -> Reply {
    let body = body.to_string();
    send(
        s,
        method,
        target,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn json_of(r: &Reply) -> Value {
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "status {}: {:?}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)))
}

#[test]
fn index_page_lists_every_route() {
    let srv = start();
    let r = send(&mut srv.connect(), "GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(r.body).unwrap();
    for route in [
        "/echo",
        "/inspect",
        "/sleep?ms=N",
        "/stream?n=N",
        "/panic",
        "/pid",
        "/items",
        "/items/{id}",
        "<form",
        "fetch(",
    ] {
        assert!(page.contains(route), "the index page lacks {route:?}");
    }
}

#[test]
fn echo_returns_the_body_verbatim_with_its_length_and_type() {
    let srv = start();
    let mut s = srv.connect();
    let body: Vec<u8> = (0..=255u8)
        .chain(b"\r\n\r\n0\r\n\r\n".iter().copied())
        .collect();
    for method in ["POST", "PUT", "PATCH", "DELETE", "GET", "PURGE"] {
        let r = send(
            &mut s,
            method,
            "/echo",
            &[("Content-Type", "image/x-test; q=1")],
            &body,
        );
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(r.body, body, "{method}");
        assert_eq!(
            r.header("content-type"),
            Some("image/x-test; q=1"),
            "{method}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{method}: same length, not chunked"
        );
        assert_eq!(r.header("transfer-encoding"), None, "{method}");
    }
    // Without a Content-Type, and with an empty body.
    let r = send(&mut s, "POST", "/echo", &[], b"abc");
    assert_eq!((r.status, &r.body[..]), (200, &b"abc"[..]));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let r = send(&mut s, "GET", "/echo", &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("0"));
    // The connection is still good after all of them.
    let r = send(&mut s, "GET", "/inspect", &[], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn echo_of_a_chunked_upload_is_chunked() {
    let srv = start();
    let mut s = srv.connect();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n\
          5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, &r.body[..]), (200, &b"hello, world"[..]));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = send(&mut s, "GET", "/inspect", &[], b"");
    assert_eq!(r.status, 200, "keep-alive survives a chunked echo");
}

#[test]
fn echo_answers_expect_100_continue() {
    let srv = start();
    let mut s = srv.connect();
    s.write_all(
        b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ping").unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, &r.body[..]), (200, &b"ping"[..]));
}

/// Sends `data` to `/echo` from one thread while this one reads the echo:
/// the server streams, so neither side may wait for the other to finish.
fn echo_round_trip(data: Arc<Vec<u8>>, chunked: bool) -> Reply {
    let srv = start();
    let mut s = srv.connect();
    let mut w = s.try_clone().unwrap();
    let sent = Arc::clone(&data);
    let writer = thread::spawn(move || {
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {}", sent.len())
        };
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n{framing}\r\n\r\n"
        );
        w.write_all(head.as_bytes()).unwrap();
        // Pieces of uneven sizes, so chunk boundaries fall everywhere.
        let sizes = [1, 7, 4096, 65_536, 100_003, 1 << 20];
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at == sent.len() {
                break;
            }
            let piece = &sent[at..(at + size).min(sent.len())];
            if chunked {
                w.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .unwrap();
                w.write_all(piece).unwrap();
                w.write_all(b"\r\n").unwrap();
            } else {
                w.write_all(piece).unwrap();
            }
            at += piece.len();
        }
        if chunked {
            w.write_all(b"0\r\n\r\n").unwrap();
        }
    });
    let r = read_reply(&mut s, false);
    writer.join().unwrap();
    // Not a 64 MiB assert_eq dump on failure: report where they differ.
    if r.body != *data {
        let at = r.body.iter().zip(data.iter()).position(|(a, b)| a != b);
        panic!(
            "echo differs: got {} bytes, sent {}, first difference at {at:?}",
            r.body.len(),
            data.len()
        );
    }
    let r2 = send(&mut s, "GET", "/inspect", &[], b"");
    assert_eq!(
        r2.status, 200,
        "the connection is reusable after a large echo"
    );
    r
}

#[test]
fn echo_streams_a_64_mib_chunked_upload_byte_for_byte() {
    let r = echo_round_trip(Arc::new(pattern(64 << 20, 0x5eed)), true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn echo_streams_an_8_mib_upload_with_its_content_length() {
    let r = echo_round_trip(Arc::new(pattern(8 << 20, 42)), false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("8388608"));
    assert_eq!(r.header("transfer-encoding"), None);
}

#[test]
fn inspect_describes_the_request_with_headers_as_received() {
    let srv = start();
    let mut s = srv.connect();
    let r = send(
        &mut s,
        "POST",
        "/inspect?a=1&b=two%20words",
        &[
            ("X-Custom", "one"),
            ("accept", "*/*"),
            ("X-Custom", "two"),
            ("X-UTF8", "café"),
        ],
        b"hello",
    );
    assert_eq!(r.status, 200);
    let want = json!({
        "method": "POST",
        "path": "/inspect",
        "query": "a=1&b=two%20words",
        "version": "HTTP/1.1",
        "headers": [
            ["Host", "test"],
            ["X-Custom", "one"],
            ["accept", "*/*"],
            ["X-Custom", "two"],
            ["X-UTF8", "café"],
            ["Content-Length", "5"],
        ],
        "body_len": 5,
        // No trusted proxy: the client is the peer itself.
        "client": s.local_addr().unwrap().to_string(),
        "proto": null,
    });
    assert_eq!(json_of(&r), want);

    // No query: null. An extension method, a chunked body.
    s.write_all(b"PURGE /inspect HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        .unwrap();
    let doc = json_of(&read_reply(&mut s, false));
    assert_eq!(doc["method"], "PURGE");
    assert_eq!(doc["query"], Value::Null);
    assert_eq!(doc["body_len"], 7);
    assert_eq!(
        doc["headers"],
        json!([["Host", "h"], ["Transfer-Encoding", "chunked"]])
    );

    // HTTP/1.0, no Host.
    s.write_all(b"GET /inspect?x HTTP/1.0\r\n\r\n").unwrap();
    let doc = json_of(&read_reply(&mut s, false));
    assert_eq!(doc["version"], "HTTP/1.0");
    assert_eq!(doc["query"], "x");
    assert_eq!(doc["headers"], json!([]));
    assert_closed(&mut s);
}

#[test]
fn sleep_answers_200_after_sleeping() {
    let srv = start();
    let mut s = srv.connect();
    for (target, slept) in [("/sleep?ms=0", 0), ("/sleep?ms=5", 5)] {
        let r = send(&mut s, "GET", target, &[], b"");
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(json_of(&r), json!({ "slept_ms": slept }), "{target}");
    }
}

#[test]
fn sleep_and_stream_reject_what_is_not_a_count() {
    let srv = start();
    let mut s = srv.connect();
    for target in [
        "/sleep",
        "/sleep?ms=",
        "/sleep?ms=abc",
        "/sleep?ms=-1",
        "/sleep?ms=1.5",
        "/sleep?ms=%2B5",
        "/sleep?ms=99999999999999999999999",
        "/stream",
        "/stream?n=x",
        "/stream?n=-3",
    ] {
        let r = send(&mut s, "GET", target, &[], b"");
        assert_eq!(r.status, 400, "{target}");
        assert!(json_of(&r)["error"].is_string(), "{target}");
    }
}

#[test]
fn counts_are_capped() {
    assert_eq!(
        app::bounded_count(Some("99999"), app::MAX_SLEEP_MS),
        Some(10_000)
    );
    assert_eq!(
        app::bounded_count(Some("10000"), app::MAX_SLEEP_MS),
        Some(10_000)
    );
    assert_eq!(app::bounded_count(Some("0"), app::MAX_SLEEP_MS), Some(0));
    assert_eq!(app::bounded_count(Some(" 1"), app::MAX_SLEEP_MS), None);
    assert_eq!(app::bounded_count(None, app::MAX_SLEEP_MS), None);
}

/// Splits a chunked body into its chunks' payloads, checking the framing.
fn chunks_of(mut body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    loop {
        let eol = find(body, b"\r\n").expect("chunk-size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
        body = &body[eol + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "no trailers, then the end");
            return out;
        }
        out.push(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n");
        body = &body[size + 2..];
    }
}

#[test]
fn stream_sends_1000_lines_one_chunk_per_line() {
    let srv = start();
    let raw = srv.exchange(b"GET /stream?n=1000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let head_end = find(&raw, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nX-Accel-Buffering: no\r\n"),
        "nginx in front passes the chunks on as they come: {head}"
    );
    let chunks = chunks_of(&raw[head_end..]);
    assert_eq!(chunks.len(), 1000);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(*chunk, format!("line {}\n", i + 1).as_bytes());
    }

    // The same body through the keep-alive reader, and an empty stream.
    let mut s = srv.connect();
    let r = send(&mut s, "GET", "/stream?n=1000", &[], b"");
    let want: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(String::from_utf8(r.body).unwrap(), want);
    let r = send(&mut s, "GET", "/stream?n=0", &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = send(&mut s, "HEAD", "/stream?n=5", &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));
}

#[test]
fn stream_caps_the_line_count() {
    let srv = start();
    let r = send(&mut srv.connect(), "GET", "/stream?n=250000", &[], b"");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(text.lines().count() as u64, app::MAX_STREAM_LINES);
    assert!(text.ends_with("\nline 100000\n"));
}

#[test]
fn panic_costs_one_500_and_the_server_keeps_serving() {
    let srv = start();
    let mut before = srv.connect();
    assert_eq!(send(&mut before, "GET", "/inspect", &[], b"").status, 200);

    // More panics than workers: if a panic cost a worker, the pool would
    // be empty by the end and the requests below would hang.
    for _ in 0..20 {
        let mut s = srv.connect();
        let r = send(&mut s, "GET", "/panic", &[], b"");
        assert_eq!(r.status, 500);
        assert_eq!(r.header("connection"), Some("close"));
        assert_closed(&mut s);
    }
    // The connection opened before the panics goes on...
    for _ in 0..3 {
        assert_eq!(send(&mut before, "GET", "/inspect", &[], b"").status, 200);
    }
    // ...and new connections are served, with every worker at once.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let mut s = srv.connect();
            thread::spawn(move || send(&mut s, "POST", "/echo", &[], b"alive").body)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), b"alive");
    }
}

#[test]
fn pid_names_the_process_that_answered() {
    let srv = start();
    let mut s = srv.connect();
    let r = send(&mut s, "GET", "/pid", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    // Served in this process: its id.
    assert_eq!(r.text(), format!("{{\"pid\":{}}}", std::process::id()));
    let r = send(&mut s, "POST", "/pid", &[], b"");
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
}

#[test]
fn items_go_through_create_read_replace_merge_delete() {
    let srv = start();
    let mut s = srv.connect();
    let r = send(&mut s, "GET", "/items", &[], b"");
    assert_eq!(json_of(&r), json!([]));

    let r = send_json(
        &mut s,
        "POST",
        "/items",
        &json!({"name": "apple", "price": 3, "tags": {"red": true}}),
    );
    assert_eq!(r.status, 201);
    let created = json_of(&r);
    let id = created["id"].as_u64().expect("a numeric id");
    assert_eq!(r.header("location"), Some(format!("/items/{id}").as_str()));
    assert_eq!(
        created,
        json!({"id": id, "name": "apple", "price": 3, "tags": {"red": true}})
    );

    let r = send(&mut s, "GET", &format!("/items/{id}"), &[], b"");
    assert_eq!((r.status, json_of(&r)), (200, created.clone()));
    let r = send(&mut s, "HEAD", &format!("/items/{id}"), &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));

    // PUT replaces every field; an `id` in the body is not the item's id.
    let r = send_json(
        &mut s,
        "PUT",
        &format!("/items/{id}"),
        &json!({"name": "pear", "id": 999}),
    );
    assert_eq!(
        (r.status, json_of(&r)),
        (200, json!({"id": id, "name": "pear"}))
    );

    // PATCH merges (RFC 7396): add, replace, merge nested, null removes.
    let r = send_json(
        &mut s,
        "PATCH",
        &format!("/items/{id}"),
        &json!({"price": 4, "tags": {"ripe": true}}),
    );
    assert_eq!(
        (r.status, json_of(&r)),
        (
            200,
            json!({"id": id, "name": "pear", "price": 4, "tags": {"ripe": true}})
        )
    );
    let r = send(
        &mut s,
        "PATCH",
        &format!("/items/{id}"),
        &[("Content-Type", "application/merge-patch+json")],
        br#"{"tags": {"ripe": null, "green": 1}, "price": null}"#,
    );
    assert_eq!(
        (r.status, json_of(&r)),
        (200, json!({"id": id, "name": "pear", "tags": {"green": 1}}))
    );

    let r = send(&mut s, "GET", "/items", &[], b"");
    assert_eq!(
        json_of(&r),
        json!([{"id": id, "name": "pear", "tags": {"green": 1}}])
    );

    let r = send(&mut s, "DELETE", &format!("/items/{id}"), &[], b"");
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert_eq!(r.header("content-length"), None);
    for method in ["GET", "DELETE"] {
        let r = send(&mut s, method, &format!("/items/{id}"), &[], b"");
        assert_eq!(r.status, 404, "{method} after delete");
        assert_eq!(json_of(&r), json!({"error": "no such item"}));
    }

    // Ids only grow, even after a delete.
    let r = send_json(&mut s, "POST", "/items", &json!({}));
    assert_eq!(json_of(&r)["id"].as_u64(), Some(id + 1));
}

#[test]
fn items_refuse_bad_ids_bad_json_and_wrong_types() {
    let srv = start();
    let mut s = srv.connect();
    let r = send_json(&mut s, "POST", "/items", &json!({"name": "fig"}));
    let id = json_of(&r)["id"].as_u64().unwrap();

    // Missing and non-integer ids: 404 with a JSON error.
    for target in [
        "/items/12345",
        "/items/abc",
        "/items/-1",
        "/items/007",
        "/items/1.0",
        "/items/18446744073709551616",
    ] {
        for method in ["GET", "DELETE"] {
            let r = send(&mut s, method, target, &[], b"");
            assert_eq!(r.status, 404, "{method} {target}");
            assert_eq!(
                json_of(&r),
                json!({"error": "no such item"}),
                "{method} {target}"
            );
        }
        for method in ["PUT", "PATCH"] {
            let r = send_json(&mut s, method, target, &json!({"a": 1}));
            assert_eq!(r.status, 404, "{method} {target}: PUT does not create");
        }
    }

    // Invalid JSON: 400 with a JSON body giving the position.
    let item = format!("/items/{id}");
    for (method, target) in [
        ("POST", "/items"),
        ("PUT", item.as_str()),
        ("PATCH", item.as_str()),
    ] {
        let r = send(
            &mut s,
            method,
            target,
            &[("Content-Type", "application/json")],
            b"{\"name\": ",
        );
        assert_eq!(r.status, 400, "{method}");
        let doc = json_of(&r);
        assert_eq!(doc["error"], "invalid JSON", "{method}");
        assert_eq!(
            (doc["line"].as_u64(), doc["column"].as_u64()),
            (Some(1), Some(9)),
            "{method}"
        );
        // JSON, but not an object.
        for body in [&b"[1, 2]"[..], b"42", b"\"s\"", b"null"] {
            let r = send(
                &mut s,
                method,
                target,
                &[("Content-Type", "application/json")],
                body,
            );
            assert_eq!(r.status, 400, "{method} {body:?}");
            assert_eq!(
                json_of(&r),
                json!({"error": "an item must be a JSON object"})
            );
        }
        // Not JSON by type: 415, whatever the body.
        for ct in [
            Some("text/plain"),
            Some("application/jsonx"),
            Some("application/x-www-form-urlencoded"),
            None,
        ] {
            let headers: Vec<(&str, &str)> = ct.map(|v| ("Content-Type", v)).into_iter().collect();
            let r = send(&mut s, method, target, &headers, b"{}");
            assert_eq!(r.status, 415, "{method} {ct:?}");
            assert_eq!(
                json_of(&r),
                json!({"error": "Content-Type must be application/json"})
            );
        }
    }
    // Merge-patch JSON is for PATCH only.
    let r = send(
        &mut s,
        "POST",
        "/items",
        &[("Content-Type", "application/merge-patch+json")],
        b"{}",
    );
    assert_eq!(r.status, 415);
    // Parameters and case do not matter.
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json ;charset=UTF-8",
    ] {
        let r = send(
            &mut s,
            "POST",
            "/items",
            &[("Content-Type", ct)],
            br#"{"ok": true}"#,
        );
        assert_eq!(r.status, 201, "{ct}");
    }
    // The item was never touched by all of the above.
    let r = send(&mut s, "GET", &item, &[], b"");
    assert_eq!(json_of(&r), json!({"id": id, "name": "fig"}));
}

#[test]
fn items_answer_405_with_allow_and_options() {
    let srv = start();
    let mut s = srv.connect();
    for (method, target, allow) in [
        ("PUT", "/items", "GET, HEAD, POST, OPTIONS"),
        ("DELETE", "/items", "GET, HEAD, POST, OPTIONS"),
        ("POST", "/items/1", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        ("POST", "/stream", "GET, HEAD, OPTIONS"),
        ("DELETE", "/", "GET, HEAD, OPTIONS"),
    ] {
        let r = send(&mut s, method, target, &[], b"");
        assert_eq!(r.status, 405, "{method} {target}");
        assert_eq!(r.header("allow"), Some(allow), "{method} {target}");
    }
    let r = send(&mut s, "OPTIONS", "/items", &[], b"");
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, POST, OPTIONS"))
    );
    let r = send(&mut s, "HEAD", "/items", &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = send(&mut s, "GET", "/nothing/here", &[], b"");
    assert_eq!(r.status, 404);
}

/// 8 clients × 50 rounds, all at once. Each round creates an item, and
/// adds one new field to a single shared item with a PATCH. Every PATCH
/// is a read-modify-write of the same item, so a store that let two of
/// them interleave would lose a field: all 400 must be there at the end.
/// Every create must get a distinct id, and the list must hold them all.
#[test]
fn concurrent_creates_and_patches_lose_no_update() {
    creates_and_patches_lose_no_update(&[start()]);
}

/// The same through two servers, each with its own connections to one
/// SQLite file, as two `echo_api --db FILE` processes have: the clients
/// alternate between them, so PATCHes of the shared item from both
/// interleave, and each write waits for the other's lock (the busy
/// timeout) inside its own transaction.
#[test]
fn concurrent_creates_and_patches_through_two_stores_on_one_file_lose_no_update() {
    let dir = TempDir::new("echo-api-db");
    let db = dir.0.join("items.db");
    let server = || {
        let store = app::Store::open(Some(&db)).unwrap();
        TestServer::with_app(Server::bind("127.0.0.1:0").unwrap().threads(8), |stats| {
            app::app_with(store, stats)
        })
    };
    creates_and_patches_lose_no_update(&[server(), server()]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

fn creates_and_patches_lose_no_update(srvs: &[TestServer]) {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 50;
    let r = send_json(
        &mut srvs[0].connect(),
        "POST",
        "/items",
        &json!({"shared": true}),
    );
    let shared = json_of(&r)["id"].as_u64().unwrap();

    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut s = srvs[c % srvs.len()].connect();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut ids = Vec::with_capacity(ROUNDS);
                for round in 0..ROUNDS {
                    let r = send_json(
                        &mut s,
                        "POST",
                        "/items",
                        &json!({"client": c, "round": round}),
                    );
                    assert_eq!(r.status, 201);
                    ids.push(json_of(&r)["id"].as_u64().unwrap());

                    let field = format!("c{c}r{round}");
                    let r = send_json(
                        &mut s,
                        "PATCH",
                        &format!("/items/{shared}"),
                        &json!({ field.clone(): round }),
                    );
                    assert_eq!(r.status, 200);
                    assert_eq!(
                        json_of(&r)[&field],
                        round,
                        "the PATCH response shows its own field"
                    );
                }
                ids
            })
        })
        .collect();
    let mut created = BTreeSet::new();
    for (c, h) in clients.into_iter().enumerate() {
        for (round, id) in h.join().unwrap().into_iter().enumerate() {
            assert!(created.insert((id, c, round)), "id {id} given twice");
        }
    }
    let ids: BTreeSet<u64> = created.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids.len(), CLIENTS * ROUNDS, "every create got its own id");
    assert!(!ids.contains(&shared));

    for srv in srvs {
        check_after_creates_and_patches(srv, shared, &created, CLIENTS, ROUNDS);
    }
}

/// What a server sees afterwards: every PATCH's field on the shared item,
/// every created item in the list.
fn check_after_creates_and_patches(
    srv: &TestServer,
    shared: u64,
    created: &BTreeSet<(u64, usize, usize)>,
    clients: usize,
    rounds: usize,
) {
    let mut s = srv.connect();
    let item = json_of(&send(&mut s, "GET", &format!("/items/{shared}"), &[], b""));
    let fields = item.as_object().unwrap();
    assert_eq!(
        fields.len(),
        clients * rounds + 2,
        "id, shared, and one field per PATCH"
    );
    for c in 0..clients {
        for round in 0..rounds {
            assert_eq!(
                item[format!("c{c}r{round}")],
                round,
                "lost update c{c}r{round}"
            );
        }
    }

    let list = json_of(&send(&mut s, "GET", "/items", &[], b""));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), clients * rounds + 1);
    for (id, c, round) in created {
        let item = list
            .iter()
            .find(|i| i["id"] == *id)
            .expect("created item listed");
        assert_eq!(item, &json!({"id": id, "client": c, "round": round}));
    }
}

#[test]
fn curl_talks_to_every_kind_of_route() {
    let srv = start();
    let base = format!("http://{}", srv.addr());
    let Some(version) = curl(&["--version"]) else {
        return;
    };
    let agent = String::from_utf8_lossy(&version)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join("/");

    // A 3 MiB binary upload (past curl's threshold for
    // `Expect: 100-continue`), echoed byte for byte.
    let data = pattern(3 << 20, 7);
    let file = std::env::temp_dir().join(format!("sockhttp-echo-api-{}.bin", std::process::id()));
    std::fs::write(&file, &data).unwrap();
    let upload = format!("@{}", file.display());
    let echoed = curl(&[
        "-X",
        "POST",
        "--data-binary",
        &upload,
        "-H",
        "Content-Type: application/octet-stream",
        &format!("{base}/echo"),
    ]);
    std::fs::remove_file(&file).unwrap();
    assert!(echoed.unwrap() == data, "curl's upload came back changed");

    // Three requests on one keep-alive connection.
    let url = format!("{base}/inspect?from=curl");
    let out = curl(&[&url, &url, &url]).unwrap();
    let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(docs.len(), 3);
    for doc in &docs {
        assert_eq!(doc["method"], "GET");
        assert_eq!(doc["query"], "from=curl");
        assert_eq!(doc["headers"][1], json!(["User-Agent", agent]));
    }

    let out = curl(&[
        "-i",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name":"kiwi"}"#,
        &format!("{base}/items"),
    ])
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 201 Created\r\n"), "{text}");
    assert!(text.contains("\r\nLocation: /items/1\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n{\"id\":1,\"name\":\"kiwi\"}"),
        "{text}"
    );

    let out = curl(&["-N", &format!("{base}/stream?n=3")]).unwrap();
    assert_eq!(out, b"line 1\nline 2\nline 3\n");

    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/panic"),
    ])
    .unwrap();
    assert_eq!(out, b"500");
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "PATCH",
        "-d",
        "{}",
        &format!("{base}/items/1"),
    ])
    .unwrap();
    assert_eq!(
        out, b"415",
        "curl -d sends application/x-www-form-urlencoded"
    );
}

/// Starts the `echo_api` binary on port 0 with two workers, more
/// `flags` and `RUST_LOG=info`, and checks the port it announces.
fn binary(flags: &[&str]) -> Example {
    let args = [&["--addr", "127.0.0.1:0", "--threads", "2"][..], flags].concat();
    let bin = Example::start("echo_api", &args, Some("info"));
    let port: u16 = bin
        .addr
        .strip_prefix("127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0, "the real port, not the one asked for");
    bin
}

#[test]
fn the_binary_announces_its_port_serves_and_exits_0_on_sigterm() {
    let mut bin = binary(&[]);
    let mut s = bin.connect();
    let r = send(&mut s, "GET", "/inspect?via=binary", &[], b"");
    assert_eq!(json_of(&r)["query"], "via=binary");
    let r = send_json(&mut s, "POST", "/items", &json!({"n": 1}));
    assert_eq!(r.status, 201);

    // `s` stays open and idle: the shutdown closes it, and does not wait.
    bin.signal("-TERM");
    let (status, rest, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
    assert_eq!(rest, "", "exactly one line on stdout");
    assert!(
        log.contains("\"GET /inspect?via=binary HTTP/1.1\" 200"),
        "RUST_LOG=info shows the access log:\n{log}"
    );
    assert_closed(&mut s);
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    // Every body streams, so the echo's handler runs as the body arrives.
    let mut bin = binary(&["--prebuffer-body-bytes", "0"]);
    let mut s = bin.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nfirst")
        .unwrap();
    // The echo's head leaves with the first piece of the body: once both
    // are here, the handler is running.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !(find(&got, b"\r\n\r\n").is_some() && got.ends_with(b"first")) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));

    bin.signal("-TERM");
    // The request goes on to its end, then the connection closes.
    s.write_all(b"-last").unwrap();
    got.extend_from_slice(&read_to_end(&mut s));
    assert!(
        got.ends_with(b"\r\n\r\nfirst-last"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let (status, _, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
}

/// Sends `raw` on `s` and reads the one reply; returns it and how many
/// bytes it was on the wire (every reply here has a `Content-Length`).
fn exchange_counted(s: &mut TcpStream, raw: &str) -> (Reply, u64) {
    s.write_all(raw.as_bytes()).unwrap();
    let reply = read_reply(s, false);
    assert!(reply.header("content-length").is_some(), "{}", reply.head);
    let wire = (reply.head.len() + reply.body.len()) as u64;
    (reply, wire)
}

const SCRAPE: &str = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";

/// Scrapes `/metrics` on `s`: checks the answer is the Prometheus text
/// format ([`parse_prometheus`]) and returns its samples, and how many
/// bytes the answer was.
fn scrape(s: &mut TcpStream) -> (BTreeMap<String, u64>, u64) {
    let (reply, wire) = exchange_counted(s, SCRAPE);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    (parse_prometheus(reply.text()), wire)
}

/// Checks `text` against the Prometheus text exposition format (0.0.4)
/// and returns its samples (`name{labels}` → value): each line a `# HELP
/// name text`, a `# TYPE name counter|gauge` before the samples of its
/// metric and once, or a sample `name{label="value",…} number` of the
/// metric typed last; counters end in `_total`; the text ends with a
/// newline. Only what this exporter uses is accepted (no timestamps, no
/// escapes in label values, integer values).
fn parse_prometheus(text: &str) -> BTreeMap<String, u64> {
    fn is_name(s: &str, colons: bool) -> bool {
        let mut chars = s.chars();
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
        chars.next().is_some_and(|c| !c.is_ascii_digit() && ok(c)) && chars.all(ok)
    }
    assert!(text.ends_with('\n'), "ends with a newline: {text:?}");
    let mut samples = BTreeMap::new();
    let mut typed: BTreeMap<&str, &str> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name, true) && !help.is_empty(), "{line:?}");
            assert!(helped.insert(name), "one HELP per metric: {line:?}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name, true), "{line:?}");
            assert!(matches!(kind, "counter" | "gauge"), "{line:?}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line:?}");
            assert!(
                typed.insert(name, kind).is_none(),
                "one TYPE per metric: {line:?}"
            );
            current = Some(name);
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
                None => (series, ""),
            };
            assert_eq!(
                Some(name),
                current,
                "a sample of the metric typed last: {line:?}"
            );
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (key, quoted) = pair.split_once('=').expect("label=value");
                assert!(is_name(key, false), "{line:?}");
                let inner = quoted
                    .strip_prefix('"')
                    .and_then(|q| q.strip_suffix('"'))
                    .expect("a quoted label value");
                assert!(!inner.contains(['"', '\\', '\n']), "{line:?}");
            }
            let value: u64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a number: {line:?}"));
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "{line:?}"
            );
        }
    }
    assert_eq!(helped.len(), typed.len(), "a HELP for every TYPE");
    samples
}

#[test]
fn the_prometheus_checker_refuses_what_is_not_the_format() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{class=\"2xx\"} 3\n";
    assert_eq!(parse_prometheus(good)["a_total{class=\"2xx\"}"], 3);
    for bad in [
        "# TYPE a_total counter\na_total 3",    // no newline at the end
        "# HELP a A.\n# TYPE a counter\na 1\n", // a counter without _total
        "# HELP a A.\n# TYPE a gauge\nb 1\n",   // a sample of another metric
        "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n", // an unquoted label value
        "# HELP a A.\n# TYPE a gauge\na one\n", // not a number
        "# HELP a A.\n# TYPE a gauge\n# TYPE a gauge\na 1\n", // typed twice
    ] {
        let refused = std::panic::catch_unwind(|| parse_prometheus(bad)).is_err();
        assert!(refused, "accepted {bad:?}");
    }
}

#[test]
fn metrics_are_in_the_prometheus_format_and_move_with_requests() {
    let mut bin = binary(&[]);
    let mut s = bin.connect();
    let (before, scraped) = scrape(&mut s);
    for name in [
        "sockhttp_open_connections",
        "sockhttp_parked_connections",
        "sockhttp_busy_connections",
        "sockhttp_websocket_sessions",
        "sockhttp_connections_accepted_total",
        "sockhttp_connections_refused_total",
        "sockhttp_received_bytes_total",
        "sockhttp_sent_bytes_total",
        "sockhttp_handler_panics_total",
        "sockhttp_requests_total{class=\"1xx\"}",
        "sockhttp_requests_total{class=\"5xx\"}",
        "sockhttp_timeouts_total{phase=\"handshake\"}",
        "sockhttp_timeouts_total{phase=\"idle\"}",
        "sockhttp_timeouts_total{phase=\"write\"}",
    ] {
        assert!(before.contains_key(name), "{name} in {before:?}");
    }
    assert_eq!(before["sockhttp_connections_accepted_total"], 1);
    assert_eq!(before["sockhttp_open_connections"], 1);
    // The scrape itself is being served.
    assert_eq!(before["sockhttp_busy_connections"], 1);

    // Two answers of 200, a 404, and a panic (500) on a connection of its own.
    let mut up = 0;
    let mut down = scraped;
    for raw in [
        "GET /inspect?n=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /inspect?n=2 HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let (_, wire) = exchange_counted(&mut s, raw);
        up += raw.len() as u64;
        down += wire;
    }
    let mut other = bin.connect();
    let panic = "GET /panic HTTP/1.1\r\nHost: t\r\n\r\n";
    let (reply, wire) = exchange_counted(&mut other, panic);
    assert_eq!(reply.status, 500);
    (up, down) = (up + panic.len() as u64, down + wire);
    assert_closed(&mut other);

    let (after, _) = scrape(&mut s);
    up += SCRAPE.len() as u64; // read before its answer was made
    let moved = |name: &str| after[name] - before[name];
    // The first scrape is counted once answered: after it was made.
    assert_eq!(moved("sockhttp_requests_total{class=\"2xx\"}"), 3);
    assert_eq!(moved("sockhttp_requests_total{class=\"4xx\"}"), 1);
    assert_eq!(moved("sockhttp_requests_total{class=\"5xx\"}"), 1);
    assert_eq!(moved("sockhttp_requests_total{class=\"1xx\"}"), 0);
    assert_eq!(moved("sockhttp_handler_panics_total"), 1);
    assert_eq!(moved("sockhttp_connections_accepted_total"), 1);
    assert_eq!(moved("sockhttp_connections_refused_total"), 0);
    assert_eq!(moved("sockhttp_received_bytes_total"), up);
    assert_eq!(moved("sockhttp_sent_bytes_total"), down);

    let (status, _, log) = bin.stop("-TERM");
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
}

#[test]
fn the_binary_answers_help_bad_flags_and_a_taken_port() {
    let bin = support::example_binary("echo_api");
    let out = Command::new(&bin).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Usage: echo_api"));

    for args in [
        &["--bogus"][..],
        &["--threads", "0"],
        &["--threads"],
        &["--addr"],
        &["--trusted-proxies", "localhost"],
        &["--trusted-proxies=10.0.0.0/33"],
        &["--forwarding-header", "x-real-ip"],
        &["--forwarding-header"],
    ] {
        let out = Command::new(&bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(&bin).args(["--addr", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}

#[test]
fn ctrl_c_shuts_the_binary_down_as_gracefully_as_sigterm() {
    let mut bin = binary(&[]);
    let mut idle = bin.connect();
    assert_eq!(send(&mut idle, "GET", "/inspect", &[], b"").status, 200);
    // What a terminal sends on Ctrl-C.
    bin.signal("-INT");
    let (status, rest, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
    assert_eq!(rest, "");
    assert!(log.contains("shutting down gracefully"), "{log}");
    assert_closed(&mut idle);
}

/// Sends `/inspect` a request as a proxy would forward it: an
/// `X-Forwarded-For` chain (a spoofed entry, then the client the proxy
/// saw) and `X-Forwarded-Proto: https`; returns the answer.
fn inspect_with_forwarding(s: &mut TcpStream, tag: &str) -> Value {
    let r = send(
        s,
        "GET",
        &format!("/inspect?{tag}"),
        &[
            ("X-Forwarded-For", "198.51.100.1, 203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
        ],
        b"",
    );
    json_of(&r)
}

#[test]
fn a_trusted_proxy_names_the_client_to_handlers_and_the_access_log() {
    let mut bin = binary(&["--trusted-proxies", "127.0.0.1"]);
    let mut s = bin.connect();
    let doc = inspect_with_forwarding(&mut s, "trusted");
    // The nearest untrusted address, read from the right: a client's own
    // entries on the left are not believed.
    assert_eq!(doc["client"], "203.0.113.9:0", "{doc}");
    assert_eq!(doc["proto"], "https", "{doc}");

    bin.signal("-TERM");
    let (status, _, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
    let peer = s.local_addr().unwrap();
    let want = format!("] 203.0.113.9:0 via {peer} \"GET /inspect?trusted HTTP/1.1\" 200 ");
    assert!(log.contains(&want), "no {want:?} in\n{log}");
}

#[test]
fn forwarding_headers_from_a_peer_that_is_not_trusted_are_ignored() {
    // Trusting a proxy elsewhere: this client on 127.0.0.1 is not it.
    let mut bin = binary(&["--trusted-proxies", "10.0.0.0/8, 127.0.0.2"]);
    let mut s = bin.connect();
    let peer = s.local_addr().unwrap();
    let doc = inspect_with_forwarding(&mut s, "untrusted");
    assert_eq!(doc["client"], peer.to_string(), "{doc}");
    assert_eq!(doc["proto"], Value::Null, "{doc}");
    let r = send(
        &mut s,
        "GET",
        "/inspect?rfc7239",
        &[("Forwarded", "for=203.0.113.77;proto=https")],
        b"",
    );
    assert_eq!(json_of(&r)["client"], peer.to_string());

    bin.signal("-TERM");
    let (status, _, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
    let want = format!("] {peer} \"GET /inspect?untrusted HTTP/1.1\" 200 ");
    assert!(log.contains(&want), "no {want:?} in\n{log}");
    assert!(!log.contains("203.0.113"), "{log}");
}

#[test]
fn a_clients_forwarded_header_is_ignored_behind_a_proxy_that_sets_x_forwarded_for() {
    // The default: the trusted proxy sets X-Forwarded-For and passes the
    // client's own `Forwarded` through untouched, as nginx does.
    let srv = TestServer::with_app(
        server()
            .threads(2)
            .trusted_proxies("127.0.0.1".parse().unwrap()),
        app::app,
    );
    let mut s = srv.connect();
    let peer = s.local_addr().unwrap();
    let spoof = ("Forwarded", "for=203.0.113.77;proto=https");
    let r = send(
        &mut s,
        "GET",
        "/inspect?both",
        &[
            spoof,
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "http"),
        ],
        b"",
    );
    let doc = json_of(&r);
    assert_eq!(doc["client"], "203.0.113.9:0", "{doc}");
    assert_eq!(doc["proto"], "http", "{doc}");

    // Alone, it names nobody: the client is the peer.
    let doc = json_of(&send(&mut s, "GET", "/inspect?alone", &[spoof], b""));
    assert_eq!(doc["client"], peer.to_string(), "{doc}");
    assert_eq!(doc["proto"], Value::Null, "{doc}");
}

#[test]
fn behind_a_proxy_that_sets_forwarded_x_forwarded_headers_are_ignored() {
    let mut bin = binary(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--forwarding-header",
        "forwarded",
    ]);
    let mut s = bin.connect();
    let peer = s.local_addr().unwrap();
    // X-Forwarded-For and X-Forwarded-Proto alone: the client's own words.
    let doc = inspect_with_forwarding(&mut s, "xff");
    assert_eq!(doc["client"], peer.to_string(), "{doc}");
    assert_eq!(doc["proto"], Value::Null, "{doc}");
    // `Forwarded` is read, from the right, and X-Forwarded-* beside it
    // still are not.
    let r = send(
        &mut s,
        "GET",
        "/inspect?rfc7239",
        &[
            ("Forwarded", "for=198.51.100.1, for=203.0.113.9;proto=https"),
            ("X-Forwarded-For", "203.0.113.66"),
            ("X-Forwarded-Proto", "http"),
        ],
        b"",
    );
    let doc = json_of(&r);
    assert_eq!(doc["client"], "203.0.113.9:0", "{doc}");
    assert_eq!(doc["proto"], "https", "{doc}");

    bin.signal("-TERM");
    let (status, _, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
    let want = format!("] {peer} \"GET /inspect?xff HTTP/1.1\" 200 ");
    assert!(log.contains(&want), "no {want:?} in\n{log}");
    let want = format!("] 203.0.113.9:0 via {peer} \"GET /inspect?rfc7239 HTTP/1.1\" 200 ");
    assert!(log.contains(&want), "no {want:?} in\n{log}");
    assert!(!log.contains("203.0.113.66"), "{log}");
}

/// The binary echoes 128 MiB, compared piece by piece as it comes back,
/// and its peak memory stays far below the body's size: nothing holds the
/// body whole, on either side.
#[cfg(target_os = "linux")]
#[test]
fn echo_of_a_128_mib_upload_keeps_the_servers_memory_flat() {
    const LEN: usize = 128 << 20;
    const PIECE: usize = 1 << 16;
    /// Far above what streaming needs (a few MiB), far below the body.
    const CEILING_KIB: u64 = 32 << 10;
    let mut bin = binary(&[]);
    let mut s = bin.connect();
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: {LEN}\r\n\r\n"
        );
        w.write_all(head.as_bytes()).unwrap();
        let mut source = Pattern::new(0xb16);
        let mut piece = vec![0u8; PIECE];
        for _ in 0..LEN / PIECE {
            source.fill(&mut piece);
            w.write_all(&piece).unwrap();
        }
    });
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {LEN}\r\n")),
        "{head}"
    );
    let mut expected = Pattern::new(0xb16);
    let (mut got, mut want) = (vec![0u8; PIECE], vec![0u8; PIECE]);
    let mut at = 0;
    while at < LEN {
        let n = s.read(&mut got[..PIECE.min(LEN - at)]).unwrap();
        assert!(n > 0, "the echo ended after {at} of {LEN} bytes");
        expected.fill(&mut want[..n]);
        if got[..n] != want[..n] {
            let off = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
            panic!("the echo differs at byte {}", at + off);
        }
        at += n;
    }
    writer.join().unwrap();
    assert_eq!(send(&mut s, "GET", "/inspect", &[], b"").status, 200);

    let peak = support::proc_status_bytes(bin.pid(), "VmHWM") / 1024;
    bin.signal("-TERM");
    let (status, _, log) = bin.wait();
    assert!(status.success(), "exit status {status:?}; stderr:\n{log}");
    eprintln!(
        "echo_api peak RSS after a {} MiB echo: {peak} KiB",
        LEN >> 20
    );
    assert!(
        peak < CEILING_KIB,
        "peak RSS {peak} KiB for a {} MiB echo: the body was buffered",
        LEN >> 20
    );
}

/// The JSON `/upload` answers for `parts`, each `[name, filename,
/// content_type, size]`.
fn upload_summary(parts: &[(&str, Option<&str>, Option<&str>, u64)]) -> Value {
    let parts: Vec<Value> = parts
        .iter()
        .map(|(name, filename, content_type, size)| {
            json!({ "name": name, "filename": filename, "content_type": content_type, "size": size })
        })
        .collect();
    json!({ "parts": parts })
}

#[test]
fn curl_uploads_files_to_upload_with_dash_f() {
    let srv = start();
    let base = format!("http://{}", srv.addr());
    let dir = std::env::temp_dir().join(format!("sockhttp-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Past curl's threshold for `Expect: 100-continue`, and past the
    // body that is read before the handler runs: the parts stream.
    let big = dir.join("big.bin");
    std::fs::write(&big, pattern((2 << 20) + 3, 5)).unwrap();
    let small = dir.join("notes.txt");
    std::fs::write(&small, "hello, upload\n").unwrap();
    let out = curl(&[
        "-F",
        "note=from curl",
        "-F",
        &format!("file=@{}", big.display()),
        "-F",
        &format!("file=@{};type=text/plain", small.display()),
        &format!("{base}/upload"),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let Some(out) = out else { return };
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        doc,
        upload_summary(&[
            ("note", None, None, 9),
            (
                "file",
                Some("big.bin"),
                Some("application/octet-stream"),
                (2 << 20) + 3
            ),
            ("file", Some("notes.txt"), Some("text/plain"), 14),
        ])
    );

    // Not a form: 415, from the library.
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        &format!("{base}/upload"),
    ])
    .unwrap();
    assert_eq!(out, b"415");
}

/// A page that loads the index page in a frame, fills its upload form
/// (a text field and two files, made with `DataTransfer`, the one way a
/// script can give a file input its files), submits it as a person
/// would, and copies what `/upload` answered into `#result`.
const UPLOAD_FROM_THE_INDEX_PAGE: &str = r#"<!doctype html>
<iframe id="frame" src="/"></iframe>
<pre id="result">not submitted</pre>
<script>
const frame = document.getElementById("frame");
let loads = 0;
frame.addEventListener("load", () => {
  const doc = frame.contentDocument;
  if (loads++ === 0) {
    const form = doc.getElementById("upload");
    form.elements["note"].value = "from chromium";
    const files = new DataTransfer();
    files.items.add(new File(["hello, upload\n"], "hello.txt", { type: "text/plain" }));
    files.items.add(new File([new Uint8Array(100000)], "zeros.bin", { type: "application/octet-stream" }));
    form.elements["file"].files = files.files;
    form.submit();
  } else {
    const pre = doc.querySelector("pre");
    document.getElementById("result").textContent = pre ? pre.textContent : doc.body.innerText;
  }
});
</script>
"#;

#[test]
fn a_browser_uploads_through_the_index_page_form() {
    let srv = TestServer::with_app(Server::bind("127.0.0.1:0").unwrap().threads(4), |stats| {
        app::app(stats).get("/upload-test", |_req| {
            Response::html(UPLOAD_FROM_THE_INDEX_PAGE)
        })
    });
    let Some(dom) = support::chromium_dom(&format!("http://{}/upload-test", srv.addr())) else {
        return;
    };
    let start = dom.find("<pre id=\"result\">").expect("the result element") + 17;
    let end = start + dom[start..].find("</pre>").expect("the end of the result");
    let doc: Value = serde_json::from_str(&dom[start..end]).unwrap_or_else(|e| {
        panic!("not the upload's JSON ({e}): {}", &dom[start..end]);
    });
    assert_eq!(
        doc,
        upload_summary(&[
            ("note", None, None, 13),
            ("file", Some("hello.txt"), Some("text/plain"), 14),
            (
                "file",
                Some("zeros.bin"),
                Some("application/octet-stream"),
                100_000
            ),
        ])
    );
}
