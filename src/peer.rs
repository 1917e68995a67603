//! Who is at the other end of a connection: a TCP address, or the peer of
//! a Unix domain socket, which has none.
//!
//! This module performs no I/O.

use std::fmt;
use std::net::SocketAddr;

/// Peer is who sent a request: the address of a TCP peer, or the peer of a
/// Unix domain socket connection.
///
/// A Unix socket's peer has no IP address and, as a rule, no name either
/// (a client's socket is unbound), so it is just [`Peer::Unix`]. It is
/// written `unix:`, as nginx writes `$remote_addr` for such a connection,
/// in the access log and the server's log lines; a TCP peer is written as
/// its address (`127.0.0.1:51234`).
///
/// # Examples
/// ```
/// use sockhttp::Peer;
///
/// let tcp = Peer::Tcp("127.0.0.1:51234".parse()?);
/// assert_eq!(tcp.to_string(), "127.0.0.1:51234");
/// assert_eq!(tcp.addr(), Some("127.0.0.1:51234".parse()?));
///
/// assert_eq!(Peer::Unix.to_string(), "unix:");
/// assert_eq!(Peer::Unix.addr(), None);
/// assert!(Peer::Unix.is_unix());
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Peer {
    /// A TCP peer, at this address (for a client named by a trusted
    /// proxy's forwarding header, port 0 when the header gave none).
    Tcp(SocketAddr),
    /// The peer of a Unix domain socket connection: a process on this
    /// machine, with no address.
    Unix,
}

impl Peer {
    /// Returns the peer's address: `Some` for a TCP peer, `None` for a
    /// Unix socket's.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Peer::Tcp(addr) => Some(*addr),
            Peer::Unix => None,
        }
    }

    /// Reports whether the peer came over a Unix domain socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, Peer::Unix)
    }
}

impl From<SocketAddr> for Peer {
    fn from(addr: SocketAddr) -> Peer {
        Peer::Tcp(addr)
    }
}

impl fmt::Display for Peer {
    /// Writes a TCP peer's address (`127.0.0.1:51234`), or `unix:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => addr.fmt(f),
            Peer::Unix => f.write_str("unix:"),
        }
    }
}
