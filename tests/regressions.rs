//! Regression tests for the bugs the fuzz targets found, one named test
//! (or table row) per finding, each run whole and at every split point.
//!
//! Every minimized crasher committed to the corpus (`fuzz/corpus/*/regress_*`)
//! is listed in [`CRASHERS`] with the test that names its bug, and is
//! replayed as its fuzz target would, under every limit profile the
//! targets choose from: a crasher without a named test fails the run.

#[path = "../fuzz/fuzz_targets/profiles.rs"]
mod profiles;
// The replay reads only some of the flags.
#[allow(dead_code)]
#[path = "../fuzz/fuzz_targets/roundtrip_input.rs"]
mod roundtrip_input;
mod support;

use bytes::BytesMut;
use roundtrip_input::Described;
use sockhttp::_internals::encode::{ConnectionHeader, Framing, encode_head};
use sockhttp::_internals::head::parse_head;
use sockhttp::{Error, Headers, Limits, StatusCode};
use std::path::Path;
use support::driver::{Answer, Decoding, Feed, Step, decode_chunked, read_response, run};

/// What a connection answered: the heads' targets, then the error status
/// (0 for an error without a response) or "closed". The connection is
/// driven by the model the fuzz targets use, in pieces of `step` bytes.
fn answers(input: &[u8], limits: Limits, step: usize) -> Vec<String> {
    run(input, limits, Feed::Steps(step), Answer::Plain)
        .steps
        .into_iter()
        .filter_map(|s| match s {
            Step::Head { target, .. } => Some(target),
            Step::Error(status) => Some(status.unwrap_or(0).to_string()),
            Step::Closed => Some("closed".to_string()),
            _ => None,
        })
        .collect()
}

/// Runs `input` at every piece size and checks each gives `want`.
fn at_every_split(name: &str, input: &[u8], limits: Limits, want: &[&str]) {
    for step in 1..=input.len().max(1) {
        let got = answers(input, limits, step);
        assert_eq!(got, want, "{name}: pieces of {step}");
    }
}

fn small_limits() -> Limits {
    let mut l = Limits::default();
    l.max_request_line_bytes = 200;
    l.max_head_bytes = 128;
    l.max_headers = 2;
    l.max_trailer_bytes = 32;
    l
}

/// Found by the `head` target: `parse_head` gave httparse one slot more
/// than `max_headers` (to tell "at the limit" from "over it") but never
/// checked the count, so one field over the limit was accepted. The
/// trailer parser had the same gap.
#[test]
fn one_field_over_max_headers_is_431() {
    let mut limits = Limits::default();
    limits.max_headers = 2;
    let at_limit = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
    let over = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Third: 3\r\n\r\n";
    assert!(matches!(
        parse_head(&mut BytesMut::from(&at_limit[..]), &limits),
        Ok(Some(_))
    ));
    assert!(matches!(
        parse_head(&mut BytesMut::from(&over[..]), &limits),
        Err(Error::HeadTooLarge)
    ));
    at_every_split("over", over, limits, &["431"]);

    // The default limit, 100 fields: 100 pass, 101 do not.
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..100 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut over = head.clone();
    head.extend_from_slice(b"\r\n");
    over.extend_from_slice(b"X-100: v\r\n\r\n");
    let limits = Limits::default();
    assert!(
        matches!(parse_head(&mut BytesMut::from(&head[..]), &limits), Ok(Some(h)) if h.headers.len() == 100)
    );
    assert!(matches!(
        parse_head(&mut BytesMut::from(&over[..]), &limits),
        Err(Error::HeadTooLarge)
    ));
}

/// Decodes a chunked body in pieces of `step`; `Ok(trailer count)` or the
/// error status (0: the input ended first).
fn chunked(input: &[u8], limits: &Limits, step: usize) -> Result<usize, u16> {
    match decode_chunked(input, limits, &[step]) {
        Decoding::Done { trailers, .. } => Ok(trailers.len()),
        Decoding::Failed { status, .. } => Err(status.unwrap_or(0)),
        Decoding::Incomplete { .. } => Err(0),
    }
}

