//! The epoll parker: every connection that waits on its peer (for its
//! next request, the rest of a head or a small body, or to read what the
//! server sent) waits in one epoll set, so it costs a few hundred bytes
//! instead of a worker thread, and idle workers wait on that same set for
//! whichever connection is ready first.
//!
//! A worker serves a connection only while it can make progress without
//! waiting on the peer. When it would wait, the worker parks it here,
//! saying what it waits for (readable or writable) and until when, and
//! takes the next ready connection. A new
//! connection is parked the moment it is accepted. A worker with nothing
//! to do waits in [`Poller::take_ready`]: the kernel wakes one waiting
//! worker per readable connection, which serves it at once, with no hand
//! over between threads. This is how nginx and Go make idle connections
//! cheap, while handlers stay plain blocking code.
//!
//! Linux only: epoll through `rustix`, whose wrappers are safe, so the
//! crate keeps `#![forbid(unsafe_code)]` (the `polling` crate's `add` is an
//! `unsafe fn`). Elsewhere the server keeps a worker blocked on an idle
//! connection, with the idle timeout bounding it.
//!
//! Registration is edge-triggered and made once, when the connection is
//! first parked (for writability too the first time it waits to write):
//! parking again costs no system call. Each event is reported once, to
//! one worker; what it does to the connection is the pure state machine
//! of `slots`, kept under one lock. An edge is reported only for new
//! bytes, so a connection is never parked with bytes it could still read
//! (not after a read that filled the whole buffer). The socket leaves the
//! epoll set when it is closed.
//!
//! A worker takes up to [`BATCH`] ready connections in one `epoll_wait`:
//! it serves the first and leaves the others on a shared ready list,
//! where every worker looks before it waits. Under load this is nginx's
//! economy (one wait for many requests) without its catch: a slow
//! handler does not hold the rest of the batch, since any worker that
//! comes free takes them. When a batch is listed while other workers
//! wait and a CPU is free, one of them is nudged (an eventfd) to serve
//! beside the busy ones. When every CPU is busy, a woken worker could
//! only take the CPU from a busy one, which comes to the list itself once
//! done: a timer wakes a waiting worker after 2 ms instead, in case the
//! busy ones are held by handlers that block. So nothing stays on the
//! list while a worker sleeps for long, and a server on one CPU does not
//! pay a context switch per batch.
//!
//! For the same reason, while every CPU is busy and the busy workers keep
//! coming back to the epoll set, the other workers wait on a *bench* (a
//! second epoll set holding only the shutdown eventfd and the timer)
//! rather than on the epoll set. What arrives meanwhile then waits in the
//! epoll set for a busy worker to take in one batch, as it would with
//! nginx's single process, instead of waking a worker that could only
//! take the CPU from a busy one. The timer, armed by whoever sits down on
//! the bench, wakes a benched worker every 2 ms; it takes over the epoll
//! set if nobody has come back to it for 4 ms (a handler may block). The
//! README's Benchmarks section has what each of these saves.
//!
//! Deadlines are checked every [`SCAN_EVERY`] by whichever waiting
//! worker comes by first; the connections past theirs are handed to it
//! (to be closed, or answered `408` in the middle of a request).

use super::slots::{Found, Readiness, Refused, Slots};
use super::wait::{Interest, Wait};
use super::wake::{LATER_AFTER, Wake, to_bench, wake_choice};
use crate::server::clock::coarse_ms;
use crate::server::link::Link;
use rustix::event::{EventfdFlags, epoll, eventfd};
use rustix::fd::OwnedFd;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The key of the poller's own wake-up eventfd.
const WAKE: u64 = u64::MAX;
/// The key of the eventfd that nudges one waiting worker to look at the
/// ready list.
const NUDGE: u64 = u64::MAX - 1;
/// The key of the timer that wakes one waiting worker to look at the
/// ready list when no CPU was free to nudge one at once.
const LATER: u64 = u64::MAX - 2;
/// The most ready connections one `epoll_wait` takes.
const BATCH: usize = 64;
/// How often deadlines are checked: a connection is closed (or answered
/// `408`) at most this much after its deadline.
const SCAN_EVERY: Duration = Duration::from_millis(250);

