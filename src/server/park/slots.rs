//! The parked-connection state machine: what each registered connection
//! is in the parker, and what a park, an event or a deadline does to it.
//!
//! Pure: no socket, no clock, no lock. The epoll parker holds a [`Slots`]
//! under its lock and does the I/O around it. Every connection in the
//! epoll set is in one of two states:
//! - **parked**, waiting for its peer to send (`Read`) or to read
//!   (`Write`) until a deadline: the worker that gets a matching event
//!   takes it and serves it;
//! - **busy** (a worker has it): an event only marks it *pending*; the
//!   worker serving it, about to park it, sees the mark and tries again
//!   instead, so that nothing an edge-triggered event reported is lost.
//!
//! A connection parked for `Write` that hears its peer send notes it
//! (`seen`), and is pending once taken; one parked for `Read` ignores
//! mere writability.

use super::wait::{Interest, Wait};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Readiness is what one event reported of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Readiness {
    /// Bytes, or the peer's end of stream, can be read.
    pub(crate) read: bool,
    /// The socket takes more output.
    pub(crate) write: bool,
    /// The connection failed or was hung up both ways.
    pub(crate) broken: bool,
    /// The peer closed its side (or the connection failed): after what
    /// is buffered, only the end of stream is left to read.
    pub(crate) hup: bool,
}

/// Slot is a registered connection's state.
#[derive(Debug)]
enum Slot<T> {
    Parked {
        item: T,
        wait: Wait,
        seen: bool,
        hup: bool,
    },
    Busy {
        pending: bool,
        /// The peer closed its side while it was busy: its end of stream
        /// was reported then, and will not be again.
        hup: bool,
    },
}

/// Parked is the answer to a park that was refused.
#[derive(Debug)]
pub(crate) enum Refused<T> {
    /// Serve it again: what it waits for may have happened already.
    Ready(T),
    /// Close it: the server is shutting down, or it cannot be parked.
    Close(T),
    /// Serve it again, knowing that its peer closed its side: the end
    /// of stream was reported while it was served, and no event will
    /// report it again (a read that gets the last request does not get
    /// the end of stream with it).
    PeerClosed(T),
}

/// Found is what an event did to its connection.
#[derive(Debug)]
pub(crate) enum Found<T> {
    /// It was parked, and is taken out to be served; true if its peer
    /// closed its side.
    Taken(T, bool),
    /// It was parked and matches, but the caller takes only one: left
    /// parked, to be listed.
    Ready,
    /// Nothing to do: busy (now pending), not matching, or gone.
    Nothing,
}

/// Slots maps connection keys to their state.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    map: HashMap<u64, Slot<T>, BuildHasherDefault<IdHasher>>,
    closing: bool,
}

impl<T> Default for Slots<T> {
    fn default() -> Slots<T> {
        Slots {
            map: HashMap::default(),
            closing: false,
        }
    }
}

impl<T> Slots<T> {
    /// Parks `item` under `key` until `wait` is met or its deadline
    /// passes; `more` says the last read filled its buffer (bytes may
    /// wait that no edge will report).
    pub(crate) fn park(
        &mut self,
        key: u64,
        item: T,
        wait: Wait,
        more: bool,
    ) -> Result<(), Refused<T>> {
        if self.closing && wait.idle {
            return Err(Refused::Close(item));
        }
        if more && wait.on == Interest::Read {
            return Err(Refused::Ready(item));
        }
        if let Some(&Slot::Busy { pending: true, hup }) = self.map.get(&key) {
            self.map.insert(
                key,
                Slot::Busy {
                    pending: false,
                    hup: false,
                },
            );
            return Err(if hup {
                Refused::PeerClosed(item)
            } else {
                Refused::Ready(item)
            });
        }
        self.insert(key, item, wait);
        Ok(())
    }

    /// Parks `item` under `key` whatever it was, ready to be listed and
    /// taken (a connection requeued by the worker that had it).
    pub(crate) fn insert(&mut self, key: u64, item: T, wait: Wait) {
        self.map.insert(
            key,
            Slot::Parked {
                item,
                wait,
                seen: false,
                hup: false,
            },
        );
    }

