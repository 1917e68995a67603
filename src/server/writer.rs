//! Writing one response: head, body, framing, and what it means for the
//! connection.
//!
//! The framing is decided by the protocol core
//! ([`decide_framing`]); this module moves the bytes. A small response
//! goes out in one `send`: an in-memory body of up to [`COPY_BODY_MAX`]
//! bytes is copied behind the head, which costs less than the kernel's
//! `writev` of two pieces. Larger in-memory bodies leave with their head
//! in one `writev`, uncopied. A head is built in the worker's spare
//! buffer ([`Head`]), so a response allocates nothing for it. File and
//! stream bodies are sent in pieces through one reused buffer, never
//! whole. A body that
//! disagrees with its declared length, fails, or panics aborts the
//! response, and the connection is closed: a half-sent response cannot
//! be repaired (a chunked one ends without its last chunk, so the client
//! sees it is incomplete). One that fails before its first byte is
//! answered instead: `500`, or, when it failed reading the request's own
//! body (an echo), that error's status. A handler's `1xx` status, which can never be a final
//! response, is answered `500` instead.

use super::clock::date_now;
use super::config::Config;
use super::link::Link;
use super::outbound::Part;
use super::stats::{self, Counter};
use crate::error::{Error, Result};
use crate::limits::Timeouts;
use crate::proto::conn::Conn;
use crate::proto::encode::{
    BodyEncoder, ConnectionHeader, Framing, Overrun, decide_framing, encode_head,
};
use crate::proto::head::parse_decimal;
use crate::response::{Body, Response, WriteFn, segments_len};
use crate::types::{Headers, StatusCode, Version};
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The size of one piece of a file or stream body.
const PIECE: usize = 64 * 1024;
/// How much a body writer buffers before sending a chunk by itself.
const WRITER_BUFFER: usize = 16 * 1024;
/// The largest in-memory body copied behind its head, to be sent with it
/// by one `send` rather than a `writev` of both.
const COPY_BODY_MAX: usize = 4 * 1024;
/// Room in the head buffer for the status line and the server's own
/// fields (`Date`, `Server`, `Content-Length`, `Connection`), besides the
/// handler's.
const HEAD_ROOM: usize = 160;
/// Room for the framing around a copied body: a chunk-size line, its CRLF
/// and the last chunk.
const FRAMING_ROOM: usize = 32;

/// Outcome is what happened to one response.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: StatusCode,
    /// Body bytes sent (without framing).
    pub(crate) body_bytes: u64,
    /// Whether every byte of the answer was sent (or queued): of the
    /// response, or of the error answer that replaced a response whose
    /// body failed before its first byte.
    pub(crate) result: Result<()>,
    /// Whether the head announced a persistent connection.
    pub(crate) keep_alive: bool,
}

/// Answer is what a response answers: whether the request was a `HEAD`,
/// its version, and whether the connection must close after it whatever
/// else is said.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    pub(crate) is_head: bool,
    pub(crate) version: Version,
    pub(crate) close: bool,
}

impl Answer {
    /// The answer to a request that failed before its head was known
    /// (or was refused): the connection closes.
    pub(crate) fn closing(is_head: bool) -> Answer {
        Answer {
            is_head,
            version: Version::Http11,
            close: true,
        }
    }
}

/// ResponseWriter writes the responses of one connection: it frames each
/// (the core's [`decide_framing`] and [`BodyEncoder`]), builds its head in
/// the worker's spare buffer, and hands the bytes to the link. Every body
/// kind goes through one frame-and-write step per piece.
#[derive(Clone, Copy)]
pub(crate) struct ResponseWriter<'a> {
    link: &'a Link,
    config: &'a Config,
    /// What a streamed body waits for its reader under: the server's, or
    /// those the handler set for its request.
    timeouts: &'a Timeouts,
}

