//! TLS for every listener (`tls-cert-file`, `tls-key-file`): rustls with
//! ring, ALPN `h2` (gRPC) and `http/1.1`, so one port still serves both.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up from the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("read {what} {path}: {message}")]
    Pem {
        /// `tls-cert-file` or `tls-key-file`.
        what: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the certificate and key (a mismatch, an unsupported key).
    #[error("use the certificate and key: {0}")]
    Config(String),
}

/// The TLS side of the listeners.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Reads the certificate chain and private key (PEM).
    pub fn from_pem_files(cert_file: &Path, key_file: &Path) -> Result<Tls, TlsError> {
        let pem_error = |what, path: &Path, message: String| TlsError::Pem {
            what,
            path: path.display().to_string(),
            message,
        };
        let certs = CertificateDer::pem_file_iter(cert_file)
            .map_err(|error| pem_error("tls-cert-file", cert_file, error.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| pem_error("tls-cert-file", cert_file, error.to_string()))?;
        if certs.is_empty() {
            return Err(pem_error("tls-cert-file", cert_file, "no certificate in it".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key_file)
            .map_err(|error| pem_error("tls-key-file", key_file, error.to_string()))?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Config(error.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|error| TlsError::Config(error.to_string()))?;
        // gRPC clients ask for h2; browsers and curl take either.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
