//! Cookies (RFC 6265): reading the `Cookie` header a client sends, and
//! building the `Set-Cookie` fields a response sends.
//!
//! Reading is lenient, writing is strict (RFC 6265 §4: servers "SHOULD
//! NOT" send what §4.1.1 does not allow, while user agents and the cookies
//! they send back vary). [`parse_cookie_string`] reads what browsers
//! actually send and skips a pair it cannot make sense of, rather than
//! failing the request over one bad cookie another site's script set.
//! [`Cookie`] refuses, when it is made, a name or value that would not
//! survive the trip, so a response never carries a cookie browsers drop
//! or split.
//!
//! This module performs no I/O: [`Request::cookie`](crate::Request::cookie)
//! reads the request's fields, [`Response::with_cookie`](crate::Response::with_cookie)
//! appends to the response's.
//!
//! # Examples
//! A session cookie set by one response and read from the next request:
//! ```
//! use sockhttp::{Cookie, Method, Request, Response, SameSite};
//! use std::time::Duration;
//!
//! let cookie = Cookie::new("sid", "31d4d96e407aad42")?
//!     .path("/")
//!     .http_only(true)
//!     .secure(true)
//!     .same_site(SameSite::Lax)
//!     .max_age(Duration::from_secs(3600));
//! let resp = Response::text("welcome").with_cookie(cookie);
//! assert_eq!(
//!     resp.headers().get("set-cookie"),
//!     Some("sid=31d4d96e407aad42; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax")
//! );
//!
//! let req = Request::builder(Method::Get, "/")
//!     .header("Cookie", "sid=31d4d96e407aad42; theme=dark")
//!     .build()?;
//! assert_eq!(req.cookie("sid"), Some("31d4d96e407aad42"));
//! assert_eq!(req.cookies().count(), 2);
//! # Ok::<(), sockhttp::Error>(())
//! ```
//!
//! A value a user typed may hold spaces, `;`, `"` or non-ASCII text,
//! which a cookie value cannot: percent-encode it with
//! [`uri::percent_encode`](crate::uri::percent_encode) (its output is
//! always a valid cookie value) and decode it when it comes back:
//! ```
//! use sockhttp::{Cookie, uri};
//! let cookie = Cookie::new("greeting", uri::percent_encode("olá; \"mundo\""))?;
//! assert_eq!(cookie.value(), "ol%C3%A1%3B%20%22mundo%22");
//! assert_eq!(uri::percent_decode(cookie.value()).as_deref(), Some("olá; \"mundo\""));
//! # Ok::<(), sockhttp::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::types::HttpDate;
use std::fmt;
use std::time::Duration;

/// Iterates over the `name=value` pairs of one `Cookie` field value
/// (RFC 6265 §4.2.1 `cookie-string`), in order.
///
/// What browsers send is accepted: pairs separated by `;` with or
/// without the space, whitespace around names and values, a value in
/// double quotes (returned without them, as Go and Python do), spaces,
/// commas and UTF-8 text inside values. A pair is skipped, and the others
/// kept, when its name is not an RFC 9110 `token` (empty included), it
/// has no `=`, or its value holds a control character, a stray `"` or
/// bytes that are not UTF-8. Names are case-sensitive; the same name may
/// come more than once (cookies of different paths or domains), the
/// most specific first (RFC 6265 §5.4).
///
/// # Examples
/// ```
/// use sockhttp::cookie::parse_cookie_string;
/// let pairs: Vec<_> = parse_cookie_string(b"a=1;b=\"two\";  bad name=3; c=; d").collect();
/// assert_eq!(pairs, [("a", "1"), ("b", "two"), ("c", "")]);
/// ```
pub fn parse_cookie_string(value: &[u8]) -> impl Iterator<Item = (&str, &str)> + '_ {
    value.split(|&b| b == b';').filter_map(parse_cookie_pair)
}

/// Parses one `cookie-pair`, or `None` to skip it.
fn parse_cookie_pair(pair: &[u8]) -> Option<(&str, &str)> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    let name = pair[..eq].trim_ascii();
    let value = pair[eq + 1..].trim_ascii();
    if !is_token(name) {
        return None;
    }
    let value = match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    if value.iter().any(|&b| b == b'"' || b.is_ascii_control()) {
        return None;
    }
    Some((
        std::str::from_utf8(name).ok()?,
        std::str::from_utf8(value).ok()?,
    ))
}

