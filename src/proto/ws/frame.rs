//! Frames (RFC 6455 §5.2): the incremental [`FrameDecoder`], and the
//! frame vocabulary it shares with the encoder.
//!
//! The decoder takes bytes from the front of a buffer, as the HTTP body
//! decoder does, and hands a data frame's payload back in pieces as they
//! arrive, unmasked in place and without copying
//! (`BytesMut::split_to`). It keeps nothing but its state: a frame head
//! is parsed again from the buffer until it is complete (at most
//! [`MAX_HEAD_BYTES`]), and a control frame is taken once it is whole (at
//! most [`MAX_CONTROL_PAYLOAD`] more). Each rule is checked as soon as
//! the byte it depends on has arrived, so a bad first byte is refused
//! without waiting for the rest of the head. It performs no I/O.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```

use super::{Config, DecodeError, Role};
use bytes::{Buf, Bytes, BytesMut};

/// The longest frame head: 2 bytes, a 64-bit extended length and a
/// masking key.
pub const MAX_HEAD_BYTES: usize = 14;

/// The largest payload of a control frame (RFC 6455 §5.5: "All control
/// frames MUST have a payload length of 125 bytes or less").
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Opcode says what a frame carries (RFC 6455 §5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// `0x0`: the next fragment of the message in progress.
    Continuation,
    /// `0x1`: the first frame of a text message (UTF-8).
    Text,
    /// `0x2`: the first frame of a binary message.
    Binary,
    /// `0x8`: the close frame (a control frame).
    Close,
    /// `0x9`: a ping, to be answered with a pong (a control frame).
    Ping,
    /// `0xA`: a pong (a control frame).
    Pong,
}

impl Opcode {
    /// Returns the opcode of the 4-bit value `n`, or `None` for the
    /// reserved values 0x3-0x7 and 0xB-0xF (and anything above 0xF).
    pub fn from_u8(n: u8) -> Option<Opcode> {
        match n {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// Returns the opcode's 4-bit value.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Reports whether this is a control opcode (close, ping, pong): the
    /// opcodes with the most significant bit set (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// FrameHead is what a frame's head says: FIN, the reserved bits, the
/// opcode and the payload length (the masking key stays inside the
/// decoder, which unmasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// Whether this is the final fragment of its message.
    pub fin: bool,
    /// The reserved bits as they sit in the first byte (`0x70` mask):
    /// zero unless an extension gave them a meaning.
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The payload length in bytes.
    pub len: u64,
}

/// FrameEvent is what one step of a [`FrameDecoder`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameEvent {
    /// The buffer holds no complete next piece; read more.
    NeedData,
    /// The head of a data frame (text, binary or continuation). Its
    /// payload follows as [`FrameEvent::Data`], then [`FrameEvent::End`].
    Start(FrameHead),
    /// A piece of the current data frame's payload, unmasked (never
    /// empty).
    Data(Bytes),
    /// The current data frame's payload is complete.
    End,
    /// A whole ping frame: its unmasked payload (at most 125 bytes).
    Ping(Bytes),
    /// A whole pong frame: its unmasked payload (at most 125 bytes).
    Pong(Bytes),
    /// A whole close frame: its unmasked payload (at most 125 bytes),
    /// not yet parsed (see [`super::close::parse_close_payload`]).
    Close(Bytes),
}

/// FrameDecoder splits a byte stream into frames and unmasks their
/// payload, applying the rules of one frame (RFC 6455 §5.2-§5.5).
///
/// It knows nothing of messages: which frame may follow which is the
/// [`super::MessageDecoder`]'s business. After an error it returns the
/// same error again.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    state: State,
    role: Role,
    max_frame_bytes: u64,
    extension_rsv: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a frame head.
    Head,
    /// Inside a data frame's payload, with this much left; `offset` is
    /// where in the masking key the next byte is.
    Payload {
        left: u64,
        mask: Option<[u8; 4]>,
        offset: usize,
    },
    /// A rule was broken; the connection is to be failed.
    Failed(DecodeError),
}

