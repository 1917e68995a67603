//! The accept loop: `accept`, hand the connection on, repeat; the
//! listening socket, TCP or Unix ([`Listener`]); the listening socket of a
//! `SO_REUSEPORT` group (Linux), which `std` cannot make; and the file of a
//! Unix socket: what to do with one left behind, and removing ours.
//!
//! It never dies. Transient errors (`ECONNABORTED`, `EINTR`) are retried at
//! once; resource errors (`EMFILE`, `ENFILE`, `ENOBUFS`, …) are logged at
//! `warn` and retried after a back-off that doubles from 5 ms to 1 s
//! (Go's `Serve` does the same), so a full descriptor table slows the
//! server down instead of spinning or stopping it.
//!
//! Where a new connection goes: with the poller (Linux), it is parked at
//! once, and a waiting worker takes it when its first bytes arrive (at
//! once, if they already have), so a client that connects and thinks
//! costs no worker. Without it, to the worker queue. Past
//! [`Server::max_connections`](crate::Server::max_connections) open
//! connections, or when the queue is full, it is answered `503 Service
//! Unavailable` with `Retry-After: 1` and closed: memory stays bounded and
//! the client learns at once to come back. With the poller there is no
//! queue to fill: while no worker is free and
//! [`Server::queue`](crate::Server::queue) new connections already wait
//! for one, the loop stops accepting, and new clients wait in the
//! kernel's listen backlog.
//!
//! [`bind_reuse_port`] makes the socket itself: `socket`, `setsockopt`
//! (`SO_REUSEADDR`, as `std` sets, and `SO_REUSEPORT`), `bind`, `listen`.
//! `TcpListener::bind` cannot set an option between `socket` and `bind`,
//! and `SO_REUSEPORT` only counts when set before `bind`.
//!
//! A Unix domain socket is a file, which outlives a process that did not
//! remove it (a crash, `SIGKILL`), and `bind(2)` then fails with
//! `EADDRINUSE`. [`remove_stale_socket`] removes such a file only when it
//! is a socket and a `connect(2)` to it is refused, i.e. nothing listens
//! on it any more; a socket that accepts (another server) or a file that
//! is not a socket is never removed. [`SocketFile`] removes the socket a
//! server created when the server is done with it.

use super::clock::Throttle;
use super::connection::Connection;
use super::link::Link;
use super::registry::Registration;
use super::socket::Socket;
use super::stats::{self, Counter};
use super::worker::{self, Shared};
use crate::peer::Peer;
use crate::proto::conn::Conn;
use std::io;
use std::net::TcpListener;
#[cfg(target_os = "linux")]
use std::net::{SocketAddr, ToSocketAddrs};
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often a saturated accept loop looks again whether a worker is free.
const SATURATED_RECHECK: Duration = Duration::from_millis(20);

/// Listener is a listening socket: TCP, or a Unix domain socket.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A listening Unix domain stream socket.
    #[cfg(unix)]
    Unix(UnixListener),
}

impl Listener {
    /// Accepts one connection (`accept4(2)`): its socket, and who is at
    /// the other end.
    fn accept(&self) -> io::Result<(Socket, Peer)> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, a)| (Socket::Tcp(s), Peer::Tcp(a))),
            #[cfg(unix)]
            Listener::Unix(l) => l.accept().map(|(s, _)| (Socket::Unix(s), Peer::Unix)),
        }
    }
}

#[cfg(unix)]
impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }
}

/// Accepts connections until the server shuts down.
pub(crate) fn accept_loop(listener: &Listener, shared: &Arc<Shared>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        wait_while_saturated(shared);
        let accepted = listener.accept();
        if shared.config.is_shutting_down() {
            // Most likely the shutdown handle's own wake-up connection.
            return;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = BACKOFF_MIN;
                stats::count(Counter::Accepted);
                pair
            }
            Err(e) => {
                if is_transient(&e) {
                    log::debug!("accept: {e}; retrying");
                } else {
                    log::warn!("accept: {e}; retrying in {backoff:?}");
                    thread::sleep(backoff);
                    backoff = next_backoff(backoff);
                }
                continue;
            }
        };
        log::trace!("accepted {peer}");
        let link = match new_link(stream, shared) {
            Ok(link) => Arc::new(link),
            Err(e) => {
                log::debug!("{peer}: {e}");
                continue;
            }
        };
        let (id, open) = shared.registry.add(Arc::clone(&link));
        let registration = Registration {
            owner: Arc::clone(shared) as Arc<dyn super::registry::Owner>,
            id,
        };
        let conn_state = Connection::new(
            registration,
            Arc::clone(&shared.config),
            Arc::clone(&link),
            peer,
            Box::new(Conn::new(shared.config.limits)),
        );
        if open > shared.max_connections {
            worker::refuse(conn_state);
            continue;
        }
        let mut conn_state = conn_state;
        conn_state.waiting = Some(shared.waiting.ticket());
        shared.admit(conn_state);
    }
}

/// Wraps an accepted socket, in the parker's mode, and in a TLS session
/// when the server speaks TLS.
fn new_link(stream: Socket, shared: &Shared) -> io::Result<Link> {
    let link = Link::new(stream, shared.parker.is_nonblocking())?;
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.config.tls {
        return Ok(link.with_tls(super::tls::TlsStream::new(tls.accept()?)));
    }
    Ok(link)
}