/// Reports whether `s` is an RFC 9110 §5.6.2 `token` (RFC 6265's
/// `cookie-name`): one or more visible ASCII characters other than the
/// delimiters `"(),/:;<=>?@[\]{}`.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reports whether `b` is an RFC 6265 §4.1.1 `cookie-octet`: visible
/// ASCII other than `"`, `,`, `;` and `\` (no space either).
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Reports whether `s` is an RFC 6265 §4.1.1 `cookie-value`: cookie-octets,
/// optionally inside one pair of double quotes.
fn is_cookie_value(s: &[u8]) -> bool {
    let inner = match s {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    inner.iter().all(|&b| is_cookie_octet(b))
}

/// Reports whether `s` may be an attribute value (RFC 6265 §4.1.1
/// `path-value`: "any CHAR except CTLs or `;`").
fn is_attribute_value(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7F).contains(&b) && b != b';')
}

/// SameSite says when a browser sends a cookie along with a request
/// another site started (RFC 6265bis §5.4.7): the main defence a cookie
/// has against cross-site request forgery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Only with requests the site itself starts: not even when the user
    /// follows a link from elsewhere.
    Strict,
    /// Also when the user navigates to the site from elsewhere (a
    /// top-level `GET`); browsers treat a cookie without the attribute
    /// this way.
    Lax,
    /// With every request, cross-site ones included. Browsers accept it
    /// only with `Secure`, so a cookie with `SameSite=None` is always sent
    /// with `Secure` (see [`Cookie::same_site`]).
    None,
}

impl SameSite {
    /// Returns the attribute's value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// Cookie is one cookie a response sets: a name, a value and the
/// attributes of a `Set-Cookie` field (RFC 6265 §4.1).
///
/// Its [`Display`](fmt::Display) is the `Set-Cookie` field value;
/// [`Response::with_cookie`](crate::Response::with_cookie) appends it as
/// one field per cookie, never folded into one line, since an `Expires`
/// date has a comma of its own.
///
/// Nothing is set by default: a cookie without `Path` applies to the
/// directory of the request that set it, so most cookies want
/// `.path("/")`; a session cookie usually wants `.http_only(true)`,
/// `.secure(true)` behind HTTPS, and a [`SameSite`].
///
/// # Examples
/// ```
/// use sockhttp::{Cookie, HttpDate, SameSite};
/// let cookie = Cookie::new("lang", "en-US")?
///     .path("/docs")
///     .domain("example.com")
///     .expires(HttpDate::from_unix_secs(1_700_000_000));
/// assert_eq!(
///     cookie.to_string(),
///     "lang=en-US; Path=/docs; Domain=example.com; Expires=Tue, 14 Nov 2023 22:13:20 GMT"
/// );
/// # Ok::<(), sockhttp::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<Duration>,
    expires: Option<HttpDate>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

impl Cookie {
    /// Makes a cookie named `name` with `value` and no attributes.
    ///
    /// The name must be a `token` and the value `cookie-octet`s, optionally
    /// inside double quotes (RFC 6265 §4.1.1): no space, `"`, `,`, `;`,
    /// `\`, control character or non-ASCII byte. Browsers split or drop
    /// values with those, so they are refused here instead of sent; encode
    /// a value that may hold them with
    /// [`uri::percent_encode`](crate::uri::percent_encode).
    ///
    /// # Errors
    /// [`Error::Handler`] (500 if a handler returns it) for a name that is
    /// not a token or a value that is not a cookie-value: a bug in the
    /// program, not in the request.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::Cookie;
    /// assert!(Cookie::new("id", "a3fWa").is_ok());
    /// assert!(Cookie::new("id", "\"quoted\"").is_ok());
    /// assert!(Cookie::new("id", "").is_ok());
    /// assert!(Cookie::new("id", "two words").is_err());
    /// assert!(Cookie::new("my id", "x").is_err());
    /// ```
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Result<Cookie> {
        let (name, value) = (name.into(), value.into());
        if !is_token(name.as_bytes()) {
            return Err(Error::handler("cookie name is not an RFC 6265 token"));
        }
        if !is_cookie_value(value.as_bytes()) {
            return Err(Error::handler(
                "cookie value is not RFC 6265 cookie-octets (percent-encode it)",
            ));
        }
        Ok(Cookie {
            name,
            value,
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        })
    }

