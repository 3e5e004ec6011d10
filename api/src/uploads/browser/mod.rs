//! Uploads from a browser (`POST /api/1.0/uploads` and the console's Upload page): the
//! server starts a multipart upload in the configured store and hands out short-lived
//! presigned URLs, one per part; the browser sends the parts straight to the store (no byte
//! passes through a DataProcessor process), asks again for what is missing after a dropped
//! connection, and completes: the parts are checked against the size declared at the start
//! and the job is queued as the curl trigger queues it (the same object is the same job).

mod part_store;
mod plan;
mod rows;

pub use plan::StartUpload;

use super::{Queued, Trigger, UploadRequest, queue_upload};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use part_store::{PartSigner, URL_LIFETIME};
use plan::{part_length, parts_of};
use rows::UploadRow;
use serde::Serialize;
use shared_modules::customers::{Principal, customer_exists};
use shared_modules::jobs::JobState;

/// At most this many part URLs per answer (128 MiB at the smallest part size, sent well
/// within the URLs' 15 minutes even at 0.2 MB/s): the page asks again for the next ones.
const URLS_PER_ANSWER: usize = 16;

/// What the upload API answers about an upload.
#[derive(Debug, Serialize)]
pub struct UploadView {
    pub id: String,
    pub customer: String,
    pub grid: String,
    pub key: String,
    pub file_name: String,
    pub size: u64,
    pub part_size: u64,
    pub parts_total: i32,
    /// Part numbers the store holds, whole (a part of the wrong size is sent again).
    pub parts_received: Vec<i32>,
    pub bytes_received: u64,
    /// PUT each URL with the part's bytes (`part_size` bytes from `(part_number-1)*part_size`).
    pub part_urls: Vec<PartUrl>,
    pub urls_expire_at: Option<DateTime<Utc>>,
    /// POST here (no body) once every part is received.
    pub complete_url: String,
    /// `open`, or `completed` with its job.
    pub status: &'static str,
    pub job_id: Option<i64>,
    pub job_status: Option<JobState>,
    /// The job's progress while it runs, its result (rows per table) when done, its error
    /// in words when it failed.
    pub job_progress: Option<serde_json::Value>,
    pub job_result: Option<serde_json::Value>,
    pub job_error: Option<String>,
    /// The key that started it (`operator` or `<customer>:<key id>`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct PartUrl {
    pub part_number: i32,
    pub url: String,
}

/// Starts an upload. `origin`: how the browser reached this server (part URLs of the
/// embedded store point there).
pub async fn start(
    state: &AppState,
    by: &Principal,
    origin: &str,
    request: StartUpload,
) -> Result<UploadView, ApiError> {
    let plan = plan::plan(request)?;
    if !by.may_see(&plan.customer) {
        return Err(ApiError::Forbidden(format!(
            "this key may only upload for its own customer, not `{}`",
            plan.customer
        )));
    }
    let open = state
        .db(async {
            let mut conn = state.conn().await?;
            if state.config.customer(&plan.customer).is_none()
                && !customer_exists(&mut conn, &plan.customer).await?
            {
                return Err(ApiError::BadRequest(format!(
                    "customer `{}` is not configured nor added (`dpctl customers add`)",
                    plan.customer
                )));
            }
            Ok(rows::open_count(&mut conn, &plan.customer).await?)
        })
        .await?;
    let most = state.config.s3.max_open_uploads_per_key as i64;
    if open >= most {
        return Err(ApiError::Conflict(format!(
            "{open} uploads of `{}` are open, the most at once: finish them or wait a day",
            plan.customer
        )));
    }
    let store_upload_id = part_store::start(state, &plan.key).await?;
    let mut random = [0u8; 16];
    getrandom::getrandom(&mut random)
        .map_err(|e| ApiError::Internal(format!("no randomness for an upload id: {e}")))?;
    let id = hex::encode(random);
    let row = state
        .db(async {
            let mut conn = state.conn().await?;
            Ok(rows::insert(&mut conn, &id, &plan, &store_upload_id, &by.label()).await?)
        })
        .await?;
    tracing::info!(upload = %row.id, customer = %row.customer, key = %row.object_key, size = row.size, by = %by.label(), "browser upload started");
    view_of(state, row, origin).await
}

/// Where an upload stands, with URLs for the parts still missing.
pub async fn view(
    state: &AppState,
    by: &Principal,
    origin: &str,
    id: &str,
) -> Result<UploadView, ApiError> {
    let row = visible(state, by, id).await?;
    view_of(state, row, origin).await
}

/// Completes an upload whose every part arrived whole, and queues its job. Completing
/// again answers the same job.
pub async fn complete(
    state: &AppState,
    by: &Principal,
    origin: &str,
    id: &str,
) -> Result<(UploadView, Queued), ApiError> {
    let row = visible(state, by, id).await?;
    if row.completed_at.is_none() {
        match part_store::received(state, &row.object_key, &row.store_upload_id).await? {
            Some(received) => join_whole_parts(state, &row, &received).await?,
            // Gone from the store's open uploads: joined by an earlier completion whose
            // answer was lost (or by another node at the same time) when the object is
            // there with the size declared; else aborted or swept.
            None if joined_already(state, &row).await => {}
            None => {
                return Err(ApiError::NotFound(format!(
                    "upload {id}: the store no longer holds it (aborted or swept): start again"
                )));
            }
        }
    }
    let request = UploadRequest {
        uid: format!("upload-{}", row.id),
        customer: row.customer.clone(),
        grid: row.grid.clone(),
        s3_path: row.object_key.clone(),
    };
    let queued = queue_upload(state, request, Trigger::UploadApi, Some(by)).await?;
    state
        .db(async { Ok(rows::mark_completed(&mut *state.conn().await?, id, queued.job_id).await?) })
        .await?;
    tracing::info!(upload = %row.id, job.id = queued.job_id, by = %by.label(), "browser upload completed");
    let row = visible(state, by, id).await?;
    Ok((view_of(state, row, origin).await?, queued))
}

