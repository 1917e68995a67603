//! File bodies go out with sendfile(2) on Linux (the read/write loop
//! elsewhere): exact bytes for whole files, ranges and segmented bodies
//! (bytes between ranges of one file), a client that
//! stops reading a large file is cut off by the write timeout instead of
//! holding a worker, and a file shorter than its announced length ends
//! in a close, never in a hang or a mis-framed next response.

mod support;

use bytes::Bytes;
use sockhttp::{Body, Request, Response, Segment, Server, StatusCode};
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use support::rng::pattern;
use support::*;

fn temp_file(name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let path = std::env::temp_dir().join(format!(
        "sockhttp-file-bodies-{}-{name}",
        std::process::id()
    ));
    let data = pattern(len, 0x1234_5678);
    File::create(&path).unwrap().write_all(&data).unwrap();
    (path, data)
}

fn file_server(path: PathBuf, threads: usize) -> TestServer {
    let mut t = short_timeouts();
    t.idle = std::time::Duration::from_secs(30);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .threads(threads)
        .timeouts(t);
    TestServer::with(
        server,
        move |req: &mut Request| -> sockhttp::Result<Response> {
            let file = File::open(&path)?;
            let size = file.metadata()?.len();
            // A file that shrank after its length was taken: the response
            // announces more bytes than the file still has.
            if req.path() == "/shrunk" {
                return Ok(Response::new(StatusCode::OK).with_body(Body::File {
                    file,
                    offset: 0,
                    len: size + 4096,
                }));
            }
            if req.path() == "/past-end" {
                return Ok(Response::new(StatusCode::OK).with_body(Body::File {
                    file,
                    offset: size + 10,
                    len: 5,
                }));
            }
            if req.path() == "/segments" {
                return Ok(
                    Response::new(StatusCode::PARTIAL_CONTENT).with_body(Body::Segments {
                        file,
                        segments: SEGMENTS.iter().map(segment).collect(),
                    }),
                );
            }
            if req.path() == "/range" {
                return Ok(
                    Response::new(StatusCode::PARTIAL_CONTENT).with_body(Body::File {
                        file,
                        offset: 1000,
                        len: 5000,
                    }),
                );
            }
            Ok(Response::file(file)?)
        },
    )
}

/// The body of `/segments`: bytes of every size (small ones are copied
/// into the queue, a large one is kept by reference) between ranges of
/// the file, two of them larger than the socket buffers, one empty.
const SEGMENTS: &[(Option<&[u8]>, usize, usize)] = &[
    (Some(b"<"), 0, 0),
    (None, 1000, 1_500_000),
    (Some(b"|"), 0, 0),
    (None, 0, 1),
    (None, 7, 0),
    (Some(&[b'm'; 10_000]), 0, 0),
    (None, 2_000_000, 1_000_017),
    (Some(b">"), 0, 0),
];

