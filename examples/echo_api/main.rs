//! `echo_api`: an application server, where every response is computed per
//! request. A demo of sockhttp's dynamic side, and the contract that its
//! tests and benchmarks drive.
//!
//! ```text
//! cargo run --example echo_api                          # 127.0.0.1:8080
//! cargo run --example echo_api -- --addr 127.0.0.1:0    # any free port
//! RUST_LOG=info cargo run --example echo_api            # with the access log
//! cargo run --example echo_api -- --trusted-proxies 127.0.0.1   # behind nginx
//! cargo run --example echo_api -- --trusted-proxies 10.0.0.0/8 --forwarding-header forwarded
//! cargo run --example echo_api -- --db items.db        # items kept in an SQLite file
//! cargo run --example echo_api -- --reuse-port         # share the port with other processes (Linux)
//! cargo run --example echo_api -- --unix echo_api.sock --trusted-proxies unix:   # behind nginx, on a Unix socket
//! cargo run --example echo_api --features tls -- --tls-cert cert.pem --tls-key key.pem   # HTTPS itself
//! ```
//!
//! With `--tls-cert FILE --tls-key FILE` (PEM; a build with `--features
//! tls`) it serves HTTPS itself, `wss://` included, and prints
//! `listening on https://HOST:PORT`; `SIGHUP` reads the two files again,
//! so a renewed certificate serves new connections without a restart.
//!
//! Started by systemd through a socket unit (`deploy/echo_api.socket`, or
//! `deploy/echo_api-unix.socket` for a Unix socket), it serves on the
//! listening socket it inherits as fd 3 (`LISTEN_FDS=1`, `LISTEN_PID` its
//! own pid), TCP or Unix, and ignores `--addr`, `--unix` and
//! `--reuse-port`; see `deploy/README.md`.
//!
//! With `--unix PATH` (Unix) it listens on a Unix domain socket instead of
//! a TCP port, for a proxy on the same machine: a socket file left behind
//! by a server that is gone is replaced, a live one or a file that is not
//! a socket is refused, and the file is removed at a graceful shutdown.
//! Its line is then `listening on unix:PATH`.
//!
//! With `--reuse-port` (Linux) it binds with `SO_REUSEPORT`, so that
//! several `echo_api --reuse-port` processes serve one port, the kernel
//! spreading connections over them (`GET /pid` says which one answered);
//! see the README's "Several processes on one port".
//!
//! It prints exactly one line on stdout, `listening on http://HOST:PORT`
//! (`listening on unix:PATH` on a Unix socket), with the port really
//! bound (useful with port 0), and logs to stderr.
//! Ctrl-C or SIGTERM starts a graceful shutdown: stop accepting, close
//! idle connections, let requests in flight finish; the process then exits
//! with status 0. A second Ctrl-C during the shutdown exits at once.
//!
//! `GET /metrics` serves the server's live statistics in the Prometheus
//! text format (see the README's "Live statistics and `/metrics`").
//!
//! The routes are in `app.rs`; see its table, or `GET /`.

mod app;
#[path = "../shared/serving.rs"]
mod serving;

use serving::TlsFlags;
use sockhttp::{ForwardingHeader, Server, TrustedProxies};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: echo_api [--addr HOST:PORT | --unix PATH] [--threads N] [--trusted-proxies LIST]
                [--forwarding-header x-forwarded-for|forwarded]
                [--prebuffer-body-bytes N] [--db FILE] [--reuse-port]
                [--tls-cert FILE --tls-key FILE]

Serves the echo_api example routes (open http://HOST:PORT/ for the list).

Options:
  --addr HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free port);
                    ignored when a listening socket is inherited (LISTEN_FDS)
  --unix PATH       listen on a Unix domain socket at PATH instead (Unix only), for a
                    proxy on this machine; prints `listening on unix:PATH`. A socket
                    file there that nothing listens on is replaced; a live socket or
                    any other file is refused. The file is removed at a graceful
                    shutdown. Its mode is 0777 less the umask: connecting needs write
                    permission. Ignored when a listening socket is inherited
  --threads N       worker threads (default: four per CPU, at least eight)
  --trusted-proxies LIST
                    comma-separated proxy addresses or CIDR ranges (127.0.0.1,10.0.0.0/8)
                    whose forwarding headers are believed (default: none); `unix:`
                    trusts peers on a Unix socket (nginx proxying to --unix)
  --forwarding-header x-forwarded-for|forwarded
                    the header those proxies set, the only one read: X-Forwarded-For
                    with X-Forwarded-Proto (default, as nginx and HAProxy send), or
                    Forwarded (RFC 7239); the other is ignored
  --prebuffer-body-bytes N
                    bodies of up to N bytes are read whole before their handler
                    runs (default 65536); longer ones stream to it, as every
                    body does with 0
  --db FILE         keep /items in this SQLite database file (created if missing, in
                    WAL mode: several instances on one machine may share it);
                    default: an in-memory database, empty at start, lost at exit
  --reuse-port      bind with SO_REUSEPORT (Linux only): other processes started with it
                    on the same port serve it too, the kernel spreading connections over
                    them; ignored when a listening socket is inherited
  --tls-cert FILE   serve HTTPS with this PEM certificate chain (needs --tls-key and a
                    build with `--features tls`); prints `listening on https://HOST:PORT`.
                    SIGHUP reads the certificate and key files again
  --tls-key FILE    the PEM private key of --tls-cert
  --help            print this help and exit

