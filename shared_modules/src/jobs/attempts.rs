//! The attempts this process is running, as the heartbeat sees them: it renews the lease of
//! exactly these (an attempt that ended, however it ended, is renewed no more), writes their
//! progress, and cancels the ones whose row says they are no longer this worker's
//! (cancelled, timed out, reaped).

use super::model::Job;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub struct Attempt {
    pub job_id: i64,
    /// The attempt number: with `locked_by` it fences every write of the attempt.
    pub attempts: i32,
    /// Fired when the job is no longer this attempt's: the worker stops the work.
    pub cancel: CancellationToken,
    progress: Mutex<Option<serde_json::Value>>,
}

impl Attempt {
    pub fn new(job_id: i64, attempts: i32) -> Self {
        Self {
            job_id,
            attempts,
            cancel: CancellationToken::new(),
            progress: Mutex::new(None),
        }
    }

    pub fn set_progress(&self, progress: serde_json::Value) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress);
    }

    /// The progress reported since the last call, if any.
    pub fn take_progress(&self) -> Option<serde_json::Value> {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

#[derive(Default)]
pub struct RunningAttempts {
    by_job: Mutex<HashMap<i64, Arc<Attempt>>>,
}

/// Removes its attempt from the running set when dropped, however the attempt ends
/// (returned, failed, panicked or was dropped).
pub struct Running<'a> {
    set: &'a RunningAttempts,
    pub attempt: Arc<Attempt>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.set.lock().remove(&self.attempt.job_id);
    }
}

impl RunningAttempts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Attempt>>> {
        self.by_job.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start(&self, job: &Job) -> Running<'_> {
        let attempt = Arc::new(Attempt::new(job.id, job.attempts));
        self.lock().insert(job.id, attempt.clone());
        Running { set: self, attempt }
    }

    pub fn snapshot(&self) -> Vec<Arc<Attempt>> {
        self.lock().values().cloned().collect()
    }
}
