mod support;
use sockhttp::{Request, Response, Router};
use std::io::Write;
use support::*;

#[test]
fn keep_alive_pipelining_and_body() {
    let app = Router::new()
        .get("/", |_r: &mut Request| Response::text("hello"))
        .post("/upload", |r: &mut Request| -> sockhttp::Result<Response> {
            let b = r.body_bytes()?;
            Ok(Response::text(format!("{} bytes", b.len())))
        });
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, &r.body[..]), (200, &b"3 bytes"[..]));
    let r = read_reply(&mut s, false);
    assert_eq!(r.status, 404);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(r.header("connection"), Some("close"));
    assert_closed(&mut s);
}
