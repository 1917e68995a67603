//! sockhttp behind a real nginx running `deploy/nginx.conf`: load
//! balancing, the client address through forwarded headers, upstream
//! keep-alive, WebSockets through nginx, a rolling restart of both
//! backends under load that loses no request, and the config's Unix
//! socket variant (nginx to `echo_api --unix`, trusting `unix:`).
//!
//! Each test starts two `echo_api` binaries and an nginx master process as
//! child processes on loopback ports. The two share one SQLite file
//! (`--db`, in a temporary directory) for their `/items`: an item created
//! through one is read, patched and deleted through the other, also while
//! they restart one after the other. nginx gets the repository's config
//! with its ports and site root replaced, and its own prefix (pid, logs,
//! temp files) in a temporary directory; no system path is written. Every
//! child is stopped by its PID when the test ends, passing or not.
//!
//! Without nginx the tests are skipped with a message, except when the `CI`
//! environment variable is set: CI must run them, so there they fail.
//!
//! Linux only: the client-address check connects from a second loopback
//! address (127.0.0.2), which Linux routes without any configuration.
#![cfg(target_os = "linux")]

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::rng::{Rng, pattern};
use support::{FAILSAFE, Reply, TempDir, curl};

/// How long a process may take to start or to stop: a failsafe against a
/// hang, far longer than either ever takes.
const STARTUP: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The tests

#[test]
fn nginx_serves_the_site_balances_the_api_and_forwards_the_client_address() {
    let Some(nginx_bin) = nginx_or_skip() else {
        return;
    };
    let tmp = TempDir::new("nginx-site");
    let db = tmp.0.join("items.db");
    let mut backends = [
        Backend::start("127.0.0.1:0", &db),
        Backend::start("127.0.0.1:0", &db),
    ];
    let mut nginx = Nginx::start(&nginx_bin, [backends[0].port, backends[1].port]);
    let mut client = Client::new(nginx.addr());

    // One set of items, whichever instance answers.
    items_cross_instances(nginx.addr(), [backends[0].port, backends[1].port], "site");

    // The static site comes from nginx itself, with the config's caching.
    let public = repo().join("examples/static_site/public");
    let r = client.send("GET", "/", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, fs::read(public.join("index.html")).unwrap());
    assert_eq!(r.header("server"), Some("nginx"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let etag = r.header("etag").expect("an ETag").to_owned();
    let r = client
        .send("GET", "/", &[("If-None-Match", &etag)], b"")
        .unwrap();
    assert_eq!(r.status, 304);
    let r = client.send("GET", "/style.css", &[], b"").unwrap();
    assert_eq!(
        (r.status, r.header("cache-control")),
        (200, Some("max-age=3600"))
    );
    assert_eq!(client.send("GET", "/.env", &[], b"").unwrap().status, 404);
    let r = client
        .send("GET", "/.well-known/security.txt", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200);
    // The backends' statistics are not served to the world.
    assert_eq!(
        client.send("GET", "/api/metrics", &[], b"").unwrap().status,
        404
    );

    // A client on 127.0.0.2: the backend's peer is nginx (127.0.0.1), and
    // with nginx trusted, `client` is the address nginx forwarded for.
    let url = format!("http://{}/api/inspect?from=curl", nginx.addr());
    if let Some(out) = curl(&["--interface", "127.0.0.2", &url]) {
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["client"], "127.0.0.2:0", "{doc}");
        assert_eq!(doc["proto"], "http", "{doc}");
        assert_eq!(doc["path"], "/inspect", "nginx strips /api: {doc}");
        assert_eq!(header_of(&doc, "X-Forwarded-For"), Some("127.0.0.2"));
        assert_eq!(header_of(&doc, "X-Forwarded-Proto"), Some("http"));
        assert_eq!(
            header_of(&doc, "Connection"),
            None,
            "keep-alive upstream: {doc}"
        );

        // What the client claims is ignored: nginx appends the address it
        // sees to X-Forwarded-For, overwrites X-Forwarded-Proto and drops
        // Forwarded.
        let spoof = curl(&[
            "--interface",
            "127.0.0.2",
            "-H",
            "X-Forwarded-For: 203.0.113.66",
            "-H",
            "X-Forwarded-Proto: https",
            "-H",
            "Forwarded: for=203.0.113.77;proto=https",
            &format!("http://{}/api/inspect?from=spoofer", nginx.addr()),
        ])
        .unwrap();
        let doc: Value = serde_json::from_slice(&spoof).unwrap();
        assert_eq!(doc["client"], "127.0.0.2:0", "{doc}");
        assert_eq!(doc["proto"], "http", "{doc}");
        assert_eq!(
            header_of(&doc, "X-Forwarded-For"),
            Some("203.0.113.66, 127.0.0.2")
        );
        assert_eq!(header_of(&doc, "Forwarded"), None, "{doc}");
    }

    // A chunked stream passes through; nginx obeys the backend's
    // `X-Accel-Buffering: no` (no response buffering) and does not pass
    // that header on.
    let r = client.send("GET", "/api/stream?n=1000", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    let lines: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
    assert!(r.body == lines.as_bytes(), "{} bytes", r.body.len());
    assert_eq!(r.header("x-accel-buffering"), None);

    // WebSockets pass through nginx's /ws/ location: an echo, and the chat
    // room, whose origin check sees the page's host and port in `Host`.
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws/echo", nginx.addr()))
        .expect("a WebSocket through nginx");
    for text in ["through nginx", "again"] {
        ws.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text(text));
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let origin = format!("http://{}", nginx.addr());
    for (origin, status) in [(origin.as_str(), 101), ("http://evil.example", 403)] {
        let mut s = TcpStream::connect(nginx.addr()).unwrap();
        s.set_read_timeout(Some(FAILSAFE)).unwrap();
        write!(
            s,
            "GET /ws/chat HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n",
            nginx.addr()
        )
        .unwrap();
        let head = support::read_head(&mut s);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{origin}: {head}"
        );
    }

    // Twenty requests on one client connection: nginx alternates between
    // the backends, reusing one upstream connection to each.
    const PROBES: usize = 20;
    for i in 0..PROBES {
        let r = client
            .send("GET", &format!("/api/inspect?probe={i}"), &[], b"")
            .unwrap();
        assert_eq!(r.status, 200);
        let doc: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["query"], format!("probe={i}"));
        assert_eq!(doc["client"], "127.0.0.1:0", "{doc}");
    }
    drop(client);

    // Stopping everything gracefully makes the backends' logs complete.
    nginx.stop();
    let logs = backends.each_mut().map(|b| b.stop());
    let mut served = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let probes: Vec<Access> = accesses(log)
            .filter(|a| a.target.starts_with("/inspect?probe="))
            .collect();
        let peers: BTreeSet<&str> = probes.iter().filter_map(|a| a.peer.as_deref()).collect();
        println!(
            "backend {i}: {} of {PROBES} probes over {} upstream connection(s)",
            probes.len(),
            peers.len()
        );
        assert!(!probes.is_empty(), "backend {i} got no request:\n{log:#?}");
        assert!(
            peers.len() < probes.len(),
            "backend {i}: nginx reuses its upstream connections"
        );
        served.push(probes.len());
        if log.iter().any(|l| l.contains("from=curl")) {
            // The access log names the client, and nginx as the peer.
            let a = accesses(log)
                .find(|a| a.target == "/inspect?from=curl")
                .unwrap();
            assert_eq!(a.client, "127.0.0.2:0");
            assert!(a.peer.as_deref().unwrap().starts_with("127.0.0.1:"));
        }
    }
    assert_eq!(served.iter().sum::<usize>(), PROBES);
}

