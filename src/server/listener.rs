//! The accept loop: `accept`, hand the connection to the pool, repeat.
//!
//! It never dies. Transient errors (`ECONNABORTED`, `EINTR`) are retried at
//! once; resource errors (`EMFILE`, `ENFILE`, `ENOBUFS`, …) are logged at
//! `warn` and retried after a back-off that doubles from 5 ms to 1 s
//! (Go's `Serve` does the same), so a full descriptor table slows the
//! server down instead of spinning or stopping it.
//!
//! Overload policy: when every worker is busy and the queue is full, the
//! new connection is answered `503 Service Unavailable` with
//! `Retry-After: 1` and closed, right here, without reading its request.
//! Memory stays bounded and the client learns at once that it should come
//! back, rather than waiting in the kernel backlog for an unknown time.

use super::Shared;
use super::connection;
use super::io::Link;
use super::pool::ThreadPool;
use super::writer::write_response;
use crate::error::Error;
use crate::response::Response;
use crate::types::{StatusCode, Version};
use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections until the server shuts down.
pub(crate) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, pool: &ThreadPool) {
    let mut backoff = BACKOFF_MIN;
    let started = Instant::now();
    let last_warn = AtomicU64::new(0);
    loop {
        let accepted = listener.accept();
        if shared.is_shutting_down() {
            // Most likely the shutdown handle's own wake-up connection.
            return;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = BACKOFF_MIN;
                pair
            }
            Err(e) => {
                match e.kind() {
                    io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::Interrupted
                    | io::ErrorKind::WouldBlock => {
                        log::debug!("accept: {e}; retrying");
                    }
                    _ => {
                        log::warn!("accept: {e}; retrying in {backoff:?}");
                        thread::sleep(backoff);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
                continue;
            }
        };
        log::trace!("accepted {peer}");
        let link = Arc::new(Link::new(stream));
        let id = shared.registry.add(Arc::clone(&link));
        let guard = Unregister(Arc::clone(shared), id);
        let job_link = Arc::clone(&link);
        let job = Box::new(move || {
            connection::serve(&guard.0, job_link, peer);
            drop(guard);
        });
        if let Err(job) = pool.try_execute(job) {
            // Dropping the job unregisters the connection.
            drop(job);
            // Warn at most once a second: a flood must not flood the log.
            let now = started.elapsed().as_secs() + 1;
            if last_warn.swap(now, Ordering::Relaxed) != now {
                log::warn!("all workers busy and queue full; answering 503");
            }
            refuse(link, shared);
        }
    }
}

/// Answers 503 and closes, without blocking the accept loop.
fn refuse(link: Arc<Link>, shared: &Shared) {
    let stream: &TcpStream = &link.stream;
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    // Built and written like every other response (so it has `Date` and
    // `Server`); a new socket's send buffer is empty, so this small write
    // completes without blocking.
    let resp = Response::from_error(&Error::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "all workers busy and queue full",
    ))
    .with_header("Retry-After", "1");
    let _ = write_response(&link, shared, resp, false, Version::Http11, true, None);
    let _ = stream.shutdown(Shutdown::Write);
    // Read what the client already sent, so closing does not reset the
    // connection and destroy the answer before it is read.
    let mut scratch = [0u8; 4096];
    let _ = (&*stream).read(&mut scratch);
}

/// Unregisters a connection when its job ends, however it ends (run,
/// panicked, or refused and dropped unrun).
struct Unregister(Arc<Shared>, u64);

impl Drop for Unregister {
    fn drop(&mut self) {
        self.0.registry.remove(self.1);
    }
}
