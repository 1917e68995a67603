//! The router over real sockets: 404, 405 with `Allow`, OPTIONS, HEAD
//! answered by GET routes, parameters, wildcards, mounts, fallbacks, and
//! what a handler sees of a request (query, headers, peer address).
//!
//! The router's own answers keep the connection open: each test goes on
//! with a next request on the same socket.

mod support;

use sockhttp::{Error, Handler, Request, Response, Router, StatusCode};
use std::io::Write;
use std::net::TcpStream;
use support::*;

fn params(req: &mut Request) -> Response {
    let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
    Response::text(format!("{} [{}]", req.path(), params.join(",")))
}

fn api() -> Router {
    Router::new()
        .get("/v1/{thing}", params)
        .get("/", |req: &mut Request| {
            Response::text(format!("api root {:?}", req.path()))
        })
}

fn app() -> Router {
    Router::new()
        .get("/", |_req: &mut Request| Response::text("home"))
        .get("/users/{id}", |req: &mut Request| {
            Response::text(format!("user {}", req.param("id").unwrap_or("?")))
        })
        .get("/users/me", |_req: &mut Request| Response::text("me"))
        .put("/users/{id}", |_req: &mut Request| Response::text("put"))
        .get("/files/{*rest}", params)
        .post("/items", |_req: &mut Request| Response::text("created"))
        .route(
            sockhttp::Method::Options,
            "/custom-options",
            |_req: &mut Request| Response::text("my options"),
        )
        .get("/custom-options", |_req: &mut Request| {
            Response::text("get")
        })
        .get("/search", |req: &mut Request| {
            Response::text(format!(
                "q={:?} raw={:?}",
                req.query_param("q"),
                req.query()
            ))
        })
        .get("/headers", |req: &mut Request| {
            let tags: Vec<&str> = req.headers().get_all("x-tag").collect();
            Response::text(format!(
                "{} {}",
                req.header("X-ONE").unwrap_or("-"),
                tags.join("|")
            ))
        })
        .get("/peer", |req: &mut Request| {
            Response::text(req.peer_addr().map(|a| a.to_string()).unwrap_or_default())
        })
        .get(
            "/not-found",
            |_req: &mut Request| -> sockhttp::Result<Response> { Err(Error::NotFound) },
        )
        .get(
            "/refused",
            |_req: &mut Request| -> sockhttp::Result<Response> {
                Err(Error::with_status(
                    StatusCode::UNPROCESSABLE_CONTENT,
                    "secret detail",
                ))
            },
        )
        .get(
            "/failed",
            |_req: &mut Request| -> sockhttp::Result<Response> {
                let e = std::io::Error::other("secret detail");
                Err(Error::handler(e))
            },
        )
        .mount("/api", api())
}

fn request(s: &mut TcpStream, method: &str, target: &str) -> Reply {
    s.write_all(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    read_reply(s, method == "HEAD")
}

#[test]
fn routes_answer_over_one_kept_alive_connection() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("GET", "/", "HTTP/1.1 200 OK", "home"),
        ("GET", "/users/42", "HTTP/1.1 200 OK", "user 42"),
        ("GET", "/users/me", "HTTP/1.1 200 OK", "me"),
        ("GET", "/users/a%20b", "HTTP/1.1 200 OK", "user a b"),
        ("GET", "/users/a%2Fb", "HTTP/1.1 200 OK", "user a/b"),
        ("GET", "/users/7?x=1", "HTTP/1.1 200 OK", "user 7"),
        ("PUT", "/users/7", "HTTP/1.1 200 OK", "put"),
        (
            "GET",
            "/files/a/b/c.txt",
            "HTTP/1.1 200 OK",
            "/files/a/b/c.txt [rest=a/b/c.txt]",
        ),
        ("GET", "/files/", "HTTP/1.1 200 OK", "/files/ [rest=]"),
        (
            "GET",
            "/api/v1/x%21",
            "HTTP/1.1 200 OK",
            "/v1/x%21 [thing=x!]",
        ),
        ("GET", "/api/", "HTTP/1.1 200 OK", "api root \"/\""),
        (
            "GET",
            "/missing",
            "HTTP/1.1 404 Not Found",
            "404 Not Found\n",
        ),
        (
            "GET",
            "/users/",
            "HTTP/1.1 404 Not Found",
            "404 Not Found\n",
        ),
        (
            "GET",
            "/users/1/extra",
            "HTTP/1.1 404 Not Found",
            "404 Not Found\n",
        ),
        ("GET", "/apix", "HTTP/1.1 404 Not Found", "404 Not Found\n"),
        (
            "GET",
            "/api/v2/x",
            "HTTP/1.1 404 Not Found",
            "404 Not Found\n",
        ),
        (
            "POST",
            "/",
            "HTTP/1.1 405 Method Not Allowed",
            "405 Method Not Allowed\n",
        ),
        (
            "BREW",
            "/",
            "HTTP/1.1 501 Not Implemented",
            "501 Not Implemented\n",
        ),
        (
            "GET",
            "/not-found",
            "HTTP/1.1 404 Not Found",
            "404 Not Found\n",
        ),
        (
            "GET",
            "/refused",
            "HTTP/1.1 422 Unprocessable Content",
            "422 Unprocessable Content\n",
        ),
        (
            "GET",
            "/failed",
            "HTTP/1.1 500 Internal Server Error",
            "500 Internal Server Error\n",
        ),
    ];
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    for &(method, target, status_line, body) in cases {
        let reply = request(&mut s, method, target);
        assert_eq!(reply.status_line(), status_line, "{method} {target}");
        assert_eq!(reply.text(), body, "{method} {target}");
        assert_eq!(
            reply.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{method} {target}"
        );
        assert_eq!(reply.header("connection"), None, "{method} {target}");
    }
}

