//! The one model of the server's connection driver, shared by the seeded
//! tests (`properties.rs`, `corpus.rs`, `regressions.rs`, `hostile.rs`)
//! and the fuzz targets, which include this file with `#[path]`: a
//! [`Conn`] fed bytes as the server feeds it, each request answered as a
//! handler would answer it, each protocol error answered as the server
//! does, and everything written read back as a client would read it.
//!
//! [`run`] checks the invariants on the way:
//! - nothing is invented: `next_event` never adds bytes, bytes held never
//!   exceed bytes given, body bytes never exceed bytes consumed, and `Data`
//!   is never empty;
//! - the buffer is bounded by the limits: whenever the connection asks
//!   for more, what it holds is an unfinished head within
//!   `max_head_bytes` (and its read hint never invites more than one byte
//!   past it), nothing of a `Content-Length` body, or an unfinished
//!   chunk-size line or trailer section within its limit; fed no more than
//!   `read_hint()` at a time, it never holds more than that plus
//!   `READ_CHUNK`;
//! - responses never outnumber request heads, at most one error response
//!   is written, nothing follows it or a `Connection: close`, and an error
//!   answers with a 4xx or 5xx status;
//! - everything written reads back as well-framed responses with the
//!   statuses and bodies sent, and the connection goes on exactly when no
//!   response said close;
//! - the machine makes progress, and `Closed` is final.
//!
//! [`decode_chunked`] drives the chunked body decoder alone, and
//! [`read_response`] is the client's reader.
//!
//! It needs nothing the fuzz crate lacks (`sockhttp` with its
//! `_internals`, and `httparse`) and the generator `rng.rs`, which the
//! includer declares beside it as `rng`.

use super::rng::Rng;
use bytes::BytesMut;
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::body::{BodyDecoder, Decoded};
use sockhttp::_internals::conn::{Conn, Event, READ_CHUNK, Reading};
use sockhttp::_internals::encode::{
    BodyEncoder, ConnectionHeader, Framing, decide_framing, encode_head,
};
use sockhttp::{Headers, Limits, Method, StatusCode, Version};

/// Header fields as comparable owned bytes.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

pub fn fields(h: &Headers) -> Fields {
    h.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

/// One observable step of a connection, comparable between runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Head {
        method: String,
        target: String,
        version: &'static str,
        headers: Fields,
        body: BodyKind,
        keep_alive: bool,
        expect_continue: bool,
    },
    /// Consecutive `Data` events, concatenated.
    Body(Vec<u8>),
    End {
        trailers: Fields,
    },
    /// An error and the status it answers with.
    Error(Option<u16>),
    Closed,
    /// The input ran out and the peer went quiet without closing (see
    /// [`run_then_silence`]): the connection waits for more, holding this
    /// many bytes.
    Waiting(usize),
}

/// How the bytes reach the connection.
#[derive(Clone, Copy, Debug)]
pub enum Feed {
    Whole,
    ByteByByte,
    /// Pieces of this many bytes (the last may be shorter), whatever
    /// `read_hint()` says.
    Steps(usize),
    /// As many bytes as `read_hint()` asks for, as the server reads.
    Hint,
    /// Random pieces of at most this many bytes, never over `read_hint()`,
    /// as the server reads, drawn from a generator with this seed; read in
    /// place (`spare`/`filled`, as the server does) when the seed is odd,
    /// else copied in (`receive`).
    Pieces(usize, u64),
    /// Two pieces: the bytes before this point, then the rest.
    Split(usize),
}

impl Feed {
    /// Whether no piece is larger than `read_hint()` (and `READ_CHUNK`).
    fn within_hint(self) -> bool {
        matches!(self, Feed::ByteByByte | Feed::Hint | Feed::Pieces(..))
    }
}

/// How the model's handler answers each request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// `200 hello` with a known length, keep-alive allowed, once the whole
    /// request is read.
    Plain,
    /// Choices drawn from a generator seeded with this (the same draws
    /// whatever the feed): the status, a body of known or unknown length,
    /// and, for one request in four, an answer before the body is read.
    Varied(u64),
}

/// What a run of a connection produced.
pub struct Run {
    pub steps: Vec<Step>,
    /// Bytes given to the connection, and bytes it consumed.
    pub fed: usize,
    pub consumed: usize,
}

/// One response the handler wrote, and what reading it back must give.
struct Sent {
    status: u16,
    /// An answer to HEAD, or an interim response: no body follows.
    no_body: bool,
    body: Vec<u8>,
    close: bool,
    interim: bool,
}

/// The request being answered.
struct Current {
    version: Version,
    head_request: bool,
    answered: bool,
}

