//! The routes of the `echo_api` example, and its item store (SQLite).
//!
//! Everything here uses only sockhttp's public API, as another crate
//! would. The binary (`main.rs`) adds flags, logging and signals; the
//! integration tests build the same [`app`] and serve it in-process.
//!
//! Routes (the contract that tests and benchmarks drive):
//!
//! | Route | Methods | Answer |
//! |---|---|---|
//! | `/` | GET | an HTML page listing the routes, with a form that calls them |
//! | `/echo` | any | 200, the request body streamed back verbatim |
//! | `/inspect` | any | 200, JSON describing the request |
//! | `/sleep?ms=N` | GET | 200 after sleeping N ms (at most [`MAX_SLEEP_MS`]) |
//! | `/stream?n=N` | GET | 200, chunked, `line 1\n` … `line N\n`, one chunk per line |
//! | `/panic` | any | the handler panics: the server answers 500 and lives on |
//! | `/pid` | GET | 200, JSON: the id of the process that answered |
//! | `/items` | GET, POST | list; create (201 + `Location`) |
//! | `/items/{id}` | GET, PUT, PATCH, DELETE | read; replace; merge; delete (204) |
//! | `/upload` | POST | a `multipart/form-data` upload, streamed: JSON listing each part |
//! | `/ws/echo` | GET (WebSocket) | every text and binary message echoed back unchanged |
//! | `/ws/chat` | GET (WebSocket) | each text message sent to every connected session |
//! | `/chat` | GET | an HTML page that chats through `/ws/chat` |
//! | `/metrics` | GET | the server's live statistics, in the Prometheus text format ([`metrics`]) |
//!
//! Errors this module produces have a JSON body `{"error": "..."}` whose
//! message is a fixed string, never built from the peer's bytes. Errors
//! the library produces by itself (404 for an unknown path, 405 + `Allow`,
//! 413, …) have its plain-text body.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde_json::{Map, Value, json};
use sockhttp::ws::{self, CloseCode, Closed, Group, Message, Session};
use sockhttp::{
    Body, HandlerError, HandlerResult, Request, Response, Router, Stats, StatsHandle, StatusCode,
};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The longest `/sleep` in milliseconds; larger values are capped to it.
pub const MAX_SLEEP_MS: u64 = 10_000;

/// The most lines `/stream` sends; larger values are capped to it.
pub const MAX_STREAM_LINES: u64 = 100_000;

/// Builds the router with every route of the example and a new, empty
/// in-memory item store, shared by the item routes as the router's state;
/// `/metrics` serves what `stats` reads (the handle of the server that
/// will serve the router: [`sockhttp::Server::stats_handle`]).
pub fn app(stats: StatsHandle) -> Router {
    app_with(
        Store::open(None).expect("an in-memory SQLite database opens"),
        stats,
    )
}

/// Builds the router with every route of the example, its items in
/// `items` (see [`Store::open`]) and `/metrics` reading `stats`.
pub fn app_with(items: Store, stats: StatsHandle) -> Router {
    let room = Group::new();
    Router::new()
        .with_state(items)
        .get("/", |_req| Response::html(INDEX_HTML))
        .any("/echo", echo)
        .any("/inspect", inspect)
        .get("/sleep", sleep)
        .get("/stream", stream)
        .any("/panic", |_req| -> Response {
            panic!("/panic panics on purpose");
        })
        .get("/pid", pid)
        .get("/items", |req| store(req).list())
        .post("/items", create)
        .get("/items/{id}", read)
        .put("/items/{id}", replace)
        .patch("/items/{id}", merge)
        .delete("/items/{id}", delete)
        .post("/upload", upload)
        .get("/ws/echo", ws_echo)
        .get("/ws/chat", move |req| chat(req, &room))
        .get("/chat", |_req| Response::html(CHAT_HTML))
        .get("/metrics", move |_req| {
            Response::bytes(PROMETHEUS_TEXT, metrics(&stats.snapshot()))
        })
}

