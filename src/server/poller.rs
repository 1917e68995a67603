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
//! Registration is one-shot and level-triggered: bytes that arrived
//! between the worker's last look and `epoll_ctl` are reported at the
//! next wait, so no request is ever missed, and each readiness goes to
//! exactly one worker. A socket stays in the epoll set for its whole life,
//! disarmed while a worker serves it, and is re-armed with
//! `epoll_ctl(MOD)` when it is parked again: one system call per park.
//! Closing the socket removes it from the set.
//!
//! Idle deadlines are checked every [`SCAN_EVERY`] by whichever waiting
//! worker comes by first; the connections past theirs are closed.

use super::io::Link;
use rustix::event::{EventfdFlags, epoll, eventfd};
use rustix::fd::OwnedFd;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The key of the poller's own wake-up eventfd.
const WAKE: u64 = u64::MAX;
/// How often idle deadlines are checked: an idle connection is closed at
/// most this much after its deadline.
const SCAN_EVERY: Duration = Duration::from_millis(250);

/// Poller holds parked connections (`T`: their whole state) until they
/// are readable or their idle deadline passes.
pub(crate) struct Poller<T> {
    epoll: OwnedFd,
    wake: OwnedFd,
    parked: Mutex<HashMap<u64, Entry<T>>>,
    /// Set at shutdown: nothing stays parked any more.
    closing: AtomicBool,
    /// Set to release every waiting worker for good.
    stop: AtomicBool,
    /// When the next deadline scan is due, in milliseconds since `start`.
    next_scan_ms: AtomicU64,
    /// How many workers wait in [`Poller::take_ready`] right now.
    idle_workers: AtomicUsize,
    start: Instant,
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
    deadline: Instant,
}

impl<T: Send> Poller<T> {
    /// Creates the epoll instance and its wake-up eventfd.
    pub(crate) fn new() -> io::Result<Poller<T>> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )?;
        Ok(Poller {
            epoll,
            wake,
            parked: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            next_scan_ms: AtomicU64::new(SCAN_EVERY.as_millis() as u64),
            idle_workers: AtomicUsize::new(0),
            start: Instant::now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry<T>>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `item` (the state of the connection on `link`) under `key`
    /// until it is readable or `deadline` passes. Gives the item back if it
    /// cannot be parked (shutting down, or the kernel refused): the caller
    /// then closes the connection.
    pub(crate) fn park(
        &self,
        key: u64,
        link: Arc<Link>,
        item: T,
        deadline: Instant,
    ) -> Result<(), T> {
        // The entry goes in first, then the socket is armed, outside the
        // lock: a worker woken by the socket at once finds the entry, and
        // does not wait for this one to let go of the map.
        let stream = Arc::clone(&link);
        {
            let mut parked = self.lock();
            if self.closing.load(Ordering::SeqCst) {
                return Err(item);
            }
            parked.insert(
                key,
                Entry {
                    link,
                    item,
                    deadline,
                },
            );
        }
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ONESHOT;
        let data = epoll::EventData::new_u64(key);
        let armed = if stream.registered.swap(true, Ordering::Relaxed) {
            epoll::modify(&self.epoll, &stream.stream, data, flags)
        } else {
            epoll::add(&self.epoll, &stream.stream, data, flags)
        };
        if let Err(e) = armed {
            log::warn!("cannot park a connection: {e}");
            // Still ours unless a shutdown took it meanwhile (and will
            // close it).
            if let Some(entry) = self.lock().remove(&key) {
                return Err(entry.item);
            }
        }
        Ok(())
    }

    /// Waits, at most until the next deadline scan is due, for a parked
    /// connection to become readable, and takes it out of the poller. Many
    /// workers wait here at once; each readable connection goes to one.
    pub(crate) fn take_ready(&self) -> Ready<T> {
        if self.stop.load(Ordering::SeqCst) {
            return Ready::Stopped;
        }
        let now_ms = self.start.elapsed().as_millis() as u64;
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
                return Ready::Expired(self.take_expired(Instant::now()));
            }
        }
        let wait = Duration::from_millis(due_ms.saturating_sub(now_ms).max(1));
        let timeout = rustix::event::Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos() as _,
        };
        let mut events: Vec<epoll::Event> = Vec::with_capacity(1);
        self.idle_workers.fetch_add(1, Ordering::SeqCst);
        let waited = epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events),
            Some(&timeout),
        );
        self.idle_workers.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                log::error!("epoll_wait failed: {e}");
                std::thread::sleep(SCAN_EVERY);
            }
        }
        let Some(key) = events.first().map(|ev| ev.data.u64()) else {
            return Ready::Expired(Vec::new());
        };
        if key == WAKE {
            // Left readable on purpose: it releases every waiter.
            return Ready::Stopped;
        }
        // One-shot: the socket is disarmed until parked again. A deadline
        // scan may have closed it since the event fired.
        match self.lock().remove(&key) {
            Some(entry) => Ready::Item(entry.item),
            None => Ready::Expired(Vec::new()),
        }
    }

    /// Takes out the connections whose idle deadline passed. One whose
    /// request has arrived is not idle: it is waiting for a worker (all
    /// are busy), and stays, to be taken in turn.
    fn take_expired(&self, now: Instant) -> Vec<T> {
        let mut parked = self.lock();
        let keys: Vec<u64> = parked
            .iter()
            .filter(|(_, e)| e.deadline <= now && !e.link.has_bytes())
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| parked.remove(&k))
            .map(|e| {
                let _ = epoll::delete(&self.epoll, &e.link.stream);
                e.item
            })
            .collect()
    }

    fn take_all(&self) -> Vec<T> {
        let mut parked = self.lock();
        parked
            .drain()
            .map(|(_, e)| {
                let _ = epoll::delete(&self.epoll, &e.link.stream);
                e.item
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
        self.take_all()
    }

    /// Releases every worker waiting in [`Poller::take_ready`], now and
    /// later: the wake-up eventfd is written and never read, so it stays
    /// readable.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}
