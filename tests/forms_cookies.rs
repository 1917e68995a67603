//! Urlencoded forms and cookies over real sockets: what a raw client and
//! `curl` send is what a handler reads (`Request::form`,
//! `Request::query_form`, `Request::cookie`), errors get their statuses
//! and keep or close the connection as they should, and `Set-Cookie`
//! fields reach a real cookie jar and come back.

mod support;

use sockhttp::{Cookie, Form, HttpDate, Limits, Request, Response, SameSite, StatusCode};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use support::*;

/// Lists a form's fields one per line as `name=value`, so a reply shows
/// exactly what the handler read, in order.
fn listing<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fields
        .into_iter()
        .map(|(n, v)| format!("{n}={v}\n"))
        .collect()
}

/// The application under test: forms, query forms and cookies.
fn app(req: &mut Request) -> sockhttp::Result<Response> {
    match req.path() {
        "/form" => Ok(Response::text(listing(&req.form()?))),
        "/query" => Ok(Response::text(listing(&req.query_form()?))),
        "/cookies" => Ok(Response::text(listing(req.cookies()))),
        "/login" => Ok(Response::text("welcome\n")
            .with_cookie(
                Cookie::new("sid", "31d4d96e407aad42")?
                    .path("/")
                    .http_only(true),
            )
            .with_cookie(
                Cookie::new("theme", "dark")?
                    .path("/")
                    .max_age(Duration::from_secs(3600)),
            )),
        "/whoami" => Ok(Response::text(format!(
            "sid={:?} theme={:?}\n",
            req.cookie("sid"),
            req.cookie("theme")
        ))),
        "/logout" => Ok(Response::text("bye\n").with_cookie(Cookie::expired("sid")?.path("/"))),
        "/many" => Ok(Response::new(StatusCode::NO_CONTENT)
            .with_cookie(
                Cookie::new("a", "1")?
                    .path("/")
                    .expires(HttpDate::from_unix_secs(784_111_777)),
            )
            .with_cookie(
                Cookie::new("b", "\"2\"")?
                    .same_site(SameSite::None)
                    .http_only(true),
            )),
        _ => Err(sockhttp::Error::NotFound),
    }
}

fn post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// Sends `raw` on `s` and reads one reply.
fn send(s: &mut TcpStream, raw: &[u8]) -> Reply {
    s.write_all(raw).unwrap();
    read_reply(s, false)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn a_posted_form_is_decoded_in_order() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    let body = b"name=Jos%C3%A9+Silva&tag=a&tag=b&&empty=&flag&sum=1%2B1&=anon";
    let reply = send(&mut s, &post("/form", FORM, body));
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(
        reply.text(),
        "name=José Silva\ntag=a\ntag=b\nempty=\nflag=\nsum=1+1\n=anon\n"
    );
    // Parameters on the media type, in any case: still a form.
    let reply = send(
        &mut s,
        &post(
            "/form",
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
            b"a=1",
        ),
    );
    assert_eq!((reply.status, reply.text()), (200, "a=1\n"));
    // An empty body is an empty form.
    let reply = send(&mut s, &post("/form", FORM, b""));
    assert_eq!((reply.status, reply.text()), (200, ""));
}

#[test]
fn curl_data_urlencode_reaches_the_handler_unchanged() {
    let srv = TestServer::start(app);
    let url = format!("http://{}/form", srv.addr());
    // `--data-urlencode` percent-encodes each value; `-d` sends the rest
    // as given, joined with `&`, and sets the form Content-Type.
    let Some(out) = curl(&[
        "--fail",
        "--data-urlencode",
        "text=olá & adeus+1=2; \"ok\"",
        "--data-urlencode",
        "tag=a",
        "-d",
        "tag=b",
        &url,
    ]) else {
        return;
    };
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "text=olá & adeus+1=2; \"ok\"\ntag=a\ntag=b\n"
    );
}

#[test]
fn a_form_with_another_content_type_gets_415_and_the_connection_lives() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    for content_type in [
        "application/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=ISO-8859-1",
        "text/plain",
    ] {
        let reply = send(&mut s, &post("/form", content_type, b"a=1"));
        assert_eq!(reply.status, 415, "{content_type}: {}", reply.head);
        assert_eq!(reply.text(), "415 Unsupported Media Type\n");
        assert_eq!(reply.header("connection"), None, "{content_type}");
    }
    // No Content-Type at all.
    let reply = send(
        &mut s,
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=1",
    );
    assert_eq!(reply.status, 415);
    // The unread bodies were drained: the next request is framed right.
    let reply = send(&mut s, &post("/form", FORM, b"b=2"));
    assert_eq!((reply.status, reply.text()), (200, "b=2\n"));
}

#[test]
fn the_content_type_is_checked_before_the_body_is_read() {
    // A client that waits for `100 Continue` is refused at once, never
    // invited to send a body the handler would not take.
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    s.write_all(
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"),
        "{head}"
    );
}

#[test]
fn a_bad_escape_gets_400_and_the_connection_lives() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    for body in [&b"a=%zz"[..], b"a=%FF", b"a=%C3", b"a=100%", b"a=\xff"] {
        let reply = send(&mut s, &post("/form", FORM, body));
        assert_eq!(
            reply.status,
            400,
            "{}: {}",
            String::from_utf8_lossy(body),
            reply.head
        );
        assert_eq!(reply.header("connection"), None);
    }
    let reply = send(&mut s, &post("/form", FORM, b"a=%C3%A9"));
    assert_eq!((reply.status, reply.text()), (200, "a=é\n"));
}

