//! Feeds every file of the committed fuzz corpus (`fuzz/corpus/**`)
//! through the head parser and through the connection state machine, so
//! the seeds (real clients, smuggling payloads, minimized crashers) are
//! checked on every `cargo test`, without libFuzzer.
//!
//! Every file, under each of the fuzz targets' limit profiles, must parse
//! to a head, "need more" or an error with a 4xx or 5xx status, without a
//! panic; fed to a `Conn` whole, one byte at a time and in pieces of its
//! read hint, it must give the same events, never hold more than its
//! limits allow while it waits for bytes, and never make up bytes. The
//! `chunked` seeds are chunked bodies: they also go through the body
//! decoder, whole and split. The hostile head seeds each have their
//! expected answer in a table.

#[path = "../fuzz/fuzz_targets/profiles.rs"]
mod profiles;

use bytes::BytesMut;
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::body::{BodyDecoder, Decoded};
use sockhttp::_internals::conn::{Conn, Event, Reading};
use sockhttp::_internals::head::parse_head;
use sockhttp::Limits;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
}

/// Every corpus file, as (target directory, path below it, bytes),
/// sorted; directories are walked to any depth.
fn corpus() -> Vec<(String, String, Vec<u8>)> {
    fn walk(dir: &Path, target: &str, files: &mut Vec<(String, String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, target, files);
            } else {
                let root = corpus_dir().join(target);
                let name = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((target.to_owned(), name, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    for dir in std::fs::read_dir(corpus_dir()).expect("fuzz/corpus exists") {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            let target = dir.file_name().unwrap().to_string_lossy().into_owned();
            walk(&dir, &target, &mut files);
        }
    }
    files.sort();
    files
}

/// The fuzz targets' limit profiles (`fuzz/fuzz_targets/profiles.rs`,
/// shared): the defaults, and small limits the inputs can reach, one of
/// them with the request line limit above the head limit.
fn profiles() -> [Limits; 4] {
    [0, 1, 2, 3].map(profiles::limits_for)
}

/// What parsing one head gave, in comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// Method and target of a complete head.
    Head(String, String),
    NeedMore,
    /// The status the error answers with.
    Status(u16),
}

fn parse(input: &[u8]) -> Parsed {
    parse_with(input, &Limits::default())
}

fn parse_with(input: &[u8], limits: &Limits) -> Parsed {
    let mut buf = BytesMut::from(input);
    match parse_head(&mut buf, limits) {
        Ok(Some(head)) => {
            let used = input.len() - buf.len();
            assert!(used > 0 && used <= limits.max_head_bytes);
            assert_eq!(
                &buf[..],
                &input[used..],
                "bytes after the head are untouched"
            );
            assert!(!head.path().is_empty());
            Parsed::Head(head.method.as_str().to_owned(), head.target.clone())
        }
        Ok(None) => {
            assert_eq!(&buf[..], input, "need more consumes nothing");
            assert!(
                input.len() <= limits.max_head_bytes,
                "need more over the limit"
            );
            Parsed::NeedMore
        }
        Err(e) => {
            let status = e.status().map(|s| s.as_u16());
            assert!(
                matches!(status, Some(400..=599)),
                "{e:?} answers {status:?}"
            );
            Parsed::Status(status.unwrap_or(0))
        }
    }
}

/// One observable step of a connection.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Head(String, String, Vec<(Vec<u8>, Vec<u8>)>),
    Body(Vec<u8>),
    End(Vec<(Vec<u8>, Vec<u8>)>),
    Error(Option<u16>),
    Closed,
}

/// How a `Conn` is fed.
#[derive(Clone, Copy)]
enum Feed {
    /// Pieces of at most this many bytes.
    Pieces(usize),
    /// As much as `read_hint()` asks for, as the server reads.
    Hint,
}

/// Drives a `Conn` over `input`, answering every request with keep-alive
/// allowed, and checks on the way that it never adds bytes of its own,
/// never yields more body than it consumed, and, whenever it asks for
/// more, holds only an unfinished piece within its limit.
fn events(input: &[u8], limits: Limits, feed: Feed) -> Vec<Step> {
    let fields = |h: &sockhttp::Headers| {
        h.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
            .collect()
    };
    let mut conn = Conn::new(limits);
    let mut out = Vec::new();
    let mut fed = 0;
    let mut body = 0;
    for _ in 0..8 * input.len() + 64 {
        let before = conn.buffered();
        let event = conn.next_event();
        assert!(conn.buffered() <= before, "next_event added bytes");
        match event {
            Ok(Event::Head(h)) => out.push(Step::Head(
                h.method.as_str().to_owned(),
                h.target.clone(),
                fields(&h.headers),
            )),
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                body += d.len();
                assert!(body <= fed - conn.buffered(), "more body than consumed");
                match out.last_mut() {
                    Some(Step::Body(b)) => b.extend_from_slice(&d),
                    _ => out.push(Step::Body(d.to_vec())),
                }
            }
            Ok(Event::End) => out.push(Step::End(fields(conn.trailers()))),
            Ok(Event::Paused) => {
                conn.decide_keep_alive(true);
                conn.finish_exchange(true);
            }
            Ok(Event::NeedData) => {
                let held = conn.buffered();
                match conn.reading() {
                    Reading::Head => assert!(held <= limits.max_head_bytes, "head of {held}"),
                    Reading::Body(d) if d.remaining().is_some() => assert_eq!(held, 0),
                    Reading::Body(_) => assert!(
                        held <= limits
                            .max_chunk_line_bytes
                            .max(limits.max_trailer_bytes + 1),
                        "chunk line or trailers of {held}"
                    ),
                    other => panic!("NeedData while {other:?}"),
                }
                if fed == input.len() {
                    conn.receive_eof();
                    continue;
                }
                let n = match feed {
                    Feed::Pieces(step) => step,
                    Feed::Hint => conn.read_hint(),
                }
                .min(input.len() - fed);
                conn.receive(&input[fed..fed + n]);
                fed += n;
            }
            Ok(Event::Closed) => {
                out.push(Step::Closed);
                return out;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16());
                if let Some(s) = status {
                    assert!((400..600).contains(&s), "{e:?} answers {s}");
                }
                out.push(Step::Error(status));
                return out;
            }
        }
    }
    panic!("no progress");
}

