//! Deterministic property tests: the invariants of the fuzz targets, run
//! on every `cargo test` with a fixed-seed generator instead of libFuzzer.
//!
//! A small xorshift generator builds valid requests (methods, targets,
//! header sets, `Content-Length` and chunked bodies, pipelines) and then
//! mutates them (byte flips, insertions, truncations, oversized fields,
//! duplicated framing headers). Every input is checked for: the same
//! events whole, one byte at a time and in random pieces; no panic; a read
//! buffer bounded by the limits; no more responses than requests, each one
//! well framed; and, for valid requests, that method, target, headers and
//! body come out exactly as generated.

use bytes::BytesMut;
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::body::{BodyDecoder, Decoded};
use sockhttp::_internals::conn::{Conn, Event, READ_CHUNK};
use sockhttp::_internals::encode::{
    BodyEncoder, ConnectionHeader, Framing, decide_framing, encode_head,
};
use sockhttp::_internals::head::parse_head;
use sockhttp::{Headers, Limits, Method, StatusCode, Version};

/// Cases per property: enough to reach every path the generator knows,
/// few enough for a debug build to finish in seconds.
const CASES: u64 = 400;

/// A xorshift64 generator with a fixed seed per case.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability 1 in `n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Between `min` and `max` bytes (inclusive) from `alphabet`.
    fn bytes(&mut self, min: usize, max: usize, alphabet: &[u8]) -> Vec<u8> {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }
}

const TCHAR: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'+^`|#$%&";
const PCHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/";
const VCHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Picks limits: the defaults most of the time, else small ones that the
/// generated requests cross.
fn limits(rng: &mut Rng) -> Limits {
    let mut l = Limits::default();
    if rng.one_in(3) {
        l.max_request_line_bytes = 48 + rng.below(64);
        l.max_head_bytes = 160 + rng.below(256);
        l.max_headers = 2 + rng.below(6);
        l.max_body_bytes = 16 + rng.below(64) as u64;
        l.max_trailer_bytes = 16 + rng.below(32);
        l.max_chunk_line_bytes = 8 + rng.below(16);
    }
    l
}

/// A generated valid request and what parsing it must give back.
#[derive(Clone, Debug)]
struct Generated {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
    trailers: Vec<(String, String)>,
    keep_alive: bool,
}

impl Generated {
    fn new(rng: &mut Rng) -> Generated {
        let method = rng
            .pick(&[
                "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE",
            ])
            .to_string();
        let version = if rng.one_in(5) {
            Version::Http10
        } else {
            Version::Http11
        };
        let mut target = String::from("/");
        for _ in 0..rng.below(4) {
            target.push_str(&String::from_utf8(rng.bytes(1, 8, PCHAR)).unwrap());
        }
        if rng.one_in(3) {
            target.push('?');
            target.push_str(&String::from_utf8(rng.bytes(0, 11, PCHAR)).unwrap());
        }
        if rng.one_in(8) {
            target = format!("http://example.com{target}");
        } else if method == "OPTIONS" && rng.one_in(3) {
            target = "*".to_string();
        }
        let mut headers = vec![("Host".to_string(), "example.com".to_string())];
        for i in 0..rng.below(5) {
            let name = format!(
                "X-{}{i}",
                String::from_utf8(rng.bytes(1, 6, TCHAR)).unwrap()
            );
            // Values without surrounding whitespace, which is not part of
            // a field value (RFC 9110 §5.5).
            let value = String::from_utf8(rng.bytes(0, 19, VCHAR)).unwrap();
            headers.push((name, value.trim_matches([' ', '\t']).to_string()));
        }
        let mut keep_alive = version == Version::Http11;
        if version == Version::Http10 && rng.one_in(2) {
            headers.push(("Connection".to_string(), "keep-alive".to_string()));
            keep_alive = true;
        }
        if rng.one_in(10) {
            headers.push(("Connection".to_string(), "close".to_string()));
            keep_alive = false;
        }
        let body = if rng.one_in(2) {
            rng.bytes(0, 39, &[b'a', b'\r', b'\n', 0, 0xff, b'0'])
        } else {
            Vec::new()
        };
        let chunked = version == Version::Http11 && rng.one_in(2);
        let mut trailers = Vec::new();
        if chunked {
            headers.push(("Transfer-Encoding".to_string(), "chunked".to_string()));
            if rng.one_in(3) {
                trailers.push(("X-Sum".to_string(), format!("{}", body.len())));
            }
        } else if !body.is_empty() || rng.one_in(4) {
            headers.push(("Content-Length".to_string(), body.len().to_string()));
        }
        // Shuffle the fields (Host first is not required).
        for i in (1..headers.len()).rev() {
            let j = rng.below(i + 1);
            headers.swap(i, j);
        }
        let body = if chunked || headers.iter().any(|(n, _)| n == "Content-Length") {
            body
        } else {
            Vec::new()
        };
        Generated {
            method,
            target,
            version,
            headers,
            body,
            chunked,
            trailers,
            keep_alive,
        }
    }

