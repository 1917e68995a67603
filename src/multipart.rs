//! `multipart/form-data` uploads (RFC 7578), read part by part as they
//! arrive: [`Multipart`] over a request body, one [`Part`] at a time.
//!
//! Nothing is held in memory but the part being read: each part's content
//! streams to the handler, which copies it where it likes (a file, a
//! hasher, another socket) with [`Part::copy_to`], [`std::io::copy`] (a
//! `Part` is a [`Read`]) or [`Part::next_chunk`]. A small text field can
//! be taken whole with [`Part::text`]. This module performs no socket I/O
//! itself: it reads the body through [`RequestBody`], and the framing
//! rules (delimiters, header sections, limits) live in a pure decoder in
//! the protocol core, which is table tested, fed at every split and
//! fuzzed.
//!
//! # Examples
//! A handler that streams every part to a sink (a file would do the same)
//! and answers with each part's name, file name and size:
//! ```
//! use sockhttp::{Method, Request, Response};
//! use std::fmt::Write as _;
//!
//! fn upload(req: &mut Request) -> sockhttp::Result<Response> {
//!     let mut multipart = req.multipart()?.max_parts(100);
//!     let mut summary = String::new();
//!     while let Some(mut part) = multipart.next_part()? {
//!         let name = part.name().to_owned();
//!         let filename = part.filename().unwrap_or("-").to_owned();
//!         // For a file: `part.copy_to(&mut File::create(path)?)?`, with a
//!         // path of your own making, never the client's file name.
//!         let size = part.copy_to(&mut std::io::sink())?;
//!         writeln!(summary, "{name} {filename} {size}").unwrap();
//!     }
//!     Ok(Response::text(summary))
//! }
//!
//! let body = "--XyZ\r\n\
//!             Content-Disposition: form-data; name=\"title\"\r\n\r\n\
//!             Holidays\r\n\
//!             --XyZ\r\n\
//!             Content-Disposition: form-data; name=\"photo\"; filename=\"beach.jpg\"\r\n\
//!             Content-Type: image/jpeg\r\n\r\n\
//!             \u{ff}\u{d8}...\r\n\
//!             --XyZ--\r\n";
//! let mut req = Request::builder(Method::Post, "/upload")
//!     .header("Content-Type", "multipart/form-data; boundary=XyZ")
//!     .body(body)
//!     .build()?;
//! let resp = upload(&mut req)?;
//! let sockhttp::Body::Bytes(text) = resp.body() else { panic!("a text body") };
//! assert_eq!(&text[..], b"title - 8\nphoto beach.jpg 7\n");
//! # Ok::<(), sockhttp::Error>(())
//! ```
//!
//! # What is accepted
//! - A `Content-Type` of `multipart/form-data` with a `boundary` (token
//!   or quoted, 1 to 70 characters of RFC 2046's `bchars`); another media
//!   type is a 415, a missing or invalid boundary a 400.
//! - A preamble and an epilogue (ignored), transport padding (spaces and
//!   tabs) after a boundary, and a body that opens with its first
//!   boundary or with a CRLF before it.
//! - CRLF line endings only: a bare LF in a boundary line or a header
//!   section is a 400 (browsers and curl send CRLF). Folded header lines
//!   (obs-fold) are a 400.
//! - Each part needs exactly one `Content-Disposition: form-data` with a
//!   `name` (RFC 7578 §4.2), or it is a 400. `filename*=UTF-8''…` (RFC
//!   5987) is decoded and wins over `filename`. Quoted strings unescape
//!   `\"` and `\\`; a backslash before anything else is kept. Browsers
//!   send `"`, CR and LF in names as `%22`, `%0D` and `%0A`: those come
//!   through as sent.
//! - `Content-Transfer-Encoding` is ignored (RFC 7578 §4.7 deprecates it):
//!   content comes as sent.
//!
//! # Limits
//! [`MultipartLimits`], each with a setter on [`Multipart`]:
//!
//! | limit | default | over it |
//! |---|---|---|
//! | [`max_parts`](Multipart::max_parts) | 1000 | 413 |
//! | [`max_part_header_bytes`](Multipart::max_part_header_bytes) (one part's header section) | 16 KiB | 431 |
//! | [`max_part_headers`](Multipart::max_part_headers) (fields in one part) | 16 | 431 |
//! | [`max_body_bytes`](Multipart::max_body_bytes) (the whole body, framing included) | 128 MiB | 413 (a larger declared `Content-Length`: before a byte is read) |
//!
//! The server's own [`Limits::max_body_bytes`](crate::Limits) and body
//! deadline apply as ever. Memory is bounded whatever the client sends:
//! besides the piece of body just read, the reader holds at most its
//! boundary's length plus 3 bytes of content, or one header section.
//!
//! # Errors
//! Every error is a [`sockhttp::Error`](Error) whose
//! [`status`](Error::status) is the answer: the statuses above for a
//! malformed body or a limit, and the body's own errors unchanged (400
//! for bad chunked framing, 408 for a body deadline, and so on). Through
//! [`Read`], an error travels inside an [`io::Error`]; `?` in a handler
//! turns it back into the [`Error`] (`From<io::Error>`), and so does
//! `Error::from(e)` (or `e.get_ref()` and `downcast_ref::<Error>()`).
//! An error sticks: every later call returns it again.