/// The media type of the Prometheus text exposition format, version 0.0.4.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes `s` in the Prometheus text exposition format (version 0.0.4):
/// for each metric a `# HELP` and a `# TYPE` line, then its samples.
/// Counters end in `_total`; bytes are counted in `_bytes_total`.
///
/// Written by hand, the format being a few lines of text: a name, labels
/// in braces with quoted values, a space, a number, one sample per line.
pub fn metrics(s: &Stats) -> String {
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP sockhttp_{name} {help}");
        let _ = writeln!(out, "# TYPE sockhttp_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "sockhttp_{name}{labels} {value}");
        }
    };
    let one = |n: u64| vec![(String::new(), n)];
    metric(
        "open_connections",
        "gauge",
        "Connections open now, whatever they are doing.",
        one(s.open_connections),
    );
    metric(
        "parked_connections",
        "gauge",
        "Open connections waiting on their peer in the epoll set, holding no worker.",
        one(s.parked_connections),
    );
    metric(
        "busy_connections",
        "gauge",
        "Connections a worker is serving now.",
        one(s.busy_connections),
    );
    metric(
        "websocket_sessions",
        "gauge",
        "Open connections upgraded to WebSocket sessions.",
        one(s.websocket_sessions),
    );
    metric(
        "connections_accepted_total",
        "counter",
        "Connections accepted, refused ones included.",
        one(s.connections_accepted),
    );
    metric(
        "connections_refused_total",
        "counter",
        "Connections answered 503 and closed unserved (too many open, or no worker free).",
        one(s.connections_refused),
    );
    metric(
        "requests_total",
        "counter",
        "Requests answered, by status class.",
        labelled("class", &s.requests_by_class()),
    );
    metric(
        "received_bytes_total",
        "counter",
        "Bytes read from client sockets.",
        one(s.received_bytes),
    );
    metric(
        "sent_bytes_total",
        "counter",
        "Bytes written to client sockets.",
        one(s.sent_bytes),
    );
    metric(
        "timeouts_total",
        "counter",
        "Deadlines that passed, by phase: handshake (TLS, closed), idle (closed), head and body (408), write (closed).",
        labelled("phase", &s.timeouts_by_phase()),
    );
    metric(
        "handler_panics_total",
        "counter",
        "Panics caught in handlers, response bodies and WebSocket handlers.",
        one(s.handler_panics),
    );
    out
}

/// Labels each of `values` with `key="NAME"`, as samples of one metric.
fn labelled(key: &str, values: &[(&str, u64)]) -> Vec<(String, u64)> {
    values
        .iter()
        .map(|(name, n)| (format!("{{{key}=\"{name}\"}}"), *n))
        .collect()
}

/// The largest message `/ws/echo` takes: 16 MiB, the largest the
/// Autobahn test suite sends (its limits cases), run against this
/// endpoint for conformance.
pub const MAX_ECHO_MESSAGE: u64 = 16 * 1024 * 1024;

/// `/ws/echo`: a WebSocket that sends every message back unchanged.
/// Any origin may use it: it reads no cookie.
fn ws_echo(req: &mut Request) -> Response {
    let settings = ws::Settings::default()
        .max_frame_bytes(MAX_ECHO_MESSAGE)
        .max_message_bytes(MAX_ECHO_MESSAGE);
    ws::Upgrade::new(req)
        .allow_any_origin()
        .settings(settings)
        .accept(|session: &mut Session, msg: Message| {
            let _ = session.send(msg);
        })
}

/// The largest chat message: 4 KiB (1009 beyond).
pub const MAX_CHAT_MESSAGE: u64 = 4096;

/// `/ws/chat`: a chat room. Each text message goes to every session
/// (its sender too); a binary one closes the session with 1003. Only
/// pages of this server may join (the default origin check).
fn chat(req: &mut Request, room: &Group) -> Response {
    let settings = ws::Settings::default().max_message_bytes(MAX_CHAT_MESSAGE);
    ws::Upgrade::new(req)
        .settings(settings)
        .accept(Chatter { room: room.clone() })
}

/// Chatter is one member of the chat room.
struct Chatter {
    room: Group,
}

impl ws::Handler for Chatter {
    fn on_open(&mut self, session: &mut Session) {
        self.room.insert(session.sender());
    }

    fn on_message(&mut self, session: &mut Session, msg: Message) {
        match msg {
            Message::Text(text) => {
                self.room.broadcast(text);
            }
            Message::Binary(_) => session.close(CloseCode::UNSUPPORTED, "text only"),
        }
    }

    fn on_close(&mut self, session: &mut Session, _closed: &Closed) {
        self.room.remove(session.id());
    }
}

