//! Serving on a Unix domain socket (`Server::bind_unix`): requests,
//! keep-alive and pipelining from a raw `UnixStream` and from `curl
//! --unix-socket`; idle connections parked off the pool; the socket file
//! removed by a graceful shutdown; what happens to a file already at the
//! path (a stale socket is replaced, a live one and anything that is not
//! a socket are refused and kept); a peer with no address, written
//! `unix:` in the access log; and a trusted `unix:` proxy's forwarding
//! headers.
//!
//! Each test works in a directory of its own under the temporary
//! directory, removed when it ends.
#![cfg(unix)]

mod support;

use log::{LevelFilter, Log, Metadata, Record};
use sockhttp::{ListenAddr, Peer, Request, Response, Router, RunningServer, Server};
use std::io::{ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use support::{FAILSAFE, TempDir, assert_closed, curl, read_reply};

/// The routes every test serves: a greeting, and who the request came
/// from as the handler sees it.
fn app() -> Router {
    Router::new()
        .get("/hello", |_req| Response::text("hello"))
        .get("/who/{tag}", |req: &mut Request| {
            Response::text(format!(
                "peer={} peer_addr={:?} client={} client_addr={:?} proto={:?}",
                show(req.peer()),
                req.peer_addr(),
                show(req.client()),
                req.client_addr(),
                req.forwarded_proto(),
            ))
        })
        .get("/take", |_req| {
            Response::upgrade("line/1", |mut up| {
                let _ = up.stream.write_all(b"taken\n");
            })
        })
}

fn show(peer: Option<Peer>) -> String {
    peer.map_or_else(|| "none".to_owned(), |p| p.to_string())
}

/// A directory of the test's own, and the socket path in it.
fn socket_in(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("unix-{tag}"));
    let path = dir.0.join("app.sock");
    (dir, path)
}

/// Serves [`app`] on a Unix socket at `path` with `server`'s settings.
fn start(server: Server) -> RunningServer {
    server.threads(2).spawn(app()).expect("server starts")
}

/// Connects a client to the socket at `path`, with the failsafe timeout.
fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect to the socket");
    s.set_read_timeout(Some(FAILSAFE)).unwrap();
    s.set_write_timeout(Some(FAILSAFE)).unwrap();
    s
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

#[test]
fn serves_requests_kept_alive_and_pipelined_over_a_unix_socket() {
    let (_dir, path) = socket_in("serve");
    let server = Server::bind_unix(&path).unwrap();
    assert_eq!(server.listen_addr(), &ListenAddr::Unix(path.clone()));
    assert_eq!(server.listen_addr().unix_path(), Some(path.as_path()));
    assert_eq!(server.listen_addr().tcp(), None);
    assert_eq!(
        server.listen_addr().to_string(),
        format!("unix:{}", path.display())
    );
    assert_eq!(
        server.local_addr().to_string(),
        "0.0.0.0:0",
        "no TCP address"
    );
    let running = start(server);
    assert_eq!(running.listen_addr(), &ListenAddr::Unix(path.clone()));

    let mut s = connect(&path);
    s.write_all(get("/hello").as_bytes()).unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(r.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(r.header("content-length"), Some("5"));
    assert_eq!(r.header("connection"), None, "kept alive");
    assert_eq!(r.text(), "hello");

    // The same connection again: a handler sees a peer without address.
    s.write_all(get("/who/1").as_bytes()).unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(
        r.text(),
        "peer=unix: peer_addr=None client=unix: client_addr=None proto=None"
    );

    // Three requests in one write: three answers, in order.
    let pipeline = [get("/who/a"), get("/hello"), get("/who/b")].concat();
    s.write_all(pipeline.as_bytes()).unwrap();
    for want in ["peer=unix:", "hello", "peer=unix:"] {
        let r = read_reply(&mut s, false);
        assert_eq!(r.status, 200);
        assert!(r.text().starts_with(want), "{want}: {}", r.text());
    }

    // The client's `Connection: close` closes it after the answer.
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.text(), "hello");
    assert_closed(&mut s);
    running.shutdown().unwrap();
}

#[test]
fn curl_speaks_to_the_unix_socket() {
    let (_dir, path) = socket_in("curl");
    let running = start(Server::bind_unix(&path).unwrap());
    let socket = path.to_str().unwrap();
    let Some(out) = curl(&["-i", "--unix-socket", socket, "http://localhost/hello"]) else {
        return;
    };
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nContent-Length: 5\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello"), "{text}");

    // Two URLs on one connection (curl reuses it: `%{num_connects}` is
    // the new connections each transfer made).
    let out = curl(&[
        "--unix-socket",
        socket,
        "-w",
        " %{num_connects}\n",
        "http://localhost/who/curl-1",
        "http://localhost/who/curl-2",
    ])
    .unwrap();
    let lines = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    let who = "peer=unix: peer_addr=None client=unix: client_addr=None proto=None";
    assert_eq!(lines, [format!("{who} 1"), format!("{who} 0")]);
    running.shutdown().unwrap();
}