Environment:
  RUST_LOG          log filter for env_logger (default warn; info adds the access log)
  LISTEN_FDS, LISTEN_PID
                    socket activation, as systemd sets them: with LISTEN_FDS=1 and
                    LISTEN_PID this process's id, serve on the listening socket that
                    is fd 3, TCP or Unix, instead of binding --addr or --unix
";

/// Options are the parsed command-line flags.
#[derive(Debug)]
struct Options {
    addr: String,
    /// `--unix PATH`: a Unix socket instead of `addr`.
    unix: Option<PathBuf>,
    threads: Option<usize>,
    prebuffer_body_bytes: Option<usize>,
    trusted_proxies: TrustedProxies,
    forwarding_header: ForwardingHeader,
    db: Option<PathBuf>,
    reuse_port: bool,
    tls: TlsFlags,
}

/// Parses the flags after the program name; `Ok(None)` means `--help`.
/// Both `--addr X` and `--addr=X` are accepted.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        addr: "127.0.0.1:8080".to_owned(),
        unix: None,
        threads: None,
        prebuffer_body_bytes: None,
        trusted_proxies: TrustedProxies::none(),
        forwarding_header: ForwardingHeader::default(),
        db: None,
        reuse_port: false,
        tls: TlsFlags::default(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--addr" => opts.addr = value("--addr")?,
            "--unix" => opts.unix = Some(PathBuf::from(value("--unix")?)),
            "--threads" => {
                let v = value("--threads")?;
                match v.parse::<usize>() {
                    Ok(n) if n > 0 => opts.threads = Some(n),
                    _ => return Err(format!("--threads needs a positive integer, not {v:?}")),
                }
            }
            "--prebuffer-body-bytes" => {
                let v = value("--prebuffer-body-bytes")?;
                let n = v
                    .parse::<usize>()
                    .map_err(|_| format!("--prebuffer-body-bytes needs a byte count, not {v:?}"))?;
                opts.prebuffer_body_bytes = Some(n);
            }
            "--db" => opts.db = Some(PathBuf::from(value("--db")?)),
            "--reuse-port" => {
                if inline.is_some() {
                    return Err("--reuse-port takes no value".to_owned());
                }
                opts.reuse_port = true;
            }
            "--trusted-proxies" => {
                let v = value("--trusted-proxies")?;
                opts.trusted_proxies = v.parse().map_err(|e| format!("--trusted-proxies: {e}"))?;
            }
            "--forwarding-header" => {
                let v = value("--forwarding-header")?;
                opts.forwarding_header = match v.to_ascii_lowercase().as_str() {
                    "x-forwarded-for" => ForwardingHeader::XForwardedFor,
                    "forwarded" => ForwardingHeader::Forwarded,
                    _ => {
                        return Err(format!(
                            "--forwarding-header needs x-forwarded-for or forwarded, not {v:?}"
                        ));
                    }
                };
            }
            flag if opts.tls.take(flag, || value(flag))? => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    opts.tls.check()?;
    if opts.unix.is_some() && opts.reuse_port {
        return Err("--unix and --reuse-port do not go together".to_owned());
    }
    Ok(Some(opts))
}

/// Inherited is the listening socket passed by socket activation, of
/// either kind.
enum Inherited {
    Tcp(std::net::TcpListener),
    #[cfg(unix)]
    Unix(UnixListener),
}

