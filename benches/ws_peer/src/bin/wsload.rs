//! `wsload`: the WebSocket load generator of `benches/ws_load.py`.
//!
//! ```text
//! wsload --url ws://127.0.0.1:8080/ws/echo                  # 16 busy sessions, 10 s
//! wsload --url ws://127.0.0.1:8080/ --idle 10000 --busy 0 --hold
//! ```
//!
//! 1. Opens `--idle` sessions one after the other from one thread: the
//!    handshake done, then silent. They are only sockets in a `Vec`, held
//!    until the end, and it prints `idle: N sessions open in S s`.
//! 2. With `--hold`, waits for a line (or end of file) on stdin, so that
//!    the caller can measure the server while the idle sessions are held.
//! 3. Runs `--busy` sessions, one thread each, every one doing echo round
//!    trips as fast as it can: send a text message, wait for its echo.
//!    The first `--warmup` seconds are not counted, then `--duration`
//!    seconds are. It prints the round trips per second, the p50 and p99
//!    round-trip latency, and the errors (a failed handshake, send or
//!    read, a timeout of 5 s, or an echo that differs from the message);
//!    after an error, the session reconnects and goes on.
//!
//! The handshake is written by hand (to hold idle sessions as bare
//! sockets, and to report a refused upgrade with its status line);
//! tungstenite checks the `Sec-WebSocket-Accept` key and frames the busy
//! sessions' messages. It raises its own open-file limit to what it needs,
//! and fails, saying so, when it cannot.
//!
//! On stdout, the lines that `ws_load.py` reads:
//!
//! ```text
//! idle: 10000 sessions open in 1.52 s
//! busy: 16 sessions, 32-byte text messages, 1 s warm-up, 10 s measured
//! round trips: 1234567 (123456.7/s)
//! latency: p50 0.123 ms, p99 0.456 ms
//! errors: 0
//! ```

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes, WebSocket};

const USAGE: &str = "\
Usage: wsload --url ws://HOST:PORT/PATH [--idle N] [--busy K] [--duration S]
              [--warmup S] [--bytes M] [--hold]

Opens N idle WebSocket sessions and holds them, then runs K busy sessions
doing echo round trips of M-byte text messages for S seconds; prints round
trips per second, p50 and p99 latency, and errors.

Options:
  --url URL       the echo endpoint (ws:// only)
  --idle N        idle sessions to open first and hold (default 0)
  --busy K        busy sessions, one thread each (default 16; 0 for none)
  --duration S    seconds of measured load (default 10)
  --warmup S      seconds of load before, not counted (default 1)
  --bytes M       size of each text message (default 32)
  --hold          after opening the idle sessions, wait for a line on stdin
  --help          print this help and exit
";

/// How long one handshake, send or read may take before it counts as an
/// error (wrk's `--timeout` in `benches/load.py`).
const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest handshake response head read.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Each busy session's read buffer: room for many echoes at once.
const READ_BUFFER_BYTES: usize = 4096;

/// Descriptors needed beyond one per session: stdio, the allocator's and
/// the runtime's own, with room to spare.
const SPARE_FDS: u64 = 64;

/// Options are the parsed command-line flags.
#[derive(Debug)]
struct Options {
    url: String,
    idle: usize,
    busy: usize,
    duration: Duration,
    warmup: Duration,
    bytes: usize,
    hold: bool,
}

/// Target is where the sessions connect: the parts of a `ws://` URL.
#[derive(Debug, Clone)]
struct Target {
    /// `HOST:PORT`, for `connect` and the `Host` header.
    authority: String,
    /// The request target, `/` when the URL has none.
    path: String,
}

/// Stats are one busy session's results.
#[derive(Debug, Default)]
struct Stats {
    /// Round-trip times of the measured round trips, in nanoseconds.
    rtts: Vec<u64>,
    errors: u64,
    /// The first error, to be shown.
    first_error: Option<String>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let Some(opts) = parse_args(std::env::args().skip(1))? else {
        print!("{USAGE}");
        return Ok(());
    };
    let target = parse_url(&opts.url)?;
    raise_nofile(opts.idle as u64 + opts.busy as u64 + SPARE_FDS)?;

    let started = Instant::now();
    let mut idle = Vec::with_capacity(opts.idle);
    for i in 0..opts.idle {
        let (stream, _) = handshake(&target)
            .map_err(|e| format!("idle session {} of {}: {e}", i + 1, opts.idle))?;
        idle.push(stream);
    }
    if opts.idle > 0 {
        let secs = started.elapsed().as_secs_f64();
        println!("idle: {} sessions open in {secs:.2} s", opts.idle);
    }
    if opts.hold {
        // Flushed: stdout is line-buffered, and the caller waits on it.
        let _ = io::stdin().lock().read_line(&mut String::new());
    }
    if opts.busy > 0 {
        run_busy(&target, &opts)?;
    }
    drop(idle);
    Ok(())
}

/// Parses the flags after the program name; `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        url: String::new(),
        idle: 0,
        busy: 16,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        bytes: 32,
        hold: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--url" => opts.url = value()?,
            "--idle" => opts.idle = parse_number(&arg, &value()?)?,
            "--busy" => opts.busy = parse_number(&arg, &value()?)?,
            "--duration" => opts.duration = parse_seconds(&arg, &value()?)?,
            "--warmup" => opts.warmup = parse_seconds(&arg, &value()?)?,
            "--bytes" => opts.bytes = parse_number(&arg, &value()?)?,
            "--hold" => opts.hold = true,
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        }
    }
    if opts.url.is_empty() {
        return Err(format!("--url is required\n\n{USAGE}"));
    }
    Ok(Some(opts))
}

