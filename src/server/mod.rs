//! The server: binding, the accept loop, the worker pool, and graceful
//! shutdown.
//!
//! This is the I/O edge. It moves bytes between sockets and the protocol
//! core, applies deadlines, and runs handlers on a fixed pool of threads;
//! every protocol decision is the core's ([`crate::proto::conn::Conn`]).
//!
//! One request's path through the files, top to bottom (each uses only
//! the files below it; `tests/layering.rs` checks):
//! - `listener`: accept, admission, hand the connection to the parker;
//!   the listening socket, TCP or Unix; the socket of a `SO_REUSEPORT`
//!   group ([`Server::bind_reuse_port`]); a Unix socket's file, stale or
//!   ours ([`Server::bind_unix`]);
//! - `worker`: the one worker loop, and the parker it was given (epoll,
//!   or the blocking fallback's queue); take a ready connection, advance
//!   it, park it, requeue it, or let it close;
//! - `connection`: advance one connection through its stages (idle, head,
//!   body, handler, flush, linger) until it must wait on its peer;
//! - `park`: what a connection waits for (`wait`), the epoll set
//!   (`epoll`), its slot state machine (`slots`) and wake policy (`wake`);
//! - `wire` (request bodies: read first, or lent the connection's state),
//!   `writer` (responses), `registry` (every open connection, for a
//!   shutdown);
//! - `link` (the socket, reads and writes in either mode), `outbound`
//!   (output waiting for the peer, under the minimum send rate);
//! - `socket` (a connection's socket, TCP or Unix, behind one interface);
//! - `config` (what serving a request needs of its server), `streams`
//!   (connections waiting for a streaming permit), `pool` (the threads),
//!   `clock`, `stats` (the live statistics, counted per thread).

mod clock;
mod config;
mod connection;
mod link;
mod listener;
mod outbound;
mod park;
mod pool;
mod registry;
mod session;
mod socket;
mod stats;
mod streams;
#[cfg(feature = "tls")]
mod tls;
mod wire;
mod worker;
mod writer;

use crate::forwarded::TrustedProxies;
use crate::handler::Handler;
use crate::limits::{Limits, Timeouts};
use config::{Config, Permits, ShutdownState};
use listener::Listener;
use registry::Registry;
pub use stats::{Stats, StatsHandle};
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use streams::Waiters;
use worker::{Parker, Shared};

/// Server is an HTTP/1.1 server bound to a listening socket.
///
/// [`Server::bind`] creates the socket at once (so [`Server::local_addr`]
/// tells the real port when binding port 0), [`Server::bind_reuse_port`]
/// one that shares its port with other servers (Linux),
/// [`Server::bind_unix`] a Unix domain socket (Unix), and
/// [`Server::from_listener`] and [`Server::from_unix_listener`] take one
/// made elsewhere. The builder
/// methods set the pool size, limits and timeouts; [`Server::serve`] runs
/// it until a [`ShutdownHandle`] stops it, and [`Server::spawn`] does the
/// same on a background thread.
///
/// # Examples
/// ```
/// use sockhttp::{Response, Router, Server};
/// use std::io::{Read, Write};
///
/// let app = Router::new().get("/", |_req| Response::text("hello"));
/// let server = Server::bind("127.0.0.1:0")?.threads(2).spawn(app)?;
///
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(reply.ends_with("\r\n\r\nhello"));
///
/// server.shutdown()?; // stop accepting, finish in-flight requests, join threads
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    /// Shared only with the shutdown handles of a server that stops
    /// listening with `shutdown(SHUT_RD)` (a reuse-port server; a Unix
    /// socket on Linux), and weakly (see [`Waker`]): `serve` drops it,
    /// which closes it.
    listener: Arc<Listener>,
    /// Where it listens; for a Unix socket, `local_addr` is the
    /// unspecified address (see [`Server::local_addr`]).
    listen_addr: ListenAddr,
    local_addr: SocketAddr,
    /// The socket file [`Server::bind_unix`] created: removed once the
    /// listening socket is closed.
    #[cfg(unix)]
    socket_file: Option<listener::SocketFile>,
    /// How a shutdown wakes the accept loop.
    waker: Waker,
    threads: usize,
    queue: usize,
    limits: Limits,
    timeouts: Timeouts,
    server_header: Option<String>,
    trusted: TrustedProxies,
    max_connections: usize,
    max_streaming_bodies: Option<usize>,
    /// A listen backlog to set when serving starts ([`Server::backlog`]).
    backlog: Option<u32>,
    state: Arc<ShutdownState>,
    /// The live statistics, which handles read ([`Server::stats_handle`]).
    stats: Arc<stats::Board>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

