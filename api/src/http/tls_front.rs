//! TLS and plain HTTP on the one API port (`api.tls_certificate`/`api.tls_private_key`): the
//! seed sends `aws s3 cp … --endpoint-url=https://<host>:25025` and `curl http://<host>:25025`
//! to the same port. The first byte of a connection tells: 0x16 starts a TLS handshake. TLS
//! is ended here and both kinds are carried to actix, which listens on loopback only.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;
/// A connection that says nothing (or does not finish its handshake) this long is closed.
const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);
/// Copy buffers: uploads move in large pieces.
const BUFFER: usize = 256 * 1024;

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

/// Where the front carries connections: plain HTTP to one loopback listener, TLS (ended
/// here) to another, so the app knows which requests came encrypted (`AppState::over_tls`).
#[derive(Clone, Copy, Debug)]
pub struct Backends {
    pub plain: SocketAddr,
    pub tls: SocketAddr,
}

/// Accepts on `listener` until `stop`, carrying each connection to its backend.
pub fn spawn(
    listener: TcpListener,
    backends: Backends,
    tls: TlsAcceptor,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (client, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "API port: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                if let Err(e) = carry(client, backends, tls).await {
                    tracing::debug!(%peer, error = %e, "API port: connection ended");
                }
            });
        }
    })
}

async fn carry(client: TcpStream, backends: Backends, tls: TlsAcceptor) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(FIRST_BYTES_WITHIN, client.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return Ok(());
    }
    let encrypted = first[0] == TLS_HANDSHAKE;
    let backend = if encrypted {
        backends.tls
    } else {
        backends.plain
    };
    let mut server = TcpStream::connect(backend).await?;
    let _ = server.set_nodelay(true);
    if encrypted {
        let mut client = tokio::time::timeout(FIRST_BYTES_WITHIN, tls.accept(client))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUFFER, BUFFER).await?;
    } else {
        let mut client = client;
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUFFER, BUFFER).await?;
    }
    Ok(())
}