fn parse_number(flag: &str, v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("{flag} needs a whole number, not {v:?}"))
}

fn parse_seconds(flag: &str, v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{flag} needs seconds, not {v:?}")),
    }
}

/// Splits `ws://HOST:PORT/PATH` into its authority and path.
fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or(format!("{url:?}: only ws:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok(Target {
        authority: authority.to_owned(),
        path: path.to_owned(),
    })
}

/// Raises this process's soft RLIMIT_NOFILE to `need` descriptors (and
/// the hard limit too when it is lower, which takes privilege).
fn raise_nofile(need: u64) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is RLIM_INFINITY.
    let soft = limit.current.unwrap_or(u64::MAX);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    if soft >= need {
        return Ok(());
    }
    let wanted = Rlimit {
        current: Some(need),
        maximum: Some(hard.max(need)),
    };
    setrlimit(Resource::Nofile, wanted).map_err(|e| {
        format!(
            "needs {need} open files, but RLIMIT_NOFILE is {soft} (hard limit {hard}) \
             and raising it failed ({e}): raise it first (ulimit -n {need}) or run with \
             the privilege to"
        )
    })
}

/// Opens a TCP connection to `target` and does the WebSocket opening
/// handshake (RFC 6455 §4.1) by hand. Returns the socket, with 5 s read
/// and write timeouts, and any bytes read past the response head.
fn handshake(target: &Target) -> Result<(TcpStream, Vec<u8>), String> {
    let mut stream = TcpStream::connect(&target.authority)
        .map_err(|e| format!("connect to {}: {e}", target.authority))?;
    // Each message is one small write: no waiting for acknowledgements.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let key = generate_key();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send the handshake: {e}"))?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_len = loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("read the handshake response: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection during the handshake".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(format!(
                "handshake response head over {MAX_HEAD_BYTES} bytes"
            ));
        }
    };

    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut fields);
    resp.parse(&buf[..head_len])
        .map_err(|e| format!("unparsable handshake response: {e}"))?;
    let status = resp.code.unwrap_or(0);
    if status != 101 {
        return Err(format!(
            "the handshake for {} got \"{status} {}\", not \"101 Switching Protocols\"",
            target.path,
            resp.reason.unwrap_or("")
        ));
    }
    let accept = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value);
    if accept != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
        return Err("101 without the right Sec-WebSocket-Accept".to_owned());
    }
    Ok((stream, buf.split_off(head_len)))
}

/// Opens a busy session: the handshake, then tungstenite's framing.
fn connect(target: &Target) -> Result<WebSocket<TcpStream>, String> {
    let (stream, rest) = handshake(target)?;
    // tungstenite zero-fills the free part of its read buffer before each
    // read: 128 KiB by default, while an echo is a few dozen bytes.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    Ok(WebSocket::from_partially_read(
        stream,
        rest,
        Role::Client,
        Some(config),
    ))
}

