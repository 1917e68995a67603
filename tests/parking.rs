//! Idle keep-alive connections are parked off the worker pool (on Linux,
//! on epoll): they cost no worker, their next request is served, and they
//! are closed when their idle timeout passes.
#![cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]

mod support;

use sockhttp::{Request, Response, Server};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use support::*;

fn hello(req: &mut Request) -> Response {
    Response::text(format!("hello {}", req.path()))
}

/// Opens `n` connections that each make one request and then stay open
/// and silent: kept-alive, idle.
fn idle_connections(srv: &TestServer, n: usize) -> Vec<TcpStream> {
    raise_fd_limit();
    (0..n)
        .map(|i| {
            let mut s = srv.connect();
            s.write_all(&get(&format!("/idle/{i}"))).unwrap();
            let r = read_reply(&mut s, false);
            assert_eq!(r.text(), format!("hello /idle/{i}"));
            assert_eq!(r.header("connection"), None, "kept alive");
            s
        })
        .collect()
}

#[test]
fn hundreds_of_idle_connections_do_not_hold_a_two_worker_pool() {
    // Without parking, two idle connections would hold both workers for
    // the whole (long) idle timeout, and the new client below would wait.
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_secs(600)),
        hello,
    );
    let idle = idle_connections(&srv, 300);
    for i in 0..20 {
        let mut s = srv.connect();
        s.write_all(&get(&format!("/new/{i}"))).unwrap();
        assert_eq!(read_reply(&mut s, false).text(), format!("hello /new/{i}"));
    }
    drop(idle);
}

#[test]
fn a_parked_connection_is_served_when_its_next_request_arrives() {
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_secs(600)),
        hello,
    );
    let mut idle = idle_connections(&srv, 50);
    // Hold both workers' attention elsewhere, so the 50 are surely parked,
    // then wake every one of them, in reverse order, twice.
    for round in 0..2 {
        for (i, s) in idle.iter_mut().enumerate().rev() {
            s.write_all(&get(&format!("/again/{round}/{i}"))).unwrap();
        }
        for (i, s) in idle.iter_mut().enumerate().rev() {
            let r = read_reply(s, false);
            assert_eq!(r.text(), format!("hello /again/{round}/{i}"));
        }
    }
}

#[test]
fn a_parked_connection_is_closed_after_its_idle_timeout() {
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_millis(200)),
        hello,
    );
    let mut idle = idle_connections(&srv, 20);
    // The server closes each one by itself: end-of-stream, no bytes (the
    // client's failsafe read timeout would fail the test instead).
    for s in &mut idle {
        assert_closed(s);
    }
    // And the server still serves.
    let mut s = srv.connect();
    s.write_all(&get("/after")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello /after");
}

#[test]
fn a_fresh_connection_that_says_nothing_costs_no_worker() {
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(1)
            .idle_timeout(Duration::from_secs(600)),
        hello,
    );
    let silent: Vec<TcpStream> = (0..100).map(|_| srv.connect()).collect();
    let mut s = srv.connect();
    s.write_all(&get("/talker")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "hello /talker");
    drop(silent);
}

#[test]
fn graceful_shutdown_closes_parked_connections() {
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_secs(600)),
        hello,
    );
    let mut idle = idle_connections(&srv, 30);
    srv.shutdown();
    for s in &mut idle {
        assert_closed(s);
    }
}

#[test]
fn a_slow_handler_does_not_hold_the_requests_that_became_ready_with_it() {
    // Both workers are held while 20 parked connections and a slow one
    // all get their next request, so that a worker coming free finds them
    // ready together and takes them in one batch. Whichever worker takes
    // the slow request stays in its handler until the end; the other must
    // serve every other request meanwhile, those listed by a batch
    // included.
    let (hold, hold_control) = gate();
    let (slow, slow_control) = gate();
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_secs(600)),
        move |req: &mut Request| {
            match req.path() {
                "/hold" => hold.enter(),
                "/slow" => slow.enter(),
                _ => {}
            }
            hello(req)
        },
    );
    let mut fast = idle_connections(&srv, 20);
    let mut slow_conn = idle_connections(&srv, 1).pop().unwrap();
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = srv.connect();
            s.write_all(&get("/hold")).unwrap();
            hold_control.wait_entered();
            s
        })
        .collect();
    slow_conn.write_all(&get("/slow")).unwrap();
    for (i, s) in fast.iter_mut().enumerate() {
        s.write_all(&get(&format!("/fast/{i}"))).unwrap();
    }
    hold_control.release();
    hold_control.release();
    for s in &mut held {
        assert_eq!(read_reply(s, false).text(), "hello /hold");
    }
    slow_control.wait_entered();
    for (i, s) in fast.iter_mut().enumerate() {
        assert_eq!(read_reply(s, false).text(), format!("hello /fast/{i}"));
    }
    slow_control.release();
    assert_eq!(read_reply(&mut slow_conn, false).text(), "hello /slow");
}

#[test]
fn a_pipeline_longer_than_one_read_is_answered_whole() {
    // 400 requests of 64 bytes sent in one write: a read of 16 KiB ends
    // exactly between two requests, with more still in the socket. The
    // poller reports only new bytes (edge-triggered), so the connection
    // must not be parked while the rest still waits.
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_secs(600)),
        hello,
    );
    let mut s = idle_connections(&srv, 1).pop().unwrap();
    let n = 400;
    let path = |i: usize| format!("/p/{i:04}/{}", "x".repeat(30));
    let mut all = Vec::new();
    for i in 0..n {
        let one = get(&path(i));
        assert_eq!(one.len(), 64);
        all.extend_from_slice(&one);
    }
    s.write_all(&all).unwrap();
    for i in 0..n {
        assert_eq!(
            read_reply(&mut s, false).text(),
            format!("hello {}", path(i))
        );
    }
}

#[test]
fn a_request_sent_with_the_fin_is_answered_and_the_connection_closed() {
    // The peer's FIN is reported once (edge-triggered): after answering,
    // the connection is closed rather than parked for a FIN never
    // reported again.
    let srv = TestServer::with(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .threads(2)
            .idle_timeout(Duration::from_secs(600)),
        hello,
    );
    let mut idle = idle_connections(&srv, 20);
    for (i, s) in idle.iter_mut().enumerate() {
        s.write_all(&get(&format!("/last/{i}"))).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    for (i, s) in idle.iter_mut().enumerate() {
        assert_eq!(read_reply(s, false).text(), format!("hello /last/{i}"));
        assert_closed(s);
    }
}