#[test]
fn one_trailer_over_max_headers_is_431() {
    let mut limits = Limits::default();
    limits.max_headers = 2;
    for step in 1..=30 {
        assert_eq!(chunked(b"0\r\nA: 1\r\nB: 2\r\n\r\n", &limits, step), Ok(2));
        assert_eq!(
            chunked(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &limits, step),
            Err(431)
        );
    }
}

/// Found by the `chunked` target: a trailer line over the trailer limit
/// ended by a bare LF was 400 when its LF arrived in the same read (the
/// line ending was checked first) and 431 when the bytes came in smaller
/// pieces; and an unfinished line was refused one byte before its CRLF
/// could have fitted. The size is now judged first, the same way at every
/// split.
#[test]
fn trailer_limit_answer_does_not_depend_on_splits() {
    let limits = small_limits();
    struct Case {
        name: &'static str,
        input: Vec<u8>,
        want: Result<usize, u16>,
    }
    let line = |len: usize, end: &[u8]| {
        let mut v = b"0\r\nX: ".to_vec();
        v.extend(std::iter::repeat_n(b'a', len - 3 - end.len()));
        v.extend_from_slice(end);
        v
    };
    let cases = [
        // The crasher, reduced: a long trailer line ended by a bare LF.
        Case {
            name: "over the limit, bare LF",
            input: line(40, b"\n"),
            want: Err(431),
        },
        Case {
            name: "over the limit, CRLF",
            input: line(40, b"\r\n\r\n"),
            want: Err(431),
        },
        Case {
            name: "within the limit, bare LF",
            input: line(20, b"\n"),
            want: Err(400),
        },
        // 32 bytes of fields plus the final CRLF is exactly the limit.
        Case {
            name: "at the limit",
            input: [line(32, b"\r\n"), b"\r\n".to_vec()].concat(),
            want: Ok(1),
        },
        Case {
            name: "one over the limit",
            input: [line(33, b"\r\n"), b"\r\n".to_vec()].concat(),
            want: Err(431),
        },
    ];
    for c in &cases {
        let section = &c.input[3..];
        assert!(section.len() >= 2, "{}", c.name);
        for step in 1..=c.input.len() {
            assert_eq!(
                chunked(&c.input, &limits, step),
                c.want,
                "{}: pieces of {step}",
                c.name
            );
        }
    }
}

/// Found by the `roundtrip` target: a handler's field value with a control
/// character other than CR, LF or NUL was written as is, and httparse,
/// like any strict client, refused the whole response. `Headers` now
/// refuses every control character but HTAB, so none can reach the head.
#[test]
fn control_characters_in_response_field_values_are_refused() {
    let mut headers = Headers::new();
    for value in [
        &b"a\x01b"[..],
        b"\x02",
        b"c\x1fd",
        b"d\x7fe",
        b"\r",
        b"\n",
        b"\0",
    ] {
        let refused = headers.try_append("X-Ctl", value.to_vec());
        assert!(refused.is_err_and(|e| e.is_value()), "{value:?}");
    }
    assert!(headers.is_empty());
    headers.append("X-Ctl", b"e\tf\xff".to_vec());
    let mut out = Vec::new();
    encode_head(
        &mut out,
        StatusCode::OK,
        &headers,
        Framing::Length(0),
        ConnectionHeader::None,
        b"now",
        None,
    );
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nX-Ctl: e\tf\xff\r\nDate: now\r\nContent-Length: 0\r\n\r\n"
    );
    let mut slots = [httparse::EMPTY_HEADER; 4];
    let mut resp = httparse::Response::new(&mut slots);
    assert!(resp.parse(&out).unwrap().is_complete());
}

/// Found by the `differential` target: when httparse found an error, the
/// limits were judged on the whole buffer, so a bad request line answered
/// 400 when the bytes came one at a time and 431 when the same bytes came
/// with more behind them in one read. Errors and limits are now decided at
/// the line end where a byte-at-a-time reader decides them.
#[test]
fn head_error_status_does_not_depend_on_bytes_behind_it() {
    let limits = small_limits();
    let mut input =
        b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\rGET /c HTTP/1.1\r\nHost: a\r\n\r\n"
            .to_vec();
    input.extend(std::iter::repeat_n(b'x', 300));
    at_every_split("bare CR in request line", &input, limits, &["/a", "400"]);

    // A field error well inside the limit, followed by more than the head
    // limit of bytes: 400, not 431.
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nBad\x01: v\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'y', 500));
    at_every_split("bad field name", &input, limits, &["400"]);
}