#[test]
fn nginx_reaches_echo_api_over_unix_sockets_and_forwards_the_client_address() {
    let Some(nginx_bin) = nginx_or_skip() else {
        return;
    };
    let tmp = TempDir::new("nginx-unix");
    // nginx started by root runs its workers as `nobody`: they must be
    // able to reach the sockets (search permission on the directory).
    fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o755)).unwrap();
    let db = tmp.0.join("items.db");
    let sockets = [tmp.0.join("1.sock"), tmp.0.join("2.sock")];
    let mut backends = [
        Backend::start_unix(&sockets[0], &db),
        Backend::start_unix(&sockets[1], &db),
    ];
    // ...and write permission on each socket file, which the backend
    // created with the umask's mode: what an operator does with `chmod`
    // (or with a group, see deploy/README.md).
    for path in &sockets {
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
    }
    let mut nginx = Nginx::start_upstream(&nginx_bin, &Upstream::Unix(sockets.clone()));

    // The backend's peer is nginx on a Unix socket, with no address; with
    // `unix:` trusted, `client` is the address nginx forwarded for.
    let url = format!("http://{}/api/inspect?from=curl", nginx.addr());
    if let Some(out) = curl(&["--interface", "127.0.0.2", &url]) {
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["client"], "127.0.0.2:0", "{doc}");
        assert_eq!(doc["proto"], "http", "{doc}");
        assert_eq!(doc["path"], "/inspect", "nginx strips /api: {doc}");
        assert_eq!(header_of(&doc, "X-Forwarded-For"), Some("127.0.0.2"));
    }

    // Items through nginx: created on one instance, found on either.
    let id = create_item(nginx.addr(), &serde_json::json!({"name": "over unix"}));
    let mut client = Client::new(nginx.addr());
    for _ in 0..4 {
        let r = client
            .send("GET", &format!("/api/items/{id}"), &[], b"")
            .unwrap();
        assert_eq!(r.status, 200);
    }

    // A WebSocket through nginx and the Unix socket.
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws/echo", nginx.addr()))
        .expect("a WebSocket through nginx");
    ws.send(tungstenite::Message::text("over a unix socket"))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::text("over a unix socket")
    );
    ws.close(None).unwrap();
    while ws.read().is_ok() {}

    // Probes on one client connection: nginx alternates between the
    // backends.
    const PROBES: usize = 20;
    for i in 0..PROBES {
        let r = client
            .send("GET", &format!("/api/inspect?probe={i}"), &[], b"")
            .unwrap();
        assert_eq!(r.status, 200);
        let doc: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["client"], "127.0.0.1:0", "{doc}");
    }
    drop(client);

    nginx.stop();
    let nginx_log = nginx.access_log();
    let upstreams: BTreeSet<&str> = nginx_log
        .lines()
        .filter(|l| l.contains("probe="))
        .filter_map(|l| l.split(" up=").nth(1)?.split(' ').next())
        .collect();
    let want: BTreeSet<String> = sockets
        .iter()
        .map(|p| format!("unix:{}", p.display()))
        .collect();
    assert_eq!(
        upstreams,
        want.iter().map(String::as_str).collect(),
        "nginx logs its Unix upstreams:\n{nginx_log}"
    );
    let logs = backends.each_mut().map(|b| b.stop());
    let mut served = 0;
    for (i, log) in logs.iter().enumerate() {
        let probes: Vec<Access> = accesses(log)
            .filter(|a| a.target.starts_with("/inspect?probe="))
            .collect();
        assert!(!probes.is_empty(), "backend {i} got no request:\n{log:#?}");
        for a in &probes {
            // The access log names the client, and the peer as `unix:`.
            assert_eq!(a.client, "127.0.0.1:0", "{a:?}");
            assert_eq!(a.peer.as_deref(), Some("unix:"), "{a:?}");
        }
        served += probes.len();
        if let Some(a) = accesses(log).find(|a| a.target == "/inspect?from=curl") {
            assert_eq!(a.client, "127.0.0.2:0", "{a:?}");
        }
    }
    assert_eq!(served, PROBES);
    for path in &sockets {
        assert!(!path.exists(), "{} removed at shutdown", path.display());
    }
}

