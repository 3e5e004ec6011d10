//! Serve lists the upload bucket at its start and then every `s3.reconcile_interval_seconds`,
//! looking for objects without a job. With `s3.auto_trigger` on, a pass queues (when the key
//! names customer and grid):
//!
//! - an object older than `s3.untriggered_after_minutes` (both modes: the curl never came);
//! - embedded mode: an object stored before this serve started, whatever its age. The
//!   endpoint answered 200 for it, so its job was owed at once; the trigger that was to
//!   make it died with the previous serve (SIGTERM, `kill -9`, a crash, a database outage
//!   longer than that serve's life). The object on disk is durable before the 200 and the
//!   job row is durable once made, so "stored, no job" is exactly the set still owed:
//!   nothing else needs writing at the PUT. Uploads stored since the start are the live
//!   auto trigger's.
//!
//! External mode has no such debt: the trigger is the customer's curl, which serve answers
//! only once the job is committed (a curl that met serve down failed and is the client's to
//! retry), and an object younger than `s3.untriggered_after_minutes` is left to the curl
//! that names its grid. The start pass still runs at once, so what is overdue is queued
//! then rather than a whole interval later.
//!
//! Otherwise an overdue object is reported: a warning in the log (once per object), the
//! gauge `dataprocessor_uploads_untriggered`, and `dpctl uploads pending`. A forgotten curl
//! loses nothing. A pass that fails (the database or the store away) is tried again within
//! seconds, doubling up to the interval, not a whole interval later.

use super::{Trigger, UploadRequest, queue_upload};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use shared_modules::object_store::{Untriggered, untriggered};
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Reconciles every `s3.reconcile_interval_seconds` while this node leads (a cluster duty:
/// one reconciliation at a time).
pub fn spawn_reconciler(
    state: AppState,
    leadership: shared_modules::cluster::Leadership,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // Objects stored before now were announced, if at all, to a serve that is gone.
    let started = Utc::now();
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.s3.reconcile_interval_seconds.max(1));
        let mut reported = HashSet::new();
        let mut retry = Duration::from_secs(1);
        loop {
            if !leadership.is_leader() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every.min(Duration::from_secs(1))) => continue,
                }
            }
            let pass = reconcile_once(&state, started, &mut reported);
            let pass = shared_modules::cluster::record_duty(
                &state.pool,
                "reconciliation",
                &leadership,
                pass,
            );
            let wait = match pass.await {
                // Not run (another node's pass still holds the duty, or the lock could not
                // be asked for): tried again soon.
                None => shared_modules::cluster::next_try(false, every),
                Some(Ok(())) => {
                    retry = Duration::from_secs(1);
                    every
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, retry_in_s = retry.as_secs(), "reconciliation of the upload bucket failed; trying again");
                    let wait = retry;
                    retry = (retry * 2).min(every);
                    wait
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Whether a pass queues `object` now (auto trigger on), rather than waiting for a curl.
fn owed(object: &Untriggered, embedded: bool, started: DateTime<Utc>, after: Duration) -> bool {
    object.age >= after || (embedded && object.object.last_modified < started)
}

/// One pass; `reported` holds the overdue objects already logged, so each is logged once.
async fn reconcile_once(
    state: &AppState,
    started: DateTime<Utc>,
    reported: &mut HashSet<String>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let waiting = {
        // The pool, not a request's turn (`state.conn()`): a pass lists the whole bucket while
        // it holds the connection.
        let mut conn = state.pool.get().await?;
        untriggered(&state.store, &mut conn, Utc::now()).await?
    };
    let after = Duration::from_secs(state.config.s3.untriggered_after_minutes * 60);
    let embedded = state.store.embedded().is_some();
    // Only what is still overdue is remembered: the set does not grow with every upload.
    let mut still_overdue = HashSet::new();
    let mut oldest = None;
    for object in &waiting {
        let overdue = object.age >= after;
        let why = if !state.config.s3.auto_trigger {
            "s3.auto_trigger is off".to_string()
        } else if owed(object, embedded, started, after) {
            match queue(state, object).await {
                Ok(()) => continue,
                Err(why) => why,
            }
        } else {
            String::new()
        };
        oldest = oldest.max(Some(object.age));
        if !overdue {
            continue;
        }
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

/// Queues an object, or says why it cannot be (its key names no customer and grid, or the
/// trigger failed).
async fn queue(state: &AppState, object: &Untriggered) -> Result<(), String> {
    let request = UploadRequest::for_key(&object.object.key, Trigger::Reconciliation)
        .ok_or("the key is not <customer>/<grid>/<file>")?;
    let queued = queue_upload(state, request, Trigger::Reconciliation, None)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(job.id = queued.job_id, key = %object.object.key, created = queued.created, "reconciliation queued an untriggered upload");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::owed;
    use chrono::{TimeZone, Utc};
    use shared_modules::object_store::{ListedObject, Untriggered};
    use std::time::Duration;

    #[test]
    fn what_a_pass_queues_at_once() {
        let started = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let after = Duration::from_secs(3600);
        let object = |minutes_before_start: i64, age_minutes: u64| Untriggered {
            object: ListedObject {
                key: "c/g/f".into(),
                size: 1,
                etag: "e".into(),
                last_modified: started - chrono::Duration::minutes(minutes_before_start),
            },
            age: Duration::from_secs(age_minutes * 60),
        };
        // Stored a minute before this serve started: owed in embedded mode only.
        assert!(owed(&object(1, 2), true, started, after));
        assert!(!owed(&object(1, 2), false, started, after));
        // Stored since the start: the live auto trigger's (or the curl's), until overdue.
        assert!(!owed(&object(-1, 0), true, started, after));
        assert!(owed(&object(-1, 61), true, started, after));
        assert!(owed(&object(-1, 61), false, started, after));
    }
}
