// Invariant: the chunked body decoder never panics, never yields empty
// `Data`, never yields more body bytes than it was given, and gives the
// same result (body, trailers and the bytes after the body; or the same
// error status after the same body bytes; or "incomplete" after the same
// body bytes) whether the input is fed whole or in pieces split at
// arbitrary points.
//
// The input is the chunked body (and whatever follows it); a hash of it
// picks the limits and the piece sizes.
#![no_main]

mod common;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::body::{BodyDecoder, Decoded};
use sockhttp::Limits;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done {
        body: Vec<u8>,
        trailers: Vec<(Vec<u8>, Vec<u8>)>,
        rest: Vec<u8>,
    },
    Failed {
        body: Vec<u8>,
        status: Option<u16>,
    },
    Incomplete {
        body: Vec<u8>,
    },
}

fuzz_target!(|data: &[u8]| {
    let input = data;
    let (limits, mut rng) = common::choose(data);
    let max = if rng.next().is_multiple_of(2) { 4 } else { 64 };
    let sizes: Vec<usize> = (0..1 + rng.next() % 8).map(|_| rng.size(max)).collect();
    let whole = decode(input, &limits, &[input.len().max(1)]);
    let split = decode(input, &limits, &sizes);
    assert_eq!(whole, split, "whole vs split at {sizes:?}");
    let one = decode(input, &limits, &[1]);
    assert_eq!(whole, one, "whole vs byte by byte");
});

/// Feeds `input` in pieces of `sizes` (cycled) and decodes to the end.
fn decode(input: &[u8], limits: &Limits, sizes: &[usize]) -> Outcome {
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
                return Outcome::Done {
                    body,
                    trailers: common::fields(&trailers),
                    rest,
                };
            }
            Ok(Decoded::NeedData) => {
                assert!(!dec.is_done());
                if fed == input.len() {
                    return Outcome::Incomplete { body };
                }
                let n = next_size.next().unwrap_or(1).min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16());
                assert!(matches!(status, Some(400..=599)), "{e:?}");
                return Outcome::Failed { body, status };
            }
        }
    }
}
