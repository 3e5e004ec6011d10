//! The TLS identity of the API port (`api.tls_certificate`/`api.tls_private_key`).

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The certificate chain and key (PEM) as a TLS acceptor.
pub fn acceptor(certificate: &Path, private_key: &Path) -> anyhow::Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?;
    let key = PrivateKeyDer::from_pem_file(private_key)
        .with_context(|| format!("cannot read the private key {}", private_key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("the certificate and the private key do not make a TLS identity")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
