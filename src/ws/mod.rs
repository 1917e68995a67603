//! WebSockets (RFC 6455) for plain blocking handlers.
//!
//! A route answers the opening handshake with [`Upgrade`]: it checks the
//! request (405, 400 or 426 when it is not a valid WebSocket handshake,
//! 403 when the `Origin` check refuses it) and returns the
//! `101 Switching Protocols` response that carries the session's
//! [`Handler`]. From then on the server calls the handler on a worker
//! with each [`Message`], and between messages the session waits parked
//! with the idle connections, costing memory, not a thread: a pool of 4
//! workers holds thousands of quiet sessions. Without epoll (a platform
//! other than Linux, or the `sockhttp_no_epoll` build), a session holds a
//! worker for its whole life instead, and a message pushed by a
//! [`Sender`] leaves within 50 ms.
//!
//! The server answers pings, pings a session that has been quiet for
//! [`Settings::ping_interval`] and closes it if it does not answer,
//! refuses frames and messages over the limits from their head (1009),
//! fails a session that breaks the protocol with the RFC's close code
//! (1002, 1007), and closes every session with 1001 on a graceful
//! shutdown.
//!
//! # Cross-site WebSocket hijacking
//!
//! A page from any site can open a WebSocket to any server, and the
//! browser sends that server's cookies with the handshake. A session that
//! trusts cookies must check `Origin`, the site of the page (RFC 6455
//! §10.2). [`Upgrade`] does by default what Go's gorilla/websocket does:
//! a handshake whose `Origin` names another host than `Host` is refused
//! with 403 (clients that are not browsers send no `Origin`, and pass).
//! [`Upgrade::check_origin`] replaces the rule, and
//! [`Upgrade::allow_any_origin`] drops it for endpoints without
//! credentials.
//!
//! # Examples
//! An echo, and a chat room where every message goes to every member:
//! ```no_run
//! use sockhttp::ws::{Group, Message, Session, Upgrade};
//! use sockhttp::{Request, Router, Server};
//!
//! let room = Group::new();
//! let router = Router::new()
//!     .get("/ws/echo", |req: &mut Request| {
//!         Upgrade::new(req).accept(|session: &mut Session, msg: Message| {
//!             let _ = session.send(msg);
//!         })
//!     })
//!     .get("/ws/chat", move |req: &mut Request| {
//!         let room = room.clone();
//!         Upgrade::new(req).accept(move |session: &mut Session, msg: Message| {
//!             room.insert(session.sender());
//!             room.broadcast(msg);
//!         })
//!     });
//! Server::bind("127.0.0.1:8080")?.serve(router)?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub(crate) mod session;

pub use crate::proto::ws::{CloseCode, CloseFrame, MessageKind};
pub use session::{
    Closed, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_PING_INTERVAL, DEFAULT_PONG_TIMEOUT, Group, Handler, Message, SendError, Sender,
    Session, Settings,
};
pub(crate) use session::{Frame, Shared, Start};

use crate::proto::ws::{Handshake, HandshakeError, parse_handshake};
use crate::request::Request;
use crate::response::{Body, Response};
use crate::types::{Headers, StatusCode};
use crate::upgrade::OnUpgrade;
use std::fmt;

