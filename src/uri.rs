//! Percent-encoding (RFC 3986 §2.1) and query strings, for paths and
//! parameters.
//!
//! Decoding happens once and says when it fails, so a caller can refuse a
//! malformed path instead of guessing (a second decode is how `%252e%252e`
//! turns into `..`). This module performs no I/O.

use std::borrow::Cow;

/// Decodes `%XX` escapes; returns `None` for a malformed escape (`%`,
/// `%4`, `%zz`). No other byte is changed: `+` stays `+` in a path.
///
/// # Examples
/// ```
/// use sockhttp::uri::percent_decode_bytes;
/// assert_eq!(percent_decode_bytes(b"a%20b").as_deref(), Some(&b"a b"[..]));
/// assert_eq!(percent_decode_bytes(b"%zz"), None);
/// ```
pub fn percent_decode_bytes(input: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !input.contains(&b'%') {
        return Some(Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hi = hex(*input.get(i + 1)?)?;
            let lo = hex(*input.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(Cow::Owned(out))
}

/// Decodes `%XX` escapes into text; returns `None` for a malformed escape
/// or a result that is not UTF-8.
///
/// # Examples
/// ```
/// use sockhttp::uri::percent_decode;
/// assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
/// assert_eq!(percent_decode("%FF"), None);
/// ```
pub fn percent_decode(input: &str) -> Option<Cow<'_, str>> {
    match percent_decode_bytes(input.as_bytes())? {
        Cow::Borrowed(_) => Some(Cow::Borrowed(input)),
        Cow::Owned(v) => String::from_utf8(v).ok().map(Cow::Owned),
    }
}

/// Encodes every byte outside RFC 3986's `unreserved` set
/// (`ALPHA / DIGIT / "-" / "." / "_" / "~"`), so the result is safe as one
/// path segment or query value.
///
/// # Examples
/// ```
/// assert_eq!(sockhttp::uri::percent_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
/// ```
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    out
}

/// Percent-encodes the bytes that may appear nowhere in a URI (RFC 3986
/// §2): controls, space and non-ASCII. Every other byte, `%` included, is
/// kept, so a reference that is already encoded stays as it is; what
/// comes out is always a valid header field value.
pub(crate) fn encode_uri_reference(input: &str) -> Cow<'_, str> {
    if input.bytes().all(|b| b.is_ascii_graphic()) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len() + 8);
    for &b in input.as_bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    Cow::Owned(out)
}

/// Iterates over the `name=value` pairs of a query string in
/// `application/x-www-form-urlencoded` style: `&`-separated, `+` means a
/// space, escapes decoded. A pair that does not decode is passed over.
///
/// # Examples
/// ```
/// let pairs: Vec<_> = sockhttp::uri::query_pairs("a=1&b=x+y&c&d=%41").collect();
/// assert_eq!(pairs, [("a".into(), "1".into()), ("b".into(), "x y".into()),
///                    ("c".into(), "".into()), ("d".into(), "A".into())]);
/// ```
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((
                form_decode(k.as_bytes())?.into_owned(),
                form_decode(v.as_bytes())?.into_owned(),
            ))
        })
}

/// Decodes one name or value of `application/x-www-form-urlencoded` text:
/// `+` is a space, then `%XX` escapes are decoded (so `%2B` stays a `+`);
/// `None` for a malformed escape or a result that is not UTF-8. The one
/// decoder of query strings and form bodies ([`crate::form`]).
pub(crate) fn form_decode(input: &[u8]) -> Option<Cow<'_, str>> {
    if !input.contains(&b'+') {
        return match percent_decode_bytes(input)? {
            Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Cow::Owned(v) => String::from_utf8(v).ok().map(Cow::Owned),
        };
    }
    let spaced: Vec<u8> = input
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded = percent_decode_bytes(&spaced)?.into_owned();
    String::from_utf8(decoded).ok().map(Cow::Owned)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
