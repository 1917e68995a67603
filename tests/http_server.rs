//! The server around the protocol: binding port 0, graceful shutdown
//! (in-flight requests finish, idle connections close, the listener
//! stops, the deadline closes what is stuck), and overload (503 with
//! `Retry-After` when every worker is busy and the queue is full).

mod support;

use sockhttp::{Request, Response};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;
use support::*;

#[test]
fn binding_port_0_exposes_the_real_address() {
    let server = server();
    let addr = server.local_addr();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    let srv = TestServer::with(server, |_req: &mut Request| Response::text("here"));
    assert_eq!(srv.addr(), addr);
    let mut s = connect(addr);
    s.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "here");
}

#[test]
fn serve_returns_when_a_shutdown_handle_is_used() {
    let server = server();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    assert!(!handle.is_shutting_down());
    let (done_tx, done_rx) = channel();
    thread::spawn(move || {
        let _ = done_tx.send(server.serve(|_req: &mut Request| "up"));
    });
    let mut s = connect(addr);
    s.write_all(&get("/")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "up");
    drop(s);
    handle.shutdown();
    assert!(handle.is_shutting_down());
    done_rx
        .recv_timeout(FAILSAFE)
        .expect("serve returned")
        .expect("serve returned Ok");
    // Asking twice is harmless.
    handle.shutdown();
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests_and_closes_idle_connections() {
    let (gate, control) = gate();
    let srv = TestServer::with(server().threads(4), move |req: &mut Request| {
        if req.path() == "/slow" {
            gate.enter();
        }
        Response::text(format!("done {}", req.path()))
    });
    let addr = srv.addr();

    // One connection has been served and is now idle between requests.
    let mut idle = srv.connect();
    idle.write_all(&get("/fast")).unwrap();
    assert_eq!(read_reply(&mut idle, false).text(), "done /fast");

    // Another is inside its handler.
    let mut busy = srv.connect();
    busy.write_all(&get("/slow")).unwrap();
    control.wait_entered();

    srv.shutdown_handle().shutdown();

    // The idle connection is closed without a response...
    assert_eq!(
        read_to_end(&mut idle),
        b"",
        "idle connection closed quietly"
    );
    // ...by then the listener is closed: new connections are refused.
    let refused = TcpStream::connect(addr).expect_err("no longer accepting");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    // The in-flight request finishes, announcing the close.
    control.release();
    let reply = read_reply(&mut busy, false);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "done /slow");
    assert_eq!(reply.header("connection"), Some("close"));
    assert_closed(&mut busy);

    // Every thread is joined.
    srv.shutdown();
}

#[test]
fn shutdown_deadline_closes_a_connection_stuck_writing() {
    let mut timeouts = sockhttp::Timeouts::default();
    timeouts.shutdown = Duration::from_millis(500);
    // Far past the failsafe: only the shutdown deadline can end the write.
    timeouts.write = Duration::from_secs(3600);
    let (started_tx, started_rx) = channel();
    let srv = TestServer::with(
        server().threads(1).timeouts(timeouts),
        move |_req: &mut Request| {
            let started = started_tx.clone();
            Response::writer(move |w| {
                let _ = started.send(());
                loop {
                    w.write_all(&[b'x'; 16 * 1024])?;
                }
            })
        },
    );
    // The client asks for an endless body and does not read it, so the
    // server's writes block.
    let mut s = srv.connect();
    s.write_all(&get("/")).unwrap();
    started_rx.recv_timeout(FAILSAFE).expect("handler started");
    // Returns (within the failsafe) once the shutdown deadline has closed
    // the stuck socket.
    srv.shutdown();
    let received = read_to_end(&mut s);
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(!received.ends_with(b"0\r\n\r\n"), "the body was cut short");
}

#[test]
fn shutdown_with_no_connections_returns_and_stops_listening() {
    let srv = TestServer::start(|_req: &mut Request| "up");
    let addr = srv.addr();
    srv.shutdown();
    let refused = TcpStream::connect(addr).expect_err("no longer accepting");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

/// Starts a server with one worker and a queue of one, and makes the
/// worker busy: it waits in the handler of `GET /block` until the control
/// releases it. (`Connection: close`, so that afterwards the worker does
/// not wait on that connection for a next request.)
fn one_busy_worker() -> (TestServer, TcpStream, GateControl) {
    let (gate, control) = gate();
    let srv = TestServer::with(server().threads(1).queue(1), move |req: &mut Request| {
        if req.path() == "/block" {
            gate.enter();
        }
        Response::text(format!("served {}", req.path()))
    });
    let mut busy = srv.connect();
    busy.write_all(b"GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    control.wait_entered();
    (srv, busy, control)
}

/// Where there is no poller, accepted connections queue for a worker,
/// and one that finds the queue full is answered 503.
#[cfg(not(all(target_os = "linux", not(sockhttp_no_epoll))))]
#[test]
fn full_queue_gets_503_with_retry_after_and_close() {
    use std::io::Read;
    let (srv, mut busy, control) = one_busy_worker();

    // Two more clients send requests: one fits the queue, the other is
    // refused. (A client that connects and says nothing waits parked, not
    // in the queue, so only requests compete for it.) Which one reaches
    // the queue first is the scheduler's business, so each is watched by
    // a thread that reports the first response it gets.
    let (tx, rx) = channel();
    let mut clients = Vec::new();
    for id in 0..2 {
        let mut s = srv.connect();
        s.write_all(&get("/queued")).unwrap();
        let mut reader = s.try_clone().unwrap();
        let tx = tx.clone();
        thread::spawn(move || {
            let reply = read_reply(&mut reader, false);
            let closed_after = reply.status == 503 && matches!(reader.read(&mut [0u8; 1]), Ok(0));
            let _ = tx.send((id, reply, closed_after));
        });
        clients.push(s);
    }
    let (refused_id, refused, closed) = rx.recv_timeout(FAILSAFE).expect("one client refused");
    assert_eq!(refused.status_line(), "HTTP/1.1 503 Service Unavailable");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.text(), "503 Service Unavailable\n");
    assert_eq!(refused.header("content-length"), Some("24"));
    assert!(
        refused.header("date").is_some(),
        "every response has a Date"
    );
    assert!(closed, "the refused connection is closed");

    // The worker comes free, and the queued client is served.
    control.release();
    assert_eq!(read_reply(&mut busy, false).text(), "served /block");
    let (id, reply, _) = rx.recv_timeout(FAILSAFE).expect("queued client served");
    assert_eq!(id, 1 - refused_id);
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.text(), "served /queued");
}

