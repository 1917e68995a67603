//! Messages (RFC 6455 §5.4, §5.6, §8.1): fragments assembled into
//! messages, with control frames between them, and text checked as
//! UTF-8 while it arrives.
//!
//! The [`MessageDecoder`] owns a [`FrameDecoder`] and applies the rules
//! that span frames:
//! 1. A text or binary frame starts a message ([`Event::MessageStart`]);
//!    continuation frames carry it on; the frame with FIN ends it
//!    ([`Event::MessageEnd`]). A continuation with no message in
//!    progress, or a new message before the last ended, fails (1002).
//! 2. Control frames may come between the fragments of a message
//!    ([`Event::Ping`], [`Event::Pong`], [`Event::Close`]).
//! 3. The size of a message is counted from each frame's head, before its
//!    payload is read: the frame that would carry it past
//!    `max_message_bytes` fails at once (1009).
//! 4. Text is checked as it arrives and fails as soon as an invalid
//!    sequence is certain (1007), not at the message's end. Each
//!    [`Event::Data`] of a text message is whole characters: a character
//!    cut at the end of a piece (or of a fragment) is held back, at most
//!    3 bytes, and delivered once the next piece completes it. So the
//!    data delivered before an error, and the error, are the same however
//!    the bytes were split.
//! 5. A close frame's payload is parsed ([`super::close`]); after it the
//!    decoder reads nothing more (§5.5.1: the peer sends no data frame
//!    after it).
//!
//! This module performs no I/O.

use super::close::{CloseFrame, parse_close_payload};
use super::frame::{FrameDecoder, FrameEvent, Opcode};
use super::{Config, DecodeError, Role};
use bytes::{Buf, Bytes, BytesMut};

/// MessageKind says what a message carries (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Bytes that are the application's to interpret (opcode 0x2).
    Binary,
}

/// Event is what one step of a [`MessageDecoder`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The buffer holds no complete next piece; read more.
    NeedData,
    /// A message starts. Its payload follows as [`Event::Data`], then
    /// [`Event::MessageEnd`], possibly with control frames between.
    MessageStart(MessageKind),
    /// A piece of the current message's payload (never empty). For a text
    /// message, each piece is whole characters of valid UTF-8.
    Data(Bytes),
    /// The current message is complete (and, for text, valid UTF-8).
    MessageEnd,
    /// A ping, with its payload (at most 125 bytes): answer with a pong
    /// carrying the same payload (§5.5.2).
    Ping(Bytes),
    /// A pong, with its payload (at most 125 bytes).
    Pong(Bytes),
    /// The peer's close frame, with its code and reason if it gave one.
    /// Echo a close frame and close the connection (§5.5.1). The decoder
    /// reads nothing after it: every later call returns this event
    /// again, and the bytes after the frame stay in the buffer.
    Close(Option<CloseFrame>),
}

/// MessageDecoder turns a byte stream into messages and control frames,
/// applying every rule of RFC 6455 that a receiver checks.
///
/// After an error it returns the same error again.
#[derive(Clone, Debug)]
pub struct MessageDecoder {
    frames: FrameDecoder,
    max_message_bytes: u64,
    /// The message in progress, if any.
    message: Option<MessageKind>,
    /// The payload bytes of the message in progress, as declared by its
    /// frames' heads so far.
    declared: u64,
    /// Whether the data frame being read is its message's last.
    fin: bool,
    /// The start of a UTF-8 character cut at the end of the last piece of
    /// text (`carry_len` bytes of `carry`, at most 3 while cut).
    carry: [u8; 4],
    carry_len: usize,
    /// Text that followed a completed carried character in the same
    /// piece, still to check and deliver.
    rest: Option<Bytes>,
    /// The error to return from now on.
    failed: Option<DecodeError>,
    /// The close frame received, once one was.
    closed: Option<Option<CloseFrame>>,
}