/// The default listen backlog: how many connections the kernel queues
/// before `accept` (capped by `net.core.somaxconn`). `std` listens with
/// 128, which a burst of a few thousand connections overflows (clients
/// then wait for SYN retransmits); Go asks for `somaxconn`, nginx for 511.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// The default limit on open connections (active, queued and idle);
/// past it a new connection is answered 503. Idle connections are cheap
/// (a few hundred bytes each when parked), so the limit is about file
/// descriptors: raise `ulimit -n` to go past about a thousand.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// The default number of worker threads: four per CPU, at least eight.
/// Workers block on sockets and on handlers, so more workers than CPUs
/// keep the CPUs busy.
pub fn default_threads() -> usize {
    thread::available_parallelism()
        .map_or(8, |n| n.get() * 4)
        .max(8)
}

/// The default number of accepted connections that may wait for a
/// worker while every worker is busy (see [`Server::queue`]).
pub const DEFAULT_QUEUE: usize = 1024;

impl Server {
    /// Binds a listening TCP socket to `addr` (`socket`, `setsockopt
    /// (SO_REUSEADDR)`, `bind`, `listen`, all inside
    /// `TcpListener::bind`).
    ///
    /// # Errors
    /// The address is invalid or in use.
    pub fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        let server = Server::from_listener(TcpListener::bind(addr)?)?;
        listen(&server.listener, DEFAULT_BACKLOG)?;
        Ok(server)
    }

    /// Binds a listening TCP socket to `addr` with `SO_REUSEPORT` set, so
    /// that several servers, in one process or in several, serve the same
    /// port; the kernel spreads new connections over them. Linux only.
    ///
    /// Every server of the group must bind this way (with the option set
    /// before `bind(2)`), as the same user; a socket bound without it (by
    /// [`Server::bind`], say) holding the port makes this fail with
    /// `AddrInUse`, and the other way round. It is otherwise
    /// [`Server::bind`]: `SO_REUSEADDR` too, the listen backlog
    /// [`DEFAULT_BACKLOG`] from here on ([`Server::backlog`] changes it
    /// when serving starts), and port 0 picks a free port, which the
    /// others then bind by number. The system calls are `socket`,
    /// `setsockopt(SO_REUSEADDR)`, `setsockopt(SO_REUSEPORT)`, `bind`,
    /// `listen`.
    ///
    /// The kernel picks one socket of the group for each new connection,
    /// by a hash of its addresses and ports, and the connection waits in
    /// that socket's accept queue whatever becomes of the socket: when it
    /// closes, what waits there is reset (unless the sysctl
    /// `net.ipv4.tcp_migrate_req` is 1, Linux 5.14 and later, which moves
    /// it to another socket of the group). So the graceful shutdown of
    /// such a server begins by stopping its socket listening
    /// (`shutdown(SHUT_RD)`), which takes it out of the group at once and
    /// wakes its accept loop. (A server from [`Server::bind`] is woken by
    /// a connection to its own address instead, which in a group might
    /// reach another server.) The README's "Several processes on one port"
    /// says how to restart without refusing connections.
    ///
    /// Elsewhere than on Linux this returns an `Unsupported` error: the
    /// BSDs and macOS have an option of this name that does not spread
    /// connections the same way. The method exists everywhere, so that a
    /// program offering it as an option builds everywhere.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::Server;
    ///
    /// # #[cfg(target_os = "linux")] {
    /// let first = Server::bind_reuse_port("127.0.0.1:0")?;
    /// // Usually in another process: the same port, by number.
    /// let second = Server::bind_reuse_port(first.local_addr())?;
    /// assert_eq!(second.local_addr(), first.local_addr());
    ///
    /// // Without the option, the port is taken.
    /// let taken = Server::bind(first.local_addr()).unwrap_err();
    /// assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// The address is invalid, or in use by a socket without the option
    /// or of another user; on other systems than Linux, always
    /// (`Unsupported`).
    pub fn bind_reuse_port(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        #[cfg(target_os = "linux")]
        {
            let backlog = i32::try_from(DEFAULT_BACKLOG).unwrap_or(i32::MAX);
            let listener = listener::bind_reuse_port(addr, backlog)?;
            let mut server = Server::from_listener(listener)?;
            server.waker = Waker::StopListening(Arc::downgrade(&server.listener));
            Ok(server)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = addr;
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "SO_REUSEPORT port sharing is supported on Linux only",
            ))
        }
    }

    /// Sets the listen backlog (default [`DEFAULT_BACKLOG`] for
    /// [`Server::bind`]; a socket given to [`Server::from_listener`] keeps
    /// its own unless this is called). It is applied when serving starts
    /// ([`Server::serve`], [`Server::spawn`]), by calling `listen(2)` again
    /// on the bound socket, which Linux allows; an error the kernel
    /// returns is theirs. Elsewhere this does nothing.
    #[must_use]
    pub fn backlog(mut self, n: u32) -> Server {
        self.backlog = Some(n);
        self
    }

    /// Applies the backlog set with [`Server::backlog`], once; not once a
    /// shutdown has begun, which may have stopped the socket listening
    /// (see [`Waker`]): `listen(2)` would make it listen again, with no
    /// wake-up to come for the accept loop.
    fn apply_backlog(&mut self) -> std::io::Result<()> {
        if self.state.shutting_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        match self.backlog.take() {
            Some(n) => listen(&self.listener, n),
            None => Ok(()),
        }
    }

    /// Sets how many connections may be open at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); past it, new ones get 503.
    ///
    /// # Panics
    /// If `n` is 0.
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Server {
        assert!(n > 0, "a server needs room for one connection");
        self.max_connections = n;
        self
    }

    /// Serves on an already listening socket (for example one inherited
    /// from a supervisor).
    ///
    /// A graceful shutdown wakes the accept loop by connecting to the
    /// socket's address, so the socket should be the only one listening
    /// there: for a socket of a `SO_REUSEPORT` group, use
    /// [`Server::bind_reuse_port`], whose shutdown does not connect.
    ///
    /// # Errors
    /// The socket has no local address.
    pub fn from_listener(listener: TcpListener) -> std::io::Result<Server> {
        let local_addr = listener.local_addr()?;
        Ok(Server::with_listener(
            Listener::Tcp(listener),
            ListenAddr::Tcp(local_addr),
            local_addr,
            Waker::Connect(wake_addr(local_addr)),
        ))
    }

    /// Binds a listening Unix domain socket at `path` (`socket(AF_UNIX)`,
    /// `bind`, `listen`, inside `UnixListener::bind`; then `listen` again
    /// for the backlog [`DEFAULT_BACKLOG`]). Unix only.
    ///
    /// For a proxy on the same machine (nginx's `proxy_pass
    /// http://unix:/run/app/app.sock:`, or an `upstream` with `server
    /// unix:…`): no port to allocate or firewall, no TCP handshake, and
    /// only who may open the file can connect. The server is otherwise the
    /// same: one pool, idle connections parked on epoll, the same limits
    /// and timeouts. A peer over the socket has no address:
    /// [`Request::peer`](crate::Request::peer) is
    /// [`Peer::Unix`](crate::Peer::Unix), and the log writes it `unix:`;
    /// to believe the forwarding headers of a proxy on the socket, trust
    /// `unix:` ([`TrustedProxies::unix`]). [`Server::local_addr`] says
    /// nothing useful for such a server; [`Server::listen_addr`] names the
    /// path.
    ///
    /// **A file already at `path`.** A socket file left behind by a server
    /// that did not remove it (it crashed, or was killed) is removed,
    /// once a `connect(2)` to it is refused: nothing listens there. A
    /// socket on which a server still listens is refused (`AddrInUse`),
    /// and so is a file that is not a socket (`AlreadyExists`): neither is
    /// ever removed.
    ///
    /// **Removal.** The socket file is removed when the server stops
    /// serving (a graceful shutdown, just after the listening socket is
    /// closed), or when a server that never served is dropped; not if
    /// another socket has replaced it meanwhile. A process that dies
    /// without a shutdown leaves it behind, for the rule above. On Linux
    /// a graceful shutdown begins by stopping the socket listening
    /// (`shutdown(SHUT_RD)`, as for [`Server::bind_reuse_port`]): new
    /// clients are refused at once, and the accept loop wakes even if the
    /// path now names another socket.
    ///
    /// **Permissions.** The file gets mode `0777` less the process's
    /// umask (`0755` with the common `022`), and connecting needs write
    /// permission on it (and search permission on its directories): with
    /// `022`, only the owner (and root) can connect. For a proxy that runs
    /// as another user (nginx's workers run as `www-data` or `nobody`),
    /// give the socket to a group they are in: `chown :www-data` and
    /// `chmod 660` it after binding (`std::fs::set_permissions`), or bind
    /// under a umask of `007` in a directory of that group. Binding is
    /// when the file appears with the umask's mode, so a tighter umask
    /// leaves no moment when anyone else could connect.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(unix)] {
    /// use sockhttp::{ListenAddr, Response, Router, Server};
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let dir = std::env::temp_dir().join(format!("sockhttp-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("app.sock");
    ///
    /// let app = Router::new().get("/", |req| Response::text(format!("hello {}", req.peer().unwrap())));
    /// let server = Server::bind_unix(&path)?.threads(2).spawn(app)?;
    /// assert_eq!(server.listen_addr(), &ListenAddr::Unix(path.clone()));
    /// assert_eq!(server.listen_addr().to_string(), format!("unix:{}", path.display()));
    ///
    /// let mut client = UnixStream::connect(&path)?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
    /// assert!(reply.ends_with("\r\n\r\nhello unix:"));
    ///
    /// server.shutdown()?;
    /// assert!(!path.exists(), "the socket file is removed");
    /// # std::fs::remove_dir(&dir)?;
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `AddrInUse` when a server listens at `path`; `AlreadyExists` when
    /// `path` is not a socket; otherwise the system's (no such directory,
    /// no permission, a path too long for a socket address: about 107
    /// bytes on Linux).
    #[cfg(unix)]
    pub fn bind_unix(path: impl AsRef<Path>) -> std::io::Result<Server> {
        let path = path.as_ref();
        listener::remove_stale_socket(path)?;
        let listener = UnixListener::bind(path)?;
        // From here on the file is ours: removed again on any error below.
        let file = listener::SocketFile::new(path)?;
        let mut server = Server::from_unix_listener(listener)?;
        server.socket_file = Some(file);
        // The socket is the server's alone: a shutdown stops it listening,
        // rather than connect to a path that someone may have taken over.
        #[cfg(target_os = "linux")]
        {
            server.waker = Waker::StopListening(Arc::downgrade(&server.listener));
        }
        listen(&server.listener, DEFAULT_BACKLOG)?;
        Ok(server)
    }

    /// Serves on an already listening Unix domain socket, for example one
    /// inherited from systemd (a socket unit with `ListenStream=/run/…`).
    /// Unix only.
    ///
    /// The socket's file is not the server's: it is left in place when
    /// the server stops (systemd removes it with `RemoveOnStop=yes`). A
    /// graceful shutdown wakes the accept loop by connecting to the
    /// socket's address, as [`Server::from_listener`] does. It is
    /// otherwise [`Server::bind_unix`].
    ///
    /// # Errors
    /// The socket has no local address, or an unnamed one (nobody could
    /// connect to it).
    #[cfg(unix)]
    pub fn from_unix_listener(listener: UnixListener) -> std::io::Result<Server> {
        let local = listener.local_addr()?;
        let listen_addr = ListenAddr::from_unix(&local).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the Unix socket has no name, so nobody can connect to it",
            )
        })?;
        Ok(Server::with_listener(
            Listener::Unix(listener),
            listen_addr,
            unspecified(),
            Waker::ConnectUnix(local),
        ))
    }

    /// Makes a server with the default settings on `listener`.
    fn with_listener(
        listener: Listener,
        listen_addr: ListenAddr,
        local_addr: SocketAddr,
        waker: Waker,
    ) -> Server {
        Server {
            listener: Arc::new(listener),
            listen_addr,
            local_addr,
            #[cfg(unix)]
            socket_file: None,
            waker,
            threads: default_threads(),
            queue: DEFAULT_QUEUE,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            server_header: Some("sockhttp".to_owned()),
            trusted: TrustedProxies::none(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_streaming_bodies: None,
            backlog: None,
            state: Arc::new(ShutdownState::default()),
            stats: Arc::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Returns the address the server listens on, with the real port.
    ///
    /// A server on a Unix domain socket has no such address: it returns
    /// the unspecified address `0.0.0.0:0`, which no client can connect
    /// to, rather than fail. [`Server::listen_addr`] tells either kind.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns where the server listens: a TCP address with the real
    /// port, or the path of its Unix socket. Its `Display` is what the
    /// examples print after `listening on`: `http://127.0.0.1:8080`, or
    /// `unix:/run/app/app.sock` (serving TLS, they write `https://` and
    /// the TCP address themselves: the listener does not know the
    /// scheme).
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.listen_addr
    }

    /// Sets the number of worker threads (default: [`default_threads`]).
    ///
    /// # Panics
    /// If `n` is 0.
    #[must_use]
    pub fn threads(mut self, n: usize) -> Server {
        assert!(n > 0, "a server needs at least one worker thread");
        self.threads = n;
        self
    }

    /// Sets how many accepted connections may wait for a worker while
    /// every worker is busy (default [`DEFAULT_QUEUE`]).
    ///
    /// On Linux, where waiting connections are parked on epoll, the
    /// server then stops accepting until a worker comes free: further
    /// clients wait in the kernel's listen backlog ([`Server::backlog`]),
    /// and requests on connections already open wait in their sockets.
    /// Elsewhere, accepted connections queue for a worker, and a new one
    /// that finds the queue full is answered `503 Service Unavailable`
    /// with `Retry-After: 1`. Either way, memory stays bounded.
    ///
    /// # Panics
    /// If `n` is 0.
    #[must_use]
    pub fn queue(mut self, n: usize) -> Server {
        assert!(n > 0, "the connection queue needs room for one connection");
        self.queue = n;
        self
    }

    /// Sets how many request bodies may stream to handlers at once
    /// (default: [`default_streaming_bodies`], half the pool).
    ///
    /// A body longer than [`Limits::prebuffer_body_bytes`] (or one whose
    /// client waits for `100 Continue`) is not read before the handler
    /// runs: the handler reads it from the socket, and its worker waits on
    /// the peer meanwhile. So that slow or endless uploads cannot hold
    /// every worker, only `n` such bodies stream at once; the next waits,
    /// holding no worker, until one ends. The same permits bound the
    /// workers that wait for a slow reader of a streamed answer
    /// (`Body::Reader`, `Body::Writer`): a stream that would wait when none
    /// is free is cut off (its connection closed) rather than hold one
    /// more worker. Without epoll every connection holds its worker
    /// anyway, and this does nothing.
    ///
    /// # Panics
    /// If `n` is 0.
    #[must_use]
    pub fn max_streaming_bodies(mut self, n: usize) -> Server {
        assert!(n > 0, "one body must be able to stream");
        self.max_streaming_bodies = Some(n);
        self
    }

    /// Sets every limit at once.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// Sets every timeout at once.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Server {
        self.timeouts = timeouts;
        self
    }

    /// Sets the largest request body (see [`Limits::max_body_bytes`]).
    #[must_use]
    pub fn max_body_bytes(mut self, n: u64) -> Server {
        self.limits.max_body_bytes = n;
        self
    }

    /// Sets the largest request head (see [`Limits::max_head_bytes`]).
    #[must_use]
    pub fn max_head_bytes(mut self, n: usize) -> Server {
        self.limits.max_head_bytes = n;
        self
    }

    /// Sets the idle keep-alive timeout (see [`Timeouts::idle`]).
    #[must_use]
    pub fn idle_timeout(mut self, d: Duration) -> Server {
        self.timeouts.idle = d;
        self
    }

    /// Sets the request head deadline (see [`Timeouts::head`]).
    #[must_use]
    pub fn head_timeout(mut self, d: Duration) -> Server {
        self.timeouts.head = d;
        self
    }

    /// Sets how long a TLS handshake may take (see
    /// [`Timeouts::handshake`]).
    #[must_use]
    pub fn handshake_timeout(mut self, d: Duration) -> Server {
        self.timeouts.handshake = d;
        self
    }

    /// Serves HTTPS: every connection speaks TLS with `config`'s
    /// certificate (the `tls` feature; see [`tls`](crate::tls)). Keep a
    /// clone of `config` to replace the certificate while the server runs.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, config: crate::tls::TlsConfig) -> Server {
        self.tls = Some(config);
        self
    }

    /// Sets the base request body deadline (see [`Timeouts::body`]).
    #[must_use]
    pub fn body_timeout(mut self, d: Duration) -> Server {
        self.timeouts.body = d;
        self
    }

    /// Sets the body rate the body deadline allows for (see
    /// [`Timeouts::body_min_bytes_per_sec`]).
    #[must_use]
    pub fn body_min_bytes_per_sec(mut self, n: u64) -> Server {
        self.timeouts.body_min_bytes_per_sec = n;
        self
    }

    /// Sets how long a response may wait for a peer that takes nothing of
    /// it (see [`Timeouts::write`]).
    #[must_use]
    pub fn write_timeout(mut self, d: Duration) -> Server {
        self.timeouts.write = d;
        self
    }

    /// Sets the slowest a peer may take a response (see
    /// [`Timeouts::send_min_bytes_per_sec`]; 0: no minimum).
    #[must_use]
    pub fn send_min_bytes_per_sec(mut self, n: u64) -> Server {
        self.timeouts.send_min_bytes_per_sec = n;
        self
    }

    /// Sets how long a response is sent before the minimum send rate
    /// applies (see [`Timeouts::send_grace`]).
    #[must_use]
    pub fn send_grace(mut self, d: Duration) -> Server {
        self.timeouts.send_grace = d;
        self
    }

    /// Sets how long a graceful shutdown waits for requests in flight (see
    /// [`Timeouts::shutdown`]).
    #[must_use]
    pub fn shutdown_timeout(mut self, d: Duration) -> Server {
        self.timeouts.shutdown = d;
        self
    }

    /// Sets the `Server` header sent with every response (`sockhttp` by
    /// default; `None` sends none).
    #[must_use]
    pub fn server_header(mut self, value: Option<&str>) -> Server {
        self.server_header = value.map(str::to_owned);
        self
    }

    /// Sets the reverse proxies whose forwarding headers are believed
    /// (none by default: a peer can claim anything). With proxies set,
    /// [`Request::client_addr`], [`Request::forwarded_proto`] and the
    /// access log show the client behind them.
    ///
    /// Only the header family the proxies set is read:
    /// `X-Forwarded-For` with `X-Forwarded-Proto` by default, or
    /// `Forwarded` (RFC 7239) with [`TrustedProxies::header`]; the other
    /// family is ignored, since a proxy passes it through as the client
    /// wrote it.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{ForwardingHeader, Server, TrustedProxies};
    ///
    /// // Behind nginx on this machine, which sets X-Forwarded-For.
    /// let server = Server::bind("127.0.0.1:0")?.trusted_proxies("127.0.0.1".parse()?);
    /// # drop(server);
    ///
    /// // Behind proxies that set `Forwarded` instead.
    /// let proxies: TrustedProxies = "10.0.0.0/8".parse()?;
    /// let server = Server::bind("127.0.0.1:0")?
    ///     .trusted_proxies(proxies.header(ForwardingHeader::Forwarded));
    /// # drop(server);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`Request::client_addr`]: crate::Request::client_addr
    /// [`Request::forwarded_proto`]: crate::Request::forwarded_proto
    #[must_use]
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Server {
        self.trusted = proxies;
        self
    }

    /// Returns a handle that can stop the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            state: Arc::clone(&self.state),
            waker: self.waker.clone(),
        }
    }

    /// Returns a handle that reads the server's live statistics (see
    /// [`Stats`]), from any thread, once it serves: take it here to give it
    /// to a handler, before [`Server::serve`] or [`Server::spawn`] takes
    /// the server.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle::new(Arc::clone(&self.stats))
    }

    /// Serves requests with `handler` until shut down, then returns.
    ///
    /// The handler is any [`Handler`]: a [`Router`](crate::Router),
    /// [`StaticFiles`](crate::StaticFiles), a middleware, a function, or a
    /// closure through [`handler_fn`](crate::handler_fn), which lets Rust
    /// infer its argument type
    /// (`serve(handler_fn(|req| Response::text(req.path().to_owned())))`).
    ///
    /// The shutdown is graceful: stop accepting (the listening socket is
    /// closed, so new connections are refused, or go to the other servers
    /// of a [`Server::bind_reuse_port`] group; those still waiting in its
    /// accept queue are reset by the kernel), close connections that
    /// are idle between requests, let in-flight requests finish (their
    /// responses say `Connection: close`) for up to
    /// [`Timeouts::shutdown`], then shut the remaining sockets down and
    /// join every thread. Joining waits for handlers to return: a handler
    /// that never returns keeps `serve` from returning.
    ///
    /// # Errors
    /// The kernel refused the [`Server::backlog`], or the worker threads
    /// could not be started.
    pub fn serve(mut self, handler: impl Handler) -> std::io::Result<()> {
        self.apply_backlog()?;
        // The accept loop counts on a shard of its own, on this thread.
        let _counting = self.stats.enter();
        let jobs = pool::jobs(self.queue);
        let parker = parker(new_poller(self.threads), jobs.0.clone());
        let max_streams = if parker.is_nonblocking() {
            self.max_streaming_bodies
                .unwrap_or_else(|| default_streaming_bodies(self.threads))
        } else {
            // Every connection holds its worker anyway: no permit to wait
            // for.
            self.threads
        };
        let config = Arc::new(Config {
            handler: Box::new(handler),
            limits: self.limits,
            timeouts: self.timeouts,
            server_header: self.server_header,
            trusted: self.trusted,
            shutdown: Arc::clone(&self.state),
            permits: Permits::new(max_streams),
            #[cfg(feature = "tls")]
            tls: self.tls,
        });
        let shared = Arc::new(Shared {
            config,
            registry: Registry::default(),
            parker,
            streams: Waiters::default(),
            waiting: Arc::default(),
            queue: self.queue,
            max_connections: self.max_connections,
        });
        let census: Arc<dyn stats::Census> = Arc::clone(&shared) as _;
        self.stats.set_census(Arc::downgrade(&census));
        drop(census);
        let mut pool = pool::ThreadPool::start(
            self.threads,
            jobs.0,
            jobs.1,
            poll_fn(&shared),
            Arc::clone(&self.stats),
        )?;
        log::debug!(
            "serving on {} with {} workers{}",
            self.listen_addr,
            self.threads,
            if shared.parker.is_nonblocking() {
                ", waiting connections parked on epoll"
            } else {
                ""
            }
        );
        listener::accept_loop(&self.listener, &shared);
        drop(self.listener);
        // Closed: nothing listens on the file any more. Removed at once, so
        // that a new server may bind the path while this one finishes.
        #[cfg(unix)]
        drop(self.socket_file.take());

        log::debug!("shutting down: closing idle connections");
        for st in shared.parker.close_idle() {
            // As the registry closes the others (a TLS session says
            // `close_notify` first).
            st.link.shutdown(std::net::Shutdown::Both);
        }
        shared.registry.close_idle();
        shared.tell_upgraded();
        let deadline = Instant::now() + self.timeouts.shutdown;
        if !shared.registry.wait_empty(deadline) {
            log::warn!("shutdown timeout passed; closing the remaining connections");
            shared.registry.close_all();
        }
        drop(shared.streams.drain());
        // Release the workers waiting on the poller, so that they see the
        // pool end.
        shared.parker.stop();
        pool.join();
        // What is still parked (its sockets shut down) holds the server's
        // state: dropped here, it is closed and the state freed.
        drop(shared.parker.close_all());
        log::debug!("shut down");
        Ok(())
    }

    /// Runs [`Server::serve`] on a new thread and returns at once.
    ///
    /// # Errors
    /// The kernel refused the [`Server::backlog`], or the thread could not
    /// be started.
    pub fn spawn(mut self, handler: impl Handler) -> std::io::Result<RunningServer> {
        self.apply_backlog()?;
        let addr = self.local_addr;
        let listen_addr = self.listen_addr.clone();
        let handle = self.shutdown_handle();
        let stats = self.stats_handle();
        let thread = thread::Builder::new()
            .name("sockhttp-accept".to_owned())
            .spawn(move || self.serve(handler))?;
        Ok(RunningServer {
            addr,
            listen_addr,
            handle,
            stats,
            thread: Some(thread),
        })
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listen_addr", &self.listen_addr)
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .field("limits", &self.limits)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// The address the shutdown handle connects to, to wake a blocked
/// `accept`: the listening address, with a wildcard IP made loopback.
fn wake_addr(local: SocketAddr) -> SocketAddr {
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// The address a server on a Unix socket reports as its
/// [`Server::local_addr`]: `0.0.0.0:0`, where nobody listens.
#[cfg(unix)]
fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// Sets the backlog of a listening socket by calling `listen(2)` again,
/// which Linux allows (capped by `net.core.somaxconn`); elsewhere the
/// socket keeps the backlog `std` gave it.
fn listen(listener: &Listener, backlog: u32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::net::listen(listener, i32::try_from(backlog).unwrap_or(i32::MAX))?;
    #[cfg(not(target_os = "linux"))]
    let _ = (listener, backlog);
    Ok(())
}

/// Waker is how a shutdown wakes the accept loop out of `accept(2)`,
/// which has no timeout; the loop then sees the shutdown flag and returns.
#[derive(Clone, Debug)]
enum Waker {
    /// Connect to the listening address ([`wake_addr`]): the loop accepts
    /// that connection.
    Connect(SocketAddr),
    /// Connect to the listening Unix socket, by its address (a path, or
    /// an abstract name on Linux), likewise.
    #[cfg(unix)]
    ConnectUnix(std::os::unix::net::SocketAddr),
    /// Stop the socket listening (`shutdown(SHUT_RD)`, Linux), which makes
    /// a blocked `accept` fail with `EINVAL`. For a socket of a
    /// `SO_REUSEPORT` group, where a connection to the address may be
    /// hashed to another socket of the group: this one would then wait
    /// for a client of its own, which it would drop. It also takes the
    /// socket out of the group at once, so the kernel sends no more
    /// connections its way. Never for a socket others may share, such as
    /// one systemd holds across restarts: it would stop listening for them
    /// too. Also for the Unix socket of [`Server::bind_unix`], whose path
    /// someone may have taken over while it served: a connection to it
    /// would reach them. Weak, so that a handle outliving the server does
    /// not keep its socket open.
    #[cfg(target_os = "linux")]
    StopListening(std::sync::Weak<Listener>),
}

impl Waker {
    /// Wakes the accept loop (see [`Waker`]); a failure is logged, and
    /// the loop then sees the shutdown only after its next `accept`.
    fn wake(&self) {
        match self {
            Waker::Connect(addr) => {
                if let Err(e) = TcpStream::connect_timeout(addr, Duration::from_secs(1)) {
                    log::warn!("could not wake the accept loop: {e}");
                }
            }
            // A connect to a Unix socket fails at once when nobody
            // listens, and waits only while its backlog is full, which the
            // accept loop, seeing the shutdown, empties.
            #[cfg(unix)]
            Waker::ConnectUnix(addr) => {
                if let Err(e) = std::os::unix::net::UnixStream::connect_addr(addr) {
                    log::warn!("could not wake the accept loop: {e}");
                }
            }
            #[cfg(target_os = "linux")]
            Waker::StopListening(listener) => {
                // Gone: `serve` has returned, or the server was dropped
                // unserved; no accept loop to wake.
                let Some(listener) = listener.upgrade() else {
                    return;
                };
                if let Err(e) = rustix::net::shutdown(&*listener, rustix::net::Shutdown::Read) {
                    log::warn!("could not stop the listening socket: {e}");
                }
            }
        }
    }
}

/// ListenAddr is where a server listens: a TCP address, or a Unix domain
/// socket.
///
/// Its `Display` is a line's worth for people and scripts:
/// `http://127.0.0.1:8080` for TCP, `unix:/run/app/app.sock` for a socket
/// file (`unix:` followed by the path, as nginx writes a Unix upstream),
/// and `unix:@name` for a Linux abstract socket.
///
/// # Examples
/// ```
/// use sockhttp::{ListenAddr, Server};
///
/// let server = Server::bind("127.0.0.1:0")?;
/// let ListenAddr::Tcp(addr) = server.listen_addr() else {
///     unreachable!("bound to a TCP address");
/// };
/// assert_eq!(*addr, server.local_addr());
/// assert_eq!(server.listen_addr().to_string(), format!("http://{addr}"));
/// assert_eq!(
///     ListenAddr::Unix("/run/app/app.sock".into()).to_string(),
///     "unix:/run/app/app.sock"
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListenAddr {
    /// A TCP address, with the real port.
    Tcp(SocketAddr),
    /// The path of a Unix domain socket's file.
    Unix(PathBuf),
    /// The name of a Linux abstract Unix socket (no file; the name
    /// without its leading NUL byte, written `@name`).
    UnixAbstract(Vec<u8>),
}

impl ListenAddr {
    /// Returns the TCP address, if it is one.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(addr) => Some(*addr),
            _ => None,
        }
    }

    /// Returns the path of the Unix socket's file, if it is one.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            ListenAddr::Unix(path) => Some(path),
            _ => None,
        }
    }

    /// Makes the address of a listening Unix socket: `None` for an
    /// unnamed one.
    #[cfg(unix)]
    fn from_unix(addr: &std::os::unix::net::SocketAddr) -> Option<ListenAddr> {
        if let Some(path) = addr.as_pathname() {
            return Some(ListenAddr::Unix(path.to_owned()));
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            if let Some(name) = addr.as_abstract_name() {
                return Some(ListenAddr::UnixAbstract(name.to_owned()));
            }
        }
        None
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "http://{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            ListenAddr::UnixAbstract(name) => {
                write!(f, "unix:@{}", String::from_utf8_lossy(name))
            }
        }
    }
}