#[test]
fn a_rolling_restart_under_load_through_nginx_loses_no_request() {
    let Some(nginx_bin) = nginx_or_skip() else {
        return;
    };
    /// Client threads, each on its own keep-alive connection to nginx.
    const CLIENTS: u64 = 4;
    /// Access lines that show a backend has its share of the load: before
    /// the first restart, and after each restart (nginx sends to it again).
    const SHARE: usize = 50;
    /// Requests that go on after the second restart.
    const AFTER: u64 = 500;
    /// Failsafe: the load stops by itself after this long.
    const LOAD_LIMIT: Duration = Duration::from_secs(25);

    let tmp = TempDir::new("nginx-restart");
    let db = tmp.0.join("items.db");
    let mut backends = [
        Backend::start("127.0.0.1:0", &db),
        Backend::start("127.0.0.1:0", &db),
    ];
    let ports = [backends[0].port, backends[1].port];
    let mut nginx = Nginx::start(&nginx_bin, ports);
    let addr = nginx.addr();
    let load = Load::default();
    // Every log line of every backend process, per backend, per process.
    let mut generations: [Vec<Vec<String>>; 2] = [Vec::new(), Vec::new()];

    let started = Instant::now();
    let successes: BTreeSet<String> = thread::scope(|scope| {
        let _stop = StopOnDrop(&load.stop);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let load = &load;
                scope.spawn(move || run_client(id, addr, load, started + LOAD_LIMIT))
            })
            .collect();

        for b in &backends {
            b.log.wait_for_accesses(SHARE, STARTUP);
        }
        // Under load, before the restarts; this item must outlive both.
        items_cross_instances(addr, ports, "before");
        let lasting = create_item(addr, &serde_json::json!({"name": "lasting"}));
        for (slot, &port) in ports.iter().enumerate() {
            // A graceful stop: SIGTERM, then exit status 0 once the requests
            // in flight are answered.
            generations[slot].push(backends[slot].stop());
            // Its one stdout line says it listens: no need to probe.
            backends[slot] = Backend::restart_on(port, &db);
            // Before the other backend goes down, this one must be back in
            // nginx's rotation: the event is requests arriving.
            backends[slot].log.wait_for_accesses(SHARE, STARTUP);
            println!(
                "backend {slot} restarted on port {port}; {} requests so far",
                load.done()
            );
            // One instance new, the other not yet restarted (or, after
            // the second, both new): still one set of items.
            items_cross_instances(addr, ports, &format!("restart-{slot}"));
        }
        // Both processes were replaced; the item is in the file.
        for port in ports {
            let r = Client::new(backend_addr(port))
                .send("GET", &format!("/items/{lasting}"), &[], b"")
                .unwrap();
            assert_eq!(
                r.status, 200,
                "item {lasting} after the restarts, on port {port}"
            );
            assert_eq!(
                serde_json::from_slice::<Value>(&r.body).unwrap(),
                serde_json::json!({"name": "lasting", "id": lasting})
            );
        }
        load.wait_done(load.done() + AFTER, STARTUP);
        load.stop.store(true, Ordering::SeqCst);
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client thread"))
            .collect()
    });
    check_created_items(&load, ports);
    nginx.stop();
    let nginx_log = nginx.access_log();
    for (slot, b) in backends.iter_mut().enumerate() {
        generations[slot].push(b.stop());
    }
    // Beside nginx's logs, for a look after a failure.
    for (slot, gens) in generations.iter().enumerate() {
        for (g, log) in gens.iter().enumerate() {
            nginx.keep(&format!("backend-{slot}-{g}.log"), &log.join("\n"));
        }
    }

    let sent = load.done();
    let failed = load.failed.load(Ordering::SeqCst);
    println!(
        "load: {sent} requests sent through nginx, {failed} failed, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let failures = load.failures.lock().unwrap();
    assert!(
        failed == 0 && failures.is_empty(),
        "{failed} of {sent} requests failed; the first ones:\n{failures:#?}"
    );
    assert_eq!(successes.len() as u64, sent);

    // Who served what: every successful request exactly once, counted in
    // the backends' access logs. A line marked `(aborted: …)` is a
    // response that never reached nginx, which then passed the request on
    // to the other backend: a request that arrives on an idle connection
    // just as a graceful shutdown closes it can be run and not answered.
    //
    // A line logged after the backend's "shutting down" line is a request
    // that was in flight when SIGTERM arrived (or arrived on a connection
    // before it was closed), and was finished by the graceful shutdown.
    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    let (mut total_lines, mut total_peers, mut aborted) = (0, 0, 0);
    let mut per_backend = [0; 2];
    for (slot, gens) in generations.iter().enumerate() {
        for (g, log) in gens.iter().enumerate() {
            let mut lines = 0;
            let mut peers = BTreeSet::new();
            let signal = log
                .iter()
                .position(|l| l.contains("shutting down gracefully"))
                .expect("each backend was stopped with SIGTERM");
            let after_signal = accesses(&log[signal..])
                .filter(|a| a.target.contains("load=") && !a.aborted)
                .count();
            for a in accesses(log).filter(|a| a.target.contains("load=")) {
                if a.aborted {
                    println!("backend {slot}: aborted response: {}", a.line);
                    aborted += 1;
                    continue;
                }
                assert_eq!(a.client, "127.0.0.1:0", "{a:?}");
                let ok = if a.target.starts_with("/items") {
                    201
                } else {
                    200
                };
                assert_eq!(a.status, ok, "{a:?}");
                *served.entry(load_tag(&a.target).to_owned()).or_default() += 1;
                peers.insert(a.peer.clone().expect("nginx is the peer"));
                lines += 1;
            }
            let when = if g == 0 { "before" } else { "after" };
            println!(
                "backend {slot} {when} its restart: {lines} requests over {} upstream \
                 connections, {after_signal} of them finished after its SIGTERM",
                peers.len()
            );
            assert!(
                lines > 0,
                "backend {slot} {when} its restart served nothing"
            );
            assert!(
                peers.len() < lines,
                "backend {slot} {when}: {} connections for {lines} requests",
                peers.len()
            );
            total_lines += lines;
            total_peers += peers.len();
            per_backend[slot] += lines;
        }
    }
    let twice: Vec<_> = served.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "served more than once: {twice:?}");
    let logged: BTreeSet<String> = served.into_keys().collect();
    assert!(
        logged == successes,
        "not in a backend's access log: {:?}; logged but not seen by a client: {:?}",
        successes.difference(&logged).take(10).collect::<Vec<_>>(),
        logged.difference(&successes).take(10).collect::<Vec<_>>()
    );
    println!(
        "upstream connections: {total_peers} for {total_lines} requests; \
         {aborted} responses aborted"
    );
    assert!(
        total_peers * 10 <= total_lines,
        "nginx reuses upstream connections: {total_peers} for {total_lines} requests"
    );

    let retried = nginx_log
        .lines()
        .filter(|l| l.contains("load=") && l.contains("up=127.0.0.1:") && l.contains(", "))
        .count();
    println!("nginx passed {retried} requests on to the other backend");
    println!(
        "restart summary: {sent} sent, {failed} failed, backend 0 served {}, \
         backend 1 served {}, {retried} retried, {aborted} aborted",
        per_backend[0], per_backend[1]
    );
    let not_ok: Vec<_> = nginx_log
        .lines()
        .filter(|l| {
            let ok = if l.contains("/api/items?") {
                "\" 201 "
            } else {
                "\" 200 "
            };
            l.contains("load=") && !l.contains(ok)
        })
        .collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
}

