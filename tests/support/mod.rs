//! Test support: a server on a loopback port and a raw-socket client.
//!
//! `TestServer::start` binds `127.0.0.1:0`, serves the handler on a
//! background thread, and on drop shuts the server down and joins every
//! thread, so no test leaks a thread or a socket. Clients are plain
//! `TcpStream`s writing exact bytes; their read timeout is only a
//! failsafe, so that a hang fails the test instead of stalling CI.
//!
//! Synchronisation is by events: handlers announce themselves and wait
//! through a [`Gate`]; nothing here sleeps to wait for the server.
//!
//! [`rng`] is the seeded generator every test (and fuzz target) uses;
//! [`driver`] is the model of the server's connection driver;
//! [`multipart`] drives the multipart decoder the same way; [`pki`]
//! makes certificates for the TLS tests.
#![allow(dead_code)]

pub mod driver;
pub mod multipart;
#[cfg(feature = "tls")]
pub mod pki;
pub mod rng;

use sockhttp::{Handler, Limits, RunningServer, Server, StatsHandle, Timeouts};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A failsafe read timeout for clients: long enough never to fire on a
/// working server, short enough that a broken one fails the run.
pub const FAILSAFE: Duration = Duration::from_secs(20);

/// TestServer is a server running on a loopback port for one test.
pub struct TestServer {
    running: Option<RunningServer>,
    addr: SocketAddr,
}

impl TestServer {
    /// Serves `handler` with four workers and the default configuration.
    pub fn start(handler: impl Handler) -> TestServer {
        TestServer::with(server().threads(4), handler)
    }

    /// Serves `handler` with a configured `server` (see [`server`]).
    pub fn with(server: Server, handler: impl Handler) -> TestServer {
        let running = server.spawn(handler).expect("server starts");
        let addr = running.local_addr();
        TestServer {
            running: Some(running),
            addr,
        }
    }