/// `/echo`: the request body, streamed back as it arrives.
///
/// The body is never held whole: the server reads a piece from the
/// request and writes it to the response, so a 1 GiB upload echoes with
/// flat memory. With a `Content-Length` the answer declares the same
/// length; a chunked upload is echoed chunked. The client must read while
/// it sends (as `curl` does), or both sides' socket buffers fill up.
///
/// The `Content-Type` comes from the peer, so it is set with the fallible
/// `try_with_header` (a value the parser admitted always passes).
fn echo(req: &mut Request) -> sockhttp::Result<Response> {
    let content_type = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_owned();
    let len = req.content_length();
    let body = req.take_body();
    Ok(Response::new(StatusCode::OK)
        .try_with_header("Content-Type", content_type)?
        .with_body(Body::Reader {
            reader: Box::new(body),
            len,
        }))
}

/// `/inspect`: the request as JSON. Header names are as received, in
/// order, repeated fields included; values that are not UTF-8 are shown
/// with U+FFFD in place of the bad bytes. The body is read and counted,
/// not kept. `client` is the client's address (the peer, or the client a
/// trusted proxy forwarded for, with port 0 when the proxy gave none), or
/// `unix:` for a peer on a Unix socket that named no other client, and
/// `proto` the scheme a trusted proxy reported, or null.
fn inspect(req: &mut Request) -> HandlerResult {
    let body_len = io::copy(req.body(), &mut io::sink())?;
    let headers: Vec<[String; 2]> = req
        .headers()
        .iter()
        .map(|(name, value)| [name.to_owned(), String::from_utf8_lossy(value).into_owned()])
        .collect();
    let doc = json!({
        "method": req.method().as_str(),
        "path": req.path(),
        "query": req.query(),
        "version": req.version().as_str(),
        "headers": headers,
        "body_len": body_len,
        "client": req.client().map(|c| c.to_string()),
        "proto": req.forwarded_proto(),
    });
    Ok(Response::json(doc.to_string()))
}

/// Parses a count from a query parameter: a decimal integer that fits in
/// 64 bits, capped to `max`. `None` if it is missing or not such a number.
pub fn bounded_count(value: Option<&str>, max: u64) -> Option<u64> {
    let value = value?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().map(|n| n.min(max))
}

/// `/sleep?ms=N`: holds a worker for N ms, to show what concurrency,
/// timeouts and graceful shutdown do.
fn sleep(req: &mut Request) -> HandlerResult {
    let ms = bounded_count(req.query_param("ms").as_deref(), MAX_SLEEP_MS)
        .ok_or_else(|| json_error(StatusCode::BAD_REQUEST, "ms must be a non-negative integer"))?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(Response::json(json!({ "slept_ms": ms }).to_string()))
}

/// `/stream?n=N`: N lines, each sent as its own chunk the moment it is
/// written (`flush` ends a chunk). `X-Accel-Buffering: no` asks nginx in
/// front (which buffers responses by default) to pass each chunk on as it
/// arrives, too; nginx does not forward that header to the client.
fn stream(req: &mut Request) -> HandlerResult {
    let n = bounded_count(req.query_param("n").as_deref(), MAX_STREAM_LINES)
        .ok_or_else(|| json_error(StatusCode::BAD_REQUEST, "n must be a non-negative integer"))?;
    Ok(Response::writer(move |w| {
        for i in 1..=n {
            writeln!(w, "line {i}")?;
            w.flush()?;
        }
        Ok(())
    })
    .with_header("Content-Type", "text/plain; charset=utf-8")
    .with_header("X-Accel-Buffering", "no"))
}

/// `GET /pid`: `{"pid": N}`, the id of the process that answered. With
/// several processes serving one port (`--reuse-port`), it tells which one
/// the kernel gave the connection to.
fn pid(_req: &mut Request) -> Response {
    Response::json(json!({ "pid": std::process::id() }).to_string())
}

/// `POST /upload`: a `multipart/form-data` upload (a browser form with
/// `enctype="multipart/form-data"`, or `curl -F`), read part by part as
/// it arrives. Each part's bytes are counted and dropped, never held
/// whole: a real application would `copy_to` a file instead of the sink.
/// Answers JSON with each part's `name`, `filename` (null for a plain
/// field), `content_type` and `size`. The library's limits apply (the
/// number of parts, their header sections, the whole body) with their
/// statuses; a body that is not `multipart/form-data` is `415`.
fn upload(req: &mut Request) -> HandlerResult {
    let mut form = req.multipart()?;
    let mut parts = Vec::new();
    while let Some(mut part) = form.next_part()? {
        let size = part.copy_to(&mut io::sink())?;
        parts.push(json!({
            "name": part.name(),
            "filename": part.filename(),
            "content_type": part.content_type(),
            "size": size,
        }));
    }
    Ok(Response::json(json!({ "parts": parts }).to_string()))
}