/// ShutdownHandle stops a running server gracefully, from any thread.
///
/// Cloning is cheap; every clone stops the same server.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    state: Arc<ShutdownState>,
    waker: Waker,
}

impl ShutdownHandle {
    /// Starts a graceful shutdown (see [`Server::serve`]) and returns at
    /// once; `serve` returns when it is complete. Calling it again does
    /// nothing.
    pub fn shutdown(&self) {
        if self.state.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        // After the flag: the loop checks it once `accept` returns.
        self.waker.wake();
    }

    /// Reports whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.state.shutting_down.load(Ordering::SeqCst)
    }
}

/// RunningServer is a server serving on a background thread
/// ([`Server::spawn`]). Dropping it shuts the server down and waits.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    listen_addr: ListenAddr,
    handle: ShutdownHandle,
    stats: StatsHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Returns the address the server listens on (`0.0.0.0:0` for a
    /// Unix socket: see [`Server::local_addr`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns where the server listens, TCP address or Unix socket path
    /// (see [`Server::listen_addr`]).
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.listen_addr
    }

    /// Returns a handle that can stop the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Returns the server's live statistics now (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Returns a handle that reads the server's live statistics from any
    /// thread (see [`StatsHandle`]).
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Shuts the server down gracefully and waits until every thread has
    /// finished.
    ///
    /// # Errors
    /// The error `serve` returned, if any.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> std::io::Result<()> {
        self.handle.shutdown();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::error!("server stopped with an error: {e}");
        }
    }
}

