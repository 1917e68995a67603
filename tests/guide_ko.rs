//! The Korean guide, `docs/ko/README.md`, run as written.
//!
//! **Marking.** A fenced block the test runs has an HTML comment on the
//! line right before its opening fence, which GitHub does not render:
//!
//! ````text
//! <!-- check: echo_api -->
//! ```console
//! $ curl -si http://127.0.0.1:8080/items
//! HTTP/1.1 200 OK
//! …
//! ```
//! ````
//!
//! The name says what the block is:
//!
//! - `echo_server.py`, `echo_client.py`: a Python program the reader
//!   saves under that name. The test writes it to a temporary directory,
//!   with the guide's port `9000` replaced (by `0` for the server, which
//!   then announces the port it got; by that port for the client).
//! - `tcp_echo`: a console block of the socket section. `python3
//!   echo_server.py` and `cargo run -q --example tcp_echo -- server` start
//!   that server (ending the previous one); the clients (`python3
//!   echo_client.py MSG`, `cargo run -q --example tcp_echo -- client MSG`)
//!   run against the server started last. Every line printed is compared.
//! - `static_site`, `echo_api`: a console block of `$ COMMAND` lines run,
//!   in the guide's order, against one instance of that example started
//!   for the whole guide on a free port, so that state carries over (the
//!   items created in one block are read in the next).
//!
//! **Comparing.** A command is run with `sh -c` in a temporary directory,
//! with `127.0.0.1:8080` (or `:9000`) replaced by the real address and
//! every `curl` given `--max-time`. What it prints is compared with the
//! lines the guide shows under it, exactly, after: CRs removed; trailing
//! whitespace at the end ignored; the values of the header lines that
//! change from run to run (`Date`, `ETag`, `Last-Modified`, `Expires`)
//! masked; and, in JSON, the values that do (`"client":"ADDR"`, the
//! `User-Agent` header's value) masked. An `ETag` or `Last-Modified` the
//! guide shows is replaced by the real one in the commands after it, so
//! that a conditional request (`If-None-Match`) means what it says.
//! Outputs shortened with `…` are for unchecked blocks only.
//!
//! Without `python3` or `curl` the tests that need them skip, unless the
//! `CI` environment variable is set: there they fail.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;

/// The guide's address for every HTTP example.
const GUIDE_HTTP: &str = "127.0.0.1:8080";
/// The guide's address for the echo servers of the socket section.
const GUIDE_TCP: &str = "127.0.0.1:9000";
/// How long one command may run: the slowest waits out the server's
/// 20 s head deadline.
const COMMAND_FAILSAFE: Duration = Duration::from_secs(60);

/// One marked block of the guide.
#[derive(Debug)]
struct Block {
    /// The name in `<!-- check: NAME -->`.
    name: String,
    /// The line of its opening fence, 1-based, for messages.
    line: usize,
    /// Its content, without the fences.
    text: String,
}

fn guide() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ko/README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every marked block, in document order.
fn blocks(guide: &str) -> Vec<Block> {
    let lines: Vec<&str> = guide.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = lines[i]
            .trim()
            .strip_prefix("<!-- check:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            i += 1;
            continue;
        };
        let fence = lines.get(i + 1).copied().unwrap_or("");
        assert!(
            fence.starts_with("```"),
            "line {}: a check marker must be right before a fenced block",
            i + 1
        );
        let mut text = String::new();
        let mut j = i + 2;
        while j < lines.len() && lines[j] != "```" {
            text.push_str(lines[j]);
            text.push('\n');
            j += 1;
        }
        assert!(j < lines.len(), "line {}: unclosed block", i + 2);
        out.push(Block {
            name: name.trim().to_owned(),
            line: i + 2,
            text,
        });
        i = j + 1;
    }
    out
}

/// A console block's commands, each with the lines the guide shows for
/// its output.
fn commands(block: &Block) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push((cmd.to_owned(), String::new()));
        } else {
            let (_, expected) = out
                .last_mut()
                .unwrap_or_else(|| panic!("line {}: output before any command", block.line));
            expected.push_str(line);
            expected.push('\n');
        }
    }
    out
}