/// Makes an error that answers with a JSON body `{"error": message}`.
fn json_error(status: StatusCode, message: &'static str) -> HandlerError {
    HandlerError::new(status).json(json!({ "error": message }).to_string())
}

/// An item is a JSON object; its `id` lives in the store's key, and is
/// added to the object only when it is sent.
type Item = Map<String, Value>;

/// How long a connection waits for another one's write lock (another
/// worker, or another process on the same file) before its statement
/// fails with `SQLITE_BUSY`, answered `503`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Store is the item store, an SQLite database shared by every worker:
/// the router's state.
///
/// The table is `items(id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)`,
/// the body the item's JSON text. `AUTOINCREMENT` makes ids start at 1,
/// only grow, and never be reused, even after the last item is deleted
/// (SQLite keeps the high-water mark in `sqlite_sequence`).
///
/// Handlers call the database directly, blocking their worker, which is
/// what workers are for: no async, no queue in front of the database.
///
/// Connections: an SQLite connection is used by one thread at a time.
///
/// - With a file (`--db FILE`), each request checks a connection out of a
///   small pool and puts it back after, so the workers query in parallel;
///   the pool never holds more connections than there are workers. The
///   file is in WAL mode, so readers never wait for the writer and two
///   processes (the two instances behind nginx) can share it on one
///   machine; writers take turns, each waiting up to [`BUSY_TIMEOUT`].
/// - In memory (the default), a database belongs to its one connection,
///   so there is exactly one, behind a mutex: requests take turns. (A
///   shared-cache in-memory URI would allow several, but shared cache
///   locks tables with `SQLITE_LOCKED`, which the busy timeout does not
///   wait out.) The data lives as long as the process.
///
/// Each change (create, PUT, PATCH, DELETE) is one transaction begun with
/// `BEGIN IMMEDIATE`, which takes the write lock before its first
/// statement. That matters for PATCH, which reads the item, merges and
/// writes it back: two concurrent PATCHes of one item, from two workers
/// or two processes, run one after the other and both land. (A deferred
/// transaction would read, then fail to upgrade to a writer with
/// `SQLITE_BUSY` at once, without waiting.) Reads need no transaction.
pub struct Store {
    conns: Conns,
}

enum Conns {
    Memory(Mutex<Connection>),
    File {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
}

/// Returns the store, which [`app`] puts in the router. A handler reads
/// what it needs of the request (the body, the id) before it takes the
/// store, which borrows the request.
fn store(req: &Request) -> &Store {
    req.state::<Store>()
        .expect("app() gives the router its store")
}

impl Store {
    /// Opens the item store: an SQLite file (created if missing, its
    /// table too), or with `None` a new, empty in-memory database.
    pub fn open(db: Option<&Path>) -> rusqlite::Result<Store> {
        let conns = match db {
            None => {
                let conn = Connection::open_in_memory()?;
                create_table(&conn)?;
                Conns::Memory(Mutex::new(conn))
            }
            Some(path) => {
                let conn = open_file(path)?;
                create_table(&conn)?;
                Conns::File {
                    path: path.to_owned(),
                    idle: Mutex::new(vec![conn]),
                }
            }
        };
        Ok(Store { conns })
    }

    /// Runs `f` with a connection of its own. A panic in `f` cannot leave
    /// an item half-written: an open transaction rolls back when it is
    /// dropped, so a poisoned lock is still safe to use.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> HandlerResult<T> {
        let result = match &self.conns {
            Conns::Memory(conn) => f(&mut conn.lock().unwrap_or_else(|p| p.into_inner())),
            Conns::File { path, idle } => {
                let pooled = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let mut conn = match pooled {
                    Some(conn) => conn,
                    None => open_file(path).map_err(db_error)?,
                };
                let result = f(&mut conn);
                idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
                result
            }
        };
        result.map_err(db_error)
    }