/// Upgrade answers a WebSocket opening handshake: it checks the request,
/// applies the `Origin` and subprotocol choices, and makes the response.
///
/// # Examples
/// A route that speaks the `chat` subprotocol and accepts pages from one
/// site only:
/// ```
/// use sockhttp::ws::{Message, Session, Upgrade};
/// use sockhttp::{Method, Request, Response, StatusCode};
/// fn chat(req: &mut Request) -> Response {
///     Upgrade::new(req)
///         .check_origin(|origin| origin == Some("https://example.com"))
///         .choose_protocol(|offered| offered.iter().find(|p| *p == "chat").cloned())
///         .accept(|session: &mut Session, msg: Message| {
///             let _ = session.send(msg);
///         })
/// }
/// let mut req = Request::builder(Method::Get, "/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Origin", "https://example.com")
///     .header("Sec-WebSocket-Protocol", "superchat, chat")
///     .build()
///     .unwrap();
/// let resp = chat(&mut req);
/// assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
/// assert_eq!(resp.headers().get("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
/// assert_eq!(resp.headers().get("sec-websocket-protocol"), Some("chat"));
/// ```
pub struct Upgrade {
    handshake: Result<Handshake, HandshakeError>,
    /// The request's `Host`, for the default origin check.
    host: Option<String>,
    /// Whether the origin passed (`None`: not checked yet).
    origin_ok: Option<bool>,
    protocol: Option<String>,
    settings: Settings,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("handshake", &self.handshake)
            .field("protocol", &self.protocol)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Upgrade {
    /// Checks `req` as a WebSocket opening handshake (RFC 6455 §4.2.1).
    pub fn new(req: &Request) -> Upgrade {
        Upgrade {
            handshake: parse_handshake(req.method(), req.version(), req.headers()),
            host: req.header("host").map(str::to_owned),
            origin_ok: None,
            protocol: None,
            settings: Settings::default(),
        }
    }

    /// Reports whether the request is a valid WebSocket handshake.
    pub fn is_valid(&self) -> bool {
        self.handshake.is_ok()
    }

    /// Returns the subprotocols the client offered, in its order of
    /// preference.
    pub fn offered_protocols(&self) -> &[String] {
        self.handshake.as_ref().map_or(&[], Handshake::protocols)
    }

    /// Returns the `Origin` the client sent (browsers always send one).
    pub fn origin(&self) -> Option<&str> {
        self.handshake.as_ref().ok().and_then(Handshake::origin)
    }

    /// Replaces the default origin rule (same host as `Host`, or no
    /// `Origin`): `check` gets the `Origin` and says whether to accept;
    /// a refusal is answered 403.
    #[must_use]
    pub fn check_origin(mut self, check: impl FnOnce(Option<&str>) -> bool) -> Upgrade {
        self.origin_ok = Some(check(self.origin()));
        self
    }

    /// Accepts every origin: for endpoints that use no cookies or other
    /// credentials the browser adds by itself.
    #[must_use]
    pub fn allow_any_origin(mut self) -> Upgrade {
        self.origin_ok = Some(true);
        self
    }

    /// Chooses the subprotocol: `choose` gets the ones offered and returns
    /// at most one of them (one not offered is ignored: the client would
    /// fail the connection, RFC 6455 §4.1).
    #[must_use]
    pub fn choose_protocol(mut self, choose: impl FnOnce(&[String]) -> Option<String>) -> Upgrade {
        let chosen = choose(self.offered_protocols());
        self.protocol = chosen.filter(|p| self.offered_protocols().contains(p));
        self
    }

    /// Sets the session's limits and timers (see [`Settings`]).
    #[must_use]
    pub fn settings(mut self, settings: Settings) -> Upgrade {
        self.settings = settings;
        self
    }

    /// Makes the answer: `101 Switching Protocols` carrying `handler` for
    /// the session, or the refusal (405, 400, 426 with
    /// `Sec-WebSocket-Version: 13`, or 403 for the origin).
    #[must_use]
    pub fn accept(self, handler: impl Handler) -> Response {
        let hs = match self.handshake {
            Ok(hs) => hs,
            Err(e) => return refusal(e),
        };
        let origin_ok = self
            .origin_ok
            .unwrap_or_else(|| same_origin(hs.origin(), self.host.as_deref()));
        if !origin_ok {
            log::debug!("WebSocket handshake refused: origin {:?}", hs.origin());
            return Response::for_status(StatusCode::FORBIDDEN);
        }
        let mut resp = Response::new(StatusCode::SWITCHING_PROTOCOLS);
        *resp.headers_mut() = hs.response_headers(self.protocol.as_deref());
        resp.with_body(Body::Upgrade(OnUpgrade::websocket(Start {
            handler: Box::new(handler),
            settings: self.settings,
            protocol: self.protocol,
        })))
    }
}

/// The answer to a handshake that is not valid: its status and the
/// fields that go with it.
fn refusal(e: HandshakeError) -> Response {
    log::debug!("{e}");
    let mut resp = Response::for_status(e.status());
    let headers: &mut Headers = resp.headers_mut();
    for (name, value) in e.headers() {
        headers.insert(*name, *value);
    }
    resp
}

/// Reports whether `origin` may open a session on `host`: no `Origin`
/// (not a browser), or one whose host and port are `Host`'s, compared
/// without case (gorilla/websocket's default).
fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    host.is_some_and(|h| h.eq_ignore_ascii_case(authority.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_origin_rule_is_the_same_host() {
        let table = [
            (None, Some("a.example"), true),
            (Some("https://a.example"), Some("a.example"), true),
            (Some("http://A.example:8080"), Some("a.example:8080"), true),
            (Some("http://a.example:8080"), Some("a.example"), false),
            (Some("https://evil.example"), Some("a.example"), false),
            (Some("null"), Some("a.example"), false),
            (Some("https://a.example"), None, false),
        ];
        for (origin, host, want) in table {
            assert_eq!(same_origin(origin, host), want, "{origin:?} on {host:?}");
        }
    }
}
