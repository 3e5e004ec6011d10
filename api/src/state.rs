//! What every request handler, the console and the background tasks of `serve` share: the
//! config, the database pool, the keys, the stores, the console's sessions and the caches.
//! The HTTP and console layers each depend on it, not on each other.

use crate::error::ApiError;
use shared_modules::api_keys::ApiKeys;
use shared_modules::config::Config;
use shared_modules::customers::ServerKey;
use shared_modules::db::DbPool;
use shared_modules::object_store::ObjectStore;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub keys: ApiKeys,
    /// Seals customers' S3 secrets and signs the upload API's part URLs.
    pub server_key: ServerKey,
    pub store: Arc<ObjectStore>,
    pub listing: Arc<crate::http::listing_cache::ListingCache>,
    /// How many of the pool's connections requests hold at once.
    pub db_gate: crate::db_gate::DbGate,
    /// Objects being downloaded by a trigger: one download per object at a time.
    pub downloads: Arc<crate::uploads::KeyLocks>,
    /// The last reading of the database gauges `/metrics` shows.
    pub gauges: Arc<crate::http::metrics::GaugeCache>,
    /// The embedded S3 endpoint (`s3.mode = embedded`, once `with_s3` set it up).
    pub s3: Option<Arc<s3s::service::S3Service>>,
    /// Console sign-ins (kept in Postgres).
    pub sessions: Arc<crate::console::session::Sessions>,
    /// Wrong keys at the console's sign-in, per client address.
    pub sign_in_throttle: Arc<crate::console::sign_in_throttle::SignInThrottle>,
    /// Behind the front: the loopback address TLS connections arrive on.
    pub tls_backend: Option<std::net::SocketAddr>,
    /// The connections the front carries (each request's real client, and closing one).
    pub front: Arc<crate::http::front::connections::Connections>,
    /// Whether this node leads the cluster (alone: always).
    pub leadership: shared_modules::cluster::Leadership,
    /// The last reconciliation: uploads overdue without a job, and the oldest one's age.
    pub untriggered: Arc<std::sync::Mutex<Option<crate::uploads::UntriggeredSummary>>>,
}

impl AppState {
    pub fn new(config: Arc<Config>, pool: DbPool, server_key: ServerKey) -> Self {
        let keys = ApiKeys::from_config(&config.api.keys);
        let store = Arc::new(ObjectStore::new(&config));
        let sessions = Arc::new(crate::console::session::Sessions::new(
            std::time::Duration::from_secs(config.console.session_hours * 3600),
            pool.clone(),
        ));
        let sign_in_throttle = Arc::new(crate::console::sign_in_throttle::SignInThrottle::new(
            config.console.sign_in_failures,
            std::time::Duration::from_secs(config.console.sign_in_window_seconds),
        ));
        let leadership = shared_modules::cluster::Leadership::alone(&config.node_name());
        let listing = Arc::new(crate::http::listing_cache::ListingCache::new(
            std::time::Duration::from_millis(config.api.listing_cache_ms),
        ));
        let db_gate = crate::db_gate::DbGate::for_config(&config);
        Self {
            config,
            pool,
            db_gate,
            keys,
            server_key,
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
            leadership,
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
                Some((self.pool.clone(), self.server_key.clone())),
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

    /// A pooled connection once the request's turn comes (`db_gate`), or 503 when the
    /// database cannot give one.
    pub async fn conn(&self) -> Result<crate::db_gate::GatedConn, ApiError> {
        let turn = self
            .db_gate
            .turn()
            .await
            .ok_or_else(|| ApiError::Unavailable("the API is shutting down".into()))?;
        let conn = self
            .pool
            .get()
            .await
            .map_err(|e| ApiError::from(shared_modules::db::DbError::from(e)))?;
        Ok(crate::db_gate::GatedConn::new(conn, turn))
    }
}
