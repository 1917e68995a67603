//! Safe request paths: from a raw request path to checked segments, or a
//! refusal, and the rules a resolved path must still obey.
//!
//! This module owns the rule "never serve anything outside the root":
//! [`parse_request_path`] admits only plain names, and [`is_contained`]
//! judges where a symbolic link led. It performs no I/O: the resolver
//! (`resolve`) applies these rules to the file system.
//!
//! How a request path becomes a file, step by step:
//! 1. The raw path (not yet decoded) must not contain an encoded separator
//!    (`%2F`, `%5C`): after decoding, it could not be told from a real one.
//! 2. It is percent-decoded **once**. A second decode is how `%252e%252e`
//!    turns into `..`; here it stays the literal name `%2e%2e`.
//! 3. The decoded path must be UTF-8 and free of NUL bytes and
//!    backslashes (a separator on Windows, and a trick on every platform).
//! 4. It is split on `/`; empty segments (`//`) are skipped. A segment
//!    that is `.` or `..`, looks like a drive (`C:`), or that the
//!    platform would not read as one plain file name is refused.
//! 5. Hidden names (a segment starting with `.`) are refused, except
//!    `.well-known` as the first segment (RFC 8615 puts it at the top of
//!    a site).
//! 6. Where symbolic links lead, the canonical path must still lie inside
//!    the canonical root and contain no hidden name ([`is_contained`]): a
//!    link that points elsewhere is answered 404, as if it did not exist.
//!
//! Steps 1–4 answer `400 Bad Request`, 5–6 `404 Not Found`.

use crate::{Error, StatusCode, uri};
use std::io;
use std::path::{Component, Path};

/// RequestPath is a request path that passed steps 1–5: the decoded
/// segments, and whether it ended with `/`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestPath {
    /// Decoded, non-empty segments, each one plain file name.
    pub(crate) segments: Vec<String>,
    /// Whether the path ended with `/` (`""`, the mount point itself, does
    /// not; `/` does).
    pub(crate) trailing_slash: bool,
}

/// The name that is allowed to be hidden, at the top of the root only.
const WELL_KNOWN: &str = ".well-known";

fn bad_request(detail: &'static str) -> Error {
    Error::with_status(StatusCode::BAD_REQUEST, detail)
}

/// Parses a raw request path ([`crate::Request::path`]: not decoded,
/// starting with `/`, or empty for the mount point) into safe segments
/// (steps 1–5 of the module docs).
///
/// # Errors
/// 400 ([`Error::Status`]) for an encoded separator, a malformed escape,
/// a path that is not UTF-8 once decoded, a NUL byte, a backslash, a dot
/// segment or a drive prefix; 404 ([`Error::NotFound`]) for a hidden name.
pub(crate) fn parse_request_path(raw: &str) -> Result<RequestPath, Error> {
    if has_encoded_separator(raw.as_bytes()) {
        return Err(bad_request("encoded path separator"));
    }
    let decoded = uri::percent_decode_bytes(raw.as_bytes())
        .ok_or(bad_request("malformed percent-encoding in path"))?;
    if decoded.contains(&0) {
        return Err(bad_request("NUL byte in path"));
    }
    if decoded.contains(&b'\\') {
        return Err(bad_request("backslash in path"));
    }
    let decoded = std::str::from_utf8(&decoded).map_err(|_| bad_request("path is not UTF-8"))?;
    if !decoded.is_empty() && !decoded.starts_with('/') {
        return Err(bad_request("path does not start with a slash"));
    }
    let mut segments = Vec::new();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        check_segment(seg).map_err(bad_request)?;
        segments.push(seg.to_owned());
    }
    if is_hidden(segments.iter().map(String::as_str)) {
        return Err(Error::NotFound);
    }
    Ok(RequestPath {
        segments,
        trailing_slash: decoded.ends_with('/'),
    })
}

/// Checks one decoded, non-empty segment that has no `/`, NUL or
/// backslash (step 4); the error is the detail of the 400.
fn check_segment(seg: &str) -> Result<(), &'static str> {
    if seg == "." || seg == ".." {
        return Err("dot segment in path");
    }
    if is_drive_prefix(seg) || (cfg!(windows) && seg.contains(':')) {
        return Err("drive prefix in path");
    }
    if !is_plain_name(Path::new(seg)) {
        return Err("path segment is not a plain file name");
    }
    Ok(())
}

