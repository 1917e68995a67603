//! Certificates made at test time for the TLS tests (the `tls` feature),
//! and a rustls client that trusts them: the library's TLS tests and the
//! examples' share them.

use super::{TempDir, connect, find};
use rustls::pki_types::{CertificateDer, ServerName};
use sockhttp::tls::TlsConfig;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

/// A certificate authority made for the test, which signs server
/// certificates for `localhost` and 127.0.0.1.
pub struct Pki {
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    ca_key: rcgen::KeyPair,
    ca_params: rcgen::CertificateParams,
}

impl Pki {
    /// Makes a new certificate authority.
    pub fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sockhttp test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            ca_key,
            ca_params: params,
        }
    }

    /// Signs a server certificate for localhost and 127.0.0.1, with
    /// `name` as its common name (told apart after a swap); returns the
    /// PEM chain and key, and the certificate's DER.
    pub fn leaf(&self, name: &str) -> (String, String, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    /// Signs a server certificate as [`Pki::leaf`] and writes its chain
    /// and key to `cert` and `key`, replacing what they held; returns the
    /// certificate's DER.
    pub fn write_leaf(&self, name: &str, cert: &Path, key: &Path) -> Vec<u8> {
        let (cert_pem, key_pem, der) = self.leaf(name);
        std::fs::write(cert, cert_pem).unwrap();
        std::fs::write(key, key_pem).unwrap();
        der
    }

    /// A server configuration with a fresh certificate.
    pub fn config(&self) -> TlsConfig {
        let (cert, key, _) = self.leaf("first");
        TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }

    /// Writes the CA certificate where curl's `--cacert` can read it, as
    /// `dir/file`.
    pub fn ca_file(&self, dir: &TempDir, file: &str) -> String {
        let path = dir.0.join(file);
        std::fs::write(&path, &self.ca_pem).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// A client configuration that trusts this authority only, and
    /// offers ALPN `http/1.1`.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Connects to `addr` as `localhost` and completes a handshake.
    pub fn connect(&self, addr: SocketAddr) -> Tls {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(self.client_config(), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, connect(addr));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        tls
    }
}

/// A rustls client connection over a loopback socket.
pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Returns the DER of the certificate the server presented on `tls`.
pub fn presented(tls: &Tls) -> Vec<u8> {
    tls.conn.peer_certificates().expect("a certificate")[0].to_vec()
}

/// Reads one response with a `Content-Length` from `tls`: its head and
/// body. Bytes read past it (the next pipelined answer) stay in `rest`.
pub fn read_response_after(tls: &mut Tls, rest: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(rest, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .expect("content-length")
                .parse()
                .unwrap();
            if rest.len() >= end + 4 + len {
                let body = rest[end + 4..end + 4 + len].to_vec();
                rest.drain(..end + 4 + len);
                return (head, body);
            }
        }
        let n = tls.read(&mut buf).expect("response");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(rest)
        );
        rest.extend_from_slice(&buf[..n]);
    }
}

/// Reads one response, which must be all the server sent.
pub fn read_response(tls: &mut Tls) -> (String, Vec<u8>) {
    let mut rest = Vec::new();
    let got = read_response_after(tls, &mut rest);
    assert!(rest.is_empty(), "nothing more was sent: {rest:?}");
    got
}
