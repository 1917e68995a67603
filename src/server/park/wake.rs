//! The wake policy: how ready connections that a worker listed get a
//! worker, and when idle workers wait on the bench.
//!
//! Pure decisions over counts and clocks, so each is a table test; the
//! epoll parker carries them out (see its module docs for the why).

use std::time::Duration;

/// How long listed connections may wait for a busy worker before a
/// waiting one is woken for them anyway (a handler may block).
pub(crate) const LATER_AFTER: Duration = Duration::from_millis(2);
/// How recently, in coarse milliseconds, a worker must have come back
/// from the epoll set for the others to wait on the bench (longer: a busy
/// worker may be held by a handler, and a benched one takes over).
pub(crate) const RECENT_POLL_MS: u64 = 4;

/// Wake is how listed connections get a worker (see
/// the epoll parker's `wake_for_list`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// No worker waits: the busy ones come to the list when done.
    Nobody,
    /// A CPU is free: nudge a waiting worker now.
    Nudge,
    /// Every CPU is busy: arm the timer, due at this time (nanoseconds).
    Later(u64),
}

/// Chooses how listed connections get a worker, for a pool of `workers`
/// of which `idle` wait, on `cpus` CPUs, with the timer due at `due`
/// (past: not armed) and the clock at `now`, in nanoseconds.
pub(crate) fn wake_choice(workers: usize, idle: usize, cpus: usize, due: u64, now: u64) -> Wake {
    if idle == 0 {
        Wake::Nobody
    } else if workers.saturating_sub(idle) < cpus {
        Wake::Nudge
    } else if due > now {
        // Armed already: it will wake someone soon enough.
        Wake::Nobody
    } else {
        Wake::Later(now + LATER_AFTER.as_nanos() as u64)
    }
}

/// Reports whether a worker about to wait should wait on the bench: a
/// pool of `workers` of which `waiting` wait (on the epoll set or the
/// bench, this one included), on `cpus` CPUs, a worker last back from the
/// epoll set at `polled`, the coarse clock at `now`. Every CPU must be
/// busy, and the busy workers must be coming back to the epoll set.
pub(crate) fn to_bench(workers: usize, waiting: usize, cpus: usize, polled: u64, now: u64) -> bool {
    workers.saturating_sub(waiting) >= cpus && now.saturating_sub(polled) <= RECENT_POLL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_wait_on_the_bench_only_while_every_cpu_is_busy_and_polling() {
        // (workers, waiting, cpus, polled, now) -> bench?
        let table = [
            // One CPU, one worker busy, polling lately: the bench.
            ((4, 3, 1, 100, 100), true),
            ((4, 3, 1, 100 - RECENT_POLL_MS, 100), true),
            // Nobody has polled for a while (a handler may block): the
            // epoll set.
            ((4, 3, 1, 99 - RECENT_POLL_MS, 100), false),
            ((4, 3, 1, 0, 100), false),
            // A CPU is free: the epoll set.
            ((4, 4, 1, 100, 100), false),
            ((4, 3, 2, 100, 100), false),
            // Two CPUs, both busy.
            ((8, 6, 2, 100, 100), true),
        ];
        for ((workers, waiting, cpus, polled, now), want) in table {
            assert_eq!(
                to_bench(workers, waiting, cpus, polled, now),
                want,
                "workers {workers}, waiting {waiting}, cpus {cpus}, polled {polled}, now {now}"
            );
        }
    }

    #[test]
    fn listed_connections_wake_a_worker_now_only_when_a_cpu_is_free() {
        let later = 100 + LATER_AFTER.as_nanos() as u64;
        // (workers, idle, cpus, due, now) -> choice
        let table = [
            // Nobody waits: nothing to wake.
            ((4, 0, 1, 0, 100), Wake::Nobody),
            ((4, 0, 8, 0, 100), Wake::Nobody),
            // A CPU is free: at once.
            ((4, 3, 2, 0, 100), Wake::Nudge),
            ((8, 5, 4, 0, 100), Wake::Nudge),
            ((2, 1, 2, 500, 100), Wake::Nudge),
            // Every CPU busy: the timer, unless it is armed already.
            ((4, 3, 1, 0, 100), Wake::Later(later)),
            ((4, 2, 2, 0, 100), Wake::Later(later)),
            ((4, 3, 1, 100, 100), Wake::Later(later)),
            ((4, 3, 1, 101, 100), Wake::Nobody),
        ];
        for ((workers, idle, cpus, due, now), want) in table {
            assert_eq!(
                wake_choice(workers, idle, cpus, due, now),
                want,
                "workers {workers}, idle {idle}, cpus {cpus}, due {due}, now {now}"
            );
        }
    }
}
