//! Safe path resolution: from a request path to a file or directory that
//! is inside the root, or a refusal.
//!
//! This module owns the rule "never serve anything outside the root". It
//! performs no socket I/O; [`resolve`] reads the file system (it resolves
//! symbolic links), [`parse_request_path`] is pure.
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
//! 6. The segments are appended to the canonical root one at a time (never
//!    `Path::join` of a string that could be absolute), the result is
//!    canonicalized (every symbolic link resolved), and it must still lie
//!    inside the canonical root and contain no hidden name: a symbolic
//!    link that points elsewhere is answered 404, as if it did not exist.
//!
//! Steps 1–4 answer `400 Bad Request`, 5–6 `404 Not Found`.
//!
//! The check and the later `open` are two steps: whoever can swap a
//! directory for a symbolic link inside the root between them can make
//! the server follow it. Such a person can already publish any file by
//! copying it into the root, so the threat model is a remote client,
//! not a local writer.

use crate::{Error, StatusCode, uri};
#[cfg(target_os = "linux")]
use rustix::fd::OwnedFd;
#[cfg(target_os = "linux")]
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

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

/// Canonicalizes the root: the base every resolved path must stay under.
///
/// # Errors
/// 500 if the root does not exist or cannot be read (logged at `warn`:
/// the server is misconfigured, not the client wrong).
pub(crate) fn canonical_root(root: &Path) -> Result<PathBuf, Error> {
    std::fs::canonicalize(root).map_err(|e| {
        log::warn!("static root {} is unavailable: {e}", root.display());
        Error::with_status(StatusCode::INTERNAL_SERVER_ERROR, "static root unavailable")
    })
}

/// Resolves `segments` under the canonical root `root` (step 6): returns
/// the canonical path, which is inside `root`.
///
/// # Errors
/// 404 if it does not exist or escapes the root; otherwise as
/// [`io_error`].
pub(crate) fn resolve(root: &Path, segments: &[String]) -> Result<PathBuf, Error> {
    let mut joined = root.to_path_buf();
    for seg in segments {
        joined.push(seg);
    }
    let canonical = std::fs::canonicalize(&joined).map_err(io_error)?;
    if !is_contained(root, &canonical) {
        log::debug!(
            "{} resolves outside the static root; refused",
            joined.display()
        );
        return Err(Error::NotFound);
    }
    Ok(canonical)
}

/// Opens `rel` (checked segments, see [`relative`]) under the root
/// directory `root` with one
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (Linux 5.6): the
/// kernel refuses to leave the root and to follow any symbolic link on
/// the way, so the path opened is exactly the root and the checked
/// segments, with no `readlink` per component and no window between the
/// check and the open. `None` when this cannot decide: a symbolic link is
/// on the way (the caller resolves it the careful way, [`resolve`]), or
/// the kernel lacks `openat2`. Opened non-blocking, so a FIFO never
/// blocks the worker (the caller refuses anything but files and
/// directories).
#[cfg(target_os = "linux")]
pub(crate) fn open_plain(root: &OwnedFd, rel: &str) -> Option<io::Result<File>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
    use rustix::io::Errno;
    let opened = openat2(
        root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    );
    match opened {
        Ok(fd) => Some(Ok(File::from(fd))),
        // A link on the way (or a loop of them), a kernel without
        // openat2, or one that refuses it here: the careful way decides.
        Err(Errno::LOOP | Errno::NOSYS | Errno::XDEV | Errno::AGAIN | Errno::PERM) => None,
        Err(e) => Some(Err(e.into())),
    }
}

/// Reports whether `rel` (see [`relative`]) names a regular file under
/// `root` (Linux):
/// `None` when a symbolic link is there, or the answer is unclear, so
/// that the caller decides the careful way.
#[cfg(target_os = "linux")]
pub(crate) fn is_plain_file(root: &OwnedFd, rel: &str) -> Option<bool> {
    use rustix::fs::{AtFlags, FileType, statat};
    use rustix::io::Errno;
    match statat(root, rel, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Some(true),
            FileType::Symlink => None,
            _ => Some(false),
        },
        Err(Errno::NOENT | Errno::NOTDIR) => Some(false),
        Err(_) => None,
    }
}

/// Opens the root directory, for [`open_plain`] (Linux).
#[cfg(target_os = "linux")]
pub(crate) fn open_root(root: &Path) -> Option<OwnedFd> {
    use rustix::fs::{Mode, OFlags, open};
    open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Joins checked segments into a relative path (`.` for the root), with
/// room to add the `.gz` of a sibling without growing.
#[cfg(target_os = "linux")]
pub(crate) fn relative(segments: &[String]) -> String {
    if segments.is_empty() {
        return ".".to_owned();
    }
    let len: usize = segments.iter().map(|s| s.len() + 1).sum();
    let mut rel = String::with_capacity(len + GZ.len());
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            rel.push('/');
        }
        rel.push_str(s);
    }
    rel
}

/// The suffix of a precompressed sibling.
#[cfg(target_os = "linux")]
pub(crate) const GZ: &str = ".gz";

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
        _ if io_error_is_not_found(&e) => Error::NotFound,
        io::ErrorKind::PermissionDenied => {
            Error::with_status(StatusCode::FORBIDDEN, "permission denied")
        }
        _ if names_nothing(&e) => Error::NotFound,
        _ => Error::handler(e),
    }
}

/// Reports whether `e` says the name does not exist (or a file stands
/// where a directory should).
pub(crate) fn io_error_is_not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
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
