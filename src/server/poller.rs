//! Parking idle connections: every connection that waits for its next
//! request waits in one epoll set, so an idle connection costs a few
//! hundred bytes instead of a worker thread, and idle workers wait on that
//! same set for whichever connection has a request first.
//!
//! A worker serves a connection only while it has a request to work on.
//! When the connection goes idle (nothing buffered after an answer), the
//! worker parks it here and takes the next ready connection. A new
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
//! first parked: parking again costs no system call. Each arrival of
//! bytes (or of the peer's FIN) is reported once, to one worker, and the
//! poller keeps every registered connection in one of two states, under
//! one lock:
//! - **parked**: the worker that gets its event takes it and serves it;
//! - **busy** (a worker has it): an event only marks it *pending*; the
//!   worker serving it, about to park it, sees the mark and reads again
//!   instead, so bytes that arrived meanwhile are never left unseen.
//!
//! An edge is reported only for new bytes, so a connection is never
//! parked with bytes it could still read: not after a read that filled
//! the whole buffer (there may be more), and not once its peer's FIN was
//! reported (the end of stream is read, and the connection closed). The
//! socket leaves the epoll set when it is closed.
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
//! set if nobody has come back to it for 4 ms (a handler may block).
//! Measured under `wrk -t2 -c16` on one CPU: 0.40 `epoll_pwait` per
//! request, against 0.55 without the bench and 1 with one connection per
//! wait (nginx: 0.34).
//!
//! Idle deadlines are checked every [`SCAN_EVERY`] by whichever waiting
//! worker comes by first; the connections past theirs are closed.

use super::io::Link;
use super::io::coarse_ms;
use rustix::event::{EventfdFlags, epoll, eventfd};
use rustix::fd::OwnedFd;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
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
/// How long listed connections may wait for a busy worker before a
/// waiting one is woken for them anyway (a handler may block).
const LATER_AFTER: Duration = Duration::from_millis(2);
/// How recently, in coarse milliseconds, a worker must have come back
/// from the epoll set for the others to wait on the bench (longer: a busy
/// worker may be held by a handler, and a benched one takes over).
const RECENT_POLL_MS: u64 = 4;
/// The most ready connections one `epoll_wait` takes. With 16, under
/// `wrk -c256`, a wait found about 4 (each worker waits on its own, and a
/// nudged one takes a short batch), and waits plus nudges came to 0.37
/// calls per request against nginx's 0.12; with 64 they are 0.10.
const BATCH: usize = 64;
/// How often idle deadlines are checked: an idle connection is closed at
/// most this much after its deadline.
const SCAN_EVERY: Duration = Duration::from_millis(250);

/// Poller holds parked connections (`T`: their whole state) until they
/// are readable or their idle deadline passes.
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
    /// Keys of parked connections found ready by a batch and not taken
    /// yet (their entries stay in `parked` until then).
    ready: Mutex<VecDeque<u64>>,
    /// How many keys `ready` holds: looked at without the lock.
    ready_len: AtomicUsize,
    /// Set at shutdown: nothing stays parked any more.
    closing: AtomicBool,
    /// Set to release every waiting worker for good.
    stop: AtomicBool,
    /// When the next deadline scan is due, in milliseconds of the coarse
    /// monotonic clock.
    next_scan_ms: AtomicU64,
    /// How many workers wait in [`Poller::take_ready`] right now.
    idle_workers: AtomicUsize,
}

/// Slots maps connection keys to their state. The keys are the server's
/// own sequential ids, not chosen by a client, so a multiplicative hash
/// serves (SipHash's defence against chosen keys is not needed here).
type Slots<T> = HashMap<u64, Slot<T>, BuildHasherDefault<IdHasher>>;