/// With the poller (Linux), a saturated server stops accepting instead:
/// while the only worker is busy and `queue` new connections wait for it,
/// later clients wait in the kernel's listen backlog. Nobody is refused,
/// and once the worker is free, everyone is served.
#[cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]
#[test]
fn saturated_server_stops_accepting_and_serves_everyone_in_turn() {
    let (srv, mut busy, control) = one_busy_worker();

    // Three more clients: one is accepted and waits for the worker, the
    // others wait to be accepted. Each is watched by a thread.
    let (tx, rx) = channel();
    let mut clients = Vec::new();
    for id in 0..3 {
        let mut s = srv.connect();
        s.write_all(&get(&format!("/waiting/{id}"))).unwrap();
        let mut reader = s.try_clone().unwrap();
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send((id, read_reply(&mut reader, false)));
        });
        clients.push(s);
    }
    // Nobody is answered (or refused) while the worker is busy. (A reply
    // sent now would be read by its watcher at once; none must be there
    // when the worker is released.)
    assert!(
        rx.try_recv().is_err(),
        "a client was answered while the only worker was busy"
    );

    control.release();
    assert_eq!(read_reply(&mut busy, false).text(), "served /block");
    let mut served: Vec<(usize, String)> = (0..3)
        .map(|_| {
            let (id, reply) = rx.recv_timeout(FAILSAFE).expect("every client is served");
            assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "client {id}");
            (id, reply.text().to_owned())
        })
        .collect();
    served.sort();
    assert_eq!(
        served,
        (0..3)
            .map(|id| (id, format!("served /waiting/{id}")))
            .collect::<Vec<_>>()
    );
}

#[test]
fn busy_workers_do_not_stop_other_connections_from_being_served() {
    // Two workers: one held in a handler, the other serves everyone else.
    let (gate, control) = gate();
    let srv = TestServer::with(server().threads(2), move |req: &mut Request| {
        if req.path() == "/block" {
            gate.enter();
        }
        Response::text("ok")
    });
    let mut busy = srv.connect();
    busy.write_all(&get("/block")).unwrap();
    control.wait_entered();
    for _ in 0..5 {
        let mut s = srv.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(read_reply(&mut s, false).text(), "ok");
    }
    control.release();
    assert_eq!(read_reply(&mut busy, false).text(), "ok");
}

#[test]
fn connections_over_the_limit_get_503_with_retry_after_and_close() {
    let srv = TestServer::with(
        server().threads(2).max_connections(2),
        |_req: &mut Request| "served",
    );
    // Two kept-alive connections fill the limit (idle ones count too).
    let mut open: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = srv.connect();
            s.write_all(&get("/")).unwrap();
            assert_eq!(read_reply(&mut s, false).text(), "served");
            s
        })
        .collect();
    // A third is refused at once, before it sends anything.
    let mut third = srv.connect();
    let raw = read_to_end(&mut third);
    assert_error_then_close("over the limit", &raw, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(parse_one(&raw).header("retry-after"), Some("1"));
    // The connections inside the limit are still served.
    for s in &mut open {
        s.write_all(&get("/")).unwrap();
        assert_eq!(read_reply(s, false).text(), "served");
    }
    // Once one of them is gone, a new connection fits. The server learns
    // of the close asynchronously, so early attempts may still be refused.
    let mut gone = open.pop().unwrap();
    gone.shutdown(std::net::Shutdown::Write).unwrap();
    assert_closed(&mut gone);
    let deadline = std::time::Instant::now() + FAILSAFE;
    loop {
        let mut s = srv.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let reply = parse_one(&read_to_end(&mut s));
        if reply.status == 200 {
            assert_eq!(reply.text(), "served");
            break;
        }
        assert_eq!(reply.status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the limit never freed"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
