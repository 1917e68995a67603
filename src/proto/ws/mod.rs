//! WebSocket (RFC 6455) as pure functions over bytes: the opening
//! handshake, frames, messages and close frames.
//!
//! This module performs no I/O: it never names a socket, a thread or a
//! clock. Bytes go in, events come out, and "I need more bytes" is an
//! event too, exactly as for HTTP ([`super::body`], [`super::conn`]). The
//! server edge owns the socket, parks a session between messages and
//! decides what to send; every rule of the protocol lives here, where it
//! is unit tested at every split of its input and fuzzed.
//!
//! # Layers
//!
//! 1. [`handshake`]: [`parse_handshake`] checks an upgrade request's head
//!    (RFC 6455 §4.2.1) and gives a [`Handshake`]: the
//!    `Sec-WebSocket-Accept` value, the subprotocols offered and the
//!    `Origin`, for the caller's subprotocol and origin hooks; or a
//!    [`HandshakeError`] that names its status and the fields to send
//!    with it. [`Handshake::encode_response`] writes the
//!    `101 Switching Protocols` head.
//! 2. [`frame`]: the [`FrameDecoder`] takes bytes from the front of a
//!    buffer and emits one [`FrameEvent`] at a time: a data frame's
//!    start, its unmasked payload in pieces as they arrive (it never
//!    waits for a whole data frame), its end; a control frame (ping,
//!    pong, close: at most 125 bytes) whole. It applies the rules of one
//!    frame: masking, reserved bits, opcodes, control frame size and
//!    fragmentation, the length encoding, the maximum frame size.
//! 3. [`message`]: the [`MessageDecoder`] wraps a frame decoder and turns
//!    fragments into messages ([`Event`]): it tracks the message in
//!    progress across fragments with control frames between them,
//!    counts its size against the maximum from each frame's head, checks
//!    text as UTF-8 while it arrives (a character cut between pieces is
//!    carried over, at most 3 bytes) and parses close payloads
//!    ([`close`]).
//! 4. Whoever drives a session (the server, above this module): reads
//!    into a buffer, calls [`MessageDecoder::decode`] until
//!    [`Event::NeedData`], delivers messages, answers pings and the close,
//!    and on a [`DecodeError`] sends a close frame with its
//!    [`DecodeError::close_code`] and closes.
//!
//! What the server sends is written by [`encode`]: frame heads apart from
//! their payload ([`encode_head`]), so a writer sends both in one
//! `writev` without copying, and close frames ([`encode_close_frame`]).
//!
//! # Examples
//!
//! The examples of RFC 6455 §5.7: a client's single-frame masked text
//! message, decoded; and the server's unmasked "Hel", "lo" in two
//! fragments, encoded.
//!
//! ```
//! use bytes::BytesMut;
//! use sockhttp::_internals::ws::{
//!     Config, Event, FrameHead, MessageDecoder, MessageKind, Opcode, Role, encode_head,
//! };
//!
//! let mut dec = MessageDecoder::new(Role::Server, &Config::default());
//! let mut buf = BytesMut::from(
//!     &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..],
//! );
//! assert_eq!(dec.decode(&mut buf), Ok(Event::MessageStart(MessageKind::Text)));
//! assert_eq!(dec.decode(&mut buf), Ok(Event::Data("Hello".into())));
//! assert_eq!(dec.decode(&mut buf), Ok(Event::MessageEnd));
//! assert_eq!(dec.decode(&mut buf), Ok(Event::NeedData));
//!
//! // Each head is written beside its payload (one writev), never copied
//! // in front of it; here they are joined to compare with the RFC's bytes.
//! let hel = FrameHead { fin: false, rsv: 0, opcode: Opcode::Text, len: 3 };
//! let lo = FrameHead { fin: true, rsv: 0, opcode: Opcode::Continuation, len: 2 };
//! let (hel_head, lo_head) = (encode_head(&hel, None), encode_head(&lo, None));
//! let wire = [hel_head.as_bytes(), b"Hel", lo_head.as_bytes(), b"lo"].concat();
//! assert_eq!(wire, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
//! ```

pub mod close;
pub mod encode;
pub mod frame;
pub mod handshake;
pub mod message;

