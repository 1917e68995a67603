//! What a WebSocket application works with: [`Message`]s, the
//! [`Handler`] called with each, the [`Session`] it answers through,
//! [`Sender`]s that push from any thread, and [`Group`]s that broadcast.
//!
//! A session's outgoing frames wait in its outbox ([`Outbox`]), bounded by
//! [`Settings::max_queued_bytes`]: a handler and every sender put frames
//! in, and the server takes them out when the socket can take them. A
//! sender that finds the outbox full gets [`SendError::Full`] at once,
//! never a wait; a peer that stops reading is closed (code 1008) when its
//! output makes no progress for the server's write timeout. So a session
//! holds at most its queue, whatever its peer does.
//!
//! Nothing here reads a socket or a clock: the server drives a session
//! and wakes it (a [`std::task::Waker`]) when a sender from another thread
//! has queued something.

use crate::proto::ws::{CloseCode, CloseFrame, FrameHead, Opcode, encode_head};
use crate::proto::ws::{DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES, EncodedHead};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

/// Message is one complete WebSocket message (RFC 6455 §5.6), however many
/// frames it came in.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text (checked as it arrived).
    Text(String),
    /// Bytes for the application to interpret.
    Binary(Bytes),
}

impl Message {
    /// Returns the text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            Message::Binary(_) => None,
        }
    }

    /// Returns the payload's bytes (a text message's UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Returns the payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Reports whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the message's single unmasked frame.
    pub(crate) fn into_frame(self) -> Frame {
        let (opcode, payload) = match self {
            Message::Text(s) => (Opcode::Text, Bytes::from(s)),
            Message::Binary(b) => (Opcode::Binary, b),
        };
        Frame::new(opcode, payload)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(s) if s.len() <= 64 => write!(f, "Text({s:?})"),
            Message::Text(s) => write!(f, "Text({} bytes)", s.len()),
            Message::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.to_owned())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Message {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(Bytes::from(b))
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Message {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

/// Handler is a WebSocket application: one value per session, called on
/// a worker with each message, between which the session waits parked,
/// without a worker.
///
/// A handler must not block for long: it holds a worker while it runs.
/// It answers through the [`Session`]; to push later, or from another
/// thread, it keeps a [`Sender`] (see [`Session::sender`]).
///
/// A closure `FnMut(&mut Session, Message)` is a handler. A panic in a
/// handler closes its session with 1011 (internal error), never the
/// server.
///
/// # Examples
/// An echo:
/// ```
/// use sockhttp::ws::{Message, Session};
/// let echo = |session: &mut Session, msg: Message| {
///     let _ = session.send(msg);
/// };
/// # fn is_handler(_: impl sockhttp::ws::Handler) {}
/// # is_handler(echo);
/// ```
pub trait Handler: Send + 'static {
    /// Called once, when the session is open (the `101` has been sent),
    /// before any message.
    fn on_open(&mut self, session: &mut Session) {
        let _ = session;
    }

    /// Called with each message the peer sends.
    fn on_message(&mut self, session: &mut Session, message: Message);

    /// Called once, when the session has ended, with how it ended: the
    /// peer's close frame, the server's, or [`Closed::Abnormal`]. Messages
    /// sent from here go nowhere.
    fn on_close(&mut self, session: &mut Session, closed: &Closed) {
        let _ = (session, closed);
    }
}

impl<F> Handler for F
where
    F: FnMut(&mut Session, Message) + Send + 'static,
{
    fn on_message(&mut self, session: &mut Session, message: Message) {
        self(session, message);
    }
}

/// Closed says how a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed {
    /// The peer closed it with this close frame (`None`: a close frame
    /// without a code, 1005 "no status" in RFC 6455 §7.4.1).
    ByPeer(Option<CloseFrame>),
    /// The server closed it with this code: the application asked, the
    /// peer broke the protocol, did not answer a ping, did not read, or
    /// the server is shutting down.
    ByServer(CloseCode),
    /// The connection ended without a close frame (1006 "abnormal
    /// closure": never sent on the wire).
    Abnormal,
}

/// SendError says why a message was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The session's outbox is full ([`Settings::max_queued_bytes`]): its
    /// peer reads more slowly than messages are sent. The message is
    /// dropped; the session itself is closed (1008) if its peer stops
    /// reading altogether.
    Full,
    /// The session is closing or closed.
    Closed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Full => "the session's outgoing queue is full",
            SendError::Closed => "the session is closed",
        })
    }
}