impl<'a> ResponseWriter<'a> {
    /// Makes the writer of the connection on `link`, under the server's
    /// timeouts.
    pub(crate) fn new(link: &'a Link, config: &'a Config) -> ResponseWriter<'a> {
        ResponseWriter {
            link,
            config,
            timeouts: &config.timeouts,
        }
    }

    /// Returns the writer sending under `timeouts` instead (a handler set
    /// them for its request).
    pub(crate) fn timeouts(self, timeouts: &'a Timeouts) -> ResponseWriter<'a> {
        ResponseWriter { timeouts, ..self }
    }

    /// Writes `resp` as the answer to a request; `conn`, when present, takes
    /// the keep-alive decision. What the socket does not take at once waits
    /// in the link's queue.
    pub(crate) fn write(
        self,
        resp: Response,
        answer: Answer,
        mut conn: Option<&mut Conn>,
    ) -> Outcome {
        let (link, config) = (self.link, self.config);
        let Answer {
            is_head,
            version,
            close: force_close,
        } = answer;
        let resp = if resp.status().is_informational() {
            // A 1xx is never a final response (RFC 9110 §15.2): the client
            // would wait for another one forever. hyper answers 500 too.
            Response::from_error(&Error::handler(format!(
                "handler answered {}, which cannot be a final response",
                resp.status().as_u16()
            )))
        } else {
            resp
        };
        let (status, headers, body) = resp.into_parts();
        let declared = headers.get_bytes("content-length").and_then(parse_decimal);
        let framing = decide_framing(status, is_head, version, body.len(), declared);
        let allow = !force_close
            && !headers.has_token("connection", "close")
            && !config.is_shutting_down()
            && framing != Framing::CloseDelimited;
        // More of a pipeline is already buffered: a small answer can wait to
        // leave with the next ones (`Link::send`).
        let pipelined = conn.as_ref().is_some_and(|c| c.buffered() > 0);
        // The state decides, unless it is lent to a request body: then the
        // head announces what the caller allows, and the state decides once it
        // is back (`Conn::writing` is still idle).
        let keep_alive = match conn.as_deref_mut() {
            Some(c) => c.decide_keep_alive(allow),
            None => allow,
        };
        let hold = pipelined && keep_alive;
        // Sized once, also for a body that will be copied behind the head.
        let copied = match &body {
            Body::Bytes(b) if b.len() <= COPY_BODY_MAX => b.len() + FRAMING_ROOM,
            _ => 0,
        };
        let fields: usize = headers
            .iter_bytes()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let mut head = Head::with_capacity(HEAD_ROOM + fields + copied);
        encode_head(
            &mut head.0,
            status,
            &headers,
            framing,
            connection_header(status, version, keep_alive, &headers),
            &date_now(),
            config.server_header.as_deref(),
        );
        let mut enc = BodyEncoder::new(framing);
        // The head stays here until it is handed to the socket, so that a body
        // that fails before that can still be answered properly.
        let mut head = Some(head);
        let result = if enc.sends_body() {
            self.send_body(&mut head, &mut enc, body, hold)
        } else {
            drop(body);
            link.send(&[Part::Copy(&take(&mut head))], hold)
        };
        if let Err(e) = &result {
            log::debug!("response aborted after {} body bytes: {e}", enc.written());
            if head.is_some() {
                // Nothing was sent: the body (a stream, a writer, a file)
                // failed or panicked before its first byte, so it can still
                // be answered properly; the connection closes either way.
                if let Some(c) = conn {
                    c.decide_keep_alive(false);
                }
                let resp = match e {
                    // The body's own failure, a panic, or a broken declared
                    // length: the server's fault.
                    Error::Handler(_) | Error::Io(_) => Response::from_error(&Error::with_status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "response body failed before any output",
                    )),
                    // An error of the request's own body, which the response
                    // streams (an echo): bad framing, over a limit, too slow.
                    // Its own status, as `Request::body_bytes` would give it.
                    e if e.status().is_some() => Response::from_error(e),
                    // The peer closed mid-body: nobody is there to answer.
                    _ => {
                        return Outcome {
                            status,
                            body_bytes: 0,
                            result,
                            keep_alive: false,
                        };
                    }
                };
                let again = Answer {
                    close: true,
                    ..answer
                };
                // What goes out is this answer: its result is the outcome's.
                return self.write(resp, again, None);
            }
        }
        Outcome {
            status,
            body_bytes: enc.written(),
            result,
            keep_alive,
        }
    }
}

/// Chooses the `Connection` field: keep-alive or close, with the
/// `upgrade` option when a `426 Upgrade Required` names the protocol to
/// upgrade to (`Upgrade`). Other answers are not searched for the field:
/// the status is compared first, so an ordinary response pays nothing.
fn connection_header(
    status: StatusCode,
    version: Version,
    keep_alive: bool,
    headers: &Headers,
) -> ConnectionHeader {
    let field = ConnectionHeader::choose(version, keep_alive);
    if status == StatusCode::UPGRADE_REQUIRED && headers.contains("upgrade") {
        field.with_upgrade()
    } else {
        field
    }
}

