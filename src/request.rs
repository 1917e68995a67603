//! The public [`Request`]: what a handler sees of one HTTP request.
//!
//! The head is parsed and validated before a handler runs; the body is not
//! read until the handler asks, through [`RequestBody`] (a streaming
//! `Read`) or [`Request::body_bytes`] (in memory, up to a limit). This
//! module performs no socket I/O itself: a body that comes from a
//! connection reads through a [`WireSource`] the server provides.

use crate::cookie;
use crate::error::{Error, Result};
use crate::extensions::Extensions;
use crate::form::{self, Form};
use crate::limits::{DEFAULT_MAX_FORM_FIELDS, Timeouts};
use crate::peer::Peer;
use crate::proto::head::RequestHead;
use crate::types::{Headers, Method, Version};
use crate::uri;
use bytes::{Buf, Bytes, BytesMut};
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;

/// Request is one HTTP request, as a handler sees it.
///
/// # Examples
/// Handlers normally receive requests from the server; tests of handlers
/// can build them:
/// ```
/// use sockhttp::{Request, Method};
/// let mut req = Request::builder(Method::Post, "/items?id=7")
///     .header("Content-Type", "application/json")
///     .body("{}")
///     .build()?;
/// assert_eq!(req.path(), "/items");
/// assert_eq!(req.query_param("id").as_deref(), Some("7"));
/// assert_eq!(req.header("content-type"), Some("application/json"));
/// assert_eq!(&req.body_bytes()?[..], b"{}");
/// # Ok::<(), sockhttp::Error>(())
/// ```
pub struct Request {
    head: Box<RequestHead>,
    params: Vec<(String, String)>,
    /// Bytes of the path hidden by the mounts this request went through.
    mount: usize,
    peer: Option<Peer>,
    /// The client behind trusted proxies, when the server trusts any.
    forwarded: Option<crate::forwarded::Resolved>,
    body: RequestBody,
    max_buffered_body_bytes: usize,
    /// Values handed down by middleware; empty (unallocated) by default.
    extensions: Extensions,
    /// The state of the innermost router the request went through that
    /// has one; shared with the router, never copied.
    state: Option<Arc<Extensions>>,
    /// The timeouts a handler set for this request; `None` (nothing
    /// allocated) while it runs under the server's.
    timeouts: Option<Box<Timeouts>>,
    /// Whether the request came over TLS to this server.
    tls: bool,
}

impl Request {
    /// Makes a request from a parsed head and its body (the server's path).
    pub(crate) fn new(
        head: Box<RequestHead>,
        peer: Option<Peer>,
        body: RequestBody,
        max_buffered_body_bytes: usize,
    ) -> Request {
        Request {
            head,
            params: Vec::new(),
            mount: 0,
            peer,
            forwarded: None,
            body,
            max_buffered_body_bytes,
            extensions: Extensions::new(),
            state: None,
            timeouts: None,
            tls: false,
        }
    }

    /// Starts building a request by hand, for testing handlers without a
    /// socket.
    #[must_use]
    pub fn builder(method: Method, target: &str) -> RequestBuilder {
        RequestBuilder {
            method,
            target: target.to_owned(),
            version: Version::Http11,
            headers: Headers::new(),
            invalid_header: false,
            body: RequestBody::empty(),
            peer: None,
            params: Vec::new(),
            extensions: Extensions::new(),
            state: None,
            tls: false,
        }
    }

    /// Returns the request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// Returns the request target exactly as sent, e.g. `/a/b?c=d`.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// Returns the path, not percent-decoded, without the query and without
    /// the prefix of any [`Router::mount`](crate::Router::mount) the request
    /// went through. It starts with `/`, except that a request for exactly
    /// a mount point (`/assets` under a mount at `/assets`) has the empty
    /// path `""`, so a handler can tell it from `/assets/`.
    pub fn path(&self) -> &str {
        &self.head.path()[self.mount..]
    }

