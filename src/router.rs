//! The [`Router`]: method and path patterns to handlers.
//!
//! Matching works on the raw path, segment by segment, so an encoded
//! slash (`%2F`) inside a parameter never splits it; parameter values are
//! percent-decoded after matching. This module performs no I/O.

use crate::error::Error;
use crate::extensions::Extensions;
use crate::handler::Handler;
use crate::request::Request;
use crate::response::{IntoResponse, Response, allow_value};
use crate::types::{Method, StatusCode};
use crate::uri;
use std::fmt;
use std::sync::Arc;

/// Router is an HTTP request multiplexer: it matches each request's method
/// and path against registered patterns and calls the handler of the most
/// specific match.
///
/// Patterns are paths whose segments are literal (`/users`), a named
/// parameter (`/users/{id}`, one whole segment), or, last, a wildcard
/// (`/files/{*rest}`, the rest of the path, possibly empty, including
/// slashes). A handler can also be [mounted](Router::mount) under a
/// prefix, for everything below it; routes are tried before mounts, and
/// the longest mount prefix wins.
///
/// # Which route answers
///
/// Patterns are compared by their *shape*: the segments with the
/// parameter names left out, so `/users/{id}` and `/users/{uid}` are one
/// route. Registering a method on a shape that already has one adds the
/// method to that route: `GET /users/{id}` and `DELETE /users/{uid}`
/// answer `GET` and `DELETE` on `/users/7`, and each handler sees the
/// parameter names of its own pattern (`id` for the first, `uid` for the
/// second). The same method twice on one shape panics, whatever the names
/// (as Go 1.22's `ServeMux` refuses conflicting patterns): `GET
/// /users/{id}` then `GET /users/{uid}` is a mistake caught at startup.
///
/// When several patterns match a path, the most specific wins: at the
/// first segment where they differ, a literal beats a parameter, which
/// beats a wildcard (so `/users/me` beats `/users/{id}`, which beats
/// `/users/{*rest}`; and `/a/{*rest}` beats `/{x}/b` on `/a/b`), and a
/// pattern that has ended beats a wildcard that would take the empty rest
/// (`/files` beats `/files/{*rest}` on `/files`). Two different shapes
/// are never equally specific for a path they both match (equal
/// specificity means the same kind of segment at each position, and
/// literals matching the same path are equal), so ties cannot happen and
/// the answer does not depend on the order of registration.
///
/// What the router answers by itself:
/// * no pattern matches: `404 Not Found` (or the [fallback](Router::fallback));
/// * a pattern matches, but not the method: `405 Method Not Allowed` with
///   `Allow`, or `501 Not Implemented` for an unknown method;
/// * `HEAD` on a `GET` route: the `GET` handler; the server sends its
///   headers without the body;
/// * `OPTIONS` on a matching path with no `OPTIONS` route: `204` with `Allow`;
/// * `OPTIONS *` (the server as a whole, RFC 9110 §9.3.7): `204` with an
///   `Allow` listing every method some route answers (mounted handlers and
///   the fallback are not asked).
///
/// # Handlers
///
/// The route methods ([`Router::get`] and the others) take functions and
/// closures, whose argument type Rust then infers (`|req| …`); a
/// [`Handler`] value goes on a route through [`Handler::into_fn`].
/// [`Router::mount`] and [`Router::fallback`] take any [`Handler`] (a
/// `Router`, [`StaticFiles`](crate::StaticFiles), a middleware, or a
/// closure through [`handler_fn`](crate::handler_fn)).
///
/// State shared by every handler goes in [`Router::with_state`] rather
/// than in an `Arc` cloned into each closure.
///
/// # Examples
/// ```
/// use sockhttp::{Router, Response, StatusCode};
/// use sockhttp::testing::TestClient;
///
/// let app = Router::new()
///     .get("/", |_req| Response::text("home"))
///     .get("/users/{id}", |req| {
///         Response::text(format!("user {}", req.param("id").unwrap_or("?")))
///     })
///     .delete("/users/{uid}", |req| {
///         Response::text(format!("deleted {}", req.param("uid").unwrap_or("?")))
///     });
/// let client = TestClient::new(app);
/// assert_eq!(client.get("/users/42").send().text(), "user 42");
/// assert_eq!(client.delete("/users/42").send().text(), "deleted 42");
/// let resp = client.put("/users/42").send();
/// assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
/// assert_eq!(resp.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    mounts: Vec<Mount>,
    fallback: Option<Arc<dyn Handler>>,
    /// What [`Request::state`] finds; lent to each request, not copied.
    state: Option<Arc<Extensions>>,
}

