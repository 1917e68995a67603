//! The `tcp_echo` socket lesson, run as it is taught: the server as a
//! child process, then the example's own client, then a Rust client that
//! sends more than the socket buffers hold.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

/// A running `tcp_echo server`, killed (by its own pid) when dropped:
/// the lesson server has no graceful shutdown, it runs until killed.
struct EchoServer {
    child: Child,
    addr: String,
}

impl EchoServer {
    fn start() -> EchoServer {
        let mut child = Command::new(support::example_binary("tcp_echo"))
            .args(["server", "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .strip_prefix("listening on tcp://")
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(
            !addr.ends_with(":0"),
            "the real port, not the one asked for"
        );
        EchoServer { child, addr }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_client_prints_what_the_server_echoed() {
    let server = EchoServer::start();
    for message in ["Hello, world", "", "two\nlines and \"quotes\""] {
        let out = Command::new(support::example_binary("tcp_echo"))
            .args(["client", message, "--addr", &server.addr])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let want = format!(
            "received {} bytes from {}: {message:?}\n",
            message.len(),
            server.addr
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
}

#[test]
fn the_server_echoes_a_large_stream_and_closes_after_eof() {
    let server = EchoServer::start();
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    // Failsafe only: a hang fails the test instead of stalling it.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // 4 MiB is more than both sides' socket buffers: send from one
    // thread while this one reads, as the server echoes as it reads.
    let mut w = s.try_clone().unwrap();
    let sent = data.clone();
    let writer = thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut echoed = Vec::with_capacity(data.len());
    s.read_to_end(&mut echoed).unwrap();
    writer.join().unwrap();
    assert!(
        echoed == data,
        "got {} bytes back, sent {}",
        echoed.len(),
        data.len()
    );

    // Several connections at once: one thread each.
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let mut c = TcpStream::connect(&server.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            thread::spawn(move || {
                let msg = format!("client {i}");
                c.write_all(msg.as_bytes()).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                let mut back = String::new();
                c.read_to_string(&mut back).unwrap();
                assert_eq!(back, msg);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["client"], &["server", "extra"], &["bogus"]] {
        let out = Command::new(support::example_binary("tcp_echo"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: tcp_echo"));
    }
}