use crate::error::{Error, Result};
use crate::limits::MultipartLimits;
use crate::proto::multipart::{Event, MultipartDecoder, PartHead, parse_boundary};
use crate::request::{Request, RequestBody};
use crate::types::{Headers, StatusCode};
use bytes::{Buf, Bytes, BytesMut};
use std::fmt;
use std::io::{self, Read, Write};

/// Multipart reads a `multipart/form-data` request body one part at a
/// time.
///
/// Make one with [`Request::multipart`] (or [`Multipart::new`]), set its
/// limits, then call [`Multipart::next_part`] until it returns `None`. A
/// part not read to its end is skipped when the next one is asked for.
/// A `Multipart` owns the body it reads; what it leaves unread (the
/// epilogue, or everything after an error) is drained or the connection
/// closed by the server, as after any handler.
///
/// # Examples
/// ```
/// use sockhttp::{Method, Multipart, Request, RequestBody};
/// let body = RequestBody::from_bytes(
///     "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--b--",
/// );
/// let mut multipart = Multipart::with_boundary(body, "b")?;
/// let mut part = multipart.next_part()?.expect("one part");
/// assert_eq!(part.name(), "a");
/// assert_eq!(part.text(100)?, "hello");
/// drop(part);
/// assert!(multipart.next_part()?.is_none());
/// # Ok::<(), sockhttp::Error>(())
/// ```
pub struct Multipart {
    body: RequestBody,
    decoder: MultipartDecoder,
    /// The body's declared length, checked against `max_body_bytes`
    /// before the first read.
    declared: Option<u64>,
    started: bool,
    /// Inside a part (its `Part` returned, its end not yet read).
    in_part: bool,
    /// The first error, returned again by every later call.
    failure: Option<Error>,
}

impl Request {
    /// Reads the body as `multipart/form-data`: see [`Multipart::new`].
    ///
    /// # Errors
    /// 415 ([`Error::Status`]) when the `Content-Type` is not
    /// `multipart/form-data`; 400 when its boundary is missing or invalid.
    pub fn multipart(&mut self) -> Result<Multipart> {
        Multipart::new(self)
    }
}