    /// Returns the whole path as sent, mount prefixes included.
    pub fn original_path(&self) -> &str {
        self.head.path()
    }

    /// Returns the mount prefix removed from [`Request::path`] (empty if
    /// the request did not go through a mount).
    pub fn mount_prefix(&self) -> &str {
        &self.head.path()[..self.mount]
    }

    /// Returns the path percent-decoded once.
    ///
    /// # Errors
    /// [`Error::Malformed`] (400) for a malformed escape or a path that is
    /// not UTF-8 after decoding.
    pub fn decoded_path(&self) -> Result<Cow<'_, str>> {
        uri::percent_decode(self.path()).ok_or(Error::Malformed("invalid percent-encoding in path"))
    }

    /// Returns the query string, without the `?`, not decoded.
    pub fn query(&self) -> Option<&str> {
        self.head.query()
    }

    /// Returns the first value of query parameter `name`, decoded
    /// (`+` is a space), if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        uri::query_pairs(self.query()?)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Returns the query string as a [`Form`]: every parameter, in order,
    /// repeated names included; empty without a query.
    ///
    /// Unlike [`Request::query_param`], which passes over a parameter that
    /// does not decode, this refuses the query, so a handler can answer a
    /// malformed one instead of acting on part of it.
    ///
    /// # Errors
    /// [`Error::Status`] with 400 for a malformed escape or text that is
    /// not UTF-8, and 414 for more than
    /// [`DEFAULT_MAX_FORM_FIELDS`](crate::limits::DEFAULT_MAX_FORM_FIELDS)
    /// parameters.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Method, Request};
    /// let req = Request::builder(Method::Get, "/search?tag=a&tag=b&q=x+y").build()?;
    /// let query = req.query_form()?;
    /// assert_eq!(query.get_all("tag").collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(query.get("q"), Some("x y"));
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    pub fn query_form(&self) -> Result<Form> {
        form::parse_query(self.query().unwrap_or(""))
    }

    /// Reads the body as an `application/x-www-form-urlencoded` form (what
    /// an HTML `<form method="post">` sends) with at most
    /// [`DEFAULT_MAX_FORM_FIELDS`](crate::limits::DEFAULT_MAX_FORM_FIELDS)
    /// fields.
    ///
    /// The `Content-Type` is checked first, so a wrong one is refused
    /// before a byte of the body is read: its media type must be
    /// `application/x-www-form-urlencoded` (any case, parameters allowed)
    /// and its `charset`, if given, UTF-8. The body is then read like
    /// [`Request::body_bytes`], within the same in-memory limit
    /// ([`Limits::max_buffered_body_bytes`](crate::Limits), 2 MiB by
    /// default; raise it for one request with
    /// [`Request::set_max_buffered_body_bytes`]). Go's `ParseForm` allows
    /// 10 MiB; a form of text fields is far smaller, and files come as
    /// `multipart/form-data`. The query is not merged in: see
    /// [`Request::query_form`].
    ///
    /// The body is consumed: a second call sees an empty form.
    ///
    /// # Errors
    /// [`Error::Status`] with 415 for another `Content-Type`;
    /// [`Error::BodyTooLarge`] (413, close) for a body over the limit;
    /// [`Error::Status`] with 413 for too many fields and 400 for a
    /// malformed escape or text that is not UTF-8; any body error (400
    /// for bad framing, 408 for a timeout).
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Method, Request, StatusCode};
    /// let mut req = Request::builder(Method::Post, "/comment")
    ///     .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
    ///     .body("text=Ol%C3%A1+mundo%21&notify=on")
    ///     .build()?;
    /// let form = req.form()?;
    /// assert_eq!(form.get("text"), Some("Olá mundo!"));
    /// assert_eq!(form.get("notify"), Some("on"));
    ///
    /// let mut json = Request::builder(Method::Post, "/comment")
    ///     .header("Content-Type", "application/json")
    ///     .body("{}")
    ///     .build()?;
    /// let err = json.form().unwrap_err();
    /// assert_eq!(err.status(), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    pub fn form(&mut self) -> Result<Form> {
        self.form_with_max_fields(DEFAULT_MAX_FORM_FIELDS)
    }

    /// Reads the body as a form like [`Request::form`], accepting at most
    /// `max_fields` fields (a form with a large `<select multiple>`, say).
    ///
    /// # Errors
    /// As [`Request::form`]; 413 over `max_fields`.
    pub fn form_with_max_fields(&mut self, max_fields: usize) -> Result<Form> {
        form::check_content_type(self.header("content-type"))?;
        let body = self.body_bytes()?;
        Form::parse_with_max_fields(&body, max_fields)
    }

    /// Returns the value of the first cookie named `name` the client
    /// sent (names are case-sensitive), from every `Cookie` field.
    ///
    /// When a name comes more than once (cookies set for different paths
    /// or domains), browsers send the one with the longest path first
    /// (RFC 6265 §5.4); [`Request::cookies`] returns them all. See
    /// [`cookie::parse_cookie_string`] for what is accepted and what is
    /// skipped.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Method, Request};
    /// let req = Request::builder(Method::Get, "/")
    ///     .header("Cookie", "theme=dark; sid=\"abc\"")
    ///     .build()?;
    /// assert_eq!(req.cookie("sid"), Some("abc"));
    /// assert_eq!(req.cookie("SID"), None);
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Returns every cookie the client sent, as `(name, value)` in the
    /// order sent, malformed pairs skipped.
    ///
    /// RFC 6265 §5.4 has a client send one `Cookie` field; HTTP/1.1
    /// clients that send several are read as if their fields were joined
    /// with `; ` (as HTTP/2 allows, RFC 9113 §8.2.3).
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.head
            .headers
            .get_all_bytes("cookie")
            .flat_map(cookie::parse_cookie_string)
    }

    /// Returns the protocol version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// Returns the header fields.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// Returns the first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)
    }

    /// Returns route parameter `name` (`{id}` in a route pattern, or the
    /// wildcard's name), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns every route parameter in pattern order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Returns the address of the peer the request came from (for
    /// requests built by hand, the one given to the builder, if any).
    /// `None` for a request that came over a Unix domain socket, whose
    /// peer has no address: [`Request::peer`] tells that case apart.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.and_then(|p| p.addr())
    }

    /// Returns who the request came from: a TCP peer's address, or
    /// [`Peer::Unix`] for a connection to a Unix domain socket
    /// ([`Server::bind_unix`](crate::Server::bind_unix)). `None` only for
    /// a request built by hand without a peer.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Method, Peer, Request};
    ///
    /// let req = Request::builder(Method::Get, "/").unix_peer().build()?;
    /// assert_eq!(req.peer(), Some(Peer::Unix));
    /// assert_eq!(req.peer_addr(), None);
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    pub fn peer(&self) -> Option<Peer> {
        self.peer
    }

    /// Returns the address of the client: the peer, or, when the peer is a
    /// proxy the server trusts ([`Server::trusted_proxies`](crate::Server::trusted_proxies)),
    /// the client it forwarded for (`Forwarded` or `X-Forwarded-For`; see
    /// [`forwarded`](crate::forwarded)). A forwarded address has port 0
    /// when the proxy gave none. `None` when the client has no address:
    /// it is the peer of a Unix socket, and not a trusted proxy (or one
    /// that named no client); [`Request::client`] says so.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client().and_then(|c| c.addr())
    }

    /// Returns the client: as [`Request::client_addr`], but also for a
    /// client without an address ([`Peer::Unix`]: a peer over a Unix
    /// socket that is not a trusted proxy, or a trusted one that named no
    /// client).
    pub fn client(&self) -> Option<Peer> {
        self.forwarded.as_ref().map(|f| f.client).or(self.peer)
    }

    /// Reports whether the request came over TLS to this server (the
    /// `tls` feature; see [`Server::tls`](crate::Server)). Behind a proxy
    /// that ends TLS, see [`Request::forwarded_proto`] instead.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Records that the request came over TLS.
    pub(crate) fn set_tls(&mut self) {
        self.tls = true;
    }

    /// Returns the scheme the client used (`http` or `https`) as a trusted
    /// proxy reported it (`Forwarded: proto=` or `X-Forwarded-Proto`).
    pub fn forwarded_proto(&self) -> Option<&str> {
        self.forwarded.as_ref().and_then(|f| f.proto.as_deref())
    }

    /// Records what trusted proxies said about the client.
    pub(crate) fn set_forwarded(&mut self, f: crate::forwarded::Resolved) {
        self.forwarded = Some(f);
    }

    /// Returns the body's declared length (`Content-Length`), if any.
    pub fn content_length(&self) -> Option<u64> {
        match self.head.body {
            crate::proto::BodyKind::Length(n) => Some(n),
            crate::proto::BodyKind::Empty => Some(0),
            crate::proto::BodyKind::Chunked => None,
        }
    }

    /// Returns the body as a streaming reader. Reading it sends
    /// `100 Continue` first if the client asked for it.
    pub fn body(&mut self) -> &mut RequestBody {
        &mut self.body
    }

    /// Takes the body out of the request, e.g. to stream it into a
    /// [`Response`](crate::Response) (echo) or to another thread. What the
    /// request keeps is an empty body.
    pub fn take_body(&mut self) -> RequestBody {
        std::mem::replace(&mut self.body, RequestBody::empty())
    }

    /// Reads the whole body into memory, up to
    /// [`Limits::max_buffered_body_bytes`](crate::Limits).
    ///
    /// A declared `Content-Length` over the limit is refused before a byte
    /// is read, so a client waiting on `Expect: 100-continue` is never
    /// invited to send a body that would be refused.
    ///
    /// # Errors
    /// [`Error::BodyTooLarge`] (413) over the limit; any body error
    /// (400 for bad framing, 408 for a timeout).
    pub fn body_bytes(&mut self) -> Result<Bytes> {
        let limit = self.max_buffered_body_bytes;
        if self
            .content_length()
            .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
        {
            return Err(Error::BodyTooLarge);
        }
        self.body.read_to_bytes(limit)
    }

    /// Sets the in-memory body limit for this request (e.g. for a route
    /// that accepts large JSON).
    pub fn set_max_buffered_body_bytes(&mut self, n: usize) {
        self.max_buffered_body_bytes = n;
    }

    /// Returns the trailer fields of a chunked body; empty until the body
    /// has been read to its end.
    pub fn trailers(&self) -> Headers {
        self.body.trailers()
    }

    /// Sets the timeouts for the rest of this request, in place of the
    /// server's ([`Server::timeouts`](crate::Server::timeouts)): for a
    /// route that takes long uploads, or sends large answers to slow
    /// readers. [`with_timeouts`](crate::with_timeouts) sets them for a
    /// whole route.
    ///
    /// What the server has still to do for the request when the handler
    /// runs goes under them:
    /// * reading a body that streams to the handler (one longer than
    ///   [`Limits::prebuffer_body_bytes`](crate::Limits::prebuffer_body_bytes),
    ///   64 KiB, or one whose client waits for `100 Continue`):
    ///   [`Timeouts::body`] and [`Timeouts::body_min_bytes_per_sec`], the
    ///   deadline still counting from the end of the head (or from the
    ///   `100 Continue`);
    /// * sending the response: [`Timeouts::write`],
    ///   [`Timeouts::send_min_bytes_per_sec`] and [`Timeouts::send_grace`].
    ///
    /// A body of up to 64 KiB has been read whole before the handler ran
    /// (the request had to be routed first), under the server's body
    /// deadline. The other fields ([`Timeouts::idle`], [`Timeouts::head`],
    /// [`Timeouts::shutdown`]) are for the connection, not a request, and
    /// are not used; once the response has gone, the connection is under
    /// the server's timeouts again. A body already taken out of the
    /// request ([`Request::take_body`]) keeps the deadline it had: set
    /// the timeouts first. Every field is replaced: start from the
    /// `Timeouts` the server was given, so that what the route does not
    /// change stays as the server has it.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{HandlerResult, Request, Response, Router, Timeouts};
    /// use std::time::Duration;
    ///
    /// fn upload(req: &mut Request) -> HandlerResult {
    ///     // The server allows 30 s for a body; an upload may take 10 minutes.
    ///     let mut timeouts = Timeouts::default();
    ///     timeouts.body = Duration::from_secs(600);
    ///     req.set_timeouts(timeouts);
    ///     let n = std::io::copy(req.body(), &mut std::io::sink())?;
    ///     Ok(Response::text(format!("{n} bytes")))
    /// }
    ///
    /// let app = Router::new().put("/upload", upload);
    /// # let client = sockhttp::testing::TestClient::new(app);
    /// # assert_eq!(client.put("/upload").body("hello").send().text(), "5 bytes");
    /// ```
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.body.set_timeouts(&timeouts);
        match &mut self.timeouts {
            Some(t) => **t = timeouts,
            None => self.timeouts = Some(Box::new(timeouts)),
        }
    }

    /// Returns the timeouts set for this request with
    /// [`Request::set_timeouts`], or `None` while it runs under the
    /// server's.
    pub fn timeouts(&self) -> Option<&Timeouts> {
        self.timeouts.as_deref()
    }

    /// Takes the timeouts set for this request, for sending its response.
    pub(crate) fn take_timeouts(&mut self) -> Option<Box<Timeouts>> {
        self.timeouts.take()
    }

    /// Returns the values middleware attached to this request (see
    /// [`Extensions`] and the middleware example on
    /// [`Handler`](crate::Handler)).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Returns the request's extensions for changing: a middleware inserts
    /// what the handler it wraps should see (a request id, the
    /// authenticated user).
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Returns the shared state of type `S` that the router the request
    /// went through holds ([`Router::with_state`](crate::Router::with_state)),
    /// or `None` if it holds none of that type.
    ///
    /// The reference borrows the request: read what a handler needs from
    /// the request (its body, its parameters) first, then the state, or
    /// keep `Arc`s inside the state and clone what must outlive the
    /// borrow (a streaming body).
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Response, Router};
    /// use sockhttp::testing::TestClient;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// #[derive(Default)]
    /// struct Hits(AtomicU64);
    ///
    /// let app = Router::new()
    ///     .with_state(Hits::default())
    ///     .get("/", |req| {
    ///         let hits = req.state::<Hits>().expect("the router holds Hits");
    ///         let n = hits.0.fetch_add(1, Ordering::Relaxed) + 1;
    ///         Response::text(format!("hit {n}"))
    ///     });
    /// let client = TestClient::new(app);
    /// assert_eq!(client.get("/").send().text(), "hit 1");
    /// assert_eq!(client.get("/").send().text(), "hit 2");
    /// ```
    pub fn state<S: 'static>(&self) -> Option<&S> {
        self.state.as_deref()?.get::<S>()
    }

    /// Sets the shared state the request sees, returning the one it saw.
    pub(crate) fn replace_state(
        &mut self,
        state: Option<Arc<Extensions>>,
    ) -> Option<Arc<Extensions>> {
        std::mem::replace(&mut self.state, state)
    }

    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.params = params;
    }

    pub(crate) fn mount_offset(&self) -> usize {
        self.mount
    }

    pub(crate) fn set_mount_offset(&mut self, offset: usize) {
        self.mount = offset;
    }

    /// Returns the parsed head (for the server's response decisions).
    pub(crate) fn head(&self) -> &RequestHead {
        &self.head
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.head.method)
            .field("target", &self.head.target)
            .field("version", &self.head.version)
            .field("headers", &self.head.headers)
            .field("params", &self.params)
            .field("peer", &self.peer)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

