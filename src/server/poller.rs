//! Parking idle connections: one thread waits for readability on every
//! idle keep-alive connection at once (epoll), so an idle connection
//! costs a few hundred bytes instead of a worker thread.
//!
//! A worker serves a connection only while it has a request to work on.
//! When the connection goes idle (nothing buffered, nothing to read), the
//! worker parks it here and takes other work. When the connection's next
//! request arrives, the poller hands it back to the pool; when its idle
//! deadline passes first, the poller closes it. This is how nginx and Go
//! make idle connections cheap, while handlers stay plain blocking code.
//!
//! Linux only: epoll through `rustix`, whose wrappers are safe, so the
//! crate keeps `#![forbid(unsafe_code)]` (the `polling` crate's `add` is an
//! `unsafe fn`). Elsewhere the server keeps a worker blocked on an idle
//! connection, with the idle timeout bounding it.
//!
//! Registration is one-shot and level-triggered: bytes that arrived
//! between the worker's last look and `epoll_ctl` are reported at the
//! next wait, so no request is ever missed. A socket stays in the epoll
//! set for its whole life, disarmed while a worker serves it (one-shot),
//! and is re-armed with `epoll_ctl(MOD)` when it is parked again: one
//! system call per park, and none when the poller hands it back. Closing
//! the socket removes it from the set.

use super::io::Link;
use rustix::event::{EventfdFlags, epoll, eventfd};
use rustix::fd::OwnedFd;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The key of the poller's own wake-up eventfd.
const WAKE: u64 = u64::MAX;
/// How often idle deadlines are checked: an idle connection is closed at
/// most this much after its deadline.
const SCAN_EVERY: Duration = Duration::from_millis(250);
/// How many readiness events one wait returns at most.
const EVENTS: usize = 1024;

/// Poller holds parked connections (`T`: their whole state) until they
/// are readable or their idle deadline passes.
pub(crate) struct Poller<T> {
    epoll: OwnedFd,
    wake: OwnedFd,
    parked: Mutex<HashMap<u64, Entry<T>>>,
    /// Set at shutdown: nothing stays parked any more.
    closing: AtomicBool,
    /// Set to end `run`.
    stop: AtomicBool,
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
        let mut parked = self.lock();
        if self.closing.load(Ordering::SeqCst) {
            return Err(item);
        }
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ONESHOT;
        let data = epoll::EventData::new_u64(key);
        let armed = if link.registered.load(Ordering::Relaxed) {
            epoll::modify(&self.epoll, &link.stream, data, flags)
        } else {
            epoll::add(&self.epoll, &link.stream, data, flags)
        };
        if let Err(e) = armed {
            log::warn!("cannot park a connection: {e}");
            return Err(item);
        }
        link.registered.store(true, Ordering::Relaxed);
        parked.insert(
            key,
            Entry {
                link,
                item,
                deadline,
            },
        );
        Ok(())
    }

    /// Waits for parked connections to become readable and hands each to
    /// `ready`; hands those whose deadline passed (and, once closing, all of
    /// them) to `expired`. Returns after [`Poller::stop`].
    pub(crate) fn run(&self, mut ready: impl FnMut(T), mut expired: impl FnMut(T)) {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
        let mut next_scan = Instant::now() + SCAN_EVERY;
        while !self.stop.load(Ordering::SeqCst) {
            let wait = next_scan.saturating_duration_since(Instant::now());
            let timeout = rustix::event::Timespec {
                tv_sec: wait.as_secs() as _,
                tv_nsec: wait.subsec_nanos() as _,
            };
            events.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                Some(&timeout),
            ) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    log::error!("epoll_wait failed: {e}");
                    std::thread::sleep(SCAN_EVERY);
                }
            }
            for ev in &events {
                let key = ev.data.u64();
                if key == WAKE {
                    let mut buf = [0u8; 8];
                    let _ = rustix::io::read(&self.wake, &mut buf);
                    continue;
                }
                // One-shot: the socket is disarmed until parked again.
                let entry = self.lock().remove(&key);
                if let Some(entry) = entry {
                    ready(entry.item);
                }
            }
            let now = Instant::now();
            if self.closing.load(Ordering::SeqCst) {
                for item in self.take_all() {
                    expired(item);
                }
            } else if now >= next_scan {
                for item in self.take_expired(now) {
                    expired(item);
                }
                next_scan = now + SCAN_EVERY;
            }
        }
    }

    fn take_expired(&self, now: Instant) -> Vec<T> {
        let mut parked = self.lock();
        let keys: Vec<u64> = parked
            .iter()
            .filter(|(_, e)| e.deadline <= now)
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

    fn wake(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// Stops parking: every parked connection is handed to `expired`, and
    /// later `park` calls give their item back.
    pub(crate) fn close_all(&self) {
        // Under the lock, so that a `park` either sees the flag or has
        // inserted its entry before `run` drains the map.
        let _parked = self.lock();
        self.closing.store(true, Ordering::SeqCst);
        drop(_parked);
        self.wake();
    }

    /// Ends [`Poller::run`].
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }
}
