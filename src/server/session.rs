//! A WebSocket session on the edge: frames in, the handler called with
//! each message, frames out; parked between messages like an idle
//! connection.
//!
//! One [`Session::turn`] does, without waiting on the peer: send what
//! the application queued (its outbox, filled by the handler and by
//! senders on other threads), decode what arrived ([`MessageDecoder`]),
//! answer pings, call the handler with each whole message, and read
//! more; when nothing is left to do it says [`Turn::Park`] and the
//! connection waits in the parker until bytes arrive, the socket drains,
//! a sender wakes it, or a timer is due ([`Session::deadline`]). The
//! timers ([`Session::expire`]): a ping after a quiet period and a close
//! when it goes unanswered, a message that takes too long, the close
//! handshake's own timeout. With a blocking socket (no epoll) the turn
//! never parks: it waits in short reads and looks at its outbox and
//! timers between them, holding its worker for the session's life.
//!
//! The close handshake (RFC 6455 §7): the server echoes the peer's close
//! frame, or sends its own and waits up to the close timeout for the
//! echo, and then closes the TCP connection first (§7.1.1). A protocol
//! error fails the session: a close frame with the error's code, then a
//! lingering close, reading nothing more as frames.

use super::clock::{coarse_ms, millis};
use super::config::Config;
use super::link::{Got, Link};
use super::outbound::Part;
use super::stats::{self, Counter};
use crate::error::Result;
use crate::proto::ws::{
    CloseCode, Config as DecoderConfig, Event, MessageDecoder, MessageKind, Opcode, Role,
    encode_close_payload,
};
use crate::ws::{Closed, Frame, Handler, Message, Session as Handle, Settings, Shared, Start};
use bytes::{Bytes, BytesMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// How often a session on a blocking socket looks at its outbox (for
/// messages pushed from other threads) while it waits for its peer.
const BLOCKING_TICK_MS: u64 = 50;
/// Frames that add up to at most this many bytes are copied into one
/// buffer to be sent; larger ones go by reference.
const COPY_FRAMES_MAX: usize = 16 * 1024;

/// Turn is where a session's turn left it.
pub(crate) enum Turn {
    /// It waits on its peer (or a timer, or a sender): park it.
    Park,
    /// It is over: send what is queued, then close (lingering: reading
    /// and dropping what the peer still sends, after a protocol error).
    Close { linger: bool },
    /// The connection failed: drop it now.
    Gone,
}

/// Session is one WebSocket session's state on the server.
pub(crate) struct Session {
    decoder: MessageDecoder,
    /// Bytes received and not yet decoded.
    buf: BytesMut,
    /// The message being received: its kind and payload so far.
    message: Option<(MessageKind, Payload)>,
    handler: Box<dyn Handler>,
    handle: Handle,
    shared: Arc<Shared>,
    settings: Settings,
    opened: bool,
    /// Whether nothing has been read yet and nothing came with the
    /// handshake: a client waits for the `101` before it sends (RFC 6455
    /// §4.1), so the first turn parks without a read that would find
    /// nothing.
    fresh: bool,
    /// When bytes last arrived (coarse clock).
    heard: u64,
    /// When the unanswered ping was sent.
    ping_sent: Option<u64>,
    /// Since when a frame or message has been arriving.
    partial_since: Option<u64>,
    /// When the server's close frame was queued (the echo is awaited
    /// until the close timeout).
    close_sent: Option<u64>,
    close_received: bool,
    /// How the session ended, told to the handler when it is dropped.
    ended: Option<Closed>,
}

/// Payload is a message's payload as it arrives: usually one piece, kept
/// as it is (no copy); more are joined.
enum Payload {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Payload {
    fn push(&mut self, piece: Bytes) {
        *self = match std::mem::replace(self, Payload::Empty) {
            Payload::Empty => Payload::One(piece),
            Payload::One(first) => {
                let mut all = BytesMut::with_capacity(first.len() + piece.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&piece);
                Payload::Many(all)
            }
            Payload::Many(mut all) => {
                all.extend_from_slice(&piece);
                Payload::Many(all)
            }
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Payload::Empty => Bytes::new(),
            Payload::One(b) => b,
            Payload::Many(b) => b.freeze(),
        }
    }
}

impl Session {
    /// Opens a session after its `101`: `read_ahead` is what arrived past
    /// the handshake.
    pub(crate) fn new(start: Start, shared: Arc<Shared>, read_ahead: Bytes) -> Session {
        let Start {
            handler,
            settings,
            protocol,
        } = start;
        let config = DecoderConfig {
            max_frame_bytes: settings.max_frame_bytes,
            max_message_bytes: settings.max_message_bytes,
            extension_rsv: 0,
        };
        Session {
            decoder: MessageDecoder::new(Role::Server, &config),
            fresh: read_ahead.is_empty(),
            buf: BytesMut::from(&read_ahead[..]),
            message: None,
            handler,
            handle: Handle::new(Arc::clone(&shared), protocol),
            shared,
            settings,
            opened: false,
            heard: coarse_ms(),
            ping_sent: None,
            partial_since: None,
            close_sent: None,
            close_received: false,
            ended: None,
        }
    }

    /// Calls the handler's `on_open`: before the `101` leaves, so that
    /// a client that has it knows its session is set up (in a chat
    /// room, say). What it sends follows the `101`.
    pub(crate) fn open(&mut self) {
        if !self.opened {
            self.opened = true;
            self.call(|h, s| h.on_open(s));
        }
    }

    /// Serves the session as far as it goes without waiting on its peer
    /// (see the module docs).
    pub(crate) fn turn(&mut self, link: &Link, config: &Config) -> Turn {
        self.open();
        // After a read that drained the socket, a read again would find
        // nothing: the poller reports what arrives next.
        let mut drained = std::mem::take(&mut self.fresh);
        loop {
            let now = coarse_ms();
            if config.is_shutting_down() {
                self.start_close(link, CloseCode::GOING_AWAY, "server shutting down", now);
            }
            if let Err(e) = self.send_queued(link, now) {
                return self.gone(&e);
            }
            if let Some(turn) = self.decode(link, now) {
                return turn;
            }
            if let Err(e) = self.send_queued(link, now) {
                return self.gone(&e);
            }
            if self.close_sent.is_some() && self.close_received {
                return Turn::Close { linger: false };
            }
            self.partial_since = if self.buf.is_empty() && self.decoder.is_between_messages() {
                None
            } else {
                Some(self.partial_since.unwrap_or(now))
            };
            let nonblocking = link.is_nonblocking();
            // A peer that does not read what it is sent is not read from
            // either (its pings would queue pongs without end): it waits
            // until its output has gone, and TCP pushes back on it.
            if nonblocking && (drained || link.has_output()) {
                return self.park();
            }
            let deadline = if nonblocking {
                u64::MAX
            } else {
                self.deadline().min(now.saturating_add(BLOCKING_TICK_MS))
            };
            match link.read_into(&mut self.buf, deadline) {
                Ok(Got::Data) => {
                    self.heard = coarse_ms();
                    self.ping_sent = None;
                    drained = !link.may_have_more();
                }
                Ok(Got::Eof) => {
                    if !self.close_received {
                        self.ended.get_or_insert(Closed::Abnormal);
                    }
                    return Turn::Close { linger: false };
                }
                Ok(Got::Nothing) if nonblocking => return self.park(),
                Ok(Got::Nothing) => {
                    if let Some(turn) = self.expire(link, config) {
                        return turn;
                    }
                }
                Err(e) => return self.gone(&e),
            }
        }
    }

    /// Parks: what the session holds while it waits is its state, not
    /// an empty buffer.
    fn park(&mut self) -> Turn {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        Turn::Park
    }

    /// The connection failed under the session.
    fn gone(&mut self, e: &crate::Error) -> Turn {
        log::debug!("WebSocket session {}: {e}", self.shared_id());
        let closed = match e {
            // A blocking write that made no progress for the write
            // timeout: the peer does not read (1008, as when parked).
            crate::Error::Timeout(crate::Phase::Write) => Closed::ByServer(CloseCode::POLICY),
            _ => Closed::Abnormal,
        };
        self.ended.get_or_insert(closed);
        Turn::Gone
    }

    fn shared_id(&self) -> u64 {
        self.handle.id()
    }

    /// Returns when the session's next timer is due (coarse clock): the
    /// close handshake's end, the ping's answer, the next ping, or the
    /// end of a message's time.
    pub(crate) fn deadline(&self) -> u64 {
        let s = &self.settings;
        if let Some(t) = self.close_sent {
            return t.saturating_add(millis(s.close_timeout));
        }
        let mut due = match (self.ping_sent, s.ping_interval) {
            (Some(t), _) => t.saturating_add(millis(s.pong_timeout)),
            (None, Some(every)) => self.heard.saturating_add(millis(every)),
            (None, None) => u64::MAX,
        };
        if let Some(t) = self.partial_since {
            due = due.min(t.saturating_add(millis(s.message_timeout)));
        }
        due
    }

    /// Runs the timers that are due; says how the session goes on if one
    /// of them ends it (`None`: park again).
    pub(crate) fn expire(&mut self, link: &Link, config: &Config) -> Option<Turn> {
        let now = coarse_ms();
        let s = self.settings;
        if link.has_output() && now >= link.send_deadline(&config.timeouts) {
            // The peer stopped reading: what waits for it is dropped, and
            // the close frame goes if the socket takes it.
            log::debug!("WebSocket session {}: peer does not read", self.shared_id());
            stats::count(Counter::Timeout(crate::Phase::Write));
            link.drop_output();
            self.start_close(link, CloseCode::POLICY, "not reading", now);
            link.drop_output();
            return Some(Turn::Close { linger: false });
        }
        if let Some(t) = self.close_sent {
            if now >= t.saturating_add(millis(s.close_timeout)) {
                return Some(Turn::Close { linger: false });
            }
            return None;
        }
        if let Some(t) = self.partial_since {
            if now >= t.saturating_add(millis(s.message_timeout)) {
                self.start_close(link, CloseCode::POLICY, "message too slow", now);
                return None;
            }
        }
        match (self.ping_sent, s.ping_interval) {
            (Some(t), _) if now >= t.saturating_add(millis(s.pong_timeout)) => {
                self.start_close(link, CloseCode::POLICY, "no answer to ping", now);
            }
            (None, Some(every)) if now >= self.heard.saturating_add(millis(every)) => {
                self.ping_sent = Some(now);
                self.send_control(link, Opcode::Ping, Bytes::new());
            }
            _ => {}
        }
        None
    }

    /// Decodes what arrived, until more is needed; `Some` when the
    /// session must end.
    fn decode(&mut self, link: &Link, now: u64) -> Option<Turn> {
        loop {
            if self.close_received {
                return None;
            }
            let event = match self.decoder.decode(&mut self.buf) {
                Ok(event) => event,
                Err(e) => {
                    log::debug!("WebSocket session {}: {e}", self.shared_id());
                    self.start_close(link, e.close_code(), e.reason(), now);
                    self.buf.clear();
                    return Some(Turn::Close { linger: true });
                }
            };
            match event {
                Event::NeedData => return None,
                Event::MessageStart(kind) => self.message = Some((kind, Payload::Empty)),
                Event::Data(piece) => {
                    if let Some((_, payload)) = &mut self.message {
                        payload.push(piece);
                    }
                }
                Event::MessageEnd => {
                    let Some((kind, payload)) = self.message.take() else {
                        continue;
                    };
                    if self.close_sent.is_some() {
                        // Closing: what still arrives is not delivered.
                        continue;
                    }
                    let bytes = payload.into_bytes();
                    let message = match kind {
                        MessageKind::Binary => Message::Binary(bytes),
                        // Checked as it arrived: this cannot fail.
                        MessageKind::Text => match String::from_utf8(bytes.into()) {
                            Ok(s) => Message::Text(s),
                            Err(_) => continue,
                        },
                    };
                    self.call(|h, s| h.on_message(s, message));
                    if let Err(e) = self.send_queued(link, now) {
                        return Some(self.gone(&e));
                    }
                }
                Event::Ping(payload) => {
                    if self.close_sent.is_none() {
                        self.send_control(link, Opcode::Pong, payload);
                    }
                }
                Event::Pong(_) => {}
                Event::Close(frame) => {
                    self.close_received = true;
                    self.ended.get_or_insert(Closed::ByPeer(frame.clone()));
                    if self.close_sent.is_none() {
                        // Echo the code (§5.5.1), or an empty close for an
                        // empty one.
                        let payload = frame
                            .map(|f| encode_close_payload(f.code, ""))
                            .unwrap_or_default();
                        self.close_sent = Some(now);
                        self.shared.mark_closed();
                        self.send_control(link, Opcode::Close, Bytes::from(payload));
                    }
                    return None;
                }
            }
        }
    }

    /// Calls the handler, containing a panic: the session is then closed
    /// with 1011.
    fn call(&mut self, f: impl FnOnce(&mut dyn Handler, &mut Handle)) {
        let (handler, handle) = (&mut self.handler, &mut self.handle);
        let called = catch_unwind(AssertUnwindSafe(|| f(handler.as_mut(), handle)));
        if let Err(payload) = called {
            stats::count(Counter::Panic);
            log::error!(
                "WebSocket handler panicked: {}",
                super::pool::panic_message(&payload)
            );
            self.handle.close(CloseCode::INTERNAL, "internal error");
        }
    }

    /// Sends what the application queued: its frames (when the socket
    /// has taken what went before: the queue bounds what waits), and its
    /// close.
    fn send_queued(&mut self, link: &Link, now: u64) -> Result<()> {
        link.push()?;
        if link.has_output() || !self.shared.has_queued() {
            return Ok(());
        }
        let (frames, close) = self.shared.take();
        let total: usize = frames.iter().map(Frame::wire_len).sum();
        if self.close_sent.is_some() {
            // Closing: nothing more is sent but the close.
        } else if total <= COPY_FRAMES_MAX {
            // Small frames are copied into one buffer: one `send`, the
            // kernel's shortest path, instead of a `writev` of pieces.
            let mut out = Vec::with_capacity(total);
            for f in &frames {
                out.extend_from_slice(f.head.as_bytes());
                out.extend_from_slice(&f.payload);
            }
            link.send(&[Part::Copy(&out)], false)?;
        } else {
            for batch in frames.chunks(4) {
                let mut parts = Vec::with_capacity(8);
                for f in batch {
                    parts.push(Part::Copy(f.head.as_bytes()));
                    parts.push(Part::Shared(&f.payload));
                }
                link.send(&parts, false)?;
            }
        }
        if let Some((code, reason)) = close {
            self.start_close(link, code, &reason, now);
        }
        link.push().map(drop)
    }

    /// Sends the server's close frame, once; the peer's echo is awaited
    /// until the close timeout.
    fn start_close(&mut self, link: &Link, code: CloseCode, reason: &str, now: u64) {
        if self.close_sent.is_some() {
            return;
        }
        self.close_sent = Some(now);
        self.ended.get_or_insert(Closed::ByServer(code));
        self.shared.mark_closed();
        let payload = encode_close_payload(code, reason);
        self.send_control(link, Opcode::Close, Bytes::from(payload));
    }

    /// Sends a control frame (at most 127 bytes) after what is queued.
    fn send_control(&self, link: &Link, opcode: Opcode, payload: Bytes) {
        let frame = Frame::new(opcode, payload);
        let mut out = Vec::with_capacity(frame.wire_len());
        out.extend_from_slice(frame.head.as_bytes());
        out.extend_from_slice(&frame.payload);
        if let Err(e) = link.send(&[Part::Copy(&out)], false) {
            log::debug!("WebSocket session {}: {e}", self.shared_id());
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.mark_closed();
        let closed = self.ended.take().unwrap_or(Closed::Abnormal);
        if self.opened {
            self.call(|h, s| h.on_close(s, &closed));
        }
    }
}
