// Invariant: every response the encoder can be asked to write parses back
// as exactly that response. Arbitrary bytes describe a response (status,
// request method and version, a few header fields with arbitrary values,
// a body of known or unknown length, split into arbitrary pieces); it is
// encoded with `decide_framing`, `encode_head` and `BodyEncoder`, then
// read back with httparse and a strict chunked reader: same status, the
// handler's fields (those `Headers` accepts, minus the framing fields the
// server owns) in order, exactly one framing, and the same body, with no bytes
// left over. A declared length the body does not match is refused by the
// encoder, never sent.
//
// Input layout: see `roundtrip_input.rs`.
#![no_main]

mod common;
mod roundtrip_input;

use common::Rng;
use libfuzzer_sys::fuzz_target;
use roundtrip_input::Described;
use sockhttp::_internals::encode::{
    BodyEncoder, ConnectionHeader, Framing, decide_framing, encode_head,
};

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
fuzz_target!(|data: &[u8]| {
    let Some(Described {
        status,
        head_request,
        version,
        stream,
        declare,
        honest,
        keep,
        headers,
        body,
    }) = roundtrip_input::describe(data)
    else {
        return;
    };
    let code = status.as_u16();
    let mut rng = Rng::from_bytes(data);

    let known = (!stream).then_some(body.len() as u64);
    let declared = declare.then(|| {
        if honest {
            body.len() as u64
        } else {
            body.len() as u64 + 1 + rng.next() % 3
        }
    });
    let framing = decide_framing(status, head_request, version, known, declared);
    let keep = keep && framing != Framing::CloseDelimited;
    let mut wire = Vec::new();
    encode_head(
        &mut wire,
        status,
        &headers,
        framing,
        ConnectionHeader::choose(version, keep),
        DATE,
        Some("sockhttp"),
    );

    let mut enc = BodyEncoder::new(framing);
    if enc.sends_body() {
        let mut left = body;
        while !left.is_empty() {
            let n = rng.size(left.len());
            match enc.frame(n) {
                Ok((chunk_head, tail)) => {
                    wire.extend_from_slice(chunk_head.as_bytes());
                    wire.extend_from_slice(&left[..n]);
                    wire.extend_from_slice(tail);
                }
                Err(overrun) => {
                    // Only a stream with a declared length can overrun.
                    assert!(known.is_none() && declared.is_some_and(|d| d < body.len() as u64));
                    assert_eq!(Some(overrun.declared), declared);
                    return;
                }
            }
            left = &left[n..];
        }
        match enc.finish() {
            Ok(end) => wire.extend_from_slice(end),
            Err(short) => {
                assert!(known.is_none() && declared.is_some_and(|d| d > body.len() as u64));
                assert_eq!(short.actual, body.len() as u64);
                return;
            }
        }
        assert_eq!(enc.written(), body.len() as u64);
    }

    let (got, used) = common::driver::read_response(&wire, head_request);
    assert_eq!(used, wire.len(), "bytes after the response");
    assert_eq!(got.status, code);
    let sends_body = enc.sends_body();
    if sends_body {
        assert_eq!(got.body, body, "body");
    } else {
        assert!(got.body.is_empty());
    }

    // Framing fields: exactly the ones the framing calls for.
    let cl = got
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .count();
    let te = got
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .count();
    let want_cl = matches!(framing, Framing::Length(_) | Framing::NoBody(Some(_)));
    assert_eq!(
        (cl, te),
        (
            usize::from(want_cl),
            usize::from(framing == Framing::Chunked)
        )
    );
    if let Framing::Length(n) | Framing::NoBody(Some(n)) = framing {
        assert_eq!(got.header("content-length"), Some(n.to_string().as_bytes()));
    }
    assert_eq!(got.close_delimited, framing == Framing::CloseDelimited);
    let connection: Vec<_> = got
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .collect();
    match ConnectionHeader::choose(version, keep) {
        ConnectionHeader::None => assert!(connection.is_empty()),
        ConnectionHeader::Close => assert_eq!(connection.len(), 1),
        ConnectionHeader::KeepAlive => assert_eq!(connection.len(), 1),
    }

    // The handler's fields come back in order, values as a client sees
    // them (control characters become spaces; surrounding whitespace is not
    // part of a field value).
    let owned = |n: &str| {
        ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| n.eq_ignore_ascii_case(f))
    };
    let want: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(n, _)| !owned(n))
        .map(|(n, v)| (n.to_ascii_lowercase(), visible(v)))
        .collect();
    let has = |name: &str| want.iter().any(|(n, _)| n == name);
    let server_added = |n: &str| (n == "date" && !has("date")) || (n == "server" && !has("server"));
    let back: Vec<(String, Vec<u8>)> = got
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), visible(v)))
        .filter(|(n, _)| !owned(n) && !server_added(n))
        .collect();
    assert_eq!(back, want, "handler fields");
    assert!(got.header("date").is_some());
});

/// A field value as a client sees it: control characters (which may not
/// be sent) as spaces, surrounding whitespace dropped.
fn visible(v: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = v
        .iter()
        .map(|&c| {
            if (c < 0x20 && c != b'\t') || c == 0x7f {
                b' '
            } else {
                c
            }
        })
        .collect();
    v.trim_ascii().to_vec()
}
