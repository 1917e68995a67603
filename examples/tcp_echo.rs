//! Step 0, where HTTP starts: a TCP echo server and client on plain
//! `std::net`, with every system call named.
//!
//! ```text
//! cargo run --example tcp_echo -- server [--addr 127.0.0.1:9000]
//! cargo run --example tcp_echo -- client "Hello, world" [--addr 127.0.0.1:9000]
//! ```
//!
//! This is the Rust twin of the classic Python `socket` echo example:
//!
//! ```python
//! with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
//!     s.bind((HOST, PORT))
//!     s.listen()
//!     conn, addr = s.accept()
//!     with conn:
//!         while True:
//!             data = conn.recv(1024)
//!             if not data:
//!                 break
//!             conn.sendall(data)
//! ```
//!
//! The comments name the system calls each `std` call makes on Linux, as
//! `strace -f cargo run --example tcp_echo -- server` shows them. An HTTP
//! server makes the very same calls: sockhttp adds a parser between the
//! `recvfrom` and the `sendto`/`writev`, deadlines (`SO_RCVTIMEO`,
//! `SO_SNDTIMEO`), and a fixed pool of threads instead of one per
//! connection.
//!
//! What TCP gives you is a *byte stream*, not messages: one `write` of 12
//! bytes may arrive as two reads of 5 and 7, and two writes may arrive as
//! one read. That is why the server loops until end-of-stream, and why
//! HTTP needs framing (`Content-Length`, chunked) to know where a message
//! ends.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

const USAGE: &str = "\
Usage: tcp_echo server [--addr HOST:PORT]
       tcp_echo client MESSAGE [--addr HOST:PORT]

The server echoes every connection's bytes back until the client shuts its
side down; the client sends MESSAGE, shuts down its sending side, and
prints what came back. The address defaults to 127.0.0.1:9000 (port 0 lets
the server pick a free port).
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next();
    let mut message = None;
    let mut addr = "127.0.0.1:9000".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next() {
                Some(a) => addr = a,
                None => return usage("--addr needs a value"),
            },
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if message.is_none() && !arg.starts_with("--") => message = Some(arg),
            _ => return usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let result = match (mode.as_deref(), message) {
        (Some("server"), None) => server(&addr),
        (Some("client"), Some(msg)) => client(&addr, msg.as_bytes()),
        (Some("--help" | "-h"), _) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage("expected `server` or `client MESSAGE`"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("tcp_echo: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Listens on `addr` and echoes every connection on its own thread.
fn server(addr: &str) -> io::Result<()> {
    // `TcpListener::bind` makes four system calls:
    //   socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3
    //       a new socket: an unconnected endpoint, file descriptor 3
    //       (protocol 0, IPPROTO_IP, means the default for a stream
    //       socket: TCP);
    //   setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4)
    //       so a restarted server can bind the port at once, while old
    //       connections of the previous run still sit in TIME_WAIT;
    //   bind(3, {127.0.0.1:9000}, 16)
    //       claims the address (port 0: the kernel picks a free port);
    //   listen(3, 128)
    //       makes it a listening socket: from now on the kernel completes
    //       TCP handshakes by itself and queues up to 128 new connections
    //       (the backlog) until we accept them.
    // Python spells the same steps socket(), bind(), listen().
    let listener = TcpListener::bind(addr)?;

    // getsockname(3, ...): which port did we get? (Matters for port 0.)
    let local = listener.local_addr()?;
    // One line on stdout, flushed, so a script or test can read the port.
    println!("listening on tcp://{local}");
    io::stdout().flush()?;

    // `incoming()` calls `accept` in a loop:
    //   accept4(3, {peer address}, [16], SOCK_CLOEXEC) = 4
    // It blocks until the kernel has a finished handshake in the backlog,
    // then returns a *new* descriptor (4) for that one connection; the
    // listening socket (3) stays open for the next client.
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // ECONNABORTED (the client gave up while queued), EMFILE
                // (out of descriptors): report and go on accepting.
                eprintln!("accept: {e}");
                continue;
            }
        };
        // One thread per connection (`clone3`) keeps this lesson short:
        // each connection is a straight-line loop. It is also exactly what
        // a real server must not do: a thousand idle clients would cost a
        // thousand threads and their stacks. sockhttp serves connections
        // on a fixed pool of threads, and parks idle ones on epoll, where
        // they cost no thread at all.
        thread::spawn(move || {
            // getpeername(4, ...): who is on the other end.
            let peer = stream.peer_addr().ok();
            if let Err(e) = echo(stream) {
                eprintln!("{peer:?}: {e}");
            }
        });
    }
    Ok(())
}

/// Copies everything the peer sends back to it, until end-of-stream.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        // `read` on a `TcpStream` is recv(4, buf, 1024, 0), which glibc
        // issues as the system call
        //   recvfrom(4, "Hello, world", 1024, 0, NULL, NULL) = 12
        // It blocks until at least one byte is there and returns what has
        // arrived, up to 1024 bytes: maybe fewer than the peer wrote.
        let n = stream.read(&mut buf)?;
        if n == 0 {
            // recvfrom returned 0: the peer called shutdown(SHUT_WR) or
            // close. It will send no more bytes (end-of-stream, EOF).
            break;
        }
        // `write_all` loops over send(4, buf, n, MSG_NOSIGNAL), i.e.
        //   sendto(4, "Hello, world", 12, MSG_NOSIGNAL, NULL, 0) = 12
        // until every byte is in the kernel's send buffer (one call when
        // there is room). MSG_NOSIGNAL: a write to a peer that is gone
        // fails with EPIPE instead of killing the process with SIGPIPE.
        // Python's `sendall` is the same loop.
        stream.write_all(&buf[..n])?;
    }
    // Dropping `stream` is close(4): the kernel sends our FIN after any
    // bytes still in the send buffer, and the descriptor is freed.
    Ok(())
}

/// Sends `message`, half-closes, and prints everything that comes back.
fn client(addr: &str, message: &[u8]) -> io::Result<()> {
    // `TcpStream::connect`:
    //   socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3
    //   connect(3, {127.0.0.1:9000}, 16) = 0
    // connect returns once the three-way handshake (SYN, SYN-ACK, ACK) is
    // done; the server's accept may not even have run yet: the kernel
    // finished the handshake for it, and the connection waits in the backlog.
    let mut stream = TcpStream::connect(addr)?;
    let server: SocketAddr = stream.peer_addr()?; // getpeername(3, ...)

    // sendto(3, "Hello, world", 12, MSG_NOSIGNAL, NULL, 0) = 12
    stream.write_all(message)?;

    // shutdown(3, SHUT_WR): "I will send nothing more". The kernel sends
    // a FIN; the server's next recvfrom returns 0 once it has read our
    // bytes, so it knows the message is complete. Reading still works:
    // only our sending half is closed. (Python's example instead reads
    // once with recv(1024) and hopes the whole echo came in one piece.)
    stream.shutdown(Shutdown::Write)?;

    // recvfrom(3, ...) until it returns 0: the server closed its side
    // after echoing everything. (`read_to_end` first tries a small
    // 32-byte read, then grows its buffer.)
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed)?;

    println!(
        "received {} bytes from {server}: {:?}",
        echoed.len(),
        String::from_utf8_lossy(&echoed)
    );
    // close(3) when `stream` is dropped here.
    Ok(())
}