    fn to_bytes(&self, rng: &mut Rng) -> Vec<u8> {
        let mut out = format!(
            "{} {} {}\r\n",
            self.method,
            self.target,
            self.version.as_str()
        )
        .into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if self.chunked {
            let mut rest = &self.body[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len());
                let ext = if rng.one_in(4) { ";ext=\"v\"" } else { "" };
                out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(b"0\r\n");
            for (n, v) in &self.trailers {
                out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// The steps a connection must produce for this request.
    fn steps(&self) -> Vec<Step> {
        let kind = if self.chunked {
            BodyKind::Chunked
        } else if self.body.is_empty() {
            BodyKind::Empty
        } else {
            BodyKind::Length(self.body.len() as u64)
        };
        let mut steps = vec![Step::Head {
            method: self.method.clone(),
            target: self.target.clone(),
            version: self.version.as_str(),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            body: format!("{kind:?}"),
            keep_alive: self.keep_alive,
        }];
        if !self.body.is_empty() {
            steps.push(Step::Body(self.body.clone()));
        }
        if kind != BodyKind::Empty {
            let trailers = self
                .trailers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect();
            steps.push(Step::End { trailers });
        }
        steps
    }
}

/// A pipeline of valid requests, its bytes and the steps it must produce.
fn pipeline(rng: &mut Rng) -> (Vec<u8>, Vec<Step>) {
    let mut wire = Vec::new();
    let mut steps = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let req = Generated::new(rng);
        wire.extend_from_slice(&req.to_bytes(rng));
        steps.extend(req.steps());
        if !req.keep_alive {
            break;
        }
    }
    steps.push(Step::Closed);
    (wire, steps)
}

/// One observable step of a connection, comparable between runs.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Head {
        method: String,
        target: String,
        version: &'static str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: String,
        keep_alive: bool,
    },
    /// Consecutive `Data` events, concatenated.
    Body(Vec<u8>),
    End {
        trailers: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// An error and the status it answers with.
    Error(Option<u16>),
    Closed,
}

fn fields(h: &Headers) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

/// How the bytes reach the connection.
#[derive(Clone, Copy, Debug)]
enum Feed {
    Whole,
    ByteByByte,
    /// Random pieces of at most this many bytes, never over `read_hint()`,
    /// as the server reads.
    Pieces(usize, u64),
}

/// What a run of a connection produced: its steps, and the responses a
/// simple server wrote, read back.
struct Run {
    steps: Vec<Step>,
}

/// Drives a `Conn` over `input` as the server does, answering each request
/// (keep-alive allowed) with an encoded response, and checks the
/// invariants on the way: bytes held never exceed bytes given; when fed by
/// `read_hint()`, the buffer stays within `max_head_bytes + READ_CHUNK`;
/// responses never outnumber heads; every response parses back with
/// httparse and nothing follows a `Connection: close`.
fn run(input: &[u8], limits: Limits, feed: Feed) -> Run {
    let mut conn = Conn::new(limits);
    let mut rng = match feed {
        Feed::Pieces(_, seed) => Rng::new(seed),
        _ => Rng::new(1),
    };
    let bounded = matches!(feed, Feed::Pieces(..));
    let bound = limits
        .max_head_bytes
        .max(limits.max_trailer_bytes + 2)
        .max(limits.max_chunk_line_bytes)
        + READ_CHUNK;
    let mut fed = 0;
    let mut steps = Vec::new();
    let mut heads = 0;
    let mut wire = Vec::new();
    let mut expected: Vec<(u16, bool, bool)> = Vec::new();
    let mut current: Option<(Version, bool)> = None;
    let budget = 8 * input.len() + 64;
    for _ in 0..budget {
        let event = conn.next_event();
        assert!(conn.buffered() <= fed, "holds more bytes than it was given");
        if bounded {
            assert!(
                conn.buffered() <= bound,
                "buffer {} over {bound}",
                conn.buffered()
            );
        }
        match event {
            Ok(Event::Head(h)) => {
                heads += 1;
                current = Some((h.version, h.method == Method::Head));
                steps.push(Step::Head {
                    method: h.method.as_str().to_owned(),
                    target: h.target.clone(),
                    version: h.version.as_str(),
                    headers: fields(&h.headers),
                    body: format!("{:?}", h.body),
                    keep_alive: h.keep_alive,
                });
            }
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                match steps.last_mut() {
                    Some(Step::Body(b)) => b.extend_from_slice(&d),
                    _ => steps.push(Step::Body(d.to_vec())),
                }
            }
            Ok(Event::End) => steps.push(Step::End {
                trailers: fields(conn.trailers()),
            }),
            Ok(Event::Paused) => {
                let (version, head_request) = current.take().expect("Paused belongs to a request");
                let body = b"hello";
                let framing = decide_framing(
                    StatusCode::OK,
                    head_request,
                    version,
                    Some(body.len() as u64),
                    None,
                );
                let keep = conn.decide_keep_alive(true);
                encode_head(
                    &mut wire,
                    StatusCode::OK,
                    &Headers::new(),
                    framing,
                    ConnectionHeader::choose(version, keep),
                    b"Sun, 06 Nov 1994 08:49:37 GMT",
                    None,
                );
                let mut enc = BodyEncoder::new(framing);
                if enc.sends_body() {
                    let (h, tail) = enc.frame(body.len()).expect("sized body");
                    wire.extend_from_slice(h.as_bytes());
                    wire.extend_from_slice(body);
                    wire.extend_from_slice(tail);
                    wire.extend_from_slice(enc.finish().expect("whole body written"));
                }
                expected.push((200, head_request, !keep));
                assert_eq!(conn.finish_exchange(true), keep);
            }
            Ok(Event::NeedData) => {
                if fed == input.len() {
                    conn.receive_eof();
                    continue;
                }
                let hint = conn.read_hint();
                assert!(hint > 0, "NeedData but read_hint is 0");
                let n = match feed {
                    Feed::Whole => input.len() - fed,
                    Feed::ByteByByte => 1,
                    Feed::Pieces(max, _) => (1 + rng.below(max)).min(hint).min(input.len() - fed),
                };
                conn.receive(&input[fed..fed + n]);
                fed += n;
                if bounded {
                    assert!(
                        conn.buffered() <= bound,
                        "buffer {} over {bound}",
                        conn.buffered()
                    );
                }
            }
            Ok(Event::Closed) => {
                steps.push(Step::Closed);
                break;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16());
                if let Some(s) = status {
                    assert!((400..600).contains(&s), "{e:?} answers {s}");
                }
                steps.push(Step::Error(status));
                break;
            }
        }
    }
    assert!(
        matches!(steps.last(), Some(Step::Closed | Step::Error(_))),
        "no progress after {budget} events"
    );
    assert!(
        expected.len() <= heads,
        "{} responses for {heads} requests",
        expected.len()
    );
    check_responses(&wire, &expected);
    Run { steps }
}

