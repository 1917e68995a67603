//! HTTPS served by the server itself (the `tls` feature), over real
//! sockets: curl with the test's own certificate authority for what a
//! client does (GET, keep-alive, a 10 MiB file, ranges, a chunked upload),
//! and a rustls client for what curl cannot be told to do (two requests
//! in one TLS record, a certificate swap seen from one connection, a
//! handshake broken halfway).
#![cfg(feature = "tls")]

mod support;

use rustls::pki_types::ServerName;
use sockhttp::tls::TlsConfig;
use sockhttp::{Request, Response, StaticFiles, Timeouts};
use std::io::{Read, Write};
use std::time::Duration;
use support::pki::{Pki, Tls, presented, read_response, read_response_after};
use support::{TempDir, TestServer, connect, curl, find, server};

fn hello(req: &mut Request) -> Response {
    Response::text(format!(
        "{} {} tls={}\n",
        req.method(),
        req.target(),
        req.is_tls()
    ))
}

fn tls_server(pki: &Pki) -> TestServer {
    TestServer::with(server().threads(2).tls(pki.config()), hello)
}

#[test]
fn curl_gets_over_tls_and_keeps_the_connection_alive() {
    let pki = Pki::new();
    let dir = TempDir::new("tls-get");
    let ca = pki.ca_file(&dir, "ca.pem");
    let srv = tls_server(&pki);
    let base = format!("https://localhost:{}", srv.addr().port());
    let Some(out) = curl(&[
        "--cacert",
        &ca,
        "--fail",
        "--resolve",
        &format!("localhost:{}:127.0.0.1", srv.addr().port()),
        &format!("{base}/one"),
        &format!("{base}/two"),
        "-w",
        "%{http_version} %{num_connects}\n",
    ]) else {
        return;
    };
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET /one tls=true\n1.1 1\nGET /two tls=true\n1.1 0\n",
        "two requests, one connection (the second made no new one), HTTP/1.1 by ALPN"
    );
}

#[test]
fn two_requests_in_one_record_are_both_answered() {
    let pki = Pki::new();
    let srv = tls_server(&pki);
    let mut tls = pki.connect(srv.addr());
    // One write of the plaintext makes one record: the second request
    // is decrypted with the first and waits inside the TLS session, where
    // the poller cannot see it.
    tls.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let (_, a) = read_response_after(&mut tls, &mut rest);
    let (_, b) = read_response_after(&mut tls, &mut rest);
    assert!(rest.is_empty());
    assert_eq!(
        (a.as_slice(), b.as_slice()),
        (&b"GET /a tls=true\n"[..], &b"GET /b tls=true\n"[..])
    );
    // Then the connection parks, and serves the next one when it comes.
    tls.write_all(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut tls).1, b"GET /c tls=true\n");
}

