//! `GET /jobs`, `GET /jobs/{id}`, `POST /jobs/{id}/retry`, `POST /jobs/{id}/cancel`. A
//! customer's key sees and acts on its own customer's jobs only; another's job is a 404.

use super::auth::Caller;
use super::listing_cache::Lookup;
use super::{ApiError, AppState};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared_modules::jobs::{
    Job, JobFilter, JobState, Refused, cancel_job, events_of, find_job, list_jobs, retry_job,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    customer: Option<String>,
    category: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A name filter is a path segment (`^[a-z0-9][a-z0-9_.-]{0,63}$`): anything else can
/// match no job, and is refused before it reaches the database.
fn segment_filter(what: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if is_segment(&v) => Ok(Some(v)),
        Some(v) => Err(ApiError::BadRequest(format!(
            "{what} `{}` is not a name like `bobs_burgers` (lower case letters, digits, `_`, `.`, `-`)",
            v.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        ))),
    }
}

fn is_segment(v: &str) -> bool {
    let bytes = v.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(b))
}

/// The filter a `GET /jobs` query string asks for, or why it is refused (400).
pub fn list_filter(query: &str) -> Result<JobFilter, ApiError> {
    let q: ListQuery = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
    let state = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status `{}` is not one of queued, running, done, error, quarantined, cancelled",
                s.chars()
                    .filter(|c| !c.is_control())
                    .take(32)
                    .collect::<String>()
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    // An empty cursor is the first page, as no cursor is.
    let before_id = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::BadRequest("cursor is not one this API gave (a next_cursor value)".into())
        })?),
    };
    Ok(JobFilter {
        state,
        customer: segment_filter("customer", q.customer)?,
        category: segment_filter("category", q.category)?,
        job_type: segment_filter("type", q.job_type)?,
        since: q.since,
        until: q.until,
        before_id,
        limit,
    })
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = request.query_string();
    let mut filter = list_filter(query)?;
    if let Some(own) = caller.0.customer() {
        match &filter.customer {
            Some(asked) if asked != own => return Ok(json_body(Bytes::from_static(NO_JOBS))),
            _ => filter.customer = Some(own.to_string()),
        }
    }
    // Each customer's answers are cached apart from the operator's.
    let key = &format!("{}?{query}", caller.0.customer().unwrap_or(""));
    let ticket = match state.listing.lookup(key) {
        Lookup::Hit(body) => return Ok(json_body(body)),
        Lookup::Miss(ticket) => ticket,
    };
    let page = state
        .db(async { Ok(list_jobs(&mut *state.conn().await?, &filter).await?) })
        .await?;
    let body = serde_json::to_vec(&PageBody {
        jobs: &page.jobs,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = Bytes::from(body);
    state.listing.store(key, body.clone(), ticket);
    Ok(json_body(body))
}

/// A page as the API sends it, serialized straight from the jobs: building a
/// `serde_json::Value` of the page first cost about a quarter of serve's CPU per listing.
#[derive(Serialize)]
struct PageBody<'a> {
    jobs: &'a [Job],
    next_cursor: Option<String>,
}

/// The page a customer's key gets when it asks for another customer's jobs.
const NO_JOBS: &[u8] = br#"{"jobs":[],"next_cursor":null}"#;

fn json_body(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (job, events) = state
        .db(async {
            let mut conn = state.conn().await?;
            let job = visible_job(&mut conn, &caller, id).await?;
            Ok((job, events_of(&mut conn, id).await?))
        })
        .await?;
    let mut body = serde_json::to_value(&job).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["events"] = serde_json::to_value(events).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(body))
}

/// The job `id` when the caller may see it; else 404, whether it exists or not.
async fn visible_job(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: &Caller,
    id: i64,
) -> Result<shared_modules::jobs::Job, ApiError> {
    let missing = || format!("job {id} does not exist");
    let job = find_job(conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(missing()))?;
    caller.may_see(&job.customer, missing)?;
    Ok(job)
}

pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let retried = state
        .db(async {
            let mut conn = state.conn().await?;
            visible_job(&mut conn, &caller, id).await?;
            let reason = format!("retry requested through the API by {}", caller.0.label());
            Ok(retry_job(&mut conn, id, &reason).await?)
        })
        .await?;
    match retried {
        Err(refused) => Err(refused_error(id, refused)),
        Ok(job) => {
            state.listing.clear();
            Ok(HttpResponse::Accepted().json(json!({ "job_id": job.id, "status": job.state })))
        }
    }
}

pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let cancelled = state
        .db(async {
            let mut conn = state.conn().await?;
            visible_job(&mut conn, &caller, id).await?;
            tracing::info!(job.id = id, by = %caller.0.label(), "cancel requested through the API");
            Ok(cancel_job(&mut conn, id).await?)
        })
        .await?;
    match cancelled {
        Err(refused) => Err(refused_error(id, refused)),
        Ok(job) => {
            state.listing.clear();
            Ok(HttpResponse::Ok().json(json!({ "job_id": job.id, "status": job.state })))
        }
    }
}

/// 404 for a job that does not exist, 409 for one whose state refuses the action.
fn refused_error(id: i64, refused: Refused) -> ApiError {
    let message = format!("job {id} {refused}");
    match refused {
        Refused::NotFound => ApiError::NotFound(message),
        _ => ApiError::Conflict(message),
    }
}
