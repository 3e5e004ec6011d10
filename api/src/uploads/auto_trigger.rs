//! `s3.auto_trigger`: a completed upload to the embedded endpoint queues its job at once,
//! as the curl would (a later curl for the same object gets the same job). A temporary
//! failure (the database away) is tried again with backoff for a few minutes; past that,
//! or for an upload whose key names no configured customer, reconciliation takes over, so
//! nothing is lost.

use super::{Uploaded, request_for_key};
use crate::http::veritas2hview::queue_upload;
use crate::http::{ApiError, AppState};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Tries after a temporary failure: 1 s, 2 s, 4 s … about four minutes in all.
const TRIES: u32 = 8;

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
    let Some(request) = request_for_key(&object.key, "s3-auto-trigger") else {
        tracing::warn!(key = %object.key, "upload is not <customer>/<grid>/<file>: no job until a curl names its customer and grid");
        return;
    };
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=TRIES {
        match queue_upload(&state, request.clone(), "auto_trigger").await {
            Ok((job_id, _, created)) => {
                tracing::info!(job.id = job_id, key = %object.key, etag = %object.etag, created, "upload queued by the auto trigger");
                return;
            }
            Err(e @ ApiError::Unavailable(_)) if attempt < TRIES => {
                tracing::warn!(key = %object.key, error = %e, retry_in_s = delay.as_secs(), "auto trigger could not queue the upload yet");
            }
            Err(e) => {
                tracing::warn!(key = %object.key, error = %e, "auto trigger could not queue the upload; reconciliation will report or queue it");
                return;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay *= 2;
    }
}