/// The epoll parker (Linux, unless switched off with the
/// `sockhttp_no_epoll` cfg, which CI uses to run the tests on the blocking
/// fallback).
#[cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]
type PollerRef = Arc<park::epoll::Poller<connection::ConnState>>;
#[cfg(not(all(target_os = "linux", not(sockhttp_no_epoll))))]
type PollerRef = std::convert::Infallible;

#[cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]
fn new_poller(workers: usize) -> Option<PollerRef> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    match park::epoll::Poller::new(workers, cpus) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            log::warn!("epoll unavailable ({e}); waiting connections will hold workers");
            None
        }
    }
}

#[cfg(not(all(target_os = "linux", not(sockhttp_no_epoll))))]
fn new_poller(_workers: usize) -> Option<PollerRef> {
    None
}

/// The work of a worker with epoll: wait on the parker for a ready
/// connection and serve it (see `worker`). Without epoll, workers take
/// jobs from the queue.
fn poll_fn(shared: &Arc<Shared>) -> Option<pool::Poll> {
    if !shared.parker.is_nonblocking() {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        let shared = Arc::clone(shared);
        Some(Arc::new(move || worker::poll_once(&shared)))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Chooses the parker: epoll when there is a poller, else the queue.
#[cfg(all(target_os = "linux", not(sockhttp_no_epoll)))]
fn parker(poller: Option<PollerRef>, submitter: pool::Submitter) -> Parker {
    match poller {
        Some(p) => Parker::Epoll(p),
        None => Parker::Blocking(submitter),
    }
}

#[cfg(not(all(target_os = "linux", not(sockhttp_no_epoll))))]
fn parker(poller: Option<PollerRef>, submitter: pool::Submitter) -> Parker {
    let _ = poller;
    Parker::Blocking(submitter)
}

/// The default number of request bodies that may stream to handlers at
/// once: half the pool, so that slow or endless uploads leave the other
/// half serving.
pub fn default_streaming_bodies(threads: usize) -> usize {
    (threads / 2).max(1)
}