impl ResponseWriter<'_> {
    /// Writes the head of a `101 Switching Protocols` (the handler's
    /// fields, `Connection: Upgrade`, no body) and sends it before
    /// anything of the new protocol.
    pub(crate) fn write_switch(self, headers: &Headers) -> Outcome {
        let mut head = Head::with_capacity(HEAD_ROOM + 256);
        encode_head(
            &mut head.0,
            StatusCode::SWITCHING_PROTOCOLS,
            headers,
            Framing::NoBody(None),
            ConnectionHeader::Upgrade,
            &date_now(),
            self.config.server_header.as_deref(),
        );
        let result = self.link.send(&[Part::Copy(&head)], false);
        Outcome {
            status: StatusCode::SWITCHING_PROTOCOLS,
            body_bytes: 0,
            result,
            keep_alive: false,
        }
    }
}

fn overrun(o: Overrun) -> Error {
    log::warn!(
        "response body has {} bytes but declared Content-Length {}; closing the connection",
        o.actual,
        o.declared
    );
    Error::handler(format!(
        "body length {} differs from declared {}",
        o.actual, o.declared
    ))
}

/// Takes the head out of `head` to send it (empty once it has been sent).
fn take(head: &mut Option<Head>) -> Head {
    head.take().unwrap_or(Head(Vec::new()))
}

/// The most a worker keeps of a head buffer for its next response.
const KEPT_HEAD: usize = 64 * 1024;

thread_local! {
    /// The buffer of this worker's last response head, kept for the next
    /// one: a response then allocates nothing for its head.
    static SPARE_HEAD: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Head is a response head being built and sent. Its buffer is the
/// worker's spare one, and goes back to it when the head is dropped.
struct Head(Vec<u8>);

impl Head {
    fn with_capacity(n: usize) -> Head {
        let mut buf = SPARE_HEAD
            .try_with(std::cell::Cell::take)
            .unwrap_or_default();
        buf.clear();
        buf.reserve(n);
        Head(buf)
    }
}

impl std::ops::Deref for Head {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        if self.0.capacity() > 0 && self.0.capacity() <= KEPT_HEAD {
            let buf = std::mem::take(&mut self.0);
            let _ = SPARE_HEAD.try_with(|spare| spare.set(buf));
        }
    }
}

