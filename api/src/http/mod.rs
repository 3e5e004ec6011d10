//! The REST API under `/api/1.0/`: every route needs `X-Api-Key`; every error is one JSON
//! envelope (`error.rs`). One file per group of routes.

pub mod auth;
pub mod body_pace;
mod cors;
mod error;
pub mod front;
mod health;
pub mod jobs;
pub(crate) mod listing_cache;
pub(crate) mod metrics;
mod request_log;
pub mod uploads;
mod veritas2hview;

pub use crate::error::ApiError;
pub use crate::state::AppState;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, Route, web};

/// Every route under `/api/1.0` (method, path, handler). `openapi.json` documents exactly
/// these (a test holds them together).
pub fn routes() -> Vec<(&'static str, &'static str, Route)> {
    vec![
        ("GET", "/health", web::get().to(health::health)),
        ("GET", "/jobs", web::get().to(jobs::list)),
        ("GET", "/jobs/{id}", web::get().to(jobs::show)),
        ("POST", "/jobs/{id}/retry", web::post().to(jobs::retry)),
        ("POST", "/jobs/{id}/cancel", web::post().to(jobs::cancel)),
        (
            "POST",
            "/veritas2hview/update",
            web::post().to(veritas2hview::update),
        ),
        ("POST", "/uploads", web::post().to(uploads::start)),
        ("GET", "/uploads/{id}", web::get().to(uploads::show)),
        (
            "POST",
            "/uploads/{id}/complete",
            web::post().to(uploads::complete),
        ),
        ("GET", "/openapi.json", web::get().to(openapi)),
    ]
}

pub const OPENAPI: &str = include_str!("../../openapi.json");

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

/// Registers every route and the JSON error handlers; shared by the server and the tests.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let max_body = state.config.api.max_body_bytes;
        let mut api = web::scope("/api/1.0").wrap(from_fn(auth::require_api_key));
        for (_, path, route) in routes() {
            api = api.route(path, route);
        }
        cfg.app_data(web::Data::new(state))
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(error::json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .route("/metrics", web::get().to(metrics::metrics))
            .service(api)
            .configure(crate::console::configure)
            .default_service(web::to(outside_api));
    }
}

/// Outside `/api/` and `/metrics`: the embedded S3 endpoint for requests S3 clients send,
/// else the console's 404 (a browser's `/favicon.ico`, a scanner's probe).
async fn outside_api(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let ours = req.path().starts_with("/api/") || req.path() == "/metrics";
    match &state.s3 {
        Some(s3) if !ours && crate::s3::speaks_s3(req.head(), &state.config.s3.bucket) => {
            crate::s3::bridge::handle(s3, req, payload).await
        }
        _ => error::not_found(req)
            .await
            .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e)),
    }
}

/// The HTTP server on `listeners` (loopback, behind the front); signals are handled by
/// `serve`, not by actix. A request's head must arrive within the header timeout and a
/// kept-alive connection waits the idle timeout for its next request.
pub fn server(state: AppState, listeners: Vec<std::net::TcpListener>) -> std::io::Result<Server> {
    let api = &state.config.api;
    let header_timeout = std::time::Duration::from_secs(api.header_timeout_seconds);
    let idle_timeout = std::time::Duration::from_secs(api.idle_timeout_seconds);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(crate::console::security_headers::add))
            .wrap(from_fn(body_pace::pace_bodies))
            .wrap(from_fn(cors::cors))
            .wrap(from_fn(request_log::log_request))
            .configure(configure(state.clone()))
    })
    .disable_signals()
    .shutdown_timeout(10)
    .client_request_timeout(header_timeout)
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .keep_alive(idle_timeout);
    let server = listeners
        .into_iter()
        .try_fold(server, |server, listener| server.listen(listener))?;
    Ok(server.run())
}
