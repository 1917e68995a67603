// Invariant: a connection's observable behaviour does not depend on how
// its bytes are split by the network. The same bytes fed to `Conn` whole,
// one byte at a time, and in pieces of varying size bounded by
// `read_hint()` give the identical sequence of steps: heads (method,
// target, version, fields, framing, keep-alive, `Expect`), body bytes,
// ends with their trailers, the error status, and the close.
//
// The input is the byte stream; a hash of it picks the limits and the
// piece sizes.
#![no_main]

mod common;

use common::driver::{Answer, every_split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (limits, mut rng) = common::choose(data);
    every_split(data, limits, rng.next(), Answer::Plain);
});
