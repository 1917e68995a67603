//! The `static_site` example as a process: it prints one line with the
//! real address, serves the bundled site, and exits 0 on SIGTERM.

mod support;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A failsafe: a test that waits longer than this for the process has
/// found a hang, and kills it rather than stall the run.
const FAILSAFE: Duration = Duration::from_secs(30);

/// Example is the example running as a child process. Dropping it (when
/// a test fails half-way) kills the process through its handle.
struct Example {
    child: Option<Child>,
    /// Its stdout, after the first line.
    stdout: Option<BufReader<ChildStdout>>,
    /// The address from its first line.
    addr: String,
}

impl Example {
    /// Starts the example with `args` and reads its one line.
    fn start<S: AsRef<OsStr>>(args: &[S]) -> Example {
        let mut child = Command::new(support::example_binary("static_site"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped");
        let mut ex = Example {
            child: Some(child),
            stdout: Some(BufReader::new(stdout)),
            addr: String::new(),
        };
        let mut line = String::new();
        ex.stdout
            .as_mut()
            .expect("set above")
            .read_line(&mut line)
            .unwrap();
        ex.addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ex
    }

    /// Sends SIGTERM (`kill -TERM <pid>`) and waits for the exit; kills
    /// the process if it has not exited within [`FAILSAFE`], and fails.
    fn terminate(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let (done, waiting) = mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if waiting.recv_timeout(FAILSAFE).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                return true;
            }
            false
        });
        let status = child.wait().unwrap();
        let _ = done.send(());
        assert!(
            !watchdog.join().unwrap(),
            "the example did not exit after SIGTERM; killed it"
        );
        let mut rest = String::new();
        if let Some(mut out) = self.stdout.take() {
            out.read_to_string(&mut rest).unwrap();
        }
        (status, rest)
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn http_get(addr: &str, target: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(FAILSAFE)).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(unix)]
#[test]
fn example_prints_its_address_serves_and_exits_0_on_sigterm() {
    let ex = Example::start(&["--addr", "127.0.0.1:0", "--threads", "4"]);
    assert!(
        !ex.addr.ends_with(":0"),
        "the real port is printed: {}",
        ex.addr
    );

    let reply = http_get(&ex.addr, "/");
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/static_site/public");
    let index = std::fs::read_to_string(public.join("index.html")).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with(&index), "the body is the sample index page");
    // Listings are on in the example, and hidden files are refused.
    assert!(http_get(&ex.addr, "/docs/").contains("Index of /docs/"));
    assert!(http_get(&ex.addr, "/.env").starts_with("HTTP/1.1 404 "));

    let (status, rest) = ex.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[test]
fn example_help_and_bad_arguments() {
    let out = Command::new(support::example_binary("static_site"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--addr", "--root", "--threads", "--no-listing"] {
        assert!(help.contains(flag), "--help mentions {flag}: {help}");
    }
    for bad in [&["--bogus"][..], &["--threads", "0"], &["--addr"]] {
        let out = Command::new(support::example_binary("static_site"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
}

#[cfg(unix)]
#[test]
fn example_serves_another_root_without_listing() {
    let root = std::env::temp_dir().join(format!("sockhttp-static-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::write(root.join("a.txt"), "from another root\n").unwrap();
    let args = [
        OsStr::new("--addr"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--no-listing"),
        OsStr::new("--root"),
        root.as_os_str(),
    ];
    let ex = Example::start(&args);
    let a = http_get(&ex.addr, "/a.txt");
    let dir = http_get(&ex.addr, "/dir/");
    let (status, _) = ex.terminate();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(a.ends_with("\r\n\r\nfrom another root\n"), "{a}");
    assert!(dir.starts_with("HTTP/1.1 404 "), "{dir}");
    assert!(status.success(), "{status:?}");
}
