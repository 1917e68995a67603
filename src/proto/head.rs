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
    let mut stack = [httparse::EMPTY_HEADER; 128];
    let mut heap;
    // One slot more than allowed, so that exceeding the limit is
    // distinguishable from meeting it.
    let slots = limits.max_headers.saturating_add(1);
    let headers: &mut [httparse::Header<'_>] = if slots <= stack.len() {
        &mut stack[..slots]
    } else {
        heap = vec![httparse::EMPTY_HEADER; slots];
        &mut heap
    };
    let mut req = httparse::Request::new(headers);
    let status = req.parse(buf);
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
    // list of its own): where each name and value lies in `buf`.
    let mut stack_spans = [(0usize, 0usize, 0usize, 0usize); 128];
    let mut heap_spans;
    let count = req.headers.len();
    let spans: &mut [(usize, usize, usize, usize)] = if count <= stack_spans.len() {
        &mut stack_spans[..count]
    } else {
        heap_spans = vec![(0, 0, 0, 0); count];
        &mut heap_spans
    };
    for (span, h) in spans.iter_mut().zip(req.headers.iter()) {
        let name = h.name.as_ptr() as usize - base;
        let value = h.value.as_ptr() as usize - base;
        *span = (name, h.name.len(), value, h.value.len());
    }
    let head_bytes = buf.split_to(n).freeze();
    let mut headers = Headers::with_capacity(spans.len());
    for &mut (ns, nl, vs, vl) in spans {
        headers.push_raw(head_bytes.slice(ns..ns + nl), head_bytes.slice(vs..vs + vl));
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
    if target.contains('#') {
        return Err(Error::Malformed("fragment in request target"));
    }
    let split = |start: usize| -> (Span, Option<Span>) {
        match target[start..].find('?') {
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
    c.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&c)
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
