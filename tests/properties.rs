//! Deterministic property tests: the invariants of the fuzz targets, run
//! on every `cargo test` with a fixed-seed generator instead of libFuzzer.
//!
//! A seeded generator (`support::rng`) builds valid requests (methods,
//! targets, header sets, `Content-Length` and chunked bodies, pipelines)
//! and then mutates them (byte flips, insertions, truncations, oversized
//! fields, duplicated framing headers), and sizes every part that has a
//! limit just under, at, just over and far over it. Every input is checked
//! for: the same events whole, one byte at a time, in random pieces and
//! split in two at every point; no panic; nothing invented (bytes held
//! never exceed bytes given, body bytes never exceed bytes consumed); a
//! read buffer bounded by the limits; no more responses than requests,
//! each one well framed; for valid requests, that method, target,
//! headers and body come out exactly as generated and every byte is
//! consumed; and for oversized parts, the limit's status.

mod support;

use bytes::BytesMut;
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::encode::{
    BodyEncoder, ConnectionHeader, Framing, decide_framing, encode_head,
};
use sockhttp::_internals::head::parse_head;
use sockhttp::{Headers, Limits, StatusCode, Version};
use support::driver::{
    Answer, Decoding, Feed, Step, decode_chunked, every_split, fields, read_response, run,
};
use support::rng::Rng;

/// Cases per property: enough to reach every path the generator knows,
/// few enough for a debug build to finish in seconds.
const CASES: u64 = 400;

const TCHAR: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'+^`|#$%&";
const PCHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/";
const VCHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Picks limits: the defaults most of the time, else small ones that the
/// generated requests cross.
fn limits(rng: &mut Rng) -> Limits {
    if rng.one_in(3) {
        small_limits(rng)
    } else {
        Limits::default()
    }
}

/// Small limits, drawn, that the generated requests cross.
fn small_limits(rng: &mut Rng) -> Limits {
    let mut l = Limits::default();
    l.max_request_line_bytes = 48 + rng.below(64);
    l.max_head_bytes = 160 + rng.below(256);
    l.max_headers = 2 + rng.below(6);
    l.max_body_bytes = 16 + rng.below(64) as u64;
    l.max_trailer_bytes = 16 + rng.below(32);
    l.max_chunk_line_bytes = 8 + rng.below(16);
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
            body: kind,
            keep_alive: self.keep_alive,
            expect_continue: false,
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

#[test]
fn valid_pipelines_round_trip_at_every_split() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let (wire, want) = pipeline(&mut rng);
        let got = every_split(&wire, Limits::default(), seed, Answer::Plain);
        assert_eq!(
            got,
            want,
            "seed {seed}: {:?}",
            String::from_utf8_lossy(&wire)
        );
        // Every byte of a valid pipeline is consumed, none twice.
        let run = run(&wire, Limits::default(), Feed::Whole, Answer::Plain);
        assert_eq!((run.fed, run.consumed), (wire.len(), wire.len()));
    }
}

/// Cases split in two at every point: every valid pipeline of these
/// seeds, and as many mutated ones.
const SPLIT_CASES: u64 = 8;

#[test]
fn pipelines_split_in_two_at_every_point_give_the_same_events() {
    for seed in 0..SPLIT_CASES * 2 {
        let mut rng = Rng::new(seed ^ 0x5b11);
        let (mut wire, _) = pipeline(&mut rng);
        let valid = seed % 2 == 0;
        let limits = if valid {
            Limits::default()
        } else {
            mutate(&mut rng, &mut wire);
            limits(&mut rng)
        };
        let answer = Answer::Varied(seed);
        let whole = run(&wire, limits, Feed::Whole, answer);
        for at in 1..wire.len() {
            let split = run(&wire, limits, Feed::Split(at), answer);
            assert_eq!(
                split.steps,
                whole.steps,
                "seed {seed}, split at {at}: {:?}",
                String::from_utf8_lossy(&wire)
            );
            assert_eq!(split.consumed, whole.consumed, "seed {seed}, split at {at}");
        }
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
        every_split(&wire, limits, seed, Answer::Varied(seed));
    }
}