impl MessageDecoder {
    /// Makes a decoder for the frames the peer of `role` sends.
    pub fn new(role: Role, config: &Config) -> MessageDecoder {
        MessageDecoder {
            frames: FrameDecoder::new(role, config),
            max_message_bytes: config.max_message_bytes,
            message: None,
            declared: 0,
            fin: false,
            carry: [0; 4],
            carry_len: 0,
            rest: None,
            failed: None,
            closed: None,
        }
    }

    /// Reports whether the decoder is between messages and between frames,
    /// with nothing held back, and neither failed nor closed: where a
    /// session can wait on its peer with nothing of a message under way
    /// (an empty buffer too means idle).
    pub fn is_between_messages(&self) -> bool {
        self.message.is_none()
            && self.frames.is_between_frames()
            && self.failed.is_none()
            && self.closed.is_none()
    }

    /// Returns the close frame received, once one was: `Some(None)` for a
    /// close frame without a code.
    pub fn close_received(&self) -> Option<&Option<CloseFrame>> {
        self.closed.as_ref()
    }

    /// Takes the next event from the front of `buf`.
    ///
    /// # Errors
    /// Any [`DecodeError`]: the frame rules of [`FrameDecoder::decode`],
    /// the sequence of fragments, the message size, UTF-8, and the close
    /// payload. Fail the connection with its [`DecodeError::close_code`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Event, DecodeError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if let Some(close) = &self.closed {
            return Ok(Event::Close(close.clone()));
        }
        let event = self.step(buf);
        if let Err(e) = event {
            self.failed = Some(e);
        }
        event
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Event, DecodeError> {
        if let Some(rest) = self.rest.take() {
            if let Some(event) = self.text(rest)? {
                return Ok(event);
            }
        }
        loop {
            match self.frames.decode(buf)? {
                FrameEvent::NeedData => return Ok(Event::NeedData),
                FrameEvent::Start(head) => {
                    let declared = match (head.opcode, self.message) {
                        (Opcode::Continuation, None) => {
                            return Err(DecodeError::UnexpectedContinuation);
                        }
                        (Opcode::Continuation, Some(_)) => self.declared.checked_add(head.len),
                        (_, Some(_)) => return Err(DecodeError::UnfinishedMessage),
                        (_, None) => Some(head.len),
                    };
                    let declared = declared
                        .filter(|&n| n <= self.max_message_bytes)
                        .ok_or(DecodeError::MessageTooLarge)?;
                    self.declared = declared;
                    self.fin = head.fin;
                    if self.message.is_none() {
                        let kind = match head.opcode {
                            Opcode::Text => MessageKind::Text,
                            _ => MessageKind::Binary,
                        };
                        self.message = Some(kind);
                        return Ok(Event::MessageStart(kind));
                    }
                }
                FrameEvent::Data(data) => {
                    if self.message != Some(MessageKind::Text) {
                        return Ok(Event::Data(data));
                    }
                    if let Some(event) = self.text(data)? {
                        return Ok(event);
                    }
                }
                FrameEvent::End => {
                    if self.fin {
                        if self.carry_len > 0 {
                            // The message ends inside a character.
                            return Err(DecodeError::InvalidUtf8);
                        }
                        self.message = None;
                        self.declared = 0;
                        return Ok(Event::MessageEnd);
                    }
                }
                FrameEvent::Ping(payload) => return Ok(Event::Ping(payload)),
                FrameEvent::Pong(payload) => return Ok(Event::Pong(payload)),
                FrameEvent::Close(payload) => {
                    let close = parse_close_payload(&payload)?;
                    self.closed = Some(close.clone());
                    return Ok(Event::Close(close));
                }
            }
        }
    }

    /// Checks a piece of text and returns what of it can be delivered:
    /// whole characters only. A character cut at the piece's end is
    /// carried to the next piece; one completed from the carry is
    /// delivered on its own (copied: at most 4 bytes), and the rest of its
    /// piece on the next call. Bytes before an invalid sequence are
    /// delivered first, and the error comes with the next call.
    fn text(&mut self, mut piece: Bytes) -> Result<Option<Event>, DecodeError> {
        while self.carry_len > 0 {
            let Some(&b) = piece.first() else {
                return Ok(None);
            };
            piece.advance(1);
            self.carry[self.carry_len] = b;
            self.carry_len += 1;
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => {
                    let ch = Bytes::copy_from_slice(&self.carry[..self.carry_len]);
                    self.carry_len = 0;
                    if !piece.is_empty() {
                        self.rest = Some(piece);
                    }
                    return Ok(Some(Event::Data(ch)));
                }
                Err(e) if e.error_len().is_some() => return Err(DecodeError::InvalidUtf8),
                Err(_) => {} // still a valid start of a character
            }
        }
        let valid = match std::str::from_utf8(&piece) {
            Ok(_) => return Ok(Some(Event::Data(piece))),
            Err(e) if e.error_len().is_some() => {
                // Invalid for certain: deliver what came before it, then
                // fail.
                if e.valid_up_to() == 0 {
                    return Err(DecodeError::InvalidUtf8);
                }
                self.failed = Some(DecodeError::InvalidUtf8);
                e.valid_up_to()
            }
            Err(e) => {
                // The piece ends inside a character (1 to 3 bytes).
                let tail = &piece[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                e.valid_up_to()
            }
        };
        Ok((valid > 0).then(|| Event::Data(piece.split_to(valid))))
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{MAX_CONTROL_PAYLOAD, MAX_HEAD_BYTES};
    use super::super::tests::{client, split_points};
    use super::*;
    use crate::proto::ws::CloseCode;

    /// What a run saw, with adjacent data pieces joined.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Start(MessageKind),
        Data(Vec<u8>),
        End,
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    /// How a run ended: the input ran out, a close frame (with the bytes
    /// after it, untouched), or an error.
    #[derive(Debug, PartialEq, Eq)]
    enum Finish {
        NeedData,
        Closed(Vec<u8>),
        Failed(DecodeError),
    }

    fn run(config: &Config, input: &[u8], cuts: &[usize]) -> (Vec<Seen>, Finish) {
        let mut dec = MessageDecoder::new(Role::Server, config);
        let mut buf = BytesMut::new();
        let mut bounds = cuts.iter().copied().chain([input.len()]);
        let mut fed = 0;
        let mut seen = Vec::new();
        let mut text = false;
        loop {
            match dec.decode(&mut buf) {
                Err(e) => {
                    assert_eq!(dec.decode(&mut buf), Err(e), "errors are sticky");
                    return (seen, Finish::Failed(e));
                }
                Ok(Event::NeedData) => {
                    assert!(buf.len() < MAX_HEAD_BYTES + MAX_CONTROL_PAYLOAD);
                    match bounds.next() {
                        Some(end) => {
                            buf.extend_from_slice(&input[fed..end]);
                            fed = end;
                        }
                        None => return (seen, Finish::NeedData),
                    }
                }
                Ok(Event::Data(d)) => {
                    assert!(!d.is_empty(), "Data is never empty");
                    if text {
                        assert!(std::str::from_utf8(&d).is_ok(), "whole characters: {d:?}");
                    }
                    match seen.last_mut() {
                        Some(Seen::Data(v)) => v.extend_from_slice(&d),
                        _ => seen.push(Seen::Data(d.to_vec())),
                    }
                }
                Ok(Event::MessageStart(kind)) => {
                    text = kind == MessageKind::Text;
                    seen.push(Seen::Start(kind));
                }
                Ok(Event::MessageEnd) => {
                    assert!(dec.is_between_messages());
                    seen.push(Seen::End);
                }
                Ok(Event::Ping(p)) => seen.push(Seen::Ping(p.to_vec())),
                Ok(Event::Pong(p)) => seen.push(Seen::Pong(p.to_vec())),
                Ok(Event::Close(c)) => {
                    let again = dec.decode(&mut buf);
                    assert_eq!(again, Ok(Event::Close(c.clone())), "the close repeats");
                    assert_eq!(dec.close_received(), Some(&c));
                    let left = [&buf[..], &input[fed..]].concat();
                    let c = c.map(|c| (c.code.as_u16(), c.reason));
                    seen.push(Seen::Close(c));
                    return (seen, Finish::Closed(left));
                }
            }
        }
    }

    /// Runs `input` whole, byte by byte and cut in two at every point,
    /// and checks every way gives the same events and the same end.
    fn every_split(config: &Config, input: &[u8]) -> (Vec<Seen>, Finish) {
        let whole = run(config, input, &[]);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(config, input, &bytewise), whole, "byte by byte");
        for at in split_points(input.len()) {
            assert_eq!(run(config, input, &[at]), whole, "cut at {at}");
        }
        whole
    }

    const TEXT: Seen = Seen::Start(MessageKind::Text);
    const BINARY: Seen = Seen::Start(MessageKind::Binary);

    fn data(d: &[u8]) -> Seen {
        Seen::Data(d.to_vec())
    }

    fn close(code: u16, reason: &str) -> Seen {
        Seen::Close(Some((code, reason.to_owned())))
    }

    fn fail(e: DecodeError) -> Finish {
        Finish::Failed(e)
    }

    struct Case {
        name: &'static str,
        config: Config,
        frames: Vec<Vec<u8>>,
        seen: Vec<Seen>,
        finish: Finish,
    }

    fn limit(max_message_bytes: u64) -> Config {
        Config {
            max_message_bytes,
            ..Config::default()
        }
    }

    fn cases() -> Vec<Case> {
        use DecodeError::*;
        use Finish::NeedData;
        let cfg = Config::default();
        let case = |name, frames: Vec<Vec<u8>>, seen, finish| Case {
            name,
            config: cfg,
            frames,
            seen,
            finish,
        };
        vec![
            // Messages and fragments.
            case(
                "a single-frame text message",
                vec![client(0x81, b"Hello")],
                vec![TEXT, data(b"Hello"), Seen::End],
                NeedData,
            ),
            case(
                "a fragmented text message with a ping between its fragments",
                vec![
                    client(0x01, b"Hel"),
                    client(0x89, b"?"),
                    client(0x80, b"lo"),
                ],
                vec![
                    TEXT,
                    data(b"Hel"),
                    Seen::Ping(b"?".to_vec()),
                    data(b"lo"),
                    Seen::End,
                ],
                NeedData,
            ),
            case(
                "a binary message in three fragments, one empty",
                vec![
                    client(0x02, b"\xff\x00"),
                    client(0x00, b""),
                    client(0x80, b"\x80"),
                ],
                vec![BINARY, data(b"\xff\x00\x80"), Seen::End],
                NeedData,
            ),
            case(
                "empty messages",
                vec![client(0x81, b""), client(0x02, b""), client(0x80, b"")],
                vec![TEXT, Seen::End, BINARY, Seen::End],
                NeedData,
            ),
            case(
                "a pong and a ping between messages",
                vec![client(0x8A, b"a"), client(0x82, b"b"), client(0x89, b"")],
                vec![
                    Seen::Pong(b"a".to_vec()),
                    BINARY,
                    data(b"b"),
                    Seen::End,
                    Seen::Ping(vec![]),
                ],
                NeedData,
            ),
            case(
                "a message cut short waits",
                vec![client(0x01, b"ab"), client(0x00, b"cd")],
                vec![TEXT, data(b"abcd")],
                NeedData,
            ),
            case(
                "a continuation without a message",
                vec![client(0x81, b"ok"), client(0x80, b"x")],
                vec![TEXT, data(b"ok"), Seen::End],
                fail(UnexpectedContinuation),
            ),
            case(
                "a new text message inside a fragmented one",
                vec![client(0x01, b"a"), client(0x81, b"b")],
                vec![TEXT, data(b"a")],
                fail(UnfinishedMessage),
            ),
            case(
                "a new binary message inside a fragmented one",
                vec![client(0x02, b"a"), client(0x02, b"b")],
                vec![BINARY, data(b"a")],
                fail(UnfinishedMessage),
            ),
            case(
                "a frame rule broken inside a message",
                vec![client(0x01, b"a"), vec![0x09]],
                vec![TEXT, data(b"a")],
                fail(FragmentedControl),
            ),
            // Sizes.
            Case {
                name: "a message at the maximum, across fragments",
                config: limit(6),
                frames: vec![client(0x02, b"abc"), client(0x80, b"def")],
                seen: vec![BINARY, data(b"abcdef"), Seen::End],
                finish: NeedData,
            },
            Case {
                name: "the fragment that passes the maximum fails from its head",
                config: limit(6),
                frames: vec![client(0x02, b"abc"), client(0x80, b"defg")],
                seen: vec![BINARY, data(b"abc")],
                finish: fail(MessageTooLarge),
            },
            Case {
                name: "a single frame over the message maximum fails before it starts",
                config: limit(3),
                frames: vec![client(0x81, b"abcd")],
                seen: vec![],
                finish: fail(MessageTooLarge),
            },
            Case {
                name: "the size counts each message anew",
                config: limit(3),
                frames: vec![client(0x82, b"abc"), client(0x82, b"def")],
                seen: vec![
                    BINARY,
                    data(b"abc"),
                    Seen::End,
                    BINARY,
                    data(b"def"),
                    Seen::End,
                ],
                finish: NeedData,
            },
            Case {
                name: "control frames do not count",
                config: limit(3),
                frames: vec![
                    client(0x02, b"ab"),
                    client(0x89, b"long ping"),
                    client(0x80, b"c"),
                ],
                seen: vec![
                    BINARY,
                    data(b"ab"),
                    Seen::Ping(b"long ping".to_vec()),
                    data(b"c"),
                    Seen::End,
                ],
                finish: NeedData,
            },
            case(
                "a head declaring 1 TB",
                vec![[&[0x82, 0xFF][..], &(1u64 << 40).to_be_bytes()].concat()],
                vec![],
                fail(FrameTooLarge),
            ),
            // UTF-8.
            case(
                "text in several scripts",
                vec![client(0x81, "κόσμε, 世界, 🦀".as_bytes())],
                vec![TEXT, data("κόσμε, 世界, 🦀".as_bytes()), Seen::End],
                NeedData,
            ),
            case(
                "a character cut between fragments, a ping between",
                vec![
                    client(0x01, b"a\xF0\x9F"),
                    client(0x89, b""),
                    client(0x80, b"\xA6\x80b"),
                ],
                vec![
                    TEXT,
                    data(b"a"),
                    Seen::Ping(vec![]),
                    data("🦀b".as_bytes()),
                    Seen::End,
                ],
                NeedData,
            ),
            case(
                "an invalid byte fails; what came before it is delivered",
                vec![client(0x81, b"ab\xFFcd")],
                vec![TEXT, data(b"ab")],
                fail(InvalidUtf8),
            ),
            case(
                "a surrogate fails as soon as it is certain, before the frame ends",
                vec![client(0x81, b"ab\xED\xA0\x80cd")[..10].to_vec()],
                vec![TEXT, data(b"ab")],
                fail(InvalidUtf8),
            ),
            case(
                "an overlong encoding fails at its first byte",
                vec![client(0x01, b"\xC0")],
                vec![TEXT],
                fail(InvalidUtf8),
            ),
            case(
                "a code point over U+10FFFF fails at its second byte",
                vec![client(0x01, b"x\xF4"), client(0x80, b"\x90\x80\x80")],
                vec![TEXT, data(b"x")],
                fail(InvalidUtf8),
            ),
            case(
                "a text message that ends inside a character",
                vec![client(0x01, b"a\xE2\x82"), client(0x80, b"")],
                vec![TEXT, data(b"a")],
                fail(InvalidUtf8),
            ),
            case(
                "a character completed, then an invalid byte in the same piece",
                vec![client(0x01, b"\xE2"), client(0x80, b"\x82\xACok\xFF")],
                vec![TEXT, data("€ok".as_bytes())],
                fail(InvalidUtf8),
            ),
            case(
                "binary messages are not UTF-8 checked",
                vec![client(0x82, b"\xFF\xED\xA0\x80\xC0")],
                vec![BINARY, data(b"\xFF\xED\xA0\x80\xC0"), Seen::End],
                NeedData,
            ),
            // Close frames.
            case(
                "an empty close",
                vec![client(0x88, b""), b"after".to_vec()],
                vec![Seen::Close(None)],
                Finish::Closed(b"after".to_vec()),
            ),
            case(
                "a close with a code and a reason, inside a message",
                vec![client(0x01, b"a"), client(0x88, b"\x03\xe9gone \xC3\xA9")],
                vec![TEXT, data(b"a"), close(1001, "gone é")],
                Finish::Closed(vec![]),
            ),
            case(
                "a one-byte close",
                vec![client(0x88, b"\x03")],
                vec![],
                fail(CloseTooShort),
            ),
            case(
                "a close reason that is not UTF-8",
                vec![client(0x88, b"\x03\xe8\xFF")],
                vec![],
                fail(InvalidUtf8),
            ),
            case(
                "a close with code 1005, which is never sent",
                vec![client(0x88, b"\x03\xed")],
                vec![],
                fail(InvalidCloseCode(1005)),
            ),
        ]
    }

    #[test]
    fn messages_decode_the_same_at_every_split() {
        for case in cases() {
            let input = case.frames.concat();
            let got = every_split(&case.config, &input);
            let want = (case.seen, case.finish);
            assert_eq!(got, want, "{}: decode({input:?})", case.name);
        }
    }

    #[test]
    fn close_codes_follow_rfc_6455_section_7_4() {
        for code in 0..=u16::MAX {
            let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            let input = client(0x88, &code.to_be_bytes());
            let want = if valid {
                (vec![close(code, "")], Finish::Closed(vec![]))
            } else {
                (vec![], Finish::Failed(DecodeError::InvalidCloseCode(code)))
            };
            assert_eq!(run(&Config::default(), &input, &[]), want, "code {code}");
            assert_eq!(CloseCode::new(code).is_some(), valid, "code {code}");
        }
    }

    #[test]
    fn text_pieces_hold_back_at_most_three_bytes() {
        // A four-byte character fed one byte at a time comes out whole,
        // after its last byte, and not before.
        let mut dec = MessageDecoder::new(Role::Server, &Config::default());
        let frame = client(0x81, "🦀".as_bytes());
        let mut buf = BytesMut::from(&frame[..6]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Event::MessageStart(MessageKind::Text))
        );
        for i in 6..9 {
            buf.extend_from_slice(&frame[i..i + 1]);
            assert_eq!(dec.decode(&mut buf), Ok(Event::NeedData), "byte {i}");
        }
        buf.extend_from_slice(&frame[9..]);
        assert_eq!(dec.decode(&mut buf), Ok(Event::Data("🦀".into())));
        assert_eq!(dec.decode(&mut buf), Ok(Event::MessageEnd));
    }

    #[test]
    fn a_session_is_between_messages_only_outside_them() {
        let mut dec = MessageDecoder::new(Role::Server, &Config::default());
        assert!(dec.is_between_messages());
        let mut buf = BytesMut::from(&client(0x01, b"a")[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Event::MessageStart(MessageKind::Text))
        );
        assert!(!dec.is_between_messages());
        assert_eq!(dec.decode(&mut buf), Ok(Event::Data("a".into())));
        assert_eq!(dec.decode(&mut buf), Ok(Event::NeedData));
        assert!(
            !dec.is_between_messages(),
            "a fragment has ended, not the message"
        );
        buf.extend_from_slice(&client(0x80, b""));
        assert_eq!(dec.decode(&mut buf), Ok(Event::MessageEnd));
        assert!(dec.is_between_messages());

        let mut closed = dec.clone();
        let mut buf = BytesMut::from(&client(0x88, b"")[..]);
        assert_eq!(closed.decode(&mut buf), Ok(Event::Close(None)));
        assert!(!closed.is_between_messages(), "closed");

        let mut buf = BytesMut::from(&[0x83][..]);
        assert_eq!(dec.decode(&mut buf), Err(DecodeError::UnknownOpcode(3)));
        assert!(!dec.is_between_messages(), "failed");
    }
}
