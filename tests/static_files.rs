//! The `StaticFiles` handler over real loopback sockets: path safety,
//! content types, directories, conditional requests, ranges, HEAD,
//! methods, precompressed files, large files, and a real `curl`.
//!
//! Every test builds its own tree under the system temporary directory
//! (a unique name per test and process, removed on drop), with a secret
//! file *next to* the served root, which no response may ever contain.

mod support;

use sockhttp::{HttpDate, Router, Server, StaticFiles};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use support::{FAILSAFE, Reply, TestServer, curl, read_reply, read_to_end};

/// The content of the file outside the root.
const SECRET: &[u8] = b"TOP-SECRET-7f3a9c-outside-the-root";
/// The modification time given to every fixture file: 2024-01-02
/// 03:04:05 UTC plus 123 ns, so validators are predictable.
const MTIME_SECS: u64 = 1_704_164_645;
const MTIME_LM: &str = "Tue, 02 Jan 2024 03:04:05 GMT";
const HELLO: &[u8] = b"hello, world\n";

fn mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(MTIME_SECS, 123)
}

/// The 1000-byte file used for ranges: byte i is `i % 251`.
fn data_bytes() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

/// Tree is a temporary directory holding `site/` (the root) and
/// `outside/secret.txt`; it is removed on drop.
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base =
            std::env::temp_dir().join(format!("sockhttp-static-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("site")).unwrap();
        let tree = Tree { base };
        tree.write_outside("outside/secret.txt", SECRET);
        tree
    }

    fn root(&self) -> PathBuf {
        self.base.join("site")
    }

    fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }

    /// Writes `rel` under the root, with the fixed modification time.
    fn write(&self, rel: &str, content: &[u8]) {
        let p = self.root().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut f = File::create(&p).unwrap();
        f.write_all(content).unwrap();
        f.set_modified(mtime()).unwrap();
    }

    fn write_outside(&self, rel: &str, content: &[u8]) {
        let p = self.base.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    #[cfg(unix)]
    fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.root().join(rel)).unwrap();
    }

    /// The standard site: files of several kinds, a directory with an
    /// index, one without, hidden files, `.well-known`, and (on Unix)
    /// symbolic links inside and out.
    fn standard(tag: &str) -> Tree {
        let t = Tree::new(tag);
        t.write("hello.txt", HELLO);
        t.write("data.bin", &data_bytes());
        t.write("empty.txt", b"");
        t.write("sub/index.html", b"<h1>sub</h1>\n");
        t.write("sub/deeper/leaf.txt", b"leaf\n");
        t.write("docs/b.txt", b"bbb");
        t.write("docs/a.txt", b"a");
        t.write("docs/space & ampersand.txt", b"spaced\n");
        t.write("docs/café.txt", b"caf\xc3\xa9\n");
        t.write("docs/<b>.txt", b"markup\n");
        t.write("docs/zdir/x.txt", b"x");
        t.write("docs/.hidden", b"hidden\n");
        t.write(".env", b"PASSWORD=hunter2\n");
        t.write(".git/config", b"[core]\n");
        t.write(
            ".well-known/security.txt",
            b"Contact: mailto:x@example.com\n",
        );
        #[cfg(unix)]
        {
            t.symlink(t.outside().join("secret.txt"), "link_out");
            t.symlink(t.outside(), "link_dir_out");
            t.symlink("hello.txt", "link_in");
            t.symlink(".env", "link_hidden");
            t.symlink("../outside/secret.txt", "docs/relative_out");
            t.symlink("../../outside", "docs/escape_dir");
            // Two hops, each inside, the end outside.
            t.symlink("../link_dir_out", "docs/hop");
            t.symlink("docs/hop", "hop_start");
        }
        t
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// Sends one request with `extra` header lines on a new connection and
/// reads the reply.
fn request(addr: SocketAddr, method: &str, target: &str, extra: &[(&str, &str)]) -> Reply {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(FAILSAFE)).unwrap();
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n");
    for (n, v) in extra {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    read_reply(&mut s, method == "HEAD")
}

fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, &[])
}

fn body_text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Headers except `Date`, which may differ between two responses.
fn headers_without_date(r: &Reply) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| n != "date")
        .cloned()
        .collect()
}