impl ResponseWriter<'_> {
    /// Sends the head and `body`; an in-memory body may be held back with
    /// its head when `hold` says more of a pipeline is waiting. Bytes,
    /// files and segmented bodies (part heads between ranges of a file)
    /// the socket does not take at once wait in the link's queue (the
    /// connection parks until the peer reads them); a handler's stream waits
    /// for the socket here, under the minimum send rate.
    fn send_body(
        self,
        head: &mut Option<Head>,
        enc: &mut BodyEncoder,
        body: Body,
        hold: bool,
    ) -> Result<()> {
        match body {
            // An upgrade reaches the writer only when it was refused (the
            // status is not 101): nothing to send of it.
            Body::Empty | Body::Upgrade(_) => {
                // A declared length the empty body cannot meet is found before
                // the head leaves, so the client gets a 500 instead.
                let end = enc.finish().map_err(overrun)?;
                self.link
                    .send(&[Part::Copy(&take(head)), Part::Copy(end)], hold)
            }
            Body::Bytes(b) => {
                if b.is_empty() {
                    let end = enc.finish().map_err(overrun)?;
                    return self
                        .link
                        .send(&[Part::Copy(&take(head)), Part::Copy(end)], hold);
                }
                let (chunk, tail) = enc.frame(b.len()).map_err(overrun)?;
                let end = enc.finish().map_err(overrun)?;
                match head {
                    Some(h) if b.len() <= COPY_BODY_MAX => {
                        for piece in [chunk.as_bytes(), &b, tail, end] {
                            h.0.extend_from_slice(piece);
                        }
                        self.link.send(&[Part::Copy(&take(head))], hold)
                    }
                    _ => self.link.send(
                        &[
                            Part::Copy(&take(head)),
                            Part::Copy(chunk.as_bytes()),
                            Part::Shared(&b),
                            Part::Copy(tail),
                            Part::Copy(end),
                        ],
                        hold,
                    ),
                }
            }
            Body::File { file, offset, len } => {
                // Files always have a length; the encoder counts the range now
                // (a file that shrinks while it is sent ends the connection).
                enc.frame(usize::try_from(len).unwrap_or(usize::MAX))
                    .map_err(overrun)?;
                enc.finish().map_err(overrun)?;
                self.link.send_file(&take(head), file, offset, len)
            }
            Body::Segments { file, segments } => {
                // As a file: the length is known and counted now.
                let len = segments_len(&segments);
                enc.frame(usize::try_from(len).unwrap_or(usize::MAX))
                    .map_err(overrun)?;
                enc.finish().map_err(overrun)?;
                self.link.send_segments(&take(head), file, &segments)
            }
            Body::Reader { reader, .. } => guarded(|| self.send_reader(head, enc, reader)),
            Body::Writer(f) => guarded(|| self.send_writer(head, enc, f)),
        }
    }

    /// Sends one framed piece of a streamed body (with the head, the first
    /// time) and waits until the socket has taken it.
    fn send_piece(self, head: &mut Option<Head>, enc: &mut BodyEncoder, data: &[u8]) -> Result<()> {
        let (chunk, tail) = enc.frame(data.len()).map_err(overrun)?;
        let head = head.take();
        self.link.send(
            &[
                Part::Copy(head.as_deref().unwrap_or(&[])),
                Part::Copy(chunk.as_bytes()),
                Part::Copy(data),
                Part::Copy(tail),
            ],
            false,
        )?;
        self.link
            .push_waiting(self.timeouts, Some(&self.config.permits))
    }

    /// Sends the end of a streamed body (and the head, if nothing was sent).
    fn send_end(self, head: &mut Option<Head>, enc: &mut BodyEncoder) -> Result<()> {
        let end = enc.finish().map_err(overrun)?;
        self.link
            .send(&[Part::Copy(&take(head)), Part::Copy(end)], false)?;
        self.link
            .push_waiting(self.timeouts, Some(&self.config.permits))
    }

    fn send_reader(
        self,
        head: &mut Option<Head>,
        enc: &mut BodyEncoder,
        mut reader: Box<dyn Read + Send>,
    ) -> Result<()> {
        let mut buf = vec![0u8; PIECE];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.send_piece(head, enc, &buf[..n])?;
        }
        self.send_end(head, enc)
    }

    fn send_writer(self, head: &mut Option<Head>, enc: &mut BodyEncoder, f: WriteFn) -> Result<()> {
        let mut w = ChunkWriter {
            writer: self,
            enc,
            head,
            buf: Vec::with_capacity(WRITER_BUFFER),
            failed: None,
        };
        let produced = f(&mut w);
        if let Some(e) = w.failed.take() {
            return Err(e);
        }
        produced?;
        w.send()?;
        self.send_end(w.head, w.enc)
    }
}

/// Runs handler-supplied body code; a panic aborts the response.
fn guarded(f: impl FnOnce() -> Result<()>) -> Result<()> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            stats::count(Counter::Panic);
            let msg = super::pool::panic_message(&payload).to_owned();
            log::error!("response body panicked: {msg}");
            Err(Error::handler(format!("response body panicked: {msg}")))
        }
    }
}

/// ChunkWriter is the `Write` a [`Body::Writer`] function writes to: it
/// buffers, and each `flush` (or a full buffer) sends one framed piece.
struct ChunkWriter<'a> {
    writer: ResponseWriter<'a>,
    enc: &'a mut BodyEncoder,
    /// The response head, until it goes out with the first piece.
    head: &'a mut Option<Head>,
    buf: Vec<u8>,
    /// The first socket error; later writes fail fast with it.
    failed: Option<Error>,
}

impl ChunkWriter<'_> {
    fn send(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.writer.send_piece(self.head, self.enc, &self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn send_io(&mut self) -> io::Result<()> {
        if self.failed.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "response aborted",
            ));
        }
        self.send().map_err(|e| {
            let msg = e.to_string();
            self.failed = Some(e);
            io::Error::new(io::ErrorKind::BrokenPipe, msg)
        })
    }
}

impl Write for ChunkWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "response aborted",
            ));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITER_BUFFER {
            self.send_io()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_io()
    }
}