#[test]
fn wrong_method_gets_405_with_allow() {
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    for (method, target, allow) in [
        ("DELETE", "/users/1", "GET, HEAD, PUT, OPTIONS"),
        ("POST", "/users/me", "GET, HEAD, OPTIONS"),
        ("GET", "/items", "POST, OPTIONS"),
    ] {
        let reply = request(&mut s, method, target);
        assert_eq!(
            reply.status_line(),
            "HTTP/1.1 405 Method Not Allowed",
            "{method} {target}"
        );
        assert_eq!(reply.header("allow"), Some(allow), "{method} {target}");
    }
    assert_eq!(request(&mut s, "GET", "/").text(), "home");
}

#[test]
fn options_is_answered_with_allow_and_no_content() {
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    let reply = request(&mut s, "OPTIONS", "/users/1");
    assert_eq!(reply.status_line(), "HTTP/1.1 204 No Content");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, PUT, OPTIONS"));
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.header("transfer-encoding"), None);
    // A route's own OPTIONS handler wins.
    let reply = request(&mut s, "OPTIONS", "/custom-options");
    assert_eq!(reply.text(), "my options");
    assert_eq!(request(&mut s, "GET", "/").text(), "home");
}

#[test]
fn head_is_answered_by_the_get_route_without_a_body() {
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    let reply = request(&mut s, "HEAD", "/users/7");
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(reply.header("content-length"), Some("6"));
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // The next reply starts right after the head: no body was sent.
    assert_eq!(request(&mut s, "GET", "/users/7").text(), "user 7");
    let reply = request(&mut s, "HEAD", "/missing");
    assert_eq!(reply.status_line(), "HTTP/1.1 404 Not Found");
    assert_eq!(reply.header("content-length"), Some("14"));
    assert_eq!(request(&mut s, "GET", "/").text(), "home");
}

#[test]
fn mount_sees_the_path_below_its_prefix() {
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    assert_eq!(request(&mut s, "GET", "/api").text(), "404 Not Found\n");
    assert_eq!(
        request(&mut s, "GET", "/api/v1/users").text(),
        "/v1/users [thing=users]"
    );
}

#[test]
fn fallback_answers_what_nothing_else_matches() {
    let app = Router::new()
        .get("/", |_req: &mut Request| "home")
        .fallback(|req: &mut Request| {
            Response::text(format!("fallback {}", req.path())).with_status(StatusCode::NOT_FOUND)
        });
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    let reply = request(&mut s, "GET", "/nowhere");
    assert_eq!(reply.status_line(), "HTTP/1.1 404 Not Found");
    assert_eq!(reply.text(), "fallback /nowhere");
}

