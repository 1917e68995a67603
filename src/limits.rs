//! Every limit and timeout, with its default and the reason for it.
//!
//! Limits are checked while reading, before the next read, never after
//! buffering (hyper's `max_buf_size`, h11's `max_incomplete_event_size`):
//! a peer can make the server hold at most `max_head_bytes` plus one read
//! buffer per connection, whatever it sends. This module performs no I/O.

use std::time::Duration;

/// 8 KiB: the longest request line (method, target, version), counted
/// with its CRLF. Over it: 414.
/// nginx's `large_client_header_buffers` is 8 KiB; Apache's
/// `LimitRequestLine` is 8190.
pub const DEFAULT_MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;
/// 64 KiB: the whole request head, request line included. Over it: 431.
/// nginx allows 4 × 8 KiB, node.js 16 KiB, Go 1 MiB; 64 KiB fits the
/// largest cookie jars browsers send.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// 100 header fields. Over it: 431. hyper and Apache use 100.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// 1 GiB: the largest request body, declared or streamed. Over it: 413
/// and close. Bodies stream, so this bounds time and disk, not memory:
/// how long one upload may hold a streaming permit. Apache's
/// `LimitRequestBody` default is 1 GiB too; nginx's 1 MiB
/// `client_max_body_size` is a proxy's, which buffers bodies to disk. A
/// handler that takes a body in memory is bounded by
/// [`DEFAULT_MAX_BUFFERED_BODY_BYTES`] anyway.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024 * 1024;
/// 64 KiB: a request body of at most this many bytes is read whole
/// before the handler runs, while the connection waits on its peer
/// without a worker, so the handler reads it from memory; a longer one
/// (or one whose client waits for `100 Continue`) streams to the handler,
/// which then waits on the peer, under the body deadline and within the
/// server's streaming permits
/// ([`Server::max_streaming_bodies`](crate::Server::max_streaming_bodies)).
/// A connection holds at most this much of a body in memory before a
/// worker takes it. nginx's `client_body_buffer_size` is 16 KiB, past
/// which it writes the body to a file; a body of an API call or a form
/// fits in 64 KiB.
pub const DEFAULT_PREBUFFER_BODY_BYTES: usize = 64 * 1024;
/// 2 MiB: the largest body [`Request::body_bytes`](crate::Request::body_bytes)
/// will hold in memory. Over it: 413 and close.
pub const DEFAULT_MAX_BUFFERED_BODY_BYTES: usize = 2 * 1024 * 1024;
/// 1000: the most fields [`Request::form`](crate::Request::form) and
/// [`Form::parse`](crate::Form::parse) accept in one form. Over it: 413
/// (414 for a query string). The body limit alone would let a 2 MiB body
/// of `&a&a&…` become a million fields, tens of MB of small strings; no
/// HTML form has a thousand fields. PHP's `max_input_vars` is 1000, and
/// Go's multipart reader stops at 1000 parts.
pub const DEFAULT_MAX_FORM_FIELDS: usize = 1000;
/// 256 KiB: how much unread body the server reads and discards after the
/// handler so the connection can be kept alive; more, and it closes
/// instead. Go's `maxPostHandlerReadBytes` is 256 KiB.
pub const DEFAULT_MAX_DRAIN_BYTES: u64 = 256 * 1024;
/// 16 KiB: the trailer section of a chunked body. Over it: 431 and close.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 16 * 1024;
/// 4 KiB: one chunk-size line, extensions included, counted up to (not
/// including) its LF. Over it: 400 and
/// close (extensions are ignored, but must not be an unbounded buffer).
pub const DEFAULT_MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// 60 s: how long a kept-alive connection may wait for its next request.
/// Past it the connection is closed without a response. nginx's
/// `keepalive_timeout` is 75 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// 10 s: how long a TLS handshake may take, from the connection's
/// accept; past it the connection is closed without a word (there is no
/// channel to answer on yet). The idle and head deadlines count from its
/// end. A full handshake is two round trips.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// 20 s: a deadline for the whole request head, from its first byte. A
/// client that sends one byte a second cannot hold a worker past it: 408
/// and close. Apache's `mod_reqtimeout` allows 20–40 s.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(20);
/// 30 s: the base deadline for a request body, from the end of the head
/// (or from the `100 Continue` a waiting client was sent); extended by one
/// second for every [`DEFAULT_BODY_MIN_BYTES_PER_SEC`] bytes received, so
/// large uploads at a sane rate finish and a dribbling client does not
/// hold a worker. Past it: 408 and close.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// 500 bytes/s: the slowest body transfer rate the body deadline allows
/// for. Apache's `mod_reqtimeout` uses `MinRate=500`.
pub const DEFAULT_BODY_MIN_BYTES_PER_SEC: u64 = 500;
/// 30 s: the longest a response may wait with the peer taking none of it
/// (the client stopped reading). Past it the connection is closed. nginx's
/// `send_timeout` is 60 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// 240 bytes/s: once a response has waited for its reader longer than
/// [`DEFAULT_SEND_GRACE`], the reader must have taken at least this much
/// a second on average, or the connection is closed: a client that
/// reads a large answer a few bytes at a time cannot keep it open for
/// ever. ASP.NET Kestrel's `MinResponseDataRate` is 240 bytes/s after a
/// 5 s grace.
pub const DEFAULT_SEND_MIN_BYTES_PER_SEC: u64 = 240;
/// 5 s: how long a response may wait for its reader before the minimum
/// send rate applies ([`DEFAULT_SEND_MIN_BYTES_PER_SEC`]).
pub const DEFAULT_SEND_GRACE: Duration = Duration::from_secs(5);
/// 30 s: how long a graceful shutdown waits for in-flight requests
/// before closing their sockets. Kubernetes' default grace period is 30 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Limits bounds what one request may make the server hold.
///
/// Every field defaults to its `DEFAULT_*` constant; change fields on a
/// `Limits::default()` and pass it to
/// [`Server::limits`](crate::Server::limits).
///
/// # Examples
/// ```
/// let mut limits = sockhttp::Limits::default();
/// limits.max_body_bytes = 10 * 1024 * 1024;
/// assert_eq!(limits.max_headers, sockhttp::limits::DEFAULT_MAX_HEADERS);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest request line; see [`DEFAULT_MAX_REQUEST_LINE_BYTES`].
    pub max_request_line_bytes: usize,
    /// The largest request head; see [`DEFAULT_MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// The most header fields; see [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
    /// The largest body; see [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// The largest body read before the handler runs; see
    /// [`DEFAULT_PREBUFFER_BODY_BYTES`].
    pub prebuffer_body_bytes: usize,
    /// The largest in-memory body; see [`DEFAULT_MAX_BUFFERED_BODY_BYTES`].
    pub max_buffered_body_bytes: usize,
    /// The most unread body drained after a handler; see [`DEFAULT_MAX_DRAIN_BYTES`].
    pub max_drain_bytes: u64,
    /// The largest trailer section; see [`DEFAULT_MAX_TRAILER_BYTES`].
    pub max_trailer_bytes: usize,
    /// The longest chunk-size line; see [`DEFAULT_MAX_CHUNK_LINE_BYTES`].
    pub max_chunk_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line_bytes: DEFAULT_MAX_REQUEST_LINE_BYTES,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            prebuffer_body_bytes: DEFAULT_PREBUFFER_BODY_BYTES,
            max_buffered_body_bytes: DEFAULT_MAX_BUFFERED_BODY_BYTES,
            max_drain_bytes: DEFAULT_MAX_DRAIN_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
            max_chunk_line_bytes: DEFAULT_MAX_CHUNK_LINE_BYTES,
        }
    }
}