    /// Runs `f` in a transaction that holds the write lock from its start
    /// (`BEGIN IMMEDIATE`), committed if `f` returns `Ok`.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> HandlerResult<T> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// `GET /items`: every item, in id order.
    fn list(&self) -> HandlerResult {
        let rows = self.with(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id, body FROM items ORDER BY id")?;
            let rows = stmt.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<(i64, String)>>>()
        })?;
        let all = rows
            .iter()
            .map(|(id, body)| Ok(with_id(*id, &parse_item(body)?)))
            .collect::<HandlerResult<Vec<Value>>>()?;
        Ok(Response::json(Value::Array(all).to_string()))
    }
}

/// Opens a connection to a database file, in WAL mode, with the busy
/// timeout.
fn open_file(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Persistent: set once, it stays in the file; answers the mode in force.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("{}: journal mode {mode}, not wal", path.display());
    }
    Ok(conn)
}

fn create_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS items (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             body TEXT NOT NULL
         )",
    )
}

/// A database failure is the server's: `503` when the write lock stayed
/// taken for the whole busy timeout (try again), `500` otherwise. The
/// details are logged, not sent.
fn db_error(e: rusqlite::Error) -> HandlerError {
    log::error!("item store: {e}");
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            json_error(StatusCode::SERVICE_UNAVAILABLE, "database busy")
        }
        _ => json_error(StatusCode::INTERNAL_SERVER_ERROR, "database error"),
    }
}

/// Parses a stored body (the JSON text of an object, as this module
/// wrote it).
fn parse_item(body: &str) -> HandlerResult<Item> {
    serde_json::from_str(body).map_err(|e| {
        log::error!("item store: a stored item is not a JSON object: {e}");
        json_error(StatusCode::INTERNAL_SERVER_ERROR, "database error")
    })
}

fn item_text(item: &Item) -> String {
    Value::Object(item.clone()).to_string()
}

/// `POST /items`: 201, `Location: /items/{id}`, the item with its id.
fn create(req: &mut Request) -> HandlerResult {
    let item = read_object(req, false)?;
    let text = item_text(&item);
    let id = store(req).write(|tx| {
        tx.prepare_cached("INSERT INTO items (body) VALUES (?1)")?
            .execute([&text])?;
        Ok(tx.last_insert_rowid())
    })?;
    Ok(Response::json(with_id(id, &item).to_string())
        .with_status(StatusCode::CREATED)
        .with_header("Location", format!("/items/{id}")))
}

/// `GET /items/{id}`.
fn read(req: &mut Request) -> HandlerResult {
    let id = item_id(req)?;
    let body = store(req).with(|conn| {
        conn.prepare_cached("SELECT body FROM items WHERE id = ?1")?
            .query_row([id], |row| row.get::<_, String>(0))
            .optional()
    })?;
    let item = parse_item(&body.ok_or_else(no_such_item)?)?;
    Ok(Response::json(with_id(id, &item).to_string()))
}

/// `PUT /items/{id}`: replaces every field. It does not create: an
/// unknown id is 404, since ids are the store's to give.
fn replace(req: &mut Request) -> HandlerResult {
    let id = item_id(req)?;
    let new = read_object(req, false)?;
    let text = item_text(&new);
    let changed = store(req).write(|tx| {
        tx.prepare_cached("UPDATE items SET body = ?1 WHERE id = ?2")?
            .execute(rusqlite::params![text, id])
    })?;
    if changed == 0 {
        return Err(no_such_item());
    }
    Ok(Response::json(with_id(id, &new).to_string()))
}

/// `PATCH /items/{id}`: merges the fields of the request into the item
/// (RFC 7396 JSON Merge Patch: a field set to `null` is removed, an
/// object merges into an object, anything else replaces). The read, the
/// merge and the write are one `BEGIN IMMEDIATE` transaction.
fn merge(req: &mut Request) -> HandlerResult {
    let id = item_id(req)?;
    let patch = read_object(req, true)?;
    let merged = store(req).write(|tx| {
        let body = tx
            .prepare_cached("SELECT body FROM items WHERE id = ?1")?
            .query_row([id], |row| row.get::<_, String>(0))
            .optional()?;
        let Some(body) = body else {
            return Ok(Err(no_such_item()));
        };
        let mut item = match parse_item(&body) {
            Ok(item) => item,
            Err(e) => return Ok(Err(e)),
        };
        merge_fields(&mut item, patch);
        tx.prepare_cached("UPDATE items SET body = ?1 WHERE id = ?2")?
            .execute(rusqlite::params![item_text(&item), id])?;
        Ok(Ok(item))
    })??;
    Ok(Response::json(with_id(id, &merged).to_string()))
}