/// Route is every handler of one shape of pattern.
struct Route {
    /// The first pattern registered with this shape: its parameter names
    /// are those of the captures `Pattern::matches` returns, which each
    /// handler renames to its own.
    pattern: Pattern,
    handlers: Vec<RouteHandler>,
}

struct RouteHandler {
    /// `None` means any method.
    method: Option<Method>,
    handler: Arc<dyn Handler>,
    /// The parameter names of this handler's own pattern, in order.
    names: Vec<String>,
}

struct Mount {
    /// Without a trailing slash; empty for the root.
    prefix: String,
    handler: Arc<dyn Handler>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard(String),
}

/// Parameter names and their raw (still encoded) values.
type Captures<'n, 'p> = Vec<(&'n str, &'p str)>;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    source: String,
    segments: Vec<Segment>,
    /// How specific the pattern is, compared lexicographically (higher is
    /// more specific): 3 per literal segment, 2 per parameter, 0 for a
    /// wildcard, and 1 for the end of a pattern without a wildcard, so
    /// that `/a` beats `/a/{*rest}` on `/a` (where the wildcard would take
    /// the empty rest). Two patterns with the same rank have the same
    /// kind of segment everywhere; if both match a path, their literals
    /// equal the same parts of it, so they have the same shape. It
    /// depends on the pattern alone, so a match computes nothing.
    rank: Vec<u8>,
}

impl Pattern {
    /// # Panics
    /// If the pattern does not start with `/`, has an empty or repeated
    /// parameter name, or a wildcard that is not last.
    fn parse(source: &str) -> Pattern {
        assert!(
            source.starts_with('/'),
            "route pattern {source:?} must start with '/'"
        );
        let parts: Vec<&str> = source[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let seg = if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                if let Some(name) = inner.strip_prefix('*') {
                    assert!(
                        i == parts.len() - 1,
                        "wildcard must be the last segment in {source:?}"
                    );
                    Segment::Wildcard(name.to_owned())
                } else {
                    Segment::Param(inner.to_owned())
                }
            } else {
                assert!(
                    !part.contains(['{', '}']),
                    "route pattern {source:?}: braces must enclose a whole segment"
                );
                Segment::Literal((*part).to_owned())
            };
            if let Segment::Param(n) | Segment::Wildcard(n) = &seg {
                assert!(!n.is_empty(), "empty parameter name in {source:?}");
                assert!(!names.contains(n), "parameter {n:?} repeated in {source:?}");
                names.push(n.clone());
            }
            segments.push(seg);
        }
        let mut rank: Vec<u8> = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 3,
                Segment::Param(_) => 2,
                Segment::Wildcard(_) => 0,
            })
            .collect();
        if !matches!(segments.last(), Some(Segment::Wildcard(_))) {
            rank.push(1);
        }
        Pattern {
            source: source.to_owned(),
            segments,
            rank,
        }
    }

    /// Reports whether both patterns have the same segments, parameter
    /// and wildcard names aside.
    fn same_shape(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_))
                    | (Segment::Wildcard(_), Segment::Wildcard(_)) => true,
                    _ => false,
                })
    }

    /// Returns the parameter and wildcard names, in order.
    fn names(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) | Segment::Wildcard(n) => Some(n.clone()),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// Matches `path` (raw, starting with `/`); returns raw captures.
    /// Allocates nothing unless a parameter is captured.
    fn matches<'p>(&self, path: &'p str) -> Option<Captures<'_, 'p>> {
        if !path.starts_with('/') {
            return None;
        }
        // The parts are what `path[1..].split('/')` yields, walked by hand:
        // `at` is where the current part starts, past the end once the
        // last part is taken.
        let bytes = path.as_bytes();
        let mut at = 1;
        let mut captures = Vec::new();
        for seg in &self.segments {
            if let Segment::Wildcard(name) = seg {
                captures.push((name.as_str(), &path[at.min(path.len())..]));
                return Some(captures);
            }
            if at > path.len() {
                return None;
            }
            let end = bytes[at..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(path.len(), |i| at + i);
            let part = &path[at..end];
            match seg {
                Segment::Literal(l) if same(l, part) => {}
                Segment::Param(name) if !part.is_empty() => captures.push((name.as_str(), part)),
                _ => return None,
            }
            at = end + 1;
        }
        // Matched only if no part is left.
        (at > path.len()).then_some(captures)
    }
}