/// Reads the responses back with httparse: each well framed, in order,
/// and none after one that said `Connection: close`.
fn check_responses(wire: &[u8], expected: &[(u16, bool, bool)]) {
    let mut pos = 0;
    for (i, &(status, head_request, close)) in expected.iter().enumerate() {
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut slots);
        let n = match resp.parse(&wire[pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("response {i} does not parse: {other:?}"),
        };
        assert_eq!(resp.code, Some(status));
        let get = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let len: usize = std::str::from_utf8(get("content-length").expect("sized response"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            get("connection") == Some(b"close"),
            close,
            "response {i}: connection fate"
        );
        pos += n + if head_request { 0 } else { len };
        if close {
            assert_eq!(i + 1, expected.len(), "a response after Connection: close");
        }
    }
    assert_eq!(pos, wire.len(), "bytes after the last response");
}

/// Runs `input` whole, byte by byte and in two random piece patterns, and
/// checks all four give the same steps; returns them.
fn every_split(input: &[u8], limits: Limits, seed: u64) -> Vec<Step> {
    let whole = run(input, limits, Feed::Whole).steps;
    let bytewise = run(input, limits, Feed::ByteByByte).steps;
    assert_eq!(
        whole,
        bytewise,
        "whole vs byte by byte for {:?}",
        String::from_utf8_lossy(input)
    );
    for (max, s) in [(7, seed), (READ_CHUNK, seed ^ 0xabcd)] {
        let pieces = run(input, limits, Feed::Pieces(max, s)).steps;
        assert_eq!(
            whole,
            pieces,
            "whole vs pieces of {max} for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

#[test]
fn valid_pipelines_round_trip_at_every_split() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let (wire, want) = pipeline(&mut rng);
        let got = every_split(&wire, Limits::default(), seed);
        assert_eq!(
            got,
            want,
            "seed {seed}: {:?}",
            String::from_utf8_lossy(&wire)
        );
    }
}

/// Mutations a hostile or broken client could make.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b"\r",
        b"\0",
        b" ",
        b"\t",
        b":",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Host: b\r\n",
        b"Expect: 100-continue\r\n",
        b"Connection: close\r\n",
        b"HTTP/1.1",
        b"HTTP/2.0",
        b"0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b";ext",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let b = rng.next() as u8;
                input.insert(at, b);
            }
            2 => input.truncate(at),
            3 => {
                let token = rng.pick(TOKENS);
                input.splice(at..at, token.iter().copied());
            }
            4 => {
                // An oversized field: a long run of one byte.
                let b = *rng.pick(b"a/ :\r");
                let n = 100 + rng.below(2000);
                input.splice(at..at, std::iter::repeat_n(b, n));
            }
            5 => {
                // A duplicated line.
                let start = input[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = input[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(input.len(), |i| at + i + 1);
                let line = input[start..end].to_vec();
                input.splice(start..start, line);
            }
            _ if !input.is_empty() => {
                let i = rng.below(input.len());
                input.remove(i);
            }
            _ => {}
        }
    }
}

