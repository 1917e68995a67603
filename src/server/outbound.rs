//! Output waiting for the socket: answers held back for a pipeline, and
//! whatever a non-blocking socket did not take at once.
//!
//! The queue keeps bytes, shared buffers and file ranges in order. A
//! small response is copied in; a large in-memory body is kept by
//! reference (`Bytes`), and a file by its descriptor and offset (the
//! ranges of a segmented body share one descriptor), so a slow reader of
//! a large answer costs a few hundred bytes of memory, not the answer.
//! While output waits, the peer must keep reading at a minimum rate
//! ([`Outbound::deadline`]), or the connection is closed.

use super::clock::coarse_ms;
use super::socket::Socket;
use super::stats::{self, timed_out};
use crate::error::{Error, Phase, Result};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

#[cfg(feature = "tls")]
use super::tls::TlsStream;

/// The most response bytes held back for pipelined requests before they
/// are sent anyway.
pub(crate) const MAX_HELD_BYTES: usize = 64 * 1024;
/// The size of one piece of a file copied through user space (where
/// `sendfile(2)` is not available).
const FILE_PIECE: usize = 64 * 1024;
/// At most this many pieces go to one `writev`.
const MAX_SLICES: usize = 8;

/// Sink is where output goes: the socket, or the TLS session over it,
/// which encrypts what it takes and sends files through user space (the
/// kernel cannot encrypt what `sendfile(2)` copies).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sink<'a> {
    Plain(&'a Socket),
    #[cfg(feature = "tls")]
    Tls(&'a Socket, &'a TlsStream),
}

impl Sink<'_> {
    /// Writes `slices` once: one piece by `send` (a shorter path through
    /// the kernel than `writev`), more by `writev`; over TLS, into the
    /// session, which encrypts them and sends what the socket takes.
    pub(crate) fn write_slices(self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sink::Plain(stream) => {
                let mut s = stream;
                match slices {
                    [] => Ok(0),
                    [one] => s.write(one),
                    _ => s.write_vectored(slices),
                }
            }
            #[cfg(feature = "tls")]
            Sink::Tls(stream, tls) => tls.write_vectored(&mut &*stream, slices),
        }
    }

    /// Writes `piece` once, telling the kernel more follows at once
    /// (`MSG_MORE`), so that it shares a packet with what comes next.
    // Without the `tls` feature a sink is always plain.
    #[allow(irrefutable_let_patterns)]
    fn write_more(self, piece: &[u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Sink::Plain(stream) = self {
            use rustix::net::{SendFlags, send};
            return send(stream, piece, SendFlags::MORE | SendFlags::NOSIGNAL)
                .map_err(io::Error::from);
        }
        self.write_slices(&[IoSlice::new(piece)])
    }

    /// Sends what the sink itself holds (ciphertext waiting for the
    /// socket).
    ///
    /// # Errors
    /// `WouldBlock` while some still waits; as the socket's write.
    pub(crate) fn flush(self) -> io::Result<()> {
        match self {
            Sink::Plain(_) => Ok(()),
            #[cfg(feature = "tls")]
            Sink::Tls(stream, tls) => tls.flush(&mut &*stream),
        }
    }
}

/// Part is one piece of output handed to the link: borrowed bytes, copied
/// only if they must wait, or a shared buffer, kept by reference.
#[derive(Debug)]
pub(crate) enum Part<'a> {
    Copy(&'a [u8]),
    Shared(&'a Bytes),
}

impl Part<'_> {
    pub(crate) fn len(&self) -> usize {
        self.bytes().len()
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Part::Copy(b) => b,
            Part::Shared(b) => b,
        }
    }
}

/// Piece is one queued piece of output.
#[derive(Debug)]
enum Piece {
    /// Copied bytes, sent from `.1` on.
    Owned(Vec<u8>, usize),
    Shared(Bytes),
    File(FileRange),
}

/// FileRange is what is left to send of a file body.
#[derive(Debug)]
pub(crate) struct FileRange {
    file: Source,
    offset: u64,
    left: u64,
    /// Whether `sendfile(2)` refused this file (or is not available): its
    /// bytes go through user space.
    copy: bool,
}

/// Source is the file a range is sent from: its own (a file body), or
/// one shared by the ranges of a segmented body (a `multipart/byteranges`
/// answer), which then holds one descriptor however many parts it has.
#[derive(Debug)]
enum Source {
    Own(File),
    Shared(Arc<File>),
}