    /// Records an event of `key`; takes the connection out if it waits
    /// for what happened and `take` asks.
    pub(crate) fn event(&mut self, key: u64, ready: Readiness, take: bool) -> Found<T> {
        let Some(slot) = self.map.get_mut(&key) else {
            // Closed since the event fired.
            return Found::Nothing;
        };
        let matches = match slot {
            Slot::Busy { pending, hup } => {
                *pending = true;
                *hup |= ready.hup;
                return Found::Nothing;
            }
            Slot::Parked {
                wait, seen, hup, ..
            } => match wait.on {
                Interest::Read => {
                    *hup |= ready.hup;
                    ready.read || ready.broken
                }
                Interest::Write => {
                    *seen |= ready.read;
                    *hup |= ready.hup;
                    ready.write || ready.broken
                }
            },
        };
        if !matches {
            Found::Nothing
        } else if take {
            take_slot(slot).map_or(Found::Nothing, |(item, hup)| Found::Taken(item, hup))
        } else {
            Found::Ready
        }
    }

    /// Wakes `key` for a reason of its own (a WebSocket session that was
    /// sent something from another thread): true if it is parked, and so
    /// should be listed to be taken; a busy one is marked pending, so its
    /// next park gives it back.
    pub(crate) fn notify(&mut self, key: u64) -> bool {
        match self.map.get_mut(&key) {
            Some(Slot::Parked { .. }) => true,
            Some(Slot::Busy { pending, .. }) => {
                *pending = true;
                false
            }
            None => false,
        }
    }

    /// Takes `key` out if it is parked, leaving it busy (pending if it
    /// heard its peer while it waited to write); true if an event said
    /// its peer closed its side.
    pub(crate) fn take(&mut self, key: u64) -> Option<(T, bool)> {
        take_slot(self.map.get_mut(&key)?)
    }

    /// Forgets `key`, which is closing.
    pub(crate) fn forget(&mut self, key: u64) -> bool {
        self.map.remove(&key).is_some()
    }

    /// Takes out the parked connections `chosen` picks (busy ones stay).
    pub(crate) fn take_parked(&mut self, chosen: impl Fn(&T, &Wait) -> bool) -> Vec<T> {
        let keys: Vec<u64> = self
            .map
            .iter()
            .filter(
                |(_, slot)| matches!(slot, Slot::Parked { item, wait, .. } if chosen(item, wait)),
            )
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| match self.map.remove(&k)? {
                Slot::Parked { item, .. } => Some(item),
                Slot::Busy { .. } => None,
            })
            .collect()
    }

    /// Takes out the connections whose deadline is at or before `now`
    /// (and that `chosen` agrees to), leaving them busy: one that goes on
    /// (a WebSocket session whose timer was due) must not miss an event
    /// that comes while it is served.
    pub(crate) fn take_expired(&mut self, now: u64, chosen: impl Fn(&T, &Wait) -> bool) -> Vec<T> {
        let keys: Vec<u64> = self
            .map
            .iter()
            .filter(|(_, slot)| {
                matches!(slot, Slot::Parked { item, wait, .. }
                    if wait.deadline <= now && chosen(item, wait))
            })
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| Some(take_slot(self.map.get_mut(&k)?)?.0))
            .collect()
    }

    /// Stops parking idle connections and takes out those parked: a
    /// graceful shutdown closes them. Connections in the middle of a
    /// request stay, to finish.
    pub(crate) fn close_idle(&mut self) -> Vec<T> {
        self.closing = true;
        self.take_parked(|_, wait| wait.idle)
    }

    /// Counts the parked connections.
    pub(crate) fn parked(&self) -> usize {
        self.map
            .values()
            .filter(|slot| matches!(slot, Slot::Parked { .. }))
            .count()
    }

    /// Returns how many connections are registered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Takes a parked connection out of its slot, leaving it busy (pending
/// if it heard its peer while it waited to write); true if its peer
/// closed its side.
fn take_slot<T>(slot: &mut Slot<T>) -> Option<(T, bool)> {
    let Slot::Parked { seen, .. } = slot else {
        return None;
    };
    let pending = *seen;
    match std::mem::replace(
        slot,
        Slot::Busy {
            pending,
            hup: false,
        },
    ) {
        Slot::Parked { item, hup, .. } => Some((item, hup)),
        Slot::Busy { .. } => None,
    }
}

/// IdHasher hashes one `u64` id by a multiplication (Fibonacci hashing),
/// which spreads sequential ids over the high bits the table uses. The
/// keys are the server's own sequential ids, not chosen by a client, so
/// SipHash's defence against chosen keys is not needed.
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

