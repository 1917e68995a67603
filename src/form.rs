//! `application/x-www-form-urlencoded`: the body an HTML form posts, and
//! the format of query strings.
//!
//! A form is `name=value` pairs joined by `&`; `+` stands for a space and
//! `%XX` escapes are percent-encoded UTF-8 bytes (the WHATWG URL
//! standard, §5 "application/x-www-form-urlencoded"). [`Form`] keeps the
//! fields in order, repeated names included (a `<select multiple>` sends
//! one field per choice).
//!
//! This module performs no I/O: [`Request::form`](crate::Request::form)
//! checks the `Content-Type`, reads the body within its limit and hands
//! the bytes here.
//!
//! # Examples
//! ```
//! use sockhttp::{Form, Method, Request};
//!
//! let form = Form::parse("name=Ana+Lu%C3%ADsa&tag=a&tag=b")?;
//! assert_eq!(form.get("name"), Some("Ana Luísa"));
//! assert_eq!(form.get_all("tag").collect::<Vec<_>>(), ["a", "b"]);
//!
//! // From a request: the Content-Type is checked, the body read and parsed.
//! let mut req = Request::builder(Method::Post, "/login")
//!     .header("Content-Type", "application/x-www-form-urlencoded")
//!     .body("user=ana&remember")
//!     .build()?;
//! let form = req.form()?;
//! assert_eq!(form.get("user"), Some("ana"));
//! assert_eq!(form.get("remember"), Some(""));
//! # Ok::<(), sockhttp::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::limits::DEFAULT_MAX_FORM_FIELDS;
use crate::types::StatusCode;
use crate::uri;
use std::fmt;

/// The media type of a urlencoded form, as browsers send it.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Form is the decoded fields of an `application/x-www-form-urlencoded`
/// body or query string, in the order they were sent.
///
/// Names may repeat: [`Form::get`] returns the first value,
/// [`Form::get_all`] every one. Names and values are compared and
/// returned exactly as decoded (case-sensitive, not trimmed).
///
/// # Examples
/// ```
/// let form = sockhttp::Form::parse("a=1&b=&a=2")?;
/// assert_eq!(form.get("a"), Some("1"));
/// assert_eq!(form.get("b"), Some(""));
/// assert_eq!(form.get("c"), None);
/// let all: Vec<(&str, &str)> = form.iter().collect();
/// assert_eq!(all, [("a", "1"), ("b", ""), ("a", "2")]);
/// # Ok::<(), sockhttp::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

/// Why a form was refused; each caller turns it into its own status.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// A malformed `%` escape, or bytes that are not UTF-8 once decoded.
    Encoding,
    /// More fields than the limit.
    TooManyFields,
}

impl Form {
    /// Makes an empty form.
    pub fn new() -> Form {
        Form::default()
    }

    /// Parses `application/x-www-form-urlencoded` bytes, accepting at most
    /// [`DEFAULT_MAX_FORM_FIELDS`] fields.
    ///
    /// Pairs are separated by `&`; empty pairs (`a=1&&b=2`, a trailing
    /// `&`) are skipped. A pair without `=` is a name with an empty value;
    /// the first `=` separates name from value (`a=b=c` is `a` → `b=c`).
    /// `+` is a space and `%XX` an escaped byte, so a literal `+` arrives
    /// as `%2B`.
    ///
    /// Unlike the WHATWG parser, which passes a malformed escape through
    /// and replaces bytes that are not UTF-8, this refuses them: a client
    /// that sends `%zz` or Latin-1 is not a browser posting a form, and a
    /// guess would hand the application a value nobody typed.
    ///
    /// # Errors
    /// [`Error::Status`] with 400 for a malformed escape (`%`, `%4`, `%zz`)
    /// or a name or value that is not UTF-8 (`%FF`); 413 for more than
    /// [`DEFAULT_MAX_FORM_FIELDS`] fields.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{Form, StatusCode};
    /// let form = Form::parse(b"q=caf%C3%A9+au+lait&x=1%2B1")?;
    /// assert_eq!(form.get("q"), Some("café au lait"));
    /// assert_eq!(form.get("x"), Some("1+1"));
    /// let err = Form::parse("q=%zz").unwrap_err();
    /// assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    /// # Ok::<(), sockhttp::Error>(())
    /// ```
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Form> {
        Form::parse_with_max_fields(input, DEFAULT_MAX_FORM_FIELDS)
    }