impl FileRange {
    /// Makes the range of `len` bytes of `file` from `offset`.
    pub(crate) fn new(file: File, offset: u64, len: u64) -> FileRange {
        FileRange::of(Source::Own(file), offset, len)
    }

    /// Makes the range of `len` bytes from `offset` of a file that other
    /// ranges share.
    pub(crate) fn shared(file: &Arc<File>, offset: u64, len: u64) -> FileRange {
        FileRange::of(Source::Shared(Arc::clone(file)), offset, len)
    }

    fn of(file: Source, offset: u64, len: u64) -> FileRange {
        FileRange {
            file,
            offset,
            left: len,
            copy: !cfg!(target_os = "linux"),
        }
    }

    fn file(&self) -> &File {
        match &self.file {
            Source::Own(f) => f,
            Source::Shared(f) => f,
        }
    }

    /// Reports whether every byte has been sent.
    pub(crate) fn is_done(&self) -> bool {
        self.left == 0
    }
}

/// Outbound is the queue of one connection's waiting output, with what a
/// minimum-rate deadline needs.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    queue: VecDeque<Piece>,
    /// When output began to wait, on the coarse clock (0: it does not).
    since: u64,
    /// Bytes sent since then.
    sent: u64,
    /// When the socket last took any.
    progress: u64,
    /// Whether the socket refused the rest (the peer is not reading fast
    /// enough), as opposed to answers held back for a pipeline.
    blocked: bool,
}

impl Outbound {
    fn queued_bytes(&self) -> usize {
        self.queue
            .iter()
            .map(|p| match p {
                Piece::Owned(v, at) => v.len() - at,
                Piece::Shared(b) => b.len(),
                Piece::File(f) => usize::try_from(f.left).unwrap_or(usize::MAX),
            })
            .sum()
    }

    fn start_waiting(&mut self) {
        if self.since == 0 {
            let now = coarse_ms().max(1);
            (self.since, self.sent, self.progress) = (now, 0, now);
        }
    }

