//! `multipart/form-data` bodies (RFC 7578, over RFC 2046 §5.1): a pure,
//! incremental decoder from body bytes to parts.
//!
//! This module performs no I/O. A [`MultipartDecoder`] is fed the body in
//! pieces of any size ([`MultipartDecoder::feed`], then
//! [`MultipartDecoder::feed_eof`] at its end) and hands out [`Event`]s: a
//! part's head, pieces of its content, its end, the end of the body, or
//! "need more bytes". The same bytes give the same events however they are
//! split (only the cuts between `Data` pieces move).
//!
//! It never holds a part: content goes out as soon as it cannot be the
//! start of a delimiter, so between events it keeps at most the
//! delimiter's length less one (the boundary + 3 bytes) of content, or one
//! part's unfinished header section (under `max_part_header_bytes`).
//! Content leaves as slices of the buffer it was fed, without a copy.
//!
//! The grammar (RFC 2046 §5.1.1), and what becomes of each rule here:
//!
//! ```text
//! multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
//!                   body-part *encapsulation
//!                   close-delimiter transport-padding [CRLF epilogue]
//! encapsulation  := delimiter transport-padding CRLF body-part
//! delimiter      := CRLF dash-boundary        dash-boundary := "--" boundary
//! close-delimiter := delimiter "--"           transport-padding := *LWSP-char
//! body-part      := MIME-part-headers [CRLF *OCTET]
//! ```
//!
//! 1. The preamble is skipped (counted against `max_body_bytes`). The
//!    first `--boundary` may open the body, without a CRLF before it.
//! 2. After each `--boundary`: `--` ends the body ([`Event::End`]; the
//!    epilogue is never read); otherwise spaces and tabs (transport
//!    padding), then CRLF, open a part. Anything else is a 400: a bare LF
//!    included, since line endings here are CRLF only (browsers and curl
//!    send CRLF; a decoder that also takes LF would see different parts
//!    than one that does not, in the same bytes).
//! 3. The part's header section: field lines ended by CRLF, up to an
//!    empty line; no obs-fold; at most `max_part_header_bytes` bytes and
//!    `max_part_headers` fields (over either: 431, as for a trailer
//!    section). It must hold one `Content-Disposition: form-data` with a
//!    `name` (RFC 7578 §4.2); it becomes [`Event::Part`].
//! 4. The part's content runs to the next `CRLF--boundary`, which ends it
//!    ([`Event::PartEnd`]) and goes back to step 2. RFC 2046 §5.1.2:
//!    "it is sufficient that the boundary appear in its entirety following
//!    the CRLF", so `--boundaryX` is a delimiter too, and a malformed one
//!    (400), not content.
//!
//! Every error is an [`Error::Status`] with a 4xx status, and it sticks:
//! once failed, the decoder returns the same error again.

use super::is_tchar;
use crate::error::{Error, Result};
use crate::limits::MultipartLimits;
use crate::types::{Headers, StatusCode};
use bytes::{Buf, Bytes, BytesMut};
use std::borrow::Cow;

/// Event is what one step of a [`MultipartDecoder`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A part begins: its name, file name and header fields.
    Part(PartHead),
    /// A piece of the current part's content (never empty).
    Data(Bytes),
    /// The current part's content is complete.
    PartEnd,
    /// The close delimiter was read: no more parts. Whatever follows (the
    /// epilogue) is ignored.
    End,
    /// Nothing more can be decoded from the bytes fed so far.
    NeedData,
}

/// PartHead is the header section of one part, as RFC 7578 §4.2 reads
/// it: the field name and file name from `Content-Disposition`, and every
/// field as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartHead {
    /// The `name` parameter: the form field's name.
    pub name: String,
    /// The `filename*` (RFC 5987, decoded) or else the `filename`
    /// parameter, as sent: never a safe path by itself.
    pub filename: Option<String>,
    /// Every header field of the part, in order.
    pub headers: Headers,
}

impl PartHead {
    /// Returns the part's `Content-Type`, if it has one (RFC 7578 §4.4:
    /// `text/plain` if absent).
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type")
    }
}

/// MultipartDecoder turns a `multipart/form-data` body into parts.
#[derive(Debug)]
pub struct MultipartDecoder {
    /// `CRLF "--" boundary`: what ends a part's content.
    delimiter: Box<[u8]>,
    buf: BytesMut,
    state: State,
    eof: bool,
    limits: MultipartLimits,
    /// Parts begun so far.
    parts: usize,
    /// Body bytes taken from the buffer so far (content, framing, headers).
    consumed: u64,
    /// In a header section: where its unfinished line starts, how far it
    /// was searched for its LF already, and how many fields came before.
    /// A section that arrives a byte at a time is scanned once.
    line_start: usize,
    scanned: usize,
    fields: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter; `at_start` while nothing was skipped,
    /// so that the body may open with `--boundary` itself.
    Preamble { at_start: bool },
    /// Just after a `--boundary`; `padded` once transport padding was seen
    /// (no `--` may follow then).
    Delimiter { padded: bool },
    /// In a part's header section.
    Headers,
    /// In a part's content.
    Data,
    /// After the close delimiter.
    Done,
    /// An error was returned; it is returned again.
    Failed(StatusCode, &'static str),
}

const TRUNCATED: &str = "multipart body ended before its close delimiter";

impl MultipartDecoder {
    /// Makes a decoder for parts separated by `boundary` (the parameter of
    /// the request's `Content-Type`, without the leading `--`).
    ///
    /// # Errors
    /// 400 ([`Error::Status`]) for a boundary that is not 1 to 70
    /// characters of RFC 2046's `bchars`, ending in other than a space.
    pub fn new(boundary: &[u8], limits: &MultipartLimits) -> Result<MultipartDecoder> {
        if !is_valid_boundary(boundary) {
            return Err(Error::Status(
                StatusCode::BAD_REQUEST,
                "invalid multipart boundary",
            ));
        }
        let mut delimiter = Vec::with_capacity(boundary.len() + 4);
        delimiter.extend_from_slice(b"\r\n--");
        delimiter.extend_from_slice(boundary);
        Ok(MultipartDecoder {
            delimiter: delimiter.into_boxed_slice(),
            buf: BytesMut::new(),
            state: State::Preamble { at_start: true },
            eof: false,
            limits: *limits,
            parts: 0,
            consumed: 0,
            line_start: 0,
            scanned: 0,
            fields: 0,
        })
    }

