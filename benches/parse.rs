//! Micro-benchmarks of the protocol core against the parser floor.
//!
//! `head/*`: a typical browser request head through sockhttp's
//! `parse_head` (httparse plus limits, `Host`, framing and smuggling checks,
//! and the zero-copy `Headers`) next to bare `httparse::Request::parse` on
//! the same bytes. `chunked/*`: a chunked body through `BodyDecoder` next
//! to a bare loop of `httparse::parse_chunk_size`. The ratio of each pair
//! is our overhead over the parser floor.
//!
//! Run: `cargo bench --bench parse` (criterion prints medians).

use bytes::BytesMut;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sockhttp::_internals::BodyKind;
use sockhttp::_internals::body::{BodyDecoder, Decoded};
use sockhttp::_internals::head::parse_head;
use sockhttp::Limits;

const BROWSER: &[u8] = b"GET /static/app.js?v=42 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/index.html\r\n\
Cookie: session=7f3a9c2e1b; theme=dark; consent=yes; _ga=GA1.2.123456789.1700000000\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
Connection: keep-alive\r\n\
\r\n";

fn chunked_body() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..64 {
        let chunk = vec![b'a' + (i % 26) as u8; 1024];
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn head(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("head");
    g.bench_function("sockhttp_parse_head", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(BROWSER);
            black_box(parse_head(&mut buf, &limits).unwrap().unwrap())
        })
    });
    g.bench_function("httparse_floor", |b| {
        b.iter(|| {
            // The same copy into a fresh buffer, so only parsing differs.
            let buf = BytesMut::from(BROWSER);
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut fields);
            black_box(req.parse(&buf).unwrap());
            black_box(req.headers.len())
        })
    });
    g.finish();
}

fn chunked(c: &mut Criterion) {
    let body = chunked_body();
    let limits = Limits::default();
    let mut g = c.benchmark_group("chunked");
    g.bench_function("sockhttp_body_decoder", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&body[..]);
            let mut dec = BodyDecoder::new(BodyKind::Chunked, &limits);
            let mut n = 0;
            loop {
                match dec.decode(&mut buf).unwrap() {
                    Decoded::Data(d) => n += d.len(),
                    Decoded::End(_) => break,
                    Decoded::NeedData => unreachable!("the whole body is buffered"),
                }
            }
            black_box(n)
        })
    });
    g.bench_function("httparse_chunk_size_floor", |b| {
        b.iter(|| {
            let buf = BytesMut::from(&body[..]);
            let mut pos = 0;
            let mut n = 0;
            loop {
                let (used, size) = match httparse::parse_chunk_size(&buf[pos..]).unwrap() {
                    httparse::Status::Complete(x) => x,
                    httparse::Status::Partial => unreachable!(),
                };
                pos += used;
                if size == 0 {
                    break;
                }
                n += black_box(&buf[pos..pos + size as usize]).len();
                pos += size as usize + 2;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, head, chunked);
criterion_main!(benches);