/// Compares a literal segment with a part of a path. Segments are short:
/// a byte loop beats a call to the C library's `bcmp`, which measured at
/// about 1% of a hello-world request.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

impl Router {
    /// Makes an empty router (everything is 404).
    #[must_use]
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds `state` to what every handler below this router finds with
    /// [`Request::state`] (`req.state::<S>()`), one value per type: a
    /// database pool, a store, a configuration. The router keeps the
    /// values behind one `Arc` and lends it to each request it handles
    /// (one reference count taken and given back per request; nothing
    /// when the router has no state). A router mounted in this one that
    /// has a state of its own shows its handlers that state instead.
    ///
    /// # Panics
    /// If the router already has a state of type `S`.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{HandlerResult, Request, Response, Router};
    /// use sockhttp::testing::TestClient;
    /// use std::sync::Mutex;
    ///
    /// #[derive(Default)]
    /// struct Names(Mutex<Vec<String>>);
    ///
    /// fn add(req: &mut Request) -> HandlerResult {
    ///     let name = String::from_utf8(req.body_bytes()?.to_vec())?; // the body first,
    ///     let names = req.state::<Names>().expect("set in app()"); // then the state
    ///     names.0.lock().unwrap().push(name);
    ///     Ok(Response::text("added"))
    /// }
    ///
    /// let app = Router::new()
    ///     .with_state(Names::default())
    ///     .post("/names", add)
    ///     .get("/names", |req| {
    ///         let names = req.state::<Names>().expect("set in app()");
    ///         Response::text(names.0.lock().unwrap().join(","))
    ///     });
    /// let client = TestClient::new(app);
    /// client.post("/names").body("ada").send();
    /// client.post("/names").body("grace").send();
    /// assert_eq!(client.get("/names").send().text(), "ada,grace");
    /// ```
    #[must_use]
    pub fn with_state<S: Send + Sync + 'static>(mut self, state: S) -> Router {
        let states = Arc::get_mut(self.state.get_or_insert_with(Arc::default))
            .expect("a router's state is not shared before it serves");
        assert!(
            states.insert(state).is_none(),
            "router state of type {} set twice",
            std::any::type_name::<S>()
        );
        self
    }

    /// Routes `method` requests for `pattern` to `handler`, a function or
    /// closure (see [`Router`] for handler values).
    ///
    /// # Panics
    /// If the pattern is malformed (see [`Router`]) or its shape already
    /// has a handler for `method`: both are programming errors caught at
    /// startup.
    #[must_use]
    pub fn route<F, R>(self, method: Method, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.add(Some(method), pattern, Arc::new(handler))
    }

    /// Routes requests of any method for `pattern` to `handler`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn any<F, R>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.add(None, pattern, Arc::new(handler))
    }

    /// Routes `GET` (and so `HEAD`) requests for `pattern`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn get<F, R>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::Get, pattern, handler)
    }

    /// Routes `POST` requests for `pattern`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn post<F, R>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::Post, pattern, handler)
    }

    /// Routes `PUT` requests for `pattern`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn put<F, R>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::Put, pattern, handler)
    }

    /// Routes `PATCH` requests for `pattern`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn patch<F, R>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::Patch, pattern, handler)
    }

    /// Routes `DELETE` requests for `pattern`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn delete<F, R>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::Delete, pattern, handler)
    }

    /// Mounts `handler` for every path at or below `prefix` (e.g.
    /// `"/assets"`: `/assets`, `/assets/` and `/assets/app.js`), whatever
    /// the method. The handler sees [`Request::path`] without the prefix
    /// (`/app.js`; `""` for exactly `/assets`), and
    /// [`Request::mount_prefix`] holds what was removed.
    ///
    /// `handler` is any [`Handler`]: a `Router`, a
    /// [`StaticFiles`](crate::StaticFiles), a middleware, a function, or a
    /// closure through [`handler_fn`](crate::handler_fn).
    ///
    /// # Panics
    /// If `prefix` does not start with `/` or is mounted twice.
    #[must_use]
    pub fn mount(mut self, prefix: &str, handler: impl Handler) -> Router {
        assert!(
            prefix.starts_with('/'),
            "mount prefix {prefix:?} must start with '/'"
        );
        let prefix = prefix.trim_end_matches('/').to_owned();
        assert!(
            !self.mounts.iter().any(|m| m.prefix == prefix),
            "mount prefix {prefix:?} registered twice"
        );
        self.mounts.push(Mount {
            prefix,
            handler: Arc::new(handler),
        });
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        self
    }

    /// Sets the handler for requests no route or mount matches (404 by
    /// default): any [`Handler`], as for [`Router::mount`].
    ///
    /// ```
    /// use sockhttp::{Response, Router, StatusCode, handler_fn};
    /// let app = Router::new().fallback(handler_fn(|req| {
    ///     Response::text(format!("nothing at {}", req.path())).with_status(StatusCode::NOT_FOUND)
    /// }));
    /// # let client = sockhttp::testing::TestClient::new(app);
    /// # assert_eq!(client.get("/x").send().text(), "nothing at /x");
    /// ```
    #[must_use]
    pub fn fallback(mut self, handler: impl Handler) -> Router {
        self.fallback = Some(Arc::new(handler));
        self
    }

    fn add(mut self, method: Option<Method>, pattern: &str, handler: Arc<dyn Handler>) -> Router {
        let parsed = Pattern::parse(pattern);
        let names = parsed.names();
        let route = match self
            .routes
            .iter_mut()
            .find(|r| r.pattern.same_shape(&parsed))
        {
            Some(r) => r,
            None => {
                self.routes.push(Route {
                    pattern: parsed,
                    handlers: Vec::new(),
                });
                self.routes.last_mut().expect("just pushed")
            }
        };
        assert!(
            !route.handlers.iter().any(|h| h.method == method),
            "route {} {pattern:?} registered twice (as {:?})",
            method.as_ref().map_or("(any method)", Method::as_str),
            route.pattern.source
        );
        route.handlers.push(RouteHandler {
            method,
            handler,
            names,
        });
        self
    }

    /// Returns the methods `route` answers, for `Allow`.
    fn allowed(route: &Route) -> Vec<Method> {
        Self::allowed_by(std::slice::from_ref(route))
    }

    /// Returns the methods any of `routes` answers, in a fixed order.
    fn allowed_by(routes: &[Route]) -> Vec<Method> {
        let mut out: Vec<Method> = Vec::new();
        let has = |m: &Method| {
            routes
                .iter()
                .flat_map(|r| &r.handlers)
                .any(|h| h.method.as_ref() == Some(m))
        };
        for m in [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
            Method::Options,
        ] {
            let yes = has(&m) || (m == Method::Head && has(&Method::Get)) || m == Method::Options;
            if yes {
                out.push(m);
            }
        }
        for h in routes.iter().flat_map(|r| &r.handlers) {
            if let Some(m @ Method::Other(_)) = &h.method {
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
        }
        out
    }

    fn dispatch(&self, req: &mut Request) -> Result<Response, Error> {
        if *req.method() == Method::Options && req.target() == "*" {
            return Ok(Response::new(StatusCode::NO_CONTENT)
                .with_header("Allow", allow_value(&Self::allowed_by(&self.routes))));
        }
        // Match on the borrowed path and keep only owned results, so the
        // path is not copied for every request.
        let (found, mount) = {
            let path = req.path();
            // Two matching routes never have the same rank (see `Router`),
            // so the maximum is unique.
            let best = self
                .routes
                .iter()
                .filter_map(|r| r.pattern.matches(path).map(|caps| (r, caps)))
                .max_by(|a, b| a.0.pattern.rank.cmp(&b.0.pattern.rank));
            match best {
                Some((route, caps)) => {
                    let method = req.method();
                    let find =
                        |m: &Method| route.handlers.iter().find(|h| h.method.as_ref() == Some(m));
                    let handler = find(method)
                        .or_else(|| {
                            (*method == Method::Head)
                                .then(|| find(&Method::Get))
                                .flatten()
                        })
                        .or_else(|| route.handlers.iter().find(|h| h.method.is_none()));
                    // Decoded only once a handler is found (a 405 comes
                    // before a 400 for the parameters), under its names.
                    let params = handler.map(|h| {
                        if caps.is_empty() {
                            // Most routes have no parameters: nothing to decode.
                            return Ok(Vec::new());
                        }
                        caps.into_iter()
                            .zip(&h.names)
                            .map(|((_, raw), name)| {
                                uri::percent_decode(raw)
                                    .map(|v| (name.clone(), v.into_owned()))
                                    .ok_or(Error::Malformed("invalid percent-encoding in path"))
                            })
                            .collect::<Result<Vec<(String, String)>, Error>>()
                    });
                    (Some((route, handler.zip(params))), None)
                }
                None => {
                    let mount = self.mounts.iter().find(|m| {
                        path.strip_prefix(&m.prefix)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                    });
                    (None, mount)
                }
            }
        };
        if let Some((route, found)) = found {
            let Some((handler, params)) = found else {
                return match req.method() {
                    Method::Options => Ok(Response::new(StatusCode::NO_CONTENT)
                        .with_header("Allow", allow_value(&Self::allowed(route)))),
                    m if m.is_standard() => Err(Error::MethodNotAllowed(Self::allowed(route))),
                    _ => Err(Error::NotImplemented),
                };
            };
            req.set_params(params?);
            return Ok(handler.handler.call(req));
        }
        if let Some(m) = mount {
            let offset = req.mount_offset() + m.prefix.len();
            req.set_mount_offset(offset);
            let resp = m.handler.call(req);
            req.set_mount_offset(offset - m.prefix.len());
            return Ok(resp);
        }
        match &self.fallback {
            Some(h) => Ok(h.call(req)),
            None => Err(Error::NotFound),
        }
    }

    fn respond(&self, req: &mut Request) -> Response {
        match self.dispatch(req) {
            Ok(resp) => resp,
            Err(e) => Response::from_error(&e),
        }
    }
}

