//! The protocol core: HTTP/1.1 as pure functions over bytes.
//!
//! This module performs no I/O: it never names a socket, a thread or a
//! clock. Bytes go in, values come out, and "I need more bytes" is a
//! value too (httparse's `Status::Partial`, h11's `NEED_DATA`). That is
//! what lets the same code be unit tested byte by byte, fuzzed, and driven
//! by the blocking server at the edge.
//!
//! The rules of the core, in the spirit of h11's `_state.py`:
//! 1. Every state transition of a connection lives in [`conn`].
//! 2. Nothing here names `std::net`, `std::thread`, `Instant::now` or
//!    `SystemTime::now` (a test greps for it).
//! 3. The server is dumb: it moves bytes and obeys [`conn::Conn`].
//!
//! Files, one protocol question each: [`head`] (request line and fields →
//! [`head::RequestHead`]), [`body`] (the body decoders), [`encode`]
//! (response heads and body framing), [`conn`] (the state machine),
//! [`multipart`] (`multipart/form-data` bodies, which handlers read); and
//! [`ws`], WebSocket's handshake, frames and messages under the same rules.

pub mod body;
pub mod conn;
pub mod encode;
pub mod head;
pub mod multipart;
pub mod ws;

/// BodyKind says how a request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: neither `Content-Length` nor `Transfer-Encoding`, or a
    /// length of zero.
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`: chunks until a zero-size chunk and
    /// the trailer section.
    Chunked,
}

/// `tchar` (RFC 9110 §5.6.2): the characters of a token.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
