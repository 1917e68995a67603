//! What a parked connection waits for, and until when.

/// Interest is what a parked connection waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Its peer to send (a request, the rest of one, or its close).
    Read,
    /// Its peer to read what the server sent.
    Write,
}

/// Wait is what a connection waits for, until when (on the coarse
/// clock), and whether it is idle between requests (a graceful shutdown
/// closes those at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) on: Interest,
    pub(crate) deadline: u64,
    pub(crate) idle: bool,
}
