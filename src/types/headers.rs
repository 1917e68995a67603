use bytes::Bytes;
use std::fmt;

/// Headers is an ordered list of header fields (RFC 9110 §5).
///
/// Names keep the case they were received or set with, and lookups are
/// case-insensitive. Repeated fields are kept as separate entries in
/// arrival order, so `get_all` sees every line of a field that was sent
/// several times. Names and values are [`Bytes`]: the headers of a parsed
/// request share one buffer with the request head, so parsing copies
/// nothing.
///
/// # Invalid names and values
///
/// A name must be a token (RFC 9110 §5.6.2: letters, digits and
/// ``!#$%&'*+-.^_`|~``), and a value may hold no control character but
/// HTAB (§5.5): no CR, LF or NUL, which could inject a header line or end
/// the head. The setters check both, in two forms:
///
/// - [`Headers::insert`] and [`Headers::append`] (and
///   [`Response::with_header`](crate::Response::with_header)) are for the
///   names and values a program writes itself: constants, numbers, its own
///   formats. They **panic** on an invalid one, as
///   `http::HeaderValue::from_static` does: it is a bug to fix, and sending
///   it altered (or not at all) would hide it.
/// - [`Headers::try_insert`] and [`Headers::try_append`] (and
///   [`Response::try_with_header`](crate::Response::try_with_header)) are
///   for values that come from outside the program (a peer, a file name, a
///   database): they return [`InvalidHeader`] instead, which a handler can
///   turn into a `500` with `?`.
///
/// Values taken from a parsed request always pass (the parser refuses the
/// same characters), so copying a request field into a response never
/// fails. No `Headers` value ever holds such a character, so a response
/// head is written without scanning its values again.
///
/// # Examples
/// ```
/// use sockhttp::Headers;
/// let mut h = Headers::new();
/// h.append("Accept", "text/html");
/// h.append("accept", "application/json");
/// assert_eq!(h.get("ACCEPT"), Some("text/html"));
/// assert_eq!(h.get_all("Accept").count(), 2);
/// h.insert("Accept", "*/*");
/// assert_eq!(h.get_all("accept").collect::<Vec<_>>(), ["*/*"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(Bytes, Bytes)>,
}

impl Headers {
    /// Makes an empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Makes an empty header list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends a field without validation: the caller has checked name
    /// and value (the request parser does, through httparse).
    pub(crate) fn push_raw(&mut self, name: Bytes, value: Bytes) {
        self.entries.push((name, value));
    }

    /// Returns the number of field lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Reports whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Returns the first value of `name` as text, or `None` if the field is
    /// absent or its value is not UTF-8 (see [`Headers::get_bytes`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Returns the first value of `name` as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }

