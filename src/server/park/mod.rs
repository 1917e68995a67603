//! The parking interface: where a connection waits on its peer without
//! holding a worker, and where workers find the next ready connection.
//!
//! Two implementations, chosen once per server (the worker's `Parker`):
//! - epoll (Linux): connections wait in one epoll set (see `epoll`), as a
//!   pure state machine of slots (`slots`), with a wake policy of its own
//!   (`wake`); workers wait on the same set.
//! - the blocking fallback (elsewhere, or with epoll switched off): the
//!   socket is blocking, so a connection "parks" inside its own read or
//!   write, under the same deadlines, and holds its worker while it does;
//!   new connections reach the workers through a bounded queue.
//!
//! What is parked is generic here: the worker loop parks its connections,
//! and the connection code only says what it waits for ([`Wait`]).

#[cfg(target_os = "linux")]
pub(crate) mod epoll;
#[cfg(target_os = "linux")]
pub(crate) mod slots;
#[cfg(target_os = "linux")]
pub(crate) mod wake;

mod wait;

pub(crate) use wait::{Interest, Wait};
