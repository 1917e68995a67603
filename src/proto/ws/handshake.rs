//! The opening handshake (RFC 6455 §4.2, RFC 9110 §7.8): checking an
//! upgrade request's head, and the `101 Switching Protocols` answer.
//!
//! [`parse_handshake`] is a pure function of the request's method,
//! version and fields. It computes the `Sec-WebSocket-Accept` value and
//! hands back what the caller's hooks decide on: the subprotocols the
//! client offered and its `Origin`. The caller answers with
//! [`Handshake::encode_response`], or with the status and fields of a
//! [`HandshakeError`]. This module performs no I/O.
//!
//! Base64 is written here rather than taken from a crate: the handshake
//! needs two fixed sizes only (a 16-byte key to check, a 20-byte digest
//! to encode), a few lines each, tested against RFC 4648's vectors.

use crate::types::{Headers, Method, StatusCode, Version};

/// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Handshake is a valid WebSocket upgrade request, as the server needs it
/// to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    accept: String,
    protocols: Vec<String>,
    origin: Option<String>,
}

/// HandshakeError says why an upgrade request was refused; each variant
/// has its status ([`HandshakeError::status`]) and the fields to send
/// with it ([`HandshakeError::headers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method was not `GET` (§4.1: "The method of the request MUST be
    /// GET"). 405, with `Allow: GET`.
    NotGet,
    /// The request was not HTTP/1.1 (§4.1: "the HTTP version MUST be at
    /// least 1.1"; RFC 9110 §7.8: "A server MUST ignore an Upgrade header
    /// field that is received in an HTTP/1.0 request"). 400.
    NotHttp11,
    /// `Upgrade` did not list `websocket`, or `Connection` did not list
    /// `upgrade`: the client did not ask to switch. 426, with `Upgrade:
    /// websocket` (RFC 9110 §15.5.22: "The server MUST send an Upgrade
    /// header field in a 426 response").
    NotUpgrade,
    /// The request had a body (`Content-Length` above 0, or any
    /// `Transfer-Encoding`): its bytes would be read as frames. 400.
    HasBody,
    /// `Sec-WebSocket-Version` appeared more than once (§11.3.5: it "MUST
    /// NOT appear more than once in an HTTP request"). 400.
    DuplicateVersion,
    /// `Sec-WebSocket-Version` was missing or not `13` (§4.2.2). 426, with
    /// `Sec-WebSocket-Version: 13`, the version this server speaks.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` was missing, repeated (§11.3.1), or not the
    /// base64 of exactly 16 bytes (§4.1). 400.
    InvalidKey,
    /// `Sec-WebSocket-Protocol` listed something that is not a token
    /// (§4.1: `1#token`). 400.
    InvalidProtocol,
    /// `Origin` was repeated or not ASCII: an origin check must not have
    /// to guess which one counts. 400.
    InvalidOrigin,
}