/// Reports whether a directory entry's `name` could be requested: it
/// passes steps 3 and 4 (hidden names are a separate question, see
/// [`is_hidden_name`]). A listing shows only such names, so that every
/// link in it leads to the entry and none to a 400 (a Unix file may be
/// named `a\b` or `C:x`).
pub(crate) fn is_requestable_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && check_segment(name).is_ok()
}

/// Reports whether `raw` contains `%2F` or `%5C` (either case).
fn has_encoded_separator(raw: &[u8]) -> bool {
    raw.windows(3).any(|w| {
        w[0] == b'%'
            && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
                || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
    })
}

/// Reports whether `seg` starts like a drive (`C:`), which Windows would
/// read as an absolute prefix; refused everywhere so that behaviour does
/// not depend on the platform.
fn is_drive_prefix(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Reports whether `p` is exactly one normal path component.
fn is_plain_name(p: &Path) -> bool {
    let mut c = p.components();
    matches!((c.next(), c.next()), (Some(Component::Normal(_)), None))
}

/// Reports whether a sequence of names, relative to the root, contains a
/// hidden one (see [`is_hidden_name`]).
pub(crate) fn is_hidden<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    names
        .into_iter()
        .enumerate()
        .any(|(i, name)| is_hidden_name(name, i == 0))
}

/// Reports whether `name` is hidden: it starts with `.`, and is not
/// `.well-known` directly under the root (`at_root`).
pub(crate) fn is_hidden_name(name: &str, at_root: bool) -> bool {
    name.starts_with('.') && !(at_root && name == WELL_KNOWN)
}

/// Reports whether the canonical path `canonical` lies inside the
/// canonical root and names nothing hidden on its way (a symbolic link to
/// `.git` is refused like `.git` itself).
pub(crate) fn is_contained(root: &Path, canonical: &Path) -> bool {
    let Ok(rel) = canonical.strip_prefix(root) else {
        return false;
    };
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n.to_str().unwrap_or("")),
            // A canonical path has none of these below the root.
            _ => return false,
        }
    }
    !is_hidden(names)
}

/// Maps a file-system error to a response status, as Go's `toHTTPError`
/// does: not found (or a file used as a directory) → 404, permission
/// denied → 403, anything else → 500 (logged at `error` with its cause,
/// which is never sent). On Linux, a name too long for the file system
/// and a loop of symbolic links are 404 too: a client chooses the first
/// and can find the second, and neither is a fault of the server (nor
/// worth an `error` line per request).
pub(crate) fn io_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Error::NotFound,
        io::ErrorKind::PermissionDenied => {
            Error::with_status(StatusCode::FORBIDDEN, "permission denied")
        }
        _ if names_nothing(&e) => Error::NotFound,
        _ => Error::handler(e),
    }
}

/// Reports whether `e` is `ENAMETOOLONG` or `ELOOP`. (The standard
/// library names neither kind on the crate's minimum Rust version.)
#[cfg(target_os = "linux")]
fn names_nothing(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::NAMETOOLONG | Errno::LOOP)
    )
}

