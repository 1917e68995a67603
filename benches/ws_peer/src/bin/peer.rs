//! `peer`: the WebSocket echo server that `benches/ws_load.py` measures
//! sockhttp's `echo_api` against: tokio-tungstenite on a `current_thread`
//! tokio runtime, so one thread serves every session, as an async server
//! pinned to one CPU would.
//!
//! ```text
//! peer                          # 127.0.0.1:8080
//! peer --addr 127.0.0.1:0       # any free port
//! ```
//!
//! Any request path is upgraded (RFC 6455 handshake by tungstenite), and
//! every text and binary message is sent back unchanged; tungstenite
//! answers pings and close frames itself. It runs with tungstenite's
//! default configuration, as a program that does not tune it would,
//! except for the read buffer when `--read-buffer-bytes` is given: each
//! session holds one, 128 KiB by default, and it is most of what an idle
//! session costs.
//!
//! It prints exactly one line on stdout, `listening on http://HOST:PORT`,
//! with the port really bound (useful with port 0), and errors on stderr.
//! It runs until it is killed.

use futures_util::{SinkExt, StreamExt};
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const USAGE: &str = "\
Usage: peer [--addr HOST:PORT] [--read-buffer-bytes N]

A tokio-tungstenite WebSocket echo server on one thread: every text and
binary message is sent back unchanged, on any path.

Options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
  --read-buffer-bytes N
                    each session's read buffer (default tungstenite's, 128 KiB)
  --help            print this help and exit
";

/// How long to wait before accepting again after `accept` failed (out of
/// descriptors, typically), so that the failure does not spin the CPU.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Options are the parsed command-line flags.
#[derive(Debug)]
struct Options {
    addr: String,
    /// The sessions' configuration: tungstenite's default, or its read
    /// buffer resized by `--read-buffer-bytes`.
    config: WebSocketConfig,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("peer: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peer: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(&opts.addr, opts.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the flags after the program name; `Ok(None)` means `--help`.
/// Both `--flag X` and `--flag=X` are accepted.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        addr: "127.0.0.1:8080".to_owned(),
        config: WebSocketConfig::default(),
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, v)) => (flag.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--addr" => opts.addr = value()?,
            "--read-buffer-bytes" => {
                let v = value()?;
                match v.parse::<usize>() {
                    // tungstenite reads into the spare room of this buffer:
                    // it must have some.
                    Ok(n) if n > 0 => opts.config = opts.config.read_buffer_size(n),
                    _ => {
                        return Err(format!(
                            "--read-buffer-bytes needs a positive integer, not {v:?}"
                        ));
                    }
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(opts))
}

/// Binds `addr`, announces the bound address, and serves each accepted
/// connection in its own task, forever.
async fn serve(addr: &str, config: WebSocketConfig) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // println! flushes at the newline: stdout is line-buffered in Rust.
    println!("listening on http://{local}");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream, config));
            }
            Err(e) => {
                eprintln!("peer: accept: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Upgrades one connection and echoes its data messages until the peer
/// closes it or an error ends it.
async fn echo(stream: TcpStream, config: WebSocketConfig) {
    // Each echo is one small write: without this, Nagle's algorithm could
    // hold it back while an acknowledgement is outstanding.
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}
