//! The model of a WebSocket session's reader, shared by the seeded tests
//! (`corpus.rs`) and the `ws_frame` fuzz target, which include this file
//! with `#[path]`: a [`MessageDecoder`] fed bytes in pieces, whenever it
//! asks for more, as a session fed from a socket would be.
//!
//! [`decode`] checks the invariants on the way:
//! - nothing is invented: no call adds to the buffer, `Data` is never
//!   empty, and the payload delivered never exceeds the bytes given (a
//!   piece may come from bytes taken earlier: text held back to complete
//!   a character);
//! - memory is bounded by the protocol and the limits, not by the input:
//!   whenever the decoder asks for more, it leaves less than a frame head
//!   and a control frame in the buffer; no message delivers more than
//!   `max_message_bytes`; control payloads are at most 125 bytes;
//! - text is delivered in whole characters, each piece valid UTF-8;
//! - an error is returned again on the next call, and a close frame is
//!   final: it repeats and leaves the bytes after it untouched.
//!
//! [`profile`] picks the role and limits a fuzz input (or seed) runs
//! under. It needs nothing but `sockhttp` with its `_internals`.

use bytes::BytesMut;
use sockhttp::_internals::ws::frame::{MAX_CONTROL_PAYLOAD, MAX_HEAD_BYTES};
use sockhttp::_internals::ws::{Config, DecodeError, Event, MessageDecoder, MessageKind, Role};

/// How many profiles [`profile`] chooses from.
pub const PROFILES: u8 = 5;

/// Picks the decoder's role and limits from a selector: a server with the
/// defaults, small limits the inputs can reach, RSV1 allowed as by an
/// extension, and a client (whose peer does not mask).
pub fn profile(selector: u8) -> (Role, Config) {
    let mut config = Config::default();
    let mut role = Role::Server;
    match selector % PROFILES {
        0 => {}
        1 => {
            config.max_frame_bytes = 16;
            config.max_message_bytes = 40;
        }
        2 => {
            config.max_frame_bytes = 0;
            config.max_message_bytes = 0;
        }
        3 => {
            config.max_message_bytes = 64;
            config.extension_rsv = 0x40;
        }
        _ => role = Role::Client,
    }
    (role, config)
}

/// One observable step of a session's reader, comparable between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Start(MessageKind),
    /// Consecutive `Data` events, concatenated.
    Data(Vec<u8>),
    End,
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The close frame's code and reason, if it had a code.
    Close(Option<(u16, String)>),
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The input ran out with the decoder asking for more.
    NeedData,
    /// A close frame, and the bytes after it (untouched).
    Closed(Vec<u8>),
    /// The rule the input broke.
    Failed(DecodeError),
}

/// Feeds `input` to a decoder for `role` in pieces of the sizes in
/// `sizes` (cycled; `[input.len()]` is whole, `[1]` byte by byte), one
/// piece whenever it asks for more, checking the invariants of the
/// module's documentation. Returns what it saw and how it ended.
pub fn decode(input: &[u8], role: Role, config: &Config, sizes: &[usize]) -> (Vec<Seen>, Finish) {
    let mut dec = MessageDecoder::new(role, config);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut sizes = sizes.iter().copied().cycle();
    let mut seen = Vec::new();
    let mut text = false;
    let mut message_bytes = 0u64;
    let mut delivered = 0usize;
    loop {
        let before = buf.len();
        let event = dec.decode(&mut buf);
        assert!(buf.len() <= before, "the decoder invented bytes");
        match event {
            Err(e) => {
                assert_eq!(dec.decode(&mut buf), Err(e), "errors repeat");
                return (seen, Finish::Failed(e));
            }
            Ok(Event::NeedData) => {
                assert!(
                    buf.len() < MAX_HEAD_BYTES + MAX_CONTROL_PAYLOAD,
                    "asks for more holding {} bytes",
                    buf.len()
                );
                if fed == input.len() {
                    return (seen, Finish::NeedData);
                }
                let n = sizes.next().unwrap_or(1).clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Ok(Event::MessageStart(kind)) => {
                text = kind == MessageKind::Text;
                message_bytes = 0;
                seen.push(Seen::Start(kind));
            }
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                if text {
                    assert!(std::str::from_utf8(&d).is_ok(), "text in whole characters");
                }
                message_bytes += d.len() as u64;
                delivered += d.len();
                assert!(
                    message_bytes <= config.max_message_bytes,
                    "message over the limit"
                );
                assert!(delivered <= fed, "more payload than input");
                match seen.last_mut() {
                    Some(Seen::Data(v)) => v.extend_from_slice(&d),
                    _ => seen.push(Seen::Data(d.to_vec())),
                }
            }
            Ok(Event::MessageEnd) => {
                assert!(dec.is_between_messages());
                seen.push(Seen::End);
            }
            Ok(Event::Ping(p)) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                seen.push(Seen::Ping(p.to_vec()));
            }
            Ok(Event::Pong(p)) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                seen.push(Seen::Pong(p.to_vec()));
            }
            Ok(Event::Close(c)) => {
                let left = buf.to_vec();
                assert_eq!(
                    dec.decode(&mut buf),
                    Ok(Event::Close(c.clone())),
                    "the close repeats"
                );
                assert_eq!(buf[..], left[..], "nothing is read after a close");
                let reason = c.map(|c| {
                    assert!(c.reason.len() <= MAX_CONTROL_PAYLOAD - 2);
                    (c.code.as_u16(), c.reason)
                });
                seen.push(Seen::Close(reason));
                return (seen, Finish::Closed([&left[..], &input[fed..]].concat()));
            }
        }
    }
}