// ---------------------------------------------------------------------------
// Load

/// Load is the state the client threads share with the test.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    done: Mutex<u64>,
    progress: Condvar,
    failed: AtomicU64,
    /// The first failures, described.
    failures: Mutex<Vec<String>>,
    /// The items the load created: its tag, and the id it was given.
    created: Mutex<Vec<(String, i64)>>,
}

impl Load {
    fn done(&self) -> u64 {
        *self.done.lock().unwrap()
    }

    /// Waits until `n` requests are done.
    fn wait_done(&self, n: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut done = self.done.lock().unwrap();
        while *done < n {
            let now = Instant::now();
            assert!(now < deadline, "the load stalled at {done} requests");
            done = self.progress.wait_timeout(done, deadline - now).unwrap().0;
        }
    }

    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        let mut failures = self.failures.lock().unwrap();
        if failures.len() < 20 {
            failures.push(what);
        }
    }
}

/// Sets the flag when dropped, so that client threads stop when the test
/// fails half-way as well.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One client thread: `GET /api/inspect`, `POST /api/echo` with bodies
/// from a seeded generator, `POST /api/items` (into the database both
/// backends share) and, now and then, a 20 ms `GET /api/sleep`, on a
/// keep-alive connection to nginx, until told to stop. Each request
/// carries a unique `load=ID-N` query parameter; returns the tags of the
/// requests that succeeded.
fn run_client(id: u64, nginx: SocketAddr, load: &Load, deadline: Instant) -> Vec<String> {
    let mut client = Client::new(nginx);
    let mut rng = Rng::new(id);
    let mut ok = Vec::new();
    for n in 0.. {
        if load.stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            break;
        }
        let tag = format!("{id}-{n}");
        let r = rng.next();
        let outcome = if r % 8 == 0 {
            // A request that holds a backend worker for a while, so that
            // restarts find requests in flight.
            let target = format!("/api/sleep?load={tag}&ms=20");
            client.send("GET", &target, &[], b"").and_then(|reply| {
                match (reply.status, &reply.body[..]) {
                    (200, br#"{"slept_ms":20}"#) => Ok(()),
                    (status, body) => Err(io::Error::other(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(body)
                    ))),
                }
            })
        } else if r % 8 == 1 {
            let target = format!("/api/items?load={tag}");
            let body = serde_json::json!({ "load": tag }).to_string();
            let headers = [("Content-Type", "application/json")];
            client
                .send("POST", &target, &headers, body.as_bytes())
                .and_then(|reply| {
                    let doc: Value =
                        serde_json::from_slice(&reply.body).map_err(io::Error::other)?;
                    match (reply.status, doc["load"].as_str(), doc["id"].as_i64()) {
                        (201, Some(t), Some(id)) if t == tag => {
                            load.created.lock().unwrap().push((tag.clone(), id));
                            Ok(())
                        }
                        _ => Err(io::Error::other(format!("{}: {doc}", reply.status))),
                    }
                })
        } else if r % 8 < 4 {
            let target = format!("/api/inspect?load={tag}");
            client.send("GET", &target, &[], b"").and_then(|reply| {
                let doc: Value = serde_json::from_slice(&reply.body).map_err(io::Error::other)?;
                let want = format!("load={tag}");
                match (reply.status, doc["path"].as_str(), doc["query"].as_str()) {
                    (200, Some("/inspect"), Some(q)) if q == want => Ok(()),
                    _ => Err(io::Error::other(format!("{}: {doc}", reply.status))),
                }
            })
        } else {
            // Sizes on both sides of nginx's in-memory body buffer
            // (`client_body_buffer_size`, 64 KiB).
            let body = pattern((r >> 8) as usize % 96_000, r);
            let target = format!("/api/echo?load={tag}");
            let headers = [("Content-Type", "application/octet-stream")];
            client
                .send("POST", &target, &headers, &body)
                .and_then(|reply| {
                    if reply.status != 200 {
                        Err(io::Error::other(format!("status {}", reply.status)))
                    } else if reply.body != body {
                        Err(io::Error::other(format!(
                            "echo of {} bytes came back as {} different bytes",
                            body.len(),
                            reply.body.len()
                        )))
                    } else {
                        Ok(())
                    }
                })
        };
        match outcome {
            Ok(()) => ok.push(tag),
            Err(e) => load.fail(format!("{tag}: {e}")),
        }
        *load.done.lock().unwrap() += 1;
        load.progress.notify_all();
    }
    ok
}

