use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use std::time::Duration;

pub type DbPool = Pool<AsyncPgConnection>;
pub type PooledConn = Object<AsyncPgConnection>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

/// Whether an error means "the database cannot be reached" (retry later, HTTP 503) rather
/// than "this query is wrong".
pub fn is_unavailable(err: &DbError) -> bool {
    match err {
        DbError::Unavailable(_) => true,
        DbError::Query(diesel::result::Error::DatabaseError(kind, _)) => {
            matches!(kind, diesel::result::DatabaseErrorKind::ClosedConnection)
        }
        DbError::Query(diesel::result::Error::BrokenTransactionManager) => true,
        DbError::Query(_) => false,
    }
}

/// A pool that fails fast (`connect_timeout`) when Postgres is down instead of hanging.
pub fn connect_pool(url: &str, size: usize, connect_timeout: Duration) -> anyhow::Result<DbPool> {
    // No test query on every checkout (a round trip per request): a connection with a broken
    // transaction is still discarded, and a dead one fails on first use, which callers
    // already treat as "database unavailable".
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let pool = Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(connect_timeout))
        .create_timeout(Some(connect_timeout))
        .recycle_timeout(Some(connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?;
    Ok(pool)
}
