//! Feeds every file of the committed fuzz corpus (`fuzz/corpus/*/`)
//! through the head parser and through the connection state machine, so
//! the seeds (real clients, smuggling payloads, minimized crashers) are
//! checked on every `cargo test`, without libFuzzer.
//!
//! Every file must parse to a head, "need more" or an error with a 4xx or
//! 5xx status, without a panic; fed to a `Conn` whole and one byte at a
//! time it must give the same events. The hostile head seeds each have
//! their expected answer in a table.

use bytes::BytesMut;
use sockhttp::_internals::conn::{Conn, Event};
use sockhttp::_internals::head::parse_head;
use sockhttp::Limits;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
}

/// Every corpus file, as (target directory, file name, bytes), sorted.
fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(corpus_dir()).expect("fuzz/corpus exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.push((target.clone(), name, std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
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
    let limits = Limits::default();
    let mut buf = BytesMut::from(input);
    match parse_head(&mut buf, &limits) {
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

/// Drives a `Conn` over `input` in pieces of `step` bytes, answering
/// every request with keep-alive allowed.
fn events(input: &[u8], step: usize) -> Vec<Step> {
    let fields = |h: &sockhttp::Headers| {
        h.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
            .collect()
    };
    let mut conn = Conn::new(Limits::default());
    let mut out = Vec::new();
    let mut fed = 0;
    for _ in 0..8 * input.len() + 64 {
        match conn.next_event() {
            Ok(Event::Head(h)) => out.push(Step::Head(
                h.method.as_str().to_owned(),
                h.target.clone(),
                fields(&h.headers),
            )),
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty(), "Data is never empty");
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
            Ok(Event::NeedData) if fed == input.len() => conn.receive_eof(),
            Ok(Event::NeedData) => {
                let n = step.min(input.len() - fed);
                conn.receive(&input[fed..fed + n]);
                fed += n;
            }
            Ok(Event::Closed) => {
                out.push(Step::Closed);
                return out;
            }
            Err(e) => {
                out.push(Step::Error(e.status().map(|s| s.as_u16())));
                return out;
            }
        }
    }
    panic!("no progress");
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
        parse(bytes);
        let whole = events(bytes, bytes.len().max(1));
        let bytewise = events(bytes, 1);
        assert_eq!(whole, bytewise, "{target}/{name}: whole vs byte by byte");
        assert!(
            matches!(whole.last(), Some(Step::Closed | Step::Error(_))),
            "{target}/{name}"
        );
    }
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
