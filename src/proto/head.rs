//! Request head parsing: bytes → [`RequestHead`], through httparse.
//!
//! httparse checks the grammar (RFC 9112 §3, §5); this module adds what it
//! leaves to its caller: the limits (414, 431), the version check (505),
//! the request-target forms, `Host` rules, and the framing rules that close
//! request smuggling (RFC 9112 §6). It performs no I/O: it takes bytes and
//! returns a value or "need more".

use super::BodyKind;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::types::{Headers, Method, Version};
use bytes::{Bytes, BytesMut};
use std::mem::MaybeUninit;

/// RequestHead is a parsed request line and header section.
///
/// Everything the server needs to frame and route the request has been
/// validated when a value of this type exists: the version is 1.0 or 1.1,
/// the target has a valid form, `Host` obeys RFC 9112 §3.2, and the body
/// framing is unambiguous.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request target exactly as sent (origin-form `/a?b`,
    /// absolute-form `http://h/a?b`, authority-form for CONNECT, or `*`).
    pub target: String,
    /// Byte range of the path within `target` (`/` stands for an empty
    /// absolute-form path; `*` and authority-form targets have the whole
    /// target as their path).
    pub path: std::ops::Range<usize>,
    /// Byte range of the query within `target`, without the `?`.
    pub query: Option<std::ops::Range<usize>>,
    /// The protocol version.
    pub version: Version,
    /// The header fields, in order, names as received.
    pub headers: Headers,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the client is willing to keep the connection open after
    /// this exchange (1.1 unless `Connection: close`; 1.0 only with
    /// `Connection: keep-alive`).
    pub keep_alive: bool,
    /// Whether the client sent `Expect: 100-continue` (HTTP/1.1 only) and
    /// waits for a `100 Continue` before sending the body.
    pub expect_continue: bool,
}

impl RequestHead {
    /// Returns the path part of the target, as sent (not percent-decoded).
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.target[self.path.clone()]
        }
    }

    /// Returns the query part of the target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.clone().map(|r| &self.target[r])
    }
}

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a head and the limits
/// still allow more bytes; then nothing is consumed. On success the head's
/// bytes are split off `buf` (the header values share that allocation), so
/// `buf` starts at the body or the next request.
///
/// # Errors
/// [`Error::UriTooLong`] (414) for a request line over the limit,
/// [`Error::HeadTooLarge`] (431) for a head or header count over the limit,
/// [`Error::UnsupportedVersion`] (505), [`Error::Malformed`] and
/// [`Error::BadFraming`] (400), [`Error::UnsupportedTransferCoding`] (501),
/// [`Error::ExpectationFailed`] (417), [`Error::BodyTooLarge`] (413) for a
/// declared length over the limit.
pub fn parse_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>> {
    // Left uninitialized (httparse writes the slots it fills): a parse
    // does not clear 4 KiB of stack first.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
    let mut heap;
    // One slot more than allowed, so that exceeding the limit is
    // distinguishable from meeting it.
    let slots = limits.max_headers.saturating_add(1);
    let headers: &mut [MaybeUninit<httparse::Header<'_>>] = if slots <= stack.len() {
        &mut stack[..slots]
    } else {
        heap = Vec::with_capacity(slots);
        heap.resize_with(slots, MaybeUninit::uninit);
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let status = req.parse_with_uninit_headers(buf, headers);
    let n = match status {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
        Err(_) => return first_error(buf, limits),
    };
    // A head over a limit is refused even when it is complete; the extra
    // slot above lets httparse accept one field too many, so the count is
    // checked here.
    if let Some(e) = limit_error(buf, n, limits) {
        return Err(e);
    }
    if req.headers.len() > limits.max_headers {
        return Err(Error::HeadTooLarge);
    }
    let method = Method::from_token(req.method.expect("httparse: complete request has a method"));
    let target = req
        .path
        .expect("httparse: complete request has a path")
        .to_owned();
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(Error::UnsupportedVersion),
    };
    // Remember where each name and value lies, then hand the bytes over.
    let base = buf.as_ptr() as usize;
    // On the stack for the usual number of fields (the parse allocates no
    // list of its own): where each name and value lies in `buf`, as u32
    // so that clearing the table costs little.
    if n > u32::MAX as usize {
        return Err(Error::HeadTooLarge);
    }
    let mut stack_spans = [[0u32; 4]; 32];
    let mut heap_spans;
    let count = req.headers.len();
    let spans: &mut [[u32; 4]] = if count <= stack_spans.len() {
        &mut stack_spans[..count]
    } else {
        heap_spans = vec![[0; 4]; count];
        &mut heap_spans
    };
    // Every offset and length is within the head's `n` bytes.
    let at = |p: *const u8| (p as usize - base) as u32;
    let len = |s: &[u8]| s.len() as u32;
    for (span, h) in spans.iter_mut().zip(req.headers.iter()) {
        *span = [
            at(h.name.as_ptr()),
            len(h.name.as_bytes()),
            at(h.value.as_ptr()),
            len(h.value),
        ];
    }
    let head_bytes = buf.split_to(n).freeze();
    let mut headers = Headers::with_capacity(spans.len());
    let range = |start: u32, len: u32| start as usize..start as usize + len as usize;
    for &mut [ns, nl, vs, vl] in spans {
        headers.push_raw(
            head_bytes.slice(range(ns, nl)),
            head_bytes.slice(range(vs, vl)),
        );
    }
    build_head(method, target, version, headers, limits).map(Some)
}

