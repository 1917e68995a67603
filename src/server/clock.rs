//! The clocks of the edge and the `Date` header cache.
//!
//! Deadlines live on a millisecond monotonic clock read to its last tick
//! ([`coarse_ms`]): a connection notes when it went idle after every
//! request, so the read must cost next to nothing. The `Date` header is
//! formatted at most once a second per thread ([`date_now`]).

use crate::types::HttpDate;
use std::cell::Cell;
use std::time::{Duration, SystemTime};

thread_local! {
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// Returns the current time as an IMF-fixdate, formatted at most once a
/// second per thread.
pub(crate) fn date_now() -> [u8; 29] {
    let now = HttpDate::from_system_time(coarse_now());
    DATE.with(|d| {
        let (secs, bytes) = d.get();
        if secs == now.unix_secs() {
            bytes
        } else {
            let bytes = now.to_bytes();
            d.set((now.unix_secs(), bytes));
            bytes
        }
    })
}

/// Returns a monotonic clock in milliseconds, read to its last tick (a few
/// milliseconds): the clock of every deadline of the edge, which need no
/// more. On Linux it is the coarse clock, read without the timestamp
/// counter.
pub(crate) fn coarse_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{ClockId, clock_gettime};
        let t = clock_gettime(ClockId::MonotonicCoarse);
        u64::try_from(t.tv_sec).unwrap_or(0) * 1000 + u64::from(t.tv_nsec as u32 / 1_000_000)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let ms = EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// Returns `d` in whole milliseconds, saturating: a span on the
/// [`coarse_ms`] clock.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Returns the time left until `deadline` (on the [`coarse_ms`] clock),
/// at least a millisecond: the timeout of one wait on the socket.
pub(crate) fn until(deadline: u64) -> Duration {
    Duration::from_millis(deadline.saturating_sub(coarse_ms()).max(1))
}

/// Throttle lets something happen at most once a second: a warning that a
/// flood would otherwise repeat for every connection.
#[derive(Debug, Default)]
pub(crate) struct Throttle(std::sync::atomic::AtomicU64);

impl Throttle {
    /// Makes a throttle that lets the first call through.
    pub(crate) const fn new() -> Throttle {
        Throttle(std::sync::atomic::AtomicU64::new(0))
    }

    /// Reports whether the second has changed since it last said yes.
    pub(crate) fn ready(&self) -> bool {
        let second = coarse_ms() / 1000 + 1;
        self.0.swap(second, std::sync::atomic::Ordering::Relaxed) != second
    }
}

/// Returns the wall-clock time to the last clock tick (a few
/// milliseconds), which is all a `Date` needs: on Linux the coarse clock,
/// read without the timestamp counter.
fn coarse_now() -> SystemTime {
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{ClockId, clock_gettime};
        let t = clock_gettime(ClockId::RealtimeCoarse);
        match u64::try_from(t.tv_sec) {
            Ok(secs) => SystemTime::UNIX_EPOCH + Duration::new(secs, t.tv_nsec as u32),
            Err(_) => SystemTime::now(),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        SystemTime::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_call_through_per_second() {
        let t = Throttle::new();
        assert!(t.ready());
        // The same second (the clock would have to tick between the two
        // calls, which a retry absorbs).
        let again = t.ready() && t.ready();
        assert!(!again);
    }
}
