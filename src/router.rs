//! The [`Router`]: method and path patterns to handlers.
//!
//! Matching works on the raw path, segment by segment, so an encoded
//! slash (`%2F`) inside a parameter never splits it; parameter values are
//! percent-decoded after matching. This module performs no I/O.

use crate::error::Error;
use crate::handler::Handler;
use crate::request::Request;
use crate::response::{Response, allow_value};
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
/// slashes). Precedence: at the first segment where two matching patterns
/// differ, a literal beats a parameter, which beats a wildcard. A handler
/// can also be [mounted](Router::mount) under a prefix, for everything
/// below it; routes are tried before mounts, and the longest mount
/// prefix wins.
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
/// # Examples
/// ```
/// use sockhttp::{Router, Request, Response, Method, Handler};
/// let app = Router::new()
///     .get("/", |_req: &mut Request| Response::text("home"))
///     .get("/users/{id}", |req: &mut Request| {
///         Response::text(format!("user {}", req.param("id").unwrap_or("?")))
///     });
/// let mut req = Request::builder(Method::Get, "/users/42").build()?;
/// let resp = app.call(&mut req);
/// assert_eq!(resp.status().as_u16(), 200);
/// let mut req = Request::builder(Method::Delete, "/users/42").build()?;
/// let resp = app.call(&mut req);
/// assert_eq!(resp.status().as_u16(), 405);
/// assert_eq!(resp.headers().get("allow"), Some("GET, HEAD, OPTIONS"));
/// # Ok::<(), sockhttp::Error>(())
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    mounts: Vec<Mount>,
    fallback: Option<Arc<dyn Handler>>,
}

struct Route {
    pattern: Pattern,
    /// `None` means any method.
    handlers: Vec<(Option<Method>, Arc<dyn Handler>)>,
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
    /// more specific): 2 per literal segment, 1 per parameter, 0 for a
    /// wildcard. It depends on the pattern alone, so a match computes
    /// nothing.
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
        let rank = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
                Segment::Wildcard(_) => 0,
            })
            .collect();
        Pattern {
            source: source.to_owned(),
            segments,
            rank,
        }
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

    /// Routes `method` requests for `pattern` to `handler`.
    ///
    /// # Panics
    /// If the pattern is malformed (see [`Router`]) or already has a
    /// handler for `method`: both are programming errors caught at startup.
    #[must_use]
    pub fn route(self, method: Method, pattern: &str, handler: impl Handler) -> Router {
        self.add(Some(method), pattern, Arc::new(handler))
    }

    /// Routes requests of any method for `pattern` to `handler`.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn any(self, pattern: &str, handler: impl Handler) -> Router {
        self.add(None, pattern, Arc::new(handler))
    }

    /// Routes `GET` (and so `HEAD`) requests for `pattern`.
    #[must_use]
    pub fn get(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Get, pattern, handler)
    }

    /// Routes `POST` requests for `pattern`.
    #[must_use]
    pub fn post(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Post, pattern, handler)
    }

    /// Routes `PUT` requests for `pattern`.
    #[must_use]
    pub fn put(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Put, pattern, handler)
    }

    /// Routes `PATCH` requests for `pattern`.
    #[must_use]
    pub fn patch(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Patch, pattern, handler)
    }

    /// Routes `DELETE` requests for `pattern`.
    #[must_use]
    pub fn delete(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Delete, pattern, handler)
    }

    /// Mounts `handler` for every path at or below `prefix` (e.g.
    /// `"/assets"`: `/assets`, `/assets/` and `/assets/app.js`), whatever
    /// the method. The handler sees [`Request::path`] without the prefix
    /// (`/app.js`; `""` for exactly `/assets`), and
    /// [`Request::mount_prefix`] holds what was removed.
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
    /// default).
    #[must_use]
    pub fn fallback(mut self, handler: impl Handler) -> Router {
        self.fallback = Some(Arc::new(handler));
        self
    }

    fn add(mut self, method: Option<Method>, pattern: &str, handler: Arc<dyn Handler>) -> Router {
        let parsed = Pattern::parse(pattern);
        let route = match self
            .routes
            .iter_mut()
            .find(|r| r.pattern.segments == parsed.segments)
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
            !route.handlers.iter().any(|(m, _)| *m == method),
            "route {} {pattern:?} registered twice",
            method.as_ref().map_or("(any method)", Method::as_str)
        );
        route.handlers.push((method, handler));
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
                .any(|(h, _)| h.as_ref() == Some(m))
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
        for (m, _) in routes.iter().flat_map(|r| &r.handlers) {
            if let Some(m @ Method::Other(_)) = m {
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
            let best = self
                .routes
                .iter()
                .filter_map(|r| r.pattern.matches(path).map(|caps| (r, caps)))
                .max_by(|a, b| a.0.pattern.rank.cmp(&b.0.pattern.rank));
            match best {
                Some((route, caps)) => {
                    // Decoded now, reported only if a handler is found (a
                    // 405 comes before a 400 for the parameters).
                    let params: Result<Vec<(String, String)>, Error> = caps
                        .into_iter()
                        .map(|(name, raw)| {
                            uri::percent_decode(raw)
                                .map(|v| (name.to_owned(), v.into_owned()))
                                .ok_or(Error::Malformed("invalid percent-encoding in path"))
                        })
                        .collect();
                    (Some((route, params)), None)
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
        if let Some((route, params)) = found {
            let method = req.method().clone();
            let find = |m: &Method| {
                route
                    .handlers
                    .iter()
                    .find(|(h, _)| h.as_ref() == Some(m))
                    .map(|(_, h)| h)
            };
            let any = route
                .handlers
                .iter()
                .find(|(h, _)| h.is_none())
                .map(|(_, h)| h);
            let handler = find(&method)
                .or_else(|| {
                    (method == Method::Head)
                        .then(|| find(&Method::Get))
                        .flatten()
                })
                .or(any);
            let Some(handler) = handler else {
                return match method {
                    Method::Options => Ok(Response::new(StatusCode::NO_CONTENT)
                        .with_header("Allow", allow_value(&Self::allowed(route)))),
                    m if m.is_standard() => Err(Error::MethodNotAllowed(Self::allowed(route))),
                    _ => Err(Error::NotImplemented),
                };
            };
            req.set_params(params?);
            return Ok(handler.call(req));
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
}

impl Handler for Router {
    fn call(&self, req: &mut Request) -> Response {
        match self.dispatch(req) {
            Ok(resp) => resp,
            Err(e) => Response::from_error(&e),
        }
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
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let resp = app.call(&mut req);
        let allow = resp.headers().get("allow").map(str::to_owned);
        let body = match resp.body() {
            crate::Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        (resp.status().as_u16(), body, allow)
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
}
