//! The one error type, and the one place that maps it to a status code.
//!
//! Everything a request can get wrong, from a malformed head to a handler
//! failure, is an [`Error`]. [`Error::status`] is *the* mapping to a
//! response status (hyper's `Server::on_error`, h11's `error_status_hint`),
//! and [`Error::closes_connection`] says whether the connection can still
//! frame a next request. This module performs no I/O.

use crate::types::{Method, StatusCode};
use std::{fmt, io};

/// Result is `std::result::Result` with sockhttp's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Phase names the part of an exchange during which a timeout fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the first byte of a request on a kept-alive connection.
    Idle,
    /// Reading the request line and header fields.
    Head,
    /// Reading the request body.
    Body,
    /// Writing the response (the client stopped reading).
    Write,
}

/// Error is everything that can go wrong with a request, each variant
/// with its cause and the response it produces.
///
/// Details are `&'static str` on purpose: a response body is built from the
/// status alone, so it can never echo the peer's bytes or internals (Go's
/// `badRequestError` "should be plain text without user info"). Details go
/// to the log at `debug`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request line or a header field breaks the HTTP grammar, or the
    /// request is otherwise unacceptable (missing or repeated `Host`, bare
    /// CR, obs-fold, whitespace before a colon). 400, and close.
    Malformed(&'static str),
    /// The request line is longer than
    /// [`Limits::max_request_line_bytes`](crate::Limits). 414, and close.
    UriTooLong,
    /// The request head (or the trailer section) is over
    /// [`Limits::max_head_bytes`](crate::Limits) or has more than
    /// [`Limits::max_headers`](crate::Limits) fields. 431, and close.
    HeadTooLarge,
    /// The request body is over the limit: the declared `Content-Length`
    /// (checked before reading), the chunked body as it arrives, or the
    /// in-memory limit of [`Request::body_bytes`](crate::Request::body_bytes).
    /// 413, and close.
    BodyTooLarge,
    /// The message framing cannot be trusted: both `Content-Length` and
    /// `Transfer-Encoding`, differing or invalid `Content-Length`, a
    /// `Transfer-Encoding` whose final coding is not `chunked`, a bad chunk
    /// size or missing CRLF. 400, and close (RFC 9112 §6.3: the server
    /// "MUST respond with the 400 (Bad Request) status code and then close
    /// the connection").
    BadFraming(&'static str),
    /// A transfer coding other than `chunked` (e.g. `gzip, chunked`): the
    /// server does not decode it. 501, and close.
    UnsupportedTransferCoding,
    /// The request line names a version other than HTTP/1.0 or HTTP/1.1.
    /// 505, and close.
    UnsupportedVersion,
    /// The method is not implemented by the handler (an unknown method on
    /// a [`Router`](crate::Router)). 501.
    NotImplemented,
    /// An `Expect` value other than `100-continue`. 417.
    ExpectationFailed,
    /// The peer was too slow. While reading a head or body: 408, and close.
    /// While idle between requests or writing: the connection is closed
    /// without a response.
    Timeout(Phase),
    /// The peer closed the connection in the middle of a request. No
    /// response: nobody is there to read it.
    UnexpectedEof,
    /// No route matches the path. 404.
    NotFound,
    /// A route matches the path but not the method; carries the methods
    /// that are allowed, sent in the `Allow` header. 405.
    MethodNotAllowed(Vec<Method>),
    /// A handler refused the request with a status of its choice (e.g.
    /// 400 for invalid JSON, 415 for a wrong `Content-Type`).
    Status(StatusCode, &'static str),
    /// A handler failed; the cause is logged, never sent. 500.
    Handler(Box<dyn std::error::Error + Send + Sync>),
    /// The socket failed (reset, broken pipe). No response: the peer is gone.
    Io(io::Error),
}

impl Error {
    /// Returns the status to answer with, or `None` when the right thing is
    /// to close the connection without answering (Go's
    /// `isCommonNetReadError`: the peer is gone or was idle).
    pub fn status(&self) -> Option<StatusCode> {
        Some(match self {
            Error::Malformed(_) | Error::BadFraming(_) => StatusCode::BAD_REQUEST,
            Error::UriTooLong => StatusCode::URI_TOO_LONG,
            Error::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::BodyTooLarge => StatusCode::CONTENT_TOO_LARGE,
            Error::UnsupportedTransferCoding | Error::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Error::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Error::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Error::Timeout(Phase::Head | Phase::Body) => StatusCode::REQUEST_TIMEOUT,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Status(s, _) => *s,
            Error::Handler(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Timeout(Phase::Idle | Phase::Write) | Error::UnexpectedEof | Error::Io(_) => {
                return None;
            }
        })
    }

    /// Reports whether the connection must be closed after this error:
    /// true whenever the byte stream can no longer be trusted to frame a
    /// next request (every protocol error and every limit), false for
    /// errors a handler returns about a well-framed request.
    pub fn closes_connection(&self) -> bool {
        !matches!(
            self,
            Error::NotFound
                | Error::MethodNotAllowed(_)
                | Error::NotImplemented
                | Error::ExpectationFailed
                | Error::Status(..)
                | Error::Handler(_)
        )
    }

    /// Wraps any error a handler meets as a 500 [`Error::Handler`].
    ///
    /// An `Error` keeps its own status, and so does an `io::Error` that
    /// carries one (what reading a [`RequestBody`](crate::RequestBody)
    /// fails with): a body with bad framing stays a 400, never becomes
    /// a 500.
    pub fn handler(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::from_boxed(e.into())
    }

    /// Recovers the `Error` inside a boxed error (itself, or carried by an
    /// `io::Error`); anything else is a handler failure, 500.
    pub(crate) fn from_boxed(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
        let e = match e.downcast::<Error>() {
            Ok(e) => return *e,
            Err(e) => e,
        };
        match e.downcast::<io::Error>() {
            Ok(io) if io.get_ref().is_some_and(|inner| inner.is::<Error>()) => Error::from(*io),
            Ok(io) => Error::Handler(io),
            Err(e) => Error::Handler(e),
        }
    }

    /// Makes an error that answers with `status`; `detail` is logged only.
    pub fn with_status(status: StatusCode, detail: &'static str) -> Error {
        Error::Status(status, detail)
    }

    /// Wraps this error in an `io::Error`, so it can travel through
    /// `Read::read`; [`From<io::Error>`](Error#impl-From<Error>-for-Error)
    /// unwraps it again. A socket error is wrapped too (its kind kept), so
    /// that a handler's error conversion can tell the peer's connection
    /// failing under a body read (logged at `debug`) from the handler's
    /// own I/O failing (a bug or an outage, logged at `error`).
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Io(e) => e.kind(),
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::UnexpectedEof => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(d) => write!(f, "malformed request: {d}"),
            Error::UriTooLong => f.write_str("request line too long"),
            Error::HeadTooLarge => f.write_str("request head too large"),
            Error::BodyTooLarge => f.write_str("request body too large"),
            Error::BadFraming(d) => write!(f, "bad message framing: {d}"),
            Error::UnsupportedTransferCoding => f.write_str("unsupported transfer coding"),
            Error::UnsupportedVersion => f.write_str("unsupported HTTP version"),
            Error::NotImplemented => f.write_str("method not implemented"),
            Error::ExpectationFailed => f.write_str("unsupported expectation"),
            Error::Timeout(p) => write!(f, "timed out ({p:?})"),
            Error::UnexpectedEof => f.write_str("connection closed mid-request"),
            Error::NotFound => f.write_str("not found"),
            Error::MethodNotAllowed(_) => f.write_str("method not allowed"),
            Error::Status(s, d) => write!(f, "{s}: {d}"),
            Error::Handler(e) => write!(f, "handler error: {e}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Handler(e) => Some(&**e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::types::InvalidHeader> for Error {
    /// A header field the program tried to send that may not be sent: its
    /// bug, so a 500 ([`Error::Handler`]).
    fn from(e: crate::types::InvalidHeader) -> Error {
        Error::Handler(Box::new(e))
    }
}

impl From<io::Error> for Error {
    /// Unwraps an `Error` that travelled inside an `io::Error` (a body
    /// read that hit a limit or a timeout); any other I/O error is
    /// [`Error::Io`].
    fn from(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = e.into_inner().expect("checked: get_ref was Some");
            return *inner.downcast::<Error>().expect("checked: inner is Error");
        }
        // Not mapped by kind: every timeout or end-of-stream of the
        // request body arrives wrapped (above). An unwrapped `TimedOut` is
        // the handler's own I/O (an upstream, a database), which a `408`
        // would wrongly blame on the client.
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_io_error() {
        let e: Error = Error::BodyTooLarge.into_io().into();
        assert!(matches!(e, Error::BodyTooLarge));
        let e: Error = Error::BadFraming("x").into_io().into();
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn a_handler_error_that_carries_an_error_keeps_its_status() {
        let cases: Vec<(&str, Error, Option<StatusCode>)> = vec![
            (
                "Error",
                Error::handler(Error::BadFraming("x")),
                Some(StatusCode::BAD_REQUEST),
            ),
            (
                "io::Error carrying an Error",
                Error::handler(Error::BodyTooLarge.into_io()),
                Some(StatusCode::CONTENT_TOO_LARGE),
            ),
            (
                "plain io::Error",
                Error::handler(io::Error::from(io::ErrorKind::NotFound)),
                Some(StatusCode::INTERNAL_SERVER_ERROR),
            ),
            (
                "text",
                Error::handler("database down"),
                Some(StatusCode::INTERNAL_SERVER_ERROR),
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got.status(), want, "{name}: {got:?}");
        }
        let e = Error::handler(io::Error::from(io::ErrorKind::TimedOut));
        assert!(matches!(e, Error::Handler(_)), "{e:?}");
    }

    #[test]
    fn socket_errors_keep_their_kind_through_io_error() {
        let io = Error::Io(io::ErrorKind::ConnectionReset.into()).into_io();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
        assert!(io.get_ref().is_some_and(|inner| inner.is::<Error>()));
        let e: Error = io.into();
        assert!(matches!(&e, Error::Io(inner) if inner.kind() == io::ErrorKind::ConnectionReset));
    }

    #[test]
    fn handler_io_timeout_is_not_blamed_on_the_client() {
        for kind in [
            io::ErrorKind::TimedOut,
            io::ErrorKind::WouldBlock,
            io::ErrorKind::UnexpectedEof,
        ] {
            let e = Error::from(io::Error::from(kind));
            assert!(matches!(e, Error::Io(_)), "{kind:?}: {e:?}");
            assert_ne!(e.status(), Some(StatusCode::REQUEST_TIMEOUT), "{kind:?}");
        }
        // The body's own timeout keeps its 408 through `Read`.
        let e = Error::from(Error::Timeout(Phase::Body).into_io());
        assert_eq!(e.status(), Some(StatusCode::REQUEST_TIMEOUT));
    }

    #[test]
    fn peer_gone_gets_no_response() {
        assert_eq!(Error::UnexpectedEof.status(), None);
        assert_eq!(Error::Timeout(Phase::Idle).status(), None);
        assert_eq!(
            Error::Timeout(Phase::Head).status(),
            Some(StatusCode::REQUEST_TIMEOUT)
        );
    }
}
