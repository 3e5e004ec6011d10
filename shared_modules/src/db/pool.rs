use diesel::ConnectionError;
use diesel::ConnectionResult;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures_util::FutureExt;
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
        DbError::Unavailable(pool_error_text(&e))
    }
}

/// What an operator reads when no connection could be had: the server (host:port) and the
/// cause (`connection refused`, `password authentication failed for user "x"`, `timeout
/// after 5 s`), never the password. dpctl and `/health` show this text.
pub fn pool_error_text(e: &PoolError) -> String {
    match e {
        // The connection's own error already names the server and the cause (connect_one).
        PoolError::Backend(inner) => inner.to_string(),
        PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
            format!("{e} (every connection of the pool is busy)")
        }
        other => other.to_string(),
    }
}

/// The server(s) a database URL points at, as `host:port` (a Unix socket: its directory);
/// nothing else of the URL, so never its password.
pub fn database_target(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "database.url (unparsable)".into();
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(dir) => format!("{}:{port}", dir.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        "localhost:5432".into()
    } else {
        hosts.join(",")
    }
}

/// Why a connection attempt failed, in a few words: Postgres's own message (a refused
/// password, a missing database), else the innermost cause (an I/O error: `connection
/// refused`, a name that does not resolve).
fn connect_cause(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    match cause.downcast_ref::<std::io::Error>().map(|io| io.kind()) {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".into(),
        Some(std::io::ErrorKind::TimedOut) => "connection timed out".into(),
        // Only the top line when there is nothing under it (e.g. `connection closed`).
        _ => cause.to_string(),
    }
}

/// One connection, as diesel-async would make it, but with an error that names the server
/// and the cause (diesel-async keeps only tokio-postgres's top line, `error connecting to
/// server`), and its own time limit so a silent server reads `timeout after N s`.
async fn connect_one(url: String, timeout: Duration) -> ConnectionResult<AsyncPgConnection> {
    let target = database_target(&url);
    let connecting = tokio_postgres::connect(&url, tokio_postgres::NoTls);
    let (client, connection) = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            return Err(ConnectionError::BadConnection(format!(
                "{target}: {}",
                connect_cause(&e)
            )));
        }
        Err(_) => {
            return Err(ConnectionError::BadConnection(format!(
                "{target}: timeout after {} s",
                timeout.as_secs_f64()
            )));
        }
    };
    let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
    {
        // Postgres' default random_page_cost (4) prices a page read as a spinning disk's
        // seek: with it, one customer's newest jobs were read by walking the primary key past
        // 50 other customers' rows instead of through that customer's index (0.49 against
        // 0.21 ms at a million jobs). A value the DBA set (server, database or role) is kept.
        use diesel_async::RunQueryDsl;
        diesel::sql_query(
            "SELECT set_config('random_page_cost', '1.1', false) FROM pg_settings
             WHERE name = 'random_page_cost' AND source = 'default'",
        )
        .execute(&mut conn)
        .await
        .map_err(|e| ConnectionError::BadConnection(format!("{target}: {e}")))?;
    }
    if let Some(node) = crate::cluster::this_node() {
        // Every row this node writes can say so (job_events.node defaults to it), and
        // pg_stat_activity shows whose connection it is.
        use diesel_async::RunQueryDsl;
        diesel::sql_query(
            "SELECT set_config('dataprocessor.node', $1, false), set_config('application_name', $2, false)",
        )
        .bind::<diesel::sql_types::Text, _>(node)
        .bind::<diesel::sql_types::Text, _>(format!("dataprocessor@{node}"))
        .execute(&mut conn)
        .await
        .map_err(|e| ConnectionError::BadConnection(format!("{target}: {e}")))?;
    }
    Ok(conn)
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
    config.custom_setup = Box::new(move |url| connect_one(url.to_owned(), connect_timeout).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let pool = Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(connect_timeout))
        // A little longer than connect_one's own limit, so that its error (naming the
        // server) is the one reported, not the pool's bare "Timeout occurred".
        .create_timeout(Some(connect_timeout + Duration::from_secs(1)))
        .recycle_timeout(Some(connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?;
    Ok(pool)
}