/// Companion of the above: an error after the last line end received is
/// not known yet, whatever the split; the peer closing then is a quiet
/// close, and completing the line gives the 400.
#[test]
fn error_after_the_last_line_end_waits_for_the_line() {
    let limits = Limits::default();
    let partial = b"GET / HTTP/1.1\r\nHo\x01";
    let mut buf = BytesMut::from(&partial[..]);
    assert!(matches!(parse_head(&mut buf, &limits), Ok(None)));
    assert_eq!(&buf[..], partial);
    at_every_split("truncated", partial, limits, &["0"]);
    at_every_split(
        "completed",
        b"GET / HTTP/1.1\r\nHo\x01: v\r\n\r\n",
        limits,
        &["400"],
    );
}

/// Companion of the above: with a request line limit above the head limit,
/// a long line with no end is 431 (the head limit is passed first) at
/// every split, and a complete head over both limits is judged the same
/// way.
#[test]
fn the_limit_passed_first_answers() {
    let limits = small_limits();
    let no_lf = vec![b'a'; 300];
    at_every_split("no line end", &no_lf, limits, &["431"]);
    let mut long_line = b"GET /".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', 250));
    long_line.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    at_every_split("long request line", &long_line, limits, &["431"]);

    // The usual order (line limit below the head limit): 414.
    let mut limits = Limits::default();
    limits.max_request_line_bytes = 64;
    limits.max_head_bytes = 256;
    at_every_split(
        "long request line, default order",
        &long_line,
        limits,
        &["414"],
    );
}

