//! The embedded store's periodic clean-up (`DiskStore::sweep`): multipart uploads no part
//! reached for `s3.abandoned_upload_hours`, and the bytes of uploads killed before their
//! commit once untouched for `s3.orphan_blob_minutes` (never an upload this serve is still
//! receiving). Every `s3.store_sweep_interval_seconds` while this node leads (a cluster
//! duty: on a shared volume one node sweeps), off the async threads. Its first pass is also
//! the store's recovery after a crash.

use shared_modules::cluster::Leadership;
use shared_modules::config::S3Config;
use shared_modules::object_store::ObjectStore;
use shared_modules::object_store::disk::SweepAges;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Sweeps `store` until `stop` when it is the embedded one; otherwise a task that ends at
/// once (an external store cleans itself).
pub fn spawn_store_sweeper(
    store: &ObjectStore,
    config: &S3Config,
    leadership: Leadership,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let Some(store) = store.embedded().cloned() else {
        return tokio::spawn(async {});
    };
    let ages = SweepAges {
        orphan_grace: Duration::from_secs(config.orphan_blob_minutes.saturating_mul(60)),
        abandoned_upload: Duration::from_secs(config.abandoned_upload_hours.saturating_mul(3600)),
    };
    let every = Duration::from_secs(config.store_sweep_interval_seconds.max(1));
    tokio::spawn(async move {
        loop {
            if !leadership.is_leader() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every.min(Duration::from_secs(1))) => continue,
                }
            }
            let swept = {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.sweep(&ages)).await
            };
            match swept {
                Ok(Ok(swept)) if swept.total() > 0 => tracing::info!(
                    uploads = swept.uploads,
                    blobs = swept.blobs,
                    blob_bytes = swept.blob_bytes,
                    staged = swept.staged,
                    completed_notes = swept.completed_notes,
                    "S3 store: removed abandoned multipart uploads and what killed uploads left"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "S3 store: the sweep failed; trying again later")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "S3 store: the sweep stopped; trying again later")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_modules::object_store::DiskStore;
    use std::sync::Arc;

    /// The task sweeps at its start and then every interval: a leftover planted after the
    /// first sweep goes at a later one.
    #[tokio::test]
    async fn the_sweeper_removes_leftovers_every_interval_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(DiskStore::new(dir.path(), "veritas2hview"));
        disk.create().unwrap();
        let store = ObjectStore::Embedded(disk.clone());
        let config = S3Config {
            store_sweep_interval_seconds: 1,
            ..Default::default()
        };
        let stop = CancellationToken::new();
        let task = spawn_store_sweeper(&store, &config, Leadership::alone("test"), stop.clone());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let orphan = disk.dir().join("blobs").join("00000000000000000001-1-1");
        std::fs::write(&orphan, b"a killed upload's bytes").unwrap();
        std::fs::File::open(&orphan)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 3600))
            .unwrap();
        for _ in 0..50 {
            if !orphan.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!orphan.exists(), "not swept");
        stop.cancel();
        task.await.unwrap();
    }
}