    /// Returns the limits in force.
    pub fn limits(&self) -> &MultipartLimits {
        &self.limits
    }

    /// Changes the limits; they apply from the next event on.
    pub fn set_limits(&mut self, limits: &MultipartLimits) {
        self.limits = *limits;
    }

    /// Appends the next bytes of the body. Bytes fed after the close
    /// delimiter or an error are dropped. Feed only after
    /// [`Event::NeedData`], and the buffer stays within the bounds the
    /// module docs give, plus the piece fed.
    pub fn feed(&mut self, data: Bytes) {
        if matches!(self.state, State::Done | State::Failed(..)) || data.is_empty() {
            return;
        }
        if self.buf.is_empty() {
            // Takes the piece over without a copy when nothing else holds it.
            self.buf = BytesMut::from(data);
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    /// Says the body has ended: from now on, [`Event::NeedData`] becomes a
    /// 400 unless the close delimiter was read.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// Returns how many bytes are buffered, not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Returns how many parts have begun.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// Returns how many body bytes were decoded (content and framing).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Decodes the next event from the bytes fed so far.
    ///
    /// # Errors
    /// [`Error::Status`] with 400 for a malformed body (a bad delimiter
    /// line, a bad header section, a part without `Content-Disposition:
    /// form-data; name`, a body that ends before its close delimiter), 413
    /// for more than `max_parts` parts or more than `max_body_bytes`
    /// bytes, 431 for a header section over `max_part_header_bytes` or
    /// `max_part_headers`.
    pub fn next_event(&mut self) -> Result<Event> {
        loop {
            match self.state {
                State::Failed(status, detail) => return Err(Error::Status(status, detail)),
                State::Done => return Ok(Event::End),
                State::Preamble { at_start } => {
                    if !self.decode_preamble(at_start)? {
                        return self.need_data();
                    }
                }
                State::Delimiter { padded } => {
                    if !self.decode_delimiter_line(padded)? {
                        return self.need_data();
                    }
                }
                State::Headers => {
                    return match self.decode_header_section()? {
                        Some(head) => {
                            self.state = State::Data;
                            Ok(Event::Part(head))
                        }
                        None => self.need_data(),
                    };
                }
                State::Data => return self.decode_content(),
            }
        }
    }

    /// `[preamble CRLF] dash-boundary`: skips to the first delimiter.
    /// Returns false when more bytes are needed.
    fn decode_preamble(&mut self, at_start: bool) -> Result<bool> {
        if at_start {
            let dash_boundary = &self.delimiter[2..];
            let n = self.buf.len().min(dash_boundary.len());
            if self.buf[..n] == dash_boundary[..n] {
                if n < dash_boundary.len() {
                    return Ok(false);
                }
                self.consume(n)?;
                self.state = State::Delimiter { padded: false };
                return Ok(true);
            }
            self.state = State::Preamble { at_start: false };
        }
        match find_delimiter(&self.buf, &self.delimiter) {
            Search::Found(i) => {
                self.consume(i + self.delimiter.len())?;
                self.state = State::Delimiter { padded: false };
                Ok(true)
            }
            Search::NotFound { keep_from } => {
                self.consume(keep_from)?;
                Ok(false)
            }
        }
    }

    /// What follows a `--boundary`: `--` (the close delimiter), or
    /// transport padding and CRLF (a part begins). Returns false when more
    /// bytes are needed.
    fn decode_delimiter_line(&mut self, padded: bool) -> Result<bool> {
        let padding = self
            .buf
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if padding > 0 {
            // RFC 2046 §5.1.1: composers "MUST NOT generate non-zero length
            // transport padding, but receivers MUST be able to handle
            // padding added by message transports". It is consumed as it
            // comes, never held.
            self.consume(padding)?;
            self.state = State::Delimiter { padded: true };
            return Ok(true);
        }
        match (self.buf.first(), self.buf.get(1)) {
            (None, _) => Ok(false),
            (Some(b'-'), _) if padded => Err(self.fail(
                StatusCode::BAD_REQUEST,
                "multipart boundary line not ended by CRLF",
            )),
            (Some(b'-' | b'\r'), None) => Ok(false),
            (Some(b'-'), Some(b'-')) => {
                self.consume(2)?;
                self.state = State::Done;
                // The epilogue is never read; what was fed of it goes.
                self.buf = BytesMut::new();
                Ok(true)
            }
            (Some(b'\r'), Some(b'\n')) => {
                self.consume(2)?;
                if self.parts >= self.limits.max_parts {
                    return Err(
                        self.fail(StatusCode::CONTENT_TOO_LARGE, "too many multipart parts")
                    );
                }
                self.parts += 1;
                self.state = State::Headers;
                self.line_start = 0;
                self.scanned = 0;
                self.fields = 0;
                Ok(true)
            }
            _ => Err(self.fail(
                StatusCode::BAD_REQUEST,
                "multipart boundary line not ended by CRLF",
            )),
        }
    }

    /// `MIME-part-headers`: field lines up to an empty line, each ended by
    /// CRLF. Returns `None` until the whole section is buffered.
    fn decode_header_section(&mut self) -> Result<Option<PartHead>> {
        let max_bytes = self.limits.max_part_header_bytes;
        loop {
            let from = self.scanned.max(self.line_start);
            let Some(lf) = self.buf[from..].iter().position(|&b| b == b'\n') else {
                // The sizes are checked before the line endings, and an
                // unfinished line only once even its LF could not fit,
                // so the answer does not depend on how the bytes were split.
                if self.buf.len() >= max_bytes {
                    return Err(self.fail(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "multipart part header section too large",
                    ));
                }
                self.scanned = self.buf.len();
                return Ok(None);
            };
            let lf = from + lf;
            if lf + 1 > max_bytes {
                return Err(self.fail(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "multipart part header section too large",
                ));
            }
            if lf == self.line_start || self.buf[lf - 1] != b'\r' {
                return Err(self.fail(
                    StatusCode::BAD_REQUEST,
                    "multipart header line not ended by CRLF",
                ));
            }
            if lf - self.line_start == 1 {
                // The empty line: the section is complete.
                let len = lf + 1;
                self.account(len)?;
                let section = self.buf.split_to(len).freeze();
                return match parse_part_head(section, self.fields) {
                    Ok(head) => Ok(Some(head)),
                    Err(detail) => Err(self.fail(StatusCode::BAD_REQUEST, detail)),
                };
            }
            if matches!(self.buf[self.line_start], b' ' | b'\t') {
                // RFC 9112 §5.2 deprecates obs-fold; RFC 7578 §4.8 names no
                // need for it. A folded line would be joined by one reader
                // and refused or split by another.
                return Err(self.fail(StatusCode::BAD_REQUEST, "obs-fold in multipart header"));
            }
            self.fields += 1;
            if self.fields > self.limits.max_part_headers {
                return Err(self.fail(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too many multipart part header fields",
                ));
            }
            self.line_start = lf + 1;
            self.scanned = self.line_start;
        }
    }

    /// A part's content, up to the next delimiter: everything that cannot
    /// be the start of the delimiter goes out at once.
    fn decode_content(&mut self) -> Result<Event> {
        let n = match find_delimiter(&self.buf, &self.delimiter) {
            Search::Found(0) => {
                self.consume(self.delimiter.len())?;
                self.state = State::Delimiter { padded: false };
                return Ok(Event::PartEnd);
            }
            Search::Found(i) => i,
            Search::NotFound { keep_from: 0 } => return self.need_data(),
            Search::NotFound { keep_from } => keep_from,
        };
        // Content up to the body limit goes out, then the limit is an
        // error: the same content whatever the pieces fed.
        let room = self.limits.max_body_bytes.saturating_sub(self.consumed);
        let n = usize::try_from(room).map_or(n, |room| room.min(n));
        if n == 0 {
            return Err(self.fail(
                StatusCode::CONTENT_TOO_LARGE,
                "multipart body over its limit",
            ));
        }
        self.consumed += n as u64;
        Ok(Event::Data(self.buf.split_to(n).freeze()))
    }

    /// Counts `n` more bytes of the body against `max_body_bytes`.
    fn account(&mut self, n: usize) -> Result<()> {
        let total = self.consumed.saturating_add(n as u64);
        if total > self.limits.max_body_bytes {
            return Err(self.fail(
                StatusCode::CONTENT_TOO_LARGE,
                "multipart body over its limit",
            ));
        }
        self.consumed = total;
        Ok(())
    }

    /// Counts and drops `n` bytes of framing or preamble.
    fn consume(&mut self, n: usize) -> Result<()> {
        self.account(n)?;
        self.buf.advance(n);
        Ok(())
    }

    fn need_data(&mut self) -> Result<Event> {
        if self.eof {
            return Err(self.fail(StatusCode::BAD_REQUEST, TRUNCATED));
        }
        Ok(Event::NeedData)
    }

    /// Enters the failed state, dropping what is buffered, and returns
    /// the error.
    fn fail(&mut self, status: StatusCode, detail: &'static str) -> Error {
        self.state = State::Failed(status, detail);
        self.buf = BytesMut::new();
        Error::Status(status, detail)
    }
}

/// Search is where a delimiter is in a buffer.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    /// It starts here.
    Found(usize),
    /// Not there; `buf[keep_from..]` may be its beginning, and must be
    /// kept until more bytes tell.
    NotFound { keep_from: usize },
}

/// Finds the first `delimiter` in `buf`, or the longest end of `buf` that
/// could begin one.
fn find_delimiter(buf: &[u8], delimiter: &[u8]) -> Search {
    let mut from = 0;
    while let Some(at) = buf[from..].iter().position(|&b| b == delimiter[0]) {
        let i = from + at;
        let rest = &buf[i..];
        if rest.len() >= delimiter.len() {
            if rest.starts_with(delimiter) {
                return Search::Found(i);
            }
        } else if delimiter.starts_with(rest) {
            return Search::NotFound { keep_from: i };
        }
        from = i + 1;
    }
    Search::NotFound {
        keep_from: buf.len(),
    }
}

/// Reports whether `b` is a valid boundary (RFC 2046 §5.1.1):
/// `0*69<bchars> bcharsnospace`, where `bcharsnospace := DIGIT / ALPHA /
/// "'" / "(" / ")" / "+" / "_" / "," / "-" / "." / "/" / ":" / "=" / "?"`
/// and `bchars` adds the space.
pub fn is_valid_boundary(b: &[u8]) -> bool {
    let bchar = |c: &u8| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(c);
    (1..=70).contains(&b.len()) && b.iter().all(bchar) && b.last() != Some(&b' ')
}

/// Returns the boundary of a request whose `Content-Type` is
/// `content_type` (`multipart/form-data; boundary=…`, the value token or
/// quoted).
///
/// # Errors
/// 415 ([`Error::Status`]) for a media type other than
/// `multipart/form-data`; 400 for malformed parameters or a missing or
/// invalid boundary.
pub fn parse_boundary(content_type: &[u8]) -> Result<Vec<u8>> {
    let (media_type, params) = match content_type.iter().position(|&b| b == b';') {
        Some(i) => content_type.split_at(i),
        None => (content_type, &b""[..]),
    };
    if !media_type
        .trim_ascii()
        .eq_ignore_ascii_case(b"multipart/form-data")
    {
        return Err(Error::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type is not multipart/form-data",
        ));
    }
    let bad = |detail| Error::Status(StatusCode::BAD_REQUEST, detail);
    let params = parse_params(params).map_err(bad)?;
    let boundary = params
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"boundary"))
        .ok_or(bad("multipart/form-data without a boundary"))?
        .1;
    if !is_valid_boundary(&boundary) {
        return Err(bad("invalid multipart boundary"));
    }
    Ok(boundary.into_owned())
}

