//! Every `s3.reconcile_interval_seconds`, serve lists the upload bucket and looks for
//! objects without a job. One older than `s3.untriggered_after_minutes` is queued when
//! `s3.auto_trigger` is on and its key names customer and grid; otherwise it is reported:
//! a warning in the log (once per object), the gauge `dataprocessor_uploads_untriggered`,
//! and `dpctl uploads pending`. A forgotten curl loses nothing.

use super::request_for_key;
use crate::http::AppState;
use crate::http::veritas2hview::queue_upload;
use shared_modules::object_store::{Untriggered, untriggered};
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub fn spawn_reconciler(state: AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.s3.reconcile_interval_seconds);
        let mut reported = HashSet::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = reconcile_once(&state, &mut reported).await {
                tracing::warn!(error = %e, "reconciliation of the upload bucket failed; trying again later");
            }
        }
    })
}

/// One pass; `reported` holds the overdue objects already logged, so each is logged once.
async fn reconcile_once(
    state: &AppState,
    reported: &mut HashSet<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let waiting = {
        let mut conn = state.conn().await?;
        untriggered(&state.store, &mut conn, chrono::Utc::now()).await?
    };
    let after = Duration::from_secs(state.config.s3.untriggered_after_minutes * 60);
    let oldest = waiting.first().map(|w| w.age);
    // Only what is still overdue is remembered: the set does not grow with every upload.
    let mut still_overdue = HashSet::new();
    for object in waiting.iter().filter(|w| w.age >= after) {
        let why = if state.config.s3.auto_trigger {
            match queue(state, object).await {
                Ok(()) => continue,
                Err(why) => why,
            }
        } else {
            "s3.auto_trigger is off".to_string()
        };
        let id = format!("{}@{}", object.object.key, object.object.etag);
        if !reported.contains(&id) {
            tracing::warn!(
                key = %object.object.key,
                etag = %object.object.etag,
                age_minutes = object.age.as_secs() / 60,
                reason = %why,
                "upload never triggered: no job for this object; run the curl trigger naming its customer and grid (dpctl uploads pending lists them)"
            );
        }
        still_overdue.insert(id);
    }
    let overdue = still_overdue.len();
    *reported = still_overdue;
    shared_modules::metrics::set_upload_gauges(overdue, oldest);
    if let Ok(mut last) = state.untriggered.lock() {
        *last = Some(super::UntriggeredSummary { overdue, oldest });
    }
    Ok(())
}

/// Queues an overdue object, or says why it cannot be (its key names no customer and
/// grid, or the trigger failed).
async fn queue(state: &AppState, object: &Untriggered) -> Result<(), String> {
    let request = request_for_key(&object.object.key, "reconciliation")
        .ok_or("the key is not <customer>/<grid>/<file>")?;
    let (job_id, _, _) = queue_upload(state, request, "reconciliation")
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(job.id = job_id, key = %object.object.key, "reconciliation queued an untriggered upload");
    Ok(())
}
