//! `POST /uploads`, `GET /uploads/{id}`, `POST /uploads/{id}/complete`: a front end's
//! multipart upload (`uploads::browser`). A customer's key uploads for its own customer
//! only; another's upload is a 404.

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::uploads::browser::{self, StartUpload};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// How the caller reached this server (`http(s)://host:port`): the embedded store's part
/// URLs point there, so the browser sends parts where it already connects.
pub fn origin(state: &AppState, req: &HttpRequest) -> String {
    let scheme = if state.over_tls(req) { "https" } else { "http" };
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']))
        .map_or_else(|| state.config.api.listen.clone(), str::to_string);
    format!("{scheme}://{host}")
}

pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<StartUpload>,
) -> Result<HttpResponse, ApiError> {
    let view = browser::start(&state, &caller.0, &origin(&state, &req), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = browser::view(&state, &caller.0, &origin(&state, &req), &id).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn complete(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (view, queued) = browser::complete(&state, &caller.0, &origin(&state, &req), &id).await?;
    state.listing.clear();
    let mut body = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["existing"] = json!(!queued.created);
    Ok(if queued.created {
        HttpResponse::Accepted().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}
