// Invariant: the whole connection state machine, driven like the server
// drives it over an in-memory stream (arbitrary bytes, arbitrary piece
// sizes no larger than `read_hint()`, a handler that answers each request
// with a response of input-chosen status, body and framing, reading the
// body or not), never panics, and:
// - bytes held never exceed bytes given, and the read buffer never grows
//   past `max_head_bytes + READ_CHUNK`;
// - responses never outnumber complete request heads; at most one error
//   response is written, and nothing follows it or a `Connection: close`;
// - everything written parses back with httparse as a sequence of
//   well-framed responses with the statuses and bodies that were sent, and
//   the connection goes on exactly when no response said close.
//
// The input is the byte stream; a hash of it picks the limits, the piece
// sizes, the feeding style and the handler's choices.
#![no_main]

mod common;

use common::Rng;
use libfuzzer_sys::fuzz_target;
use sockhttp::_internals::conn::{Conn, Event, READ_CHUNK, Reading};
use sockhttp::_internals::encode::{
    BodyEncoder, ConnectionHeader, Framing, decide_framing, encode_head,
};
use sockhttp::{Headers, Method, StatusCode, Version};

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
const STATUSES: &[u16] = &[200, 201, 204, 304, 404, 500];

/// What the test expects to read back for one written response.
struct Sent {
    status: u16,
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

fuzz_target!(|data: &[u8]| {
    let input = data;
    let (limits, mut rng) = common::choose(data);
    let use_spare = rng.next().is_multiple_of(2);
    let max_piece = if rng.next().is_multiple_of(2) {
        7
    } else {
        READ_CHUNK
    };
    let bound = limits.max_head_bytes + READ_CHUNK;

    let mut conn = Conn::new(limits);
    let mut fed = 0usize;
    let mut wire = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    let mut heads = 0usize;
    let mut current: Option<Current> = None;
    let mut closed_by_response = false;
    let mut errors = 0;

    for _ in 0..8 * input.len() + 64 {
        let event = conn.next_event();
        assert!(conn.buffered() <= fed, "holds more than it was given");
        assert!(
            conn.buffered() <= bound,
            "buffer {} over {bound}",
            conn.buffered()
        );
        assert_eq!(
            conn.is_idle(),
            matches!(conn.reading(), Reading::Head) && conn.buffered() == 0
        );
        match event {
            Ok(Event::Head(head)) => {
                assert!(!closed_by_response, "a request after Connection: close");
                assert!(current.as_ref().is_none_or(|c| c.answered));
                heads += 1;
                assert_eq!(conn.requests() as usize, heads);
                current = Some(Current {
                    version: head.version,
                    head_request: head.method == Method::Head,
                    answered: false,
                });
                if conn.take_continue() {
                    assert!(head.expect_continue);
                    wire.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    sent.push(Sent {
                        status: 100,
                        no_body: true,
                        body: Vec::new(),
                        close: false,
                        interim: true,
                    });
                }
                // Some handlers answer without reading the body.
                if rng.next().is_multiple_of(4) {
                    let cur = current.as_mut().expect("set above");
                    closed_by_response = !respond(&mut conn, cur, &mut rng, &mut wire, &mut sent);
                }
            }
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                assert!(
                    current.as_ref().is_some_and(|c| !c.answered),
                    "body after the answer"
                );
            }
            Ok(Event::End) => {
                assert!(conn.body_finished());
            }
            Ok(Event::Paused) => {
                let cur = current.as_mut().expect("Paused belongs to a request");
                assert!(!cur.answered, "Paused after the answer");
                closed_by_response = !respond(&mut conn, cur, &mut rng, &mut wire, &mut sent);
            }
            Ok(Event::NeedData) => {
                if fed == input.len() {
                    conn.receive_eof();
                    continue;
                }
                let hint = conn.read_hint();
                assert!(hint > 0, "NeedData but read_hint is 0");
                let n = rng.size(max_piece).min(hint).min(input.len() - fed);
                if use_spare {
                    conn.spare(hint)[..n].copy_from_slice(&input[fed..fed + n]);
                    conn.filled(hint, n);
                } else {
                    conn.receive(&input[fed..fed + n]);
                }
                fed += n;
                assert!(
                    conn.buffered() <= bound,
                    "buffer {} over {bound}",
                    conn.buffered()
                );
            }
            Ok(Event::Closed) => {
                assert_eq!(conn.read_hint(), 0);
                assert!(
                    matches!(conn.next_event(), Ok(Event::Closed)),
                    "Closed is final"
                );
                break;
            }
            Err(e) => {
                assert!(!closed_by_response, "an error after Connection: close");
                assert!(matches!(conn.reading(), Reading::Closed), "an error closes");
                if let Some(status) = e.status() {
                    errors += 1;
                    write_error(status, &mut wire, &mut sent);
                }
                assert!(
                    matches!(conn.next_event(), Ok(Event::Closed)),
                    "Closed after an error"
                );
                break;
            }
        }
    }
    assert!(
        matches!(conn.reading(), Reading::Closed),
        "the loop ends closed"
    );

    let finals = sent.iter().filter(|s| !s.interim).count();
    assert!(errors <= 1);
    assert!(
        finals - errors <= heads,
        "{finals} responses for {heads} requests"
    );
    check_wire(&wire, &sent);
});

/// Answers the current request; returns whether the connection goes on.
fn respond(
    conn: &mut Conn,
    cur: &mut Current,
    rng: &mut Rng,
    wire: &mut Vec<u8>,
    sent: &mut Vec<Sent>,
) -> bool {
    cur.answered = true;
    let status = StatusCode::new(STATUSES[(rng.next() % STATUSES.len() as u64) as usize])
        .expect("valid code");
    let body: Vec<u8> = (0..rng.next() % 40)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    // A stream of unknown length, or a sized body.
    let known = if rng.next().is_multiple_of(2) {
        Some(body.len() as u64)
    } else {
        None
    };
    let framing = decide_framing(status, cur.head_request, cur.version, known, None);
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
        let mut rest = &body[..];
        while !rest.is_empty() {
            let n = rng.size(rest.len());
            let (chunk_head, tail) = enc.frame(n).expect("within the framing");
            wire.extend_from_slice(chunk_head.as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(tail);
            written.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
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

fn write_error(status: StatusCode, wire: &mut Vec<u8>, sent: &mut Vec<Sent>) {
    let body = status.reason().as_bytes();
    let framing = Framing::Length(body.len() as u64);
    encode_head(
        wire,
        status,
        &Headers::new(),
        framing,
        ConnectionHeader::Close,
        DATE,
        Some("sockhttp"),
    );
    wire.extend_from_slice(body);
    sent.push(Sent {
        status: status.as_u16(),
        no_body: false,
        body: body.to_vec(),
        close: true,
        interim: false,
    });
}

/// Reads every response back from the wire and compares it with what was sent.
fn check_wire(wire: &[u8], sent: &[Sent]) {
    let mut pos = 0;
    for (i, want) in sent.iter().enumerate() {
        let (got, used) = common::read_response(&wire[pos..], want.no_body);
        pos += used;
        assert_eq!(got.status, want.status, "response {i}: status");
        assert_eq!(got.body, want.body, "response {i}: body");
        let close = got.header("connection").is_some_and(|v| v == b"close");
        assert_eq!(
            close || got.close_delimited,
            want.close,
            "response {i}: connection fate"
        );
        if got.close_delimited || close {
            assert_eq!(i + 1, sent.len(), "response {i} closes but more follow");
        }
    }
    assert_eq!(pos, wire.len(), "bytes after the last response");
}