/// `DELETE /items/{id}`: 204.
fn delete(req: &mut Request) -> HandlerResult {
    let id = item_id(req)?;
    let deleted = store(req).write(|tx| {
        tx.prepare_cached("DELETE FROM items WHERE id = ?1")?
            .execute([id])
    })?;
    match deleted {
        0 => Err(no_such_item()),
        _ => Ok(Response::new(StatusCode::NO_CONTENT)),
    }
}

/// Returns the item as a JSON object with its `id` field.
fn with_id(id: i64, item: &Item) -> Value {
    let mut obj = item.clone();
    obj.insert("id".to_owned(), Value::from(id));
    Value::Object(obj)
}

fn no_such_item() -> HandlerError {
    json_error(StatusCode::NOT_FOUND, "no such item")
}

/// Returns the `{id}` route parameter. An id that is not an integer in
/// canonical form (`abc`, `-1`, `007`, `1.0`) names no item: 404, the
/// same answer as an id that was never given or has been deleted, so
/// `/items/007` is never an alias of `/items/7`. Ids are SQLite rowids:
/// one past `i64::MAX` cannot name an item either.
fn item_id(req: &Request) -> HandlerResult<i64> {
    req.param("id")
        .and_then(|s| s.parse::<u64>().ok().filter(|id| id.to_string() == s))
        .and_then(|id| i64::try_from(id).ok())
        .ok_or_else(no_such_item)
}

/// Reports whether a `Content-Type` value names JSON: `application/json`
/// (or, for a PATCH, RFC 7396's `application/merge-patch+json`), in any
/// case, with or without parameters such as `; charset=utf-8`.
fn is_json(content_type: Option<&str>, merge_patch: bool) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (merge_patch && essence.eq_ignore_ascii_case("application/merge-patch+json"))
}

/// Reads the request body as a JSON object, the checks in this order:
/// 415 if the `Content-Type` is not JSON (the body is not read); the
/// library's 413 over the in-memory body limit; 400 if the body is not
/// JSON, or is JSON but not an object. An `id` field in the body is
/// dropped: ids are the store's.
fn read_object(req: &mut Request, merge_patch: bool) -> HandlerResult<Item> {
    if !is_json(req.header("content-type"), merge_patch) {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let bytes = req.body_bytes()?; // the library's own answer: 413, 400, 408
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        // Only the position goes back to the client; serde's message is
        // logged, as error details are. (A bare `?` would answer 500.)
        log::debug!("invalid JSON body: {e}");
        let body = json!({ "error": "invalid JSON", "line": e.line(), "column": e.column() });
        HandlerError::new(StatusCode::BAD_REQUEST).json(body.to_string())
    })?;
    match value {
        Value::Object(mut item) => {
            item.remove("id");
            Ok(item)
        }
        _ => Err(json_error(
            StatusCode::BAD_REQUEST,
            "an item must be a JSON object",
        )),
    }
}

/// Applies RFC 7396 JSON Merge Patch to the fields of an item. The
/// recursion is bounded: serde_json refuses documents nested more than
/// 128 levels deep.
fn merge_fields(target: &mut Item, patch: Item) {
    for (name, value) in patch {
        match value {
            Value::Null => {
                target.remove(&name);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(obj) = slot {
                    merge_fields(obj, inner);
                }
            }
            other => {
                target.insert(name, other);
            }
        }
    }
}

