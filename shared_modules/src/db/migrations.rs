use super::schema_release::{self, BINARY_VERSION, SchemaFromAnotherMajor, SchemaState};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// Final: retrying does not help (serve exits with this one line).
    #[error(transparent)]
    AnotherMajor(#[from] SchemaFromAnotherMajor),
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

/// The advisory lock migrations hold (any constant no other code uses: "DPmigrat").
const MIGRATION_LOCK: i64 = 0x4450_6d69_6772_6174;

/// Applies every pending migration and records this binary's release on the schema;
/// returns the names of those applied. Refuses a schema from another RELEASE.MAJOR.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, MigrationError> {
    let url = url.to_string();
    // The migration harness is synchronous; run it on the blocking pool over an async connection.
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, MigrationError> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(anyhow::Error::from)?;
        // Several nodes starting at once migrate one at a time: the first applies what is
        // pending, the others then find nothing to do. The lock ends with the connection.
        let lock = diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"));
        diesel::RunQueryDsl::execute(lock, &mut conn).map_err(anyhow::Error::from)?;
        let state = schema_release::read_state(&mut conn)?;
        schema_release::check_compatible(&state, BINARY_VERSION)?;
        if !state.unknown.is_empty() {
            tracing::warn!(unknown = ?state.unknown, schema = ?state.recorded_version, binary = BINARY_VERSION,
                "the database has migrations of a newer version of the same RELEASE.MAJOR: running (they only add)");
        }
        let applied: Vec<String> = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
            .iter()
            .map(|v| v.to_string())
            .collect();
        let after = schema_release::read_state(&mut conn)?;
        schema_release::record(&mut conn, &after, BINARY_VERSION)?;
        Ok(applied)
    })
    .await
    .map_err(|e| MigrationError::Failed(e.into()))?
}

/// The database's schema against this binary's migrations (`dpctl version`).
pub async fn schema_state(url: &str) -> anyhow::Result<SchemaState> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        schema_release::read_state(&mut conn)
    })
    .await?
}
