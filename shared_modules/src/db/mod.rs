//! Postgres access: the connection pool, the embedded migrations and the table definitions.

pub mod advisory;
mod migrations;
mod plan_cache;
mod pool;
pub mod schema;
pub mod schema_release;
mod storable;

pub use migrations::{MIGRATIONS, MigrationError, run_migrations, schema_state};
pub use plan_cache::{PlanCache, planned_each_time_if, prepared};
pub use pool::{
    DbError, DbPool, PooledConn, connect_pool, database_target, is_unavailable, pool_error_text,
};
pub use storable::{storable, storable_json};
