//! The [`Handler`] trait: anything that turns a request into a response,
//! and [`HandlerError`], what a handler's `?` turns any error into.
//!
//! A handler is called on a worker thread, once per request. Closures are
//! handlers; [`Router`](crate::Router) and
//! [`StaticFiles`](crate::StaticFiles) are handlers; a handler that wraps
//! another handler is middleware. This module performs no I/O.

use crate::error::Error;
use crate::limits::Timeouts;
use crate::request::Request;
use crate::response::{IntoResponse, Response, log_error, log_handler_error};
use crate::types::StatusCode;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// Handler responds to an HTTP request.
///
/// `call` gets the request by `&mut` so it can read the body and consume
/// route parameters; it returns the response, which the server then sends.
/// A handler that panics costs that one request a `500 Internal Server
/// Error` (or, if the response had started, the connection); the worker
/// thread and the server live on.
///
/// Closures and functions `Fn(&mut Request) -> R` are handlers for any `R`
/// that implements [`IntoResponse`], including
/// [`HandlerResult`] (`Result<Response, HandlerError>`), so a handler can
/// use `?` on any error.
///
/// # Closures need no annotations where a route takes them
///
/// The route methods ([`Router::get`](crate::Router::get) and the others)
/// name `Fn(&mut Request) -> R` in their bounds, so Rust infers a
/// closure's argument there. Where a whole [`Handler`] is expected
/// ([`Router::mount`](crate::Router::mount),
/// [`Router::fallback`](crate::Router::fallback),
/// [`Server::serve`](crate::Server::serve), a middleware's constructor), a
/// closure passes through [`handler_fn`] (or gets its argument type
/// written out: `|req: &mut Request|`). Rust infers a closure's signature
/// only from an `Fn` bound on the closure's own type, and a `Router` or a
/// `StaticFiles` cannot implement `Fn`, so no single bound serves both;
/// [`Handler::into_fn`] turns a handler value into a function for a route.
///
/// ```
/// use sockhttp::{HandlerResult, Response, Router, handler_fn};
///
/// let app = Router::new()
///     .get("/", |_req| Response::text("hi"))
///     .post("/len", |req| -> HandlerResult {
///         let n: u32 = std::str::from_utf8(&req.body_bytes()?)?.trim().parse()?;
///         Ok(Response::text(format!("{}", n + 1)))
///     })
///     .fallback(handler_fn(|req| Response::text(format!("no {}", req.path()))));
/// # let client = sockhttp::testing::TestClient::new(app);
/// # assert_eq!(client.post("/len").body("41").send().text(), "42");
/// # assert_eq!(client.post("/len").body("x").send().status().as_u16(), 500);
/// # assert_eq!(client.get("/x").send().text(), "no /x");
/// ```
///
/// # Examples
/// Middleware is a handler that wraps a handler. This one times each
/// request and hands the handler it wraps a request id through the
/// request's [extensions](Request::extensions):
/// ```
/// use sockhttp::{Handler, Request, Response, Router};
/// use sockhttp::testing::TestClient;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Instant;
///
/// #[derive(Clone, Copy, Debug)]
/// struct RequestId(u64);
///
/// struct Tagged<H> {
///     inner: H,
///     next_id: AtomicU64,
/// }
///
/// impl<H: Handler> Handler for Tagged<H> {
///     fn call(&self, req: &mut Request) -> Response {
///         let id = RequestId(self.next_id.fetch_add(1, Ordering::Relaxed));
///         req.extensions_mut().insert(id);
///         let start = Instant::now();
///         let resp = self.inner.call(req);
///         let took = start.elapsed();
///         resp.with_header("X-Request-Id", id.0.to_string())
///             .with_header("Server-Timing", format!("app;dur={:.3}", took.as_secs_f64() * 1000.0))
///     }
/// }
///
/// let app = Router::new().get("/", |req| {
///     let id = req.extensions().get::<RequestId>().expect("set by Tagged");
///     Response::text(format!("request {}", id.0))
/// });
/// let client = TestClient::new(Tagged { inner: app, next_id: AtomicU64::new(1) });
/// let resp = client.get("/").send();
/// assert_eq!(resp.text(), "request 1");
/// assert_eq!(resp.header("x-request-id"), Some("1"));
/// assert!(resp.header("server-timing").is_some_and(|v| v.starts_with("app;dur=")));
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Responds to `req`.
    fn call(&self, req: &mut Request) -> Response;

    /// Turns this handler into a function, for a route method, which
    /// takes functions (see above).
    ///
    /// ```
    /// use sockhttp::{Handler, Request, Response, Router};
    /// # use sockhttp::testing::TestClient;
    ///
    /// struct NoStore<H>(H);
    ///
    /// impl<H: Handler> Handler for NoStore<H> {
    ///     fn call(&self, req: &mut Request) -> Response {
    ///         self.0.call(req).with_header("Cache-Control", "no-store")
    ///     }
    /// }
    ///
    /// let app = Router::new()
    ///     .get("/", |_req| Response::text("home"))
    ///     .get("/account", NoStore(|_: &mut Request| Response::text("private")).into_fn());
    /// # let resp = TestClient::new(app).get("/account").send();
    /// # assert_eq!(resp.header("cache-control"), Some("no-store"));
    /// ```
    fn into_fn(self) -> impl Fn(&mut Request) -> Response + Send + Sync + 'static
    where
        Self: Sized,
    {
        move |req: &mut Request| self.call(req)
    }
}

