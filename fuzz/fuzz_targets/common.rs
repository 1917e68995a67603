//! Helpers shared by the fuzz targets (not a target itself): limit
//! profiles, the tests' seeded generator (`tests/support/rng.rs`), a driver that turns a byte stream fed
//! through `Conn` into a comparable list of steps, and a small HTTP/1.1
//! response reader used to check that what the encoder wrote is
//! well framed.
#![allow(dead_code)]

use sockhttp::_internals::conn::{Conn, Event};
use sockhttp::{Headers, Limits};

#[path = "profiles.rs"]
mod profiles;
pub use profiles::limits_for;

#[path = "../../tests/support/rng.rs"]
mod rng;
pub use rng::Rng;

/// Derives the limits and a generator for every other choice from a hash
/// of the whole input, so that every byte of an input (and of a seed file)
/// is protocol bytes.
pub fn choose(data: &[u8]) -> (Limits, Rng) {
    let mut rng = Rng::from_bytes(data);
    let limits = limits_for(rng.next() as u8);
    (limits, rng)
}

/// Fields as comparable owned bytes.
pub fn fields(h: &Headers) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

/// One observable step of a connection, in a form two runs can compare.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Head {
        method: String,
        target: String,
        version: &'static str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: String,
        keep_alive: bool,
        expect_continue: bool,
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

/// Feeds `input` through a `Conn`, `piece(read_hint)` bytes at a time
/// (end-of-stream once it is all given), answering every request with
/// keep-alive allowed, and returns the steps it produced.
///
/// Checks on the way: `Data` is never empty, bytes held never exceed
/// bytes given, and the machine makes progress.
pub fn trace(input: &[u8], limits: Limits, mut piece: impl FnMut(usize) -> usize) -> Vec<Step> {
    let mut conn = Conn::new(limits);
    let mut fed = 0usize;
    let mut out = Vec::new();
    // Every event consumes bytes or changes state; a bounded loop turns a
    // livelock into a failure.
    let budget = 8 * input.len() + 64;
    for _ in 0..budget {
        let event = conn.next_event();
        assert!(conn.buffered() <= fed, "holds more bytes than it was given");
        match event {
            Ok(Event::Head(h)) => out.push(Step::Head {
                method: h.method.as_str().to_owned(),
                target: h.target.clone(),
                version: h.version.as_str(),
                headers: fields(&h.headers),
                body: format!("{:?}", h.body),
                keep_alive: h.keep_alive,
                expect_continue: h.expect_continue,
            }),
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                match out.last_mut() {
                    Some(Step::Body(b)) => b.extend_from_slice(&d),
                    _ => out.push(Step::Body(d.to_vec())),
                }
            }
            Ok(Event::End) => out.push(Step::End {
                trailers: fields(conn.trailers()),
            }),
            Ok(Event::Paused) => {
                conn.decide_keep_alive(true);
                conn.finish_exchange(true);
            }
            Ok(Event::NeedData) => {
                if fed == input.len() {
                    assert!(!conn.is_eof(), "NeedData after end-of-stream");
                    conn.receive_eof();
                } else {
                    let hint = conn.read_hint();
                    assert!(hint > 0, "NeedData but read_hint is 0");
                    let n = piece(hint).clamp(1, input.len() - fed);
                    conn.receive(&input[fed..fed + n]);
                    fed += n;
                }
            }
            Ok(Event::Closed) => {
                out.push(Step::Closed);
                return out;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16());
                if let Some(s) = status {
                    assert!((400..600).contains(&s), "error status {s} for {e:?}");
                }
                out.push(Step::Error(status));
                return out;
            }
        }
    }
    panic!("no progress after {budget} events");
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
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
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

/// A strict chunked reader: hex size, optional extension, CRLF, data,
/// CRLF, ..., `0` CRLF, trailer lines, CRLF. Returns the body and the
/// bytes used.
pub fn read_chunked(wire: &[u8]) -> (Vec<u8>, usize) {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let lf = wire[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk-size line ends in CRLF");
        let line = std::str::from_utf8(&wire[pos..pos + lf]).expect("chunk-size line is ASCII");
        let size_str = line.split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_str, 16).expect("chunk size is hex");
        pos += lf + 2;
        if size == 0 {
            // Trailer section: lines until an empty one.
            loop {
                let lf = wire[pos..]
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .expect("trailer line ends in CRLF");
                pos += lf + 2;
                if lf == 0 {
                    return (body, pos);
                }
            }
        }
        assert!(wire.len() >= pos + size + 2, "chunk data truncated");
        body.extend_from_slice(&wire[pos..pos + size]);
        pos += size;
        assert_eq!(
            &wire[pos..pos + 2],
            b"\r\n",
            "chunk data not followed by CRLF"
        );
        pos += 2;
    }
}
