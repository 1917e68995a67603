//! The `roundtrip` target's input layout, shared with the replay of its
//! crashers in `tests/regressions.rs`. Not a target itself.
//!
//! Two bytes of status, one of flags, one header count, then per header
//! a name index, a value length and the value; the rest is the body.

use sockhttp::{Headers, StatusCode, Version};

/// The field names a header picks from by its index.
const NAMES: &[&str] = &[
    "Content-Type",
    "X-Custom",
    "Set-Cookie",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Date",
    "Server",
    "Cache-Control",
    "ETag",
];

/// The response an input describes.
pub struct Described<'a> {
    /// 100 to 999.
    pub status: StatusCode,
    /// Flag bit 0: the answer to a HEAD request.
    pub head_request: bool,
    /// Flag bit 1: HTTP/1.0, else HTTP/1.1.
    pub version: Version,
    /// Flag bit 2: a stream of unknown length, else a body of known length.
    pub stream: bool,
    /// Flag bit 3: the handler declares a length.
    pub declare: bool,
    /// Flag bit 4: the declared length is the body's.
    pub honest: bool,
    /// Flag bit 5: the handler lets the connection go on.
    pub keep: bool,
    pub headers: Headers,
    pub body: &'a [u8],
}

/// Reads the response `data` describes; `None` if it is too short.
pub fn describe(data: &[u8]) -> Option<Described<'_>> {
    let (head, mut rest) = data.split_first_chunk::<4>()?;
    let code = 100 + u16::from_be_bytes([head[0], head[1]]) % 900;
    let flags = head[2];
    let mut headers = Headers::new();
    for _ in 0..head[3] % 6 {
        let [name, len, tail @ ..] = rest else {
            return None;
        };
        let len = usize::from(*len % 32).min(tail.len());
        // A value `Headers` refuses (a control character) is not sent:
        // a handler's `try_append` gets an error, `append` panics.
        let _ = headers.try_append(
            NAMES[usize::from(*name) % NAMES.len()],
            tail[..len].to_vec(),
        );
        rest = &tail[len..];
    }
    Some(Described {
        status: StatusCode::new(code).expect("100..=999"),
        head_request: flags & 1 != 0,
        version: if flags & 2 != 0 {
            Version::Http10
        } else {
            Version::Http11
        },
        stream: flags & 4 != 0,
        declare: flags & 8 != 0,
        honest: flags & 16 != 0,
        keep: flags & 32 != 0,
        headers,
        body: rest,
    })
}
