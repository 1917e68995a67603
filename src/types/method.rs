use std::fmt;

/// Method is the request method token (RFC 9110 §9).
///
/// The registered methods have their own variants; any other syntactically
/// valid token is kept in [`Method::Other`] so that a handler may still
/// serve it (a [`Router`](crate::Router) answers unknown methods with
/// `501 Not Implemented`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: transfer a current representation of the target resource.
    Get,
    /// `HEAD`: same as GET, but the response carries no content.
    Head,
    /// `POST`: process the enclosed representation.
    Post,
    /// `PUT`: replace the target resource with the enclosed representation.
    Put,
    /// `PATCH`: apply a partial modification (RFC 5789).
    Patch,
    /// `DELETE`: remove the target resource.
    Delete,
    /// `OPTIONS`: describe the communication options of the target.
    Options,
    /// `CONNECT`: establish a tunnel (not supported by the server itself).
    Connect,
    /// `TRACE`: loop the request back (not supported by the server itself).
    Trace,
    /// Any other method token, exactly as received (methods are case-sensitive).
    Other(String),
}

impl Method {
    /// Parses a method token. Method names are case-sensitive (RFC 9110 §9.1),
    /// so `get` is an extension method, not `GET`.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "CONNECT" => Method::Connect,
            "TRACE" => Method::Trace,
            other => Method::Other(other.to_owned()),
        }
    }

    /// Returns the method token, e.g. `"GET"`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other(s) => s,
        }
    }

    /// Reports whether the method is one of those RFC 9110 and RFC 5789 define.
    pub fn is_standard(&self) -> bool {
        !matches!(self, Method::Other(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