// Without epoll an idle connection holds its worker (by design).
#[cfg(not(sockhttp_no_epoll))]
#[test]
fn idle_tls_connections_park_and_cost_no_worker() {
    let pki = Pki::new();
    let srv = tls_server(&pki);
    // More idle connections than workers, each past its handshake and
    // first request.
    let mut idle: Vec<Tls> = (0..20).map(|_| pki.connect(srv.addr())).collect();
    for (i, tls) in idle.iter_mut().enumerate() {
        tls.write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        assert_eq!(
            read_response(tls).1,
            format!("GET /{i} tls=true\n").as_bytes()
        );
    }
    // Two workers, twenty idle connections: a new one is still served,
    // and so is each old one.
    let mut fresh = pki.connect(srv.addr());
    fresh
        .write_all(b"GET /new HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut fresh).1, b"GET /new tls=true\n");
    for (i, tls) in idle.iter_mut().enumerate().rev() {
        tls.write_all(format!("GET /again{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        assert_eq!(
            read_response(tls).1,
            format!("GET /again{i} tls=true\n").as_bytes()
        );
    }
}

#[test]
fn files_ranges_and_a_chunked_upload_over_tls() {
    let pki = Pki::new();
    let dir = TempDir::new("tls-files");
    let ca = pki.ca_file(&dir, "ca.pem");
    let root = dir.0.join("www");
    std::fs::create_dir(&root).unwrap();
    // 10 MiB that is not one repeated byte, so a misplaced piece shows.
    let big: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let files = StaticFiles::new(&root);
    let upload = |req: &mut Request| -> Response {
        let chunked = req.headers().get("transfer-encoding") == Some("chunked");
        let n = std::io::copy(req.body(), &mut std::io::sink()).unwrap();
        Response::text(format!("{n} bytes, chunked={chunked}\n"))
    };
    let router = sockhttp::Router::new()
        .post("/upload", upload)
        .mount("/", files);
    let srv = TestServer::with(server().threads(2).tls(pki.config()), router);
    let port = srv.addr().port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/big.bin");
    let common = ["--cacert", &ca, "--fail", "--resolve", &resolve];

    let Some(got) = curl(&[&common[..], &[&url]].concat()) else {
        return;
    };
    assert!(got == big, "10 MiB file: {} bytes back", got.len());

    let got = curl(&[&common[..], &["-r", "0-9,20-29", "-i", &url]].concat()).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 206"), "{text}");
    assert!(text.contains("multipart/byteranges"), "{text}");
    assert!(find(&got, &big[0..10]).is_some() && find(&got, &big[20..30]).is_some());

    let got = curl(&[&common[..], &["-r", "100-", "-o", "-", &url]].concat()).unwrap();
    assert!(got == big[100..], "a range to the end");

    let path = dir.0.join("upload.bin");
    std::fs::write(&path, &big[..3 * 1024 * 1024]).unwrap();
    let upload_url = format!("https://localhost:{port}/upload");
    let data = format!("@{}", path.display());
    let got = curl(
        &[
            &common[..],
            &[
                "-H",
                "Transfer-Encoding: chunked",
                "--data-binary",
                &data,
                &upload_url,
            ],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "3145728 bytes, chunked=true\n"
    );
}

#[test]
fn a_plain_http_request_to_the_tls_port_is_told_so() {
    let pki = Pki::new();
    let srv = tls_server(&pki);
    let got = srv.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "HTTP/1.1 400 Bad Request\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 47\r\n\
         Connection: close\r\n\
         \r\n\
         The plain HTTP request was sent to HTTPS port.\n"
    );
}

#[test]
fn a_client_hello_to_a_plain_port_is_answered_400_and_closed() {
    let srv = TestServer::with(server().threads(1), hello);
    let pki = Pki::new();
    let got = srv.exchange(&client_hello(&pki));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
}

#[test]
fn hostile_handshakes_are_closed_and_cost_no_worker() {
    let pki = Pki::new();
    let mut timeouts = Timeouts::default();
    timeouts.handshake = Duration::from_millis(300);
    let srv = TestServer::with(
        server().threads(1).timeouts(timeouts).tls(pki.config()),
        hello,
    );

    // Garbage where a ClientHello belongs: an alert, then the close.
    let mut s = connect(srv.addr());
    s.write_all(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
    let got = support::read_to_end(&mut s);
    assert_eq!(got.first(), Some(&0x15), "a TLS alert record: {got:?}");

    // Half a ClientHello, then silence: closed at the handshake deadline
    // (the failsafe read timeout would fail the test first if it hung).
    let hello_bytes = client_hello(&pki);
    let mut s = connect(srv.addr());
    s.write_all(&hello_bytes[..hello_bytes.len() / 2]).unwrap();
    assert!(
        support::read_to_end(&mut s).is_empty(),
        "no answer, a close"
    );
    // Counted once, as a handshake timeout (the garbage was not one).
    let stats = srv.stats();
    assert_eq!(
        (stats.timeouts_handshake, stats.timeouts_head),
        (1, 0),
        "{stats:?}"
    );

    // A client that closes in the middle of a record, after its
    // handshake.
    let mut tls = pki.connect(srv.addr());
    tls.conn
        .writer()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut record = Vec::new();
    tls.conn.write_tls(&mut record).unwrap();
    tls.sock.write_all(&record[..record.len() / 2]).unwrap();
    tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    // Closed, and what came before the close decrypts to no answer
    // (session tickets, and the server's close_notify).
    let got = support::read_to_end(&mut tls.sock);
    let mut records = got.as_slice();
    while !records.is_empty() {
        tls.conn.read_tls(&mut records).unwrap();
        tls.conn.process_new_packets().unwrap();
    }
    let mut plain = Vec::new();
    let _ = tls.conn.reader().read_to_end(&mut plain);
    assert!(plain.is_empty(), "no answer to half a request: {plain:?}");

    // The one worker is free: a real client is served.
    let mut tls = pki.connect(srv.addr());
    tls.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut tls).1, b"GET /ok tls=true\n");
}

/// The bytes of a ClientHello a real client sends first.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(pki.client_config(), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[test]
fn a_new_certificate_serves_new_handshakes_and_open_connections_go_on() {
    let pki = Pki::new();
    let (cert1, key1, der1) = pki.leaf("first");
    let tls_config = TlsConfig::from_pem(cert1.as_bytes(), key1.as_bytes()).unwrap();
    let srv = TestServer::with(server().threads(2).tls(tls_config.clone()), hello);

    let mut old = pki.connect(srv.addr());
    assert_eq!(presented(&old), der1);

    let (cert2, key2, der2) = pki.leaf("second");
    tls_config
        .reload(cert2.as_bytes(), key2.as_bytes())
        .unwrap();
    let mut new = pki.connect(srv.addr());
    assert_eq!(presented(&new), der2, "a handshake after the swap");

    for (tls, path) in [(&mut old, "/old"), (&mut new, "/new")] {
        tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        assert_eq!(
            read_response(tls).1,
            format!("GET {path} tls=true\n").as_bytes()
        );
    }
}

#[test]
fn a_graceful_shutdown_closes_idle_tls_connections_and_finishes_requests() {
    let pki = Pki::new();
    let (gate, control) = support::gate();
    let handler = move |req: &mut Request| {
        if req.target() == "/slow" {
            gate.enter();
        }
        hello(req)
    };
    let srv = TestServer::with(server().threads(2).tls(pki.config()), handler);
    let mut idle = pki.connect(srv.addr());
    idle.write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_response(&mut idle);
    let mut busy = pki.connect(srv.addr());
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    control.wait_entered();

    let handle = srv.shutdown_handle();
    handle.shutdown();
    // The idle connection is closed at once, with TLS's close_notify.
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0, "a clean TLS close");

    control.release();
    let (head, body) = read_response(&mut busy);
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, b"GET /slow tls=true\n");
    srv.shutdown();
}

#[test]
fn websockets_over_tls() {
    let pki = Pki::new();
    let handler = |req: &mut Request| {
        sockhttp::ws::Upgrade::new(req).allow_any_origin().accept(
            |s: &mut sockhttp::ws::Session, m: sockhttp::ws::Message| {
                let _ = s.send(m);
            },
        )
    };
    let srv = TestServer::with(server().threads(2).tls(pki.config()), handler);
    let tls = pki.connect(srv.addr());
    let url = format!("wss://localhost:{}/echo", srv.addr().port());
    let (mut ws, resp) = tungstenite::client(url.as_str(), tls).expect("handshake");
    assert_eq!(resp.status(), 101);
    for text in ["hello", &"x".repeat(100_000)] {
        ws.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text(text));
    }
    ws.close(None).unwrap();
}
