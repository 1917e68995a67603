//! The [`Handler`] trait: anything that turns a request into a response.
//!
//! A handler is called on a worker thread, once per request. Closures are
//! handlers; [`Router`](crate::Router) and
//! [`StaticFiles`](crate::StaticFiles) are handlers; a handler that wraps
//! another handler is middleware. This module performs no I/O.

use crate::request::Request;
use crate::response::{IntoResponse, Response};
use std::sync::Arc;

/// Handler responds to an HTTP request.
///
/// `call` gets the request by `&mut` so it can read the body and consume
/// route parameters; it returns the response, which the server then sends.
/// A handler that panics costs that one request a `500 Internal Server
/// Error` (or, if the response had started, the connection); the worker
/// thread and the server live on.
///
/// Closures `Fn(&mut Request) -> R` are handlers for any `R` that
/// implements [`IntoResponse`], including `Result<Response, Error>`, so a
/// handler can use `?`. Give a closure that uses `?` its return type, since
/// Rust cannot infer the error type: `|req: &mut Request| -> sockhttp::Result<Response> { … }`.
///
/// # Examples
/// Middleware is a handler that wraps a handler:
/// ```
/// use sockhttp::{Handler, Request, Response};
///
/// struct Cors<H>(H);
///
/// impl<H: Handler> Handler for Cors<H> {
///     fn call(&self, req: &mut Request) -> Response {
///         self.0.call(req).with_header("Access-Control-Allow-Origin", "*")
///     }
/// }
///
/// let app = Cors(|_req: &mut Request| Response::text("hi"));
/// let mut req = Request::builder(sockhttp::Method::Get, "/").build()?;
/// let resp = app.call(&mut req);
/// assert_eq!(resp.headers().get("access-control-allow-origin"), Some("*"));
/// # Ok::<(), sockhttp::Error>(())
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Responds to `req`.
    fn call(&self, req: &mut Request) -> Response;
}

impl<F, R> Handler for F
where
    F: Fn(&mut Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, req: &mut Request) -> Response {
        self(req).into_response()
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn call(&self, req: &mut Request) -> Response {
        (**self).call(req)
    }
}
