//! HTTPS served by the server itself (the `tls` feature): a certificate
//! chain and its key, which can be replaced while the server runs.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use sockhttp::{Response, Server, tls::TlsConfig};
//!
//! let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
//! Server::bind("0.0.0.0:8443")?
//!     .tls(tls.clone())
//!     .serve(|_req: &mut sockhttp::Request| Response::text("hello over TLS\n"))?;
//! # Ok(())
//! # }
//! ```
//!
//! TLS is [rustls] with its `ring` provider: TLS 1.3 and 1.2 only, the
//! provider's default cipher suites (all AEAD, forward secret), ALPN
//! `http/1.1` (a client that offers only `h2` is refused with the
//! `no_application_protocol` alert). No client certificates.
//!
//! [`TlsConfig::reload`] (or [`TlsConfig::reload_pem_files`]) swaps the
//! certificate: handshakes that begin afterwards present the new one;
//! connections already open keep theirs. The examples do it on `SIGHUP`,
//! so a renewed certificate (say, by an ACME client) is picked up with no
//! restart and no dropped connection.
//!
//! The handshake runs on a worker under its own deadline
//! ([`Timeouts::handshake`](crate::Timeouts::handshake)); the idle and head
//! deadlines count from its end. A connection whose first bytes are a
//! plain HTTP request is answered `400` in plain text (as nginx does) and
//! closed.
//!
//! [rustls]: https://docs.rs/rustls

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// How much ciphertext one connection may have waiting for its socket
/// before a write takes no more plaintext: the TLS counterpart of the
/// socket's send buffer.
pub(crate) const SEND_BUFFER: usize = 64 * 1024;

/// TlsConfig is what the server needs to speak TLS: a certificate chain
/// and its private key. Clones share the certificate, so a clone kept
/// aside can [`reload`](TlsConfig::reload) it for a running server.
#[derive(Clone)]
pub struct TlsConfig {
    certs: Arc<Certs>,
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Makes the configuration from a PEM certificate chain (the server's
    /// certificate first, then the intermediates) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// `InvalidData` when the PEM holds no certificate or no key, or the
    /// key does not belong to the certificate.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<TlsConfig> {
        // ring, not aws-lc-rs (rustls's default, which needs cmake and a C
        // toolchain to build): ring has no post-quantum key exchange,
        // which rustls marks by deprecating its provider; X25519 and the
        // NIST curves remain.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = certified_key(cert_chain, key, &provider)?;
        let certs = Arc::new(Certs {
            current: RwLock::new(Arc::new(certified)),
            provider: Arc::clone(&provider),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(invalid)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certs) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            certs,
            config: Arc::new(config),
        })
    }

    /// Makes the configuration from PEM files, as [`TlsConfig::from_pem`].
    ///
    /// # Errors
    /// A file cannot be read, or as [`TlsConfig::from_pem`].
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<TlsConfig> {
        let (chain, key) = read_pair(cert_chain.as_ref(), key.as_ref())?;
        TlsConfig::from_pem(&chain, &key)
    }

    /// Replaces the certificate chain and key: handshakes that begin from
    /// now on present the new ones. On an error the old ones stay.
    ///
    /// # Errors
    /// As [`TlsConfig::from_pem`].
    pub fn reload(&self, cert_chain: &[u8], key: &[u8]) -> io::Result<()> {
        let certified = certified_key(cert_chain, key, &self.certs.provider)?;
        *self
            .certs
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
        Ok(())
    }

    /// Replaces the certificate chain and key from PEM files, as
    /// [`TlsConfig::reload`].
    ///
    /// # Errors
    /// A file cannot be read, or as [`TlsConfig::from_pem`].
    pub fn reload_pem_files(
        &self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<()> {
        let (chain, key) = read_pair(cert_chain.as_ref(), key.as_ref())?;
        self.reload(&chain, &key)
    }

    /// Starts the server side of one connection.
    pub(crate) fn accept(&self) -> io::Result<rustls::ServerConnection> {
        let mut conn = rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(invalid)?;
        conn.set_buffer_limit(Some(SEND_BUFFER));
        Ok(conn)
    }
}

/// Certs is the certificate every new handshake presents, and the
/// provider that loads a replacement's key.
struct Certs {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Certs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certs").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// Reads a certificate chain file and a key file.
fn read_pair(chain: &Path, key: &Path) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    Ok((read(chain)?, read(key)?))
}

/// Parses a PEM chain and key, and checks that they belong together.
fn certified_key(chain: &[u8], key: &[u8], provider: &CryptoProvider) -> io::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("certificate chain: no CERTIFICATE in the PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("key: {e}")))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| invalid(format!("key: {e}")))
}

fn invalid(e: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn a_chain_and_its_key_make_a_config() {
        let (cert, key) = pair("localhost");
        TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    }

    #[test]
    fn bad_pem_is_refused_with_what_is_wrong() {
        let (cert, key) = pair("localhost");
        let (_, other_key) = pair("localhost");
        let table: [(&str, &str, &str); 4] = [
            ("", &key, "no CERTIFICATE"),
            (&cert, "", "key"),
            (&key, &key, "no CERTIFICATE"),
            (&cert, &other_key, "key"),
        ];
        for (c, k, want) in table {
            let e = TlsConfig::from_pem(c.as_bytes(), k.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn a_failed_reload_keeps_the_old_certificate() {
        let (cert, key) = pair("localhost");
        let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let before = Arc::clone(&tls.certs.current.read().unwrap());
        assert!(tls.reload(b"junk", key.as_bytes()).is_err());
        assert!(Arc::ptr_eq(&before, &tls.certs.current.read().unwrap()));
        let (cert2, key2) = pair("example.test");
        tls.reload(cert2.as_bytes(), key2.as_bytes()).unwrap();
        assert!(!Arc::ptr_eq(&before, &tls.certs.current.read().unwrap()));
    }
}