#[test]
fn random_bytes_give_the_same_events_at_every_split() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed ^ 0xb17e5);
        let alphabet = b"GET /HTP1.0\r\n:Hostcnkdu-L\t ;0123456789abcdef\0\xff";
        let wire = rng.bytes(0, 299, alphabet);
        let limits = limits(&mut rng);
        every_split(&wire, limits, seed, Answer::Varied(seed));
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

/// A part of a request that has a limit.
#[derive(Clone, Copy, Debug)]
enum Sized {
    /// The request line, through its CRLF: `max_request_line_bytes`, 414.
    RequestLine,
    /// The whole head, through its final empty line: `max_head_bytes`, 431.
    Head,
    /// The number of header fields: `max_headers`, 431.
    HeaderCount,
    /// A declared `Content-Length`: `max_body_bytes`, 413.
    DeclaredBody,
    /// The sum of the chunk sizes: `max_body_bytes`, 413.
    ChunkedBody,
    /// A chunk-size line with its extensions, up to its LF:
    /// `max_chunk_line_bytes`, 400.
    ChunkLine,
    /// The trailer fields, without the final empty line:
    /// `max_trailer_bytes`, 431.
    Trailers,
}

impl Sized {
    const ALL: [Sized; 7] = [
        Sized::RequestLine,
        Sized::Head,
        Sized::HeaderCount,
        Sized::DeclaredBody,
        Sized::ChunkedBody,
        Sized::ChunkLine,
        Sized::Trailers,
    ];

    /// The limit that bounds this part, and the status for going over it.
    fn limit(self, l: &Limits) -> (usize, u16) {
        match self {
            Sized::RequestLine => (l.max_request_line_bytes, 414),
            Sized::Head => (l.max_head_bytes, 431),
            Sized::HeaderCount => (l.max_headers, 431),
            Sized::DeclaredBody => (l.max_body_bytes as usize, 413),
            Sized::ChunkedBody => (l.max_body_bytes as usize, 413),
            Sized::ChunkLine => (l.max_chunk_line_bytes, 400),
            Sized::Trailers => (l.max_trailer_bytes, 431),
        }
    }

    /// A valid request (or the start of one, when `size` is over its
    /// limit) whose part `self` measures exactly `size`, and its body.
    fn request(self, size: usize, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
        let fill = |n: usize| vec![b'a'; n];
        let mut body = Vec::new();
        let wire = match self {
            Sized::RequestLine => {
                // "GET /" + target + " HTTP/1.1\r\n" is 16 bytes and the target.
                let target = fill(size - 16);
                [b"GET /", &target[..], b" HTTP/1.1\r\nHost: x\r\n\r\n"].concat()
            }
            Sized::Head => {
                // 37 bytes and the value.
                let value = fill(size - 37);
                [
                    b"GET / HTTP/1.1\r\nHost: x\r\nX-Fill: ",
                    &value[..],
                    b"\r\n\r\n",
                ]
                .concat()
            }
            Sized::HeaderCount => {
                let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
                for i in 1..size {
                    head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
                }
                head.extend_from_slice(b"\r\n");
                head
            }
            Sized::DeclaredBody => {
                body = rng.bytes(size, size, b"xyz\r\n");
                let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n");
                [head.as_bytes(), &body[..]].concat()
            }
            Sized::ChunkedBody => {
                body = rng.bytes(size, size, b"xyz\r\n");
                let mut wire =
                    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                let mut rest = &body[..];
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len());
                    wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    wire.extend_from_slice(&rest[..n]);
                    wire.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                wire.extend_from_slice(b"0\r\n\r\n");
                wire
            }
            Sized::ChunkLine => {
                // "5;e=" + the extension value + "\r" is 5 bytes and the value.
                body = b"hello".to_vec();
                let ext = fill(size - 5);
                [
                    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=",
                    &ext[..],
                    b"\r\nhello\r\n0\r\n\r\n",
                ]
                .concat()
            }
            Sized::Trailers => {
                // "0\r\nX: " + the value + "\r\n" is 5 bytes of section and the value.
                let value = fill(size - 5);
                [
                    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ",
                    &value[..],
                    b"\r\n\r\n",
                ]
                .concat()
            }
        };
        (wire, body)
    }
}

