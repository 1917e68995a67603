//! The `static_site` example as a process: it prints one line with the
//! real address, serves the bundled site, and exits 0 on SIGTERM.

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use support::{Example, FAILSAFE, TempDir, curl};

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
    let mut ex = Example::start(
        "static_site",
        &["--addr", "127.0.0.1:0", "--threads", "4"],
        None,
    );
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

    let (status, rest, _) = ex.stop("-TERM");
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
    for flag in ["--addr", "--unix", "--root", "--threads", "--no-listing"] {
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
    let tmp = TempDir::new("static-site-other-root");
    let root = &tmp.0;
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::write(root.join("a.txt"), "from another root\n").unwrap();
    let args = [
        OsStr::new("--addr"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--no-listing"),
        OsStr::new("--root"),
        root.as_os_str(),
    ];
    let mut ex = Example::start("static_site", &args, None);
    let a = http_get(&ex.addr, "/a.txt");
    let dir = http_get(&ex.addr, "/dir/");
    let (status, _, _) = ex.stop("-TERM");
    assert!(a.ends_with("\r\n\r\nfrom another root\n"), "{a}");
    assert!(dir.starts_with("HTTP/1.1 404 "), "{dir}");
    assert!(status.success(), "{status:?}");
}

/// `--unix PATH`: one line naming the socket, the site served over it
/// (to `curl --unix-socket`, with the access log writing the peer
/// `unix:`), and the socket file gone after SIGTERM.
#[cfg(unix)]
#[test]
fn example_serves_on_a_unix_socket_and_removes_it_on_sigterm() {
    let tmp = TempDir::new("static-site-unix");
    let path = tmp.0.join("site.sock");
    let args = [OsStr::new("--unix"), path.as_os_str()];
    let mut ex = Example::start("static_site", &args, Some("info"));
    assert_eq!(ex.addr, path.to_str().unwrap(), "listening on unix:PATH");
    let socket = path.to_str().unwrap();
    let Some(out) = curl(&[
        "-i",
        "--unix-socket",
        socket,
        "http://localhost/files/hello.txt",
    ]) else {
        return;
    };
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello, world\n"), "{text}");
    let (status, rest, log) = ex.stop("-TERM");
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, "", "exactly one line on stdout");
    assert!(!path.exists(), "the socket file is removed");
    assert!(
        log.contains("sockhttp::access] unix: \"GET /files/hello.txt HTTP/1.1\" 200 13 "),
        "{log}"
    );
}

/// `RUST_LOG=info` turns on one access line per request on stderr.
#[cfg(unix)]
#[test]
fn example_logs_one_access_line_per_request_with_rust_log_info() {
    let mut ex = Example::start("static_site", &["--addr", "127.0.0.1:0"], Some("info"));
    let ok = http_get(&ex.addr, "/files/hello.txt");
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
    let missing = http_get(&ex.addr, "/no-such-file?q=1");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    let (status, rest, log) = ex.stop("-TERM");
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, "");
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sockhttp::access"))
        .collect();
    assert_eq!(access.len(), 2, "one line per request: {log}");
    assert!(
        access[0].contains("\"GET /files/hello.txt HTTP/1.1\" 200 13 "),
        "{log}"
    );
    assert!(
        access[1].contains("\"GET /no-such-file?q=1 HTTP/1.1\" 404 "),
        "{log}"
    );
}

/// Ctrl-C (SIGINT) shuts down as SIGTERM does; before it, a real `curl`
/// fetches the site and a range of the large file from the example.
#[cfg(unix)]
#[test]
fn example_serves_curl_a_range_and_exits_0_on_ctrl_c() {
    let mut ex = Example::start(
        "static_site",
        &["--addr", "127.0.0.1:0", "--threads", "2"],
        None,
    );
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/static_site/public");
    // An HTTP error fails the download.
    let fetch = |args: &[&str]| curl(&[&["--fail"], args].concat());
    match fetch(&[&format!("http://{}/", ex.addr)]) {
        None => println!("skipped the curl part"),
        Some(index) => {
            assert_eq!(index, std::fs::read(public.join("index.html")).unwrap());
            let big = std::fs::read(public.join("files/big.txt")).unwrap();
            let url = format!("http://{}/files/big.txt", ex.addr);
            let range = fetch(&["-r", "1000-1999", &url]).unwrap();
            assert!(range == big[1000..2000], "the range differs");
            let whole = fetch(&[&url]).unwrap();
            assert!(whole == big, "the whole file differs");
            let logo = fetch(&[&format!("http://{}/images/logo.png", ex.addr)]).unwrap();
            assert_eq!(logo, std::fs::read(public.join("images/logo.png")).unwrap());
        }
    }
    let (status, rest, _) = ex.stop("-INT");
    assert!(status.success(), "exit status after SIGINT: {status:?}");
    assert_eq!(rest, "");
}

/// A 1 GiB file goes from the file to the socket without passing
/// through the server's memory: its peak resident size (`VmHWM`) grows
/// by far less than the file (a server that read the file whole would
/// grow by 1 GiB).
#[cfg(target_os = "linux")]
#[test]
fn example_streams_a_1_gib_file_without_growing_its_memory() {
    const GIB: u64 = 1 << 30;
    const MAX_GROWTH: u64 = 32 << 20;
    let tmp = TempDir::new("static-site-gib");
    let root = &tmp.0;
    {
        // Sparse: it takes no disk space.
        let f = std::fs::File::create(root.join("big.bin")).unwrap();
        f.set_len(GIB).unwrap();
        std::fs::write(root.join("small.txt"), "warm up\n").unwrap();
    }
    let args = [
        OsStr::new("--addr"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--threads"),
        OsStr::new("2"),
        OsStr::new("--root"),
        root.as_os_str(),
    ];
    let mut ex = Example::start("static_site", &args, None);
    // Every code path of a file response runs once before the baseline.
    assert!(http_get(&ex.addr, "/small.txt").ends_with("warm up\n"));
    let before = support::proc_status_bytes(ex.pid(), "VmHWM");

    let mut s = TcpStream::connect(&ex.addr).unwrap();
    s.set_read_timeout(Some(FAILSAFE)).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut in_body = false;
    let mut body_bytes: u64 = 0;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if in_body {
            body_bytes += n as u64;
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = support::find(&head, b"\r\n\r\n") {
            in_body = true;
            body_bytes = (head.len() - end - 4) as u64;
            head.truncate(end + 4);
        }
    }
    let after = support::proc_status_bytes(ex.pid(), "VmHWM");
    let (status, _, _) = ex.stop("-TERM");
    drop(tmp);

    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Length: 1073741824\r\n"),
        "{head}"
    );
    assert_eq!(body_bytes, GIB, "the whole file arrived");
    println!("VmHWM before {before} bytes, after {after} bytes");
    assert!(
        after.saturating_sub(before) < MAX_GROWTH,
        "peak RSS grew from {before} to {after} bytes while sending 1 GiB"
    );
    assert!(status.success(), "{status:?}");
}