/// IdHasher hashes one `u64` id by a multiplication (Fibonacci hashing),
/// which spreads sequential ids over the high bits the table uses.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Wake is how listed connections get a worker (see
/// [`Poller::wake_for_list`]).
#[derive(Debug, PartialEq, Eq)]
enum Wake {
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
fn wake_choice(workers: usize, idle: usize, cpus: usize, due: u64, now: u64) -> Wake {
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
fn to_bench(workers: usize, waiting: usize, cpus: usize, polled: u64, now: u64) -> bool {
    workers.saturating_sub(waiting) >= cpus && now.saturating_sub(polled) <= RECENT_POLL_MS
}

/// Slot is a registered connection's state in the poller.
enum Slot<T> {
    /// Waiting for its next request.
    Parked(Entry<T>),
    /// Served by a worker; `pending` once bytes arrived meanwhile.
    Busy { pending: bool, link: Arc<Link> },
}

/// Found is what an event found of its connection.
enum Found<T> {
    /// Parked: taken out, to be served.
    Taken(T),
    /// Parked, and left so, to be listed.
    Parked,
    /// Busy (now marked pending), or gone.
    Nothing,
}

/// Refused is why [`Poller::park`] gave a connection back.
pub(crate) enum Refused<T> {
    /// Close it: the server is shutting down, the kernel refused, or the
    /// peer closed its side.
    Close(T),
    /// Serve it again: bytes may be waiting.
    Ready(T),
}

/// Ready is what [`Poller::take_ready`] found.
pub(crate) enum Ready<T> {
    /// A parked connection is readable: serve it.
    Item(T),
    /// Nothing yet: these connections' idle deadlines passed; close them
    /// (the list is empty most of the time).
    Expired(Vec<T>),
    /// The poller is stopping: the worker should look for the end of
    /// the pool.
    Stopped,
}

struct Entry<T> {
    link: Arc<Link>,
    item: T,
    /// On the [`coarse_ms`] clock.
    deadline: u64,
}

impl<T: Send> Poller<T> {
    /// Creates the epoll instance and its wake-up eventfd, for a pool of
    /// `workers` on `cpus` CPUs.
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
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            next_scan_ms: AtomicU64::new(coarse_ms() + SCAN_EVERY.as_millis() as u64),
            idle_workers: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slots<T>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `item` (the state of the connection on `link`) under `key`
    /// until it is readable or `deadline` passes. Gives the item back to
    /// be served again when bytes may be waiting, or to be closed (see
    /// [`Refused`]).
    pub(crate) fn park(
        &self,
        key: u64,
        link: Arc<Link>,
        item: T,
        deadline: u64,
    ) -> Result<(), Refused<T>> {
        if link.may_have_more() {
            return Err(Refused::Ready(item));
        }
        // Registered once, at the first park; only then is the socket
        // needed after the entry takes the link.
        let first = (!link.registered.swap(true, Ordering::Relaxed)).then(|| Arc::clone(&link));
        {
            let mut parked = self.lock();
            if self.closing.load(Ordering::SeqCst) {
                return Err(Refused::Close(item));
            }
            if let Some(Slot::Busy { pending, .. }) = parked.get_mut(&key) {
                if std::mem::take(pending) {
                    return Err(Refused::Ready(item));
                }
            }
            if link.peer_closed() {
                return Err(Refused::Close(item));
            }
            // The entry goes in before the socket is registered: a worker
            // woken by the socket at once finds it.
            parked.insert(
                key,
                Slot::Parked(Entry {
                    link,
                    item,
                    deadline,
                }),
            );
        }
        let Some(stream) = first else {
            return Ok(());
        };
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ET;
        let data = epoll::EventData::new_u64(key);
        if let Err(e) = epoll::add(&self.epoll, &stream.stream, data, flags) {
            log::warn!("cannot park a connection: {e}");
            // Still ours unless a shutdown took it meanwhile (and will
            // close it).
            if let Some(Slot::Parked(entry)) = self.lock().remove(&key) {
                return Err(Refused::Close(entry.item));
            }
        }
        Ok(())
    }

    /// Forgets the connection `key`, which is closing.
    pub(crate) fn forget(&self, key: u64) {
        let slot = self.lock().remove(&key);
        drop(slot);
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
                    let hup = flags.intersects(
                        epoll::EventFlags::RDHUP | epoll::EventFlags::HUP | epoll::EventFlags::ERR,
                    );
                    match self.on_event(key, hup, mine.is_none()) {
                        Found::Taken(item) => mine = Some(item),
                        Found::Parked => listed.push(key),
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

    /// Records an event of the connection `key` (`hup`: its peer closed
    /// or it failed), and takes it out if it is parked and `take` asks.
    fn on_event(&self, key: u64, hup: bool, take: bool) -> Found<T> {
        let mut parked = self.lock();
        let Some(slot) = parked.get_mut(&key) else {
            // Closed since the event fired.
            return Found::Nothing;
        };
        if hup {
            match slot {
                Slot::Parked(entry) => entry.link.mark_peer_closed(),
                Slot::Busy { link, .. } => link.mark_peer_closed(),
            }
        }
        match slot {
            Slot::Busy { pending, .. } => {
                *pending = true;
                Found::Nothing
            }
            Slot::Parked(_) if take => Self::take_slot(slot).map_or(Found::Nothing, Found::Taken),
            Slot::Parked(_) => Found::Parked,
        }
    }

    /// Takes a parked connection out of its slot, leaving it busy.
    fn take_slot(slot: &mut Slot<T>) -> Option<T> {
        let Slot::Parked(entry) = slot else {
            return None;
        };
        let link = Arc::clone(&entry.link);
        match std::mem::replace(
            slot,
            Slot::Busy {
                pending: false,
                link,
            },
        ) {
            Slot::Parked(entry) => Some(entry.item),
            Slot::Busy { .. } => None,
        }
    }

    /// Takes the connection `key` out if it is still parked.
    fn take(&self, key: u64) -> Option<T> {
        self.lock().get_mut(&key).and_then(Self::take_slot)
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
            if let Some(item) = self.take(key) {
                if more {
                    // This worker is busy from now on: the rest of the
                    // list needs someone else, now or later.
                    self.wake_for_list(counted);
                }
                return Some(item);
            }
        }
    }

    /// Takes out the connections whose idle deadline passed. One whose
    /// request has arrived is not idle: it is waiting for a worker (all
    /// are busy), and stays, to be taken in turn.
    fn take_expired(&self, now_ms: u64) -> Vec<T> {
        self.take_parked(|e| e.deadline <= now_ms && !e.link.has_bytes())
    }

    /// Takes out the parked connections `chosen` picks, out of the epoll
    /// set; busy ones stay (a shutdown refuses them when they come to
    /// park).
    fn take_parked(&self, chosen: impl Fn(&Entry<T>) -> bool) -> Vec<T> {
        let mut parked = self.lock();
        let keys: Vec<u64> = parked
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Parked(e) if chosen(e)))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| match parked.remove(&k)? {
                Slot::Parked(e) => {
                    let _ = epoll::delete(&self.epoll, &e.link.stream);
                    Some(e.item)
                }
                Slot::Busy { .. } => None,
            })
            .collect()
    }

    /// Reports whether any worker is waiting for a ready connection.
    pub(crate) fn has_idle_workers(&self) -> bool {
        self.idle_workers.load(Ordering::SeqCst) > 0
    }

    /// Stops parking and returns every parked connection, to be closed;
    /// later `park` calls give their item back.
    pub(crate) fn close_all(&self) -> Vec<T> {
        // Under the lock, so that a `park` either sees the flag or has
        // inserted its entry before the map is drained.
        let _parked = self.lock();
        self.closing.store(true, Ordering::SeqCst);
        drop(_parked);
        self.take_parked(|_| true)
    }

    /// Releases every worker waiting in [`Poller::take_ready`], now and
    /// later: the wake-up eventfd is written and never read, so it stays
    /// readable.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

/// Returns the monotonic clock in nanoseconds, to the nanosecond: when
/// the timer is due must not be judged by the coarse clock, which may lag
/// a tick behind an expiry that already happened.
fn precise_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::from(t.tv_nsec as u32)
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
