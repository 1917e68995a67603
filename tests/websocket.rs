//! WebSockets over real sockets: a client we did not write (tungstenite)
//! for normal traffic, hand-built frames for every protocol error with
//! its exact close code, the handshake's refusals, the timers (ping,
//! pong, slow messages, a peer that does not read), pushes from other
//! threads, a graceful shutdown, and connections taken over by
//! `Response::upgrade`.

#[path = "../examples/echo_api/app.rs"]
mod app;
mod support;

use sockhttp::ws::{self, CloseCode, Closed, Message, SendError, Session, Upgrade};
use sockhttp::{Request, Response, Router, Timeouts};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;
use support::*;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as TCode;

/// The handshake of a WebSocket client, for `path`.
fn handshake(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Opens a session on `path` by hand and reads the `101`.
fn open(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(handshake(path).as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nConnection: Upgrade\r\n"), "{head}");
    s
}

/// A client frame: `b0` (FIN, RSV, opcode) and the payload, masked.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads one server frame: its first byte and its payload.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("a frame head");
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

/// Reads the server's close frame and returns its code, then checks the
/// server closes the connection.
fn read_close(s: &mut TcpStream) -> u16 {
    loop {
        let (b0, payload) = read_frame(s);
        if b0 == 0x89 {
            continue; // a ping on the way
        }
        assert_eq!(b0, 0x88, "a close frame, got {b0:#x} {payload:?}");
        assert!(payload.len() >= 2, "{payload:?}");
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
        return code;
    }
}

fn echo_server() -> TestServer {
    TestServer::with_app(server().threads(4), app::app)
}

/// Connects tungstenite to `path`.
fn client(
    addr: SocketAddr,
    path: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    let (ws, resp) =
        tungstenite::connect(format!("ws://{addr}{path}")).expect("the handshake succeeds");
    assert_eq!(resp.status(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(FAILSAFE)).unwrap();
    }
    ws
}

#[test]
fn tungstenite_messages_are_echoed_unchanged() {
    let server = echo_server();
    let mut ws = client(server.addr(), "/ws/echo");
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let messages = [
        tungstenite::Message::text("hello"),
        tungstenite::Message::text(""),
        tungstenite::Message::text("한국어 텍스트 ✓"),
        tungstenite::Message::binary(vec![0u8, 1, 2, 255]),
        tungstenite::Message::binary(big),
    ];
    for m in messages {
        ws.send(m.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), m);
    }
    ws.send(tungstenite::Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::Pong(b"are you there".to_vec().into())
    );
    ws.close(Some(CloseFrame {
        code: TCode::Normal,
        reason: "done".into(),
    }))
    .unwrap();
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(f))) => assert_eq!(f.code, TCode::Normal),
        other => panic!("expected the close echo, got {other:?}"),
    }
    // The server closes the TCP connection first (RFC 6455 §7.1.1).
    assert!(matches!(
        ws.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
}

#[test]
fn many_messages_in_flight_come_back_in_order() {
    let server = echo_server();
    let mut ws = client(server.addr(), "/ws/echo");
    for i in 0..500 {
        ws.write(tungstenite::Message::text(format!("message {i}")))
            .unwrap();
    }
    ws.flush().unwrap();
    for i in 0..500 {
        assert_eq!(
            ws.read().unwrap(),
            tungstenite::Message::text(format!("message {i}"))
        );
    }
}

#[test]
fn chat_messages_reach_every_session() {
    let server = echo_server();
    // A session has joined by the time its 101 arrives.
    let mut a = client(server.addr(), "/ws/chat");
    let mut b = client(server.addr(), "/ws/chat");
    b.send(tungstenite::Message::text("b is here")).unwrap();
    assert_eq!(a.read().unwrap(), tungstenite::Message::text("b is here"));
    assert_eq!(b.read().unwrap(), tungstenite::Message::text("b is here"));
    a.send(tungstenite::Message::text("hi b")).unwrap();
    assert_eq!(b.read().unwrap(), tungstenite::Message::text("hi b"));
    assert_eq!(a.read().unwrap(), tungstenite::Message::text("hi b"));
    // Binary is refused with 1003.
    b.send(tungstenite::Message::binary(vec![1, 2, 3])).unwrap();
    match b.read() {
        Ok(tungstenite::Message::Close(Some(f))) => assert_eq!(f.code, TCode::Unsupported),
        other => panic!("expected a 1003 close, got {other:?}"),
    }
}

#[test]
fn fragments_with_a_ping_between_them_make_one_message() {
    let server = echo_server();
    let mut s = open(server.addr(), "/ws/echo");
    let mut wire = frame(0x01, "Hel".as_bytes());
    wire.extend(frame(0x89, b"between"));
    // A character cut between two fragments.
    wire.extend(frame(0x00, &"lo é".as_bytes()[..4]));
    wire.extend(frame(0x80, &"lo é".as_bytes()[4..]));
    s.write_all(&wire).unwrap();
    assert_eq!(read_frame(&mut s), (0x8a, b"between".to_vec()));
    assert_eq!(read_frame(&mut s), (0x81, "Hello é".as_bytes().to_vec()));
    s.write_all(&frame(0x88, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(read_close(&mut s), 1000);
}

#[test]
fn every_protocol_error_gets_its_close_code() {
    let server = TestServer::with_app(server().threads(4), app::app);
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    let mut too_long_ping = vec![0x89, 0x80 | 126, 0, 126, 1, 2, 3, 4];
    too_long_ping.extend([0u8; 126]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", unmasked, 1002),
        ("RSV1 without an extension", frame(0xC1, b"x"), 1002),
        ("RSV3 without an extension", frame(0x91, b"x"), 1002),
        ("reserved data opcode", frame(0x83, b""), 1002),
        ("reserved control opcode", frame(0x8B, b""), 1002),
        ("fragmented ping", frame(0x09, b"x"), 1002),
        ("ping over 125 bytes", too_long_ping, 1002),
        ("continuation without a message", frame(0x80, b"x"), 1002),
        (
            "a new message inside a fragmented one",
            [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
            1002,
        ),
        ("invalid UTF-8", frame(0x81, b"\xff"), 1007),
        (
            "invalid UTF-8 in a first fragment, refused before the end",
            frame(0x01, b"ok \xc3\x28"),
            1007,
        ),
        ("a one-byte close payload", frame(0x88, b"\x03"), 1002),
        (
            "close code 1005, never sent",
            frame(0x88, &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "close reason not UTF-8",
            frame(0x88, &[0x03, 0xe8, 0xff]),
            1007,
        ),
    ];
    for (name, wire, want) in cases {
        let mut s = open(server.addr(), "/ws/echo");
        s.write_all(&wire).unwrap();
        assert_eq!(read_close(&mut s), want, "{name}");
    }
}

#[test]
fn a_frame_over_the_limit_is_refused_from_its_head() {
    let server = echo_server();
    for (name, len) in [("16 MiB + 1", app::MAX_ECHO_MESSAGE + 1), ("1 TB", 1 << 40)] {
        let mut s = open(server.addr(), "/ws/echo");
        // Only the head: no payload is sent, and none is waited for.
        let mut head = vec![0x82, 0x80 | 127];
        head.extend_from_slice(&len.to_be_bytes());
        head.extend_from_slice(&[1, 2, 3, 4]);
        s.write_all(&head).unwrap();
        assert_eq!(read_close(&mut s), 1009, "{name}");
    }
    // A message over the limit across fragments, too.
    let server = echo_server();
    let mut s = open(server.addr(), "/ws/chat");
    let piece = vec![b'a'; 3000];
    s.write_all(&[frame(0x01, &piece), frame(0x80, &piece)].concat())
        .unwrap();
    assert_eq!(read_close(&mut s), 1009);
}

#[test]
fn handshakes_that_are_not_valid_are_refused_with_their_status() {
    let server = echo_server();
    let valid = handshake("/ws/echo");
    let cases = [
        (
            "version 12",
            valid.replace("Version: 13", "Version: 12"),
            "426",
            &[
                "Sec-WebSocket-Version: 13",
                "Upgrade: websocket",
                "Connection: Upgrade",
            ][..],
        ),
        (
            "no Upgrade",
            valid.replace("Upgrade: websocket\r\n", ""),
            "426",
            &["Upgrade: websocket"],
        ),
        (
            "a key of 15 bytes",
            valid.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25j"),
            "400",
            &[],
        ),
        (
            "HTTP/1.0",
            valid.replace("HTTP/1.1", "HTTP/1.0"),
            "400",
            &[],
        ),
        (
            "a body",
            valid.replace("\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nhi"),
            "400",
            &[],
        ),
        (
            "a request pipelined behind it",
            format!("{valid}GET / HTTP/1.1\r\nHost: test\r\n\r\n"),
            "400",
            &[],
        ),
    ];
    for (name, raw, status, fields) in cases {
        let mut s = connect(server.addr());
        s.write_all(raw.as_bytes()).unwrap();
        let head = read_head(&mut s);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{name}: {head}"
        );
        for f in fields {
            assert!(
                head.contains(&format!("\r\n{f}\r\n")),
                "{name}: {f} in {head}"
            );
        }
    }
    let post = valid.replace("GET", "POST");
    let reply = parse_one(
        &server.exchange(
            post.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
    );
    assert_eq!(reply.status, 405, "POST");
}

#[test]
fn pages_of_other_sites_are_refused_unless_allowed() {
    let server = echo_server();
    let with_origin = |origin: &str| {
        handshake("/ws/chat").replace("\r\n\r\n", &format!("\r\nOrigin: {origin}\r\n\r\n"))
    };
    let mut s = connect(server.addr());
    s.write_all(with_origin("https://evil.example").as_bytes())
        .unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 403 "));
    // The same host as Host: accepted.
    let mut s = connect(server.addr());
    s.write_all(with_origin("http://test").as_bytes()).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
    // /ws/echo accepts every origin.
    let mut s = connect(server.addr());
    s.write_all(
        handshake("/ws/echo")
            .replace("\r\n\r\n", "\r\nOrigin: https://evil.example\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
}

/// A server whose single route opens sessions with `settings` and tells
/// the test how each ended.
fn timed_server(settings: ws::Settings, timeouts: Timeouts) -> (TestServer, Receiver<Closed>) {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let router = Router::new().get("/ws", move |req: &mut Request| {
        let tx = tx.lock().unwrap().clone();
        Upgrade::new(req).settings(settings).accept(Recorder { tx })
    });
    (
        TestServer::with(server().threads(4).timeouts(timeouts), router),
        rx,
    )
}

/// Recorder echoes, and reports how its session ended.
struct Recorder {
    tx: Sender<Closed>,
}

impl ws::Handler for Recorder {
    fn on_message(&mut self, session: &mut Session, msg: Message) {
        let _ = session.send(msg);
    }

    fn on_close(&mut self, _session: &mut Session, closed: &Closed) {
        let _ = self.tx.send(closed.clone());
    }
}

#[test]
fn a_quiet_session_is_pinged_and_closed_when_it_does_not_answer() {
    let settings = ws::Settings::default()
        .ping_interval(Some(Duration::from_millis(200)))
        // Long enough that a loaded machine does not make the test's own
        // answer late.
        .pong_timeout(Duration::from_secs(2))
        .close_timeout(Duration::from_millis(300));
    let (server, ended) = timed_server(settings, Timeouts::default());
    // Answered: the session lives on.
    let mut s = open(server.addr(), "/ws");
    assert_eq!(read_frame(&mut s), (0x89, vec![]), "a ping");
    s.write_all(&frame(0x8A, b"")).unwrap();
    assert_eq!(read_frame(&mut s), (0x89, vec![]), "the next ping");
    s.write_all(&frame(0x81, b"still here")).unwrap();
    let (b0, payload) = read_frame(&mut s);
    assert_eq!((b0, &payload[..]), (0x81, &b"still here"[..]));
    // Not answered: closed with 1008.
    assert_eq!(read_frame(&mut s), (0x89, vec![]));
    assert_eq!(read_close(&mut s), 1008);
    assert_eq!(
        ended.recv_timeout(FAILSAFE).unwrap(),
        Closed::ByServer(CloseCode::POLICY)
    );
}

#[test]
fn half_a_frame_is_closed_after_the_message_timeout() {
    let settings = ws::Settings::default()
        .message_timeout(Duration::from_millis(300))
        .close_timeout(Duration::from_millis(300));
    let (server, ended) = timed_server(settings, Timeouts::default());
    let mut s = open(server.addr(), "/ws");
    let whole = frame(0x81, b"never finished");
    s.write_all(&whole[..8]).unwrap();
    assert_eq!(read_close(&mut s), 1008);
    assert_eq!(
        ended.recv_timeout(FAILSAFE).unwrap(),
        Closed::ByServer(CloseCode::POLICY)
    );
}

#[test]
fn the_close_handshake_and_its_timeout() {
    // Long enough that the echo of a loaded test is not late.
    let settings = ws::Settings::default().close_timeout(Duration::from_secs(2));
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let router = Router::new().get("/ws", move |req: &mut Request| {
        let tx = tx.lock().unwrap().clone();
        Upgrade::new(req)
            .settings(settings)
            .accept(move |session: &mut Session, msg: Message| {
                if msg.as_text() == Some("close") {
                    session.close(CloseCode::new(4000).unwrap(), "asked");
                }
                let _ = tx.send(());
            })
    });
    let server = TestServer::with(server().threads(4), router);
    // The server closes; the client never echoes: closed at the timeout.
    let mut s = open(server.addr(), "/ws");
    s.write_all(&frame(0x81, b"close")).unwrap();
    let (b0, payload) = read_frame(&mut s);
    assert_eq!(b0, 0x88);
    assert_eq!(&payload[..], b"\x0f\xa0asked");
    rx.recv_timeout(FAILSAFE).unwrap();
    assert_closed(&mut s);
    // The client echoes: closed at once.
    let mut s = open(server.addr(), "/ws");
    s.write_all(&frame(0x81, b"close")).unwrap();
    assert_eq!(read_frame(&mut s).0, 0x88);
    s.write_all(&frame(0x88, &4000u16.to_be_bytes())).unwrap();
    assert_closed(&mut s);
    // The client closes without a code: the echo has none either.
    let mut s = open(server.addr(), "/ws");
    s.write_all(&frame(0x88, b"")).unwrap();
    assert_eq!(read_frame(&mut s), (0x88, vec![]));
    assert_closed(&mut s);
}

#[test]
fn a_panicking_handler_closes_its_session_with_1011_only() {
    let router = Router::new().get("/ws", |req: &mut Request| {
        Upgrade::new(req).accept(|session: &mut Session, msg: Message| {
            if msg.as_text() == Some("panic") {
                panic!("on purpose");
            }
            let _ = session.send(msg);
        })
    });
    let server = TestServer::start(router);
    let mut s = open(server.addr(), "/ws");
    s.write_all(&frame(0x81, b"panic")).unwrap();
    let (b0, payload) = read_frame(&mut s);
    assert_eq!((b0, &payload[..2]), (0x88, &1011u16.to_be_bytes()[..]));
    let mut other = open(server.addr(), "/ws");
    other.write_all(&frame(0x81, b"fine")).unwrap();
    assert_eq!(read_frame(&mut other), (0x81, b"fine".to_vec()));
}

/// A route whose sessions hand their sender to the test.
fn pushing_server(
    settings: ws::Settings,
    timeouts: Timeouts,
) -> (TestServer, Receiver<ws::Sender>, Receiver<Closed>) {
    let (senders, senders_rx) = channel();
    let (ended, ended_rx) = channel();
    let senders = Mutex::new(senders);
    let ended = Mutex::new(ended);
    struct Pushed {
        senders: Sender<ws::Sender>,
        ended: Sender<Closed>,
    }
    impl ws::Handler for Pushed {
        fn on_open(&mut self, session: &mut Session) {
            let _ = self.senders.send(session.sender());
        }
        fn on_message(&mut self, _: &mut Session, _: Message) {}
        fn on_close(&mut self, _: &mut Session, closed: &Closed) {
            let _ = self.ended.send(closed.clone());
        }
    }
    let router = Router::new().get("/ws", move |req: &mut Request| {
        let handler = Pushed {
            senders: senders.lock().unwrap().clone(),
            ended: ended.lock().unwrap().clone(),
        };
        Upgrade::new(req).settings(settings).accept(handler)
    });
    let server = TestServer::with(server().threads(4).timeouts(timeouts), router);
    (server, senders_rx, ended_rx)
}

#[test]
fn messages_pushed_from_another_thread_reach_a_parked_session() {
    let (server, senders, _) = pushing_server(ws::Settings::default(), Timeouts::default());
    let mut s = open(server.addr(), "/ws");
    let sender = senders.recv_timeout(FAILSAFE).unwrap();
    let pusher = std::thread::spawn(move || {
        for i in 0..100 {
            sender.send(format!("push {i}")).unwrap();
        }
        sender
    });
    for i in 0..100 {
        let (b0, payload) = read_frame(&mut s);
        assert_eq!((b0, payload), (0x81, format!("push {i}").into_bytes()));
    }
    let sender = pusher.join().unwrap();
    sender.close(CloseCode::GOING_AWAY, "");
    assert_eq!(read_close(&mut s), 1001);
    assert_eq!(sender.send("late"), Err(SendError::Closed));
}

#[test]
fn a_peer_that_does_not_read_fills_a_bounded_queue_then_is_closed() {
    let settings = ws::Settings::default().max_queued_bytes(64 * 1024);
    let mut timeouts = short_timeouts();
    timeouts.shutdown = Duration::from_secs(2);
    let (server, senders, ended) = pushing_server(settings, timeouts);
    let s = open(server.addr(), "/ws");
    let sender = senders.recv_timeout(FAILSAFE).unwrap();
    // The client reads nothing: the socket buffers fill, then the queue,
    // which refuses more (Full) until the session is closed.
    let chunk = vec![7u8; 16 * 1024];
    let (mut full, mut tries) = (0, 0);
    loop {
        match sender.send(chunk.clone()) {
            Ok(()) => {}
            Err(SendError::Full) => {
                full += 1;
                // The session drains its queue as its socket takes it.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(SendError::Closed) => break,
        }
        tries += 1;
        assert!(tries < 100_000, "the session was never closed");
    }
    assert!(full > 0, "the queue is bounded");
    // Closed when its output made no progress for the write timeout.
    assert_eq!(
        ended.recv_timeout(FAILSAFE).unwrap(),
        Closed::ByServer(CloseCode::POLICY)
    );
    assert_eq!(sender.send("more"), Err(SendError::Closed));
    drop(s);
}

#[test]
fn a_peer_that_sends_but_does_not_read_is_not_read_either() {
    // Pings, never reading the pongs: without back-pressure the server
    // would read on and queue pongs without end. It stops reading while
    // its output waits, so the client's writes stall long before 64 MiB.
    // (Deadlines far away: a loaded machine must not make the server give
    // up on the peer before the peer reads.)
    let mut t = Timeouts::default();
    t.write = Duration::from_secs(300);
    t.send_grace = Duration::from_secs(300);
    let server = TestServer::with_app(server().threads(4).timeouts(t), app::app);
    let mut s = open(server.addr(), "/ws/echo");
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let ping = frame(0x89, &[b'p'; 125]);
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 512)
        .collect();
    let mut written = 0usize;
    while written < 64 << 20 {
        match s.write(&batch) {
            Ok(n) => written += n,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{e}"
                );
                break;
            }
        }
    }
    assert!(
        written < 64 << 20,
        "the server read {written} bytes of pings"
    );
    // Reading again, the client gets its pongs and the session goes on.
    let (b0, payload) = read_frame(&mut s);
    assert_eq!((b0, payload.len()), (0x8a, 125));
}

#[test]
fn a_graceful_shutdown_closes_sessions_with_1001() {
    let server = echo_server();
    let mut ws = client(server.addr(), "/ws/echo");
    ws.send(tungstenite::Message::text("before")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("before"));
    let handle = server.shutdown_handle();
    let stopping = std::thread::spawn(move || server.shutdown());
    handle.shutdown();
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(f))) => assert_eq!(f.code, TCode::Away),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    // tungstenite echoes the close; the server then closes and finishes.
    let _ = ws.flush();
    while ws.read().is_ok() {}
    stopping.join().unwrap();
}

/// Sessions wait parked, without a worker: a pool of two serves many
/// open sessions, and HTTP beside them.
#[cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]
#[test]
fn idle_sessions_hold_no_worker() {
    let server = TestServer::with_app(server().threads(2), app::app);
    let mut sessions: Vec<TcpStream> = (0..200).map(|_| open(server.addr(), "/ws/echo")).collect();
    for (i, s) in sessions.iter_mut().enumerate().rev() {
        let text = format!("session {i}");
        s.write_all(&frame(0x81, text.as_bytes())).unwrap();
        assert_eq!(read_frame(s), (0x81, text.into_bytes()));
    }
    let reply =
        parse_one(&server.exchange(b"GET /items HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    assert_eq!(reply.status, 200);
}

/// A protocol the crate does not speak: the connection is handed over,
/// with what was read past the head, on a thread of its own.
fn line_protocol(req: &mut Request) -> Response {
    Response::upgrade("line/1", |mut up| {
        let _ = up.stream.write_all(b"ready\n");
        let mut reader = BufReader::new(up.stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let reply = if up.is_shutting_down() {
                "shutting down\n".to_owned()
            } else {
                line.to_uppercase()
            };
            let _ = up.stream.write_all(reply.as_bytes());
            line.clear();
        }
        if up.is_shutting_down() {
            let _ = up.stream.write_all(b"bye\n");
        }
    })
    .with_header("X-Route", req.path())
}

#[test]
fn a_connection_taken_over_speaks_its_own_protocol_until_shutdown() {
    let server = TestServer::start(Router::new().get("/line", line_protocol));
    let mut s = connect(server.addr());
    s.write_all(b"GET /line HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: line/1\r\n\r\n")
        .unwrap();
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nUpgrade: line/1\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: Upgrade\r\n"), "{head}");
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    s.write_all(b"hello\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HELLO\n");
    // A shutdown tells the owner (its read ends), which says goodbye.
    let handle = server.shutdown_handle();
    let stopping = std::thread::spawn(move || server.shutdown());
    handle.shutdown();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "bye\n");
    drop((s, reader));
    stopping.join().unwrap();
}

#[test]
fn an_upgrade_without_connection_upgrade_is_refused() {
    let server = TestServer::start(Router::new().get("/line", line_protocol));
    for raw in [
        "GET /line HTTP/1.1\r\nHost: t\r\nUpgrade: line/1\r\n\r\n",
        "GET /line HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n\r\n",
    ] {
        let reply = parse_one(&server.exchange(raw.as_bytes()));
        assert_eq!(reply.status, 400, "{raw}");
    }
    // Still serving: a valid switch works.
    let mut s = connect(server.addr());
    s.write_all(b"GET /line HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: line/1\r\n\r\n")
        .unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
}
