//! Protocol upgrades (RFC 9110 §7.8): what a `101 Switching Protocols`
//! response carries ([`OnUpgrade`]), and what the new owner of a
//! connection gets ([`Upgraded`]).
//!
//! A WebSocket session stays with the server, which parks it between
//! messages (see [`crate::ws`]). Any other protocol takes the connection
//! over whole: [`Response::upgrade`](crate::Response::upgrade).

use crate::ws::session::Start;
use bytes::Bytes;
use std::fmt;
use std::net::TcpStream;

/// OnUpgrade is what runs on a connection once its `101 Switching
/// Protocols` has gone: a WebSocket session, or a function that takes
/// the connection over. Made by [`crate::ws::Upgrade::accept`] and
/// [`Response::upgrade`](crate::Response::upgrade).
pub struct OnUpgrade {
    pub(crate) kind: UpgradeKind,
}

/// UpgradeKind is what an [`OnUpgrade`] holds.
pub(crate) enum UpgradeKind {
    /// A WebSocket session, driven and parked by the server.
    WebSocket(Box<Start>),
    /// A function that owns the connection from now on.
    TakeOver(Box<dyn FnOnce(Upgraded) + Send>),
}

impl OnUpgrade {
    /// Makes the upgrade to a WebSocket session.
    pub(crate) fn websocket(start: Start) -> OnUpgrade {
        OnUpgrade {
            kind: UpgradeKind::WebSocket(Box::new(start)),
        }
    }

    /// Makes an upgrade that hands the connection to `f`.
    pub(crate) fn take_over(f: impl FnOnce(Upgraded) + Send + 'static) -> OnUpgrade {
        OnUpgrade {
            kind: UpgradeKind::TakeOver(Box::new(f)),
        }
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            UpgradeKind::WebSocket(_) => "OnUpgrade(WebSocket)",
            UpgradeKind::TakeOver(_) => "OnUpgrade(TakeOver)",
        })
    }
}

/// Upgraded is a connection handed over after `101 Switching Protocols`:
/// the socket, and the bytes the server had already read past the request
/// head, which belong to the new protocol and come first.
///
/// The connection no longer counts as the server's: no keep-alive, no
/// idle or request deadline (the socket is blocking, without timeouts:
/// set your own with `set_read_timeout`). It stays registered until the
/// owner drops it, so a graceful shutdown still reaches it: the server
/// shuts the socket's reading side down (a blocked read returns end of
/// stream, and [`Upgraded::is_shutting_down`] says why), then the whole
/// socket at the shutdown deadline.
///
/// The function that owns it runs on a thread of its own, not on a
/// worker: the pool is not held by the connections it hands over.
pub struct Upgraded {
    /// The connection.
    pub stream: TcpStream,
    /// What was read past the request head: the new protocol's first
    /// bytes (empty when the client waited for the `101`).
    pub read_ahead: Bytes,
    /// Keeps the connection registered with the server.
    pub(crate) _keep: Box<dyn Send>,
    /// Tells whether the server is shutting down.
    pub(crate) shutting_down: Box<dyn Fn() -> bool + Send>,
}

impl Upgraded {
    /// Reports whether the server is shutting down: the owner should end
    /// the conversation and drop the connection.
    pub fn is_shutting_down(&self) -> bool {
        (self.shutting_down)()
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("stream", &self.stream)
            .field("read_ahead", &self.read_ahead.len())
            .finish_non_exhaustive()
    }
}