/// Elsewhere: see the Linux version; these errors stay 500.
#[cfg(not(target_os = "linux"))]
fn names_nothing(_: &io::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Want {
        Ok(&'static [&'static str], bool),
        Status(u16),
    }

    struct Case {
        name: &'static str,
        input: &'static str,
        want: Want,
    }

    const CASES: &[Case] = &[
        Case {
            name: "mount point",
            input: "",
            want: Want::Ok(&[], false),
        },
        Case {
            name: "root",
            input: "/",
            want: Want::Ok(&[], true),
        },
        Case {
            name: "file",
            input: "/a/b.txt",
            want: Want::Ok(&["a", "b.txt"], false),
        },
        Case {
            name: "directory",
            input: "/a/",
            want: Want::Ok(&["a"], true),
        },
        Case {
            name: "empty segments skipped",
            input: "//a//b",
            want: Want::Ok(&["a", "b"], false),
        },
        Case {
            name: "decoded once",
            input: "/caf%C3%A9.txt",
            want: Want::Ok(&["café.txt"], false),
        },
        Case {
            name: "double-encoded stays literal",
            input: "/%252e%252e/x",
            want: Want::Ok(&["%2e%2e", "x"], false),
        },
        Case {
            name: "space and plus",
            input: "/a%20b+c",
            want: Want::Ok(&["a b+c"], false),
        },
        Case {
            name: "well-known allowed",
            input: "/.well-known/security.txt",
            want: Want::Ok(&[".well-known", "security.txt"], false),
        },
        Case {
            name: "dot-dot",
            input: "/../etc/passwd",
            want: Want::Status(400),
        },
        Case {
            name: "dot-dot inside",
            input: "/a/../../b",
            want: Want::Status(400),
        },
        Case {
            name: "dot",
            input: "/./a",
            want: Want::Status(400),
        },
        Case {
            name: "encoded dot-dot",
            input: "/%2e%2e/x",
            want: Want::Status(400),
        },
        Case {
            name: "encoded slash",
            input: "/a%2fb",
            want: Want::Status(400),
        },
        Case {
            name: "encoded slash upper",
            input: "/..%2F..%2Fx",
            want: Want::Status(400),
        },
        Case {
            name: "encoded backslash",
            input: "/..%5cx",
            want: Want::Status(400),
        },
        Case {
            name: "backslash",
            input: "/a\\b",
            want: Want::Status(400),
        },
        Case {
            name: "NUL",
            input: "/a%00.txt",
            want: Want::Status(400),
        },
        Case {
            name: "overlong dot",
            input: "/%c0%ae%c0%ae/x",
            want: Want::Status(400),
        },
        Case {
            name: "malformed escape",
            input: "/a%zz",
            want: Want::Status(400),
        },
        Case {
            name: "truncated escape",
            input: "/a%2",
            want: Want::Status(400),
        },
        Case {
            name: "drive",
            input: "/C:/Windows/win.ini",
            want: Want::Status(400),
        },
        Case {
            name: "not absolute",
            input: "a/b",
            want: Want::Status(400),
        },
        Case {
            name: "dotfile",
            input: "/.env",
            want: Want::Status(404),
        },
        Case {
            name: "dot directory",
            input: "/.git/config",
            want: Want::Status(404),
        },
        Case {
            name: "nested dotfile",
            input: "/a/.htaccess",
            want: Want::Status(404),
        },
        Case {
            name: "nested well-known is hidden",
            input: "/a/.well-known/x",
            want: Want::Status(404),
        },
        Case {
            name: "dotfile inside well-known",
            input: "/.well-known/.x",
            want: Want::Status(404),
        },
        Case {
            name: "encoded dotfile",
            input: "/%2eenv",
            want: Want::Status(404),
        },
    ];

    #[test]
    fn parse_request_path_table() {
        for c in CASES {
            let got = parse_request_path(c.input)
                .map(|p| (p.segments, p.trailing_slash))
                .map_err(|e| e.status().map_or(0, |s| s.as_u16()));
            let want = match c.want {
                Want::Ok(segs, slash) => {
                    Ok((segs.iter().map(|s| (*s).to_owned()).collect(), slash))
                }
                Want::Status(n) => Err(n),
            };
            assert_eq!(
                got, want,
                "{}: parse_request_path({:?}) = {got:?}, want {want:?}",
                c.name, c.input
            );
        }
    }

    #[test]
    fn requestable_names() {
        for ok in ["a.txt", "a b", "café", "%2e%2e", "ab:c", "...", ".env"] {
            assert!(is_requestable_name(ok), "{ok:?}");
        }
        for bad in ["", ".", "..", "a\\b", "C:x", "c:", "a\0b", "a/b"] {
            assert!(!is_requestable_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn hidden_names() {
        assert!(!is_hidden([".well-known", "a"]));
        assert!(is_hidden(["a", ".well-known"]));
        assert!(is_hidden([".env"]));
        assert!(!is_hidden(["a.b", "c."]));
    }
}
