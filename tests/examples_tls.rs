//! The examples serving HTTPS themselves (`--tls-cert`, `--tls-key`; the
//! `tls` feature), as processes over real sockets: curl with the test's
//! own certificate authority, a rustls client where a connection must be
//! held across a signal, and tungstenite for `wss://`. SIGHUP swaps the
//! certificate for new handshakes only; SIGTERM shuts down gracefully
//! with TLS connections open.
//!
//! Nothing here waits by the clock: a signal's effect is awaited through
//! the line the example logs once it has acted (`RUST_LOG=info`).
#![cfg(all(feature = "tls", unix))]

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::pki::{Pki, Tls, presented, read_response};
use support::{Example, TempDir, curl, curl_output, example_binary, find};

/// The bundled site `static_site` serves by default.
fn public(file: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/static_site/public");
    std::fs::read(root.join(file)).unwrap()
}

/// Certificate and key files in a directory of the test's own, and the
/// file of the authority that signed them (for `curl --cacert`).
struct Files {
    dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: String,
    /// The DER of the certificate the files hold.
    der: Vec<u8>,
}

impl Files {
    fn new(tag: &str, pki: &Pki) -> Files {
        let dir = TempDir::new(tag);
        let cert = dir.0.join("cert.pem");
        let key = dir.0.join("key.pem");
        let der = pki.write_leaf("first", &cert, &key);
        let ca = pki.ca_file(&dir, "ca.pem");
        Files {
            dir,
            cert,
            key,
            ca,
            der,
        }
    }

    /// `--tls-cert CERT --tls-key KEY --addr 127.0.0.1:0 --threads 2`.
    fn args(&self) -> Vec<&OsStr> {
        vec![
            OsStr::new("--tls-cert"),
            self.cert.as_os_str(),
            OsStr::new("--tls-key"),
            self.key.as_os_str(),
            OsStr::new("--addr"),
            OsStr::new("127.0.0.1:0"),
            OsStr::new("--threads"),
            OsStr::new("2"),
        ]
    }
}

/// Starts `name` serving TLS from `files` (plus `more` arguments), with
/// the access log on, and checks its one line.
fn start(name: &str, files: &Files, more: &[&OsStr]) -> Example {
    let args = [&files.args()[..], more].concat();
    let ex = Example::start(name, &args, Some("info"));
    assert_eq!(ex.line, format!("listening on https://{}", ex.addr));
    assert!(
        ex.addr.starts_with("127.0.0.1:") && !ex.addr.ends_with(":0"),
        "the real port is printed: {}",
        ex.addr
    );
    ex
}

