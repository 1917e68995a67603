//! Conditional requests (RFC 9110 §13): validators, entity-tag
//! comparison, and the evaluation of `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range`.
//!
//! This module performs no I/O: it compares header values with the
//! validators of a file that the caller has already looked at.
//!
//! [`evaluate`] follows the order of RFC 9110 §13.2.2 step by step, as Go's
//! `checkPreconditions` does; its comments quote the steps.

use crate::{Headers, HttpDate, Method};
use std::time::SystemTime;

/// Validators are what a response says about the version of a file it
/// carries: an entity tag and a modification date, either of which may be
/// missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Validators {
    /// A strong entity tag with its quotes, e.g. `"2f-18c2a1b2d3e4f5a6"`.
    pub(crate) etag: Option<String>,
    /// The `Last-Modified` date.
    pub(crate) last_modified: Option<HttpDate>,
}

impl Validators {
    /// Derives validators from a file's length and modification time.
    ///
    /// The entity tag is **strong**: `"<length hex>-<mtime in ns hex>"`
    /// (with `suffix` appended inside the quotes, to tell a precompressed
    /// variant apart). Any write that changes the content changes the
    /// length or the nanosecond modification time, so two files with the
    /// same tag have, in practice, the same bytes; that is what a strong
    /// validator promises, and what `If-Range` and `If-Match` require
    /// (nginx and Apache derive theirs the same way, from coarser times).
    ///
    /// `Last-Modified` is the modification time in whole seconds, no later
    /// than `now` (RFC 9110 §8.8.2.1: a date in the future is replaced by
    /// the message's origination date); a time at or before the Unix epoch
    /// is treated as unknown, since it usually is (Go does the same).
    pub(crate) fn from_file(
        len: u64,
        modified: Option<SystemTime>,
        now: SystemTime,
        suffix: &str,
    ) -> Validators {
        let since_epoch = modified.and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok());
        let etag = since_epoch.map(|d| entity_tag(len, d.as_nanos(), suffix));
        let last_modified = modified
            .map(|m| HttpDate::from_system_time(m.min(now)))
            .filter(|d| d.unix_secs() > 0);
        Validators {
            etag,
            last_modified,
        }
    }
}

/// Formats the entity tag `"{len:x}-{nanos:x}{suffix}"` into a string of
/// exactly its length, without the formatting machinery: it is made for
/// every file served, and a string with no spare room becomes the field
/// value without a copy.
fn entity_tag(len: u64, nanos: u128, suffix: &str) -> String {
    fn hex(mut n: u128, out: &mut [u8; 32]) -> &[u8] {
        let mut i = out.len();
        loop {
            i -= 1;
            out[i] = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                return &out[i..];
            }
        }
    }
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    let (len, nanos) = (hex(u128::from(len), &mut a), hex(nanos, &mut b));
    let mut tag = Vec::with_capacity(len.len() + nanos.len() + suffix.len() + 3);
    tag.push(b'"');
    tag.extend_from_slice(len);
    tag.push(b'-');
    tag.extend_from_slice(nanos);
    tag.extend_from_slice(suffix.as_bytes());
    tag.push(b'"');
    String::from_utf8(tag).unwrap_or_default()
}

