//! The public [`Response`] builder and its [`Body`] kinds.
//!
//! A handler describes a response; the server decides its framing
//! (`Content-Length`, chunked or close-delimited) and writes it. This
//! module performs no I/O: a file or stream body is only opened or read
//! when the server sends it.

use crate::cookie::Cookie;
use crate::error::Error;
use crate::request::Request;
use crate::types::{Headers, InvalidHeader, Method, StatusCode};
use crate::upgrade::{OnUpgrade, Upgraded};
use bytes::Bytes;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};

/// Response is an HTTP response under construction: a status, header
/// fields and a [`Body`].
///
/// The server adds `Date`, `Server`, `Content-Length` or
/// `Transfer-Encoding`, and `Connection` when it sends the response.
///
/// # Examples
/// ```
/// use sockhttp::{Response, StatusCode};
/// let resp = Response::text("created")
///     .with_status(StatusCode::CREATED)
///     .with_header("Location", "/items/1");
/// assert_eq!(resp.status(), StatusCode::CREATED);
/// assert_eq!(resp.headers().get("content-type"), Some("text/plain; charset=utf-8"));
/// ```
pub struct Response {
    status: StatusCode,
    headers: Headers,
    body: Body,
}

/// WriteFn is a function that writes a response body as it is produced
/// (see [`Body::Writer`]).
pub type WriteFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// Body is the content of a [`Response`].
///
/// More kinds may be added: a `match` on a body needs a wildcard arm.
#[non_exhaustive]
pub enum Body {
    /// No content (`Content-Length: 0`, or none at all for 204 and 304).
    Empty,
    /// Bytes in memory, sent with `Content-Length`.
    Bytes(Bytes),
    /// A byte range of an open file, sent with `Content-Length`; streamed
    /// from the file to the socket, never read whole into memory.
    File {
        /// The open file.
        file: File,
        /// Where the range starts.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
    /// Bytes from a reader: with `Content-Length` when `len` is known
    /// (the server closes the connection if the reader disagrees),
    /// otherwise chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
    Reader {
        /// The source.
        reader: Box<dyn Read + Send>,
        /// The exact length, if known.
        len: Option<u64>,
    },
    /// Bytes written by a function as they are produced, sent chunked
    /// (or close-delimited to HTTP/1.0 clients). Each `flush` of the
    /// writer sends what was written so far.
    Writer(WriteFn),
    /// Nothing: the response is a `101 Switching Protocols`, after which
    /// the connection speaks another protocol ([`OnUpgrade`]: a WebSocket
    /// session, or a function that takes the connection over).
    Upgrade(OnUpgrade),
    /// Bytes in memory and byte ranges of one open file, sent in order
    /// with `Content-Length` (the sum of their lengths): the shape of a
    /// `multipart/byteranges` answer (RFC 9110 §14.6), part heads between
    /// ranges of the file, which [`StaticFiles`](crate::StaticFiles)
    /// sends for a request of several ranges.
    ///
    /// The file ranges go out as a [`Body::File`] does (with
    /// `sendfile(2)` on Linux, never read whole into memory), and an
    /// answer the peer reads slowly waits in the connection's queue, not
    /// on a worker. A range that reaches past the end of the file ends
    /// the response early and closes the connection.
    Segments {
        /// The open file the [`Segment::File`] ranges are taken from.
        file: File,
        /// What to send, in order.
        segments: Vec<Segment>,
    },
}

/// Segment is one piece of a [`Body::Segments`].
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes in memory (a part head, say).
    Bytes(Bytes),
    /// A byte range of the body's file.
    File {
        /// Where the range starts.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
}

impl Segment {
    /// Returns the number of bytes the segment sends.
    pub fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }

    /// Reports whether the segment sends no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Segment::File { offset, len } => write!(f, "File({len} bytes at {offset})"),
        }
    }
}

/// Returns the number of bytes `segments` send (saturating: a sum past
/// `u64::MAX` cannot be sent anyway).
pub(crate) fn segments_len(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(Segment::len)
        .fold(0, u64::saturating_add)
}

impl Body {
    /// Returns the length of the body if it is known in advance.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } => Some(*len),
            Body::Reader { len, .. } => *len,
            Body::Writer(_) => None,
            Body::Upgrade(_) => Some(0),
            Body::Segments { segments, .. } => Some(segments_len(segments)),
        }
    }

    /// Reports whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::File { offset, len, .. } => write!(f, "File({len} bytes at {offset})"),
            Body::Reader { len, .. } => write!(f, "Reader({len:?})"),
            Body::Writer(_) => f.write_str("Writer"),
            Body::Upgrade(u) => fmt::Debug::fmt(u, f),
            Body::Segments { segments, .. } => write!(
                f,
                "Segments({} in {} bytes)",
                segments.len(),
                segments_len(segments)
            ),
        }
    }
}