/// Sends `GET target` on `tls` (kept alive) and returns the body.
fn get(tls: &mut Tls, target: &str) -> Vec<u8> {
    tls.write_all(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let (head, body) = read_response(tls);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    body
}

/// Splits what `curl -w '\n%{local_port}'` wrote into the body and the
/// client's port.
fn body_and_port(out: Vec<u8>) -> (Vec<u8>, String) {
    let at = out.iter().rposition(|&b| b == b'\n').expect("the -w line");
    let port = String::from_utf8(out[at + 1..].to_vec()).unwrap();
    (out[..at].to_vec(), port)
}

/// `static_site --tls-cert C --tls-key K` announces `https://`, serves a
/// file, a range and a HEAD to curl trusting the test's authority, and
/// marks each access line `tls`.
#[test]
fn static_site_serves_https_to_curl_and_logs_tls() {
    let pki = Pki::new();
    let files = Files::new("examples-tls-static", &pki);
    let mut ex = start("static_site", &files, &[]);
    let base = format!("https://{}", ex.addr);
    let common = ["--cacert", files.ca.as_str(), "--fail"];

    let url = format!("{base}/files/hello.txt");
    let Some(out) = curl(&[&common[..], &["-w", "\n%{local_port}", &url]].concat()) else {
        return;
    };
    let (body, port) = body_and_port(out);
    assert_eq!(body, public("files/hello.txt"));

    let big = public("files/big.txt");
    let url = format!("{base}/files/big.txt");
    let out = curl(&[&common[..], &["-i", "-r", "1000-1999", &url]].concat()).unwrap();
    let end = find(&out, b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&out[..end]);
    assert!(
        head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{head}"
    );
    let range = format!("\r\nContent-Range: bytes 1000-1999/{}\r\n", big.len());
    assert!(head.contains(&range), "{head}");
    assert!(out[end..] == big[1000..2000], "the range differs");

    let out = curl(&[&common[..], &["-I", &url]].concat()).unwrap();
    let head = String::from_utf8(out).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let length = format!("\r\nContent-Length: {}\r\n", big.len());
    assert!(head.contains(&length), "{head}");
    assert!(head.contains("\r\nAccept-Ranges: bytes\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "a head and no body: {head}");

    let (status, rest, log) = ex.stop("-TERM");
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(rest, "", "exactly one line on stdout");
    let want =
        format!("sockhttp::access] 127.0.0.1:{port} tls \"GET /files/hello.txt HTTP/1.1\" 200 13 ");
    assert!(log.contains(&want), "no {want:?} in\n{log}");
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sockhttp::access]"))
        .collect();
    assert_eq!(access.len(), 3, "one line per request:\n{log}");
    for (line, want) in access.iter().zip([
        "\"GET /files/hello.txt HTTP/1.1\" 200 13 ",
        "\"GET /files/big.txt HTTP/1.1\" 206 1000 ",
        "\"HEAD /files/big.txt HTTP/1.1\" 200 0 ",
    ]) {
        assert!(line.contains(&format!(" tls {want}")), "{line}");
    }
}

/// curl speaking plain HTTP to the HTTPS port is told so, in plain text,
/// as nginx does.
#[test]
fn a_plain_http_curl_to_the_https_port_gets_400() {
    let pki = Pki::new();
    let files = Files::new("examples-tls-plain", &pki);
    let mut ex = start("static_site", &files, &[]);
    let url = format!("http://{}/files/hello.txt", ex.addr);
    let Some(out) = curl(&["-w", "%{http_code}", &url]) else {
        return;
    };
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "The plain HTTP request was sent to HTTPS port.\n400"
    );
    let (status, _, log) = ex.stop("-TERM");
    assert!(status.success(), "{status:?}\n{log}");
}

/// SIGHUP reads the certificate files again: a new handshake presents
/// the certificate of another authority, a connection made before keeps
/// the old one and goes on; files that do not make a certificate leave
/// the one in use, with the error logged, and the example serves on.
#[test]
fn sighup_swaps_the_certificate_for_new_connections_only() {
    let ca1 = Pki::new();
    let ca2 = Pki::new();
    let files = Files::new("examples-tls-sighup", &ca1);
    let ca2_file = ca2.ca_file(&files.dir, "ca2.pem");
    let mut ex = start("static_site", &files, &[]);
    let url = format!("https://{}/files/hello.txt", ex.addr);
    let hello = public("files/hello.txt");
    let Some(out) = curl(&["--cacert", &files.ca, "--fail", &url]) else {
        return;
    };
    assert_eq!(out, hello);
    let addr = ex.addr.parse().unwrap();
    let mut old = ca1.connect(addr);
    assert_eq!(presented(&old), files.der);
    assert_eq!(get(&mut old, "/files/hello.txt"), hello);

    // A renewal by another authority, then SIGHUP.
    let der2 = ca2.write_leaf("second", &files.cert, &files.key);
    ex.signal("-HUP");
    let line = ex.wait_for_log("SIGHUP: certificate reloaded");
    assert!(line.contains(files.cert.to_str().unwrap()), "{line}");

    assert_eq!(
        curl(&["--cacert", &ca2_file, "--fail", &url]).unwrap(),
        hello
    );
    assert_eq!(presented(&ca2.connect(addr)), der2);
    // A new handshake no longer verifies with the old authority (curl's
    // exit status for that differs with its TLS library).
    let refused = curl_output(&["--cacert", &files.ca, &url]).unwrap();
    assert!(!refused.status.success(), "{:?}", refused.status);
    assert!(refused.stdout.is_empty(), "no answer");
    // The connection made before the swap keeps its session and its
    // certificate.
    assert_eq!(get(&mut old, "/files/hello.txt"), hello);
    assert_eq!(presented(&old), files.der);

    // Files that make no certificate: junk, then a key of another
    // certificate (a renewal written halfway).
    let (other_cert, _, _) = ca2.leaf("third");
    let (_, other_key, _) = ca2.leaf("fourth");
    for (cert, key, error) in [
        ("junk".to_owned(), other_key.clone(), "no CERTIFICATE"),
        (other_cert, other_key, "key"),
    ] {
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        ex.signal("-HUP");
        let line = ex.wait_for_log("SIGHUP: certificate not reloaded, the old one stays");
        assert!(line.contains(error), "{line}");
        assert_eq!(presented(&ca2.connect(addr)), der2, "after {error:?}");
        assert_eq!(
            curl(&["--cacert", &ca2_file, "--fail", &url]).unwrap(),
            hello
        );
    }
    assert_eq!(get(&mut old, "/files/hello.txt"), hello);

    let (status, rest, log) = ex.stop("-TERM");
    assert!(status.success(), "SIGHUP is no shutdown: {status:?}\n{log}");
    assert_eq!(rest, "");
}

/// The size of the file a stalled download fetches: more than loopback's
/// socket buffers at both ends hold, so that the answer cannot finish
/// until the client reads.
const STALLED_BYTES: u64 = 64 << 20;

/// A `static_site` serving TLS with two connections open: `idle` after
/// one request, and `busy` in the middle of a download whose client
/// has read only the head (so the server cannot finish it).
struct Stalled {
    ex: Example,
    idle: Tls,
    busy: Tls,
    /// What `busy` read past its head.
    body: Vec<u8>,
    _files: Files,
}

impl Stalled {
    fn start(tag: &str) -> Stalled {
        let pki = Pki::new();
        let files = Files::new(tag, &pki);
        let root = files.dir.0.join("www");
        std::fs::create_dir(&root).unwrap();
        // Sparse: no disk space.
        std::fs::File::create(root.join("big.bin"))
            .unwrap()
            .set_len(STALLED_BYTES)
            .unwrap();
        std::fs::write(root.join("small.txt"), "small\n").unwrap();
        let ex = start(
            "static_site",
            &files,
            &[OsStr::new("--root"), root.as_os_str()],
        );
        let addr = ex.addr.parse().unwrap();
        let mut idle = pki.connect(addr);
        assert_eq!(get(&mut idle, "/small.txt"), b"small\n");
        let mut busy = pki.connect(addr);
        busy.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut body = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let end = loop {
            if let Some(end) = find(&body, b"\r\n\r\n") {
                break end;
            }
            let n = busy.read(&mut buf).unwrap();
            assert!(n > 0, "closed before the head");
            body.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&body[..end + 4]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("\r\nContent-Length: {STALLED_BYTES}\r\n")),
            "{head}"
        );
        body.drain(..end + 4);
        Stalled {
            ex,
            idle,
            busy,
            body,
            _files: files,
        }
    }
}