/// Precondition is the outcome of evaluating the conditional header
/// fields of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Every condition holds (or there was none): go on, and look at
    /// `Range`.
    Proceed,
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// Evaluates the preconditions of a `method` request with `headers`
/// against the validators of the selected representation, in the order of
/// RFC 9110 §13.2.2. `If-Range` is not a precondition; see [`if_range_holds`].
pub(crate) fn evaluate(method: &Method, headers: &Headers, v: &Validators) -> Precondition {
    let get_or_head = matches!(method, Method::Get | Method::Head);
    // "1. When recipient is the origin server and If-Match is present,
    //  evaluate the If-Match precondition: if true, continue to step 3;
    //  if false, respond 412 (Precondition Failed) [...]"
    if headers.contains("if-match") {
        if !if_match_holds(headers, v) {
            return Precondition::Failed;
        }
    } else if let Some(date) = single_date(headers, "if-unmodified-since") {
        // "2. When recipient is the origin server, If-Match is not present,
        //  and If-Unmodified-Since is present, evaluate the
        //  If-Unmodified-Since precondition: if true, continue to step 3;
        //  if false, respond 412 (Precondition Failed) [...]"
        // §13.1.4: ignored when the resource has no modification date.
        if v.last_modified.is_some_and(|lm| lm > date) {
            return Precondition::Failed;
        }
    }
    // "3. When If-None-Match is present, evaluate the If-None-Match
    //  precondition: if true, continue to step 5; if false for GET/HEAD,
    //  respond 304 (Not Modified); if false for other methods, respond
    //  412 (Precondition Failed)"
    if headers.contains("if-none-match") {
        if if_none_match_matches(headers, v) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head {
        // "4. When the method is GET or HEAD, If-None-Match is not present,
        //  and If-Modified-Since is present, evaluate the
        //  If-Modified-Since precondition: if true, continue to step 5; if
        //  false, respond 304 (Not Modified)"
        // §13.1.3: false when "the selected representation's last
        // modification date is earlier or equal to the date provided".
        let since = single_date(headers, "if-modified-since");
        if let (Some(date), Some(lm)) = (since, v.last_modified) {
            if lm <= date {
                return Precondition::NotModified;
            }
        }
    }
    // "5. When the method is GET and both Range and If-Range are present,
    //  evaluate the If-Range precondition" — done by the range step.
    Precondition::Proceed
}

/// Reports whether `If-Range` lets the `Range` of a request apply
/// (RFC 9110 §13.1.5). True when the field is absent. Otherwise, quoting
/// the RFC's evaluation:
/// "1. If the field value is an entity tag, evaluate the condition using
/// the strong comparison function (a weak tag never matches). 2. If the
/// HTTP-date validator provided exactly matches the Last-Modified field
/// value for the selected representation, the condition is true.
/// 3. Otherwise, the condition is false." A false condition means the
/// whole representation is sent with 200.
pub(crate) fn if_range_holds(headers: &Headers, v: &Validators) -> bool {
    let mut values = headers.get_all_bytes("if-range");
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match (parse_entity_tag(value), &v.etag) {
            (Some((tag, rest)), Some(current)) if rest.trim().is_empty() => {
                !tag.weak && tag.opaque == current.as_str()
            }
            _ => false,
        };
    }
    match (HttpDate::parse(value), v.last_modified) {
        (Some(date), Some(lm)) => date == lm,
        _ => false,
    }
}

/// Evaluates `If-Match` (RFC 9110 §13.1.1): `*` holds (the file exists);
/// a list holds if one member matches the current tag by the strong
/// comparison. A malformed list holds for nothing.
fn if_match_holds(headers: &Headers, v: &Validators) -> bool {
    match parse_field(headers, "if-match") {
        TagList::Any => true,
        TagList::Tags(tags) => v
            .etag
            .as_deref()
            .is_some_and(|current| tags.iter().any(|t| !t.weak && t.opaque == current)),
    }
}

/// Evaluates whether `If-None-Match` (RFC 9110 §13.1.2) *matches*, which
/// makes the precondition false: `*` matches (the file exists); a list
/// matches if one member matches the current tag by the weak comparison
/// ("A recipient MUST use the weak comparison function").
fn if_none_match_matches(headers: &Headers, v: &Validators) -> bool {
    match parse_field(headers, "if-none-match") {
        TagList::Any => true,
        TagList::Tags(tags) => v
            .etag
            .as_deref()
            .is_some_and(|current| tags.iter().any(|t| t.opaque == current)),
    }
}

