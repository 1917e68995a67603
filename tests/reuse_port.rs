//! Several servers on one port (`SO_REUSEPORT`, Linux): two `echo_api
//! --reuse-port` processes bound to the same port both answer, told apart
//! by `GET /pid`; a socket bound without the option cannot take the port
//! while they hold it, nor they a port held without it; stopping one
//! leaves the port to the other. In one process, through the library:
//! stopping one server of a group needs no connection to wake it (one
//! might reach another server of the group), even before it serves, and
//! a shutdown handle does not keep the socket of a dropped server open.
#![cfg(target_os = "linux")]

mod support;

use sockhttp::{Response, Server, handler_fn};
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use support::{Example, ExitWatchdog, FAILSAFE, connect, curl, example_binary, read_reply};

/// How many connections may be opened to see both processes answer. The
/// kernel picks a socket by a hash of each connection's addresses and
/// ports (a new source port each time), so each connection reaches either
/// process with even odds: 64 all to one process is a 2⁻⁶³ chance.
const ATTEMPTS: usize = 64;

/// Starts `echo_api --reuse-port` on `addr` with two workers.
fn echo_api(addr: &str) -> Example {
    Example::start(
        "echo_api",
        &["--addr", addr, "--reuse-port", "--threads", "2"],
        None,
    )
}

/// Asks `GET /pid` on a new connection to `addr` and returns the pid in
/// the answer, after checking the answer's bytes.
fn pid_at(addr: &str) -> u32 {
    let mut s = connect(addr.parse().unwrap());
    s.write_all(b"GET /pid HTTP/1.1\r\nHost: reuse.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let pid = reply
        .text()
        .strip_prefix("{\"pid\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a /pid answer: {:?}", reply.text()));
    pid.parse().unwrap()
}

