//! `s3.auto_trigger`: a completed upload to the embedded endpoint queues its job at once,
//! as the curl would (a later curl for the same object gets the same job). A transient
//! failure (the database away or cut, the disk full, the store unreadable) is tried again
//! with backoff, up to every `MAX_DELAY`, for as long as serve runs; only an upload that can
//! never be a job (its key names no configured customer, the object is gone) is given up,
//! and reconciliation reports it. What serve's stop or a crash interrupts is queued by the
//! reconciliation pass at the next start (`reconcile`): the stored object is its own record.

use super::{Trigger, UploadRequest, Uploaded, queue_upload};
use crate::state::AppState;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// The longest wait between two tries: the job follows within this of the database's return.
const MAX_DELAY: Duration = Duration::from_secs(10);

pub fn spawn_auto_trigger(
    state: AppState,
    mut uploaded: UnboundedReceiver<Uploaded>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let object = tokio::select! {
                _ = stop.cancelled() => return,
                object = uploaded.recv() => match object {
                    Some(object) => object,
                    None => return,
                },
            };
            // Each upload on its own: one waiting for the database holds up no other.
            tokio::spawn(queue(state.clone(), object, stop.clone()));
        }
    })
}

async fn queue(state: AppState, object: Uploaded, stop: CancellationToken) {
    let Some(request) = UploadRequest::for_key(&object.key, Trigger::AutoTrigger) else {
        tracing::warn!(key = %object.key, "upload is not <customer>/<grid>/<file>: no job until a curl names its customer and grid");
        return;
    };
    let mut delay = Duration::from_secs(1);
    for attempt in 1u64.. {
        match queue_upload(
            &state,
            request.clone(),
            Trigger::AutoTrigger,
            object.by.as_ref(),
        )
        .await
        {
            Ok(queued) => {
                tracing::info!(job.id = queued.job_id, key = %object.key, etag = %object.etag, created = queued.created, attempt, "upload queued by the auto trigger");
                return;
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(key = %object.key, error = %e, "auto trigger cannot queue the upload; reconciliation reports it");
                return;
            }
            // Logged on the 1st, 2nd, 4th, 8th … try: a long outage does not flood the log.
            Err(e) if attempt.is_power_of_two() => {
                tracing::warn!(key = %object.key, error = %e, attempt, retry_in_s = delay.as_secs(), "auto trigger could not queue the upload yet");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => {
                tracing::info!(key = %object.key, "serve stopping before the upload's job was made: the next start queues it");
                return;
            }
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}