impl Multipart {
    /// Makes a reader of the request's body, with the boundary of its
    /// `Content-Type` and the default [`MultipartLimits`]. The body is
    /// taken from the request (which keeps an empty one), so the request's
    /// head stays usable while the parts are read.
    ///
    /// # Errors
    /// 415 ([`Error::Status`]) when the `Content-Type` is missing or not
    /// `multipart/form-data`; 400 when its boundary is missing or invalid.
    pub fn new(req: &mut Request) -> Result<Multipart> {
        let Some(content_type) = req.headers().get_bytes("content-type") else {
            return Err(Error::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type is not multipart/form-data",
            ));
        };
        let boundary = parse_boundary(content_type)?;
        let decoder = MultipartDecoder::new(&boundary, &MultipartLimits::default())?;
        let declared = req.content_length();
        Ok(Multipart::over(req.take_body(), decoder, declared))
    }

    /// Makes a reader of `body` with a known boundary (the `boundary`
    /// parameter, without the leading `--`), for bodies that come from
    /// elsewhere than a request.
    ///
    /// # Errors
    /// 400 ([`Error::Status`]) for an invalid boundary.
    pub fn with_boundary(body: RequestBody, boundary: &str) -> Result<Multipart> {
        let decoder = MultipartDecoder::new(boundary.as_bytes(), &MultipartLimits::default())?;
        Ok(Multipart::over(body, decoder, None))
    }

    fn over(body: RequestBody, decoder: MultipartDecoder, declared: Option<u64>) -> Multipart {
        Multipart {
            body,
            decoder,
            declared,
            started: false,
            in_part: false,
            failure: None,
        }
    }

    /// Sets every limit at once (see [`MultipartLimits`]).
    pub fn limits(mut self, limits: MultipartLimits) -> Multipart {
        self.decoder.set_limits(&limits);
        self
    }

    /// Sets the most parts the body may have; more is a 413. Default
    /// [`DEFAULT_MAX_PARTS`](crate::limits::DEFAULT_MAX_PARTS) (1000).
    pub fn max_parts(self, n: usize) -> Multipart {
        let limits = MultipartLimits {
            max_parts: n,
            ..*self.decoder.limits()
        };
        self.limits(limits)
    }

    /// Sets the largest header section of one part, in bytes; larger is
    /// a 431. Default
    /// [`DEFAULT_MAX_PART_HEADER_BYTES`](crate::limits::DEFAULT_MAX_PART_HEADER_BYTES)
    /// (16 KiB).
    pub fn max_part_header_bytes(self, n: usize) -> Multipart {
        let limits = MultipartLimits {
            max_part_header_bytes: n,
            ..*self.decoder.limits()
        };
        self.limits(limits)
    }

    /// Sets the most header fields one part may have; more is a 431.
    /// Default [`DEFAULT_MAX_PART_HEADERS`](crate::limits::DEFAULT_MAX_PART_HEADERS)
    /// (16).
    pub fn max_part_headers(self, n: usize) -> Multipart {
        let limits = MultipartLimits {
            max_part_headers: n,
            ..*self.decoder.limits()
        };
        self.limits(limits)
    }

    /// Sets the largest body, in bytes, preamble, delimiters and header
    /// sections included; larger is a 413, and a declared
    /// `Content-Length` over it is refused before a byte is read. Default
    /// [`DEFAULT_MAX_MULTIPART_BODY_BYTES`](crate::limits::DEFAULT_MAX_MULTIPART_BODY_BYTES)
    /// (128 MiB).
    pub fn max_body_bytes(self, n: u64) -> Multipart {
        let limits = MultipartLimits {
            max_body_bytes: n,
            ..*self.decoder.limits()
        };
        self.limits(limits)
    }

    /// Returns the next part, or `None` after the last one. The rest of
    /// the previous part, if it was not read to its end, is read and
    /// dropped first.
    ///
    /// # Errors
    /// 400 for a malformed body, 413 or 431 over a limit (see the
    /// [module docs](self)), and the body's own errors with their status.
    pub fn next_part(&mut self) -> Result<Option<Part<'_>>> {
        loop {
            match self.next_event()? {
                Event::Part(head) => {
                    self.in_part = true;
                    return Ok(Some(Part {
                        multipart: self,
                        head,
                        pending: Bytes::new(),
                    }));
                }
                Event::PartEnd => self.in_part = false,
                Event::End => return Ok(None),
                // The content of a part nobody read.
                Event::Data(_) | Event::NeedData => {}
            }
        }
    }

    /// Returns the next event, reading the body as the decoder needs.
    fn next_event(&mut self) -> Result<Event> {
        if let Some(e) = &self.failure {
            return Err(again(e));
        }
        let result = self.decode();
        if let Err(e) = &result {
            self.failure = Some(again(e));
        }
        result
    }

    fn decode(&mut self) -> Result<Event> {
        loop {
            match self.decoder.next_event()? {
                Event::NeedData => self.read_body()?,
                event => return Ok(event),
            }
        }
    }

    /// Feeds the decoder the next piece of the body (or its end).
    fn read_body(&mut self) -> Result<()> {
        if !self.started {
            self.started = true;
            let max = self.decoder.limits().max_body_bytes;
            if self.declared.is_some_and(|n| n > max) {
                // Refused before a byte is read, so a client waiting on
                // `100 Continue` is never invited to send it.
                return Err(Error::Status(
                    StatusCode::CONTENT_TOO_LARGE,
                    "multipart body over its limit",
                ));
            }
        }
        match self.body.next_chunk()? {
            Some(chunk) => self.decoder.feed(chunk),
            None => self.decoder.feed_eof(),
        }
        Ok(())
    }

    /// Returns the next piece of the current part's content.
    fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.in_part {
            return Ok(None);
        }
        match self.next_event()? {
            Event::Data(d) => Ok(Some(d)),
            Event::PartEnd => {
                self.in_part = false;
                Ok(None)
            }
            // The decoder ends every part before it begins another or
            // ends the body (the fuzz target checks it).
            Event::Part(_) | Event::End | Event::NeedData => {
                self.in_part = false;
                Err(Error::handler(
                    "multipart decoder skipped the end of a part",
                ))
            }
        }
    }
}

