//! `POST /api/1.0/veritas2hview/update` `{uid, customer, grid, s3_path}`: a customer uploaded
//! a NetBackup export to the `veritas2hview` bucket (a customer's key: its own only); its job is made (or found) by
//! `uploads::queue_upload`. 202 for a new job, 200 for the same object triggered again.

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::uploads::{Trigger, TriggerError, UploadRequest, queue_upload};
use actix_web::{HttpResponse, web};
use serde_json::json;

pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let queued = queue_upload(&state, body.into_inner(), Trigger::Curl, Some(&caller.0)).await?;
    let body =
        json!({ "job_id": queued.job_id, "status": queued.state, "existing": !queued.created });
    Ok(if queued.created {
        HttpResponse::Accepted().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        match e {
            TriggerError::Invalid(m) => ApiError::BadRequest(m),
            TriggerError::Forbidden(m) => ApiError::Forbidden(m),
            TriggerError::ObjectGone(m) => ApiError::NotFound(m),
            TriggerError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}
