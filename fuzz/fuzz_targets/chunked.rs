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

use common::driver::decode_chunked;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = data;
    let (limits, mut rng) = common::choose(data);
    let max = if rng.next().is_multiple_of(2) { 4 } else { 64 };
    let sizes: Vec<usize> = (0..1 + rng.next() % 8).map(|_| rng.size(max)).collect();
    let whole = decode_chunked(input, &limits, &[input.len().max(1)]);
    let split = decode_chunked(input, &limits, &sizes);
    assert_eq!(whole, split, "whole vs split at {sizes:?}");
    let one = decode_chunked(input, &limits, &[1]);
    assert_eq!(whole, one, "whole vs byte by byte");
});