/// Returns the `load` parameter of a target (`/sleep?load=1-2&ms=20`
/// gives `1-2`).
fn load_tag(target: &str) -> &str {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|p| p.strip_prefix("load="))
        .unwrap_or("")
}

// ---------------------------------------------------------------------------
// Items across instances

fn backend_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Sends a JSON body and returns the status and the JSON answer (`null`
/// for an empty body).
fn send_json(addr: SocketAddr, method: &str, target: &str, body: &Value) -> (u16, Value) {
    let r = Client::new(addr)
        .send(
            method,
            target,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{method} {target} to {addr}: {e}"));
    let doc = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&r.body).unwrap()
    };
    (r.status, doc)
}

/// Creates an item through nginx and returns its id.
fn create_item(nginx: SocketAddr, item: &Value) -> i64 {
    let (status, doc) = send_json(nginx, "POST", "/api/items", item);
    assert_eq!(status, 201, "{doc}");
    doc["id"].as_i64().expect("an id")
}

/// Creates an item through nginx, then reads, patches, replaces and
/// deletes it with requests sent to each backend directly, alternating, so
/// that each step sees what the other instance wrote.
fn items_cross_instances(nginx: SocketAddr, ports: [u16; 2], label: &str) {
    use serde_json::json;
    let [a, b] = ports.map(backend_addr);
    let id = create_item(nginx, &json!({"label": label, "n": 0}));
    let item = format!("/items/{id}");
    let get = |addr| send_json(addr, "GET", &item, &Value::Null);
    assert_eq!(get(a), (200, json!({"label": label, "n": 0, "id": id})));
    assert_eq!(get(b), (200, json!({"label": label, "n": 0, "id": id})));
    let patched = json!({"label": label, "n": 1, "extra": {"x": true}, "id": id});
    let patch = json!({"n": 1, "extra": {"x": true}});
    assert_eq!(send_json(a, "PATCH", &item, &patch), (200, patched.clone()));
    assert_eq!(get(b), (200, patched));
    let patch = json!({"extra": null, "n": 2});
    let patched = json!({"label": label, "n": 2, "id": id});
    assert_eq!(send_json(b, "PATCH", &item, &patch), (200, patched.clone()));
    assert_eq!(get(a), (200, patched));
    let replaced = json!({"label": label, "id": id});
    assert_eq!(
        send_json(a, "PUT", &item, &json!({"label": label})),
        (200, replaced.clone())
    );
    assert_eq!(get(b), (200, replaced));
    assert_eq!(send_json(b, "DELETE", &item, &Value::Null).0, 204);
    assert_eq!(get(a).0, 404);
    assert_eq!(send_json(a, "DELETE", &item, &Value::Null).0, 404);
    let through_nginx = send_json(nginx, "GET", &format!("/api{item}"), &Value::Null);
    assert_eq!(through_nginx.0, 404);
    // Ids are never reused, whichever instance gives them.
    let next = create_item(nginx, &json!({"label": label}));
    assert!(next > id, "id {next} after {id}");
    assert_eq!(
        send_json(a, "DELETE", &format!("/items/{next}"), &Value::Null).0,
        204
    );
}