#[test]
fn file_is_served_with_type_length_validators_and_nosniff() {
    let t = Tree::standard("file");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let r = get(srv.addr(), "/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("last-modified"), Some(MTIME_LM));
    let want_etag = format!("\"d-{:x}\"", u128::from(MTIME_SECS) * 1_000_000_000 + 123);
    assert_eq!(r.header("etag"), Some(want_etag.as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("cache-control"),
        None,
        "no Cache-Control unless configured"
    );
    assert_eq!(r.header("transfer-encoding"), None);

    let r = get(srv.addr(), "/empty.txt");
    assert_eq!((r.status, r.header("content-length")), (200, Some("0")));
}

#[test]
fn names_that_need_decoding_are_served() {
    let t = Tree::standard("decode");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let r = get(srv.addr(), "/docs/space%20%26%20ampersand.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"spaced\n"[..]));
    let r = get(srv.addr(), "/docs/caf%C3%A9.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, "café\n".as_bytes()));
    let r = get(srv.addr(), "/docs/%3Cb%3E.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"markup\n"[..]));
}

#[test]
fn content_type_follows_the_extension() {
    let cases: &[(&str, &str)] = &[
        ("a.html", "text/html; charset=utf-8"),
        ("a.htm", "text/html; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.mjs", "text/javascript; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.svg", "image/svg+xml"),
        ("a.png", "image/png"),
        ("a.jpg", "image/jpeg"),
        ("a.JPEG", "image/jpeg"),
        ("a.gif", "image/gif"),
        ("a.webp", "image/webp"),
        ("a.avif", "image/avif"),
        ("a.ico", "image/x-icon"),
        ("a.woff", "font/woff"),
        ("a.woff2", "font/woff2"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.md", "text/markdown; charset=utf-8"),
        ("a.xml", "text/xml; charset=utf-8"),
        ("a.pdf", "application/pdf"),
        ("a.wasm", "application/wasm"),
        ("a.mp4", "video/mp4"),
        ("a.webm", "video/webm"),
        ("a.mp3", "audio/mpeg"),
        ("Makefile", "application/octet-stream"),
        ("a.unknown", "application/octet-stream"),
    ];
    let t = Tree::new("types");
    for (name, _) in cases {
        t.write(name, b"x");
    }
    let srv = TestServer::start(StaticFiles::new(t.root()));
    for (name, want) in cases {
        let r = request(srv.addr(), "HEAD", &format!("/{name}"), &[]);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.header("content-type"),
            Some(*want),
            "Content-Type of {name}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
    }
}

/// Hostile paths, each sent at the root and under a mount; none may
/// produce anything but 400 or 404, and no response may contain the
/// secret that lies next to the root.
#[test]
fn traversal_table_never_leaks_the_outside_file() {
    let t = Tree::standard("traversal");
    let outside_abs = t.outside().join("secret.txt");
    let outside_abs = outside_abs
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    let mut paths: Vec<String> = [
        "/../outside/secret.txt",
        "/../../../../../../../../etc/passwd",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/%2e./outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/..%2Foutside/secret.txt",
        "/%2e%2e%2foutside%2fsecret.txt",
        "/%252e%252e/outside/secret.txt",
        "/%252e%252e%252foutside%252fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/%2e%2e%5c%2e%2e%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/docs\\..\\..\\outside/secret.txt",
        "/docs/../../outside/secret.txt",
        "/docs/..%2f..%2foutside/secret.txt",
        "/docs/./../../outside/secret.txt",
        "/%c0%ae%c0%ae/outside/secret.txt",
        "/..%c0%afoutside%c0%afsecret.txt",
        "/%e0%80%ae%e0%80%ae/outside/secret.txt",
        "/hello.txt%00/../../outside/secret.txt",
        "/%00../outside/secret.txt",
        "//../outside/secret.txt",
        "//etc/passwd",
        "/C:/outside/secret.txt",
        "/c:%5coutside%5csecret.txt",
        "/..;/outside/secret.txt",
        "/.../outside/secret.txt",
        "/%u002e%u002e/outside/secret.txt",
        "/%2e%2e%252foutside/secret.txt",
        "/link_out",
        "/link_dir_out/secret.txt",
        "/link_dir_out/",
        "/link_dir_out",
        "/docs/relative_out",
        "/link_hidden",
        "/.env",
        "/.git/config",
        "/docs/.hidden",
        "/%2eenv",
        "/docs/escape_dir/secret.txt",
        "/docs/escape_dir/",
        "/hop_start/secret.txt",
        "/docs/hop/secret.txt",
        "/link_out/",
        "/link_dir_out%2fsecret.txt",
        "/docs/%2e%2e/%2e%2e/outside/secret.txt",
        "/docs/%2E%2e%2F%2e%2E%2Foutside%2Fsecret.txt",
        "/..%252f..%252foutside%252fsecret.txt",
        "/%%32%65%%32%65/outside/secret.txt",
        "/%25%32%65%25%32%65/outside/secret.txt",
        "/%ef%bc%8e%ef%bc%8e/outside/secret.txt",
        "/..%ef%bc%8foutside%ef%bc%8fsecret.txt",
        "/....//outside/secret.txt",
        "/.%00./outside/secret.txt",
        "/%2e%2e%00/outside/secret.txt",
        "/%c0%2e%c0%2e/outside/secret.txt",
        "/%5c%5c..%5c..%5coutside%5csecret.txt",
        "/sub/..\\..\\outside\\secret.txt",
        "/./outside/secret.txt",
        "/C%3A/outside/secret.txt",
        "/%43:%5coutside",
        "/.well-known/../../outside/secret.txt",
        "/.well-known/%2e%2e/%2e%2e/outside/secret.txt",
        "/.well-known/..%2f..%2foutside/secret.txt",
        "/hello.txt/../../outside/secret.txt",
        "/hello.txt/%2e%2e/%2e%2e/outside/secret.txt",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // An absolute path to the secret, after the leading slash.
    paths.push(format!("//{outside_abs}"));
    paths.push(format!("/%2F{outside_abs}"));
    assert!(paths.len() >= 60);

    let app = Router::new()
        .mount("/assets", StaticFiles::new(t.root()).listing(true))
        .fallback(StaticFiles::new(t.root()).listing(true));
    let srv = TestServer::start(app);
    // Each path in origin-form and in absolute-form, at the root and
    // under the mount.
    let targets = ["", "/assets", "http://x", "http://x/assets"];
    for prefix in targets {
        for p in &paths {
            let target = format!("{prefix}{p}");
            let raw = srv.exchange(
                format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            let text = String::from_utf8_lossy(&raw);
            assert!(
                support::find(&raw, SECRET).is_none(),
                "{target}: the secret leaked: {text}"
            );
            assert!(
                !text.contains("hunter2"),
                "{target}: a dotfile leaked: {text}"
            );
            let status = text.get(9..12).unwrap_or("");
            assert!(
                status == "400" || status == "404",
                "{target}: want 400 or 404, got {:?}",
                text.lines().next()
            );
        }
    }
    // A listing never shows what it would refuse to serve.
    let r = get(srv.addr(), "/");
    assert_eq!(r.status, 200);
    let html = body_text(&r);
    for hidden in [
        "link_out",
        "link_dir_out",
        "link_hidden",
        ".env",
        ".git",
        "secret",
    ] {
        assert!(
            !html.contains(hidden),
            "root listing shows {hidden}: {html}"
        );
    }
    assert!(html.contains("href=\".well-known/\""), "{html}");
    assert!(html.contains("href=\"link_in\""), "{html}");
}

#[cfg(unix)]
#[test]
fn symlinks_inside_the_root_are_followed() {
    let t = Tree::standard("symlink-in");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let r = get(srv.addr(), "/link_in");
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
}

#[test]
fn dotfiles_are_refused_except_well_known() {
    let t = Tree::standard("dotfiles");
    let srv = TestServer::start(StaticFiles::new(t.root()).listing(true));
    for p in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/docs/.hidden",
        "/.well-known/.x",
        "/sub/.well-known/x",
    ] {
        assert_eq!(get(srv.addr(), p).status, 404, "{p}");
    }
    let r = get(srv.addr(), "/.well-known/security.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"Contact: mailto:x@example.com\n");
    let listing = body_text(&get(srv.addr(), "/docs/"));
    assert!(!listing.contains(".hidden"), "{listing}");
}

#[test]
fn bad_paths_do_not_close_the_connection() {
    let t = Tree::standard("bad-keepalive");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let mut s = srv.connect();
    s.write_all(
        b"GET /..%2f HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, r.header("connection")), (400, None));
    let r = read_reply(&mut s, false);
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
}

#[test]
fn directories_index_redirect_and_no_listing_by_default() {
    let t = Tree::standard("dirs");
    let app = Router::new()
        .mount("/assets", StaticFiles::new(t.root()))
        .fallback(StaticFiles::new(t.root()));
    let srv = TestServer::start(app);
    let redirects: &[(&str, &str)] = &[
        ("/sub", "/sub/"),
        ("/sub?x=1&y=%20", "/sub/?x=1&y=%20"),
        ("/sub/deeper", "/sub/deeper/"),
        ("//sub", "/sub/"),
        ("/docs", "/docs/"),
        ("/assets", "/assets/"),
        ("/assets?q=1", "/assets/?q=1"),
        ("/assets/sub", "/assets/sub/"),
        ("/assets//sub", "/assets/sub/"),
        ("/assets/sub/deeper?a", "/assets/sub/deeper/?a"),
    ];
    for (target, want) in redirects {
        let r = get(srv.addr(), target);
        assert_eq!(r.status, 301, "{target}");
        assert_eq!(r.header("location"), Some(*want), "Location for {target}");
    }
    for target in ["/sub/", "/assets/sub/", "/sub/index.html"] {
        let r = get(srv.addr(), target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.body, b"<h1>sub</h1>\n", "{target}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{target}"
        );
        assert!(r.header("etag").is_some(), "{target}");
    }
    // No index and listings off: 404, as for a file that is not there.
    for target in [
        "/docs/",
        "/",
        "/assets/",
        "/sub/deeper/",
        "/nope",
        "/hello.txt/",
    ] {
        assert_eq!(get(srv.addr(), target).status, 404, "{target}");
    }
}

#[test]
fn a_directory_named_like_a_file_and_an_index_html_directory() {
    let t = Tree::new("dir-names");
    t.write("x.html/index.html", b"<p>inside x.html</p>");
    t.write("y/index.html/not-an-index.txt", b"nope");
    t.write("z/index.htm", b"only .html is an index");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let r = get(srv.addr(), "/x.html");
    assert_eq!((r.status, r.header("location")), (301, Some("/x.html/")));
    let r = get(srv.addr(), "/x.html/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<p>inside x.html</p>");
    // `index.html` that is a directory is no index: the directory has
    // none, and listings are off.
    assert_eq!(get(srv.addr(), "/y/").status, 404);
    assert_eq!(get(srv.addr(), "/y/index.html").status, 301);
    assert_eq!(get(srv.addr(), "/z/").status, 404);

    let listing = TestServer::start(StaticFiles::new(t.root()).listing(true));
    let r = get(listing.addr(), "/y/");
    assert_eq!(r.status, 200);
    assert!(
        body_text(&r).contains("<a href=\"index.html/\">index.html/</a>"),
        "{}",
        body_text(&r)
    );
}

#[test]
fn the_query_string_is_not_part_of_the_file_name() {
    let t = Tree::standard("query");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    for target in [
        "/hello.txt?",
        "/hello.txt?x=1",
        "/hello.txt?../../outside/secret.txt",
        "/hello.txt?%2e%2e%2f",
        "/hello.txt?/etc/passwd",
    ] {
        let r = get(srv.addr(), target);
        assert_eq!((r.status, r.body.as_slice()), (200, HELLO), "{target}");
    }
    let r = get(srv.addr(), "/hello.txt%3Fx=1");
    assert_eq!(r.status, 404, "an encoded `?` is part of the name");
}

/// On Linux, where `ENAMETOOLONG` is told apart (elsewhere it is a 500).
#[cfg(target_os = "linux")]
#[test]
fn names_too_long_for_the_file_system_are_404() {
    let t = Tree::standard("long");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let long_name = format!("/{}", "a".repeat(300));
    let long_path = "/abcdefgh".repeat(600);
    for target in [long_name.as_str(), long_path.as_str()] {
        let r = get(srv.addr(), target);
        assert!(
            r.status == 404 || r.status == 414,
            "{} bytes: got {}",
            target.len(),
            r.status
        );
    }
    assert_eq!(get(srv.addr(), &long_name).status, 404);
}

/// On Linux, where `ELOOP` is told apart (elsewhere it is a 500).
#[cfg(target_os = "linux")]
#[test]
fn a_symlink_loop_is_404_and_the_listing_leaves_it_out() {
    let t = Tree::standard("loop");
    t.write("loops/ok.txt", b"ok");
    t.symlink("b", "loops/a");
    t.symlink("a", "loops/b");
    t.symlink("self", "loops/self");
    let srv = TestServer::start(StaticFiles::new(t.root()).listing(true));
    for target in ["/loops/a", "/loops/b/", "/loops/self/x", "/loops/self"] {
        assert_eq!(get(srv.addr(), target).status, 404, "{target}");
    }
    let html = body_text(&get(srv.addr(), "/loops/"));
    assert!(html.contains("href=\"ok.txt\""), "{html}");
    for name in ["\"a\"", "\"b\"", "\"self\""] {
        assert!(!html.contains(&format!("href={name}")), "{html}");
    }
}

/// A FIFO would block the worker in `open` until a writer came: the
/// handler looks before it opens, and answers 404.
#[cfg(unix)]
#[test]
fn a_fifo_in_the_root_is_404_and_never_opened() {
    let t = Tree::standard("fifo");
    fs::create_dir_all(t.root().join("pipes")).unwrap();
    let fifo = t.root().join("pipes/fifo.txt");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            println!("skipped: mkfifo is not available");
            return;
        }
    }
    std::os::unix::fs::symlink("fifo.txt", t.root().join("pipes/link.txt")).unwrap();
    t.write("pipes/fifo.txt.gz", b"gz");
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0").unwrap().threads(1),
        StaticFiles::new(t.root())
            .listing(true)
            .precompressed_gzip(true),
    );
    for target in ["/pipes/fifo.txt", "/pipes/link.txt", "/pipes/fifo.txt/"] {
        let r = request(srv.addr(), "GET", target, &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.status, 404, "{target}");
    }
    let html = body_text(&get(srv.addr(), "/pipes/"));
    assert!(!html.contains("href=\"fifo.txt\""), "{html}");
    // The only worker is free.
    assert_eq!(get(srv.addr(), "/hello.txt").body, HELLO);
}

/// Every link of a listing leads to its entry: names with characters
/// that are markup, URL syntax or not ASCII round-trip through the href.
/// Names no request can reach are not listed.
#[test]
fn every_listing_link_leads_to_its_entry() {
    let t = Tree::new("links");
    let names = [
        "a#b?.txt",
        "it's \"quoted\".txt",
        "100%.txt",
        "x+y=z&w;v.txt",
        "<script>alert(1)<script>.txt",
        "ünï cödé.txt",
        "日本語.txt",
        "javascript:alert(1)",
        "tab\tname.txt",
        "sub dir",
    ];
    for (i, name) in names.iter().enumerate() {
        if *name == "sub dir" {
            t.write("d/sub dir/inner.txt", b"inner");
        } else {
            t.write(&format!("d/{name}"), format!("file {i}").as_bytes());
        }
    }
    #[cfg(unix)]
    {
        t.write("d/back\\slash.txt", b"unreachable");
        t.write("d/C:drive.txt", b"unreachable");
    }
    let srv = TestServer::start(StaticFiles::new(t.root()).listing(true));
    let html = body_text(&get(srv.addr(), "/d/"));
    let hrefs: Vec<&str> = html
        .split("<a href=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .filter(|h| *h != "../")
        .collect();
    assert_eq!(hrefs.len(), names.len(), "{html}");
    for href in &hrefs {
        assert!(
            href.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b)),
            "an href is percent-encoded: {href}"
        );
        let r = get(srv.addr(), &format!("/d/{href}"));
        assert_eq!(r.status, 200, "{href}");
        if let Some(dir) = href.strip_suffix('/') {
            assert!(body_text(&r).contains("inner.txt"), "{dir}");
        } else {
            assert!(r.body.starts_with(b"file "), "{href}");
        }
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;script&gt;.txt"));
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("it&#39;s &quot;quoted&quot;.txt"), "{html}");
    assert!(html.contains(">日本語.txt<"), "{html}");
    assert!(!html.contains("slash.txt") && !html.contains("drive.txt"));
}

#[test]
fn listing_is_escaped_encoded_sorted_and_sized() {
    let t = Tree::standard("listing");
    let app = Router::new()
        .mount("/assets", StaticFiles::new(t.root()).listing(true))
        .fallback(StaticFiles::new(t.root()).listing(true));
    let srv = TestServer::start(app);
    let r = get(srv.addr(), "/docs/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let html = body_text(&r);
    assert!(html.contains("<title>Index of /docs/</title>"), "{html}");
    assert!(html.contains("<a href=\"../\">../</a>"), "{html}");
    let rows = [
        "<a href=\"zdir/\">zdir/</a></td><td class=\"size\">-</td>",
        "<a href=\"%3Cb%3E.txt\">&lt;b&gt;.txt</a></td><td class=\"size\">7</td>",
        "<a href=\"a.txt\">a.txt</a></td><td class=\"size\">1</td>",
        "<a href=\"b.txt\">b.txt</a></td><td class=\"size\">3</td>",
        "<a href=\"caf%C3%A9.txt\">café.txt</a></td><td class=\"size\">6</td>",
        "<a href=\"space%20%26%20ampersand.txt\">space &amp; ampersand.txt</a></td><td class=\"size\">7</td>",
    ];
    let mut at = 0;
    for row in rows {
        let i = html[at..]
            .find(row)
            .unwrap_or_else(|| panic!("row {row} missing or out of order in {html}"));
        at += i + row.len();
    }
    assert!(html.contains(&format!("<td>{MTIME_LM}</td>")), "{html}");
    assert!(!html.contains("<b>.txt"), "a name was not escaped: {html}");

    let head = request(srv.addr(), "HEAD", "/docs/", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), r.header("content-length"));

    let r = get(srv.addr(), "/assets/docs/");
    assert!(body_text(&r).contains("<title>Index of /assets/docs/</title>"));
    let root = body_text(&get(srv.addr(), "/"));
    assert!(
        !root.contains("href=\"../\""),
        "the root has no parent link: {root}"
    );
    // An index page wins over the listing.
    assert_eq!(get(srv.addr(), "/sub/").body, b"<h1>sub</h1>\n");
}

#[test]
fn head_has_the_same_headers_as_get_and_no_body() {
    let t = Tree::standard("head");
    let srv = TestServer::start(StaticFiles::new(t.root()).cache_control(Some("max-age=60")));
    for target in [
        "/hello.txt",
        "/data.bin",
        "/sub/",
        "/sub",
        "/missing",
        "/.env",
    ] {
        let g = get(srv.addr(), target);
        let h = request(srv.addr(), "HEAD", target, &[]);
        assert_eq!(g.status, h.status, "{target}");
        assert_eq!(
            headers_without_date(&g),
            headers_without_date(&h),
            "{target}"
        );
        assert!(h.body.is_empty());
    }
    // The same holds for 304 and 412.
    let etag = get(srv.addr(), "/hello.txt")
        .header("etag")
        .unwrap()
        .to_owned();
    for (field, value, status) in [
        ("If-None-Match", etag.as_str(), 304),
        ("If-Modified-Since", MTIME_LM, 304),
        ("If-Match", "\"other\"", 412),
    ] {
        let g = request(srv.addr(), "GET", "/hello.txt", &[(field, value)]);
        let h = request(srv.addr(), "HEAD", "/hello.txt", &[(field, value)]);
        assert_eq!((g.status, h.status), (status, status), "{field}");
        assert_eq!(
            headers_without_date(&g),
            headers_without_date(&h),
            "{field}"
        );
    }
    // The head reply is complete: a second request on the same
    // connection is answered normally.
    let mut s = srv.connect();
    s.write_all(
        b"HEAD /data.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let h = read_reply(&mut s, true);
    assert_eq!((h.status, h.header("content-length")), (200, Some("1000")));
    let g = read_reply(&mut s, false);
    assert_eq!(g.body, HELLO);
}

#[test]
fn other_methods_get_405_with_allow() {
    let t = Tree::standard("methods");
    let app = Router::new().mount("/assets", StaticFiles::new(t.root()));
    let srv = TestServer::start(app);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"] {
        for target in ["/assets/hello.txt", "/assets/missing", "/assets/../x"] {
            let r = request(srv.addr(), method, target, &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{method} {target}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {target}");
        }
    }
}

/// One row of the conditional table: request fields, and the status and
/// body the reply must have.
struct CondCase {
    name: &'static str,
    method: &'static str,
    fields: Vec<(&'static str, String)>,
    status: u16,
}

#[test]
fn conditional_requests_table() {
    let t = Tree::standard("conditional");
    let srv =
        TestServer::start(StaticFiles::new(t.root()).cache_control(Some("public, max-age=60")));
    let first = get(srv.addr(), "/hello.txt");
    let etag = first.header("etag").unwrap().to_owned();
    let lm = HttpDate::parse(first.header("last-modified").unwrap()).unwrap();
    let date = |delta: i64| {
        HttpDate::from_unix_secs(lm.unix_secs().checked_add_signed(delta).unwrap()).to_string()
    };
    let weak = format!("W/{etag}");
    let case = |name, method, fields: &[(&'static str, &str)], status| CondCase {
        name,
        method,
        fields: fields.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        status,
    };
    let list = format!("\"other\", {etag}");
    let weak_list = format!("W/\"other\", {weak}");
    let weak_and_strong = format!("{weak}, {etag}");
    let unquoted = etag.trim_matches('"');
    let cases = vec![
        case("no condition", "GET", &[], 200),
        case(
            "If-None-Match current",
            "GET",
            &[("If-None-Match", &etag)],
            304,
        ),
        case(
            "If-None-Match weak form",
            "GET",
            &[("If-None-Match", &weak)],
            304,
        ),
        case(
            "If-None-Match list",
            "GET",
            &[("If-None-Match", &list)],
            304,
        ),
        case("If-None-Match star", "GET", &[("If-None-Match", "*")], 304),
        case(
            "If-None-Match other",
            "GET",
            &[("If-None-Match", "\"other\"")],
            200,
        ),
        case(
            "If-None-Match on HEAD",
            "HEAD",
            &[("If-None-Match", &etag)],
            304,
        ),
        case(
            "If-Modified-Since exact",
            "GET",
            &[("If-Modified-Since", &date(0))],
            304,
        ),
        case(
            "If-Modified-Since later",
            "GET",
            &[("If-Modified-Since", &date(3600))],
            304,
        ),
        case(
            "If-Modified-Since earlier",
            "GET",
            &[("If-Modified-Since", &date(-1))],
            200,
        ),
        case(
            "If-Modified-Since invalid",
            "GET",
            &[("If-Modified-Since", "yesterday")],
            200,
        ),
        case(
            "If-None-Match wins over If-Modified-Since",
            "GET",
            &[
                ("If-None-Match", "\"other\""),
                ("If-Modified-Since", &date(3600)),
            ],
            200,
        ),
        case("If-Match current", "GET", &[("If-Match", &etag)], 200),
        case("If-Match star", "GET", &[("If-Match", "*")], 200),
        case("If-Match list", "GET", &[("If-Match", &list)], 200),
        case("If-Match other", "GET", &[("If-Match", "\"other\"")], 412),
        case(
            "If-Match weak never matches",
            "GET",
            &[("If-Match", &weak)],
            412,
        ),
        case(
            "If-Unmodified-Since earlier",
            "GET",
            &[("If-Unmodified-Since", &date(-1))],
            412,
        ),
        case(
            "If-Unmodified-Since exact",
            "GET",
            &[("If-Unmodified-Since", &date(0))],
            200,
        ),
        case(
            "If-Unmodified-Since invalid",
            "GET",
            &[("If-Unmodified-Since", "soon")],
            200,
        ),
        case(
            "If-Match holds, If-Unmodified-Since ignored",
            "GET",
            &[("If-Match", &etag), ("If-Unmodified-Since", &date(-1))],
            200,
        ),
        case(
            "If-Match fails before If-None-Match",
            "GET",
            &[("If-Match", "\"other\""), ("If-None-Match", &etag)],
            412,
        ),
        case(
            "If-Unmodified-Since fails before If-None-Match",
            "GET",
            &[("If-Unmodified-Since", &date(-1)), ("If-None-Match", &etag)],
            412,
        ),
        case(
            "If-Modified-Since in the obsolete RFC 850 form",
            "GET",
            &[("If-Modified-Since", "Tuesday, 02-Jan-24 03:04:05 GMT")],
            304,
        ),
        case(
            "If-Modified-Since in the obsolete asctime form",
            "GET",
            &[("If-Modified-Since", "Tue Jan  2 03:04:05 2024")],
            304,
        ),
        case(
            "If-Modified-Since on HEAD",
            "HEAD",
            &[("If-Modified-Since", &date(0))],
            304,
        ),
        case(
            "If-Modified-Since twice is ignored",
            "GET",
            &[
                ("If-Modified-Since", &date(0)),
                ("If-Modified-Since", &date(0)),
            ],
            200,
        ),
        case(
            "If-None-Match weak list",
            "GET",
            &[("If-None-Match", &weak_list)],
            304,
        ),
        case(
            "If-None-Match across two field lines",
            "GET",
            &[("If-None-Match", "\"other\""), ("If-None-Match", &etag)],
            304,
        ),
        case(
            "If-None-Match unquoted never matches",
            "GET",
            &[("If-None-Match", unquoted)],
            200,
        ),
        case(
            "If-None-Match other on HEAD",
            "HEAD",
            &[("If-None-Match", "\"other\"")],
            200,
        ),
        case(
            "If-None-Match star wins over an old If-Modified-Since",
            "GET",
            &[("If-None-Match", "*"), ("If-Modified-Since", &date(-3600))],
            304,
        ),
        case(
            "If-Match weak and strong: the strong one matches",
            "GET",
            &[("If-Match", &weak_and_strong)],
            200,
        ),
        case("If-Match star on HEAD", "HEAD", &[("If-Match", "*")], 200),
        case(
            "If-Match other on HEAD",
            "HEAD",
            &[("If-Match", "\"other\"")],
            412,
        ),
        case(
            "If-Unmodified-Since later",
            "GET",
            &[("If-Unmodified-Since", &date(3600))],
            200,
        ),
        case(
            "If-Unmodified-Since in the obsolete RFC 850 form",
            "GET",
            &[("If-Unmodified-Since", "Tuesday, 02-Jan-24 03:04:04 GMT")],
            412,
        ),
        case(
            "If-Match holds, then If-None-Match gives 304",
            "GET",
            &[("If-Match", &etag), ("If-None-Match", &etag)],
            304,
        ),
        case(
            "If-Match holds, If-Modified-Since later gives 304",
            "GET",
            &[("If-Match", "*"), ("If-Modified-Since", &date(0))],
            304,
        ),
        case(
            "304 wins over Range",
            "GET",
            &[("If-None-Match", &etag), ("Range", "bytes=0-1")],
            304,
        ),
        case(
            "412 wins over Range",
            "GET",
            &[("If-Match", "\"other\""), ("Range", "bytes=0-1")],
            412,
        ),
    ];
    for c in &cases {
        let fields: Vec<(&str, &str)> = c.fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = request(srv.addr(), c.method, "/hello.txt", &fields);
        assert_eq!(
            r.status, c.status,
            "{}: {} with {:?}",
            c.name, c.method, c.fields
        );
        match r.status {
            304 => {
                assert!(r.body.is_empty(), "{}", c.name);
                assert_eq!(
                    r.header("etag"),
                    Some(etag.as_str()),
                    "{}: a 304 keeps the ETag",
                    c.name
                );
                assert_eq!(
                    r.header("cache-control"),
                    Some("public, max-age=60"),
                    "{}",
                    c.name
                );
                assert_eq!(r.header("content-length"), None, "{}", c.name);
                assert_eq!(r.header("content-type"), None, "{}", c.name);
                assert_eq!(r.header("content-range"), None, "{}", c.name);
                // As Go's ServeContent: with an ETag, Last-Modified adds
                // nothing a cache needs (RFC 9110 §15.4.5).
                assert_eq!(r.header("last-modified"), None, "{}", c.name);
                assert_eq!(
                    r.header("x-content-type-options"),
                    Some("nosniff"),
                    "{}",
                    c.name
                );
            }
            412 => assert_eq!(r.header("content-range"), None, "{}", c.name),
            200 if c.method == "GET" => assert_eq!(r.body, HELLO, "{}", c.name),
            _ => {}
        }
    }
    // A 304 on a kept-alive connection leaves the stream framed.
    let mut s = srv.connect();
    let raw = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    s.write_all(raw.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s, false).status, 304);
    assert_eq!(read_reply(&mut s, false).body, HELLO);
}

/// One row of the range table.
struct RangeCase {
    name: &'static str,
    method: &'static str,
    fields: Vec<(&'static str, String)>,
    status: u16,
    /// The bytes of the file the body must be (for 200 and 206).
    span: Option<std::ops::Range<usize>>,
    content_range: Option<&'static str>,
}

#[test]
fn range_requests_table() {
    let t = Tree::standard("range");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let data = data_bytes();
    let first = get(srv.addr(), "/data.bin");
    let etag = first.header("etag").unwrap().to_owned();
    let lm = first.header("last-modified").unwrap().to_owned();
    let later = HttpDate::from_unix_secs(HttpDate::parse(&lm).unwrap().unix_secs() + 1).to_string();
    let row =
        |name, method, fields: &[(&'static str, &str)], status, span, content_range| RangeCase {
            name,
            method,
            fields: fields.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
            status,
            span,
            content_range,
        };
    let earlier =
        HttpDate::from_unix_secs(HttpDate::parse(&lm).unwrap().unix_secs() - 1).to_string();
    // 65 one-byte ranges, disjoint and in order: only their number is
    // too many.
    let too_many: Vec<String> = (0..65).map(|i| format!("{0}-{0}", 2 * i)).collect();
    let too_many = format!("bytes={}", too_many.join(","));
    let descending: Vec<String> = (0..10).rev().map(|i| format!("{i}0-{i}0")).collect();
    let descending = format!("bytes={}", descending.join(","));
    let weak = format!("W/{etag}");
    let cases = vec![
        row(
            "first 100",
            "GET",
            &[("Range", "bytes=0-99")],
            206,
            Some(0..100),
            Some("bytes 0-99/1000"),
        ),
        row(
            "from 100",
            "GET",
            &[("Range", "bytes=100-")],
            206,
            Some(100..1000),
            Some("bytes 100-999/1000"),
        ),
        row(
            "last 500",
            "GET",
            &[("Range", "bytes=-500")],
            206,
            Some(500..1000),
            Some("bytes 500-999/1000"),
        ),
        row(
            "suffix longer than file",
            "GET",
            &[("Range", "bytes=-5000")],
            206,
            Some(0..1000),
            Some("bytes 0-999/1000"),
        ),
        row(
            "last byte",
            "GET",
            &[("Range", "bytes=999-999")],
            206,
            Some(999..1000),
            Some("bytes 999-999/1000"),
        ),
        row(
            "end clamped",
            "GET",
            &[("Range", "bytes=990-5000")],
            206,
            Some(990..1000),
            Some("bytes 990-999/1000"),
        ),
        row(
            "start past end",
            "GET",
            &[("Range", "bytes=1000-")],
            416,
            None,
            Some("bytes */1000"),
        ),
        row(
            "zero suffix",
            "GET",
            &[("Range", "bytes=-0")],
            416,
            None,
            Some("bytes */1000"),
        ),
        row(
            "invalid: last < first",
            "GET",
            &[("Range", "bytes=5-4")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "invalid: garbage",
            "GET",
            &[("Range", "bytes=x-y")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "other unit",
            "GET",
            &[("Range", "items=0-9")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "ranges adding up past the file: whole file",
            "GET",
            &[("Range", "bytes=0-599,400-999")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "three overlapping ranges: whole file",
            "GET",
            &[("Range", "bytes=0-9,5-14,100-109,105-114")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "many descending ranges: whole file",
            "GET",
            &[("Range", &descending)],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "one overlap among disjoint ranges, merged into one part",
            "GET",
            &[("Range", "bytes=0-9,5-14")],
            206,
            Some(0..15),
            Some("bytes 0-14/1000"),
        ),
        row(
            "adjacent ranges merged",
            "GET",
            &[("Range", "bytes=0-9,10-19")],
            206,
            Some(0..20),
            Some("bytes 0-19/1000"),
        ),
        row(
            "overlapping ranges merged",
            "GET",
            &[("Range", "bytes=20-29, 0-24")],
            206,
            Some(0..30),
            Some("bytes 0-29/1000"),
        ),
        row(
            "unsatisfiable member dropped",
            "GET",
            &[("Range", "bytes=2000-,0-9")],
            206,
            Some(0..10),
            Some("bytes 0-9/1000"),
        ),
        row(
            "If-Range current ETag",
            "GET",
            &[("Range", "bytes=0-9"), ("If-Range", &etag)],
            206,
            Some(0..10),
            Some("bytes 0-9/1000"),
        ),
        row(
            "If-Range other ETag",
            "GET",
            &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "If-Range weak ETag",
            "GET",
            &[("Range", "bytes=0-9"), ("If-Range", &weak)],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "If-Range exact date",
            "GET",
            &[("Range", "bytes=0-9"), ("If-Range", &lm)],
            206,
            Some(0..10),
            Some("bytes 0-9/1000"),
        ),
        row(
            "If-Range other date",
            "GET",
            &[("Range", "bytes=0-9"), ("If-Range", &later)],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "If-Range without Range",
            "GET",
            &[("If-Range", &etag)],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "first byte only",
            "GET",
            &[("Range", "bytes=0-0")],
            206,
            Some(0..1),
            Some("bytes 0-0/1000"),
        ),
        row(
            "unit is case-insensitive, empty elements allowed",
            "GET",
            &[("Range", "BYTES=0-9,")],
            206,
            Some(0..10),
            Some("bytes 0-9/1000"),
        ),
        row(
            "suffix and open range adding up past the file",
            "GET",
            &[("Range", "bytes=-500,0-")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "zero suffix with a satisfiable range",
            "GET",
            &[("Range", "bytes=-0,10-19")],
            206,
            Some(10..20),
            Some("bytes 10-19/1000"),
        ),
        row(
            "start past end with an end",
            "GET",
            &[("Range", "bytes=1000-1000")],
            416,
            None,
            Some("bytes */1000"),
        ),
        row(
            "invalid member spoils the whole set",
            "GET",
            &[("Range", "bytes=0-9,x")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "no unit",
            "GET",
            &[("Range", "0-9")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "two Range fields are ignored",
            "GET",
            &[("Range", "bytes=0-9"), ("Range", "bytes=10-19")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "too many ranges are ignored",
            "GET",
            &[("Range", &too_many)],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "If-Range failing turns a 416 into 200",
            "GET",
            &[("Range", "bytes=5000-"), ("If-Range", "\"other\"")],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "If-Range holding keeps the 416",
            "GET",
            &[("Range", "bytes=5000-"), ("If-Range", &etag)],
            416,
            None,
            Some("bytes */1000"),
        ),
        row(
            "If-Range with the date of an earlier second",
            "GET",
            &[("Range", "bytes=0-9"), ("If-Range", &earlier)],
            200,
            Some(0..1000),
            None,
        ),
        row(
            "HEAD ignores Range",
            "HEAD",
            &[("Range", "bytes=0-9")],
            200,
            None,
            None,
        ),
        row(
            "HEAD ignores several ranges",
            "HEAD",
            &[("Range", "bytes=0-9,20-29")],
            200,
            None,
            None,
        ),
    ];
    for c in &cases {
        let fields: Vec<(&str, &str)> = c.fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = request(srv.addr(), c.method, "/data.bin", &fields);
        assert_eq!(r.status, c.status, "{}: {:?}", c.name, c.fields);
        assert_eq!(
            r.header("content-range"),
            c.content_range,
            "{}: Content-Range",
            c.name
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{}", c.name);
        if let Some(span) = &c.span {
            assert_eq!(r.body, &data[span.clone()], "{}: body", c.name);
            assert_eq!(
                r.header("content-length"),
                Some(span.len().to_string().as_str()),
                "{}",
                c.name
            );
        }
        if c.method == "HEAD" {
            assert_eq!(r.header("content-length"), Some("1000"), "{}", c.name);
        }
    }
}

/// Returns the boundary of a `multipart/byteranges` reply, checking its
/// form: 32 hexadecimal digits.
fn boundary_of(r: &Reply) -> String {
    let ct = r.header("content-type").unwrap_or_default();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("Content-Type {ct:?}"));
    assert!(
        boundary.len() == 32 && boundary.bytes().all(|b| b.is_ascii_hexdigit()),
        "boundary {boundary:?}"
    );
    boundary.to_owned()
}

/// The exact `multipart/byteranges` body of `parts` (byte ranges, in the
/// order sent) of `data`, each with `content_type`, after RFC 9110 §14.6.
fn multipart_body(
    boundary: &str,
    content_type: &str,
    data: &[u8],
    parts: &[std::ops::Range<usize>],
) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let delimiter = if i == 0 { "" } else { "\r\n" };
        out.extend_from_slice(
            format!(
                "{delimiter}--{boundary}\r\nContent-Type: {content_type}\r\n\
                 Content-Range: bytes {}-{}/{}\r\n\r\n",
                part.start,
                part.end - 1,
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&data[part.clone()]);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Asserts that `r` is the multipart answer of `parts` of `data`.
fn assert_multipart(
    name: &str,
    r: &Reply,
    content_type: &str,
    data: &[u8],
    parts: &[std::ops::Range<usize>],
) {
    assert_eq!(r.status_line(), "HTTP/1.1 206 Partial Content", "{name}");
    let want = multipart_body(&boundary_of(r), content_type, data, parts);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(&want),
        "{name}: body"
    );
    assert_eq!(
        r.header("content-length"),
        Some(want.len().to_string().as_str()),
        "{name}"
    );
    // The ranges are in the parts; the answer as a whole has none.
    assert_eq!(r.header("content-range"), None, "{name}");
    assert_eq!(r.header("accept-ranges"), Some("bytes"), "{name}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{name}"
    );
    assert!(r.header("etag").is_some(), "{name}");
    assert_eq!(r.header("last-modified"), Some(MTIME_LM), "{name}");
}

#[test]
fn several_ranges_get_a_multipart_answer_byte_for_byte() {
    let t = Tree::standard("multipart");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let data = data_bytes();
    let octets = "application/octet-stream";
    let etag = get(srv.addr(), "/data.bin")
        .header("etag")
        .unwrap()
        .to_owned();
    // Several answers on one connection, each framed exactly: the next
    // one, and a plain file after them, arrive whole.
    let mut s = srv.connect();
    let mut boundaries = Vec::new();
    // (name, Range and If-Range fields, the parts of the answer)
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [std::ops::Range<usize>],
    );
    let cases: &[Case<'_>] = &[
        (
            "two ranges",
            &[("Range", "bytes=0-9,20-29")],
            &[0..10, 20..30],
        ),
        (
            "listed out of order, sent in order",
            &[("Range", "bytes=500-509,0-9,20-29")],
            &[0..10, 20..30, 500..510],
        ),
        (
            "an unsatisfiable member dropped, adjacent ones merged",
            &[("Range", "bytes=5000-,0-9,10-19,-10")],
            &[0..20, 990..1000],
        ),
        (
            "If-Range holding",
            &[("Range", "bytes=0-0,999-"), ("If-Range", &etag)],
            &[0..1, 999..1000],
        ),
        (
            "two ranges again",
            &[("Range", "bytes=0-9,20-29")],
            &[0..10, 20..30],
        ),
    ];
    for (name, fields, parts) in cases {
        let mut raw = String::from("GET /data.bin HTTP/1.1\r\nHost: x\r\n");
        for (n, v) in *fields {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        s.write_all(raw.as_bytes()).unwrap();
        let r = read_reply(&mut s, false);
        assert_multipart(name, &r, octets, &data, parts);
        boundaries.push(boundary_of(&r));
    }
    boundaries.sort();
    boundaries.dedup();
    assert_eq!(boundaries.len(), cases.len(), "a fresh boundary per answer");
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).body, HELLO);

    // Each part has the file's own type.
    let r = request(
        srv.addr(),
        "GET",
        "/hello.txt",
        &[("Range", "bytes=0-4,7-11")],
    );
    assert_multipart(
        "text",
        &r,
        "text/plain; charset=utf-8",
        HELLO,
        &[0..5, 7..12],
    );

    // If-Range not holding: the whole file.
    let r = request(
        srv.addr(),
        "GET",
        "/data.bin",
        &[("Range", "bytes=0-9,20-29"), ("If-Range", "\"other\"")],
    );
    assert_eq!((r.status, r.body.as_slice()), (200, data.as_slice()));
}

/// RFC 9110 §14.2: "A server MUST ignore a Range header field received
/// with a request method [...] for which range handling is not defined",
/// and GET is the only one: a `HEAD` with several ranges gets the headers
/// a `GET` without `Range` gets, and no body.
#[test]
fn head_with_several_ranges_gets_the_headers_of_the_whole_file() {
    let t = Tree::standard("multipart-head");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let mut s = srv.connect();
    s.write_all(b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let g = read_reply(&mut s, false);
    s.write_all(
        b"HEAD /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,20-29\r\n\r\n\
          GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let h = read_reply(&mut s, true);
    assert_eq!(h.status, 200);
    assert_eq!(headers_without_date(&g), headers_without_date(&h));
    // Nothing followed the head: the next reply is the next request's.
    assert_eq!(read_reply(&mut s, false).body, HELLO);
}

/// RFC 9110 §14.1.1: "When a selected representation has zero length,
/// the only satisfiable form of range-spec is a suffix-range with a
/// non-zero suffix-length." Such a range selects no byte, which no
/// `Content-Range` can describe, so the empty file is sent with 200.
#[test]
fn an_empty_file_answers_416_to_a_range_it_cannot_satisfy() {
    let t = Tree::standard("empty-range");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    for range in ["bytes=0-0", "bytes=0-", "bytes=-0", "bytes=5-9,0-"] {
        let r = request(srv.addr(), "GET", "/empty.txt", &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */0"), "{range}");
    }
    for range in ["bytes=-1", "bytes=-5,0-0", "bytes=5-2", "items=0-0"] {
        let r = request(srv.addr(), "GET", "/empty.txt", &[("Range", range)]);
        assert_eq!(
            (
                r.status,
                r.header("content-length"),
                r.header("content-range")
            ),
            (200, Some("0"), None),
            "{range}"
        );
    }
}

#[test]
fn keep_alive_across_file_responses_of_every_kind() {
    let t = Tree::standard("keepalive");
    let srv = TestServer::start(StaticFiles::new(t.root()).listing(true));
    let etag = get(srv.addr(), "/data.bin")
        .header("etag")
        .unwrap()
        .to_owned();
    let mut s = srv.connect();
    let steps: &[(String, bool, u16)] = &[
        (
            "GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            false,
            200,
        ),
        (
            format!("GET /data.bin HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"),
            false,
            304,
        ),
        (
            "GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n".into(),
            false,
            206,
        ),
        (
            "GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=9999-\r\n\r\n".into(),
            false,
            416,
        ),
        (
            "HEAD /data.bin HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            true,
            200,
        ),
        (
            "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            false,
            404,
        ),
        ("GET /docs HTTP/1.1\r\nHost: x\r\n\r\n".into(), false, 301),
        ("GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n".into(), false, 200),
        (
            "GET /data.bin HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\n\r\n".into(),
            false,
            412,
        ),
    ];
    for (raw, head, want) in steps {
        s.write_all(raw.as_bytes()).unwrap();
        let r = read_reply(&mut s, *head);
        assert_eq!(r.status, *want, "{raw:?}");
        assert_eq!(r.header("connection"), None, "{raw:?} keeps the connection");
    }
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).body, HELLO);
    support::assert_closed(&mut s);
}

#[test]
fn precompressed_gzip_is_negotiated() {
    let t = Tree::new("gzip");
    t.write("app.js", b"console.log('identity');\n");
    t.write("app.js.gz", b"\x1f\x8bGZIPPED-BYTES");
    t.write("plain.txt", b"no gz sibling\n");
    let srv = TestServer::start(StaticFiles::new(t.root()).precompressed_gzip(true));

    let gz = request(
        srv.addr(),
        "GET",
        "/app.js",
        &[("Accept-Encoding", "br, gzip")],
    );
    assert_eq!(gz.status, 200);
    assert_eq!(gz.body, b"\x1f\x8bGZIPPED-BYTES");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gz.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    let gz_etag = gz.header("etag").unwrap().to_owned();

    for ae in [None, Some("gzip;q=0"), Some("br"), Some("identity")] {
        let fields: Vec<(&str, &str)> = ae.iter().map(|v| ("Accept-Encoding", *v)).collect();
        let id = request(srv.addr(), "GET", "/app.js", &fields);
        assert_eq!(id.body, b"console.log('identity');\n", "{ae:?}");
        assert_eq!(id.header("content-encoding"), None, "{ae:?}");
        assert_eq!(id.header("vary"), Some("Accept-Encoding"), "{ae:?}");
        assert_ne!(
            id.header("etag"),
            Some(gz_etag.as_str()),
            "{ae:?}: each variant has its own ETag"
        );
    }

    let r = request(
        srv.addr(),
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_etag)],
    );
    assert_eq!((r.status, r.header("vary")), (304, Some("Accept-Encoding")));
    let r = request(
        srv.addr(),
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-1")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"\x1f\x8b"[..]));
    let r = request(
        srv.addr(),
        "GET",
        "/plain.txt",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, None)
    );
    let r = get(srv.addr(), "/app.js.gz");
    assert_eq!(
        (r.header("content-type"), r.header("content-encoding")),
        (Some("application/gzip"), None)
    );

    // Off by default.
    let off = TestServer::start(StaticFiles::new(t.root()));
    let r = request(off.addr(), "GET", "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.body, b"console.log('identity');\n");
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, None)
    );
}

#[test]
fn missing_root_is_a_server_error() {
    let t = Tree::new("noroot");
    let srv = TestServer::start(StaticFiles::new(t.root().join("not-there")));
    assert_eq!(get(srv.addr(), "/x").status, 500);
}

/// A 1 GiB sparse file: the length is announced, the end is reachable by
/// a range, and a client that stops reading costs only its connection.
/// Nothing close to 1 GiB is downloaded.
#[test]
fn one_gib_sparse_file() {
    const GIB: u64 = 1 << 30;
    const TAIL: &[u8] = b"END-OF-THE-GIGABYTE";
    let t = Tree::new("gib");
    {
        let mut f = File::create(t.root().join("big.bin")).unwrap();
        f.set_len(GIB).unwrap();
        f.seek(SeekFrom::Start(GIB - TAIL.len() as u64)).unwrap();
        f.write_all(TAIL).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"START").unwrap();
    }
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let h = request(srv.addr(), "HEAD", "/big.bin", &[]);
    assert_eq!(
        (h.status, h.header("content-length")),
        (200, Some("1073741824"))
    );

    let r = request(
        srv.addr(),
        "GET",
        "/big.bin",
        &[("Range", &format!("bytes=-{}", TAIL.len()))],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, TAIL);
    assert_eq!(
        r.header("content-range"),
        Some("bytes 1073741805-1073741823/1073741824")
    );

    let r = request(
        srv.addr(),
        "GET",
        "/big.bin",
        &[("Range", "bytes=536870912-536870919")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &[0u8; 8][..]));

    // The whole file: read the head and the first bytes, then hang up.
    let mut s = srv.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while support::find(&got, b"\r\n\r\nSTART").is_none() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&got);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Length: 1073741824\r\n"),
        "{head}"
    );
    drop(s);

    // The server is unharmed.
    let r = request(srv.addr(), "GET", "/big.bin", &[("Range", "bytes=0-4")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &b"START"[..]));
}

/// The bundled sample site, downloaded with the real `curl` binary.
#[test]
fn curl_downloads_the_sample_site_and_a_range() {
    if curl(&["--version"]).is_none() {
        return;
    }
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/static_site/public");
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0").unwrap().threads(4),
        StaticFiles::new(&public).listing(true),
    );
    let base = format!("http://{}", srv.addr());
    // An HTTP error fails the download.
    let fetch =
        |args: &[&str]| -> Vec<u8> { curl(&[&["--fail"], args].concat()).expect("curl ran above") };

    // Every file a visitor can reach, byte for byte.
    let mut files = Vec::new();
    collect_files(&public, &public, &mut files);
    assert!(files.iter().any(|f| f == "index.html"));
    assert!(files.iter().any(|f| f == ".well-known/security.txt"));
    for rel in &files {
        let url_path: Vec<String> = rel.split('/').map(sockhttp::uri::percent_encode).collect();
        let body = fetch(&[&format!("{base}/{}", url_path.join("/"))]);
        assert_eq!(body, fs::read(public.join(rel)).unwrap(), "{rel}");
    }
    assert_eq!(
        fetch(&[&format!("{base}/")]),
        fs::read(public.join("index.html")).unwrap()
    );
    let listing = String::from_utf8(fetch(&[&format!("{base}/docs/")])).unwrap();
    assert!(listing.contains("space &amp; ampersand.txt"), "{listing}");

    let big = fs::read(public.join("files/big.txt")).unwrap();
    assert_eq!(
        fetch(&["-r", "0-99", &format!("{base}/files/big.txt")]),
        &big[..100]
    );
    assert_eq!(
        fetch(&["-r", "-100", &format!("{base}/files/big.txt")]),
        &big[big.len() - 100..]
    );
    let head = String::from_utf8(fetch(&[
        "-i",
        "-r",
        "0-99",
        &format!("{base}/files/big.txt"),
    ]))
    .unwrap();
    assert!(
        head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nContent-Range: bytes 0-99/1048576\r\n"),
        "{head}"
    );

    // `curl -L` follows the slash redirect; .env stays refused.
    let docs = fetch(&["-L", &format!("{base}/docs")]);
    assert_eq!(docs, listing.as_bytes());
    let status = curl(&[
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
        &format!("{base}/.env"),
    ])
    .expect("curl ran above");
    assert_eq!(status, b"404");
}

/// `curl -r 0-9,20-29`: the real client asks for two ranges in one
/// request and gets them as one `multipart/byteranges` answer, which it
/// writes out as it came.
#[test]
fn curl_gets_two_ranges_as_one_multipart_answer() {
    if curl(&["--version"]).is_none() {
        return;
    }
    let t = Tree::standard("curl-multipart");
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let url = format!("http://{}/data.bin", srv.addr());
    let out = curl(&["--fail", "--include", "-r", "0-9,20-29", &url]).expect("curl ran above");
    // Everything curl printed: the head, then the body through its end.
    let r = support::parse_one(&out);
    let data = data_bytes();
    assert_multipart(
        "curl",
        &r,
        "application/octet-stream",
        &data,
        &[0..10, 20..30],
    );
}

/// Lists the files under `dir` that the handler serves (no hidden names,
/// `.well-known` at the top excepted), as `/`-separated relative paths.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.starts_with('.') && !(dir == root && name == ".well-known") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            out.push(rel);
        }
    }
}

/// A 64 MiB file, streamed piece by piece from the file, arrives complete
/// and exact.
#[test]
fn a_large_file_arrives_whole_and_exact() {
    const LEN: u64 = 64 << 20;
    let t = Tree::new("stream");
    {
        let mut f = File::create(t.root().join("big.bin")).unwrap();
        f.set_len(LEN).unwrap();
        for at in [0, LEN / 2, LEN - 8] {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&at.to_be_bytes()).unwrap();
        }
    }
    let srv = TestServer::start(StaticFiles::new(t.root()));
    let mut s = srv.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let raw = read_to_end(&mut s);
    let body_at = support::find(&raw, b"\r\n\r\n").unwrap() + 4;
    let body = &raw[body_at..];
    assert_eq!(body.len() as u64, LEN);
    for at in [0, LEN / 2, LEN - 8] {
        let i = at as usize;
        assert_eq!(&body[i..i + 8], &at.to_be_bytes());
    }
}

/// A deployment that swaps the root's symbolic link to a new release is
/// served from the new release without a restart, though the handler
/// remembers the resolved root between requests (here looked up again on
/// every request).
#[cfg(unix)]
#[test]
fn a_swapped_root_symlink_is_followed_without_a_restart() {
    swapped_root(Duration::ZERO);
}

/// With the default recheck interval, a name only the new release has is
/// found at once, and the rest follows within the interval.
#[cfg(unix)]
#[test]
fn a_swapped_root_symlink_is_followed_within_the_recheck_interval() {
    swapped_root(Duration::from_secs(1));
}

#[cfg(unix)]
fn swapped_root(recheck: Duration) {
    let t = Tree::new(if recheck.is_zero() { "swap0" } else { "swap1" });
    t.write_outside("v1/only-in-v1.txt", b"one");
    t.write_outside("v2/only-in-v2.txt", b"two");
    t.write_outside("v1/both.txt", b"v1");
    t.write_outside("v2/both.txt", b"v2");
    let current = t.base.join("current");
    std::os::unix::fs::symlink(t.base.join("v1"), &current).unwrap();
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0").unwrap().threads(2),
        StaticFiles::new(&current).root_recheck(recheck),
    );
    let get = |path: &str| {
        let mut s = srv.connect();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        read_reply(&mut s, false)
    };
    assert_eq!(get("/only-in-v1.txt").body, b"one");
    assert_eq!(get("/both.txt").body, b"v1");
    // Swap the link atomically, as deployment tools do.
    let next = t.base.join("current.next");
    std::os::unix::fs::symlink(t.base.join("v2"), &next).unwrap();
    fs::rename(&next, &current).unwrap();
    let swapped = Instant::now();
    if recheck.is_zero() {
        // A file both releases have comes from the new one at once.
        assert_eq!(get("/both.txt").body, b"v2");
    } else {
        // A name the old release lacks sends the handler to look again.
        assert_eq!(get("/only-in-v2.txt").body, b"two");
        // Otherwise the new release shows within the interval (bounded
        // wait: the interval plus slack for a slow machine).
        while get("/both.txt").body != b"v2" {
            assert!(
                swapped.elapsed() < recheck + Duration::from_secs(10),
                "the old release is still served"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(get("/both.txt").body, b"v2");
    assert_eq!(get("/only-in-v2.txt").body, b"two");
    assert_eq!(get("/only-in-v1.txt").status, 404);
}
