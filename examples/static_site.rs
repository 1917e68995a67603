//! A static file server: sockhttp's answer to `python3 -m http.server`,
//! with correct caching, ranges, keep-alive and path safety.
//!
//! `cargo run --example static_site` serves the bundled sample site
//! (`examples/static_site/public/`) on `http://127.0.0.1:8080`; then try
//! `curl -i http://127.0.0.1:8080/` or `curl -r 0-99
//! http://127.0.0.1:8080/files/big.txt`. `RUST_LOG=info` shows the access
//! log on stderr. Ctrl-C or SIGTERM shuts down gracefully (in-flight
//! requests finish) and the process exits with status 0.
//!
//! Directory listings are on (`--no-listing` turns them off), files are
//! sent with `Cache-Control: no-cache` (`--cache-control` changes it),
//! and a precompressed `name.gz` next to `name` is sent, with
//! `Content-Encoding: gzip`, to clients that accept gzip.
//!
//! With `--reuse-port` (Linux) it binds with `SO_REUSEPORT`: several
//! `static_site --reuse-port` processes then serve one port, the kernel
//! spreading connections over them (see the README's "Several processes
//! on one port").
//!
//! With `--unix PATH` (Unix) it listens on a Unix domain socket instead,
//! for a proxy on the same machine (see the README's "Unix domain
//! sockets"); the file is removed at a graceful shutdown.
//!
//! With `--tls-cert FILE --tls-key FILE` (PEM; built with `--features
//! tls`) it serves HTTPS itself; `SIGHUP` reads the two files again, so a
//! renewed certificate is used by new connections without a restart.
//!
//! On start it prints exactly one line to stdout,
//! `listening on http://HOST:PORT` (`https://` with TLS), with the real
//! port (also for `--addr 127.0.0.1:0`), or `listening on unix:PATH`, so
//! scripts and tests can read it.

#[path = "shared/serving.rs"]
mod serving;

use serving::TlsFlags;
use sockhttp::{Server, StaticFiles, default_threads};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: static_site [OPTIONS]

Serves a directory over HTTP/1.1.

Options:
  --addr HOST:PORT          address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
  --unix PATH               listen on a Unix domain socket at PATH instead (Unix only); prints
                            `listening on unix:PATH`. A socket file there that nothing listens
                            on is replaced; a live socket or any other file is refused. The
                            file is removed at a graceful shutdown
  --root DIR                directory to serve (default: the bundled sample site)
  --threads N               worker threads (default: four per CPU, at least eight)
  --no-listing              answer 404 for directories without index.html instead of listing them
  --cache-control VALUE     Cache-Control for files (default: no-cache; '' sends none)
  --reuse-port              bind with SO_REUSEPORT (Linux only): other processes started with it
                            on the same port serve it too, the kernel spreading connections
  --tls-cert FILE           serve HTTPS with this PEM certificate chain (needs --tls-key and a
                            build with `--features tls`); prints `listening on https://HOST:PORT`.
                            SIGHUP reads the certificate and key files again
  --tls-key FILE            the PEM private key of --tls-cert
  -h, --help                print this help

Environment:
  RUST_LOG=info             log one access line per request to stderr
";

/// Config is the parsed command line.
#[derive(Debug)]
struct Config {
    addr: String,
    /// `--unix PATH`: a Unix socket instead of `addr`.
    unix: Option<PathBuf>,
    root: PathBuf,
    threads: usize,
    listing: bool,
    cache_control: Option<String>,
    reuse_port: bool,
    tls: TlsFlags,
}

/// What the command line asks for.
enum Command {
    Serve(Config),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut config = Config {
        addr: "127.0.0.1:8080".to_owned(),
        unix: None,
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/static_site/public"),
        threads: default_threads(),
        listing: true,
        cache_control: Some("no-cache".to_owned()),
        reuse_port: false,
        tls: TlsFlags::default(),
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--addr" => config.addr = value("--addr")?,
            "--unix" => config.unix = Some(PathBuf::from(value("--unix")?)),
            "--root" => config.root = PathBuf::from(value("--root")?),
            "--threads" => {
                let v = value("--threads")?;
                config.threads = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--threads wants a positive number, not {v:?}")),
                };
            }
            "--no-listing" => config.listing = false,
            "--reuse-port" => config.reuse_port = true,
            "--cache-control" => {
                let v = value("--cache-control")?;
                config.cache_control = (!v.is_empty()).then_some(v);
            }
            flag if config.tls.take(flag, || value(flag))? => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    config.tls.check()?;
    if config.unix.is_some() && config.reuse_port {
        return Err("--unix and --reuse-port do not go together".to_owned());
    }
    Ok(Command::Serve(config))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(c)) => c,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("static_site: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("static_site: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds the Unix socket of `--unix PATH` (see `Server::bind_unix` for
/// the rule on a file already there).
#[cfg(unix)]
fn bind_unix(path: &std::path::Path) -> Result<Server, String> {
    Server::bind_unix(path).map_err(|e| format!("cannot listen on unix:{}: {e}", path.display()))
}

#[cfg(not(unix))]
fn bind_unix(path: &std::path::Path) -> Result<Server, String> {
    Err(format!(
        "cannot listen on unix:{}: Unix sockets are for Unix systems",
        path.display()
    ))
}

fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    if !config.root.is_dir() {
        return Err(format!("{} is not a directory", config.root.display()).into());
    }
    let files = StaticFiles::new(&config.root)
        .listing(config.listing)
        .cache_control(config.cache_control.as_deref())
        .precompressed_gzip(true);
    let bound = match &config.unix {
        Some(path) => bind_unix(path),
        None if config.reuse_port => Server::bind_reuse_port(config.addr.as_str())
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr)),
        None => Server::bind(config.addr.as_str())
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr)),
    };
    let (server, reload) = config.tls.apply(bound?.threads(config.threads))?;

    // Ctrl-C and SIGTERM start a graceful shutdown; `serve` returns when
    // in-flight requests have finished. SIGHUP reloads the certificate.
    serving::handle_signals("static_site", server.shutdown_handle(), reload)?;

    log::info!(
        "serving {} with {} threads",
        config.root.display(),
        config.threads
    );
    let mut stdout = std::io::stdout().lock();
    // `http://127.0.0.1:8080`, `https://…` with TLS, or `unix:/path`.
    writeln!(stdout, "{}", config.tls.listen_line(server.listen_addr()))?;
    stdout.flush()?;
    drop(stdout);

    server.serve(files)?;
    log::info!("shut down");
    Ok(())
}