/// Binds a listening TCP socket with `SO_REUSEPORT` set, to the first
/// address of `addrs` that binds, as `TcpListener::bind` tries them; the
/// error is the last address's. It listens with `backlog` at once, so the
/// port is served (connections queue) from here on.
///
/// Every socket of a group, in any process of the same user, sets the
/// option before `bind` to share the port (socket(7)); the kernel then
/// spreads new connections over the group's listening sockets.
#[cfg(target_os = "linux")]
pub(crate) fn bind_reuse_port(addrs: impl ToSocketAddrs, backlog: i32) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        match bind_one_reuse_port(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// Makes one listening socket for [`bind_reuse_port`]: the calls
/// `TcpListener::bind` makes (a close-on-exec socket, `SO_REUSEADDR`,
/// `bind`, `listen`), with `SO_REUSEPORT` before `bind`. The descriptor
/// is dropped (closed) on any error.
#[cfg(target_os = "linux")]
fn bind_one_reuse_port(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, ipproto, sockopt};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        Some(ipproto::TCP),
    )?;
    // As `std` does on Unix: a restarted server may bind while
    // connections of the old one linger in TIME_WAIT.
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, backlog)?;
    Ok(TcpListener::from(fd))
}

/// Makes way for a Unix socket at `path`: nothing there, or a socket file
/// left behind by a server that is gone, which is removed. A socket where
/// a server still listens, or a file that is not a socket, is left alone
/// and refused.
///
/// Whether a server listens is asked with a non-blocking `connect(2)`
/// (Linux): refused (`ECONNREFUSED`) means nobody does, and the file is
/// stale; accepted, or `EAGAIN` (its backlog is full: it is alive, only
/// busy), means somebody does. A blocking connect would wait on a busy
/// server's full backlog. Elsewhere, a plain connect.
///
/// # Errors
/// `AddrInUse` when a server listens there; `AlreadyExists` when the path
/// is not a socket; the error of `lstat`, `connect` or `unlink` otherwise
/// (no permission, say).
#[cfg(unix)]
pub(crate) fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; it is not removed",
                path.display()
            ),
        ));
    }
    match connect_unix_nonblocking(path) {
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("a server already listens on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("a server already listens on {} (busy)", path.display()),
        )),
        // Removed meanwhile: the way is clear.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            log::info!("removing the stale socket file {}", path.display());
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}

/// Connects to the Unix socket at `path` without waiting for a full
/// backlog (`EAGAIN` instead), and closes the connection at once.
#[cfg(target_os = "linux")]
fn connect_unix_nonblocking(path: &Path) -> io::Result<()> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn connect_unix_nonblocking(path: &Path) -> io::Result<()> {
    std::os::unix::net::UnixStream::connect(path).map(drop)
}

/// SocketFile is the file of a Unix socket a server created: removed
/// when the server is done with it (dropped), unless another socket has
/// taken its path meanwhile (told by its device and inode).
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
impl SocketFile {
    /// Notes the socket file just created at `path`.
    ///
    /// # Errors
    /// `lstat` failed.
    pub(crate) fn new(path: &Path) -> io::Result<SocketFile> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

#[cfg(unix)]
impl Drop for SocketFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if !ours {
            log::debug!("{}: no longer our socket; not removed", self.path.display());
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => log::debug!("removed the socket file {}", self.path.display()),
            Err(e) => log::warn!("cannot remove {}: {e}", self.path.display()),
        }
    }
}

/// With the poller: while every worker is busy and [`Server::queue`](crate::Server::queue)
/// new connections already wait for one, stops accepting until a worker
/// comes free, so that further clients wait in the kernel's listen
/// backlog rather than in the server. Rechecked every [`SATURATED_RECHECK`]
/// (a worker that takes a waiting connection also wakes it).
fn wait_while_saturated(shared: &Shared) {
    if !shared.parker.is_nonblocking() {
        return;
    }
    // Warned at most once a second: a flood must not flood the log.
    static WARNED: Throttle = Throttle::new();
    while !shared.parker.has_idle_workers()
        && shared.waiting.count() >= shared.queue
        && !shared.config.is_shutting_down()
    {
        if WARNED.ready() {
            log::warn!(
                "all workers busy and {} new connections waiting; not accepting",
                shared.queue
            );
        }
        shared.waiting.wait(SATURATED_RECHECK);
    }
}

/// Reports whether an `accept` error concerns only the connection being
/// accepted (it was aborted or reset before `accept`, or a signal came),
/// so the next `accept` may be tried at once. Anything else (`EMFILE`,
/// `ENFILE`, `ENOBUFS`, `ENOMEM`) is about the server's resources, which
/// only time frees.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Doubles the back-off after a resource error, up to [`BACKOFF_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aborted_connections_are_retried_at_once() {
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::Interrupted,
            io::ErrorKind::WouldBlock,
        ] {
            assert!(is_transient(&io::Error::from(kind)), "{kind:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn descriptor_and_memory_exhaustion_back_off() {
        // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux and the BSDs alike.
        #[cfg(target_os = "linux")]
        let codes = [24, 23, 105, 12];
        #[cfg(not(target_os = "linux"))]
        let codes = [24, 23, 55, 12];
        for code in codes {
            let e = io::Error::from_raw_os_error(code);
            assert!(!is_transient(&e), "{e}");
        }
    }

    #[test]
    fn back_off_doubles_from_5_ms_to_1_s() {
        let mut b = BACKOFF_MIN;
        let mut steps = vec![b];
        while b < BACKOFF_MAX {
            b = next_backoff(b);
            steps.push(b);
        }
        assert_eq!(steps.first(), Some(&Duration::from_millis(5)));
        assert_eq!(steps[1], Duration::from_millis(10));
        assert_eq!(steps.last(), Some(&Duration::from_secs(1)));
        assert_eq!(next_backoff(BACKOFF_MAX), BACKOFF_MAX);
        assert!(steps.len() < 10, "{steps:?}");
    }
}