/// Parses a complete header section (`fields` lines and the empty line,
/// checked already) into a [`PartHead`]; the error is the detail of a 400.
fn parse_part_head(section: Bytes, fields: usize) -> std::result::Result<PartHead, &'static str> {
    let mut slots = vec![httparse::EMPTY_HEADER; fields];
    let parsed = match httparse::parse_headers(&section, &mut slots) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        _ => return Err("invalid multipart header field"),
    };
    let base = section.as_ptr() as usize;
    let mut headers = Headers::with_capacity(parsed.len());
    for h in parsed.iter() {
        let ns = h.name.as_ptr() as usize - base;
        let vs = h.value.as_ptr() as usize - base;
        headers.push_raw(
            section.slice(ns..ns + h.name.len()),
            section.slice(vs..vs + h.value.len()),
        );
    }
    let (name, filename) = {
        let mut dispositions = headers.get_all_bytes("content-disposition");
        let disposition = dispositions
            .next()
            .ok_or("multipart part without Content-Disposition")?;
        if dispositions.next().is_some() {
            return Err("repeated Content-Disposition in a multipart part");
        }
        parse_disposition(disposition)?
    };
    Ok(PartHead {
        name,
        filename,
        headers,
    })
}

/// Parses `form-data; name="…"[; filename="…"][; filename*=UTF-8''…]`
/// (RFC 7578 §4.2, with RFC 6266's grammar) into the name and file name.
fn parse_disposition(value: &[u8]) -> std::result::Result<(String, Option<String>), &'static str> {
    let (kind, params) = match value.iter().position(|&b| b == b';') {
        Some(i) => value.split_at(i),
        None => (value, &b""[..]),
    };
    if !kind.trim_ascii().eq_ignore_ascii_case(b"form-data") {
        return Err("multipart part disposition is not form-data");
    }
    let (mut name, mut filename, mut filename_ext) = (None, None, None);
    for (key, value) in parse_params(params)? {
        let slot = if key.eq_ignore_ascii_case(b"name") {
            &mut name
        } else if key.eq_ignore_ascii_case(b"filename") {
            &mut filename
        } else if key.eq_ignore_ascii_case(b"filename*") {
            &mut filename_ext
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return Err("repeated parameter in Content-Disposition");
        }
    }
    let name = name.ok_or("multipart part without a name")?;
    let name = String::from_utf8(name.into_owned()).map_err(|_| "multipart name is not UTF-8")?;
    // RFC 6266 §4.3: when both are present, "recipients should pick
    // filename*". RFC 7578 §4.2 forbids senders to use it, but it costs
    // little to read.
    let filename = match (filename_ext, filename) {
        (Some(ext), _) => Some(decode_ext_value(&ext)?),
        (None, Some(f)) => {
            Some(String::from_utf8(f.into_owned()).map_err(|_| "multipart filename is not UTF-8")?)
        }
        (None, None) => None,
    };
    Ok((name, filename))
}