/// Validates a complete head and derives framing and connection facts.
fn build_head(
    method: Method,
    target: String,
    version: Version,
    headers: Headers,
    limits: &Limits,
) -> Result<RequestHead> {
    let (path, query, has_authority) = parse_target(&method, &target)?;
    check_host(&headers, version, has_authority)?;
    let body = parse_framing(&headers, version, limits)?;
    let keep_alive = match version {
        Version::Http11 => !headers.has_token("connection", "close"),
        Version::Http10 => {
            headers.has_token("connection", "keep-alive")
                && !headers.has_token("connection", "close")
        }
    };
    let expect_continue = match headers.get_bytes("expect") {
        None => false,
        // RFC 9110 §10.1.1: "A server that receives a 100-continue
        // expectation in an HTTP/1.0 request MUST ignore that expectation."
        Some(_) if version == Version::Http10 => false,
        Some(v) if v.trim_ascii().eq_ignore_ascii_case(b"100-continue") => true,
        Some(_) => return Err(Error::ExpectationFailed),
    };
    Ok(RequestHead {
        method,
        target,
        path,
        query,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
    })
}

type Span = std::ops::Range<usize>;

/// Splits the request-target into path and query, by its form
/// (RFC 9112 §3.2); reports whether the target carried an authority.
fn parse_target(method: &Method, target: &str) -> Result<(Span, Option<Span>, bool)> {
    // Byte loops rather than `memchr`: a target is short, and the library
    // call's set-up cost more than the search on every request.
    if target.bytes().any(|c| c == b'#') {
        return Err(Error::Malformed("fragment in request target"));
    }
    let split = |start: usize| -> (Span, Option<Span>) {
        match target.as_bytes()[start..].iter().position(|&c| c == b'?') {
            Some(q) => (start..start + q, Some(start + q + 1..target.len())),
            None => (start..target.len(), None),
        }
    };
    if target.starts_with('/') {
        let (p, q) = split(0);
        return Ok((p, q, false));
    }
    if target == "*" {
        // asterisk-form is only for a server-wide OPTIONS (RFC 9112 §3.2.4).
        return if *method == Method::Options {
            Ok((0..1, None, false))
        } else {
            Err(Error::Malformed("asterisk-form target without OPTIONS"))
        };
    }
    if *method == Method::Connect {
        // authority-form: host:port, nothing else (RFC 9112 §3.2.3).
        return if target.contains('/') || !target.contains(':') {
            Err(Error::Malformed("invalid authority-form target"))
        } else {
            Ok((0..target.len(), None, true))
        };
    }
    // absolute-form: "A server MUST accept the absolute-form in requests"
    // (RFC 9112 §3.2.2).
    let lower = target
        .get(..8)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let after_scheme = if lower.starts_with("http://") {
        7
    } else if lower.starts_with("https://") {
        8
    } else {
        return Err(Error::Malformed("invalid request target"));
    };
    let authority_end = target[after_scheme..]
        .find(['/', '?'])
        .map_or(target.len(), |i| after_scheme + i);
    if authority_end == after_scheme {
        return Err(Error::Malformed("absolute-form target without authority"));
    }
    if target[authority_end..].starts_with('?') {
        // http://host?q has an empty path, which means "/".
        return Ok((
            authority_end..authority_end,
            Some(authority_end + 1..target.len()),
            true,
        ));
    }
    let (p, q) = split(authority_end);
    Ok((p, q, true))
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
/// code to any HTTP/1.1 request message that lacks a Host header field and
/// to any request message that contains more than one Host header field
/// line or a Host header field with an invalid field value."
fn check_host(headers: &Headers, version: Version, has_authority: bool) -> Result<()> {
    let mut hosts = headers.get_all_bytes("host");
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(Error::Malformed("more than one Host"));
    }
    match first {
        None if version == Version::Http11 && !has_authority => {
            Err(Error::Malformed("HTTP/1.1 request without Host"))
        }
        None => Ok(()),
        Some(v) if v.iter().all(|&c| is_host_char(c)) => Ok(()),
        Some(_) => Err(Error::Malformed("invalid Host")),
    }
}