/// Returns the same error again, for a caller that goes on after one.
fn again(e: &Error) -> Error {
    match e {
        Error::Status(status, detail) => Error::Status(*status, detail),
        Error::Malformed(d) => Error::Malformed(d),
        Error::BadFraming(d) => Error::BadFraming(d),
        Error::BodyTooLarge => Error::BodyTooLarge,
        Error::HeadTooLarge => Error::HeadTooLarge,
        Error::Timeout(phase) => Error::Timeout(*phase),
        Error::UnexpectedEof => Error::UnexpectedEof,
        Error::Io(e) => Error::Io(io::Error::new(e.kind(), "the request body failed earlier")),
        other => match other.status() {
            Some(status) => Error::Status(status, "the multipart body failed earlier"),
            None => Error::Io(io::Error::other("the request body failed earlier")),
        },
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart")
            .field("limits", self.decoder.limits())
            .field("parts", &self.decoder.parts())
            .field("in_part", &self.in_part)
            .field("failed", &self.failure.is_some())
            .finish_non_exhaustive()
    }
}

/// Part is one part of a `multipart/form-data` body: a form field or a
/// file, with its headers, whose content streams as it is read.
///
/// The content comes through [`Part::next_chunk`] (the received pieces,
/// without a copy), [`Read`], [`Part::copy_to`] (to any writer), or
/// whole, up to a limit, through [`Part::read_to_bytes`] and [`Part::text`]. A
/// `Part` borrows its [`Multipart`]: drop it (read or not) to ask for the
/// next.
pub struct Part<'m> {
    multipart: &'m mut Multipart,
    head: PartHead,
    /// Taken for `Read::read` but not yet copied out.
    pending: Bytes,
}

