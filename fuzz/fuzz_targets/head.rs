// Invariant: for any bytes, `parse_head` returns a head, "need more" or a
// typed error, and never panics. A head is valid (version 1.0 or 1.1,
// non-empty target and path, path and query inside the target, at most
// `max_headers` fields, unambiguous framing within the limits) and used
// between 1 and `max_head_bytes` bytes of the input, leaving the rest
// untouched; "need more" consumed nothing and is within the limits; an
// error answers with a 4xx or 5xx status. Parsing again just the bytes the
// head used gives the same head. The limits (defaults or small ones) are
// chosen by a hash of the input.
#![no_main]

mod common;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::head::{RequestHead, parse_head};
use sockhttp::{Limits, Version};

fuzz_target!(|data: &[u8]| {
    let input = data;
    let (limits, _) = common::choose(data);
    let mut buf = BytesMut::from(input);
    match parse_head(&mut buf, &limits) {
        Ok(Some(head)) => {
            let used = input.len() - buf.len();
            assert!(
                used > 0 && used <= limits.max_head_bytes,
                "used {used} bytes"
            );
            assert_eq!(
                &buf[..],
                &input[used..],
                "bytes after the head are untouched"
            );
            check_head(&head, &limits);
            // The head's own bytes parse to the same head.
            let mut again = BytesMut::from(&input[..used]);
            let head2 = parse_head(&mut again, &limits)
                .expect("the head's bytes parse again")
                .expect("the head's bytes are a complete head");
            assert!(again.is_empty());
            assert_eq!(head.target, head2.target);
            assert_eq!(head.method, head2.method);
            assert_eq!(head.headers, head2.headers);
            assert_eq!(head.body, head2.body);
        }
        Ok(None) => {
            assert_eq!(&buf[..], input, "need more consumes nothing");
            assert!(
                input.len() <= limits.max_head_bytes,
                "partial head over the limit"
            );
        }
        Err(e) => {
            let status = e.status().map(|s| s.as_u16());
            assert!(
                matches!(status, Some(400..=599)),
                "error {e:?} has status {status:?}"
            );
        }
    }
});

fn check_head(head: &RequestHead, limits: &Limits) {
    assert!(matches!(head.version, Version::Http10 | Version::Http11));
    assert!(!head.method.as_str().is_empty());
    assert!(!head.target.is_empty());
    assert!(head.path.end <= head.target.len() && head.path.start <= head.path.end);
    assert!(!head.path().is_empty());
    if let Some(q) = &head.query {
        assert!(q.start <= q.end && q.end <= head.target.len());
        assert!(head.path.end < q.start, "query after the path");
        assert_eq!(&head.target[q.start - 1..q.start], "?");
    }
    assert!(!head.target.contains('#'));
    assert!(head.headers.len() <= limits.max_headers);
    let has_cl = head.headers.contains("content-length");
    let has_te = head.headers.contains("transfer-encoding");
    assert!(!(has_cl && has_te), "both framing fields accepted");
    match head.body {
        BodyKind::Empty => assert!(!has_te),
        BodyKind::Length(n) => {
            assert!(n > 0 && n <= limits.max_body_bytes);
            assert!(has_cl);
        }
        BodyKind::Chunked => {
            assert!(has_te && head.version == Version::Http11);
        }
    }
    if head.version == Version::Http11 && !head.headers.contains("host") {
        // Only a target that carries its own authority may omit Host.
        assert!(!head.target.starts_with('/') && head.target != "*");
    }
    assert!(head.headers.get_all_bytes("host").count() <= 1);
    if head.expect_continue {
        assert_eq!(head.version, Version::Http11);
    }
}
