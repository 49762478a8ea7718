//! Serving `https://` and `wss://` directly (`[tls]`), with rustls.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate or key that cannot be used; names the config key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsError {
    /// `tls.cert` or `tls.key`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Builds the acceptor from a PEM certificate chain and a PEM private key.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| TlsError {
            key: "tls.cert",
            message: format!("cannot read PEM certificates from {}: {e}", cert.display()),
        })?;
    if chain.is_empty() {
        return Err(TlsError {
            key: "tls.cert",
            message: format!("{} holds no certificate", cert.display()),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError {
        key: "tls.key",
        message: format!("cannot read a PEM private key from {}: {e}", key.display()),
    })?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError {
                key: "tls.cert",
                message: e.to_string(),
            })?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| TlsError {
                key: "tls.key",
                message: format!("the key does not fit the certificate: {e}"),
            })?;
    // WebSocket upgrades are HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
