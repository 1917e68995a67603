//! An accepted connection's socket, of either kind: TCP, or (on Unix) a
//! Unix domain stream socket.
//!
//! The rest of the server reads, writes, parks and shuts down a
//! connection the same way whatever its kind: [`Socket`] gives it the few
//! calls of `TcpStream` it uses, for both. The differences are small and
//! stay here: a Unix socket has no Nagle algorithm to switch off
//! ([`Socket::set_nodelay`] does nothing), and no peer IP address (the
//! caller keeps who the peer is). `sendfile(2)`, epoll and the socket
//! timeouts work on both, on the descriptor ([`AsFd`]); `MSG_MORE` is
//! accepted on both, and only TCP acts on it.
//!
//! This module decides nothing: it forwards each call to the socket.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Socket is a connected stream socket: TCP, or a Unix domain socket.
#[derive(Debug)]
pub(crate) enum Socket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A connection to a Unix domain socket (`AF_UNIX`, `SOCK_STREAM`).
    #[cfg(unix)]
    Unix(UnixStream),
}

/// Runs `$body` with `$s` bound to the stream inside `$socket`, whatever
/// its kind: each call below is the same on both.
macro_rules! each {
    ($socket:expr, $s:ident => $body:expr) => {
        match $socket {
            Socket::Tcp($s) => $body,
            #[cfg(unix)]
            Socket::Unix($s) => $body,
        }
    };
}

impl Socket {
    /// Reports whether this is a Unix domain socket.
    pub(crate) fn is_unix(&self) -> bool {
        !matches!(self, Socket::Tcp(_))
    }

    /// Shuts down the reading side, the writing side, or both
    /// (`shutdown(2)`).
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        each!(self, s => s.shutdown(how))
    }

    /// Makes the socket non-blocking (`O_NONBLOCK`), or blocking again.
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        each!(self, s => s.set_nonblocking(nonblocking))
    }

    /// Sets `SO_RCVTIMEO` (`None`: reads wait forever).
    pub(crate) fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_read_timeout(d))
    }

    /// Sets `SO_SNDTIMEO` (`None`: writes wait forever).
    pub(crate) fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_write_timeout(d))
    }

    /// Returns `SO_SNDTIMEO`.
    #[cfg(test)]
    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        each!(self, s => s.write_timeout())
    }

    /// Sets `TCP_NODELAY` on a TCP socket; a Unix socket has no Nagle
    /// algorithm, and nothing to set.
    pub(crate) fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nodelay(nodelay),
            #[cfg(unix)]
            Socket::Unix(_) => Ok(()),
        }
    }

    /// Returns `TCP_NODELAY` (always true for a Unix socket, which never
    /// delays small writes).
    #[cfg(test)]
    pub(crate) fn nodelay(&self) -> io::Result<bool> {
        match self {
            Socket::Tcp(s) => s.nodelay(),
            #[cfg(unix)]
            Socket::Unix(_) => Ok(true),
        }
    }

    /// Returns a second handle on the same socket (`dup(2)`).
    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        match self {
            Socket::Tcp(s) => s.try_clone().map(Socket::Tcp),
            #[cfg(unix)]
            Socket::Unix(s) => s.try_clone().map(Socket::Unix),
        }
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(*self, s => (&*s).read(buf))
    }
}

impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(*self, s => (&*s).write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        each!(*self, s => (&*s).write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        each!(self, s => s.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Both kinds carry bytes both ways through `&Socket`, and shut down.
    #[cfg(unix)]
    #[test]
    fn both_kinds_read_write_and_shut_down() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let tcp = Socket::Tcp(listener.accept().unwrap().0);
        let (unix, unix_client) = UnixStream::pair().unwrap();
        let unix = Socket::Unix(unix);
        assert!(!tcp.is_unix() && unix.is_unix());
        let pairs: [(Socket, Socket); 2] = [
            (tcp, Socket::Tcp(tcp_client)),
            (unix, Socket::Unix(unix_client)),
        ];
        for (server, client) in pairs {
            let name = if server.is_unix() { "unix" } else { "tcp" };
            server.set_nodelay(true).unwrap();
            assert!(server.nodelay().unwrap(), "{name}");
            let timeout = Some(Duration::from_secs(3));
            server.set_write_timeout(timeout).unwrap();
            assert_eq!(server.write_timeout().unwrap(), timeout, "{name}");
            client.set_read_timeout(timeout).unwrap();
            let parts = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
            assert_eq!((&server).write_vectored(&parts).unwrap(), 4, "{name}");
            let clone = server.try_clone().unwrap();
            (&clone).write_all(b"ef").unwrap();
            clone.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).unwrap();
            assert_eq!(got, b"abcdef", "{name}");
            (&client).write_all(b"back").unwrap();
            let mut four = [0u8; 4];
            (&server).read_exact(&mut four).unwrap();
            assert_eq!(&four, b"back", "{name}");
        }
    }
}