/// Runs `cmd` with `sh -c` in `dir` and returns stdout and stderr, in
/// that order. A command still running after [`COMMAND_FAILSAFE`] is
/// killed by its PID and fails the test.
fn run_shell(cmd: &str, dir: &Path) -> String {
    let child = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sh");
    let pid = child.id();
    let (done, finished) = channel();
    thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let out = match finished.recv_timeout(COMMAND_FAILSAFE) {
        Ok(out) => out.expect("wait for sh"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish; killed it");
        }
    };
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Replaces the text between `prefix` and the next `"` with `*`, on
/// every occurrence.
fn mask_between(line: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        let start = at + prefix.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        match rest.find('"') {
            Some(end) => {
                out.push('*');
                rest = &rest[end..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// The header lines whose values change from run to run.
const VARYING: [&str; 4] = ["Date: ", "ETag: ", "Last-Modified: ", "Expires: "];

/// An output as compared: CRs removed, trailing whitespace dropped, and
/// the values that vary masked (see the module docs).
fn normalize(text: &str) -> Vec<String> {
    text.replace('\r', "")
        .trim_end()
        .lines()
        .map(|line| {
            if let Some(name) = VARYING.iter().find(|n| line.starts_with(**n)) {
                return format!("{name}*");
            }
            let line = mask_between(line, r#""client":""#);
            mask_between(&line, r#"["User-Agent",""#)
        })
        .collect()
}

/// Compares what `cmd` printed with what the guide shows, and records
/// the real `ETag` and `Last-Modified` values for the commands after it.
fn compare(
    where_: &str,
    cmd: &str,
    expected: &str,
    actual: &str,
    learned: &mut Vec<(String, String)>,
) {
    let (want, got) = (normalize(expected), normalize(actual));
    assert_eq!(
        want, got,
        "{where_}: `{cmd}` printed\n{actual}\nbut the guide shows\n{expected}"
    );
    for (e, a) in expected.lines().zip(actual.replace('\r', "").lines()) {
        for name in ["ETag: ", "Last-Modified: "] {
            if let (Some(e), Some(a)) = (e.strip_prefix(name), a.strip_prefix(name)) {
                if e != a && !learned.iter().any(|(from, _)| from == e) {
                    learned.push((e.to_owned(), a.to_owned()));
                }
            }
        }
    }
}

/// Returns `text` with the guide's address, and every value learned so
/// far, replaced by the real ones.
fn substitute(text: &str, guide_addr: &str, addr: &str, learned: &[(String, String)]) -> String {
    let mut text = text.replace(guide_addr, addr);
    for (from, to) in learned {
        text = text.replace(from.as_str(), to);
    }
    text
}

/// Whether `program --version` runs; if not, the test skips, except in
/// CI, where it fails.
fn have(program: &str) -> bool {
    match Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot run {program} ({e}), and CI must not skip this test: install {program}"
            );
            eprintln!("skipping: cannot run {program} ({e}); install it to run this test");
            false
        }
    }
}

/// Runs every block named `example` against one instance of it.
fn check_http_example(example: &str) {
    if !have("curl") {
        return;
    }
    let guide = guide();
    let blocks: Vec<Block> = blocks(&guide)
        .into_iter()
        .filter(|b| b.name == example)
        .collect();
    assert!(!blocks.is_empty(), "the guide checks no {example} block");
    let dir = support::TempDir::new(&format!("guide-{example}"));
    let server = support::Example::start(example, &["--addr", "127.0.0.1:0"], None);
    let mut learned = Vec::new();
    for block in &blocks {
        for (cmd, expected) in commands(block) {
            let where_ = format!("docs/ko/README.md line {}", block.line);
            let real = substitute(&cmd, GUIDE_HTTP, &server.addr, &learned)
                .replace("curl ", "curl --max-time 50 ");
            let actual = run_shell(&real, &dir.0);
            let expected = substitute(&expected, GUIDE_HTTP, &server.addr, &[]);
            compare(&where_, &cmd, &expected, &actual, &mut learned);
        }
    }
    drop(server);
}

#[test]
fn the_static_site_blocks_answer_as_the_guide_shows() {
    check_http_example("static_site");
}

#[test]
fn the_echo_api_blocks_answer_as_the_guide_shows() {
    check_http_example("echo_api");
}

/// A server of the socket section: the Python one or `tcp_echo`, ended
/// by its PID when dropped (neither has a graceful shutdown).
struct EchoServer {
    child: Child,
    /// Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// What it announced: `listening on tcp://ADDR`.
    first_line: String,
    addr: String,
}

impl EchoServer {
    fn start(mut cmd: Command) -> EchoServer {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start an echo server");
        let pid = child.id();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        // The first line, read on a thread so that the wait is bounded.
        let (tx, rx) = channel();
        let reader = thread::spawn(move || {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = tx.send(line);
            stdout
        });
        let first_line = match rx.recv_timeout(support::FAILSAFE) {
            Ok(line) => line,
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("the echo server announced nothing; killed it");
            }
        };
        let stdout = reader.join().expect("reader thread");
        let addr = first_line
            .trim_end()
            .strip_prefix("listening on tcp://")
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unexpected first line {first_line:?}")
            })
            .to_owned();
        EchoServer {
            child,
            _stdout: stdout,
            first_line,
            addr,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The guide's Python program `name`, written to `dir` with its port
/// replaced by `port`.
fn python_file(guide: &str, dir: &Path, name: &str, port: &str) -> PathBuf {
    let all = blocks(guide);
    let block = all
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("the guide has no {name} block"));
    let guide_port = GUIDE_TCP.rsplit(':').next().unwrap();
    assert!(
        block.text.contains(guide_port),
        "{name} uses the guide's port"
    );
    let path = dir.join(format!("{port}-{name}"));
    std::fs::write(&path, block.text.replace(guide_port, port)).unwrap();
    path
}

#[test]
fn the_socket_section_runs_both_ways() {
    if !have("python3") {
        return;
    }
    let guide = guide();
    let dir = support::TempDir::new("guide-tcp_echo");
    let tcp_echo = support::example_binary("tcp_echo");
    let mut server: Option<EchoServer> = None;
    let mut ran = (0, 0); // (Python clients, Rust clients)
    for block in blocks(&guide).iter().filter(|b| b.name == "tcp_echo") {
        for (cmd, expected) in commands(block) {
            let where_ = format!("docs/ko/README.md line {}", block.line);
            if cmd == "python3 echo_server.py" || cmd == "cargo run -q --example tcp_echo -- server"
            {
                drop(server.take());
                let started = if cmd.starts_with("python3") {
                    let mut c = Command::new("python3");
                    c.arg(python_file(&guide, &dir.0, "echo_server.py", "0"));
                    EchoServer::start(c)
                } else {
                    let mut c = Command::new(&tcp_echo);
                    c.args(["server", "--addr", "127.0.0.1:0"]);
                    EchoServer::start(c)
                };
                let expected = substitute(&expected, GUIDE_TCP, &started.addr, &[]);
                compare(
                    &where_,
                    &cmd,
                    &expected,
                    &started.first_line,
                    &mut Vec::new(),
                );
                server = Some(started);
                continue;
            }
            let addr = server
                .as_ref()
                .unwrap_or_else(|| panic!("{where_}: `{cmd}` before any server"))
                .addr
                .clone();
            let real = if let Some(args) = cmd.strip_prefix("python3 echo_client.py ") {
                ran.0 += 1;
                let port = addr.rsplit(':').next().unwrap();
                let file = python_file(&guide, &dir.0, "echo_client.py", port);
                format!("python3 '{}' {args}", file.display())
            } else if let Some(args) =
                cmd.strip_prefix("cargo run -q --example tcp_echo -- client ")
            {
                ran.1 += 1;
                format!("'{}' client {args} --addr {addr}", tcp_echo.display())
            } else {
                panic!("{where_}: `{cmd}` is not a command of the socket section");
            };
            let actual = run_shell(&real, &dir.0);
            let expected = substitute(&expected, GUIDE_TCP, &addr, &[]);
            compare(&where_, &cmd, &expected, &actual, &mut Vec::new());
        }
    }
    drop(server);
    assert!(
        ran.0 > 0 && ran.1 > 0,
        "both clients ran (Python, Rust): {ran:?}"
    );
}

#[test]
fn every_marker_names_a_check_this_test_runs() {
    let guide = guide();
    let known = [
        "echo_server.py",
        "echo_client.py",
        "tcp_echo",
        "static_site",
        "echo_api",
    ];
    let blocks = blocks(&guide);
    for block in &blocks {
        assert!(
            known.contains(&block.name.as_str()),
            "docs/ko/README.md line {}: unknown check {:?}",
            block.line,
            block.name
        );
    }
    for name in known {
        assert!(
            blocks.iter().any(|b| b.name == name),
            "no block is checked as {name}"
        );
    }
    // A marker that does not parse would silently check nothing.
    assert_eq!(
        guide
            .lines()
            .filter(|l| l.trim_start().starts_with("<!-- check"))
            .count(),
        blocks.len(),
        "every `<!-- check` comment is a marker"
    );
}

/// The comparison rule, on its own.
#[test]
fn outputs_are_compared_with_varying_values_masked() {
    let expected = "HTTP/1.1 200 OK\nETag: \"d-1\"\nDate: Sun, 22 Nov 2026 01:34:48 GMT\n\n{\"client\":\"127.0.0.1:1\",\"headers\":[[\"User-Agent\",\"curl/7.88.1\"]]}\n";
    let actual = "HTTP/1.1 200 OK\r\nETag: \"d-2\"\r\nDate: Fri, 04 Dec 2026 18:13:24 GMT\r\n\r\n{\"client\":\"127.0.0.1:5\",\"headers\":[[\"User-Agent\",\"curl/8.1\"]]}";
    let mut learned = Vec::new();
    compare("unit", "cmd", expected, actual, &mut learned);
    assert_eq!(learned, [("\"d-1\"".to_owned(), "\"d-2\"".to_owned())]);
    assert_ne!(
        normalize("HTTP/1.1 200 OK"),
        normalize("HTTP/1.1 304 Not Modified")
    );
}