impl<F, R> Handler for F
where
    F: Fn(&mut Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, req: &mut Request) -> Response {
        let result = self(req);
        result.into_response_to(req)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn call(&self, req: &mut Request) -> Response {
        (**self).call(req)
    }
}

/// Returns `f`, a closure, as a [`Handler`], its argument type inferred:
/// for the places that take a whole handler (tower's `service_fn`).
///
/// # Examples
/// ```no_run
/// use sockhttp::{Response, Server, handler_fn};
/// Server::bind("127.0.0.1:8080")?
///     .serve(handler_fn(|req| Response::text(format!("you asked for {}", req.path()))))
/// # ; Ok::<(), std::io::Error>(())
/// ```
pub fn handler_fn<F, R>(f: F) -> F
where
    F: Fn(&mut Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    f
}

/// Returns `handler` running under `timeouts` in place of the server's:
/// a route that takes long uploads, or sends large answers to slow
/// readers, gets longer deadlines than the rest of the server. It sets
/// them on each request ([`Request::set_timeouts`], which says what they
/// cover) before `handler` runs: a body that streams to the handler (one
/// over 64 KiB, or one sent after `100 Continue`) is read under
/// [`Timeouts::body`] and [`Timeouts::body_min_bytes_per_sec`], and the
/// response is sent under [`Timeouts::write`],
/// [`Timeouts::send_min_bytes_per_sec`] and [`Timeouts::send_grace`]. A
/// smaller body is read before the request is routed, under the server's
/// deadline, as the head is.
///
/// `handler` is a function or closure, as a route takes it (a
/// [`Handler`] value passes through [`Handler::into_fn`]); what comes back
/// goes on a route, or, being a handler too, anywhere one is expected.
///
/// # Examples
/// ```
/// use sockhttp::{HandlerResult, Response, Router, Server, Timeouts, with_timeouts};
/// use std::time::Duration;
///
/// let timeouts = Timeouts::default();
/// // Uploads may take 10 minutes, whatever their rate; downloads may
/// // stall for 2 minutes, and be read as slowly as 64 bytes a second.
/// let mut uploads = timeouts;
/// uploads.body = Duration::from_secs(600);
/// let mut downloads = timeouts;
/// downloads.write = Duration::from_secs(120);
/// downloads.send_min_bytes_per_sec = 64;
///
/// let app = Router::new()
///     .get("/", |_req| Response::text("home"))
///     .post("/upload", with_timeouts(uploads, |req| -> HandlerResult {
///         let n = std::io::copy(req.body(), &mut std::io::sink())?;
///         Ok(Response::text(format!("{n} bytes")))
///     }))
///     .get("/export", with_timeouts(downloads, |req| {
///         let stall = req.timeouts().map(|t| t.write.as_secs());
///         Response::text(format!("{stall:?}"))
///     }));
/// # let client = sockhttp::testing::TestClient::new(app);
/// # assert_eq!(client.post("/upload").body("hello").send().text(), "5 bytes");
/// # assert_eq!(client.get("/export").send().text(), "Some(120)");
/// let _server = Server::bind("127.0.0.1:0")?.timeouts(timeouts);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn with_timeouts<F, R>(
    timeouts: Timeouts,
    handler: F,
) -> impl Fn(&mut Request) -> R + Send + Sync + 'static
where
    F: Fn(&mut Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    move |req: &mut Request| {
        req.set_timeouts(timeouts);
        handler(req)
    }
}