#[test]
fn mutated_pipelines_give_the_same_events_at_every_split() {
    for seed in 0..CASES * 2 {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let (mut wire, _) = pipeline(&mut rng);
        mutate(&mut rng, &mut wire);
        let limits = limits(&mut rng);
        every_split(&wire, limits, seed);
    }
}

#[test]
fn random_bytes_give_the_same_events_at_every_split() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed ^ 0xb17e5);
        let alphabet = b"GET /HTP1.0\r\n:Hostcnkdu-L\t ;0123456789abcdef\0\xff";
        let wire = rng.bytes(0, 299, alphabet);
        let limits = limits(&mut rng);
        every_split(&wire, limits, seed);
    }
}

#[test]
fn head_parser_gives_a_head_need_more_or_a_status() {
    for seed in 0..CASES * 4 {
        let mut rng = Rng::new(seed ^ 0x4ead);
        let (mut wire, steps) = pipeline(&mut rng);
        let mutated = seed % 4 != 0;
        if mutated {
            mutate(&mut rng, &mut wire);
        }
        let limits = if mutated {
            limits(&mut rng)
        } else {
            Limits::default()
        };
        let mut buf = BytesMut::from(&wire[..]);
        match parse_head(&mut buf, &limits) {
            Ok(Some(head)) => {
                let used = wire.len() - buf.len();
                assert!(used > 0 && used <= limits.max_head_bytes);
                assert!(
                    head.headers.len() <= limits.max_headers,
                    "seed {seed}: too many fields accepted"
                );
                assert!(!head.path().is_empty());
                assert!(
                    !(head.headers.contains("content-length")
                        && head.headers.contains("transfer-encoding"))
                );
                if let BodyKind::Length(n) = head.body {
                    assert!(n > 0 && n <= limits.max_body_bytes);
                }
                if !mutated {
                    let Step::Head {
                        method,
                        target,
                        headers,
                        ..
                    } = &steps[0]
                    else {
                        unreachable!()
                    };
                    assert_eq!(
                        (head.method.as_str(), &head.target),
                        (method.as_str(), target)
                    );
                    assert_eq!(&fields(&head.headers), headers);
                }
            }
            Ok(None) => {
                assert!(mutated, "seed {seed}: a valid head needs more");
                assert_eq!(&buf[..], &wire[..], "need more consumes nothing");
                assert!(wire.len() <= limits.max_head_bytes);
            }
            Err(e) => {
                assert!(mutated, "seed {seed}: a valid head fails: {e:?}");
                let status = e.status().map(|s| s.as_u16());
                assert!(matches!(status, Some(400..=599)), "seed {seed}: {e:?}");
            }
        }
    }
}

/// The body and the bytes after it, or the body so far and the error
/// status (`None`: the input ended first).
type ChunkedOutcome = Result<(Vec<u8>, Vec<u8>), (Vec<u8>, Option<u16>)>;