impl std::error::Error for SendError {}

/// The default most bytes of frames waiting for one session's peer: 1 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 1024 * 1024;
/// The default quiet time after which the server pings a session: 30 s,
/// below the 60 s idle timeouts common in proxies (nginx's
/// `proxy_read_timeout`), so a session behind one stays open.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);
/// The default time a ping has to be answered (by any bytes) before the
/// session is closed: 30 s.
pub const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time the peer has to answer a close frame before the
/// server closes the connection: 5 s.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The default time one message may take to arrive, from its first byte
/// to its last: 60 s, so a peer that sends half a frame and stops is
/// closed (1008).
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings are the limits and timers of WebSocket sessions.
///
/// # Examples
/// ```
/// use sockhttp::ws::Settings;
/// use std::time::Duration;
/// let s = Settings::default()
///     .max_message_bytes(64 * 1024)
///     .ping_interval(Some(Duration::from_secs(20)));
/// assert_eq!(s.max_message(), 64 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub(crate) max_frame_bytes: u64,
    pub(crate) max_message_bytes: u64,
    pub(crate) max_queued_bytes: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) message_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            pong_timeout: DEFAULT_PONG_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
        }
    }
}

impl Settings {
    /// Sets the largest frame payload accepted (default 1 MiB); a larger
    /// frame is refused with 1009 from its head, before its payload is
    /// read.
    #[must_use]
    pub fn max_frame_bytes(mut self, n: u64) -> Settings {
        self.max_frame_bytes = n;
        self
    }

    /// Sets the largest message accepted, across its fragments (default
    /// 1 MiB; 1009 beyond). A session holds at most one message in
    /// progress, so this bounds what a peer can make it hold.
    #[must_use]
    pub fn max_message_bytes(mut self, n: u64) -> Settings {
        self.max_message_bytes = n;
        self
    }

    /// Returns the largest message accepted.
    pub fn max_message(&self) -> u64 {
        self.max_message_bytes
    }

    /// Sets the most bytes of frames that may wait for the peer (default
    /// 1 MiB); beyond, sends fail with [`SendError::Full`]. A single
    /// message larger than this is still queued when nothing else waits.
    #[must_use]
    pub fn max_queued_bytes(mut self, n: usize) -> Settings {
        self.max_queued_bytes = n;
        self
    }

    /// Sets how long a session may be quiet before the server pings it
    /// (default 30 s; `None`: never).
    #[must_use]
    pub fn ping_interval(mut self, d: Option<Duration>) -> Settings {
        self.ping_interval = d;
        self
    }

    /// Sets how long the peer has to answer a ping before the session is
    /// closed with 1008 (default 30 s).
    #[must_use]
    pub fn pong_timeout(mut self, d: Duration) -> Settings {
        self.pong_timeout = d;
        self
    }

    /// Sets how long the peer has to answer the server's close frame
    /// before the connection is closed (default 5 s).
    #[must_use]
    pub fn close_timeout(mut self, d: Duration) -> Settings {
        self.close_timeout = d;
        self
    }

    /// Sets how long one message may take to arrive, from its first byte
    /// to its last (default 60 s; 1008 beyond).
    #[must_use]
    pub fn message_timeout(mut self, d: Duration) -> Settings {
        self.message_timeout = d;
        self
    }
}

/// Frame is one unmasked frame the server sends: its head and payload,
/// kept apart so the payload is never copied behind the head.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) head: EncodedHead,
    pub(crate) payload: Bytes,
}

impl Frame {
    /// Makes a final frame of `opcode` carrying `payload`.
    pub(crate) fn new(opcode: Opcode, payload: Bytes) -> Frame {
        let head = FrameHead {
            fin: true,
            rsv: 0,
            opcode,
            len: payload.len() as u64,
        };
        Frame {
            head: encode_head(&head, None),
            payload,
        }
    }

    /// Returns the frame's size on the wire.
    pub(crate) fn wire_len(&self) -> usize {
        self.head.as_bytes().len() + self.payload.len()
    }
}

/// Outbox is what waits to be sent on one session, shared by the session
/// and its senders.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// A close asked for by the application (a sender or the handler).
    close: Option<(CloseCode, String)>,
    /// The session is closing or closed: nothing more is queued.
    closed: bool,
    /// The server has been woken since it last took from the outbox.
    woken: bool,
}