/// Limits for the oversized-field cases: small ones, or, one case in
/// eight, the defaults for the head's parts and the chunk-size line (the
/// body and trailer defaults are too large to feed a byte at a time in a
/// debug build within seconds).
fn sized_limits(rng: &mut Rng, part: Sized) -> Limits {
    let small_only = matches!(
        part,
        Sized::DeclaredBody | Sized::ChunkedBody | Sized::Trailers
    );
    if small_only || !rng.one_in(8) {
        small_limits(rng)
    } else {
        Limits::default()
    }
}

/// Every part with a limit, sized just under, at, just over and far
/// over it, fed whole, byte by byte and in pieces: at or under the limit
/// the request comes out whole; over it, the connection answers the
/// limit's status, holding no more than the limits allow on the way (see
/// [`run`]).
#[test]
fn oversized_fields_get_their_status_at_every_split() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed ^ 0x0b16);
        let part = Sized::ALL[seed as usize % Sized::ALL.len()];
        let limits = sized_limits(&mut rng, part);
        let (limit, status) = part.limit(&limits);
        let size = match rng.below(4) {
            0 => limit - 1,
            1 => limit,
            2 => limit + 1,
            // Far over, where the limits are small.
            _ if limit < 1000 => limit + 2 + rng.below(2 * limit),
            _ => limit + 2,
        };
        let (wire, body) = part.request(size, &mut rng);
        let steps = every_split(&wire, limits, seed, Answer::Plain);
        let name = format!("seed {seed}: {part:?} of {size} (limit {limit})");
        let heads = steps
            .iter()
            .filter(|s| matches!(s, Step::Head { .. }))
            .count();
        let got: Vec<u8> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Body(b) => Some(&b[..]),
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        if size <= limit {
            assert_eq!(heads, 1, "{name}: {steps:?}");
            assert_eq!(got, body, "{name}: body");
            assert_eq!(steps.last(), Some(&Step::Closed), "{name}: {steps:?}");
        } else {
            assert_eq!(
                steps.last(),
                Some(&Step::Error(Some(status))),
                "{name}: {steps:?}"
            );
            assert!(
                got.len() as u64 <= limits.max_body_bytes,
                "{name}: body over the limit"
            );
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
        let valid = seed % 3 == 0;
        if !valid {
            mutate(&mut rng, &mut body);
        }
        let limits = if valid {
            Limits::default()
        } else {
            limits(&mut rng)
        };
        let whole = decode_chunked(&body, &limits, &[body.len().max(1)]);
        if valid {
            assert!(
                matches!(&whole, Decoding::Done { body, rest, .. } if *body == req.body && rest.is_empty()),
                "seed {seed}: {whole:?}"
            );
        }
        for step in 1..body.len().min(40) {
            assert_eq!(
                decode_chunked(&body, &limits, &[step]),
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
            // Only a value with no control character but HTAB is sent.
            let control = value.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f);
            let set = headers.try_append(
                *rng.pick(&["X-A", "Set-Cookie", "Content-Length", "Connection", "Date"]),
                value,
            );
            assert_eq!(set.is_err(), control, "seed {seed}: refused");
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
        let (got, used) = read_response(&wire, head_request);
        assert_eq!(got.status, status.as_u16(), "seed {seed}: status");
        assert!(
            got.count("content-length") + got.count("transfer-encoding") <= 1,
            "seed {seed}: two framings"
        );
        assert_eq!(used, wire.len(), "seed {seed}: bytes after the response");
        let want = if enc.sends_body() { body } else { Vec::new() };
        assert_eq!(got.body, want, "seed {seed}: body");
    }
}