/// RequestBuilder makes a [`Request`] without a socket, for tests.
#[derive(Debug)]
pub struct RequestBuilder {
    method: Method,
    target: String,
    version: Version,
    headers: Headers,
    /// Whether a field was refused: [`RequestBuilder::build`] then fails,
    /// as the parser would.
    invalid_header: bool,
    body: RequestBody,
    peer: Option<Peer>,
    params: Vec<(String, String)>,
    extensions: Extensions,
    state: Option<Arc<Extensions>>,
    tls: bool,
}

impl RequestBuilder {
    /// Appends a header field. A name that is not a token, or a value
    /// with a control character other than HTAB, makes
    /// [`RequestBuilder::build`] fail, as the parser refuses such a field.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        let appended = self.headers.try_append(
            Bytes::copy_from_slice(name.as_bytes()),
            Bytes::copy_from_slice(value.as_bytes()),
        );
        self.invalid_header |= appended.is_err();
        self
    }

    /// Sets the protocol version (HTTP/1.1 by default).
    #[must_use]
    pub fn version(mut self, v: Version) -> RequestBuilder {
        self.version = v;
        self
    }

    /// Sets the peer address.
    #[must_use]
    pub fn peer(mut self, addr: SocketAddr) -> RequestBuilder {
        self.peer = Some(Peer::Tcp(addr));
        self
    }

    /// Makes the request come from the peer of a Unix domain socket
    /// ([`Peer::Unix`]), which has no address.
    #[must_use]
    pub fn unix_peer(mut self) -> RequestBuilder {
        self.peer = Some(Peer::Unix);
        self
    }

    /// Sets whether the request came over TLS ([`Request::is_tls`]).
    #[must_use]
    pub fn tls(mut self, tls: bool) -> RequestBuilder {
        self.tls = tls;
        self
    }

    /// Sets an in-memory body and its `Content-Length`.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> RequestBuilder {
        let body = body.into();
        self.headers
            .insert("Content-Length", body.len().to_string());
        self.body = RequestBody::from_bytes(body);
        self
    }

    /// Sets route parameter `name` (as [`Request::param`] returns it,
    /// already decoded), for calling a handler directly rather than
    /// through a [`Router`](crate::Router), which sets the parameters
    /// itself.
    pub fn param(mut self, name: &str, value: &str) -> RequestBuilder {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Inserts an extension, as a middleware in front of the handler
    /// would (see [`Request::extensions`]).
    pub fn extension<T: Send + Sync + 'static>(mut self, value: T) -> RequestBuilder {
        self.extensions.insert(value);
        self
    }

    /// Sets the shared state the request sees (the test client's).
    pub(crate) fn shared_state(mut self, state: Option<Arc<Extensions>>) -> RequestBuilder {
        self.state = state;
        self
    }

    /// Builds the request, checking the target and headers as the
    /// server's parser would.
    ///
    /// # Errors
    /// Whatever the parser would answer for the same request line and
    /// fields (400 for an invalid target or header field, and so on).
    pub fn build(self) -> Result<Request> {
        if self.invalid_header {
            return Err(Error::Malformed("invalid header field"));
        }
        let mut wire = BytesMut::new();
        wire.extend_from_slice(self.method.as_str().as_bytes());
        wire.extend_from_slice(b" ");
        wire.extend_from_slice(self.target.as_bytes());
        wire.extend_from_slice(b" ");
        wire.extend_from_slice(self.version.as_str().as_bytes());
        wire.extend_from_slice(b"\r\n");
        if !self.headers.contains("host") && self.version == Version::Http11 {
            wire.extend_from_slice(b"Host: localhost\r\n");
        }
        for (n, v) in self.headers.iter() {
            wire.extend_from_slice(n.as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(v);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        let limits = crate::Limits::default();
        let head = crate::proto::head::parse_head(&mut wire, &limits)?
            .ok_or(Error::Malformed("incomplete request"))?;
        let mut req = Request::new(
            Box::new(head),
            self.peer,
            self.body,
            limits.max_buffered_body_bytes,
        );
        req.params = self.params;
        req.extensions = self.extensions;
        req.state = self.state;
        req.tls = self.tls;
        Ok(req)
    }
}

/// WireSource is where a body that arrives on a connection comes from:
/// the server implements it over the socket and the connection state.
pub(crate) trait WireSource: Send {
    /// Returns the next piece of the body, or `None` at its end. Sends
    /// `100 Continue` first when the client waits for it.
    fn next_chunk(&mut self) -> Result<Option<Bytes>>;
    /// Returns the trailer fields, once the body has ended.
    fn trailers(&self) -> Headers;
    /// Reads and discards the rest of the body, at most `limit` bytes,
    /// without sending `100 Continue`; true if the body ended.
    fn drain(&mut self, limit: u64) -> bool;
    /// Reads the rest of the body under `timeouts` (a handler set them
    /// for its request); a body already in memory has nothing to read.
    fn set_timeouts(&mut self, _timeouts: &Timeouts) {}
}

/// RequestBody is a request body as a stream of bytes.
///
/// It implements [`Read`], so it can be copied anywhere (`io::copy` to a
/// file keeps memory flat for any size), and [`RequestBody::next_chunk`]
/// hands out the received pieces without copying. Errors that are the
/// peer's fault (a body over the limit, bad chunked framing, a timeout)
/// come out of `read` as an `io::Error` that converts back into the
/// matching [`Error`] with `?`, so the handler's error response has the
/// right status.
pub struct RequestBody {
    inner: Inner,
    /// Received but not yet consumed by `Read::read`.
    pending: Bytes,
}

enum Inner {
    Empty,
    Memory(Bytes),
    Reader(Box<dyn Read + Send>),
    Wire(Box<dyn WireSource>),
}

impl RequestBody {
    /// Makes an empty body.
    pub fn empty() -> RequestBody {
        RequestBody {
            inner: Inner::Empty,
            pending: Bytes::new(),
        }
    }

    /// Makes a body from bytes in memory.
    pub fn from_bytes(b: impl Into<Bytes>) -> RequestBody {
        RequestBody {
            inner: Inner::Memory(b.into()),
            pending: Bytes::new(),
        }
    }

    /// Makes a body that reads from `r`.
    pub fn from_reader(r: impl Read + Send + 'static) -> RequestBody {
        RequestBody {
            inner: Inner::Reader(Box::new(r)),
            pending: Bytes::new(),
        }
    }

    pub(crate) fn from_wire(w: Box<dyn WireSource>) -> RequestBody {
        RequestBody {
            inner: Inner::Wire(w),
            pending: Bytes::new(),
        }
    }

    /// Returns the next piece of the body without copying, or `None` at
    /// its end.
    ///
    /// # Errors
    /// 400 for bad framing, 413 over the body limit, 408 on timeout.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        match &mut self.inner {
            Inner::Empty => Ok(None),
            Inner::Memory(b) => {
                let b = std::mem::take(b);
                self.inner = Inner::Empty;
                Ok((!b.is_empty()).then_some(b))
            }
            Inner::Reader(r) => {
                let mut buf = vec![0u8; 16 * 1024];
                let n = r.read(&mut buf)?;
                buf.truncate(n);
                Ok((n > 0).then(|| Bytes::from(buf)))
            }
            Inner::Wire(w) => w.next_chunk(),
        }
    }

    /// Reads the rest of the body into memory, refusing more than `limit`
    /// bytes with [`Error::BodyTooLarge`].
    pub fn read_to_bytes(&mut self, limit: usize) -> Result<Bytes> {
        let first = match self.next_chunk()? {
            None => return Ok(Bytes::new()),
            Some(c) => c,
        };
        if first.len() > limit {
            return Err(Error::BodyTooLarge);
        }
        let Some(second) = self.next_chunk()? else {
            return Ok(first);
        };
        let mut all = BytesMut::with_capacity((first.len() + second.len()).min(limit));
        all.extend_from_slice(&first);
        let mut next = Some(second);
        while let Some(c) = next {
            if all.len() + c.len() > limit {
                return Err(Error::BodyTooLarge);
            }
            all.extend_from_slice(&c);
            next = self.next_chunk()?;
        }
        Ok(all.freeze())
    }

    /// Discards the rest of a body that came from a connection (at most
    /// `limit` bytes); true if it ended, so the connection can be reused.
    pub(crate) fn drain(&mut self, limit: u64) -> bool {
        self.pending = Bytes::new();
        match &mut self.inner {
            Inner::Wire(w) => w.drain(limit),
            _ => true,
        }
    }

    /// Returns the trailer fields of a chunked body read to its end.
    pub fn trailers(&self) -> Headers {
        match &self.inner {
            Inner::Wire(w) => w.trailers(),
            _ => Headers::new(),
        }
    }

    /// Reads the rest of a body that comes from a connection under
    /// `timeouts` (see [`Request::set_timeouts`]).
    pub(crate) fn set_timeouts(&mut self, timeouts: &Timeouts) {
        if let Inner::Wire(w) = &mut self.inner {
            w.set_timeouts(timeouts);
        }
    }
}