/// What the chunked decoder made of a body: the body, then the trailer
/// count and the bytes after it, or the error status (`None`: the input
/// ended first).
type Decoding = (Vec<u8>, Result<(usize, Vec<u8>), Option<u16>>);

/// Decodes `input` as a chunked body fed in pieces of `step` bytes.
fn decode_chunked(input: &[u8], limits: &Limits, step: usize) -> Decoding {
    let mut dec = BodyDecoder::new(BodyKind::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut body = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Decoded::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
                body.extend_from_slice(&d);
                assert!(body.len() <= fed, "more body than input");
                assert!(
                    body.len() as u64 <= limits.max_body_bytes,
                    "body over the limit"
                );
            }
            Ok(Decoded::End(trailers)) => {
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&input[fed..]);
                return (body, Ok((trailers.len(), rest)));
            }
            Ok(Decoded::NeedData) if fed == input.len() => return (body, Err(None)),
            Ok(Decoded::NeedData) => {
                let n = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16());
                assert!(matches!(status, Some(400..=599)), "{e:?}");
                return (body, Err(status));
            }
        }
    }
}

#[test]
fn every_corpus_file_parses_without_panic_and_splits_the_same() {
    let files = corpus();
    assert!(
        files.len() >= 100,
        "the corpus is committed ({} files)",
        files.len()
    );
    for (target, name, bytes) in &files {
        for (profile, limits) in profiles().into_iter().enumerate() {
            parse_with(bytes, &limits);
            let whole = events(bytes, limits, Feed::Pieces(bytes.len().max(1)));
            let bytewise = events(bytes, limits, Feed::Pieces(1));
            let hinted = events(bytes, limits, Feed::Hint);
            let name = format!("{target}/{name}, limit profile {profile}");
            assert_eq!(whole, bytewise, "{name}: whole vs byte by byte");
            assert_eq!(whole, hinted, "{name}: whole vs read hint");
            assert!(
                matches!(whole.last(), Some(Step::Closed | Step::Error(_))),
                "{name}"
            );
        }
    }
}

#[test]
fn chunked_corpus_files_decode_the_same_at_every_split() {
    let mut seen = 0;
    for (target, name, bytes) in corpus() {
        if target != "chunked" {
            continue;
        }
        seen += 1;
        for (profile, limits) in profiles().into_iter().enumerate() {
            let whole = decode_chunked(&bytes, &limits, bytes.len().max(1));
            for step in 1..bytes.len() {
                assert_eq!(
                    decode_chunked(&bytes, &limits, step),
                    whole,
                    "chunked/{name}, limit profile {profile}: pieces of {step}"
                );
            }
        }
    }
    assert!(seen >= 20, "the chunked seeds are committed ({seen})");
}

/// The expected answer to each hostile head seed.
fn hostile_want(name: &str) -> Parsed {
    let status = Parsed::Status;
    match name {
        "hostile_bare_cr_value.http" => status(400),
        "hostile_cl_and_te.http" => status(400),
        "hostile_cl_hex.http" => status(400),
        "hostile_cl_plus.http" => status(400),
        "hostile_expect_unknown.http" => status(417),
        // RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line
        // terminator"; httparse does, so this is a valid request.
        "hostile_lf_only.http" => Parsed::Head("GET".into(), "/x".into()),
        "hostile_long_uri.http" => status(414),
        "hostile_missing_host_http11.http" => status(400),
        "hostile_nul_value.http" => status(400),
        "hostile_obs_fold.http" => status(400),
        "hostile_space_before_colon.http" => status(400),
        "hostile_space_in_uri.http" => status(400),
        "hostile_tabs_request_line.http" => status(400),
        // 101 fields, one over the default limit of 100.
        "hostile_too_many_headers.http" => status(431),
        "hostile_te_chunked_gzip.http" => status(400),
        "hostile_te_gzip_chunked.http" => status(501),
        "hostile_te_http10.http" => status(400),
        "hostile_te_xchunked.http" => status(400),
        "hostile_two_content_length.http" => status(400),
        "hostile_two_host.http" => status(400),
        "hostile_version_http12.http" => status(505),
        "hostile_version_http20.http" => status(505),
        other => panic!("{other}: add the expected answer of this hostile seed to the table"),
    }
}

#[test]
fn hostile_head_seeds_get_their_expected_answer() {
    let mut seen = 0;
    for (target, name, bytes) in corpus() {
        if target != "head" || !name.starts_with("hostile_") {
            continue;
        }
        seen += 1;
        assert_eq!(parse(&bytes), hostile_want(&name), "{name}");
    }
    assert_eq!(seen, 22, "hostile head seeds");
}

#[test]
fn benign_head_seeds_parse_to_a_head() {
    for (target, name, bytes) in corpus() {
        if target == "head" && !name.starts_with("hostile_") {
            assert!(
                matches!(parse(&bytes), Parsed::Head(..)),
                "{name}: {:?}",
                parse(&bytes)
            );
        }
    }
}