/// Makes a row of [`SEGMENTS`]: bytes, or `len` bytes of the file from
/// `offset`.
fn segment(&(bytes, offset, len): &(Option<&'static [u8]>, usize, usize)) -> Segment {
    match bytes {
        Some(b) => Segment::Bytes(Bytes::from_static(b)),
        None => Segment::File {
            offset: offset as u64,
            len: len as u64,
        },
    }
}

/// What `/segments` must send, from the file's `data`.
fn segments_body(data: &[u8]) -> Vec<u8> {
    let mut want = Vec::new();
    for &(bytes, offset, len) in SEGMENTS {
        match bytes {
            Some(b) => want.extend_from_slice(b),
            None => want.extend_from_slice(&data[offset..offset + len]),
        }
    }
    want
}

#[test]
fn segmented_bodies_arrive_byte_for_byte_and_head_gets_their_headers() {
    let (path, data) = temp_file("segments", 3 * 1024 * 1024 + 17);
    let srv = file_server(path.clone(), 2);
    let want = segments_body(&data);
    let mut s = srv.connect();
    for _ in 0..2 {
        s.write_all(b"GET /segments HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_reply(&mut s, false);
        assert_eq!(r.status, 206);
        assert_eq!(
            r.header("content-length"),
            Some(want.len().to_string().as_str())
        );
        assert!(r.body == want, "segmented body differs");
    }
    // HEAD: the same head, Content-Length included, and no body; a
    // request pipelined behind it gets its own answer next.
    s.write_all(b"GET /segments HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let g = read_reply(&mut s, false);
    s.write_all(
        b"HEAD /segments HTTP/1.1\r\nHost: x\r\n\r\nGET /range HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let h = read_reply(&mut s, true);
    let without_date = |r: &Reply| -> Vec<(String, String)> {
        r.headers
            .iter()
            .filter(|(n, _)| n != "date")
            .cloned()
            .collect()
    };
    assert_eq!((h.status, without_date(&h)), (g.status, without_date(&g)));
    let r = read_reply(&mut s, false);
    assert_eq!(r.status, 206);
    assert!(r.body == data[1000..6000], "the next answer is whole");
    let _ = std::fs::remove_file(path);
}

#[test]
fn whole_files_and_ranges_arrive_byte_for_byte_on_one_connection() {
    let (path, data) = temp_file("exact", 3 * 1024 * 1024 + 17);
    let srv = file_server(path.clone(), 2);
    let mut s = srv.connect();
    for _ in 0..3 {
        s.write_all(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_reply(&mut s, false);
        assert_eq!(
            r.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        assert!(r.body == data, "whole file differs");
        s.write_all(b"GET /range HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_reply(&mut s, false);
        assert_eq!((r.status, r.header("content-length")), (206, Some("5000")));
        assert!(r.body == data[1000..6000], "range differs");
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_client_that_never_reads_a_large_file_does_not_hold_the_only_worker() {
    let (path, _) = temp_file("stuck", 64 * 1024 * 1024);
    let srv = file_server(path.clone(), 1);
    let mut stuck = srv.connect();
    stuck
        .write_all(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The only worker is busy sending to `stuck`, which never reads; the
    // write timeout must free it for this client. (A head arriving on the
    // stuck socket proves the send started.)
    let mut first = [0u8; 12];
    stuck.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let mut s = srv.connect();
    s.write_all(b"GET /range HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).status, 206);
    // The stuck client got less than the whole file, then the close: once
    // it has stalled past the write timeout.
    wait_past(short_timeouts().write);
    let rest = read_to_end(&mut stuck);
    assert!(
        rest.len() < 64 * 1024 * 1024,
        "the stuck client was cut off"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_file_shorter_than_its_announced_length_ends_in_a_close() {
    let (path, data) = temp_file("shrunk", 256 * 1024 + 3);
    let srv = file_server(path.clone(), 1);
    // Keep-alive is asked for: the server must still close, since the
    // client would otherwise wait for bytes that never come, or read the
    // next response as the rest of this body.
    let mut s = srv.connect();
    s.write_all(b"GET /shrunk HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = read_to_end(&mut s);
    let body_at = find(&raw, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..body_at]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let announced = format!("\r\nContent-Length: {}\r\n", data.len() + 4096);
    assert!(head.contains(&announced), "{head}");
    assert!(
        raw[body_at..] == data,
        "the bytes the file has, then the close"
    );

    let mut s = srv.connect();
    s.write_all(b"GET /past-end HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = read_to_end(&mut s);
    let body_at = find(&raw, b"\r\n\r\n").unwrap() + 4;
    assert_eq!(raw.len(), body_at, "no body byte, then the close");

    // The only worker is free and the next response is whole.
    let mut s = srv.connect();
    s.write_all(b"GET /range HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(r.status, 206);
    assert!(r.body == data[1000..6000]);
    let _ = std::fs::remove_file(path);
}