/// Parkable is what the poller needs of a parked item: its socket.
pub(crate) trait Parkable {
    fn link(&self) -> &Arc<Link>;
}

/// Poller holds parked connections (`T`: their whole state) until what
/// they wait for happens or their deadline passes.
pub(crate) struct Poller<T> {
    epoll: OwnedFd,
    wake: OwnedFd,
    nudge: OwnedFd,
    /// A timerfd: the delayed nudge (see [`Poller::wake_for_list`]), and
    /// the watchdog of the bench.
    later: OwnedFd,
    /// The bench: a second epoll set, holding only `wake` and `later`,
    /// where workers wait while every CPU is busy (see
    /// [`Poller::take_ready`]).
    bench: OwnedFd,
    /// How many workers wait on the bench.
    benched: AtomicUsize,
    /// When a worker last came back from waiting on the epoll set, on the
    /// coarse clock.
    last_poll_ms: AtomicU64,
    /// When `later` is due, in nanoseconds of [`precise_ns`] (past: not
    /// armed).
    later_due_ns: AtomicU64,
    /// The pool's size, and how many CPUs the process may run on.
    workers: usize,
    cpus: usize,
    parked: Mutex<Slots<T>>,
    /// Keys of parked connections found ready by a batch (or requeued)
    /// and not taken yet (their slots stay parked until then).
    ready: Mutex<VecDeque<u64>>,
    /// How many keys `ready` holds: looked at without the lock.
    ready_len: AtomicUsize,
    /// Set to release every waiting worker for good.
    stop: AtomicBool,
    /// When the next deadline scan is due, in milliseconds of the coarse
    /// monotonic clock.
    next_scan_ms: AtomicU64,
    /// How many workers wait in [`Poller::take_ready`] right now.
    idle_workers: AtomicUsize,
}

/// Ready is what [`Poller::take_ready`] found.
pub(crate) enum Ready<T> {
    /// A parked connection is ready: serve it.
    Item(T),
    /// Nothing yet: these connections' deadlines passed (the list is
    /// empty most of the time).
    Expired(Vec<T>),
    /// The poller is stopping: the worker should look for the end of
    /// the pool.
    Stopped,
}

