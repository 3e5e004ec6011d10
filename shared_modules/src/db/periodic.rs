//! Database housekeeping that runs every so often (the reaper, the inbox sweeper).

use super::{DbPool, PooledConn};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs `task` with a pooled connection every `every` until `stop`. A task failure (or no
/// connection) is logged as `what` and tried again next time.
pub fn spawn_every<F, Fut>(
    what: &'static str,
    pool: DbPool,
    every: Duration,
    stop: CancellationToken,
    mut task: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut(PooledConn) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let result = match pool.get().await {
                Ok(conn) => task(conn).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "{what} could not run");
            }
        }
    })
}
