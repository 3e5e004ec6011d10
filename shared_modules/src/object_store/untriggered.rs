//! Reconciliation's question: which objects in the upload bucket have no job? An object is
//! triggered when a job carries its dedupe key (bucket, key, ETag), however the job came
//! (the curl, the auto trigger or reconciliation itself).

use super::{ListedObject, ObjectStore, StoreError};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use std::collections::HashSet;
use std::time::Duration;

/// The key that makes the same object (bucket, key, ETag) give the same job.
pub fn dedupe_key(bucket: &str, key: &str, etag: &str) -> String {
    format!("s3:{bucket}/{key}@{etag}")
}

#[derive(Debug, Clone)]
pub struct Untriggered {
    pub object: ListedObject,
    /// Since the upload completed.
    pub age: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the jobs: {0}")]
    Database(#[from] diesel::result::Error),
}

/// A folder as desktop tools make one (S3 Browser, Cyberduck, WinSCP: `customer/` or
/// `customer/grid/`, a key ending in `/`): an object, never an upload to make a job of.
pub fn is_folder_marker(key: &str) -> bool {
    key.ends_with('/')
}

/// Objects without a job (folder markers aside: they are never jobs), oldest first.
pub async fn untriggered(
    store: &ObjectStore,
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Untriggered>, ReconcileError> {
    let mut objects = store.list().await?;
    objects.retain(|o| !is_folder_marker(&o.key));
    let mut triggered = HashSet::new();
    for chunk in objects.chunks(1000) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|o| dedupe_key(store.bucket(), &o.key, &o.etag))
            .collect();
        triggered.extend(crate::jobs::keys_with_jobs(conn, &keys).await?);
    }
    let mut waiting: Vec<Untriggered> = objects
        .into_iter()
        .filter(|o| !triggered.contains(&dedupe_key(store.bucket(), &o.key, &o.etag)))
        .map(|object| Untriggered {
            age: (now - object.last_modified).to_std().unwrap_or_default(),
            object,
        })
        .collect();
    waiting.sort_by_key(|w| std::cmp::Reverse(w.age));
    Ok(waiting)
}
