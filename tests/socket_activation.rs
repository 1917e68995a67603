//! Socket activation, done as systemd does it: the test binds the
//! listening socket, holds it, and starts `echo_api` with that socket as
//! fd 3, `LISTEN_FDS=1` and `LISTEN_PID` set to the child's own pid. A
//! shell passes the socket on, so no unsafe code is needed: the socket is
//! the shell's stdin, `exec 3<&0` copies it to fd 3, and `exec` then
//! replaces the shell by the example under the same pid (`$$`).
//!
//! The point of activation is checked too: a connection made while no
//! server runs waits in the kernel's backlog of the socket the test holds,
//! and is answered by the server started after it, so a restart refuses
//! no client. The same for a Unix domain socket (a socket unit with
//! `ListenStream=/run/…`), whose file the example leaves in place: it is
//! systemd's.
#![cfg(unix)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use support::{Example, FAILSAFE, Reply, TempDir, connect, example_binary, read_reply};

/// Starts `echo_api ARGS` through a shell that moves its stdin (the
/// listening socket) to fd 3 and sets `LISTEN_FDS=1` and `LISTEN_PID` to
/// `listen_pid` (`$$`: the shell's pid, which `exec` keeps for the
/// example) before it execs the example.
fn start_activated(listener: &TcpListener, listen_pid: &str, args: &[&str]) -> Example {
    let socket = OwnedFd::from(listener.try_clone().expect("dup the listener"));
    start_with_fd(socket, listen_pid, args)
}

/// As [`start_activated`], with any descriptor as the inherited socket.
fn start_with_fd(socket: OwnedFd, listen_pid: &str, args: &[&str]) -> Example {
    let script =
        format!(r#"exec 3<&0 0</dev/null; LISTEN_PID={listen_pid} LISTEN_FDS=1 exec "$0" "$@""#);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(example_binary("echo_api"))
        .args(args)
        .stdin(Stdio::from(socket));
    Example::spawn("echo_api", cmd, None)
}

/// Connects to `addr` and sends `GET /inspect` (the connection closes
/// after the reply); with no server running, the connection waits in the
/// listen backlog and so does the request.
fn send_inspect(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(b"GET /inspect HTTP/1.1\r\nHost: activation.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    s
}

/// Reads the reply to [`send_inspect`] and checks that it is a 200 that
/// saw this very connection as its client.
fn assert_inspected(s: &mut TcpStream, what: &str) -> Reply {
    let reply = read_reply(s, false);
    assert_eq!(reply.status, 200, "{what}: {}", reply.head);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        doc["client"],
        s.local_addr().unwrap().to_string(),
        "{what}: the client address /inspect saw"
    );
    reply
}

/// Asserts that nothing has answered on `s` yet (no byte, no end of
/// stream): nothing accepted the connection.
fn assert_unanswered(s: &mut TcpStream, what: &str) {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("{what}: expected no answer yet, got {other:?}"),
    }
    s.set_nonblocking(false).unwrap();
}

/// Stops the example with SIGTERM, as `systemctl stop` does, and checks
/// that it exits 0 with nothing more on stdout.
fn stop(example: &mut Example) {
    let (status, rest, _) = example.stop("-TERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert_eq!(rest, "", "stdout after the first line");
}

#[test]
fn serves_on_the_inherited_socket_and_keeps_queued_connections_across_a_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();

    // Before the first start: the kernel queues the connection.
    let mut early = send_inspect(addr);
    assert_unanswered(&mut early, "before the first start");

    // No --addr: the default (127.0.0.1:8080) is not what it announces.
    let mut first = start_activated(&listener, "$$", &[]);
    assert_eq!(
        first.addr,
        addr.to_string(),
        "the inherited port, announced"
    );
    assert_inspected(&mut early, "the connection queued before the start");
    let mut fresh = first.connect();
    fresh
        .write_all(b"GET /inspect HTTP/1.1\r\nHost: activation.test\r\n\r\n")
        .unwrap();
    let reply = assert_inspected(&mut fresh, "a connection to the running server");
    assert_eq!(reply.header("connection"), None, "kept alive");
    drop(fresh);
    stop(&mut first);

    // Between two runs, as during `systemctl restart`: the socket stays
    // open (the test holds it, as systemd does), so the connection is not
    // refused but queued.
    let mut between = send_inspect(addr);
    assert_unanswered(&mut between, "while no server runs");

    let mut second = start_activated(&listener, "$$", &["--addr", "127.0.0.1:0"]);
    assert_eq!(second.addr, addr.to_string(), "the same socket again");
    assert_inspected(&mut between, "the connection made between the runs");
    stop(&mut second);
}

#[test]
fn sockets_meant_for_another_process_are_not_taken() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // LISTEN_PID names another process (pid 1): the variables were meant
    // for it, so the example binds --addr as it would without them.
    let mut example = start_activated(&listener, "1", &["--addr", "127.0.0.1:0"]);
    assert_ne!(example.addr, addr.to_string(), "bound a port of its own");
    let mut s = send_inspect(example.addr.parse().unwrap());
    assert_inspected(&mut s, "on the port it bound");
    stop(&mut example);
}

#[test]
fn an_inherited_fd_that_is_not_a_tcp_socket_is_an_error() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@""#)
        .arg(example_binary("echo_api"))
        // Were the fd ignored, binding this fails at once too: no hang.
        .args(["--addr", "invalid"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(out.stdout, b"", "no line announced");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("echo_api: the inherited socket (fd 3)") && stderr.contains("not a socket"),
        "{stderr}"
    );
}

/// Sends `GET /inspect` on a new connection to the Unix socket at `path`
/// (closed after the reply); with no server running, the connection
/// waits in the socket's backlog, as over TCP.
fn send_inspect_unix(path: &std::path::Path) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(FAILSAFE)).unwrap();
    s.write_all(b"GET /inspect HTTP/1.1\r\nHost: activation.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    s
}

/// Reads the reply to [`send_inspect_unix`]: a 200 whose client is a
/// peer on a Unix socket.
fn assert_inspected_unix(s: &mut UnixStream, what: &str) {
    let reply = read_reply(s, false);
    assert_eq!(reply.status, 200, "{what}: {}", reply.head);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(doc["client"], "unix:", "{what}: the client /inspect saw");
}

#[test]
fn serves_on_an_inherited_unix_socket_and_keeps_queued_connections_across_a_restart() {
    let dir = TempDir::new("activation-unix");
    let path = dir.0.join("echo_api.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let socket = || OwnedFd::from(listener.try_clone().expect("dup the listener"));

    let mut early = send_inspect_unix(&path);
    // Told by the socket's kind: a Unix socket, served as such, whatever
    // --addr says.
    let mut first = start_with_fd(socket(), "$$", &["--addr", "127.0.0.1:0"]);
    assert_eq!(
        first.addr,
        path.to_str().unwrap(),
        "the inherited socket, announced"
    );
    assert_inspected_unix(&mut early, "the connection queued before the start");
    stop(&mut first);
    assert!(path.exists(), "the socket file is systemd's: left in place");

    // Between two runs: queued in the socket the test holds, not refused.
    let mut between = send_inspect_unix(&path);
    let mut second = start_with_fd(socket(), "$$", &["--unix", "/nonexistent/ignored.sock"]);
    assert_eq!(second.addr, path.to_str().unwrap(), "the same socket again");
    assert_inspected_unix(&mut between, "the connection made between the runs");
    stop(&mut second);
    assert!(path.exists());
}
