//! What both serving examples share: `--tls-cert FILE --tls-key FILE`
//! (HTTPS served by the server itself, with the `tls` feature) and their
//! signals: SIGINT and SIGTERM shut down gracefully (a second one exits
//! at once); SIGHUP reads the certificate files again when serving TLS,
//! and otherwise shuts down as the other two do.

use sockhttp::{ListenAddr, Server, ShutdownHandle};
use std::path::PathBuf;

/// TlsFlags is what `--tls-cert` and `--tls-key` named.
#[derive(Debug, Default)]
pub struct TlsFlags {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Reload reads the certificate files again (`None`: no TLS).
pub type Reload = Option<Box<dyn Fn() + Send>>;

impl TlsFlags {
    /// Takes `flag` with its `value` if it is one of ours; false if not.
    pub fn take(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        match flag {
            "--tls-cert" => self.cert = Some(PathBuf::from(value()?)),
            "--tls-key" => self.key = Some(PathBuf::from(value()?)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks that both files or neither were named.
    pub fn check(&self) -> Result<(), String> {
        match (&self.cert, &self.key) {
            (Some(_), None) => Err("--tls-cert needs --tls-key".to_owned()),
            (None, Some(_)) => Err("--tls-key needs --tls-cert".to_owned()),
            _ => Ok(()),
        }
    }

    /// Sets `server` up for TLS if asked; returns it with what reloads
    /// the certificate (new handshakes present what the files hold then;
    /// connections already open keep theirs).
    #[cfg(feature = "tls")]
    pub fn apply(&self, server: Server) -> Result<(Server, Reload), String> {
        let (Some(cert), Some(key)) = (self.cert.clone(), self.key.clone()) else {
            return Ok((server, None));
        };
        let tls = sockhttp::tls::TlsConfig::from_pem_files(&cert, &key)
            .map_err(|e| format!("TLS certificate: {e}"))?;
        let reloading = tls.clone();
        let reload = move || match reloading.reload_pem_files(&cert, &key) {
            Ok(()) => log::warn!("SIGHUP: certificate reloaded from {}", cert.display()),
            Err(e) => log::error!("SIGHUP: certificate not reloaded, the old one stays: {e}"),
        };
        Ok((server.tls(tls), Some(Box::new(reload))))
    }

    /// Without the `tls` feature there is no TLS to set up.
    #[cfg(not(feature = "tls"))]
    pub fn apply(&self, server: Server) -> Result<(Server, Reload), String> {
        if self.cert.is_some() {
            return Err("built without TLS: run with `--features tls`".to_owned());
        }
        Ok((server, None))
    }

    /// Returns the line to print once listening: `https://HOST:PORT`
    /// with TLS, else the server's own (`http://HOST:PORT`, `unix:PATH`).
    pub fn listen_line(&self, addr: &ListenAddr) -> String {
        match addr {
            ListenAddr::Tcp(a) if self.cert.is_some() => format!("listening on https://{a}"),
            other => format!("listening on {other}"),
        }
    }
}

/// Handles the signals on a thread of their own (not inside a signal
/// handler, so it may do anything): see the module docs.
///
/// # Errors
/// The handlers could not be installed.
pub fn handle_signals(
    name: &'static str,
    handle: ShutdownHandle,
    reload: Reload,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                if let (SIGHUP, Some(reload)) = (signal, &reload) {
                    reload();
                    continue;
                }
                if handle.is_shutting_down() {
                    eprintln!("{name}: second signal; exiting without waiting");
                    std::process::exit(130);
                }
                log::info!("signal received; shutting down gracefully");
                handle.shutdown();
            }
        })?;
    Ok(())
}