/// Every item the load created is there, the same through each backend,
/// with its own id.
fn check_created_items(load: &Load, ports: [u16; 2]) {
    let created = load.created.lock().unwrap();
    let ids: BTreeSet<i64> = created.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), created.len(), "an id given twice");
    for port in ports {
        let r = Client::new(backend_addr(port))
            .send("GET", "/items", &[], b"")
            .unwrap();
        assert_eq!(r.status, 200);
        let list: Value = serde_json::from_slice(&r.body).unwrap();
        let by_id: BTreeMap<i64, &Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["id"].as_i64().unwrap(), item))
            .collect();
        for (tag, id) in created.iter() {
            assert_eq!(
                by_id.get(id).map(|item| &item["load"]),
                Some(&Value::from(tag.as_str())),
                "item {id} through port {port}"
            );
        }
    }
    println!(
        "{} items created by the load, all on both backends",
        created.len()
    );
}

// ---------------------------------------------------------------------------
// A small HTTP/1.1 client with keep-alive

/// Client sends requests on one keep-alive connection, opening a new one
/// when the server closed the last (nginx does after `keepalive_requests`).
struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Reply> {
        let result = self.exchange(method, target, headers, body);
        let keep = matches!(&result, Ok(r) if !r.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close")));
        if !keep {
            self.conn = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Reply> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_read_timeout(Some(FAILSAFE))?;
            s.set_write_timeout(Some(FAILSAFE))?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connected above");
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend_from_slice(body);
        conn.get_mut().write_all(&wire)?;
        read_reply(conn, method == "HEAD")
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-line",
        ));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
}

fn read_reply(r: &mut impl BufRead, head_only: bool) -> io::Result<Reply> {
    let status_line = read_line(r)?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut head = format!("{status_line}\r\n");
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        head.push_str(&line);
        head.push_str("\r\n");
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| io::Error::other(format!("bad header {line:?}")))?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut reply = Reply {
        status,
        head,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 {
        return Ok(reply);
    }
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size = read_line(r)?;
            let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
            if size == 0 {
                while !read_line(r)?.is_empty() {}
                break;
            }
            let start = reply.body.len();
            reply.body.resize(start + size, 0);
            r.read_exact(&mut reply.body[start..])?;
            read_line(r)?;
        }
    } else if let Some(len) = reply.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::other("bad Content-Length"))?;
        reply.body.resize(len, 0);
        r.read_exact(&mut reply.body)?;
    } else {
        r.read_to_end(&mut reply.body)?;
        reply.headers.push(("connection".into(), "close".into()));
    }
    Ok(reply)
}

/// Returns a header's value from `/inspect`'s `headers` list.
fn header_of<'a>(doc: &'a Value, name: &str) -> Option<&'a str> {
    doc["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|h| h[1].as_str())
}

// ---------------------------------------------------------------------------
// Access-log lines

/// Access is one `sockhttp::access` log line: `CLIENT [via PEER]
/// "METHOD TARGET VERSION" STATUS BYTES DURATION [(aborted: …)]`.
#[derive(Debug)]
struct Access {
    client: String,
    /// The TCP peer, present when it is not the client: nginx, one
    /// address (its ephemeral port) per upstream connection.
    peer: Option<String>,
    target: String,
    status: u16,
    aborted: bool,
    line: String,
}

fn parse_access(line: &str) -> Option<Access> {
    let rest = line.split_once("sockhttp::access] ")?.1;
    let (who, rest) = rest.split_once(" \"")?;
    let mut who = who.split(' ');
    let client = who.next()?.to_owned();
    let peer = match (who.next(), who.next()) {
        (Some("via"), Some(peer)) => Some(peer.to_owned()),
        _ => None,
    };
    let (request, rest) = rest.split_once("\" ")?;
    let target = request.split(' ').nth(1)?.to_owned();
    let status = rest.split(' ').next()?.parse().ok()?;
    Some(Access {
        client,
        peer,
        target,
        status,
        aborted: rest.contains("(aborted"),
        line: line.to_owned(),
    })
}

fn accesses(log: &[String]) -> impl Iterator<Item = Access> + '_ {
    log.iter().filter_map(|l| parse_access(l))
}

// ---------------------------------------------------------------------------
// Child processes

/// Finds nginx (often in an sbin directory outside PATH), or says why the
/// test is skipped; with `CI` set, a missing nginx fails instead.
fn nginx_or_skip() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx not found, and CI must not skip this test: install nginx"
        );
        eprintln!("skipping: nginx not found (install nginx to run this test)");
    }
    found
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Sends `signal` (`-TERM`, `-QUIT`, `-KILL`) to one process.
fn kill(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

/// Waits for `child` to exit, for at most `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Log gathers a child's stderr lines as they arrive, and lets the test
/// wait for access-log lines.
#[derive(Default)]
struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

#[derive(Default)]
struct LogState {
    lines: Vec<String>,
    accesses: usize,
}

impl Log {
    fn collect(stream: impl Read + Send + 'static) -> (Arc<Log>, JoinHandle<()>) {
        let log = Arc::new(Log::default());
        let writer = Arc::clone(&log);
        let reader = thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let mut state = writer.state.lock().unwrap();
                if line.contains("sockhttp::access]") {
                    state.accesses += 1;
                }
                state.lines.push(line);
                writer.changed.notify_all();
            }
        });
        (log, reader)
    }

    fn lines(&self) -> Vec<String> {
        self.state.lock().unwrap().lines.clone()
    }

    /// Waits until at least `n` access-log lines have arrived.
    fn wait_for_accesses(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        while state.accesses < n {
            let now = Instant::now();
            assert!(
                now < deadline,
                "only {} of {n} access-log lines arrived; the last lines:\n{}",
                state.accesses,
                state.lines[state.lines.len().saturating_sub(20)..].join("\n")
            );
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }
}

