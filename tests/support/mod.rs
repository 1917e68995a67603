//! Test support: a server on a loopback port and a raw-socket client.
//!
//! `TestServer::start` binds `127.0.0.1:0`, serves the handler on a
//! background thread, and on drop shuts the server down and joins every
//! thread, so no test leaks a thread or a socket. Clients are plain
//! `TcpStream`s writing exact bytes; their read timeout is only a
//! failsafe, so that a hang fails the test instead of stalling CI.
#![allow(dead_code)]

use sockhttp::{Handler, Limits, RunningServer, Server, Timeouts};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A failsafe read timeout for clients: long enough never to fire on a
/// working server, short enough that a broken one fails the run.
pub const FAILSAFE: Duration = Duration::from_secs(20);

pub struct TestServer {
    running: Option<RunningServer>,
    addr: SocketAddr,
}

impl TestServer {
    pub fn start(handler: impl Handler) -> TestServer {
        TestServer::with(Server::bind("127.0.0.1:0").unwrap().threads(4), handler)
    }

    pub fn with(server: Server, handler: impl Handler) -> TestServer {
        let running = server.spawn(handler).expect("server starts");
        let addr = running.local_addr();
        TestServer {
            running: Some(running),
            addr,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(FAILSAFE)).unwrap();
        s.set_write_timeout(Some(FAILSAFE)).unwrap();
        s
    }

    /// Sends `raw` on a new connection and returns everything the server
    /// sends until it closes the connection.
    pub fn exchange(&self, raw: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        read_to_end(&mut s)
    }

    pub fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().expect("clean shutdown");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown();
        }
    }
}

/// Limits and timeouts suited to tests that provoke them quickly.
pub fn short_timeouts() -> Timeouts {
    let mut t = Timeouts::default();
    t.idle = Duration::from_millis(300);
    t.head = Duration::from_millis(300);
    t.body = Duration::from_millis(300);
    t.write = Duration::from_millis(300);
    t.shutdown = Duration::from_secs(2);
    t
}

pub fn small_limits() -> Limits {
    let mut l = Limits::default();
    l.max_request_line_bytes = 256;
    l.max_head_bytes = 1024;
    l.max_headers = 10;
    l.max_body_bytes = 1024;
    l.max_buffered_body_bytes = 512;
    l.max_drain_bytes = 64;
    l
}

/// Reads until the server closes the connection (or a reset).
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed (server hung?): {e}; got so far: {:?}", String::from_utf8_lossy(&out)),
        }
    }
}

/// A parsed response: status, headers (names lower-cased), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

/// Reads exactly one response from `s` (Content-Length, chunked, or
/// until close), leaving any following bytes unread on the socket only
/// if they were not yet received; `head_request` means no body follows.
pub fn read_reply(s: &mut TcpStream, head_request: bool) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    // Read the head.
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("read head");
        assert!(n > 0, "connection closed before a full head: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut rest = buf[head_end..].to_vec();
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let body = if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().unwrap();
        while rest.len() < len {
            let n = s.read(&mut chunk).expect("read body");
            assert!(n > 0, "closed mid-body");
            rest.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(rest.len(), len, "more bytes than Content-Length arrived in one read");
        rest
    } else if get("transfer-encoding").as_deref() == Some("chunked") {
        let mut body = Vec::new();
        let mut data = rest;
        loop {
            let line_end = loop {
                if let Some(i) = find(&data, b"\r\n") {
                    break i;
                }
                let n = s.read(&mut chunk).expect("read chunk size");
                assert!(n > 0, "closed mid-chunk");
                data.extend_from_slice(&chunk[..n]);
            };
            let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap(), 16).unwrap();
            data.drain(..line_end + 2);
            while data.len() < size + 2 {
                let n = s.read(&mut chunk).expect("read chunk");
                assert!(n > 0, "closed mid-chunk");
                data.extend_from_slice(&chunk[..n]);
            }
            if size == 0 {
                assert_eq!(&data[..2], b"\r\n");
                break;
            }
            body.extend_from_slice(&data[..size]);
            assert_eq!(&data[size..size + 2], b"\r\n");
            data.drain(..size + 2);
        }
        body
    } else {
        rest.extend_from_slice(&read_to_end(s));
        rest
    };
    Reply { status, headers, body }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Asserts that the server has closed `s`: a read returns end-of-stream.
pub fn assert_closed(s: &mut TcpStream) {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(_) => panic!("expected the connection to be closed, got more bytes"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the connection to be closed: {e}"),
    }
}
