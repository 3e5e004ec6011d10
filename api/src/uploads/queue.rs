//! The job of an uploaded object, made now (fetched into the inbox, queued) or found. The
//! curl, the auto trigger and reconciliation all come here, so the same object (bucket,
//! key, ETag) triggered again, even concurrently, gives the same job. No database
//! connection is held while the object downloads (a slow store must not starve the pool).

use super::TriggerError;
use super::trigger::{Trigger, UploadRequest, ValidUpload, validate};
use crate::state::AppState;
use diesel_async::AsyncPgConnection;
use serde_json::json;
use shared_modules::customers::{Principal, customer_exists};
use shared_modules::db::PooledConn;
use shared_modules::inbox::{Commit, Insert, Intake, IntakeError, new_job};
use shared_modules::jobs::{JobSource, JobState, job_for_key};
use shared_modules::object_store::{ObjectInfo, StoreError, dedupe_key};
use shared_modules::paths::{inbox_root, sanitise_file_name};

/// The upload's job: its id, its state, and whether this call made it.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    pub job_id: i64,
    pub state: JobState,
    pub created: bool,
}

/// `by`: the key that asked (a curl's or a browser's), recorded in the job's metadata; a
/// customer's key may only name its own customer's uploads.
pub async fn queue_upload(
    state: &AppState,
    request: UploadRequest,
    trigger: Trigger,
    by: Option<&Principal>,
) -> Result<Queued, TriggerError> {
    let valid = validate(request)?;
    let customer = &valid.location.customer;
    if by.is_some_and(|by| !by.may_see(customer)) {
        return Err(TriggerError::Forbidden(format!(
            "this key may only trigger its own customer's uploads, not `{customer}`'s"
        )));
    }
    if state.config.customer(customer).is_none()
        && !customer_exists(&mut *conn(state).await?, customer)
            .await
            .map_err(database)?
    {
        return Err(TriggerError::Invalid(format!(
            "customer `{customer}` is not configured (config.json's customers) nor added (`dpctl customers add`)"
        )));
    }
    let by = by.map(Principal::label);
    let info = state.store.head(&valid.key).await.map_err(store_error)?;
    let dedupe_key = dedupe_key(state.store.bucket(), &valid.key, &info.etag);
    // One download per object at a time; waiting holds no database connection.
    let _one_at_a_time = state.downloads.lock(&dedupe_key).await;
    let queued = fetch_and_queue(state, &valid, &info, &dedupe_key, trigger, by.as_deref()).await?;
    tracing::info!(job.id = queued.job_id, customer = %valid.location.customer, key = %valid.key, created = queued.created, trigger = trigger.as_str(), by = by.as_deref().unwrap_or("-"), "upload trigger");
    Ok(queued)
}

async fn fetch_and_queue(
    state: &AppState,
    valid: &ValidUpload,
    info: &ObjectInfo,
    dedupe_key: &str,
    trigger: Trigger,
    by: Option<&str>,
) -> Result<Queued, TriggerError> {
    if let Some(found) = existing(&mut *conn(state).await?, dedupe_key).await? {
        return Ok(found);
    }
    let original_name = valid
        .key
        .rsplit('/')
        .next()
        .unwrap_or(&valid.key)
        .to_string();
    let file_name = sanitise_file_name(&original_name);
    let io =
        |e: std::io::Error| TriggerError::Unavailable(format!("cannot store the download: {e}"));
    let mut job = new_job(
        &state.config,
        JobSource::Upload,
        &valid.location,
        JobState::Queued,
        None,
    );
    job.dedupe_key = Some(dedupe_key.to_string());
    let parent = inbox_root(&state.config.paths.root).join(valid.location.relative());
    let mut intake = Intake::stage(&state.config, job, parent, chrono::Utc::now()).map_err(io)?;
    let (_, file) = intake.staging().create_file(&file_name).map_err(io)?;
    let bytes = state
        .store
        .download(&valid.key, info, file)
        .await
        .map_err(store_error)?;
    shared_modules::metrics::bytes_downloaded(bytes);
    intake.set_metadata(json!({
        "uid": valid.uid,
        "bucket": state.store.bucket(),
        "triggered_by": trigger.as_str(),
        "acted_by": by,
        "key": valid.key,
        "etag": info.etag,
        "size": bytes,
        "file": file_name,
        "original_name": original_name,
    }));
    intake.write_meta().map_err(io)?;
    let mut conn = conn(state).await?;
    let committed = intake
        .commit(&mut conn, Insert::New)
        .await
        .map_err(|e| match e {
            IntakeError::Storage(e) => io(e),
            IntakeError::Database(e) => database(e),
        })?;
    Ok(match committed {
        Commit::Created { job_id, .. } => Queued {
            job_id,
            state: JobState::Queued,
            created: true,
        },
        Commit::Duplicate { job_id } => {
            let state = existing(&mut conn, dedupe_key)
                .await?
                .map_or(JobState::Queued, |found| found.state);
            Queued {
                job_id,
                state,
                created: false,
            }
        }
    })
}

async fn existing(conn: &mut AsyncPgConnection, key: &str) -> Result<Option<Queued>, TriggerError> {
    Ok(job_for_key(conn, key)
        .await
        .map_err(database)?
        .map(|(job_id, state, _)| Queued {
            job_id,
            state,
            created: false,
        }))
}

async fn conn(state: &AppState) -> Result<PooledConn, TriggerError> {
    state.pool.get().await.map_err(|e| {
        tracing::warn!(error = %e, "no database connection for an upload trigger");
        unavailable()
    })
}

/// Any database failure while a trigger runs is transient (503, tried again): the queries
/// here are known good, so what fails is the database going away, restarting or cutting
/// the connection (`terminating connection due to administrator command`), which the driver
/// reports under several kinds. The detail goes to the log, never to the client.
fn database(e: diesel::result::Error) -> TriggerError {
    tracing::warn!(error = %e, "the database failed during an upload trigger");
    unavailable()
}

fn unavailable() -> TriggerError {
    TriggerError::Unavailable("the database is unavailable; try again shortly".into())
}

fn store_error(e: StoreError) -> TriggerError {
    match e {
        StoreError::NotFound { .. } => TriggerError::ObjectGone(e.to_string()),
        _ => TriggerError::Unavailable(e.to_string()),
    }
}