impl HandshakeError {
    /// Returns the status of the refusal.
    pub fn status(self) -> StatusCode {
        match self {
            HandshakeError::NotGet => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::NotUpgrade | HandshakeError::UnsupportedVersion => {
                StatusCode::UPGRADE_REQUIRED
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Returns the fields to send with the refusal, besides the server's
    /// own. A 426 names the protocol and the version to upgrade to, and,
    /// as RFC 9110 §7.8 asks of any sender of `Upgrade`, the `upgrade`
    /// connection option.
    pub fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self.status() {
            StatusCode::METHOD_NOT_ALLOWED => &[("Allow", "GET")],
            StatusCode::UPGRADE_REQUIRED => &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
            ],
            _ => &[],
        }
    }

    /// Returns a short, fixed description, for the log.
    pub fn reason(self) -> &'static str {
        match self {
            HandshakeError::NotGet => "WebSocket handshake: method is not GET",
            HandshakeError::NotHttp11 => "WebSocket handshake: not HTTP/1.1",
            HandshakeError::NotUpgrade => "WebSocket handshake: no Upgrade: websocket",
            HandshakeError::HasBody => "WebSocket handshake: request has a body",
            HandshakeError::DuplicateVersion => "WebSocket handshake: version repeated",
            HandshakeError::UnsupportedVersion => "WebSocket handshake: version is not 13",
            HandshakeError::InvalidKey => "WebSocket handshake: invalid key",
            HandshakeError::InvalidProtocol => "WebSocket handshake: invalid subprotocol",
            HandshakeError::InvalidOrigin => "WebSocket handshake: invalid origin",
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for HandshakeError {}

/// Checks a WebSocket upgrade request (RFC 6455 §4.2.1) and computes the
/// answer's `Sec-WebSocket-Accept` value (§4.2.2).
///
/// In order: the method is `GET`; the version HTTP/1.1; `Upgrade` lists
/// `websocket` and `Connection` lists `upgrade` (token lists, any case);
/// there is no body; `Sec-WebSocket-Version` is `13`;
/// `Sec-WebSocket-Key` is the base64 of 16 bytes; the
/// `Sec-WebSocket-Protocol` lists hold tokens; `Origin` appears at most
/// once. `Host` is not checked here: the request parser already refuses
/// an HTTP/1.1 request without exactly one. `Sec-WebSocket-Extensions`
/// is ignored: no extension is implemented, so the answer accepts none
/// (§9.1), and the client then uses none.
///
/// # Examples
/// ```
/// use sockhttp::_internals::ws::parse_handshake;
/// use sockhttp::{Headers, Method, Version};
/// let mut h = Headers::new();
/// h.append("Host", "server.example.com");
/// h.append("Upgrade", "websocket");
/// h.append("Connection", "keep-alive, Upgrade");
/// h.append("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
/// h.append("Sec-WebSocket-Version", "13");
/// h.append("Sec-WebSocket-Protocol", "chat, superchat");
/// h.append("Origin", "http://example.com");
/// let hs = parse_handshake(&Method::Get, Version::Http11, &h).unwrap();
/// assert_eq!(hs.accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); // RFC 6455 §1.3
/// assert_eq!(hs.protocols(), ["chat", "superchat"]);
/// assert_eq!(hs.origin(), Some("http://example.com"));
/// ```
///
/// # Errors
/// A [`HandshakeError`] for the first rule broken, in the order above.
pub fn parse_handshake(
    method: &Method,
    version: Version,
    headers: &Headers,
) -> Result<Handshake, HandshakeError> {
    if *method != Method::Get {
        return Err(HandshakeError::NotGet);
    }
    if version != Version::Http11 {
        return Err(HandshakeError::NotHttp11);
    }
    if !headers.has_token("Upgrade", "websocket") || !headers.has_token("Connection", "upgrade") {
        return Err(HandshakeError::NotUpgrade);
    }
    // The request parser has refused conflicting framing already; any
    // sign of a body is enough to refuse here.
    let has_length = headers.get_all_bytes("Content-Length").any(|v| {
        let v = v.trim_ascii();
        v.is_empty() || v.iter().any(|&d| d != b'0')
    });
    if has_length || headers.contains("Transfer-Encoding") {
        return Err(HandshakeError::HasBody);
    }
    let mut versions = headers.get_all_bytes("Sec-WebSocket-Version");
    match (versions.next(), versions.next()) {
        (Some(_), Some(_)) => return Err(HandshakeError::DuplicateVersion),
        (Some(v), None) if v.trim_ascii() == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let mut keys = headers.get_all_bytes("Sec-WebSocket-Key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_base64_of_16_bytes(key.trim_ascii()) => key.trim_ascii(),
        _ => return Err(HandshakeError::InvalidKey),
    };
    let mut protocols = Vec::new();
    for list in headers.get_all_bytes("Sec-WebSocket-Protocol") {
        // RFC 9110 §5.6.1: a recipient accepts and ignores empty elements.
        for item in list.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            match std::str::from_utf8(item) {
                _ if item.is_empty() => {}
                Ok(p) if is_token(item) => protocols.push(p.to_owned()),
                _ => return Err(HandshakeError::InvalidProtocol),
            }
        }
    }
    let mut origins = headers.get_all_bytes("Origin");
    let origin = match (origins.next(), origins.next()) {
        (None, _) => None,
        (Some(o), None) if o.is_ascii() => {
            Some(String::from_utf8_lossy(o.trim_ascii()).into_owned())
        }
        _ => return Err(HandshakeError::InvalidOrigin),
    };
    Ok(Handshake {
        accept: accept_key(key),
        protocols,
        origin,
    })
}

impl Handshake {
    /// Returns the `Sec-WebSocket-Accept` value: the base64 of the SHA-1
    /// of the client's key and the protocol's GUID (§4.2.2).
    pub fn accept(&self) -> &str {
        &self.accept
    }

    /// Returns the subprotocols the client offered, in its order of
    /// preference (§4.1), for the server to choose at most one.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Returns the `Origin` the client sent, if any: browsers always send
    /// it, and a server that accepts connections from pages checks it
    /// (§10.2), since a page from any site can open a WebSocket.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Reports whether the client offered `protocol` (compared exactly).
    pub fn offers(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p == protocol)
    }

    /// Returns the fields of the `101 Switching Protocols` answer:
    /// `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept`
    /// and, if one was chosen, `Sec-WebSocket-Protocol`.
    ///
    /// A chosen protocol the client did not offer is left out: §4.1 has
    /// the client fail the connection on one it did not offer.
    pub fn response_headers(&self, protocol: Option<&str>) -> Headers {
        let mut h = Headers::with_capacity(4);
        h.append("Upgrade", "websocket");
        h.append("Connection", "Upgrade");
        h.append("Sec-WebSocket-Accept", self.accept.clone());
        if let Some(p) = protocol.filter(|p| self.offers(p)) {
            h.append("Sec-WebSocket-Protocol", p.to_owned());
        }
        h
    }

    /// Writes the whole `101 Switching Protocols` head into `out`: the
    /// status line and [`Handshake::response_headers`]. It has no `Date`
    /// (RFC 9110 §6.6.1 asks for one in 2xx-4xx answers only) and no
    /// body; the frames start right after it.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::_internals::ws::parse_handshake;
    /// use sockhttp::{Headers, Method, Version};
    /// let mut h = Headers::new();
    /// h.append("Upgrade", "WebSocket");
    /// h.append("Connection", "upgrade");
    /// h.append("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    /// h.append("Sec-WebSocket-Version", "13");
    /// h.append("Sec-WebSocket-Protocol", "chat");
    /// let hs = parse_handshake(&Method::Get, Version::Http11, &h).unwrap();
    /// let mut out = Vec::new();
    /// hs.encode_response(Some("chat"), &mut out);
    /// assert_eq!(
    ///     out,
    ///     b"HTTP/1.1 101 Switching Protocols\r\n\
    ///       Upgrade: websocket\r\n\
    ///       Connection: Upgrade\r\n\
    ///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    ///       Sec-WebSocket-Protocol: chat\r\n\r\n"
    /// );
    /// ```
    pub fn encode_response(&self, protocol: Option<&str>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        for (name, value) in self.response_headers(protocol).iter() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Computes `base64(SHA-1(key + GUID))` (RFC 6455 §4.2.2, item 5.4).
fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    encode_base64(&sha.digest().bytes())
}

/// The base64 alphabet (RFC 4648 §4).
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `input` as padded base64 (RFC 4648 §4).
fn encode_base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reports whether `key` is the base64 of exactly 16 bytes (RFC 4648 §4):
/// 22 characters of the alphabet and `==`. The last character holds 2
/// bits of data and 4 bits that must be zero (§3.5: canonical encoding),
/// so only one string encodes each 16 bytes.
fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    let index = |c: u8| BASE64.iter().position(|&a| a == c);
    key.len() == 24
        && key.ends_with(b"==")
        && key[..21].iter().all(|&c| index(c).is_some())
        && index(key[21]).is_some_and(|i| i & 0x0F == 0)
}

/// Reports whether `b` is a `token` (RFC 9110 §5.6.2): one or more of
/// `!#$%&'*+-.^_`|~`, digits and letters.
fn is_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of RFC 6455 §1.2's example request.
    const RFC_REQUEST: &[(&str, &str)] = &[
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Origin", "http://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Version", "13"),
    ];

    /// The example request with `changes` applied: a field named with a
    /// value replaces the example's fields of that name (an empty value
    /// removes them); `+Name` appends one more.
    fn request(changes: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in RFC_REQUEST {
            h.append(*n, *v);
        }
        for (n, v) in changes {
            match n.strip_prefix('+') {
                Some(n) => h.append(n.to_owned(), v.to_string()),
                None if v.is_empty() => {
                    h.remove(n);
                }
                None => h.insert(n.to_string(), v.to_string()),
            }
        }
        h
    }

    struct Case {
        name: &'static str,
        method: Method,
        version: Version,
        changes: &'static [(&'static str, &'static str)],
        want: Result<(&'static [&'static str], Option<&'static str>), HandshakeError>,
    }

    const RFC_OK: Result<(&[&str], Option<&str>), HandshakeError> =
        Ok((&["chat", "superchat"], Some("http://example.com")));

    fn cases() -> Vec<Case> {
        use HandshakeError::*;
        let get = |name, changes, want| Case {
            name,
            method: Method::Get,
            version: Version::Http11,
            changes,
            want,
        };
        vec![
            get("RFC 6455 §1.2's request", &[], RFC_OK),
            Case {
                name: "POST",
                method: Method::Post,
                version: Version::Http11,
                changes: &[],
                want: Err(NotGet),
            },
            Case {
                name: "HEAD",
                method: Method::Head,
                version: Version::Http11,
                changes: &[],
                want: Err(NotGet),
            },
            Case {
                name: "HTTP/1.0",
                method: Method::Get,
                version: Version::Http10,
                changes: &[],
                want: Err(NotHttp11),
            },
            get(
                "tokens in any case",
                &[("Upgrade", "WebSocket"), ("Connection", "UPGRADE")],
                RFC_OK,
            ),
            get(
                "tokens in lists",
                &[
                    ("Upgrade", "h2c, websocket"),
                    ("Connection", "keep-alive , upgrade"),
                ],
                RFC_OK,
            ),
            get(
                "tokens across field lines",
                &[("Connection", "keep-alive"), ("+Connection", "Upgrade")],
                RFC_OK,
            ),
            get("no Upgrade", &[("Upgrade", "")], Err(NotUpgrade)),
            get(
                "Upgrade to something else",
                &[("Upgrade", "h2c")],
                Err(NotUpgrade),
            ),
            get(
                "websocket as a substring only",
                &[("Upgrade", "websockets")],
                Err(NotUpgrade),
            ),
            get("no Connection", &[("Connection", "")], Err(NotUpgrade)),
            get(
                "Connection without upgrade",
                &[("Connection", "keep-alive")],
                Err(NotUpgrade),
            ),
            get(
                "Content-Length: 0 is no body",
                &[("Content-Length", "0")],
                RFC_OK,
            ),
            get(
                "a Content-Length body",
                &[("Content-Length", "5")],
                Err(HasBody),
            ),
            get(
                "a chunked body",
                &[("Transfer-Encoding", "chunked")],
                Err(HasBody),
            ),
            get(
                "no version",
                &[("Sec-WebSocket-Version", "")],
                Err(UnsupportedVersion),
            ),
            get(
                "version 8",
                &[("Sec-WebSocket-Version", "8")],
                Err(UnsupportedVersion),
            ),
            get(
                "a version list",
                &[("Sec-WebSocket-Version", "13, 8")],
                Err(UnsupportedVersion),
            ),
            get(
                "two versions",
                &[("+Sec-WebSocket-Version", "13")],
                Err(DuplicateVersion),
            ),
            get("no key", &[("Sec-WebSocket-Key", "")], Err(InvalidKey)),
            get(
                "two keys",
                &[("+Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")],
                Err(InvalidKey),
            ),
            get(
                "a key of 15 bytes",
                &[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")],
                Err(InvalidKey),
            ),
            get(
                "a key of 17 bytes",
                &[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=")],
                Err(InvalidKey),
            ),
            get(
                "a key without padding",
                &[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")],
                Err(InvalidKey),
            ),
            get(
                "a key in the URL-safe alphabet",
                &[("Sec-WebSocket-Key", "dGhlIHNhbXBsZ-Bub25jZQ==")],
                Err(InvalidKey),
            ),
            get(
                "a key with non-zero padding bits",
                &[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR==")],
                Err(InvalidKey),
            ),
            get(
                "a key that is not base64",
                &[("Sec-WebSocket-Key", "not a key at all, really")],
                Err(InvalidKey),
            ),
            get(
                "no protocols",
                &[("Sec-WebSocket-Protocol", "")],
                Ok((&[], Some("http://example.com"))),
            ),
            get(
                "protocols across lines, empty elements ignored",
                &[
                    ("Sec-WebSocket-Protocol", " , chat,"),
                    ("+Sec-WebSocket-Protocol", "v2.json"),
                ],
                Ok((&["chat", "v2.json"], Some("http://example.com"))),
            ),
            get(
                "a protocol that is not a token",
                &[("Sec-WebSocket-Protocol", "chat, a b")],
                Err(InvalidProtocol),
            ),
            get(
                "a quoted protocol",
                &[("Sec-WebSocket-Protocol", "\"chat\"")],
                Err(InvalidProtocol),
            ),
            get(
                "no origin",
                &[("Origin", "")],
                Ok((&["chat", "superchat"], None)),
            ),
            get(
                "two origins",
                &[("+Origin", "http://evil.example")],
                Err(InvalidOrigin),
            ),
            get(
                "a non-ASCII origin",
                &[("Origin", "http://exämple.com")],
                Err(InvalidOrigin),
            ),
        ]
    }

    #[test]
    fn handshakes_are_checked_by_the_rules() {
        for c in cases() {
            let headers = request(c.changes);
            let got = parse_handshake(&c.method, c.version, &headers);
            let got = got.as_ref().map(|hs| (hs.protocols(), hs.origin()));
            let want = c
                .want
                .map(|(p, o)| (p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), o));
            let want = want.as_ref().map(|(p, o)| (&p[..], *o));
            assert_eq!(got, want, "{}: parse_handshake({headers:?})", c.name);
        }
    }

    #[test]
    fn the_accept_value_is_rfc_6455s() {
        let hs = parse_handshake(&Method::Get, Version::Http11, &request(&[])).unwrap();
        assert_eq!(hs.accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // Surrounding whitespace is not part of the key.
        let padded = request(&[("Sec-WebSocket-Key", " dGhlIHNhbXBsZSBub25jZQ== ")]);
        let hs = parse_handshake(&Method::Get, Version::Http11, &padded).unwrap();
        assert_eq!(hs.accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn refusals_carry_their_status_and_fields() {
        use HandshakeError::*;
        let all = [
            (NotGet, 405),
            (NotHttp11, 400),
            (NotUpgrade, 426),
            (HasBody, 400),
            (DuplicateVersion, 400),
            (UnsupportedVersion, 426),
            (InvalidKey, 400),
            (InvalidProtocol, 400),
            (InvalidOrigin, 400),
        ];
        for (e, status) in all {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            let names: Vec<&str> = e.headers().iter().map(|(n, _)| *n).collect();
            let want: &[&str] = match status {
                405 => &["Allow"],
                426 => &["Upgrade", "Connection", "Sec-WebSocket-Version"],
                _ => &[],
            };
            assert_eq!(names, want, "{e:?}");
            assert!(e.to_string().starts_with("WebSocket handshake: "));
        }
        assert!(
            UnsupportedVersion
                .headers()
                .contains(&("Sec-WebSocket-Version", "13"))
        );
    }

    #[test]
    fn the_answer_names_only_an_offered_protocol() {
        let hs = parse_handshake(&Method::Get, Version::Http11, &request(&[])).unwrap();
        let answer = |p| {
            let mut out = Vec::new();
            hs.encode_response(p, &mut out);
            String::from_utf8(out).unwrap()
        };
        let plain = "HTTP/1.1 101 Switching Protocols\r\n\
                     Upgrade: websocket\r\n\
                     Connection: Upgrade\r\n\
                     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(answer(None), plain);
        assert_eq!(answer(Some("other")), plain);
        assert_eq!(answer(Some("Chat")), plain, "protocols compare exactly");
        let chat = answer(Some("superchat"));
        assert!(
            chat.ends_with("\r\nSec-WebSocket-Protocol: superchat\r\n\r\n"),
            "{chat}"
        );
        assert!(hs.offers("chat") && !hs.offers("Chat"));
        // The answer parses back as a 101 with those fields.
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut fields);
        assert!(resp.parse(chat.as_bytes()).unwrap().is_complete());
        assert_eq!(resp.code, Some(101));
        assert_eq!(resp.headers.len(), 4);
    }

    #[test]
    fn base64_matches_rfc_4648s_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in vectors {
            assert_eq!(encode_base64(input.as_bytes()), want, "{input:?}");
        }
        // Every 16-byte key the encoder can write is a valid key, and
        // changing its last data character's padding bits is not.
        for seed in 0..=255u8 {
            let bytes: Vec<u8> = (0..16)
                .map(|i| seed.wrapping_mul(31).wrapping_add(i * 17))
                .collect();
            let key = encode_base64(&bytes);
            assert!(is_base64_of_16_bytes(key.as_bytes()), "{key}");
            let mut bad = key.into_bytes();
            let i = BASE64.iter().position(|&c| c == bad[21]).unwrap();
            bad[21] = BASE64[i | 1];
            assert!(!is_base64_of_16_bytes(&bad));
        }
    }
}
