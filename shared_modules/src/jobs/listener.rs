//! LISTEN/NOTIFY: wakes idle workers the moment a job is queued. Reconnects (with backoff)
//! when Postgres goes away; after each (re)connect it wakes everyone once, in case a
//! notification was missed while disconnected. Workers still poll as a fallback.

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

pub const NOTIFY_CHANNEL: &str = "dataprocessor_jobs";

pub fn spawn_listener(
    url: String,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        loop {
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return,
                outcome = listen_until_disconnected(&url, &wake) => outcome,
            };
            match outcome {
                Ok(()) => delay = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "job listener disconnected")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    })
}

async fn listen_until_disconnected(url: &str, wake: &Notify) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection object carries the notifications; drive it in its own task.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await?;
    tracing::debug!("job listener connected");
    wake.notify_waiters();
    while rx.recv().await.is_some() {
        wake.notify_waiters();
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
