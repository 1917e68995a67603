// Invariant: the multipart/form-data decoder never panics, and gives the
// same parts, content (its pieces joined) and end, or the same error
// status after the same events, whether the body is fed whole, one byte
// at a time, in two pieces cut at a point chosen from the input, or in
// random pieces. While it waits for bytes it holds less than a delimiter
// of content or one part header section; it never yields empty `Data`,
// content outside a part, more content than it was fed, more parts or
// body bytes than its limits allow; every error is a 4xx and sticks.
//
// The input is a Content-Type value, a LF, then the body; a hash of it
// picks the limits (the defaults, or small ones the body can reach) and
// the piece sizes.
#![no_main]

mod common;

#[path = "../../tests/support/multipart.rs"]
mod multipart;

use libfuzzer_sys::fuzz_target;
use multipart::{decode_input, small_limits, split_input};
use sockhttp::MultipartLimits;

fuzz_target!(|data: &[u8]| {
    let mut rng = common::Rng::from_bytes(data);
    let limits = if rng.next().is_multiple_of(2) {
        MultipartLimits::default()
    } else {
        small_limits()
    };
    let body_len = split_input(data).1.len();
    let whole = decode_input(data, &limits, &[body_len.max(1)]);
    let one = decode_input(data, &limits, &[1]);
    assert_eq!(whole, one, "whole vs byte by byte");
    let cut = 1 + rng.below(body_len.max(1));
    let two = decode_input(data, &limits, &[cut, body_len.max(1)]);
    assert_eq!(whole, two, "whole vs cut at {cut}");
    let max = if rng.next().is_multiple_of(2) { 8 } else { 256 };
    let sizes: Vec<usize> = (0..1 + rng.next() % 8).map(|_| rng.size(max)).collect();
    let split = decode_input(data, &limits, &sizes);
    assert_eq!(whole, split, "whole vs pieces of {sizes:?}");
});