pub use close::{CloseCode, CloseFrame, encode_close_frame, encode_close_payload};
pub use encode::{EncodedHead, encode_head};
pub use frame::{FrameDecoder, FrameEvent, FrameHead, Opcode, apply_mask};
pub use handshake::{Handshake, HandshakeError, parse_handshake};
pub use message::{Event, MessageDecoder, MessageKind};

use std::fmt;

/// The largest data frame accepted by default: 1 MiB; larger is refused
/// with close code 1009 from its head, before any of its payload is read.
///
/// A frame is never larger than its message, so this is the message limit
/// too. Precedents: coder/websocket reads at most 32 KiB by default,
/// tungstenite 16 MiB per frame and 64 MiB per message, Node's `ws`
/// 100 MiB. Payloads stream out of the decoder in pieces, so the limit
/// bounds what a session that assembles whole messages holds, not what
/// the decoder holds (a frame head and a control frame: at most
/// [`frame::MAX_HEAD_BYTES`] + [`frame::MAX_CONTROL_PAYLOAD`] bytes).
pub const DEFAULT_MAX_FRAME_BYTES: u64 = 1024 * 1024;

/// The largest message accepted by default, counted across its fragments:
/// 1 MiB; larger is refused with close code 1009 from the head of the
/// frame that would pass it. See [`DEFAULT_MAX_FRAME_BYTES`].
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1024 * 1024;

/// Config holds the limits and the negotiated options of a decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The largest data frame payload; see [`DEFAULT_MAX_FRAME_BYTES`].
    /// Control frames are bounded by the protocol (125 bytes) instead.
    pub max_frame_bytes: u64,
    /// The largest message payload, across fragments; see
    /// [`DEFAULT_MAX_MESSAGE_BYTES`].
    pub max_message_bytes: u64,
    /// The reserved bits (RSV1 `0x40`, RSV2 `0x20`, RSV3 `0x10`) that a
    /// negotiated extension gives a meaning to. None by default: "If a
    /// nonzero value is received and none of the negotiated extensions
    /// defines the meaning of such a nonzero value, the receiving endpoint
    /// MUST _Fail the WebSocket Connection_" (RFC 6455 §5.2). The bits
    /// are only let through, in [`FrameHead::rsv`]: an extension that
    /// transforms payloads (permessage-deflate) would also have to undo
    /// it before the UTF-8 check, and none is implemented.
    pub extension_rsv: u8,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            extension_rsv: 0,
        }
    }
}

/// Role says which end of the connection a decoder reads for, which
/// decides whether the frames it reads must be masked (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// This end is the server: it reads a client's frames, which must be
    /// masked.
    Server,
    /// This end is a client: it reads a server's frames, which must not
    /// be masked (for tests, and a client built on the same core).
    Client,
}

/// DecodeError says which rule of RFC 6455 the peer broke; each fails the
/// connection with the close code [`DecodeError::close_code`] gives.
///
/// The variants carry no peer bytes beyond a number, so a close reason
/// built from [`DecodeError::reason`] never echoes the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A client's frame was not masked (§5.1: "a server MUST close the
    /// connection upon receiving a frame that is not masked"). 1002.
    Unmasked,
    /// A server's frame was masked (§5.1: "A client MUST close a
    /// connection if it detects a masked frame"). 1002.
    Masked,
    /// RSV1, RSV2 or RSV3 was set without an extension that defines it
    /// (§5.2). 1002.
    ReservedBits,
    /// The opcode was one of the reserved ones: 0x3-0x7 or 0xB-0xF
    /// (§5.2). 1002.
    UnknownOpcode(u8),
    /// A control frame (close, ping, pong) had FIN clear (§5.5: "Control
    /// frames themselves MUST NOT be fragmented"). 1002.
    FragmentedControl,
    /// A control frame declared more than 125 bytes of payload (§5.5).
    /// 1002.
    ControlTooLong,
    /// A 64-bit payload length had its most significant bit set (§5.2:
    /// "the most significant bit MUST be 0"). 1002.
    LengthOverflow,
    /// A data frame declared more than `max_frame_bytes`. 1009.
    FrameTooLarge,
    /// A continuation frame came with no fragmented message in progress
    /// (§5.4). 1002.
    UnexpectedContinuation,
    /// A new text or binary frame came while a fragmented message was
    /// still in progress (§5.4: its fragments must follow it). 1002.
    UnfinishedMessage,
    /// A message grew past `max_message_bytes`. 1009.
    MessageTooLarge,
    /// A text message or a close reason was not UTF-8 (§8.1). 1007.
    InvalidUtf8,
    /// A close frame carried a single byte: a code takes two (§5.5.1).
    /// 1002.
    CloseTooShort,
    /// A close frame carried a code that may not be sent (§7.4: 1004,
    /// 1005, 1006, 1015, and any other below 3000 or above 4999 that is
    /// not defined). 1002.
    InvalidCloseCode(u16),
}