    /// Returns every value of `name` that is UTF-8 text, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all_bytes(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
    }

    /// Returns every value of `name` as bytes, in order.
    pub fn get_all_bytes<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }

    /// Reports whether a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// Reports whether the comma-separated token list in the fields named
    /// `name` contains `token`, compared case-insensitively
    /// (e.g. `Connection: keep-alive, Upgrade`). Parameters after `;` are
    /// ignored.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all_bytes(name).any(|v| {
            v.split(|&b| b == b',').any(|item| {
                let item = item.split(|&b| b == b';').next().unwrap_or(&[]);
                item.trim_ascii().eq_ignore_ascii_case(token.as_bytes())
            })
        })
    }

    /// Appends a field, keeping existing fields of the same name.
    ///
    /// # Panics
    /// If `name` is not a token or `value` holds a control character other
    /// than HTAB (see [invalid names and values](Headers#invalid-names-and-values));
    /// [`Headers::try_append`] returns an error instead.
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let (name, value) = (name.into(), value.into());
        if let Err(e) = check(&name, &value) {
            panic!("Headers::append({}): {e}", String::from_utf8_lossy(&name));
        }
        self.entries.push((name, value));
    }

    /// Appends a field, keeping existing fields of the same name, or
    /// refuses it, leaving the fields as they were.
    ///
    /// # Errors
    /// [`InvalidHeader`] if `name` is not a token or `value` holds a
    /// control character other than HTAB.
    pub fn try_append(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), InvalidHeader> {
        let (name, value) = (name.into(), value.into());
        check(&name, &value)?;
        self.entries.push((name, value));
        Ok(())
    }

    /// Sets a field, replacing every existing field of the same name.
    ///
    /// # Panics
    /// If `name` is not a token or `value` holds a control character other
    /// than HTAB (see [invalid names and values](Headers#invalid-names-and-values));
    /// [`Headers::try_insert`] returns an error instead.
    pub fn insert(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let (name, value) = (name.into(), value.into());
        if let Err(e) = check(&name, &value) {
            panic!("Headers::insert({}): {e}", String::from_utf8_lossy(&name));
        }
        self.replace(name, value);
    }

    /// Sets a field, replacing every existing field of the same name, or
    /// refuses it, leaving the fields as they were.
    ///
    /// # Errors
    /// [`InvalidHeader`] if `name` is not a token or `value` holds a
    /// control character other than HTAB.
    pub fn try_insert(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), InvalidHeader> {
        let (name, value) = (name.into(), value.into());
        check(&name, &value)?;
        self.replace(name, value);
        Ok(())
    }

    /// Sets a checked field, replacing every field of the same name.
    fn replace(&mut self, name: Bytes, value: Bytes) {
        match self
            .entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                self.entries[first] = (name, value);
                let mut i = first + 1;
                while i < self.entries.len() {
                    if self.entries[i]
                        .0
                        .eq_ignore_ascii_case(&self.entries[first].0)
                    {
                        self.entries.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => self.entries.push((name, value)),
        }
    }

    /// Removes every field named `name`; reports whether any was removed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        before != self.entries.len()
    }

    /// Iterates over `(name, value)` pairs in order, names as received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .map(|(n, v)| (std::str::from_utf8(n).unwrap_or(""), &v[..]))
    }

    /// Iterates over the fields with their names as bytes (tokens, so
    /// ASCII): what the response writer needs, without a UTF-8 check.
    pub(crate) fn iter_bytes(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|(n, v)| (&n[..], &v[..]))
    }
}

impl fmt::Debug for Headers {
    /// Shows names and values, but never the values of `Authorization`,
    /// `Proxy-Authorization`, `Cookie` or `Set-Cookie`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in self.iter() {
            if is_sensitive(n) {
                m.entry(&n, &"<redacted>");
            } else {
                m.entry(&n, &String::from_utf8_lossy(v));
            }
        }
        m.finish()
    }
}

/// Reports whether a field carries credentials that must never be logged.
pub(crate) fn is_sensitive(name: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ]
    .iter()
    .any(|s| name.eq_ignore_ascii_case(s))
}

/// Reports whether `b` is a `token` (RFC 9110 §5.6.2): one or more tchar.
pub(crate) fn is_token(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().fold(true, |ok, &c| ok & is_tchar(c))
}

/// `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
///  "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`
pub(crate) fn is_tchar(c: u8) -> bool {
    TCHAR[c as usize]
}

/// [`is_tchar`] as a table: every field name set on a response is checked.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        table[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    table
};

/// Reports whether `c` may not appear in a field value: a control
/// character other than HTAB (RFC 9110 §5.5: visible characters, obs-text,
/// SP and HTAB only).
pub(crate) fn is_value_ctl(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

/// Reports whether any byte of `v` [`is_value_ctl`]: with no early exit
/// and no branch per byte, so the compiler checks many bytes at a time
/// (every value set on a response is checked).
pub(crate) fn has_value_ctl(v: &[u8]) -> bool {
    v.iter().fold(false, |bad, &c| {
        bad | ((c < 0x20) & (c != b'\t')) | (c == 0x7f)
    })
}

/// Checks that `name` and `value` may be sent as a field.
fn check(name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
    if !is_token(name) {
        return Err(InvalidHeader { value: false });
    }
    if has_value_ctl(value) {
        return Err(InvalidHeader { value: true });
    }
    Ok(())
}

/// InvalidHeader is the error of [`Headers::try_insert`] and
/// [`Headers::try_append`]: a field name that is not a token, or a value
/// with a control character other than HTAB (CR, LF, NUL, …), which may
/// not be sent.
///
/// It says which of the two was wrong, never what it held: the value may
/// have come from a peer. With `?` in a handler it becomes a `500`
/// ([`Error::Handler`](crate::Error::Handler)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidHeader {
    value: bool,
}

