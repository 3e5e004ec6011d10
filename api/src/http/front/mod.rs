//! The front of the API port: every connection, TLS or plain, is accepted here and carried to
//! actix, which listens on loopback only. The seed sends `aws s3 cp … --endpoint-url=
//! https://<host>:25025` and `curl http://<host>:25025` to the same port: the first byte
//! tells (0x16 starts a TLS handshake), and TLS is ended here.
//!
//! The port faces the internet, so the front is where a hostile client is held to account:
//! a cap on open connections (refused at once past it, without reading them), a deadline for
//! the first byte and the TLS handshake, an idle timeout, and actix closing its side closes
//! the client's. Request heads and bodies are timed by actix and `body_pace`.

pub mod carry;
pub mod connections;
pub mod tls;

use connections::{Admitted, Connections};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Where the front carries connections: plain HTTP to one loopback listener, TLS (ended
/// here) to another, so the app knows which requests came encrypted (`AppState::over_tls`).
#[derive(Clone, Copy, Debug)]
pub struct Backends {
    pub plain: SocketAddr,
    /// None without a certificate.
    pub tls: Option<SocketAddr>,
}

/// What the front needs besides its listener.
#[derive(Clone)]
pub struct Front {
    pub backends: Backends,
    /// None: plain HTTP only; a TLS handshake is closed at once.
    pub tls: Option<TlsAcceptor>,
    pub connections: Arc<Connections>,
    /// For the first byte, and again for the TLS handshake.
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Accepts on `listener` until `stop`, carrying each connection to its backend.
pub fn spawn(
    listener: TcpListener,
    front: Front,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let refused = Arc::new(RefusedLog::default());
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
            let Some(admitted) = front.connections.admit() else {
                // Full: closed without a read or a task, the cheapest answer there is.
                drop(client);
                refused.note(peer);
                continue;
            };
            let front = front.clone();
            tokio::spawn(async move {
                let ended = connection(client, peer, admitted, &front).await;
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "API port: connection ended");
                }
            });
        }
    })
}

async fn connection(
    client: TcpStream,
    peer: SocketAddr,
    mut admitted: Admitted,
    front: &Front,
) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(front.header_timeout, client.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return Ok(());
    }
    let (tls, backend) = match (first[0] == TLS_HANDSHAKE, &front.tls, front.backends.tls) {
        (true, Some(tls), Some(backend)) => (Some(tls), backend),
        (true, _, _) => return Err(std::io::Error::other("TLS asked of a plain-only port")),
        (false, _, _) => (None, front.backends.plain),
    };
    if !admitted.widen() {
        return Err(std::io::Error::other(
            "no file descriptors left to carry it",
        ));
    }
    let server = TcpStream::connect(backend).await?;
    let _ = server.set_nodelay(true);
    let close = CancellationToken::new();
    let _registration = front
        .connections
        .register(server.local_addr()?, peer, close.clone());
    let ended = carry_either(
        client,
        server,
        tls,
        front.header_timeout,
        front.idle_timeout,
        close,
    )
    .await?;
    tracing::debug!(%peer, ?ended, "API port: connection closed");
    Ok(())
}

/// Carries `client` to `server`, ending TLS first (within `header_timeout`) when `tls` is
/// given. Generic over the streams so that the fuzz target can drive it in memory.
pub async fn carry_either<C, S>(
    client: C,
    server: S,
    tls: Option<&TlsAcceptor>,
    header_timeout: Duration,
    idle_timeout: Duration,
    close: CancellationToken,
) -> std::io::Result<carry::Ended>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tls {
        Some(tls) => {
            let client = tokio::time::timeout(header_timeout, tls.accept(client))
                .await
                .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
            Ok(carry::carry(client, server, idle_timeout, close).await)
        }
        None => Ok(carry::carry(client, server, idle_timeout, close).await),
    }
}

/// Refused connections are logged once per ten seconds with their count, so a flood
/// costs no more than a line.
#[derive(Default)]
struct RefusedLog {
    since_last: AtomicU64,
    last_logged_ms: AtomicU64,
}

impl RefusedLog {
    fn note(&self, peer: SocketAddr) {
        let count = self.since_last.fetch_add(1, Ordering::Relaxed) + 1;
        let now = now_ms();
        let last = self.last_logged_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 10_000
            && self
                .last_logged_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.since_last.store(0, Ordering::Relaxed);
            tracing::warn!(refused = count, last_client = %peer.ip(), "API port full (api.max_connections or the open-file limit): new connections closed at once");
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
