//! Response encoding: the status line and header section, and the framing
//! of the body (`Content-Length`, chunked, or close-delimited).
//!
//! [`decide_framing`] is the one place that applies RFC 9112 §6.3 to a
//! response; [`encode_head`] writes the head bytes; [`BodyEncoder`] frames
//! the body and refuses to write more (or finish with less) than a declared
//! length. This module performs no I/O and reads no clock: the `Date`
//! value is passed in.

use crate::types::{Headers, StatusCode, Version, has_value_ctl, spaced_ctl};

/// Framing says how a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`, then exactly n bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 clients only).
    Chunked,
    /// No length: the body ends when the connection closes (for HTTP/1.0
    /// clients when the length is unknown).
    CloseDelimited,
    /// No body is sent: HEAD requests, 1xx, 204 and 304. Carries the
    /// `Content-Length` to announce, if any (for HEAD: what GET would send).
    NoBody(Option<u64>),
}

/// Decides the response framing (RFC 9112 §6.3, RFC 9110 §8.6).
///
/// * `body_len`: the length of the body the handler produced, if known
///   (`None` for a stream of unknown length).
/// * `declared_len`: a `Content-Length` the handler set itself.
///
/// A known body length wins over a declared one (the bytes are what will
/// be sent). A declared length on a stream is enforced by
/// [`BodyEncoder`]. A stream of unknown length is chunked for HTTP/1.1
/// and close-delimited for HTTP/1.0, which has no chunked coding.
pub fn decide_framing(
    status: StatusCode,
    head_request: bool,
    client: Version,
    body_len: Option<u64>,
    declared_len: Option<u64>,
) -> Framing {
    if status.is_informational() || status == StatusCode::NO_CONTENT {
        // RFC 9110 §8.6: "A server MUST NOT send a Content-Length header
        // field in any response with a status code of 1xx or 204".
        return Framing::NoBody(None);
    }
    if status == StatusCode::NOT_MODIFIED {
        return Framing::NoBody(declared_len);
    }
    if head_request {
        return Framing::NoBody(body_len.or(declared_len));
    }
    match (body_len, declared_len) {
        (Some(n), _) | (None, Some(n)) => Framing::Length(n),
        (None, None) if client == Version::Http11 => Framing::Chunked,
        (None, None) => Framing::CloseDelimited,
    }
}

/// Writes a response head into `out`: the status line (always
/// `HTTP/1.1`, RFC 9110 §6.2), the handler's fields, then the fields the
/// server owns: `Content-Length` or `Transfer-Encoding` from `framing`,
/// `Connection`, `Date` and `Server` (the last two only when the handler
/// did not set them).
///
/// Handler fields named `Content-Length`, `Transfer-Encoding` or
/// `Connection` are not copied: the framing and the connection's fate are
/// decided by the server, never by a header a handler may get wrong.
pub fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &Headers,
    framing: Framing,
    connection: ConnectionHeader,
    date: &[u8],
    server: Option<&str>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut code = [0u8; 3];
    let n = status.as_u16();
    code[0] = b'0' + (n / 100 % 10) as u8;
    code[1] = b'0' + (n / 10 % 10) as u8;
    code[2] = b'0' + (n % 10) as u8;
    out.extend_from_slice(&code);
    out.push(b' ');
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    let mut has_server = false;
    for (name, value) in headers.iter_bytes() {
        if is_framing_field(name) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        has_server |= name.eq_ignore_ascii_case(b"server");
        put_field(out, name, value);
    }
    if !has_date {
        put_field(out, b"Date", date);
    }
    if let (false, Some(s)) = (has_server, server) {
        put_clean_field(out, b"Server", s.as_bytes());
    }
    match framing {
        Framing::Length(n) | Framing::NoBody(Some(n)) => {
            let mut digits = itoa_buf();
            put_field(out, b"Content-Length", fmt_u64(n, &mut digits));
        }
        Framing::Chunked => put_field(out, b"Transfer-Encoding", b"chunked"),
        Framing::CloseDelimited | Framing::NoBody(None) => {}
    }
    match connection {
        ConnectionHeader::None => {}
        ConnectionHeader::Close => put_field(out, b"Connection", b"close"),
        ConnectionHeader::KeepAlive => put_field(out, b"Connection", b"keep-alive"),
        ConnectionHeader::Upgrade => put_field(out, b"Connection", b"Upgrade"),
        ConnectionHeader::UpgradeClose => put_field(out, b"Connection", b"Upgrade, close"),
    }
    out.extend_from_slice(b"\r\n");
}

/// ConnectionHeader is the `Connection` field the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// None: HTTP/1.1 keep-alive is the default.
    None,
    /// `Connection: close`: this is the last response on the connection.
    Close,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked to keep it open.
    KeepAlive,
    /// `Connection: Upgrade`: the response has an `Upgrade` field, which
    /// is hop-by-hop (RFC 9110 §7.8: "A server that sends an Upgrade
    /// header field MUST also send an upgrade connection option").
    Upgrade,
    /// `Connection: Upgrade, close`: the same, on the last response.
    UpgradeClose,
}

