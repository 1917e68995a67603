//! Feeds every file of the committed fuzz corpus (`fuzz/corpus/**`)
//! through the head parser and through the connection state machine, so
//! the seeds (real clients, smuggling payloads, minimized crashers) are
//! checked on every `cargo test`, without libFuzzer.
//!
//! Every file, under each of the fuzz targets' limit profiles, must parse
//! to a head, "need more" or an error with a 4xx or 5xx status, without a
//! panic; fed to a `Conn` whole, one byte at a time and in pieces of its
//! read hint, it must give the same events, never hold more than its
//! limits allow while it waits for bytes, never make up bytes, and every
//! answer written must read back well framed (the connection driver's
//! model, `support/driver.rs`, shared with the fuzz targets). The
//! `chunked` seeds are chunked bodies: they also go through the body
//! decoder, whole and split. The hostile head seeds each have their
//! expected answer in a table. The `ws_frame` seeds are a WebSocket
//! client's bytes: they go through the WebSocket reader under each of its
//! profiles, whole, byte by byte and cut in two at every point, and under
//! the default profile give the messages in a table.

#[path = "../fuzz/fuzz_targets/profiles.rs"]
mod profiles;
mod support;
#[path = "support/ws_driver.rs"]
mod ws_driver;

use bytes::BytesMut;
use sockhttp::_internals::head::parse_head;
use sockhttp::Limits;
use std::path::{Path, PathBuf};
use support::driver::{Answer, Feed, Step, decode_chunked, run};

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
            let events = |feed| run(bytes, limits, feed, Answer::Plain).steps;
            let whole = events(Feed::Whole);
            let bytewise = events(Feed::ByteByByte);
            let hinted = events(Feed::Hint);
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
            let whole = decode_chunked(&bytes, &limits, &[bytes.len().max(1)]);
            for step in 1..bytes.len() {
                assert_eq!(
                    decode_chunked(&bytes, &limits, &[step]),
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

#[test]
fn ws_frame_corpus_files_decode_the_same_at_every_split() {
    let mut seen = 0;
    for (target, name, bytes) in corpus() {
        if target != "ws_frame" {
            continue;
        }
        seen += 1;
        for selector in 0..ws_driver::PROFILES {
            let (role, config) = ws_driver::profile(selector);
            let decode = |sizes: &[usize]| ws_driver::decode(&bytes, role, &config, sizes);
            let whole = decode(&[bytes.len().max(1)]);
            assert_eq!(
                decode(&[1]),
                whole,
                "ws_frame/{name}, profile {selector}: byte by byte"
            );
            for at in 1..bytes.len() {
                assert_eq!(
                    decode(&[at, bytes.len()]),
                    whole,
                    "ws_frame/{name}, profile {selector}: cut at {at}"
                );
            }
        }
    }
    assert!(seen >= 3, "the ws_frame seeds are committed ({seen})");
}

#[test]
fn ws_frame_seeds_give_their_messages() {
    use sockhttp::ws::MessageKind::{Binary, Text};
    use ws_driver::{Finish, Seen};
    let data = |d: &[u8]| Seen::Data(d.to_vec());
    for (target, name, bytes) in corpus() {
        if target != "ws_frame" {
            continue;
        }
        let want = match name.as_str() {
            "masked_text.bin" => vec![Seen::Start(Text), data(b"Hello"), Seen::End],
            "fragmented_with_ping.bin" => vec![
                Seen::Start(Text),
                data(b"Hel"),
                Seen::Ping(b"ping".to_vec()),
                data(b"lo"),
                Seen::End,
            ],
            "close.bin" => vec![Seen::Close(Some((1000, "bye".to_owned())))],
            "utf8_cut_between_fragments.bin" => {
                vec![Seen::Start(Text), data("🦀 κόσμε".as_bytes()), Seen::End]
            }
            "binary_16bit_length.bin" => {
                let payload: Vec<u8> = (0..200).collect();
                vec![Seen::Start(Binary), data(&payload), Seen::End]
            }
            other => panic!("{other}: add the messages of this ws_frame seed to the table"),
        };
        let finish = if name == "close.bin" {
            Finish::Closed(vec![])
        } else {
            Finish::NeedData
        };
        let (role, config) = ws_driver::profile(0);
        let got = ws_driver::decode(&bytes, role, &config, &[bytes.len()]);
        assert_eq!(got, (want, finish), "ws_frame/{name}");
    }
}
