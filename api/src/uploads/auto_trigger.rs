//! `s3.auto_trigger`: a completed upload to the embedded endpoint queues its job at once,
//! as the curl would (a later curl for the same object gets the same job). Failures are
//! logged; reconciliation tries again later, so a moment without the database loses
//! nothing.

use super::{Uploaded, request_for_key};
use crate::http::AppState;
use crate::http::veritas2hview::queue_upload;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

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
            let Some(request) = request_for_key(&object.key, "s3-auto-trigger") else {
                tracing::warn!(key = %object.key, "upload is not <customer>/<grid>/<file>: no job until a curl names its customer and grid");
                continue;
            };
            match queue_upload(&state, request, "auto_trigger").await {
                Ok((job_id, _, created)) => {
                    tracing::info!(job.id = job_id, key = %object.key, etag = %object.etag, created, "upload queued by the auto trigger")
                }
                Err(e) => {
                    tracing::warn!(key = %object.key, error = %e, "auto trigger could not queue the upload; reconciliation will try again")
                }
            }
        }
    })
}