/// Found by the `chunked` target's speed (about 1,700 runs a second): the
/// decoder scanned the whole trailer section again from its first byte on
/// every call, quadratic for a section arriving a byte at a time. It now
/// resumes after the lines already checked; the answer must not change.
#[test]
fn trailer_section_fed_byte_by_byte_resumes_after_checked_lines() {
    let limits = Limits::default();
    let mut input = b"0\r\n".to_vec();
    for i in 0..90 {
        input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    for step in [1, 2, 3, 7, 64, input.len()] {
        assert_eq!(chunked(&input, &limits, step), Ok(90), "pieces of {step}");
    }
    // A bad line after many good ones is still found, at every split.
    let mut bad = input[..input.len() - 2].to_vec();
    bad.extend_from_slice(b"X-bad: v\n\r\n");
    for step in 1..=bad.len() {
        assert_eq!(chunked(&bad, &limits, step), Err(400), "pieces of {step}");
    }
}

/// Found while reviewing the fuzzers' speed: empty lines before a request
/// line (which RFC 9112 §2.2 lets a server ignore, and httparse skips) are
/// the only lines no limit counts, and the connection re-parsed the whole
/// buffer at each of them: 64 KiB of CRLF sent a byte at a time cost over
/// a second of CPU. They are now measured once and skipped; the answers
/// must not change.
#[test]
fn leading_empty_lines_are_skipped_without_reparsing() {
    let limits = Limits::default();
    // Up to the head limit of empty lines: 431, as before.
    let blank = b"\r\n".repeat(limits.max_head_bytes / 2 + 1);
    for step in [1, 3, 1000, blank.len()] {
        assert_eq!(answers(&blank, limits, step), ["431"], "pieces of {step}");
    }
    // Empty lines (CRLF and bare LF) before requests, a bare CR last.
    let mut input = b"\r\n\n\r\n".repeat(50);
    input.extend_from_slice(
        b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n\r\n\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n\r",
    );
    at_every_split("before requests", &input, limits, &["/a", "/b", "0"]);
    // A CR that does not start a CRLF is still an error.
    at_every_split(
        "bare CR",
        b"\r\n\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        limits,
        &["400"],
    );
}

/// Every minimized crasher in the committed corpus, and the test above
/// that names the bug it found.
const CRASHERS: &[(&str, &str)] = &[
    (
        "chunked/regress_trailer_bare_lf.bin",
        "trailer_limit_answer_does_not_depend_on_splits",
    ),
    (
        "conn/regress_bad_request_line_then_more.http",
        "head_error_status_does_not_depend_on_bytes_behind_it",
    ),
    (
        "differential/regress_bad_request_line_then_more.http",
        "head_error_status_does_not_depend_on_bytes_behind_it",
    ),
    (
        "roundtrip/regress_control_char_value.bin",
        "control_characters_in_response_field_values_are_refused",
    ),
];

/// The `regress_*` files of `fuzz/corpus/`, as `target/name`, sorted.
fn committed_crashers() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus");
    let mut found = Vec::new();
    for dir in std::fs::read_dir(&root).expect("fuzz/corpus exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("regress_") {
                let target = dir.file_name().unwrap().to_string_lossy().into_owned();
                found.push(format!("{target}/{name}"));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_minimized_crasher_in_the_corpus_has_a_named_regression_test() {
    let listed: Vec<&str> = CRASHERS.iter().map(|(file, _)| *file).collect();
    assert_eq!(
        committed_crashers(),
        listed,
        "fuzz/corpus/*/regress_* and CRASHERS differ: name a test for each crasher"
    );
    let source = include_str!("regressions.rs");
    for (file, test) in CRASHERS {
        assert!(
            source.contains(&format!("#[test]\nfn {test}()")),
            "{file}: no test named {test} in this file"
        );
    }
}

/// The fuzz targets' limit profiles (`fuzz/fuzz_targets/profiles.rs`,
/// shared): the defaults, and small limits the inputs can reach, one of
/// them with the request line limit above the head limit.
fn fuzz_profiles() -> [Limits; 4] {
    [0, 1, 2, 3].map(profiles::limits_for)
}

/// Replays a `roundtrip` input (`fuzz/fuzz_targets/roundtrip_input.rs`)
/// with its status, HEAD, version, fields and body, the body of known
/// length. The encoded response must parse back with the status, the
/// body, and every field value a client can read.
fn replay_roundtrip(name: &str, data: &[u8]) {
    let Some(Described {
        status,
        head_request,
        version,
        headers,
        body,
        ..
    }) = roundtrip_input::describe(data)
    else {
        return;
    };
    let code = status.as_u16();
    let framing = sockhttp::_internals::encode::decide_framing(
        status,
        head_request,
        version,
        Some(body.len() as u64),
        None,
    );
    let mut wire = Vec::new();
    encode_head(
        &mut wire,
        status,
        &headers,
        framing,
        ConnectionHeader::choose(version, true),
        b"Sun, 06 Nov 1994 08:49:37 GMT",
        Some("sockhttp"),
    );
    let sends_body = !head_request && !matches!(code, 100..=199 | 204 | 304);
    if sends_body {
        wire.extend_from_slice(body);
    }
    let (got, used) = read_response(&wire, head_request);
    assert_eq!(got.status, code, "{name}: status");
    for (field, value) in &got.headers {
        assert!(
            value
                .iter()
                .all(|&c| (c >= 0x20 && c != 0x7f) || c == b'\t'),
            "{name}: control character in {field}: {value:?}"
        );
    }
    let want: &[u8] = if sends_body { body } else { &[] };
    assert_eq!(got.body, want, "{name}: body");
    assert_eq!(used, wire.len(), "{name}: bytes after the response");
}

#[test]
fn minimized_crashers_replay_the_same_at_every_split_under_every_limit_profile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus");
    for (file, _) in CRASHERS {
        let data = std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let target = file.split('/').next().expect("target/name");
        for (profile, limits) in fuzz_profiles().into_iter().enumerate() {
            let name = format!("{file}, limit profile {profile}");
            match target {
                "chunked" => {
                    let whole = chunked(&data, &limits, data.len());
                    for step in 1..data.len() {
                        assert_eq!(
                            chunked(&data, &limits, step),
                            whole,
                            "{name}: pieces of {step}"
                        );
                    }
                }
                "conn" | "differential" => {
                    let whole = answers(&data, limits, data.len());
                    assert!(
                        whole
                            .last()
                            .is_some_and(|a| a == "closed" || a.parse::<u16>().is_ok()),
                        "{name}: {whole:?}"
                    );
                    at_every_split(
                        &name,
                        &data,
                        limits,
                        &whole.iter().map(String::as_str).collect::<Vec<_>>(),
                    );
                }
                "roundtrip" => replay_roundtrip(&name, &data),
                other => panic!("{file}: no replay for target {other}"),
            }
        }
    }
}