/// Joins the parts when every one arrived whole; 409 naming the missing ones otherwise.
async fn join_whole_parts(
    state: &AppState,
    row: &UploadRow,
    received: &[shared_modules::object_store::ReceivedPart],
) -> Result<(), ApiError> {
    let (size, part_size) = (row.size as u64, row.part_size as u64);
    let whole = whole_parts(received, size, part_size);
    let total = parts_of(size, part_size);
    let missing: Vec<String> = (1..=total)
        .filter(|n| !whole.iter().any(|p| p.number == *n))
        .take(20)
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Conflict(format!(
            "upload {} is not complete: parts {} have not arrived whole; send them, then complete",
            row.id,
            missing.join(", ")
        )));
    }
    match part_store::complete(state, &row.object_key, &row.store_upload_id, &whole).await {
        // Another completion (another node, a retry) joined it first.
        Err(ApiError::NotFound(_)) if joined_already(state, row).await => Ok(()),
        other => other,
    }
}

/// Whether the upload's object is in the store with the size declared at its start.
async fn joined_already(state: &AppState, row: &UploadRow) -> bool {
    state
        .store
        .head(&row.object_key)
        .await
        .is_ok_and(|info| info.size == row.size as u64)
}

/// The upload `id` when `by` may see it; 404 otherwise, whether it exists or not.
async fn visible(state: &AppState, by: &Principal, id: &str) -> Result<UploadRow, ApiError> {
    let missing = || ApiError::NotFound(format!("upload {id} does not exist"));
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let row = state
        .db(async { Ok(rows::find(&mut *state.conn().await?, id).await?) })
        .await?
        .ok_or_else(missing)?;
    if !by.may_see(&row.customer) {
        return Err(missing());
    }
    Ok(row)
}

/// The received parts that hold exactly the bytes their number must.
fn whole_parts(
    received: &[shared_modules::object_store::ReceivedPart],
    size: u64,
    part_size: u64,
) -> Vec<shared_modules::object_store::ReceivedPart> {
    let total = parts_of(size, part_size);
    received
        .iter()
        .filter(|p| {
            (1..=total).contains(&p.number) && p.size == part_length(size, part_size, p.number)
        })
        .cloned()
        .collect()
}

async fn view_of(state: &AppState, row: UploadRow, origin: &str) -> Result<UploadView, ApiError> {
    let (size, part_size) = (row.size as u64, row.part_size as u64);
    let total = parts_of(size, part_size);
    let complete_url = format!("/api/1.0/uploads/{}/complete", row.id);
    if let Some(job_id) = row.job_id {
        let job = state
            .db(async {
                Ok(shared_modules::jobs::find_job(&mut *state.conn().await?, job_id).await?)
            })
            .await?;
        return Ok(UploadView {
            parts_received: (1..=total).collect(),
            bytes_received: size,
            part_urls: Vec::new(),
            urls_expire_at: None,
            complete_url,
            status: "completed",
            job_id: Some(job_id),
            job_status: job.as_ref().map(|j| j.state),
            job_progress: job.as_ref().and_then(|j| j.progress.clone()),
            job_result: job.as_ref().and_then(|j| j.result.clone()),
            job_error: job.and_then(|j| j.error),
            ..identity(&row, total)
        });
    }
    let received = part_store::received(state, &row.object_key, &row.store_upload_id)
        .await?
        .unwrap_or_default();
    let whole = whole_parts(&received, size, part_size);
    let signer = PartSigner::new(state, origin);
    let mut part_urls = Vec::new();
    for number in (1..=total).filter(|n| !whole.iter().any(|p| p.number == *n)) {
        if part_urls.len() == URLS_PER_ANSWER {
            break;
        }
        part_urls.push(PartUrl {
            part_number: number,
            url: signer
                .url(&row.object_key, &row.store_upload_id, number)
                .await?,
        });
    }
    Ok(UploadView {
        parts_received: whole.iter().map(|p| p.number).collect(),
        bytes_received: whole.iter().map(|p| p.size).sum(),
        urls_expire_at: (!part_urls.is_empty())
            .then(|| Utc::now() + chrono::Duration::from_std(URL_LIFETIME).unwrap_or_default()),
        part_urls,
        complete_url,
        status: "open",
        job_id: None,
        job_status: None,
        ..identity(&row, total)
    })
}

fn identity(row: &UploadRow, total: i32) -> UploadView {
    UploadView {
        id: row.id.clone(),
        customer: row.customer.clone(),
        grid: row.grid.clone(),
        key: row.object_key.clone(),
        file_name: row.file_name.clone(),
        size: row.size as u64,
        part_size: row.part_size as u64,
        parts_total: total,
        parts_received: Vec::new(),
        bytes_received: 0,
        part_urls: Vec::new(),
        urls_expire_at: None,
        complete_url: String::new(),
        status: "open",
        job_id: None,
        job_status: None,
        job_progress: None,
        job_result: None,
        job_error: None,
        created_by: row.created_by.clone(),
        created_at: row.created_at,
    }
}
