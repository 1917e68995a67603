// Invariant: the WebSocket reader (`MessageDecoder` over its
// `FrameDecoder`) never panics, and the same bytes fed whole, one byte at
// a time and in random pieces give the identical messages, control frames
// and end: the same error, the same close with the same bytes left after
// it, or the same wait for more. On the way (checked by the driver shared
// with the seeded tests, `tests/support/ws_driver.rs`): payload is never
// invented, text comes out in whole UTF-8 characters, no message passes
// `max_message_bytes`, and the decoder never holds more than a frame head
// and a control frame while it asks for more, whatever lengths the input
// declares.
//
// The input is the byte stream from the peer; a hash of it picks the
// role and limits and the piece sizes.
#![no_main]

mod common;
#[path = "../../tests/support/ws_driver.rs"]
mod ws_driver;

use libfuzzer_sys::fuzz_target;
use ws_driver::{decode, profile};

fuzz_target!(|data: &[u8]| {
    let mut rng = common::Rng::from_bytes(data);
    let (role, config) = profile(rng.next() as u8);
    let max = if rng.next().is_multiple_of(2) { 4 } else { 64 };
    let sizes: Vec<usize> = (0..1 + rng.next() % 8).map(|_| rng.size(max)).collect();
    let whole = decode(data, role, &config, &[data.len().max(1)]);
    assert_eq!(
        whole,
        decode(data, role, &config, &sizes),
        "whole vs pieces of {sizes:?}"
    );
    assert_eq!(
        whole,
        decode(data, role, &config, &[1]),
        "whole vs byte by byte"
    );
});
