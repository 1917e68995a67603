use std::fmt;

/// StatusCode is a three-digit HTTP response status code (RFC 9110 §15).
///
/// The associated constants name the codes sockhttp and typical
/// applications use; any code from 100 to 999 can be made with
/// [`StatusCode::new`].
///
/// # Examples
/// ```
/// use sockhttp::StatusCode;
/// assert_eq!(StatusCode::NOT_FOUND.as_u16(), 404);
/// assert_eq!(StatusCode::NOT_FOUND.reason(), "Not Found");
/// assert!(StatusCode::new(299).is_some_and(|s| s.is_success()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $reason:literal;)*) => {
        impl StatusCode {
            $($(#[$doc])* pub const $name: StatusCode = StatusCode($code);)*

            /// Returns the standard reason phrase, or `""` for an
            /// unregistered code.
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    _ => "",
                }
            }
        }
    };
}

codes! {
    /// 100 Continue: the client may send the request content.
    CONTINUE = 100, "Continue";
    /// 101 Switching Protocols.
    SWITCHING_PROTOCOLS = 101, "Switching Protocols";
    /// 200 OK.
    OK = 200, "OK";
    /// 201 Created: a new resource was created (see `Location`).
    CREATED = 201, "Created";
    /// 202 Accepted.
    ACCEPTED = 202, "Accepted";
    /// 204 No Content: success, and the response has no content.
    NO_CONTENT = 204, "No Content";
    /// 206 Partial Content: a range of the representation.
    PARTIAL_CONTENT = 206, "Partial Content";
    /// 301 Moved Permanently.
    MOVED_PERMANENTLY = 301, "Moved Permanently";
    /// 302 Found.
    FOUND = 302, "Found";
    /// 303 See Other.
    SEE_OTHER = 303, "See Other";
    /// 304 Not Modified: the client's cached copy is current.
    NOT_MODIFIED = 304, "Not Modified";
    /// 307 Temporary Redirect.
    TEMPORARY_REDIRECT = 307, "Temporary Redirect";
    /// 308 Permanent Redirect.
    PERMANENT_REDIRECT = 308, "Permanent Redirect";
    /// 400 Bad Request: the request is malformed.
    BAD_REQUEST = 400, "Bad Request";
    /// 401 Unauthorized.
    UNAUTHORIZED = 401, "Unauthorized";
    /// 403 Forbidden.
    FORBIDDEN = 403, "Forbidden";
    /// 404 Not Found.
    NOT_FOUND = 404, "Not Found";
    /// 405 Method Not Allowed (sent with `Allow`).
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed";
    /// 406 Not Acceptable.
    NOT_ACCEPTABLE = 406, "Not Acceptable";
    /// 408 Request Timeout: the request did not arrive in time.
    REQUEST_TIMEOUT = 408, "Request Timeout";
    /// 409 Conflict.
    CONFLICT = 409, "Conflict";
    /// 410 Gone.
    GONE = 410, "Gone";
    /// 411 Length Required.
    LENGTH_REQUIRED = 411, "Length Required";
    /// 412 Precondition Failed.
    PRECONDITION_FAILED = 412, "Precondition Failed";
    /// 413 Content Too Large: the request body is over the limit.
    CONTENT_TOO_LARGE = 413, "Content Too Large";
    /// 414 URI Too Long.
    URI_TOO_LONG = 414, "URI Too Long";
    /// 415 Unsupported Media Type.
    UNSUPPORTED_MEDIA_TYPE = 415, "Unsupported Media Type";
    /// 416 Range Not Satisfiable.
    RANGE_NOT_SATISFIABLE = 416, "Range Not Satisfiable";
    /// 417 Expectation Failed.
    EXPECTATION_FAILED = 417, "Expectation Failed";
    /// 422 Unprocessable Content.
    UNPROCESSABLE_CONTENT = 422, "Unprocessable Content";
    /// 426 Upgrade Required.
    UPGRADE_REQUIRED = 426, "Upgrade Required";
    /// 428 Precondition Required.
    PRECONDITION_REQUIRED = 428, "Precondition Required";
    /// 429 Too Many Requests.
    TOO_MANY_REQUESTS = 429, "Too Many Requests";
    /// 431 Request Header Fields Too Large.
    REQUEST_HEADER_FIELDS_TOO_LARGE = 431, "Request Header Fields Too Large";
    /// 500 Internal Server Error.
    INTERNAL_SERVER_ERROR = 500, "Internal Server Error";
    /// 501 Not Implemented.
    NOT_IMPLEMENTED = 501, "Not Implemented";
    /// 502 Bad Gateway.
    BAD_GATEWAY = 502, "Bad Gateway";
    /// 503 Service Unavailable (sent with `Retry-After` on overload).
    SERVICE_UNAVAILABLE = 503, "Service Unavailable";
    /// 504 Gateway Timeout.
    GATEWAY_TIMEOUT = 504, "Gateway Timeout";
    /// 505 HTTP Version Not Supported.
    HTTP_VERSION_NOT_SUPPORTED = 505, "HTTP Version Not Supported";
}

impl StatusCode {
    /// Makes a status code from its number; `None` outside 100..=999.
    pub fn new(code: u16) -> Option<StatusCode> {
        (100..=999).contains(&code).then_some(StatusCode(code))
    }

    /// Returns the numeric code.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// Reports whether the code is 1xx (informational).
    pub fn is_informational(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// Reports whether the code is 2xx (successful).
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// Reports whether the code is 3xx (redirection).
    pub fn is_redirection(self) -> bool {
        (300..400).contains(&self.0)
    }

    /// Reports whether the code is 4xx (client error).
    pub fn is_client_error(self) -> bool {
        (400..500).contains(&self.0)
    }

    /// Reports whether the code is 5xx (server error).
    pub fn is_server_error(self) -> bool {
        (500..600).contains(&self.0)
    }

    /// Reports whether a response with this status never has content
    /// (1xx, 204 and 304: RFC 9112 §6.3 rule 1).
    pub fn forbids_body(self) -> bool {
        self.is_informational() || self.0 == 204 || self.0 == 304
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}