/// SIGTERM with TLS connections open: the idle one is closed at once
/// (with TLS's close_notify), the download in flight finishes, and the
/// process exits 0.
#[test]
fn sigterm_closes_idle_tls_connections_finishes_downloads_and_exits_0() {
    let Stalled {
        mut ex,
        mut idle,
        mut busy,
        body,
        _files,
    } = Stalled::start("examples-tls-sigterm");
    ex.signal("-TERM");
    ex.wait_for_log("signal received; shutting down gracefully");

    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0, "a clean TLS close");

    let mut got = body.len() as u64;
    assert!(body.iter().all(|&b| b == 0));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        // `Ok(0)` only after the server's close_notify: a close without
        // it is an error here.
        let n = busy.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            buf[..n].iter().all(|&b| b == 0),
            "a sparse file reads as zeros"
        );
        got += n as u64;
    }
    assert_eq!(got, STALLED_BYTES, "the whole file, then a clean close");

    let (status, rest, log) = ex.wait();
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(rest, "");
    let want = format!(" tls \"GET /big.bin HTTP/1.1\" 200 {STALLED_BYTES} ");
    assert!(log.contains(&want), "no {want:?} in\n{log}");
}

/// A second signal while a download holds the graceful shutdown up: the
/// process exits at once, with status 130.
#[test]
fn a_second_sigterm_during_the_shutdown_exits_130_at_once() {
    let mut stalled = Stalled::start("examples-tls-second-signal");
    let ex = &mut stalled.ex;
    ex.signal("-TERM");
    ex.wait_for_log("signal received; shutting down gracefully");
    // The download cannot finish while its client does not read: the
    // shutdown is still waiting for it.
    ex.signal("-TERM");
    let (status, rest, log) = ex.wait();
    assert_eq!(status.code(), Some(130), "{log}");
    assert_eq!(rest, "");
    assert!(
        log.contains("static_site: second signal; exiting without waiting"),
        "{log}"
    );
}

