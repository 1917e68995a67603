//! Request body decoding: `Content-Length` and chunked framing.
//!
//! A [`BodyDecoder`] takes bytes from the front of a buffer and hands back
//! body data without copying (`BytesMut::split_to`), one state function per
//! chunked state (hyper's `decode.rs`), with checked arithmetic on every
//! size. It performs no I/O.

use super::BodyKind;
use super::head::parse_trailers;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::types::Headers;
use bytes::{Buf, Bytes, BytesMut};

/// Decoded is what one step of a [`BodyDecoder`] produced.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The buffer holds no complete next piece; read more.
    NeedData,
    /// The body is complete; carries the trailer fields of a chunked body
    /// (empty otherwise).
    End(Headers),
}

/// BodyDecoder removes the transfer framing from a request body.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    received: u64,
    max_body_bytes: u64,
    max_chunk_line_bytes: usize,
    max_trailer_bytes: usize,
    /// How many buffered bytes of the unfinished chunk-size or trailer
    /// line were searched for its LF already: a line that arrives a byte
    /// at a time is scanned once, not once per byte.
    line_scanned: usize,
    /// Where the unfinished trailer line starts: the complete lines
    /// before it were checked already and are not scanned again.
    trailer_line_start: usize,
    limits: Limits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `Content-Length` body with this much left.
    Length(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Inside chunk data with this much left.
    ChunkData(u64),
    /// Expecting the CRLF that ends chunk data.
    ChunkDataEnd,
    /// Reading the trailer section after the last chunk.
    Trailers,
    /// Finished.
    Done,
}

impl BodyDecoder {
    /// Makes a decoder for a body framed as `kind`.
    pub fn new(kind: BodyKind, limits: &Limits) -> BodyDecoder {
        let state = match kind {
            BodyKind::Empty => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::ChunkSize,
        };
        BodyDecoder {
            state,
            received: 0,
            max_body_bytes: limits.max_body_bytes,
            max_chunk_line_bytes: limits.max_chunk_line_bytes,
            max_trailer_bytes: limits.max_trailer_bytes,
            line_scanned: 0,
            trailer_line_start: 0,
            limits: *limits,
        }
    }

