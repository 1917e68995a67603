//! Testing handlers without sockets: [`TestClient`] calls any
//! [`Handler`] with a request built in memory and gives back a
//! [`TestResponse`] whose body is already collected, whatever its kind
//! (bytes, a file, a reader, a writer), as Go's `httptest` does.
//!
//! ```
//! use sockhttp::{HandlerResult, Response, Router, StatusCode};
//! use sockhttp::testing::TestClient;
//!
//! let app = Router::new()
//!     .get("/hello/{name}", |req| Response::text(format!("hello {}", req.param("name").unwrap_or("?"))))
//!     .post("/sum", |req| -> HandlerResult {
//!         let body = req.body_bytes()?;
//!         let nums: Vec<i64> = serde_json::from_slice(&body)?;
//!         Ok(Response::json(nums.iter().sum::<i64>().to_string()))
//!     });
//! let client = TestClient::new(app);
//!
//! let resp = client.get("/hello/ada").send();
//! assert_eq!(resp.status(), StatusCode::OK);
//! assert_eq!(resp.header("content-type"), Some("text/plain; charset=utf-8"));
//! assert_eq!(resp.text(), "hello ada");
//!
//! let resp = client.post("/sum").json("[1, 2, 3]").send();
//! let sum: i64 = serde_json::from_slice(resp.bytes())?; // JSON: with the app's own serde
//! assert_eq!(sum, 6);
//!
//! assert_eq!(client.post("/sum").json("[oops").send().status(), StatusCode::INTERNAL_SERVER_ERROR);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! What the server adds on the wire is not there: `Date`, `Server`,
//! `Content-Length` or `Transfer-Encoding`, and `Connection`. A handler
//! that panics panics in the test too (the server would answer `500`).
//! This module performs no socket I/O; collecting a file body reads the
//! file.

use crate::extensions::Extensions;
use crate::handler::Handler;
use crate::request::{Request, RequestBuilder};
use crate::response::{Body, Response, Segment};
use crate::types::{Headers, Method, StatusCode, Version};
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::sync::Arc;

/// TestClient calls a [`Handler`] with requests built in memory.
///
/// Any handler: a [`Router`](crate::Router) (which then routes and sets
/// the route parameters), a middleware, [`StaticFiles`](crate::StaticFiles),
/// or a single function (give it its route parameters with
/// [`TestRequest::param`]).
///
/// # Examples
/// Calling one handler directly, with the parameters a route would give it:
/// ```
/// use sockhttp::{Request, Response};
/// use sockhttp::testing::TestClient;
///
/// fn user(req: &mut Request) -> Response {
///     Response::text(format!("user {}", req.param("id").unwrap_or("?")))
/// }
///
/// let client = TestClient::new(user);
/// assert_eq!(client.get("/users/7").param("id", "7").send().text(), "user 7");
/// ```
pub struct TestClient<H> {
    handler: H,
    state: Option<Arc<Extensions>>,
}

impl<H: Handler> TestClient<H> {
    /// Makes a client that calls `handler` (a closure through
    /// [`handler_fn`](crate::handler_fn), for its argument type to be
    /// inferred).
    pub fn new(handler: H) -> TestClient<H> {
        TestClient {
            handler,
            state: None,
        }
    }

    /// Adds a state value that every request sees through
    /// [`Request::state`], as if the handler sat in a
    /// [`Router::with_state`](crate::Router::with_state). A router with
    /// a state of its own shows its handlers that one instead.
    ///
    /// # Panics
    /// If the client already has a state of type `S`.
    pub fn with_state<S: Send + Sync + 'static>(mut self, state: S) -> TestClient<H> {
        let states = Arc::get_mut(self.state.get_or_insert_with(Arc::default))
            .expect("the client's state is not shared while it is built");
        assert!(
            states.insert(state).is_none(),
            "test client state of type {} set twice",
            std::any::type_name::<S>()
        );
        self
    }

    /// Returns the handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Starts a `method` request for `target` (a path with an optional
    /// query, as sent on the wire: `/items?id=7`).
    pub fn request(&self, method: Method, target: &str) -> TestRequest<'_> {
        TestRequest {
            handler: &self.handler,
            builder: Request::builder(method, target).shared_state(self.state.clone()),
        }
    }

    /// Starts a `GET` request.
    pub fn get(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Get, target)
    }

    /// Starts a `HEAD` request: the response has the headers of a `GET`
    /// and no body, as on the wire.
    pub fn head(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Head, target)
    }

    /// Starts a `POST` request.
    pub fn post(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Post, target)
    }

    /// Starts a `PUT` request.
    pub fn put(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Put, target)
    }

    /// Starts a `PATCH` request.
    pub fn patch(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Patch, target)
    }

    /// Starts a `DELETE` request.
    pub fn delete(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Delete, target)
    }

    /// Starts an `OPTIONS` request.
    pub fn options(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::Options, target)
    }
}

