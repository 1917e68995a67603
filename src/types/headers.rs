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
/// Values set through [`Headers::insert`] and [`Headers::append`] are made
/// safe to send: CR, LF, NUL and every other control character but HTAB
/// become spaces (Go's `headerNewlineToSpace`, extended to RFC 9110 §5.5),
/// so a value taken from the peer can never inject a header line; a name
/// that is not a valid token is refused (the call is ignored and logged at
/// `warn`). A parsed request's values never hold such characters either
/// (the parser refuses them), so no `Headers` value ever does, and a
/// response head is written without scanning its values again.
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
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        if !is_token(&name) {
            log::warn!("header name {name:?} is not a valid token; ignored");
            return;
        }
        self.entries.push((name, sanitize_value(value.into())));
    }

    /// Sets a field, replacing every existing field of the same name.
    pub fn insert(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        if !is_token(&name) {
            log::warn!("header name {name:?} is not a valid token; ignored");
            return;
        }
        let value = sanitize_value(value.into());
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

fn sanitize_value(v: Bytes) -> Bytes {
    if has_value_ctl(&v) {
        Bytes::from(spaced_ctl(&v))
    } else {
        v
    }
}

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

    #[test]
    fn injected_newlines_become_spaces() {
        let mut h = Headers::new();
        h.insert("X-Name", "a\r\nSet-Cookie: evil");
        assert_eq!(h.get("x-name"), Some("a  Set-Cookie: evil"));
    }

    #[test]
    fn invalid_name_is_refused() {
        let mut h = Headers::new();
        h.append("Bad Name", "v");
        h.append("Bad:Name", "v");
        assert!(h.is_empty());
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