/// A complete frame head and where its payload starts.
struct Parsed {
    head: FrameHead,
    mask: Option<[u8; 4]>,
    head_len: usize,
}

impl FrameDecoder {
    /// Makes a decoder for the frames the peer of `role` sends.
    pub fn new(role: Role, config: &Config) -> FrameDecoder {
        FrameDecoder {
            state: State::Head,
            role,
            max_frame_bytes: config.max_frame_bytes,
            extension_rsv: config.extension_rsv & 0x70,
        }
    }

    /// Reports whether the decoder is between frames: nothing of a frame
    /// has been taken from the buffer (a session is idle here when its
    /// buffer is empty too).
    pub fn is_between_frames(&self) -> bool {
        self.state == State::Head
    }

    /// Takes the next event from the front of `buf`.
    ///
    /// A data frame's payload comes out as it arrives, in as many pieces
    /// as it was read in; a control frame comes out whole, so
    /// [`FrameEvent::NeedData`] never leaves more than
    /// [`MAX_HEAD_BYTES`] + [`MAX_CONTROL_PAYLOAD`] bytes in `buf`.
    ///
    /// # Errors
    /// Any [`DecodeError`] about a single frame: masking, reserved bits,
    /// opcode, control frame rules, length encoding, frame size.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<FrameEvent, DecodeError> {
        match self.state {
            State::Failed(e) => Err(e),
            State::Payload { left: 0, .. } => {
                self.state = State::Head;
                Ok(FrameEvent::End)
            }
            State::Payload { left, mask, offset } => {
                if buf.is_empty() {
                    return Ok(FrameEvent::NeedData);
                }
                let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                let mut data = buf.split_to(n);
                if let Some(key) = mask {
                    apply_mask(&mut data, key, offset);
                }
                self.state = State::Payload {
                    left: left - n as u64,
                    mask,
                    offset: (offset + n) % 4,
                };
                Ok(FrameEvent::Data(data.freeze()))
            }
            State::Head => match self.parse_head(buf) {
                Err(e) => {
                    self.state = State::Failed(e);
                    Err(e)
                }
                Ok(None) => Ok(FrameEvent::NeedData),
                Ok(Some(p)) if p.head.opcode.is_control() => {
                    // At most 125 bytes (checked in the head): the frame
                    // is taken whole, once it is all here.
                    let len = p.head.len as usize;
                    if buf.len() < p.head_len + len {
                        return Ok(FrameEvent::NeedData);
                    }
                    buf.advance(p.head_len);
                    let mut payload = buf.split_to(len);
                    if let Some(key) = p.mask {
                        apply_mask(&mut payload, key, 0);
                    }
                    let payload = payload.freeze();
                    Ok(match p.head.opcode {
                        Opcode::Ping => FrameEvent::Ping(payload),
                        Opcode::Pong => FrameEvent::Pong(payload),
                        _ => FrameEvent::Close(payload),
                    })
                }
                Ok(Some(p)) => {
                    buf.advance(p.head_len);
                    self.state = State::Payload {
                        left: p.head.len,
                        mask: p.mask,
                        offset: 0,
                    };
                    Ok(FrameEvent::Start(p.head))
                }
            },
        }
    }

    /// Parses the frame head at the front of `buf` without consuming it:
    /// `None` until it is complete. Each rule is checked as soon as its
    /// bytes are there, in the order of the head's fields.
    fn parse_head(&self, buf: &[u8]) -> Result<Option<Parsed>, DecodeError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        if rsv & !self.extension_rsv != 0 {
            return Err(DecodeError::ReservedBits);
        }
        let opcode = Opcode::from_u8(b0 & 0x0F).ok_or(DecodeError::UnknownOpcode(b0 & 0x0F))?;
        if opcode.is_control() && !fin {
            return Err(DecodeError::FragmentedControl);
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(DecodeError::Unmasked),
            (Role::Client, true) => return Err(DecodeError::Masked),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
            return Err(DecodeError::ControlTooLong);
        }
        // RFC 6455 §5.2: "the minimal number of bytes MUST be used to
        // encode the length". That binds the sender; a longer encoding
        // of a length is still one unambiguous length, so it is accepted
        // (as tungstenite, gorilla/websocket and Node's `ws` do): refusing
        // it would protect nothing.
        let (len, mut at) = match len7 {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    (u64::from_be_bytes(be), 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(DecodeError::LengthOverflow);
        }
        if !opcode.is_control() && len > self.max_frame_bytes {
            // Refused from the head: none of the payload is read.
            return Err(DecodeError::FrameTooLarge);
        }
        let mask = if masked {
            let Some(b) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([b[0], b[1], b[2], b[3]])
        } else {
            None
        };
        Ok(Some(Parsed {
            head: FrameHead {
                fin,
                rsv,
                opcode,
                len,
            },
            mask,
            head_len: at,
        }))
    }
}

