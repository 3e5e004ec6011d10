//! The REST API under `/api/1.0/`: every route needs `X-Api-Key`; every error is one JSON
//! envelope (`error.rs`). One file per group of routes.

mod auth;
pub mod body_pace;
mod error;
pub mod front;
mod health;
pub mod jobs;
mod key_locks;
mod listing_cache;
mod metrics;
mod request_log;
pub mod veritas2hview;

pub use error::ApiError;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, Route, web};
use shared_modules::api_keys::ApiKeys;
use shared_modules::config::Config;
use shared_modules::db::DbPool;
use shared_modules::object_store::ObjectStore;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub keys: ApiKeys,
    pub store: Arc<ObjectStore>,
    pub listing: Arc<listing_cache::ListingCache>,
    /// Objects being downloaded by a trigger: one download per object at a time.
    pub downloads: Arc<key_locks::KeyLocks>,
    /// The last reading of the database gauges `/metrics` shows.
    pub gauges: Arc<metrics::GaugeCache>,
    /// The embedded S3 endpoint (`s3.mode = embedded`, once `with_s3` set it up).
    pub s3: Option<Arc<s3s::service::S3Service>>,
    /// Console sign-ins.
    pub sessions: Arc<crate::console::session::Sessions>,
    /// Wrong keys at the console's sign-in, per client address.
    pub sign_in_throttle: Arc<crate::console::sign_in_throttle::SignInThrottle>,
    /// Behind the front: the loopback address TLS connections arrive on.
    pub tls_backend: Option<std::net::SocketAddr>,
    /// The connections the front carries (each request's real client, and closing one).
    pub front: Arc<front::connections::Connections>,
    /// The last reconciliation: uploads overdue without a job, and the oldest one's age.
    pub untriggered: Arc<std::sync::Mutex<Option<crate::uploads::UntriggeredSummary>>>,
}

impl AppState {
    pub fn new(config: Arc<Config>, pool: DbPool) -> Self {
        let keys = ApiKeys::from_config(&config.api.keys);
        let store = Arc::new(ObjectStore::new(&config));
        let sessions = Arc::new(crate::console::session::Sessions::new(
            std::time::Duration::from_secs(config.console.session_hours * 3600),
        ));
        let sign_in_throttle = Arc::new(crate::console::sign_in_throttle::SignInThrottle::new(
            config.console.sign_in_failures,
            std::time::Duration::from_secs(config.console.sign_in_window_seconds),
        ));
        let listing = Arc::new(listing_cache::ListingCache::new(
            std::time::Duration::from_millis(config.api.listing_cache_ms),
        ));
        Self {
            config,
            pool,
            keys,
            store,
            listing,
            downloads: Arc::default(),
            gauges: Arc::default(),
            s3: None,
            sessions,
            sign_in_throttle,
            tls_backend: None,
            front: Arc::default(),
            untriggered: Arc::default(),
        }
    }

    /// Answers S3 on the API port when the store is embedded; every completed object is
    /// announced on `uploaded`.
    pub fn with_s3(
        mut self,
        uploaded: Option<tokio::sync::mpsc::UnboundedSender<crate::uploads::Uploaded>>,
    ) -> Self {
        if let Some(store) = self.store.embedded() {
            self.s3 = Some(Arc::new(crate::s3::service(
                &self.config,
                store.clone(),
                uploaded,
            )));
        }
        self
    }
}

impl AppState {
    /// Whether `req` came over TLS (ended by the front, arriving on its TLS backend).
    pub fn over_tls(&self, req: &actix_web::HttpRequest) -> bool {
        self.tls_backend == Some(req.app_config().local_addr())
    }

    /// The client's address: behind the front, the one the front accepted (actix sees the
    /// front's loopback socket); else actix's peer.
    pub fn client_ip(&self, peer: Option<std::net::SocketAddr>) -> std::net::IpAddr {
        let peer = peer.unwrap_or_else(|| ([0, 0, 0, 0], 0).into());
        self.front.client(peer).unwrap_or(peer).ip()
    }

    /// Runs a request's database work; 503 when the database does not answer within
    /// `database.read_timeout_seconds` (a hung server keeps its connections open, silent).
    pub async fn db<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let limit = std::time::Duration::from_secs(self.config.database.read_timeout_seconds);
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(ApiError::Unavailable(format!(
                "the database did not answer within {} s",
                limit.as_secs()
            )))
        })
    }

    /// A pooled connection, or 503 when the database cannot give one.
    pub async fn conn(&self) -> Result<shared_modules::db::PooledConn, ApiError> {
        self.pool
            .get()
            .await
            .map_err(|e| ApiError::from(shared_modules::db::DbError::from(e)))
    }
}

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
        Some(s3) if !ours && speaks_s3(req.head(), &state.config.s3.bucket) => {
            crate::s3::bridge::handle(s3, req, payload).await
        }
        _ => error::not_found(req)
            .await
            .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e)),
    }
}

/// A request from an S3 client: signed, or unsigned but for the bucket's path or with S3's
/// headers or query parameters (the endpoint then refuses it with an error the client
/// reads). A browser's `/favicon.ico` or a scanner's probe is neither.
pub fn speaks_s3(head: &actix_web::dev::RequestHead, bucket: &str) -> bool {
    const S3_QUERY: [&str; 6] = [
        "uploadId",
        "uploads",
        "list-type",
        "delete",
        "X-Amz-",
        "partNumber",
    ];
    let query = head.uri.query().unwrap_or("");
    let first_segment = head.uri.path().trim_start_matches('/').split('/').next();
    crate::s3::bridge::is_signed(head)
        || first_segment == Some(bucket)
        || head
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("x-amz-"))
        || S3_QUERY.iter().any(|word| query.contains(word))
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