    /// Serves the handler `app` makes from the server's statistics handle
    /// (`echo_api`'s router, whose `/metrics` reads them), with a
    /// configured `server`.
    pub fn with_app<H: Handler>(server: Server, app: impl FnOnce(StatsHandle) -> H) -> TestServer {
        let handler = app(server.stats_handle());
        TestServer::with(server, handler)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects a new client (see [`connect`]).
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Sends `raw` on a new connection and returns everything the server
    /// sends until it closes the connection.
    pub fn exchange(&self, raw: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        read_to_end(&mut s)
    }

    /// Returns the server's live statistics now.
    pub fn stats(&self) -> sockhttp::Stats {
        self.running.as_ref().expect("server running").stats()
    }

    /// Returns a handle that starts a graceful shutdown without waiting.
    pub fn shutdown_handle(&self) -> sockhttp::ShutdownHandle {
        self.running
            .as_ref()
            .expect("server running")
            .shutdown_handle()
    }

    /// Shuts the server down gracefully and waits until every thread has
    /// finished; a shutdown that takes longer than [`FAILSAFE`] fails the
    /// test instead of hanging it.
    pub fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            let (done_tx, done_rx) = channel();
            thread::spawn(move || {
                let _ = done_tx.send(r.shutdown());
            });
            done_rx
                .recv_timeout(FAILSAFE)
                .expect("shutdown completes")
                .expect("clean shutdown");
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

/// A server builder bound to a fresh loopback port.
pub fn server() -> Server {
    Server::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// Connects a client with the failsafe timeouts set.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(FAILSAFE)).unwrap();
    s.set_write_timeout(Some(FAILSAFE)).unwrap();
    s
}

/// Timeouts suited to tests that provoke them quickly: 300 ms for the
/// idle, head, body and write phases, 2 s for a graceful shutdown.
pub fn short_timeouts() -> Timeouts {
    let mut t = Timeouts::default();
    t.idle = Duration::from_millis(300);
    t.head = Duration::from_millis(300);
    t.body = Duration::from_millis(300);
    t.write = Duration::from_millis(300);
    t.shutdown = Duration::from_secs(2);
    t
}

/// Limits small enough for tests to pass them with a few bytes: a
/// 256-byte request line, a 1 KiB head of at most 10 fields, a 1 KiB body
/// (512 bytes in memory) and 64 bytes of drain. Bodies stream to the
/// handler, as the in-memory and drain limits tested with them need (see
/// [`streaming_limits`]).
pub fn small_limits() -> Limits {
    let mut l = streaming_limits();
    l.max_request_line_bytes = 256;
    l.max_head_bytes = 1024;
    l.max_headers = 10;
    l.max_body_bytes = 1024;
    l.max_buffered_body_bytes = 512;
    l.max_drain_bytes = 64;
    l
}

/// The default limits, except that no body is read before the handler
/// runs: every body streams to its handler, which sees it arrive (and
/// may answer before it has).
pub fn streaming_limits() -> Limits {
    let mut l = Limits::default();
    l.prebuffer_body_bytes = 0;
    l
}

/// Waits past a deadline of the server's own (a stalled write, say): no
/// event tells a client when the server gave up on it. `deadline` is the
/// server's timeout; the wait covers it and the quarter second in which
/// the server checks deadlines, twice over.
pub fn wait_past(deadline: Duration) {
    std::thread::sleep((deadline + Duration::from_millis(250)) * 2);
}

/// A minimal HTTP/1.1 GET request for `path`.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// Reads until the server closes the connection (or a reset).
pub fn read_to_end(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "read failed (server hung?): {e}; got so far: {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// A parsed response: status, headers (names lower-cased), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The head exactly as received, through the blank line.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// Returns the first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// Returns how many field lines named `name` the head has.
    pub fn count(&self, name: &str) -> usize {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(n, _)| *n == name).count()
    }

    /// Returns the status line, without its CRLF.
    pub fn status_line(&self) -> &str {
        self.head.split("\r\n").next().unwrap_or("")
    }

    /// Returns the body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}

/// Reads one byte; `None` at end-of-stream.
fn read_byte(s: &mut impl Read) -> Option<u8> {
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return None,
            Ok(_) => return Some(b[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("read failed (server hung?): {e}"),
        }
    }
}

/// Reads through the next CRLF (or LF); the line without it.
fn read_line(s: &mut impl Read) -> Vec<u8> {
    let mut line = Vec::new();
    loop {
        let b = read_byte(s).unwrap_or_else(|| {
            panic!(
                "connection closed mid-line: {:?}",
                String::from_utf8_lossy(&line)
            )
        });
        if b == b'\n' {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return line;
        }
        line.push(b);
    }
}

fn read_exactly(s: &mut impl Read, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v)
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    v
}

/// Reads one response head, byte by byte, so that nothing after it is
/// taken off the socket.
pub fn read_head(s: &mut impl Read) -> String {
    let mut buf = Vec::new();
    while !buf.ends_with(b"\r\n\r\n") {
        match read_byte(s) {
            Some(b) => buf.push(b),
            None => panic!(
                "connection closed before a full head: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    String::from_utf8(buf).expect("utf-8 head")
}

/// Reads exactly one response from `s` (Content-Length, chunked, or
/// until close), never past its end, so pipelined responses can be read
/// one after another; `head_request` means no body follows.
pub fn read_reply(s: &mut impl Read, head_request: bool) -> Reply {
    let head = read_head(s);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 ") && status_line.len() >= 12,
        "bad status line {status_line:?}"
    );
    let status: u16 = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if let Some(len) = get("content-length") {
        read_exactly(s, len.parse().unwrap())
    } else if get("transfer-encoding").as_deref() == Some("chunked") {
        let mut body = Vec::new();
        loop {
            let line = read_line(s);
            let size = usize::from_str_radix(std::str::from_utf8(&line).unwrap(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            if size == 0 {
                assert_eq!(read_line(s), b"", "no trailers are sent");
                break;
            }
            body.extend_from_slice(&read_exactly(s, size));
            assert_eq!(read_exactly(s, 2), b"\r\n", "chunk data ends in CRLF");
        }
        body
    } else {
        read_to_end(s)
    };
    Reply {
        status,
        head,
        headers,
        body,
    }
}

/// Parses every byte the server sent on a closed connection as exactly
/// one response (the error responses of the framing tests).
pub fn parse_one(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let end = find(raw, b"\r\n\r\n").unwrap_or_else(|| panic!("no complete head in {text:?}")) + 4;
    let head = String::from_utf8(raw[..end].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        head,
        headers,
        body: raw[end..].to_vec(),
    }
}

/// Returns where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Asserts that the server has closed `s`: a read returns end-of-stream
/// (or a reset), and no byte arrives first.
pub fn assert_closed(s: &mut impl Read) {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(_) => panic!(
            "expected the connection to be closed, got more bytes: {:?}",
            b[0] as char
        ),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the connection to be closed: {e}"),
    }
}

/// Gate lets a test hold a handler inside its call: the handler calls
/// [`Gate::enter`], which announces it and waits until the test calls
/// [`GateControl::release`] (or drops the control).
pub struct Gate {
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

/// The test's side of a [`Gate`].
pub struct GateControl {
    entered: Receiver<()>,
    release: Sender<()>,
}

pub fn gate() -> (Arc<Gate>, GateControl) {
    let (entered_tx, entered_rx) = channel();
    let (release_tx, release_rx) = channel();
    let gate = Gate {
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    };
    let control = GateControl {
        entered: entered_rx,
        release: release_tx,
    };
    (Arc::new(gate), control)
}

impl Gate {
    /// Announces that a handler is in, then waits to be released.
    pub fn enter(&self) {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.release.lock().unwrap().recv();
    }
}

impl GateControl {
    /// Waits until a handler has entered the gate.
    pub fn wait_entered(&self) {
        self.entered
            .recv_timeout(FAILSAFE)
            .expect("a handler entered the gate");
    }

    /// Lets one waiting handler go on.
    pub fn release(&self) {
        let _ = self.release.send(());
    }
}

/// Dribbler is a slow client: a thread that writes bytes one at a time
/// with a pause between them, until they run out, a write fails, or it
/// is stopped.
pub struct Dribbler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Dribbler {
    /// Starts writing `bytes` on (a clone of) `s`, one per `pause`.
    pub fn start(
        s: &TcpStream,
        bytes: impl Iterator<Item = u8> + Send + 'static,
        pause: Duration,
    ) -> Dribbler {
        let mut s = s.try_clone().expect("clone stream");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            for b in bytes {
                if stopped.load(Ordering::SeqCst) || s.write_all(&[b]).is_err() {
                    return;
                }
                // Being a slow client is the point of this thread.
                thread::sleep(pause);
            }
        });
        Dribbler {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Dribbler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Asserts that `raw`, everything the server sent before closing, is
/// exactly one error response with status line `want` (e.g.
/// `"HTTP/1.1 400 Bad Request"`): `Connection: close`, a `Date`, and the
/// plain-text body `"400 Bad Request\n"` framed by `Content-Length`.
pub fn assert_error_then_close(name: &str, raw: &[u8], want: &str) {
    let reply = parse_one(raw);
    assert_eq!(
        reply.status_line(),
        want,
        "{name}: status line of {:?}",
        reply.head
    );
    let code_and_reason = want.strip_prefix("HTTP/1.1 ").expect("status line");
    let body = format!("{code_and_reason}\n");
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        body,
        "{name}: body (a second response would show here)"
    );
    assert_eq!(
        reply.header("content-length"),
        Some(body.len().to_string().as_str()),
        "{name}: Content-Length"
    );
    assert_eq!(
        reply.header("transfer-encoding"),
        None,
        "{name}: Transfer-Encoding"
    );
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "{name}: Connection"
    );
    assert_eq!(reply.count("connection"), 1, "{name}: one Connection field");
    assert!(reply.header("date").is_some(), "{name}: Date");
}

/// Returns the path of example binary `name`, next to the test binary's
/// directory (`target/<profile>/examples/NAME`). `cargo test` builds the
/// examples before the tests; when a single test target is run, a missing
/// example is built here with the same profile (and the `tls` feature if
/// the tests have it; an example built earlier without it is not rebuilt:
/// `cargo build --examples --all-features` first).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--example", name]);
        if cfg!(feature = "tls") {
            cmd.args(["--features", "tls"]);
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// How long an example may take to exit once signalled before it is
/// killed and the test fails: a failsafe against a hang, far longer than
/// a graceful shutdown ever takes.
pub const EXIT_FAILSAFE: Duration = Duration::from_secs(60);

/// Example is an example binary running as a child process, started on a
/// port of its own choosing: its first line on stdout is `listening on
/// http://ADDR` (`https://` when it serves TLS). Dropping it kills the
/// process if it is still running: a failing test must not leave a
/// server behind.
pub struct Example {
    child: Child,
    /// Its stdout, after the first line.
    stdout: BufReader<ChildStdout>,
    /// Its stderr, when piped: read to the end while it runs, so that a
    /// chatty log cannot fill the pipe and stall it.
    stderr: Option<JoinHandle<String>>,
    /// Each line of its stderr as it comes, when piped: what
    /// [`Example::wait_for_log`] waits on.
    log_lines: Option<Receiver<String>>,
    /// Its first line, whole (`listening on https://127.0.0.1:PORT`).
    pub line: String,
    /// The address from its first line (the socket's path for a Unix
    /// socket).
    pub addr: String,
}

impl Example {
    /// Starts example `name` (see [`example_binary`]) with `args` and
    /// `RUST_LOG` set to `rust_log` (its stderr is then kept, for
    /// [`Example::wait`]) or unset (its stderr is dropped), and reads the
    /// line it announces.
    pub fn start<S: AsRef<OsStr>>(name: &str, args: &[S], rust_log: Option<&str>) -> Example {
        let mut cmd = Command::new(example_binary(name));
        cmd.args(args).stdin(Stdio::null());
        Example::spawn(name, cmd, rust_log)
    }

    /// Starts `cmd`, which runs example `name` (directly, or through a
    /// shell that execs it, keeping its pid), with its stdout piped and
    /// `RUST_LOG` as in [`Example::start`], and reads the line it
    /// announces. Its stdin is left as `cmd` has it.
    pub fn spawn(name: &str, mut cmd: Command, rust_log: Option<&str>) -> Example {
        cmd.env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter).stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let (lines_tx, log_lines) = channel();
        let stderr = child.stderr.take().map(|err| {
            thread::spawn(move || {
                let mut text = String::new();
                for line in BufReader::new(err).lines() {
                    let line = line.unwrap();
                    text.push_str(&line);
                    text.push('\n');
                    // Nobody waiting on the lines is no reason to stop
                    // keeping them.
                    let _ = lines_tx.send(line);
                }
                text
            })
        });
        let log_lines = stderr.is_some().then_some(log_lines);
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // `listening on http://ADDR` (`https://` with TLS), or `listening
        // on unix:PATH` for a Unix socket: `addr` is then the path.
        let line = line.trim_end().to_owned();
        let addr = [
            "listening on http://",
            "listening on https://",
            "listening on unix:",
        ]
        .iter()
        .find_map(|prefix| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"))
        .to_owned();
        Example {
            child,
            stdout,
            stderr,
            log_lines,
            line,
            addr,
        }
    }

    /// Waits until a line of stderr contains `needle` (a readiness signal
    /// the example logs, such as a reloaded certificate) and returns it;
    /// lines before it are passed over. Fails after [`FAILSAFE`], or if
    /// the example was started without `RUST_LOG` (its stderr dropped).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let lines = self.log_lines.as_ref().expect("started with RUST_LOG");
        loop {
            match lines.recv_timeout(FAILSAFE) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?} ({e})"),
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Connects a client (see [`connect`]).
    pub fn connect(&self) -> TcpStream {
        connect(self.addr.parse().expect("an address"))
    }

    /// Sends `signal` (`-TERM`, as a service manager would; `-INT`, as
    /// a terminal's Ctrl-C) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Waits for the exit, killing the process and failing if it has not
    /// exited after [`EXIT_FAILSAFE`]. Returns the status, the rest of
    /// stdout, and stderr (empty unless `RUST_LOG` was set).
    pub fn wait(&mut self) -> (ExitStatus, String, String) {
        let watchdog = ExitWatchdog::watch(self.pid());
        let status = self.child.wait().unwrap();
        assert!(!watchdog.exited(), "the example did not exit; killed it");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let log = self
            .stderr
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default();
        (status, rest, log)
    }

    /// Sends `signal` and waits for the exit (see [`Example::wait`]).
    pub fn stop(&mut self, signal: &str) -> (ExitStatus, String, String) {
        self.signal(signal);
        self.wait()
    }
}

/// ExitWatchdog kills a child process by its PID if it has not exited
/// after [`EXIT_FAILSAFE`]: a test that waits for a child to exit fails
/// instead of hanging.
pub struct ExitWatchdog {
    done: std::sync::mpsc::Sender<()>,
    killer: thread::JoinHandle<bool>,
}

impl ExitWatchdog {
    /// Starts watching process `pid`.
    pub fn watch(pid: u32) -> ExitWatchdog {
        let pid = pid.to_string();
        let (done, waiting) = channel::<()>();
        let killer = thread::spawn(move || {
            if waiting.recv_timeout(EXIT_FAILSAFE).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                return true;
            }
            false
        });
        ExitWatchdog { done, killer }
    }

    /// Stops watching, the process having exited; true if it was killed.
    pub fn exited(self) -> bool {
        let _ = self.done.send(());
        self.killer.join().unwrap()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads a `kB` line of `/proc/PID/status` (`VmHWM`, `VmRSS`) in bytes.
#[cfg(target_os = "linux")]
pub fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    let kb: u64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
    kb * 1024
}

/// Runs `curl --silent --show-error --max-time 20 ARGS` (the failsafe
/// in seconds) and returns what it wrote to stdout, after checking that it
/// exited 0 (add `--fail` to have an HTTP error count as a failure; `-i`
/// and `-w '%{http_code}'` show the head and the status). Without a curl
/// to run, returns `None` and the test skips, saying why on stderr,
/// except where the `CI` environment variable is set: CI must run every
/// test, so there a missing curl fails it.
pub fn curl(args: &[&str]) -> Option<Vec<u8>> {
    let out = curl_output(args)?;
    assert!(
        out.status.success(),
        "curl {args:?}: {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// Runs curl as [`curl`] does, and returns how it ended (its exit status,
/// stdout and stderr) whatever that was: for a test that wants curl to
/// fail. `None` (the test skips) as for [`curl`].
pub fn curl_output(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("curl")
        .args(["--silent", "--show-error", "--max-time"])
        .arg(FAILSAFE.as_secs().to_string())
        .args(args)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot run curl ({e}), and CI must not skip this test: install curl"
            );
            eprintln!("skipping: cannot run curl ({e}); install curl to run this test");
            None
        }
    }
}

/// TempDir is a directory under the system temporary directory, unique
/// to this process and `tag`, removed on drop (also when a test fails).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// Makes (empty) `sockhttp-TAG-PID` in the temporary directory.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sockhttp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Chromium to run: the first of `chromium`, `chromium-browser` and
/// `google-chrome` that starts. `None` (the test skips, saying why on
/// stderr) if there is none, which CI does not allow.
pub fn chromium() -> Option<&'static str> {
    let exe = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|exe| Command::new(exe).arg("--version").output().is_ok());
    if exe.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot run chromium, and CI must not skip this test: install chromium"
        );
        eprintln!("skipping: no chromium; install it to run this test");
    }
    exe
}