/// Returns the listening socket passed as fd 3 by socket activation
/// (`LISTEN_FDS`, `LISTEN_PID`; see sd_listen_fds(3)), or `None` when
/// there is none: a TCP socket (`ListenStream=127.0.0.1:8081`), or a Unix
/// stream socket (`ListenStream=/run/echo_api/echo_api.sock`), told apart
/// by the socket's own family, which listenfd checks (`getsockname`,
/// `SO_TYPE`): a socket that is not the one kind is tried as the other.
/// listenfd also checks that `LISTEN_PID` is ours, marks the fd
/// close-on-exec and unsets both variables (so a child process would not
/// take the fd for its own). It changes the environment, which is sound
/// only while this process has one thread: call it first.
fn inherited_listener() -> Result<Option<Inherited>, String> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() > 1 {
        return Err(format!(
            "{} sockets inherited (LISTEN_FDS); this server takes one",
            fds.len()
        ));
    }
    let fd3_error = |e: std::io::Error| format!("the inherited socket (fd 3): {e}");
    // A failed take leaves the fd in place for the next.
    let not_tcp = match fds.take_tcp_listener(0) {
        Ok(None) => return Ok(None),
        Ok(Some(listener)) => {
            // The accept loop blocks in accept(2); a socket unit with
            // `NonBlocking=yes` would make it spin.
            listener.set_nonblocking(false).map_err(fd3_error)?;
            return Ok(Some(Inherited::Tcp(listener)));
        }
        Err(e) => e,
    };
    #[cfg(unix)]
    if let Ok(Some(listener)) = fds.take_unix_listener(0) {
        listener.set_nonblocking(false).map_err(fd3_error)?;
        return Ok(Some(Inherited::Unix(listener)));
    }
    Err(format!(
        "the inherited socket (fd 3): {not_tcp}, nor a Unix stream socket"
    ))
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

fn main() -> ExitCode {
    let inherited = match inherited_listener() {
        Ok(inherited) => inherited,
        Err(msg) => {
            eprintln!("echo_api: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("echo_api: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    // Before the port is bound: a database file that cannot be opened is
    // an error at start, not a 500 on every item request.
    let store = match &opts.db {
        None => None,
        Some(path) => match app::Store::open(Some(path)) {
            Ok(store) => Some(store),
            Err(e) => {
                eprintln!("echo_api: cannot open the database {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };

    // `socket`, `setsockopt(SO_REUSEADDR)`, `bind`, `listen`: the port is
    // ours from here on (with --reuse-port, ours and that of the other
    // processes bound with it), so `local_addr` knows the real one. Under
    // socket activation systemd did all that, and holds the socket across
    // our restarts: connections made meanwhile wait in its backlog.
    let bound = match inherited {
        Some(Inherited::Tcp(listener)) => Server::from_listener(listener)
            .map_err(|e| format!("cannot serve on the inherited socket (fd 3): {e}")),
        #[cfg(unix)]
        Some(Inherited::Unix(listener)) => Server::from_unix_listener(listener)
            .map_err(|e| format!("cannot serve on the inherited socket (fd 3): {e}")),
        None => match &opts.unix {
            Some(path) => bind_unix(path),
            None if opts.reuse_port => Server::bind_reuse_port(&opts.addr)
                .map_err(|e| format!("cannot listen on {} with SO_REUSEPORT: {e}", opts.addr)),
            None => {
                Server::bind(&opts.addr).map_err(|e| format!("cannot listen on {}: {e}", opts.addr))
            }
        },
    };
    let mut server = match bound {
        Ok(server) => server,
        Err(msg) => {
            eprintln!("echo_api: {msg}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(n) = opts.threads {
        server = server.threads(n);
    }
    if let Some(n) = opts.prebuffer_body_bytes {
        let mut limits = sockhttp::Limits::default();
        limits.prebuffer_body_bytes = n;
        server = server.limits(limits);
    }
    // Behind nginx the peer is nginx; with it trusted, handlers and the
    // access log see the client it forwarded for, read from the one header
    // family it sets.
    server = server.trusted_proxies(opts.trusted_proxies.header(opts.forwarding_header));
    let reload;
    (server, reload) = match opts.tls.apply(server) {
        Ok(applied) => applied,
        Err(msg) => {
            eprintln!("echo_api: {msg}");
            return ExitCode::FAILURE;
        }
    };

    // `/metrics` reads the statistics of the server that serves it.
    let stats = server.stats_handle();
    let router = match store {
        None => app::app(stats),
        Some(store) => app::app_with(store, stats),
    };

    // SIGINT and SIGTERM start a graceful shutdown (a second one exits at
    // once); SIGHUP reloads the certificate. `shutdown` only sets a flag
    // and wakes the accept loop.
    if let Err(e) = serving::handle_signals("echo_api", server.shutdown_handle(), reload) {
        eprintln!("echo_api: cannot install the signal handler: {e}");
        return ExitCode::FAILURE;
    }

    // The one line on stdout: scripts and tests wait for it to learn the
    // port (`http://127.0.0.1:8080`, `https://…` with TLS) or the socket
    // (`unix:/path`).
    let mut stdout = std::io::stdout().lock();
    let line = opts.tls.listen_line(server.listen_addr());
    let announced = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = announced {
        eprintln!("echo_api: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }

    match server.serve(router) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_api: {e}");
            ExitCode::FAILURE
        }
    }
}