/// Decodes a chunked body fed in pieces of `step` bytes.
fn decode_chunked(input: &[u8], limits: &Limits, step: usize) -> ChunkedOutcome {
    let mut dec = BodyDecoder::new(BodyKind::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut body = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Decoded::Data(d)) => {
                assert!(!d.is_empty());
                body.extend_from_slice(&d);
                assert!(body.len() <= fed);
            }
            Ok(Decoded::End(_)) => {
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&input[fed..]);
                return Ok((body, rest));
            }
            Ok(Decoded::NeedData) if fed == input.len() => return Err((body, None)),
            Ok(Decoded::NeedData) => {
                let n = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => return Err((body, e.status().map(|s| s.as_u16()))),
        }
    }
}

#[test]
fn chunked_bodies_decode_the_same_at_every_split() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed ^ 0xc4c4);
        let mut req = Generated::new(&mut rng);
        req.version = Version::Http11;
        req.chunked = true;
        req.body = rng.bytes(0, 99, b"ab\r\n0");
        let wire = req.to_bytes(&mut rng);
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut body = wire[head_end..].to_vec();
        let valid = seed.is_multiple_of(3);
        if !valid {
            mutate(&mut rng, &mut body);
        }
        let limits = if valid {
            Limits::default()
        } else {
            limits(&mut rng)
        };
        let whole = decode_chunked(&body, &limits, body.len().max(1));
        if valid {
            assert_eq!(
                whole.as_ref().map(|(b, r)| (b, r.len())),
                Ok((&req.body, 0))
            );
        }
        for step in 1..body.len().min(40) {
            assert_eq!(
                decode_chunked(&body, &limits, step),
                whole,
                "seed {seed}, step {step}"
            );
        }
    }
}

#[test]
fn encoded_responses_parse_back() {
    for seed in 0..CASES * 4 {
        let mut rng = Rng::new(seed ^ 0x7e5);
        let status =
            StatusCode::new(*rng.pick(&[100, 200, 201, 204, 206, 301, 304, 404, 500, 599, 999]))
                .unwrap();
        let version = if rng.one_in(3) {
            Version::Http10
        } else {
            Version::Http11
        };
        let head_request = rng.one_in(4);
        let body = rng.bytes(0, 49, b"xyz\r\n\0");
        let known = (!rng.one_in(3)).then_some(body.len() as u64);
        let framing = decide_framing(status, head_request, version, known, None);
        let mut headers = Headers::new();
        for _ in 0..rng.below(4) {
            let value = rng.bytes(0, 9, b"ab \t\r\n\x01\x7f\xff");
            headers.append(
                *rng.pick(&["X-A", "Set-Cookie", "Content-Length", "Connection", "Date"]),
                value,
            );
        }
        let keep = rng.one_in(2) && framing != Framing::CloseDelimited;
        let mut wire = Vec::new();
        encode_head(
            &mut wire,
            status,
            &headers,
            framing,
            ConnectionHeader::choose(version, keep),
            b"date",
            Some("s"),
        );
        let mut enc = BodyEncoder::new(framing);
        if enc.sends_body() {
            let mut rest = &body[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len());
                let (h, tail) = enc.frame(n).unwrap();
                wire.extend_from_slice(h.as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(tail);
                rest = &rest[n..];
            }
            wire.extend_from_slice(enc.finish().unwrap());
        }
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut slots);
        let n = match resp.parse(&wire) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "seed {seed}: {other:?} for {:?}",
                String::from_utf8_lossy(&wire)
            ),
        };
        assert_eq!(resp.code, Some(status.as_u16()));
        let count = |name: &str| {
            resp.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .count()
        };
        assert!(
            count("content-length") + count("transfer-encoding") <= 1,
            "seed {seed}: two framings"
        );
        let rest = &wire[n..];
        let got = match framing {
            Framing::Chunked => {
                let mut out = Vec::new();
                let mut pos = 0;
                loop {
                    let lf = rest[pos..].windows(2).position(|w| w == b"\r\n").unwrap();
                    let size = usize::from_str_radix(
                        std::str::from_utf8(&rest[pos..pos + lf]).unwrap(),
                        16,
                    )
                    .unwrap();
                    pos += lf + 2;
                    if size == 0 {
                        assert_eq!(&rest[pos..], b"\r\n");
                        break out;
                    }
                    out.extend_from_slice(&rest[pos..pos + size]);
                    assert_eq!(&rest[pos + size..pos + size + 2], b"\r\n");
                    pos += size + 2;
                }
            }
            _ => rest.to_vec(),
        };
        let want = if enc.sends_body() { body } else { Vec::new() };
        assert_eq!(got, want, "seed {seed}: body");
    }
}