#[cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]
#[test]
fn hundreds_of_idle_unix_connections_do_not_hold_a_two_worker_pool() {
    support::raise_fd_limit();
    let (_dir, path) = socket_in("park");
    let running = Server::bind_unix(&path)
        .unwrap()
        .threads(2)
        .idle_timeout(std::time::Duration::from_secs(600))
        .spawn(app())
        .unwrap();
    // Each makes a request, then stays open and silent: parked, idle.
    let mut idle: Vec<UnixStream> = (0..300)
        .map(|i| {
            let mut s = connect(&path);
            s.write_all(get(&format!("/who/idle-{i}")).as_bytes())
                .unwrap();
            assert_eq!(read_reply(&mut s, false).status, 200);
            s
        })
        .collect();
    // Were they holding workers, these would wait for the idle timeout.
    for i in 0..20 {
        let mut s = connect(&path);
        s.write_all(get("/hello").as_bytes()).unwrap();
        assert_eq!(read_reply(&mut s, false).text(), "hello", "new client {i}");
    }
    // And each idle one is served again when it speaks.
    for s in idle.iter_mut().rev() {
        s.write_all(get("/hello").as_bytes()).unwrap();
    }
    for s in idle.iter_mut().rev() {
        assert_eq!(read_reply(s, false).text(), "hello");
    }
    running.shutdown().unwrap();
}

#[test]
fn a_graceful_shutdown_closes_idle_connections_and_removes_the_socket_file() {
    let (_dir, path) = socket_in("shutdown");
    let running = start(Server::bind_unix(&path).unwrap());
    let mut idle = connect(&path);
    idle.write_all(get("/hello").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut idle, false).text(), "hello");
    assert!(path.exists());

    running.shutdown().unwrap();
    assert_closed(&mut idle);
    assert!(!path.exists(), "the socket file is removed");
    let refused = UnixStream::connect(&path).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotFound);

    // The path is free for the next server.
    let again = start(Server::bind_unix(&path).unwrap());
    let mut s = connect(&path);
    s.write_all(get("/hello").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    again.shutdown().unwrap();
}

#[test]
fn a_server_dropped_unserved_removes_its_socket_file() {
    let (_dir, path) = socket_in("unserved");
    let server = Server::bind_unix(&path).unwrap();
    assert!(path.exists());
    drop(server);
    assert!(!path.exists());
}