    /// Holds `parts` back if they fit beside what is held (and nothing but
    /// copied bytes waits); reports whether they did.
    pub(crate) fn hold(&mut self, parts: &[Part<'_>]) -> bool {
        let len: usize = parts.iter().map(Part::len).sum();
        // Held answers are one buffer at the back: the common case looks
        // at it alone.
        let held = match (self.queue.len(), self.queue.back()) {
            (0, _) => 0,
            (1, Some(Piece::Owned(v, at))) => v.len() - at,
            _ if self.queue.iter().all(|p| matches!(p, Piece::Owned(..))) => self.queued_bytes(),
            _ => return false,
        };
        if held + len > MAX_HELD_BYTES {
            return false;
        }
        match self.queue.back_mut() {
            Some(Piece::Owned(v, _)) if v.len() + len <= MAX_HELD_BYTES => {
                v.reserve(len);
                for p in parts {
                    v.extend_from_slice(p.bytes());
                }
            }
            _ if len > 0 => {
                let mut v = Vec::with_capacity(len);
                for p in parts {
                    v.extend_from_slice(p.bytes());
                }
                self.queue.push_back(Piece::Owned(v, 0));
            }
            _ => {}
        }
        true
    }

    fn append_copy(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        if let Some(Piece::Owned(v, _)) = self.queue.back_mut() {
            if v.len() + b.len() <= MAX_HELD_BYTES {
                v.extend_from_slice(b);
                return;
            }
        }
        self.queue.push_back(Piece::Owned(b.to_vec(), 0));
    }

    /// Records that the socket refused the rest of a write.
    pub(crate) fn mark_blocked(&mut self) {
        self.blocked = true;
    }

    /// Reports whether the socket refused what waits.
    pub(crate) fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Queues what is left of `parts` after the first `sent` bytes: copied
    /// parts are copied, shared ones kept by reference.
    ///
    /// The `sent` bytes, which the socket took just now, count towards
    /// the minimum rate: a peer must first read what fills the socket's
    /// buffers (megabytes, on a fast link) before the queue moves, and a
    /// peer that reads a large answer at a fair rate must not be cut off
    /// for the time that takes.
    pub(crate) fn queue_rest(&mut self, parts: &[Part<'_>], mut sent: usize) {
        self.start_waiting();
        self.sent = self.sent.saturating_add(sent as u64);
        for p in parts {
            let len = p.len();
            if sent >= len {
                sent -= len;
                continue;
            }
            match p {
                Part::Copy(b) => self.append_copy(&b[sent..]),
                Part::Shared(b) => self.queue.push_back(Piece::Shared(b.slice(sent..))),
            }
            sent = 0;
        }
    }

    /// Queues what is left of a file range.
    pub(crate) fn queue_file(&mut self, range: FileRange) {
        self.start_waiting();
        if !range.is_done() {
            self.queue.push_back(Piece::File(range));
        }
    }

    /// Returns when the waiting output must have gone, on the coarse clock:
    /// the peer must take some of it every `stall_ms`, and on average
    /// `min_rate` bytes a second once `grace_ms` have passed since it began
    /// to wait (ASP.NET Kestrel's `MinResponseDataRate`: 240 bytes/s after
    /// a 5 s grace). A reader that starves the server is closed.
    pub(crate) fn deadline(&self, stall_ms: u64, grace_ms: u64, min_rate: u64) -> u64 {
        rate_deadline(
            self.since,
            self.sent,
            self.progress,
            stall_ms,
            grace_ms,
            min_rate,
        )
    }

    /// Sends the queue in order, as far as the socket takes it; true when
    /// it is empty.
    ///
    /// # Errors
    /// [`Error::Timeout`]`(Write)` when a blocking socket made no progress
    /// within its send timeout; [`Error::Io`] when the peer is gone or a
    /// file shrank.
    pub(crate) fn push(&mut self, sink: Sink<'_>, nonblocking: bool) -> Result<bool> {
        loop {
            let sent = match self.queue.front_mut() {
                None => match sink.flush() {
                    Ok(()) => {
                        self.since = 0;
                        self.blocked = false;
                        return Ok(true);
                    }
                    Err(e) => Err(e),
                },
                Some(Piece::File(f)) => send_file_piece(sink, f, nonblocking),
                Some(_) => self.send_bytes(sink),
            };
            match sent {
                Ok(n) => {
                    stats::sent(n);
                    if n > 0 {
                        self.sent += n as u64;
                        self.progress = coarse_ms().max(1);
                    }
                    self.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => {
                    // Held answers begin to count against the rate now.
                    self.start_waiting();
                    self.blocked = true;
                    return Ok(false);
                }
                Err(e) => return Err(write_error(e)),
            }
        }
    }

    /// Sends the leading byte pieces in one `writev` (or `send`): with
    /// `MSG_MORE` when a file follows, so its head shares a packet with
    /// the start of the file (over TLS: through the session, which
    /// encrypts them, without `MSG_MORE`).
    fn send_bytes(&self, sink: Sink<'_>) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut n = 0;
        let mut file_follows = false;
        for p in &self.queue {
            let b: &[u8] = match p {
                Piece::Owned(v, at) => &v[*at..],
                Piece::Shared(b) => b,
                Piece::File(_) => {
                    file_follows = true;
                    break;
                }
            };
            if n == MAX_SLICES {
                break;
            }
            slices[n] = IoSlice::new(b);
            n += 1;
        }
        if file_follows && n == 1 {
            return sink.write_more(&slices[0]);
        }
        sink.write_slices(&slices[..n])
    }

    /// Drops `n` sent bytes from the front of the queue. A file range
    /// counts its own progress: when it is at the front, `n` were its
    /// bytes, not those of the pieces behind it (the part heads of a
    /// segmented body), and a byte send stops before a file range.
    fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.queue.front_mut() {
            match front {
                Piece::Owned(v, at) => {
                    let left = v.len() - *at;
                    if n < left {
                        *at += n;
                        return;
                    }
                    n -= left;
                }
                Piece::Shared(b) => {
                    if n < b.len() {
                        *b = b.slice(n..);
                        return;
                    }
                    n -= b.len();
                }
                Piece::File(f) => {
                    if f.left == 0 {
                        self.queue.pop_front();
                    }
                    return;
                }
            }
            self.queue.pop_front();
        }
    }
}

/// Returns the deadline of output waiting since `since` with `sent` bytes
/// taken since then and the last taken at `progress` (see
/// [`Outbound::deadline`]); `u64::MAX` when nothing waits.
fn rate_deadline(
    since: u64,
    sent: u64,
    progress: u64,
    stall_ms: u64,
    grace_ms: u64,
    min_rate: u64,
) -> u64 {
    if since == 0 {
        return u64::MAX;
    }
    let stall = progress.saturating_add(stall_ms);
    if min_rate == 0 {
        return stall;
    }
    let earned = sent.saturating_mul(1000) / min_rate;
    stall.min(since.saturating_add(grace_ms).saturating_add(earned))
}

/// Writes as much of `parts` as the socket takes now (a blocking socket:
/// all of it, or fails); returns how many bytes went.
///
/// # Errors
/// As [`Outbound::push`].
pub(crate) fn write_now(sink: Sink<'_>, parts: &[Part<'_>], nonblocking: bool) -> Result<usize> {
    let mut array = [IoSlice::new(&[]); MAX_SLICES];
    let mut n = 0;
    for p in parts.iter().filter(|p| p.len() > 0).take(MAX_SLICES) {
        array[n] = IoSlice::new(p.bytes());
        n += 1;
    }
    let total: usize = parts.iter().map(Part::len).sum();
    let mut slices = &mut array[..n];
    let mut sent = 0;
    while !slices.is_empty() {
        match sink.write_slices(slices) {
            Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
            Ok(k) => {
                log::trace!("wrote {k} bytes");
                stats::sent(k);
                sent += k;
                IoSlice::advance_slices(&mut slices, k);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => break,
            Err(e) => return Err(write_error(e)),
        }
    }
    // Parts past the eighth (never passed today) are left to the queue.
    debug_assert!(sent <= total);
    Ok(sent)
}

/// Sends `head`, then `range`, straight to the socket, as far as it takes
/// them now (a blocking socket: all of it, or fails); returns how many
/// bytes of the head went. The head goes with `MSG_MORE`, so it shares a
/// packet with the start of the file. Nothing is queued, so a file that
/// fits the socket costs no allocation.
///
/// # Errors
/// As [`Outbound::push`].
pub(crate) fn send_file_now(
    sink: Sink<'_>,
    head: &[u8],
    range: &mut FileRange,
    nonblocking: bool,
) -> Result<usize> {
    let mut sent = 0;
    while sent < head.len() {
        match sink.write_more(&head[sent..]) {
            Ok(n) => {
                stats::sent(n);
                sent += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => return Ok(sent),
            Err(e) => return Err(write_error(e)),
        }
    }
    while !range.is_done() {
        match send_file_piece(sink, range, nonblocking) {
            Ok(n) => stats::sent(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && nonblocking => break,
            Err(e) => return Err(write_error(e)),
        }
    }
    Ok(sent)
}

fn write_error(e: io::Error) -> Error {
    match e.kind() {
        // A blocking socket's SO_SNDTIMEO passed with no progress: the
        // client stopped reading.
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(Phase::Write),
        _ => Error::Io(e),
    }
}

/// Sends a piece of a file range: with `sendfile(2)` where it works,
/// otherwise read into a buffer and written.
fn send_file_piece(sink: Sink<'_>, f: &mut FileRange, nonblocking: bool) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    if let (false, Sink::Plain(stream)) = (f.copy, sink) {
        use rustix::io::Errno;
        let count = usize::try_from(f.left.min(1 << 30)).unwrap_or(1 << 30);
        let mut pos = f.offset;
        return match rustix::fs::sendfile(stream, f.file(), Some(&mut pos), count) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was sent",
            )),
            Ok(n) => {
                log::trace!("sendfile {n} bytes");
                f.offset = pos;
                f.left -= n as u64;
                Ok(n)
            }
            // sendfile(2) refused this file (it is not a regular file,
            // say): the rest goes through user space.
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                f.copy = true;
                Ok(0)
            }
            Err(e) => Err(e.into()),
        };
    }
    let _ = nonblocking;
    // A TLS session takes no plaintext while ciphertext waits for the
    // socket: send that first, so that a piece is not read from the file
    // only to be refused (`WouldBlock` here: the connection waits to write).
    sink.flush()?;
    let mut buf = vec![0u8; FILE_PIECE.min(usize::try_from(f.left).unwrap_or(FILE_PIECE))];
    let mut file = f.file();
    file.seek(SeekFrom::Start(f.offset))?;
    let n = file.read(&mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank while it was sent",
        ));
    }
    let written = sink.write_slices(&[IoSlice::new(&buf[..n])])?;
    f.offset += written as u64;
    f.left -= written as u64;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_output_must_move_at_the_minimum_rate_after_the_grace() {
        // (since, sent, progress, stall, grace, rate) -> deadline
        let table = [
            // Nothing waits.
            ((0, 0, 0, 30_000, 5_000, 240), u64::MAX),
            // Nothing taken yet: the grace.
            ((1_000, 0, 1_000, 30_000, 5_000, 240), 6_000),
            // 2,400 bytes earn 10 s more.
            ((1_000, 2_400, 2_000, 30_000, 5_000, 240), 16_000),
            // Much taken, then nothing: the stall timeout counts from the
            // last progress.
            ((1_000, 10_000_000, 2_000, 30_000, 5_000, 240), 32_000),
            // No minimum rate: only the stall timeout.
            ((1_000, 0, 1_000, 30_000, 5_000, 0), 31_000),
        ];
        for ((since, sent, progress, stall, grace, rate), want) in table {
            assert_eq!(
                rate_deadline(since, sent, progress, stall, grace, rate),
                want,
                "since {since}, sent {sent}, progress {progress}"
            );
        }
    }

    #[test]
    fn the_rest_of_a_partial_write_is_queued_in_order() {
        let shared = Bytes::from_static(b"0123456789");
        let parts = [
            Part::Copy(b"head"),
            Part::Shared(&shared),
            Part::Copy(b"end"),
        ];
        for sent in 0..=17 {
            let mut out = Outbound::default();
            out.queue_rest(&parts, sent);
            let mut got = Vec::new();
            for p in &out.queue {
                match p {
                    Piece::Owned(v, at) => got.extend_from_slice(&v[*at..]),
                    Piece::Shared(b) => got.extend_from_slice(b),
                    Piece::File(_) => unreachable!(),
                }
            }
            assert_eq!(got, &b"head0123456789end"[sent..], "sent {sent}");
        }
    }

    #[test]
    fn what_the_socket_took_before_the_rest_waited_counts_towards_the_rate() {
        let mut out = Outbound::default();
        let big = Bytes::from(vec![0u8; 10_000]);
        out.queue_rest(&[Part::Shared(&big)], 2_400);
        let (since, grace) = (out.since, 5_000);
        assert_eq!(out.sent, 2_400);
        // 2,400 bytes at 240 bytes/s earn 10 s beyond the grace.
        assert_eq!(out.deadline(30_000, grace, 240), since + grace + 10_000);
    }

    #[test]
    fn advancing_drops_sent_bytes_across_pieces() {
        let mut out = Outbound::default();
        let shared = Bytes::from_static(b"bbbb");
        out.queue_rest(&[Part::Copy(b"aaa"), Part::Shared(&shared)], 0);
        out.queue_rest(&[Part::Copy(b"cc")], 0);
        out.advance(5);
        assert_eq!(out.queued_bytes(), 4);
        out.advance(4);
        assert!(out.queue.is_empty());
    }

    #[test]
    fn a_finished_file_range_takes_none_of_the_bytes_behind_it() {
        // A segmented body: a part head, a range, the next part head. The
        // range's last `sendfile` sent 5 bytes; they were its own.
        let mut out = Outbound::default();
        out.queue_rest(&[Part::Copy(b"head")], 0);
        out.queue_file(FileRange::new(File::open("Cargo.toml").unwrap(), 0, 5));
        out.queue_rest(&[Part::Copy(b"next")], 0);
        out.advance(4);
        let Some(Piece::File(f)) = out.queue.front_mut() else {
            panic!("the range is next: {:?}", out.queue);
        };
        f.left = 0;
        out.advance(5);
        assert_eq!(out.queued_bytes(), 4);
        assert!(matches!(out.queue.front(), Some(Piece::Owned(v, 0)) if v == b"next"));
    }

    #[test]
    fn held_answers_stay_under_the_limit() {
        let mut out = Outbound::default();
        let big = vec![b'x'; MAX_HELD_BYTES - 10];
        assert!(out.hold(&[Part::Copy(&big)]));
        assert!(out.hold(&[Part::Copy(b"0123456789")]));
        assert!(!out.hold(&[Part::Copy(b"!")]));
        assert_eq!(out.queued_bytes(), MAX_HELD_BYTES);
    }
}