impl ConnectionHeader {
    /// Chooses the field for a client of version `client` given whether
    /// the connection stays open.
    pub fn choose(client: Version, keep_alive: bool) -> ConnectionHeader {
        match (keep_alive, client) {
            (false, _) => ConnectionHeader::Close,
            (true, Version::Http10) => ConnectionHeader::KeepAlive,
            (true, Version::Http11) => ConnectionHeader::None,
        }
    }

    /// Returns the field for a response that sends `Upgrade` (a `101`, or
    /// a `426 Upgrade Required`): the `upgrade` option joins it. An
    /// HTTP/1.0 client ignores `Upgrade`, and gets the field unchanged.
    pub fn with_upgrade(self) -> ConnectionHeader {
        match self {
            ConnectionHeader::None | ConnectionHeader::Upgrade => ConnectionHeader::Upgrade,
            ConnectionHeader::Close | ConnectionHeader::UpgradeClose => {
                ConnectionHeader::UpgradeClose
            }
            ConnectionHeader::KeepAlive => ConnectionHeader::KeepAlive,
        }
    }
}

fn is_framing_field(name: &[u8]) -> bool {
    [&b"content-length"[..], b"transfer-encoding", b"connection"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// Writes one field line. `value` must hold no control character but
/// HTAB (RFC 9110 §5.5): values from [`Headers`] never do (its setters
/// refuse them, and so does the parser), and the server's own values are
/// made here. So nothing is scanned on the way out.
fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    debug_assert!(!has_value_ctl(value), "{value:?}");
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes one field line whose value comes from outside [`Headers`] (the
/// configured `Server` value): a control character in it, which would make
/// the whole response unparseable for the client, becomes a space.
fn put_clean_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    if has_value_ctl(value) {
        put_field(out, name, &spaced_ctl(value));
    } else {
        put_field(out, name, value);
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `n` in decimal into the end of `buf`.
fn fmt_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The bytes that end a chunked body: the last chunk and an empty trailer
/// section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// BodyEncoder frames a response body as it is written and checks it
/// against its framing.
#[derive(Clone, Copy, Debug)]
pub struct BodyEncoder {
    framing: Framing,
    written: u64,
}

/// Overrun is the error of writing more, or finishing with less, than a
/// declared `Content-Length`: the response cannot be framed correctly, so
/// the connection must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overrun {
    /// The declared length.
    pub declared: u64,
    /// The bytes the body had (or tried to have).
    pub actual: u64,
}

/// ChunkHead is the size line placed before a chunk's data.
#[derive(Clone, Copy, Debug)]
pub struct ChunkHead {
    buf: [u8; 18],
    len: u8,
}

impl ChunkHead {
    /// Returns the bytes of the size line (empty when not chunked).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl BodyEncoder {
    /// Makes an encoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> BodyEncoder {
        BodyEncoder {
            framing,
            written: 0,
        }
    }

    /// Returns how many body bytes have been framed.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Returns the framing this encoder applies.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Reports whether body bytes are sent at all.
    pub fn sends_body(&self) -> bool {
        !matches!(self.framing, Framing::NoBody(_))
    }

    /// Frames the next `len` bytes of body: returns the bytes to send
    /// before them and after them (`"{len:x}\r\n"` and `"\r\n"` when
    /// chunked, nothing otherwise). `len` must not be 0.
    ///
    /// # Errors
    /// [`Overrun`] if the bytes would pass a declared length.
    pub fn frame(&mut self, len: usize) -> Result<(ChunkHead, &'static [u8]), Overrun> {
        let len64 = len as u64;
        let total = self.written.saturating_add(len64);
        let mut head = ChunkHead {
            buf: [0; 18],
            len: 0,
        };
        let tail: &'static [u8] = match self.framing {
            Framing::Length(n) if total > n => {
                return Err(Overrun {
                    declared: n,
                    actual: total,
                });
            }
            Framing::Chunked => {
                let mut i = 0;
                let digits = (64 - len64.leading_zeros()).div_ceil(4).max(1);
                for shift in (0..digits).rev() {
                    let d = ((len64 >> (shift * 4)) & 0xf) as usize;
                    head.buf[i] = b"0123456789abcdef"[d];
                    i += 1;
                }
                head.buf[i] = b'\r';
                head.buf[i + 1] = b'\n';
                head.len = (i + 2) as u8;
                b"\r\n"
            }
            _ => b"",
        };
        self.written = total;
        Ok((head, tail))
    }

    /// Returns the bytes that end the body (the last chunk when chunked).
    ///
    /// # Errors
    /// [`Overrun`] if fewer bytes than a declared length were written.
    pub fn finish(&self) -> Result<&'static [u8], Overrun> {
        match self.framing {
            Framing::Length(n) if self.written != n => Err(Overrun {
                declared: n,
                actual: self.written,
            }),
            Framing::Chunked => Ok(LAST_CHUNK),
            _ => Ok(b""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(
        status: StatusCode,
        headers: &Headers,
        framing: Framing,
        c: ConnectionHeader,
    ) -> String {
        let mut out = Vec::new();
        encode_head(
            &mut out,
            status,
            headers,
            framing,
            c,
            DATE,
            Some("sockhttp"),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_exact_bytes() {
        let mut h = Headers::new();
        h.append("Content-Type", "text/plain");
        h.append("Content-Length", "999");
        h.append("Connection", "keep-alive");
        assert_eq!(
            head(
                StatusCode::OK,
                &h,
                Framing::Length(5),
                ConnectionHeader::None
            ),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: sockhttp\r\nContent-Length: 5\r\n\r\n"
        );
        assert_eq!(
            head(
                StatusCode::NOT_FOUND,
                &Headers::new(),
                Framing::Chunked,
                ConnectionHeader::Close
            ),
            "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: sockhttp\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn handler_date_and_server_win() {
        let mut h = Headers::new();
        h.append("Server", "mine");
        h.append("Date", "x");
        let s = head(
            StatusCode::NO_CONTENT,
            &h,
            Framing::NoBody(None),
            ConnectionHeader::KeepAlive,
        );
        assert_eq!(
            s,
            "HTTP/1.1 204 No Content\r\nServer: mine\r\nDate: x\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn encoded_heads_parse_back() {
        let mut h = Headers::new();
        h.append("X-A", "1");
        let s = head(
            StatusCode::CREATED,
            &h,
            Framing::Length(12),
            ConnectionHeader::None,
        );
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut fields);
        assert!(resp.parse(s.as_bytes()).unwrap().is_complete());
        assert_eq!(resp.code, Some(201));
        assert_eq!(
            resp.headers
                .iter()
                .find(|f| f.name == "Content-Length")
                .unwrap()
                .value,
            b"12"
        );
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn framing_follows_rfc_9112() {
        use Framing::*;
        let v11 = Version::Http11;
        let v10 = Version::Http10;
        let cases: &[(
            &str,
            StatusCode,
            bool,
            Version,
            Option<u64>,
            Option<u64>,
            Framing,
        )] = &[
            (
                "sized body",
                StatusCode::OK,
                false,
                v11,
                Some(3),
                None,
                Length(3),
            ),
            (
                "body length beats declared",
                StatusCode::OK,
                false,
                v11,
                Some(3),
                Some(9),
                Length(3),
            ),
            (
                "declared stream length",
                StatusCode::OK,
                false,
                v11,
                None,
                Some(9),
                Length(9),
            ),
            (
                "unknown length 1.1",
                StatusCode::OK,
                false,
                v11,
                None,
                None,
                Chunked,
            ),
            (
                "unknown length 1.0",
                StatusCode::OK,
                false,
                v10,
                None,
                None,
                CloseDelimited,
            ),
            (
                "HEAD keeps length",
                StatusCode::OK,
                true,
                v11,
                Some(7),
                None,
                NoBody(Some(7)),
            ),
            (
                "HEAD of stream",
                StatusCode::OK,
                true,
                v11,
                None,
                None,
                NoBody(None),
            ),
            (
                "204",
                StatusCode::NO_CONTENT,
                false,
                v11,
                Some(0),
                None,
                NoBody(None),
            ),
            (
                "304 keeps declared",
                StatusCode::NOT_MODIFIED,
                false,
                v11,
                Some(0),
                Some(5),
                NoBody(Some(5)),
            ),
            (
                "100",
                StatusCode::CONTINUE,
                false,
                v11,
                None,
                None,
                NoBody(None),
            ),
        ];
        for &(name, status, is_head, v, body, declared, want) in cases {
            let got = decide_framing(status, is_head, v, body, declared);
            assert_eq!(got, want, "{name}: decide_framing = {got:?}, want {want:?}");
        }
    }

    #[test]
    fn chunk_heads_are_hex() {
        let mut enc = BodyEncoder::new(Framing::Chunked);
        for (len, want) in [
            (1usize, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (4096, "1000\r\n"),
        ] {
            let (h, tail) = enc.frame(len).unwrap();
            assert_eq!(h.as_bytes(), want.as_bytes());
            assert_eq!(tail, b"\r\n");
        }
        assert_eq!(enc.finish().unwrap(), LAST_CHUNK);
    }

    #[test]
    fn declared_length_is_enforced() {
        let mut enc = BodyEncoder::new(Framing::Length(5));
        assert!(enc.frame(3).is_ok());
        assert_eq!(
            enc.finish(),
            Err(Overrun {
                declared: 5,
                actual: 3
            })
        );
        assert_eq!(
            enc.frame(3).unwrap_err(),
            Overrun {
                declared: 5,
                actual: 6
            }
        );
    }
}