/// The page at `/`: what the API offers, and a form to try it from a
/// browser (plain `fetch`, no framework).
const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sockhttp echo_api</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; }
code, textarea, pre { font: 13px ui-monospace, monospace; }
td { padding: .15em .8em .15em 0; vertical-align: top; }
textarea { width: 100%; }
pre { background: #f4f4f4; padding: .8em; overflow: auto; }
</style>
</head>
<body>
<h1>echo_api</h1>
<p>A sockhttp example: every answer below is computed per request.</p>
<table>
<tr><td><code>GET /</code></td><td>this page</td></tr>
<tr><td><code>* /echo</code></td><td>the request body, streamed back verbatim (same Content-Type)</td></tr>
<tr><td><code>* /inspect</code></td><td>JSON: method, path, query, version, headers, body_len, client, proto</td></tr>
<tr><td><code>GET /sleep?ms=N</code></td><td>200 after N ms (at most 10000)</td></tr>
<tr><td><code>GET /stream?n=N</code></td><td>N lines, chunked, one chunk per line (at most 100000)</td></tr>
<tr><td><code>* /panic</code></td><td>a handler that panics: one 500, and the server keeps serving</td></tr>
<tr><td><code>GET /pid</code></td><td>JSON: the id of the process that answered (several may serve one port)</td></tr>
<tr><td><code>GET, POST /items</code></td><td>list items; create one (JSON object) &rarr; 201 + Location</td></tr>
<tr><td><code>GET, PUT, PATCH, DELETE /items/{id}</code></td><td>read, replace, merge (RFC 7396), delete &rarr; 204</td></tr>
<tr><td><code>POST /upload</code></td><td>a <code>multipart/form-data</code> upload, streamed: JSON listing each part's name, filename and size</td></tr>
<tr><td><code>GET /ws/echo</code></td><td>a WebSocket: every message echoed back</td></tr>
<tr><td><code>GET /ws/chat</code></td><td>a WebSocket chat room: each text message goes to everyone</td></tr>
<tr><td><code>GET <a href="/chat">/chat</a></code></td><td>a page that chats through <code>/ws/chat</code></td></tr>
<tr><td><code>GET <a href="/metrics">/metrics</a></code></td><td>the server's live statistics, in the Prometheus text format</td></tr>
</table>
<h2>Try it</h2>
<form id="try">
<p>
<select id="method">
<option>GET</option><option>POST</option><option>PUT</option><option>PATCH</option><option>DELETE</option>
</select>
<input id="path" value="/inspect?hello=world" size="40">
<button>Send</button>
</p>
<p><textarea id="body" rows="4" placeholder='request body, e.g. {"name": "apple"}'></textarea></p>
</form>
<pre id="out">The response appears here.</pre>
<h2>Upload</h2>
<form id="upload" method="post" action="/upload" enctype="multipart/form-data">
<p><input name="note" placeholder="a text field"> <input type="file" name="file" multiple> <button>Upload</button></p>
</form>
<script>
document.getElementById("try").addEventListener("submit", async (event) => {
  event.preventDefault();
  const method = document.getElementById("method").value;
  const body = document.getElementById("body").value;
  const out = document.getElementById("out");
  const init = { method, headers: {} };
  if (method !== "GET" && method !== "DELETE" && body !== "") {
    init.body = body;
    init.headers["Content-Type"] = "application/json";
  }
  out.textContent = "...";
  try {
    const resp = await fetch(document.getElementById("path").value, init);
    let text = resp.status + " " + resp.statusText + "\n";
    resp.headers.forEach((value, name) => { text += name + ": " + value + "\n"; });
    out.textContent = text + "\n" + await resp.text();
  } catch (err) {
    out.textContent = "request failed: " + err;
  }
});
</script>
</body>
</html>
"#;

/// The page at `/chat`: a chat room over `/ws/chat`. With `?say=TEXT` it
/// sends TEXT as soon as it is connected (the browser test uses it).
const CHAT_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sockhttp chat</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; }
#log { list-style: none; padding: 0; min-height: 10em; border: 1px solid #ccc; padding: .5em; }
</style>
</head>
<body>
<h1>Chat</h1>
<p id="status">connecting...</p>
<ul id="log"></ul>
<form id="say"><input id="text" size="40" autocomplete="off" autofocus> <button>Send</button></form>
<script>
const status = document.getElementById("status");
const log = document.getElementById("log");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const socket = new WebSocket(scheme + location.host + "/ws/chat");
socket.addEventListener("open", () => {
  status.textContent = "connected";
  const say = new URLSearchParams(location.search).get("say");
  if (say) socket.send(say);
});
socket.addEventListener("message", (event) => {
  const item = document.createElement("li");
  item.textContent = event.data;
  log.appendChild(item);
});
socket.addEventListener("close", (event) => {
  status.textContent = "closed (" + event.code + ")";
});
document.getElementById("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("text");
  if (text.value !== "") socket.send(text.value);
  text.value = "";
});
</script>
</body>
</html>
"#;
