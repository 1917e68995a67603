use std::fmt;

/// Version is the HTTP protocol version of a request or response.
///
/// sockhttp speaks HTTP/1.0 and HTTP/1.1 only; any other version in a
/// request line is answered with `505 HTTP Version Not Supported`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0 (RFC 1945): one request per connection unless the client
    /// asks for `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1 (RFC 9112): persistent connections by default.
    Http11,
}

impl Version {
    /// Returns the version as it appears on the wire, e.g. `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