/// Drives a `Conn` over `input` as the server does, the peer closing its
/// side after the input, answering each request (see [`Answer`]) and each
/// protocol error, and checks the invariants (see the module's comment).
pub fn run(input: &[u8], limits: Limits, feed: Feed, answer: Answer) -> Run {
    drive(input, limits, feed, answer, true)
}

/// [`run`], but the peer goes quiet after the input without closing its
/// side: a connection still waiting for bytes ends the run with
/// [`Step::Waiting`] (the server's deadlines would end it).
pub fn run_then_silence(input: &[u8], limits: Limits, feed: Feed, answer: Answer) -> Run {
    drive(input, limits, feed, answer, false)
}

fn drive(input: &[u8], limits: Limits, feed: Feed, answer: Answer, eof: bool) -> Run {
    let mut conn = Conn::new(limits);
    let mut feed_rng = match feed {
        Feed::Pieces(_, seed) => Rng::new(seed),
        _ => Rng::new(1),
    };
    let in_place = matches!(feed, Feed::Pieces(_, seed) if seed % 2 == 1);
    let mut answer_rng = match answer {
        Answer::Varied(seed) => Some(Rng::new(seed)),
        Answer::Plain => None,
    };
    let held_limit = limits
        .max_head_bytes
        .max(limits.max_trailer_bytes + 1)
        .max(limits.max_chunk_line_bytes);
    let bounded = |conn: &Conn| {
        if feed.within_hint() {
            assert!(
                conn.buffered() <= held_limit + READ_CHUNK,
                "buffer {} over {held_limit} + READ_CHUNK",
                conn.buffered()
            );
        }
    };
    let mut fed = 0;
    let mut body_bytes = 0;
    let mut steps = Vec::new();
    let mut heads = 0;
    let mut errors = 0;
    let mut wire = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    let mut current: Option<Current> = None;
    let mut closed_by_response = false;
    let budget = 8 * input.len() + 64;
    for _ in 0..budget {
        let before = conn.buffered();
        let event = conn.next_event();
        assert!(conn.buffered() <= before, "next_event added bytes");
        assert!(conn.buffered() <= fed, "holds more bytes than it was given");
        bounded(&conn);
        assert_eq!(
            conn.is_idle(),
            matches!(conn.reading(), Reading::Head) && conn.buffered() == 0,
            "idle is between requests with nothing held"
        );
        match event {
            Ok(Event::Head(h)) => {
                assert!(!closed_by_response, "a request after Connection: close");
                assert!(
                    current.as_ref().is_none_or(|c| c.answered),
                    "a head before the previous request was answered"
                );
                heads += 1;
                assert_eq!(conn.requests(), heads as u64, "requests counted");
                current = Some(Current {
                    version: h.version,
                    head_request: h.method == Method::Head,
                    answered: false,
                });
                steps.push(Step::Head {
                    method: h.method.as_str().to_owned(),
                    target: h.target.clone(),
                    version: h.version.as_str(),
                    headers: fields(&h.headers),
                    body: h.body,
                    keep_alive: h.keep_alive,
                    expect_continue: h.expect_continue,
                });
                if conn.take_continue() {
                    assert!(h.expect_continue, "100 Continue nobody asked for");
                    wire.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    sent.push(Sent {
                        status: 100,
                        no_body: true,
                        body: Vec::new(),
                        close: false,
                        interim: true,
                    });
                }
                if answer_rng.as_mut().is_some_and(|r| r.one_in(4)) {
                    // Answered before the body is read: unless there is no
                    // body, the connection cannot go on.
                    let cur = current.as_mut().expect("set above");
                    closed_by_response =
                        !respond(&mut conn, cur, answer_rng.as_mut(), &mut wire, &mut sent);
                }
            }
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                assert!(
                    current.as_ref().is_some_and(|c| !c.answered),
                    "body after the answer"
                );
                body_bytes += d.len();
                assert!(
                    body_bytes <= fed - conn.buffered(),
                    "more body than bytes consumed"
                );
                match steps.last_mut() {
                    Some(Step::Body(b)) => b.extend_from_slice(&d),
                    _ => steps.push(Step::Body(d.to_vec())),
                }
            }
            Ok(Event::End) => {
                assert!(conn.body_finished());
                steps.push(Step::End {
                    trailers: fields(conn.trailers()),
                });
            }
            Ok(Event::Paused) => {
                let cur = current.as_mut().expect("Paused belongs to a request");
                assert!(!cur.answered, "Paused after the answer");
                closed_by_response =
                    !respond(&mut conn, cur, answer_rng.as_mut(), &mut wire, &mut sent);
            }
            Ok(Event::NeedData) => {
                assert_held_within_limits(&conn, &limits);
                if fed == input.len() {
                    if !eof {
                        steps.push(Step::Waiting(conn.buffered()));
                        break;
                    }
                    assert!(!conn.is_eof(), "NeedData after end-of-stream");
                    conn.receive_eof();
                    continue;
                }
                let hint = conn.read_hint();
                assert!(hint > 0, "NeedData but read_hint is 0");
                let left = input.len() - fed;
                let n = match feed {
                    Feed::Whole => left,
                    Feed::ByteByByte => 1,
                    Feed::Steps(step) => step.clamp(1, left),
                    Feed::Hint => hint.min(left),
                    Feed::Pieces(max, _) => feed_rng.size(max).min(hint).min(left),
                    Feed::Split(at) if fed < at => (at - fed).min(left),
                    Feed::Split(_) => left,
                };
                if in_place {
                    conn.spare(hint)[..n].copy_from_slice(&input[fed..fed + n]);
                    conn.filled(hint, n);
                } else {
                    conn.receive(&input[fed..fed + n]);
                }
                fed += n;
                bounded(&conn);
            }
            Ok(Event::Closed) => {
                assert_eq!(conn.read_hint(), 0, "a closed connection reads nothing");
                assert!(
                    matches!(conn.next_event(), Ok(Event::Closed)),
                    "Closed is final"
                );
                steps.push(Step::Closed);
                break;
            }
            Err(e) => {
                assert!(!closed_by_response, "an error after Connection: close");
                assert!(matches!(conn.reading(), Reading::Closed), "an error closes");
                let status = e.status().map(|s| s.as_u16());
                if let Some(s) = status {
                    assert!((400..600).contains(&s), "{e:?} answers {s}");
                    errors += 1;
                    write_error(s, &mut wire, &mut sent);
                }
                assert!(
                    matches!(conn.next_event(), Ok(Event::Closed)),
                    "Closed after an error"
                );
                steps.push(Step::Error(status));
                break;
            }
        }
    }
    assert!(
        matches!(
            steps.last(),
            Some(Step::Closed | Step::Error(_) | Step::Waiting(_))
        ),
        "no progress after {budget} events"
    );
    if eof {
        assert!(
            matches!(conn.reading(), Reading::Closed),
            "the run ends closed"
        );
    }
    let finals = sent.iter().filter(|s| !s.interim).count();
    assert!(errors <= 1, "{errors} error responses");
    assert!(
        finals - errors <= heads,
        "{finals} responses ({errors} errors) for {heads} requests"
    );
    check_wire(&wire, &sent);
    Run {
        steps,
        fed,
        consumed: fed - conn.buffered(),
    }
}