/// Returns the date in field `name` when there is exactly one valid
/// HTTP-date in it; otherwise `None`, meaning the field is ignored
/// (RFC 9110 §13.1.3: "A recipient MUST ignore the If-Modified-Since
/// header field if the received field-value is not a valid HTTP-date, or
/// if the field-value has more than one member").
fn single_date(headers: &Headers, name: &str) -> Option<HttpDate> {
    let mut values = headers.get_all(name);
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    HttpDate::parse(first.trim())
}

/// EntityTag is one parsed `entity-tag` (RFC 9110 §8.8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntityTag<'a> {
    /// Whether it had the `W/` prefix.
    pub(crate) weak: bool,
    /// The `opaque-tag`, quotes included.
    pub(crate) opaque: &'a str,
}

/// TagList is the value of `If-Match` or `If-None-Match`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TagList<'a> {
    /// `*`.
    Any,
    /// `1#entity-tag`; empty if malformed (so that nothing matches).
    Tags(Vec<EntityTag<'a>>),
}

/// Parses every line of field `name` as `"*" / #entity-tag`. A line that
/// is malformed contributes nothing from the point of the error on (Go's
/// `scanETag` stops the same way).
fn parse_field<'a>(headers: &'a Headers, name: &'a str) -> TagList<'a> {
    let mut tags = Vec::new();
    for raw in headers.get_all_bytes(name) {
        let Ok(line) = std::str::from_utf8(raw) else {
            continue;
        };
        match parse_tag_list(line) {
            TagList::Any => return TagList::Any,
            TagList::Tags(t) => tags.extend(t),
        }
    }
    TagList::Tags(tags)
}

/// Parses one field line: `*`, or a comma-separated list of entity tags
/// with optional whitespace and empty elements (RFC 9110 §5.6.1).
pub(crate) fn parse_tag_list(line: &str) -> TagList<'_> {
    let trimmed = line.trim_matches([' ', '\t']);
    if trimmed == "*" {
        return TagList::Any;
    }
    let mut tags = Vec::new();
    let mut rest = trimmed;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let Some((tag, after)) = parse_entity_tag(rest) else {
            break;
        };
        tags.push(tag);
        let after = after.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            break;
        }
        rest = after;
    }
    TagList::Tags(tags)
}