/// Shared is a session's state that its senders share: the outbox and
/// the waker of the server.
pub(crate) struct Shared {
    id: u64,
    peer: Option<SocketAddr>,
    max_queued_bytes: usize,
    outbox: Mutex<Outbox>,
    waker: Waker,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("id", &self.id).finish()
    }
}

impl Shared {
    /// Makes the shared state of session `id`; `waker` wakes the server
    /// when another thread queues something.
    pub(crate) fn new(
        id: u64,
        peer: Option<SocketAddr>,
        max_queued_bytes: usize,
        waker: Waker,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            id,
            peer,
            max_queued_bytes,
            outbox: Mutex::new(Outbox::default()),
            waker,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame`, and wakes the server if it may not know (`wake`).
    fn push(&self, frame: Frame, wake: bool) -> Result<(), SendError> {
        let mut out = self.lock();
        if out.closed || out.close.is_some() {
            return Err(SendError::Closed);
        }
        let len = frame.wire_len();
        if out.bytes > 0 && out.bytes + len > self.max_queued_bytes {
            return Err(SendError::Full);
        }
        out.bytes += len;
        out.frames.push_back(frame);
        self.wake_locked(out, wake);
        Ok(())
    }

    /// Asks for the session to be closed with `code` and `reason`.
    fn close(&self, code: CloseCode, reason: &str, wake: bool) {
        let mut out = self.lock();
        if out.closed || out.close.is_some() {
            return;
        }
        out.close = Some((code, reason.to_owned()));
        self.wake_locked(out, wake);
    }

    fn wake_locked(&self, mut out: MutexGuard<'_, Outbox>, wake: bool) {
        if wake && !out.woken {
            out.woken = true;
            drop(out);
            self.waker.wake_by_ref();
        }
    }

    /// Takes the frames queued, and the close asked for, if any: the
    /// server's side.
    pub(crate) fn take(&self) -> (Vec<Frame>, Option<(CloseCode, String)>) {
        let mut out = self.lock();
        out.woken = false;
        out.bytes = 0;
        let frames = out.frames.drain(..).collect();
        (frames, out.close.take())
    }

    /// Reports whether frames or a close wait in the outbox.
    pub(crate) fn has_queued(&self) -> bool {
        let out = self.lock();
        !out.frames.is_empty() || out.close.is_some()
    }

    /// Marks the session closed: senders fail from now on, and what they
    /// queued is dropped.
    pub(crate) fn mark_closed(&self) {
        let mut out = self.lock();
        out.closed = true;
        out.frames.clear();
        out.bytes = 0;
    }

    /// Reports whether the session is closed or closing.
    fn is_closed(&self) -> bool {
        let out = self.lock();
        out.closed || out.close.is_some()
    }
}

/// Session is one open WebSocket, as its handler sees it: send to the
/// peer, close, or take a [`Sender`] to push from elsewhere.
#[derive(Debug)]
pub struct Session {
    shared: Arc<Shared>,
    protocol: Option<String>,
}

impl Session {
    /// Makes the handle of a session (the server's side).
    pub(crate) fn new(shared: Arc<Shared>, protocol: Option<String>) -> Session {
        Session { shared, protocol }
    }

    /// Returns the session's id: unique among the server's connections.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Returns the address of the peer (the proxy's, behind one); `None`
    /// for a session over a Unix domain socket, whose peer has none.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.peer
    }

    /// Returns the subprotocol chosen in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Queues `message` for the peer; it leaves when the handler returns.
    ///
    /// # Errors
    /// [`SendError::Full`] when the outbox is full, [`SendError::Closed`]
    /// once the session is closing.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.push(message.into().into_frame(), false)
    }

    /// Closes the session with `code` and `reason` (at most 123 bytes of
    /// it are sent) once what is queued has gone.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.shared.close(code, reason, false);
    }

    /// Returns a sender for this session, to send from any thread.
    pub fn sender(&self) -> Sender {
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Sender sends to one session from any thread: cheap to clone, `Send`
/// and `Sync`. A message sent from outside the handler wakes the
/// session's connection, which a worker then serves.
#[derive(Clone, Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    /// Returns the id of the session (see [`Session::id`]).
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Queues `message` for the session's peer, without waiting.
    ///
    /// # Errors
    /// [`SendError::Full`] when the session's outbox is full (its peer is
    /// slow: the message is dropped), [`SendError::Closed`] once the
    /// session is closing.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.push(message.into().into_frame(), true)
    }

    /// Closes the session with `code` and `reason`.
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.shared.close(code, reason, true);
    }

    /// Reports whether the session is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    fn push_frame(&self, frame: Frame) -> Result<(), SendError> {
        self.shared.push(frame, true)
    }
}

/// Group is a set of sessions to broadcast to, such as the members of a
/// chat room. Cheap to clone (clones share the set); closed sessions
/// leave it on the next broadcast.
///
/// # Examples
/// ```
/// use sockhttp::ws::{Group, Message, Session};
/// let room = Group::new();
/// let chat = {
///     let room = room.clone();
///     move |session: &mut Session, msg: Message| {
///         room.insert(session.sender()); // once is enough; again is harmless
///         room.broadcast(msg);
///     }
/// };
/// # fn is_handler(_: impl sockhttp::ws::Handler) {}
/// # is_handler(chat);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Group {
    members: Arc<Mutex<HashMap<u64, Sender>>>,
}

impl Group {
    /// Makes an empty group.
    pub fn new() -> Group {
        Group::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Sender>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds the session of `sender` (again: nothing changes).
    pub fn insert(&self, sender: Sender) {
        self.lock().entry(sender.id()).or_insert(sender);
    }

    /// Removes the session `id`.
    pub fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Returns how many sessions the group holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Reports whether the group is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Sends `message` to every session of the group, encoded once;
    /// returns to how many it was queued. A session whose outbox is full
    /// misses it; closed sessions leave the group.
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        let frame = message.into().into_frame();
        let mut sent = 0;
        self.lock()
            .retain(|_, member| match member.push_frame(frame.clone()) {
                Ok(()) => {
                    sent += 1;
                    true
                }
                Err(SendError::Full) => {
                    log::debug!("session {}: outbox full; broadcast dropped", member.id());
                    true
                }
                Err(SendError::Closed) => false,
            });
        sent
    }
}

/// Start is what the server needs to open a session after its `101`: the
/// handler, the settings and the chosen subprotocol.
pub(crate) struct Start {
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) settings: Settings,
    pub(crate) protocol: Option<String>,
}

