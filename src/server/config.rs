//! What serving one request needs to know of its server: the handler,
//! the limits and timeouts, the `Server` header, the trusted proxies,
//! whether a shutdown has begun, and the permits of streaming bodies.
//!
//! Shared (`Arc`) by every connection of one server; it holds no
//! connection, so the connection code below the worker loop can use it
//! without knowing the loop.

use crate::forwarded::TrustedProxies;
use crate::handler::Handler;
use crate::limits::{Limits, Timeouts};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Config is one server's settings and shared flags.
pub(crate) struct Config {
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) server_header: Option<String>,
    pub(crate) trusted: TrustedProxies,
    pub(crate) shutdown: std::sync::Arc<ShutdownState>,
    /// The permits of request bodies that stream to handlers.
    pub(crate) permits: Permits,
    /// The certificate and settings of a server that speaks TLS.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsConfig>,
}

impl Config {
    /// Reports whether a graceful shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.shutting_down.load(Ordering::SeqCst)
    }
}

/// ShutdownState is the flag a shutdown handle sets.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    pub(crate) shutting_down: AtomicBool,
}

/// Permits counts the request bodies streaming to handlers, at most
/// `max` at once (see `streams` for the connections waiting for one).
#[derive(Debug)]
pub(crate) struct Permits {
    max: usize,
    used: AtomicUsize,
}

impl Permits {
    /// Allows `max` streaming bodies at once (at least one).
    pub(crate) fn new(max: usize) -> Permits {
        Permits {
            max: max.max(1),
            used: AtomicUsize::new(0),
        }
    }

    /// Takes a permit if one is free.
    pub(crate) fn acquire(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a permit back.
    pub(crate) fn release(&self) {
        self.used.fetch_sub(1, Ordering::SeqCst);
    }

    /// Reports whether a permit is free now.
    pub(crate) fn any_free(&self) -> bool {
        self.used.load(Ordering::SeqCst) < self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_run_out_and_come_back() {
        let s = Permits::new(2);
        assert!(s.acquire());
        assert!(s.acquire());
        assert!(!s.acquire(), "two at most");
        assert!(!s.any_free());
        s.release();
        assert!(s.any_free());
        assert!(s.acquire());
        assert!(Permits::new(0).acquire(), "at least one");
    }
}