/// HandlerResult is what a handler that uses `?` returns: a response (or
/// anything else that is [`IntoResponse`]), or a [`HandlerError`].
pub type HandlerResult<T = Response> = std::result::Result<T, HandlerError>;

/// HandlerError is the error of a [`HandlerResult`]: `?` converts any
/// error into it, and a handler can make one that answers with a status
/// and a body of its choice.
///
/// * sockhttp's own [`Error`] (from [`Request::body_bytes`] and the like,
///   or wrapped in the `io::Error` a body read returns) keeps its answer:
///   `413` for a body over the limit, `400` for bad framing, `408` for a
///   timeout, with `Connection: close` where the library would close.
/// * Any other error (`serde_json::Error`, `ParseIntError`, an `io::Error`
///   of the handler's own) is a `500` whose body says nothing of it; the
///   error is logged at `error` with the request's method and path.
/// * [`HandlerError::new`] (or a [`Response`] or a [`StatusCode`],
///   converted) answers with that status, and [`HandlerError::json`] and
///   [`HandlerError::text`] give it a body.
///
/// Why not `sockhttp::Error` itself: for `?` to take any error, the error
/// type needs `impl<E: std::error::Error> From<E>`, which collides with
/// the standard `impl From<T> for T` as soon as the type is itself an
/// `std::error::Error`, and `sockhttp::Error` must be one (it travels
/// inside `io::Error`s, and callers chain it). So HandlerError, like
/// `anyhow::Error`, is not an `std::error::Error`; [`crate::Result`]
/// stays the library's result, and `HandlerResult` the handlers'.
///
/// # Examples
/// ```
/// use sockhttp::{HandlerError, HandlerResult, Request, Response, Router, StatusCode};
/// use sockhttp::testing::TestClient;
///
/// fn double(req: &mut Request) -> HandlerResult {
///     let n: i64 = req
///         .param("n")
///         .ok_or_else(|| HandlerError::new(StatusCode::NOT_FOUND))?
///         .parse()
///         .map_err(|_| HandlerError::new(StatusCode::BAD_REQUEST).json(r#"{"error":"not a number"}"#))?;
///     Ok(Response::text((2 * n).to_string()))
/// }
///
/// let client = TestClient::new(Router::new().get("/double/{n}", double));
/// assert_eq!(client.get("/double/21").send().text(), "42");
/// let resp = client.get("/double/x").send();
/// assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(resp.header("content-type"), Some("application/json"));
/// assert_eq!(resp.text(), r#"{"error":"not a number"}"#);
/// ```
pub struct HandlerError {
    status: StatusCode,
    /// The answer chosen by the handler; `None` for the default one.
    response: Option<Box<Response>>,
    cause: Cause,
}

enum Cause {
    /// Made by the handler: nothing to log.
    None,
    /// sockhttp's own error, answered and logged as the library does.
    Library(Error),
    /// Anything else: a 500, logged at `error`.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// Makes an error that answers with `status` and the plain-text body
    /// every error gets by default (`404 Not Found`, say), until
    /// [`HandlerError::json`] or [`HandlerError::text`] replace it.
    pub fn new(status: StatusCode) -> HandlerError {
        HandlerError {
            status,
            response: None,
            cause: Cause::None,
        }
    }

