//! A driver of the multipart decoder, shared by the `multipart` fuzz
//! target and the seeded tests: an input is a `Content-Type` value, a
//! LF, then the body; the body is fed in pieces of the given sizes, then
//! its end. The driver checks the decoder's invariants as it goes (it
//! panics when one breaks) and returns what it decoded in comparable
//! form, `Data` pieces joined (their cuts depend on the pieces fed).

use bytes::Bytes;
use sockhttp::_internals::multipart::{Event, MultipartDecoder, parse_boundary};
use sockhttp::MultipartLimits;

/// Ev is one decoded event, with a part's content joined up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Part {
        name: String,
        filename: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
    },
    Data(Vec<u8>),
    PartEnd,
    End,
}

/// Outcome is what decoding one input gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The `Content-Type` was refused, with this status.
    ContentType(u16),
    /// Every event, the last one `End`.
    Done { events: Vec<Ev> },
    /// The events before an error, and its status.
    Failed { events: Vec<Ev>, status: u16 },
}

/// Small limits an input can reach: 3 parts, header sections of 128
/// bytes and 3 fields, 1 KiB of body.
pub fn small_limits() -> MultipartLimits {
    let mut limits = MultipartLimits::default();
    limits.max_parts = 3;
    limits.max_part_header_bytes = 128;
    limits.max_part_headers = 3;
    limits.max_body_bytes = 1024;
    limits
}

/// Splits an input into its `Content-Type` line and the body.
pub fn split_input(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

/// Decodes `input` with `limits`, feeding the body in pieces of `sizes`
/// (cycled; a zero counts as one), then its end.
pub fn decode_input(input: &[u8], limits: &MultipartLimits, sizes: &[usize]) -> Outcome {
    let (content_type, body) = split_input(input);
    let boundary = match parse_boundary(content_type) {
        Ok(b) => b,
        Err(e) => {
            let status = e
                .status()
                .expect("a refused Content-Type has a status")
                .as_u16();
            assert!(
                status == 400 || status == 415,
                "Content-Type refused with {status}"
            );
            return Outcome::ContentType(status);
        }
    };
    let mut dec = MultipartDecoder::new(&boundary, limits).expect("parse_boundary checked it");
    // What the decoder may hold while it waits: less than a delimiter of
    // content, or less than one header section.
    let bound = (boundary.len() + 4).max(limits.max_part_header_bytes);
    let mut events: Vec<Ev> = Vec::new();
    let mut in_part = false;
    let mut fed = 0;
    let mut data_bytes = 0;
    let mut piece = 0;
    loop {
        let event = match dec.next_event() {
            Ok(event) => event,
            Err(e) => {
                let status = e.status().expect("every error has a status").as_u16();
                assert!((400..500).contains(&status), "error status {status}");
                let again = dec.next_event().expect_err("an error sticks");
                assert_eq!(again.status().map(|s| s.as_u16()), Some(status));
                return Outcome::Failed { events, status };
            }
        };
        assert!(dec.parts() <= limits.max_parts, "parts over the limit");
        assert!(
            dec.consumed() <= limits.max_body_bytes,
            "body over the limit"
        );
        match event {
            Event::NeedData => {
                assert!(
                    dec.buffered() < bound,
                    "holds {} bytes waiting, bound {bound}",
                    dec.buffered()
                );
                if fed == body.len() {
                    dec.feed_eof();
                    continue;
                }
                let size = sizes[piece % sizes.len()].max(1);
                piece += 1;
                let n = size.min(body.len() - fed);
                dec.feed(Bytes::copy_from_slice(&body[fed..fed + n]));
                fed += n;
            }
            Event::Data(d) => {
                assert!(in_part, "Data outside a part");
                assert!(!d.is_empty(), "Data is never empty");
                data_bytes += d.len();
                assert!(data_bytes <= fed, "more content than was fed");
                match events.last_mut() {
                    Some(Ev::Data(v)) => v.extend_from_slice(&d),
                    _ => events.push(Ev::Data(d.to_vec())),
                }
            }
            Event::Part(head) => {
                assert!(!in_part, "a part began inside a part");
                in_part = true;
                events.push(Ev::Part {
                    headers: head
                        .headers
                        .iter()
                        .map(|(n, v)| (n.to_owned(), v.to_vec()))
                        .collect(),
                    name: head.name,
                    filename: head.filename,
                });
            }
            Event::PartEnd => {
                assert!(in_part, "PartEnd outside a part");
                in_part = false;
                events.push(Ev::PartEnd);
            }
            Event::End => {
                assert!(!in_part, "End inside a part");
                assert!(matches!(dec.next_event(), Ok(Event::End)), "End sticks");
                events.push(Ev::End);
                return Outcome::Done { events };
            }
        }
    }
}