/// Runs `input` whole, byte by byte and in two random piece patterns
/// (pieces of up to 7 bytes, and of up to `READ_CHUNK`), and checks all
/// four give the same steps; returns them.
pub fn every_split(input: &[u8], limits: Limits, seed: u64, answer: Answer) -> Vec<Step> {
    let whole = run(input, limits, Feed::Whole, answer).steps;
    let bytewise = run(input, limits, Feed::ByteByByte, answer).steps;
    assert_eq!(
        whole,
        bytewise,
        "whole vs byte by byte for {:?}",
        String::from_utf8_lossy(input)
    );
    for (max, s) in [(7, seed), (READ_CHUNK, seed ^ 0xabcd)] {
        let pieces = run(input, limits, Feed::Pieces(max, s), answer).steps;
        assert_eq!(
            whole,
            pieces,
            "whole vs pieces of {max} for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

/// Whenever the connection asks for more bytes, what it holds must be an
/// unfinished piece within its limit; otherwise a peer could make it
/// buffer without bound.
fn assert_held_within_limits(conn: &Conn, limits: &Limits) {
    let held = conn.buffered();
    match conn.reading() {
        Reading::Head => {
            assert!(
                held <= limits.max_head_bytes,
                "an unfinished head of {held} bytes over max_head_bytes {}",
                limits.max_head_bytes
            );
            assert!(
                held + conn.read_hint() <= limits.max_head_bytes + 1,
                "read_hint {} invites more than one byte past the head limit",
                conn.read_hint()
            );
        }
        Reading::Body(d) if d.remaining().is_some() => {
            assert_eq!(held, 0, "a Content-Length body waits with bytes held");
        }
        Reading::Body(_) => {
            let limit = limits
                .max_chunk_line_bytes
                .max(limits.max_trailer_bytes + 1);
            assert!(
                held <= limit,
                "an unfinished chunk line or trailer section of {held} bytes over {limit}"
            );
        }
        other => panic!("NeedData while {other:?}"),
    }
}

const STATUSES: &[u16] = &[200, 201, 204, 304, 404, 500];

/// The `Date` every written response carries.
const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

/// Answers the current request: `200 hello` with a known length, or, with
/// a generator, a drawn status and a body of known or unknown length.
/// Returns whether the connection goes on.
fn respond(
    conn: &mut Conn,
    cur: &mut Current,
    rng: Option<&mut Rng>,
    wire: &mut Vec<u8>,
    sent: &mut Vec<Sent>,
) -> bool {
    cur.answered = true;
    let (status, body, known) = match rng {
        None => (StatusCode::OK, b"hello".to_vec(), true),
        Some(rng) => {
            let status = StatusCode::new(*rng.pick(STATUSES)).expect("a valid code");
            let body = rng.bytes(0, 39, b"abc\r\n0");
            (status, body, !rng.one_in(3))
        }
    };
    let framing = decide_framing(
        status,
        cur.head_request,
        cur.version,
        known.then_some(body.len() as u64),
        None,
    );
    let keep = conn.decide_keep_alive(framing != Framing::CloseDelimited);
    let mut headers = Headers::new();
    headers.append("Content-Type", "text/plain");
    encode_head(
        wire,
        status,
        &headers,
        framing,
        ConnectionHeader::choose(cur.version, keep),
        DATE,
        Some("sockhttp"),
    );
    let mut enc = BodyEncoder::new(framing);
    let mut written = Vec::new();
    if enc.sends_body() {
        // Two pieces when the body allows, so chunked framing shows.
        for piece in body.chunks(body.len().div_ceil(2).max(1)) {
            let (chunk, tail) = enc.frame(piece.len()).expect("within the framing");
            wire.extend_from_slice(chunk.as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(tail);
            written.extend_from_slice(piece);
        }
        wire.extend_from_slice(enc.finish().expect("the whole body was framed"));
    }
    sent.push(Sent {
        status: status.as_u16(),
        no_body: cur.head_request,
        body: written,
        close: !keep,
        interim: false,
    });
    let goes_on = conn.finish_exchange(true);
    assert_eq!(
        goes_on, keep,
        "finish_exchange disagrees with decide_keep_alive"
    );
    goes_on
}

/// Writes the answer to a protocol error, as the server does.
fn write_error(status: u16, wire: &mut Vec<u8>, sent: &mut Vec<Sent>) {
    let status = StatusCode::new(status).expect("a valid code");
    let body = format!("{} {}\n", status.as_u16(), status.reason()).into_bytes();
    encode_head(
        wire,
        status,
        &Headers::new(),
        Framing::Length(body.len() as u64),
        ConnectionHeader::Close,
        DATE,
        Some("sockhttp"),
    );
    wire.extend_from_slice(&body);
    sent.push(Sent {
        status: status.as_u16(),
        no_body: false,
        body,
        close: true,
        interim: false,
    });
}

/// Reads the responses back as a client would (see [`read_response`]):
/// each well framed, with the status and body sent, in order, and none
/// after one that closes the connection (`Connection: close` or a
/// close-delimited body).
fn check_wire(wire: &[u8], sent: &[Sent]) {
    let mut pos = 0;
    for (i, want) in sent.iter().enumerate() {
        let (got, used) = read_response(&wire[pos..], want.no_body);
        assert_eq!(got.status, want.status, "response {i}: status");
        for name in ["content-length", "transfer-encoding", "connection"] {
            assert!(got.count(name) <= 1, "response {i}: two {name} fields");
        }
        assert_eq!(got.body, want.body, "response {i}: body");
        let close_field = got.header("connection") == Some(b"close");
        assert_eq!(
            close_field || got.close_delimited,
            want.close,
            "response {i}: connection fate"
        );
        pos += used;
        if want.close {
            assert_eq!(i + 1, sent.len(), "a response after one that closes");
        }
    }
    assert_eq!(pos, wire.len(), "bytes after the last response");
}

/// One response read back from the wire.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The body ran to the end of the stream (close-delimited).
    pub close_delimited: bool,
}

impl Parsed {
    /// Returns the first value of field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// Returns how many fields are named `name` (case-insensitive).
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// Reads one response from the front of `wire`, as a client would: the
/// head with httparse, then the body by its framing (RFC 9112 §6.3).
/// `no_body` is true for answers to HEAD. Returns the response and the
/// bytes it used; panics if the bytes are not a well-framed response.
pub fn read_response(wire: &[u8], no_body: bool) -> (Parsed, usize) {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut slots);
    let n = match resp.parse(wire) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "response head does not parse: {other:?} in {:?}",
            String::from_utf8_lossy(wire)
        ),
    };
    let status = resp.code.expect("complete response has a code");
    let headers: Vec<(String, Vec<u8>)> = resp
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();
    let mut parsed = Parsed {
        status,
        headers,
        body: Vec::new(),
        close_delimited: false,
    };
    let rest = &wire[n..];
    let te = parsed.header("transfer-encoding").map(<[u8]>::to_vec);
    let cl = parsed.header("content-length").map(<[u8]>::to_vec);
    assert!(
        te.is_none() || cl.is_none(),
        "response with both Content-Length and Transfer-Encoding"
    );
    let bodiless = no_body || (100..200).contains(&status) || status == 204 || status == 304;
    if bodiless {
        if (100..200).contains(&status) || status == 204 {
            assert!(cl.is_none() && te.is_none(), "{status} with framing fields");
        }
        return (parsed, n);
    }
    if let Some(te) = te {
        assert_eq!(te, b"chunked", "unexpected transfer coding");
        let (body, used) = read_chunked(rest);
        parsed.body = body;
        return (parsed, n + used);
    }
    if let Some(cl) = cl {
        let len: usize = std::str::from_utf8(&cl)
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("Content-Length is a decimal number");
        assert!(rest.len() >= len, "body shorter than Content-Length");
        parsed.body = rest[..len].to_vec();
        return (parsed, n + len);
    }
    parsed.body = rest.to_vec();
    parsed.close_delimited = true;
    (parsed, wire.len())
}

/// A strict chunked reader: hex size, CRLF, data, CRLF, ..., `0` CRLF,
/// CRLF (the server sends no extensions and no trailers). Returns the
/// body and the bytes used.
fn read_chunked(wire: &[u8]) -> (Vec<u8>, usize) {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let lf = wire[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk-size line ends in CRLF");
        let size = std::str::from_utf8(&wire[pos..pos + lf])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .expect("chunk size is hex");
        pos += lf + 2;
        if size == 0 {
            assert_eq!(wire.get(pos..pos + 2), Some(&b"\r\n"[..]), "last chunk");
            return (body, pos + 2);
        }
        assert!(wire.len() >= pos + size + 2, "chunk data cut short");
        body.extend_from_slice(&wire[pos..pos + size]);
        assert_eq!(
            &wire[pos + size..pos + size + 2],
            b"\r\n",
            "chunk data not followed by CRLF"
        );
        pos += size + 2;
    }
}

/// What the chunked body decoder made of an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoding {
    /// The body, its trailer fields, and the bytes after it, untouched.
    Done {
        body: Vec<u8>,
        trailers: Fields,
        rest: Vec<u8>,
    },
    /// The body so far and the status the error answers with.
    Failed { body: Vec<u8>, status: Option<u16> },
    /// The input ended first.
    Incomplete { body: Vec<u8> },
}