#[test]
fn a_form_over_the_body_limit_gets_413_and_close() {
    let mut limits = Limits::default();
    limits.max_buffered_body_bytes = 64;
    let srv = TestServer::with(server().limits(limits), app);
    // At the limit: read and parsed.
    let at_limit = format!("a={}", "x".repeat(62));
    let mut s = srv.connect();
    let reply = send(&mut s, &post("/form", FORM, at_limit.as_bytes()));
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.text(), format!("{at_limit}\n"));
    // One byte over: 413, and the connection closes.
    let over = format!("{at_limit}x");
    let raw = srv.exchange(&post("/form", FORM, over.as_bytes()));
    assert_error_then_close(
        "form over the limit",
        &raw,
        "HTTP/1.1 413 Content Too Large",
    );
}

#[test]
fn too_many_fields_get_413_and_a_query_with_too_many_gets_414() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    let max = sockhttp::limits::DEFAULT_MAX_FORM_FIELDS;
    let at_limit = "f=1&".repeat(max);
    let reply = send(&mut s, &post("/form", FORM, at_limit.as_bytes()));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text().lines().count(), max);
    let over = format!("{at_limit}f=1");
    let reply = send(&mut s, &post("/form", FORM, over.as_bytes()));
    assert_eq!(reply.status, 413, "{}", reply.head);
    // The body was read whole: the connection can go on.
    assert_eq!(reply.header("connection"), None);

    // 1001 parameters fit in the 8 KiB request line.
    let reply = send(&mut s, &get(&format!("/query?{}", "q&".repeat(max + 1))));
    assert_eq!(reply.status, 414, "{}", reply.head);
    let reply = send(&mut s, &get(&format!("/query?{}", "q&".repeat(max))));
    assert_eq!(reply.status, 200);
}

#[test]
fn a_query_string_is_a_form_too() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    let reply = send(&mut s, &get("/query?tag=a&tag=b&q=caf%C3%A9+au+lait&x"));
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.text(), "tag=a\ntag=b\nq=café au lait\nx=\n");
    let reply = send(&mut s, &get("/query"));
    assert_eq!((reply.status, reply.text()), (200, ""));
    let reply = send(&mut s, &get("/query?a=%zz"));
    assert_eq!(reply.status, 400);
}

#[test]
fn a_parsed_form_matches_the_table_of_the_parser() {
    // The same bytes through a socket and through `Form::parse`.
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    for body in ["", "a", "a=", "=b", "&&", "a=1&a=2", "+", "%C3%A9=%C3%A9"] {
        let reply = send(&mut s, &post("/form", FORM, body.as_bytes()));
        let want = listing(&Form::parse(body).unwrap());
        assert_eq!(
            (reply.status, reply.text()),
            (200, want.as_str()),
            "{body:?}"
        );
    }
}

#[test]
fn cookies_from_several_fields_are_read_and_bad_pairs_skipped() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    let reply = send(
        &mut s,
        b"GET /cookies HTTP/1.1\r\nHost: x\r\n\
          Cookie: a=1; b=\"two\";c=3\r\n\
          Accept: */*\r\n\
          Cookie: bad name=x; d=; e=x\"y;f=caf\xc3\xa9\r\n\r\n",
    );
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.text(), "a=1\nb=two\nc=3\nd=\nf=café\n");
    let reply = send(&mut s, &get("/cookies"));
    assert_eq!((reply.status, reply.text()), (200, ""));
}

#[test]
fn each_cookie_is_its_own_set_cookie_field() {
    let srv = TestServer::start(app);
    let mut s = srv.connect();
    let reply = send(&mut s, &get("/many"));
    assert_eq!(reply.status, 204, "{}", reply.head);
    assert_eq!(reply.count("set-cookie"), 2, "{}", reply.head);
    assert!(
        reply.head.contains(
            "\r\nSet-Cookie: a=1; Path=/; Expires=Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Set-Cookie: b=\"2\"; Secure; HttpOnly; SameSite=None\r\n"
        ),
        "{}",
        reply.head
    );
}

#[test]
fn curl_keeps_the_cookies_set_and_sends_them_back() {
    let srv = TestServer::start(app);
    let base = format!("http://{}", srv.addr());
    let jar = std::env::temp_dir().join(format!("sockhttp-cookie-jar-{}.txt", std::process::id()));
    let jar = jar.to_str().unwrap();
    let _ = std::fs::remove_file(jar);
    let run = |path: &str| curl(&["--fail", "-b", jar, "-c", jar, &format!("{base}{path}")]);

    let Some(before) = run("/whoami") else {
        return;
    };
    assert_eq!(String::from_utf8(before).unwrap(), "sid=None theme=None\n");
    assert_eq!(run("/login").unwrap(), b"welcome\n");
    assert_eq!(
        String::from_utf8(run("/whoami").unwrap()).unwrap(),
        "sid=Some(\"31d4d96e407aad42\") theme=Some(\"dark\")\n",
        "curl sent back both cookies"
    );
    let stored = std::fs::read_to_string(jar).unwrap();
    assert!(
        stored.contains("#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\t31d4d96e407aad42"),
        "the jar keeps sid as an HttpOnly session cookie: {stored}"
    );
    assert_eq!(run("/logout").unwrap(), b"bye\n");
    assert_eq!(
        String::from_utf8(run("/whoami").unwrap()).unwrap(),
        "sid=None theme=Some(\"dark\")\n",
        "the expired cookie is gone, the other kept"
    );
    std::fs::remove_file(jar).unwrap();
}