/// Decodes an RFC 5987 `ext-value` (`charset "'" [ language ] "'"
/// value-chars`) in one of the two charsets it requires (UTF-8,
/// ISO-8859-1).
fn decode_ext_value(v: &[u8]) -> std::result::Result<String, &'static str> {
    const BAD: &str = "invalid filename* in Content-Disposition";
    let mut fields = v.splitn(3, |&b| b == b'\'');
    let (Some(charset), Some(_language), Some(chars)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(BAD);
    };
    let bytes = crate::uri::percent_decode_bytes(chars).ok_or(BAD)?;
    if charset.eq_ignore_ascii_case(b"utf-8") {
        String::from_utf8(bytes.into_owned()).map_err(|_| BAD)
    } else if charset.eq_ignore_ascii_case(b"iso-8859-1") {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        Err("unsupported charset in filename*")
    }
}

/// Parameters as parsed: each name as sent, each value unquoted.
type Params<'a> = Vec<(&'a [u8], Cow<'a, [u8]>)>;

/// Parses `*( OWS ";" OWS [ name "=" value ] )` with `value = token /
/// quoted-string` (RFC 9110 §5.6.6) into names and unquoted values.
fn parse_params(mut s: &[u8]) -> std::result::Result<Params<'_>, &'static str> {
    const BAD: &str = "invalid header parameter";
    let mut out = Vec::new();
    loop {
        s = s.trim_ascii_start();
        let Some(rest) = s.strip_prefix(b";") else {
            return if s.is_empty() { Ok(out) } else { Err(BAD) };
        };
        s = rest.trim_ascii_start();
        if s.is_empty() || s[0] == b';' {
            continue;
        }
        let name_len = s.iter().take_while(|&&b| is_tchar(b)).count();
        let (name, rest) = s.split_at(name_len);
        let rest = rest.strip_prefix(b"=").ok_or(BAD)?;
        if name.is_empty() {
            return Err(BAD);
        }
        let (value, rest) = if rest.first() == Some(&b'"') {
            parse_quoted_string(rest).ok_or(BAD)?
        } else {
            // `filename*`'s ext-value is a token too: attr-char and "%".
            let len = rest.iter().take_while(|&&b| is_tchar(b)).count();
            if len == 0 {
                return Err(BAD);
            }
            (Cow::Borrowed(&rest[..len]), &rest[len..])
        };
        out.push((name, value));
        s = rest;
    }
}