impl Part<'_> {
    /// Returns the form field's name (`Content-Disposition`'s `name`).
    pub fn name(&self) -> &str {
        &self.head.name
    }

    /// Returns the file name the client gave, if the part is a file:
    /// `filename*` (RFC 5987, decoded) or `filename`, exactly as sent,
    /// path separators and `..` included. Never use it as a path: RFC 7578
    /// §4.2 asks receivers not to use it blindly. A file input left empty
    /// in a browser sends `Some("")`.
    pub fn filename(&self) -> Option<&str> {
        self.head.filename.as_deref()
    }

    /// Returns the part's `Content-Type`, if it has one (RFC 7578 §4.4:
    /// `text/plain` when absent; browsers send one for every file).
    pub fn content_type(&self) -> Option<&str> {
        self.head.content_type()
    }

    /// Returns every header field of the part, as sent, in order.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// Returns the next piece of the content without copying it, or
    /// `None` at the part's end.
    ///
    /// # Errors
    /// As [`Multipart::next_part`].
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        self.multipart.next_chunk()
    }

    /// Copies the rest of the content to `out` as it arrives, and returns
    /// how many bytes that was.
    ///
    /// # Errors
    /// The body's and the decoder's errors, with their status (as
    /// [`Multipart::next_part`]); an error of `out` itself (a full disk)
    /// is the handler's: [`Error::Handler`], 500.
    pub fn copy_to(&mut self, out: &mut impl Write) -> Result<u64> {
        let mut copied = 0u64;
        while let Some(chunk) = self.next_chunk()? {
            out.write_all(&chunk).map_err(Error::handler)?;
            copied += chunk.len() as u64;
        }
        out.flush().map_err(Error::handler)?;
        Ok(copied)
    }

    /// Reads the rest of the content into memory, refusing more than
    /// `limit` bytes.
    ///
    /// # Errors
    /// 413 ([`Error::Status`]) over `limit`; otherwise as
    /// [`Multipart::next_part`].
    pub fn read_to_bytes(&mut self, limit: usize) -> Result<Bytes> {
        let too_large = || {
            Error::Status(
                StatusCode::CONTENT_TOO_LARGE,
                "multipart part over its limit",
            )
        };
        let Some(first) = self.next_chunk()? else {
            return Ok(Bytes::new());
        };
        if first.len() > limit {
            return Err(too_large());
        }
        let Some(second) = self.next_chunk()? else {
            return Ok(first);
        };
        let mut all = BytesMut::with_capacity((first.len() + second.len()).min(limit));
        all.extend_from_slice(&first);
        let mut next = Some(second);
        while let Some(chunk) = next {
            if all.len() + chunk.len() > limit {
                return Err(too_large());
            }
            all.extend_from_slice(&chunk);
            next = self.next_chunk()?;
        }
        Ok(all.freeze())
    }

    /// Reads the rest of the content as UTF-8 text, refusing more than
    /// `limit` bytes: for form fields, which are text (RFC 7578 §5.1).
    ///
    /// # Errors
    /// 413 ([`Error::Status`]) over `limit`, 400 for content that is not
    /// UTF-8; otherwise as [`Multipart::next_part`].
    pub fn text(&mut self, limit: usize) -> Result<String> {
        let bytes = self.read_to_bytes(limit)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Status(StatusCode::BAD_REQUEST, "multipart field is not UTF-8"))
    }
}

impl Read for Part<'_> {
    /// Reads content; at the part's end, returns 0. An error is an
    /// [`io::Error`] wrapping the [`Error`], which `Error::from` (or `?`
    /// in a handler) takes back out with its status.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending.is_empty() {
            match self.multipart.next_chunk().map_err(Error::into_io)? {
                Some(chunk) => self.pending = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        Ok(n)
    }
}