/// The flags every test's Chromium runs with: headless, without the
/// sandbox (which needs privileges a container may not have), and
/// without the first-run, update and background traffic of a desktop
/// browser.
pub const CHROMIUM_FLAGS: [&str; 6] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
];

/// Loads `url` in headless Chromium and returns the page's DOM once it
/// has settled (`--dump-dom`, after up to 10 s of the page's virtual
/// time, which waits for the page's own requests, though not for
/// WebSocket traffic); `None` (the test skips) if no Chromium is
/// installed (see [`chromium`]). Each run gets a fresh profile
/// directory; a browser still running after [`FAILSAFE`] × 3 is killed
/// by its PID.
pub fn chromium_dom(url: &str) -> Option<String> {
    let exe = chromium()?;
    static PROFILE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "sockhttp-chromium-{}-{}",
        std::process::id(),
        PROFILE.fetch_add(1, Ordering::Relaxed)
    ));
    let mut child = Command::new(exe)
        .args(CHROMIUM_FLAGS)
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let pid = child.id();
    let (done, finished) = channel();
    thread::spawn(move || {
        let mut dom = String::new();
        let _ = child.stdout.take().expect("piped").read_to_string(&mut dom);
        let _ = done.send((child.wait(), dom));
    });
    let (status, dom) = match finished.recv_timeout(FAILSAFE * 3) {
        Ok(done) => done,
        Err(_) => {
            // Hung: ended by its PID, then reaped by the thread above.
            #[cfg(target_os = "linux")]
            {
                let pid = rustix::process::Pid::from_raw(pid as i32).expect("a child's PID");
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            #[cfg(not(target_os = "linux"))]
            let _ = pid;
            finished.recv().expect("chromium reaped")
        }
    };
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "chromium on {url}: {status:?}"
    );
    Some(dom)
}

/// Raises this process's open-file limit to its hard limit, for tests
/// that hold hundreds of sockets at both ends (a desktop's default soft
/// limit is often 1024).
pub fn raise_fd_limit() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if let Some(max) = limit.maximum {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(max),
                    maximum: Some(max),
                },
            );
        }
    }
}