impl InvalidHeader {
    /// Reports whether the value was invalid (else the name was).
    pub fn is_value(&self) -> bool {
        self.value
    }
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.value {
            "header field value holds a control character"
        } else {
            "header field name is not a token"
        })
    }
}

impl std::error::Error for InvalidHeader {}

/// Returns `v` with every byte that [`is_value_ctl`] turned into a space.
pub(crate) fn spaced_ctl(v: &[u8]) -> Vec<u8> {
    v.iter()
        .map(|&c| if is_value_ctl(c) { b' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tchar_table_is_rfc_9110s_tchar() {
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
            assert_eq!(is_tchar(c), want, "byte {c:#04x}");
        }
    }

    /// Invalid names and values: refused by the fallible setters (the
    /// fields untouched), a panic from the others.
    const INVALID: &[(&str, &[u8], &[u8], bool)] = &[
        ("empty name", b"", b"v", false),
        ("space in the name", b"Bad Name", b"v", false),
        ("colon in the name", b"Bad:Name", b"v", false),
        ("CR LF in the name", b"X-A\r\nX-B", b"v", false),
        ("non-ASCII name", "Caf\u{e9}".as_bytes(), b"v", false),
        ("separator in the name", b"X(A)", b"v", false),
        (
            "CR LF in the value",
            b"X-Name",
            b"a\r\nSet-Cookie: evil",
            true,
        ),
        ("bare LF in the value", b"X-Name", b"a\nb", true),
        ("bare CR in the value", b"X-Name", b"a\rb", true),
        ("NUL in the value", b"X-Name", b"a\0b", true),
        ("other control in the value", b"X-Name", b"a\x01b", true),
        ("DEL in the value", b"X-Name", b"a\x7fb", true),
    ];

    /// Valid values, sent as they are.
    const VALID: &[(&str, &[u8], &[u8])] = &[
        ("token name and plain value", b"X-Name", b"a b"),
        ("every tchar", b"!#$%&'*+-.^_`|~09AZaz", b"v"),
        ("HTAB in the value", b"X-Name", b"a\tb"),
        ("obs-text in the value", b"X-Name", "caf\u{e9}".as_bytes()),
        ("empty value", b"X-Name", b""),
    ];

    #[test]
    fn invalid_names_and_values_are_refused() {
        for &(name, n, v, is_value) in INVALID {
            let mut h = Headers::new();
            h.append("X-Name", "kept");
            let n = Bytes::from_static(n);
            let v = Bytes::from_static(v);
            let got = h.try_append(n.clone(), v.clone());
            assert_eq!(
                got,
                Err(InvalidHeader { value: is_value }),
                "{name}: try_append"
            );
            let got = h.try_insert(n.clone(), v.clone());
            assert_eq!(
                got,
                Err(InvalidHeader { value: is_value }),
                "{name}: try_insert"
            );
            assert_eq!(h.get_all("x-name").collect::<Vec<_>>(), ["kept"], "{name}");
            for set in [Headers::append, Headers::insert] {
                let mut h = h.clone();
                let (n, v) = (n.clone(), v.clone());
                let panicked =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| set(&mut h, n, v)));
                assert!(panicked.is_err(), "{name}: no panic");
            }
        }
    }

    #[test]
    fn valid_names_and_values_are_kept_as_they_are() {
        for &(name, n, v) in VALID {
            let mut h = Headers::new();
            h.try_append(Bytes::from_static(n), Bytes::from_static(v))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            h.insert(Bytes::from_static(n), Bytes::from_static(v));
            let n = std::str::from_utf8(n).unwrap();
            assert_eq!(h.get_all_bytes(n).collect::<Vec<_>>(), [v], "{name}");
        }
    }

    #[test]
    fn token_lists_are_parsed_not_substring_matched() {
        let mut h = Headers::new();
        h.append("Connection", "keep-alive, Upgrade");
        h.append("Connection", "  CLOSE ");
        h.append("X", "not-close");
        assert!(h.has_token("connection", "close"));
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("x", "close"));
    }

    #[test]
    fn debug_redacts_credentials() {
        let mut h = Headers::new();
        h.append("Cookie", "session=secret");
        h.append("Authorization", "Bearer secret");
        assert!(!format!("{h:?}").contains("secret"));
    }
}
