//! The accept loop survives running out of file descriptors: `accept`
//! fails with `EMFILE`, the error is logged at `warn`, and the loop backs
//! off and retries, so the connection that was waiting is served as soon
//! as descriptors are free again.
//!
//! The descriptor limit is per process, so this file holds a single test
//! (its own process) that lowers the limit, fills the descriptor table,
//! and restores both before it ends, even if it fails.
#![cfg(target_os = "linux")]

mod support;

use log::{Level, LevelFilter, Log, Metadata, Record};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use sockhttp::{Request, Response};
use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Condvar, Mutex};
use support::*;

/// Keeps the `warn` records of the `sockhttp` targets and wakes a test
/// waiting for one.
struct Warnings {
    records: Mutex<Vec<String>>,
    logged: Condvar,
}

impl Log for Warnings {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= Level::Warn && m.target().starts_with("sockhttp")
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut records = self.records.lock().unwrap();
            records.push(record.args().to_string());
            self.logged.notify_all();
        }
    }

    fn flush(&self) {}
}

static WARNINGS: Warnings = Warnings {
    records: Mutex::new(Vec::new()),
    logged: Condvar::new(),
};

impl Warnings {
    /// Waits until a record containing `text` has been logged.
    fn wait_for(&self, text: &str) -> String {
        let records = self.records.lock().unwrap();
        let (records, timeout) = self
            .logged
            .wait_timeout_while(records, FAILSAFE, |r| !r.iter().any(|m| m.contains(text)))
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "no warning containing {text:?}: {records:?}"
        );
        records.iter().find(|m| m.contains(text)).unwrap().clone()
    }
}

/// The process's descriptor table, filled to its (lowered) limit; dropping
/// it closes the fillers and restores the limit.
struct Exhausted {
    fillers: Vec<File>,
    saved: Rlimit,
}

impl Exhausted {
    /// Lowers the soft limit to a little above what is open, then opens
    /// `/dev/null` until no descriptor is left.
    fn fill() -> Exhausted {
        let saved = getrlimit(Resource::Nofile);
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(open + 64),
                maximum: saved.maximum,
            },
        )
        .expect("lower the descriptor limit");
        let mut table = Exhausted {
            fillers: Vec::new(),
            saved,
        };
        loop {
            match File::open("/dev/null") {
                Ok(f) => table.fillers.push(f),
                Err(e) if e.raw_os_error() == Some(24) => return table,
                Err(e) => panic!("open /dev/null: {e}"),
            }
            assert!(table.fillers.len() < 10_000, "the limit did not apply");
        }
    }

    /// Frees one descriptor for the caller's next socket.
    fn free_one(&mut self) {
        self.fillers.pop().expect("a filler to free");
    }
}

impl Drop for Exhausted {
    fn drop(&mut self) {
        self.fillers.clear();
        let _ = setrlimit(Resource::Nofile, self.saved);
    }
}

#[test]
#[cfg_attr(
    sockhttp_no_epoll,
    ignore = "without epoll the kept-alive connection holds the only worker"
)]
fn accept_loop_backs_off_on_emfile_and_serves_the_waiting_connection() {
    log::set_logger(&WARNINGS).expect("the only logger of this process");
    log::set_max_level(LevelFilter::Warn);
    // The idle timeout is long, so the server closes nothing (and frees no
    // descriptor) by itself while the table is full.
    let srv = TestServer::with(
        server()
            .threads(1)
            .idle_timeout(std::time::Duration::from_secs(3600)),
        |req: &mut Request| Response::text(format!("served {}", req.path())),
    );
    // A kept-alive connection, open across the whole test.
    let mut s = srv.connect();
    s.write_all(&get("/before")).unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "served /before");

    let mut table = Exhausted::fill();
    // The client takes the one free descriptor; nothing is left for the
    // server's `accept`.
    table.free_one();
    let mut waiting = match TcpStream::connect(srv.addr()) {
        Ok(c) => c,
        Err(e) => panic!("connect with one free descriptor: {e}"),
    };
    waiting.set_read_timeout(Some(FAILSAFE)).unwrap();
    waiting.write_all(&get("/waiting")).unwrap();
    let warning = WARNINGS.wait_for("accept:");
    assert!(
        warning.contains("Too many open files") || warning.contains("os error 24"),
        "{warning}"
    );

    // Descriptors come back: the accept loop is still alive, and the
    // connection that waited in the backlog is served.
    drop(table);
    assert_eq!(read_reply(&mut waiting, false).text(), "served /waiting");
    let mut after = srv.connect();
    after.write_all(&get("/after")).unwrap();
    assert_eq!(read_reply(&mut after, false).text(), "served /after");
    drop(s);
}