/// Masks or unmasks `data` with `key` (RFC 6455 §5.3: octet i is XORed
/// with octet `i MOD 4` of the key), where `offset` is how many bytes of
/// the same payload came before `data`: a payload unmasked in pieces
/// keeps its place in the key across them.
///
/// # Examples
/// ```
/// use sockhttp::_internals::ws::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut whole = *b"Hello";
/// apply_mask(&mut whole, key, 0);
/// let (mut a, mut b) = (*b"He", *b"llo");
/// apply_mask(&mut a, key, 0);
/// apply_mask(&mut b, key, 2);
/// assert_eq!([&a[..], &b[..]].concat(), whole);
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    key.rotate_left(offset % 4);
    // Eight bytes at a time: every chunk starts at a multiple of 4 from
    // the start of `data`, so at the same place in the rotated key.
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let bytes: [u8; 8] = (&*chunk).try_into().expect("chunks_exact_mut(8)");
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{KEY, client, frame, split_points};
    use super::*;

    /// What a run saw, with the payload pieces of each frame joined.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Start(FrameHead),
        Data(Vec<u8>),
        End,
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Vec<u8>),
    }

    /// How a run ended: the input ran out (with the bytes still
    /// buffered), or an error.
    #[derive(Debug, PartialEq, Eq)]
    enum Finish {
        NeedData(Vec<u8>),
        Failed(DecodeError),
    }

    /// Feeds `input` cut at `cuts`, a piece whenever the decoder asks.
    fn run(role: Role, config: &Config, input: &[u8], cuts: &[usize]) -> (Vec<Seen>, Finish) {
        let mut dec = FrameDecoder::new(role, config);
        let mut buf = BytesMut::new();
        let mut bounds = cuts.iter().copied().chain([input.len()]);
        let mut fed = 0;
        let mut seen = Vec::new();
        loop {
            match dec.decode(&mut buf) {
                Err(e) => {
                    assert_eq!(dec.decode(&mut buf), Err(e), "errors are sticky");
                    return (seen, Finish::Failed(e));
                }
                Ok(FrameEvent::NeedData) => {
                    assert!(buf.len() < MAX_HEAD_BYTES + MAX_CONTROL_PAYLOAD);
                    match bounds.next() {
                        Some(end) => {
                            buf.extend_from_slice(&input[fed..end]);
                            fed = end;
                        }
                        None => return (seen, Finish::NeedData(buf.to_vec())),
                    }
                }
                Ok(FrameEvent::Data(d)) => {
                    assert!(!d.is_empty(), "Data is never empty");
                    match seen.last_mut() {
                        Some(Seen::Data(v)) => v.extend_from_slice(&d),
                        _ => seen.push(Seen::Data(d.to_vec())),
                    }
                }
                Ok(FrameEvent::Start(h)) => seen.push(Seen::Start(h)),
                Ok(FrameEvent::End) => seen.push(Seen::End),
                Ok(FrameEvent::Ping(p)) => seen.push(Seen::Ping(p.to_vec())),
                Ok(FrameEvent::Pong(p)) => seen.push(Seen::Pong(p.to_vec())),
                Ok(FrameEvent::Close(p)) => seen.push(Seen::Close(p.to_vec())),
            }
        }
    }

    /// Runs `input` whole, byte by byte and cut in two at every point,
    /// and checks every way gives the same events and the same end.
    fn every_split(role: Role, config: &Config, input: &[u8]) -> (Vec<Seen>, Finish) {
        let whole = run(role, config, input, &[]);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(role, config, input, &bytewise), whole, "byte by byte");
        for at in split_points(input.len()) {
            assert_eq!(run(role, config, input, &[at]), whole, "cut at {at}");
        }
        whole
    }

    fn start(fin: bool, opcode: Opcode, len: u64) -> Seen {
        Seen::Start(FrameHead {
            fin,
            rsv: 0,
            opcode,
            len,
        })
    }

    fn data(d: &[u8]) -> Seen {
        Seen::Data(d.to_vec())
    }

    fn need(rest: &[u8]) -> Finish {
        Finish::NeedData(rest.to_vec())
    }

    struct Case {
        name: &'static str,
        role: Role,
        config: Config,
        input: Vec<u8>,
        seen: Vec<Seen>,
        finish: Finish,
    }

    fn small(max_frame_bytes: u64) -> Config {
        Config {
            max_frame_bytes,
            ..Config::default()
        }
    }

    fn cases() -> Vec<Case> {
        use DecodeError::*;
        use Opcode::*;
        let server = Role::Server;
        let cfg = Config::default();
        let mut cases = vec![
            Case {
                name: "RFC 6455 §5.7: a single-frame masked text message",
                role: server,
                config: cfg,
                input: vec![
                    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
                ],
                seen: vec![start(true, Text, 5), data(b"Hello"), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "RFC 6455 §5.7: a single-frame unmasked text message, read by a client",
                role: Role::Client,
                config: cfg,
                input: vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
                seen: vec![start(true, Text, 5), data(b"Hello"), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "RFC 6455 §5.7: fragments, read by a client",
                role: Role::Client,
                config: cfg,
                input: [&[0x01, 0x03][..], b"Hel", &[0x80, 0x02], b"lo"].concat(),
                seen: vec![
                    start(false, Text, 3),
                    data(b"Hel"),
                    Seen::End,
                    start(true, Continuation, 2),
                    data(b"lo"),
                    Seen::End,
                ],
                finish: need(b""),
            },
            Case {
                name: "RFC 6455 §5.7: an unmasked ping, read by a client",
                role: Role::Client,
                config: cfg,
                input: vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
                seen: vec![Seen::Ping(b"Hello".to_vec())],
                finish: need(b""),
            },
            Case {
                name: "RFC 6455 §5.7: a masked pong",
                role: server,
                config: cfg,
                input: vec![
                    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
                ],
                seen: vec![Seen::Pong(b"Hello".to_vec())],
                finish: need(b""),
            },
            Case {
                name: "a masked close, then bytes that stay",
                role: server,
                config: cfg,
                input: [client(0x88, b"\x03\xe8bye"), b"\x81".to_vec()].concat(),
                seen: vec![Seen::Close(b"\x03\xe8bye".to_vec())],
                finish: need(b"\x81"),
            },
            Case {
                name: "a zero-length data frame has a start and an end",
                role: server,
                config: cfg,
                input: client(0x82, b""),
                seen: vec![start(true, Binary, 0), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "an empty ping",
                role: server,
                config: cfg,
                input: client(0x89, b""),
                seen: vec![Seen::Ping(vec![])],
                finish: need(b""),
            },
            Case {
                name: "a 125-byte ping is whole",
                role: server,
                config: cfg,
                input: client(0x89, &[7; 125]),
                seen: vec![Seen::Ping(vec![7; 125])],
                finish: need(b""),
            },
            Case {
                name: "16-bit length",
                role: server,
                config: cfg,
                input: client(0x82, &[9; 300]),
                seen: vec![start(true, Binary, 300), data(&[9; 300]), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "64-bit length",
                role: server,
                config: cfg,
                input: client(0x82, &[5; 70_000]),
                seen: vec![start(true, Binary, 70_000), data(&[5; 70_000]), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "a non-minimal 16-bit length is accepted",
                role: server,
                config: cfg,
                input: [
                    &[0x82, 0xFE, 0x00, 0x03][..],
                    &KEY,
                    &[1 ^ 0x37, 2 ^ 0xfa, 3 ^ 0x21],
                ]
                .concat(),
                seen: vec![start(true, Binary, 3), data(&[1, 2, 3]), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "a non-minimal 64-bit length is accepted",
                role: Role::Client,
                config: cfg,
                input: vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 1, 42],
                seen: vec![start(true, Binary, 1), data(&[42]), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "a partial head waits",
                role: server,
                config: cfg,
                input: vec![0x81, 0xFE, 0x01],
                seen: vec![],
                finish: need(&[0x81, 0xFE, 0x01]),
            },
            Case {
                name: "a partial control frame waits, whole",
                role: server,
                config: cfg,
                input: client(0x89, b"ping")[..8].to_vec(),
                seen: vec![],
                finish: need(&client(0x89, b"ping")[..8]),
            },
            Case {
                name: "a partial data frame gives what came",
                role: server,
                config: cfg,
                input: client(0x82, b"abcdef")[..9].to_vec(),
                seen: vec![start(true, Binary, 6), data(b"abc")],
                finish: need(b""),
            },
            Case {
                name: "a client frame without a mask",
                role: server,
                config: cfg,
                input: vec![0x81, 0x05],
                seen: vec![],
                finish: Finish::Failed(Unmasked),
            },
            Case {
                name: "a server frame with a mask",
                role: Role::Client,
                config: cfg,
                input: vec![0x81, 0x85],
                seen: vec![],
                finish: Finish::Failed(Masked),
            },
            Case {
                name: "a control frame with FIN clear fails from its first byte",
                role: server,
                config: cfg,
                input: vec![0x09],
                seen: vec![],
                finish: Finish::Failed(FragmentedControl),
            },
            Case {
                name: "a 126-byte ping",
                role: server,
                config: cfg,
                input: client(0x89, &[0; 126]),
                seen: vec![],
                finish: Finish::Failed(ControlTooLong),
            },
            Case {
                name: "a close declaring a 64-bit length",
                role: server,
                config: cfg,
                input: vec![0x88, 0xFF],
                seen: vec![],
                finish: Finish::Failed(ControlTooLong),
            },
            Case {
                name: "a 64-bit length with its top bit set",
                role: server,
                config: cfg,
                input: vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1],
                seen: vec![],
                finish: Finish::Failed(LengthOverflow),
            },
            Case {
                name: "a frame over the maximum",
                role: server,
                config: small(5),
                input: client(0x82, b"123456"),
                seen: vec![],
                finish: Finish::Failed(FrameTooLarge),
            },
            Case {
                name: "a frame at the maximum",
                role: server,
                config: small(5),
                input: client(0x82, b"12345"),
                seen: vec![start(true, Binary, 5), data(b"12345"), Seen::End],
                finish: need(b""),
            },
            Case {
                name: "a head declaring 1 TB fails before its masking key",
                role: server,
                config: cfg,
                input: [&[0x82, 0xFF][..], &(1u64 << 40).to_be_bytes()].concat(),
                seen: vec![],
                finish: Finish::Failed(FrameTooLarge),
            },
            Case {
                name: "control frames are bounded by 125, not by the frame maximum",
                role: server,
                config: small(2),
                input: client(0x89, b"12345"),
                seen: vec![Seen::Ping(b"12345".to_vec())],
                finish: need(b""),
            },
            Case {
                name: "RSV1 allowed by a negotiated extension",
                role: server,
                config: Config {
                    extension_rsv: 0x40,
                    ..cfg
                },
                input: client(0xC2, b"z"),
                seen: vec![
                    Seen::Start(FrameHead {
                        fin: true,
                        rsv: 0x40,
                        opcode: Binary,
                        len: 1,
                    }),
                    data(b"z"),
                    Seen::End,
                ],
                finish: need(b""),
            },
            Case {
                name: "RSV2 not allowed by an extension that gives RSV1 a meaning",
                role: server,
                config: Config {
                    extension_rsv: 0x40,
                    ..cfg
                },
                input: vec![0xA2],
                seen: vec![],
                finish: Finish::Failed(ReservedBits),
            },
            Case {
                name: "frames after frames, then an error",
                role: server,
                config: cfg,
                input: [client(0x89, b"p"), client(0x01, b"ab"), vec![0x83]].concat(),
                seen: vec![
                    Seen::Ping(b"p".to_vec()),
                    start(false, Text, 2),
                    data(b"ab"),
                    Seen::End,
                ],
                finish: Finish::Failed(UnknownOpcode(3)),
            },
        ];
        for rsv in [0x40, 0x20, 0x10] {
            cases.push(Case {
                name: "a reserved bit without an extension",
                role: server,
                config: cfg,
                input: vec![0x81 | rsv],
                seen: vec![],
                finish: Finish::Failed(ReservedBits),
            });
        }
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            cases.push(Case {
                name: "a reserved opcode fails from the first byte",
                role: server,
                config: cfg,
                input: vec![0x80 | op],
                seen: vec![],
                finish: Finish::Failed(UnknownOpcode(op)),
            });
        }
        cases
    }

    #[test]
    fn frames_decode_the_same_at_every_split() {
        for case in cases() {
            let got = every_split(case.role, &case.config, &case.input);
            let want = (case.seen, case.finish);
            assert_eq!(got, want, "{}: decode({:?})", case.name, case.input);
        }
    }

    #[test]
    fn payload_comes_out_as_it_arrives() {
        // A frame declaring 1000 bytes gives its first 3 at once.
        let mut dec = FrameDecoder::new(Role::Server, &Config::default());
        let mut buf = BytesMut::from(&client(0x82, &[1; 1000])[..11]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(FrameEvent::Start(FrameHead {
                fin: true,
                rsv: 0,
                opcode: Opcode::Binary,
                len: 1000
            }))
        );
        assert!(!dec.is_between_frames());
        assert_eq!(
            dec.decode(&mut buf),
            Ok(FrameEvent::Data(vec![1; 3].into()))
        );
        assert_eq!(dec.decode(&mut buf), Ok(FrameEvent::NeedData));
    }

    #[test]
    fn masking_matches_the_definition_at_every_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for offset in 0..9 {
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let want: Vec<u8> = data
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(i + offset) % 4])
                    .collect();
                let mut got = data.clone();
                apply_mask(&mut got, key, offset);
                assert_eq!(got, want, "len {len}, offset {offset}");
            }
        }
    }

    #[test]
    fn opcodes_round_trip_and_know_control_frames() {
        for n in 0..=255u8 {
            match Opcode::from_u8(n) {
                Some(op) => {
                    assert_eq!(op.as_u8(), n);
                    assert_eq!(op.is_control(), n >= 8, "{op:?}");
                }
                None => assert!(matches!(n, 0x3..=0x7 | 0xB..), "{n:#x}"),
            }
        }
        assert_eq!(frame(0x81, b"", None), [0x81, 0x00]);
    }
}