    /// Parses like [`Form::parse`], accepting at most `max_fields` fields.
    ///
    /// # Errors
    /// As [`Form::parse`]: 400 for bad encoding, 413 over `max_fields`.
    pub fn parse_with_max_fields(input: impl AsRef<[u8]>, max_fields: usize) -> Result<Form> {
        parse_fields(input.as_ref(), max_fields).map_err(|refusal| match refusal {
            Refusal::Encoding => Error::Status(StatusCode::BAD_REQUEST, "invalid form encoding"),
            Refusal::TooManyFields => {
                Error::Status(StatusCode::CONTENT_TOO_LARGE, "too many form fields")
            }
        })
    }

    /// Returns the first value of field `name`, if the form has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Returns every value of field `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reports whether the form has a field named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Returns the number of fields, repeated names counted each time.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Reports whether the form has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Iterates over `(name, value)` pairs in the order they were sent.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.fields.iter(),
        }
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl IntoIterator for Form {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    /// Turns the form into its owned `(name, value)` pairs, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}

impl<'a> IntoIterator for &'a Form {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iter is an iterator over the fields of a [`Form`], from [`Form::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (String, String)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        self.inner.next().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// Parses a query string as a form for
/// [`Request::query_form`](crate::Request::query_form): 400 for bad
/// encoding, and 414 (not 413) for too many fields, since what was too
/// large is the request target.
pub(crate) fn parse_query(query: &str) -> Result<Form> {
    parse_fields(query.as_bytes(), DEFAULT_MAX_FORM_FIELDS).map_err(|refusal| match refusal {
        Refusal::Encoding => Error::Status(StatusCode::BAD_REQUEST, "invalid query encoding"),
        Refusal::TooManyFields => {
            Error::Status(StatusCode::URI_TOO_LONG, "too many query parameters")
        }
    })
}

/// Splits and decodes the fields, counting them before decoding each, so
/// a body of a million empty names is refused after `max_fields + 1`.
fn parse_fields(input: &[u8], max_fields: usize) -> std::result::Result<Form, Refusal> {
    let mut fields = Vec::new();
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if fields.len() == max_fields {
            return Err(Refusal::TooManyFields);
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        let name = uri::form_decode(name).ok_or(Refusal::Encoding)?;
        let value = uri::form_decode(value).ok_or(Refusal::Encoding)?;
        fields.push((name.into_owned(), value.into_owned()));
    }
    Ok(Form { fields })
}

/// Checks that a request's `Content-Type` is a urlencoded form in UTF-8:
/// the media type compared case-insensitively, parameters allowed, and a
/// `charset` parameter, if any, `UTF-8` or `US-ASCII` (its subset).
///
/// Browsers send no charset with a urlencoded form (the encoding is the
/// page's, and the HTML standard's `_charset_` field is how a page says
/// otherwise), so a charset other than UTF-8 is a client that would have
/// its bytes misread: refused rather than guessed.
///
/// # Errors
/// [`Error::Status`] with 415 for a missing or other `Content-Type`, or
/// another charset.
pub(crate) fn check_content_type(value: Option<&str>) -> Result<()> {
    const WRONG_TYPE: Error = Error::Status(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type is not application/x-www-form-urlencoded",
    );
    let value = value.ok_or(WRONG_TYPE)?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(CONTENT_TYPE) {
        return Err(WRONG_TYPE);
    }
    for param in parts {
        let Some((name, charset)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            continue;
        }
        let charset = charset.trim();
        let charset = charset
            .strip_prefix('"')
            .and_then(|c| c.strip_suffix('"'))
            .unwrap_or(charset);
        if !["utf-8", "utf8", "us-ascii"]
            .iter()
            .any(|c| charset.eq_ignore_ascii_case(c))
        {
            return Err(Error::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "form charset is not UTF-8",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        name: &'static str,
        input: &'static str,
        /// The fields, or the refusal.
        want: std::result::Result<&'static [(&'static str, &'static str)], Refusal>,
    }

    const CASES: &[Case] = &[
        Case {
            name: "empty",
            input: "",
            want: Ok(&[]),
        },
        Case {
            name: "name only",
            input: "a",
            want: Ok(&[("a", "")]),
        },
        Case {
            name: "empty value",
            input: "a=",
            want: Ok(&[("a", "")]),
        },
        Case {
            name: "empty name",
            input: "=b",
            want: Ok(&[("", "b")]),
        },
        Case {
            name: "lone equals",
            input: "=",
            want: Ok(&[("", "")]),
        },
        Case {
            name: "empty pairs skipped",
            input: "&&",
            want: Ok(&[]),
        },
        Case {
            name: "empty pairs between and around",
            input: "&a=1&&b=2&",
            want: Ok(&[("a", "1"), ("b", "2")]),
        },
        Case {
            name: "repeated names kept in order",
            input: "a=1&b=x&a=2",
            want: Ok(&[("a", "1"), ("b", "x"), ("a", "2")]),
        },
        Case {
            name: "first equals splits",
            input: "a=b=c",
            want: Ok(&[("a", "b=c")]),
        },
        Case {
            name: "plus is a space",
            input: "+=a+b+",
            want: Ok(&[(" ", "a b ")]),
        },
        Case {
            name: "escaped plus stays a plus",
            input: "sum=1%2B1",
            want: Ok(&[("sum", "1+1")]),
        },
        Case {
            name: "utf-8 escapes",
            input: "q=%C3%A9t%C3%A9",
            want: Ok(&[("q", "été")]),
        },
        Case {
            name: "raw utf-8 passes",
            input: "q=été",
            want: Ok(&[("q", "été")]),
        },
        Case {
            name: "escaped separators are data",
            input: "k%3D=v%26w",
            want: Ok(&[("k=", "v&w")]),
        },
        Case {
            name: "lower-case hex",
            input: "a=%c3%a9",
            want: Ok(&[("a", "é")]),
        },
        Case {
            name: "bad hex",
            input: "a=%zz",
            want: Err(Refusal::Encoding),
        },
        Case {
            name: "bad escape in a name",
            input: "%zz=1",
            want: Err(Refusal::Encoding),
        },
        Case {
            name: "truncated escape",
            input: "a=%4",
            want: Err(Refusal::Encoding),
        },
        Case {
            name: "lone percent",
            input: "a=100%",
            want: Err(Refusal::Encoding),
        },
        Case {
            name: "escape of a byte that is not utf-8",
            input: "a=%FF",
            want: Err(Refusal::Encoding),
        },
        Case {
            name: "half a utf-8 sequence",
            input: "a=%C3",
            want: Err(Refusal::Encoding),
        },
        Case {
            name: "a bad pair after good ones refuses the form",
            input: "a=1&b=%zz",
            want: Err(Refusal::Encoding),
        },
    ];

    #[test]
    fn parse_fields_table() {
        for c in CASES {
            let got = parse_fields(c.input.as_bytes(), DEFAULT_MAX_FORM_FIELDS);
            let got: std::result::Result<Vec<(&str, &str)>, &Refusal> = match &got {
                Ok(form) => Ok(form.iter().collect()),
                Err(r) => Err(r),
            };
            let want = c.want.as_ref().map(|w| w.to_vec());
            assert_eq!(
                got, want,
                "{}: parse({:?}) = {got:?}, want {want:?}",
                c.name, c.input
            );
        }
    }

    #[test]
    fn field_limit_counts_fields_not_separators() {
        let at_limit = "a&".repeat(3);
        assert_eq!(parse_fields(at_limit.as_bytes(), 3).map(|f| f.len()), Ok(3));
        // Empty pairs are not fields, however many there are.
        let sparse = format!("a{}b{}c", "&".repeat(10_000), "&".repeat(10_000));
        assert_eq!(parse_fields(sparse.as_bytes(), 3).map(|f| f.len()), Ok(3));
        assert_eq!(
            parse_fields(b"a&b&c&d", 3),
            Err(Refusal::TooManyFields),
            "one over"
        );
        // The limit is checked before a field is decoded: the fourth
        // field's bad escape is never looked at.
        assert_eq!(parse_fields(b"a&b&c&%zz", 3), Err(Refusal::TooManyFields));
        assert_eq!(parse_fields(b"", 0).map(|f| f.len()), Ok(0));
        assert_eq!(parse_fields(b"a", 0), Err(Refusal::TooManyFields));
    }

    #[test]
    fn default_field_limit_and_statuses() {
        let ok = "x=1&".repeat(DEFAULT_MAX_FORM_FIELDS);
        assert_eq!(Form::parse(&ok).unwrap().len(), DEFAULT_MAX_FORM_FIELDS);
        let over = format!("{ok}x=1");
        let status = |r: Result<Form>| r.unwrap_err().status();
        assert_eq!(
            status(Form::parse(&over)),
            Some(StatusCode::CONTENT_TOO_LARGE)
        );
        assert_eq!(status(parse_query(&over)), Some(StatusCode::URI_TOO_LONG));
        assert_eq!(status(Form::parse("%zz")), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status(parse_query("%zz")), Some(StatusCode::BAD_REQUEST));
        // A well-framed request with bad content keeps its connection.
        assert!(!Form::parse(&over).unwrap_err().closes_connection());
        assert!(!Form::parse("%zz").unwrap_err().closes_connection());
    }

    #[test]
    fn form_accessors() {
        let form = Form::parse("a=1&b=2&a=3").unwrap();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("A"), None, "names are case-sensitive");
        assert_eq!(form.get_all("a").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(form.get_all("z").count(), 0);
        assert!(form.contains("b") && !form.contains("c"));
        assert_eq!((form.len(), form.is_empty()), (3, false));
        assert!(Form::new().is_empty());
        let borrowed: Vec<(&str, &str)> = (&form).into_iter().collect();
        assert_eq!(borrowed, [("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(
            format!("{form:?}"),
            r#"[("a", "1"), ("b", "2"), ("a", "3")]"#
        );
        let owned: Vec<(String, String)> = form.into_iter().collect();
        assert_eq!(owned[2], ("a".to_owned(), "3".to_owned()));
    }

    #[test]
    fn content_type_table() {
        let cases: &[(Option<&str>, bool)] = &[
            (Some("application/x-www-form-urlencoded"), true),
            (Some("Application/X-WWW-Form-URLEncoded"), true),
            (
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                true,
            ),
            (
                Some("application/x-www-form-urlencoded;charset=utf-8"),
                true,
            ),
            (
                Some("application/x-www-form-urlencoded; charset=\"utf-8\""),
                true,
            ),
            (
                Some("application/x-www-form-urlencoded ; Charset = US-ASCII"),
                true,
            ),
            (Some("application/x-www-form-urlencoded; boundary=x"), true),
            (
                Some("application/x-www-form-urlencoded; charset=ISO-8859-1"),
                false,
            ),
            (Some("application/x-www-form-urlencoded; charset="), false),
            (Some("application/x-www-form-urlencodedx"), false),
            (Some("multipart/form-data; boundary=x"), false),
            (Some("application/json"), false),
            (Some("text/plain"), false),
            (Some(""), false),
            (None, false),
        ];
        for &(value, ok) in cases {
            let got = check_content_type(value);
            match (ok, &got) {
                (true, Ok(())) => {}
                (false, Err(e)) => assert_eq!(
                    e.status(),
                    Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                    "{value:?}"
                ),
                _ => panic!("check_content_type({value:?}) = {got:?}, want ok = {ok}"),
            }
        }
    }
}