    /// Makes a cookie that deletes cookie `name` from the client: an
    /// empty value, `Max-Age=0` and an `Expires` in the past (1970, for
    /// clients that know only `Expires`).
    ///
    /// A browser deletes only the cookie with the same name, `Path` and
    /// `Domain`: give this one the `path` and `domain` the cookie was set
    /// with.
    ///
    /// # Errors
    /// As [`Cookie::new`], for a name that is not a token.
    ///
    /// # Examples
    /// ```
    /// let gone = sockhttp::Cookie::expired("sid")?.path("/");
    /// assert_eq!(gone.to_string(), "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    pub fn expired(name: impl Into<String>) -> Result<Cookie> {
        Ok(Cookie::new(name, "")?
            .max_age(Duration::ZERO)
            .expires(HttpDate::from_unix_secs(0)))
    }

    /// Returns the cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the cookie's value, as it will be sent.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Sets `Path`: the cookie is sent with requests for this path and
    /// below it.
    ///
    /// # Panics
    /// If `path` holds a `;`, a control character or a byte that is not
    /// ASCII (RFC 6265 §4.1.1 `path-value`). An attribute is the
    /// program's own text, as a route pattern is, so a bad one is a bug
    /// to find at once; a value from elsewhere belongs in the cookie's
    /// value.
    pub fn path(mut self, path: &str) -> Cookie {
        assert!(
            is_attribute_value(path),
            "cookie Path {path:?} holds a ';', a control character or non-ASCII"
        );
        self.path = Some(path.to_owned());
        self
    }

    /// Sets `Domain`: the cookie is sent to this host and its subdomains
    /// too. Without it, only to the host that set it.
    ///
    /// # Panics
    /// If `domain` is empty, or holds a `;`, a control character or a
    /// byte that is not ASCII (as [`Cookie::path`]).
    pub fn domain(mut self, domain: &str) -> Cookie {
        assert!(
            !domain.is_empty() && is_attribute_value(domain),
            "cookie Domain {domain:?} is empty or holds a ';', a control character or non-ASCII"
        );
        self.domain = Some(domain.to_owned());
        self
    }

    /// Sets `Max-Age`, in whole seconds: how long the client keeps the
    /// cookie. It takes precedence over `Expires` (RFC 6265 §5.3 step 3);
    /// without either, the cookie lasts until the browser closes.
    pub fn max_age(mut self, age: Duration) -> Cookie {
        self.max_age = Some(age);
        self
    }

    /// Sets `Expires`: when the client drops the cookie, for clients that
    /// do not know `Max-Age`.
    pub fn expires(mut self, when: HttpDate) -> Cookie {
        self.expires = Some(when);
        self
    }

    /// Sets `Secure`: the cookie is sent over HTTPS only (and over plain
    /// HTTP to `localhost`, by current browsers).
    pub fn secure(mut self, on: bool) -> Cookie {
        self.secure = on;
        self
    }

    /// Sets `HttpOnly`: the cookie is hidden from the page's scripts, so
    /// an injected script cannot read a session token.
    pub fn http_only(mut self, on: bool) -> Cookie {
        self.http_only = on;
        self
    }

    /// Sets `SameSite`.
    ///
    /// `SameSite::None` is always written with `Secure`, whatever
    /// [`Cookie::secure`] says: browsers reject a `SameSite=None` cookie
    /// without it (Chrome since version 80, Firefox and Safari likewise),
    /// so the alternative would be a cookie set without error and never
    /// stored.
    pub fn same_site(mut self, same_site: SameSite) -> Cookie {
        self.same_site = Some(same_site);
        self
    }
}