/// Characters of `uri-host [ ":" port ]`: reg-name, IP-literal and port.
fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
        )
}

/// Decides how the body is framed (RFC 9112 §6), refusing every ambiguity
/// a proxy in front could resolve differently (request smuggling).
fn parse_framing(headers: &Headers, version: Version, limits: &Limits) -> Result<BodyKind> {
    let has_te = headers.contains("transfer-encoding");
    let has_cl = headers.contains("content-length");
    if has_te {
        // RFC 9112 §6.1: a Transfer-Encoding in HTTP/1.0 "MUST [be treated]
        // as if the framing is faulty".
        if version == Version::Http10 {
            return Err(Error::BadFraming("Transfer-Encoding in HTTP/1.0"));
        }
        // RFC 9112 §6.1: a request with both "ought to be handled as an
        // error"; §6.3 calls it a smuggling attempt. We refuse it.
        if has_cl {
            return Err(Error::BadFraming(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        return parse_transfer_coding(headers);
    }
    if has_cl {
        let len = parse_content_length(headers)?;
        if len > limits.max_body_bytes {
            return Err(Error::BodyTooLarge);
        }
        return Ok(if len == 0 {
            BodyKind::Empty
        } else {
            BodyKind::Length(len)
        });
    }
    // RFC 9112 §6.3 rule 7: no Content-Length nor Transfer-Encoding means
    // a request body of length zero.
    Ok(BodyKind::Empty)
}

fn parse_transfer_coding(headers: &Headers) -> Result<BodyKind> {
    let mut codings: Vec<&[u8]> = Vec::new();
    for v in headers.get_all_bytes("transfer-encoding") {
        for item in v.split(|&b| b == b',') {
            let item = item.trim_ascii();
            // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
            if !item.is_empty() {
                codings.push(item);
            }
        }
    }
    match codings.split_last() {
        Some((last, rest)) if last.eq_ignore_ascii_case(b"chunked") => {
            if rest.iter().any(|c| c.eq_ignore_ascii_case(b"chunked")) {
                // RFC 9112 §6.1: "A sender MUST NOT apply the chunked
                // transfer coding more than once".
                Err(Error::BadFraming("chunked applied more than once"))
            } else if rest.is_empty() {
                Ok(BodyKind::Chunked)
            } else {
                // RFC 9112 §6.1: "A server that receives a request message
                // with a transfer coding it does not understand SHOULD
                // respond with 501 (Not Implemented)."
                Err(Error::UnsupportedTransferCoding)
            }
        }
        // RFC 9112 §6.3: if chunked "is not the final encoding, the message
        // body length cannot be determined reliably; the server MUST
        // respond with the 400 (Bad Request) status code and then close
        // the connection."
        _ => Err(Error::BadFraming("final transfer coding is not chunked")),
    }
}

/// `Content-Length = 1*DIGIT`; repeated fields or list members must agree
/// (RFC 9110 §8.6 lets a recipient accept `42, 42`).
fn parse_content_length(headers: &Headers) -> Result<u64> {
    let mut found: Option<u64> = None;
    for v in headers.get_all_bytes("content-length") {
        for item in v.split(|&b| b == b',') {
            let n = parse_decimal(item.trim_ascii())
                .ok_or(Error::BadFraming("invalid Content-Length"))?;
            match found {
                Some(prev) if prev != n => {
                    return Err(Error::BadFraming("differing Content-Length values"));
                }
                _ => found = Some(n),
            }
        }
    }
    found.ok_or(Error::BadFraming("empty Content-Length"))
}

/// Parses `1*DIGIT` into a u64 with overflow checking: no sign, no spaces,
/// no hex.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Called when the head is incomplete: errors if the limits rule out
/// ever completing it.
fn check_partial(buf: &[u8], limits: &Limits) -> Result<()> {
    limit_error(buf, buf.len(), limits).map_or(Ok(()), Err)
}

/// Returns the limit that a reader receiving `buf` one byte at a time
/// would have seen broken by the time it held `len` bytes: 414 once the
/// request line has run past its limit without ending, 431 once the head
/// has passed its limit, whichever happened first. Judged this way, and
/// not on however many bytes one read happened to bring, the answer does
/// not depend on how the network split the bytes.
pub(crate) fn limit_error(buf: &[u8], len: usize, limits: &Limits) -> Option<Error> {
    let line_limit = limits.max_request_line_bytes;
    if len <= line_limit.min(limits.max_head_bytes) {
        // Within both limits whatever the line's length: the usual head
        // is not searched.
        return None;
    }
    let line_too_long = !buf[..line_limit.min(buf.len())].contains(&b'\n');
    let at_414 = if line_too_long {
        line_limit.saturating_add(1)
    } else {
        usize::MAX
    };
    let at_431 = limits.max_head_bytes.saturating_add(1);
    if at_414 <= at_431 {
        (at_414 <= len).then_some(Error::UriTooLong)
    } else {
        (at_431 <= len).then_some(Error::HeadTooLarge)
    }
}

/// Classifies a head in which httparse found an error. A connection
/// parses again only when a line end arrives, so the error is decided at
/// the first line end at which the bytes so far stop parsing: a limit
/// broken before that point answers instead, and an error after the last
/// line end is not known yet ("need more", as it would be had the bytes
/// arrived one at a time). Once a prefix fails every longer one does, so
/// a binary search finds that line end.
fn first_error(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>> {
    let ends: Vec<usize> = (0..buf.len())
        .filter(|&i| buf[i] == b'\n')
        .map(|i| i + 1)
        .collect();
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers.saturating_add(1)];
    let mut parse = |end: usize| httparse::Request::new(&mut slots).parse(&buf[..end]).err();
    let first = ends.partition_point(|&end| parse(end).is_none());
    let Some(&end) = ends.get(first) else {
        check_partial(buf, limits)?;
        return Ok(None);
    };
    // A request line over the limit is 414 even when its grammar is also
    // broken: the size is the first thing the RFC asks about.
    check_partial(&buf[..end], limits)?;
    Err(match parse(end) {
        Some(httparse::Error::TooManyHeaders) => Error::HeadTooLarge,
        Some(httparse::Error::Version) => classify_version_error(&buf[..end], limits),
        Some(e) => Error::Malformed(httparse_detail(e)),
        None => Error::Malformed("invalid request head"),
    })
}

/// Length of the request line, through its LF, if it is complete.
fn line_end(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
}

/// httparse reports any bad version as `Version`; a well-formed
/// `HTTP/x.y` that is not 1.0 or 1.1 deserves 505, anything else 400.
fn classify_version_error(buf: &[u8], limits: &Limits) -> Error {
    if let Err(e) = check_partial(buf, limits) {
        return e;
    }
    let line = &buf[..line_end(buf).unwrap_or(buf.len())];
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Only a well-formed `method SP target SP version` line names a
    // version at all: in `GE T / HTTP/1.1` the version field is `/`, and
    // the answer is 400, not 505.
    let mut fields = line.split(|&b| b == b' ');
    let version = match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(method), Some(target), Some(version), None)
            if !method.is_empty() && !target.is_empty() =>
        {
            version
        }
        _ => return Error::Malformed("invalid request line"),
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Error::UnsupportedVersion
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            Error::UnsupportedVersion
        }
        _ => Error::Malformed("invalid HTTP version"),
    }
}

