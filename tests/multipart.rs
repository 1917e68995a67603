//! `multipart/form-data` uploads over real sockets: curl's `-F` (plain and
//! chunked), the statuses of malformed bodies and of every limit, and the
//! body's own errors passing through with their status. The decoder's
//! grammar is tested in its module; here, what a client sees.
//!
//! Every committed `fuzz/corpus/multipart/` seed also runs here, fed whole,
//! byte by byte and at every split, as the fuzz target does.

mod support;

use serde_json::{Value, json};
use sockhttp::{Multipart, MultipartLimits, Request, Response};
use std::io::{Read, Write};
use std::path::Path;
use support::multipart::{Outcome, decode_input};
use support::rng::pattern;
use support::{
    TestServer, curl, read_reply, server, short_timeouts, small_limits, streaming_limits,
};

/// FNV-1a over the bytes written: order matters, so a reordered or
/// repeated piece changes it.
struct Checksum {
    hash: u64,
}

impl Checksum {
    fn new() -> Checksum {
        Checksum {
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn of(data: &[u8]) -> u64 {
        let mut c = Checksum::new();
        c.write_all(data).unwrap();
        c.hash
    }
}

impl Write for Checksum {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The upload handler an application would write: every part streamed
/// to a sink, and a JSON answer with each part's name, file name, type,
/// size and checksum, and how the body was framed.
fn summarize(req: &mut Request, limits: MultipartLimits) -> sockhttp::Result<Response> {
    let chunked = req.content_length().is_none();
    let mut multipart: Multipart = req.multipart()?.limits(limits);
    let mut parts = Vec::new();
    while let Some(mut part) = multipart.next_part()? {
        let mut sink = Checksum::new();
        let size = part.copy_to(&mut sink)?;
        parts.push(json!({
            "name": part.name(),
            "filename": part.filename(),
            "content_type": part.content_type(),
            "size": size,
            "checksum": sink.hash,
        }));
    }
    Ok(Response::json(
        json!({ "chunked": chunked, "parts": parts }).to_string(),
    ))
}

fn start(limits: MultipartLimits) -> TestServer {
    TestServer::with(server().threads(4), move |req: &mut Request| {
        summarize(req, limits)
    })
}

/// A file of `len` pattern bytes in the temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str, data: &[u8]) -> TempFile {
        let dir =
            std::env::temp_dir().join(format!("sockhttp-multipart-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("upload.bin");
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Uploads a field and a file of a few MiB with `curl -F` (plus `extra`
/// arguments) and checks the server saw both exactly.
fn upload_with_curl(tag: &str, extra: &[&str]) -> Option<Value> {
    curl(&["--version"])?;
    let srv = start(MultipartLimits::default());
    // An odd size, past curl's threshold for `Expect: 100-continue` and
    // far past what the server reads before the handler runs.
    let data = pattern((3 << 20) + 7, 11);
    let file = TempFile::new(tag, &data);
    let field = format!("file=@{}", file.0.display());
    let url = format!("http://{}/upload", srv.addr());
    let args = [&["--fail", "-F", "a=1", "-F", &field], extra, &[&url]].concat();
    let out = curl(&args).expect("curl ran above");
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        doc["parts"],
        json!([
            {
                "name": "a",
                "filename": null,
                "content_type": null,
                "size": 1,
                "checksum": Checksum::of(b"1"),
            },
            {
                "name": "file",
                "filename": "upload.bin",
                "content_type": "application/octet-stream",
                "size": data.len(),
                "checksum": Checksum::of(&data),
            },
        ]),
        "{doc}"
    );
    Some(doc)
}

#[test]
fn curl_uploads_a_field_and_a_file_of_a_few_mib() {
    if let Some(doc) = upload_with_curl("plain", &[]) {
        assert_eq!(doc["chunked"], false);
    }
}

#[test]
fn curl_uploads_a_chunked_multipart_body() {
    if let Some(doc) = upload_with_curl("chunked", &["-H", "Transfer-Encoding: chunked"]) {
        assert_eq!(doc["chunked"], true, "curl sent the body chunked");
    }
}

#[test]
fn curl_gets_413_past_the_part_count() {
    if curl(&["--version"]).is_none() {
        return;
    }
    let mut limits = MultipartLimits::default();
    limits.max_parts = 3;
    let srv = start(limits);
    let url = format!("http://{}/upload", srv.addr());
    let code = |fields: &[&str]| {
        let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        for f in fields {
            args.extend(["-F", f]);
        }
        args.push(&url);
        String::from_utf8(curl(&args).unwrap()).unwrap()
    };
    assert_eq!(code(&["a=1", "b=2", "c=3"]), "200");
    assert_eq!(code(&["a=1", "b=2", "c=3", "d=4"]), "413");
}

/// Sends one POST with `content_type` and `body` (framed by
/// `Content-Length`, or chunked in pieces of `chunk` bytes) and returns
/// the status, and whether the connection then serves another request.
fn post(srv: &TestServer, content_type: &str, body: &[u8], chunk: Option<usize>) -> (u16, bool) {
    let mut s = srv.connect();
    let mut req = format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n");
    match chunk {
        None => req += &format!("Content-Length: {}\r\n\r\n", body.len()),
        Some(_) => req += "Transfer-Encoding: chunked\r\n\r\n",
    }
    let mut wire = req.into_bytes();
    match chunk {
        None => wire.extend_from_slice(body),
        Some(n) => {
            for piece in body.chunks(n) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        }
    }
    s.write_all(&wire).unwrap();
    let reply = read_reply(&mut s, false);
    if reply.header("connection") == Some("close") {
        return (reply.status, false);
    }
    s.write_all(b"GET /again HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\r\n")
        .unwrap();
    let again = read_reply(&mut s, false);
    (reply.status, again.status == 415)
}

fn part(name: &str, headers: &str, content: &str) -> String {
    format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n{headers}\r\n{content}\r\n"
    )
}

#[test]
fn malformed_bodies_and_limits_get_their_status() {
    let mut limits = MultipartLimits::default();
    limits.max_body_bytes = 48 * 1024;
    let srv = start(limits);
    let ct = "multipart/form-data; boundary=XyZ";
    let ok = part("a", "", "1") + "--XyZ--\r\n";
    let many_fields = (0..17).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    let big_field = format!("X-Big: {}\r\n", "v".repeat(16 * 1024));
    let big = part("a", "", &"v".repeat(50 * 1024)) + "--XyZ--\r\n";
    let cases: &[(&str, &str, String, u16)] = &[
        ("well formed", ct, ok.clone(), 200),
        ("not multipart", "text/plain", ok.clone(), 415),
        ("no boundary", "multipart/form-data", ok.clone(), 400),
        (
            "another boundary",
            "multipart/form-data; boundary=Other",
            ok.clone(),
            400,
        ),
        ("bare LF", ct, ok.replace("\r\n", "\n"), 400),
        ("no close delimiter", ct, part("a", "", "1"), 400),
        ("empty body", ct, String::new(), 400),
        (
            "no name",
            ct,
            "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--".into(),
            400,
        ),
        (
            "17 header fields",
            ct,
            part("a", &many_fields, "1") + "--XyZ--",
            431,
        ),
        (
            "16 KiB header field",
            ct,
            part("a", &big_field, "1") + "--XyZ--",
            431,
        ),
        ("over max_body_bytes", ct, big, 413),
    ];
    for (name, content_type, body, want) in cases {
        let (status, reused) = post(&srv, content_type, body.as_bytes(), None);
        assert_eq!(status, *want, "{name}");
        // A well-framed request whose content is refused leaves the
        // connection usable (what is left of the body was drained).
        if *want != 413 {
            assert!(reused, "{name}: the connection serves the next request");
        }
        // Chunked, the same answer, limits included: the 413 then comes
        // from the decoder, not from the declared length.
        let (status, _) = post(&srv, content_type, body.as_bytes(), Some(7));
        assert_eq!(status, *want, "{name}, chunked");
    }
}

#[test]
fn body_errors_come_out_with_their_own_status() {
    // Bodies stream to the handler, so the multipart reader meets the
    // body's errors itself.
    let srv = TestServer::with(
        server()
            .threads(4)
            .limits(streaming_limits())
            .timeouts(short_timeouts()),
        |req: &mut Request| summarize(req, MultipartLimits::default()),
    );
    let head = "POST /upload HTTP/1.1\r\nHost: x\r\n\
                Content-Type: multipart/form-data; boundary=XyZ\r\n";
    let start = part("file", "", "some content");

    // Bad chunked framing in the middle of a part: 400 (BadFraming).
    let mut s = srv.connect();
    let wire = format!(
        "{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{start}\r\nzz\r\n",
        start.len()
    );
    s.write_all(wire.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).status, 400);

    // A body that stops arriving: 408 at the body deadline, not a 500.
    let mut s = srv.connect();
    let wire = format!("{head}Content-Length: 10000\r\n\r\n{start}");
    s.write_all(wire.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).status, 408);

    // A body over the server's own limit: 413 (BodyTooLarge).
    let srv = TestServer::with(
        server().threads(2).limits(small_limits()),
        |req: &mut Request| summarize(req, MultipartLimits::default()),
    );
    let body = part("a", "", &"v".repeat(2000)) + "--XyZ--";
    let mut s = srv.connect();
    let wire = format!(
        "{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    s.write_all(wire.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).status, 413);
}

#[test]
fn a_file_part_streams_while_the_upload_is_under_way() {
    // The handler sees the first bytes of a part before the client has
    // sent its end: the client waits for them before sending the rest.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    let srv = TestServer::with(
        server().threads(2).limits(streaming_limits()),
        move |req: &mut Request| -> sockhttp::Result<Response> {
            let mut multipart = req.multipart()?;
            let mut part = multipart.next_part()?.expect("a part");
            let mut first = [0u8; 5];
            part.read_exact(&mut first)?;
            tx.lock().unwrap().send(()).unwrap();
            let rest = part.copy_to(&mut std::io::sink())?;
            drop(part);
            assert!(multipart.next_part()?.is_none());
            Ok(Response::text(format!(
                "{} {rest}",
                String::from_utf8_lossy(&first)
            )))
        },
    );
    let mut s = srv.connect();
    let first = "--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\nhello";
    let rest = " world\r\n--XyZ--\r\n";
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: {}\r\n\r\n{first}",
        first.len() + rest.len()
    )
    .unwrap();
    rx.recv_timeout(support::FAILSAFE)
        .expect("the handler read the part's first bytes");
    s.write_all(rest.as_bytes()).unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!((reply.status, reply.text()), (200, "hello 6"));
}

/// The committed seeds of the `multipart` fuzz target: whole, byte by
/// byte and at every split, the same events, and memory within bounds.
#[test]
fn multipart_corpus_files_decode_the_same_at_every_split() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/multipart");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/multipart exists") {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for limits in [
            MultipartLimits::default(),
            support::multipart::small_limits(),
        ] {
            let whole = decode_input(&input, &limits, &[input.len().max(1)]);
            assert_eq!(
                whole,
                decode_input(&input, &limits, &[1]),
                "{name}: byte by byte"
            );
            for cut in 1..input.len() {
                let got = decode_input(&input, &limits, &[cut, input.len()]);
                assert_eq!(whole, got, "{name}: cut at {cut}");
            }
            if limits == MultipartLimits::default() {
                let done = matches!(whole, Outcome::Done { .. });
                assert_eq!(done, name.starts_with("valid_"), "{name}: {whole:?}");
            }
        }
        seen += 1;
    }
    assert!(seen >= 10, "the multipart seeds are committed ({seen})");
}
