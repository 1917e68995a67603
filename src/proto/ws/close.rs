//! Close frames (RFC 6455 §5.5.1, §7.4): the status codes, parsing a
//! received close payload, and encoding one to send.
//!
//! This module performs no I/O.

use super::DecodeError;
use super::encode::encode_head;
use super::frame::{FrameHead, MAX_CONTROL_PAYLOAD, Opcode};
use std::fmt;

/// The longest close reason: a control frame's 125 bytes less the
/// 2-byte code.
pub const MAX_REASON_BYTES: usize = MAX_CONTROL_PAYLOAD - 2;

/// CloseCode is the status code of a close frame (RFC 6455 §7.4): why an
/// endpoint closes the connection.
///
/// Only the codes an endpoint may put in a close frame can be made:
/// 1000-1003 and 1007-1011 (defined by RFC 6455), 3000-3999 (registered
/// with IANA for libraries and frameworks) and 4000-4999 (private use).
/// 1004 is reserved; 1005, 1006 and 1015 stand for "no code", "closed
/// abnormally" and "TLS failed" in APIs and "MUST NOT be set as a status
/// code in a Close control frame" (§7.4.1); the rest below 3000 are not
/// defined. (IANA has since registered 1012-1014, which a few servers
/// send; RFC 6455 does not define them and they are refused, as the
/// Autobahn test suite expects.)
///
/// # Examples
/// ```
/// use sockhttp::ws::CloseCode;
/// assert_eq!(CloseCode::new(1000), Some(CloseCode::NORMAL));
/// assert_eq!(CloseCode::new(4001).map(CloseCode::as_u16), Some(4001));
/// assert_eq!(CloseCode::new(1005), None); // "no status": never on the wire
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (a server shutting down, a
    /// browser leaving the page).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint cannot accept this kind of data (e.g. binary
    /// where it only understands text).
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1007: a message's data did not match its type (text that is not
    /// UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy (a generic code
    /// when no other fits, or details are to be hidden).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: the server met an unexpected condition (our bug, such as a
    /// handler that panicked).
    pub const INTERNAL: CloseCode = CloseCode(1011);

    /// Returns the code `code`, if an endpoint may send it in a close
    /// frame (see the type's documentation).
    pub const fn new(code: u16) -> Option<CloseCode> {
        match code {
            1000..=1003 | 1007..=1011 | 3000..=4999 => Some(CloseCode(code)),
            _ => None,
        }
    }

    /// Returns the code as a number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

/// CloseFrame is what a close frame that carried a code said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the peer closes.
    pub code: CloseCode,
    /// The peer's reason, for people and logs: UTF-8, at most
    /// [`MAX_REASON_BYTES`], possibly empty.
    pub reason: String,
}

/// Parses the payload of a received close frame (RFC 6455 §5.5.1): empty
/// (`None`: no code given), or a 2-byte big-endian code followed by a
/// UTF-8 reason.
///
/// # Errors
/// [`DecodeError::CloseTooShort`] for a single byte (1002),
/// [`DecodeError::InvalidCloseCode`] for a code that may not be sent
/// (1002), [`DecodeError::InvalidUtf8`] for a reason that is not UTF-8
/// (1007).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, DecodeError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(DecodeError::CloseTooShort),
        [hi, lo, reason @ ..] => (u16::from_be_bytes([*hi, *lo]), reason),
    };
    let code = CloseCode::new(code).ok_or(DecodeError::InvalidCloseCode(code))?;
    let reason = std::str::from_utf8(reason).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok(Some(CloseFrame {
        code,
        reason: reason.to_owned(),
    }))
}

/// Encodes the payload of a close frame: `code`, then as much of `reason`
/// as fits in [`MAX_REASON_BYTES`], cut at a character boundary so that
/// it stays UTF-8.
///
/// # Examples
/// ```
/// use sockhttp::_internals::ws::{CloseCode, encode_close_payload};
/// assert_eq!(encode_close_payload(CloseCode::NORMAL, "bye"), b"\x03\xe8bye");
/// let long = "é".repeat(100); // 200 bytes: 61 characters fit
/// assert_eq!(encode_close_payload(CloseCode::NORMAL, &long).len(), 2 + 122);
/// ```
pub fn encode_close_payload(code: CloseCode, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = Vec::with_capacity(2 + end);
    out.extend_from_slice(&code.as_u16().to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..end]);
    out
}