/// Feeds `input` to a chunked body decoder in pieces of `sizes` (cycled)
/// and decodes to the end. Checks on the way: `Data` is never empty nor
/// larger than what is buffered, the body never exceeds the input nor
/// `max_body_bytes`, and an error answers with a 4xx or 5xx status.
pub fn decode_chunked(input: &[u8], limits: &Limits, sizes: &[usize]) -> Decoding {
    let mut dec = BodyDecoder::new(BodyKind::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut body = Vec::new();
    let mut next_size = sizes.iter().copied().cycle();
    loop {
        let before = buf.len();
        match dec.decode(&mut buf) {
            Ok(Decoded::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                assert!(d.len() <= before, "Data larger than the buffer");
                body.extend_from_slice(&d);
                assert!(body.len() <= fed, "more body than input");
                assert!(
                    body.len() as u64 <= limits.max_body_bytes,
                    "body over the limit"
                );
                assert_eq!(dec.received(), body.len() as u64);
            }
            Ok(Decoded::End(trailers)) => {
                assert!(dec.is_done());
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&input[fed..]);
                return Decoding::Done {
                    body,
                    trailers: fields(&trailers),
                    rest,
                };
            }
            Ok(Decoded::NeedData) => {
                assert!(!dec.is_done());
                if fed == input.len() {
                    return Decoding::Incomplete { body };
                }
                let n = next_size.next().unwrap_or(1).clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16());
                assert!(matches!(status, Some(400..=599)), "{e:?}");
                return Decoding::Failed { body, status };
            }
        }
    }
}
