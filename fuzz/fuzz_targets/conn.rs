// Invariant: the whole connection state machine, driven like the server
// drives it over an in-memory stream (arbitrary bytes, arbitrary piece
// sizes no larger than `read_hint()`, read in place or copied in, a
// handler that answers each request with a response of input-chosen
// status, body and framing, reading the body or not), never panics, and:
// - bytes held never exceed bytes given, and the read buffer never grows
//   past `max_head_bytes + READ_CHUNK` (the profiles' largest limit);
// - responses never outnumber complete request heads; at most one error
//   response is written, and nothing follows it or a `Connection: close`;
// - everything written parses back with httparse as a sequence of
//   well-framed responses with the statuses and bodies that were sent, and
//   the connection goes on exactly when no response said close.
// The driver is the model the seeded tests use
// (`tests/support/driver.rs`), which checks all of this on the way.
//
// The input is the byte stream; a hash of it picks the limits, the piece
// sizes, the feeding style and the handler's choices.
#![no_main]

mod common;

use common::driver::{Answer, Feed, run};
use libfuzzer_sys::fuzz_target;
use sockhttp::_internals::conn::READ_CHUNK;

fuzz_target!(|data: &[u8]| {
    let (limits, mut rng) = common::choose(data);
    let max_piece = if rng.next().is_multiple_of(2) {
        7
    } else {
        READ_CHUNK
    };
    let feed = Feed::Pieces(max_piece, rng.next());
    run(data, limits, feed, Answer::Varied(rng.next()));
});