impl<H> fmt::Debug for TestClient<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("handler", &std::any::type_name::<H>())
            .field("state", &self.state)
            .finish()
    }
}

/// TestRequest is a request under construction by a [`TestClient`];
/// [`TestRequest::send`] calls the handler.
pub struct TestRequest<'a> {
    handler: &'a dyn Handler,
    builder: RequestBuilder,
}

impl TestRequest<'_> {
    /// Appends a header field.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Sets the body (and its `Content-Length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.builder = self.builder.body(body);
        self
    }

    /// Sets a JSON body (already serialised) and `Content-Type:
    /// application/json`.
    pub fn json(self, body: impl Into<Bytes>) -> Self {
        self.header("Content-Type", "application/json").body(body)
    }

    /// Sets route parameter `name` (decoded), for a handler called
    /// directly; a [`Router`](crate::Router) sets its own.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.param(name, value);
        self
    }

    /// Inserts an extension, as a middleware in front of the handler
    /// would.
    pub fn extension<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.builder = self.builder.extension(value);
        self
    }

    /// Sets the peer address ([`Request::peer_addr`]).
    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.builder = self.builder.peer(addr);
        self
    }

    /// Makes the request come over a Unix domain socket
    /// ([`Request::peer`] is [`Peer::Unix`](crate::Peer::Unix)).
    pub fn unix_peer(mut self) -> Self {
        self.builder = self.builder.unix_peer();
        self
    }

    /// Sets the protocol version (HTTP/1.1 by default).
    pub fn version(mut self, v: Version) -> Self {
        self.builder = self.builder.version(v);
        self
    }

    /// Calls the handler and collects its response.
    ///
    /// A request the server's parser would refuse (an invalid target or
    /// header) gets the answer the server would give (`400 Bad Request`,
    /// say) without calling the handler.
    pub fn send(self) -> TestResponse {
        match self.builder.build() {
            Ok(mut req) => {
                let resp = self.handler.call(&mut req);
                TestResponse::collect(resp, *req.method() == Method::Head)
            }
            Err(e) => TestResponse::collect(Response::from_error(&e), false),
        }
    }
}

impl fmt::Debug for TestRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRequest")
            .field("request", &self.builder)
            .finish_non_exhaustive()
    }
}

/// TestResponse is a handler's response with its body collected into
/// memory.
pub struct TestResponse {
    status: StatusCode,
    headers: Headers,
    body: Bytes,
    body_error: Option<io::Error>,
}

impl TestResponse {
    /// Collects `resp`: its body, whatever its kind, is read (a file), run
    /// (a writer) or drained (a reader) into memory; for a response to
    /// `HEAD` (`is_head`), dropped unread, as the server does.
    pub fn collect(resp: Response, is_head: bool) -> TestResponse {
        let (status, headers, body) = resp.into_parts();
        let (body, body_error) = if is_head {
            (Bytes::new(), None)
        } else {
            match collect_body(body) {
                Ok(b) => (b, None),
                Err((partial, e)) => (partial, Some(e)),
            }
        };
        TestResponse {
            status,
            headers,
            body,
            body_error,
        }
    }

    /// Returns the status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the header fields the handler set.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Returns the first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Returns the body. For JSON, decode it with the application's own
    /// serde: `serde_json::from_slice(resp.bytes())`.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// Returns the body as text; bytes that are not UTF-8 show as U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Returns the body, taking it out of the response.
    pub fn into_bytes(self) -> Bytes {
        self.body
    }

    /// Returns the error that cut the body short, if any: the file, the
    /// reader or the writer failed, or a reader's length differed from
    /// the one it declared (the server would have closed the connection).
    /// What was produced before it is in [`TestResponse::bytes`].
    pub fn body_error(&self) -> Option<&io::Error> {
        self.body_error.as_ref()
    }
}

impl From<Response> for TestResponse {
    /// Collects a response (not one to `HEAD`).
    fn from(resp: Response) -> TestResponse {
        TestResponse::collect(resp, false)
    }
}

impl fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.text())
            .field("body_error", &self.body_error)
            .finish()
    }
}

