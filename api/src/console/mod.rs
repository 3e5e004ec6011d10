//! The operator console at `/` on the API port: server-rendered pages (maud), a little
//! JavaScript and CSS kept here (`assets/`), nothing loaded from elsewhere. Signed in with
//! an API key (`session`); every page and file needs the session, every change its CSRF
//! token. A signed S3 request to the same paths is not the console's (`bridge::is_signed`).

mod charts;
mod grids;
mod jobs;
mod layout;
mod login;
mod overview;
mod quarantine;
pub mod security_headers;
pub mod session;
mod sessions;
pub mod sign_in_throttle;
mod upload;

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, guard, web};
use maud::html;
use tokio_util::io::ReaderStream;

/// Every console route; each only for requests that are not signed S3 requests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let page = || guard::fn_guard(|ctx| !crate::s3::bridge::is_signed(ctx.head()));
    let get = || web::get().guard(page());
    let post = || web::post().guard(page());
    cfg.route("/", get().to(overview::show))
        .route("/login", get().to(login::show))
        .route("/login", post().to(login::submit))
        .route("/logout", post().to(login::logout))
        .route("/jobs", get().to(jobs::list))
        .route("/jobs/{id}", get().to(jobs::show))
        .route("/jobs/{id}/retry", post().to(jobs::retry))
        .route("/jobs/{id}/cancel", post().to(jobs::cancel))
        .route("/jobs/{id}/file", get().to(jobs::file))
        .route("/quarantine", get().to(quarantine::list))
        .route("/quarantine/{id}/message", get().to(quarantine::message))
        .route("/quarantine/{id}/release", post().to(quarantine::release))
        .route("/quarantine/{id}/delete", post().to(quarantine::delete))
        .route("/grids", get().to(grids::show))
        .route("/upload", get().to(upload::show))
        .route("/upload/start", post().to(upload::start))
        .route("/upload/{id}", get().to(upload::status))
        .route("/upload/{id}/complete", post().to(upload::complete))
        .route("/console/upload.js", get().to(upload_js))
        .route("/console/console.css", get().to(css))
        .route("/console/console.js", get().to(js))
        .route("/console/icon.svg", get().to(icon))
        .route("/favicon.ico", get().to(icon));
}

/// The console's icon; also at `/favicon.ico`, which browsers ask for on every page.
async fn icon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(include_str!("assets/icon.svg"))
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(include_str!("assets/console.css"))
}

async fn upload_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(include_str!("assets/upload.js"))
}

async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(include_str!("assets/console.js"))
}

/// An action's database work (retry, cancel, release, delete): bounded by the read timeout
/// like every page, and the cached job listing dropped after it, since the lists changed.
async fn act<T>(
    state: &AppState,
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let done = state.db(work).await;
    state.listing.clear();
    done
}

/// `path`'s bytes as a streamed body: a job's file may be gigabytes, and nothing of it is
/// held in memory or read on the async thread.
async fn streamed_file(
    path: &std::path::Path,
) -> std::io::Result<SizedStream<ReaderStream<tokio::fs::File>>> {
    let file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    Ok(SizedStream::new(
        length,
        ReaderStream::with_capacity(file, 256 * 1024),
    ))
}

/// The database (or the disk) did not answer: say so on a page, 503.
fn unavailable(signed: &session::SignedIn, title: &str, e: &ApiError) -> HttpResponse {
    let body = html! { p.error role="alert" { "Not available right now: " (e.to_string()) } };
    layout::respond(
        StatusCode::SERVICE_UNAVAILABLE,
        layout::page(title, "", &signed.0, body),
    )
}

/// A customer's session asking for an operator's page (the quarantine, the overview of
/// every customer) is told it is not there.
fn operator_only(signed: &session::SignedIn) -> Option<HttpResponse> {
    signed
        .0
        .principal
        .customer()
        .map(|_| not_found(signed, "There is no such page."))
}

fn not_found(signed: &session::SignedIn, message: &str) -> HttpResponse {
    let body = html! { p.error role="alert" { (message) } };
    layout::respond(
        StatusCode::NOT_FOUND,
        layout::page("Not found", "", &signed.0, body),
    )
}

/// The outcome of an action, shown on the page it returns to (`?done=…`).
#[derive(serde::Deserialize)]
pub struct Notice {
    pub done: Option<String>,
}

/// Back to `path` (303) with `text` as its notice.
fn redirect_with_notice(path: &str, text: &str) -> HttpResponse {
    let query = serde_urlencoded::to_string([("done", text)]).unwrap_or_default();
    HttpResponse::SeeOther()
        .insert_header(("Location", format!("{path}?{query}")))
        .finish()
}