    /// Reports whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Returns how many body bytes (without framing) have been produced.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Returns how many more body bytes are known to follow, if known
    /// (only for `Content-Length` bodies).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next piece of the body from the front of `buf`.
    ///
    /// # Errors
    /// [`Error::BadFraming`] for an invalid chunk size, extension or
    /// missing CRLF; [`Error::BodyTooLarge`] once the body passes
    /// `max_body_bytes`; [`Error::HeadTooLarge`] for a trailer section
    /// over its limit.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::End(Headers::new())),
                State::Length(remaining) => return Ok(self.take_data(buf, remaining, true)),
                State::ChunkData(remaining) => return Ok(self.take_data(buf, remaining, false)),
                State::ChunkSize => {
                    let Some(size) = self.decode_chunk_size(buf)? else {
                        return Ok(Decoded::NeedData);
                    };
                    if size == 0 {
                        self.state = State::Trailers;
                    } else {
                        let total = self.received.checked_add(size);
                        if total.is_none_or(|t| t > self.max_body_bytes) {
                            return Err(Error::BodyTooLarge);
                        }
                        self.state = State::ChunkData(size);
                    }
                }
                State::ChunkDataEnd => {
                    if buf.len() < 2 {
                        // A lone CR (or nothing) may still become CRLF.
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(Error::BadFraming("chunk data not followed by CRLF"));
                        }
                        return Ok(Decoded::NeedData);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Error::BadFraming("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    return match self.decode_trailers(buf)? {
                        Some(trailers) => {
                            self.state = State::Done;
                            Ok(Decoded::End(trailers))
                        }
                        None => Ok(Decoded::NeedData),
                    };
                }
            }
        }
    }

    fn take_data(&mut self, buf: &mut BytesMut, remaining: u64, is_length: bool) -> Decoded {
        if remaining == 0 {
            // Only a Content-Length body reaches zero here (chunk data of
            // size zero never starts).
            self.state = State::Done;
            return Decoded::End(Headers::new());
        }
        if buf.is_empty() {
            return Decoded::NeedData;
        }
        let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let data = buf.split_to(n).freeze();
        let left = remaining - n as u64;
        self.received += n as u64;
        self.state = match (is_length, left) {
            (true, 0) => State::Done,
            (true, left) => State::Length(left),
            (false, 0) => State::ChunkDataEnd,
            (false, left) => State::ChunkData(left),
        };
        Decoded::Data(data)
    }

    /// `chunk-size [ chunk-ext ] CRLF`, with `chunk-size = 1*HEXDIG` and
    /// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
    /// (RFC 9112 §7.1). Extensions are ignored but must not contain
    /// control characters; the line must end in CRLF, not a bare LF, since
    /// lenient line endings in chunk framing are a known smuggling vector.
    fn decode_chunk_size(&mut self, buf: &mut BytesMut) -> Result<Option<u64>> {
        let scan = buf.len().min(self.max_chunk_line_bytes.saturating_add(1));
        let from = self.line_scanned.min(scan);
        let Some(lf) = buf[from..scan].iter().position(|&b| b == b'\n') else {
            if buf.len() > self.max_chunk_line_bytes {
                return Err(Error::BadFraming("chunk-size line too long"));
            }
            self.line_scanned = scan;
            return Ok(None);
        };
        let lf = from + lf;
        self.line_scanned = 0;
        let line = &buf[..lf];
        let line = line
            .strip_suffix(b"\r")
            .ok_or(Error::BadFraming("chunk-size line not ended by CRLF"))?;
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(Error::BadFraming("invalid chunk size"));
        }
        let mut size: u64 = 0;
        for &d in &line[..digits] {
            let v = (d as char)
                .to_digit(16)
                .expect("checked: is_ascii_hexdigit") as u64;
            size = size
                .checked_mul(16)
                .and_then(|s| s.checked_add(v))
                .ok_or(Error::BadFraming("chunk size overflows"))?;
        }
        let ext = &line[digits..];
        if !ext.is_empty() {
            let rest = ext.trim_ascii_start();
            if !rest.starts_with(b";") {
                return Err(Error::BadFraming("invalid chunk size"));
            }
            if rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(Error::BadFraming("control character in chunk extension"));
            }
        }
        buf.advance(lf + 1);
        Ok(Some(size))
    }

    /// `trailer-section CRLF`: field lines, each ended by CRLF, then an
    /// empty line. Returns `None` until the whole section is buffered.
    fn decode_trailers(&mut self, buf: &mut BytesMut) -> Result<Option<Headers>> {
        // Resuming after the lines already checked, and the search for
        // a line's LF where it stopped, keeps a section that arrives a
        // byte at a time linear, not quadratic.
        let mut pos = self.trailer_line_start.min(buf.len());
        let mut from = self.line_scanned.clamp(pos, buf.len());
        loop {
            // The section may take `max_trailer_bytes` plus its final
            // CRLF. The size is checked before the line ending, and an
            // unfinished line only once even its LF could not fit, so the
            // answer does not depend on how the bytes were split.
            let Some(lf) = buf[from..].iter().position(|&b| b == b'\n') else {
                if buf.len() > self.max_trailer_bytes.saturating_add(1) {
                    return Err(Error::HeadTooLarge);
                }
                self.trailer_line_start = pos;
                self.line_scanned = buf.len();
                return Ok(None);
            };
            let end = from + lf;
            if end + 1 > self.max_trailer_bytes.saturating_add(2) {
                return Err(Error::HeadTooLarge);
            }
            if end == 0 || buf[end - 1] != b'\r' {
                return Err(Error::BadFraming("trailer line not ended by CRLF"));
            }
            if end - pos == 1 {
                // The empty line: the section is complete.
                let section = buf.split_to(end + 1).freeze();
                if section.len() == 2 {
                    return Ok(Some(Headers::new()));
                }
                return parse_trailers(section, &self.limits).map(Some);
            }
            pos = end + 1;
            from = pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the decoder over `input` fed in pieces split at `splits`,
    /// returning the body, trailers and the bytes left after the body.
    fn run(kind: BodyKind, input: &[u8], step: usize) -> Result<(Vec<u8>, Headers, Vec<u8>)> {
        let mut dec = BodyDecoder::new(kind, &Limits::default());
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut body = Vec::new();
        loop {
            match dec.decode(&mut buf)? {
                Decoded::Data(d) => {
                    assert!(!d.is_empty(), "Data is never empty");
                    body.extend_from_slice(&d);
                }
                Decoded::End(t) => {
                    let mut rest = buf.to_vec();
                    rest.extend_from_slice(&input[fed..]);
                    return Ok((body, t, rest));
                }
                Decoded::NeedData => {
                    if fed == input.len() {
                        return Err(Error::UnexpectedEof);
                    }
                    let n = step.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    /// Feeds `input` whole, byte by byte and at every step size, and
    /// checks every way gives the same answer (h11's `tr()`).
    fn every_split(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, Headers, Vec<u8>)> {
        let whole = run(kind, input, input.len().max(1));
        for step in 1..input.len().max(1) {
            let got = run(kind, input, step);
            match (&whole, &got) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "step {step} for {input:?}"),
                (Err(a), Err(b)) => {
                    assert_eq!(a.status(), b.status(), "step {step} for {input:?}")
                }
                _ => panic!("step {step} for {input:?}: whole {whole:?} vs split {got:?}"),
            }
        }
        whole
    }

    struct Case {
        name: &'static str,
        input: &'static [u8],
        body: Option<&'static [u8]>,
        rest: &'static [u8],
    }

    const CHUNKED: &[Case] = &[
        Case {
            name: "one chunk",
            input: b"5\r\nhello\r\n0\r\n\r\n",
            body: Some(b"hello"),
            rest: b"",
        },
        Case {
            name: "two chunks and trailing request",
            input: b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
            body: Some(b"abcde"),
            rest: b"GET / HTTP/1.1\r\n",
        },
        Case {
            name: "uppercase hex, leading zeros",
            input: b"00A\r\n0123456789\r\n0\r\n\r\n",
            body: Some(b"0123456789"),
            rest: b"",
        },
        Case {
            name: "extensions ignored",
            input: b"5;a=b;c=\"d e\"\r\nhello\r\n0;x\r\n\r\n",
            body: Some(b"hello"),
            rest: b"",
        },
        Case {
            name: "space before extension",
            input: b"5 ;a\r\nhello\r\n0\r\n\r\n",
            body: Some(b"hello"),
            rest: b"",
        },
        Case {
            name: "trailers",
            input: b"1\r\nx\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\nnext",
            body: Some(b"x"),
            rest: b"next",
        },
        Case {
            name: "empty body",
            input: b"0\r\n\r\n",
            body: Some(b""),
            rest: b"",
        },
        Case {
            name: "negative size",
            input: b"-1\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "0x prefix",
            input: b"0x5\r\nhello\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "size overflow",
            input: b"10000000000000000\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "bare LF after size",
            input: b"5\nhello\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "space after size, no extension",
            input: b"5 \r\nhello\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "missing CRLF after data",
            input: b"5\r\nhelloX\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "LF only after data",
            input: b"5\r\nhello\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "bare LF in extension",
            input: b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "bare CR in extension",
            input: b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "empty size",
            input: b"\r\nhello\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "plus sign",
            input: b"+5\r\nhello\r\n0\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "trailer obs-fold",
            input: b"0\r\nX: a\r\n b\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "trailer without colon",
            input: b"0\r\nnocolon\r\n\r\n",
            body: None,
            rest: b"",
        },
        Case {
            name: "trailer LF only",
            input: b"0\r\nX: a\n\r\n",
            body: None,
            rest: b"",
        },
    ];

    #[test]
    fn chunked_table_at_every_split() {
        for c in CHUNKED {
            let got = every_split(BodyKind::Chunked, c.input);
            match (c.body, got) {
                (Some(want), Ok((body, _, rest))) => {
                    assert_eq!(body, want, "{}: body", c.name);
                    assert_eq!(rest, c.rest, "{}: rest", c.name);
                }
                (None, Err(e)) => {
                    assert_eq!(
                        e.status().map(|s| s.as_u16()),
                        Some(400),
                        "{}: {e:?}",
                        c.name
                    )
                }
                (want, got) => panic!("{}: decode({:?}) = {got:?}, want {want:?}", c.name, c.input),
            }
        }
    }

    #[test]
    fn trailers_are_returned() {
        let (_, t, _) = every_split(BodyKind::Chunked, b"1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n").unwrap();
        assert_eq!(t.get("x-sum"), Some("1"));
    }

    #[test]
    fn content_length_stops_at_length() {
        let (body, _, rest) = every_split(BodyKind::Length(5), b"helloGET").unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(rest, b"GET");
    }

    #[test]
    fn truncated_bodies_need_more_data() {
        assert!(matches!(
            run(BodyKind::Length(5), b"hel", 1),
            Err(Error::UnexpectedEof)
        ));
        assert!(matches!(
            run(BodyKind::Chunked, b"5\r\nhel", 1),
            Err(Error::UnexpectedEof)
        ));
    }

    #[test]
    fn chunked_body_over_limit_is_413() {
        let limits = Limits {
            max_body_bytes: 4,
            ..Limits::default()
        };
        let mut dec = BodyDecoder::new(BodyKind::Chunked, &limits);
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"[..]);
        assert!(matches!(dec.decode(&mut buf), Ok(Decoded::Data(_))));
        assert!(matches!(dec.decode(&mut buf), Err(Error::BodyTooLarge)));
    }

    #[test]
    fn long_chunk_line_is_bounded() {
        let mut input = b"5;".to_vec();
        input.extend(std::iter::repeat_n(b'a', 5000));
        let mut dec = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
        let mut buf = BytesMut::from(&input[..]);
        assert!(matches!(dec.decode(&mut buf), Err(Error::BadFraming(_))));
    }

    #[test]
    fn endless_trailers_are_bounded() {
        let mut input = b"0\r\n".to_vec();
        for i in 0..2000 {
            input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut dec = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
        let mut buf = BytesMut::from(&input[..]);
        assert!(matches!(dec.decode(&mut buf), Err(Error::HeadTooLarge)));
    }
}