/// `echo_api` over TLS: `wss://` to `/ws/echo` with tungstenite over a
/// rustls client (a text message and a 1 MiB binary one come back), and
/// `/inspect` to curl; the access log marks both `tls`.
#[test]
fn echo_api_serves_wss_and_inspect_over_tls() {
    let pki = Pki::new();
    let files = Files::new("examples-tls-echo-api", &pki);
    let mut ex = start("echo_api", &files, &[]);
    let addr = ex.addr.parse().unwrap();

    let tls = pki.connect(addr);
    let ws_port = tls.sock.local_addr().unwrap().port();
    let url = format!("wss://localhost:{}/ws/echo", addr.port());
    let (mut ws, resp) = tungstenite::client(url.as_str(), tls).expect("handshake");
    assert_eq!(resp.status(), 101);
    let text = tungstenite::Message::text("hello over wss");
    ws.send(text.clone()).unwrap();
    assert_eq!(ws.read().unwrap(), text);
    let mib: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let binary = tungstenite::Message::binary(mib);
    ws.send(binary.clone()).unwrap();
    assert!(ws.read().unwrap() == binary, "the 1 MiB message differs");
    ws.close(None).unwrap();
    // The server's close frame answers ours.
    let after = ws.read();
    assert!(
        matches!(
            after,
            Ok(tungstenite::Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed)
        ),
        "after the close: {after:?}"
    );

    let url = format!("https://{}/inspect?x=1", ex.addr);
    let Some(out) = curl(&[
        "--cacert",
        &files.ca,
        "--fail",
        "--data-binary",
        "abc",
        "-w",
        "\n%{local_port}",
        &url,
    ]) else {
        return;
    };
    let (body, port) = body_and_port(out);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["method"], "POST", "{doc}");
    assert_eq!(doc["path"], "/inspect", "{doc}");
    assert_eq!(doc["query"], "x=1", "{doc}");
    assert_eq!(doc["version"], "HTTP/1.1", "{doc}");
    assert_eq!(doc["body_len"], 3, "{doc}");
    assert_eq!(doc["client"], format!("127.0.0.1:{port}"), "{doc}");

    let (status, rest, log) = ex.stop("-TERM");
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(rest, "");
    for want in [
        format!("] 127.0.0.1:{ws_port} tls \"GET /ws/echo HTTP/1.1\" 101 "),
        format!("] 127.0.0.1:{port} tls \"POST /inspect?x=1 HTTP/1.1\" 200 "),
    ] {
        assert!(log.contains(&want), "no {want:?} in\n{log}");
    }
}

/// One of the two TLS flags without the other is a usage error (exit
/// 2), and files that do not make a certificate stop the start (exit 1),
/// saying why, with nothing on stdout.
#[test]
fn tls_flags_that_cannot_work_are_refused_with_a_clear_message() {
    let pki = Pki::new();
    let files = Files::new("examples-tls-flags", &pki);
    let missing = files.dir.0.join("missing.pem");
    let junk = files.dir.0.join("junk.pem");
    std::fs::write(&junk, "junk").unwrap();
    let (cert, key) = (files.cert.as_os_str(), files.key.as_os_str());
    let cases: [(&[&OsStr], i32, String); 4] = [
        (
            &[OsStr::new("--tls-cert"), cert],
            2,
            "--tls-cert needs --tls-key".to_owned(),
        ),
        (
            &[OsStr::new("--tls-key"), key],
            2,
            "--tls-key needs --tls-cert".to_owned(),
        ),
        (
            &[
                OsStr::new("--tls-cert"),
                missing.as_os_str(),
                OsStr::new("--tls-key"),
                key,
            ],
            1,
            format!("TLS certificate: {}: ", missing.display()),
        ),
        (
            &[
                OsStr::new("--tls-cert"),
                junk.as_os_str(),
                OsStr::new("--tls-key"),
                key,
            ],
            1,
            "TLS certificate: certificate chain: no CERTIFICATE".to_owned(),
        ),
    ];
    for name in ["static_site", "echo_api"] {
        for (args, code, want) in &cases {
            let out = Command::new(example_binary(name))
                .args(*args)
                .args(["--addr", "127.0.0.1:0"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(*code), "{name} {args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{name} {args:?}");
            let want = format!("{name}: {want}");
            assert!(stderr.starts_with(&want), "{name} {args:?}: {stderr}");
        }
    }
}