#[cfg(test)]
mod tests {
    use super::*;

    const fn ready(read: bool, write: bool, broken: bool, hup: bool) -> Readiness {
        Readiness {
            read,
            write,
            broken,
            hup,
        }
    }
    const R: Readiness = ready(true, false, false, false);
    const W: Readiness = ready(false, true, false, false);
    const RW: Readiness = ready(true, true, false, false);
    const HUP: Readiness = ready(false, false, true, true);
    const FIN: Readiness = ready(true, false, false, true);

    fn wait(on: Interest, idle: bool) -> Wait {
        Wait {
            on,
            deadline: 100,
            idle,
        }
    }

    /// What an event found, as a word.
    fn found(f: Found<&str>) -> &'static str {
        match f {
            Found::Taken(..) => "taken",
            Found::Ready => "ready",
            Found::Nothing => "nothing",
        }
    }

    #[test]
    fn events_take_a_parked_connection_only_for_what_it_waits_for() {
        // (parked for, event, take?) -> found
        let table = [
            (Interest::Read, R, true, "taken"),
            (Interest::Read, R, false, "ready"),
            (Interest::Read, RW, true, "taken"),
            (Interest::Read, W, true, "nothing"),
            (Interest::Read, HUP, true, "taken"),
            (Interest::Write, W, true, "taken"),
            (Interest::Write, RW, true, "taken"),
            (Interest::Write, R, true, "nothing"),
            (Interest::Write, HUP, true, "taken"),
            (Interest::Write, W, false, "ready"),
        ];
        for (on, ev, take, want) in table {
            let mut slots = Slots::default();
            slots.park(1, "c", wait(on, false), false).unwrap();
            let got = found(slots.event(1, ev, take));
            assert_eq!(got, want, "parked for {on:?}, event {ev:?}, take {take}");
            // Taken: busy; otherwise still parked and takeable.
            assert_eq!(slots.take(1).is_some(), got != "taken", "{on:?} {ev:?}");
        }
    }

    #[test]
    fn an_event_while_busy_makes_the_next_park_give_the_connection_back() {
        for ev in [R, W, RW, HUP] {
            let mut slots = Slots::default();
            slots
                .park(1, "c", wait(Interest::Read, true), false)
                .unwrap();
            assert!(matches!(slots.event(1, R, true), Found::Taken("c", false)));
            assert!(matches!(slots.event(1, ev, true), Found::Nothing), "{ev:?}");
            // An end of stream heard meanwhile is told with it.
            let refused = slots.park(1, "c", wait(Interest::Read, true), false);
            if ev.hup {
                assert!(matches!(refused, Err(Refused::PeerClosed("c"))), "{ev:?}");
            } else {
                assert!(matches!(refused, Err(Refused::Ready("c"))), "{ev:?}");
            }
            // Once: the next park parks.
            assert!(
                slots
                    .park(1, "c", wait(Interest::Read, true), false)
                    .is_ok()
            );
        }
    }

    #[test]
    fn an_end_of_stream_heard_while_busy_is_told_at_the_next_park() {
        // The request and the peer's FIN arrive while the connection is
        // served: the read that gets the request does not get the end of
        // stream, and no event will report it again.
        let mut slots = Slots::default();
        slots
            .park(1, "c", wait(Interest::Read, true), false)
            .unwrap();
        assert!(matches!(slots.event(1, R, true), Found::Taken("c", false)));
        assert!(matches!(slots.event(1, R, true), Found::Nothing));
        assert!(matches!(slots.event(1, FIN, true), Found::Nothing));
        assert!(matches!(
            slots.park(1, "c", wait(Interest::Read, true), false),
            Err(Refused::PeerClosed("c"))
        ));
        // Told once.
        assert!(
            slots
                .park(1, "c", wait(Interest::Read, true), false)
                .is_ok()
        );
    }

    #[test]
    fn a_write_waiter_that_heard_its_peer_is_pending_once_taken() {
        let mut slots = Slots::default();
        slots
            .park(1, "c", wait(Interest::Write, false), false)
            .unwrap();
        assert!(matches!(slots.event(1, R, true), Found::Nothing));
        assert!(matches!(slots.event(1, W, true), Found::Taken("c", false)));
        assert!(matches!(
            slots.park(1, "c", wait(Interest::Read, false), false),
            Err(Refused::Ready("c"))
        ));
    }

    #[test]
    fn a_notify_lists_a_parked_connection_and_marks_a_busy_one_pending() {
        let mut slots = Slots::default();
        assert!(!slots.notify(1), "gone");
        slots
            .park(1, "c", wait(Interest::Write, false), false)
            .unwrap();
        assert!(slots.notify(1), "parked, whatever it waits for");
        assert_eq!(slots.take(1), Some(("c", false)));
        assert!(!slots.notify(1), "busy");
        assert!(matches!(
            slots.park(1, "c", wait(Interest::Read, false), false),
            Err(Refused::Ready("c"))
        ));
    }

    #[test]
    fn a_taken_connection_tells_whether_its_peer_closed() {
        let mut slots = Slots::default();
        slots
            .park(1, "c", wait(Interest::Read, true), false)
            .unwrap();
        assert!(matches!(slots.event(1, FIN, true), Found::Taken("c", true)));
        // Heard while listed: told when taken from the list.
        slots
            .park(1, "c", wait(Interest::Read, true), false)
            .unwrap();
        assert!(matches!(slots.event(1, FIN, false), Found::Ready));
        assert_eq!(slots.take(1), Some(("c", true)));
    }

    #[test]
    fn parks_are_refused_when_bytes_may_wait_or_idle_ones_at_shutdown() {
        // (on, idle, more bytes?, closing?) -> refused as
        let table = [
            (Interest::Read, true, false, false, "parked"),
            (Interest::Read, true, true, false, "ready"),
            (Interest::Write, false, true, false, "parked"),
            (Interest::Read, true, false, true, "close"),
            (Interest::Read, false, false, true, "parked"),
            (Interest::Write, false, false, true, "parked"),
        ];
        for (on, idle, more, closing, want) in table {
            let mut slots = Slots::default();
            if closing {
                slots.close_idle();
            }
            let got = match slots.park(1, "c", wait(on, idle), more) {
                Ok(()) => "parked",
                Err(Refused::Ready(_) | Refused::PeerClosed(_)) => "ready",
                Err(Refused::Close(_)) => "close",
            };
            assert_eq!(
                got, want,
                "{on:?} idle {idle} more {more} closing {closing}"
            );
        }
    }

    #[test]
    fn deadlines_and_shutdowns_take_out_only_parked_connections() {
        let mut slots = Slots::default();
        let at = |deadline, idle| Wait {
            on: Interest::Read,
            deadline,
            idle,
        };
        slots.park(1, "idle-due", at(10, true), false).unwrap();
        slots.park(2, "idle-later", at(50, true), false).unwrap();
        slots.park(3, "head-due", at(10, false), false).unwrap();
        slots.park(4, "busy-due", at(10, true), false).unwrap();
        assert!(slots.take(4).is_some());
        let mut due = slots.take_expired(10, |_, _| true);
        due.sort();
        assert_eq!(due, ["head-due", "idle-due"]);
        assert_eq!(slots.take_expired(10, |_, _| true), Vec::<&str>::new());
        // Taken out busy: an event meanwhile is not lost.
        assert!(matches!(slots.event(3, R, true), Found::Nothing));
        assert!(matches!(
            slots.park(3, "head-due", at(50, false), false),
            Err(Refused::Ready("head-due"))
        ));
        assert!(slots.forget(1) && slots.forget(3));
        slots.park(5, "mid-request", at(99, false), false).unwrap();
        assert_eq!(slots.close_idle(), ["idle-later"]);
        assert_eq!(slots.len(), 2, "the busy one and the one mid-request");
        assert!(slots.forget(4));
        assert!(!slots.forget(4));
        assert!(matches!(slots.event(4, R, true), Found::Nothing), "gone");
    }

    #[test]
    fn parked_counts_the_parked_slots_only() {
        let mut slots = Slots::default();
        assert_eq!(slots.parked(), 0);
        for key in 1..=3 {
            slots
                .park(key, "c", wait(Interest::Read, true), false)
                .unwrap();
        }
        assert_eq!(slots.parked(), 3);
        assert!(slots.take(2).is_some());
        assert_eq!(slots.parked(), 2, "taken: busy");
        // Found ready by a batch and listed: parked until a worker takes it.
        assert!(matches!(slots.event(1, R, false), Found::Ready));
        assert_eq!(slots.parked(), 2);
        assert!(slots.forget(3));
        assert_eq!(slots.parked(), 1);
    }
}