impl Handler for Router {
    fn call(&self, req: &mut Request) -> Response {
        let Some(state) = &self.state else {
            return self.respond(req);
        };
        let outer = req.replace_state(Some(Arc::clone(state)));
        let resp = self.respond(req);
        req.replace_state(outer);
        resp
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<&str> = self
            .routes
            .iter()
            .map(|r| r.pattern.source.as_str())
            .collect();
        let mounts: Vec<&str> = self.mounts.iter().map(|m| m.prefix.as_str()).collect();
        f.debug_struct("Router")
            .field("routes", &routes)
            .field("mounts", &mounts)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestClient, TestResponse};

    /// The straightforward matcher, by `split('/')`: the walk by hand in
    /// `Pattern::matches` must agree with it everywhere.
    fn reference<'a, 'p>(pattern: &'a Pattern, path: &'p str) -> Option<Captures<'a, 'p>> {
        let rest = path.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let mut rest_at = 1;
        let mut captures = Vec::new();
        for seg in &pattern.segments {
            if let Segment::Wildcard(name) = seg {
                captures.push((name.as_str(), &path[rest_at.min(path.len())..]));
                return Some(captures);
            }
            let part = parts.next()?;
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Param(name) if !part.is_empty() => captures.push((name.as_str(), part)),
                _ => return None,
            }
            rest_at += part.len() + 1;
        }
        parts.next().is_none().then_some(captures)
    }

    #[test]
    fn matching_agrees_with_splitting_on_slashes() {
        let patterns = [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/{x}",
            "/{x}/",
            "/a/{x}",
            "/{x}/{y}",
            "/a/{x}/b",
            "/{*rest}",
            "/a/{*rest}",
            "/a/{x}/{*rest}",
            "//",
            "/a//b",
            "/{x}//{y}",
        ]
        .map(Pattern::parse);
        let paths = [
            "", "/", "//", "///", "/a", "/a/", "/a//", "/a/b", "/a/b/", "/a//b", "/b", "/ab",
            "/a/bc", "/a/b/c", "/x/y", "/x//y", "/a/x/b", "/a/x/b/", "/%2F/a", "a", "a/b",
        ];
        for p in &patterns {
            for path in paths {
                assert_eq!(
                    p.matches(path),
                    reference(p, path),
                    "{} on {path:?}",
                    p.source
                );
            }
        }
    }

    fn call(app: &Router, method: Method, target: &str) -> (u16, String, Option<String>) {
        let mut req = Request::builder(method, target).build().unwrap();
        // Collected as it is: a HEAD answer keeps the body the router gave.
        let resp = TestResponse::from(app.call(&mut req));
        let allow = resp.header("allow").map(str::to_owned);
        (resp.status().as_u16(), resp.text().into_owned(), allow)
    }

    fn app() -> Router {
        let echo = |name: &'static str| {
            move |req: &mut Request| {
                let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
                Response::text(format!("{name} {} {}", params.join(","), req.path()))
            }
        };
        Router::new()
            .get("/", echo("root"))
            .get("/users/{id}", echo("user"))
            .get("/users/me", echo("me"))
            .put("/users/{id}", echo("put"))
            .get("/files/{*rest}", echo("files"))
            .any("/any", echo("any"))
            .mount("/static", echo("static"))
            .mount("/static/deep", echo("deep"))
    }

    #[test]
    fn routes_table() {
        let app = app();
        let cases: &[(&str, Method, &str, u16, &str)] = &[
            ("root", Method::Get, "/", 200, "root  /"),
            (
                "param",
                Method::Get,
                "/users/42",
                200,
                "user id=42 /users/42",
            ),
            (
                "literal beats param",
                Method::Get,
                "/users/me",
                200,
                "me  /users/me",
            ),
            (
                "param decoded",
                Method::Get,
                "/users/a%2Fb",
                200,
                "user id=a/b /users/a%2Fb",
            ),
            (
                "empty param no match",
                Method::Get,
                "/users/",
                404,
                "404 Not Found\n",
            ),
            (
                "extra segment",
                Method::Get,
                "/users/1/x",
                404,
                "404 Not Found\n",
            ),
            (
                "wildcard",
                Method::Get,
                "/files/a/b.txt",
                200,
                "files rest=a/b.txt /files/a/b.txt",
            ),
            (
                "wildcard empty",
                Method::Get,
                "/files/",
                200,
                "files rest= /files/",
            ),
            (
                "head uses get",
                Method::Head,
                "/users/1",
                200,
                "user id=1 /users/1",
            ),
            (
                "any method",
                Method::Other("BREW".into()),
                "/any",
                200,
                "any  /any",
            ),
            (
                "mount strips",
                Method::Post,
                "/static/app.js",
                200,
                "static  /app.js",
            ),
            ("mount exact", Method::Get, "/static", 200, "static  "),
            (
                "longest mount",
                Method::Get,
                "/static/deep/x",
                200,
                "deep  /x",
            ),
            (
                "mount boundary",
                Method::Get,
                "/staticx",
                404,
                "404 Not Found\n",
            ),
            (
                "query ignored",
                Method::Get,
                "/users/5?x=1",
                200,
                "user id=5 /users/5",
            ),
            (
                "bad escape",
                Method::Get,
                "/users/%zz",
                400,
                "400 Bad Request\n",
            ),
        ];
        for &(name, ref method, target, status, body) in cases {
            let (s, b, _) = call(&app, method.clone(), target);
            assert_eq!((s, b.as_str()), (status, body), "{name}: {method} {target}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let (s, _, allow) = call(&app(), Method::Delete, "/users/1");
        assert_eq!(s, 405);
        assert_eq!(allow.as_deref(), Some("GET, HEAD, PUT, OPTIONS"));
    }

    #[test]
    fn unknown_method_is_501() {
        let (s, _, _) = call(&app(), Method::Other("BREW".into()), "/users/1");
        assert_eq!(s, 501);
    }

    #[test]
    fn options_lists_allow() {
        let (s, _, allow) = call(&app(), Method::Options, "/users/1");
        assert_eq!(s, 204);
        assert_eq!(allow.as_deref(), Some("GET, HEAD, PUT, OPTIONS"));
    }

    #[test]
    fn options_asterisk_lists_every_routed_method() {
        let app = app().route(Method::Other("BREW".into()), "/pot", |_: &mut Request| "");
        let (s, _, allow) = call(&app, Method::Options, "*");
        assert_eq!(s, 204);
        assert_eq!(allow.as_deref(), Some("GET, HEAD, PUT, OPTIONS, BREW"));
        let (s, _, allow) = call(&Router::new(), Method::Options, "*");
        assert_eq!((s, allow.as_deref()), (204, Some("OPTIONS")));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_route_panics() {
        let _ = Router::new()
            .get("/a", |_: &mut Request| "x")
            .get("/a", |_: &mut Request| "y");
    }

    /// Answers with the handler's name and the parameters it sees.
    fn named(name: &'static str) -> impl Fn(&mut Request) -> Response + Send + Sync + 'static {
        move |req| {
            let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
            Response::text(format!("{name} {}", params.join(",")))
        }
    }

    #[test]
    fn patterns_of_one_shape_merge_and_keep_their_names() {
        let client = TestClient::new(
            Router::new()
                .get("/users/{id}", named("get"))
                .delete("/users/{uid}", named("delete"))
                .any("/users/{who}", named("any"))
                .get("/files/{*rest}", named("files"))
                .put("/files/{*path}", named("put-files")),
        );
        assert_eq!(client.get("/users/7").send().text(), "get id=7");
        assert_eq!(client.head("/users/7").send().status(), StatusCode::OK);
        assert_eq!(client.delete("/users/7").send().text(), "delete uid=7");
        assert_eq!(client.post("/users/7").send().text(), "any who=7");
        assert_eq!(client.get("/files/a/b").send().text(), "files rest=a/b");
        assert_eq!(client.put("/files/a/b").send().text(), "put-files path=a/b");

        let client = TestClient::new(
            Router::new()
                .get("/users/{id}", named("get"))
                .delete("/users/{uid}", named("delete")),
        );
        let resp = client.put("/users/7").send();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
        let resp = client.options("/users/7").send();
        assert_eq!(resp.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    }

    #[test]
    #[should_panic(expected = "route GET \"/users/{uid}\" registered twice (as \"/users/{id}\")")]
    fn one_method_on_one_shape_twice_panics_whatever_the_names() {
        let _ = Router::new()
            .get("/users/{id}", named("a"))
            .get("/users/{uid}", named("b"));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn any_method_on_one_shape_twice_panics_whatever_the_names() {
        let _ = Router::new()
            .any("/f/{*a}", named("a"))
            .any("/f/{*b}", named("b"));
    }

    #[test]
    fn the_most_specific_route_wins_whatever_the_order() {
        let patterns = [
            "/a/b",
            "/a/{x}",
            "/{x}/b",
            "/{x}/{y}",
            "/a/{*r}",
            "/{*r}",
            "/{x}/{*r}",
            "/a/b/{*r}",
        ];
        let cases = [
            ("/a/b", "/a/b"),
            ("/a/c", "/a/{x}"),
            ("/c/b", "/{x}/b"),
            ("/c/d", "/{x}/{y}"),
            ("/a/b/c", "/a/b/{*r}"),
            ("/a/c/d", "/a/{*r}"),
            ("/c/d/e", "/{x}/{*r}"),
            ("/", "/{*r}"),
        ];
        // Every rotation and its reverse: the registration order must not
        // matter.
        for start in 0..patterns.len() {
            for reverse in [false, true] {
                let mut order: Vec<&str> = patterns[start..]
                    .iter()
                    .chain(&patterns[..start])
                    .copied()
                    .collect();
                if reverse {
                    order.reverse();
                }
                let app = order
                    .iter()
                    .copied()
                    .fold(Router::new(), |app, p| app.get(p, move |_: &mut Request| p));
                let client = TestClient::new(app);
                for (path, want) in cases {
                    assert_eq!(
                        client.get(path).send().text(),
                        want,
                        "{path} with {order:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn matching_routes_never_tie() {
        let patterns = [
            "/",
            "/a",
            "/{x}",
            "/a/b",
            "/a/{x}",
            "/{x}/b",
            "/{x}/{y}",
            "/{*r}",
            "/a/{*r}",
            "/{x}/{*r}",
            "/a/b/{*r}",
            "/a/",
            "/{x}/",
            "//",
        ]
        .map(Pattern::parse);
        let paths = [
            "/", "//", "/a", "/a/", "/a/b", "/a/c", "/c/b", "/c/d", "/a/b/c", "/c/d/e", "/a//",
        ];
        for path in paths {
            let mut ranks: Vec<&[u8]> = patterns
                .iter()
                .filter(|p| p.matches(path).is_some())
                .map(|p| p.rank.as_slice())
                .collect();
            ranks.sort();
            let before = ranks.len();
            ranks.dedup();
            assert_eq!(ranks.len(), before, "two matches of one rank for {path}");
        }
    }

    #[test]
    fn state_is_lent_by_the_innermost_router_that_has_one() {
        #[derive(Debug)]
        struct Name(&'static str);
        let show = |req: &mut Request| {
            format!(
                "{} {}",
                req.state::<Name>().map_or("-", |n| n.0),
                req.state::<u32>().copied().unwrap_or(0)
            )
        };
        let inner = Router::new().with_state(Name("inner")).get("/x", show);
        let plain = Router::new().get("/x", show);
        let app = Router::new()
            .with_state(Name("outer"))
            .with_state(7u32)
            .get("/x", show)
            .mount("/inner", inner)
            .mount("/plain", plain);
        let client = TestClient::new(app);
        assert_eq!(client.get("/x").send().text(), "outer 7");
        assert_eq!(client.get("/inner/x").send().text(), "inner 0");
        assert_eq!(client.get("/plain/x").send().text(), "outer 7");
        assert_eq!(TestClient::new(show).get("/").send().text(), "- 0");
    }

    #[test]
    #[should_panic(expected = "state of type u32 set twice")]
    fn the_same_state_type_twice_panics() {
        let _ = Router::new().with_state(1u32).with_state(2u32);
    }
}