#[test]
fn invalid_percent_escape_in_a_parameter_gets_400() {
    let srv = TestServer::start(app());
    let raw = srv.exchange(b"GET /users/%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_error_then_close("bad escape", &raw, "HTTP/1.1 400 Bad Request");
}

#[test]
fn handlers_see_query_headers_and_peer() {
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    let reply = request(&mut s, "GET", "/search?q=a+b%21&x=1");
    assert_eq!(reply.text(), "q=Some(\"a b!\") raw=Some(\"q=a+b%21&x=1\")");

    s.write_all(
        b"GET /headers HTTP/1.1\r\nHost: x\r\nx-one: 1\r\nX-Tag: a\r\nx-tag: b\r\nX-TAG: c\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "1 a|b|c");

    let reply = request(&mut s, "GET", "/peer");
    assert_eq!(reply.text(), s.local_addr().unwrap().to_string());
}

#[test]
fn options_asterisk_is_answered_for_the_whole_server() {
    let srv = TestServer::start(app());
    let mut s = srv.connect();
    let reply = request(&mut s, "OPTIONS", "*");
    assert_eq!(reply.status_line(), "HTTP/1.1 204 No Content");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, POST, PUT, OPTIONS"));
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(request(&mut s, "GET", "/").text(), "home");
}

/// Middleware: a handler that wraps a handler and stamps its responses.
struct Stamp<H>(H);

impl<H: Handler> Handler for Stamp<H> {
    fn call(&self, req: &mut Request) -> Response {
        let seen = format!("{} {}", req.method(), req.path());
        self.0.call(req).with_header("X-Stamp", seen)
    }
}

#[test]
fn middleware_wraps_every_answer_of_the_router() {
    let srv = TestServer::start(Stamp(app()));
    let mut s = srv.connect();
    for (method, target, status) in [
        ("GET", "/users/7", 200),
        ("GET", "/missing", 404),
        ("DELETE", "/users/7", 405),
        ("HEAD", "/users/7", 200),
        ("GET", "/failed", 500),
    ] {
        let reply = request(&mut s, method, target);
        assert_eq!(reply.status, status, "{method} {target}");
        let path = target.split('?').next().unwrap();
        assert_eq!(
            reply.header("x-stamp"),
            Some(format!("{method} {path}").as_str()),
            "{method} {target}"
        );
    }
}

/// Reports every accessor of the request, one per line.
fn inspect(req: &mut Request) -> sockhttp::Result<Response> {
    let body = req.body_bytes()?;
    let trailers: Vec<String> = req
        .trailers()
        .iter()
        .map(|(n, v)| format!("{n}={}", String::from_utf8_lossy(v)))
        .collect();
    let lines = [
        format!("method {}", req.method()),
        format!("target {}", req.target()),
        format!("version {}", req.version()),
        format!("path {}", req.path()),
        format!("decoded {}", req.decoded_path()?),
        format!("original {}", req.original_path()),
        format!("mount {}", req.mount_prefix()),
        format!("query {:?}", req.query()),
        format!("rest {:?}", req.param("rest")),
        format!("length {:?}", req.content_length()),
        format!("body {}", String::from_utf8_lossy(&body)),
        format!("trailers {}", trailers.join(",")),
    ];
    Ok(Response::text(lines.join("\n")))
}

#[test]
fn handlers_see_every_part_of_the_request() {
    let app = Router::new()
        .mount("/m", Router::new().any("/{*rest}", inspect))
        .mount("/raw", inspect);
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    s.write_all(b"GET /m/caf%C3%A9/a%2Fb?q=%20x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_reply(&mut s, false).text(),
        "method GET\n\
         target /m/caf%C3%A9/a%2Fb?q=%20x\n\
         version HTTP/1.0\n\
         path /caf%C3%A9/a%2Fb\n\
         decoded /café/a/b\n\
         original /m/caf%C3%A9/a%2Fb\n\
         mount /m\n\
         query Some(\"q=%20x\")\n\
         rest Some(\"café/a/b\")\n\
         length Some(0)\n\
         body \n\
         trailers "
    );
    s.write_all(
        b"PATCH /m/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        read_reply(&mut s, false).text(),
        "method PATCH\n\
         target /m/x\n\
         version HTTP/1.1\n\
         path /x\n\
         decoded /x\n\
         original /m/x\n\
         mount /m\n\
         query None\n\
         rest Some(\"x\")\n\
         length None\n\
         body abc\n\
         trailers X-Sum=3"
    );
    // A path that does not percent-decode is refused when decoded (a
    // mount passes the path on as sent).
    let raw = srv.exchange(b"GET /raw/%C3 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_error_then_close("not UTF-8", &raw, "HTTP/1.1 400 Bad Request");
}

/// Answers with the handler's name and the parameters it sees.
fn named(name: &'static str) -> impl Fn(&mut Request) -> Response + Send + Sync + 'static {
    move |req| {
        let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
        Response::text(format!("{name} {}", params.join(",")))
    }
}

#[test]
fn patterns_of_one_shape_are_one_route_whatever_their_names() {
    // The names differ in one position: one route, each handler with its
    // own names (before, GET /users/7 was a 405: the DELETE pattern was a
    // separate route that won the tie).
    let app = Router::new()
        .get("/users/{id}", named("get"))
        .delete("/users/{uid}", named("delete"))
        .put("/users/{user}/files/{*path}", named("put"))
        .get("/users/{id}/files/{*rest}", named("files"));
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    for (method, target, status, body) in [
        ("GET", "/users/7", 200, "get id=7"),
        ("DELETE", "/users/7", 200, "delete uid=7"),
        ("HEAD", "/users/7", 200, ""),
        ("GET", "/users/7/files/a/b", 200, "files id=7,rest=a/b"),
        ("PUT", "/users/7/files/a/b", 200, "put user=7,path=a/b"),
        ("POST", "/users/7", 405, "405 Method Not Allowed\n"),
    ] {
        let reply = request(&mut s, method, target);
        assert_eq!(reply.status, status, "{method} {target}");
        assert_eq!(reply.text(), body, "{method} {target}");
    }
    let reply = request(&mut s, "POST", "/users/7");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    let reply = request(&mut s, "OPTIONS", "/users/7/files/x");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, PUT, OPTIONS"));
}

#[test]
#[should_panic(expected = "route GET \"/users/{uid}\" registered twice (as \"/users/{id}\")")]
fn one_method_on_one_shape_under_other_names_is_refused() {
    let _ = Router::new()
        .get("/users/{id}", named("a"))
        .get("/users/{uid}", named("b"));
}

#[test]
fn the_most_specific_route_answers_whatever_the_order() {
    let patterns = [
        "/files",
        "/files/{*rest}",
        "/{dir}/{*rest}",
        "/files/{name}",
        "/files/index",
    ];
    let cases = [
        ("/files", "/files"),
        ("/files/", "/files/{*rest}"), // a parameter is never empty
        ("/files/a", "/files/{name}"),
        ("/files/index", "/files/index"),
        ("/files/a/b", "/files/{*rest}"),
        ("/docs/a", "/{dir}/{*rest}"),
    ];
    for reverse in [false, true] {
        let mut order = patterns.to_vec();
        if reverse {
            order.reverse();
        }
        let app = order
            .iter()
            .copied()
            .fold(Router::new(), |app, p| app.get(p, move |_| p));
        let srv = TestServer::start(app);
        let mut s = srv.connect();
        for (target, want) in cases {
            let reply = request(&mut s, "GET", target);
            assert_eq!(reply.text(), want, "{target} with {order:?}");
        }
    }
}

#[test]
fn handlers_use_question_mark_on_any_error() {
    use sockhttp::{HandlerError, HandlerResult};
    let app =
        Router::new()
            .get("/parse", |req| -> HandlerResult {
                let n: u32 = req.query_param("n").unwrap_or_default().parse()?;
                Ok(Response::text(format!("{}", n + 1)))
            })
            .post("/json", |req| -> HandlerResult {
                let v: serde_json::Value = serde_json::from_slice(&req.body_bytes()?)?;
                Ok(Response::json(v.to_string()))
            })
            .post("/small", |req| -> HandlerResult {
                req.set_max_buffered_body_bytes(4);
                let body = req.body_bytes()?; // the library's 413, with its close
                Ok(Response::text(format!("{} bytes", body.len())))
            })
            .get("/items/{id}", |req| -> HandlerResult {
                match req.param("id") {
                    Some("1") => Ok(Response::text("one")),
                    _ => Err(HandlerError::new(StatusCode::NOT_FOUND)
                        .json(r#"{"error":"no such item"}"#)),
                }
            });
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    assert_eq!(request(&mut s, "GET", "/parse?n=41").text(), "42");
    let reply = request(&mut s, "GET", "/parse?n=secret");
    assert_eq!(reply.status_line(), "HTTP/1.1 500 Internal Server Error");
    assert_eq!(reply.text(), "500 Internal Server Error\n");
    assert_eq!(reply.header("connection"), None);
    let reply = request(&mut s, "GET", "/items/2");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text(), r#"{"error":"no such item"}"#);
    assert_eq!(request(&mut s, "GET", "/items/1").text(), "one");

    s.write_all(b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n[1,2]")
        .unwrap();
    assert_eq!(read_reply(&mut s, false).text(), "[1,2]");
    s.write_all(b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n[1,2}")
        .unwrap();
    let reply = read_reply(&mut s, false);
    assert_eq!(
        (reply.status, reply.text()),
        (500, "500 Internal Server Error\n")
    );

    let raw = srv.exchange(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_error_then_close(
        "body over the handler's limit",
        &raw,
        "HTTP/1.1 413 Content Too Large",
    );
}