#[test]
fn a_stale_socket_file_with_nothing_listening_is_replaced() {
    let (_dir, path) = socket_in("stale");
    // What a killed server leaves: the file, and nobody listening on it.
    drop(UnixListener::bind(&path).unwrap());
    assert_eq!(
        UnixStream::connect(&path).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    let running = start(Server::bind_unix(&path).unwrap());
    let mut s = connect(&path);
    s.write_all(get("/hello").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    running.shutdown().unwrap();
}

#[test]
fn a_socket_another_server_listens_on_is_refused_and_kept() {
    let (_dir, path) = socket_in("live");
    let first = start(Server::bind_unix(&path).unwrap());
    let err = Server::bind_unix(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains("already listens"), "{err}");
    // The first server still has its file, and serves.
    let mut s = connect(&path);
    s.write_all(get("/hello").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello");
    first.shutdown().unwrap();

    // A listener that is not a sockhttp server.
    let other = UnixListener::bind(&path).unwrap();
    let err = Server::bind_unix(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert!(path.exists(), "a live socket is never removed");
    drop(other);
}

/// A live listener whose backlog is full (nobody accepts) is busy, not
/// gone: refused at once, where a blocking connect would wait for it.
#[cfg(target_os = "linux")]
#[test]
fn a_socket_with_a_full_backlog_is_refused_without_waiting() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let (_dir, path) = socket_in("backlog");
    let other = UnixListener::bind(&path).unwrap();
    rustix::net::listen(&other, 0).unwrap();
    // Non-blocking connects until the backlog refuses one with EAGAIN.
    let addr = SocketAddrUnix::new(&path).unwrap();
    let mut queued = Vec::new();
    loop {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => queued.push(fd),
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(queued.len() < 1000, "the backlog never filled");
    }
    let err = Server::bind_unix(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains("busy"), "{err}");
    assert!(path.exists());
    drop(other);
}

#[test]
fn a_file_that_is_not_a_socket_is_refused_and_kept() {
    let (dir, path) = socket_in("regular");
    std::fs::write(&path, "precious").unwrap();
    let err = Server::bind_unix(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");

    // A symbolic link is not followed: refused too, and kept, even when
    // it points at a stale socket.
    let stale = dir.0.join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let link = dir.0.join("link.sock");
    std::os::unix::fs::symlink(&stale, &link).unwrap();
    let err = Server::bind_unix(&link).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(link.symlink_metadata().is_ok() && stale.exists());

    // A directory as well.
    let sub = dir.0.join("dir.sock");
    std::fs::create_dir(&sub).unwrap();
    let err = Server::bind_unix(&sub).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(sub.is_dir());
}

#[test]
fn a_socket_file_taken_over_by_another_server_is_not_removed() {
    let (_dir, path) = socket_in("replaced");
    let running = start(Server::bind_unix(&path).unwrap());
    // Someone removes the file and binds the path anew while the server
    // runs: the file is no longer the server's to remove.
    std::fs::remove_file(&path).unwrap();
    let newcomer = UnixListener::bind(&path).unwrap();
    running.shutdown().unwrap();
    assert!(path.exists(), "the newcomer's socket stays");
    let _client = UnixStream::connect(&path).unwrap();
    assert!(newcomer.accept().is_ok());
}

#[test]
fn a_trusted_unix_proxy_names_the_client_and_an_untrusted_one_does_not() {
    let (_dir, path) = socket_in("trusted");
    let forwarded = "GET /who/fwd HTTP/1.1\r\nHost: localhost\r\n\
                     X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\r\n";

    // Trusting `unix:`: the proxy's headers name the client.
    let server = Server::bind_unix(&path)
        .unwrap()
        .trusted_proxies("unix:".parse().unwrap());
    let running = start(server);
    let mut s = connect(&path);
    s.write_all(forwarded.as_bytes()).unwrap();
    assert_eq!(
        read_reply(&mut s, false).text(),
        "peer=unix: peer_addr=None client=203.0.113.9:0 \
         client_addr=Some(203.0.113.9:0) proto=Some(\"https\")"
    );
    running.shutdown().unwrap();

    // Trusting an IP address only: a Unix peer's headers are its own word.
    let server = Server::bind_unix(&path)
        .unwrap()
        .trusted_proxies("127.0.0.1".parse().unwrap());
    let running = start(server);
    let mut s = connect(&path);
    s.write_all(forwarded.as_bytes()).unwrap();
    assert_eq!(
        read_reply(&mut s, false).text(),
        "peer=unix: peer_addr=None client=unix: client_addr=None proto=None"
    );
    running.shutdown().unwrap();
}

#[test]
fn a_connection_over_a_unix_socket_is_not_handed_over() {
    let (_dir, path) = socket_in("take");
    let running = start(Server::bind_unix(&path).unwrap());
    let mut s = connect(&path);
    s.write_all(b"GET /take HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: line/1\r\n\r\n")
        .unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!(r.status_line(), "HTTP/1.1 500 Internal Server Error");
    assert_eq!(r.header("connection"), Some("close"));
    assert_closed(&mut s);
    running.shutdown().unwrap();
}

/// Keeps the access-log lines (target `sockhttp::access`): the one
/// logger of this test binary, installed by the first test that needs it.
struct AccessLog(Mutex<Vec<String>>);

impl Log for AccessLog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target() == "sockhttp::access"
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static ACCESS: AccessLog = AccessLog(Mutex::new(Vec::new()));

/// Returns the access-log lines about `target` so far.
fn access_lines(target: &str) -> Vec<String> {
    let needle = format!(" \"GET {target} HTTP/1.1\" ");
    let lines = ACCESS.0.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(&needle))
        .cloned()
        .collect()
}

#[test]
fn the_access_log_writes_a_unix_peer_as_unix() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&ACCESS).expect("the only logger of this binary");
        log::set_max_level(LevelFilter::Info);
    });
    let (_dir, path) = socket_in("log");
    let server = Server::bind_unix(&path)
        .unwrap()
        .trusted_proxies("unix:".parse().unwrap());
    let running = start(server);
    let mut s = connect(&path);
    s.write_all(get("/who/log-direct").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).status, 200);
    s.write_all(
        b"GET /who/log-proxied HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_reply(&mut s, false).status, 200);
    // Shut down: every line of the two requests has been logged.
    running.shutdown().unwrap();

    let direct = access_lines("/who/log-direct");
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert!(
        direct[0].starts_with("unix: \"GET /who/log-direct HTTP/1.1\" 200 "),
        "{direct:?}"
    );
    let proxied = access_lines("/who/log-proxied");
    assert_eq!(proxied.len(), 1, "{proxied:?}");
    assert!(
        proxied[0].starts_with("203.0.113.9:0 via unix: \"GET /who/log-proxied HTTP/1.1\" 200 "),
        "{proxied:?}"
    );
}