/// Timeouts bounds how long a peer may take, phase by phase.
///
/// Head and body timeouts are *deadlines* (Go's `ReadHeaderTimeout`), not
/// per-read timeouts: `std` only offers a per-read timeout, which a client
/// sending a byte a second resets forever, so the server computes the
/// deadline once and sets the socket timeout to what is left before each
/// read.
///
/// They are the server's ([`Server::timeouts`](crate::Server::timeouts)),
/// for every request; a route can run under its own
/// ([`with_timeouts`](crate::with_timeouts),
/// [`Request::set_timeouts`](crate::Request::set_timeouts)), which cover
/// a body that streams to its handler and the sending of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Waiting for a next request; see [`DEFAULT_IDLE_TIMEOUT`].
    pub idle: Duration,
    /// Reading a request head; see [`DEFAULT_HEAD_TIMEOUT`].
    pub head: Duration,
    /// Reading a request body (base); see [`DEFAULT_BODY_TIMEOUT`].
    pub body: Duration,
    /// Body rate the deadline allows for; see [`DEFAULT_BODY_MIN_BYTES_PER_SEC`].
    pub body_min_bytes_per_sec: u64,
    /// A response the peer takes nothing of; see [`DEFAULT_WRITE_TIMEOUT`].
    pub write: Duration,
    /// The slowest a reader may take a response; see
    /// [`DEFAULT_SEND_MIN_BYTES_PER_SEC`] (0: no minimum).
    pub send_min_bytes_per_sec: u64,
    /// Before the minimum send rate applies; see [`DEFAULT_SEND_GRACE`].
    pub send_grace: Duration,
    /// Graceful shutdown grace period; see [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub shutdown: Duration,
    /// A TLS handshake (the `tls` feature); see
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            idle: DEFAULT_IDLE_TIMEOUT,
            head: DEFAULT_HEAD_TIMEOUT,
            body: DEFAULT_BODY_TIMEOUT,
            body_min_bytes_per_sec: DEFAULT_BODY_MIN_BYTES_PER_SEC,
            write: DEFAULT_WRITE_TIMEOUT,
            send_min_bytes_per_sec: DEFAULT_SEND_MIN_BYTES_PER_SEC,
            send_grace: DEFAULT_SEND_GRACE,
            shutdown: DEFAULT_SHUTDOWN_TIMEOUT,
            handshake: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// Returns how long after the end of the head a body of which
    /// `received` bytes have arrived may keep the connection: the base
    /// body timeout plus one second per `body_min_bytes_per_sec` bytes.
    pub fn body_allowance(&self, received: u64) -> Duration {
        let rate = self.body_min_bytes_per_sec.max(1);
        self.body
            .saturating_add(Duration::from_secs(received / rate))
    }
}