impl Response {
    /// Makes a response with `status`, no fields and no body.
    #[must_use]
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Body::Empty,
        }
    }

    /// Makes a 200 response with a `text/plain; charset=utf-8` body.
    #[must_use]
    pub fn text(body: impl Into<String>) -> Response {
        Response::typed("text/plain; charset=utf-8", Bytes::from(body.into()))
    }

    /// Makes a 200 response with a `text/html; charset=utf-8` body.
    #[must_use]
    pub fn html(body: impl Into<String>) -> Response {
        Response::typed("text/html; charset=utf-8", Bytes::from(body.into()))
    }

    /// Makes a 200 response with an `application/json` body that the
    /// caller has already serialised (the library itself has no JSON
    /// dependency).
    #[must_use]
    pub fn json(body: impl Into<String>) -> Response {
        Response::typed("application/json", Bytes::from(body.into()))
    }

    /// A 200 response of a content type known at compile time (no copy).
    fn typed(content_type: &'static str, body: Bytes) -> Response {
        let mut resp = Response::new(StatusCode::OK);
        // The list is empty and both are valid: nothing to check or replace.
        resp.headers.push_raw(
            Bytes::from_static(b"Content-Type"),
            Bytes::from_static(content_type.as_bytes()),
        );
        resp.body = Body::Bytes(body);
        resp
    }

    /// Makes a 200 response with in-memory content of type `content_type`.
    ///
    /// # Panics
    /// If `content_type` holds a control character (see
    /// [`Headers`](Headers#invalid-names-and-values)).
    #[must_use]
    pub fn bytes(content_type: &str, body: impl Into<Bytes>) -> Response {
        let mut resp = Response::new(StatusCode::OK);
        resp.headers.insert(
            "Content-Type",
            Bytes::copy_from_slice(content_type.as_bytes()),
        );
        resp.body = Body::Bytes(body.into());
        resp
    }

    /// Makes a 200 response that sends a whole file.
    ///
    /// # Errors
    /// The file's metadata could not be read.
    pub fn file(file: File) -> io::Result<Response> {
        let len = file.metadata()?.len();
        Ok(Response::new(StatusCode::OK).with_body(Body::File {
            file,
            offset: 0,
            len,
        }))
    }

    /// Makes a 200 response that streams from `reader` (chunked, since the
    /// length is unknown).
    #[must_use]
    pub fn stream(reader: impl Read + Send + 'static) -> Response {
        Response::new(StatusCode::OK).with_body(Body::Reader {
            reader: Box::new(reader),
            len: None,
        })
    }

    /// Makes a 200 response whose body is written by `f` as it is
    /// produced (chunked); `flush` sends what has been written so far.
    ///
    /// # Examples
    /// ```
    /// use std::io::Write;
    /// let resp = sockhttp::Response::writer(|w| {
    ///     for i in 1..=3 {
    ///         writeln!(w, "line {i}")?;
    ///         w.flush()?;
    ///     }
    ///     Ok(())
    /// });
    /// assert_eq!(resp.body().len(), None);
    /// ```
    #[must_use]
    pub fn writer<F>(f: F) -> Response
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    {
        Response::new(StatusCode::OK).with_body(Body::Writer(Box::new(f)))
    }

    /// Makes a redirect to `location` with status 301, 302, 303, 307 or 308.
    ///
    /// A location is often built from the request (a path, a `?next=`
    /// parameter), so it never panics: the bytes that can appear in no URI
    /// (controls, space, non-ASCII) are percent-encoded, and the rest is
    /// sent as given.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Response, StatusCode};
    /// let resp = Response::redirect(StatusCode::SEE_OTHER, "/login?next=/a b\r\nX: y");
    /// assert_eq!(resp.headers().get("location"), Some("/login?next=/a%20b%0D%0AX:%20y"));
    /// ```
    #[must_use]
    pub fn redirect(status: StatusCode, location: &str) -> Response {
        let location = crate::uri::encode_uri_reference(location);
        Response::new(status).with_header("Location", location)
    }

    /// Makes the error response for `err`: its status, a short plain-text
    /// body naming the status (never the error's detail, which is logged),
    /// `Allow` for a 405, and `Connection: close` when the error leaves the
    /// connection unusable. This is the only place error responses are
    /// built.
    #[must_use]
    pub fn from_error(err: &Error) -> Response {
        log_error(err, None);
        Response::for_error(err)
    }

    /// The error response for `err`, without logging it.
    pub(crate) fn for_error(err: &Error) -> Response {
        let status = err.status().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = Response::for_status(status);
        if let Error::MethodNotAllowed(allowed) = err {
            resp.headers.insert("Allow", allow_value(allowed));
        }
        if err.closes_connection() {
            resp.headers.insert("Connection", "close");
        }
        resp
    }

    /// The plain-text response every error of `status` gets by default:
    /// `404 Not Found\n`, built from the status alone.
    pub(crate) fn for_status(status: StatusCode) -> Response {
        Response::text(format!("{} {}\n", status.as_u16(), status.reason())).with_status(status)
    }

    /// Returns the status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Returns the response with its status set to `status`.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Response {
        self.status = status;
        self
    }

    /// Returns the header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Returns the header fields for changing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// Returns the response with header `name` set to `value`, replacing
    /// any earlier value (use [`Response::headers_mut`] and
    /// [`Headers::append`] for repeated fields such as `Set-Cookie`).
    ///
    /// For names and values the program writes itself; a value from
    /// outside it (the peer, a file name, a database) goes through
    /// [`Response::try_with_header`].
    ///
    /// # Panics
    /// If `name` is not a token or `value` holds a control character other
    /// than HTAB: CR, LF, NUL, … (see
    /// [`Headers`](Headers#invalid-names-and-values)).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl AsRef<str>) -> Response {
        self.headers.insert(
            Bytes::copy_from_slice(name.as_bytes()),
            Bytes::copy_from_slice(value.as_ref().as_bytes()),
        );
        self
    }

    /// Returns the response with a `Set-Cookie` field for `cookie`
    /// appended: one field per cookie, never folded into one line (RFC
    /// 6265 §3: "Origin servers SHOULD NOT fold multiple Set-Cookie
    /// header fields into a single header field"; an `Expires` date has a
    /// comma of its own).
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Cookie, Response};
    /// let resp = Response::text("signed out")
    ///     .with_cookie(Cookie::expired("sid")?.path("/"))
    ///     .with_cookie(Cookie::new("theme", "dark")?.path("/"));
    /// let set: Vec<&str> = resp.headers().get_all("set-cookie").collect();
    /// assert_eq!(set, [
    ///     "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ///     "theme=dark; Path=/",
    /// ]);
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    #[must_use]
    pub fn with_cookie(mut self, cookie: Cookie) -> Response {
        self.set_cookie(cookie);
        self
    }

    /// Appends a `Set-Cookie` field for `cookie` (see
    /// [`Response::with_cookie`]).
    pub fn set_cookie(&mut self, cookie: Cookie) {
        self.headers
            .append(Bytes::from_static(b"Set-Cookie"), cookie.to_string());
    }

    /// Returns the response with header `name` set to `value`, as
    /// [`Response::with_header`] does, or refuses an invalid name or value
    /// instead of panicking: for values from outside the program.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::Response;
    /// // A value from a file name, which may hold any byte but `/` and NUL.
    /// fn download(name: &str) -> sockhttp::Result<Response> {
    ///     let disposition = format!("attachment; filename=\"{name}\"");
    ///     Ok(Response::text("...").try_with_header("Content-Disposition", disposition)?)
    /// }
    /// assert!(download("report.txt").is_ok());
    /// let refused = download("evil\r\nSet-Cookie: a=b").unwrap_err();
    /// assert_eq!(refused.status(), Some(sockhttp::StatusCode::INTERNAL_SERVER_ERROR));
    /// ```
    ///
    /// # Errors
    /// [`InvalidHeader`] if `name` is not a token or `value` holds a
    /// control character other than HTAB; with `?` in a handler, a `500`.
    pub fn try_with_header(
        mut self,
        name: &str,
        value: impl AsRef<str>,
    ) -> Result<Response, InvalidHeader> {
        self.headers.try_insert(
            Bytes::copy_from_slice(name.as_bytes()),
            Bytes::copy_from_slice(value.as_ref().as_bytes()),
        )?;
        Ok(self)
    }

    /// Returns the body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Returns the response with its body replaced.
    #[must_use]
    pub fn with_body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }

    /// Makes a `101 Switching Protocols` response that switches the
    /// connection to `protocol` (the `Upgrade` field) and hands it to
    /// `take_over`, on a thread of its own, once the `101` has gone.
    ///
    /// For protocols the crate does not speak; WebSockets have their own
    /// parked sessions ([`crate::ws::Upgrade`]). The server refuses the
    /// switch with `400` unless the request is a `GET` over HTTP/1.1 with
    /// `Connection: upgrade`, an `Upgrade` field and no body, and nothing
    /// pipelined behind it (see [`Upgraded`] for what the new owner
    /// gets). [`Upgraded`] holds a `TcpStream` that carries the new
    /// protocol's bytes as they are, so a request that came over a Unix
    /// domain socket ([`Server::bind_unix`](crate::Server::bind_unix)) or
    /// over TLS (the `tls` feature: the socket carries ciphertext) is
    /// answered `500` instead, with the reason logged.
    ///
    /// # Examples
    /// A protocol that greets, then echoes one line:
    /// ```no_run
    /// use sockhttp::{Request, Response};
    /// use std::io::{BufRead, BufReader, Write};
    /// fn greet(req: &mut Request) -> Response {
    ///     Response::upgrade("greeting/1", |mut up| {
    ///         let _ = up.stream.write_all(b"hello\n");
    ///         let mut line = String::from_utf8_lossy(&up.read_ahead).into_owned();
    ///         let _ = BufReader::new(&up.stream).read_line(&mut line);
    ///         let _ = up.stream.write_all(line.as_bytes());
    ///     })
    /// }
    /// ```
    ///
    /// # Panics
    /// If `protocol` is not a valid field value.
    #[must_use]
    pub fn upgrade(protocol: &str, take_over: impl FnOnce(Upgraded) + Send + 'static) -> Response {
        Response::new(StatusCode::SWITCHING_PROTOCOLS)
            .with_header("Upgrade", protocol)
            .with_body(Body::Upgrade(OnUpgrade::take_over(take_over)))
    }

    /// Splits the response into its parts.
    pub fn into_parts(self) -> (StatusCode, Headers, Body) {
        (self.status, self.headers, self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

/// Logs an error that is about to be answered: `error` for a handler's
/// failure (our bug or an outage), with the request's method and path
/// when known; `debug` for the peer's errors and for the peer's
/// connection failing, so that a hostile peer cannot flood the log.
pub(crate) fn log_error(err: &Error, req: Option<&Request>) {
    match (err, req) {
        (Error::Handler(e), Some(req)) => log_handler_error(e, req),
        (Error::Handler(e), None) => log::error!("handler error: {e}"),
        (Error::Io(e), _) => log::debug!("i/o error: {e}"),
        (e, _) => log::debug!("request error: {e}"),
    }
}

/// Logs a handler's failure at `error`, naming the request (its method and
/// path; the query is left out, as it may carry secrets).
pub(crate) fn log_handler_error(e: &dyn std::fmt::Display, req: &Request) {
    log::error!(
        "handler error on {} {}: {e}",
        req.method(),
        req.original_path()
    );
}

/// Formats methods as an `Allow` value, e.g. `GET, HEAD, OPTIONS`.
pub(crate) fn allow_value(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// IntoResponse turns a handler's return value into a [`Response`].
///
/// It is implemented for `Response`, for text (`&'static str`, `String`),
/// for a bare [`StatusCode`], for [`Error`], `io::Error` and
/// [`HandlerError`](crate::HandlerError), for `(StatusCode, T)`, and for
/// `Result<T, E>` where both sides convert, so handlers can use `?` (see
/// [`HandlerResult`](crate::HandlerResult)).
pub trait IntoResponse {
    /// Converts `self` into a response.
    fn into_response(self) -> Response;

    /// Converts `self` into the response to `req`. The server calls this
    /// one on what a closure handler returns, so that an error can be
    /// logged with the request's method and path; the default ignores
    /// `req` and calls [`IntoResponse::into_response`].
    fn into_response_to(self, req: &Request) -> Response
    where
        Self: Sized,
    {
        let _ = req;
        self.into_response()
    }
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }

    fn into_response_to(self, req: &Request) -> Response {
        self.1.into_response_to(req).with_status(self.0)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Response::from_error(&self)
    }

    fn into_response_to(self, req: &Request) -> Response {
        log_error(&self, Some(req));
        Response::for_error(&self)
    }
}

impl IntoResponse for io::Error {
    fn into_response(self) -> Response {
        Response::from_error(&Error::from(self))
    }

    fn into_response_to(self, req: &Request) -> Response {
        Error::from(self).into_response_to(req)
    }
}

impl IntoResponse for Box<dyn std::error::Error + Send + Sync> {
    /// A boxed [`Error`] (or an `io::Error` carrying one, as a request
    /// body's read errors do) keeps its status; anything else is a 500.
    fn into_response(self) -> Response {
        Response::from_error(&Error::from_boxed(self))
    }

    fn into_response_to(self, req: &Request) -> Response {
        Error::from_boxed(self).into_response_to(req)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }

    fn into_response_to(self, req: &Request) -> Response {
        match self {
            Ok(t) => t.into_response_to(req),
            Err(e) => e.into_response_to(req),
        }
    }
}
