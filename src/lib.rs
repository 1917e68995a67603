//! sockhttp is an HTTP/1.1 server library for blocking Rust: `std::net`
//! sockets, a fixed pool of worker threads, and no async runtime.
//!
//! A request is parsed with [httparse] from a [`bytes`] buffer, routed to a
//! [`Handler`], and answered by a [`Response`] the server frames and writes;
//! the connection is then kept alive for the next request. It is hardened
//! for the open internet: every limit and timeout is enforced while
//! reading, every ambiguity that could smuggle a request is refused, and a
//! panicking handler costs one `500`, never a thread. What it deliberately
//! leaves out — TLS, HTTP/2, load balancing — is what a reverse proxy such
//! as nginx in front of it does well.
//!
//! # Quick start
//!
//! ```
//! use sockhttp::{HandlerResult, Response, Router, Server};
//! use std::io::{Read, Write};
//!
//! let app = Router::new()
//!     .get("/", |_req| Response::text("hello"))
//!     .get("/users/{id}", |req| {
//!         Response::text(format!("user {}", req.param("id").unwrap_or("?")))
//!     })
//!     .post("/upload", |req| -> HandlerResult {
//!         let body = req.body_bytes()?; // 413 if over the limit, via `?`
//!         let text = std::str::from_utf8(&body)?; // any error: a 500, logged
//!         Ok(Response::text(format!("{} characters", text.chars().count())))
//!     });
//!
//! // Port 0: the kernel picks a free port; local_addr() tells which.
//! let server = Server::bind("127.0.0.1:0")?.threads(4).spawn(app)?;
//!
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET /users/7 HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.contains("Content-Length: 6\r\n"));
//! assert!(reply.ends_with("\r\n\r\nuser 7"));
//!
//! server.shutdown()?; // graceful: finish in-flight requests, join all threads
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! In a program, [`Server::serve`] blocks instead of [`Server::spawn`], and a
//! [`ShutdownHandle`] (from [`Server::shutdown_handle`]) stops it from a
//! signal handler.
//!
//! # Writing handlers
//!
//! * A route takes a function or a closure `Fn(&mut Request) -> R`, for
//!   any `R` that is [`IntoResponse`]; the closure's argument type is
//!   inferred. Where a whole [`Handler`] is expected (a mount, the
//!   fallback, [`Server::serve`]), a closure goes through [`handler_fn`].
//! * A handler that uses `?` returns a [`HandlerResult`]: sockhttp's own
//!   errors keep their status (`req.body_bytes()?` over the limit is a
//!   `413`), any other error is a `500` that is logged and never sent, and
//!   a [`HandlerError`] answers with the status and body the handler
//!   chooses.
//! * State shared by the handlers lives in the router
//!   ([`Router::with_state`], read with [`Request::state`]); a middleware
//!   hands a handler values through [`Request::extensions_mut`] (see
//!   [`Handler`] for an example).
//! * [`testing::TestClient`] calls any handler without a socket and
//!   collects its response, whatever its body.
//! * A handler reads an HTML form with [`Request::form`] (a [`Form`]; the
//!   [`form`] module) and cookies with [`Request::cookie`], and sets them
//!   with [`Response::with_cookie`] (a [`Cookie`]; the [`cookie`] module).
//!
//! # From system calls to HTTP
//!
//! Step 0 is a plain TCP echo server: `examples/tcp_echo.rs` names each
//! system call as it makes it. An HTTP server makes the same calls; what
//! it adds lies between `recv` and `send`. Here is where each call comes
//! from in sockhttp:
//!
//! | system call | what it does | where in sockhttp |
//! |---|---|---|
//! | `socket`, `setsockopt(SO_REUSEADDR)`, `bind`, `listen(fd, 128)` | make the listening socket | inside `TcpListener::bind`, called by [`Server::bind`] |
//! | `listen(fd, 4096)` | a second `listen` raises the backlog (Linux) | [`Server::backlog`] |
//! | `socket`, `setsockopt(SO_REUSEADDR)`, `setsockopt(SO_REUSEPORT)`, `bind`, `listen(fd, 4096)` | a listening socket that shares its port with other servers, in this process or others (Linux); its graceful shutdown stops it listening with `shutdown(SHUT_RD)` | [`Server::bind_reuse_port`], through `server::listener` |
//! | `connect` (non-blocking), `unlink`, `socket(AF_UNIX)`, `bind`, `listen(fd, 4096)` | a Unix domain socket for a proxy on the same machine: a socket file nobody listens on any more is removed first, then the socket made; `unlink` again at the graceful shutdown | [`Server::bind_unix`], through `server::listener` |
//! | `accept4` | take the next connection from the kernel's queue | the accept loop (`server::listener`) |
//! | `ioctl(FIONBIO)` | make the socket non-blocking: a read or write that would wait returns at once (Linux) | `server::link` |
//! | `epoll_ctl(ADD)` | park the new connection: wait for its first request without a thread | the accept loop, through `server::park::epoll` (Linux) |
//! | `epoll_pwait` | an idle worker waits for whichever parked connection is ready first, and takes it | `server::park::epoll` (Linux) |
//! | `setsockopt(TCP_NODELAY)` | send small responses at once | once per connection (`server::link`) |
//! | `recvfrom` | read bytes into the connection's `BytesMut` buffer; nothing there: park until there is | `server::link` |
//! | — (no system call) | parse the head, decode the body, route, run the handler, encode the response head | `proto::head`, `proto::body`, [`Router`], `proto::encode` |
//! | `sendto` or `writev` | send the response head and body in one call: a small body copied behind the head (`sendto`), a large or streamed one beside it (`writev`); what the socket does not take waits in a queue | `server::writer` → `server::link` → `server::outbound` |
//! | `sendto(MSG_MORE)`, `sendfile` | a file body: the head held back to share a packet, then the kernel copies the file to the socket without user space | `server::outbound` (Linux; a read/write loop elsewhere) |
//! | `epoll_ctl(MOD)` | the first time a peer reads too slowly: wait for the socket to be writable too | `server::park::epoll` (Linux) |
//! | — (no system call) | answered, nothing more buffered: park the connection again until its next request; it stays registered, edge-triggered | `server::worker`, `server::park::epoll` (Linux) |
//! | `shutdown(SHUT_WR)` | tell the peer we are done, but still read what it sends | closing a connection (`server::connection`) |
//! | `close` | release the socket | dropping the `TcpStream` |
//!
//! Without epoll (elsewhere than Linux) the socket stays blocking: each
//! read and write waits, bounded by `setsockopt(SO_RCVTIMEO)` (what is left
//! of the phase's deadline) and `setsockopt(SO_SNDTIMEO)`.
//!
//! This is `strace -f -e trace=network,read,write,writev,sendfile,epoll_pwait,epoll_ctl,futex,close,ioctl`
//! of the `echo_api` example (`--threads 2`) serving `curl -s URL/inspect?b2b=1 …
//! URL/inspect?b2b=4 --next -d hi URL/echo`: five requests on one kept-alive
//! connection, strace's split lines joined. Thread 325 is the accept
//! loop, 328 and 329 are workers. A request costs three calls: the
//! `epoll_pwait` that hands the connection to whichever worker waits, a
//! `recvfrom`, and one `sendto` for head and body (a `writev` of both
//! when the body is large or streamed, as `/echo`'s is); parking it again
//! costs none (under load, one `epoll_pwait` hands out many connections):
//!
//! ```text
//! 325 accept4(3, {sa_family=AF_INET, sin_port=htons(50370), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 9
//! 325 ioctl(9, FIONBIO, [1])            = 0
//! 325 epoll_ctl(4, EPOLL_CTL_ADD, 9, {events=EPOLLIN|EPOLLRDHUP|EPOLLET, data={u32=0, u64=0}}) = 0
//! 329 epoll_pwait(4, [{events=EPOLLIN, data={u32=0, u64=0}}], 64, 250, NULL, 0) = 1
//! 329 setsockopt(9, SOL_TCP, TCP_NODELAY, [1], 4) = 0
//! 329 recvfrom(9, "GET /inspect?b2b=1 HTTP/1.1\r\nHos"..., 4096, 0, NULL, NULL) = 92
//! 329 sendto(9, "HTTP/1.1 200 OK\r\nContent-Type: a"..., 336, MSG_NOSIGNAL, NULL, 0) = 336
//! 329 epoll_pwait(4, [{events=EPOLLIN, data={u32=0, u64=0}}], 64, 246, NULL, 0) = 1
//! 329 recvfrom(9, "GET /inspect?b2b=2 HTTP/1.1\r\nHos"..., 4096, 0, NULL, NULL) = 92
//! 329 sendto(9, "HTTP/1.1 200 OK\r\nContent-Type: a"..., 336, MSG_NOSIGNAL, NULL, 0) = 336
//!     (b2b=3 and b2b=4: the same three calls, on the other worker)
//! 328 epoll_pwait(4, [{events=EPOLLIN, data={u32=0, u64=0}}], 64, 246, NULL, 0) = 1
//! 328 recvfrom(9, "POST /echo HTTP/1.1\r\nHost: 127.0"..., 4096, 0, NULL, NULL) = 154
//! 328 writev(9, [{iov_base="HTTP/1.1 200 OK\r\nContent-Type: a"..., iov_len=142}, {iov_base="hi", iov_len=2}], 2) = 144
//! 329 epoll_pwait(4, [{events=EPOLLIN|EPOLLRDHUP, data={u32=0, u64=0}}], 64, 246, NULL, 0) = 1
//! 329 recvfrom(9, "", 4096, 0, NULL, NULL) = 0
//! 329 shutdown(9, SHUT_WR)              = 0
//! 329 close(9)                          = 0
//! ```
//!
//! Requests already buffered (a pipeline) are answered without parking.
//! A request whose head or small body is still arriving, and an answer the
//! peer is slow to read, park too, with what they have so far.
//!
//! A file body (`static_site`, a 3 MB file, then `curl -r 100-199`) is one
//! `sendto` for the head and one `sendfile` for the bytes, whole or range:
//!
//! ```text
//! sendto(7, "HTTP/1.1 200 OK\r\nContent-Type: a"..., 298, MSG_NOSIGNAL|MSG_MORE, NULL, 0) = 298
//! sendfile(7, 8, [0] => [3000000], 3000000) = 3000000
//! sendto(6, "HTTP/1.1 206 Partial Content\r\nCo"..., 345, MSG_NOSIGNAL|MSG_MORE, NULL, 0) = 345
//! sendfile(6, 8, [100] => [200], 100) = 100
//! ```
//!
//! # Upgrades and WebSockets
//!
//! A `101 Switching Protocols` answer (RFC 9110 §7.8) hands the
//! connection to another protocol; the response carries what runs next
//! ([`Body::Upgrade`]). The server refuses the switch with `400` unless
//! the request is a `GET` over HTTP/1.1 with `Connection: upgrade` and
//! no body, with no request pipelined behind it; the bytes read past
//! the head go to the new protocol, explicitly ([`Upgraded::read_ahead`]).
//!
//! * **WebSockets** ([`ws`]) stay with the server. A route answers the
//!   handshake with [`ws::Upgrade`], which carries the session's
//!   [`ws::Handler`]. The connection then becomes a session: each whole
//!   message calls the handler on a worker, and between messages the
//!   session parks with the idle connections (in the epoll set, with the
//!   deadline of its next timer), so a quiet session costs a few hundred
//!   bytes, not a thread. A [`ws::Sender`] on another thread queues a
//!   message and wakes the parked session, which a worker then serves.
//! * **Any other protocol** takes the connection over
//!   ([`Response::upgrade`]): a function gets the socket on a thread of
//!   its own and owns it from then on.
//!
//! This is the same `strace` as above of `echo_api` (`--threads 2`)
//! serving one session on `/ws/echo` (a Python client: the handshake, a
//! text message `hello`, a ping, the close), from the request on; 803
//! and 802 are the two workers. Per message, as per request: the
//! `epoll_pwait` that hands the session to a worker, a `recvfrom`, one
//! `sendto` (frame head and payload together), and the session parks
//! again without a call:
//!
//! ```text
//! 803 recvfrom(9, "GET /ws/echo HTTP/1.1\r\nHost: x\r\n"..., 4096, 0, NULL, NULL) = 147
//! 803 sendto(9, "HTTP/1.1 101 Switching Protocols"..., 184, MSG_NOSIGNAL, NULL, 0) = 184
//!     (parked at once: a client waits for the 101 before it sends)
//! 803 epoll_pwait(4, [{events=EPOLLIN, data={u32=0, u64=0}}], 64, 250, NULL, 0) = 1
//! 803 recvfrom(9, "\201\2057\372!=_\237MQX", 16384, 0, NULL, NULL) = 11
//! 803 sendto(9, "\201\5hello", 7, MSG_NOSIGNAL, NULL, 0) = 7
//! 802 epoll_pwait(4, [{events=EPOLLIN, data={u32=0, u64=0}}], 64, 250, NULL, 0) = 1
//! 802 recvfrom(9, "\211\2047\372!=G\223OZ", 16384, 0, NULL, NULL) = 10
//! 802 sendto(9, "\212\4ping", 6, MSG_NOSIGNAL, NULL, 0) = 6
//! 802 epoll_pwait(4, [{events=EPOLLIN, data={u32=0, u64=0}}], 64, 250, NULL, 0) = 1
//! 802 recvfrom(9, "\210\2027\372!=4\22", 16384, 0, NULL, NULL) = 8
//! 802 sendto(9, "\210\2\3\350", 4, MSG_NOSIGNAL, NULL, 0) = 4
//! 802 shutdown(9, SHUT_WR)              = 0
//! 802 close(9)                          = 0
//! ```
//!
//! The client's frames are masked (`7\372!=` is the key); the server's
//! are not. The close frame (`\210\2\3\350`: code 1000) is echoed, and
//! the server closes the TCP connection first (RFC 6455 §7.1.1).
//!
//! # Architecture
//!
//! ```text
//!   your handlers ── Handler, Router, StaticFiles, Request, Response
//!         │                      (application API: no sockets)
//!   ┌─────┴──────────────────────────────────────────────────────┐
//!   │ server: accept loop → epoll set ← idle workers take ready  │  I/O edge:
//!   │         connections (no epoll: a bounded queue); a worker  │  sockets, threads,
//!   │         advances one until it waits on its peer, then parks│  clocks
//!   └─────┬──────────────────────────────────────────────────────┘
//!         │ bytes in / events out, response → bytes
//!   ┌─────┴──────────────────────────────────────────────────────┐
//!   │ proto: head (httparse), body decoders, encode, Conn        │  pure: no I/O,
//!   │        (the connection state machine)                      │  unit-tested, fuzzed
//!   └─────┬──────────────────────────────────────────────────────┘
//!   types, error, limits (std only)
//! ```
//!
//! A module uses only what is below it. The protocol core never names a
//! socket, a thread or a clock (a test checks), so every rule about HTTP
//! can be tested byte by byte and fuzzed; the server edge moves bytes and
//! obeys the core's connection state ([`_internals::conn::Conn`]), which is
//! an explicit value that can be suspended between requests and resumed.
//!
//! # Limits, timeouts and hostile clients
//!
//! Every limit is checked while reading, before the next read, never after
//! buffering; a peer can make a connection hold at most one head's worth
//! of bytes plus one read buffer, whatever it sends. Defaults (all in
//! [`limits`], all configurable through [`Limits`] and [`Timeouts`]):
//!
//! | limit | default | answer |
//! |---|---|---|
//! | request line | 8 KiB | `414 URI Too Long`, close |
//! | request head (line + fields) | 64 KiB | `431 Request Header Fields Too Large`, close |
//! | header fields | 100 | `431`, close |
//! | request body (declared or streamed) | 1 GiB | `413 Content Too Large`, close |
//! | body read before the handler runs | 64 KiB | longer: it streams to the handler |
//! | bodies streaming to handlers at once | half the pool | the next waits, holding no worker |
//! | body held in memory by [`Request::body_bytes`] | 2 MiB | `413`, close |
//! | fields of a form ([`Request::form`], [`Request::query_form`]) | 1000 | `413` (`414` for a query) |
//! | unread body drained after a handler | 256 KiB | more: the connection closes instead |
//! | ranges in one `Range` field ([`StaticFiles`]) | 64, adding up to no more than the file, at most two overlapping, 8 out of order | past any of these: the whole file with `200` |
//! | trailer section | 16 KiB | `431`, close |
//! | chunk-size line | 4 KiB | `400`, close |
//! | head deadline (from its first byte) | 20 s | `408 Request Timeout`, close |
//! | body deadline (from the end of the head, or from `100 Continue`) | 30 s + 1 s per 500 bytes received | `408`, close |
//! | idle keep-alive | 60 s | quiet close |
//! | a response the peer takes nothing of | 30 s | close |
//! | the slowest a peer may read a response, after 5 s | 240 bytes/s | close |
//! | graceful shutdown | 30 s | remaining sockets are shut down |
//! | new connections waiting for a worker while all are busy (queue) | 1024 | Linux: stop accepting (clients wait in the listen backlog); elsewhere `503 Service Unavailable` + `Retry-After: 1`, close |
//! | open connections, idle included | 16,384 | `503` + `Retry-After: 1`, close |
//!
//! A route can have longer (or shorter) body and write deadlines than the
//! server's ([`with_timeouts`], [`Request::set_timeouts`]): an upload
//! route, a large download. They count from the moment its handler runs,
//! once the request is routed: for a body that streams to it and for its
//! answer. A body of up to 64 KiB, read before routing, stays under the
//! server's deadline, as the head does.
//!
//! A handler that reads an upload with [`Request::multipart`] has limits
//! of its own ([`MultipartLimits`], set per handler): 1000 parts and 128 MiB
//! of body (`413`), 16 KiB and 16 fields per part header section (`431`).
//! Whatever the client sends, the [`multipart`] reader holds at most a
//! boundary's length of a part's content, or one part header section.
//!
//! A connection that waits on its peer costs no worker: on Linux it is
//! parked on epoll, with its partial request or its unsent answer, until
//! the peer moves or a deadline passes (a few hundred bytes each; the pool
//! serves 10,000 open connections): between requests, in the middle of a
//! request head or of a body of up to 64 KiB, and while the peer is slow
//! to read an answer the server owns (bytes, a file, or the parts of a
//! `multipart/byteranges` answer). Only a handler
//! that chose to stream (a larger body, a `Body::Reader` or `Body::Writer`
//! answer) waits on the peer, under the same deadlines and rates, and at
//! most half the pool reads streaming bodies at once.
//!
//! What never happens, whatever a peer sends: a panic (no `unwrap` on
//! peer data; sizes use checked arithmetic), unbounded memory, a worker
//! held past its deadlines, a worker held by a peer that is merely slow
//! (epoll), a response body that echoes the peer's bytes
//! or internal errors (error bodies are built from the status alone). Both
//! `Content-Length` and `Transfer-Encoding`, differing lengths, a final
//! coding other than `chunked`, whitespace before a colon, obs-fold, bare
//! CR and control characters are refused with `400` and a close, so a
//! proxy in front cannot be made to see a different request boundary.
//!
//! # Panics, logging, and what is not done
//!
//! Nothing reachable from peer input panics. Setup mistakes panic early,
//! with a `# Panics` section on the method: zero threads, a malformed or
//! duplicate route. So does a header field a handler sets that may not be
//! sent (a name that is not a token, a value with CR, LF or NUL) through
//! `with_header`, `insert` or `append`, which are for the program's own
//! names and values; values from outside it go through
//! [`Response::try_with_header`], [`Headers::try_insert`] and
//! [`Headers::try_append`], which return [`InvalidHeader`] instead (see
//! [`Headers`]). A handler that panics is caught: the client gets
//! `500` (or, if the response had started, a closed connection) and the
//! panic is logged at `error`; the worker thread lives on.
//!
//! Logging goes through the [`log`] facade, so nothing is printed unless
//! the program installs a logger (the examples use `env_logger`):
//! `error` for our bugs (a caught panic); `warn` for resources (accept
//! errors, a saturated pool, a response whose length was wrong); `info` for
//! one access-log line per request on the target `sockhttp::access`
//! (`peer "METHOD target VERSION" status body-bytes duration`); `debug`
//! for peer protocol errors (so a hostile peer cannot flood `warn`);
//! `trace` for byte counts. Values of `Authorization` and `Cookie` are
//! never logged.
//!
//! Live statistics (connections open, parked and busy; requests by
//! status class; bytes each way; refusals, timeouts by phase, caught
//! panics) are read with [`RunningServer::stats`], or from a handler
//! with a [`StatsHandle`] from [`Server::stats_handle`]: see [`Stats`]
//! for what each number counts. Each worker counts on a cache line of its
//! own, and the gauges are counted when read, so serving pays nothing
//! measurable for them.
//!
//! Not done, on purpose: HTTP/2 and HTTP/3, `CONNECT` tunnels, request
//! body content codings (`gzip`), compression of responses, and
//! WebSocket extensions (`permessage-deflate`). Not done yet: TLS. Put
//! nginx in front for those.
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod cookie;
pub mod error;
mod extensions;
pub mod form;
pub mod forwarded;
mod handler;
pub mod limits;
pub mod multipart;
mod peer;
mod proto;
mod request;
mod response;
mod router;
mod server;
mod static_files;
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;
mod types;
mod upgrade;
pub mod uri;
pub mod ws;

pub use cookie::{Cookie, SameSite};
pub use error::{Error, Phase, Result};
pub use extensions::Extensions;
pub use form::Form;
pub use forwarded::{ForwardingHeader, TrustedProxies};
pub use handler::{Handler, HandlerError, HandlerResult, handler_fn, with_timeouts};
pub use limits::MultipartLimits;
pub use limits::{Limits, Timeouts};
pub use multipart::{Multipart, Part};
pub use peer::Peer;
pub use request::{Request, RequestBody, RequestBuilder};
pub use response::{Body, IntoResponse, Response, Segment, WriteFn};
pub use router::Router;
pub use server::{
    DEFAULT_BACKLOG, DEFAULT_MAX_CONNECTIONS, DEFAULT_QUEUE, ListenAddr, RunningServer, Server,
    ShutdownHandle, Stats, StatsHandle, default_streaming_bodies, default_threads,
};
pub use static_files::StaticFiles;
pub use types::{Headers, HttpDate, InvalidHeader, Method, StatusCode, Version};
pub use upgrade::{OnUpgrade, Upgraded};

/// Internals exposed for the fuzz targets and benchmarks: the pure
/// protocol core. Not a stable API.
#[doc(hidden)]
pub mod _internals {
    pub use crate::proto::*;
}
