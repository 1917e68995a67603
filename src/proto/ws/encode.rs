//! Frame encoding for what this end sends: frame heads, apart from their
//! payload.
//!
//! A head is at most [`MAX_HEAD_BYTES`] and is returned by value, so a
//! writer sends it and the payload side by side (one `writev`) without
//! copying the payload behind it. A server's frames are unmasked (RFC 6455
//! §5.1: "A server MUST NOT mask any frames that it sends to the
//! client"); a masking key is accepted for a client's frames, whose
//! payload the caller masks with [`super::apply_mask`]. This module
//! performs no I/O.

use super::frame::{FrameHead, MAX_HEAD_BYTES};

/// EncodedHead is the bytes of one frame head (2 to 14 bytes), kept on
/// the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedHead {
    bytes: [u8; MAX_HEAD_BYTES],
    len: usize,
}

impl EncodedHead {
    /// Returns the head's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsRef<[u8]> for EncodedHead {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Encodes the head of a frame: FIN, the reserved bits of `head.rsv`
/// (`0x70`), the opcode, the payload length in the shortest of its three
/// forms (7 bits up to 125, 16 bits up to 65,535, else 64 bits, as §5.2
/// requires), and the masking key if one is given.
///
/// It encodes what it is given: keeping control frames whole and at most
/// 125 bytes (§5.5) is the caller's part. A length needs at most 63 bits,
/// which any payload in memory satisfies.
///
/// # Examples
/// ```
/// use sockhttp::_internals::ws::{FrameHead, Opcode, encode_head};
/// // RFC 6455 §5.7: a 256-byte binary message in a single unmasked frame.
/// let head = FrameHead { fin: true, rsv: 0, opcode: Opcode::Binary, len: 256 };
/// assert_eq!(encode_head(&head, None).as_bytes(), [0x82, 0x7E, 0x01, 0x00]);
/// ```
pub fn encode_head(head: &FrameHead, mask: Option<[u8; 4]>) -> EncodedHead {
    let mut bytes = [0u8; MAX_HEAD_BYTES];
    bytes[0] = u8::from(head.fin) << 7 | (head.rsv & 0x70) | head.opcode.as_u8();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut len = 2;
    match head.len {
        n @ 0..=125 => bytes[1] = mask_bit | n as u8,
        n @ 126..=0xFFFF => {
            bytes[1] = mask_bit | 126;
            bytes[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            len = 4;
        }
        n => {
            bytes[1] = mask_bit | 127;
            bytes[2..10].copy_from_slice(&n.to_be_bytes());
            len = 10;
        }
    }
    if let Some(key) = mask {
        bytes[len..len + 4].copy_from_slice(&key);
        len += 4;
    }
    EncodedHead { bytes, len }
}

#[cfg(test)]
mod tests {
    use super::super::frame::Opcode;
    use super::super::tests::{KEY, frame};
    use super::super::{Config, Event, MessageDecoder, MessageKind, Role, apply_mask};
    use super::*;
    use bytes::BytesMut;

    struct Case {
        name: &'static str,
        head: FrameHead,
        mask: Option<[u8; 4]>,
        want: &'static [u8],
    }

    const fn head(fin: bool, opcode: Opcode, len: u64) -> FrameHead {
        FrameHead {
            fin,
            rsv: 0,
            opcode,
            len,
        }
    }

    const fn case(name: &'static str, head: FrameHead, want: &'static [u8]) -> Case {
        Case {
            name,
            head,
            mask: None,
            want,
        }
    }

    const CASES: &[Case] = &[
        case(
            "RFC 6455 §5.7: unmasked Hello",
            head(true, Opcode::Text, 5),
            &[0x81, 0x05],
        ),
        case(
            "RFC: first fragment",
            head(false, Opcode::Text, 3),
            &[0x01, 0x03],
        ),
        case(
            "RFC: last fragment",
            head(true, Opcode::Continuation, 2),
            &[0x80, 0x02],
        ),
        Case {
            name: "RFC: masked Hello",
            head: head(true, Opcode::Text, 5),
            mask: Some(KEY),
            want: &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d],
        },
        case(
            "RFC: 256 bytes",
            head(true, Opcode::Binary, 256),
            &[0x82, 0x7E, 0x01, 0x00],
        ),
        case(
            "RFC: 64 KiB",
            head(true, Opcode::Binary, 65536),
            &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0],
        ),
        case("empty pong", head(true, Opcode::Pong, 0), &[0x8A, 0x00]),
        case(
            "7 bits up to 125",
            head(true, Opcode::Binary, 125),
            &[0x82, 125],
        ),
        case(
            "16 bits from 126",
            head(true, Opcode::Binary, 126),
            &[0x82, 126, 0, 126],
        ),
        case(
            "16 bits up to 65535",
            head(true, Opcode::Binary, 65535),
            &[0x82, 126, 0xFF, 0xFF],
        ),
        Case {
            name: "64 bits, masked",
            head: head(true, Opcode::Binary, 1 << 40),
            mask: Some([1, 2, 3, 4]),
            want: &[0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        },
        case(
            "reserved bits pass through",
            FrameHead {
                fin: true,
                rsv: 0x70,
                opcode: Opcode::Ping,
                len: 0,
            },
            &[0xF9, 0x00],
        ),
    ];

    #[test]
    fn heads_have_exact_bytes() {
        for c in CASES {
            let got = encode_head(&c.head, c.mask);
            let (name, head, mask) = (c.name, c.head, c.mask);
            assert_eq!(
                got.as_bytes(),
                c.want,
                "{name}: encode_head({head:?}, {mask:?})"
            );
            assert_eq!(got.as_ref(), c.want);
        }
    }

    #[test]
    fn encoded_frames_decode_back() {
        // Server frames read by a client, and masked client frames read
        // by a server, at each length encoding's edges; the encoder
        // agrees with the hand-built frames of the decoder's tests.
        for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for (role, mask) in [(Role::Client, None), (Role::Server, Some(KEY))] {
                let h = head(true, Opcode::Binary, len as u64);
                let mut body = payload.clone();
                if let Some(key) = mask {
                    apply_mask(&mut body, key, 0);
                }
                let wire = [encode_head(&h, mask).as_bytes(), &body].concat();
                assert_eq!(wire, frame(0x82, &payload, mask), "len {len}");
                let mut dec = MessageDecoder::new(role, &Config::default());
                let mut buf = BytesMut::from(&wire[..]);
                assert_eq!(
                    dec.decode(&mut buf),
                    Ok(Event::MessageStart(MessageKind::Binary))
                );
                let mut got = Vec::new();
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Event::Data(d)) => got.extend_from_slice(&d),
                        Ok(Event::MessageEnd) => break,
                        other => panic!("len {len}: {other:?}"),
                    }
                }
                assert_eq!(got, payload, "len {len}");
            }
        }
    }
}