/// Reads a body into memory; on failure, what was read and the error.
fn collect_body(body: Body) -> Result<Bytes, (Bytes, io::Error)> {
    let mut out = Vec::new();
    let result = match body {
        // A `101`'s session does not run here: the test sees the answer.
        Body::Empty | Body::Upgrade(_) => Ok(()),
        Body::Bytes(b) => return Ok(b),
        Body::File {
            mut file,
            offset,
            len,
        } => file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.take(len).read_to_end(&mut out))
            .and_then(|n| exact(n as u64, len, "file")),
        Body::Reader { reader, len } => {
            // One byte past a declared length is enough to tell it lied.
            let limit = len.map_or(u64::MAX, |n| n.saturating_add(1));
            reader
                .take(limit)
                .read_to_end(&mut out)
                .and_then(|n| len.map_or(Ok(()), |len| exact(n as u64, len, "reader")))
        }
        Body::Writer(f) => f(&mut out),
        Body::Segments { file, segments } => segments.iter().try_for_each(|s| match s {
            Segment::Bytes(b) => {
                out.extend_from_slice(b);
                Ok(())
            }
            Segment::File { offset, len } => {
                let mut file = &file;
                file.seek(SeekFrom::Start(*offset))
                    .and_then(|_| file.take(*len).read_to_end(&mut out))
                    .and_then(|n| exact(n as u64, *len, "file segment"))
            }
        }),
    };
    match result {
        Ok(()) => Ok(Bytes::from(out)),
        Err(e) => Err((Bytes::from(out), e)),
    }
}

fn exact(got: u64, declared: u64, what: &str) -> io::Result<()> {
    if got == declared {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} body gave {got} bytes, not the {declared} declared"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_kind_is_collected() {
        let dir = std::env::temp_dir().join(format!("sockhttp-testing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.txt");
        std::fs::write(&path, "0123456789").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let cases: Vec<(Response, &str)> = vec![
            (Response::new(StatusCode::NO_CONTENT), ""),
            (Response::text("bytes"), "bytes"),
            (
                Response::new(StatusCode::OK).with_body(Body::File {
                    file,
                    offset: 2,
                    len: 3,
                }),
                "234",
            ),
            (
                Response::new(StatusCode::OK).with_body(Body::Segments {
                    file: std::fs::File::open(&path).unwrap(),
                    segments: vec![
                        Segment::Bytes(Bytes::from_static(b"<")),
                        Segment::File { offset: 8, len: 2 },
                        Segment::Bytes(Bytes::from_static(b"|")),
                        Segment::File { offset: 0, len: 1 },
                    ],
                }),
                "<89|0",
            ),
            (Response::stream(io::Cursor::new("reader")), "reader"),
            (
                Response::writer(|w| {
                    w.write_all(b"wri")?;
                    w.flush()?;
                    w.write_all(b"ter")
                }),
                "writer",
            ),
        ];
        for (resp, want) in cases {
            let got = TestResponse::from(resp);
            assert_eq!(got.text(), want);
            assert!(got.body_error().is_none(), "{got:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_body_that_fails_keeps_what_came_before() {
        let resp = Response::writer(|w| {
            w.write_all(b"half")?;
            Err(io::Error::other("broke"))
        });
        let got = TestResponse::from(resp);
        assert_eq!(got.text(), "half");
        assert_eq!(got.body_error().unwrap().to_string(), "broke");

        let liar = Response::new(StatusCode::OK).with_body(Body::Reader {
            reader: Box::new(io::Cursor::new("12345")),
            len: Some(3),
        });
        assert!(TestResponse::from(liar).body_error().is_some());
    }

    #[test]
    fn head_drops_the_body_and_bad_requests_get_the_servers_answer() {
        let client = TestClient::new(|_: &mut Request| Response::text("body"));
        let resp = client.head("/").send();
        assert_eq!((resp.status(), resp.text().as_ref()), (StatusCode::OK, ""));
        let resp = client.get("no-slash").send();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn requests_carry_params_extensions_and_state() {
        let client = TestClient::new(|req: &mut Request| {
            format!(
                "{} {} {}",
                req.param("id").unwrap_or("-"),
                req.extensions().get::<u8>().copied().unwrap_or(0),
                req.state::<&str>().copied().unwrap_or("-"),
            )
        })
        .with_state("shared");
        let resp = client.get("/").param("id", "7").extension(9u8).send();
        assert_eq!(resp.text(), "7 9 shared");
    }
}