/// Parses a `quoted-string` at the start of `s` (which starts with a
/// DQUOTE); returns its content and what follows the closing DQUOTE.
///
/// `quoted-pair` (RFC 9110 §5.6.4) unescapes `\"` and `\\`; a backslash
/// before any other character is kept, as Go's `mime` package does, so
/// that a Windows path some clients send unescaped (`C:\dir\a.txt`)
/// keeps its backslashes.
fn parse_quoted_string(s: &[u8]) -> Option<(Cow<'_, [u8]>, &[u8])> {
    let body = &s[1..];
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => {
                let value = match out {
                    Some(v) => Cow::Owned(v),
                    None => Cow::Borrowed(&body[..i]),
                };
                return Some((value, &body[i + 1..]));
            }
            b'\\' if matches!(body.get(i + 1), Some(b'"' | b'\\')) => {
                let v = out.get_or_insert_with(|| body[..i].to_vec());
                v.push(body[i + 1]);
                i += 2;
            }
            // qdtext: HTAB, SP, VCHAR and obs-text; no other controls.
            b if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                if let Some(v) = out.as_mut() {
                    v.push(b);
                }
                i += 1;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event with its content joined up: `Data` pieces are where the
    /// bytes happened to be cut, so they are compared as one.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Part(String, Option<String>, Option<String>),
        Data(Vec<u8>),
        PartEnd,
        End,
    }

    /// Runs a decoder over `input` fed in pieces of `step` bytes, then
    /// EOF; returns the events, and the error status if it failed.
    fn run(
        boundary: &str,
        input: &[u8],
        step: usize,
        limits: &MultipartLimits,
    ) -> (Vec<Ev>, Option<u16>) {
        run_pieces(boundary, input.chunks(step.max(1)), limits)
    }

    /// Runs a decoder over `pieces`, fed one at a time, then EOF; checks
    /// that what it holds stays bounded and that errors and the end
    /// stick.
    fn run_pieces<'a>(
        boundary: &str,
        pieces: impl IntoIterator<Item = &'a [u8]>,
        limits: &MultipartLimits,
    ) -> (Vec<Ev>, Option<u16>) {
        let mut dec = MultipartDecoder::new(boundary.as_bytes(), limits).unwrap();
        let bound = (boundary.len() + 4).max(limits.max_part_header_bytes);
        let mut pieces = pieces.into_iter();
        let mut events: Vec<Ev> = Vec::new();
        loop {
            match dec.next_event() {
                Ok(Event::NeedData) => {
                    assert!(dec.buffered() < bound, "holds {} bytes", dec.buffered());
                    match pieces.next() {
                        Some(p) => dec.feed(Bytes::copy_from_slice(p)),
                        None => dec.feed_eof(),
                    }
                }
                Ok(Event::Data(d)) => {
                    assert!(!d.is_empty(), "Data is never empty");
                    match events.last_mut() {
                        Some(Ev::Data(v)) => v.extend_from_slice(&d),
                        _ => events.push(Ev::Data(d.to_vec())),
                    }
                }
                Ok(Event::Part(h)) => {
                    let ct = h.content_type().map(str::to_owned);
                    events.push(Ev::Part(h.name, h.filename, ct));
                }
                Ok(Event::PartEnd) => events.push(Ev::PartEnd),
                Ok(Event::End) => {
                    events.push(Ev::End);
                    assert!(matches!(dec.next_event(), Ok(Event::End)), "End sticks");
                    return (events, None);
                }
                Err(e) => {
                    let status = e.status().expect("every error has a status").as_u16();
                    let again = dec.next_event().unwrap_err().status().unwrap().as_u16();
                    assert_eq!(status, again, "errors stick");
                    return (events, Some(status));
                }
            }
        }
    }

    /// Feeds `input` whole, byte by byte and in pieces of every size, and
    /// checks every way gives the same events (h11's `tr()`).
    fn every_split(
        boundary: &str,
        input: &[u8],
        limits: &MultipartLimits,
    ) -> (Vec<Ev>, Option<u16>) {
        let whole = run(boundary, input, input.len().max(1), limits);
        for step in 1..input.len() {
            let got = run(boundary, input, step, limits);
            assert_eq!(got, whole, "pieces of {step} vs whole for {input:?}");
        }
        whole
    }

    /// Every two-piece split, and byte by byte, against the whole.
    fn every_cut(boundary: &str, input: &[u8], limits: &MultipartLimits) {
        let whole = run(boundary, input, input.len().max(1), limits);
        for cut in 1..input.len() {
            let got = run_pieces(boundary, [&input[..cut], &input[cut..]], limits);
            assert_eq!(got, whole, "cut at {cut} of {input:?}");
        }
    }

    fn part(name: &str) -> Ev {
        Ev::Part(name.to_owned(), None, None)
    }

    fn file(name: &str, filename: &str, ct: &str) -> Ev {
        Ev::Part(
            name.to_owned(),
            Some(filename.to_owned()),
            Some(ct.to_owned()),
        )
    }

    fn data(d: &str) -> Ev {
        Ev::Data(d.as_bytes().to_vec())
    }

    struct Case {
        name: &'static str,
        input: &'static str,
        want: &'static [Want],
        status: Option<u16>,
    }

    /// The expected events, in a form a `const` table can hold.
    enum Want {
        Part(&'static str),
        File(&'static str, &'static str, &'static str),
        Data(&'static str),
        PartEnd,
        End,
    }

    impl Want {
        fn ev(&self) -> Ev {
            match *self {
                Want::Part(n) => part(n),
                Want::File(n, f, ct) => file(n, f, ct),
                Want::Data(d) => data(d),
                Want::PartEnd => Ev::PartEnd,
                Want::End => Ev::End,
            }
        }
    }

    use Want::{Data, End, File, Part, PartEnd};

    const CASES: &[Case] = &[
        Case {
            name: "one field",
            input: "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
            want: &[Part("a"), Data("1"), PartEnd, End],
            status: None,
        },
        Case {
            name: "field and file, as curl -F sends them",
            input: "--XyZ\r\n\
                    Content-Disposition: form-data; name=\"a\"\r\n\r\n\
                    1\r\n\
                    --XyZ\r\n\
                    Content-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\n\
                    line one\r\nline two\r\n\r\n\
                    --XyZ--\r\n",
            want: &[
                Part("a"),
                Data("1"),
                PartEnd,
                File("file", "f.txt", "text/plain"),
                Data("line one\r\nline two\r\n"),
                PartEnd,
                End,
            ],
            status: None,
        },
        Case {
            name: "preamble and epilogue are ignored",
            input: "this is the preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\
                    x\r\n--XyZ--\r\nthe epilogue\r\n--XyZ\r\ngarbage",
            want: &[Part("a"), Data("x"), PartEnd, End],
            status: None,
        },
        Case {
            name: "preamble that looks like a boundary",
            input: "x--XyZ\r\n--Xy\r\n--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--",
            want: &[Part("a"), Data("x"), PartEnd, End],
            status: None,
        },
        Case {
            name: "empty preamble before CRLF",
            input: "\r\n--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--XyZ--",
            want: &[Part("a"), PartEnd, End],
            status: None,
        },
        Case {
            name: "empty content",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--XyZ--",
            want: &[Part("a"), PartEnd, End],
            status: None,
        },
        Case {
            name: "no parts at all",
            input: "--XyZ--\r\n",
            want: &[End],
            status: None,
        },
        Case {
            name: "transport padding",
            input: "--XyZ \t \r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ\t\r\n\
                    Content-Disposition: form-data; name=b\r\n\r\ny\r\n--XyZ-- \r\n",
            want: &[
                Part("a"),
                Data("x"),
                PartEnd,
                Part("b"),
                Data("y"),
                PartEnd,
                End,
            ],
            status: None,
        },
        Case {
            name: "content that almost holds the delimiter",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\
                    \r\n--Xy\r\n-\r\r\n\r\n--X\r\n--XyZ--",
            want: &[Part("a"), Data("\r\n--Xy\r\n-\r\r\n\r\n--X"), PartEnd, End],
            status: None,
        },
        Case {
            name: "close delimiter without CRLF and epilogue",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--",
            want: &[Part("a"), Data("x"), PartEnd, End],
            status: None,
        },
        Case {
            name: "case-insensitive disposition and names",
            input: "--XyZ\r\ncontent-disposition: Form-Data; NAME=\"a\"; FileName=\"b\"\r\n\
                    CONTENT-TYPE: image/png\r\n\r\nx\r\n--XyZ--",
            want: &[File("a", "b", "image/png"), Data("x"), PartEnd, End],
            status: None,
        },
        Case {
            name: "quoted-pair escapes, and a backslash kept before other characters",
            input: "--XyZ\r\nContent-Disposition: form-data; name=\"a\\\"b\\\\c\"; \
                    filename=\"C:\\dir\\f.txt\"\r\nContent-Type: t/t\r\n\r\n\r\n--XyZ--",
            want: &[File("a\"b\\c", "C:\\dir\\f.txt", "t/t"), PartEnd, End],
            status: None,
        },
        Case {
            name: "semicolons inside quotes",
            input: "--XyZ\r\nContent-Disposition: form-data; name=\"a;b\"; filename=\"x;y=z\"\r\n\
                    Content-Type: t/t\r\n\r\n\r\n--XyZ--",
            want: &[File("a;b", "x;y=z", "t/t"), PartEnd, End],
            status: None,
        },
        Case {
            name: "filename* wins over filename",
            input: "--XyZ\r\nContent-Disposition: form-data; name=f; filename=\"plain.txt\"; \
                    filename*=UTF-8''%E2%82%AC%20rates.txt\r\nContent-Type: t/t\r\n\r\n\r\n--XyZ--",
            want: &[File("f", "\u{20ac} rates.txt", "t/t"), PartEnd, End],
            status: None,
        },
        Case {
            name: "filename* in ISO-8859-1",
            input: "--XyZ\r\nContent-Disposition: form-data; name=f; \
                    filename*=iso-8859-1'en'%A3.txt\r\nContent-Type: t/t\r\n\r\n\r\n--XyZ--",
            want: &[File("f", "\u{a3}.txt", "t/t"), PartEnd, End],
            status: None,
        },
        Case {
            name: "UTF-8 names as browsers send them",
            input: "--XyZ\r\nContent-Disposition: form-data; name=\"caf\u{e9}\"; \
                    filename=\"%22r\u{e9}sum\u{e9}%22.pdf\"\r\nContent-Type: application/pdf\r\n\r\n\
                    %PDF\r\n--XyZ--",
            want: &[
                File("caf\u{e9}", "%22r\u{e9}sum\u{e9}%22.pdf", "application/pdf"),
                Data("%PDF"),
                PartEnd,
                End,
            ],
            status: None,
        },
        Case {
            name: "empty filename, as browsers send for no file chosen",
            input: "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\n",
            want: &[File("f", "", "application/octet-stream"), PartEnd, End],
            status: None,
        },
        Case {
            name: "other header fields and parameters are kept or ignored",
            input: "--XyZ\r\nContent-Disposition: form-data; size=3; name=a\r\nX-Extra: 1\r\n\r\n\
                    abc\r\n--XyZ--",
            want: &[Part("a"), Data("abc"), PartEnd, End],
            status: None,
        },
        // Malformed bodies: 400.
        Case {
            name: "empty body",
            input: "",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "no boundary anywhere",
            input: "just some text\r\n",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "truncated in content",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--Xy",
            want: &[Part("a"), Data("abc")],
            status: Some(400),
        },
        Case {
            name: "truncated in headers",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "truncated after a delimiter",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--XyZ",
            want: &[Part("a"), Data("abc"), PartEnd],
            status: Some(400),
        },
        Case {
            name: "bare LF line endings",
            input: "--XyZ\nContent-Disposition: form-data; name=a\n\nx\n--XyZ--\n",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "bare LF in the header section",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "boundary followed by other characters",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZW\r\n",
            want: &[Part("a"), Data("x"), PartEnd],
            status: Some(400),
        },
        Case {
            name: "one dash after the boundary",
            input: "--XyZ-\r\n",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "close delimiter after padding",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ --",
            want: &[Part("a"), Data("x"), PartEnd],
            status: Some(400),
        },
        Case {
            name: "obs-fold",
            input: "--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "part without headers",
            input: "--XyZ\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "part without Content-Disposition",
            input: "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "disposition other than form-data",
            input: "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "part without a name",
            input: "--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "two names",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "two Content-Disposition fields",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\
                    Content-Disposition: form-data; name=b\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "unterminated quoted string",
            input: "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "space around =",
            input: "--XyZ\r\nContent-Disposition: form-data; name = a\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "header line without a colon",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a\r\nnocolon\r\n\r\nx\r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "bad percent-encoding in filename*",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%zz\r\n\r\n\
                    \r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
        Case {
            name: "filename* that is not UTF-8 after decoding",
            input: "--XyZ\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%FF\r\n\r\n\
                    \r\n--XyZ--",
            want: &[],
            status: Some(400),
        },
    ];

    #[test]
    fn table_at_every_split() {
        let limits = MultipartLimits::default();
        for c in CASES {
            let want: Vec<Ev> = c.want.iter().map(Want::ev).collect();
            let got = every_split("XyZ", c.input.as_bytes(), &limits);
            assert_eq!(
                got,
                (want, c.status),
                "{}: decode({:?}) = {got:?}, want {:?}",
                c.name,
                c.input,
                c.status
            );
            every_cut("XyZ", c.input.as_bytes(), &limits);
        }
    }

    #[test]
    fn content_goes_out_without_waiting_for_the_delimiter() {
        let mut dec = MultipartDecoder::new(b"XyZ", &MultipartLimits::default()).unwrap();
        dec.feed(Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n",
        ));
        assert!(matches!(dec.next_event(), Ok(Event::Part(_))));
        // All but what could begin a delimiter goes out at once.
        dec.feed(Bytes::from_static(b"0123456789\r\n--X"));
        assert_eq!(
            dec.next_event().unwrap(),
            Event::Data(Bytes::from_static(b"0123456789"))
        );
        assert_eq!(dec.next_event().unwrap(), Event::NeedData);
        assert_eq!(dec.buffered(), 5);
        // Not a delimiter after all: the held bytes are content.
        dec.feed(Bytes::from_static(b"!"));
        assert_eq!(
            dec.next_event().unwrap(),
            Event::Data(Bytes::from_static(b"\r\n--X!"))
        );
    }

    #[test]
    fn a_part_never_holds_more_than_the_delimiter() {
        let limits = MultipartLimits::default();
        let mut dec = MultipartDecoder::new(b"b", &limits).unwrap();
        dec.feed(Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\n",
        ));
        assert!(matches!(dec.next_event(), Ok(Event::Part(_))));
        let mut out = 0;
        for i in 0..100_000u32 {
            dec.feed(Bytes::from(format!("{i}\r\n-").into_bytes()));
            loop {
                match dec.next_event().unwrap() {
                    Event::Data(d) => out += d.len(),
                    Event::NeedData => break,
                    e => panic!("unexpected {e:?}"),
                }
            }
            assert!(dec.buffered() < "\r\n--b".len(), "{}", dec.buffered());
        }
        assert!(out > 500_000, "{out}");
    }

    #[test]
    fn content_is_a_slice_of_what_was_fed() {
        let mut dec = MultipartDecoder::new(b"XyZ", &MultipartLimits::default()).unwrap();
        let body = Bytes::from(
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nhello\r\n--XyZ--".to_vec(),
        );
        let start = body.as_ptr() as usize;
        let offset = body.windows(5).position(|w| w == b"hello").unwrap();
        dec.feed(body);
        assert!(matches!(dec.next_event(), Ok(Event::Part(_))));
        let Ok(Event::Data(d)) = dec.next_event() else {
            panic!("data")
        };
        assert_eq!(&d[..], b"hello");
        assert_eq!(d.as_ptr() as usize - start, offset, "no copy");
    }

    fn limited(f: impl FnOnce(&mut MultipartLimits)) -> MultipartLimits {
        let mut l = MultipartLimits::default();
        f(&mut l);
        l
    }

    /// `n` parts named `p0`, `p1`, ….
    fn parts(n: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=p{i}\r\n\r\nv\r\n"
            ));
        }
        s + "--XyZ--\r\n"
    }

    #[test]
    fn part_count_over_the_limit_is_413() {
        let limits = limited(|l| l.max_parts = 2);
        let (events, status) = every_split("XyZ", parts(2).as_bytes(), &limits);
        assert_eq!((events.len(), status), (7, None));
        let (events, status) = every_split("XyZ", parts(3).as_bytes(), &limits);
        assert_eq!(status, Some(413));
        assert_eq!(
            events.iter().filter(|e| matches!(e, Ev::Part(..))).count(),
            2
        );
        assert_eq!(MultipartLimits::default().max_parts, 1000);
        let (_, status) = run(
            "XyZ",
            parts(1001).as_bytes(),
            4096,
            &MultipartLimits::default(),
        );
        assert_eq!(status, Some(413));
    }

    #[test]
    fn header_section_over_the_limit_is_431() {
        let head = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--";
        // The section is `Content-Disposition: form-data; name=a\r\n\r\n`.
        let section = head.find("\r\n\r\n").unwrap() + 4 - "--XyZ\r\n".len();
        let fits = limited(|l| l.max_part_header_bytes = section);
        assert_eq!(every_split("XyZ", head.as_bytes(), &fits).1, None);
        let over = limited(|l| l.max_part_header_bytes = section - 1);
        assert_eq!(
            every_split("XyZ", head.as_bytes(), &over),
            (vec![], Some(431))
        );
        // A line that never ends is refused once it passes the limit.
        let endless = format!("--XyZ\r\nX-Long: {}", "a".repeat(20_000));
        assert_eq!(
            run("XyZ", endless.as_bytes(), 1000, &MultipartLimits::default()).1,
            Some(431)
        );
    }

    #[test]
    fn header_fields_over_the_limit_are_431() {
        let head =
            "--XyZ\r\nContent-Disposition: form-data; name=a\r\nA: 1\r\nB: 2\r\n\r\n\r\n--XyZ--";
        let fits = limited(|l| l.max_part_headers = 3);
        assert_eq!(every_split("XyZ", head.as_bytes(), &fits).1, None);
        let over = limited(|l| l.max_part_headers = 2);
        assert_eq!(
            every_split("XyZ", head.as_bytes(), &over),
            (vec![], Some(431))
        );
    }

    #[test]
    fn body_over_the_limit_is_413_after_the_content_that_fits() {
        let input = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n0123456789\r\n--XyZ--";
        let total = input.len() as u64;
        let fits = limited(|l| l.max_body_bytes = total);
        assert_eq!(every_split("XyZ", input.as_bytes(), &fits).1, None);
        let over = limited(|l| l.max_body_bytes = total - 1);
        assert_eq!(every_split("XyZ", input.as_bytes(), &over).1, Some(413));
        // Cut in the middle of the content: what fits goes out first.
        let header = input.find("0123").unwrap() as u64;
        let mid = limited(|l| l.max_body_bytes = header + 4);
        assert_eq!(
            every_split("XyZ", input.as_bytes(), &mid),
            (vec![part("a"), data("0123")], Some(413))
        );
        // The preamble counts too.
        let preamble = format!("{}\r\n{input}", "p".repeat(100));
        let small = limited(|l| l.max_body_bytes = 50);
        assert_eq!(
            every_split("XyZ", preamble.as_bytes(), &small),
            (vec![], Some(413))
        );
    }

    #[test]
    fn boundaries_follow_rfc_2046() {
        for ok in [
            "a",
            "XyZ",
            "----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "a b",
            "'()+_,-./:=?",
        ] {
            assert!(is_valid_boundary(ok.as_bytes()), "{ok:?}");
        }
        assert!(is_valid_boundary("x".repeat(70).as_bytes()));
        for bad in ["", "a ", "a\"b", "a;b", "a\r\nb", "é"] {
            assert!(!is_valid_boundary(bad.as_bytes()), "{bad:?}");
        }
        assert!(!is_valid_boundary("x".repeat(71).as_bytes()));
    }

    #[test]
    fn content_type_gives_the_boundary() {
        let cases: &[(&str, Result<&str, u16>)] = &[
            ("multipart/form-data; boundary=XyZ", Ok("XyZ")),
            ("multipart/form-data;boundary=XyZ", Ok("XyZ")),
            ("Multipart/Form-Data; BOUNDARY=XyZ", Ok("XyZ")),
            (
                "multipart/form-data; charset=utf-8; boundary=\"a b:c\"",
                Ok("a b:c"),
            ),
            (
                "multipart/form-data; boundary=\"XyZ\"; charset=utf-8",
                Ok("XyZ"),
            ),
            (
                "multipart/form-data; boundary=------------------------d74496d66958873e",
                Ok("------------------------d74496d66958873e"),
            ),
            ("multipart/form-data", Err(400)),
            ("multipart/form-data; charset=utf-8", Err(400)),
            ("multipart/form-data; boundary=", Err(400)),
            ("multipart/form-data; boundary=\"\"", Err(400)),
            ("multipart/form-data; boundary=\"a \"", Err(400)),
            ("multipart/form-data; boundary=a b", Err(400)),
            ("multipart/form-data; boundary=\"unterminated", Err(400)),
            ("multipart/form-data; boundary=é", Err(400)),
            ("multipart/mixed; boundary=XyZ", Err(415)),
            ("application/x-www-form-urlencoded", Err(415)),
            ("text/plain", Err(415)),
            ("", Err(415)),
        ];
        for (input, want) in cases {
            let got = parse_boundary(input.as_bytes())
                .map(|b| String::from_utf8(b).unwrap())
                .map_err(|e| e.status().unwrap().as_u16());
            assert_eq!(
                got.as_deref().map_err(|s| *s),
                *want,
                "parse_boundary({input:?})"
            );
        }
        let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
        assert!(parse_boundary(long.as_bytes()).is_err());
    }

    #[test]
    fn headers_are_kept_in_order() {
        let mut dec = MultipartDecoder::new(b"XyZ", &MultipartLimits::default()).unwrap();
        dec.feed(Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-One: 1\r\nContent-Type: text/csv; charset=utf-8\r\n\r\n",
        ));
        let Ok(Event::Part(head)) = dec.next_event() else {
            panic!("a part")
        };
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Content-Disposition", "X-One", "Content-Type"]);
        assert_eq!(head.content_type(), Some("text/csv; charset=utf-8"));
    }
}