impl fmt::Debug for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start")
            .field("settings", &self.settings)
            .field("protocol", &self.protocol)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(max: usize) -> Arc<Shared> {
        Shared::new(7, None, max, Waker::noop().clone())
    }

    #[test]
    fn the_outbox_is_bounded_but_takes_one_message_of_any_size() {
        let s = Session::new(shared(11), None);
        let tx = s.sender();
        assert_eq!(tx.send(vec![0u8; 100]), Ok(()), "alone, it fits");
        assert_eq!(tx.send("x"), Err(SendError::Full));
        let (frames, close) = s.shared.take();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].head.as_bytes(), [0x82, 100]);
        assert!(close.is_none());
        assert_eq!(tx.send("abc"), Ok(()));
        assert_eq!(tx.send("defg"), Ok(()), "2+3 and 2+4 bytes fit in 11");
        assert_eq!(tx.send("h"), Err(SendError::Full));
    }

    #[test]
    fn a_close_ends_sending() {
        let mut s = Session::new(shared(1000), Some("chat".into()));
        let tx = s.sender();
        assert_eq!(s.send("hi"), Ok(()));
        tx.close(CloseCode::NORMAL, "bye");
        assert!(tx.is_closed());
        assert_eq!(s.send("more"), Err(SendError::Closed));
        let (frames, close) = s.shared.take();
        assert_eq!(frames.len(), 1);
        assert_eq!(close, Some((CloseCode::NORMAL, "bye".to_owned())));
        s.shared.mark_closed();
        assert_eq!(tx.send("x"), Err(SendError::Closed));
        assert_eq!(s.protocol(), Some("chat"));
    }

    #[test]
    fn groups_broadcast_and_forget_closed_sessions() {
        let (a, b) = (
            shared(1000),
            Shared::new(8, None, 1000, Waker::noop().clone()),
        );
        let g = Group::new();
        let (sa, sb) = (Session::new(a, None), Session::new(b, None));
        g.insert(sa.sender());
        g.insert(sa.sender());
        g.insert(sb.sender());
        assert_eq!(g.len(), 2);
        assert_eq!(g.broadcast("hello"), 2);
        sb.shared.mark_closed();
        assert_eq!(g.broadcast("again"), 1);
        assert_eq!(g.len(), 1);
        let (frames, _) = sa.shared.take();
        let texts: Vec<&[u8]> = frames.iter().map(|f| &f.payload[..]).collect();
        assert_eq!(texts, [&b"hello"[..], b"again"]);
    }
}