impl DecodeError {
    /// Returns the close code to fail the connection with (RFC 6455 §7.4.1).
    pub fn close_code(self) -> CloseCode {
        match self {
            DecodeError::FrameTooLarge | DecodeError::MessageTooLarge => CloseCode::TOO_BIG,
            DecodeError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// Returns a short, fixed description: fit for a log line and for the
    /// reason of the close frame sent back.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::Unmasked => "unmasked client frame",
            DecodeError::Masked => "masked server frame",
            DecodeError::ReservedBits => "reserved bits set",
            DecodeError::UnknownOpcode(_) => "unknown opcode",
            DecodeError::FragmentedControl => "fragmented control frame",
            DecodeError::ControlTooLong => "control frame over 125 bytes",
            DecodeError::LengthOverflow => "payload length over 2^63",
            DecodeError::FrameTooLarge => "frame too large",
            DecodeError::UnexpectedContinuation => "continuation without a message",
            DecodeError::UnfinishedMessage => "new message before the last ended",
            DecodeError::MessageTooLarge => "message too large",
            DecodeError::InvalidUtf8 => "invalid UTF-8",
            DecodeError::CloseTooShort => "one-byte close payload",
            DecodeError::InvalidCloseCode(_) => "invalid close code",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            DecodeError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masking key of the tests' client frames (RFC 6455 §5.7's).
    pub(super) const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Builds a frame by hand, independently of the encoder: first byte
    /// `b0` as given, the shortest length encoding, and the payload
    /// masked byte by byte if a key is given.
    pub(super) fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let bit = if mask.is_some() { 0x80 } else { 0 };
        let mut out = vec![b0];
        match payload.len() {
            n @ 0..=125 => out.push(bit | n as u8),
            n @ 126..=0xFFFF => {
                out.push(bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    /// A client's frame: masked with [`KEY`].
    pub(super) fn client(b0: u8, payload: &[u8]) -> Vec<u8> {
        frame(b0, payload, Some(KEY))
    }

    /// The split points to try for an input: every one for short inputs,
    /// a spread for long ones (each run is linear, all of them quadratic).
    pub(super) fn split_points(len: usize) -> Vec<usize> {
        if len <= 600 {
            (1..len).collect()
        } else {
            (1..40).chain((40..len).step_by(len / 200)).collect()
        }
    }

    #[test]
    fn every_error_has_its_close_code() {
        use DecodeError::*;
        let cases = [
            (Unmasked, 1002),
            (Masked, 1002),
            (ReservedBits, 1002),
            (UnknownOpcode(3), 1002),
            (FragmentedControl, 1002),
            (ControlTooLong, 1002),
            (LengthOverflow, 1002),
            (FrameTooLarge, 1009),
            (UnexpectedContinuation, 1002),
            (UnfinishedMessage, 1002),
            (MessageTooLarge, 1009),
            (InvalidUtf8, 1007),
            (CloseTooShort, 1002),
            (InvalidCloseCode(1005), 1002),
        ];
        for (e, want) in cases {
            assert_eq!(e.close_code().as_u16(), want, "{e:?}");
            assert!(!e.reason().is_empty() && e.reason().len() <= 123, "{e:?}");
        }
        assert_eq!(UnknownOpcode(0xB).to_string(), "unknown opcode 0xb");
    }
}