impl<T: Send + Parkable> Poller<T> {
    /// Creates the epoll instance and its wake-up eventfd, for a pool of
    /// `workers` on `cpus` CPUs.
    #[cfg_attr(sockhttp_no_epoll, allow(dead_code))]
    pub(crate) fn new(workers: usize, cpus: usize) -> io::Result<Poller<T>> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )?;
        // Edge-triggered: each write wakes one waiting worker, once.
        let nudge = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &nudge,
            epoll::EventData::new_u64(NUDGE),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        // Edge-triggered and never read, like the nudge: each expiry wakes
        // one waiting worker.
        let later = rustix::time::timerfd_create(
            rustix::time::TimerfdClockId::Monotonic,
            rustix::time::TimerfdFlags::CLOEXEC | rustix::time::TimerfdFlags::NONBLOCK,
        )?;
        epoll::add(
            &epoll,
            &later,
            epoll::EventData::new_u64(LATER),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        let bench = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &bench,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )?;
        epoll::add(
            &bench,
            &later,
            epoll::EventData::new_u64(LATER),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        Ok(Poller {
            epoll,
            wake,
            nudge,
            later,
            bench,
            benched: AtomicUsize::new(0),
            last_poll_ms: AtomicU64::new(0),
            later_due_ns: AtomicU64::new(0),
            workers,
            cpus,
            parked: Mutex::new(Slots::default()),
            ready: Mutex::new(VecDeque::new()),
            ready_len: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            next_scan_ms: AtomicU64::new(coarse_ms() + SCAN_EVERY.as_millis() as u64),
            idle_workers: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slots<T>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `item` under `key` until `wait` is met or its deadline
    /// passes. Gives the item back to be served again when what it waits
    /// for may have happened already, or to be closed (see [`Refused`]).
    pub(crate) fn park(&self, key: u64, item: T, wait: Wait) -> Result<(), Refused<T>> {
        let link = Arc::clone(item.link());
        if wait.on == Interest::Read && link.peer_closed() {
            // Its FIN was reported already, and no edge will come again:
            // what is left to read is read now, to its end.
            return Err(Refused::Ready(item));
        }
        // Registered once, at the first park; for writability too at the
        // first wait to write (a slow reader), which is rare.
        let first = !link.registered.load(Ordering::Relaxed);
        let out = wait.on == Interest::Write && !link.registered_out.load(Ordering::Relaxed);
        // The slot goes in before the socket is registered: a worker woken
        // by the socket at once finds it. A park refused here registers
        // nothing, so the flags are set only once it is accepted: a wait to
        // write refused (an event was pending) must still register for
        // writability at the next park, or no edge would ever wake it.
        let parked = self.lock().park(key, item, wait, link.may_have_more());
        if let Err(Refused::PeerClosed(item)) = parked {
            link.mark_peer_closed();
            return Err(Refused::Ready(item));
        }
        parked?;
        if !first && !out {
            return Ok(());
        }
        link.registered.store(true, Ordering::Relaxed);
        if out {
            link.registered_out.store(true, Ordering::Relaxed);
        }
        let mut flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ET;
        if link.registered_out.load(Ordering::Relaxed) {
            flags |= epoll::EventFlags::OUT;
        }
        let data = epoll::EventData::new_u64(key);
        let done = if first {
            match epoll::add(&self.epoll, &link.stream, data, flags) {
                // Added meanwhile by whoever took it off its deadline and
                // parked it again: registered either way.
                Err(rustix::io::Errno::EXIST) => Ok(()),
                other => other,
            }
        } else {
            epoll::modify(&self.epoll, &link.stream, data, flags)
        };
        if let Err(e) = done {
            log::warn!("cannot park a connection: {e}");
            // Still ours unless a worker or a shutdown took it meanwhile.
            if let Some((item, _)) = self.lock().take(key) {
                return Err(Refused::Close(item));
            }
        }
        Ok(())
    }

    /// Puts `item`, ready to be served, behind the connections already
    /// listed: it has been served long enough in a row, or a permit it
    /// waited for is free.
    pub(crate) fn requeue(&self, key: u64, item: T, wait: Wait) {
        self.lock().insert(key, item, wait);
        self.list(vec![key]);
    }

    /// Makes the connection `key` ready if it is parked (or busy: then
    /// its next park gives it back), whatever it waits for.
    pub(crate) fn notify(&self, key: u64) {
        let parked = self.lock().notify(key);
        if parked {
            self.list(vec![key]);
        }
    }

    /// Takes `link` out of the epoll set: it was handed over.
    pub(crate) fn detach(&self, link: &Link) {
        if link.registered.swap(false, Ordering::Relaxed) {
            let _ = epoll::delete(&self.epoll, &link.stream);
        }
    }

    /// Forgets the connection `key`, which is closing.
    pub(crate) fn forget(&self, key: u64) {
        self.lock().forget(key);
    }

    /// Waits, at most until the next deadline scan is due, for a parked
    /// connection to become readable, and takes it out of the poller. Many
    /// workers wait here at once; each readable connection goes to one.
    pub(crate) fn take_ready(&self) -> Ready<T> {
        if self.stop.load(Ordering::SeqCst) {
            return Ready::Stopped;
        }
        let now_ms = coarse_ms();
        let due_ms = self.next_scan_ms.load(Ordering::Relaxed);
        if now_ms >= due_ms {
            // One worker scans; the others go on waiting.
            let claimed = self
                .next_scan_ms
                .compare_exchange(
                    due_ms,
                    now_ms + SCAN_EVERY.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
            if claimed {
                return Ready::Expired(self.take_expired(now_ms));
            }
        }
        let wait = Duration::from_millis(due_ms.saturating_sub(now_ms).max(1));
        let timeout = rustix::event::Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos() as _,
        };
        // Counted as waiting before looking at the ready list: a batch
        // taken meanwhile either is seen here or sees this worker waiting
        // (and nudges it).
        let idle = self.idle_workers.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(item) = self.take_listed(true) {
            self.idle_workers.fetch_sub(1, Ordering::SeqCst);
            return Ready::Item(item);
        }
        let benched = self.benched.load(Ordering::SeqCst);
        let polled = self.last_poll_ms.load(Ordering::Relaxed);
        if to_bench(self.workers, idle + benched, self.cpus, polled, now_ms) {
            // Every CPU is busy, and the busy workers poll: wait on the
            // bench, so that what arrives meanwhile waits in the epoll set
            // for a busy worker to come back to, in one batch, instead of
            // waking this one to take the CPU from it. The timer wakes one
            // benched worker now and then, in case the busy ones are held
            // by handlers that block.
            self.idle_workers.fetch_sub(1, Ordering::SeqCst);
            self.benched.fetch_add(1, Ordering::SeqCst);
            self.arm_later(precise_ns());
            let mut space = [const { std::mem::MaybeUninit::<epoll::Event>::uninit() }; 2];
            let waited = epoll::wait(&self.bench, &mut space, Some(&timeout));
            self.benched.fetch_sub(1, Ordering::SeqCst);
            if let Ok((events, _)) = waited {
                if events.iter().any(|ev| ev.data.u64() == WAKE) {
                    return Ready::Stopped;
                }
            }
            return Ready::Expired(Vec::new());
        }
        let mut space = [const { std::mem::MaybeUninit::<epoll::Event>::uninit() }; BATCH];
        // On the stack: a wait allocates nothing.
        let waited = epoll::wait(&self.epoll, &mut space, Some(&timeout));
        self.idle_workers.fetch_sub(1, Ordering::SeqCst);
        self.last_poll_ms.store(coarse_ms(), Ordering::Relaxed);
        let events: &[epoll::Event] = match waited {
            Ok((events, _)) => events,
            Err(rustix::io::Errno::INTR) => &[],
            Err(e) => {
                log::error!("epoll_wait failed: {e}");
                std::thread::sleep(SCAN_EVERY);
                &[]
            }
        };
        let mut mine = None;
        let mut listed = Vec::new();
        for ev in events {
            match ev.data.u64() {
                // Left readable on purpose: it releases every waiter.
                WAKE => return Ready::Stopped,
                // Not read back: edge-triggered, each write is one event
                // whatever the counter holds (a u64 that would take ages
                // to fill), so the nudge costs one system call. The same
                // for each expiry of the timer.
                NUDGE | LATER => {}
                key => {
                    let flags = ev.flags;
                    let ready = Readiness {
                        read: flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::RDHUP),
                        write: flags.contains(epoll::EventFlags::OUT),
                        broken: flags.intersects(epoll::EventFlags::HUP | epoll::EventFlags::ERR),
                        hup: flags.intersects(
                            epoll::EventFlags::RDHUP
                                | epoll::EventFlags::HUP
                                | epoll::EventFlags::ERR,
                        ),
                    };
                    match self.lock().event(key, ready, mine.is_none()) {
                        Found::Taken(item, hup) => mine = Some(taken(item, hup)),
                        Found::Ready => listed.push(key),
                        Found::Nothing => {}
                    }
                }
            }
        }
        if !listed.is_empty() {
            self.list(listed);
        }
        match mine.or_else(|| self.take_listed(false)) {
            Some(item) => Ready::Item(item),
            None => Ready::Expired(Vec::new()),
        }
    }

    /// Puts the keys of ready connections a batch took on the ready list,
    /// and nudges a worker that started waiting meanwhile.
    fn list(&self, keys: Vec<u64>) {
        {
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            ready.extend(keys);
            self.ready_len.store(ready.len(), Ordering::SeqCst);
        }
        self.wake_for_list(false);
    }

    /// Makes sure a waiting worker comes for the listed connections
    /// (`counted`: the caller is still counted among the waiting ones).
    ///
    /// When a CPU is free (fewer workers busy than CPUs), one is nudged
    /// at once: it serves beside the busy ones. When none is, a woken
    /// worker could only take the CPU from a busy one, which will come to
    /// the list itself as soon as it is done; on one CPU under load such
    /// nudges cost a context switch per batch, most of nginx's lead on
    /// hello-world. So a timer wakes one waiting worker after
    /// [`LATER_AFTER`] instead, in case the busy workers are held by
    /// handlers that block: armed once, not per batch, and every worker
    /// that takes from a list that stays non-empty calls this again.
    fn wake_for_list(&self, counted: bool) {
        let idle = self
            .idle_workers
            .load(Ordering::SeqCst)
            .saturating_sub(usize::from(counted));
        let (now, due) = (precise_ns(), self.later_due_ns.load(Ordering::Relaxed));
        match wake_choice(self.workers, idle, self.cpus, due, now) {
            Wake::Nobody => {}
            Wake::Nudge => {
                let _ = rustix::io::write(&self.nudge, &1u64.to_ne_bytes());
            }
            Wake::Later(_) => self.arm_later(now),
        }
    }

    /// Arms the timer to expire [`LATER_AFTER`] from `now`, unless it is
    /// armed already.
    fn arm_later(&self, now: u64) {
        let due = self.later_due_ns.load(Ordering::Relaxed);
        if due > now {
            return;
        }
        let after = now + LATER_AFTER.as_nanos() as u64;
        if self
            .later_due_ns
            .compare_exchange(due, after, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // Another worker armed it just now.
            return;
        }
        let spec = rustix::time::Itimerspec {
            it_interval: rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: LATER_AFTER.as_nanos() as _,
            },
        };
        let _ = rustix::time::timerfd_settime(
            &self.later,
            rustix::time::TimerfdTimerFlags::empty(),
            &spec,
        );
    }

    /// Takes the first connection on the ready list that is still parked.
    fn take_listed(&self, counted: bool) -> Option<T> {
        if self.ready_len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        loop {
            let (key, more) = {
                let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
                let key = ready.pop_front();
                self.ready_len.store(ready.len(), Ordering::SeqCst);
                (key, !ready.is_empty())
            };
            let key = key?;
            let took = self.lock().take(key);
            if let Some((item, hup)) = took {
                let item = taken(item, hup);
                if more {
                    // This worker is busy from now on: the rest of the
                    // list needs someone else, now or later.
                    self.wake_for_list(counted);
                }
                return Some(item);
            }
        }
    }

    /// Takes out the connections whose deadline passed. An idle one whose
    /// request has arrived is not idle: it is waiting for a worker (all
    /// are busy), and stays, to be taken in turn.
    fn take_expired(&self, now_ms: u64) -> Vec<T> {
        self.lock()
            .take_expired(now_ms, |item, wait| !(wait.idle && item.link().has_bytes()))
    }

    /// Counts the parked connections (for the statistics: a walk under
    /// the lock, so that parking pays nothing for it).
    pub(crate) fn parked(&self) -> usize {
        self.lock().parked()
    }

    /// Reports whether any worker is waiting for a ready connection.
    pub(crate) fn has_idle_workers(&self) -> bool {
        self.idle_workers.load(Ordering::SeqCst) > 0
    }

    /// Stops parking idle connections and returns those parked, to be
    /// closed; connections in the middle of a request stay.
    pub(crate) fn close_idle(&self) -> Vec<T> {
        self.lock().close_idle()
    }

    /// Takes out every parked connection.
    pub(crate) fn close_all(&self) -> Vec<T> {
        self.lock().take_parked(|_, _| true)
    }

    /// Releases every worker waiting in [`Poller::take_ready`], now and
    /// later: the wake-up eventfd is written and never read, so it stays
    /// readable.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

/// Notes on a connection just taken out that its peer closed its side.
fn taken<T: Parkable>(item: T, hup: bool) -> T {
    if hup {
        item.link().mark_peer_closed();
    }
    item
}

/// Returns the monotonic clock in nanoseconds, to the nanosecond: when
/// the timer is due must not be judged by the coarse clock, which may lag
/// a tick behind an expiry that already happened.
fn precise_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::from(t.tv_nsec as u32)
}