/// Runs the `echo_api` binary with `args`, which must make it exit, and
/// returns its status, stdout and stderr; a process still running after
/// [`EXIT_FAILSAFE`] (it bound the port after all) is killed by its pid
/// and fails the test.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String, String) {
    let child = Command::new(example_binary("echo_api"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watchdog = ExitWatchdog::watch(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(!watchdog.exited(), "echo_api {args:?} kept running");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_processes_serve_one_port_and_both_answer() {
    let mut first = echo_api("127.0.0.1:0");
    let mut second = echo_api(&first.addr);
    assert_eq!(
        second.addr, first.addr,
        "the second announces the same port"
    );
    let pids = BTreeSet::from([first.pid(), second.pid()]);

    let mut answered = BTreeSet::new();
    for _ in 0..ATTEMPTS {
        let pid = pid_at(&first.addr);
        assert!(pids.contains(&pid), "pid {pid} is neither of {pids:?}");
        answered.insert(pid);
        if answered == pids {
            break;
        }
    }
    assert_eq!(
        answered, pids,
        "{ATTEMPTS} connections, and only these processes answered"
    );

    for example in [&mut first, &mut second] {
        let (status, rest, _) = example.stop("-TERM");
        assert!(status.success(), "exit status {status:?}");
        assert_eq!(rest, "", "exactly one line on stdout");
    }
}

#[test]
fn the_port_cannot_be_bound_without_the_option_while_it_is_shared() {
    let first = echo_api("127.0.0.1:0");
    let (status, stdout, stderr) = run_to_exit(&["--addr", &first.addr]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "", "no line announced");
    let want = format!(
        "echo_api: cannot listen on {}: Address already in use (os error 98)\n",
        first.addr
    );
    assert_eq!(stderr, want);
    // The same in the library: `Server::bind` sets SO_REUSEADDR only.
    let err = Server::bind(first.addr.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    // The first goes on serving, alone.
    assert_eq!(pid_at(&first.addr), first.pid());
}

#[test]
fn a_port_bound_without_the_option_cannot_be_shared() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let (status, stdout, stderr) = run_to_exit(&["--addr", &addr, "--reuse-port"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "", "no line announced");
    let want = format!(
        "echo_api: cannot listen on {addr} with SO_REUSEPORT: Address already in use (os error 98)\n"
    );
    assert_eq!(stderr, want);
    let err = Server::bind_reuse_port(addr.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
}

/// The restart the README describes: the new process first, then SIGTERM
/// to the old one, which leaves the group at once, and exits 0 without a
/// connection to wake it (the one it would make to itself could reach
/// the other process). Every connection from then on goes to the new
/// one: none is refused.
#[test]
fn stopping_one_process_leaves_the_port_to_the_other() {
    let mut old = echo_api("127.0.0.1:0");
    let new = echo_api(&old.addr);
    let (status, rest, _) = old.stop("-TERM");
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(rest, "", "exactly one line on stdout");
    for _ in 0..16 {
        assert_eq!(pid_at(&new.addr), new.pid());
    }
    // A real client too.
    if let Some(body) = curl(&["--fail", &format!("http://{}/pid", new.addr)]) {
        assert_eq!(body, format!("{{\"pid\":{}}}", new.pid()).into_bytes());
    }
}

/// Answers `GET` with `tag`.
fn tagged(tag: &'static str) -> impl sockhttp::Handler {
    handler_fn(move |_req| Response::text(tag))
}

/// Sends one `GET /` with `Connection: close` to `addr` and returns the
/// body of the answer.
fn get_body(addr: SocketAddr) -> String {
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: reuse.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(reply.status, 200, "{}", reply.head);
    reply.text().to_owned()
}

/// Runs `stop` on a thread and waits for it, failing after [`FAILSAFE`]
/// instead of hanging.
fn within_failsafe<T: Send + 'static>(what: &str, stop: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, waiting) = channel();
    thread::spawn(move || {
        let _ = done.send(stop());
    });
    waiting
        .recv_timeout(FAILSAFE)
        .unwrap_or_else(|_| panic!("{what} did not complete"))
}

/// A shutdown that woke the accept loop by connecting would, half of
/// the time, reach the other server of the group, and wait for a client
/// of its own: eight rounds in a row would then hang one with 255 in 256
/// odds.
#[test]
fn one_server_of_a_group_shuts_down_without_a_connection_to_wake_it() {
    for round in 0..8 {
        let first = Server::bind_reuse_port("127.0.0.1:0")
            .unwrap()
            .threads(1)
            .spawn(tagged("first"))
            .unwrap();
        let addr = first.local_addr();
        let second = Server::bind_reuse_port(addr)
            .unwrap()
            .threads(1)
            .spawn(tagged("second"))
            .unwrap();
        within_failsafe("the first server's shutdown", move || first.shutdown())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // It left the group: every connection now reaches the second.
        for _ in 0..4 {
            assert_eq!(get_body(addr), "second", "round {round}");
        }
        within_failsafe("the second server's shutdown", move || second.shutdown()).unwrap();
        // Nothing listens any more.
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(
            refused.kind(),
            ErrorKind::ConnectionRefused,
            "round {round}"
        );
    }
}

/// A shutdown before `serve` stops the socket listening; the backlog set
/// for the start must not make it listen again, or `serve` would wait in
/// `accept` with no wake-up to come.
#[test]
fn a_shutdown_before_serving_returns_at_once() {
    let server = Server::bind_reuse_port("127.0.0.1:0")
        .unwrap()
        .threads(1)
        .backlog(64);
    let addr = server.local_addr();
    server.shutdown_handle().shutdown();
    within_failsafe("serve after a shutdown", move || {
        server.serve(tagged("never"))
    })
    .unwrap();
    // Closed: the port is free for a socket without the option.
    drop(TcpListener::bind(addr).unwrap());
}

/// The handle holds the socket weakly: a server dropped unserved closes
/// it, and a shutdown through the handle then has nothing to do.
#[test]
fn a_shutdown_handle_does_not_keep_the_socket_open() {
    let server = Server::bind_reuse_port("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    drop(server);
    let plain = TcpListener::bind(addr).unwrap();
    handle.shutdown();
    assert!(handle.is_shutting_down());
    // The socket bound meanwhile is not the server's: it still listens.
    let mut client = connect(addr);
    let (mut accepted, _) = plain.accept().unwrap();
    client.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    accepted.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
}

#[test]
fn static_site_processes_share_a_port_too() {
    let mut first = Example::start(
        "static_site",
        &["--addr", "127.0.0.1:0", "--reuse-port", "--threads", "2"],
        None,
    );
    let mut second = Example::start(
        "static_site",
        &["--addr", &first.addr, "--reuse-port", "--threads", "2"],
        None,
    );
    assert_eq!(
        second.addr, first.addr,
        "the second announces the same port"
    );
    // Either may answer; both serve the same files.
    let addr: SocketAddr = first.addr.parse().unwrap();
    for _ in 0..4 {
        let mut s = connect(addr);
        s.write_all(b"HEAD / HTTP/1.1\r\nHost: reuse.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut s, true);
        assert_eq!(reply.status, 200, "{}", reply.head);
    }
    for example in [&mut first, &mut second] {
        let (status, rest, _) = example.stop("-TERM");
        assert!(status.success(), "exit status {status:?}");
        assert_eq!(rest, "", "exactly one line on stdout");
    }
}
