// Invariant: a connection's observable behaviour does not depend on how
// its bytes are split by the network. The same bytes fed to `Conn` whole,
// one byte at a time, and in pieces of varying size bounded by
// `read_hint()` give the identical sequence of steps: heads (method,
// target, version, fields, framing, keep-alive), body bytes, ends with
// their trailers, the error status, and the close.
//
// The input is the byte stream; a hash of it picks the limits and the
// piece sizes.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = data;
    let (limits, mut rng) = common::choose(data);
    let whole = common::trace(input, limits, |_| usize::MAX);
    let bytewise = common::trace(input, limits, |_| 1);
    assert_eq!(whole, bytewise, "whole vs byte by byte");
    let max = if rng.next().is_multiple_of(2) { 8 } else { 300 };
    let pieces = common::trace(input, limits, |hint| rng.size(max).min(hint));
    assert_eq!(whole, pieces, "whole vs pieces of up to {max} bytes");
});