/// 1000: the most parts one `multipart/form-data` body may have. Over
/// it: 413. Go's `Reader.ReadForm` allows 1000 (`GODEBUG=multipartmaxparts`);
/// ASP.NET Core's form `ValueCountLimit` is 1024. Each part costs a few
/// hundred bytes of bookkeeping at most, but a handler typically does
/// some work per part (a file opened, a row written).
pub const DEFAULT_MAX_PARTS: usize = 1000;
/// 16 KiB: the header section of one part (its field lines and the empty
/// line that ends them). Over it: 431, as for a trailer section, the
/// other field lines carried in a body. ASP.NET Core's
/// `MultipartHeadersLengthLimit` is 16 KiB; Go's `Reader` allows 10 MiB.
/// Browsers and curl send two short fields.
pub const DEFAULT_MAX_PART_HEADER_BYTES: usize = 16 * 1024;
/// 16: the most header fields in one part. Over it: 431. ASP.NET Core's
/// `MultipartHeadersCountLimit` is 16; Go's `Reader` allows 10,000.
pub const DEFAULT_MAX_PART_HEADERS: usize = 16;
/// 128 MiB: the largest `multipart/form-data` body, preamble, delimiters
/// and part headers included. Over it: 413, and a declared
/// `Content-Length` over it is refused before a byte is read. Parts
/// stream, so this bounds what a handler writes (to disk, say), not
/// memory. ASP.NET Core's `MultipartBodyLengthLimit` is 128 MiB (for each
/// part there); the server-wide [`DEFAULT_MAX_BODY_BYTES`] still applies.
pub const DEFAULT_MAX_MULTIPART_BODY_BYTES: u64 = 128 * 1024 * 1024;

/// MultipartLimits bounds what one `multipart/form-data` body may make a
/// handler do: how many parts, how large each part's header section, how
/// large the whole body.
///
/// Every field defaults to its `DEFAULT_*` constant. Set them on a
/// [`Multipart`](crate::Multipart) with its setters (`.max_parts(10)`), or
/// all at once with [`Multipart::limits`](crate::Multipart::limits).
///
/// # Examples
/// ```
/// let mut limits = sockhttp::MultipartLimits::default();
/// limits.max_parts = 10;
/// assert_eq!(limits.max_part_headers, sockhttp::limits::DEFAULT_MAX_PART_HEADERS);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MultipartLimits {
    /// The most parts; see [`DEFAULT_MAX_PARTS`].
    pub max_parts: usize,
    /// The largest header section of a part; see [`DEFAULT_MAX_PART_HEADER_BYTES`].
    pub max_part_header_bytes: usize,
    /// The most header fields in a part; see [`DEFAULT_MAX_PART_HEADERS`].
    pub max_part_headers: usize,
    /// The largest multipart body; see [`DEFAULT_MAX_MULTIPART_BODY_BYTES`].
    pub max_body_bytes: u64,
}

impl Default for MultipartLimits {
    fn default() -> MultipartLimits {
        MultipartLimits {
            max_parts: DEFAULT_MAX_PARTS,
            max_part_header_bytes: DEFAULT_MAX_PART_HEADER_BYTES,
            max_part_headers: DEFAULT_MAX_PART_HEADERS,
            max_body_bytes: DEFAULT_MAX_MULTIPART_BODY_BYTES,
        }
    }
}
