//! `multipart/byteranges` bodies (RFC 9110 §14.6): the answer to a
//! request for several ranges, laid out as part heads in memory between
//! ranges of the open file ([`Body::Segments`](crate::Body::Segments)), so
//! that the server sends the ranges with `sendfile` and knows the exact
//! `Content-Length` before the first byte.
//!
//! This module reads no file and touches no socket: it lays out bytes
//! and numbers. Only [`boundary`] has state (a counter).
//!
//! The body, after RFC 9110 §14.6 and RFC 2046 §5.1.1 (each delimiter
//! after the first begins with the CRLF that ends the part before it),
//! the layout Go's `serveContent` writes through `mime/multipart`:
//! ```text
//! --BOUNDARY CRLF
//! Content-Type: text/plain CRLF
//! Content-Range: bytes 0-9/100 CRLF
//! CRLF
//! <bytes 0-9 of the file>
//! CRLF --BOUNDARY CRLF
//! Content-Type: text/plain CRLF
//! Content-Range: bytes 20-29/100 CRLF
//! CRLF
//! <bytes 20-29 of the file>
//! CRLF --BOUNDARY-- CRLF
//! ```

use super::range;
use crate::Segment;
use bytes::Bytes;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Returns the `Content-Type` of a multipart answer with `boundary`.
pub(crate) fn content_type(boundary: &str) -> String {
    format!("multipart/byteranges; boundary={boundary}")
}

/// Lays out the body of a multipart answer: for each `(start, len)` of
/// `ranges`, its part head (the file's `content_type`, its
/// `Content-Range` against `size`) and its range of the file, then the
/// closing delimiter. The heads share one buffer.
pub(crate) fn segments(
    ranges: &[(u64, u64)],
    size: u64,
    content_type: &str,
    boundary: &str,
) -> Vec<Segment> {
    let mut heads = Vec::with_capacity((ranges.len() + 1) * (boundary.len() + 80));
    let mut ends = Vec::with_capacity(ranges.len() + 1);
    for (i, &(start, len)) in ranges.iter().enumerate() {
        if i > 0 {
            heads.extend_from_slice(b"\r\n");
        }
        for piece in [
            "--",
            boundary,
            "\r\nContent-Type: ",
            content_type,
            "\r\nContent-Range: ",
            &range::content_range(start, len, size),
            "\r\n\r\n",
        ] {
            heads.extend_from_slice(piece.as_bytes());
        }
        ends.push(heads.len());
    }
    for piece in ["\r\n--", boundary, "--\r\n"] {
        heads.extend_from_slice(piece.as_bytes());
    }
    ends.push(heads.len());
    let heads = Bytes::from(heads);
    let mut out = Vec::with_capacity(2 * ranges.len() + 1);
    let mut from = 0;
    for (i, &end) in ends.iter().enumerate() {
        out.push(Segment::Bytes(heads.slice(from..end)));
        if let Some(&(offset, len)) = ranges.get(i) {
            out.push(Segment::File { offset, len });
        }
        from = end;
    }
    out
}

/// Returns a fresh boundary: 32 hexadecimal digits, different for every
/// answer and not to be guessed from outside.
///
/// Go draws 30 random bytes and does not look for the boundary in the
/// file; neither does this. Nothing here may depend on a random number
/// crate, so the digits are a counter hashed by one std `RandomState`
/// (keyed SipHash today), whose keys are drawn at random once per
/// process: a client cannot know them, so it cannot place the boundary
/// of a later answer in a file to break that answer's framing.
pub(crate) fn boundary() -> String {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(RandomState::new);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let (high, low) = (keys.hash_one((n, 0u8)), keys.hash_one((n, 1u8)));
    format!("{high:016x}{low:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a body laid out by [`segments`] with `file` as the file.
    fn render(segments: &[Segment], file: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in segments {
            match s {
                Segment::Bytes(b) => out.extend_from_slice(b),
                Segment::File { offset, len } => {
                    let (at, n) = (*offset as usize, *len as usize);
                    out.extend_from_slice(&file[at..at + n]);
                }
            }
        }
        out
    }

    #[test]
    fn two_parts_are_laid_out_byte_for_byte() {
        let file: Vec<u8> = (b'a'..=b'z').cycle().take(100).collect();
        let segs = segments(&[(0, 10), (20, 10)], 100, "text/plain", "XYZ");
        assert_eq!(segs.len(), 5);
        assert_eq!(segs[1], Segment::File { offset: 0, len: 10 });
        assert_eq!(
            segs[3],
            Segment::File {
                offset: 20,
                len: 10
            }
        );
        let want = "--XYZ\r\n\
            Content-Type: text/plain\r\n\
            Content-Range: bytes 0-9/100\r\n\
            \r\n\
            abcdefghij\r\n\
            --XYZ\r\n\
            Content-Type: text/plain\r\n\
            Content-Range: bytes 20-29/100\r\n\
            \r\n\
            uvwxyzabcd\r\n\
            --XYZ--\r\n";
        let got = render(&segs, &file);
        assert_eq!(String::from_utf8_lossy(&got), want);
        let len: u64 = segs.iter().map(Segment::len).sum();
        assert_eq!(len, want.len() as u64);
    }

    #[test]
    fn boundaries_differ_and_are_hex() {
        let a = boundary();
        let b = boundary();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert_eq!(s.len(), 32, "{s}");
            assert!(s.bytes().all(|c| c.is_ascii_hexdigit()), "{s}");
        }
        assert_eq!(
            content_type(&a),
            format!("multipart/byteranges; boundary={a}")
        );
    }
}