    /// Makes a `500` for `error`, which is logged and never sent. It takes
    /// what `?` cannot: a message (`&str`, `String`) or a
    /// `Box<dyn Error + Send + Sync>`. A sockhttp [`Error`] keeps its own
    /// answer, as with `?`.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> HandlerError {
        HandlerError::from_boxed(error.into())
    }

    fn from_boxed(error: Box<dyn std::error::Error + Send + Sync>) -> HandlerError {
        // A sockhttp error, itself or inside the `io::Error` of a body
        // read, keeps its answer; anything else is the handler's failure.
        match Error::from_boxed(error) {
            Error::Handler(error) => HandlerError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                response: None,
                cause: Cause::Internal(error),
            },
            e => HandlerError::library(e),
        }
    }

    fn library(e: Error) -> HandlerError {
        HandlerError {
            status: e.status().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            response: None,
            cause: Cause::Library(e),
        }
    }

    /// Returns the status the error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the error this one was converted from, if any.
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.cause {
            Cause::None => None,
            Cause::Library(e) => Some(e),
            Cause::Internal(e) => Some(&**e),
        }
    }

    /// Returns the error with `body` as its `application/json` body.
    pub fn json(self, body: impl Into<String>) -> HandlerError {
        self.with_typed_body("application/json", body.into())
    }

    /// Returns the error with `body` as its `text/plain; charset=utf-8` body.
    pub fn text(self, body: impl Into<String>) -> HandlerError {
        self.with_typed_body("text/plain; charset=utf-8", body.into())
    }

    /// Returns the error with header `name` set to `value` on its answer.
    pub fn with_header(self, name: &str, value: impl AsRef<str>) -> HandlerError {
        self.map_response(|resp| resp.with_header(name, value))
    }

    fn with_typed_body(self, content_type: &'static str, body: String) -> HandlerError {
        self.map_response(|mut resp| {
            resp.headers_mut()
                .insert("Content-Type", Bytes::from_static(content_type.as_bytes()));
            resp.with_body(crate::Body::Bytes(body.into()))
        })
    }

    /// Changes the answer, made now if it was the default one.
    fn map_response(mut self, f: impl FnOnce(Response) -> Response) -> HandlerError {
        let resp = match self.response.take() {
            Some(resp) => *resp,
            None => match &self.cause {
                Cause::Library(e) => Response::for_error(e),
                _ => Response::for_status(self.status),
            },
        };
        self.response = Some(Box::new(f(resp)));
        self
    }

    /// Logs the cause (with the request when known) and returns the answer.
    fn respond(self, req: Option<&Request>) -> Response {
        match (&self.cause, req) {
            (Cause::None, _) => {}
            (Cause::Library(e), req) => log_error(e, req),
            (Cause::Internal(e), Some(req)) => log_handler_error(e, req),
            (Cause::Internal(e), None) => log::error!("handler error: {e}"),
        }
        match (self.response, self.cause) {
            (Some(resp), _) => *resp,
            (None, Cause::Library(e)) => Response::for_error(&e),
            (None, _) => Response::for_status(self.status),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    /// Converts any error, keeping the answer of a sockhttp [`Error`]
    /// (also inside an `io::Error`); anything else is a `500`.
    fn from(error: E) -> HandlerError {
        HandlerError::from_boxed(Box::new(error))
    }
}

impl From<Response> for HandlerError {
    /// An error that answers with `resp` as it is.
    fn from(resp: Response) -> HandlerError {
        HandlerError {
            status: resp.status(),
            response: Some(Box::new(resp)),
            cause: Cause::None,
        }
    }
}

impl From<StatusCode> for HandlerError {
    /// The same as [`HandlerError::new`].
    fn from(status: StatusCode) -> HandlerError {
        HandlerError::new(status)
    }
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        self.respond(None)
    }

    fn into_response_to(self, req: &Request) -> Response {
        self.respond(Some(req))
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HandlerError");
        d.field("status", &self.status);
        match &self.cause {
            Cause::None => {}
            Cause::Library(e) => {
                d.field("error", e);
            }
            Cause::Internal(e) => {
                d.field("error", e);
            }
        }
        d.field("response", &self.response).finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error() {
            Some(e) => write!(f, "{}: {e}", self.status),
            None => write!(f, "{}", self.status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Method;

    fn answer(e: HandlerError) -> Response {
        let req = Request::builder(Method::Get, "/x").build().unwrap();
        e.into_response_to(&req)
    }

    fn text(resp: &Response) -> String {
        match resp.body() {
            crate::Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not bytes: {other:?}"),
        }
    }

    #[test]
    fn library_errors_keep_their_answer() {
        for (e, status) in [
            (Error::BodyTooLarge, 413),
            (Error::BadFraming("x"), 400),
            (Error::Timeout(crate::Phase::Body), 408),
            (
                Error::with_status(StatusCode::UNPROCESSABLE_CONTENT, "d"),
                422,
            ),
        ] {
            let closes = e.closes_connection();
            let he = HandlerError::from(e);
            assert_eq!(he.status().as_u16(), status);
            let resp = answer(he);
            assert_eq!(resp.status().as_u16(), status);
            assert_eq!(resp.headers().has_token("connection", "close"), closes);
        }
        let he = HandlerError::from(Error::MethodNotAllowed(vec![Method::Get]));
        assert_eq!(answer(he).headers().get("allow"), Some("GET"));
    }

    #[test]
    fn library_errors_inside_io_errors_keep_their_answer() {
        let he = HandlerError::from(Error::BodyTooLarge.into_io());
        assert_eq!(he.status(), StatusCode::CONTENT_TOO_LARGE);
        // The peer's connection failing under a body read is the library's.
        let io = Error::Io(std::io::ErrorKind::ConnectionReset.into()).into_io();
        assert!(matches!(
            HandlerError::from(io).cause,
            Cause::Library(Error::Io(_))
        ));
    }

    #[test]
    fn other_errors_are_a_silent_500() {
        let parse = "x".parse::<u32>().unwrap_err();
        let he = HandlerError::from(parse);
        assert_eq!(he.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(he.error().is_some());
        let resp = answer(he);
        assert_eq!(text(&resp), "500 Internal Server Error\n");
        let own = std::io::Error::other("secret detail");
        let resp = answer(HandlerError::from(own));
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!text(&resp).contains("secret"));
        let resp = answer(HandlerError::internal("secret message"));
        assert_eq!(text(&resp), "500 Internal Server Error\n");
        assert_eq!(
            HandlerError::internal(Error::BodyTooLarge).status(),
            StatusCode::CONTENT_TOO_LARGE
        );
    }

    #[test]
    fn handlers_choose_status_body_and_headers() {
        let resp = answer(
            HandlerError::new(StatusCode::NOT_FOUND)
                .json(r#"{"error":"no such item"}"#)
                .with_header("X-Why", "gone"),
        );
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers().get("content-type"), Some("application/json"));
        assert_eq!(resp.headers().get("x-why"), Some("gone"));
        assert_eq!(text(&resp), r#"{"error":"no such item"}"#);

        let resp = answer(HandlerError::new(StatusCode::CONFLICT));
        assert_eq!(text(&resp), "409 Conflict\n");
        let resp = answer(StatusCode::GONE.into());
        assert_eq!(resp.status(), StatusCode::GONE);
        let teapot = StatusCode::new(418).unwrap();
        let resp = answer(Response::text("teapot").with_status(teapot).into());
        assert_eq!(
            (resp.status().as_u16(), text(&resp).as_str()),
            (418, "teapot")
        );

        // A library error keeps its status and framing under a new body.
        let resp = answer(HandlerError::from(Error::BodyTooLarge).text("too big"));
        assert_eq!(resp.status(), StatusCode::CONTENT_TOO_LARGE);
        assert!(resp.headers().has_token("connection", "close"));
        assert_eq!(text(&resp), "too big");
    }
}