fn httparse_detail(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid version",
    }
}

/// Returns the trailer fields parsed from a complete trailer section
/// (everything after the last chunk, through the blank line), validated by
/// httparse.
pub(crate) fn parse_trailers(bytes: Bytes, limits: &Limits) -> Result<Headers> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers.saturating_add(1)];
    match httparse::parse_headers(&bytes, &mut slots) {
        // One slot more than allowed: meeting the limit is fine, passing it is not.
        Ok(httparse::Status::Complete((_, fields))) if fields.len() > limits.max_headers => {
            Err(Error::HeadTooLarge)
        }
        Ok(httparse::Status::Complete((_, fields))) => {
            let base = bytes.as_ptr() as usize;
            let mut headers = Headers::with_capacity(fields.len());
            for h in fields {
                let ns = h.name.as_ptr() as usize - base;
                let vs = h.value.as_ptr() as usize - base;
                headers.push_raw(
                    bytes.slice(ns..ns + h.name.len()),
                    bytes.slice(vs..vs + h.value.len()),
                );
            }
            Ok(headers)
        }
        Ok(httparse::Status::Partial) => Err(Error::BadFraming("incomplete trailer section")),
        Err(httparse::Error::TooManyHeaders) => Err(Error::HeadTooLarge),
        Err(_) => Err(Error::BadFraming("invalid trailer field")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts a parsed head gives the server.
    #[derive(Debug, PartialEq)]
    struct Facts {
        method: String,
        path: String,
        query: Option<String>,
        version: Version,
        body: BodyKind,
        keep_alive: bool,
        expect_continue: bool,
    }

    /// What a test expects of one head: its facts, or an error status.
    #[derive(Debug, PartialEq)]
    enum Want {
        Head(Facts),
        Status(u16),
    }

    /// An HTTP/1.1 request for `path`: persistent, no body, no expectation.
    fn facts(method: &str, path: &str, query: Option<&str>) -> Facts {
        Facts {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            version: Version::Http11,
            body: BodyKind::Empty,
            keep_alive: true,
            expect_continue: false,
        }
    }

    fn get(path: &str, query: Option<&str>) -> Want {
        Want::Head(facts("GET", path, query))
    }

    /// A POST of `/` over HTTP/1.1 framed as `body`.
    fn post(body: BodyKind) -> Want {
        Want::Head(Facts {
            body,
            ..facts("POST", "/", None)
        })
    }

    fn parse(input: &[u8], limits: &Limits) -> Result<Option<RequestHead>> {
        parse_head(&mut BytesMut::from(input), limits)
    }

    fn outcome(input: &[u8], limits: &Limits) -> Want {
        match parse(input, limits) {
            Ok(Some(h)) => Want::Head(Facts {
                method: h.method.as_str().to_owned(),
                path: h.path().to_owned(),
                query: h.query().map(str::to_owned),
                version: h.version,
                body: h.body,
                keep_alive: h.keep_alive,
                expect_continue: h.expect_continue,
            }),
            Ok(None) => panic!("{:?}: incomplete", String::from_utf8_lossy(input)),
            Err(e) => Want::Status(e.status().map_or(0, |s| s.as_u16())),
        }
    }

    const H: &str = "Host: x\r\n";

    #[test]
    fn heads_table() {
        let with = |extra: &str| format!("POST / HTTP/1.1\r\n{H}{extra}\r\n\r\n");
        let cases: Vec<(&str, String, Want)> = vec![
            (
                "origin form",
                format!("GET / HTTP/1.1\r\n{H}\r\n"),
                get("/", None),
            ),
            (
                "path and query",
                format!("GET /a/b?x=1&y HTTP/1.1\r\n{H}\r\n"),
                get("/a/b", Some("x=1&y")),
            ),
            (
                "empty query",
                format!("GET /a? HTTP/1.1\r\n{H}\r\n"),
                get("/a", Some("")),
            ),
            (
                "path kept encoded",
                format!("GET /caf%C3%A9 HTTP/1.1\r\n{H}\r\n"),
                get("/caf%C3%A9", None),
            ),
            (
                "absolute form needs no Host",
                "GET http://h:80/p?q HTTP/1.1\r\n\r\n".into(),
                get("/p", Some("q")),
            ),
            (
                "absolute form without a path",
                "GET http://h HTTP/1.1\r\n\r\n".into(),
                get("/", None),
            ),
            (
                "absolute form with a query but no path",
                "GET http://h?q=1 HTTP/1.1\r\n\r\n".into(),
                get("/", Some("q=1")),
            ),
            (
                "scheme is case-insensitive",
                "GET HTTPS://h/x HTTP/1.1\r\n\r\n".into(),
                get("/x", None),
            ),
            (
                "other scheme",
                format!("GET ftp://h/x HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
            (
                "absolute form without authority",
                format!("GET http:///x HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
            (
                "relative target",
                format!("GET a/b HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
            (
                "fragment",
                format!("GET /a#b HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
            (
                "asterisk form",
                format!("OPTIONS * HTTP/1.1\r\n{H}\r\n"),
                Want::Head(facts("OPTIONS", "*", None)),
            ),
            (
                "asterisk form without OPTIONS",
                format!("GET * HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
            (
                "authority form",
                "CONNECT h:443 HTTP/1.1\r\n\r\n".into(),
                Want::Head(facts("CONNECT", "h:443", None)),
            ),
            (
                "authority form without a port",
                "CONNECT h HTTP/1.1\r\n\r\n".into(),
                Want::Status(400),
            ),
            (
                "extension method kept",
                format!("BREW /pot HTTP/1.1\r\n{H}\r\n"),
                Want::Head(facts("BREW", "/pot", None)),
            ),
            (
                "invalid method token",
                format!("GE(T / HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
            // Versions.
            (
                "HTTP/1.0 without Host",
                "GET / HTTP/1.0\r\n\r\n".into(),
                Want::Head(Facts {
                    version: Version::Http10,
                    keep_alive: false,
                    ..facts("GET", "/", None)
                }),
            ),
            (
                "HTTP/1.0 keep-alive",
                "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n".into(),
                Want::Head(Facts {
                    version: Version::Http10,
                    ..facts("GET", "/", None)
                }),
            ),
            (
                "HTTP/1.0 keep-alive and close",
                "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n".into(),
                Want::Head(Facts {
                    version: Version::Http10,
                    keep_alive: false,
                    ..facts("GET", "/", None)
                }),
            ),
            (
                "HTTP/1.1 close",
                format!("GET / HTTP/1.1\r\n{H}Connection: Close\r\n\r\n"),
                Want::Head(Facts {
                    keep_alive: false,
                    ..facts("GET", "/", None)
                }),
            ),
            (
                "HTTP/2.0",
                format!("GET / HTTP/2.0\r\n{H}\r\n"),
                Want::Status(505),
            ),
            (
                "HTTP/1.2",
                format!("GET / HTTP/1.2\r\n{H}\r\n"),
                Want::Status(505),
            ),
            (
                "HTTP/1.",
                format!("GET / HTTP/1.\r\n{H}\r\n"),
                Want::Status(400),
            ),
            ("no version", format!("GET /\r\n{H}\r\n"), Want::Status(400)),
            // Host.
            (
                "HTTP/1.1 without Host",
                "GET / HTTP/1.1\r\n\r\n".into(),
                Want::Status(400),
            ),
            (
                "two Host fields",
                "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n".into(),
                Want::Status(400),
            ),
            (
                "Host with userinfo",
                "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n".into(),
                Want::Status(400),
            ),
            (
                "empty Host",
                "GET / HTTP/1.1\r\nHost:\r\n\r\n".into(),
                get("/", None),
            ),
            (
                "IPv6 Host with a port",
                "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n".into(),
                get("/", None),
            ),
            // Content-Length.
            (
                "Content-Length",
                with("Content-Length: 5"),
                post(BodyKind::Length(5)),
            ),
            (
                "Content-Length zero",
                with("Content-Length: 0"),
                post(BodyKind::Empty),
            ),
            (
                "Content-Length with OWS",
                with("Content-Length: \t5\t"),
                post(BodyKind::Length(5)),
            ),
            (
                "equal Content-Length list",
                with("Content-Length: 5, 5"),
                post(BodyKind::Length(5)),
            ),
            (
                "equal Content-Length fields",
                with("Content-Length: 5\r\nContent-Length: 05"),
                post(BodyKind::Length(5)),
            ),
            (
                "differing Content-Length fields",
                with("Content-Length: 5\r\nContent-Length: 6"),
                Want::Status(400),
            ),
            (
                "differing Content-Length list",
                with("Content-Length: 5,6"),
                Want::Status(400),
            ),
            (
                "Content-Length +5",
                with("Content-Length: +5"),
                Want::Status(400),
            ),
            (
                "Content-Length -5",
                with("Content-Length: -5"),
                Want::Status(400),
            ),
            (
                "Content-Length 0x5",
                with("Content-Length: 0x5"),
                Want::Status(400),
            ),
            (
                "Content-Length 5 5",
                with("Content-Length: 5 5"),
                Want::Status(400),
            ),
            (
                "empty Content-Length",
                with("Content-Length:"),
                Want::Status(400),
            ),
            (
                "Content-Length over u64",
                with("Content-Length: 18446744073709551616"),
                Want::Status(400),
            ),
            (
                "Content-Length over the body limit",
                with("Content-Length: 1073741825"),
                Want::Status(413),
            ),
            // Transfer-Encoding.
            (
                "chunked",
                with("Transfer-Encoding: chunked"),
                post(BodyKind::Chunked),
            ),
            (
                "chunked, any case",
                with("Transfer-Encoding: CHUNKED"),
                post(BodyKind::Chunked),
            ),
            (
                "Content-Length and chunked",
                with("Content-Length: 5\r\nTransfer-Encoding: chunked"),
                Want::Status(400),
            ),
            (
                "chunked not last",
                with("Transfer-Encoding: chunked, gzip"),
                Want::Status(400),
            ),
            (
                "gzip alone",
                with("Transfer-Encoding: gzip"),
                Want::Status(400),
            ),
            (
                "gzip then chunked",
                with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"),
                Want::Status(501),
            ),
            (
                "chunked twice",
                with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
                Want::Status(400),
            ),
            (
                "chunked in HTTP/1.0",
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
                Want::Status(400),
            ),
            // Expect.
            (
                "100-continue",
                with("Expect: 100-Continue\r\nContent-Length: 1"),
                Want::Head(Facts {
                    body: BodyKind::Length(1),
                    expect_continue: true,
                    ..facts("POST", "/", None)
                }),
            ),
            (
                "100-continue ignored for HTTP/1.0",
                "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n".into(),
                Want::Head(Facts {
                    version: Version::Http10,
                    body: BodyKind::Length(1),
                    keep_alive: false,
                    ..facts("POST", "/", None)
                }),
            ),
            (
                "unknown expectation",
                with("Expect: something"),
                Want::Status(417),
            ),
            // Field syntax.
            (
                "whitespace before a colon",
                with("X-A : 1"),
                Want::Status(400),
            ),
            ("obs-fold", with("X-A: 1\r\n 2"), Want::Status(400)),
            ("bare CR in a value", with("X-A: 1\r2"), Want::Status(400)),
            ("NUL in a value", with("X-A: 1\x002"), Want::Status(400)),
            (
                "control byte in a value",
                with("X-A: \x1b"),
                Want::Status(400),
            ),
            ("DEL in a value", with("X-A: \x7f"), Want::Status(400)),
            (
                "bare CR in the request line",
                format!("GET /a\rb HTTP/1.1\r\n{H}\r\n"),
                Want::Status(400),
            ),
        ];
        for (name, input, want) in cases {
            let got = outcome(input.as_bytes(), &Limits::default());
            assert_eq!(got, want, "{name}: {input:?}");
            if let Want::Head(_) = want {
                // Every strict prefix of a valid head is "need more".
                for end in 0..input.len() {
                    let prefix = &input.as_bytes()[..end];
                    assert!(
                        matches!(parse(prefix, &Limits::default()), Ok(None)),
                        "{name}: prefix {:?}",
                        &input[..end]
                    );
                }
            }
        }
    }

    #[test]
    fn head_is_split_off_and_fields_keep_order_and_case() {
        let mut buf = BytesMut::from(
            &b"GET / HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nx-tag: b\r\n\r\nGET /next"[..],
        );
        let head = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(&buf[..], b"GET /next", "the rest stays in the buffer");
        let fields: Vec<(&str, &[u8])> = head.headers.iter().collect();
        assert_eq!(
            fields,
            [
                ("Host", &b"x"[..]),
                ("X-Tag", &b"a"[..]),
                ("x-tag", &b"b"[..])
            ]
        );
        assert_eq!(
            head.headers.get_all("X-TAG").collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn incomplete_head_consumes_nothing() {
        let input = &b"GET / HTTP/1.1\r\nHost: x\r\n"[..];
        let mut buf = BytesMut::from(input);
        assert!(parse_head(&mut buf, &Limits::default()).unwrap().is_none());
        assert_eq!(&buf[..], input);
    }

    #[test]
    fn limits_are_met_then_passed() {
        let limits = Limits {
            max_request_line_bytes: 32,
            max_head_bytes: 64,
            max_headers: 2,
            ..Limits::default()
        };
        let status = |input: &[u8]| outcome(input, &limits);
        // Request line: 32 bytes through its LF is fine, 33 is 414.
        let line = |len: usize| format!("GET /{} HTTP/1.1\r\n", "a".repeat(len - 16));
        assert_eq!(line(32).len(), 32);
        assert_eq!(
            status(format!("{}{H}\r\n", line(32)).as_bytes()),
            get("/aaaaaaaaaaaaaaaa", None)
        );
        assert_eq!(
            status(format!("{}{H}\r\n", line(33)).as_bytes()),
            Want::Status(414)
        );
        // An unfinished request line is refused once it cannot fit.
        assert!(matches!(
            parse(b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaa", &limits),
            Err(Error::UriTooLong)
        ));
        assert!(matches!(
            parse(b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa", &limits),
            Ok(None)
        ));
        // Whole head: 64 bytes is fine, 65 is 431.
        let head = |len: usize| {
            let mut h = format!("GET / HTTP/1.1\r\n{H}X: ");
            let fill = len - h.len() - 4;
            h.push_str(&"v".repeat(fill));
            h.push_str("\r\n\r\n");
            h
        };
        assert_eq!(head(64).len(), 64);
        assert_eq!(status(head(64).as_bytes()), get("/", None));
        assert_eq!(status(head(65).as_bytes()), Want::Status(431));
        // Field count: 2 is fine, 3 is 431.
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n\r\n"),
            get("/", None)
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n"),
            Want::Status(431)
        );
    }

    #[test]
    fn decimal_is_digits_only_and_checked() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"1_000",
            b"0x1",
            b"1e3",
        ] {
            assert_eq!(
                parse_decimal(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn trailers_are_parsed_and_bounded() {
        let limits = Limits {
            max_headers: 1,
            ..Limits::default()
        };
        let t = parse_trailers(Bytes::from_static(b"X-Sum: 1\r\n\r\n"), &limits).unwrap();
        assert_eq!(t.get("x-sum"), Some("1"));
        assert!(matches!(
            parse_trailers(Bytes::from_static(b"A: 1\r\nB: 2\r\n\r\n"), &limits),
            Err(Error::HeadTooLarge)
        ));
        assert!(matches!(
            parse_trailers(Bytes::from_static(b"A : 1\r\n\r\n"), &limits),
            Err(Error::BadFraming(_))
        ));
    }
}