impl fmt::Debug for Part<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.head.name)
            .field("filename", &self.head.filename)
            .field("headers", &self.head.headers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    const BODY: &str = "--XyZ\r\n\
        Content-Disposition: form-data; name=\"a\"\r\n\r\n\
        1\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\
        0123456789\r\n\
        --XyZ--\r\n";

    fn request(content_type: &str, body: &'static str) -> Request {
        Request::builder(Method::Post, "/upload")
            .header("Content-Type", content_type)
            .body(body)
            .build()
            .unwrap()
    }

    fn status(e: Error) -> u16 {
        e.status().expect("a status").as_u16()
    }

    /// A body that arrives in pieces of `step` bytes, then fails with `end`.
    struct Pieces {
        data: Vec<u8>,
        step: usize,
        end: Option<Error>,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return match self.end.take() {
                    Some(e) => Err(e.into_io()),
                    None => Ok(0),
                };
            }
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn parts_come_in_order_with_their_heads() {
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap();
        let mut a = m.next_part().unwrap().unwrap();
        assert_eq!(
            (a.name(), a.filename(), a.content_type()),
            ("a", None, None)
        );
        assert_eq!(a.text(10).unwrap(), "1");
        drop(a);
        let mut f = m.next_part().unwrap().unwrap();
        assert_eq!(f.filename(), Some("f.bin"));
        assert_eq!(f.content_type(), Some("application/octet-stream"));
        assert_eq!(f.headers().len(), 2);
        let mut out = Vec::new();
        assert_eq!(f.copy_to(&mut out).unwrap(), 10);
        assert_eq!(out, b"0123456789");
        assert_eq!(f.next_chunk().unwrap(), None, "the end stays the end");
        drop(f);
        assert!(m.next_part().unwrap().is_none());
        assert!(m.next_part().unwrap().is_none(), "None stays None");
        // The request keeps its head, and an empty body.
        assert_eq!(req.path(), "/upload");
        assert!(req.body_bytes().unwrap().is_empty());
    }

    #[test]
    fn unread_parts_are_skipped() {
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap();
        let mut names = Vec::new();
        while let Some(part) = m.next_part().unwrap() {
            names.push(part.name().to_owned());
        }
        assert_eq!(names, ["a", "file"]);
        // Half read, then skipped.
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap();
        drop(m.next_part().unwrap());
        let mut f = m.next_part().unwrap().unwrap();
        let mut two = [0u8; 2];
        f.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"01");
        drop(f);
        assert!(m.next_part().unwrap().is_none());
    }

    #[test]
    fn read_streams_the_content_in_any_pieces() {
        for step in [1, 2, 3, 7, 64] {
            let body = RequestBody::from_reader(Pieces {
                data: BODY.as_bytes().to_vec(),
                step,
                end: None,
            });
            let mut m = Multipart::with_boundary(body, "XyZ").unwrap();
            let mut got = Vec::new();
            while let Some(mut part) = m.next_part().unwrap() {
                let mut content = Vec::new();
                io::copy(&mut part, &mut content).unwrap();
                got.push((part.name().to_owned(), content));
            }
            assert_eq!(
                got,
                [
                    ("a".to_owned(), b"1".to_vec()),
                    ("file".to_owned(), b"0123456789".to_vec())
                ],
                "pieces of {step}"
            );
        }
    }

    #[test]
    fn content_type_is_checked_first() {
        for (ct, want) in [
            ("application/json", 415),
            ("multipart/mixed; boundary=XyZ", 415),
            ("multipart/form-data", 400),
            ("multipart/form-data; boundary=\"\"", 400),
        ] {
            let mut req = request(ct, BODY);
            assert_eq!(status(req.multipart().unwrap_err()), want, "{ct}");
            assert!(
                !req.body_bytes().unwrap().is_empty(),
                "{ct}: body not taken"
            );
        }
        let mut req = Request::builder(Method::Post, "/")
            .body(BODY)
            .build()
            .unwrap();
        assert_eq!(status(req.multipart().unwrap_err()), 415, "no Content-Type");
        assert_eq!(
            status(Multipart::with_boundary(RequestBody::empty(), "a\"b").unwrap_err()),
            400
        );
    }

    #[test]
    fn limits_are_set_and_enforced() {
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap().max_parts(1);
        drop(m.next_part().unwrap());
        assert_eq!(status(m.next_part().unwrap_err()), 413);
        // The error sticks.
        assert_eq!(status(m.next_part().unwrap_err()), 413);

        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap().max_part_headers(1);
        drop(m.next_part().unwrap());
        assert_eq!(status(m.next_part().unwrap_err()), 431);

        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap().max_part_header_bytes(20);
        assert_eq!(status(m.next_part().unwrap_err()), 431);

        let limits = MultipartLimits {
            max_parts: 1,
            ..MultipartLimits::default()
        };
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap().limits(limits);
        drop(m.next_part().unwrap());
        assert_eq!(status(m.next_part().unwrap_err()), 413);
    }

    #[test]
    fn declared_length_over_the_limit_is_refused_before_reading() {
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req
            .multipart()
            .unwrap()
            .max_body_bytes(BODY.len() as u64 - 1);
        assert_eq!(status(m.next_part().unwrap_err()), 413);
        assert_eq!(m.decoder.consumed(), 0, "nothing was read");
        // A body of exactly the limit is fine.
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap().max_body_bytes(BODY.len() as u64);
        while m.next_part().unwrap().is_some() {}
    }

    #[test]
    fn text_and_bytes_are_bounded() {
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap();
        drop(m.next_part().unwrap());
        let mut f = m.next_part().unwrap().unwrap();
        assert_eq!(status(f.text(9).unwrap_err()), 413);

        let body = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\u{ff}\r\n--b--";
        let mut req = request("multipart/form-data; boundary=b", body);
        let mut m = req.multipart().unwrap();
        let mut a = m.next_part().unwrap().unwrap();
        assert_eq!(a.read_to_bytes(2).unwrap(), "\u{ff}".as_bytes());
        let raw: &[u8] = b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff\r\n--b--";
        let mut m = Multipart::with_boundary(RequestBody::from_bytes(raw), "b").unwrap();
        let mut a = m.next_part().unwrap().unwrap();
        assert_eq!(status(a.text(10).unwrap_err()), 400);
    }

    #[test]
    fn body_errors_keep_their_status_through_read() {
        let body = RequestBody::from_reader(Pieces {
            data: BODY.as_bytes()[..BODY.find("0123").unwrap() + 3].to_vec(),
            step: 1000,
            end: Some(Error::Timeout(crate::Phase::Body)),
        });
        let mut m = Multipart::with_boundary(body, "XyZ").unwrap();
        drop(m.next_part().unwrap());
        let mut a = m.next_part().unwrap().unwrap();
        let mut sink = Vec::new();
        let e = io::copy(&mut a, &mut sink).unwrap_err();
        // The io::Error carries the sockhttp::Error...
        let inner = e.get_ref().and_then(|i| i.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::Timeout(_))), "{e:?}");
        // ...which `?` (From<io::Error>) takes back out.
        assert_eq!(status(Error::from(e)), 408);
        drop(a);
        assert_eq!(status(m.next_part().unwrap_err()), 408, "the error sticks");
    }

    #[test]
    fn a_truncated_body_is_400() {
        let mut req = request(
            "multipart/form-data; boundary=XyZ",
            "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc",
        );
        let mut m = req.multipart().unwrap();
        let mut a = m.next_part().unwrap().unwrap();
        assert_eq!(status(a.copy_to(&mut io::sink()).unwrap_err()), 400);
    }

    #[test]
    fn a_failing_sink_is_the_handlers_500() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut req = request("multipart/form-data; boundary=XyZ", BODY);
        let mut m = req.multipart().unwrap();
        let mut a = m.next_part().unwrap().unwrap();
        assert_eq!(status(a.copy_to(&mut Full).unwrap_err()), 500);
    }
}