/// Connects the busy sessions (handshakes are not timed), runs them on a
/// thread each, and prints the report.
fn run_busy(target: &Target, opts: &Options) -> Result<(), String> {
    let sessions = (0..opts.busy)
        .map(|i| {
            connect(target).map_err(|e| format!("busy session {} of {}: {e}", i + 1, opts.busy))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A printable payload, so that a text message carries it as it is.
    let text: String = (b'a'..=b'z')
        .cycle()
        .take(opts.bytes)
        .map(char::from)
        .collect();
    let message = Utf8Bytes::from(text);
    let measure_from = Instant::now() + opts.warmup;
    let end = measure_from + opts.duration;

    let all: Vec<Stats> = thread::scope(|s| {
        let handles: Vec<_> = sessions
            .into_iter()
            .map(|ws| {
                let message = message.clone();
                s.spawn(move || echo_loop(ws, target, &message, measure_from, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a busy session thread does not panic"))
            .collect()
    });

    let errors: u64 = all.iter().map(|s| s.errors).sum();
    let mut rtts: Vec<u64> = all.iter().flat_map(|s| s.rtts.iter().copied()).collect();
    rtts.sort_unstable();
    let secs = opts.duration.as_secs_f64();
    println!(
        "busy: {} sessions, {}-byte text messages, {} s warm-up, {} s measured",
        opts.busy,
        opts.bytes,
        opts.warmup.as_secs_f64(),
        secs
    );
    println!(
        "round trips: {} ({:.1}/s)",
        rtts.len(),
        rtts.len() as f64 / secs.max(1e-9)
    );
    println!(
        "latency: p50 {:.3} ms, p99 {:.3} ms",
        percentile_ms(&rtts, 50),
        percentile_ms(&rtts, 99)
    );
    println!("errors: {errors}");
    if let Some(first) = all.iter().find_map(|s| s.first_error.as_ref()) {
        eprintln!("wsload: first error: {first}");
    }
    Ok(())
}

/// The `pct`th percentile (nearest rank) of sorted nanoseconds, in
/// milliseconds; NaN when there is none.
fn percentile_ms(sorted: &[u64], pct: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1] as f64 / 1e6
}

/// One busy session: echo round trips back to back until `end`, timing
/// those that start at or after `measure_from`.
fn echo_loop(
    mut ws: WebSocket<TcpStream>,
    target: &Target,
    message: &Utf8Bytes,
    measure_from: Instant,
    end: Instant,
) -> Stats {
    let mut stats = Stats::default();
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        match round_trip(&mut ws, message) {
            Ok(()) => {
                if sent >= measure_from {
                    let rtt = sent.elapsed().as_nanos();
                    stats.rtts.push(u64::try_from(rtt).unwrap_or(u64::MAX));
                }
            }
            Err(e) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(e);
                match connect(target) {
                    Ok(fresh) => ws = fresh,
                    Err(e) => {
                        // The server is gone or refusing: stop this session.
                        stats.errors += 1;
                        stats.first_error.get_or_insert(e);
                        return stats;
                    }
                }
            }
        }
    }
    // Close cleanly: a close frame, then wait for the server's (reads end
    // with an error once the closing handshake is done, or at a timeout).
    if ws.close(None).is_ok() {
        while ws.read().is_ok() {}
    }
    stats
}

/// Sends `message` and reads until its echo.
fn round_trip(ws: &mut WebSocket<TcpStream>, message: &Utf8Bytes) -> Result<(), String> {
    ws.send(Message::Text(message.clone()))
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.read().map_err(|e| format!("read: {e}"))? {
            Message::Text(echo) if echo == *message => return Ok(()),
            // tungstenite has already queued the answer to a ping.
            Message::Ping(_) | Message::Pong(_) => continue,
            other => {
                return Err(format!(
                    "expected the echo of a {}-byte text message, got a {}-byte {}",
                    message.len(),
                    other.len(),
                    kind(&other)
                ));
            }
        }
    }
}

/// Names a message's kind for an error.
fn kind(msg: &Message) -> &'static str {
    match msg {
        Message::Text(_) => "text message",
        Message::Binary(_) => "binary message",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close frame",
        Message::Frame(_) => "raw frame",
    }
}
