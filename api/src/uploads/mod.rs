//! Uploads that start their own jobs: the embedded endpoint announces every completed
//! object (`auto_trigger`), and `reconcile` lists the bucket every so often for objects
//! no trigger ever came for. Both queue through the curl's own path (`queue`), so the same
//! object (bucket, key, ETag) is the same job however many of them fire; the route
//! `POST /api/1.0/veritas2hview/update` is a thin door to it.

mod auto_trigger;
pub mod browser;
mod error;
mod key_locks;
mod queue;
mod reconcile;
mod trigger;

pub use auto_trigger::spawn_auto_trigger;
pub use error::TriggerError;
pub use key_locks::KeyLocks;
pub use queue::{Queued, queue_upload};
pub use reconcile::spawn_reconciler;
pub use trigger::{Trigger, UploadRequest, ValidUpload, parse_request};

/// What the last reconciliation found: objects overdue without a job, and how old the
/// oldest object without a job is.
#[derive(Debug, Clone, Copy)]
pub struct UntriggeredSummary {
    pub overdue: usize,
    pub oldest: Option<std::time::Duration>,
}

/// An object the embedded endpoint has just stored.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub key: String,
    pub etag: String,
    pub size: u64,
    /// Who the signer acted as (recorded as the job's `acted_by`).
    pub by: Option<shared_modules::customers::Principal>,
}