impl fmt::Display for Cookie {
    /// Writes the `Set-Cookie` field value: `name=value`, then the
    /// attributes that are set, in a fixed order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(path) = &self.path {
            write!(f, "; Path={path}")?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if let Some(age) = self.max_age {
            write!(f, "; Max-Age={}", age.as_secs())?;
        }
        if let Some(when) = self.expires {
            write!(f, "; Expires={when}")?;
        }
        if self.secure || self.same_site == Some(SameSite::None) {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if let Some(same_site) = self.same_site {
            write!(f, "; SameSite={}", same_site.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ParseCase {
        name: &'static str,
        input: &'static [u8],
        want: &'static [(&'static str, &'static str)],
    }

    const PARSE_CASES: &[ParseCase] = &[
        ParseCase {
            name: "empty",
            input: b"",
            want: &[],
        },
        ParseCase {
            name: "one pair",
            input: b"a=1",
            want: &[("a", "1")],
        },
        ParseCase {
            name: "browser separator",
            input: b"a=1; b=2",
            want: &[("a", "1"), ("b", "2")],
        },
        ParseCase {
            name: "no space after the semicolon",
            input: b"a=1;b=2",
            want: &[("a", "1"), ("b", "2")],
        },
        ParseCase {
            name: "whitespace around names and values",
            input: b" a = 1 ;\tb=2\t",
            want: &[("a", "1"), ("b", "2")],
        },
        ParseCase {
            name: "trailing and doubled semicolons",
            input: b"a=1;; b=2;",
            want: &[("a", "1"), ("b", "2")],
        },
        ParseCase {
            name: "quoted value loses its quotes",
            input: b"a=\"x y\"",
            want: &[("a", "x y")],
        },
        ParseCase {
            name: "empty quoted value",
            input: b"a=\"\"",
            want: &[("a", "")],
        },
        ParseCase {
            name: "empty value",
            input: b"a=; b=",
            want: &[("a", ""), ("b", "")],
        },
        ParseCase {
            name: "value with equals signs",
            input: b"t=YWJj==",
            want: &[("t", "YWJj==")],
        },
        ParseCase {
            name: "spaces, commas and backslashes inside values pass",
            input: b"a=x y,z\\w",
            want: &[("a", "x y,z\\w")],
        },
        ParseCase {
            name: "utf-8 value passes",
            input: "a=olá".as_bytes(),
            want: &[("a", "olá")],
        },
        ParseCase {
            name: "repeated names all kept, in order",
            input: b"id=inner; id=outer",
            want: &[("id", "inner"), ("id", "outer")],
        },
        ParseCase {
            name: "pair without equals skipped",
            input: b"flag; a=1",
            want: &[("a", "1")],
        },
        ParseCase {
            name: "empty name skipped",
            input: b"=x; a=1",
            want: &[("a", "1")],
        },
        ParseCase {
            name: "name with a space skipped",
            input: b"my name=x; a=1",
            want: &[("a", "1")],
        },
        ParseCase {
            name: "name with a delimiter skipped",
            input: b"a(b)=x; a=1",
            want: &[("a", "1")],
        },
        ParseCase {
            name: "stray quote skipped",
            input: b"a=\"x; b=y\"; c=1",
            want: &[("c", "1")],
        },
        ParseCase {
            name: "quote inside a value skipped",
            input: b"a=x\"y; c=1",
            want: &[("c", "1")],
        },
        ParseCase {
            name: "control character skipped",
            input: b"a=x\x01y; c=1",
            want: &[("c", "1")],
        },
        ParseCase {
            name: "bytes that are not utf-8 skipped",
            input: b"a=\xff; c=1",
            want: &[("c", "1")],
        },
        ParseCase {
            name: "non-ascii name skipped",
            input: "é=1; c=1".as_bytes(),
            want: &[("c", "1")],
        },
        ParseCase {
            name: "only garbage",
            input: b";;; = ; \"",
            want: &[],
        },
    ];

    #[test]
    fn parse_cookie_string_table() {
        for c in PARSE_CASES {
            let got: Vec<(&str, &str)> = parse_cookie_string(c.input).collect();
            assert_eq!(
                got,
                c.want,
                "{}: parse_cookie_string({:?}) = {got:?}, want {:?}",
                c.name,
                String::from_utf8_lossy(c.input),
                c.want
            );
        }
    }

    #[test]
    fn names_and_values_are_validated() {
        let names: &[(&str, bool)] = &[
            ("sid", true),
            ("__Host-sid", true),
            ("a!#$%&'*+-.^_`|~9", true),
            ("", false),
            ("a b", false),
            ("a=b", false),
            ("a;b", false),
            ("a,b", false),
            ("\"a\"", false),
            ("a\tb", false),
            ("é", false),
            ("a\u{7f}", false),
        ];
        for &(name, ok) in names {
            assert_eq!(Cookie::new(name, "v").is_ok(), ok, "name {name:?}");
        }
        let values: &[(&str, bool)] = &[
            ("", true),
            ("abc123", true),
            ("!#$%&'()*+-./:<=>?@[]^_`{|}~", true),
            ("\"\"", true),
            ("\"abc\"", true),
            ("a b", false),
            ("a,b", false),
            ("a;b", false),
            ("a\\b", false),
            ("a\"b", false),
            ("\"", false),
            ("\"abc", false),
            ("\"a b\"", false),
            ("olá", false),
            ("a\nb", false),
        ];
        for &(value, ok) in values {
            assert_eq!(Cookie::new("n", value).is_ok(), ok, "value {value:?}");
        }
        let err = Cookie::new("a b", "v").unwrap_err();
        assert_eq!(
            err.status(),
            Some(crate::types::StatusCode::INTERNAL_SERVER_ERROR)
        );
    }

    #[test]
    fn set_cookie_values_exact() {
        let c = || Cookie::new("n", "v").unwrap();
        let cases: &[(&str, Cookie, &str)] = &[
            ("bare", c(), "n=v"),
            ("path", c().path("/"), "n=v; Path=/"),
            (
                "domain",
                c().domain("example.com"),
                "n=v; Domain=example.com",
            ),
            (
                "max-age in whole seconds",
                c().max_age(Duration::from_millis(90_999)),
                "n=v; Max-Age=90",
            ),
            (
                "zero max-age",
                c().max_age(Duration::ZERO),
                "n=v; Max-Age=0",
            ),
            (
                "expires",
                c().expires(HttpDate::from_unix_secs(784_111_777)),
                "n=v; Expires=Sun, 06 Nov 1994 08:49:37 GMT",
            ),
            ("secure", c().secure(true), "n=v; Secure"),
            ("secure off", c().secure(true).secure(false), "n=v"),
            ("http-only", c().http_only(true), "n=v; HttpOnly"),
            (
                "strict",
                c().same_site(SameSite::Strict),
                "n=v; SameSite=Strict",
            ),
            ("lax", c().same_site(SameSite::Lax), "n=v; SameSite=Lax"),
            (
                "none brings secure",
                c().same_site(SameSite::None),
                "n=v; Secure; SameSite=None",
            ),
            (
                "none keeps secure even when switched off",
                c().same_site(SameSite::None).secure(false),
                "n=v; Secure; SameSite=None",
            ),
            (
                "none with secure: written once",
                c().secure(true).same_site(SameSite::None),
                "n=v; Secure; SameSite=None",
            ),
            (
                "every attribute, fixed order whatever the calls' order",
                c().same_site(SameSite::Strict)
                    .http_only(true)
                    .secure(true)
                    .expires(HttpDate::from_unix_secs(0))
                    .max_age(Duration::from_secs(60))
                    .domain("a.example")
                    .path("/app"),
                "n=v; Path=/app; Domain=a.example; Max-Age=60; \
                 Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Strict",
            ),
            (
                "quoted value kept as given",
                Cookie::new("q", "\"x\"").unwrap(),
                "q=\"x\"",
            ),
            (
                "expired",
                Cookie::expired("sid").unwrap().path("/"),
                "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ),
        ];
        for (name, cookie, want) in cases {
            assert_eq!(cookie.to_string(), *want, "{name}");
        }
    }

    #[test]
    fn set_cookie_reads_back_as_a_cookie_pair() {
        // What a browser stores from `Set-Cookie` is the part before the
        // first `;`, sent back as is: a round trip through the parser.
        for value in ["", "abc", "\"q\"", "a%20b", "YWJj=="] {
            let set = Cookie::new("n", value).unwrap().path("/").to_string();
            let pair = set.split(';').next().unwrap();
            let got: Vec<_> = parse_cookie_string(pair.as_bytes()).collect();
            assert_eq!(got, [("n", value.trim_matches('"'))], "{set}");
        }
    }

    #[test]
    #[should_panic(expected = "cookie Path")]
    fn path_with_a_semicolon_panics() {
        let _ = Cookie::new("n", "v")
            .unwrap()
            .path("/; Domain=evil.example");
    }

    #[test]
    #[should_panic(expected = "cookie Domain")]
    fn empty_domain_panics() {
        let _ = Cookie::new("n", "v").unwrap().domain("");
    }

    #[test]
    #[should_panic(expected = "cookie Path")]
    fn path_with_a_newline_panics() {
        let _ = Cookie::new("n", "v").unwrap().path("/\r\nX-Injected: 1");
    }

    #[test]
    fn attribute_values_table() {
        for (value, ok) in [
            ("/", true),
            ("", true),
            ("/a b/c,d", true),
            ("/a;b", false),
            ("/a\tb", false),
            ("/\u{7f}", false),
            ("/é", false),
        ] {
            assert_eq!(is_attribute_value(value), ok, "{value:?}");
        }
    }
}
