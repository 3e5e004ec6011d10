//! Which release a database's schema belongs to, and whether this binary may run on it.
//! Versions follow the seed's `RELEASE.MAJOR.MINOR`: within one RELEASE.MAJOR migrations
//! only add (tables, columns, indexes), so an older binary of the same pair runs on a newer
//! schema; across pairs it must not, and says so in one line instead of failing later.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;

/// This binary's version (the workspace's).
pub const BINARY_VERSION: &str = env!("CARGO_PKG_VERSION");

pub type SyncConn = AsyncConnectionWrapper<AsyncPgConnection>;

/// What the database holds against what this binary knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    /// The last migration applied to the database (by name, e.g. `2026-12-07-000006_schema_release`).
    pub last_applied: Option<String>,
    /// This binary's last migration.
    pub last_known: Option<String>,
    /// Migrations applied to the database that this binary does not have (versions).
    pub unknown: Vec<String>,
    /// This binary's migrations not yet applied.
    pub pending: Vec<String>,
    /// The newest version that migrated the database, when one recorded it.
    pub recorded_version: Option<String>,
}

/// Refusal to run on a schema from another RELEASE.MAJOR.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database schema is from DataProcessor {schema} (migrations {unknown}), another RELEASE.MAJOR than this binary ({binary}): run {schema} or newer against it, or restore the database backup taken before the upgrade"
)]
pub struct SchemaFromAnotherMajor {
    pub schema: String,
    pub binary: String,
    pub unknown: String,
}

#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Reads the database's migrations and recorded release against this binary's.
pub fn read_state(conn: &mut SyncConn) -> anyhow::Result<SchemaState> {
    let source = super::MIGRATIONS;
    let known: Vec<(String, String)> =
        diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&source)
            .map_err(|e| anyhow::anyhow!("cannot list this binary's migrations: {e}"))?
            .iter()
            .map(|m| (m.name().version().to_string(), m.name().to_string()))
            .collect();
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))?
        .iter()
        .map(|v| v.to_string())
        .collect();
    let mut unknown: Vec<String> = applied
        .iter()
        .filter(|v| !known.iter().any(|(k, _)| k == *v))
        .cloned()
        .collect();
    unknown.sort();
    let pending = known
        .iter()
        .filter(|(k, _)| !applied.contains(k))
        .map(|(_, name)| name.clone())
        .collect();
    let last_applied = applied.iter().max().map(|v| {
        known
            .iter()
            .find(|(k, _)| k == v)
            .map_or_else(|| v.clone(), |(_, name)| name.clone())
    });
    let recorded_version = diesel::sql_query(
        "SELECT version FROM schema_release WHERE to_regclass('schema_release') IS NOT NULL",
    )
    .load::<Recorded>(conn)
    .ok()
    .and_then(|rows| rows.into_iter().next())
    .map(|r| r.version);
    Ok(SchemaState {
        last_applied,
        last_known: known.last().map(|(_, name)| name.clone()),
        unknown,
        pending,
        recorded_version,
    })
}

/// Ok when this binary may run on the database: no unknown migrations, or unknown ones from
/// the same RELEASE.MAJOR (they only add).
pub fn check_compatible(state: &SchemaState, binary: &str) -> Result<(), SchemaFromAnotherMajor> {
    if state.unknown.is_empty() {
        return Ok(());
    }
    let schema = state
        .recorded_version
        .clone()
        .unwrap_or_else(|| "an unknown version".into());
    let same_pair = state
        .recorded_version
        .as_deref()
        .and_then(release_and_major)
        .is_some_and(|pair| Some(pair) == release_and_major(binary));
    if same_pair {
        return Ok(());
    }
    Err(SchemaFromAnotherMajor {
        schema,
        binary: binary.to_string(),
        unknown: state.unknown.join(", "),
    })
}

/// Notes `binary` as the schema's release unless a newer one already did.
pub fn record(conn: &mut SyncConn, state: &SchemaState, binary: &str) -> anyhow::Result<()> {
    let newer_recorded = state
        .recorded_version
        .as_deref()
        .and_then(parse)
        .is_some_and(|recorded| Some(recorded) > parse(binary));
    if newer_recorded {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO schema_release (version) VALUES ($1) \
         ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version, recorded_at = now() \
         WHERE schema_release.version IS DISTINCT FROM EXCLUDED.version",
    )
    .bind::<Text, _>(binary)
    .execute(conn)
    .map_err(|e| anyhow::anyhow!("cannot record the schema's release: {e}"))?;
    Ok(())
}

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

fn release_and_major(version: &str) -> Option<(u64, u64)> {
    parse(version).map(|(release, major, _)| (release, major))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(unknown: &[&str], recorded: Option<&str>) -> SchemaState {
        SchemaState {
            last_applied: None,
            last_known: None,
            unknown: unknown.iter().map(|s| s.to_string()).collect(),
            pending: vec![],
            recorded_version: recorded.map(String::from),
        }
    }

    #[test]
    fn a_newer_schema_of_the_same_release_and_major_is_run_on() {
        assert!(check_compatible(&state(&["20270101000007"], Some("1.0.4")), "1.0.2").is_ok());
        assert!(check_compatible(&state(&[], Some("2.3.0")), "1.0.2").is_ok());
    }

    #[test]
    fn a_newer_schema_of_another_major_is_refused_naming_both_versions() {
        let refusal = check_compatible(&state(&["20270101000007"], Some("1.1.0")), "1.0.2")
            .expect_err("refused");
        let line = refusal.to_string();
        assert!(line.contains("1.1.0") && line.contains("1.0.2"), "{line}");
        assert!(line.contains("20270101000007"), "{line}");
        assert!(!line.contains('\n'));
        assert!(check_compatible(&state(&["20270101000007"], None), "1.0.2").is_err());
    }
}