/// Parses one `entity-tag = [ weak ] opaque-tag` at the start of `s`;
/// returns it and what follows. `etagc = %x21 / %x23-7E / obs-text`.
pub(crate) fn parse_entity_tag(s: &str) -> Option<(EntityTag<'_>, &str)> {
    let (weak, body) = match s.strip_prefix("W/") {
        Some(b) => (true, b),
        None => (false, s),
    };
    let inner = body.strip_prefix('"')?;
    let end = inner.find('"')?;
    if !inner.as_bytes()[..end]
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    let opaque = &body[..end + 2];
    Some((EntityTag { weak, opaque }, &body[end + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_are_formatted_as_format_would() {
        for (len, nanos, suffix) in [
            (0, 0, ""),
            (1, 15, ""),
            (4096, 1_764_000_000_123_456_789, "-gz"),
            (u64::MAX, u128::MAX, ""),
        ] {
            let tag = entity_tag(len, nanos, suffix);
            assert_eq!(tag, format!("\"{len:x}-{nanos:x}{suffix}\""));
            assert_eq!(tag.len(), tag.capacity(), "no spare room: {tag}");
        }
    }

    const ETAG: &str = "\"a-1\"";
    /// Sun, 06 Nov 1994 08:49:37 GMT
    const LM: u64 = 784_111_777;

    fn validators() -> Validators {
        Validators {
            etag: Some(ETAG.to_owned()),
            last_modified: Some(HttpDate::from_unix_secs(LM)),
        }
    }

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.append(n.to_string(), v.to_string());
        }
        h
    }

    /// Header fields of one table row.
    type Fields = &'static [(&'static str, &'static str)];

    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const EXACT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    #[test]
    fn evaluate_table() {
        use Precondition::*;
        let cases: &[(&str, Method, Fields, Precondition)] = &[
            ("none", Method::Get, &[], Proceed),
            (
                "INM match",
                Method::Get,
                &[("If-None-Match", ETAG)],
                NotModified,
            ),
            (
                "INM weak match",
                Method::Get,
                &[("If-None-Match", "W/\"a-1\"")],
                NotModified,
            ),
            (
                "INM list",
                Method::Get,
                &[("If-None-Match", "\"x\", W/\"y\" ,\"a-1\"")],
                NotModified,
            ),
            (
                "INM two lines",
                Method::Get,
                &[("If-None-Match", "\"x\""), ("If-None-Match", ETAG)],
                NotModified,
            ),
            (
                "INM star",
                Method::Get,
                &[("If-None-Match", "*")],
                NotModified,
            ),
            (
                "INM other",
                Method::Get,
                &[("If-None-Match", "\"b-2\"")],
                Proceed,
            ),
            (
                "INM unquoted",
                Method::Get,
                &[("If-None-Match", "a-1")],
                Proceed,
            ),
            (
                "INM on HEAD",
                Method::Head,
                &[("If-None-Match", ETAG)],
                NotModified,
            ),
            (
                "INM match on POST",
                Method::Post,
                &[("If-None-Match", ETAG)],
                Failed,
            ),
            (
                "IMS exact",
                Method::Get,
                &[("If-Modified-Since", EXACT)],
                NotModified,
            ),
            (
                "IMS after",
                Method::Get,
                &[("If-Modified-Since", AFTER)],
                NotModified,
            ),
            (
                "IMS before",
                Method::Get,
                &[("If-Modified-Since", BEFORE)],
                Proceed,
            ),
            (
                "IMS invalid",
                Method::Get,
                &[("If-Modified-Since", "yesterday")],
                Proceed,
            ),
            (
                "IMS twice",
                Method::Get,
                &[("If-Modified-Since", AFTER), ("If-Modified-Since", AFTER)],
                Proceed,
            ),
            (
                "IMS on POST",
                Method::Post,
                &[("If-Modified-Since", AFTER)],
                Proceed,
            ),
            (
                "INM wins over IMS",
                Method::Get,
                &[("If-None-Match", "\"b\""), ("If-Modified-Since", AFTER)],
                Proceed,
            ),
            ("IM match", Method::Get, &[("If-Match", ETAG)], Proceed),
            ("IM star", Method::Get, &[("If-Match", "*")], Proceed),
            (
                "IM list",
                Method::Get,
                &[("If-Match", "\"x\", \"a-1\"")],
                Proceed,
            ),
            ("IM other", Method::Get, &[("If-Match", "\"b\"")], Failed),
            (
                "IM weak is not strong",
                Method::Get,
                &[("If-Match", "W/\"a-1\"")],
                Failed,
            ),
            ("IM malformed", Method::Get, &[("If-Match", "a-1")], Failed),
            (
                "IUS before",
                Method::Get,
                &[("If-Unmodified-Since", BEFORE)],
                Failed,
            ),
            (
                "IUS exact",
                Method::Get,
                &[("If-Unmodified-Since", EXACT)],
                Proceed,
            ),
            (
                "IUS invalid",
                Method::Get,
                &[("If-Unmodified-Since", "x")],
                Proceed,
            ),
            (
                "IM holds, IUS ignored",
                Method::Get,
                &[("If-Match", ETAG), ("If-Unmodified-Since", BEFORE)],
                Proceed,
            ),
            (
                "IM fails before INM",
                Method::Get,
                &[("If-Match", "\"b\""), ("If-None-Match", ETAG)],
                Failed,
            ),
            (
                "IUS fails before INM",
                Method::Get,
                &[("If-Unmodified-Since", BEFORE), ("If-None-Match", ETAG)],
                Failed,
            ),
            (
                "IM holds then INM",
                Method::Get,
                &[("If-Match", ETAG), ("If-None-Match", ETAG)],
                NotModified,
            ),
        ];
        for (name, method, fields, want) in cases {
            let got = evaluate(method, &headers(fields), &validators());
            assert_eq!(
                got, *want,
                "{name}: evaluate({method} {fields:?}) = {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn no_validators() {
        let v = Validators {
            etag: None,
            last_modified: None,
        };
        let h = |f: &[(&str, &str)]| headers(f);
        assert_eq!(
            evaluate(&Method::Get, &h(&[("If-Match", "*")]), &v),
            Precondition::Proceed
        );
        assert_eq!(
            evaluate(&Method::Get, &h(&[("If-Match", ETAG)]), &v),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(&Method::Get, &h(&[("If-None-Match", "*")]), &v),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(&Method::Get, &h(&[("If-Modified-Since", AFTER)]), &v),
            Precondition::Proceed
        );
        assert_eq!(
            evaluate(&Method::Get, &h(&[("If-Unmodified-Since", BEFORE)]), &v),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_range_table() {
        let cases: &[(&str, Fields, bool)] = &[
            ("absent", &[], true),
            ("strong match", &[("If-Range", ETAG)], true),
            ("weak tag", &[("If-Range", "W/\"a-1\"")], false),
            ("other tag", &[("If-Range", "\"b\"")], false),
            (
                "tag list is not allowed",
                &[("If-Range", "\"a-1\", \"b\"")],
                false,
            ),
            ("exact date", &[("If-Range", EXACT)], true),
            ("later date", &[("If-Range", AFTER)], false),
            ("earlier date", &[("If-Range", BEFORE)], false),
            ("garbage", &[("If-Range", "soon")], false),
            ("twice", &[("If-Range", ETAG), ("If-Range", ETAG)], false),
        ];
        for (name, fields, want) in cases {
            let got = if_range_holds(&headers(fields), &validators());
            assert_eq!(
                got, *want,
                "{name}: if_range_holds({fields:?}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn entity_tag_syntax() {
        assert_eq!(parse_tag_list(" * "), TagList::Any);
        assert_eq!(
            parse_tag_list(", \"a\",, W/\"b\" ,"),
            TagList::Tags(vec![
                EntityTag {
                    weak: false,
                    opaque: "\"a\""
                },
                EntityTag {
                    weak: true,
                    opaque: "\"b\""
                },
            ])
        );
        assert_eq!(
            parse_tag_list("\"a\" junk, \"b\""),
            TagList::Tags(vec![EntityTag {
                weak: false,
                opaque: "\"a\""
            }])
        );
        assert_eq!(parse_tag_list("\"unterminated"), TagList::Tags(vec![]));
        assert_eq!(parse_tag_list("\"sp ace\""), TagList::Tags(vec![]));
        assert_eq!(parse_tag_list("w/\"lower\""), TagList::Tags(vec![]));
    }

    #[test]
    fn validators_from_file() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(LM, 5);
        let v = Validators::from_file(255, Some(t), SystemTime::now(), "");
        assert_eq!(
            v.etag.as_deref(),
            Some(format!("\"ff-{:x}\"", u128::from(LM) * 1_000_000_000 + 5).as_str())
        );
        assert_eq!(v.last_modified, Some(HttpDate::from_unix_secs(LM)));
        let gz = Validators::from_file(255, Some(t), SystemTime::now(), "-gz");
        assert_ne!(gz.etag, v.etag);
        let future = Validators::from_file(
            1,
            Some(t),
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100),
            "",
        );
        assert_eq!(future.last_modified, Some(HttpDate::from_unix_secs(100)));
        let unknown = Validators::from_file(1, None, SystemTime::now(), "");
        assert_eq!(
            unknown,
            Validators {
                etag: None,
                last_modified: None
            }
        );
        let epoch = Validators::from_file(1, Some(SystemTime::UNIX_EPOCH), SystemTime::now(), "");
        assert_eq!(epoch.last_modified, None);
    }
}