/// Backend is an `echo_api` binary trusting 127.0.0.1 as its proxy, its
/// items in the SQLite file `db`, with its access log on stderr. Dropping it kills the process unless it was
/// stopped.
struct Backend {
    child: Child,
    port: u16,
    log: Arc<Log>,
    reader: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(addr: &str, db: &Path) -> Backend {
        Backend::try_start(addr, db).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts one on the port an earlier one used; the port may be taken
    /// for a moment (an outgoing connection's ephemeral port), so a
    /// refused bind is tried again, a bounded number of times.
    fn restart_on(port: u16, db: &Path) -> Backend {
        let addr = format!("127.0.0.1:{port}");
        let mut last = String::new();
        for _ in 0..50 {
            match Backend::try_start(&addr, db) {
                Ok(b) => return b,
                Err(e) if e.contains("cannot listen") => last = e,
                Err(e) => panic!("{e}"),
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("{last}");
    }

    fn try_start(addr: &str, db: &Path) -> Result<Backend, String> {
        let args = ["--addr", addr, "--trusted-proxies", "127.0.0.1"].map(OsStr::new);
        let (mut backend, line) = Backend::spawn(&args, db)?;
        // The one stdout line says the port is bound and listening.
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok());
        match port {
            Some(port) => {
                backend.port = port;
                Ok(backend)
            }
            None => Err(backend.failed(&format!("--addr {addr}"), &line)),
        }
    }

    /// Starts one on a Unix socket at `path`, trusting `unix:` (nginx).
    fn start_unix(path: &Path, db: &Path) -> Backend {
        let args = [
            OsStr::new("--unix"),
            path.as_os_str(),
            OsStr::new("--trusted-proxies"),
            OsStr::new("unix:"),
        ];
        let (mut backend, line) = Backend::spawn(&args, db).unwrap_or_else(|e| panic!("{e}"));
        if line != format!("listening on unix:{}", path.display()) {
            panic!(
                "{}",
                backend.failed(&format!("--unix {}", path.display()), &line)
            );
        }
        backend
    }

    /// Starts `echo_api ARGS --db DB` with its access log on stderr, and
    /// returns it with the line it printed first (empty if none came).
    fn spawn(args: &[&OsStr], db: &Path) -> Result<(Backend, String), String> {
        let mut child = Command::new(support::example_binary("echo_api"))
            .args(args)
            .arg("--db")
            .arg(db)
            .args(["--threads", "8"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run echo_api: {e}"))?;
        let (log, reader) = Log::collect(child.stderr.take().expect("piped"));
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = tx.send(line);
            let _ = io::copy(&mut stdout, &mut io::sink());
        });
        let backend = Backend {
            child,
            port: 0,
            log,
            reader: Some(reader),
        };
        let line = rx.recv_timeout(STARTUP).unwrap_or_default();
        Ok((backend, line.trim_end().to_owned()))
    }

    /// Waits for a backend that did not announce what it should have to
    /// exit, and says what it printed.
    fn failed(&mut self, how: &str, line: &str) -> String {
        let status = wait_exit(&mut self.child, STARTUP);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        format!(
            "echo_api {how} did not start ({status:?}), stdout {line:?}, stderr:\n{}",
            self.log.lines().join("\n")
        )
    }

    /// Stops it as a service manager would (SIGTERM), checks that it exits
    /// with status 0, and returns everything it logged.
    fn stop(&mut self) -> Vec<String> {
        kill("-TERM", self.child.id());
        let status = wait_exit(&mut self.child, STARTUP);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lines = self.log.lines();
        assert!(
            status.is_some_and(|s| s.success()),
            "echo_api on port {} exited with {status:?}; its last lines:\n{}",
            self.port,
            lines[lines.len().saturating_sub(20)..].join("\n")
        );
        lines
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Nginx is an nginx master process (and its workers) running the
/// repository's `deploy/nginx.conf` from a prefix directory of its own.
/// Dropping it stops nginx and removes the directory (kept, and named, if
/// the test failed).
struct Nginx {
    child: Child,
    prefix: PathBuf,
    port: u16,
}

/// Upstream is where nginx finds the two backends: the config's TCP
/// servers, or its Unix socket variant.
enum Upstream {
    Tcp([u16; 2]),
    Unix([PathBuf; 2]),
}

impl Nginx {
    fn start(bin: &Path, backends: [u16; 2]) -> Nginx {
        Nginx::start_upstream(bin, &Upstream::Tcp(backends))
    }

    fn start_upstream(bin: &Path, upstream: &Upstream) -> Nginx {
        let tag = match upstream {
            Upstream::Tcp(ports) => ports[0].to_string(),
            Upstream::Unix(_) => "unix".to_owned(),
        };
        let prefix =
            std::env::temp_dir().join(format!("sockhttp-nginx-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&prefix);
        fs::create_dir(&prefix).unwrap();
        // nginx started by root runs its workers as `nobody`, who may not
        // be able to read the checkout: serve a world-readable copy.
        let site = prefix.join("site");
        copy_tree(&repo().join("examples/static_site/public"), &site);
        fs::set_permissions(&prefix, fs::Permissions::from_mode(0o755)).unwrap();
        let template = fs::read_to_string(repo().join("deploy/nginx.conf")).unwrap();
        // `-e` moves the log nginx opens before reading its config.
        let help = Command::new(bin).arg("-h").output().unwrap();
        let has_e = String::from_utf8_lossy(&help.stderr).contains("-e filename");

        // nginx needs a fixed port; one the kernel just gave out is free,
        // unless someone takes it first: then try another.
        for _attempt in 0..3 {
            let port = free_port();
            let conf = configure(&template, port, upstream, &site);
            fs::write(prefix.join("nginx.conf"), conf).unwrap();
            let stderr = fs::File::create(prefix.join("stderr.log")).unwrap();
            let mut cmd = Command::new(bin);
            cmd.arg("-p").arg(&prefix);
            if has_e {
                cmd.arg("-e").arg(prefix.join("error.log"));
            }
            cmd.arg("-c").arg(prefix.join("nginx.conf"));
            let child = cmd
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap();
            let mut nginx = Nginx {
                child,
                prefix: prefix.clone(),
                port,
            };
            match nginx.wait_ready() {
                Ok(()) => return nginx,
                Err(errors) if errors.contains("Address already in use") => continue,
                Err(errors) => panic!("nginx did not start:\n{errors}"),
            }
        }
        panic!("nginx found no free port");
    }

    /// Waits until nginx accepts connections; `Err` with its error log if
    /// it exits first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exit {status}: {}", self.errors()));
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "nginx does not answer:\n{}",
                self.errors()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn errors(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.prefix.join(name)).unwrap_or_default();
        read("stderr.log") + &read("error.log")
    }

    /// Writes a file into nginx's prefix directory.
    fn keep(&self, name: &str, text: &str) {
        fs::write(self.prefix.join(name), text).unwrap();
    }

    fn access_log(&self) -> String {
        fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default()
    }

    /// Stops nginx gracefully (SIGQUIT: workers finish their requests and
    /// close their connections) and checks that it exits with status 0.
    fn stop(&mut self) {
        kill("-QUIT", self.child.id());
        let status = wait_exit(&mut self.child, STARTUP);
        assert!(
            status.is_some_and(|s| s.success()),
            "nginx exited with {status:?}:\n{}",
            self.errors()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let master = self.child.id();
            kill("-QUIT", master);
            if wait_exit(&mut self.child, STARTUP).is_none() {
                // Workers outlive a killed master: kill them first, by PID.
                let children = format!("/proc/{master}/task/{master}/children");
                for pid in fs::read_to_string(children)
                    .unwrap_or_default()
                    .split_whitespace()
                {
                    if let Ok(pid) = pid.parse() {
                        kill("-KILL", pid);
                    }
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if thread::panicking() {
            eprintln!("nginx's files are kept in {}", self.prefix.display());
        } else {
            let _ = fs::remove_dir_all(&self.prefix);
        }
    }
}

/// A port the kernel considers free right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Makes the test's config from `deploy/nginx.conf`: its listen port, its
/// two backends and its site root, the values the file marks `EDIT`. Each
/// must be found exactly once, so a change to the file that this test does
/// not follow fails here rather than testing something else. For Unix
/// sockets, the two TCP `server` lines go and the commented Unix variant
/// comes in, with the test's socket paths.
fn configure(template: &str, port: u16, upstream: &Upstream, root: &Path) -> String {
    let root = format!("root \"{}\";", root.display());
    let mut edits = vec![
        (
            "listen 127.0.0.1:8080;",
            format!("listen 127.0.0.1:{port};"),
        ),
        ("root /path/to/sockhttp/examples/static_site/public;", root),
    ];
    match upstream {
        Upstream::Tcp(backends) => edits.extend([
            (
                "server 127.0.0.1:8081 ",
                format!("server 127.0.0.1:{} ", backends[0]),
            ),
            (
                "server 127.0.0.1:8082 ",
                format!("server 127.0.0.1:{} ", backends[1]),
            ),
        ]),
        Upstream::Unix(paths) => edits.extend([
            (
                "        server 127.0.0.1:8081 max_fails=1 fail_timeout=2s;\n",
                String::new(),
            ),
            (
                "        server 127.0.0.1:8082 max_fails=1 fail_timeout=2s;\n",
                String::new(),
            ),
            (
                "#server unix:/run/echo_api/1.sock ",
                format!("server unix:{} ", paths[0].display()),
            ),
            (
                "#server unix:/run/echo_api/2.sock ",
                format!("server unix:{} ", paths[1].display()),
            ),
        ]),
    }
    let mut conf = template.to_owned();
    for (from, to) in edits {
        assert_eq!(
            conf.matches(from).count(),
            1,
            "deploy/nginx.conf should contain {from:?} exactly once"
        );
        conf = conf.replace(from, &to);
    }
    conf
}

/// Copies a directory tree, readable by everyone.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}
