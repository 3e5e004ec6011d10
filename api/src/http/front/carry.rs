//! Moving bytes between a client and actix, both ways, until either side is done with the
//! connection. Unlike `copy_bidirectional`, actix closing its side (after a 408, a refused
//! body, keep-alive's end) closes the client's too, nothing moving either way for the idle
//! timeout closes both, and the buffers start small: an idle connection costs little memory,
//! an upload grows its buffer to move in large pieces.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FIRST_BUFFER: usize = 4 * 1024;
const LARGEST_BUFFER: usize = 256 * 1024;

/// Why a carried connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Actix closed its side, or either side failed.
    Closed,
    /// Nothing moved either way for the idle timeout.
    Idle,
    /// Told to (a body too slow, serve stopping).
    Told,
}

/// Carries `client` ⇄ `server` until one of the ends in `Ended`. The client closing its
/// sending half only (a half-close) still lets actix's answer through.
pub async fn carry<C, S>(client: C, server: S, idle: Duration, close: CancellationToken) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let last_moved = AtomicU64::new(0);
    let (mut client_reads, mut client_writes) = tokio::io::split(client);
    let (mut server_reads, mut server_writes) = tokio::io::split(server);
    let upstream = pump(&mut client_reads, &mut server_writes, started, &last_moved);
    let downstream = pump(&mut server_reads, &mut client_writes, started, &last_moved);
    let quiet = idle_for(idle, started, &last_moved);
    tokio::pin!(upstream, downstream, quiet);
    let mut client_done_sending = false;
    loop {
        tokio::select! {
            sent = &mut upstream, if !client_done_sending => {
                if sent.is_err() {
                    return Ended::Closed;
                }
                client_done_sending = true;
            }
            _ = &mut downstream => return Ended::Closed,
            _ = &mut quiet => return Ended::Idle,
            _ = close.cancelled() => return Ended::Told,
        }
    }
}

/// Copies `from` into `to` until `from` ends (then shuts `to`'s sending half), noting when
/// bytes last moved.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    started: Instant,
    last_moved: &AtomicU64,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; FIRST_BUFFER];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            to.shutdown().await?;
            return Ok(());
        }
        to.write_all(&buffer[..read]).await?;
        to.flush().await?;
        last_moved.store(millis_since(started), Ordering::Relaxed);
        if read == buffer.len() && buffer.len() < LARGEST_BUFFER {
            buffer.resize(buffer.len() * 2, 0);
        }
    }
}

/// Resolves once nothing has moved for `idle`.
async fn idle_for(idle: Duration, started: Instant, last_moved: &AtomicU64) {
    loop {
        let last = started + Duration::from_millis(last_moved.load(Ordering::Relaxed));
        let deadline = last + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn the_server_closing_closes_the_client_though_the_client_stays_silent() {
        let (client, mut client_peer) = duplex(64);
        let (server, server_peer) = duplex(64);
        let carried = tokio::spawn(carry(
            client,
            server,
            Duration::from_secs(60),
            CancellationToken::new(),
        ));
        drop(server_peer);
        let ended = tokio::time::timeout(Duration::from_secs(5), carried)
            .await
            .expect("ended at once")
            .expect("task");
        assert_eq!(ended, Ended::Closed);
        let mut rest = Vec::new();
        client_peer.read_to_end(&mut rest).await.expect("read");
        assert!(rest.is_empty(), "the client sees the end");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_moving_for_the_idle_timeout_ends_it_and_traffic_postpones_that() {
        let (client, mut client_peer) = duplex(64);
        let (server, mut server_peer) = duplex(64);
        let carried = tokio::spawn(carry(
            client,
            server,
            Duration::from_secs(10),
            CancellationToken::new(),
        ));
        tokio::time::sleep(Duration::from_secs(8)).await;
        client_peer.write_all(b"GET").await.expect("write");
        let mut three = [0u8; 3];
        server_peer.read_exact(&mut three).await.expect("carried");
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert!(
            !carried.is_finished(),
            "8 s after the last byte, still open"
        );
        let ended = carried.await.expect("task");
        assert_eq!(ended, Ended::Idle);
    }

    #[tokio::test]
    async fn a_half_close_by_the_client_still_lets_the_answer_through() {
        let (client, mut client_peer) = duplex(64);
        let (server, mut server_peer) = duplex(64);
        let carried = tokio::spawn(carry(
            client,
            server,
            Duration::from_secs(60),
            CancellationToken::new(),
        ));
        client_peer.write_all(b"ask").await.expect("write");
        client_peer.shutdown().await.expect("half-close");
        let mut asked = Vec::new();
        server_peer.read_to_end(&mut asked).await.expect("read");
        assert_eq!(asked, b"ask");
        server_peer.write_all(b"answer").await.expect("answer");
        drop(server_peer);
        let mut answer = Vec::new();
        client_peer.read_to_end(&mut answer).await.expect("read");
        assert_eq!(answer, b"answer");
        assert_eq!(carried.await.expect("task"), Ended::Closed);
    }

    #[tokio::test]
    async fn told_to_close_it_closes() {
        let (client, _client_peer) = duplex(64);
        let (server, _server_peer) = duplex(64);
        let close = CancellationToken::new();
        let carried = tokio::spawn(carry(
            client,
            server,
            Duration::from_secs(60),
            close.clone(),
        ));
        close.cancel();
        assert_eq!(carried.await.expect("task"), Ended::Told);
    }
}