/// Encodes a whole unmasked close frame, as a server sends it: its head
/// and [`encode_close_payload`]'s payload (at most 127 bytes in all, so
/// copied into one buffer). To close without a code, send a close frame
/// with an empty payload instead ([`encode_head`] alone).
///
/// # Examples
/// ```
/// use sockhttp::_internals::ws::{CloseCode, encode_close_frame};
/// assert_eq!(encode_close_frame(CloseCode::GOING_AWAY, ""), [0x88, 0x02, 0x03, 0xe9]);
/// ```
pub fn encode_close_frame(code: CloseCode, reason: &str) -> Vec<u8> {
    let payload = encode_close_payload(code, reason);
    let head = FrameHead {
        fin: true,
        rsv: 0,
        opcode: Opcode::Close,
        len: payload.len() as u64,
    };
    let mut out = encode_head(&head, None).as_bytes().to_vec();
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payloads_parse_by_the_rules() {
        struct Case {
            name: &'static str,
            payload: &'static [u8],
            want: Result<Option<(u16, &'static str)>, DecodeError>,
        }
        const CASES: &[Case] = &[
            Case {
                name: "empty: no code",
                payload: b"",
                want: Ok(None),
            },
            Case {
                name: "one byte",
                payload: b"\x03",
                want: Err(DecodeError::CloseTooShort),
            },
            Case {
                name: "a code alone",
                payload: b"\x03\xe8",
                want: Ok(Some((1000, ""))),
            },
            Case {
                name: "a code and a reason",
                payload: b"\x0f\xa0private \xe2\x82\xac",
                want: Ok(Some((4000, "private €"))),
            },
            Case {
                name: "1004 is reserved",
                payload: b"\x03\xec",
                want: Err(DecodeError::InvalidCloseCode(1004)),
            },
            Case {
                name: "1006 is never sent",
                payload: b"\x03\xee",
                want: Err(DecodeError::InvalidCloseCode(1006)),
            },
            Case {
                name: "1015 is never sent",
                payload: b"\x03\xf7",
                want: Err(DecodeError::InvalidCloseCode(1015)),
            },
            Case {
                name: "5000 is past the private range",
                payload: b"\x13\x88",
                want: Err(DecodeError::InvalidCloseCode(5000)),
            },
            Case {
                name: "the code is checked before the reason",
                payload: b"\x00\x00\xff",
                want: Err(DecodeError::InvalidCloseCode(0)),
            },
            Case {
                name: "a reason cut inside a character",
                payload: b"\x03\xe8\xe2\x82",
                want: Err(DecodeError::InvalidUtf8),
            },
        ];
        for c in CASES {
            let got =
                parse_close_payload(c.payload).map(|f| f.map(|f| (f.code.as_u16(), f.reason)));
            let want = c.want.map(|f| f.map(|(code, r)| (code, r.to_owned())));
            assert_eq!(got, want, "{}: parse({:?})", c.name, c.payload);
        }
    }

    #[test]
    fn reasons_are_cut_at_a_character_boundary_to_fit() {
        let cases = [
            ("", 0),
            ("bye", 3),
            (&"a".repeat(123), 123),
            (&"a".repeat(200), 123),
            (&("a".repeat(121) + "é"), 123), // 2-byte character ends at 123
            (&("a".repeat(122) + "é"), 122), // it would end at 124
            (&("a".repeat(120) + "🦀"), 120),
            (&"€".repeat(50), 123),
            (&"🦀".repeat(40), 120),
        ];
        for (reason, kept) in cases {
            let payload = encode_close_payload(CloseCode::POLICY, reason);
            assert_eq!(&payload[..2], [0x03, 0xf0]);
            assert_eq!(&payload[2..], &reason.as_bytes()[..kept], "{reason:?}");
            let parsed = parse_close_payload(&payload).unwrap().unwrap();
            assert_eq!(
                (parsed.code, parsed.reason.len()),
                (CloseCode::POLICY, kept)
            );
        }
    }

    #[test]
    fn close_frames_are_unmasked_and_fit_a_control_frame() {
        assert_eq!(
            encode_close_frame(CloseCode::NORMAL, ""),
            [0x88, 0x02, 0x03, 0xe8]
        );
        let frame = encode_close_frame(CloseCode::INTERNAL, &"x".repeat(500));
        assert_eq!(&frame[..4], [0x88, 125, 0x03, 0xf3]);
        assert_eq!(frame.len(), 127);
    }

    #[test]
    fn named_codes_have_their_numbers() {
        let named = [
            (CloseCode::NORMAL, 1000),
            (CloseCode::GOING_AWAY, 1001),
            (CloseCode::PROTOCOL_ERROR, 1002),
            (CloseCode::UNSUPPORTED, 1003),
            (CloseCode::INVALID_PAYLOAD, 1007),
            (CloseCode::POLICY, 1008),
            (CloseCode::TOO_BIG, 1009),
            (CloseCode::INTERNAL, 1011),
        ];
        for (code, n) in named {
            assert_eq!((code.as_u16(), u16::from(code)), (n, n));
            assert_eq!(CloseCode::new(n), Some(code));
            assert_eq!(code.to_string(), n.to_string());
        }
        assert_eq!(format!("{:?}", CloseCode::NORMAL), "CloseCode(1000)");
    }
}