impl Read for RequestBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending.is_empty() {
            if let Inner::Reader(r) = &mut self.inner {
                return r.read(buf);
            }
            match self.next_chunk().map_err(Error::into_io)? {
                Some(c) => self.pending = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        Ok(n)
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Empty => "empty",
            Inner::Memory(_) => "memory",
            Inner::Reader(_) => "reader",
            Inner::Wire(_) => "wire",
        };
        f.debug_struct("RequestBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A body from a connection that records the timeouts it is given.
    struct Recorder(Arc<Mutex<Vec<Duration>>>);

    impl WireSource for Recorder {
        fn next_chunk(&mut self) -> Result<Option<Bytes>> {
            Ok(None)
        }
        fn trailers(&self) -> Headers {
            Headers::new()
        }
        fn drain(&mut self, _limit: u64) -> bool {
            true
        }
        fn set_timeouts(&mut self, timeouts: &Timeouts) {
            self.0.lock().unwrap().push(timeouts.body);
        }
    }

    fn with_wire_body(seen: &Arc<Mutex<Vec<Duration>>>) -> Request {
        let mut req = Request::builder(Method::Post, "/upload").build().unwrap();
        req.body = RequestBody::from_wire(Box::new(Recorder(Arc::clone(seen))));
        req
    }

    fn body_timeout(secs: u64) -> Timeouts {
        Timeouts {
            body: Duration::from_secs(secs),
            ..Timeouts::default()
        }
    }

    #[test]
    fn a_request_runs_under_the_servers_timeouts_until_its_handler_sets_its_own() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut req = with_wire_body(&seen);
        assert_eq!(req.timeouts(), None);
        req.set_timeouts(body_timeout(600));
        assert_eq!(req.timeouts(), Some(&body_timeout(600)));
        // Set again: the last ones count, for the request and its body.
        req.set_timeouts(body_timeout(900));
        assert_eq!(req.timeouts(), Some(&body_timeout(900)));
        assert_eq!(
            *seen.lock().unwrap(),
            [Duration::from_secs(600), Duration::from_secs(900)]
        );
        // The response is sent under them; the request keeps none after.
        assert_eq!(req.take_timeouts().as_deref(), Some(&body_timeout(900)));
        assert_eq!(req.timeouts(), None);
    }

    #[test]
    fn a_body_taken_out_of_the_request_keeps_its_deadline() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut req = with_wire_body(&seen);
        let _body = req.take_body();
        req.set_timeouts(body_timeout(600));
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(req.timeouts(), Some(&body_timeout(600)));
    }
}
