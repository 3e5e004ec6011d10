//! Postgres access: the connection pool, the embedded migrations and the table definitions.

mod migrations;
mod periodic;
mod pool;
pub mod schema;

pub use migrations::{MIGRATIONS, run_migrations};
pub use periodic::spawn_every;
pub use pool::{
    DbError, DbPool, PooledConn, connect_pool, database_target, is_unavailable, pool_error_text,
};
