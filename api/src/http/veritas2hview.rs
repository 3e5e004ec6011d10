//! `POST /api/1.0/veritas2hview/update` `{uid, customer, grid, s3_path}`: a customer uploaded
//! a NetBackup export to the `veritas2hview` bucket; fetch it into the inbox and queue its job.
//! The same object (bucket, key, ETag) triggered again, even concurrently, gives the same job.
//! No database connection is held while the object downloads.

use super::{ApiError, AppState};
use actix_web::{HttpResponse, web};
use diesel_async::AsyncPgConnection;
use serde::Deserialize;
use serde_json::json;
use shared_modules::config::Config;
use shared_modules::inbox::{Commit, Insert, Intake, IntakeError, new_job};
use shared_modules::jobs::{JobSource, JobState, job_for_key};
use shared_modules::object_store::{StoreError, dedupe_key};
use shared_modules::paths::{JobLocation, inbox_root, normalise_segment, sanitise_file_name};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub uid: String,
    pub customer: String,
    pub grid: String,
    pub s3_path: String,
}

pub struct Valid {
    uid: String,
    location: JobLocation,
    key: String,
}

/// A request body as the route reads it: JSON, then every field checked (400 with the
/// reason otherwise). The fuzz target `api_requests` drives this.
pub fn parse_update(config: &Config, body: &[u8]) -> Result<Valid, ApiError> {
    let request: UpdateRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    validate(config, request)
}

fn validate(config: &Config, request: UpdateRequest) -> Result<Valid, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let uid = request.uid.trim();
    if uid.is_empty() || uid.len() > 128 || uid.chars().any(char::is_control) {
        return Err(bad("uid must be 1 to 128 printable characters".into()));
    }
    let customer =
        normalise_segment("customer", &request.customer).map_err(|e| bad(e.to_string()))?;
    if config.customer(&customer).is_none() {
        return Err(bad(format!("customer `{customer}` is not configured")));
    }
    let grid = normalise_segment("grid", &request.grid).map_err(|e| bad(e.to_string()))?;
    let key = request.s3_path.as_str();
    let hostile = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\\')
        || key.chars().any(char::is_control)
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if hostile {
        return Err(bad(format!(
            "s3_path `{}` must be a key inside the bucket: no leading `/`, no `..`, `.` or empty parts, no backslash",
            key.chars().take(200).collect::<String>()
        )));
    }
    // A customer's uploads are under its own folder: naming another's object is refused.
    if key.split_once('/').map(|(folder, _)| folder) != Some(customer.as_str()) {
        return Err(bad(format!(
            "s3_path `{}` must lie under the customer's folder `{customer}/`",
            key.chars().take(200).collect::<String>()
        )));
    }
    let location = JobLocation::new(&customer, "hydrastor", "veritas2hview", &grid)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Valid {
        uid: uid.to_string(),
        location,
        key: key.to_string(),
    })
}

/// Any database failure while a trigger runs is transient (503, tried again): the queries
/// here are known good, so what fails is the database going away, restarting or cutting
/// the connection (`terminating connection due to administrator command`), which the driver
/// reports under several kinds. The detail goes to the log, never to the client.
fn database(e: diesel::result::Error) -> ApiError {
    tracing::warn!(error = %e, "the database failed during an upload trigger");
    ApiError::Unavailable("the database is unavailable; try again shortly".into())
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::NotFound(e.to_string()),
        _ => ApiError::Unavailable(e.to_string()),
    }
}

pub async fn update(
    state: web::Data<AppState>,
    body: web::Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let (job_id, status, created) = queue_upload(&state, body.into_inner(), "curl").await?;
    let body = json!({ "job_id": job_id, "status": status, "existing": !created });
    Ok(if created {
        HttpResponse::Accepted().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// The job of the object `request` names, made now (fetched into the inbox, queued) or
/// found: (job id, its state, whether it was made now). The curl, the auto trigger and
/// reconciliation (`by`) all come here.
pub async fn queue_upload(
    state: &AppState,
    request: UpdateRequest,
    by: &str,
) -> Result<(i64, JobState, bool), ApiError> {
    let valid = validate(&state.config, request)?;
    let info = state.store.head(&valid.key).await.map_err(store_error)?;
    let dedupe_key = dedupe_key(state.store.bucket(), &valid.key, &info.etag);
    // One download per object at a time; waiting holds no database connection, and the
    // download holds none either (a slow store must not starve the pool).
    let _one_at_a_time = state.downloads.lock(&dedupe_key).await;
    let (job_id, status, created) = fetch_and_queue(state, &valid, &info, &dedupe_key, by).await?;
    tracing::info!(job.id = job_id, customer = %valid.location.customer, key = %valid.key, created, by, "upload trigger");
    Ok((job_id, status, created))
}

async fn fetch_and_queue(
    state: &AppState,
    valid: &Valid,
    info: &shared_modules::object_store::ObjectInfo,
    dedupe_key: &str,
    by: &str,
) -> Result<(i64, JobState, bool), ApiError> {
    if let Some((id, status)) = existing(&mut *state.conn().await?, dedupe_key)
        .await
        .map_err(database)?
    {
        return Ok((id, status, false));
    }
    let root = &state.config.paths.root;
    let original_name = valid
        .key
        .rsplit('/')
        .next()
        .unwrap_or(&valid.key)
        .to_string();
    let file_name = sanitise_file_name(&original_name);
    let io = |e: std::io::Error| ApiError::Unavailable(format!("cannot store the download: {e}"));
    let mut job = new_job(
        &state.config,
        JobSource::Upload,
        &valid.location,
        JobState::Queued,
        None,
    );
    job.dedupe_key = Some(dedupe_key.to_string());
    let parent = inbox_root(root).join(valid.location.relative());
    let mut intake = Intake::stage(&state.config, job, parent, chrono::Utc::now()).map_err(io)?;
    let (_, file) = intake.staging().create_file(&file_name).map_err(io)?;
    let bytes = state
        .store
        .download(&valid.key, info, file)
        .await
        .map_err(store_error)?;
    shared_modules::metrics::count("dataprocessor_bytes_downloaded_total", &[], bytes as f64);
    intake.set_metadata(json!({
        "uid": valid.uid,
        "bucket": state.store.bucket(),
        "triggered_by": by,
        "key": valid.key,
        "etag": info.etag,
        "size": bytes,
        "file": file_name,
        "original_name": original_name,
    }));
    intake.write_meta().map_err(io)?;
    let mut conn = state.conn().await?;
    let committed = intake
        .commit(&mut conn, Insert::New)
        .await
        .map_err(|e| match e {
            IntakeError::Storage(e) => io(e),
            IntakeError::Database(e) => database(e),
        })?;
    match committed {
        Commit::Created { job_id, .. } => Ok((job_id, JobState::Queued, true)),
        Commit::Duplicate { job_id } => {
            let status = existing(&mut conn, dedupe_key)
                .await
                .map_err(database)?
                .map_or(JobState::Queued, |(_, s)| s);
            Ok((job_id, status, false))
        }
    }
}

async fn existing(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> Result<Option<(i64, JobState)>, diesel::result::Error> {
    Ok(job_for_key(conn, key)
        .await?
        .map(|(id, state, _)| (id, state)))
}
